"""Signed bundles through Ansible: the modules' options, results and failures as a playbook sees them.

The detailed cases are in tests/unit/test_signature.py; here each module runs
as a task would, with real keys made by ssh-keygen.
"""

from __future__ import annotations

from support.bundles import IMAGE_IDS, ISULA_FIXTURE, tree_snapshot
from support.signing import PRINCIPAL, sign, ssh_keygen_verify

ARCHIVES = [str(ISULA_FIXTURE / "archives" / (name + ".tar")) for name in ("app1", "app2", "base", "lib")]


def test_signed_bundle_loads_and_a_tampered_one_fails_the_task(run_module, bundle, store, signing_keys):
    sign(bundle, signing_keys.key("release"))
    trust = dict(dir=str(bundle), store=str(store), allowed_signers=str(signing_keys.allowed_signers))

    loaded = run_module("separated_image_load", name="app2:1", **trust)
    assert not loaded["failed"], loaded.get("msg")
    assert loaded["action"] == "loaded" and loaded["image"]["id"] == IMAGE_IDS["app2:1"]
    assert loaded["signature"] == {"verified": True, "principal": PRINCIPAL, "key": signing_keys.fingerprint("release")}

    before = tree_snapshot(store)
    index = (bundle / "manifest").read_bytes()
    (bundle / "manifest").write_bytes(index.replace(b'"lib:1"', b'"lib:2"'))
    refused = run_module("separated_image_load", name="app1:1", **trust)
    assert refused["failed"] is True
    assert refused["msg"] == ("signature %s/manifest.sig does not verify for %s (key %s): the index is not the one "
                              "that was signed (changed since)" % (bundle, PRINCIPAL, signing_keys.fingerprint("release")))
    assert tree_snapshot(store) == before

    reported = run_module("separated_image_info", **trust)
    assert not reported["failed"], reported.get("msg")
    assert reported["signature"]["verified"] is False and "changed since" in reported["signature"]["error"]
    assert reported["present"] == ["app2:1"]  # the rest of the report is still there

    (bundle / "manifest").write_bytes(index)
    revoked = run_module("separated_image_load", name="app1:1", revoked_keys=str(signing_keys.krl), **trust)
    assert revoked["failed"] is True and "is revoked by %s" % signing_keys.krl in revoked["msg"]
    assert tree_snapshot(store) == before


def test_option_rules(run_module, bundle, store, signing_keys):
    sign(bundle, signing_keys.key("release"))
    both = run_module("separated_image_load", name="app1:1", dir=str(bundle), store=str(store), skip_check=True,
                      allowed_signers=str(signing_keys.allowed_signers))
    assert both["failed"] and "allowed_signers and skip_check cannot be used together" in both["msg"]
    alone = run_module("separated_image_load", name="app1:1", dir=str(bundle), store=str(store),
                       revoked_keys=str(signing_keys.krl))
    assert alone["failed"] and "revoked_keys" in alone["msg"] and "allowed_signers" in alone["msg"]
    no_dir = run_module("separated_image_info", names=["app1:1"], store=str(store),
                        allowed_signers=str(signing_keys.allowed_signers))
    assert no_dir["failed"] and "allowed_signers" in no_dir["msg"] and "dir" in no_dir["msg"]
    assert not store.exists()


def test_save_signs_and_resigns_only_when_needed(run_module, tmp_path, signing_keys):
    dest = tmp_path / "bundle"
    args = dict(names=["app1:1", "app2:1"], base="base:1", lib="lib:1", dest=str(dest), source="archive",
                archives=ARCHIVES, signing_key=str(signing_keys.key("release")))
    planned = run_module("separated_image_save", check=True, **args)
    assert planned["signature"] == {"action": "would_sign", "key": signing_keys.fingerprint("release")}
    written = run_module("separated_image_save", **args)
    assert not written["failed"], written.get("msg")
    assert written["signature"]["action"] == "signed"
    verified = ssh_keygen_verify(dest, signing_keys.allowed_signers)
    assert verified.returncode == 0, verified.stderr
    assert "Good \"fleetimage-bundle\" signature for %s" % PRINCIPAL in verified.stdout

    again = run_module("separated_image_save", **args)
    assert (again["changed"], again["action"], again["signature"]["action"]) == (False, "unchanged", "kept")

    loaded = run_module("separated_image_load", name="app1:1", dir=str(dest), store=str(tmp_path / "store"),
                        allowed_signers=str(signing_keys.allowed_signers))
    assert loaded["action"] == "loaded" and loaded["signature"]["verified"] is True
