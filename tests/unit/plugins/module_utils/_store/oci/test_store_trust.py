"""Who may write the OCI store, and what may be taken for one.

Blobs in the store are reused unread, so the store must be writable by the
loading user or root only (as OpenSSH's StrictModes requires of
authorized_keys), and a folder that is no OCI layout is never adopted.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from support.bundles import IMAGE_IDS, tree_snapshot

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from support.operations import load_image


def load(bundle, store, name="app1:1", **params):
    return load_image(dict(params, name=name, dir=str(bundle), store=str(store)))


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def refused(bundle, store, *words, **params):
    """The load (and the presence check of another app) fails naming WORDS; nothing in STORE changes."""
    before = tree_snapshot(store)
    for name in ("app1:1", "app2:1"):
        with pytest.raises(BundleError) as err:
            load(bundle, store, name=name, **params)
        for word in words:
            assert word in str(err.value)
    assert tree_snapshot(store) == before
    return str(err.value)


# Modes whatever the umask


@pytest.fixture
def umask_000():
    old = os.umask(0)
    yield
    os.umask(old)


def test_store_folders_and_files_get_explicit_modes_under_umask_000(bundle, tmp_path, umask_000):
    store = tmp_path / "new" / "store"
    load(bundle, store)
    for folder in (tmp_path / "new", store, store / "blobs", store / "blobs" / "sha256"):
        assert mode(folder) == 0o755, folder
    files = [store / "index.json", store / "oci-layout"] + list((store / "blobs" / "sha256").iterdir())
    assert {mode(f) for f in files} == {0o644}
    # and a second load into it, under the same umask, passes its own checks
    assert load(bundle, store, name="app2:1")["layers_reused"] == 3


def test_a_staging_folder_is_private_under_umask_000(bundle, store, umask_000):
    from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import destination

    with destination.destination(str(store)) as dest:
        assert mode(dest._dir) == 0o700


# Who may write it


@pytest.mark.parametrize("relative", ["", "blobs", "blobs/sha256"])
@pytest.mark.parametrize("bits, who", [(0o775, "its group"), (0o757, "others"), (0o777, "its group and others")])
def test_a_store_folder_others_can_write_is_refused(bundle, store, relative, bits, who):
    load(bundle, store, name="app2:1")
    folder = store / relative if relative else store
    folder.chmod(bits)
    refused(bundle, store, "bad modes for the store folder %s" % str(folder).rstrip("/"), "lets %s write it" % who)
    folder.chmod(0o755)
    assert load(bundle, store)["image"]["id"] == IMAGE_IDS["app1:1"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
@pytest.mark.parametrize("relative", ["", "blobs/sha256", "index.json"])
def test_a_store_owned_by_another_user_is_refused(bundle, store, relative):
    load(bundle, store, name="app2:1")
    path = store / relative if relative else store
    os.chown(path, 4321, 4321)
    refused(bundle, store, "bad ownership", str(path).rstrip("/"), "uid 4321")


def test_a_symlinked_blobs_folder_is_refused(bundle, store, tmp_path):
    load(bundle, store, name="app2:1")
    elsewhere = tmp_path / "elsewhere"
    (store / "blobs").rename(elsewhere)
    (store / "blobs").symlink_to(elsewhere)
    refused(bundle, store, "%s is not a folder" % (store / "blobs"))


def test_a_folder_above_the_store_others_can_write_is_refused_unless_sticky(bundle, tmp_path):
    parent = tmp_path / "shared"
    parent.mkdir()
    store = parent / "store"
    parent.chmod(0o777)
    refused(bundle, store, "bad modes for the folder above the store %s" % parent)
    assert not store.exists()
    parent.chmod(0o1777)  # like /tmp: nobody may rename what another user owns
    assert load(bundle, store)["action"] == "loaded"


# What may be taken for a store


def test_an_unrelated_folder_is_not_adopted(bundle, tmp_path):
    store = tmp_path / "documents"
    store.mkdir()
    (store / "report.txt").write_text("mine\n")
    text = refused(bundle, store, "is neither empty nor an OCI image layout", "report.txt")
    assert str(store) in text
    assert sorted(os.listdir(store)) == ["report.txt"]


def test_an_unrelated_index_json_is_not_rewritten(bundle, tmp_path):
    store = tmp_path / "web"
    store.mkdir()
    (store / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (store / "index.json").write_text('{"title": "my site", "pages": []}')
    refused(bundle, store, "store index %s is not an OCI image index" % (store / "index.json"))
    assert json.loads((store / "index.json").read_text()) == {"title": "my site", "pages": []}


@pytest.mark.parametrize("content", ['{"imageLayoutVersion":"2.0.0"}', '{"other":1}', "not json", "[]"])
def test_an_oci_layout_of_another_version_is_refused(bundle, store, content):
    load(bundle, store, name="app2:1")
    (store / "oci-layout").write_text(content)
    refused(bundle, store, "oci-layout")


@pytest.mark.parametrize("index", [
    {"manifests": []},
    {"schemaVersion": 1, "manifests": []},
    {"schemaVersion": 2},
    {"schemaVersion": 2, "manifests": {}},
    {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json", "manifests": []},
])
def test_an_index_json_that_is_no_oci_image_index_is_refused(bundle, store, index):
    load(bundle, store, name="app2:1")
    (store / "index.json").write_text(json.dumps(index))
    refused(bundle, store, "is not an OCI image index")


def test_a_file_as_store_is_refused(bundle, tmp_path):
    store = tmp_path / "file"
    store.write_text("x")
    refused(bundle, store, "is not a folder")


def test_an_empty_folder_and_the_remains_of_a_first_load_are_taken(bundle, store):
    (store / "blobs" / "sha256").mkdir(parents=True)
    (store / ".fleetimage-staging-abc").mkdir()
    assert load(bundle, store)["action"] == "loaded"
    assert not (store / ".fleetimage-staging-abc").exists()


def test_store_must_not_be_empty(bundle, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for empty in ("", "  "):
        with pytest.raises(BundleError, match="store must name the OCI layout folder, not be empty"):
            load_image({"name": "app1:1", "dir": str(bundle), "store": empty})
    assert os.listdir(tmp_path) == ["bundle"]
