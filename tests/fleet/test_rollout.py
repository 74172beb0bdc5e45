# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout role on a fleet of real SSH hosts (loopback sshds, see conftest.py).

Every test starts from empty hosts: each has its own cache and store folders
under the test's tmp_path. The session's bundle holds app1:1 and app2:1,
sharing one base and one lib tarball.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import jmespath
import pytest

from support.bundles import sha256, tree_snapshot
from tls_files import make_tls_files

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

APP1, APP2 = "app1:1", "app2:1"


def bundle_files(bundle, name: str) -> dict[str, str]:
    """{'app': file, 'base': file, 'lib': file} of app NAME in the bundle's index."""
    entry = json.loads((Path(bundle.path) / "manifest").read_text(encoding="utf-8"))[name]
    return {part: entry[part] for part in ("app", "base", "lib") if entry.get(part)}


def assert_ok(result):
    assert result.rc == 0, result
    assert all(counts["failed"] == 0 and counts["unreachable"] == 0 for counts in result.recap.values()), result


def store_names(store: Path) -> set[str]:
    """The image names an OCI layout store holds (its index.json's ref names)."""
    index = store / "index.json"
    if not index.exists():
        return set()
    document = json.loads(index.read_text(encoding="utf-8"))
    return set(jmespath.search('manifests[].annotations."org.opencontainers.image.ref.name"', document) or [])


def image_id(bundle, name: str) -> str:
    image = next(app for app in bundle.images.apps if app.name == name)
    return hashlib.sha256(image.config).hexdigest()


def file_identity(path: Path) -> tuple[int, int]:
    """(inode, mtime_ns): changes whenever copy or get_url replaces the file."""
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


def test_first_rollout_under_serial_then_rerun_changes_nothing(fleet):
    bundle = fleet.bundle
    files = bundle_files(bundle, APP1)

    first, reports = fleet.run(rollout_apps=[APP1], fleet_serial=[1, 2])  # a canary host, then the rest
    assert_ok(first)
    assert set(first.recap) == set(fleet.names) and set(reports) == set(fleet.names)
    assert first.stdout.count("PLAY [Roll the bundle out") == 2, "serial [1, 2] runs two batches"
    for name in fleet.names:
        report = reports[name]
        assert report["loaded"] == [APP1] and report["present"] == [] and report["would_load"] == []
        assert sorted(report["copied"]) == sorted(files.values())
        assert report["images"] == {APP1: image_id(bundle, APP1)}
        assert store_names(fleet.store(name)) == {APP1}
        for file_name in files.values():
            assert sha256(fleet.cache(name) / file_name) == sha256(Path(bundle.path) / file_name)
        assert first.recap[name]["changed"] > 0

    caches = {name: tree_snapshot(fleet.cache(name)) for name in fleet.names}
    stores = {name: tree_snapshot(fleet.store(name)) for name in fleet.names}
    again, reports = fleet.run(rollout_apps=[APP1])
    assert_ok(again)
    assert {name: counts["changed"] for name, counts in again.recap.items()} == {name: 0 for name in fleet.names}, again
    for name in fleet.names:
        assert reports[name]["present"] == [APP1]
        assert reports[name]["loaded"] == [] and reports[name]["copied"] == []
        assert reports[name]["images"] == {APP1: image_id(bundle, APP1)}
        assert tree_snapshot(fleet.cache(name)) == caches[name]
        assert tree_snapshot(fleet.store(name)) == stores[name]
    print(f"first rollout {first.seconds:.1f}s, re-run {again.seconds:.1f}s ({len(fleet.names)} hosts)")


def test_second_app_ships_only_its_app_tarball(fleet):
    bundle = fleet.bundle
    shared = bundle_files(bundle, APP1)
    app2 = bundle_files(bundle, APP2)
    assert (app2["base"], app2["lib"]) == (shared["base"], shared["lib"]), "the test bundle shares base and lib"

    first = fleet.run(rollout_apps=[APP1])[0]
    assert_ok(first)
    kept = {name: {part: file_identity(fleet.cache(name) / shared[part]) for part in ("base", "lib")}
            for name in fleet.names}

    second, reports = fleet.run(rollout_apps=[APP1, APP2])
    assert_ok(second)
    app_size = (Path(bundle.path) / app2["app"]).stat().st_size
    for name in fleet.names:
        report = reports[name]
        assert report["copied"] == [app2["app"]], report  # the base and lib were not sent again
        assert report["bytes_copied"] == app_size
        assert report["loaded"] == [APP2] and report["present"] == [APP1]
        assert report["images"] == {APP1: image_id(bundle, APP1), APP2: image_id(bundle, APP2)}
        assert store_names(fleet.store(name)) == {APP1, APP2}
        # untouched on the host: same inode, same mtime
        assert {part: file_identity(fleet.cache(name) / shared[part]) for part in ("base", "lib")} == kept[name]
        assert second.recap[name]["changed"] == 2, second  # one file sent, one app loaded
    print("second app: %d bytes sent per host (app tarball only; base %d and lib %d bytes stayed)" % (
        app_size, (Path(bundle.path) / shared["base"]).stat().st_size, (Path(bundle.path) / shared["lib"]).stat().st_size))


def test_check_mode_and_limit(fleet):
    bundle = fleet.bundle
    all_files = sorted({f for name in (APP1, APP2) for f in bundle_files(bundle, name).values()})
    app2_file = bundle_files(bundle, APP2)["app"]

    # Check mode on empty hosts, every app of the index: nothing created anywhere.
    preview, reports = fleet.run(check=True)
    assert_ok(preview)
    for name in fleet.names:
        assert not (fleet.root / name).exists(), "check mode created the host's folders"
        report = reports[name]
        assert report["would_load"] == [APP1, APP2] and report["loaded"] == []
        assert sorted(report["copied"]) == all_files  # what a real run would send
        assert preview.recap[name]["changed"] > 0

    # --limit to one host: the others stay untouched.
    target = fleet.names[1]
    limited, reports = fleet.run(limit=target, rollout_apps=[APP1])
    assert_ok(limited)
    assert set(limited.recap) == {target} and set(reports) == {target}
    assert reports[target]["loaded"] == [APP1]
    assert store_names(fleet.store(target)) == {APP1}
    for other in fleet.names:
        if other != target:
            assert not (fleet.root / other).exists(), other

    # Check mode again, with one host part-way: still nothing changes anywhere.
    before = {name: (tree_snapshot(fleet.cache(name)), tree_snapshot(fleet.store(name))) for name in fleet.names}
    preview, reports = fleet.run(check=True)
    assert_ok(preview)
    for name in fleet.names:
        assert (tree_snapshot(fleet.cache(name)), tree_snapshot(fleet.store(name))) == before[name]
        if name == target:
            assert reports[name]["present"] == [APP1] and reports[name]["would_load"] == [APP2]
            assert reports[name]["copied"] == [app2_file]
        else:
            assert reports[name]["present"] == [] and reports[name]["would_load"] == [APP1, APP2]


def test_hosts_pull_from_a_url(fleet, http_server):
    bundle = fleet.bundle
    server = http_server(bundle.path)
    app1 = bundle_files(bundle, APP1)

    # No bundle folder on the controller: the index comes from the URL too.
    pull = {"rollout_source": "url", "rollout_base_url": server.url + "/", "rollout_bundle_dir": ""}
    first, reports = fleet.run(rollout_apps=[APP1], **pull)
    assert_ok(first)
    requests = server.requests()
    assert requests.count("GET /manifest") == 1, requests  # read once, by the controller
    for file_name in app1.values():
        assert requests.count("GET /" + file_name) == len(fleet.names), requests  # once per host
    for name in fleet.names:
        assert reports[name]["loaded"] == [APP1]
        assert sorted(reports[name]["copied"]) == sorted(app1.values())
        assert store_names(fleet.store(name)) == {APP1}

    seen = len(requests)
    second, reports = fleet.run(rollout_apps=[APP1, APP2], **pull)
    assert_ok(second)
    requests = server.requests()[seen:]
    app2_file = bundle_files(bundle, APP2)["app"]
    assert sorted(requests) == sorted(["GET /manifest"] + ["GET /" + app2_file] * len(fleet.names)), requests
    for name in fleet.names:
        assert reports[name]["loaded"] == [APP2] and reports[name]["copied"] == [app2_file]


def test_url_pull_with_basic_auth_and_a_header(fleet, http_server):
    """The index (read by the controller) and the tarballs (pulled by each host) go through a
    server that wants a user, a password and a header; a wrong password fails with the HTTP
    status and the URL, and nothing is loaded."""
    bundle = fleet.bundle
    server = http_server(bundle.path, basic_auth=("fleet", "s3cret"), require_header=("X-Bundle-Token", "t0ken"))
    host = fleet.names[0]
    pull = {"rollout_source": "url", "rollout_base_url": server.url, "rollout_bundle_dir": "",
            "rollout_url_username": "fleet", "rollout_url_headers": {"X-Bundle-Token": "t0ken"},
            "rollout_url_use_proxy": False}

    refused, reports = fleet.run(limit=host, rollout_apps=[APP1], rollout_url_password="Wr0ngPa55", **pull)
    assert refused.rc != 0, refused
    assert "HTTP Error 401" in refused.stdout and server.url + "/manifest" in refused.stdout, refused
    assert "Wr0ngPa55" not in refused.stdout + refused.stderr, "the password was printed"
    assert store_names(fleet.store(host)) == set()
    assert not fleet.cache(host).exists()

    served, reports = fleet.run(limit=host, rollout_apps=[APP1], rollout_url_password="s3cret", **pull)
    assert_ok(served)
    assert reports[host]["loaded"] == [APP1]
    assert store_names(fleet.store(host)) == {APP1}
    requests = server.requests()
    files = bundle_files(bundle, APP1).values()
    # credentials sent with the first request: no 401 round trip, one request per file
    assert sorted(requests) == sorted(["GET /manifest"] * 2 + ["GET /" + name for name in files]), requests


def test_url_pull_over_tls_with_a_private_ca_and_a_client_certificate(fleet, http_server, tmp_path):
    """HTTPS signed by a private CA that wants a client certificate: rollout_url_ca_path and
    rollout_url_client_cert/key reach the controller's index read and the hosts' downloads."""
    tls = make_tls_files(tmp_path / "tls")
    server = http_server(fleet.bundle.path, tls=tls)
    host = fleet.names[0]
    pull = {"rollout_source": "url", "rollout_base_url": server.url, "rollout_bundle_dir": ""}

    untrusted = fleet.run(limit=host, rollout_apps=[APP1], **pull)[0]
    assert untrusted.rc != 0 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stdout, untrusted

    served, reports = fleet.run(limit=host, rollout_apps=[APP1], rollout_url_ca_path=tls.ca,
                                rollout_url_client_cert=tls.client_cert, rollout_url_client_key=tls.client_key, **pull)
    assert_ok(served)
    assert reports[host]["loaded"] == [APP1]
    assert store_names(fleet.store(host)) == {APP1}
    files = bundle_files(fleet.bundle, APP1).values()
    assert sorted(server.requests()) == sorted(["GET /manifest"] + ["GET /" + name for name in files])


def test_damaged_cache_is_replaced_before_the_load(fleet):
    bundle = fleet.bundle
    files = bundle_files(bundle, APP1)

    # Stage the tarballs only (--tags rollout_copy): nothing loads.
    staged, reports = fleet.run(tags="rollout_copy", rollout_apps=[APP1])
    assert_ok(staged)
    for name in fleet.names:
        assert reports[name]["loaded"] == [] and sorted(reports[name]["copied"]) == sorted(files.values())
        assert store_names(fleet.store(name)) == set()

    truncated, corrupted, intact = fleet.names[:3]
    base = fleet.cache(truncated) / files["base"]
    with open(base, "r+b") as f:
        f.truncate(base.stat().st_size // 2)
    lib = fleet.cache(corrupted) / files["lib"]
    data = bytearray(lib.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    lib.write_bytes(bytes(data))

    # The full run sees both by their sha256, sends them again, then loads; app
    # tarballs are removed after the load (base and lib stay cached).
    healed, reports = fleet.run(rollout_apps=[APP1], rollout_remove_app_tarballs=True)
    assert_ok(healed)
    assert reports[truncated]["copied"] == [files["base"]]
    assert reports[corrupted]["copied"] == [files["lib"]]
    assert reports[intact]["copied"] == []
    index = json.loads((Path(bundle.path) / "manifest").read_text(encoding="utf-8"))[APP1]
    for name in fleet.names:
        assert reports[name]["loaded"] == [APP1]
        assert reports[name]["removed"] == [files["app"]]
        assert store_names(fleet.store(name)) == {APP1}
        assert sorted(os.listdir(fleet.cache(name))) == sorted([files["base"], files["lib"], "manifest"])
        for part in ("base", "lib"):
            assert sha256(fleet.cache(name) / files[part]) == index[part + "Hash"]


def test_unknown_app_fails_before_anything_is_sent(fleet):
    result = fleet.run(rollout_apps=[APP1, "nosuchapp"])[0]
    assert result.rc != 0
    assert "failed to find app image nosuchapp:latest" in result.stdout, result
    for name in fleet.names:
        assert not (fleet.root / name).exists()
