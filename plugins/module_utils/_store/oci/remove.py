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
shared by many names is read once. index.json is never held whole
(index_file.py): a first pass over it checks it and collects the names to
remove and the digests that stay; a second pass writes the new index.
"""

from __future__ import annotations

import os

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import fsync_folder
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import name_key, name_matcher
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import collect, index_file, layout
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.lock import store_lock


def remove(store, names, check_mode=False):
    """Remove NAMES (normalized) from STORE; return {changed, removed, absent, blobs_removed, bytes_freed, blobs_deferred}."""
    result = {"changed": False, "removed": [], "absent": list(names), "blobs_removed": 0, "bytes_freed": 0,
              "blobs_deferred": False}
    if not layout.store_exists(store):
        return result  # no store, no image: and nothing is created
    store = layout.check_store(store)
    path = index_file.index_path(store)
    if check_mode:
        with index_file.opened(store) as f:
            removed, kept_digests = split_entries(index_file.entries(f, path), names)
        unused = collect.unused_blobs(store, kept_digests) if removed else {}
        return _outcome(result, names, removed, unused, deferred=False)
    with store_lock(store):
        top = {}
        with index_file.opened(store) as f:
            removed, kept_digests = split_entries(index_file.entries(f, path, top), names)
            if not removed:
                return _outcome(result, names, removed, {}, deferred=False)
            garbage, deferred = plan_garbage(store, kept_digests)
            wanted = name_matcher(names)
            replace_index(store, top, (e for e in index_file.entries(f, path) if not _named(e, wanted)))
        return collect_garbage(store, garbage, deferred, _outcome(result, names, removed, {}, deferred=False))


def split_entries(entries, names):
    """([names removed], {digests of the entries kept}) of the index.json ENTRIES without those named one of NAMES."""
    wanted = name_matcher(names)
    kept, removed = set(), []
    for entry in entries:
        ref = _named(entry, wanted)
        if ref:
            removed.append(ref)
        else:
            kept.add(entry["digest"])
    return removed, kept


def _named(entry, wanted):
    """The name of the index.json ENTRY when WANTED (a name_matcher) takes it, else None."""
    ref = (entry.get("annotations") or {}).get(layout.REF_NAME)
    return ref if ref and wanted(ref) else None


def plan_garbage(store, entry_digests, keep=()):
    """({digest: size} of the blobs the index entries of ENTRY_DIGESTS leave unused (not those in KEEP), whether
    their removal waits for a running load). Every one is checked to be removable first; nothing is changed.
    Under the lock."""
    unused = collect.unused_blobs(store, entry_digests, keep)
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


def replace_index(store, top, entries):
    """Write the index of the members TOP and the ENTRIES (an iterable: index_file.write) as STORE's index.json
    in one rename, durably. Under the lock.

    The new index is written beside index.json first (an error while ENTRIES
    are read removes it); one left by a process killed meanwhile is removed by
    the next prune. A store this user cannot write (read-only, permissions) is
    a message, and index.json stays as it was.
    """
    try:
        layout.write_staged(store, index_file.index_path(store), lambda out: index_file.write(out, top, entries),
                            prefix=INDEX_TEMP_PREFIX)
    except OSError as exc:
        raise BundleError("cannot rewrite the store index %s: %s; the store is as it was"
                          % (os.path.join(store, "index.json"), exc.strerror or exc))
    try:
        fsync_folder(store)
    except OSError as exc:
        raise BundleError("the store index %s was replaced, but flushing its folder to disk failed: %s"
                          % (os.path.join(store, "index.json"), exc.strerror or exc))


def _outcome(result, names, removed, unused, deferred):
    result["removed"] = sorted(set(removed))
    gone = set(name_key(r) for r in removed)
    result["absent"] = [n for n in names if name_key(n) not in gone]
    result["changed"] = bool(removed) or bool(unused)
    result["blobs_removed"] = len(unused)
    result["bytes_freed"] = sum(unused.values())
    result["blobs_deferred"] = deferred
    return result
