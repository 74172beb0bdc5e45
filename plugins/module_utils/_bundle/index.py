# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bundle index (DIR/manifest): read it as isula-build does, find an app,
and resolve the app's tarballs to paths that cannot leave the bundle folder."""

from __future__ import annotations

import collections
import os
import stat

from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._digest import is_sha256_hex
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import read_bounded_file
from ansible_collections.fleetimage.separated.plugins.module_utils._io.hashing import sha256_of_file

INDEX_FILE_NAME = "manifest"
INDEX_MAX_BYTES = 10 * 1024 * 1024


def read_index(bundle_dir):
    """Return the index of BUNDLE_DIR as a dict of app name -> entry."""
    return parse_index(bundle_dir, read_index_bytes(bundle_dir))


def read_index_bytes(bundle_dir):
    """The bytes of BUNDLE_DIR's index, read once (a signature is verified over these very bytes)."""
    if not os.path.isdir(bundle_dir):
        raise BundleError("bundle folder %s does not exist or is not a folder" % bundle_dir)
    path = os.path.join(bundle_dir, INDEX_FILE_NAME)
    root = os.path.realpath(bundle_dir)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        # Tarball names are held inside the index: it must be the bundle's own.
        raise BundleError("index %s is a symbolic link that leads out of the bundle folder %s" % (path, bundle_dir))
    data = read_bounded_file(path, "index", INDEX_MAX_BYTES)
    if not data:
        raise BundleError("index %s is empty" % path)
    return data


def parse_index(bundle_dir, data):
    """The index DATA (the bytes of BUNDLE_DIR's index) as a dict of app name -> entry."""
    path = os.path.join(bundle_dir, INDEX_FILE_NAME)
    if len(data) > INDEX_MAX_BYTES:  # the filter bundle_apps gets it from a URL too
        raise BundleError("index %s is larger than %d bytes" % (path, INDEX_MAX_BYTES))
    try:
        return json_text.loads_as(data, dict, "a JSON object")
    except ValueError as exc:
        raise BundleError("index %s %s" % (path, exc))


def app_entry(index, name, bundle_dir):
    """Return the index entry of NAME (already normalized), validated."""
    entry = index.get(name)
    if entry is None:
        raise BundleError("failed to find app image %s in %s" % (name, os.path.join(bundle_dir, INDEX_FILE_NAME)))
    if not isinstance(entry, dict):
        raise BundleError("index entry of %s is not a JSON object" % name)
    for key in ("app", "base"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise BundleError("index entry of %s has no %s tarball" % (name, key))
    for key in ("lib", "appHash", "libHash", "baseHash", "libImageName", "baseImageName"):
        if not isinstance(entry.get(key, ""), str):
            raise BundleError("index entry of %s: %s is not a string" % (name, key))
    return entry


def layer_hints(entry, part):
    """The legacy layer ids the index says PART ('base' or 'lib') holds.

    Informational only (isula-build never checks them): a loader may use them
    to skip work, never to decide what an image contains. 'baseLayer' is a
    string in current builds and a one-element array in old ones.
    """
    value = entry.get("baseLayer" if part == "base" else "libLayers")
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return [v for v in value if is_sha256_hex(v)]


class Tarball(collections.namedtuple("Tarball", "part path expected_sha256")):
    """One tarball of a load: which part it is ('app', 'lib', 'base'), where it is, the sha256 the index gives.

    It checks itself against the index (check_sum), so that a store verifies
    what it reads without knowing the bundle format.
    """

    __slots__ = ()

    def check_sum(self, actual=None):
        """Fail when the sha256 of the file (ACTUAL, or read from the file now) differs from the index's."""
        check_sum(self, tarball_sha256(self) if actual is None else actual)


def resolve_tarballs(entry, name, bundle_dir, base_path=None, lib_path=None):
    """Return the app's tarballs in load order: app, then lib (if any), then base.

    Names from the index resolve inside BUNDLE_DIR only, symlinks included;
    BASE_PATH and LIB_PATH given by the caller are taken as given.
    """
    tarballs = [Tarball("app", _inside(bundle_dir, entry["app"], name), entry.get("appHash", ""))]
    if lib_path:
        tarballs.append(Tarball("lib", os.path.abspath(lib_path), entry.get("libHash", "")))
    elif entry.get("lib"):
        tarballs.append(Tarball("lib", _inside(bundle_dir, entry["lib"], name), entry.get("libHash", "")))
    base = os.path.abspath(base_path) if base_path else _inside(bundle_dir, entry["base"], name)
    tarballs.append(Tarball("base", base, entry.get("baseHash", "")))
    return tarballs


def check_tarballs_exist(tarballs):
    """Fail on the first tarball that is missing or not a regular file."""
    for tarball in tarballs:
        try:
            st = os.stat(tarball.path)
        except OSError as exc:
            raise BundleError("%s tarball %s cannot be read: %s" % (tarball.part, tarball.path, os_reason(exc)))
        if not stat.S_ISREG(st.st_mode):
            raise BundleError("%s tarball %s is not a regular file" % (tarball.part, tarball.path))


def check_hashes_present(tarballs, name):
    """Fail when the index gives no usable sha256 for a tarball to verify."""
    for tarball in tarballs:
        if not is_sha256_hex(tarball.expected_sha256):
            raise BundleError(
                "index entry of %s has no valid %sHash (64 lowercase hex digits) to check %s against"
                % (name, tarball.part, tarball.path)
            )


def _inside(bundle_dir, file_name, name):
    if os.path.isabs(file_name) or not file_name.strip():
        raise BundleError("index entry of %s names tarball %r, which is not a name inside %s" % (name, file_name, bundle_dir))
    root = os.path.realpath(bundle_dir)
    path = os.path.realpath(os.path.join(root, file_name))
    if os.path.commonpath([root, path]) != root or path == root:
        raise BundleError("index entry of %s names tarball %r, which resolves outside %s" % (name, file_name, bundle_dir))
    return path


def checksum_error(tarball, actual):
    """The message for TARBALL whose bytes hash to ACTUAL, in isula-build's words; None when it matches."""
    if not tarball.expected_sha256:
        return "the index gives no sha256 for %s tarball %s" % (tarball.part, tarball.path)
    if actual != tarball.expected_sha256:
        return "check sum for file %s failed: got %s, want %s" % (tarball.path, actual, tarball.expected_sha256)
    return None


def tarball_sha256(tarball):
    """The hex sha256 of TARBALL's file; an error naming it when it cannot be read."""
    try:
        return sha256_of_file(tarball.path, "%s tarball" % tarball.part)
    except OSError as exc:
        raise BundleError("%s tarball %s cannot be read: %s" % (tarball.part, tarball.path, os_reason(exc)))


def check_sum(tarball, actual):
    """Fail when TARBALL's sha256 (ACTUAL) differs from the index's."""
    message = checksum_error(tarball, actual)
    if message:
        raise BundleError(message)
