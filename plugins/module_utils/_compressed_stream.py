# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open a tarball once: hash its compressed bytes while they are decompressed.

The compression is detected from the first bytes, never from the file name.
gzip goes through python-isal when it is importable (about twice as fast, and
it decompresses in a thread of its own); bzip2 and xz come from the standard
library, zstd from the zstandard package when it is importable.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError

try:
    from isal import igzip_threaded
except ImportError:  # an optional accelerator
    igzip_threaded = None

try:
    import zstandard
except ImportError:  # optional: only zstd tarballs need it
    zstandard = None

CHUNK = 1024 * 1024

_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


class HashingReader(io.RawIOBase):
    """A read-only file that feeds every byte it hands out to sha256."""

    def __init__(self, f):
        super(HashingReader, self).__init__()
        self._f = f
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self):
        return True

    def readinto(self, buf):
        n = self._f.readinto(buf)
        if n:
            self.sha256.update(memoryview(buf)[:n])
            self.size += n
        return n

    def drain(self):
        """Read and hash the rest of the file; return the hex digest."""
        while True:
            chunk = self._f.read(CHUNK)
            if not chunk:
                return self.sha256.hexdigest()
            self.sha256.update(chunk)
            self.size += len(chunk)

    def close(self):
        # The decompressor closes what it wraps; the file stays open for drain().
        pass


def detect_compression(path):
    """Return 'gzip', 'bzip2', 'xz', 'zstd' or 'tar' from the first bytes of PATH."""
    with open(path, "rb") as f:
        head = f.read(512)
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if len(head) == 512 and head[257:262] == b"ustar":
        return "tar"
    raise BundleError("%s is neither a tar archive nor a compressed one (gzip, bzip2, xz, zstd)" % path)


def decompressed(raw, kind, path):
    """Wrap RAW (a HashingReader) in the decompressor for KIND."""
    if kind == "tar":
        return io.BufferedReader(raw, CHUNK)
    if kind == "gzip":
        if igzip_threaded is not None:
            return igzip_threaded.open(raw, "rb", threads=1, block_size=CHUNK)
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if kind == "bzip2":
        return bz2.BZ2File(raw, "rb")
    if kind == "xz":
        return lzma.LZMAFile(raw, "rb")
    if zstandard is None:
        raise BundleError("%s is zstd-compressed, and the Python package zstandard is not installed on this host" % path)
    return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)


def sha256_of_file(path):
    """The hex sha256 of a whole file, read in large chunks."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
