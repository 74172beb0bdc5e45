# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenSSH signatures of a bundle index: DIR/manifest.sig beside DIR/manifest.

The format is OpenSSH's own, so that plain ssh-keygen makes and checks it:
manifest.sig is exactly what `ssh-keygen -Y sign -f KEY -n fleetimage-bundle
manifest` writes, and trust is an OpenSSH allowed_signers file. Signing the
index signs the bundle: it holds the sha256 of every tarball.

Verification runs ssh-keygen (OpenSSH 8.2 or later) on the index bytes the
caller read once, passed on stdin, so that what was verified is what gets
parsed. The signature is read once too and handed to ssh-keygen as a private
copy. Before ssh-keygen runs, the signature is parsed here (the SSHSIG
format), which tells a malformed signature or one for another namespace
apart from an untrusted one, and gives the signer's key fingerprint even
when ssh-keygen refuses it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import shutil
import struct
import subprocess
import tempfile

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import check_regular_file, read_bounded_file

NAMESPACE = "fleetimage-bundle"
SIGNATURE_FILE_NAME = "manifest.sig"
SIGNATURE_MAX_BYTES = 64 * 1024
SSH_KEYGEN_TIMEOUT = 120

_ARMOR_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_ARMOR_END = "-----END SSH SIGNATURE-----"
_MAGIC = b"SSHSIG"
_PRIVATE_KEY_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----"
_PRIVATE_KEY_END = "-----END OPENSSH PRIVATE KEY-----"


# --------------------------------------------------------------------------
# what the modules call
# --------------------------------------------------------------------------

def signature_argument_spec():
    """The argument spec of the options that check manifest.sig (doc fragment fleetimage.separated.signature)."""
    return dict(allowed_signers=dict(type="path"), revoked_keys=dict(type="path"))


def for_load(params, bundle_dir, index_bytes):
    """The load's `signature` result; with params['allowed_signers'], raises unless INDEX_BYTES verify."""
    if not params.get("allowed_signers"):
        return {"verified": False, "principal": None, "key": None}
    if params.get("skip_check"):
        raise BundleError("allowed_signers and skip_check cannot be used together: the signature covers the "
                          "tarballs only through the checksums that skip_check skips")
    return verify_index(index_bytes, bundle_dir, params["allowed_signers"], params.get("revoked_keys"))


def for_info(params, bundle_dir, index_bytes):
    """Info's `signature` result: checked with params['allowed_signers'], else only described; never raises for a bad one."""
    if not bundle_dir:
        return None
    if params.get("allowed_signers"):
        return check_index(index_bytes, bundle_dir, params["allowed_signers"], params.get("revoked_keys"))
    report = {"present": False, "verified": None, "principal": None, "key": None, "error": None}
    try:
        armored = read_signature(bundle_dir)
        if armored is not None:
            report["present"] = True
            report["key"] = parse_signature(armored)["key"]
    except BundleError as exc:
        report["error"] = "signature %s is malformed: %s" % (os.path.join(bundle_dir, SIGNATURE_FILE_NAME), exc)
    return report


def verify_index(index_bytes, bundle_dir, allowed_signers, revoked_keys=None):
    """Verify BUNDLE_DIR's manifest.sig over INDEX_BYTES; return {verified, principal, key}.

    Raises BundleError saying which: missing, malformed, another namespace,
    a key the allowed signers do not hold, expired or not yet valid, revoked,
    or an index that is not the one that was signed.
    """
    report = check_index(index_bytes, bundle_dir, allowed_signers, revoked_keys)
    if not report["verified"]:
        raise BundleError(report["error"])
    return dict((k, report[k]) for k in ("verified", "principal", "key"))


def check_index(index_bytes, bundle_dir, allowed_signers, revoked_keys=None):
    """Like verify_index, but a bad signature is reported, not raised.

    Returns {present, verified, principal, key, error}; `key` is the
    fingerprint of the key the signature names, even when it is refused.
    Problems with the trust files themselves (ALLOWED_SIGNERS, REVOKED_KEYS
    unreadable) and a missing ssh-keygen still raise: they are the caller's
    set-up, not the bundle's.
    """
    _check_trust_file(allowed_signers, "allowed signers")
    if revoked_keys:
        _check_trust_file(revoked_keys, "revoked keys")
    sig_path = os.path.join(bundle_dir, SIGNATURE_FILE_NAME)
    report = {"present": False, "verified": False, "principal": None, "key": None, "error": None}
    try:
        armored = _read_signature(sig_path)
    except BundleError as exc:
        report["error"] = str(exc)
        return report
    if armored is None:
        report["error"] = "bundle %s is not signed: it has no %s" % (bundle_dir, SIGNATURE_FILE_NAME)
        return report
    report["present"] = True
    try:
        parsed = parse_signature(armored)
    except BundleError as exc:
        report["error"] = "signature %s is malformed: %s" % (sig_path, exc)
        return report
    report["key"] = parsed["key"]
    if parsed["namespace"] != NAMESPACE:
        report["error"] = "signature %s is for the namespace %r, not %r: it was not made to sign a bundle" % (
            sig_path, parsed["namespace"], NAMESPACE)
        return report
    with _private_copy(armored) as sig_copy:
        principals, why = _find_principals(sig_copy, allowed_signers)
        if not principals:
            report["error"] = "signature %s is by key %s, which %s" % (sig_path, parsed["key"], why)
            return report
        # A line may list several principals: the first that verifies counts. (find-principals names
        # only the first line that lists the key: docs/docsite/rst/signing.rst says to list a key once.)
        failures = []
        for principal in principals:
            why = _verify(sig_copy, index_bytes, allowed_signers, principal, revoked_keys)
            if why is None:
                report.update(verified=True, principal=principal)
                return report
            failures.append((principal, why))
        principal, why = failures[0]
        if revoked_keys and _verify(sig_copy, index_bytes, allowed_signers, principal, None) is None:
            report["error"] = "signature %s is by key %s (%s), which is revoked by %s" % (
                sig_path, parsed["key"], principal, revoked_keys)
            return report
    report["error"] = "signature %s does not verify for %s (key %s): %s" % (sig_path, principal, parsed["key"], why)
    return report


def sign_index(index_bytes, signing_key):
    """The armored signature of INDEX_BYTES by SIGNING_KEY, as `ssh-keygen -Y sign -n fleetimage-bundle` writes it.

    SIGNING_KEY is a private key file without a passphrase, or a public key
    file whose private half ssh-agent holds (SSH_AUTH_SOCK set).
    """
    _check_trust_file(signing_key, "signing key")
    done = _ssh_keygen(["-Y", "sign", "-f", signing_key, "-n", NAMESPACE], index_bytes)
    if done.returncode != 0 or _ARMOR_BEGIN.encode() not in done.stdout:
        raise BundleError("signing the index with %s failed (a private key with a passphrase cannot be used "
                          "unattended; give its public key and load it into ssh-agent): %s"
                          % (signing_key, _last_line(done.stderr) or "ssh-keygen exited %d" % done.returncode))
    return done.stdout


def signing_public_key(signing_key):
    """The public key blob of SIGNING_KEY (a private key file in OpenSSH's format, or a public key file)."""
    _check_trust_file(signing_key, "signing key")
    try:
        with open(signing_key, "rb") as f:
            text = f.read(SIGNATURE_MAX_BYTES).decode("ascii", "replace").strip()
    except OSError as exc:
        raise BundleError("signing key %s cannot be read: %s" % (signing_key, os_reason(exc)))
    if text.startswith(_PRIVATE_KEY_BEGIN):
        return _private_key_public_blob(text, signing_key)
    fields = text.split()
    if len(fields) >= 2:
        try:
            blob = base64.b64decode(fields[1], validate=True)
        except (binascii.Error, ValueError):
            blob = None
        if blob and _ssh_string(blob, 0)[0].decode("ascii", "replace") == fields[0]:
            return blob
    # Another private key format (PEM): ask ssh-keygen, which prints the public half.
    done = _ssh_keygen(["-y", "-f", signing_key], b"")
    fields = done.stdout.decode("ascii", "replace").split()
    if done.returncode != 0 or len(fields) < 2:
        raise BundleError("signing key %s is neither an OpenSSH private key without a passphrase nor a public key: %s"
                          % (signing_key, _last_line(done.stderr) or "ssh-keygen could not read it"))
    return base64.b64decode(fields[1])


def signed_by(index_bytes, armored, public_blob):
    """Whether ARMORED is a valid signature of INDEX_BYTES, in this namespace, by the key PUBLIC_BLOB.

    No allowed_signers is involved: this asks only whether an existing
    signature is already the one a save with that key would write.
    """
    try:
        parsed = parse_signature(armored)
    except BundleError:
        return False
    if parsed["namespace"] != NAMESPACE or (public_blob is not None and parsed["public_key"] != public_blob):
        return False
    with _private_copy(armored) as sig_copy:
        done = _ssh_keygen(["-Y", "check-novalidate", "-n", NAMESPACE, "-s", sig_copy], index_bytes)
    return done.returncode == 0


def read_signature(bundle_dir):
    """The bytes of BUNDLE_DIR's manifest.sig, or None when it has none."""
    return _read_signature(os.path.join(bundle_dir, SIGNATURE_FILE_NAME))


def fingerprint(public_blob):
    """The key's fingerprint as ssh-keygen prints it: SHA256:<base64, no padding>."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(public_blob).digest()).decode("ascii").rstrip("=")


# --------------------------------------------------------------------------
# the SSHSIG format (OpenSSH's PROTOCOL.sshsig)
# --------------------------------------------------------------------------

def parse_signature(armored):
    """{namespace, public_key, key, hash_algorithm} of an armored SSH signature; BundleError when malformed."""
    text = armored.decode("ascii", "replace").strip() if isinstance(armored, bytes) else armored.strip()
    if not text.startswith(_ARMOR_BEGIN):
        raise BundleError("it does not start with %s" % _ARMOR_BEGIN)
    if not text.endswith(_ARMOR_END):
        raise BundleError("it does not end with %s" % _ARMOR_END)
    body = "".join(text[len(_ARMOR_BEGIN):-len(_ARMOR_END)].split())
    try:
        blob = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError("its body is not base64")
    if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + 4:
        raise BundleError("it is not an SSHSIG blob")
    (version,) = struct.unpack(">I", blob[len(_MAGIC):len(_MAGIC) + 4])
    if version != 1:
        raise BundleError("its version is %d, not 1" % version)
    position = len(_MAGIC) + 4
    fields = []
    for _name in ("public_key", "namespace", "reserved", "hash_algorithm", "signature"):
        value, position = _ssh_string(blob, position)
        fields.append(value)
    public_key, namespace, _reserved, hash_algorithm, _signature = fields
    return {
        "namespace": namespace.decode("utf-8", "replace"),
        "public_key": public_key,
        "key": fingerprint(public_key),
        "hash_algorithm": hash_algorithm.decode("ascii", "replace"),
    }


def _ssh_string(blob, position):
    """(the SSH wire string at POSITION, the position after it)."""
    if position + 4 > len(blob):
        raise BundleError("it is truncated")
    (length,) = struct.unpack(">I", blob[position:position + 4])
    end = position + 4 + length
    if end > len(blob):
        raise BundleError("it is truncated")
    return blob[position + 4:end], end


def _private_key_public_blob(text, path):
    """The public key stored, unencrypted, in the header of an OpenSSH private key file."""
    body = "".join(text[len(_PRIVATE_KEY_BEGIN):].split(_PRIVATE_KEY_END)[0].split())
    try:
        blob = base64.b64decode(body, validate=True)
        magic = b"openssh-key-v1\0"
        if not blob.startswith(magic):
            raise BundleError("no openssh-key-v1 header")
        position = len(magic)
        for _name in ("cipher", "kdf", "kdf_options"):
            _value, position = _ssh_string(blob, position)
        (count,) = struct.unpack(">I", blob[position:position + 4])
        if count < 1:
            raise BundleError("it holds no key")
        return _ssh_string(blob, position + 4)[0]
    except (binascii.Error, ValueError, struct.error, BundleError) as exc:
        raise BundleError("signing key %s is not a valid OpenSSH private key: %s" % (path, exc))


# --------------------------------------------------------------------------
# ssh-keygen
# --------------------------------------------------------------------------

def _find_principals(sig_path, allowed_signers):
    """([the principals ALLOWED_SIGNERS gives the signature's key], None), or ([], why none)."""
    done = _ssh_keygen(["-Y", "find-principals", "-s", sig_path, "-f", allowed_signers], b"")
    principals = [line.strip() for line in done.stdout.decode("utf-8", "replace").splitlines() if line.strip()]
    if done.returncode == 0 and principals:
        return principals, None
    errors = done.stderr.decode("utf-8", "replace")
    if "key has expired" in errors:
        return [], "has expired in %s (%s)" % (allowed_signers, _detail(errors, "key has expired"))
    if "key is not yet valid" in errors:
        return [], "is not yet valid in %s (%s)" % (allowed_signers, _detail(errors, "key is not yet valid"))
    return [], "is not one of the allowed signers in %s" % allowed_signers


def _verify(sig_path, index_bytes, allowed_signers, principal, revoked_keys):
    """None when ssh-keygen -Y verify accepts the signature of INDEX_BYTES; else why not."""
    args = ["-Y", "verify", "-f", allowed_signers, "-I", principal, "-n", NAMESPACE, "-s", sig_path]
    if revoked_keys:
        args += ["-r", revoked_keys]
    done = _ssh_keygen(args, index_bytes)
    if done.returncode == 0:
        return None
    errors = done.stderr.decode("utf-8", "replace")
    if "incorrect signature" in errors:
        return "the index is not the one that was signed (changed since)"
    if "not permitted for use in signature namespace" in errors:
        return "%s does not allow that key for the namespace %s" % (allowed_signers, NAMESPACE)
    if "key has expired" in errors:
        return "the key has expired in %s (%s)" % (allowed_signers, _detail(errors, "key has expired"))
    return _last_line(errors) or "ssh-keygen -Y verify refused it"


def _ssh_keygen(args, stdin_bytes):
    executable = shutil.which("ssh-keygen")
    if executable is None:
        raise BundleError("ssh-keygen (OpenSSH 8.2 or later) is needed to sign or verify a bundle, "
                          "and is not on PATH")
    env = dict(os.environ, LC_ALL="C")  # its messages are matched below
    try:
        # A session of its own: no terminal to ask a passphrase on, so a locked key fails instead of waiting.
        return subprocess.run([executable] + args, input=stdin_bytes, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, timeout=SSH_KEYGEN_TIMEOUT,
                              start_new_session=True, check=False)
    except subprocess.TimeoutExpired:
        raise BundleError("ssh-keygen %s did not finish within %d seconds" % (" ".join(args[:2]), SSH_KEYGEN_TIMEOUT))
    except OSError as exc:
        raise BundleError("ssh-keygen could not be run: %s" % (os_reason(exc)))


@contextlib.contextmanager
def _private_copy(data):
    """A temporary file holding DATA, removed on exit: ssh-keygen reads a signature only from a path."""
    fd, path = tempfile.mkstemp(prefix="fleetimage-sig-", suffix=".sig")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode("ascii"))
        yield path
    finally:
        os.unlink(path)


def _read_signature(path):
    """The signature's bytes; None when there is none."""
    if not os.path.exists(path):
        return None
    return read_bounded_file(path, "signature", SIGNATURE_MAX_BYTES)


def _check_trust_file(path, what):
    check_regular_file(path, what + " file")
    if not os.access(path, os.R_OK):
        raise BundleError("%s file %s cannot be read: permission denied" % (what, path))


def _detail(errors, marker):
    """The part of ssh-keygen's line holding MARKER after the marker, e.g. the dates of an expired key."""
    for line in errors.splitlines():
        if marker in line:
            return line.split(marker, 1)[1].strip(" :") or line.strip()
    return ""


def _last_line(data):
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
