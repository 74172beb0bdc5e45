"""A save never wipes a store, and a full disk is a message that names what the user named."""

from __future__ import annotations

import os
import subprocess

import pytest
from support.bundles import ISULA_BUNDLE, tree_snapshot
from test_save import ARCHIVES, save

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
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % done.stderr.strip())
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_save_on_a_full_disk_names_dest_and_the_cause(tiny_fs):
    dest = tiny_fs / "bundle"
    with pytest.raises(BundleError) as err:
        save(dest, archives=ARCHIVES)
    message = str(err.value)
    assert message.startswith("writing bundle %s failed: No space left on device" % dest), message
    assert "Errno" not in message and ".save-" not in message and "nothing was left behind" in message
    assert os.listdir(tiny_fs) == []
