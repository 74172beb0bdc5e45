# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bundle a save would write, known before anything is compressed.

The bundle writer's own plan (its checks, its file names) gives every file
name and every index field but the three hashes, which only the compressed
bytes give. That is enough for check mode to say what would be written, and
for a save to see, before writing, whether DEST holds another bundle.
"""

from __future__ import annotations

import collections
import hashlib
import os
import re

from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.go_json import legacy_layer_ids, sha256_digest
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.index import INDEX_FILE_NAME
from ansible_collections.fleetimage.separated.plugins.module_utils._digest import SHA256_HEX
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import normalize_name

_SUFFIXES = {"app": "_app_image.tar.gz", "base": "_base_image.tar.gz", "lib": "_lib_image.tar.gz"}
# An app image once checked: its normalized name and what its tarballs need.
App = collections.namedtuple("App", "name image config_hex diff_ids legacy")
HASH_FIELDS = ("appHash", "libHash", "baseHash")

# index: {app name: entry}, the hash fields None (libHash "" without a lib);
# files: every file name of the bundle folder, the index included, sorted.
PlannedBundle = collections.namedtuple("PlannedBundle", "index files")


def plan_bundle(apps, base, lib, renames, dest):
    """The PlannedBundle of write_bundle(DEST, APPS, BASE, LIB, RENAMES); raises what it would raise first."""
    planned = plan(apps, base, lib, rename_map(renames), dest)
    names, lib_end = planned["names"], 1 + planned["lib_count"]
    index = {}
    for app in planned["apps"]:
        # The fields in the order the writer (and isula-build) writes them.
        index[app.name] = {
            "app": names[app.name],
            "appHash": None,
            "appLayers": [layer_id for layer_id, layer_json in app.legacy[lib_end:]],
            "lib": names.get("lib", ""),
            "libHash": None if lib is not None else "",
            "libImageName": lib.name if lib is not None else "",
            "libLayers": [layer_id for layer_id, layer_json in app.legacy[1:lib_end]] if lib is not None else None,
            "base": names["base"],
            "baseHash": None,
            "baseImageName": base.name,
            "baseLayer": app.legacy[0][0],
        }
    files = sorted(set(names.values()) | {INDEX_FILE_NAME})
    return PlannedBundle(dict(sorted(index.items())), files)


def without_hashes(index):
    """INDEX with the hash fields of every entry left out, for comparing bundles before compressing."""
    return dict((name, dict((k, v) for k, v in entry.items() if k not in HASH_FIELDS) if isinstance(entry, dict) else entry)
                for name, entry in index.items())


def plan(apps, base, lib, renames, dest=""):
    """Check the images and decide every tarball's name and members, before any write.

    What isula-build's separator refuses is refused here, in its words first
    (its daemon/separator/), then what to change; DEST names the bundle folder
    in those messages.
    """
    if not apps:
        raise BundleError("no app image given: a bundle holds at least one")
    if base is None:
        raise BundleError("no base image given: a bundle needs one")
    _check_name(base.name, "base")  # checked, but written to the index as given
    bottom = base_ids = _diff_ids(base.config, "base image %s" % base.name)
    if len(base_ids) != 1:
        raise BundleError("number of base layers %d more than one: base image %s has %d layers, and a bundle's "
                          "base image must have exactly one" % (len(base_ids), base.name, len(base_ids)))
    lower = "base image %s" % base.name
    if lib is not None:
        _check_name(lib.name, "lib")
        bottom = _diff_ids(lib.config, "lib image %s" % lib.name)
        _check_lib(lib.name, bottom, base_ids, lower)
        lower = "lib image %s" % lib.name
    checked = sorted((_check_app(app, base, base_ids, lib, bottom) for app in apps), key=lambda a: a.name)
    names = {}
    for app in checked:
        names[app.name] = tarball_name(app.name, "app", renames)
    names["base"] = tarball_name(checked[0].name, "base", renames)
    if lib is not None:
        names["lib"] = tarball_name(checked[0].name, "lib", renames)
    _check_unique_apps(checked, len(bottom), lower, dest, names)
    _check_distinct(names)
    return {"apps": checked, "base": base, "lib": lib, "names": names, "lib_count": len(bottom) - 1}


def _check_name(name, part):
    """Return NAME normalized; isula-build takes names only, never image ids."""
    normalized = normalize_name(name)
    if re.match(r"^(sha256:)?%s(:latest)?$" % SHA256_HEX, normalized):
        raise BundleError("%s image %s: give an image name, not an image id" % (part, name))
    return normalized


def _check_lib(name, lib_ids, base_ids, base):
    for position, (mine, theirs) in enumerate(zip(lib_ids, base_ids)):
        if mine != theirs:
            raise BundleError("lib image %s is not built on %s: its layer %d is %s, where %s has %s"
                              % (name, base, position + 1, mine, base, theirs))
    if len(lib_ids) <= len(base_ids):
        raise BundleError("lib image %s has no layer of its own above %s (%d layers, against %d)"
                          % (name, base, len(lib_ids), len(base_ids)))


def _check_app(app, base, base_ids, lib, bottom):
    name = _check_name(app.name, "app")
    diff_ids = _diff_ids(app.config, "app image %s" % name)
    if len(app.layers) != len(diff_ids):
        raise BundleError("app image %s has %d layers, but its config lists %d diff ids" % (name, len(app.layers), len(diff_ids)))
    if len(diff_ids) <= len(bottom):
        lower = "lib image %s" % lib.name if lib is not None else "base image %s" % base.name
        raise BundleError("number of base or lib layers is equal or greater than saved app layers: app image %s has %d "
                          "layers, %s has %d: an app image must add layers of its own" % (name, len(diff_ids), lower, len(bottom)))
    if lib is not None:
        _check_built_on(name, diff_ids, "lib", lib.name, bottom)
    _check_built_on(name, diff_ids, "base", base.name, base_ids)
    config_hex = hashlib.sha256(app.config).hexdigest()
    return App(name, app, config_hex, diff_ids, legacy_layer_ids(diff_ids, app.config))


def _check_built_on(name, diff_ids, part, lower_name, lower_ids):
    for position, (mine, theirs) in enumerate(zip(diff_ids, lower_ids)):
        if mine != theirs:
            raise BundleError(
                "dismatch checksum for %s image %s: app image %s is not built on it (its layer %d is %s, where %s "
                "image %s has %s)" % (part, lower_name, name, position + 1, mine, part, lower_name, theirs))


def _check_unique_apps(apps, bottom_count, lower, dest, names):
    """isula-build's separator moves each layer above base and lib into one app tarball: none may repeat."""
    owner = {}
    for position, app in enumerate(apps):
        if position and app.name == apps[position - 1].name:
            raise BundleError("app image %s is given twice" % app.name)
        for layer_id, dummy_json in app.legacy[bottom_count:]:
            if layer_id in owner:
                raise BundleError(
                    "process app images %s failed: lib layers %s already saved in %s for image %s: app images %s and "
                    "%s share a layer above %s, and a bundle keeps each app layer in one app tarball; build them on "
                    "a lib image that holds the shared layers" % (app.name, layer_id, os.path.join(dest, names[owner[layer_id]]),
                                                                  app.name, owner[layer_id], app.name, lower))
            owner[layer_id] = app.name


def rename_map(rename):
    """isula-build's rename list as {default name: new name}; the first entry for a name wins."""
    renames = {}
    for item in rename or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("rename"), str):
            raise BundleError('rename entry %r is not {"name": DEFAULT_NAME, "rename": NEW_NAME}' % (item,))
        new = item["rename"]
        if new in ("", ".", "..", INDEX_FILE_NAME) or "/" in new or "\0" in new:
            raise BundleError("rename of %s to %r is not a usable tarball file name" % (item["name"], new))
        renames.setdefault(item["name"], new)
    return renames


def tarball_name(app_name, part, renames):
    """<name>_<tag>_<part>_image.tar.gz, name being the repository's last '/' component."""
    repository, tag = app_name.rsplit(":", 1)
    default = "%s_%s%s" % (repository.rsplit("/", 1)[-1], tag, _SUFFIXES[part])
    return renames.get(default, default)


def _check_distinct(names):
    """Two tarballs with one file name would overwrite each other (isula-build lets them)."""
    seen = {}
    for owner, file_name in sorted(names.items()):
        # App names always hold a ':' (a tag); "base" and "lib" never do.
        owner = "app image %s" % owner if ":" in owner else "the %s image" % owner
        if file_name in seen:
            raise BundleError(
                "the tarballs of %s and %s would both be named %s: give a rename for one of them"
                % (seen[file_name], owner, file_name)
            )
        seen[file_name] = owner


def _diff_ids(config_bytes, what):
    try:
        config = json_text.loads(config_bytes.decode("utf-8"))
        diff_ids = config["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BundleError("the config of %s is not an image config with rootfs.diff_ids" % what)
    if not isinstance(diff_ids, list) or not diff_ids:
        raise BundleError("the config of %s lists no layers in rootfs.diff_ids" % what)
    try:
        return [sha256_digest(d) for d in diff_ids]
    except BundleError as exc:
        raise BundleError("the config of %s: %s" % (what, exc))
