"""The rollout role with signed bundles (rollout_allowed_signers), on the SSH hosts of conftest.py.

The signature is checked on the controller before anything is sent, and
again by every host before it loads, against the allowed signers the run sent it.
`signed` takes one fleet through it, once for this file: three bundles refused on
the controller (an index changed after signing, no signature, a damaged signature
served over HTTP), a preview, the rollout pulled from a URL, a re-run pushed from
the controller, then the second app staged, one host's cached index changed, and
the load that this host refuses.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_harness import playbook_runner
from support.bundles import copy_bundle, tree_snapshot
from support.fleet import Fleet
from support.signing import sign
from test_rollout import APP1, APP2, assert_ok, store_names

pytestmark = [pytest.mark.fleet, pytest.mark.slow]


def tamper_index(folder: Path) -> None:
    """Change the index the way someone rewriting a bundle would: still valid, consistent JSON."""
    index = json.loads((folder / "manifest").read_text(encoding="utf-8"))
    for entry in index.values():
        entry["baseImageName"] = "evil:1"
    (folder / "manifest").write_text(json.dumps(index, separators=(",", ":"), sort_keys=True), encoding="utf-8")


class SignedRelease:
    """The stages of one signed release on one fleet; each keeps what its test asserts."""

    def __init__(self, fleet, signing_keys, http_server, root: Path):
        self.fleet = fleet
        self.signed = copy_bundle(root / "signed", fleet.bundle.path)
        sign(self.signed, signing_keys.key("release"))
        self.tampered = copy_bundle(root / "tampered", self.signed)
        tamper_index(self.tampered)
        self.unsigned = copy_bundle(root / "unsigned", self.signed)
        (self.unsigned / "manifest.sig").unlink()
        damaged = copy_bundle(root / "damaged-signature", self.signed)
        (damaged / "manifest.sig").write_bytes((damaged / "manifest.sig").read_bytes().replace(b"A", b"B", 3))
        self.server = http_server(self.signed)
        self.damaged_server = http_server(damaged)
        self.allowed_signers = signing_keys.allowed_signers
        self.victim = fleet.names[0]

    def touched(self):
        return [name for name in self.fleet.names if (self.fleet.root / name).exists()]

    def play(self):
        fleet = self.fleet
        trust = {"rollout_allowed_signers": str(self.allowed_signers)}
        push = dict(trust, rollout_bundle_dir=str(self.signed))
        pull = dict(trust, rollout_source="url", rollout_bundle_dir="")
        # Refused on the controller, before any host is touched.
        self.tampered_run = fleet.run(rollout_apps=[APP1], rollout_bundle_dir=str(self.tampered), **trust)[0]
        self.unsigned_run = fleet.run(rollout_apps=[APP1], rollout_bundle_dir=str(self.unsigned), **trust)[0]
        self.damaged_run = fleet.run(rollout_apps=[APP1], rollout_base_url=self.damaged_server.url, **pull)[0]
        self.touched_by_refused = self.touched()
        # Verified, nothing created; then pulled; then pushed again.
        self.preview = fleet.run(check=True, rollout_apps=[APP1], **push)
        self.touched_by_preview = self.touched()
        self.first = fleet.run(rollout_apps=[APP1], rollout_base_url=self.server.url, **pull)
        self.first_requests = self.server.requests()
        self.after_first = {name: {
            "store": store_names(fleet.store(name)),
            "signature": (fleet.cache(name) / "manifest.sig").read_bytes(),
            "allowed_signers": (fleet.cache(name) / "allowed_signers").read_bytes(),
        } for name in fleet.names}
        self.again = fleet.run(rollout_apps=[APP1], **push)
        # The second app staged; the victim's cached index changed before the load.
        self.staged = fleet.run(tags="rollout_copy", rollout_apps=[APP1, APP2], **push)[0]
        tamper_index(fleet.cache(self.victim))
        self.victim_store_before = tree_snapshot(fleet.store(self.victim))
        self.loaded = fleet.run(tags="rollout_load", rollout_apps=[APP1, APP2], **push)
        self.victim_store_after = tree_snapshot(fleet.store(self.victim))
        self.store_names_after_load = {name: store_names(fleet.store(name)) for name in fleet.names}


@pytest.fixture(scope="module")
def signed(fleet_hosts, fleet_bundle, signing_keys, http_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("signed")
    scenario = SignedRelease(Fleet(fleet_hosts, root / "hosts", fleet_bundle, playbook_runner(root)),
                             signing_keys, http_server, root)
    scenario.play()
    return scenario


def test_bundles_whose_signature_fails_are_refused_on_the_controller_before_anything_is_sent(signed):
    assert signed.tampered_run.rc != 0
    assert "the bundle %s/manifest is refused on the controller, nothing was sent" % signed.tampered \
        in signed.tampered_run.stdout
    assert "the index is not the one that was signed" in signed.tampered_run.stdout
    assert signed.unsigned_run.rc != 0 and "is not signed" in signed.unsigned_run.stdout
    assert signed.damaged_run.rc != 0 and "is refused on the controller" in signed.damaged_run.stdout
    assert signed.touched_by_refused == [], "a host was touched"


def test_signed_bundle_rolls_out_and_hosts_keep_the_signature(signed, signing_keys):
    preview, reports = signed.preview  # verified, nothing created
    assert_ok(preview)
    for name in signed.fleet.names:
        assert reports[name]["would_load"] == [APP1]
    assert signed.touched_by_preview == [], "check mode created the hosts' folders"

    first, reports = signed.first
    assert_ok(first)
    # the signature comes through the same request path as the index: each read once, by the controller
    requests = signed.first_requests
    assert requests.count("GET /manifest.sig") == 1 and requests.count("GET /manifest") == 1, requests
    for name in signed.fleet.names:
        assert reports[name]["loaded"] == [APP1]
        state = signed.after_first[name]
        assert state["store"] == {APP1}
        assert state["signature"].strip() == (signed.signed / "manifest.sig").read_bytes().strip()
        assert state["allowed_signers"] == signing_keys.allowed_signers.read_bytes()

    again, reports = signed.again  # pushed from the controller this time: the same index and signature
    assert_ok(again)
    assert {name: counts["changed"] for name, counts in again.recap.items()} == {name: 0 for name in signed.fleet.names}, again


def test_host_refuses_a_cached_index_changed_after_staging(signed):
    assert_ok(signed.staged)
    loaded, reports = signed.loaded
    victim = signed.victim
    assert loaded.rc != 0
    assert loaded.recap[victim]["failed"] == 1, loaded
    assert "the index is not the one that was signed" in loaded.stdout
    assert signed.victim_store_after == signed.victim_store_before  # nothing loaded, nothing changed
    for name in signed.fleet.names:
        if name != victim:
            assert loaded.recap[name]["failed"] == 0
            assert reports[name]["loaded"] == [APP2] and signed.store_names_after_load[name] == {APP1, APP2}
