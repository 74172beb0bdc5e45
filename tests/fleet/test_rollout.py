# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollout role on a fleet of real SSH hosts (loopback sshds, see conftest.py).

The session's bundle holds app1:1 and app2:1, sharing one base and one lib
tarball. Each host has its own cache and store folders. `release` takes one
fleet through a release's life, pushed from the controller, once for this
file: a preview of empty hosts, one host first (--limit), a preview of the
fleet part-way, the rollout under serial, a re-run, the second app staged,
damaged caches, and the run that heals them and loads it. Each test asserts
one stage. Pulling from a URL and a bad app name use fleets of their own.
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

    def __init__(self, fleet):
        self.fleet = fleet
        bundle = fleet.bundle
        self.app1_files = bundle_files(bundle, APP1)
        self.app2_files = bundle_files(bundle, APP2)
        self.target = fleet.names[1]  # the host that goes first

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


@pytest.fixture(scope="module")
def release(fleet_hosts, fleet_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("release")
    scenario = Release(Fleet(fleet_hosts, root / "hosts", fleet_bundle, playbook_runner(root)))
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


def test_unknown_app_fails_before_anything_is_sent(fleet):
    result = fleet.run(rollout_apps=[APP1, "nosuchapp"])[0]
    assert result.rc != 0
    assert "failed to find app image nosuchapp:latest" in result.stdout, result
    for name in fleet.names:
        assert not (fleet.root / name).exists()
