# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remove names from an OCI store, and the blobs no remaining image uses.

Under the store lock: the names leave index.json in one atomic replace, then
the blobs nothing reaches any more (those of the removed images, and any
other garbage) are deleted, unless a load is running
(see collect.py: then they stay for the next prune, and the result says so).
A crash between the two steps leaves only unused blobs, which a prune
removes. Check mode reads the same things and changes nothing.
"""

from __future__ import annotations

import os

from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import fsync_folder
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import collect, layout
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.lock import store_lock


def remove(store, names, check_mode=False):
    """Remove NAMES (normalized) from STORE; return {changed, removed, absent, blobs_removed, bytes_freed, blobs_deferred}."""
    result = {"changed": False, "removed": [], "absent": list(names), "blobs_removed": 0, "bytes_freed": 0,
              "blobs_deferred": False}
    if not os.path.isdir(store):
        return result  # no store, no image: and nothing is created
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
        replace_index(store, index)
        return collect_garbage(store, index, _outcome(result, names, removed, {}, deferred=False))


def split_entries(index, names):
    """(entries kept, [names removed]) of INDEX without the entries named one of NAMES."""
    kept, removed = [], []
    for entry in index.get("manifests") or []:
        ref = (entry.get("annotations") or {}).get(layout.REF_NAME) if isinstance(entry, dict) else None
        if ref and any(layout._names_match(ref, name) for name in names):  # pylint: disable=protected-access
            removed.append(ref)
        else:
            kept.append(entry)
    return kept, removed


def collect_garbage(store, index, result, keep=()):
    """Delete the blobs INDEX no longer reaches (not those in KEEP), unless a load runs; fill RESULT in. Under the lock."""
    if collect.loads_running(store):
        unused = collect.unused_blobs(store, index, keep)
        result["blobs_deferred"] = bool(unused)
        return result
    unused = collect.unused_blobs(store, index, keep)
    result["bytes_freed"] += collect.remove_blobs(store, unused)
    result["blobs_removed"] += len(unused)
    result["changed"] = result["changed"] or bool(unused)
    return result


INDEX_TEMP_PREFIX = ".index-"


def replace_index(store, index):
    """Write INDEX as STORE's index.json in one rename, durably. Under the lock.

    The new index is written beside index.json first; one left by a process
    killed meanwhile is removed by the next prune.
    """
    fd, path = layout.staging_file(store, prefix=INDEX_TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(layout.canonical_json(index))
            out.flush()
            os.fsync(out.fileno())
        os.rename(path, os.path.join(store, "index.json"))
    except BaseException:
        if os.path.exists(path):
            os.unlink(path)
        raise
    fsync_folder(store)


def _outcome(result, names, removed, unused, deferred):
    result["removed"] = sorted(set(removed))
    result["absent"] = [n for n in names if not any(layout._names_match(r, n) for r in removed)]  # pylint: disable=protected-access
    result["changed"] = bool(removed) or bool(unused)
    result["blobs_removed"] = len(unused)
    result["bytes_freed"] = sum(unused.values())
    result["blobs_deferred"] = deferred
    return result
