"""A file-system fault injector for tests: the k-th wrapped call fails with an OSError."""

from __future__ import annotations

import builtins
import errno
import os
import threading

FAULTS = (errno.EACCES, errno.ENOSPC, errno.EIO, errno.EROFS)
WRAPPED = (
    (os, "open"), (os, "write"), (os, "rename"), (os, "replace"), (os, "fsync"), (os, "mkdir"), (os, "rmdir"),
    (os, "unlink"), (os, "stat"), (os, "lstat"), (os, "listdir"), (os, "scandir"), (os, "chmod"), (os, "fchmod"),
    (os, "statvfs"), (os, "fstatvfs"), (builtins, "open"),
)


class FaultInjector(object):
    """Counts the wrapped calls; the FAIL_AT-th one (1-based; 0: none) raises OSError(ERRNO)."""

    def __init__(self, fail_at=0, error=errno.EIO):
        self.fail_at = fail_at
        self.error = error
        self.calls = 0
        self.failed_call = None
        self._lock = threading.Lock()
        self._saved = []

    def __enter__(self):
        for module, name in WRAPPED:
            real = getattr(module, name)
            self._saved.append((module, name, real))
            setattr(module, name, self._wrap(name, real))
        return self

    def __exit__(self, *exc_info):
        for module, name, real in reversed(self._saved):
            setattr(module, name, real)

    def _wrap(self, name, real):
        def call(*args, **kwargs):
            if name == "open" and args and isinstance(args[0], int):
                return real(*args, **kwargs)  # os.fdopen: no file-system call
            with self._lock:
                self.calls += 1
                fail = self.calls == self.fail_at
            if fail:
                target = args[0] if args and isinstance(args[0], (str, bytes, os.PathLike)) else None
                self.failed_call = "%s(%r)" % (name, args[0] if args else "")
                raise OSError(self.error, os.strerror(self.error), target)
            return real(*args, **kwargs)

        return call
