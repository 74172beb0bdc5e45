# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""separated_image_load with a bundle that is not on the host yet: the host side.

The controller (the action plugin, plugins/action/separated_image_load.py)
has read and checked the index; it sends the index text with each step.

ask:   which of the names the store holds as the bundle's image (the info
       module's own rules, info.bundle_info), and which tarballs the missing
       ones need that the cache folder lacks or holds damaged (sha256 against
       the index). Creates the cache folder, nothing else.
load:  files the controller sent under temporary names are hashed and only
       then renamed to their names; with mirrors, what is still lacking is
       fetched (fetch.py); the index is written last; each missing name is
       loaded by load.load_image, which reads the cached index again and
       verifies every tarball while it loads.

A file is trusted by its name in the cache only after it was hashed under
that name or before the rename to it; a transfer cut short leaves a
temporary name, which no step reads and the next ask removes.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import tempfile
import time

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import index as _bundle_index
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.cache_folder import (
    ALLOWED_SIGNERS_FILE, PART_PATTERN, REVOKED_KEYS_FILE)
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import signature
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import fsync_folder
from ansible_collections.fleetimage.separated.plugins.module_utils._io.hashing import sha256_of_file
from ansible_collections.fleetimage.separated.plugins.module_utils._ops import fetch as _fetch
from ansible_collections.fleetimage.separated.plugins.module_utils._ops import info as _info
from ansible_collections.fleetimage.separated.plugins.module_utils._ops import load as _load
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import normalize_name

STALE_PART_SECONDS = 3600
_STORE_KEYS = ("engine", "store", "executable", "namespace", "engine_state")


def ask(params, check_mode=False):
    """Which of params['names'] the store holds, and which tarballs the others need."""
    plan = _plan(params)
    if plan["needing"] and not check_mode:
        _prepare_folder(params["dir"])
    return _public(plan)


def load(params, check_mode=False, diff=False, warn=None, open_url=None):
    """Accept the staged files, fetch what is lacking from params['url'], write the index, load the missing names."""
    # Sent from the controller (_staged given, maybe empty): the ask hashed the cached files a moment ago and
    # the load hashes every tarball again while it reads it; with mirrors, what to fetch is decided here.
    plan = _plan(params, hash_cached=params.get("_staged") is None and not params.get("skip_check"))
    bundle_dir = params["dir"]
    result = _public(plan)
    result.update(changed=False, fetched=[], mirrors_skipped=[], apps={})
    for name in plan["present"]:
        result["apps"][name] = {"action": "present", "image_id": plan["image_ids"].get(name)}
    if not plan["needing"]:
        _discard_staged(bundle_dir, params.get("_staged") or {})
        return result
    if check_mode:
        _discard_staged(bundle_dir, params.get("_staged") or {})
        result.update(changed=True, would_load=[] if params.get("stage_only") else plan["needing"])
        for name in result["would_load"]:
            result["apps"][name] = {"action": "would_load", "image_id": None}
        return result

    _prepare_folder(bundle_dir)
    _accept_staged(bundle_dir, plan["files"], params.get("_staged") or {}, verify=not params.get("skip_check"))
    lacking = [f for f in plan["files"] if not _intact(f)]
    if lacking:
        if not params.get("url"):
            raise BundleError("the cache folder %s lacks %s, and no url to fetch it from"
                              % (bundle_dir, ", ".join(f["file"] for f in lacking)))
        for wanted in lacking:
            fetched, skipped = _fetch.fetch_into(params, wanted, bundle_dir, open_url)
            result["fetched"].append(fetched)
            result["mirrors_skipped"].extend(skipped)
            result["changed"] = True
    result["changed"] = _write_index(bundle_dir, plan["index_bytes"], params.get("_signature")) or result["changed"]

    trust, _written = _trust_files(params, bundle_dir)
    if params.get("stage_only"):
        result.update(loaded=[], staged=plan["needing"])
        return result
    for name in plan["needing"]:
        load_params = dict(params, name=name, base=None, lib=None, **trust)
        outcome = _load.load_image(load_params, diff=diff, warn=warn)
        result["apps"][name] = dict(outcome, image_id=outcome["image"].get("id"))
        result["changed"] = result["changed"] or outcome["changed"]
        if diff:
            result.setdefault("diff", []).append(outcome.get("diff"))
    result["loaded"] = [n for n in plan["needing"] if result["apps"][n]["action"] == "loaded"]
    return result


def _plan(params, hash_cached=True):
    bundle_dir = params["dir"]
    if not (bundle_dir or "").strip():
        raise BundleError("dir (the cache folder) may not be empty")
    index_bytes = params["_index"].encode("utf-8")
    index = _bundle_index.parse_index(bundle_dir, index_bytes)
    names = list(dict.fromkeys(normalize_name(n) for n in params["names"]))
    info_params = dict((key, params.get(key)) for key in _STORE_KEYS)
    info_params.update(names=names, index=index)
    held = _info.bundle_info(info_params)
    # Staging fills the cache for every name (a mirror's folder), whatever the host's own store holds.
    # With force, every name is loaded again (the load verifies and re-imports it).
    needing = names if params.get("stage_only") or params.get("force") else held["missing"]
    files = {}
    for name in needing:
        entry = _bundle_index.app_entry(index, name, bundle_dir)
        for tarball in _bundle_index.resolve_tarballs(entry, name, bundle_dir):
            file_name = entry[tarball.part]
            if os.path.dirname(file_name):
                raise BundleError("index entry of %s names %s tarball %r, which is not a plain file name"
                                  % (name, tarball.part, file_name))
            files.setdefault(file_name, {"file": file_name, "path": os.path.join(os.path.abspath(bundle_dir), file_name),
                                         "sha256": tarball.expected_sha256, "part": tarball.part})
    ordered = sorted(files.values(), key=lambda f: ({"base": 0, "lib": 1}.get(f["part"], 2), f["file"]))
    # skip_check: the index may give no sha256; a cached file is taken for what its name says, as the load takes it.
    hash_cached = hash_cached and not params.get("skip_check")
    for wanted in ordered:
        wanted["intact"] = _intact(wanted) if hash_cached else _regular(wanted["path"])
    return {
        "names": names,
        "present": held["present"],
        "missing": held["missing"],
        "needing": needing,
        "stale": held["stale"],
        "image_ids": dict((n, held["apps"][n]["image_id"]) for n in held["present"]),
        "files": ordered,
        "index_bytes": index_bytes,
    }


def _public(plan):
    return {
        "changed": False,
        "present": plan["present"],
        "missing": plan["missing"],
        "needing": plan["needing"],
        "stale": plan["stale"],
        "images": plan["image_ids"],
        "files": [dict((k, f[k]) for k in ("file", "sha256", "intact")) for f in plan["files"]],
    }


def _regular(path):
    return os.path.isfile(path) and not os.path.islink(path)


def _intact(wanted):
    """Whether the cache holds WANTED as a regular file whose sha256 is the index's."""
    if wanted.get("intact"):
        return True
    if not _regular(wanted["path"]):
        return False
    try:
        return sha256_of_file(wanted["path"]) == wanted["sha256"]
    except OSError:
        return False


def _prepare_folder(bundle_dir):
    """Create the cache folder, check that it can be written, and remove parts left by a cut transfer."""
    try:
        os.makedirs(bundle_dir, mode=0o755, exist_ok=True)
    except OSError as exc:
        raise BundleError("cache folder %s cannot be created: %s" % (bundle_dir, exc.strerror or exc))
    if not os.path.isdir(bundle_dir) or not os.access(bundle_dir, os.W_OK | os.X_OK):
        raise BundleError("cache folder %s cannot be written by this user" % bundle_dir)
    now = time.time()
    for entry in os.listdir(bundle_dir):
        path = os.path.join(bundle_dir, entry)
        if PART_PATTERN.match(entry) and os.path.isfile(path) and now - os.lstat(path).st_mtime > STALE_PART_SECONDS:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _staged_path(bundle_dir, file_name, temp_name):
    """Where the controller put FILE_NAME: a temporary name in the cache folder, or (with become, when the
    connection's user may not write the cache folder) an absolute path in the connection's temporary folder."""
    match = PART_PATTERN.match(os.path.basename(temp_name or ""))
    if not match or match.group(1) != file_name or (not os.path.isabs(temp_name) and "/" in temp_name):
        raise BundleError("staged file %r is not a temporary name of %s" % (temp_name, file_name))
    return os.path.join(bundle_dir, temp_name)  # an absolute TEMP_NAME stays as it is


def _accept_staged(bundle_dir, files, staged, verify=True):
    """Hash each staged file; rename it to its name only when it matches the index."""
    by_name = dict((f["file"], f) for f in files)
    try:
        for file_name, temp_name in sorted(staged.items()):
            path = _staged_path(bundle_dir, file_name, temp_name)
            wanted = by_name.get(file_name)
            if wanted is None:
                continue  # not needed any more (loaded meanwhile): discarded below
            if not os.path.isfile(path) or os.path.islink(path):
                raise BundleError("the file %s sent into %s is not there (transfer cut short?)" % (file_name, bundle_dir))
            if os.path.dirname(path) != os.path.abspath(bundle_dir):
                # Sent to the connection's temporary folder: copied in under a temporary name, and the copy is
                # what gets hashed and renamed.
                copy = os.path.join(bundle_dir, os.path.basename(path))
                shutil.copyfile(path, copy)
                os.unlink(path)
                path = staged[file_name] = copy
            actual = sha256_of_file(path) if verify else wanted["sha256"]
            if actual != wanted["sha256"]:
                raise BundleError("the file %s sent into %s does not match the index (the controller's copy or the "
                                  "transfer is damaged): sha256 %s, the index says %s"
                                  % (file_name, bundle_dir, actual, wanted["sha256"]))
            os.replace(path, wanted["path"])
            wanted["intact"] = True
        fsync_folder(bundle_dir)
    except OSError as exc:
        raise BundleError("the files sent into %s cannot be put in place: %s" % (bundle_dir, exc))
    finally:
        _discard_staged(bundle_dir, staged)


def _discard_staged(bundle_dir, staged):
    for file_name, temp_name in staged.items():
        with contextlib.suppress(BundleError, OSError):
            os.unlink(_staged_path(bundle_dir, file_name, temp_name))


def _write_index(bundle_dir, index_bytes, signature_text):
    """Write the signature, then the index (last: a folder served as a mirror never shows an index ahead of its files)."""
    files = []
    if signature_text:
        files.append((signature.SIGNATURE_FILE_NAME, signature_text.encode("utf-8")))
    files.append((_bundle_index.INDEX_FILE_NAME, index_bytes))
    return _write_files(bundle_dir, files)


def _write_files(bundle_dir, files):
    """Write each (file name, bytes) of FILES into BUNDLE_DIR, in order, each atomically; skip those already equal."""
    changed = False
    for file_name, data in files:
        path = os.path.join(bundle_dir, file_name)
        try:
            with open(path, "rb") as f:
                if f.read(len(data) + 1) == data:
                    continue
        except OSError:
            pass
        try:
            fd, temp = tempfile.mkstemp(prefix=".%s.part-" % file_name, dir=bundle_dir)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(temp, 0o644)
                os.replace(temp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            raise BundleError("the bundle %s cannot be written into %s: %s" % (file_name, bundle_dir, exc.strerror or exc))
        changed = True
    if changed:
        fsync_folder(bundle_dir)
    return changed


def _trust_files(params, bundle_dir):
    """Write the allowed signers and revoked keys the controller sent into the cache folder; their paths.

    They sit beside the index and its signature, so that a later load from this folder alone (the rollout
    role's tag rollout_load) verifies against what the controller trusted.
    """
    paths = {"allowed_signers": None, "revoked_keys": None}
    files = []
    for key, file_name in (("_allowed_signers", ALLOWED_SIGNERS_FILE), ("_revoked_keys", REVOKED_KEYS_FILE)):
        if params.get(key):  # a KRL is binary: both travel in base64
            paths[file_name] = os.path.join(bundle_dir, file_name)
            files.append((file_name, base64.b64decode(params[key])))
    return paths, _write_files(bundle_dir, files)
