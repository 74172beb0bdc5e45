"""The streaming read of tarballs and the threaded write of layers.

Decompression runs in a thread ahead of the reader, member bytes are handed
out without tarfile's copies, and layers are written by a thread of their
own: none of this may change what a load accepts, refuses or writes.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import random
import tarfile
import zlib

import pytest
from support.bundles import copy_bundle, members, set_hash, sha256, tree_snapshot, write_tarball

from ansible_collections.fleetimage.separated.plugins.module_utils._io import gzip_reader
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.members import stream_tarball
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from support.operations import load_image
from ansible_collections.fleetimage.separated.plugins.module_utils._io.staging_writer import StagingWriter

BASE = "app1_1_base_image.tar.gz"
LAYER_ID = "a" * 64
MIB = 1024 * 1024


def _layer_archive(sizes, fmt=tarfile.PAX_FORMAT, seed=0, long_names=False):
    """An uncompressed docker-archive-shaped tar: one layer folder per size, its layer.tar of that size."""
    rng = random.Random(seed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for position, size in enumerate(sizes):
            layer = "%064x" % (position + 1)
            folder = tarfile.TarInfo(layer)
            folder.type = tarfile.DIRTYPE
            tar.addfile(folder)
            data = rng.randbytes(size // 2) + b"t" * (size - size // 2)
            info = tarfile.TarInfo(layer + "/layer.tar")
            info.size = len(data)
            if long_names:
                info.uname = "u" * 40  # pax or GNU records before the header
                info.pax_headers = {"comment": "x" * 300}
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _read_all(path, how="read1", piece=MIB):
    """{member name: sha256 of its bytes} and the file's sha256, through stream_tarball."""
    seen = {}

    def on_member(name, kind, member_id, member, tar):
        if kind != "layer_tar":
            return
        reader, digest = tar.extractfile(member), hashlib.sha256()
        if how == "readinto":
            buffer = bytearray(piece)
            for count in iter(lambda: reader.readinto(buffer), 0):
                digest.update(buffer[:count])
        else:
            read = getattr(reader, how)
            for chunk in iter(lambda: read(piece), b""):
                digest.update(chunk)
        seen[name] = digest.hexdigest()

    return seen, stream_tarball(str(path), on_member)


def _reference(raw):
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return {m.name: hashlib.sha256(tar.extractfile(m).read()).hexdigest()
                for m in tar if m.name.endswith("/layer.tar")}


@pytest.mark.parametrize("how, piece", [("read1", MIB), ("read1", 1000), ("read", 4096), ("read", 3 * MIB),
                                        ("readinto", 65536), ("readinto", 5 * MIB)])
@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_member_bytes_are_the_same_however_they_are_read(tmp_path, how, piece, fmt):
    # Sizes around the 1 MiB chunks the decompressing thread hands over.
    raw = _layer_archive([0, 1, 511, MIB - 1, MIB, MIB + 1, 3 * MIB + 7], fmt=fmt, long_names=True)
    path = tmp_path / "t.tar.gz"
    path.write_bytes(gzip.compress(raw, 1))
    seen, digest = _read_all(path, how, piece)
    assert seen == _reference(raw)
    assert digest == sha256(path)


@pytest.mark.parametrize("compression", ["tar", "gzip", "bzip2", "xz", "zstd"])
def test_every_compression_reads_the_same(tmp_path, compression):
    raw = _layer_archive([2 * MIB + 3, 10])
    path = tmp_path / "t"
    write_tarball(path, members(_as_file(tmp_path, raw)), compression)
    seen, digest = _read_all(path)
    assert seen == _reference(raw)
    assert digest == sha256(path)


def _as_file(tmp_path, raw):
    path = tmp_path / "plain.tar"
    path.write_bytes(raw)
    return path


def test_members_left_unread_are_skipped(tmp_path):
    raw = _layer_archive([3 * MIB, 5, 2 * MIB])
    path = tmp_path / "t.tar.gz"
    path.write_bytes(gzip.compress(raw))
    names = []
    assert stream_tarball(str(path), lambda name, *rest: names.append(name)) == sha256(path)
    assert [n for n in names if n.endswith("layer.tar")] == sorted(_reference(raw))


def test_gzip_of_several_members_and_zero_padding_is_read_as_gzip_reads_it(tmp_path):
    raw = _layer_archive([MIB + 5, 7])
    cut = len(raw) // 3
    path = tmp_path / "t.tar.gz"
    path.write_bytes(gzip.compress(raw[:cut]) + gzip.compress(raw[cut:]) + b"\0" * 1000)
    seen, digest = _read_all(path)
    assert seen == _reference(raw)
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
        monkeypatch.setattr(gzip_reader, "isal_zlib", None)
    else:
        assert gzip_reader.isal_zlib is not None, "isal, a test requirement, is not importable"
    raw = _layer_archive([2 * MIB])
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
        _read_all(path)


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
    assert gzip_reader.isal_zlib is not None, "isal, a test requirement, is not importable"
    bundle = copy_bundle(tmp_path / "bundle")
    with_isal = load_image({"name": "app1:1", "dir": str(bundle), "store": str(tmp_path / "a")})
    monkeypatch.setattr(gzip_reader, "isal_zlib", None)
    without = load_image({"name": "app1:1", "dir": str(bundle), "store": str(tmp_path / "b")})
    assert without["image"] == with_isal["image"]
    assert tree_snapshot(tmp_path / "a") == tree_snapshot(tmp_path / "b")


def test_zlib_and_isal_inflate_alike(monkeypatch):
    raw = bytes(range(256)) * 5000
    data = gzip.compress(raw[:300000]) + gzip.compress(raw[300000:])
    assert gzip_reader.isal_zlib is not None, "isal, a test requirement, is not importable"
    results = []
    for isal in (gzip_reader.isal_zlib, None):
        monkeypatch.setattr(gzip_reader, "isal_zlib", isal)
        reader = gzip_reader.GzipReader(io.BytesIO(data))
        results.append(b"".join(iter(lambda: reader.read(65536), b"")))
    assert results == [raw, raw]
    assert zlib.crc32(results[0]) == zlib.crc32(raw)
