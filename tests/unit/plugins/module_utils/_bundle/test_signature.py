"""Signed bundles: manifest.sig checked with real ssh-keygen keys, through the module_utils functions.

Every case a verifier must tell apart: a good signature, a changed index, no
signature, a malformed one, another key, another namespace, an expired key, a
key not yet valid, a revoked key (public key list and KRL), a key allowed only
for another namespace; and what load, info and save make of them.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from support.bundles import ISULA_FIXTURE, tree_snapshot
from support.signing import NAMESPACE, PRINCIPAL, sign, ssh_keygen_verify

from support.operations import bundle_info, load_image, save_bundle

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import signature
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError

APP2 = "app2:1"
ARCHIVES = [str(ISULA_FIXTURE / "archives" / (name + ".tar")) for name in ("app1", "app2", "base", "lib")]


def index_bytes(bundle):
    return (bundle / "manifest").read_bytes()


def check(bundle, keys, **options):
    options.setdefault("allowed_signers", str(keys.allowed_signers))
    return signature.check_index(index_bytes(bundle), str(bundle), options["allowed_signers"],
                                 options.get("revoked_keys"))


# Each way a signature goes wrong: (how to do it to a signed bundle, options, words of the reason).
def _changed_index(bundle, keys):
    sign(bundle, keys.key("release"))
    (bundle / "manifest").write_bytes(index_bytes(bundle).replace(b'"app1:1"', b'"app9:1"'))


BAD = {
    "changed index": (_changed_index, {}, "is not the one that was signed"),
    "missing": (lambda bundle, keys: None, {}, "is not signed: it has no manifest.sig"),
    "malformed": (lambda bundle, keys: (bundle / "manifest.sig").write_text("-----BEGIN SSH SIGNATURE-----\nnope\n"),
                  {}, "is malformed"),
    "another key": (lambda bundle, keys: sign(bundle, keys.key("rogue")), {}, "is not one of the allowed signers"),
    "another namespace": (lambda bundle, keys: sign(bundle, keys.key("release"), namespace="file"), {},
                          "is for the namespace 'file', not 'fleetimage-bundle'"),
    "expired key": (lambda bundle, keys: sign(bundle, keys.key("retired")), {}, "has expired"),
    "key not yet valid": (lambda bundle, keys: sign(bundle, keys.key("future")), {}, "is not yet valid"),
    "revoked key": (lambda bundle, keys: sign(bundle, keys.key("release")), {"revoked_keys": "revoked_keys"},
                    "is revoked by"),
    "revoked in a KRL": (lambda bundle, keys: sign(bundle, keys.key("release")), {"revoked_keys": "krl"},
                         "is revoked by"),
    "key allowed for git only": (lambda bundle, keys: sign(bundle, keys.key("release")),
                                 {"allowed_signers": "git_only_signers"}, "does not allow that key for the namespace"),
}


def bad_options(keys, options):
    return dict((name, str(getattr(keys, value))) for name, value in options.items())


def test_a_signature_by_an_allowed_key_verifies(bundle, signing_keys):
    sign(bundle, signing_keys.key("release"))
    report = check(bundle, signing_keys)
    assert report == {"present": True, "verified": True, "principal": PRINCIPAL,
                      "key": signing_keys.fingerprint("release"), "error": None}
    # the same, for revocation lists that do not name the key
    (bundle.parent / "other_revoked").write_bytes(signing_keys.pub("rogue").read_bytes())
    assert check(bundle, signing_keys, revoked_keys=str(bundle.parent / "other_revoked"))["verified"] is True


@pytest.mark.parametrize("case", sorted(BAD))
def test_each_bad_signature_is_named(bundle, signing_keys, case):
    spoil, options, words = BAD[case]
    spoil(bundle, signing_keys)
    report = check(bundle, signing_keys, **bad_options(signing_keys, options))
    assert report["verified"] is False and report["principal"] is None
    assert words in report["error"], report["error"]
    named = bad_options(signing_keys, options)
    with pytest.raises(BundleError) as refused:
        signature.verify_index(index_bytes(bundle), str(bundle),
                               named.get("allowed_signers", str(signing_keys.allowed_signers)), named.get("revoked_keys"))
    assert str(refused.value) == report["error"]


@pytest.mark.parametrize("case", sorted(BAD))
def test_load_refuses_each_bad_signature_before_the_store_is_touched(bundle, store, signing_keys, case):
    sign(bundle, signing_keys.key("release"))
    params = dict(dir=str(bundle), store=str(store), engine="oci", allowed_signers=str(signing_keys.allowed_signers))
    assert load_image(dict(params, name=APP2))["action"] == "loaded"
    before = tree_snapshot(store)
    (bundle / "manifest.sig").unlink()
    spoil, options, words = BAD[case]
    spoil(bundle, signing_keys)
    params.update(bad_options(signing_keys, options))
    with pytest.raises(BundleError) as refused:
        load_image(dict(params, name="app1:1"))
    assert words in str(refused.value)
    with pytest.raises(BundleError):  # also when the store holds the app: nothing is trusted unverified
        load_image(dict(params, name=APP2))
    assert tree_snapshot(store) == before  # index.json unchanged, no new blob, nothing staged

    reported = bundle_info(dict(params, names=None, verify=False))["signature"]
    assert reported["verified"] is False and words in reported["error"]


def test_load_and_info_report_the_signer(bundle, store, signing_keys):
    sign(bundle, signing_keys.key("release"))
    params = dict(dir=str(bundle), store=str(store), engine="oci", allowed_signers=str(signing_keys.allowed_signers))
    loaded = load_image(dict(params, name="app1:1"))
    assert loaded["signature"] == {"verified": True, "principal": PRINCIPAL, "key": signing_keys.fingerprint("release")}
    present = load_image(dict(params, name="app1:1"))
    assert present["action"] == "present" and present["signature"]["verified"] is True
    info = bundle_info(dict(params, names=None, verify=True))
    assert info["signature"]["verified"] is True and info["apps"]["app1:1"]["verified"] is True

    unsigned = dict(params, allowed_signers=None)
    assert load_image(dict(unsigned, name=APP2))["signature"] == {"verified": False, "principal": None, "key": None}
    described = bundle_info(dict(unsigned, names=None, verify=False))["signature"]
    assert described == {"present": True, "verified": None, "principal": None,
                         "key": signing_keys.fingerprint("release"), "error": None}


def test_skip_check_with_allowed_signers_is_refused(bundle, store, signing_keys):
    sign(bundle, signing_keys.key("release"))
    with pytest.raises(BundleError, match="allowed_signers and skip_check cannot be used together"):
        load_image(dict(name="app1:1", dir=str(bundle), store=str(store), engine="oci", skip_check=True,
                        allowed_signers=str(signing_keys.allowed_signers)))
    assert not store.exists()


def test_a_missing_allowed_signers_file_is_named(bundle, store, signing_keys):
    sign(bundle, signing_keys.key("release"))
    with pytest.raises(BundleError, match="allowed signers file %s cannot be read" % (bundle / "nope")):
        load_image(dict(name="app1:1", dir=str(bundle), store=str(store), engine="oci",
                        allowed_signers=str(bundle / "nope")))


def test_key_rotation_old_key_expired_new_key_trusted(bundle, signing_keys, tmp_path):
    # The old key is given a valid-before date when the new one is added: signatures by the old key
    # stop verifying at that date, the new key's verify from the start.
    rotated = tmp_path / "allowed_signers"
    old, new = (" ".join(signing_keys.pub(k).read_text().split()[:2]) for k in ("retired", "release"))
    rotated.write_text('%s namespaces="%s",valid-before="20200101" %s\n%s namespaces="%s" %s\n'
                       % (PRINCIPAL, NAMESPACE, old, PRINCIPAL, NAMESPACE, new))
    sign(bundle, signing_keys.key("release"))
    assert check(bundle, signing_keys, allowed_signers=str(rotated))["verified"] is True
    sign(bundle, signing_keys.key("retired"))
    assert "has expired" in check(bundle, signing_keys, allowed_signers=str(rotated))["error"]


# --------------------------------------------------------------------------
# save
# --------------------------------------------------------------------------

def save(dest, **params):
    base = dict(names=["app1:1", "app2:1"], base="base:1", lib="lib:1", dest=str(dest), source="archive",
                archives=ARCHIVES)
    base.update(params)
    return save_bundle(base, check_mode=base.pop("check_mode", False))


def test_save_signs_so_that_plain_ssh_keygen_verifies(tmp_path, signing_keys):
    dest = tmp_path / "bundle"
    key = str(signing_keys.key("release"))
    assert save(dest, signing_key=key, check_mode=True)["signature"]["action"] == "would_sign"
    written = save(dest, signing_key=key)
    assert written["action"] == "written"
    assert written["signature"] == {"action": "signed", "key": signing_keys.fingerprint("release")}
    verified = ssh_keygen_verify(dest, signing_keys.allowed_signers)
    assert verified.returncode == 0, verified.stderr
    assert "manifest.sig" in [f["name"] for f in written["files"]]

    # the same bundle, the same key: nothing rewritten
    sig_stat = (dest / "manifest.sig").stat()
    again = save(dest, signing_key=key)
    assert (again["changed"], again["action"], again["signature"]["action"]) == (False, "unchanged", "kept")
    assert (dest / "manifest.sig").stat().st_ino == sig_stat.st_ino
    assert (dest / "manifest.sig").stat().st_mtime_ns == sig_stat.st_mtime_ns
    assert save(dest, signing_key=key, check_mode=True)["signature"]["action"] == "kept"

    # another key: only the signature is written, the tarballs stay
    tarball = dest / "app1_1_app_image.tar.gz"
    tarball_ino = tarball.stat().st_ino
    assert save(dest, signing_key=str(signing_keys.key("rogue")), check_mode=True)["changed"] is True
    rekeyed = save(dest, signing_key=str(signing_keys.key("rogue")))
    assert (rekeyed["changed"], rekeyed["action"], rekeyed["signature"]["action"]) == (True, "unchanged", "signed")
    assert rekeyed["signature"]["key"] == signing_keys.fingerprint("rogue")
    assert tarball.stat().st_ino == tarball_ino
    assert ssh_keygen_verify(dest, signing_keys.allowed_signers).returncode != 0  # rogue is not allowed


def test_save_without_a_key_keeps_a_valid_signature_and_removes_a_stale_one(tmp_path, signing_keys):
    dest = tmp_path / "bundle"
    save(dest)
    sign(dest, signing_keys.key("release"))  # signed afterwards, as CI would with plain ssh-keygen
    kept = save(dest)
    assert (kept["changed"], kept["signature"]) == (False, {"action": "kept", "key": signing_keys.fingerprint("release")})

    sign(dest, signing_keys.key("release"), data=b"another index")  # a signature of something else
    assert save(dest, check_mode=True)["signature"]["action"] == "would_remove"
    assert (dest / "manifest.sig").exists()
    removed = save(dest)
    assert (removed["changed"], removed["action"], removed["signature"]["action"]) == (True, "unchanged", "removed")
    assert not (dest / "manifest.sig").exists()

    # a bundle replaced by another one never keeps the old one's signature
    sign(dest, signing_keys.key("release"))
    replaced = save(dest, names=["app1:1"], force=True)
    assert (replaced["action"], replaced["signature"]["action"]) == ("replaced", "removed")
    assert not (dest / "manifest.sig").exists()


def test_save_with_a_key_from_ssh_agent(tmp_path, signing_keys, monkeypatch):
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    sock = agent_dir / "sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and agent.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        # Only the public key beside the bundle: ssh-keygen would otherwise read the private key next to it.
        public = tmp_path / "release.pub"
        shutil.copyfile(signing_keys.pub("release"), public)
        dest = tmp_path / "bundle"
        with pytest.raises(BundleError, match="signing the index with %s failed" % public):
            save(dest, signing_key=str(public))  # the agent does not hold the key yet
        assert not dest.exists()
        subprocess.run(["ssh-add", "-q", str(signing_keys.key("release"))], check=True, capture_output=True)
        written = save(dest, signing_key=str(public))
        assert written["signature"] == {"action": "signed", "key": signing_keys.fingerprint("release")}
        assert ssh_keygen_verify(dest, signing_keys.allowed_signers).returncode == 0
        assert save(dest, signing_key=str(public))["signature"]["action"] == "kept"
    finally:
        agent.terminate()
        agent.wait(10)


def test_a_signing_key_that_cannot_be_read_fails_before_anything_is_written(tmp_path):
    dest = tmp_path / "bundle"
    with pytest.raises(BundleError, match="signing key file %s cannot be read" % (tmp_path / "nokey")):
        save(dest, signing_key=str(tmp_path / "nokey"))
    assert not list(tmp_path.iterdir())


def test_signature_parsing_matches_ssh_keygen(bundle, signing_keys):
    armored = sign(bundle, signing_keys.key("release")).read_bytes()
    parsed = signature.parse_signature(armored)
    assert parsed["namespace"] == NAMESPACE
    assert parsed["key"] == signing_keys.fingerprint("release")
    assert signature.signing_public_key(str(signing_keys.key("release"))) == parsed["public_key"]
    assert signature.signing_public_key(str(signing_keys.pub("release"))) == parsed["public_key"]
    assert signature.signed_by(index_bytes(bundle), armored, parsed["public_key"]) is True
    assert signature.signed_by(index_bytes(bundle) + b" ", armored, parsed["public_key"]) is False
