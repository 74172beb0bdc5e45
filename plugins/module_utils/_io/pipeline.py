# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Open a tarball once: hash its compressed bytes while they are decompressed.

Decompression is the slowest step of a load, so it runs in a thread of its
own (isal, zlib and the other decompressors release the GIL while they
inflate), ahead of the reader by a few chunks: on two cores the reader's
work -- parsing tar headers, hashing and writing each layer -- overlaps with
it. The chunks are handed over as they are, and read1() passes a whole one
on without copying it: every copy of a gigabyte costs a tenth of a second.
The compressed bytes are hashed in a third thread, off the decompressing one.
"""

from __future__ import annotations

import io
import os
import queue
import threading

from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import open_regular_file
from ansible_collections.fleetimage.separated.plugins.module_utils._io.hashing import CHUNK, HashingReader, ThreadedSha256

# Decompressed chunks (of at most CHUNK) the thread may hold ahead of the reader.
_AHEAD = 4


def open_tarball(path, codec):
    """The decompressed bytes of the tarball at PATH (of the Codec CODEC) as a DecompressedStream."""
    return DecompressedStream(path, codec)


class DecompressedStream(object):
    """A forward-only file of a tarball's decompressed bytes, inflated in a thread ahead of the reader.

    read(n), readinto(b) and seek() forward are what tarfile needs to parse
    headers; read1(n) hands over the thread's chunks without copying them.
    An error of the compressed data is raised by the read that reaches it.
    file_sha256() is the sha256 of all the file's compressed bytes.
    """

    _END = object()

    def __init__(self, path, codec):
        self.name = path
        self.codec = codec
        self._file = open_regular_file(path, "tarball")
        self._raw = HashingReader(self._file)
        # The compressed bytes are hashed in a thread of their own, off the
        # decompressing thread, which is the longest of a load.
        self._raw.sha256 = ThreadedSha256()
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
            source = self.codec.open(self._raw)
            read = getattr(source, "read1", source.read)  # chunks as the decompressor makes them
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


class _Failure(object):
    """An exception of the decompressing thread, carried to the reader."""

    def __init__(self, exc):
        self.exc = exc
