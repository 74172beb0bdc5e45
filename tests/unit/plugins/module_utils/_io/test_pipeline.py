"""The decompression pipeline and the threaded write of layers (_io/).

Decompression runs in a thread ahead of the reader, and layers are written by
a thread of their own: none of this may change what a load accepts, refuses
or writes. How members are read from the stream: _archive/test_members.py.
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import zlib

import pytest
from support.archives import MIB, layer_archive, member_digests, read_all
from support.bundles import copy_bundle, set_hash, sha256, tree_snapshot

from ansible_collections.fleetimage.separated.plugins.module_utils._io import gzip_reader
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from support.operations import load_image
from ansible_collections.fleetimage.separated.plugins.module_utils._io.staging_writer import StagingWriter

BASE = "app1_1_base_image.tar.gz"


def test_gzip_of_several_members_and_zero_padding_is_read_as_gzip_reads_it(tmp_path):
    raw = layer_archive([MIB + 5, 7])
    cut = len(raw) // 3
    path = tmp_path / "t.tar.gz"
    path.write_bytes(gzip.compress(raw[:cut]) + gzip.compress(raw[cut:]) + b"\0" * 1000)
    seen, digest = read_all(path)
    assert seen == member_digests(raw)
    assert digest == sha256(path)


@pytest.mark.parametrize("damage, isal", [
    ("truncated", True), ("truncated", False),
    ("crc", True), ("crc", False),
    ("length", True), ("length", False),
    ("middle", True), ("middle", False),
    ("garbage after", True), ("garbage after", False),
])
def test_damaged_gzip_is_refused_whichever_inflater(tmp_path, monkeypatch, damage, isal):
    if not isal:
        monkeypatch.setattr(gzip_reader, "igzip_lib", None)
    else:
        assert gzip_reader.igzip_lib is not None, "isal, a test requirement, is not importable"
    raw = layer_archive([2 * MIB])
    data = bytearray(gzip.compress(raw))
    if damage == "truncated":
        data = data[: len(data) - 100]
    elif damage == "crc":
        data[-8] ^= 1
    elif damage == "length":
        data[-2] ^= 1
    elif damage == "middle":
        data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    else:
        data += b"not gzip"
    path = tmp_path / "t.tar.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="is not a valid gzip-compressed tar archive"):
        read_all(path)


def test_a_corrupt_base_tarball_fails_the_load_cleanly(tmp_path):
    """Found by a deflate error in the middle, after the index's hash is fixed to match."""
    bundle = copy_bundle(tmp_path / "bundle")
    store = tmp_path / "store"
    data = bytearray((bundle / BASE).read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    (bundle / BASE).write_bytes(bytes(data))
    set_hash(bundle, BASE, sha256(bundle / BASE))
    with pytest.raises(BundleError, match="is not a valid gzip-compressed tar archive"):
        load_image({"name": "app1:1", "dir": str(bundle), "store": str(store)})
    assert tree_snapshot(store) in (None, {})


def test_a_failed_layer_write_fails_the_load_cleanly(tmp_path, monkeypatch):
    bundle = copy_bundle(tmp_path / "bundle")
    store = tmp_path / "store"
    real_write = os.write

    def full_disk(fd, data):
        if "/.fleetimage-staging-" in os.readlink("/proc/self/fd/%d" % fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(BundleError, match="writing a layer into the store %s failed: .*No space left" % store):
        load_image({"name": "app1:1", "dir": str(bundle), "store": str(store)})
    monkeypatch.undo()
    assert tree_snapshot(store) in (None, {})
    # The store works afterwards.
    assert load_image({"name": "app1:1", "dir": str(bundle), "store": str(store)})["action"] == "loaded"


def test_staging_writer_keeps_order_syncs_and_reports_the_first_error(tmp_path):
    writer = StagingWriter(max_pending=2)
    path = tmp_path / "f"
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT)
    writer.adopt(fd)
    for piece in (b"a" * 10, b"b" * 100000, b"c"):
        writer.write(fd, piece)
    writer.finish(fd)
    dup = os.open(str(tmp_path / "dup"), os.O_WRONLY | os.O_CREAT)
    writer.adopt(dup)
    writer.write(dup, b"x")
    writer.discard(dup, str(tmp_path / "dup"))
    writer.wait()
    assert path.read_bytes() == b"a" * 10 + b"b" * 100000 + b"c"
    assert not (tmp_path / "dup").exists()

    full = os.open("/dev/full", os.O_WRONLY)
    writer.adopt(full)
    writer.write(full, b"x" * 4096)
    with pytest.raises(OSError) as err:
        writer.wait()
    assert err.value.errno == errno.ENOSPC
    with pytest.raises(OSError):
        writer.write(full, b"more")
    writer.close()  # closes the file whose finish() never came
    with pytest.raises(OSError):
        os.fstat(full)


def test_a_zlib_only_host_loads_the_same_image(tmp_path, monkeypatch):
    assert gzip_reader.igzip_lib is not None, "isal, a test requirement, is not importable"
    bundle = copy_bundle(tmp_path / "bundle")
    with_isal = load_image({"name": "app1:1", "dir": str(bundle), "store": str(tmp_path / "a")})
    monkeypatch.setattr(gzip_reader, "igzip_lib", None)
    without = load_image({"name": "app1:1", "dir": str(bundle), "store": str(tmp_path / "b")})
    assert without["image"] == with_isal["image"]
    # The same files, byte for byte, but for the load time each index.json entry records.
    a, b = tree_snapshot(tmp_path / "a"), tree_snapshot(tmp_path / "b")
    assert a.pop("index.json")[0] == b.pop("index.json")[0] and a == b
    entries = [json.loads((tmp_path / s / "index.json").read_text())["manifests"] for s in "ab"]
    for store_entries in entries:
        for entry in store_entries:
            del entry["annotations"]["fleetimage.separated.loaded-at"]
    assert entries[0] == entries[1]


def test_zlib_and_isal_inflate_alike(monkeypatch):
    raw = bytes(range(256)) * 5000
    data = gzip.compress(raw[:300000]) + gzip.compress(raw[300000:])
    assert gzip_reader.igzip_lib is not None, "isal, a test requirement, is not importable"
    results = []
    for isal in (gzip_reader.igzip_lib, None):
        monkeypatch.setattr(gzip_reader, "igzip_lib", isal)
        reader = gzip_reader.GzipReader(io.BytesIO(data))
        results.append(b"".join(iter(lambda: reader.read(65536), b"")))
    assert results == [raw, raw]
    assert zlib.crc32(results[0]) == zlib.crc32(raw)
