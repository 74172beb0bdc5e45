"""The rollout role with signed bundles (rollout_allowed_signers), on the SSH hosts of conftest.py.

The signature is checked on the controller before anything is sent, and
again by every host before it loads, against the allowed signers the run sent it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from support.signing import sign
from test_rollout import APP1, assert_ok, store_names

pytestmark = [pytest.mark.fleet, pytest.mark.slow]


@pytest.fixture
def signed_bundle(fleet, signing_keys, tmp_path) -> Path:
    """A copy of the session's bundle, signed by the trusted key with plain ssh-keygen."""
    copy = tmp_path / "signed-bundle"
    shutil.copytree(fleet.bundle.path, copy)
    sign(copy, signing_keys.key("release"))
    return copy


def tamper_index(folder: Path) -> None:
    """Change the index the way someone rewriting a bundle would: still valid, consistent JSON."""
    index = json.loads((folder / "manifest").read_text(encoding="utf-8"))
    for entry in index.values():
        entry["baseImageName"] = "evil:1"
    (folder / "manifest").write_text(json.dumps(index, separators=(",", ":"), sort_keys=True), encoding="utf-8")


def test_signed_bundle_rolls_out_and_hosts_keep_the_signature(fleet, signed_bundle, signing_keys):
    signed = {"rollout_bundle_dir": str(signed_bundle), "rollout_allowed_signers": str(signing_keys.allowed_signers)}
    preview, reports = fleet.run(check=True, rollout_apps=[APP1], **signed)  # verified, nothing created
    assert_ok(preview)
    for name in fleet.names:
        assert reports[name]["would_load"] == [APP1]
        assert not (fleet.root / name).exists(), "check mode created the host's folders"

    first, reports = fleet.run(rollout_apps=[APP1], **signed)
    assert_ok(first)
    for name in fleet.names:
        assert reports[name]["loaded"] == [APP1]
        assert store_names(fleet.store(name)) == {APP1}
        cache = fleet.cache(name)
        assert (cache / "manifest.sig").read_bytes().strip() == (signed_bundle / "manifest.sig").read_bytes().strip()
        assert (cache / "allowed_signers").read_bytes() == signing_keys.allowed_signers.read_bytes()

    again, reports = fleet.run(rollout_apps=[APP1], **signed)
    assert_ok(again)
    assert {name: counts["changed"] for name, counts in again.recap.items()} == {name: 0 for name in fleet.names}, again


def test_tampered_bundle_is_refused_on_the_controller_before_anything_is_sent(fleet, signed_bundle, signing_keys):
    tamper_index(signed_bundle)
    result = fleet.run(rollout_apps=[APP1], rollout_bundle_dir=str(signed_bundle),
                       rollout_allowed_signers=str(signing_keys.allowed_signers))[0]
    assert result.rc != 0
    assert "the bundle %s/manifest is refused on the controller, nothing was sent" % signed_bundle in result.stdout
    assert "the index is not the one that was signed" in result.stdout
    for name in fleet.names:
        assert not (fleet.root / name).exists(), "a host was touched"

    (signed_bundle / "manifest.sig").unlink()
    result = fleet.run(rollout_apps=[APP1], rollout_bundle_dir=str(signed_bundle),
                       rollout_allowed_signers=str(signing_keys.allowed_signers))[0]
    assert result.rc != 0 and "is not signed" in result.stdout
    for name in fleet.names:
        assert not (fleet.root / name).exists(), "a host was touched"


def test_host_refuses_a_cached_index_changed_after_staging(fleet, signed_bundle, signing_keys):
    signed = {"rollout_bundle_dir": str(signed_bundle), "rollout_allowed_signers": str(signing_keys.allowed_signers)}
    staged = fleet.run(tags="rollout_copy", rollout_apps=[APP1], **signed)[0]
    assert_ok(staged)
    victim, *others = fleet.names
    tamper_index(fleet.cache(victim))

    loaded, reports = fleet.run(tags="rollout_load", rollout_apps=[APP1], **signed)
    assert loaded.rc != 0
    assert loaded.recap[victim]["failed"] == 1, loaded
    assert "the index is not the one that was signed" in loaded.stdout
    assert store_names(fleet.store(victim)) == set() and not (fleet.store(victim) / "index.json").exists()
    for name in others:
        assert loaded.recap[name]["failed"] == 0
        assert reports[name]["loaded"] == [APP1] and store_names(fleet.store(name)) == {APP1}


def test_hosts_pulling_from_a_url_get_the_signature_with_the_index(fleet, signed_bundle, signing_keys, http_server):
    server = http_server(signed_bundle)
    pull = {"rollout_source": "url", "rollout_base_url": server.url, "rollout_bundle_dir": "",
            "rollout_allowed_signers": str(signing_keys.allowed_signers)}
    first, reports = fleet.run(rollout_apps=[APP1], **pull)
    assert_ok(first)
    requests = server.requests()
    assert requests.count("GET /manifest.sig") == 1 and requests.count("GET /manifest") == 1, requests
    for name in fleet.names:
        assert reports[name]["loaded"] == [APP1]
        assert (fleet.cache(name) / "manifest.sig").exists()

    (signed_bundle / "manifest.sig").write_bytes((signed_bundle / "manifest.sig").read_bytes().replace(b"A", b"B", 3))
    refused = fleet.run(rollout_apps=[APP1, "app2:1"], **pull)[0]
    assert refused.rc != 0 and "is refused on the controller" in refused.stdout
