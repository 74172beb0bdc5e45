# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Making writes durable: a file's bytes and a folder's entries on disk before anyone relies on them."""

from __future__ import annotations

import errno
import os


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
