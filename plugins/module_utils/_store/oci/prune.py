# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prune an OCI store: old images of each repository, garbage, and a check of every blob.

    keep N        per repository, the N names loaded most recently stay, the
                  others leave index.json (load time recorded at load, see
                  records.py; names without a record count as older than
                  any recorded one, in their index.json order)
    always        staging folders of loads that are no longer running, index
                  files a killed removal left half written, and blobs no
                  image uses (not while a load runs: collect.py)
    verify        every blob hashed again: one whose bytes do not match its
                  digest, or one an image needs that is missing, is reported
                  with the images that use it, and never deleted

The check runs before the lock is taken (blobs never change once published);
everything that changes the store happens under the store lock.
"""

from __future__ import annotations

import os

from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import open_regular_file
from ansible_collections.fleetimage.separated.plugins.module_utils._digest import blob_path
from ansible_collections.fleetimage.separated.plugins.module_utils._io.hashing import sha256_of_reader
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import repository_of
from ansible_collections.fleetimage.separated.plugins.module_utils._store.keep_newest import beyond_newest
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import collect, index_file, layout, records, remove
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.lock import store_lock
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason


def prune(store, keep=None, repositories=None, verify=False, check_mode=False):
    """Prune STORE; return what was (in check mode: would be) removed, and the damaged blobs."""
    result = {"changed": False, "removed": [], "blobs_removed": 0, "bytes_freed": 0, "staging_removed": [],
              "damaged": [], "blobs_deferred": False}
    if not layout.store_exists(store):
        return result
    store = layout.check_store(store)
    wanted = set(repository_of(r) for r in repositories or [])
    path = index_file.index_path(store)
    if verify:
        with index_file.opened(store) as f:
            result["damaged"] = damaged_blobs(store, index_file.entries(f, path))
    spared = set(d["digest"] for d in result["damaged"])
    if check_mode:
        with index_file.opened(store) as f:
            dropped, kept_digests = _plan_drop(index_file.entries(f, path), keep, wanted)
        result["removed"] = sorted(dropped.values())
        staging = collect.remove_abandoned_staging(store, dry_run=True)
        staging += collect.remove_stray_files(store, remove.INDEX_TEMP_PREFIX, dry_run=True)
        unused = collect.unused_blobs(store, kept_digests, spared)
        result.update(blobs_removed=len(unused), bytes_freed=sum(unused.values()) + sum(size for path, size in staging),
                      staging_removed=[path for path, size in staging])
        result["changed"] = bool(result["removed"] or unused or staging)
        return result
    with store_lock(store):
        top = {}
        with index_file.opened(store) as f:
            dropped, kept_digests = _plan_drop(index_file.entries(f, path, top), keep, wanted)
            result["removed"] = sorted(dropped.values())
            garbage, deferred = remove.plan_garbage(store, kept_digests, spared)  # everything checked before a change
            if dropped:
                remove.replace_index(store, top, (entry for position, entry in enumerate(index_file.entries(f, path))
                                                  if position not in dropped))
        staging = collect.remove_abandoned_staging(store)
        staging += collect.remove_stray_files(store, remove.INDEX_TEMP_PREFIX)
        result["staging_removed"] = [path for path, size in staging]
        result["bytes_freed"] = sum(size for path, size in staging)
        result["changed"] = bool(result["removed"] or staging)
        return remove.collect_garbage(store, garbage, deferred, result)


def _plan_drop(entries, keep, wanted):
    """({position: name} of the index.json ENTRIES beyond the KEEP most recent of each repository (in WANTED,
    or all), {digests of the entries that stay}), in one pass that keeps a small tuple per name considered."""
    tails = set(r.rsplit("/", 1)[-1] for r in wanted)
    entries_of = {}  # digest -> how many entries point at it
    named = []
    for position, entry in enumerate(entries):
        digest = entry["digest"]
        entries_of[digest] = entries_of.get(digest, 0) + 1
        name = (entry.get("annotations") or {}).get(layout.REF_NAME)
        if keep is not None and name and (not tails or _repository_tail(name) in tails):
            named.append((records.loaded_at(entry), position, name, digest))  # other tails: told apart unresolved
    old = beyond_newest(named, keep, wanted or None, name_of=lambda item: item[2], newest=lambda item: item[:2]) \
        if keep is not None else []
    dropped = {}
    for unused_time, position, name, digest in old:
        dropped[position] = name
        entries_of[digest] -= 1
    return dropped, set(digest for digest, count in entries_of.items() if count)


def _repository_tail(name):
    """The last component of NAME's repository (app of docker.io/team/app:1): equal for equal repositories."""
    return name.strip(" \t").rsplit("/", 1)[-1].split(":", 1)[0]


def damaged_blobs(store, entries):
    """[{digest, error, images}] of the blobs whose bytes do not match their digest, or that an image needs and
    lacks (ENTRIES: those of index.json, read once)."""
    used = collect.used_blobs(store, entries)
    stored = collect.stored_blobs(store)
    damaged = []
    for digest in sorted(stored):
        try:
            actual = _sha256_of(blob_path(store, digest))
        except BundleError as exc:  # a folder or a link in a blob's place
            damaged.append({"digest": digest, "error": str(exc), "images": sorted(used.get(digest, []))})
            continue
        if actual is not None and "sha256:" + actual != digest:
            damaged.append({"digest": digest, "error": "its sha256 is %s" % actual,
                            "images": sorted(used.get(digest, []))})
    for digest in sorted(set(used) - set(stored)):
        if digest.startswith("sha256:"):
            damaged.append({"digest": digest, "error": "missing", "images": sorted(used[digest])})
    return damaged


def _sha256_of(path):
    try:
        with open_regular_file(path, "blob", follow_links=False) as f:
            return sha256_of_reader(f)
    except FileNotFoundError:
        return None  # removed meanwhile by a concurrent remove: nothing to check
    except OSError as exc:
        raise BundleError("the store %s: blob %s cannot be read: %s" % (store_of(path), path, os_reason(exc)))


def store_of(blob):
    return os.path.dirname(os.path.dirname(os.path.dirname(blob)))
