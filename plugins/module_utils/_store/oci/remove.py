# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remove names from an OCI store, and the blobs no remaining image uses.

The store passes the gate of every module first (layout.check_store: who may
write it, no symbolic link in it). Then, under the store lock, everything is
checked before anything changes: the names to remove, the blobs that would
be left unused (each a regular file of blobs/sha256, in a folder this user
can write). Only then do the names leave index.json, in one atomic replace,
and the blobs nothing reaches any more are deleted -- unless a load is
running (see collect.py: then they stay for the next prune, and the result
says so). A crash between the two steps leaves only unused blobs, which a
prune removes. Check mode reads the same things and changes nothing.

Linear in the names of the store: the names to remove are keys of a set
(_reference.name_key), each index entry is looked at once, and a manifest
shared by many names is read once.
"""

from __future__ import annotations

import os

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import fsync_folder
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import name_key, name_matcher
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import collect, layout
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.lock import store_lock


def remove(store, names, check_mode=False):
    """Remove NAMES (normalized) from STORE; return {changed, removed, absent, blobs_removed, bytes_freed, blobs_deferred}."""
    result = {"changed": False, "removed": [], "absent": list(names), "blobs_removed": 0, "bytes_freed": 0,
              "blobs_deferred": False}
    if not layout.store_exists(store):
        return result  # no store, no image: and nothing is created
    store = layout.check_store(store)
    if check_mode:
        index = layout.read_index(store)
        kept, removed = split_entries(index, names)
        index["manifests"] = kept
        unused = collect.unused_blobs(store, index) if removed else {}
        return _outcome(result, names, removed, unused, deferred=False)
    with store_lock(store):
        index = layout.read_index(store)
        kept, removed = split_entries(index, names)
        if not removed:
            return _outcome(result, names, removed, {}, deferred=False)
        index["manifests"] = kept
        garbage, deferred = plan_garbage(store, index)
        replace_index(store, index)
        return collect_garbage(store, garbage, deferred, _outcome(result, names, removed, {}, deferred=False))


def split_entries(index, names):
    """(entries kept, [names removed]) of INDEX without the entries named one of NAMES."""
    wanted = name_matcher(names)
    kept, removed = [], []
    for entry in index.get("manifests") or []:
        ref = (entry.get("annotations") or {}).get(layout.REF_NAME) if isinstance(entry, dict) else None
        if ref and wanted(ref):
            removed.append(ref)
        else:
            kept.append(entry)
    return kept, removed


def plan_garbage(store, index, keep=()):
    """({digest: size} of the blobs INDEX leaves unused (not those in KEEP), whether their removal waits for a
    running load). Every one is checked to be removable first; nothing is changed. Under the lock."""
    unused = collect.unused_blobs(store, index, keep)
    if unused and collect.loads_running(store):
        return unused, True
    collect.check_removable(store, unused)
    return unused, False


def collect_garbage(store, garbage, deferred, result):
    """Delete the blobs GARBAGE (from plan_garbage) unless DEFERRED; fill RESULT in. Under the lock."""
    if deferred:
        result["blobs_deferred"] = bool(garbage)
        return result
    result["bytes_freed"] += collect.remove_blobs(store, garbage)
    result["blobs_removed"] += len(garbage)
    result["changed"] = result["changed"] or bool(garbage)
    return result


INDEX_TEMP_PREFIX = ".index-"


def replace_index(store, index):
    """Write INDEX as STORE's index.json in one rename, durably. Under the lock.

    The new index is written beside index.json first; one left by a process
    killed meanwhile is removed by the next prune. A store this user cannot
    write (read-only, permissions) is a message, and index.json stays as it was.
    """
    path = None
    try:
        fd, path = layout.staging_file(store, prefix=INDEX_TEMP_PREFIX)
        with os.fdopen(fd, "wb") as out:
            out.write(layout.canonical_json(index))
            out.flush()
            os.fsync(out.fileno())
        os.rename(path, os.path.join(store, "index.json"))
        path = None
    except OSError as exc:
        raise BundleError("cannot rewrite the store index %s: %s; the store is as it was"
                          % (os.path.join(store, "index.json"), exc.strerror or exc))
    finally:
        if path is not None:
            _unlink_quietly(path)
    try:
        fsync_folder(store)
    except OSError as exc:
        raise BundleError("the store index %s was replaced, but flushing its folder to disk failed: %s"
                          % (os.path.join(store, "index.json"), exc.strerror or exc))


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _outcome(result, names, removed, unused, deferred):
    result["removed"] = sorted(set(removed))
    gone = set(name_key(r) for r in removed)
    result["absent"] = [n for n in names if name_key(n) not in gone]
    result["changed"] = bool(removed) or bool(unused)
    result["blobs_removed"] = len(unused)
    result["bytes_freed"] = sum(unused.values())
    result["blobs_deferred"] = deferred
    return result
