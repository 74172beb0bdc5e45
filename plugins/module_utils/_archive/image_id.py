# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The id of the image an app tarball holds, read as cheaply as it can be.

Deciding whether a store already holds a bundle's image needs the image id:
the sha256 of the config that manifest.json names. Both are small members of
the app tarball, so the tarball is read only until both are known; the app's
own layers before them are skipped (still decompressed: a compressed stream
cannot be skipped), and nothing after them is read at all. No checksum of
the tarball is computed: the config is checked against its own name, which
is all an id needs.
"""

from __future__ import annotations

import hashlib
import json
import tarfile

from ansible_collections.fleetimage.separated.plugins.module_utils._archive.members import classify, read_small
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._io.codecs import DECOMPRESSION_ERRORS, detect_codec
from ansible_collections.fleetimage.separated.plugins.module_utils._io.pipeline import open_tarball
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import normalize_name, same_image_name

# What a truncated or corrupt app tarball raises while it is read.
_READ_ERRORS = (tarfile.TarError,) + DECOMPRESSION_ERRORS


def read_image_id(path, name):
    """The id (64 hex) of the image NAME in the app tarball PATH.

    Reads members until manifest.json and the config it names for NAME have
    both been seen, then stops.
    """
    try:
        codec = detect_codec(path)
    except (OSError, IOError) as exc:
        raise BundleError("app tarball %s cannot be read: %s" % (path, exc.strerror or exc))
    configs, wanted = {}, None
    with open_tarball(path, codec) as stream:
        try:
            tar = tarfile.TarFile(fileobj=stream, mode="r")
            for member in tar:
                member_kind, member_id = classify(member, path)[1:]
                if member_kind == "config":
                    configs[member_id] = read_small(tar, member, path)
                elif member_kind == "manifest":
                    wanted = _config_of(read_small(tar, member, path), name, path)
                if wanted is not None and wanted in configs:
                    return _checked(configs[wanted], wanted, path)
        except _READ_ERRORS as exc:
            raise BundleError("%s is not a valid app tarball: %s" % (path, exc))
    if wanted is None:
        raise BundleError("manifest.json is missing from the app tarball %s" % path)
    raise BundleError("the image config %s.json named by manifest.json is not in the app tarball %s" % (wanted, path))


def _config_of(manifest_bytes, name, path):
    """The config hex that manifest.json gives for NAME (or for its only image)."""
    try:
        entries = json.loads(manifest_bytes.decode("utf-8"))
        configs = [(e.get("RepoTags") or [], e["Config"]) for e in entries]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BundleError("manifest.json in %s is not a docker-archive manifest: %s" % (path, exc))
    for tags, config in configs:
        if any(_same(tag, name) for tag in tags):
            return _hex_of(config, path)
    if len(configs) == 1:
        return _hex_of(configs[0][1], path)
    raise BundleError("image %s is not among the RepoTags of manifest.json in %s" % (name, path))


def _hex_of(config_name, path):
    if not isinstance(config_name, str) or not config_name.endswith(".json") or len(config_name) != 64 + 5:
        raise BundleError("manifest.json in %s names the config %r, not <sha256>.json" % (path, config_name))
    return config_name[:-5]


def _checked(config_bytes, hexdigest, path):
    actual = hashlib.sha256(config_bytes).hexdigest()
    if actual != hexdigest:
        raise BundleError("the image config %s.json in %s does not match its name: its sha256 is %s"
                          % (hexdigest, path, actual))
    return hexdigest


def _same(tag, name):
    try:
        return normalize_name(tag) == name or same_image_name(tag, name)
    except BundleError:
        return False
