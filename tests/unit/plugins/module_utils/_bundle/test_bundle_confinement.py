"""Every file a load reads comes from the bundle folder, and the archive is one docker load would take."""

from __future__ import annotations

import shutil

import pytest
from support.bundles import APP1, IMAGE_IDS, LIB, members, read_index, rewrite_tarball, tree_snapshot, write_index

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from support.operations import load_image


def load(bundle, store, name="app1:1", **params):
    return load_image(dict(params, name=name, dir=str(bundle), store=str(store)))


def test_an_index_that_links_out_of_the_bundle_is_refused(bundle, store, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(str(bundle / "manifest"), str(elsewhere / "manifest"))
    (bundle / "manifest").symlink_to(elsewhere / "manifest")
    with pytest.raises(BundleError, match="index %s is a symbolic link that leads out of the bundle folder"
                       % (bundle / "manifest")):
        load(bundle, store)
    assert not store.exists()


def test_an_index_that_links_inside_the_bundle_is_read(bundle, store):
    (bundle / "manifest").rename(bundle / "index.json")
    (bundle / "manifest").symlink_to("index.json")
    assert load(bundle, store)["image"]["id"] == IMAGE_IDS["app1:1"]


def test_a_bundle_folder_that_is_a_link_is_followed_with_its_index(bundle, store, tmp_path):
    (tmp_path / "current").symlink_to(bundle)
    assert load(tmp_path / "current", store)["image"]["id"] == IMAGE_IDS["app1:1"]


def _without_a_lib_layer(entries):
    layer_tars = [i.name for i, d in entries if i.name.endswith("/layer.tar")]
    return [(i, d) for i, d in entries if i.name != layer_tars[0]]


def test_a_layer_member_missing_from_the_archive_is_refused_even_when_the_store_has_the_layer(bundle, store):
    load(bundle, store, name="app2:1")  # the store now holds every lib and base layer
    before = tree_snapshot(store)
    rewrite_tarball(bundle, LIB, _without_a_lib_layer)
    index = read_index(bundle)
    index["app1:1"]["libLayers"] = []  # no hint: the lib tarball is read
    write_index(bundle, index)
    with pytest.raises(BundleError) as err:
        load(bundle, store, force=True)
    assert "listed in manifest.json in %s is missing" % (bundle / APP1) in str(err.value)
    assert tree_snapshot(store) == before


def test_a_tarball_skipped_because_the_store_has_its_layers_is_not_taken_for_missing(bundle, store):
    load(bundle, store, name="app2:1")
    result = load(bundle, store)
    assert result["image"]["id"] == IMAGE_IDS["app1:1"] and result["layers_reused"] == 3


def _retag(tag):
    def change(entries):
        return [(i, d.replace(b'"RepoTags":["app1:1"]', b'"RepoTags":["app1:1","%s"]' % tag)
                 if i.name == "manifest.json" else d) for i, d in entries]

    return change


@pytest.mark.parametrize("tag", [b"Not A Name", b"app1:bad tag", b"registry/app@sha256:123"])
def test_a_repo_tag_docker_load_would_refuse_is_refused(bundle, store, tag):
    manifest = dict((i.name, d) for i, d in members(bundle / APP1))["manifest.json"]
    assert b'"RepoTags":["app1:1"]' in manifest
    rewrite_tarball(bundle, APP1, _retag(tag))
    with pytest.raises(BundleError, match="which is no image name"):
        load(bundle, store)
    assert not store.exists()
