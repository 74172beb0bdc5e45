# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sha256 while bytes go by: of a file, of a reader, or in a thread of its own."""

from __future__ import annotations

import hashlib
import io
import queue
import threading

from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import open_regular_file

CHUNK = 1024 * 1024


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


def sha256_of_file(path, what="file"):
    """The hex sha256 of a whole regular file, read in large chunks (a FIFO is refused, not waited on)."""
    with open_regular_file(path, what) as f:
        return sha256_of_reader(f)


def sha256_of_reader(f):
    """The hex sha256 of what is left to read in the file object F."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: f.read(CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


class ThreadedSha256(object):
    """sha256 computed in a thread of its own: update() queues, hexdigest() waits (hashlib releases the GIL)."""

    def __init__(self):
        self._sha256 = hashlib.sha256()
        self._queue = queue.Queue(16)
        self._thread = None
        self._failure = None

    def update(self, data):
        self._raise_failure()
        if not isinstance(data, bytes):
            data = bytes(data)  # a buffer its owner may fill again before it is hashed
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sha256")
            self._thread.daemon = True
            self._thread.start()
        self._queue.put(data)

    def hexdigest(self):
        self.stop()
        self._raise_failure()
        return self._sha256.hexdigest()

    def _raise_failure(self):
        if self._failure is not None:
            raise self._failure

    def stop(self):
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _run(self):
        update = self._sha256.update
        for data in iter(self._queue.get, None):
            if self._failure is not None:
                continue  # keep taking what is queued: update() must never wait on a thread that stopped
            try:
                update(data)
            except BaseException as exc:  # raised in the caller's thread, by update() or hexdigest()
                self._failure = exc
