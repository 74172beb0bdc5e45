# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What separated_image_info reports, independent of Ansible. It changes nothing.

per app: store.lookup(name) -> with a bundle folder: the index entry, its
tarballs resolved inside the folder, whether each exists -> the state: does
the store hold the bundle's image under the name (presence.py; reads the app
tarball only when the store's record does not decide), or, with an index but
no folder, what the store's record says -> with verify: each distinct tarball
read once (hashes, members, layers), then each app's tarballs checked
together as one image.
"""

from __future__ import annotations

import os
import stat

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import index as _bundle_index
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import signature
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import verify as _bundle_verify
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._ops import presence as _presence
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import normalize_name
from ansible_collections.fleetimage.separated.plugins.module_utils._store.registry import open_store


def bundle_info(params, warn=None):
    """Report on params['names'] (default: every app of the bundle params['dir']); return the module result.

    WARN(message) is told what the module could not use (an engine state file it does not trust).
    """
    bundle_dir = params.get("dir")
    given_index = params.get("index")
    if not bundle_dir and not params.get("names") and not given_index:
        raise BundleError("give names, the dir of a bundle, its index, or names with either")
    if bundle_dir and given_index:
        raise BundleError("give the dir of a bundle or its index, not both")
    if given_index is not None and not isinstance(given_index, dict):
        raise BundleError("index must be a bundle index: a mapping of app name to entry")
    index_bytes = _bundle_index.read_index_bytes(bundle_dir) if bundle_dir else None
    signed = signature.for_info(params, bundle_dir, index_bytes)
    index = _bundle_index.parse_index(bundle_dir, index_bytes) if bundle_dir else given_index
    names = list(dict.fromkeys(normalize_name(n) for n in params.get("names") or [])) or sorted(index)
    store = open_store(params, warn=warn)

    apps, tarballs_of = {}, {}
    for name in names:
        found = store.lookup(name)
        app = {
            "state": _presence.ABSENT if found is None else _presence.UNKNOWN,
            "present": found is not None,
            "image_id": found["id"] if found else None,
            "bundle_image_id": None,
            "base_image": None,
            "lib_image": None,
            "tarballs": [],
            "verified": None,
            "error": None,
        }
        if bundle_dir:
            entry = _bundle_index.app_entry(index, name, bundle_dir)
            tarballs_of[name] = _bundle_index.resolve_tarballs(entry, name, bundle_dir)
            app["tarballs"] = [_describe(t, entry) for t in tarballs_of[name]]
            app["state"] = _state_with_tarball(found, tarballs_of[name][0], name)
        elif index is not None:
            entry = _bundle_index.app_entry(index, name, "the index given")
            app["state"] = _presence.state_from_record(found, entry.get("appHash"))
        if index is not None:
            app["base_image"] = entry.get("baseImageName") or None
            app["lib_image"] = entry.get("libImageName") or None
            # With a bundle, present means the bundle's image; without, any image under the name.
            app["present"] = app["state"] == _presence.BUNDLE
        apps[name] = app

    if bundle_dir and params.get("verify"):
        _verify(apps, tarballs_of)

    present = [name for name in names if apps[name]["present"]]
    missing = [name for name in names if not apps[name]["present"]]
    return {
        "changed": False,
        "apps": apps,
        "present": present,
        "missing": missing,
        "stale": [name for name in names if apps[name]["state"] == _presence.OTHER],
        "files": _files(apps, names),
        "files_needed": _files(apps, missing),
        "signature": signed,
    }


def _state_with_tarball(found, app_tarball, name):
    """The state, reading the app tarball if the store's record does not decide; UNKNOWN when it cannot be read."""
    try:
        return _presence.state_of(found, app_tarball, name)
    except BundleError:
        return _presence.UNKNOWN  # its tarball entry says why (missing, not a tarball...)


def _describe(tarball, entry):
    size, error = _size(tarball)
    return {
        "part": tarball.part,
        "file": entry.get(tarball.part),
        "path": tarball.path,
        "size": size,
        "sha256": tarball.expected_sha256 or None,
        "exists": size is not None,
        "verified": None,
        "error": error,
    }


def _size(tarball):
    """(size, None) of a regular file, or (None, why it is not one)."""
    try:
        st = os.stat(tarball.path)
    except OSError as exc:
        return None, "%s tarball %s cannot be read: %s" % (tarball.part, tarball.path, os_reason(exc))
    if not stat.S_ISREG(st.st_mode):
        return None, "%s tarball %s is not a regular file" % (tarball.part, tarball.path)
    return st.st_size, None


def _verify(apps, tarballs_of):
    """Read each distinct existing tarball once; fill in 'verified' and 'error' per tarball and per app."""
    checks = {}
    for name, tarballs in tarballs_of.items():
        for tarball, described in zip(tarballs, apps[name]["tarballs"]):
            if not described["exists"]:
                described["verified"] = False
                continue
            key = (tarball.path, tarball.expected_sha256)
            if key not in checks:
                checks[key] = _bundle_verify.check_tarball(tarball)
            described["verified"] = checks[key].error is None
            described["error"] = checks[key].error
        app = apps[name]
        unreadable = [t["file"] for t in app["tarballs"] if not t["verified"]]
        if unreadable:
            app["verified"] = False
            app["error"] = "not checked as a whole: tarball %s failed its own check" % ", ".join(unreadable)
            continue
        parts = [(tarball, checks[(tarball.path, tarball.expected_sha256)].facts) for tarball in tarballs]
        try:
            image = _bundle_verify.check_image(name, parts)
        except BundleError as exc:
            app["verified"], app["error"] = False, str(exc)
        else:
            app["verified"], app["bundle_image_id"] = True, image.image_id


def _files(apps, names):
    """The distinct tarballs NAMES need: [{file, path, sha256, size}], sorted by file name."""
    files = {}
    for name in names:
        for tarball in apps[name]["tarballs"]:
            key = (tarball["path"], tarball["sha256"])
            files.setdefault(key, dict((k, tarball[k]) for k in ("file", "path", "sha256", "size")))
    return sorted(files.values(), key=lambda f: (f["file"], f["path"]))
