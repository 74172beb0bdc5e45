# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which blobs of an OCI store its images use, and removing the others.

A blob is in use when an index.json entry reaches it: the entry's manifest
(or image index, followed down), a manifest's config and layers. Every other
file of blobs/sha256 is garbage: left by a removed image, or by a load killed
between publishing its blobs and replacing index.json.

A load decides which layers it need not write by looking at blobs/sha256
while it runs, before it takes the store lock to commit, so a blob that no
entry uses yet may be one a running load counts on. Blobs are therefore only
removed under the store lock and only when no load is running (no staging
folder is locked by its load); otherwise they stay for the next prune.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat

from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._digest import blob_path, is_sha256_hex
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import fsync_folder
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import layout
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.lock import STAGING_PREFIX


def blobs_of(store, entry):
    """The digests ENTRY (of index.json, or a manifest list) reaches, itself included."""
    digest = entry.get("digest")
    if not isinstance(digest, str) or not is_sha256_hex(digest.partition("sha256:")[2]):
        return {digest} if isinstance(digest, str) else set()  # not a sha256 blob: not this store's to collect
    used = {digest}
    # Whatever its mediaType says, an index entry points at a manifest or an
    # image index: read it, so that no layer of an image is taken for garbage.
    try:
        document = json_text.loads(layout.read_store_file(blob_path(store, digest), "manifest blob",
                                                          layout.SMALL_BLOB_MAX_BYTES))
    except (OSError, IOError) as exc:
        if exc.errno == errno.ENOENT:
            return used  # already gone: the image is broken, nothing to follow
        raise BundleError("the store %s: blob %s cannot be read: %s" % (store, digest, os_reason(exc)))
    except ValueError as exc:
        raise BundleError("the store %s: manifest %s is not valid JSON (%s); no blob was removed" % (store, digest, exc))
    if not isinstance(document, dict):
        raise BundleError("the store %s: manifest %s is not a JSON object; no blob was removed" % (store, digest))
    for child in document.get("manifests") or []:
        if isinstance(child, dict):
            used |= blobs_of(store, child)
    for part in [document.get("config")] + list(document.get("layers") or []):
        if isinstance(part, dict) and isinstance(part.get("digest"), str):
            used.add(part["digest"])
    return used


def used_blobs(store, entries):
    """{digest: set of names} of every blob the ENTRIES of index.json (an iterable, read once) reach.

    A manifest many names share is read once: linear in the names.
    """
    names_of = {}  # entry digest -> names
    for entry in entries:
        names = names_of.setdefault(entry["digest"], set())
        name = (entry.get("annotations") or {}).get(layout.REF_NAME)
        if name:
            names.add(name)
    used = {}
    for digest, names in names_of.items():
        for blob in blobs_of(store, {"digest": digest}):
            used.setdefault(blob, set()).update(names)
    return used


def stored_blobs(store):
    """{digest: size} of every sha256 blob file in STORE. A folder that cannot be listed is an error: a blob
    left out here would be one never collected, or (for staging) one taken from a running load."""
    folder = os.path.join(store, "blobs", "sha256")
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise BundleError("the store %s: its folder %s cannot be listed: %s" % (store, folder, exc.strerror or exc))
    blobs = {}
    for name in names:
        if not is_sha256_hex(name):
            continue
        path = os.path.join(folder, name)
        try:
            blobs["sha256:" + name] = os.lstat(path).st_size
        except FileNotFoundError:
            continue  # removed meanwhile
        except OSError as exc:
            raise BundleError("the store %s: blob %s cannot be checked: %s" % (store, path, exc.strerror or exc))
    return blobs


def unused_blobs(store, entry_digests, keep=()):
    """{digest: size} of the blobs that no index.json entry whose digest is one of ENTRY_DIGESTS reaches (each
    manifest read once), except those in KEEP."""
    used = set()
    for digest in entry_digests:
        used |= blobs_of(store, {"digest": digest})
    return dict((d, size) for d, size in stored_blobs(store).items() if d not in used and d not in keep)


def staging_folders(store):
    """[(path, running)] of the staging folders of loads in STORE; RUNNING when its load holds its lock."""
    try:
        entries = sorted(os.listdir(store))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise BundleError("the store folder %s cannot be listed: %s" % (store, exc.strerror or exc))
    folders = []
    for entry in entries:
        if not entry.startswith(STAGING_PREFIX):
            continue
        path = os.path.join(store, entry)
        try:
            is_folder = stat.S_ISDIR(os.lstat(path).st_mode)  # a link is refused by the gate, never followed
        except FileNotFoundError:
            continue
        except OSError:
            folders.append((path, True))  # cannot tell: counts as a running load's
            continue
        if is_folder:
            folders.append((path, _locked(path)))
    return folders


def loads_running(store):
    """Whether a load of STORE is running now (call it under the store lock)."""
    return any(running for unused_path, running in staging_folders(store))


def check_removable(store, blobs):
    """Refuse, before anything changes, when a blob of BLOBS cannot simply be deleted: it is no regular file
    (a folder, a link), or blobs/sha256 cannot be written by this user."""
    folder = os.path.join(store, "blobs", "sha256")
    for digest in sorted(blobs):
        path = blob_path(store, digest)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise BundleError("the store %s: blob %s cannot be checked: %s; nothing was changed"
                              % (store, path, exc.strerror or exc))
        if not stat.S_ISREG(st.st_mode):
            raise BundleError("the store %s: blob %s is not a regular file (a folder or a link); nothing was"
                              " changed: remove it by hand" % (store, path))
    if blobs and not os.access(folder, os.W_OK):
        raise BundleError("the store %s: its folder %s %s, so no blob could be removed; nothing was changed"
                          % (store, folder, _why_unwritable(folder)))


def _why_unwritable(folder):
    try:
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        return "is on a read-only file system (%s)" % os.strerror(errno.EROFS)
    return "cannot be written by this user (uid %d: %s)" % (os.geteuid(), os.strerror(errno.EACCES))


def remove_blobs(store, blobs):
    """Delete the blob files BLOBS ({digest: size}); return the bytes freed."""
    freed = 0
    for digest, size in sorted(blobs.items()):
        try:
            os.unlink(blob_path(store, digest))
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise BundleError("the store %s: blob %s cannot be removed: %s (the names are gone from index.json;"
                                  " a prune removes the blobs left)" % (store, digest, os_reason(exc)))
            continue
        freed += size
    if blobs:
        try:
            fsync_folder(os.path.join(store, "blobs", "sha256"))
        except OSError as exc:
            raise BundleError("the store %s: blobs were removed, but flushing %s to disk failed: %s"
                              % (store, os.path.join(store, "blobs", "sha256"), exc.strerror or exc))
    return freed


def remove_abandoned_staging(store, dry_run=False):
    """Remove the staging folders no running load holds; return [(path, bytes)]."""
    removed = []
    for path, running in staging_folders(store):
        if running:
            continue
        size = folder_size(path)
        if not dry_run:
            try:
                shutil.rmtree(path)
            except OSError as exc:
                raise BundleError("the store %s: the abandoned staging folder %s cannot be removed: %s"
                                  % (store, path, exc.strerror or exc))
        removed.append((path, size))
    return removed


def remove_stray_files(store, prefix, dry_run=False):
    """Remove the files of STORE named PREFIX* (temporary files of killed writers; call under the lock); [(path, bytes)]."""
    removed = []
    try:
        entries = sorted(os.listdir(store))
        for entry in entries:
            path = os.path.join(store, entry)
            if entry.startswith(prefix) and os.path.isfile(path) and not os.path.islink(path):
                size = os.lstat(path).st_size
                if not dry_run:
                    os.unlink(path)
                removed.append((path, size))
    except OSError as exc:
        raise BundleError("the store %s: a temporary file %s* cannot be removed: %s"
                          % (store, os.path.join(store, prefix), exc.strerror or exc))
    return removed


def folder_size(path):
    total = 0
    for folder, unused_dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def _locked(path):
    """Whether a process holds the flock of the folder PATH (a gone folder is not locked).

    When that cannot be told (the folder cannot be opened or locked), it counts as held: a running load's
    blobs and staging are never taken for garbage on a guess."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True  # EWOULDBLOCK: its load runs
    finally:
        os.close(fd)
    return False
