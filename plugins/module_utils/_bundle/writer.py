# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write a separated image bundle byte for byte as isula-build's `ctr-img save` does.

The uncompressed tar streams and the index are what isula-build 0.9.6 writes
(its vendored containers/image v5.17 docker-archive writer, then its
separator re-packing the untarred archive); only the gzip bytes differ, as
zlib (or isal) compresses differently from Go. Layers are streamed from their
sources and checked against the image config's diff ids on the way.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible_collections.fleetimage.separated.plugins.module_utils._archive.tar_writer import DIR_MODE, PRIVATE_MODE, READ_ONLY_MODE, Member, write_tarball
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.go_json import go_json
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.index import INDEX_FILE_NAME
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.plan import plan, rename_map
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import fsync_folder, write_new_file


def write_bundle(dest_dir, apps, base, lib=None, rename=None, compression_level=6, shown_as=None):
    """Write the bundle of APPS (ImageSource list) into the new folder DEST_DIR.

    BASE and LIB are ImageSource of the base image (exactly one layer) and of
    the optional lib image (the base plus more layers); their names go into
    the index as given. App names are repo tags, ':latest' added when there is
    no tag. RENAME is isula-build's rename list [{"name": DEFAULT, "rename":
    NEW}]. COMPRESSION_LEVEL is zlib's 0-9 (isal's 0-3 when isal is used).
    The folder appears complete or not at all. Returns the index written.
    SHOWN_AS: how messages name the bundle (default: DEST_DIR).
    """
    if not 0 <= compression_level <= 9:
        raise BundleError("compression level %r is not between 0 and 9" % (compression_level,))
    dest_dir = os.path.abspath(dest_dir)
    planned = plan(apps, base, lib, rename_map(rename), dest_dir)
    parent = _check_destination(dest_dir)
    tmp = tempfile.mkdtemp(prefix=".%s.tmp-" % os.path.basename(dest_dir), dir=parent)
    try:
        index = _write_files(tmp, planned, compression_level)
        os.rename(tmp, dest_dir)
        fsync_folder(parent)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        # Named as the caller shows it (a save writes into a temporary folder it removes): the cause, the file
        # of the bundle it was writing, and that nothing is left.
        what = os.path.basename(exc.filename) if isinstance(exc.filename, str) and exc.filename != tmp else None
        raise BundleError("writing bundle %s failed: %s%s; nothing was left behind"
                          % (shown_as or dest_dir, exc.strerror or exc, " (writing %s)" % what if what else "")) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return index


def _check_destination(dest_dir):
    """Return the parent folder; refuse a destination that holds anything."""
    parent = os.path.dirname(dest_dir)
    if not os.path.isdir(parent):
        raise BundleError("cannot write bundle %s: folder %s does not exist" % (dest_dir, parent))
    if os.path.lexists(dest_dir) and not (os.path.isdir(dest_dir) and not os.path.islink(dest_dir) and not os.listdir(dest_dir)):
        raise BundleError("cannot write bundle %s: it already exists and is not an empty folder" % dest_dir)
    return parent


def _write_files(folder, plan, level):
    """Write base, lib, then each app's tarball into FOLDER, then the index; return the index."""
    apps, names, lib, base = plan["apps"], plan["names"], plan["lib"], plan["base"]
    first, lib_end = apps[0], 1 + plan["lib_count"]
    hashes = {"base": write_tarball(os.path.join(folder, names["base"]), _layer_members(first, 0, 1), level)}
    if lib is not None:
        hashes["lib"] = write_tarball(os.path.join(folder, names["lib"]), _layer_members(first, 1, lib_end), level)
    index = {}
    for app in apps:
        members = _layer_members(app, lib_end, len(app.diff_ids)) + _app_metadata(app)
        app_hash = write_tarball(os.path.join(folder, names[app.name]), members, level)
        index[app.name] = {
            "app": names[app.name],
            "appHash": app_hash,
            "appLayers": [legacy[0] for legacy in app.legacy[lib_end:]],
            "lib": names.get("lib", ""),
            "libHash": hashes.get("lib", ""),
            "libImageName": lib.name if lib is not None else "",
            "libLayers": [legacy[0] for legacy in app.legacy[1:lib_end]] if lib is not None else None,
            "base": names["base"],
            "baseHash": hashes["base"],
            "baseImageName": base.name,
            "baseLayer": app.legacy[0][0],
        }
    index = dict(sorted(index.items()))  # Go marshals a map with its keys sorted
    write_new_file(os.path.join(folder, INDEX_FILE_NAME), go_json(index), 0o600)  # as isula-build writes its index
    return index


def _layer_members(app, start, end):
    """The members of APP's layers START..END-1, each as its legacy folder."""
    members = []
    for position in range(start, end):
        layer_id, layer_json = app.legacy[position]
        what = "layer %d of app image %s" % (position + 1, app.name)
        members.append(Member(layer_id + "/", DIR_MODE, None, None, None, what))
        members.append(Member(layer_id + "/VERSION", READ_ONLY_MODE, b"1.0", None, None, what))
        members.append(Member(layer_id + "/json", READ_ONLY_MODE, layer_json, None, None, what))
        layer = app.image.layers[position]
        members.append(Member(layer_id + "/layer.tar", READ_ONLY_MODE, None, layer, app.diff_ids[position], what))
    return members


def _app_metadata(app):
    """manifest.json, repositories and the config, as isula-build writes them into the app tarball."""
    repository, tag = app.name.rsplit(":", 1)
    manifest = [
        {
            "Config": app.config_hex + ".json",
            "RepoTags": [app.name],
            "Layers": [legacy[0] + "/layer.tar" for legacy in app.legacy],
        }
    ]
    what = "app image %s" % app.name
    return [
        Member(app.config_hex + ".json", READ_ONLY_MODE, app.image.config, None, None, what),
        Member("manifest.json", PRIVATE_MODE, go_json(manifest), None, None, what),
        Member("repositories", PRIVATE_MODE, go_json({repository: {tag: app.legacy[-1][0]}}), None, None, what),
    ]
