# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that knows which stores exist and how modules reach them.

A store offers these calls:
    lookup(name) -> {"id", "repo_tags", "layers", "size"} or None, reading no bundle
        (the OCI store adds "app_sha256", what its load recorded, or None)
    load(tarballs, entry, name, verify) -> {"changed", "image", "layers_written",
        "layers_reused", "bytes_written"}, committing nothing unless every check passed
    snapshot(names) -> {name: image id}: the OCI store's every name, an engine's NAMES
    remove(names, check_mode) -> {"changed", "removed", "absent", ...}
    prune(keep, repositories, verify, check_mode) -> {"changed", "removed", ...}

'oci' is the embedded OCI layout folder; the others are container engines,
reached through their command line (see _engine_load).
"""

from __future__ import annotations

import collections
import functools

from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import containerd as _engine_containerd
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import docker as _engine_docker
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import isula as _engine_isula
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import flow as _engine_load
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import podman as _engine_podman
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import layout as _oci_layout
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import listing as _oci_listing
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import load as _oci_load
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import prune as _oci_prune
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import remove as _oci_remove

Store = collections.namedtuple("Store", "lookup load snapshot remove prune")

ENGINES = ("oci", "podman", "docker", "containerd", "isula")
DEFAULT_OCI_STORE = "/var/lib/fleetimage/oci"
DEFAULT_EXECUTABLES = {"podman": "podman", "docker": "docker", "containerd": "ctr", "isula": "isula"}
DEFAULT_CONTAINERD_NAMESPACE = "default"


def store_argument_spec():
    """The argument spec of the options that choose a store, as every module takes them."""
    return dict(
        engine=dict(type="str", default="oci", choices=list(ENGINES)),
        store=dict(type="path", default=DEFAULT_OCI_STORE),
        executable=dict(type="str"),
        namespace=dict(type="str", default=DEFAULT_CONTAINERD_NAMESPACE),
    )


def open_store(params):
    """The store PARAMS name: params['engine'] and its location parameters.

    'store' locates the oci store; 'executable' and 'namespace' (containerd)
    the engines. Engines find their daemon and storage through their own
    environment variables (DOCKER_HOST, CONTAINERD_ADDRESS, ...).
    """
    engine = params.get("engine") or "oci"
    if engine == "oci":
        path = params.get("store") or DEFAULT_OCI_STORE
        return Store(
            lookup=functools.partial(_oci_layout.lookup, path),
            load=functools.partial(_oci_load.load, path),
            snapshot=lambda names: _oci_listing.names_and_ids(path),
            remove=functools.partial(_oci_remove.remove, path),
            prune=functools.partial(_oci_prune.prune, path),
        )
    if engine not in DEFAULT_EXECUTABLES:
        raise ValueError("unknown engine %r" % engine)  # the argument spec only admits ENGINES
    executable = params.get("executable") or DEFAULT_EXECUTABLES[engine]
    if engine == "podman":
        adapter = _engine_podman.engine(executable)
    elif engine == "docker":
        adapter = _engine_docker.engine(executable)
    elif engine == "containerd":
        adapter = _engine_containerd.engine(executable, params.get("namespace") or DEFAULT_CONTAINERD_NAMESPACE)
    else:
        adapter = _engine_isula.engine(executable)
    return Store(
        lookup=functools.partial(_engine_load.lookup, adapter),
        load=functools.partial(_engine_load.load, adapter),
        snapshot=functools.partial(_engine_snapshot, adapter),
        remove=None,
        prune=None,
    )


def _engine_snapshot(adapter, names):
    snapshot = {}
    for name in names:
        found = _engine_load.lookup(adapter, name)
        if found is not None:
            snapshot[name] = found["id"]
    return snapshot
