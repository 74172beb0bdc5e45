# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which names a prune drops: those beyond the KEEP newest of each repository, in every store."""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._reference import repository_or_none


def beyond_newest(items, keep, wanted, name_of, newest):
    """The ITEMS past the KEEP newest of each repository in WANTED (a set; None: every repository).

    NAME_OF(item) is its image name; NEWEST(item) sorts it, larger is newer
    (ties are broken by the caller's key, so that the answer never depends on
    the order the store listed its names in). A name that is no image name
    has no repository and is never dropped.
    """
    by_repository = {}
    for item in items:
        repository = repository_or_none(name_of(item))
        if repository is not None and (wanted is None or repository in wanted):
            by_repository.setdefault(repository, []).append(item)
    return [item for group in by_repository.values() for item in sorted(group, key=newest, reverse=True)[keep:]]
