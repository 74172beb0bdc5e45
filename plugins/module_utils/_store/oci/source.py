# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the images of an OCI image layout folder (this collection's store) for a save.

    STORE/index.json            one entry per name (annotation org.opencontainers.image.ref.name)
    STORE/blobs/sha256/<hex>    manifests, configs, and layers stored uncompressed

Only manifests and configs are read here (small); each layer is handed out as
a LayerSource that streams its blob when the bundle writer reaches it. A layer
stored compressed (another tool's store) cannot be saved without decompressing
it twice, and is refused with its media type named.
"""

from __future__ import annotations

import collections
import hashlib
import io
import os
import stat

from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.image_source import ImageSource, LayerSource, broken_candidate, candidate
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._digest import blob_path
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import index_file
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.layout import SMALL_BLOB_MAX_BYTES, check_store, read_store_file

REF_NAME = "org.opencontainers.image.ref.name"
UNCOMPRESSED_LAYERS = (
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar",
)


def read_oci_store(store):
    """Return the Candidate images of the OCI layout STORE, one per manifest, in index order."""
    store = check_store(store)  # the gate every module that opens the store passes
    names = collections.OrderedDict()  # manifest digest -> its ref names (as keys, in order: a set that keeps it)
    with index_file.opened(store) as f:
        if f is None:
            raise BundleError("OCI store %s has no index.json: no image was ever loaded into it" % store)
        for entry in index_file.entries(f, index_file.index_path(store)):  # read one at a time, each checked
            ref = (entry.get("annotations") or {}).get(REF_NAME)
            refs = names.setdefault(entry["digest"], collections.OrderedDict())
            if ref:
                refs[ref] = None
    candidates = []
    for digest, ref_keys in names.items():
        refs = list(ref_keys)
        try:
            candidates.append(candidate(refs, _image(store, digest)))
        except BundleError as exc:
            candidates.append(broken_candidate(refs, "image %s in the OCI store %s cannot be saved: %s"
                                               % (", ".join(refs) or digest, store, exc)))
    return candidates


def _image(store, manifest_digest):
    manifest = _json_blob(store, manifest_digest, "manifest")
    try:
        config_digest = manifest["config"]["digest"]
        layers = manifest["layers"]
    except (KeyError, TypeError):
        raise BundleError("manifest %s is not an image manifest" % manifest_digest)
    if not isinstance(layers, list):
        raise BundleError("manifest %s lists no layers" % manifest_digest)
    config = _blob_bytes(store, config_digest, "config")
    sources = []
    for layer in layers:
        media_type = layer.get("mediaType") if isinstance(layer, dict) else None
        if media_type not in UNCOMPRESSED_LAYERS:
            raise BundleError("layer %s has media type %s: only uncompressed layers (%s) can be saved"
                              % (layer.get("digest") if isinstance(layer, dict) else layer, media_type,
                                 ", ".join(UNCOMPRESSED_LAYERS)))
        path = blob_path(store, layer.get("digest"), "a layer of an image in the store %s" % store)
        try:
            st = os.lstat(path)
        except OSError as exc:
            raise BundleError("layer blob %s cannot be read: %s" % (path, os_reason(exc)))
        if not stat.S_ISREG(st.st_mode):
            raise BundleError("layer blob %s is not a regular file (a link or a folder in the store)" % path)
        size = st.st_size
        sources.append(LayerSource(size, _opener(path)))
    return ImageSource(None, config, sources)


def _json_blob(store, digest, what):
    try:
        return json_text.loads(_blob_bytes(store, digest, what).decode("utf-8"))
    except ValueError as exc:
        raise BundleError("%s blob %s is not valid JSON: %s" % (what, digest, exc))


def _blob_bytes(store, digest, what):
    """The bytes of a small blob, checked against its digest."""
    path = blob_path(store, digest, "the %s of an image in the store %s" % (what, store))
    try:
        data = _read_limited(path)
    except (OSError, IOError) as exc:
        raise BundleError("%s blob %s cannot be read: %s" % (what, path, os_reason(exc)))
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise BundleError("%s blob %s does not match its digest" % (what, path))
    return data


def _read_limited(path):
    return read_store_file(path, "blob", SMALL_BLOB_MAX_BYTES)


def _opener(path):
    return lambda: io.open(path, "rb", buffering=1024 * 1024)
