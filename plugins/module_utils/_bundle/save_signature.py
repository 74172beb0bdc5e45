# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A save's manifest.sig: never one that does not match the index the save leaves.

    new bundle (written or replaced): signed in the private folder, so the
        index and its signature are renamed into place together; without a
        signing key the new bundle has no manifest.sig (an old one goes with
        the old bundle)
    DEST already holds this bundle, byte for byte:
        with a signing key: an existing signature by that key over this index
            is kept (no rewrite); anything else is replaced by a new signature,
            written beside the index and renamed over manifest.sig
        without: a valid signature over this index is kept (it was signed by
            someone, e.g. CI with plain ssh-keygen); an invalid one is removed

The result's `signature` says which: {action, key}.
"""

from __future__ import annotations

import os

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import signature
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.index import INDEX_FILE_NAME
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import fsync_folder, write_new_file

CHANGING_ACTIONS = ("signed", "removed", "would_sign", "would_remove")


def signing_key_blob(signing_key):
    """The public key of SIGNING_KEY, or None without one; fails early on a key that cannot be used."""
    return signature.signing_public_key(signing_key) if signing_key else None


def sign_new_bundle(new_dir, dest, signing_key, public_blob):
    """Sign the complete bundle in NEW_DIR, before it is renamed to DEST."""
    if signing_key:
        _write_signature(new_dir, signature.sign_index(_index_bytes(new_dir), signing_key))
        return _report("signed", public_blob)
    return _report("removed" if _has_signature(dest) else "none", None)


def settle_unchanged(dest, scratch, signing_key, public_blob):
    """DEST holds this very bundle: keep its signature, sign it, or remove a stale one."""
    action, key = _decide(dest, signing_key, public_blob)
    path = os.path.join(dest, signature.SIGNATURE_FILE_NAME)
    try:
        if action == "would_sign":
            _write_signature(scratch, signature.sign_index(_index_bytes(dest), signing_key))
            os.rename(os.path.join(scratch, signature.SIGNATURE_FILE_NAME), path)
            fsync_folder(dest)
            action = "signed"
        elif action == "would_remove":
            os.unlink(path)
            fsync_folder(dest)
            action = "removed"
    except OSError as exc:
        raise BundleError("updating the signature %s failed: %s" % (path, os_reason(exc)))
    return _report(action, key)


def predict(dest, unchanged, signing_key, public_blob):
    """Check mode: what a real run would do with DEST's signature."""
    if unchanged:
        return _report(*_decide(dest, signing_key, public_blob))
    if signing_key:
        return _report("would_sign", public_blob)
    return _report("would_remove" if _has_signature(dest) else "none", None)


def _decide(dest, signing_key, public_blob):
    """(action, key blob) for a DEST that keeps its index: kept, none, would_sign or would_remove."""
    existing = signature.read_signature(dest)
    index_bytes = _index_bytes(dest) if existing is not None or signing_key else None
    if signing_key:
        if existing is not None and signature.signed_by(index_bytes, existing, public_blob):
            return "kept", public_blob
        return "would_sign", public_blob
    if existing is None:
        return "none", None
    if signature.signed_by(index_bytes, existing, None):
        return "kept", signature.parse_signature(existing)["public_key"]
    return "would_remove", None


def _report(action, public_blob):
    return {"action": action, "key": signature.fingerprint(public_blob) if public_blob else None}


def _has_signature(folder):
    return os.path.lexists(os.path.join(folder, signature.SIGNATURE_FILE_NAME))


def _index_bytes(folder):
    with open(os.path.join(folder, INDEX_FILE_NAME), "rb") as f:
        return f.read()


def _write_signature(folder, armored):
    write_new_file(os.path.join(folder, signature.SIGNATURE_FILE_NAME), armored, 0o644)
