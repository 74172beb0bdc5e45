"""The filter bundle_apps, as templates call it: isula-build's own index, and indexes a rollout must refuse."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleFilterError
from support.bundles import ISULA_BUNDLE

from ansible_collections.fleetimage.separated.plugins.filter.bundle_apps import FilterModule

bundle_apps = FilterModule().filters()["bundle_apps"]
INDEX_TEXT = (ISULA_BUNDLE / "manifest").read_text(encoding="utf-8")
SIGNING_FILES = ["manifest.sig", "allowed_signers", "revoked_keys"]


def changed_index(**app1_changes):
    index = json.loads(INDEX_TEXT)
    index["app1:1"].update(app1_changes)
    return json.dumps(index)


def test_every_app_of_isula_builds_index_by_default():
    assert bundle_apps(INDEX_TEXT, bundle="/srv/bundle") == ["app1:1", "app2:1"]
    assert bundle_apps(INDEX_TEXT, [], bundle="/srv/bundle") == ["app1:1", "app2:1"]


def test_names_are_normalized_as_the_load_does_sorted_and_once():
    index = changed_index()
    with_latest = json.loads(index)
    with_latest["team/app3:latest"] = with_latest["app2:1"]
    text = json.dumps(with_latest)
    assert bundle_apps(text, "app2:1, team/app3,app2:1", bundle="b") == ["app2:1", "team/app3:latest"]
    assert bundle_apps(text, ["team/app3", " app1:1 ", ""], bundle="b") == ["app1:1", "team/app3:latest"]


def test_an_unknown_app_is_refused_in_the_loads_words():
    with pytest.raises(AnsibleFilterError, match="failed to find app image nosuchapp:latest in /srv/bundle/manifest"):
        bundle_apps(INDEX_TEXT, ["app1:1", "nosuchapp"], bundle="/srv/bundle")


@pytest.mark.parametrize("text, why", [
    ("{not json", "index https://example.com/b/manifest is not valid JSON"),
    ("[1, 2]", "index https://example.com/b/manifest is not a JSON object"),
    (changed_index(base=""), "index entry of app1:1 has no base tarball"),
    (changed_index(lib=7), "index entry of app1:1: lib is not a string"),
])
def test_an_index_the_load_would_refuse_is_refused(text, why):
    with pytest.raises(AnsibleFilterError, match=why):
        bundle_apps(text, ["app1:1"], bundle="https://example.com/b")


@pytest.mark.parametrize("file_name", ["../app1_1_app_image.tar.gz", "/etc/passwd", "sub/app.tar.gz", "a\\b", "..", "."])
def test_a_tarball_name_that_is_no_plain_file_name_is_refused(file_name):
    with pytest.raises(AnsibleFilterError, match="index entry of app1:1 names app tarball .* which is not a plain file name"):
        bundle_apps(changed_index(app=file_name), ["app1:1"], bundle="b")


def test_the_cache_folders_own_names_are_refused():
    with pytest.raises(AnsibleFilterError, match="names lib tarball 'manifest', a name the hosts' cache keeps for the index"):
        bundle_apps(changed_index(lib="manifest"), bundle="b")
    assert bundle_apps(changed_index(lib="manifest.sig"), bundle="b") == ["app1:1", "app2:1"]  # unsigned: free
    with pytest.raises(AnsibleFilterError, match="names lib tarball 'manifest.sig', a name the hosts' cache keeps for the signature files"):
        bundle_apps(changed_index(lib="manifest.sig"), bundle="b", reserved=SIGNING_FILES)


def test_one_file_with_two_sha256_is_refused():
    # app2 shares app1's base file: app1 now gives it another sha256
    with pytest.raises(AnsibleFilterError, match="the index b/manifest gives the tarball app1_1_base_image.tar.gz two sha256"):
        bundle_apps(changed_index(baseHash="0" * 64), bundle="b")
    assert bundle_apps(changed_index(baseHash="0" * 64), ["app1:1"], bundle="b") == ["app1:1"]  # alone: one sha256


def test_a_missing_sha256_is_refused_only_when_verifying():
    text = changed_index(appHash="")
    with pytest.raises(AnsibleFilterError, match="index entry of app1:1 has no valid appHash"):
        bundle_apps(text, ["app1:1"], bundle="b")
    assert bundle_apps(text, ["app1:1"], bundle="b", verify=False) == ["app1:1"]
