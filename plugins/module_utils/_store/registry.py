# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that knows which stores exist and how modules reach them.

A store offers these calls:
    lookup(name) -> {"id", "repo_tags", "layers", "size"} or None, reading no bundle
        (plus "app_sha256": the app tarball a load of this collection put there, when
        known: the OCI store's record, an engine's remembered load (engine/memory.py))
    load(...) -> {"changed", "image", "layers_written", "layers_reused", "bytes_written"},
        committing nothing unless every check passed:
        the OCI store: load(tarballs, name, layer_hints, verify), the layer hints the index gives
        an engine: load(tarballs, name, verify), taking every tarball whole (no hints)
        (tarballs: _bundle/index.py's Tarballs, which check themselves: no store imports _bundle)
    snapshot(names) -> {name: image id}: every name of the OCI store; an engine's NAMES
    remove(names, check_mode) -> {"changed", "removed", "absent", "blobs_removed", ...}
    prune(keep, repositories, verify, check_mode) -> {"changed", "removed", ...}
    engine: the engine.base.Engine, or None for the OCI store

'oci' is the embedded OCI layout folder; the others are container engines,
reached through their command line (see engine/base.py for what an engine
implements, engine/flow.py for its load). To add an engine, write its
subclass of engine.base.Engine in engine/ and name it in ENGINE_CLASSES.
"""

from __future__ import annotations

import collections
import functools

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import flow, lifecycle, memory
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.containerd import Containerd
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.docker import Docker
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.isula import Isula
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.podman import Podman
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import layout, listing, load, prune, remove

Store = collections.namedtuple("Store", "lookup load snapshot remove prune engine")

ENGINE_CLASSES = {"podman": Podman, "docker": Docker, "containerd": Containerd, "isula": Isula}
ENGINES = ("oci",) + tuple(ENGINE_CLASSES)
DEFAULT_OCI_STORE = "/var/lib/fleetimage/oci"


def store_argument_spec():
    """The argument spec of the options that choose a store, as every module takes them."""
    return dict(
        engine=dict(type="str", default="oci", choices=list(ENGINES)),
        store=dict(type="path", default=DEFAULT_OCI_STORE),
        executable=dict(type="str"),
        namespace=dict(type="str", default="default"),
        engine_state=dict(type="path", default=memory.DEFAULT_FOLDER),
    )


def engine(params):
    """The engine object PARAMS name (params['engine'] other than 'oci')."""
    return ENGINE_CLASSES[params["engine"]](params.get("executable"), params.get("namespace"))


def open_store(params, min_free_space=None, warn=None):
    """The store PARAMS name: params['engine'] and its location parameters, as the argument spec set them.

    'store' locates the oci store; 'executable' and 'namespace' (containerd)
    the engines, 'engine_state' the folder where the loads into engines are
    remembered (WARN(message) is told when it cannot be used). Engines find
    their daemon and storage through their own environment variables
    (DOCKER_HOST, CONTAINERD_ADDRESS, ...).
    MIN_FREE_SPACE: what a load into the oci store leaves free (a MinFreeSpace
    the load operation parsed; None: the default). Only the load writes layers.
    """
    if params["engine"] == "oci":
        path = params["store"]
        if not (path or "").strip():
            # An empty path must not quietly mean the default store, nor the current folder.
            raise BundleError("store must name the OCI layout folder, not be empty (the default is %s)"
                              % DEFAULT_OCI_STORE)
        return Store(lookup=functools.partial(layout.lookup, path),
                     load=functools.partial(load.load, path, min_free_space=min_free_space, force=bool(params.get("force"))),
                     snapshot=lambda names: listing.names_and_ids(path),
                     remove=functools.partial(remove.remove, path),
                     prune=functools.partial(prune.prune, path),
                     engine=None)
    chosen = engine(params)
    remembered = memory.Memory(params.get("engine_state") or memory.DEFAULT_FOLDER, warn)
    return Store(lookup=functools.partial(flow.lookup, chosen, remembered=remembered),
                 load=functools.partial(flow.load, chosen, remembered=remembered),
                 snapshot=functools.partial(_engine_snapshot, chosen),
                 remove=functools.partial(lifecycle.remove, chosen),
                 prune=functools.partial(lifecycle.prune, chosen),
                 engine=chosen)


def _engine_snapshot(chosen, names):
    """{name: image id} of the NAMES the engine CHOSEN holds."""
    snapshot = {}
    for name in names:
        found = flow.lookup(chosen, name)
        if found is not None:
            snapshot[name] = found["id"]
    return snapshot
