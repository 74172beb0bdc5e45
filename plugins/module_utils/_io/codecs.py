# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The compressions a tarball may have, told apart by their first bytes, never by the file name.

One table: a codec's name, its magic bytes, how to open a decompressing
reader over a raw file (None: the Python package it needs is missing), and
what its decompressor raises on corrupt data. To add a codec, add a row.
"""

from __future__ import annotations

import bz2
import collections
import lzma

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import open_regular_file
from ansible_collections.fleetimage.separated.plugins.module_utils._io.gzip_reader import GZIP_ERRORS, GZIP_MAGIC, GzipReader

try:
    import zstandard
except ImportError:  # optional: only zstd tarballs need it
    zstandard = None

Codec = collections.namedtuple("Codec", "name magic open errors package")


def _open_zstd(raw):
    return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)


CODECS = (
    Codec("gzip", GZIP_MAGIC, GzipReader, GZIP_ERRORS, None),
    Codec("bzip2", b"BZh", lambda raw: bz2.BZ2File(raw, "rb"), (EOFError, OSError, ValueError), None),
    Codec("xz", b"\xfd7zXZ\x00", lambda raw: lzma.LZMAFile(raw, "rb"), (EOFError, lzma.LZMAError), None),
    Codec("zstd", b"\x28\xb5\x2f\xfd", _open_zstd if zstandard else None,
          (zstandard.ZstdError,) if zstandard else (), "zstandard"),
)
# An uncompressed tar: read as it is.
TAR = Codec("tar", None, lambda raw: raw, (), None)

# What a corrupt compressed stream raises, whichever decompressor reads it.
DECOMPRESSION_ERRORS = tuple(set(error for codec in CODECS for error in codec.errors))


def detect_codec(path):
    """The Codec of the file at PATH, from its first bytes; an error naming PATH when none fits."""
    with open_regular_file(path, "tarball") as f:
        head = f.read(512)
    for codec in CODECS:
        if head.startswith(codec.magic):
            if codec.open is None:
                raise BundleError("%s is %s-compressed, and the Python package %s is not installed on this host"
                                  % (path, codec.name, codec.package))
            return codec
    if len(head) == 512 and head[257:262] == b"ustar":
        return TAR
    raise BundleError("%s is neither a tar archive nor a compressed one (%s)" % (path, ", ".join(c.name for c in CODECS)))
