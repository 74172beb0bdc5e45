# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The embedded default store: an OCI image layout folder, as files.

    STORE/oci-layout
    STORE/index.json                 one entry per image name
    STORE/blobs/sha256/<hex>         layers (uncompressed tar), configs, manifests
    STORE/.fleetimage-staging-*/     one per load in progress, locked by it

This file knows the layout: where a blob lives, how index.json is read and
replaced, what the store holds under a name. A load writes through
destination.py (staged blobs, one commit); lock.py serialises commits.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import tempfile

from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import fsync_folder, open_regular_file
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import docker_reference, name_matcher, same_image
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import records
from ansible_collections.fleetimage.separated.plugins.module_utils._digest import blob_path, checked_digest, is_digest
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.shape import check_store_shape
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.trust import FILE_MODE, FOLDER_MODE, check_store_trusted

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


def canonical_json(value):
    """Compact JSON with sorted keys: equal documents give equal digests."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def lookup(store, name):
    """Return what STORE holds under NAME, or None; reads no bundle.

    The image counts as present only when its manifest, config and every layer
    blob are in the store. A store that is no OCI layout, or that another
    user could write, is refused (see shape.py, trust.py).
    """
    store = check_store(store)
    index = read_index(store)
    wanted = name_matcher([name])
    for entry in index["manifests"]:
        ref = (entry.get("annotations") or {}).get(REF_NAME)
        if ref and wanted(ref):
            return _describe(store, index, entry)
    return None


def store_exists(store):
    """Whether the folder STORE exists (a file there is the gate's to refuse); any other error is a message."""
    try:
        os.stat(store)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise BundleError("cannot inspect the store %s: %s" % (store, exc.strerror or exc))
    return True


def check_store(store):
    """The gate of every module that opens the store: refuse STORE unless it is absent, empty or an OCI
    image layout that only this user or root can write, with no symbolic link in its tree (shape.py,
    trust.py). Returns the folder it checked (symbolic links above it resolved): work in that one."""
    check_store_shape(store)
    return check_store_trusted(store)


def _describe(store, index, entry):
    try:
        manifest = json_text.loads(_read_blob(store, entry["digest"], check=True))
        config_digest = manifest["config"]["digest"]
        layer_digests = [layer["digest"] for layer in manifest["layers"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    where = "manifest %s in the store %s" % (blob_path(store, entry["digest"]), store)
    for digest in [config_digest] + layer_digests:
        checked_digest(digest, where)
    try:
        config = json_text.loads(_read_blob(store, config_digest, check=True))
        for digest in layer_digests:
            if not stat.S_ISREG(os.lstat(blob_path(store, digest)).st_mode):
                return None  # a folder or a link in a blob's place: no layer the store can hand out
    except (OSError, ValueError, KeyError, TypeError):
        return None
    names = [
        (e.get("annotations") or {}).get(REF_NAME)
        for e in index["manifests"]
        if e.get("digest") == entry["digest"]
    ]
    return {
        "id": config_digest.split(":", 1)[1],
        "app_sha256": records.recorded_app_sha256(entry),
        "repo_tags": sorted(n for n in names if n),
        "layers": list(config.get("rootfs", {}).get("diff_ids", [])),
        "size": manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"]),
    }


def update_index(store, staging_dir, manifest_digest, manifest_size, names, annotations=None):
    """Point every name at the manifest; replace index.json atomically. Return whether it changed.

    ANNOTATIONS (the load's record, see records.py) are added to each name's entry.
    """
    index = read_index(store)
    old = canonical_json(index)
    # A name keeps its place in the index (so a reload of the same image
    # changes nothing); a name new to the store is appended.
    kept, placed = [], set()
    ours = name_matcher(names)
    for entry in index["manifests"]:
        ref = (entry.get("annotations") or {}).get(REF_NAME) or ""
        name = next((n for n in names if same_image(ref, n)), None) if ours(ref) else None
        if name is None:
            kept.append(entry)
        elif name not in placed:
            extra = annotations or {}
            if entry.get("digest") == manifest_digest:
                extra = records.carried_over(entry.get("annotations"), extra)
            kept.append(_index_entry(name, manifest_digest, manifest_size, extra))
            placed.add(name)
    kept.extend(_index_entry(n, manifest_digest, manifest_size, annotations) for n in names if n not in placed)
    index["manifests"] = kept
    if canonical_json(index) == old and os.path.exists(os.path.join(store, "index.json")):
        return False
    fd, path = staging_file(staging_dir)
    with os.fdopen(fd, "wb") as out:
        out.write(canonical_json(index))
        out.flush()
        os.fsync(out.fileno())
    os.rename(path, os.path.join(store, "index.json"))
    try:
        fsync_folder(store)
    except OSError as exc:
        raise BundleError("the store index %s was replaced, but flushing its folder to disk failed: %s"
                          % (os.path.join(store, "index.json"), os_reason(exc)))
    return True


def index_names(store, manifest_digest, names):
    """Whether STORE's index.json, as it is now, points every one of NAMES at MANIFEST_DIGEST."""
    try:
        index = read_index(store)
    except BundleError:
        return False
    pointed = set()
    for entry in index["manifests"]:
        ref = (entry.get("annotations") or {}).get(REF_NAME) or ""
        if entry.get("digest") == manifest_digest:
            pointed.update(n for n in names if same_image(ref, n))
    return pointed == set(names)


def _index_entry(name, manifest_digest, manifest_size, annotations=None):
    names = {REF_NAME: name, CONTAINERD_NAME: docker_reference(name)}
    return {
        "mediaType": MEDIA_MANIFEST,
        "digest": manifest_digest,
        "size": manifest_size,
        "annotations": dict(annotations or {}, **names),
    }


# index.json is read whole: about 540 bytes a name (52 MiB at 100,000 names), so some 120,000 names.
INDEX_MAX_BYTES = 64 * 1024 * 1024
# A manifest or a config of the store: what a load writes is far smaller (configs come from a
# bundle, where they are bounded at 2 MiB; see _archive/limits.py).
SMALL_BLOB_MAX_BYTES = 4 * 1024 * 1024


def read_store_file(path, what, max_bytes):
    """The bytes of the store's regular file PATH, at most MAX_BYTES: no symbolic link is followed, no FIFO
    waited on. An error of the open itself is raised as the OSError it is (ENOENT: not there)."""
    with open_regular_file(path, what, follow_links=False) as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise BundleError("%s %s is %d bytes, more than the %d allowed" % (what, path, size, max_bytes))
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise BundleError("%s %s is more than the %d bytes allowed" % (what, path, max_bytes))
    return data


def read_index(store):
    """The store's index.json as a dict; an empty index when the store has none yet."""
    path = os.path.join(store, "index.json")
    try:
        index = json_text.loads(read_store_file(path, "store index", INDEX_MAX_BYTES))
    except (OSError, IOError) as exc:
        if exc.errno == errno.ENOENT:
            return {"schemaVersion": 2, "manifests": []}
        raise BundleError("store index %s cannot be read: %s" % (path, os_reason(exc)))
    except ValueError as exc:
        raise BundleError("store index %s is not valid JSON: %s" % (path, exc))
    if not isinstance(index, dict) or index.get("schemaVersion") != 2 or not isinstance(index.get("manifests"), list) \
            or index.get("mediaType", MEDIA_INDEX) != MEDIA_INDEX:
        raise BundleError("store index %s is not an OCI image index (schemaVersion 2, a manifests list)" % path)
    _check_descriptors(index["manifests"], path)
    return index


def _check_descriptors(entries, path):
    """Refuse an entry of the store index PATH that is no OCI descriptor; quick for the many that are."""
    digests = set()
    for position, entry in enumerate(entries):
        if isinstance(entry, dict):
            digest, size, annotations = entry.get("digest"), entry.get("size"), entry.get("annotations", {})
            if isinstance(digest, str) and (digest in digests or is_digest(digest)) \
                    and isinstance(entry.get("mediaType"), str) and isinstance(size, int) \
                    and not isinstance(size, bool) and size >= 0 and isinstance(annotations, dict) \
                    and set(map(type, annotations.values())) <= {str}:
                digests.add(digest)
                continue
        _check_descriptor(entry, "entry %d of the store index %s" % (position, path))


def _check_descriptor(entry, where):
    """Refuse an index entry that is no OCI descriptor: its digest would name a file."""
    if not isinstance(entry, dict):
        raise BundleError("%s is not a JSON object but %s" % (where, type(entry).__name__))
    checked_digest(entry.get("digest"), where)
    if not isinstance(entry.get("mediaType"), str):
        raise BundleError("%s has no mediaType string" % where)
    if not isinstance(entry.get("size"), int) or isinstance(entry.get("size"), bool) or entry["size"] < 0:
        raise BundleError("%s has no size (a non-negative integer)" % where)
    annotations = entry.get("annotations", {})
    if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
        raise BundleError("%s has annotations that are not an object of strings" % where)


def ensure_layout_file(store):
    """Write STORE/oci-layout unless it exists; return whether it was written."""
    path = os.path.join(store, "oci-layout")
    if os.path.exists(path):
        return False
    fd, tmp = staging_file(store, prefix=".oci-layout-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(b'{"imageLayoutVersion":"1.0.0"}')
            out.flush()
            os.fsync(out.fileno())
        os.rename(tmp, path)
    except OSError:
        _unlink_quietly(tmp)
        raise
    try:
        fsync_folder(store)
    except OSError:
        _unlink_quietly(path)  # the caller has not seen it written: it may not stay
        raise
    return True


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def staging_file(folder, prefix="tmp"):
    """A new file in FOLDER, world-readable like every blob of the store."""
    fd, path = tempfile.mkstemp(dir=folder, prefix=prefix)
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        _unlink_quietly(path)
        raise
    return fd, path


def _read_blob(store, digest, check=False):
    """The bytes of a small blob; with CHECK, a blob that does not match its digest is a ValueError (not there)."""
    data = read_store_file(blob_path(store, digest), "blob", SMALL_BLOB_MAX_BYTES)
    if check and "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise ValueError("blob %s does not match its digest" % digest)
    return data


def make_dirs(path):
    """mkdir -p PATH; return the folders it created, outermost first."""
    missing = []
    path = os.path.abspath(path)
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    created = []
    for folder in reversed(missing):
        try:
            try:
                os.mkdir(folder, FOLDER_MODE)
            except FileExistsError:
                continue
            created.append(folder)
            os.chmod(folder, FOLDER_MODE)  # the umask must not decide who may write the store
            fsync_folder(os.path.dirname(folder))
        except OSError as exc:
            remove_empty(created)  # all or nothing: no half-made store is left behind
            raise BundleError("cannot create the store folder %s: %s" % (folder, os_reason(exc)))
    return created


def remove_empty(folders):
    """Remove FOLDERS (outermost first) this load created, as far as they are empty."""
    for path in reversed(folders):
        try:
            os.rmdir(path)
        except OSError:
            return
