# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Remove and prune images of a container engine, through its command line.

The same flow for every engine; what an engine object adds for it:
    remove(ref)   the engine's own remove of the name REF, without force: an
                  image with other names keeps them; an image a container
                  uses is refused (BundleError naming the container)
    images()      [{"name", "id", "created"}] of every name the engine holds,
                  as it spells them; "created" is the image config's creation
                  time (RFC 3339): engines do not record when they loaded one

Prune keeps, per repository asked for, the names of the newest images by
that creation time. Engines count no blobs: blobs_removed and bytes_freed
are 0, and there is no garbage or staging of this collection's to collect.
"""

from __future__ import annotations

import re

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import repository_of, repository_or_none
from ansible_collections.fleetimage.separated.plugins.module_utils._store.keep_newest import beyond_newest


def remove(engine, names, check_mode=False):
    """Remove NAMES (normalized) from ENGINE; return {changed, removed, absent, ...} as the OCI store does."""
    removed, absent = [], []
    for name in names:
        ref = engine.reference(name)
        if engine.inspect(ref) is None:
            absent.append(name)
            continue
        if not check_mode:
            _remove_one(engine, ref)
        removed.append(ref)
    return {"changed": bool(removed), "removed": removed, "absent": absent, "blobs_removed": 0, "bytes_freed": 0,
            "blobs_deferred": False}


def prune(engine, keep=None, repositories=None, verify=False, check_mode=False):
    """Keep the KEEP newest names of each of REPOSITORIES in ENGINE; return what was (would be) removed.

    The result also has "before" and "after": {name: id} of those repositories, for diff mode.
    """
    if verify:
        raise BundleError("verify is for the oci store only: %s checks its own storage" % engine.label)
    # A repository as the engine spells it: podman keeps app1 as localhost/app1.
    wanted = set(repository_of(engine.reference(r)) for r in repositories or [])
    held = [image for image in engine.images() if repository_or_none(image["name"]) in wanted]
    dropped = []
    if keep is not None:
        old = beyond_newest(held, keep, wanted, name_of=lambda i: i["name"],
                            newest=lambda i: (sortable_time(i["created"]), i["name"]))
        dropped = [image["name"] for image in old]
    if not check_mode:
        for name in dropped:
            _remove_one(engine, name)
    before = dict((image["name"], image["id"]) for image in held)
    after = dict((name, image_id) for name, image_id in before.items() if name not in dropped)
    return {"changed": bool(dropped), "removed": sorted(dropped), "blobs_removed": 0, "bytes_freed": 0,
            "staging_removed": [], "damaged": [], "blobs_deferred": False, "before": before, "after": after}


def _remove_one(engine, ref):
    """The engine's remove of REF; its refusal (a container uses the image) in one message naming REF."""
    try:
        engine.remove(ref)
    except BundleError as exc:
        raise BundleError("%s cannot remove %s: %s" % (engine.label, ref, exc))


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d+))?")


def sortable_time(created):
    """CREATED (RFC 3339, any fraction of a second) as a string that sorts in time order; '' when unknown."""
    match = _RFC3339.match(created or "")
    if not match:
        return ""
    return "%sT%s.%s" % (match.group(1), match.group(2), (match.group(3) or "").ljust(9, "0")[:9])
