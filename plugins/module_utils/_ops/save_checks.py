# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What isula-build's `ctr-img save -b -l -r -d` refuses in the request itself, in its own words.

Each message starts with the words isula-build uses (its cmd/cli/save.go and
daemon/save.go), so a person who knows isula-build, or searches for its
message, recognises it; the rest says what to change. What it refuses in the
images is checked once, as the bundle is planned (_bundle/plan.py).
"""

from __future__ import annotations


from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import open_regular_file
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import plan as bundle_plan
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.save_catalog import checked_name

RENAME_FILE_MAX_BYTES = 1024 * 1024


def check_request(names, base, lib):
    """The command-line checks; return the app names normalized, in order, each once."""
    if not names:
        raise BundleError("save accepts at least one image: give the app images in names")
    if not base:
        raise BundleError("base image name(-b) must be provided")
    checked_name(base, "base")
    if lib:
        if lib == base:
            raise BundleError("base and lib images are the same: %s" % base)
        checked_name(lib, "lib")
    apps = []
    for name in names:
        normalized = checked_name(name, "app")
        if normalized not in apps:  # isula-build saves a name given twice once
            apps.append(normalized)
    return apps


def load_rename_file(path):
    """isula-build's rename file: a JSON array of {"name": DEFAULT_NAME, "rename": NEW_NAME}."""
    try:
        with open_regular_file(path, "rename file") as f:  # a FIFO is refused, never waited on
            data = f.read(RENAME_FILE_MAX_BYTES + 1)
    except OSError as exc:
        raise BundleError("check rename file failed: %s: %s" % (path, os_reason(exc)))
    except BundleError as exc:
        raise BundleError("check rename file failed: %s" % exc)
    if len(data) > RENAME_FILE_MAX_BYTES:
        raise BundleError("check rename file failed: %s is larger than %d bytes" % (path, RENAME_FILE_MAX_BYTES))
    try:
        renames = json_text.loads_as(data, list, 'a JSON array of {"name": DEFAULT_NAME, "rename": NEW_NAME}')
    except ValueError as exc:
        raise BundleError("check rename file failed: %s %s" % (path, exc))
    try:
        check_renames(renames)
    except BundleError as exc:
        raise BundleError("check rename file failed: %s: %s" % (path, exc))
    return renames


def check_renames(renames):
    """Refuse a rename entry that is malformed or names no usable file (the writer's rules)."""
    bundle_plan.rename_map(renames)
