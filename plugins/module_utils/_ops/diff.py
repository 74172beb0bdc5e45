# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ansible's diff mode for the modules that change a store.

The diff is the store's names and the image id under each, before and after
(Ansible's `diff: {before, after}`; the callback prints the two mappings as
a unified diff). The OCI store shows all its names, read from index.json;
a container engine shows the names the task touches, asked one by one.
"""

from __future__ import annotations


def snapshot(store, names):
    """{name: image id} as STORE holds them now (see Store.snapshot in the registry)."""
    return dict(sorted(store.snapshot(names).items()))


def predicted(before, changes):
    """BEFORE with CHANGES applied ({name: new id, or None for a name removed}): check mode's after.

    None when BEFORE is None (no diff was asked for).
    """
    if before is None:
        return None
    after = dict(before)
    for name, image_id in changes.items():
        if image_id is None:
            after.pop(name, None)
        else:
            after[name] = image_id
    return dict(sorted(after.items()))


def added(result, before, after):
    """RESULT with its 'diff' when a diff was asked for (BEFORE is not None)."""
    if before is not None:
        result["diff"] = {"before": {"images": before}, "after": {"images": after}}
    return result
