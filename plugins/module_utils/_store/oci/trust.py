# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who may write the store: nobody but the user who loads, or root.

Blobs already in the store are reused without being read again (the store is
content-addressed, and reading every layer on every load would cost what a
load costs). That is only sound when no one else can put a file there: a
local user who could write blobs/sha256/ could plant a "layer" under the
digest of the next image root loads. So, as OpenSSH's StrictModes does for
authorized_keys, the store's folders and the folders above it must be owned
by the loading user or root and writable by no one else; a folder above the
store may be writable by others only with the sticky bit (/tmp), where no one
can rename what another user owns.

No part of the store's own tree may be a symbolic link: not blobs/ nor
blobs/sha256/, not index.json nor oci-layout, not a staging folder or any
other entry at the store's top; blobs are opened without following links
(layout.read_store_file). What a module deletes or rewrites is therefore
inside the folder checked here, whatever a link would have pointed at.

The folders this collection creates get explicit modes, whatever the umask:
0755 for the store, blobs/ and blobs/sha256/; 0700 for staging folders; blobs
and index files are 0644 (see layout.py).
"""

from __future__ import annotations

import os
import stat

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason

FOLDER_MODE = 0o755
FILE_MODE = 0o644
# The parts of the store whose writers are trusted; checked when they exist.
_STORE_FOLDERS = ("", "blobs", os.path.join("blobs", "sha256"))
_STORE_FILES = ("index.json", "oci-layout")


def check_store_trusted(store):
    """Refuse STORE when a user other than this one (or root) could write what a load trusts.

    Checks the store folder, blobs/, blobs/sha256/, index.json and oci-layout
    (those that exist), every folder above the store, and that nothing at the
    store's top is a symbolic link. Returns the store's real path: the folder
    checked, which the caller works in from then on.
    """
    uid = os.geteuid()
    store = os.path.abspath(store)
    real = os.path.realpath(store)
    for folder in _ancestors(real):
        st = _lstat(folder)
        if st is not None:
            _check_owner_and_mode(folder, st, uid, sticky_allowed=True, what="folder above the store")
    for relative in _STORE_FOLDERS:
        path = os.path.join(real, relative) if relative else real
        st = _lstat(path)
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise BundleError("the store's %s is not a folder (a symbolic link or a file): refusing to trust it"
                              % os.path.join(store, relative))
        _check_owner_and_mode(os.path.join(store, relative) if relative else store, st, uid, False, "store folder")
    for relative in _STORE_FILES:
        st = _lstat(os.path.join(real, relative))
        if st is None:
            continue
        if not stat.S_ISREG(st.st_mode):
            raise BundleError("the store's %s is not a regular file: refusing to trust it" % os.path.join(store, relative))
        _check_owner_and_mode(os.path.join(store, relative), st, uid, False, "store file")
    _check_no_links_on_top(store, real)
    return real


def _check_no_links_on_top(store, real):
    """Refuse a symbolic link among the entries of the store folder (staging folders, temporary files...)."""
    try:
        entries = list(os.scandir(real))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise BundleError("cannot list the store folder %s: %s" % (store, exc.strerror or exc))
    for entry in entries:
        if entry.is_symlink():
            raise BundleError("the store's %s is a symbolic link: nothing in a store may lead out of it;"
                              " remove the link" % os.path.join(store, entry.name))


def _check_owner_and_mode(path, st, uid, sticky_allowed, what):
    if st.st_uid not in (uid, 0):
        raise BundleError("bad ownership for the %s %s: it is owned by uid %d, neither this user (uid %d) nor root;"
                          " another user could put files there that this load would trust" % (what, path, st.st_uid, uid))
    writable = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if writable and not (sticky_allowed and st.st_mode & stat.S_ISVTX):
        by = "its group and others" if writable == (stat.S_IWGRP | stat.S_IWOTH) else (
            "its group" if writable == stat.S_IWGRP else "others")
        raise BundleError("bad modes for the %s %s: mode %04o lets %s write it; another user could put files"
                          " there that this load would trust (chmod go-w %s)"
                          % (what, path, stat.S_IMODE(st.st_mode), by, path))


def _ancestors(path):
    """The folders above PATH, nearest first, up to /."""
    parent = os.path.dirname(path)
    while True:
        yield parent
        if parent == os.path.dirname(parent):
            return
        parent = os.path.dirname(parent)


def _lstat(path):
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BundleError("cannot check who may write %s: %s" % (path, os_reason(exc)))
