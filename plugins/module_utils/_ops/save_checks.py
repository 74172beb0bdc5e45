# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What isula-build's `ctr-img save -b -l -r -d` refuses, refused in its own words.

Each message starts with the words isula-build uses (its cmd/cli/save.go,
daemon/save.go and daemon/separator/), so a person who knows isula-build, or
searches for its message, recognises it; the rest says what to change. The
bundle writer checks the same things again as it plans the bundle, in its own
words: these run first.
"""

from __future__ import annotations

import json
import os

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import plan as bundle_plan
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.go_json import legacy_layer_ids
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
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
        with open(path, "rb") as f:
            data = f.read(RENAME_FILE_MAX_BYTES + 1)
    except (OSError, IOError) as exc:
        raise BundleError("check rename file failed: %s: %s" % (path, exc.strerror or exc))
    if len(data) > RENAME_FILE_MAX_BYTES:
        raise BundleError("check rename file failed: %s is larger than %d bytes" % (path, RENAME_FILE_MAX_BYTES))
    try:
        renames = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise BundleError("check rename file failed: %s is not valid JSON: %s" % (path, exc))
    if not isinstance(renames, list):
        raise BundleError('check rename file failed: %s is not a JSON array of {"name": DEFAULT_NAME, '
                          '"rename": NEW_NAME}' % path)
    try:
        check_renames(renames)
    except BundleError as exc:
        raise BundleError("check rename file failed: %s: %s" % (path, exc))
    return renames


def check_renames(renames):
    """Refuse a rename entry that is malformed or names no usable file (the writer's rules)."""
    bundle_plan.rename_map(renames)


def check_images(apps, base, lib, renames, dest):
    """The separator's checks on the images themselves, before anything is written.

    APPS, BASE and LIB are ImageSource named as the user typed them (apps
    normalized). Layers are compared by diff id, bottom first: the base image
    must be the apps' first layer, the lib image their first layers after it.
    """
    base_ids = _diff_ids(base, "base")
    if len(base_ids) > 1:
        raise BundleError("number of base layers %d more than one: base image %s has %d layers, and a bundle's "
                          "base image must have exactly one" % (len(base_ids), base.name, len(base_ids)))
    lib_ids = _diff_ids(lib, "lib") if lib is not None else None
    app_ids = [_diff_ids(app, "app") for app in apps]
    for app, ids in zip(apps, app_ids):
        if len(ids) <= len(base_ids) or (lib_ids is not None and len(ids) <= len(lib_ids)):
            raise BundleError(
                "number of base or lib layers is equal or greater than saved app layers: app image %s has %d "
                "layers, %s has %d: an app image must add layers of its own"
                % (app.name, len(ids), _lower(base, lib), len(lib_ids if lib_ids is not None else base_ids)))
        if lib_ids is not None:
            _check_built_on(app, ids, lib, lib_ids, "lib")
        _check_built_on(app, ids, base, base_ids, "base")
    _check_no_shared_app_layers(apps, app_ids, base, lib, lib_ids, renames, dest)


def _check_built_on(app, ids, lower, lower_ids, part):
    for position, (mine, theirs) in enumerate(zip(ids, lower_ids)):
        if mine != theirs:
            raise BundleError(
                "dismatch checksum for %s image %s: app image %s is not built on it (its layer %d is %s, "
                "where %s image %s has %s)" % (part, lower.name, app.name, position + 1, mine, part, lower.name, theirs))


def _check_no_shared_app_layers(apps, app_ids, base, lib, lib_ids, renames, dest):
    """Each layer above base and lib goes into one app tarball only, as isula-build's separator moves it there."""
    bottom = len(lib_ids) if lib_ids is not None else 1
    rename_map = bundle_plan.rename_map(renames)
    owner = {}
    for app, ids in sorted(zip(apps, app_ids), key=lambda pair: pair[0].name):
        for layer_id, _layer_json in legacy_layer_ids(ids, app.config)[bottom:]:
            if layer_id in owner and owner[layer_id] != app.name:
                tarball = os.path.join(dest, bundle_plan.tarball_name(owner[layer_id], "app", rename_map))
                raise BundleError(
                    "process app images %s failed: lib layers %s already saved in %s for image %s: app images %s and "
                    "%s share a layer above %s, and a bundle keeps each app layer in one app tarball; build them on "
                    "a lib image that holds the shared layers" % (app.name, layer_id, tarball, app.name,
                                                                  owner[layer_id], app.name, _lower(base, lib)))
            owner.setdefault(layer_id, app.name)


def _diff_ids(image, part):
    try:
        config = json.loads(image.config.decode("utf-8"))
        diff_ids = config["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BundleError("the config of %s image %s is not an image config with rootfs.diff_ids" % (part, image.name))
    if not isinstance(diff_ids, list) or not diff_ids or not all(isinstance(d, str) for d in diff_ids):
        raise BundleError("the config of %s image %s lists no layers in rootfs.diff_ids" % (part, image.name))
    return diff_ids


def _lower(base, lib):
    return "lib image %s" % lib.name if lib is not None else "base image %s" % base.name
