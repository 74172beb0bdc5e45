# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout role on a fleet of real SSH hosts (loopback sshds, see conftest.py).

The session's bundle holds app1:1 and app2:1, sharing one base and one lib
tarball. Each host has its own cache and store folders. Each scenario takes
one fleet through a sequence of runs, once for this file, and each test
asserts one stage of it:

- `release`, pushed from the controller: a preview of empty hosts, one host
  first (--limit), a preview of the fleet part-way, the rollout under serial,
  a re-run, the second app staged, damaged caches and the run that heals them
  and loads it, then a rebuilt app1:1 (one host first, then the fleet, then
  again) and a newer tag app1:2, both keeping one image per repository.
- `pull`, each host pulling from a URL: through a server that wants a user, a
  password and a header (a wrong password first), then over HTTPS under a
  private CA that wants a client certificate (an untrusted CA first).

A bad app name uses a fleet of its own.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import jmespath
import pytest

from ansible_harness import playbook_runner
from support.bundles import sha256, tree_snapshot
from support.fleet import Fleet
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


class Release:
    """The stages of one release on one fleet; each keeps what its test asserts."""

    def __init__(self, fleet, rebuilt, newer):
        self.fleet = fleet
        bundle = fleet.bundle
        self.app1_files = bundle_files(bundle, APP1)
        self.app2_files = bundle_files(bundle, APP2)
        self.target = fleet.names[1]  # the host that goes first
        self.rebuilt = rebuilt  # app1:1 again, another image; the same base and lib tarballs
        self.newer = newer  # app1:2
        self.early = fleet.names[0]  # the host that gets the rebuilt image first

    def snapshot(self):
        return {name: (tree_snapshot(self.fleet.cache(name)), tree_snapshot(self.fleet.store(name)))
                for name in self.fleet.names}

    def shared_identities(self):
        return {name: {part: file_identity(self.fleet.cache(name) / self.app1_files[part]) for part in ("base", "lib")}
                for name in self.fleet.names}

    def play(self):
        fleet = self.fleet
        # Check mode on empty hosts, every app of the index.
        self.preview_empty = fleet.run(check=True)
        self.created_by_preview = [name for name in fleet.names if (fleet.root / name).exists()]
        # One host first, with --limit.
        self.limited = fleet.run(limit=self.target, rollout_apps=[APP1])
        self.created_elsewhere = [name for name in fleet.names if name != self.target and (fleet.root / name).exists()]
        # Check mode again, the fleet part-way.
        before = self.snapshot()
        self.preview_partial = fleet.run(check=True)
        self.changed_by_preview = [name for name, state in self.snapshot().items() if state != before[name]]
        # The rollout: a canary host, then the rest; then the same again.
        self.first = fleet.run(rollout_apps=[APP1], fleet_serial=[1, 2])
        self.after_first = self.snapshot()
        self.cached_sha256 = {name: {f: sha256(fleet.cache(name) / f) for f in self.app1_files.values()}
                              for name in fleet.names}
        self.store_names_after_first = {name: store_names(fleet.store(name)) for name in fleet.names}
        self.again = fleet.run(rollout_apps=[APP1])
        self.after_again = self.snapshot()
        # The second app, staged only (--tags rollout_copy): its app tarball is all that is sent.
        self.shared_before = self.shared_identities()
        self.staged = fleet.run(tags="rollout_copy", rollout_apps=[APP1, APP2])
        self.shared_after = self.shared_identities()
        self.store_names_after_staging = {name: store_names(fleet.store(name)) for name in fleet.names}
        # Damage two caches; the full run finds them by their sha256, sends them again, then loads.
        self.truncated, self.corrupted, self.intact = fleet.names[:3]
        base = fleet.cache(self.truncated) / self.app1_files["base"]
        with open(base, "r+b") as f:
            f.truncate(base.stat().st_size // 2)
        lib = fleet.cache(self.corrupted) / self.app1_files["lib"]
        data = bytearray(lib.read_bytes())
        data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
        lib.write_bytes(bytes(data))
        self.healed = fleet.run(rollout_apps=[APP1, APP2], rollout_remove_app_tarballs=True)
        self.cache_after_heal = {name: sorted(os.listdir(fleet.cache(name))) for name in fleet.names}
        self.store_names_after_heal = {name: store_names(fleet.store(name)) for name in fleet.names}
        # A rebuilt app1:1: one host first, then the fleet, then the same again; one image kept.
        rebuilt = {"rollout_bundle_dir": str(self.rebuilt.path), "rollout_apps": [APP1], "rollout_keep": 1}
        self.rebuilt_early = fleet.run(limit=self.early, **rebuilt)
        self.rebuilt_full = fleet.run(**rebuilt)
        self.stores_after_rebuilt = {name: store_contents(fleet.store(name)) for name in fleet.names}
        self.trees_after_rebuilt = {name: tree_snapshot(fleet.store(name)) for name in fleet.names}
        self.rebuilt_again = fleet.run(**rebuilt)
        self.trees_after_rebuilt_again = {name: tree_snapshot(fleet.store(name)) for name in fleet.names}
        # A newer tag, app1:2 (every app of its bundle), keeping one image per repository.
        self.kept = fleet.run(rollout_bundle_dir=str(self.newer.path), rollout_keep=1)
        self.store_names_after_keep = {name: store_names(fleet.store(name)) for name in fleet.names}


def store_contents(store: Path) -> dict:
    """{'configs': {name: config digest}, 'blobs': the blob digests, 'used': the digests its manifests name}."""
    index = json.loads((store / "index.json").read_text(encoding="utf-8"))
    configs, used = {}, set()
    for entry in index["manifests"]:
        manifest = json.loads((store / "blobs" / "sha256" / entry["digest"][7:]).read_text(encoding="utf-8"))
        configs[entry["annotations"]["org.opencontainers.image.ref.name"]] = manifest["config"]["digest"]
        used |= {entry["digest"], manifest["config"]["digest"]} | {layer["digest"] for layer in manifest["layers"]}
    blobs = {"sha256:" + p.name for p in (store / "blobs" / "sha256").iterdir()}
    return {"configs": configs, "blobs": blobs, "used": used}


@pytest.fixture(scope="module")
def release(fleet_hosts, fleet_bundle, tmp_path_factory):
    from conftest import _make_bundle  # pylint: disable=import-outside-toplevel

    root = tmp_path_factory.mktemp("release")
    rebuilt = _make_bundle()(str(root / "rebuilt"), apps=(APP1,), large_mib=1)  # one more layer
    newer = _make_bundle()(str(root / "newer"), apps=("app1:2",))
    scenario = Release(Fleet(fleet_hosts, root / "hosts", fleet_bundle, playbook_runner(root)), rebuilt, newer)
    scenario.play()
    return scenario


def test_check_mode_on_empty_hosts_creates_nothing(release):
    preview, reports = release.preview_empty
    assert_ok(preview)
    assert release.created_by_preview == [], "check mode created the hosts' folders"
    all_files = sorted(set(release.app1_files.values()) | set(release.app2_files.values()))
    for name in release.fleet.names:
        assert reports[name]["would_load"] == [APP1, APP2] and reports[name]["loaded"] == []
        assert sorted(reports[name]["copied"]) == all_files  # what a real run would send
        assert preview.recap[name]["changed"] > 0


def test_limit_touches_only_its_host(release):
    limited, reports = release.limited
    assert_ok(limited)
    assert set(limited.recap) == {release.target} and set(reports) == {release.target}
    assert reports[release.target]["loaded"] == [APP1]
    assert release.created_elsewhere == []


def test_check_mode_part_way_changes_nothing_and_says_what_each_host_lacks(release):
    preview, reports = release.preview_partial
    assert_ok(preview)
    assert release.changed_by_preview == []
    for name in release.fleet.names:
        if name == release.target:
            assert reports[name]["present"] == [APP1] and reports[name]["would_load"] == [APP2]
            assert reports[name]["copied"] == [release.app2_files["app"]]
        else:
            assert reports[name]["present"] == [] and reports[name]["would_load"] == [APP1, APP2]


def test_rollout_under_serial_loads_where_missing(release):
    bundle = release.fleet.bundle
    first, reports = release.first
    assert_ok(first)
    assert set(first.recap) == set(release.fleet.names) and set(reports) == set(release.fleet.names)
    assert first.stdout.count("PLAY [Roll the bundle out") == 2, "serial [1, 2] runs two batches"
    for name in release.fleet.names:
        report = reports[name]
        assert report["images"] == {APP1: image_id(bundle, APP1)}
        assert release.store_names_after_first[name] == {APP1}
        assert release.cached_sha256[name] == {f: sha256(Path(bundle.path) / f) for f in release.app1_files.values()}
        if name == release.target:  # loaded by the --limit run already
            assert report["present"] == [APP1] and report["loaded"] == [] and report["copied"] == []
        else:
            assert report["loaded"] == [APP1] and report["present"] == [] and report["would_load"] == []
            assert sorted(report["copied"]) == sorted(release.app1_files.values())
            assert first.recap[name]["changed"] > 0


def test_rerun_changes_nothing(release):
    again, reports = release.again
    assert_ok(again)
    assert {name: counts["changed"] for name, counts in again.recap.items()} == {name: 0 for name in release.fleet.names}
    for name in release.fleet.names:
        assert reports[name]["present"] == [APP1]
        assert reports[name]["loaded"] == [] and reports[name]["copied"] == []
        assert reports[name]["images"] == {APP1: image_id(release.fleet.bundle, APP1)}
    assert release.after_again == release.after_first


def test_second_app_ships_only_its_app_tarball(release):
    bundle = release.fleet.bundle
    assert (release.app2_files["base"], release.app2_files["lib"]) == (
        release.app1_files["base"], release.app1_files["lib"]), "the test bundle shares base and lib"
    staged, reports = release.staged
    assert_ok(staged)
    app_size = (Path(bundle.path) / release.app2_files["app"]).stat().st_size
    for name in release.fleet.names:
        assert reports[name]["copied"] == [release.app2_files["app"]], reports[name]  # base and lib not sent again
        assert reports[name]["bytes_copied"] == app_size
        assert reports[name]["loaded"] == []  # --tags rollout_copy: staged only
        assert release.store_names_after_staging[name] == {APP1}
    assert release.shared_after == release.shared_before  # same inode, same mtime: untouched on every host


def test_damaged_cache_is_replaced_before_the_load(release):
    healed, reports = release.healed
    assert_ok(healed)
    files = release.app1_files
    assert reports[release.truncated]["copied"] == [files["base"]]
    assert reports[release.corrupted]["copied"] == [files["lib"]]
    assert reports[release.intact]["copied"] == []
    index = json.loads((Path(release.fleet.bundle.path) / "manifest").read_text(encoding="utf-8"))[APP2]
    for name in release.fleet.names:
        assert reports[name]["loaded"] == [APP2] and reports[name]["present"] == [APP1]
        assert reports[name]["removed"] == [release.app2_files["app"]]  # app tarballs go once loaded
        assert release.store_names_after_heal[name] == {APP1, APP2}
        assert release.cache_after_heal[name] == sorted([files["base"], files["lib"], files["app"], "manifest"])
        for part in ("base", "lib"):
            assert sha256(release.fleet.cache(name) / files[part]) == index[part + "Hash"]


def test_a_rebuilt_tag_is_loaded_where_the_name_holds_the_old_image_and_only_there(release):
    old, rebuilt, early = release.fleet.bundle, release.rebuilt, release.early
    files = bundle_files(rebuilt, APP1)
    assert files["base"] == bundle_files(old, APP1)["base"] and image_id(rebuilt, APP1) != image_id(old, APP1)
    assert_ok(release.rebuilt_early[0])

    full, reports = release.rebuilt_full
    assert_ok(full)
    assert full.recap[early]["changed"] == 0, full
    assert reports[early]["present"] == [APP1] and reports[early]["loaded"] == [] and reports[early]["stale"] == []
    for name in release.fleet.names[1:]:
        report = reports[name]
        assert report["stale"] == [APP1] and report["loaded"] == [APP1] and report["present"] == []
        assert report["copied"] == [files["app"]]  # base and lib are the same files: not sent again
        assert report["images"] == {APP1: image_id(rebuilt, APP1)}
    for name in release.fleet.names:
        store = release.stores_after_rebuilt[name]
        assert store["configs"] == {APP1: "sha256:" + image_id(rebuilt, APP1), APP2: "sha256:" + image_id(old, APP2)}
        # rollout_keep pruned the old image's own blobs: only those of the images held are left
        assert store["blobs"] == store["used"]

    again, reports = release.rebuilt_again
    assert_ok(again)
    assert {name: counts["changed"] for name, counts in again.recap.items()} == {name: 0 for name in release.fleet.names}, again
    for name in release.fleet.names:
        assert reports[name]["present"] == [APP1] and reports[name]["loaded"] == [] and reports[name]["copied"] == []
    assert release.trees_after_rebuilt_again == release.trees_after_rebuilt


def test_rollout_keep_prunes_the_repository_to_the_newest_images(release):
    kept, reports = release.kept
    assert_ok(kept)
    for name in release.fleet.names:
        assert reports[name]["loaded"] == ["app1:2"] and reports[name]["pruned"] == [APP1]
        assert release.store_names_after_keep[name] == {"app1:2", APP2}  # app2 is another repository


class Pull:
    """Hosts pulling the bundle from a URL, through a server that wants credentials, then over TLS."""

    def __init__(self, fleet, http_server, tls):
        self.fleet = fleet
        self.host = fleet.names[0]
        self.auth_server = http_server(fleet.bundle.path, basic_auth=("fleet", "s3cret"),
                                       require_header=("X-Bundle-Token", "t0ken"))
        self.tls_server = http_server(fleet.bundle.path, tls=tls)
        self.tls = tls

    def play(self):
        fleet = self.fleet
        # No bundle folder on the controller: the index comes from the URL too.
        auth = {"rollout_source": "url", "rollout_base_url": self.auth_server.url + "/", "rollout_bundle_dir": "",
                "rollout_url_username": "fleet", "rollout_url_headers": {"X-Bundle-Token": "t0ken"},
                "rollout_url_use_proxy": False}
        self.refused = fleet.run(limit=self.host, rollout_apps=[APP1], rollout_url_password="Wr0ngPa55", **auth)
        self.store_names_after_refused = store_names(fleet.store(self.host))
        self.cache_after_refused = fleet.cache(self.host).exists()
        self.first = fleet.run(rollout_apps=[APP1], rollout_url_password="s3cret", **auth)
        self.first_requests = self.auth_server.requests()
        self.store_names_after_first = {name: store_names(fleet.store(name)) for name in fleet.names}
        # The second app over HTTPS: the private CA is not trusted, then it is, with a client certificate.
        tls = {"rollout_source": "url", "rollout_base_url": self.tls_server.url, "rollout_bundle_dir": ""}
        self.untrusted = fleet.run(limit=self.host, rollout_apps=[APP1, APP2], **tls)
        self.second = fleet.run(rollout_apps=[APP1, APP2], rollout_url_ca_path=self.tls.ca,
                                rollout_url_client_cert=self.tls.client_cert,
                                rollout_url_client_key=self.tls.client_key, **tls)
        self.second_requests = self.tls_server.requests()
        self.store_names_after_second = {name: store_names(fleet.store(name)) for name in fleet.names}


@pytest.fixture(scope="module")
def pull(fleet_hosts, fleet_bundle, http_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("pull")
    scenario = Pull(Fleet(fleet_hosts, root / "hosts", fleet_bundle, playbook_runner(root)), http_server,
                    make_tls_files(root / "tls"))
    scenario.play()
    return scenario


def test_url_pull_refuses_a_wrong_password_and_prints_none(pull):
    refused = pull.refused[0]
    assert refused.rc != 0, refused
    assert "HTTP Error 401" in refused.stdout and pull.auth_server.url + "/manifest" in refused.stdout, refused
    assert "Wr0ngPa55" not in refused.stdout + refused.stderr, "the password was printed"
    assert pull.store_names_after_refused == set() and not pull.cache_after_refused


def test_hosts_pull_from_a_url_with_basic_auth_and_a_header(pull):
    """The index is read by the controller, the tarballs pulled by each host, all with the
    credentials and the header at the first request: no 401 round trip, one request per file."""
    first, reports = pull.first
    assert_ok(first)
    app1 = bundle_files(pull.fleet.bundle, APP1)
    requests = pull.first_requests
    # the wrong password's one refused read, then the index read once, by the controller
    assert requests.count("GET /manifest") == 2, requests
    for file_name in app1.values():
        assert requests.count("GET /" + file_name) == len(pull.fleet.names), requests  # once per host
    assert len(requests) == 2 + len(app1) * len(pull.fleet.names), requests
    for name in pull.fleet.names:
        assert reports[name]["loaded"] == [APP1]
        assert sorted(reports[name]["copied"]) == sorted(app1.values())
        assert pull.store_names_after_first[name] == {APP1}


def test_hosts_pull_over_tls_with_a_private_ca_and_a_client_certificate(pull):
    """rollout_url_ca_path and rollout_url_client_cert/key reach the controller's index read and the
    hosts' downloads; only the second app's tarball is pulled."""
    untrusted = pull.untrusted[0]
    assert untrusted.rc != 0 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stdout, untrusted

    second, reports = pull.second
    assert_ok(second)
    app2_file = bundle_files(pull.fleet.bundle, APP2)["app"]
    assert sorted(pull.second_requests) == sorted(["GET /manifest"] + ["GET /" + app2_file] * len(pull.fleet.names))
    for name in pull.fleet.names:
        assert reports[name]["loaded"] == [APP2] and reports[name]["copied"] == [app2_file]
        assert pull.store_names_after_second[name] == {APP1, APP2}


def test_unknown_app_fails_before_anything_is_sent(fleet):
    result = fleet.run(rollout_apps=[APP1, "nosuchapp"])[0]
    assert result.rc != 0
    assert "failed to find app image nosuchapp:latest" in result.stdout, result
    for name in fleet.names:
        assert not (fleet.root / name).exists()
