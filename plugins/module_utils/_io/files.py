# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small files read whole, within a limit; writes made durable before anyone relies on them."""

from __future__ import annotations

import errno
import os
import stat

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason


def fsync_folder(path):
    """Make the entries of the folder PATH (a rename, a new file) durable.

    A file system that cannot sync a folder (EINVAL) is taken as it is; any
    other error is raised, as the data may not be where it is said to be.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


def write_new_file(path, data, mode):
    """Write DATA into the new file PATH (refused if it exists) with MODE, synced to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def open_regular_file(path, what, follow_links=True):
    """PATH opened for reading (unbuffered) when it is a regular file; else a BundleError naming WHAT and PATH.

    The file is opened without blocking and checked on the open descriptor, so
    a FIFO or a device put in a file's place is refused, never waited on, and
    nothing can swap the file between the check and the read. Without
    FOLLOW_LINKS a symbolic link is refused too (a store's own files). An
    error of the open itself is raised as the OSError it is.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_links:
            raise BundleError("%s %s is a symbolic link, not a regular file: refusing to follow it" % (what, path))
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BundleError("%s %s is not a regular file" % (what, path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def check_regular_file(path, what):
    """The os.stat of PATH when it is a regular file; else a BundleError naming WHAT and PATH."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise BundleError("%s %s cannot be read: %s" % (what, path, os_reason(exc)))
    if not stat.S_ISREG(st.st_mode):
        raise BundleError("%s %s is not a regular file" % (what, path))
    return st


def read_bounded_file(path, what, max_bytes):
    """The bytes of the regular file PATH, of at most MAX_BYTES; else a BundleError naming WHAT and PATH."""
    try:
        with open_regular_file(path, what) as f:
            if os.fstat(f.fileno()).st_size > max_bytes:
                raise BundleError("%s %s is larger than %d bytes" % (what, path, max_bytes))
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise BundleError("%s %s cannot be read: %s" % (what, path, os_reason(exc)))
    if len(data) > max_bytes:  # grew while it was read
        raise BundleError("%s %s is larger than %d bytes" % (what, path, max_bytes))
    return data
