# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What separated_image_load does, independent of Ansible.

index lookup -> store lookup (present and not force: done, no tarball read)
-> resolve and check tarball paths -> (check mode: done) -> store load.
"""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import index as _bundle_index
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import signature
from ansible_collections.fleetimage.separated.plugins.module_utils._io.free_space import DEFAULT_MIN_FREE_SPACE, parse_min_free_space
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import normalize_name
from ansible_collections.fleetimage.separated.plugins.module_utils._store.registry import open_store


def load_image(params, check_mode=False):
    """Load params['name'] from the bundle params['dir']; return the module result."""
    name = normalize_name(params["name"])
    parse_min_free_space(_min_free_space(params))  # a wrong value fails every run
    bundle_dir = params["dir"]
    index_bytes = _bundle_index.read_index_bytes(bundle_dir)
    signed = signature.for_load(params, bundle_dir, index_bytes)  # before any tarball is read or the store opened
    entry = _bundle_index.app_entry(_bundle_index.parse_index(bundle_dir, index_bytes), name, bundle_dir)
    tarballs = _bundle_index.resolve_tarballs(entry, name, bundle_dir, params["base"], params["lib"])
    verify = not params["skip_check"]
    store = open_store(params)
    result = {
        "changed": False,
        "tarballs": dict((t.part, t.path) for t in tarballs),
        "checksums_verified": False,
        "layers_written": 0,
        "layers_reused": 0,
        "bytes_written": 0,
        "signature": signed,
    }
    result["tarballs"].setdefault("lib", None)

    present = store.lookup(name)
    if present is not None and not params["force"]:
        result.update(action="present", image=dict(present, name=name))
        return result

    _bundle_index.check_tarballs_exist(tarballs)
    if verify:
        _bundle_index.check_hashes_present(tarballs, name)
    if check_mode:
        # Even with force, a present image may be re-tagged by the load: say it may change.
        result.update(changed=True, action="would_load", image={"name": name})
        return result

    hints = dict((part, _bundle_index.layer_hints(entry, part)) for part in ("base", "lib"))
    outcome = store.load(tarballs, name, hints, verify)
    outcome["image"]["name"] = name
    result.update(outcome, action="loaded", checksums_verified=verify)
    return result


def _min_free_space(params):
    value = params.get("min_free_space")
    return DEFAULT_MIN_FREE_SPACE if value is None else value
