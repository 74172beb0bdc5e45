# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""index.json of the OCI store, read and written one entry at a time.

A store of 100,000 names has an index.json of some 52 MiB; read whole, as a
dict, it took about 250 MiB. Here no module holds it whole: the file is
opened once (opened), its entries are read one at a time, each checked to be
an OCI descriptor (entries; _io/json_stream.py bounds every entry and the
text at hand), and a new index is written as a stream of entries (write),
byte for byte what canonical_json would give for the whole index.

A module that changes the index reads it twice through the one open file:
a first pass checks everything and decides (which names go, whether
anything changes), a second pass writes the new index to a staging file,
renamed over index.json only once it is complete. A bad index is refused in
the first pass, so nothing is written; the second pass checks again.

Bounds: index.json may be up to INDEX_MAX_BYTES (96 MiB: about 185,000
names at some 540 bytes each). Reading it takes the same memory at any size;
the bound is where what the modules return per name (--diff, a save's names,
repo_tags) still keeps each under 100 MiB. One entry, and the members other than "manifests" together, may
be up to ENTRY_MAX_CHARS (1 MiB; an entry this collection writes is some 540
bytes).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os

from ansible_collections.fleetimage.separated.plugins.module_utils._digest import checked_digest, is_digest
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_stream
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import open_regular_file

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
INDEX_MAX_BYTES = 96 * 1024 * 1024
ENTRY_MAX_CHARS = json_stream.ITEM_MAX_CHARS
NOT_AN_INDEX = "store index %s is not an OCI image index (schemaVersion 2, a manifests list)"


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))  # what json.dumps makes of these arguments
_BATCH_ENTRIES = 1000  # encoded at once: one call per entry would take most of a rewrite's time


def canonical_json(value):
    """Compact JSON with sorted keys: equal documents give equal digests."""
    return _CANONICAL.encode(value).encode("utf-8")


def index_path(store):
    return os.path.join(store, "index.json")


@contextlib.contextmanager
def opened(store):
    """STORE's index.json open for reading, or None when the store has none yet. A link, a FIFO or a file
    larger than INDEX_MAX_BYTES in its place is refused unread."""
    path = index_path(store)
    try:
        f = open_regular_file(path, "store index", follow_links=False)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise BundleError("store index %s cannot be read: %s" % (path, os_reason(exc)))
        f = None
    if f is None:
        yield None
        return
    with f:
        size = os.fstat(f.fileno()).st_size
        if size > INDEX_MAX_BYTES:
            raise BundleError("store index %s is %d bytes, more than the %d allowed" % (path, size, INDEX_MAX_BYTES))
        yield f


def entries(f, path, top=None):
    """Yield, one at a time, the entries of the open index.json F (read from its start; None: no index yet),
    each checked to be an OCI descriptor. TOP, a dict, receives the index's other members (and "manifests"
    as an empty list), as write takes them.

    Anything wrong with the file is a BundleError naming PATH, raised at the latest before the generator
    ends: a caller that acts only after it ran to its end never acts on a bad index.
    """
    if top is None:
        top = {}
    if f is None:
        top.update(schemaVersion=2, manifests=[])
        return
    try:
        f.seek(0)
        position = 0
        for entry in json_stream.array_items(f, "manifests", top, ENTRY_MAX_CHARS, max_bytes=INDEX_MAX_BYTES):
            check_entry(entry, position, path)
            yield entry
            position += 1
    except json_stream.NotAnObject:
        raise BundleError(NOT_AN_INDEX % path)
    except json_stream.Refused as exc:
        raise BundleError("store index %s is refused: %s" % (path, exc))
    except OSError as exc:
        raise BundleError("store index %s cannot be read: %s" % (path, os_reason(exc)))
    except ValueError as exc:
        raise BundleError("store index %s is not valid JSON: %s" % (path, exc))
    if top.get("schemaVersion") != 2 or not isinstance(top.get("manifests"), list) \
            or top.get("mediaType", MEDIA_INDEX) != MEDIA_INDEX:
        raise BundleError(NOT_AN_INDEX % path)


def check_entry(entry, position, path):
    """Refuse entry POSITION of the store index PATH unless it is an OCI descriptor (its digest would name a
    file); quick for the many that are."""
    if isinstance(entry, dict):
        digest, size, annotations = entry.get("digest"), entry.get("size"), entry.get("annotations", {})
        if is_digest(digest) and isinstance(entry.get("mediaType"), str) and isinstance(size, int) \
                and not isinstance(size, bool) and size >= 0 and isinstance(annotations, dict) \
                and set(map(type, annotations.values())) <= {str}:
            return
    where = "entry %d of the store index %s" % (position, path)
    if not isinstance(entry, dict):
        raise BundleError("%s is not a JSON object but %s" % (where, type(entry).__name__))
    checked_digest(entry.get("digest"), where)
    if not isinstance(entry.get("mediaType"), str):
        raise BundleError("%s has no mediaType string" % where)
    if not isinstance(entry.get("size"), int) or isinstance(entry.get("size"), bool) or entry["size"] < 0:
        raise BundleError("%s has no size (a non-negative integer)" % where)
    raise BundleError("%s has annotations that are not an object of strings" % where)


def write(out, top, index_entries):
    """Write to the binary file OUT the index of the members TOP (those entries gave) and the entries
    INDEX_ENTRIES (an iterable, consumed once): the bytes canonical_json(dict(TOP, manifests=list(...)))
    gives, "manifests" at its sorted place among the other keys, with no list of the entries made."""
    out.write(b"{")
    for number, key in enumerate(sorted(set(top) | {"manifests"})):
        out.write(b"," if number else b"")
        out.write(canonical_json(key) + b":")
        if key != "manifests":
            out.write(canonical_json(top[key]))
            continue
        out.write(b"[")
        batch, separator = [], b""
        for entry in index_entries:
            batch.append(entry)
            if len(batch) == _BATCH_ENTRIES:
                out.write(separator + canonical_json(batch)[1:-1])  # a list's items, as in the list
                batch, separator = [], b","
        if batch:
            out.write(separator + canonical_json(batch)[1:-1])
        out.write(b"]")
    out.write(b"}")
