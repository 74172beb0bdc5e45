# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A private temporary folder for an engine's load, removed by this run or by the next.

Podman copies the archive it reads on stdin to a file in $TMPDIR (or
/var/tmp) before it loads it -- about the image's size -- and iSulad loads
only from a file. Each load gets a folder of its own under $TMPDIR (or
/var/tmp), named fleetimage-engine-tmp-<engine>-<pid>-..., flocked by the
module for as long as the load runs, and handed to the engine as its TMPDIR.
The module removes it when the load ends, however it ends; a folder left by
a killed module (its flock free) is removed by the next load.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import stat
import tempfile

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason

PREFIX = "fleetimage-engine-tmp-"


def parent_folder():
    return os.environ.get("TMPDIR") or "/var/tmp"


@contextlib.contextmanager
def private_tmp(label):
    """Yield a new folder only this load uses; it is removed on the way out."""
    parent = parent_folder()
    remove_abandoned(parent)
    try:
        folder = tempfile.mkdtemp(prefix="%s%s-%d-" % (PREFIX, label, os.getpid()), dir=parent)
    except OSError as exc:
        raise BundleError("cannot create a temporary folder in %s for the %s load: %s"
                          % (parent, label, os_reason(exc)))
    try:
        fd = os.open(folder, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)  # not inherited by the engine: it ends with this process
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise BundleError("cannot lock the temporary folder %s: %s" % (folder, os_reason(exc)))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(fd)


def remove_abandoned(parent):
    """Remove this user's folders of loads that are gone (their flock is free); never an error."""
    try:
        entries = [e for e in os.listdir(parent) if e.startswith(PREFIX)]
    except OSError:
        return
    for entry in entries:
        path = os.path.join(parent, entry)
        try:
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                continue
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pass  # a load that runs
        else:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)


def engine_environment(folder):
    """The environment for an engine process whose temporary files go to FOLDER."""
    return dict(os.environ, TMPDIR=folder)
