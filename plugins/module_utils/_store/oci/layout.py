# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The embedded default store: an OCI image layout folder.

    STORE/oci-layout
    STORE/index.json                 one entry per image name
    STORE/blobs/sha256/<hex>         layers (uncompressed tar), configs, manifests
    STORE/.fleetimage-staging-*/     one per load in progress, locked by it

A load stages its blobs in a folder of its own and makes nothing visible until
commit(): staged blobs are fsynced and renamed into blobs/sha256, then
index.json is replaced in one rename. Commits and staging-folder housekeeping
hold an exclusive flock on the STORE folder itself, so concurrent loads both
succeed, and a folder left by a killed load (its lock gone with its process)
is removed by the next load.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import docker_reference, same_image_name
from ansible_collections.fleetimage.separated.plugins.module_utils._io.staging_writer import StagingWriter
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import records as _records

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
STAGING_PREFIX = ".fleetimage-staging-"
CHUNK = 1024 * 1024


def canonical_json(value):
    """Compact JSON with sorted keys: equal documents give equal digests."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode("utf-8")


def lookup(store, name):
    """Return what STORE holds under NAME, or None; reads no bundle.

    The image counts as present only when its manifest, config and every layer
    blob are in the store.
    """
    index = read_index(store)
    for entry in index["manifests"]:
        ref = (entry.get("annotations") or {}).get(REF_NAME)
        if ref and _names_match(ref, name):
            return _describe(store, index, entry)
    return None


def _describe(store, index, entry):
    try:
        manifest = json.loads(_read_blob(store, entry["digest"]))
        config_digest = manifest["config"]["digest"]
        config = json.loads(_read_blob(store, config_digest))
        for layer in manifest["layers"]:
            os.stat(_blob_path(store, layer["digest"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    names = [
        (e.get("annotations") or {}).get(REF_NAME)
        for e in index["manifests"]
        if e.get("digest") == entry["digest"]
    ]
    return {
        "id": config_digest.split(":", 1)[1],
        "app_sha256": _records.recorded_app_sha256(entry),
        "repo_tags": sorted(n for n in names if n),
        "layers": list(config.get("rootfs", {}).get("diff_ids", [])),
        "size": manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"]),
    }


def _names_match(ref, name):
    if ref == name:
        return True
    try:
        return same_image_name(ref, name)
    except BundleError:  # a ref another tool wrote that is no image name
        return False


@contextlib.contextmanager
def destination(store):
    """A staging area for one image; nothing is visible until its commit()."""
    created = _make_dirs(store)
    try:
        dest = _Destination(store)
    except BaseException:
        _remove_empty(created)
        raise
    try:
        yield dest
    finally:
        dest.close(remove_store_dirs=created if not dest.committed else [])


class _Destination(object):
    """Blobs put here are staged; commit() makes them and the names visible."""

    def __init__(self, store):
        self.store = store
        self.committed = False
        self._staged = {}  # digest -> staged file path
        self._writer = None  # the StagingWriter of the layers, once one is put
        with store_lock(store):
            _remove_abandoned_staging(store)
            self._dir = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=store)
            self._dir_fd = os.open(self._dir, os.O_RDONLY)
            fcntl.flock(self._dir_fd, fcntl.LOCK_EX)

    def has_blob(self, digest):
        return digest in self._staged or os.path.exists(_blob_path(self.store, digest))

    def put_layer(self, reader):
        """Stage the uncompressed layer READER; return (digest, size).

        The layer is hashed here as it is read; a thread of its own writes
        and fsyncs it meanwhile (see _staging_writer), so that the disk works
        while the next bytes are decompressed. commit() waits for it.
        """
        writer = self._layer_writer()
        fd, path = _staging_file(self._dir)
        writer.adopt(fd)
        sha256 = hashlib.sha256()
        size = 0
        # read1: the reader's chunks as they come, without filling (copying) a buffer.
        read = getattr(reader, "read1", reader.read)
        while True:
            chunk = read(CHUNK)
            if not chunk:
                break
            if not isinstance(chunk, bytes):
                chunk = bytes(chunk)  # written later: a buffer the reader reuses would change meanwhile
            sha256.update(chunk)
            size += len(chunk)
            self._writing(writer.write, fd, chunk)
        digest = "sha256:" + sha256.hexdigest()
        if self.has_blob(digest):
            self._writing(writer.discard, fd, path)
        else:
            self._writing(writer.finish, fd)
            self._staged[digest] = path
        return digest, size

    def _layer_writer(self):
        if self._writer is None:
            self._writer = StagingWriter()
        return self._writer

    def _writing(self, call, *args):
        """CALL the writer; its errors (of this write or of an earlier one) in the store's words."""
        try:
            call(*args)
        except OSError as exc:
            raise BundleError("writing a layer into the store %s failed: %s" % (self.store, exc))

    def commit(self, config_bytes, diff_ids, names, annotations=None):
        """Make the image visible under NAMES; return what changed.

        DIFF_IDS must each be staged or already in the store; ANNOTATIONS
        are added to each name's index entry (see records.py).
        """
        if self._writer is not None:
            self._writing(self._writer.wait)  # every layer written and synced
        config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        layers = [{"mediaType": MEDIA_LAYER, "digest": d, "size": self._blob_size(d)} for d in diff_ids]
        manifest = canonical_json({
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": len(config_bytes)},
            "layers": layers,
        })
        manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        self._stage_bytes(config_digest, config_bytes)
        self._stage_bytes(manifest_digest, manifest)
        wanted = [config_digest, manifest_digest] + list(diff_ids)
        try:
            with store_lock(self.store):
                written = self._publish_blobs(wanted)
                index_changed = _update_index(self.store, self._dir, manifest_digest, len(manifest), names, annotations)
        except OSError as exc:
            raise BundleError("committing the image into the store %s failed: %s" % (self.store, exc))
        self.committed = True
        layer_written = [d for d in diff_ids if d in written]
        return {
            "changed": bool(written) or index_changed,
            "layers_written": len(set(layer_written)),
            "layers_reused": len(set(diff_ids) - set(layer_written)),
            "bytes_written": sum(written.values()),
            "size": len(config_bytes) + sum(layer["size"] for layer in layers),
        }

    def close(self, remove_store_dirs):
        if self._writer is not None:
            self._writer.close()  # no write may land in the folder once it is removed
        shutil.rmtree(self._dir, ignore_errors=True)
        os.close(self._dir_fd)  # releases the staging lock
        if remove_store_dirs:
            with store_lock(self.store):
                _remove_empty(remove_store_dirs)

    def _blob_size(self, digest):
        return os.stat(self._staged.get(digest) or _blob_path(self.store, digest)).st_size

    def _stage_bytes(self, digest, data):
        if self.has_blob(digest):
            return
        fd, path = _staging_file(self._dir)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        self._staged[digest] = path

    def _publish_blobs(self, digests):
        """Rename the staged blobs among DIGESTS into place; return {digest: size} written."""
        blobs = os.path.join(self.store, "blobs", "sha256")
        _make_dirs(blobs)
        _ensure_layout_file(self.store)
        written = {}
        for digest in digests:
            staged = self._staged.get(digest)
            final = _blob_path(self.store, digest)
            if staged is None or digest in written:
                continue
            if os.path.exists(final):  # another load put it there meanwhile
                continue
            written[digest] = os.stat(staged).st_size
            os.rename(staged, final)
        _fsync_dir(blobs)
        return written


@contextlib.contextmanager
def store_lock(store):
    """Hold an exclusive flock on the STORE folder itself."""
    while True:
        _make_dirs(store)
        try:
            fd = os.open(store, os.O_RDONLY)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                continue
            raise BundleError("cannot open the store folder %s: %s" % (store, exc.strerror))
        fcntl.flock(fd, fcntl.LOCK_EX)
        # A load that failed on a new store may have removed the folder while
        # this one waited for the lock: then lock the folder that is there now.
        try:
            if os.stat(store).st_ino == os.fstat(fd).st_ino:
                break
        except OSError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)


def _remove_abandoned_staging(store):
    """Remove staging folders whose load is gone (their flock is free)."""
    for entry in os.listdir(store):
        if not entry.startswith(STAGING_PREFIX):
            continue
        path = os.path.join(store, entry)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
        else:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)


def _update_index(store, staging_dir, manifest_digest, manifest_size, names, annotations=None):
    """Point every name at the manifest; replace index.json atomically. Return whether it changed."""
    index = read_index(store)
    old = canonical_json(index)
    # A name keeps its place in the index (so a reload of the same image
    # changes nothing); a name new to the store is appended.
    kept, placed = [], set()
    for entry in index["manifests"]:
        ref = (entry.get("annotations") or {}).get(REF_NAME) or ""
        name = next((n for n in names if _names_match(ref, n)), None)
        if name is None:
            kept.append(entry)
        elif name not in placed:
            extra = annotations or {}
            if entry.get("digest") == manifest_digest:
                extra = _records.carried_over(entry.get("annotations"), extra)
            kept.append(_index_entry(name, manifest_digest, manifest_size, extra))
            placed.add(name)
    kept.extend(_index_entry(n, manifest_digest, manifest_size, annotations) for n in names if n not in placed)
    index["manifests"] = kept
    if canonical_json(index) == old and os.path.exists(os.path.join(store, "index.json")):
        return False
    fd, path = _staging_file(staging_dir)
    with os.fdopen(fd, "wb") as out:
        out.write(canonical_json(index))
        out.flush()
        os.fsync(out.fileno())
    os.rename(path, os.path.join(store, "index.json"))
    _fsync_dir(store)
    return True


def _index_entry(name, manifest_digest, manifest_size, annotations=None):
    names = {REF_NAME: name, CONTAINERD_NAME: docker_reference(name)}
    return {
        "mediaType": MEDIA_MANIFEST,
        "digest": manifest_digest,
        "size": manifest_size,
        "annotations": dict(annotations or {}, **names),
    }


def read_index(store):
    """The store's index.json as a dict; an empty index when the store has none yet."""
    path = os.path.join(store, "index.json")
    try:
        with open(path, "rb") as f:
            index = json.loads(f.read().decode("utf-8"))
    except (OSError, IOError) as exc:
        if exc.errno == errno.ENOENT:
            return {"schemaVersion": 2, "manifests": []}
        raise BundleError("store index %s cannot be read: %s" % (path, exc.strerror))
    except ValueError as exc:
        raise BundleError("store index %s is not valid JSON: %s" % (path, exc))
    if not isinstance(index, dict) or not isinstance(index.get("manifests", []), list):
        raise BundleError("store index %s is not an OCI image index" % path)
    index.setdefault("manifests", [])
    return index


def _ensure_layout_file(store):
    path = os.path.join(store, "oci-layout")
    if os.path.exists(path):
        return
    fd, tmp = _staging_file(store, prefix=".oci-layout-")
    with os.fdopen(fd, "wb") as out:
        out.write(b'{"imageLayoutVersion":"1.0.0"}')
        out.flush()
        os.fsync(out.fileno())
    os.rename(tmp, path)
    _fsync_dir(store)


def _staging_file(folder, prefix="tmp"):
    """A new file in FOLDER, world-readable like every blob of the store."""
    fd, path = tempfile.mkstemp(dir=folder, prefix=prefix)
    os.fchmod(fd, 0o644)
    return fd, path


def _blob_path(store, digest):
    algorithm, hexdigest = digest.partition(":")[::2]
    return os.path.join(store, "blobs", algorithm, hexdigest)


def _read_blob(store, digest):
    with open(_blob_path(store, digest), "rb") as f:
        return f.read()


def _make_dirs(path):
    """mkdir -p PATH; return the folders it created, outermost first."""
    missing = []
    path = os.path.abspath(path)
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    created = []
    for folder in reversed(missing):
        try:
            os.mkdir(folder)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise BundleError("cannot create the store folder %s: %s" % (folder, exc.strerror))
            continue
        created.append(folder)
        _fsync_dir(os.path.dirname(folder))
    return created


def _remove_empty(folders):
    """Remove FOLDERS (outermost first) this load created, as far as they are empty."""
    for path in reversed(folders):
        try:
            os.rmdir(path)
        except OSError:
            return


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
