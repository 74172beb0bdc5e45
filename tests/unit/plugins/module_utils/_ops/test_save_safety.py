"""A save never wipes a store, and a full disk is a message that names what the user named."""

from __future__ import annotations

import os

import pytest
from support.bundles import ISULA_BUNDLE, tree_snapshot
from support.mounts import tmpfs
from support.saving import ARCHIVES, save

from support.operations import load_image

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError


def _store_with_the_fixture_images(tmp_path):
    store = tmp_path / "store"
    load_image(dict(name="app1:1", dir=str(ISULA_BUNDLE), store=str(store)))
    return store


@pytest.mark.parametrize("where", ["the store", "a folder inside it"])
def test_save_force_into_the_source_store_is_refused(tmp_path, where):
    store = _store_with_the_fixture_images(tmp_path)
    dest = store if where == "the store" else store / "blobs"
    before = tree_snapshot(store)
    with pytest.raises(BundleError, match="would replace the store|never replaces a store"):
        save(dest, source="oci", store=str(store), archives=None, names=["app1:1"], force=True)
    assert tree_snapshot(store) == before


def test_save_force_over_any_oci_store_is_refused(tmp_path):
    store = _store_with_the_fixture_images(tmp_path)
    before = tree_snapshot(store)
    with pytest.raises(BundleError, match="dest %s is an OCI image layout .*never replaces a store" % store):
        save(store, force=True)  # from the docker-archives: still never over a store
    assert tree_snapshot(store) == before


@pytest.fixture
def tiny_fs(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    with tmpfs(folder, "1m"):
        yield folder


def test_save_on_a_full_disk_names_dest_and_the_cause(tiny_fs):
    dest = tiny_fs / "bundle"
    with pytest.raises(BundleError) as err:
        save(dest, archives=ARCHIVES)
    message = str(err.value)
    assert message.startswith("writing bundle %s failed: No space left on device" % dest), message
    assert "Errno" not in message and ".save-" not in message and "nothing was left behind" in message
    assert os.listdir(tiny_fs) == []


# The docker-archives a save reads go through the load's bounded tar headers and a member limit


def _archive_with(tmp_path, raw):
    """A copy of the app1 docker-archive with RAW tar blocks in front of its members."""
    import shutil

    path = tmp_path / "hostile.tar"
    shutil.copyfile(ARCHIVES[0], path)
    data = path.read_bytes()
    path.write_bytes(raw + data)
    return str(path)


@pytest.mark.parametrize("hostile", ["pax", "members"])
def test_save_refuses_a_hostile_docker_archive_with_a_message(tmp_path, hostile):
    import tarfile

    from support.bundles import stray_folder_headers

    if hostile == "pax":
        header = tarfile.TarInfo("././@PaxHeader")
        header.type, header.size = tarfile.XHDTYPE, 4 * 1024 * 1024
        raw, words = header.tobuf(format=tarfile.USTAR_FORMAT) + b"9" * header.size, "an extended header"
    else:
        raw, words = stray_folder_headers(70000), "holds more than 65536 members"
    archive = _archive_with(tmp_path, raw)
    with pytest.raises(BundleError, match=words):
        save(tmp_path / "bundle", archives=[archive] + ARCHIVES[1:])
    assert not (tmp_path / "bundle").exists()


def test_save_refuses_a_fifo_as_docker_archive_without_blocking(tmp_path):
    import threading

    fifo = tmp_path / "archive.tar"
    os.mkfifo(fifo)
    outcome = {}

    def run():
        try:
            save(tmp_path / "bundle", archives=[str(fifo)] + ARCHIVES[1:])
        except BundleError as exc:
            outcome["error"] = str(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the save hangs on a FIFO"
    assert outcome["error"] == "docker-archive %s is not a regular file" % fifo
