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

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import writer as _bundle_writer

HASH_FIELDS = ("appHash", "libHash", "baseHash")

# index: {app name: entry}, the hash fields None (libHash "" without a lib);
# files: every file name of the bundle folder, the index included, sorted.
PlannedBundle = collections.namedtuple("PlannedBundle", "index files")


def plan_bundle(apps, base, lib, renames):
    """The PlannedBundle of write_bundle(DEST, APPS, BASE, LIB, RENAMES); raises what it would raise first."""
    plan = _bundle_writer._plan(apps, base, lib, _bundle_writer._rename_map(renames))
    names, lib_end = plan["names"], 1 + plan["lib_count"]
    index = {}
    for app in plan["apps"]:
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
    files = sorted(set(names.values()) | {_bundle_writer.INDEX_FILE_NAME})
    return PlannedBundle(dict(sorted(index.items())), files)


def without_hashes(index):
    """INDEX with the hash fields of every entry left out, for comparing bundles before compressing."""
    return dict((name, dict((k, v) for k, v in entry.items() if k not in HASH_FIELDS) if isinstance(entry, dict) else entry)
                for name, entry in index.items())
