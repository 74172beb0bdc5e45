# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gzip as gzip.GzipFile reads it, inflated by python-isal when importable, else by zlib.

isal's IgzipDecompressor is used, not its zlib-like decompressobj: both
inflate about 1.5 times as fast as zlib here, but only IgzipDecompressor
lets go of the GIL while it works, so that a load's other threads (hashing
the compressed bytes, hashing and writing the layers; see pipeline.py) run
beside it. With decompressobj the threads took turns.
"""

from __future__ import annotations

import io
import zlib

try:
    from isal import igzip_lib
except ImportError:  # an optional accelerator
    igzip_lib = None

CHUNK = 1024 * 1024
# Compressed bytes per read: isal and zlib inflate fastest with inputs of
# about this size (1 MiB inputs are 20% slower: their output leaves the cache).
_READ_SIZE = 256 * 1024
GZIP_MAGIC = b"\x1f\x8b"
# What a corrupt gzip stream raises.
GZIP_ERRORS = (EOFError, OSError, zlib.error) + ((igzip_lib.IsalError,) if igzip_lib is not None else ())


class GzipReader(io.RawIOBase):
    """gzip, as gzip.GzipFile reads it (several members, zero padding between them), inflated by isal or zlib.

    Reads the compressed file in _READ_SIZE pieces and returns at most
    CHUNK bytes at a time; each member's CRC and length are checked by the
    decompressor at its end.
    """

    def __init__(self, raw):
        super(GzipReader, self).__init__()
        self._raw = raw
        self._member = None  # the decompressor of the current member
        self._input = b""  # compressed bytes read but not yet given to a decompressor
        self._at_eof = False

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def read(self, size=-1):
        size = CHUNK if size is None or size < 0 else min(size, CHUNK)
        while True:
            if self._member is None and not self._start_member():
                return b""
            if self._member.needs_input:
                if not self._input and not self._at_eof:
                    self._input = self._raw.read(_READ_SIZE)
                    self._at_eof = not self._input
                given, self._input = self._input, b""
            else:
                given = b""  # it still holds input from before
            data = self._member.decompress(given, size)
            if self._member.eof:
                self._input = self._member.unused_data
                self._member = None
            elif not data and self._member.needs_input and self._at_eof:
                raise EOFError("Compressed file ended before the end-of-stream marker was reached")
            if data:
                return data

    def _start_member(self):
        """Begin the next member, past zero padding; False at the end of the file."""
        while True:
            stripped = self._input.lstrip(b"\0")
            if len(stripped) >= len(GZIP_MAGIC) or self._at_eof:
                break
            more = self._raw.read(_READ_SIZE)
            self._at_eof = not more
            self._input = stripped + more
        if not stripped:
            self._input = b""
            return False
        if not stripped.startswith(GZIP_MAGIC):
            raise OSError("Not a gzipped file (%r)" % stripped[:2])
        self._input = stripped
        if igzip_lib is not None:  # checks the member's CRC and length at its end, as zlib's does
            self._member = igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP)
        else:
            self._member = _ZlibMember()
        return True


class _ZlibMember(object):
    """zlib's decompressor with IgzipDecompressor's interface: it keeps what it did not consume."""

    def __init__(self):
        self._decompressor = zlib.decompressobj(31)
        self._tail = b""

    @property
    def needs_input(self):
        return not self._tail

    @property
    def eof(self):
        return self._decompressor.eof

    @property
    def unused_data(self):
        return self._decompressor.unused_data

    def decompress(self, data, max_length):
        data = self._tail + data if self._tail else data
        out = self._decompressor.decompress(data, max_length)
        self._tail = self._decompressor.unconsumed_tail
        return out
