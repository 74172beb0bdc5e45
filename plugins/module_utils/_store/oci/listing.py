# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every name of an OCI store with its image id, read without a lock.

Used to show a store before and after a change (diff mode) and to plan a
prune. The id comes from the entry's record when a load wrote one, else from
its manifest; an entry whose manifest cannot be read shows the manifest
digest instead, so that it still appears.
"""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._digest import blob_path
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import index_file, layout, records


def named_entries(entries):
    """Yield (position, name, entry) of every one of ENTRIES (of index.json) that has a name."""
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        name = (entry.get("annotations") or {}).get(layout.REF_NAME)
        if isinstance(name, str) and name:
            yield position, name, entry


def names_and_ids(store):
    """{name: image id} of every name in STORE; {} for a store that does not exist.

    index.json is read entry by entry; an id many names share is held once, and a manifest read once.
    """
    if not layout.store_exists(store):
        return {}
    store = layout.check_store(store)  # the gate, also for --diff's look before a remove or prune
    found, ids, of_manifest = {}, {}, {}
    with index_file.opened(store) as f:
        for unused_position, name, entry in named_entries(index_file.entries(f, index_file.index_path(store))):
            image = image_id(store, entry, of_manifest)
            found[name] = ids.setdefault(image, image)
    return found


def image_id(store, entry, of_manifest=None):
    """The image id of ENTRY; OF_MANIFEST, a dict, keeps the id read from each manifest: each is read once."""
    recorded = (entry.get("annotations") or {}).get(records.IMAGE_ID)
    if isinstance(recorded, str) and recorded:
        return recorded
    digest = entry.get("digest") or ""
    if of_manifest is not None and digest in of_manifest:
        return of_manifest[digest]
    try:
        manifest = layout.read_store_file(blob_path(store, digest), "manifest blob", layout.SMALL_BLOB_MAX_BYTES)
        found = json_text.loads(manifest)["config"]["digest"].split(":", 1)[1]
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, BundleError):
        found = digest
    if of_manifest is not None:
        of_manifest[digest] = found
    return found
