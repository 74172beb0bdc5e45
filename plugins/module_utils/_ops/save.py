# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What separated_image_save does, independent of Ansible.

names, base, lib, rename -> isula-build's command-line checks -> the source's
images (metadata only) -> isula-build's image checks -> the planned bundle
-> DEST compared with it (holds another bundle and not force: fail, nothing
written) -> (check mode: done) -> the bundle written into a private folder
beside DEST -> same bytes as DEST: discarded, unchanged; else renamed into place.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import dest_folder, save_signature
from ansible_collections.fleetimage.separated.plugins.module_utils._ops import save_checks as _save_checks
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.plan import plan_bundle
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.index import INDEX_FILE_NAME
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.writer import write_bundle
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.save_catalog import checked_name, select_image
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.save_sources import read_images

SCRATCH_PREFIX = ".%s.save-"


def save_bundle(params, check_mode=False):
    """Save params['names'] as a bundle in params['dest']; return the module result."""
    dest = os.path.abspath(params["dest"])
    base_name, lib_name = params["base"], params.get("lib") or None
    apps = _app_names(params["names"], base_name, lib_name)
    renames = _renames(params)
    level = params["compression_level"]
    parent = os.path.dirname(dest)
    if not os.path.isdir(parent):
        raise BundleError("cannot write bundle %s: folder %s does not exist" % (dest, parent))
    _check_not_a_store(dest, params)
    signing_key = params.get("signing_key")
    public_blob = save_signature.signing_key_blob(signing_key)

    scratch = None if check_mode else _scratch_folder(dest)
    try:
        wanted = list(dict.fromkeys([typed for typed, name in apps] + [base_name] + ([lib_name] if lib_name else [])))
        candidates, where = read_images(params, wanted, scratch)
        app_images = [select_image(candidates, typed, "app", where).image._replace(name=name) for typed, name in apps]
        base = select_image(candidates, base_name, "base", where).image._replace(name=base_name)
        lib = select_image(candidates, lib_name, "lib", where).image._replace(name=lib_name) if lib_name else None
        planned = plan_bundle(app_images, base, lib, renames, dest)
        found = dest_folder.inspect_destination(dest, planned)
        if found.state == "other" and not params.get("force"):
            raise dest_folder.refuse(dest, found.reason)
        if check_mode:
            signed = save_signature.predict(dest, found.state == "matching", signing_key, public_blob)
            return _predicted(dest, planned, found, signed)

        new_dir = os.path.join(scratch, "bundle")
        index = write_bundle(new_dir, app_images, base, lib, rename=renames, compression_level=level, shown_as=dest)
        if found.state == "matching":
            if _same_index_bytes(new_dir, dest):
                signed = save_signature.settle_unchanged(dest, scratch, signing_key, public_blob)
                return _result(signed["action"] in save_signature.CHANGING_ACTIONS, "unchanged", dest, found.index, signed)
            if not params.get("force"):
                raise dest_folder.refuse(
                    dest, "it is a bundle of these images, but its tarballs are not the bytes this save writes "
                    "(compressed at another level, or by another gzip writer such as isula-build's)")
        signed = save_signature.sign_new_bundle(new_dir, dest, signing_key, public_blob)
        dest_folder.put_in_place(new_dir, dest, scratch)
        return _result(True, "written" if found.state == "absent" else "replaced", dest, index, signed)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _check_not_a_store(dest, params):
    """Refuse a DEST that is an OCI store, or the store the images come from (or a folder inside or above it):
    replacing DEST, even with force, would wipe the store."""
    if os.path.lexists(os.path.join(dest, "oci-layout")):
        raise BundleError("dest %s is an OCI image layout (it holds oci-layout), not a bundle: a save never replaces"
                          " a store, even with force; name another folder" % dest)
    if params.get("source") == "oci" and params.get("store"):
        real_dest, real_store = os.path.realpath(dest), os.path.realpath(params["store"])
        if os.path.commonpath([real_dest, real_store]) in (real_dest, real_store):
            raise BundleError("dest %s and the store %s the images come from are the same folder, or one holds the"
                              " other: the save would replace the store; name another folder" % (dest, params["store"]))


def _app_names(names, base, lib):
    """[(name as typed, normalized)] of the app images, each image name once."""
    normalized = _save_checks.check_request(names, base, lib)
    typed = {}
    for name in names:
        typed.setdefault(checked_name(name, "app"), name)
    return [(typed[name], name) for name in normalized]


def _renames(params):
    if params.get("rename_file"):
        return _save_checks.load_rename_file(params["rename_file"])
    renames = [dict(name=item["name"], rename=item["rename"]) for item in params.get("rename") or []]
    _save_checks.check_renames(renames)
    return renames


def _scratch_folder(dest):
    """A private folder beside DEST (same file system, so the bundle is renamed, never copied, into place)."""
    try:
        return tempfile.mkdtemp(prefix=SCRATCH_PREFIX % os.path.basename(dest), dir=os.path.dirname(dest))
    except OSError as exc:
        raise BundleError("cannot create a temporary folder beside %s: %s" % (dest, os_reason(exc)))


def _same_index_bytes(new_dir, dest):
    with open(os.path.join(new_dir, INDEX_FILE_NAME), "rb") as new, open(os.path.join(dest, INDEX_FILE_NAME), "rb") as old:
        return new.read() == old.read()


def _result(changed, action, dest, index, signed):
    return {
        "changed": changed,
        "action": action,
        "dest": dest,
        "index": index,
        "files": dest_folder.describe_files(dest, index),
        "signature": signed,
    }


def _predicted(dest, planned, found, signed):
    """Check mode's result: what DEST would hold, hashes and sizes unknown until written."""
    if found.state == "matching":
        # The real run writes the bundle again and compares bytes; a DEST of these
        # images compressed otherwise is only found out then (see the module's notes).
        return _result(signed["action"] in save_signature.CHANGING_ACTIONS, "unchanged", dest, found.index, signed)
    return {
        "changed": True,
        "action": "would_write" if found.state == "absent" else "would_replace",
        "dest": dest,
        "index": planned.index,
        "files": [{"name": name, "size": None, "sha256": None} for name in planned.files],
        "signature": signed,
    }
