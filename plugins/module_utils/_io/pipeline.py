# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open a tarball once: hash its compressed bytes while they are decompressed.

The compression is detected from the first bytes, never from the file name.
gzip is inflated with python-isal when it is importable (about 1.5 times
zlib's speed here), else with zlib; bzip2 and xz come from the standard
library, zstd from the zstandard package when it is importable.

Decompression is the slowest step of a load, so it runs in a thread of its
own (both isal and zlib release the GIL while they inflate), ahead of the
reader by a few chunks: on two cores the reader's work -- parsing tar
headers, hashing and writing each layer -- overlaps with it. The chunks
are handed over as they are, and read1() passes a whole one on without
copying it: every copy of a gigabyte costs a tenth of a second.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import os
import queue
import threading
import zlib

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError

try:
    from isal import isal_zlib
except ImportError:  # an optional accelerator
    isal_zlib = None

try:
    import zstandard
except ImportError:  # optional: only zstd tarballs need it
    zstandard = None

CHUNK = 1024 * 1024
# Compressed bytes per read: isal and zlib inflate fastest with inputs of
# about this size (1 MiB inputs are 20% slower: their output leaves the cache).
_READ_SIZE = 256 * 1024
# Decompressed chunks (of at most CHUNK) the thread may hold ahead of the reader.
_AHEAD = 4
_GZIP_MAGIC = b"\x1f\x8b"

_MAGIC = (
    (_GZIP_MAGIC, "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)

# What a corrupt compressed stream raises, whichever decompressor reads it.
DECOMPRESSION_ERRORS = (EOFError, OSError, ValueError, lzma.LZMAError, zlib.error) + (
    (isal_zlib.error,) if isal_zlib is not None else ()
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

    def read(self, size=-1):
        # The bytes as the file returns them: RawIOBase.read would copy them twice.
        data = self._f.read(size)
        if data:
            self.sha256.update(data)
            self.size += len(data)
        return data

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
    """Wrap RAW (a HashingReader) in a single-threaded decompressor for KIND."""
    if kind == "tar":
        return io.BufferedReader(raw, CHUNK)
    if kind == "gzip":
        return io.BufferedReader(_InflatingReader(raw), CHUNK)
    if kind == "bzip2":
        return bz2.BZ2File(raw, "rb")
    if kind == "xz":
        return lzma.LZMAFile(raw, "rb")
    if zstandard is None:
        raise BundleError("%s is zstd-compressed, and the Python package zstandard is not installed on this host" % path)
    return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=False)


def open_tarball(path, kind):
    """The decompressed bytes of the tarball at PATH (of compression KIND) as a DecompressedStream."""
    if kind == "zstd" and zstandard is None:
        raise BundleError("%s is zstd-compressed, and the Python package zstandard is not installed on this host" % path)
    return DecompressedStream(path, kind)


def sha256_of_file(path):
    """The hex sha256 of a whole file, read in large chunks."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class DecompressedStream(object):
    """A forward-only file of a tarball's decompressed bytes, inflated in a thread ahead of the reader.

    read(n), readinto(b) and seek() forward are what tarfile needs to parse
    headers; read1(n) hands over the thread's chunks without copying them.
    An error of the compressed data is raised by the read that reaches it.
    file_sha256() is the sha256 of all the file's compressed bytes.
    """

    _END = object()

    def __init__(self, path, kind):
        self.name = path
        self.kind = kind
        self._file = open(path, "rb", buffering=0)
        self._raw = HashingReader(self._file)
        # The compressed bytes are hashed in a thread of their own, off the
        # decompressing thread, which is the longest of a load.
        self._raw.sha256 = _ThreadedSha256()
        self._queue = queue.Queue(_AHEAD)
        self._stop = False
        self._chunk = b""
        self._view = memoryview(b"")  # the unread end of self._chunk
        self._position = 0
        self._finished = False
        self._thread = threading.Thread(target=self._produce, name="decompress " + os.path.basename(path))
        self._thread.daemon = True
        self._thread.start()

    # --- the thread -----------------------------------------------------------------

    def _produce(self):
        try:
            if self.kind == "tar":
                read = self._raw.read
            elif self.kind == "gzip":
                read = _InflatingReader(self._raw).read  # its chunks as the decompressor made them
            else:
                source = decompressed(self._raw, self.kind, self.name)
                read = getattr(source, "read1", source.read)
            while not self._stop:
                chunk = read(CHUNK)
                if not chunk:
                    break
                self._put(chunk if isinstance(chunk, bytes) else bytes(chunk))
            self._put(self._END)
        except BaseException as exc:  # raised in the reader's thread, by the read that reaches it
            self._put(_Failure(exc))

    def _put(self, item):
        while not self._stop:
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # --- the reader -----------------------------------------------------------------

    def _next_chunk(self):
        """Make the next chunk current; False at the end of the stream."""
        if self._finished:
            return False
        item = self._queue.get()
        if item is self._END:
            self._finished = True
            return False
        if isinstance(item, _Failure):
            self._finished = True
            raise item.exc
        self._chunk = item
        self._view = memoryview(item)
        return True

    def read1(self, size=-1):
        """At most SIZE bytes, from one chunk; a whole chunk is handed over without a copy."""
        if not self._view and not self._next_chunk():
            return b""
        view = self._view
        if size < 0 or size >= len(view):
            self._view = memoryview(b"")
            self._position += len(view)
            return self._chunk if len(view) == len(self._chunk) else view.tobytes()
        self._view = view[size:]
        self._position += size
        return view[:size].tobytes()

    def read(self, size=-1):
        """SIZE bytes (fewer only at the end), or all that is left."""
        parts, wanted = [], size
        while wanted != 0:
            data = self.read1(wanted)
            if not data:
                break
            parts.append(data)
            if wanted > 0:
                wanted -= len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readinto(self, buffer):
        target = memoryview(buffer).cast("B")
        done = 0
        while done < len(target):
            if not self._view and not self._next_chunk():
                break
            count = min(len(target) - done, len(self._view))
            target[done:done + count] = self._view[:count]
            self._view = self._view[count:]
            self._position += count
            done += count
        return done

    def tell(self):
        return self._position

    def seek(self, position, whence=io.SEEK_SET):
        """Forward only: skip to POSITION (or to the end of the stream, if it is shorter)."""
        if whence == io.SEEK_CUR:
            position += self._position
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("a decompressed stream seeks from its start or its current position only")
        if position < self._position:
            raise ValueError("seeking backwards is not allowed in a decompressed stream")
        while self._position < position:
            if not self.read1(position - self._position):
                break
        return self._position

    def readable(self):
        return True

    def seekable(self):
        return False

    def read_to_end(self):
        """Decompress the rest, to check it (gzip's CRC and length, trailing garbage); keep nothing."""
        while self.read1(CHUNK):
            pass

    def file_sha256(self):
        """The hex sha256 of all the file's compressed bytes, read to its end."""
        self._halt()
        return self._raw.drain()

    def close(self):
        self._halt()
        self._raw.sha256.stop()
        self._file.close()

    def _halt(self):
        """Stop the thread (wherever it is); the file stays open and positioned where it stopped reading."""
        if self._thread.is_alive():
            self._stop = True
            while self._thread.is_alive():
                try:
                    self._queue.get(timeout=0.1)
                except queue.Empty:
                    pass
            self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class _ThreadedSha256(object):
    """sha256 computed in a thread of its own: update() queues, hexdigest() waits (hashlib releases the GIL)."""

    def __init__(self):
        self._sha256 = hashlib.sha256()
        self._queue = queue.Queue(4 * _AHEAD)
        self._thread = None

    def update(self, data):
        if not isinstance(data, bytes):
            data = bytes(data)  # a buffer its owner may fill again before it is hashed
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sha256")
            self._thread.daemon = True
            self._thread.start()
        self._queue.put(data)

    def hexdigest(self):
        self.stop()
        return self._sha256.hexdigest()

    def stop(self):
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _run(self):
        update = self._sha256.update
        for data in iter(self._queue.get, None):
            update(data)


class _Failure(object):
    """An exception of the decompressing thread, carried to the reader."""

    def __init__(self, exc):
        self.exc = exc


class _InflatingReader(io.RawIOBase):
    """gzip, as gzip.GzipFile reads it (several members, zero padding between them), inflated by isal or zlib.

    Reads the compressed file in _READ_SIZE pieces and returns at most
    CHUNK bytes at a time; each member's CRC and length are checked by the
    decompressor at its end.
    """

    def __init__(self, raw):
        super(_InflatingReader, self).__init__()
        self._raw = raw
        self._decompressor = None
        self._input = b""
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
            if not self._input and not self._at_eof:
                self._input = self._raw.read(_READ_SIZE)
                self._at_eof = not self._input
            if self._decompressor is None:
                if not self._start_member():
                    return b""
                continue
            data = self._decompressor.decompress(self._input, size)
            if self._decompressor.eof:
                self._input = self._decompressor.unused_data
                self._decompressor = None
            else:
                self._input = self._decompressor.unconsumed_tail
                if not self._input and self._at_eof and not data:
                    raise EOFError("Compressed file ended before the end-of-stream marker was reached")
            if data:
                return data

    def _start_member(self):
        """Begin the next member, past zero padding; False at the end of the file."""
        while True:
            stripped = self._input.lstrip(b"\0")
            if len(stripped) >= len(_GZIP_MAGIC) or self._at_eof:
                break
            more = self._raw.read(_READ_SIZE)
            self._at_eof = not more
            self._input = stripped + more
        if not stripped:
            self._input = b""
            return False
        if not stripped.startswith(_GZIP_MAGIC):
            raise OSError("Not a gzipped file (%r)" % stripped[:2])
        self._input = stripped
        self._decompressor = isal_zlib.decompressobj(31) if isal_zlib is not None else zlib.decompressobj(31)
        return True
