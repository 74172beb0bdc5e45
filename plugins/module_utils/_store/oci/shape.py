# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What may be taken for a store: an OCI image layout, or nothing yet.

A load writes into STORE only when it is absent, an empty folder (or one
holding only what a load of this collection leaves before its first commit:
its staging folders, an empty blobs/ tree), or an OCI image layout of
version 1.0.0 whose index.json, when there is one, is an OCI image index.
Anything else -- a folder of other files, a layout of another version, an
index.json that is something else -- is refused, and left untouched, so that
a typing error in 'store' never turns an unrelated folder into a store.
"""

from __future__ import annotations

import errno
import os
import stat

from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason

LAYOUT_VERSION = "1.0.0"
_LAYOUT_FILE_MAX_BYTES = 4096
# Names a load of this collection creates before oci-layout exists.
_OWN_PREFIXES = (".fleetimage-staging-", ".oci-layout-")


def check_store_shape(store):
    """Refuse STORE unless it is absent, empty (as far as a store goes) or an OCI image layout 1.0.0."""
    try:
        st = os.stat(store)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return
        raise BundleError("cannot inspect the store %s: %s" % (store, os_reason(exc)))
    if not stat.S_ISDIR(st.st_mode):
        raise BundleError("the store %s is not a folder" % store)
    try:
        entries = sorted(os.listdir(store))
    except OSError as exc:
        raise BundleError("cannot list the store folder %s: %s" % (store, os_reason(exc)))
    if "oci-layout" not in entries:
        foreign = [name for name in entries if not _own_before_first_commit(store, name)]
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise BundleError("the store %s is neither empty nor an OCI image layout (it has no oci-layout file,"
                              " and holds %s): refusing to write into it; name an empty or new folder"
                              % (store, shown))
        return
    _check_layout_file(os.path.join(store, "oci-layout"))


def _own_before_first_commit(store, name):
    if name.startswith(_OWN_PREFIXES):
        return True
    if name != "blobs":
        return False
    blobs = os.path.join(store, "blobs")
    try:
        inside = os.listdir(blobs)
        return not inside or (inside == ["sha256"] and not os.listdir(os.path.join(blobs, "sha256")))
    except OSError:
        return False


def _check_layout_file(path):
    try:
        with open(path, "rb") as f:
            data = f.read(_LAYOUT_FILE_MAX_BYTES + 1)
        layout = json_text.loads(data.decode("utf-8"))
    except OSError as exc:
        raise BundleError("cannot read the store's %s: %s" % (path, os_reason(exc)))
    except ValueError as exc:
        raise BundleError("the store's %s is not valid JSON: %s" % (path, exc))
    version = layout.get("imageLayoutVersion") if isinstance(layout, dict) else None
    if version != LAYOUT_VERSION:
        raise BundleError("the store's %s gives imageLayoutVersion %r; only OCI image layouts %s are written here"
                          % (path, version, LAYOUT_VERSION))
