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
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import layout, records


def named_entries(index):
    """[(position, name, entry)] of every index.json entry that has a name."""
    named = []
    for position, entry in enumerate(index.get("manifests") or []):
        if not isinstance(entry, dict):
            continue
        name = (entry.get("annotations") or {}).get(layout.REF_NAME)
        if isinstance(name, str) and name:
            named.append((position, name, entry))
    return named


def names_and_ids(store):
    """{name: image id} of every name in STORE; {} for a store that does not exist."""
    if not layout.store_exists(store):
        return {}
    store = layout.check_store(store)  # the gate, also for --diff's look before a remove or prune
    index = layout.read_index(store)
    return dict((name, image_id(store, entry)) for unused_position, name, entry in named_entries(index))


def image_id(store, entry):
    recorded = (entry.get("annotations") or {}).get(records.IMAGE_ID)
    if isinstance(recorded, str) and recorded:
        return recorded
    digest = entry.get("digest") or ""
    try:
        manifest = layout.read_store_file(blob_path(store, digest), "manifest blob", layout.SMALL_BLOB_MAX_BYTES)
        return json_text.loads(manifest)["config"]["digest"].split(":", 1)[1]
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, BundleError):
        return digest
