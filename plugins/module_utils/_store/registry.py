# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that knows which stores exist and how modules reach them.

A store offers two calls:
    lookup(name) -> {"id", "repo_tags", "layers", "size"} or None, reading no bundle
    load(tarballs, name, layer_hints, verify) -> {"changed", "image", "layers_written",
        "layers_reused", "bytes_written"}, committing nothing unless every check passed

'oci' is the embedded OCI layout folder; the others are container engines,
reached through their command line (see engine/flow.py). To add an engine,
write its class in engine/ (label, default_executable, reference, inspect,
load, tag; save_command if it can export) and name it in ENGINE_CLASSES.
"""

from __future__ import annotations

import collections
import functools

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._io.free_space import DEFAULT_MIN_FREE_SPACE
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import flow
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.containerd import Containerd
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.docker import Docker
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.isula import Isula
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.podman import Podman
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import layout, load

Store = collections.namedtuple("Store", "lookup load")

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
    )


def engine(params):
    """The engine object PARAMS name (params['engine'] other than 'oci')."""
    return ENGINE_CLASSES[params["engine"]](params.get("executable"), params.get("namespace"))


def open_store(params):
    """The store PARAMS name: params['engine'] and its location parameters, as the argument spec set them.

    'store' locates the oci store; 'executable' and 'namespace' (containerd)
    the engines. Engines find their daemon and storage through their own
    environment variables (DOCKER_HOST, CONTAINERD_ADDRESS, ...).
    """
    if params["engine"] == "oci":
        if not (params.get("store") or "").strip():
            # An empty path must not quietly mean the default store, nor the current folder.
            raise BundleError("store must name the OCI layout folder, not be empty (the default is %s)"
                              % DEFAULT_OCI_STORE)
        return Store(lookup=functools.partial(layout.lookup, params["store"]),
                     load=functools.partial(load.load, params["store"],
                                            min_free_space=DEFAULT_MIN_FREE_SPACE if params.get("min_free_space") is None
                                            else params["min_free_space"],
                                            force=bool(params.get("force"))))
    chosen = engine(params)
    return Store(lookup=functools.partial(flow.lookup, chosen), load=functools.partial(flow.load, chosen))
