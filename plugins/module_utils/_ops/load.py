# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What separated_image_load does, independent of Ansible.

index lookup -> store lookup -> does the store hold the bundle's image under
the name (see presence.py; present and not force: done) -> resolve and check
tarball paths -> (check mode: done) -> store load, which moves the name.
"""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import index as _bundle_index
from ansible_collections.fleetimage.separated.plugins.module_utils._ops import diff as _diff
from ansible_collections.fleetimage.separated.plugins.module_utils._ops import presence as _presence
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import signature
from ansible_collections.fleetimage.separated.plugins.module_utils._io.free_space import checked_min_free_space
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import normalize_name
from ansible_collections.fleetimage.separated.plugins.module_utils._store.registry import open_store


def load_image(params, check_mode=False, diff=False, warn=None):
    """Load params['name'] from the bundle params['dir']; return the module result.

    With DIFF, the result has 'diff': the store's names and image ids before and after.
    WARN(message) is told what the module could not use (an engine state file it does not trust).
    """
    name = normalize_name(params["name"])
    min_free_space = checked_min_free_space(params["min_free_space"])  # a wrong value fails every run, also a no-op
    bundle_dir = params["dir"]
    index_bytes = _bundle_index.read_index_bytes(bundle_dir)
    signed = signature.for_load(params, bundle_dir, index_bytes)  # before any tarball is read or the store opened
    entry = _bundle_index.app_entry(_bundle_index.parse_index(bundle_dir, index_bytes), name, bundle_dir)
    tarballs = _bundle_index.resolve_tarballs(entry, name, bundle_dir, params["base"], params["lib"])
    verify = not params["skip_check"]
    store = open_store(params, min_free_space, warn)
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

    found = store.lookup(name)
    result["previous_id"] = found["id"] if found else None
    before = _diff.snapshot(store, [name]) if diff else None
    if not params.get("force") and _presence.state_of(found, tarballs[0], name, verify) == _presence.BUNDLE:
        present = _presence.public_facts(found)
        present["name"] = name
        result.update(action="present", image=present)
        return _diff.added(result, before, before)

    _bundle_index.check_tarballs_exist(tarballs)
    if verify:
        _bundle_index.check_hashes_present(tarballs, name)
    if check_mode:
        # Even with force, a present image may be re-tagged by the load: say it may change.
        result.update(changed=True, action="would_load", image={"name": name})
        return _diff.added(result, before, _diff.predicted(before, {name: "(the bundle's image)"}))

    if store.engine is None:  # the OCI store skips a lib or base whose layers it has: the index's lists say which
        hints = dict((part, _bundle_index.layer_hints(entry, part)) for part in ("base", "lib"))
        outcome = store.load(tarballs, name, hints, verify)
    else:  # an engine takes every tarball, read once, each checked as it ends
        outcome = store.load(tarballs, name, verify)
    outcome["image"]["name"] = name
    result.update(outcome, action="loaded", checksums_verified=verify)
    after = _diff.snapshot(store, [name]) if diff else None
    return _diff.added(result, before, after)


def load_images(params, check_mode=False, diff=False, warn=None):
    """Load each of params['names'] from the bundle params['dir']; return {changed, apps: {name: result}}."""
    apps = {}
    for name in dict.fromkeys(normalize_name(n) for n in params["names"]):
        apps[name] = load_image(dict(params, name=name), check_mode=check_mode, diff=diff, warn=warn)
        apps[name]["image_id"] = apps[name]["image"].get("id")
    result = {"changed": any(r["changed"] for r in apps.values()), "apps": apps}
    result["loaded"] = [n for n, r in apps.items() if r["action"] == "loaded"]
    result["present"] = [n for n, r in apps.items() if r["action"] == "present"]
    return result
