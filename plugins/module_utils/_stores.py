# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that knows which stores exist and how modules reach them.

A store offers two calls:
    lookup(name) -> {"id", "repo_tags", "layers", "size"} or None, reading no bundle
    load(tarballs, entry, name, verify) -> {"changed", "image", "layers_written",
        "layers_reused", "bytes_written"}, committing nothing unless every check passed
"""

from __future__ import annotations

import collections
import functools

from ansible_collections.fleetimage.separated.plugins.module_utils import _oci_layout, _oci_load

Store = collections.namedtuple("Store", "lookup load")

ENGINES = ("oci",)
DEFAULT_OCI_STORE = "/var/lib/fleetimage/oci"


def open_store(params):
    """The store PARAMS name: params['engine'] and its location parameters."""
    engine = params.get("engine") or "oci"
    if engine == "oci":
        path = params.get("store") or DEFAULT_OCI_STORE
        return Store(
            lookup=functools.partial(_oci_layout.lookup, path),
            load=functools.partial(_oci_load.load, path),
        )
    raise ValueError("unknown engine %r" % engine)  # the argument spec only admits ENGINES
