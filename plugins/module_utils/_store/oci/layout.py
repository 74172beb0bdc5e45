# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The embedded default store: an OCI image layout folder, as files.

    STORE/oci-layout
    STORE/index.json                 one entry per image name
    STORE/blobs/sha256/<hex>         layers (uncompressed tar), configs, manifests
    STORE/.fleetimage-staging-*/     one per load in progress, locked by it

This file knows the layout: where a blob lives, how index.json is updated by
a load, what the store holds under a name. index_file.py reads and writes
index.json one entry at a time: no module holds it whole. A load writes through
destination.py (staged blobs, one commit); lock.py serialises commits.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile

from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import fsync_folder, open_regular_file
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import docker_reference, name_matcher, same_image
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import index_file, records
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.index_file import canonical_json
from ansible_collections.fleetimage.separated.plugins.module_utils._digest import blob_path, checked_digest
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.shape import check_store_shape
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.trust import FILE_MODE, FOLDER_MODE, check_store_trusted

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"


def lookup(store, name):
    """Return what STORE holds under NAME, or None; reads no bundle.

    The image counts as present only when its manifest, config and every layer
    blob are in the store. A store that is no OCI layout, or that another
    user could write, is refused (see shape.py, trust.py). index.json is read
    entry by entry (index_file.py): once to find NAME, and when it is there
    once more for the other names of its image.
    """
    store = check_store(store)
    wanted = name_matcher([name])
    path = index_file.index_path(store)
    found = None
    with index_file.opened(store) as f:
        for entry in index_file.entries(f, path):  # read to its end: a bad index is refused, also after NAME
            if found is None and wanted(_ref_name(entry)):
                found = entry
        if found is None:
            return None
        names = sorted(_ref_name(e) for e in index_file.entries(f, path)
                       if e["digest"] == found["digest"] and _ref_name(e))
    return _describe(store, found, names)


def _ref_name(entry):
    """The name of an index entry (checked to be a descriptor: its annotations are strings), or ''."""
    return (entry.get("annotations") or {}).get(REF_NAME) or ""


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


def _describe(store, entry, repo_tags):
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
    return {
        "id": config_digest.split(":", 1)[1],
        "app_sha256": records.recorded_app_sha256(entry),
        "repo_tags": repo_tags,
        "layers": list(config.get("rootfs", {}).get("diff_ids", [])),
        "size": manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"]),
    }


def update_index(store, staging_dir, manifest_digest, manifest_size, names, annotations=None):
    """Point every name at the manifest; replace index.json atomically. Return whether it changed.

    ANNOTATIONS (the load's record, see records.py) are added to each name's entry. index.json is read
    twice, entry by entry (index_file.py): to check it and decide whether anything changes, then to write
    the new index into STAGING_DIR, which is renamed over index.json. Called under the store lock.
    """
    path = index_file.index_path(store)
    top = {}
    with index_file.opened(store) as f:
        changed = f is None
        for old, new in _pointed(index_file.entries(f, path, top), manifest_digest, manifest_size, names, annotations):
            if old is not new and (old is None or new is None or canonical_json(old) != canonical_json(new)):
                changed = True
        if not changed:
            return False

        def write(out):
            pointed = _pointed(index_file.entries(f, path), manifest_digest, manifest_size, names, annotations)
            index_file.write(out, top, (new for unused_old, new in pointed if new is not None))

        write_staged(staging_dir, path, write)
    try:
        fsync_folder(store)
    except OSError as exc:
        raise BundleError("the store index %s was replaced, but flushing its folder to disk failed: %s"
                          % (path, os_reason(exc)))
    return True


def _pointed(entries, manifest_digest, manifest_size, names, annotations):
    """Yield (old entry, new entry) for each of ENTRIES with NAMES pointed at the manifest: the same object
    for an entry kept, None as the new for one dropped (a second entry of a name), None as the old for a
    name new to the store. A name keeps its place in the index (so a reload of the same image changes
    nothing); a name new to the store is appended."""
    placed = set()
    ours = name_matcher(names)
    for entry in entries:
        ref = _ref_name(entry)
        name = next((n for n in names if same_image(ref, n)), None) if ours(ref) else None
        if name is None:
            yield entry, entry
        elif name in placed:
            yield entry, None
        else:
            extra = annotations or {}
            if entry.get("digest") == manifest_digest:
                extra = records.carried_over(entry.get("annotations"), extra)
            placed.add(name)
            yield entry, _index_entry(name, manifest_digest, manifest_size, extra)
    for name in names:
        if name not in placed:
            yield None, _index_entry(name, manifest_digest, manifest_size, annotations)


def index_names(store, manifest_digest, names):
    """Whether STORE's index.json, as it is now, points every one of NAMES at MANIFEST_DIGEST."""
    pointed = set()
    try:
        with index_file.opened(store) as f:
            for entry in index_file.entries(f, index_file.index_path(store)):
                if entry["digest"] == manifest_digest:
                    ref = _ref_name(entry)
                    pointed.update(n for n in names if same_image(ref, n))
    except BundleError:
        return False
    return pointed == set(names)


def _index_entry(name, manifest_digest, manifest_size, annotations=None):
    names = {REF_NAME: name, CONTAINERD_NAME: docker_reference(name)}
    return {
        "mediaType": MEDIA_MANIFEST,
        "digest": manifest_digest,
        "size": manifest_size,
        "annotations": dict(annotations or {}, **names),
    }


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


def ensure_layout_file(store):
    """Write STORE/oci-layout unless it exists; return whether it was written."""
    path = os.path.join(store, "oci-layout")
    if os.path.exists(path):
        return False
    write_staged(store, path, lambda out: out.write(b'{"imageLayoutVersion":"1.0.0"}'), prefix=".oci-layout-")
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


def write_staged(folder, path, write, prefix="tmp"):
    """Make PATH hold what WRITE(binary file) writes, whole or not at all: written to a new file in FOLDER,
    flushed to disk, then renamed over PATH. On any failure the new file is removed and PATH is as it was."""
    fd, staged = staging_file(folder, prefix)
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.rename(staged, path)
    except BaseException:
        _unlink_quietly(staged)
        raise


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
