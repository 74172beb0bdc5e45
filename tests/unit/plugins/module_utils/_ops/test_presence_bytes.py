"""Presence is decided on the bytes the index names, never on an app tarball's own word.

An attacker who can write a bundle folder or a mirror (but holds no signing
key) copies the app tarball of version 1 into a signed bundle of version 2:
the index, and its signature, still name version 2's bytes. The store holds
version 1. Neither load nor info may call that the bundle's image.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support.bundles import APP1, IMAGE_IDS, read_index, sha256, tree_snapshot
from support.images import make_bundle
from support.signing import sign

from support.operations import bundle_info, load_image
from support.stores import forget_records

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError


@pytest.fixture
def held_back(tmp_path, bundle, store):
    """The store holds version 1 of app1:1; a signed version 2 bundle carries version 1's app tarball."""
    load_image(dict(name="app1:1", dir=str(bundle), store=str(store)))
    v2 = make_bundle(tmp_path / "v2", apps=("app1:1",))
    v2_app = Path(v2.path) / v2.index["app1:1"]["app"]
    v2_sha256 = sha256(v2_app)
    shutil.copyfile(bundle / APP1, v2_app)  # the index (and its signature) still name v2's bytes
    assert read_index(v2.path)["app1:1"]["appHash"] == v2_sha256 != sha256(v2_app)
    return Path(v2.path)


@pytest.mark.parametrize("recorded", [True, False], ids=["store with records", "store without records"])
def test_an_old_app_tarball_in_a_signed_bundle_is_not_present(held_back, store, signing_keys, recorded):
    if not recorded:
        forget_records(store)  # a store loaded by an older version: no record, the image id would decide
    sign(held_back, signing_keys.key("release"))
    before = tree_snapshot(store)
    params = dict(name="app1:1", dir=str(held_back), store=str(store), allowed_signers=str(signing_keys.allowed_signers))
    with pytest.raises(BundleError, match="check sum for file .*app1.* failed"):
        load_image(params)
    assert tree_snapshot(store) == before  # still version 1, and nothing else changed

    info = bundle_info(dict(dir=str(held_back), store=str(store), allowed_signers=str(signing_keys.allowed_signers)))
    app = info["apps"]["app1:1"]
    assert info["signature"]["verified"] is True
    assert app["present"] is False and app["state"] == "unknown"
    assert info["present"] == [] and info["missing"] == ["app1:1"]
    assert sorted(f["file"] for f in info["files_needed"]) == sorted(t["file"] for t in app["tarballs"])


def test_the_index_bytes_present_are_present(bundle, store):
    """Without a record, the app tarball whose sha256 is the index's is read for its image id: present."""
    load_image(dict(name="app1:1", dir=str(bundle), store=str(store)))
    forget_records(store)
    again = load_image(dict(name="app1:1", dir=str(bundle), store=str(store)))
    assert again["action"] == "present" and again["image"]["id"] == IMAGE_IDS["app1:1"]
    info = bundle_info(dict(dir=str(bundle), store=str(store), names=["app1:1"]))
    assert info["apps"]["app1:1"]["state"] == "bundle"


def test_skip_check_trusts_the_app_tarball_own_image_id(held_back, store):
    """skip_check skips the checksums for presence too: the tarball's manifest.json and config decide (documented)."""
    forget_records(store)
    again = load_image(dict(name="app1:1", dir=str(held_back), store=str(store), skip_check=True))
    assert again["action"] == "present" and again["image"]["id"] == IMAGE_IDS["app1:1"]


def test_a_lone_image_under_other_repo_tags_is_not_the_named_one(bundle, store):
    """The presence check and the load judge manifest.json alike (the stricter answer): RepoTags must hold the name."""
    from support.bundles import rewrite_tarball

    load_image(dict(name="app1:1", dir=str(bundle), store=str(store)))
    forget_records(store)
    rewrite_tarball(bundle, APP1, lambda entries: [
        (info, data.replace(b'"app1:1"', b'"other:1"') if info.name == "manifest.json" else data)
        for info, data in entries])
    before = tree_snapshot(store)
    with pytest.raises(BundleError, match="image app1:1 is not among the RepoTags other:1 of manifest.json"):
        load_image(dict(name="app1:1", dir=str(bundle), store=str(store)))
    assert tree_snapshot(store) == before
    info = bundle_info(dict(dir=str(bundle), store=str(store), names=["app1:1"]))
    assert info["apps"]["app1:1"]["state"] == "unknown" and info["apps"]["app1:1"]["present"] is False
