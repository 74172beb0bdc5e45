# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What separated_image_prune does, independent of Ansible."""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._ops import diff as _diff
from ansible_collections.fleetimage.separated.plugins.module_utils._store.registry import open_store


def prune_store(params, check_mode=False, diff=False):
    """Prune the store params name as params say (keep, repositories, verify); return the module result."""
    keep = params.get("keep")
    if keep is not None and keep < 1:
        raise BundleError("keep must be 1 or more (got %d): to remove every image of a repository, "
                          "use separated_image_remove" % keep)
    engine = params.get("engine") or "oci"
    repositories = params.get("repositories") or []
    if engine != "oci":
        if params.get("verify"):
            raise BundleError("verify is for the oci store only: %s checks its own storage" % engine)
        if keep is not None and not repositories:
            raise BundleError("with engine %s, keep needs repositories: the images of an engine are not all "
                              "this collection's to prune" % engine)
    store = open_store(params)
    if engine != "oci":
        result = store.prune(keep=keep, repositories=repositories, verify=False, check_mode=check_mode)
        # The engine says which names of those repositories it held, before and after.
        held_before, held_after = result.pop("before"), result.pop("after")
        if not diff:
            return result
        return _diff.added(result, dict(sorted(held_before.items())), dict(sorted(held_after.items())))
    before = _diff.snapshot(store, []) if diff else None
    result = store.prune(keep=keep, repositories=repositories, verify=bool(params.get("verify")),
                         check_mode=check_mode)
    if not diff:
        return result
    if check_mode:
        return _diff.added(result, before, _diff.predicted(before, dict((n, None) for n in result["removed"])))
    return _diff.added(result, before, _diff.snapshot(store, []))
