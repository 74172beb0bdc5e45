# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What separated_image_remove does, independent of Ansible."""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._ops import diff as _diff
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import normalize_name
from ansible_collections.fleetimage.separated.plugins.module_utils._store.registry import open_store


def remove_images(params, check_mode=False, diff=False):
    """Remove params['names'] from the store params name; return the module result."""
    names = list(dict.fromkeys(normalize_name(n) for n in params["names"]))
    store = open_store(params)
    before = _diff.snapshot(store, names) if diff else None
    result = store.remove(names, check_mode=check_mode)
    if not diff:
        return result
    if check_mode:
        gone = [n for n in before if n in result["removed"] or n in names]
        return _diff.added(result, before, _diff.predicted(before, dict((n, None) for n in gone)))
    return _diff.added(result, before, _diff.snapshot(store, names))
