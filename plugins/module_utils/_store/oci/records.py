# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a load records about an image in its index.json entry, and reads back.

Each name a load writes into the store's index.json carries, besides the
standard name annotations, three of this collection's own:

    fleetimage.separated.app-sha256   sha256 of the app tarball it came from
    fleetimage.separated.image-id     the image id (sha256 of its config)
    fleetimage.separated.loaded-at    when it was loaded, UTC, RFC 3339

The first two let a later load decide that the store holds exactly the
bundle's image from index.json alone, without reading a tarball; the last
orders a repository's images for pruning. Entries written by other tools, or
by version 0.1 of this collection, have none of them: they are compared by
image id, and count as loaded before any recorded one.
"""

from __future__ import annotations

import time

APP_SHA256 = "fleetimage.separated.app-sha256"
IMAGE_ID = "fleetimage.separated.image-id"
LOADED_AT = "fleetimage.separated.loaded-at"


def load_record(app_sha256, image_id):
    """The annotations a load adds to each name it writes."""
    return {
        APP_SHA256: app_sha256,
        IMAGE_ID: image_id,
        LOADED_AT: utc_now(),
    }


def utc_now():
    """Now, UTC, RFC 3339 with microseconds: loads within one second still sort in order."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%06dZ" % int((now % 1) * 1000000)


def carried_over(old_annotations, new_annotations):
    """NEW_ANNOTATIONS for a name that already pointed at the same image.

    The image under the name did not change, so it keeps the time it was
    first loaded: reloading an image (force) neither reorders a repository
    for pruning nor changes index.json when the record is the same.
    """
    merged = dict(new_annotations)
    if LOADED_AT in merged and (old_annotations or {}).get(LOADED_AT):
        merged[LOADED_AT] = old_annotations[LOADED_AT]
    return merged


def recorded_app_sha256(entry):
    """The app tarball sha256 recorded in an index.json ENTRY, or None."""
    value = (entry.get("annotations") or {}).get(APP_SHA256)
    return value if isinstance(value, str) and value else None


def loaded_at(entry):
    """The recorded load time of ENTRY (a sortable string), or '' when none was recorded."""
    value = (entry.get("annotations") or {}).get(LOADED_AT)
    return value if isinstance(value, str) else ""
