# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller's side of separated_image_load with src or url: the bundle index, read and checked here.

The index comes from the bundle folder `src`, or from the first mirror of
`url` that serves it. It is checked with the load module's own rules
(module_utils/_bundle/selection.py), and with allowed_signers its signature
is verified here, before any host is contacted. What the hosts get is the
index text byte for byte, the signature text, and the trust files' bytes.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile

from ansible.module_utils.urls import open_url

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import index as _bundle_index
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import selection
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import signature
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import read_bounded_file
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.cache_folder import RESERVED_FILE_NAMES, mirror_list

TRUST_FILE_MAX_BYTES = 1024 * 1024


def read_bundle(args):
    """{names, index_text, signature_text, trust (base64 texts), signature, location} for the task ARGS."""
    names = args.get("names") or ([args["name"]] if args.get("name") else [])
    if isinstance(names, str):
        names = names.split(",")
    if not names:
        raise BundleError("give name or names: the apps of the bundle to load")
    src = args.get("src")
    signed = bool(args.get("allowed_signers"))
    if args.get("revoked_keys") and not signed:
        raise BundleError("revoked_keys needs allowed_signers")
    if signed and args.get("skip_check"):
        raise BundleError("allowed_signers and skip_check cannot be used together: the signature covers the "
                          "tarballs only through the checksums that skip_check skips")
    if src:
        location = src
        index_bytes = _bundle_index.read_index_bytes(src)
        signature_bytes = signature.read_signature(src) if signed else None
    else:
        location, index_bytes, signature_bytes = _from_mirrors(args, signed)
    reserved = RESERVED_FILE_NAMES[1:]  # tarballs may not take the names the cache keeps for the index's trust
    wanted = selection.wanted_apps(index_bytes, names, location, verify=not args.get("skip_check"), reserved=reserved)
    index = _bundle_index.parse_index(location, index_bytes)
    try:
        index_text = index_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError("index %s is not UTF-8 text" % os.path.join(location, _bundle_index.INDEX_FILE_NAME))
    bundle = {
        "names": wanted,
        "index": index,
        "index_text": index_text,
        "location": location,
        "signature_text": None,
        "trust": {},
        "signature": {"verified": False, "principal": None, "key": None},
    }
    if signed:
        bundle["signature"] = _verify(index_bytes, signature_bytes, src, args)
        bundle["signature_text"] = signature_bytes.decode("ascii") if isinstance(signature_bytes, bytes) else signature_bytes
        bundle["trust"]["allowed_signers"] = _trust_file(args["allowed_signers"], "allowed signers")
        if args.get("revoked_keys"):
            bundle["trust"]["revoked_keys"] = _trust_file(args["revoked_keys"], "revoked keys")
    return bundle


def files_of(bundle, names):
    """The distinct tarball file names NAMES need, base and lib first: [(file, sha256)]."""
    files = {}
    for part in ("base", "lib", "app"):
        for name in names:
            entry = bundle["index"][name]
            if entry.get(part):
                files.setdefault(entry[part], entry.get(part + "Hash", ""))
    return list(files.items())


def _verify(index_bytes, signature_bytes, src, args):
    if src:
        return signature.verify_index(index_bytes, src, args["allowed_signers"], args.get("revoked_keys"))
    folder = tempfile.mkdtemp(prefix="fleetimage-signature-")
    try:
        with open(os.path.join(folder, _bundle_index.INDEX_FILE_NAME), "wb") as f:
            f.write(index_bytes)
        if signature_bytes is not None:
            with open(os.path.join(folder, signature.SIGNATURE_FILE_NAME), "wb") as f:
                f.write(signature_bytes)
        try:
            return signature.verify_index(index_bytes, folder, args["allowed_signers"], args.get("revoked_keys"))
        except BundleError as exc:
            raise BundleError(str(exc).replace(folder, "the mirror's bundle"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _trust_file(path, what):
    return base64.b64encode(read_bounded_file(path, what, TRUST_FILE_MAX_BYTES)).decode("ascii")


def _from_mirrors(args, signed):
    """(url, index bytes, signature bytes or None) from the first mirror that serves the index."""
    tried = []
    for base in mirror_list(args.get("url")):
        try:
            index_bytes = _get(args, base + "/" + _bundle_index.INDEX_FILE_NAME, _bundle_index.INDEX_MAX_BYTES)
            signature_bytes = None
            if signed:
                signature_bytes = _get(args, base + "/" + signature.SIGNATURE_FILE_NAME, signature.SIGNATURE_MAX_BYTES,
                                       missing_ok=True)
        except BundleError as exc:
            tried.append("%s (%s)" % (base, exc))
            continue
        return base, index_bytes, signature_bytes
    raise BundleError("no mirror served the bundle index; tried: %s" % ("; ".join(tried) or "no url given"))


def _get(args, url, max_bytes, missing_ok=False):
    username = args.get("url_username") or None
    try:
        response = open_url(url, method="GET", headers=args.get("headers") or {}, url_username=username,
                            url_password=args.get("url_password") or None, force_basic_auth=bool(username),
                            use_proxy=args.get("use_proxy", True), client_cert=args.get("client_cert") or None,
                            client_key=args.get("client_key") or None, ca_path=args.get("ca_path") or None,
                            validate_certs=args.get("validate_certs", True), timeout=args.get("timeout") or 60)
        try:
            data = response.read(max_bytes + 1)
        finally:
            response.close()
    except Exception as exc:  # HTTPError, URLError, timeouts: this mirror is not asked again
        if missing_ok and getattr(exc, "code", None) == 404:
            return None
        code = getattr(exc, "code", None)
        raise BundleError("%s: %s" % (url, "HTTP %s" % code if code else getattr(exc, "reason", None) or exc))
    if len(data) > max_bytes:
        raise BundleError("%s is larger than %d bytes" % (url, max_bytes))
    return data
