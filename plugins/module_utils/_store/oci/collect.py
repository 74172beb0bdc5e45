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
import json
import os
import shutil

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
        with open(blob_path(store, digest), "rb") as f:
            document = json.loads(f.read().decode("utf-8"))
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


def used_blobs(store, index):
    """{digest: [names]} of every blob the entries of INDEX reach (unnamed entries count, named [])."""
    used = {}
    for entry in index.get("manifests") or []:
        if not isinstance(entry, dict):
            continue
        name = (entry.get("annotations") or {}).get(layout.REF_NAME)
        for digest in blobs_of(store, entry):
            names = used.setdefault(digest, [])
            if name and name not in names:
                names.append(name)
    return used


def stored_blobs(store):
    """{digest: size} of every sha256 blob file in STORE."""
    folder = os.path.join(store, "blobs", "sha256")
    try:
        names = os.listdir(folder)
    except OSError:
        return {}
    blobs = {}
    for name in names:
        if not is_sha256_hex(name):
            continue
        try:
            blobs["sha256:" + name] = os.lstat(os.path.join(folder, name)).st_size
        except OSError:
            continue
    return blobs


def unused_blobs(store, index, keep=()):
    """{digest: size} of the blobs no entry of INDEX reaches, except those in KEEP."""
    used = used_blobs(store, index)
    return dict((d, size) for d, size in stored_blobs(store).items() if d not in used and d not in keep)


def staging_folders(store):
    """[(path, running)] of the staging folders of loads in STORE; RUNNING when its load holds its lock."""
    try:
        entries = sorted(os.listdir(store))
    except OSError:
        return []
    folders = []
    for entry in entries:
        if entry.startswith(STAGING_PREFIX):
            path = os.path.join(store, entry)
            folders.append((path, _locked(path)))
    return folders


def loads_running(store):
    """Whether a load of STORE is running now (call it under the store lock)."""
    return any(running for unused_path, running in staging_folders(store))


def remove_blobs(store, blobs):
    """Delete the blob files BLOBS ({digest: size}); return the bytes freed."""
    freed = 0
    for digest, size in sorted(blobs.items()):
        try:
            os.unlink(blob_path(store, digest))
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise BundleError("the store %s: blob %s cannot be removed: %s" % (store, digest, os_reason(exc)))
            continue
        freed += size
    if blobs:
        fsync_folder(os.path.join(store, "blobs", "sha256"))
    return freed


def remove_abandoned_staging(store, dry_run=False):
    """Remove the staging folders no running load holds; return [(path, bytes)]."""
    removed = []
    for path, running in staging_folders(store):
        if running:
            continue
        size = folder_size(path)
        if not dry_run:
            shutil.rmtree(path, ignore_errors=True)
        removed.append((path, size))
    return removed


def remove_stray_files(store, prefix, dry_run=False):
    """Remove the files of STORE named PREFIX* (temporary files of killed writers; call under the lock); [(path, bytes)]."""
    removed = []
    for entry in sorted(os.listdir(store)):
        path = os.path.join(store, entry)
        if entry.startswith(prefix) and os.path.isfile(path):
            size = os.lstat(path).st_size
            if not dry_run:
                os.unlink(path)
            removed.append((path, size))
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
    """Whether a process holds the flock of the folder PATH (a gone folder is not locked)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)
    return False
