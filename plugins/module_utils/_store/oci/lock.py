# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The store's lock, and the clean-up of loads that are gone.

Commits and housekeeping hold an exclusive flock on the store folder itself.
Each load flocks its own staging folder for as long as it runs, so a staging
folder whose flock is free belongs to a load that is gone (killed, crashed).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import layout

STAGING_PREFIX = ".fleetimage-staging-"


@contextlib.contextmanager
def store_lock(store):
    """Hold an exclusive flock on the STORE folder itself."""
    while True:
        layout.make_dirs(store)
        try:
            fd = os.open(store, os.O_RDONLY)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                continue
            raise BundleError("cannot open the store folder %s: %s" % (store, os_reason(exc)))
        fcntl.flock(fd, fcntl.LOCK_EX)
        # A load that failed on a new store may have removed the folder while
        # this one waited for the lock: then lock the folder that is there now.
        try:
            if os.stat(store).st_ino == os.fstat(fd).st_ino:
                break
        except OSError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)


def remove_abandoned_staging(store):
    """Remove staging folders whose load is gone (their flock is free); housekeeping, so never an error."""
    try:
        entries = os.listdir(store)
    except OSError:
        return  # what the load does next fails with its own words if the store cannot be read
    for entry in entries:
        if not entry.startswith(STAGING_PREFIX):
            continue
        path = os.path.join(store, entry)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pass  # in use by a running load (or not lockable): left alone
        else:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
