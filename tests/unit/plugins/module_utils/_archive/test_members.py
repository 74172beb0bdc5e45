"""_archive/members.py: a tarball read as a stream of validated members, whatever its compression.

Member bytes are handed out without tarfile's copies, in whatever pieces the
reader asks for; members left unread are skipped; the sha256 of the file's
compressed bytes comes back from the same single read.
"""

from __future__ import annotations

import gzip
import tarfile

import pytest
from support.archives import MIB, layer_archive, member_digests, read_all
from support.bundles import members, sha256, write_tarball

from ansible_collections.fleetimage.separated.plugins.module_utils._archive.members import stream_tarball


@pytest.mark.parametrize("how, piece", [("read1", MIB), ("read1", 1000), ("read", 4096), ("read", 3 * MIB),
                                        ("readinto", 65536), ("readinto", 5 * MIB)])
@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_member_bytes_are_the_same_however_they_are_read(tmp_path, how, piece, fmt):
    # Sizes around the 1 MiB chunks the decompressing thread hands over.
    raw = layer_archive([0, 1, 511, MIB - 1, MIB, MIB + 1, 3 * MIB + 7], fmt=fmt, long_names=True)
    path = tmp_path / "t.tar.gz"
    path.write_bytes(gzip.compress(raw, 1))
    seen, digest = read_all(path, how, piece)
    assert seen == member_digests(raw)
    assert digest == sha256(path)


@pytest.mark.parametrize("compression", ["tar", "gzip", "bzip2", "xz", "zstd"])
def test_every_compression_reads_the_same(tmp_path, compression):
    raw = layer_archive([2 * MIB + 3, 10])
    path = tmp_path / "t"
    write_tarball(path, members(_as_file(tmp_path, raw)), compression)
    seen, digest = read_all(path)
    assert seen == member_digests(raw)
    assert digest == sha256(path)


def _as_file(tmp_path, raw):
    path = tmp_path / "plain.tar"
    path.write_bytes(raw)
    return path


def test_members_left_unread_are_skipped(tmp_path):
    raw = layer_archive([3 * MIB, 5, 2 * MIB])
    path = tmp_path / "t.tar.gz"
    path.write_bytes(gzip.compress(raw))
    names = []
    assert stream_tarball(str(path), lambda name, *rest: names.append(name)) == sha256(path)
    assert [n for n in names if n.endswith("layer.tar")] == sorted(member_digests(raw))
