# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write staged files in a thread of their own, in the order asked.

A load hashes each layer as it reads it, and must write it and fsync it.
Done in the reading thread, every write and every fsync would stall the
decompression behind it; handed to this thread, they overlap with it (the
file system releases the GIL). The queue is bounded, so a slow disk holds
the reader back instead of filling memory.

The first write error is kept and raised (an OSError) by the next call,
and by wait(), which returns only once everything asked is on disk.
"""

from __future__ import annotations

import os
import queue
import threading

# Chunks (of at most 1 MiB) waiting to be written: enough to absorb a
# layer's fsync while the next layer is decompressed.
MAX_PENDING = 16


class StagingWriter(object):
    def __init__(self, max_pending=MAX_PENDING):
        self._queue = queue.Queue(max_pending)
        self._error = None
        self._abandoned = False
        self._open = set()
        self._thread = threading.Thread(target=self._run, name="staging writer")
        self._thread.daemon = True
        self._thread.start()

    def adopt(self, fd):
        """Take charge of the open file FD: closed by finish() or discard(), or by close()."""
        self._open.add(fd)

    def write(self, fd, data):
        """Append DATA (bytes-like, not to be changed afterwards) to the file FD."""
        self._check()
        self._queue.put((_WRITE, fd, data))

    def finish(self, fd):
        """fsync and close FD once its writes are done."""
        self._open.discard(fd)
        self._queue.put((_FINISH, fd, None))
        self._check()

    def discard(self, fd, path):
        """Close FD and remove PATH once its writes are done: the file is not needed."""
        self._open.discard(fd)
        self._queue.put((_DISCARD, fd, path))
        self._check()

    def wait(self):
        """Return once every file asked for is written and synced; raise the first write error."""
        self._queue.join()
        self._check()

    def close(self):
        """Stop the thread: writes not done yet are dropped, and every file adopted is closed."""
        self._abandoned = True
        self._queue.put((_STOP, None, None))
        self._thread.join()
        for fd in self._open:  # files whose finish() or discard() never came
            _close_quietly(fd)
        self._open.clear()

    def _check(self):
        if self._error is not None:
            raise self._error

    def _run(self):
        while True:
            job, fd, data = self._queue.get()
            try:
                if job is _STOP:
                    return
                if self._abandoned or self._error is not None:
                    if job is not _WRITE:  # the file is still closed, once
                        _close_quietly(fd)
                    continue
                self._do(job, fd, data)
            except BaseException as exc:  # raised in the caller's thread by its next call
                self._error = exc
            finally:
                self._queue.task_done()

    @staticmethod
    def _do(job, fd, data):
        if job is _WRITE:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        elif job is _FINISH:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        else:  # _DISCARD
            os.close(fd)
            os.unlink(data)


def _close_quietly(fd):
    try:
        os.close(fd)
    except OSError:
        pass


_WRITE, _FINISH, _DISCARD, _STOP = "write", "finish", "discard", "stop"
