# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does a store hold a bundle's image under its name? Keyed on the bytes the index names.

A tag can be reused (app:latest, or app:1 rebuilt): holding *an* image
under the name is not holding the bundle's. And an app tarball is only the
bundle's when its sha256 is the one the index gives: an old app tarball
copied into a new (signed) bundle must never make the old image "present".
The answer, cheapest first:

    the store holds nothing under NAME                  -> "absent"
    it recorded, at load, the app tarball sha256 the
    index gives (no tarball is read)                    -> "bundle"
    the app tarball's sha256 is not the index's         -> "unknown": the bytes
                                                           the index names are
                                                           not here (a load
                                                           refuses the tarball)
    its image id against the bundle's image id, read
    from the app tarball (see _archive.image_id)        -> "bundle" or "other"

With skip_check (VERIFY false) the tarballs' checksums are not the load's
evidence, so the third step is skipped: the app tarball's own manifest.json
and config say which image it holds, as they do for the load itself.
"""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._archive.image_id import read_image_id
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.index import tarball_sha256

ABSENT = "absent"
BUNDLE = "bundle"
OTHER = "other"
# The store holds an image under the name, and nothing at hand tells whose:
# no bundle was given, or no record and no app tarball to read.
UNKNOWN = "unknown"


def state_of(found, app_tarball, name, verify=True):
    """ABSENT, BUNDLE, OTHER or UNKNOWN: what FOUND (a store lookup, or None) is to the app tarball of NAME."""
    if found is None:
        return ABSENT
    recorded = found.get("app_sha256")
    if recorded and recorded == app_tarball.expected_sha256:
        return BUNDLE
    if verify and tarball_sha256(app_tarball) != app_tarball.expected_sha256:
        return UNKNOWN
    return BUNDLE if found["id"] == read_image_id(app_tarball.path, name) else OTHER


def state_from_record(found, app_sha256):
    """The state when only the index's APP_SHA256 is at hand (no tarball): decided by the store's record.

    A record of another app tarball counts as another image: the bundle names
    other content, and its load (which decides by image id) tells for sure.
    """
    if found is None:
        return ABSENT
    recorded = found.get("app_sha256")
    if not recorded or not app_sha256:
        return UNKNOWN
    return BUNDLE if recorded == app_sha256 else OTHER


def public_facts(found):
    """FOUND as modules return it: without the store's own bookkeeping."""
    if found is None:
        return None
    return dict((k, v) for k, v in found.items() if k != "app_sha256")
