"""min_free_space: a load never fills the store's file system, and a bomb meets the limit early.

The file systems are real: small tmpfs mounts made for the test (root only).
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile

import pytest
from support.bundles import APP1, members, set_hash, sha256, tree_snapshot
from support.images import make_bundle

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._io.free_space import parse_min_free_space
from support.operations import load_image

MIB = 1024 * 1024


@pytest.mark.parametrize("text, parsed", [
    ("512M", ("bytes", 512 * MIB)), ("2G", ("bytes", 2 * 1024 * MIB)), ("1048576", ("bytes", MIB)),
    ("1.5k", ("bytes", 1536)), ("2GiB", ("bytes", 2 * 1024 * MIB)), ("0", ("bytes", 0)),
    ("5%", ("percent", 5.0)), ("0.5 %", ("percent", 0.5)),
])
def test_min_free_space_values(text, parsed):
    assert parse_min_free_space(text) == parsed


@pytest.mark.parametrize("text", ["", "lots", "5 %%", "-1G", "2X", "100%", "1e9"])
def test_wrong_min_free_space_is_refused_before_anything(bundle, store, text):
    with pytest.raises(BundleError, match="min_free_space"):
        load_image({"name": "app1:1", "dir": str(bundle), "store": str(store), "min_free_space": text})
    assert not store.exists()


@pytest.fixture
def small_fs(tmp_path):
    """mount_small_fs(mib) -> a folder on a tmpfs of MIB MiB of its own, unmounted after the test."""
    mounted = []

    def mount(mib):
        folder = tmp_path / ("fs%d" % len(mounted))
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % mib, "tmpfs", str(folder)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip("cannot mount a tmpfs here: %s" % done.stderr.strip())
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def free_bytes(folder):
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


@pytest.fixture(scope="module")
def big_bundle(tmp_path_factory):
    """A bundle whose app1 has a 40 MiB top layer."""
    return make_bundle(tmp_path_factory.mktemp("big") / "bundle", large_mib=40, compression_level=1).path


def load(bundle, store, name="app1:1", **params):
    return load_image(dict(params, name=name, dir=str(bundle), store=str(store)))


def test_a_load_that_would_go_below_the_minimum_fails_while_writing_and_gives_the_space_back(small_fs, big_bundle):
    fs = small_fs(48)
    store = fs / "store"
    load(big_bundle, store, name="app2:1", min_free_space="0")
    before, free_before = tree_snapshot(store), free_bytes(fs)
    with pytest.raises(BundleError) as err:
        load(big_bundle, store, min_free_space="16M")
    message = str(err.value)
    assert "not enough free space for the load into %s" % store in message and "min_free_space 16M" in message
    assert tree_snapshot(store) == before
    assert free_bytes(fs) == free_before


def test_a_load_fails_before_writing_when_the_minimum_is_not_free_now(small_fs, bundle):
    fs = small_fs(8)
    store = fs / "store"
    with pytest.raises(BundleError, match="not enough free space.*min_free_space 90%"):
        load(bundle, store, min_free_space="90%")
    assert not store.exists()


def test_a_full_disk_without_a_minimum_ends_in_a_message_naming_the_store(small_fs, big_bundle):
    fs = small_fs(24)
    store = fs / "store"
    load(big_bundle, store, name="app2:1", min_free_space="0")
    before, free_before = tree_snapshot(store), free_bytes(fs)
    with pytest.raises(BundleError) as err:
        load(big_bundle, store, min_free_space="0")
    assert "writing a layer into the store %s failed: No space left on device" % store in str(err.value)
    assert tree_snapshot(store) == before
    assert free_bytes(fs) == free_before


def _zeros_member(size):
    """gzip members that inflate to SIZE zero bytes (a whole number of MiB), made from one."""
    one = gzip.compress(b"\0" * (64 * MIB), compresslevel=9)
    count, rest = divmod(size, 64 * MIB)
    assert rest == 0
    return one * count


def write_bomb(bundle, size):
    """Make app1's tarball hold SIZE zero bytes as its top layer.tar: a few hundred KiB that inflate 1000:1."""
    path = bundle / APP1
    entries = members(path)
    top = [i for i, d in entries if i.name.endswith("/layer.tar")][-1]
    head, tail = io.BytesIO(), io.BytesIO()
    with tarfile.open(fileobj=head, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in entries:
            if info.name == top.name:
                break
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
        tar.fileobj.write(_header(top, size))
        tar.offset += 0
        head_bytes = head.getvalue()[:tar.offset + 512]
    after = entries[[i.name for i, d in entries].index(top.name) + 1:]
    with tarfile.open(fileobj=tail, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in after:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path.write_bytes(gzip.compress(head_bytes) + _zeros_member(size) + gzip.compress(tail.getvalue()))
    return path


def _header(info, size):
    copy = tarfile.TarInfo(info.name)
    copy.size, copy.mode, copy.mtime = size, 0o644, info.mtime
    return copy.tobuf(format=tarfile.GNU_FORMAT)


def test_a_bomb_with_a_right_checksum_meets_the_free_space_limit(small_fs, bundle):
    fs = small_fs(64)
    store = fs / "store"
    path = write_bomb(bundle, 1024 * MIB)
    assert os.path.getsize(path) * 500 < 1024 * MIB
    set_hash(bundle, APP1, sha256(path))
    free_before = free_bytes(fs)
    with pytest.raises(BundleError, match="not enough free space for the load into %s" % store):
        load(bundle, store, min_free_space="16M")
    assert not store.exists() and free_bytes(fs) == free_before


def test_a_bomb_with_a_wrong_checksum_is_refused_early(small_fs, bundle):
    fs = small_fs(160)  # far less than the bomb: it must be stopped long before it would fill this
    store = fs / "store"
    write_bomb(bundle, 512 * MIB)
    set_hash(bundle, APP1, "0" * 64)
    with pytest.raises(BundleError) as err:
        load(bundle, store, min_free_space="0")
    assert "check sum for file %s failed" % (bundle / APP1) in str(err.value)
    assert not store.exists()
