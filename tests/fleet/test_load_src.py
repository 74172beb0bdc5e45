# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""separated_image_load with src (a bundle on the controller) and url (mirrors), ad hoc, over real SSH.

Each host's ssh, sftp, scp and python go through wrappers that count what
the controller starts for it (support.fleet.Fleet.counted). One scenario,
`adhoc`, takes one fleet through: bad input (nothing started), check mode
on empty hosts, the first load of app1, the same again, app1 and app2 in
one task, a damaged cache and a file left by a cut transfer, a host whose
cache folder cannot be created; `mirrors`: hosts fetching from a list of
mirrors where the first refuses and the second serves altered bytes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ansible_harness import playbook_runner
from support.bundles import copy_bundle, tree_snapshot
from support.fleet import Fleet
from support.processes import free_port
from test_rollout import APP1, APP2, bundle_files, store_names

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

MODULE = "fleetimage.separated.separated_image_load"


def load_args(fleet, name, src, extra=""):
    """The ad-hoc arguments; each host's cache and store come from its inventory variables."""
    return ("name=%s src=%s dir={{ rollout_cache_dir }} store={{ rollout_store }} %s" % (name, src, extra)).strip()


class Adhoc:
    def __init__(self, fleet, root: Path):
        self.fleet = fleet
        self.src = Path(fleet.bundle.path)
        self.app1_files = bundle_files(fleet.bundle, APP1)
        self.app2_files = bundle_files(fleet.bundle, APP2)
        self.invalid = copy_bundle(root / "invalid", self.src)
        (self.invalid / "manifest").write_text("{not json", encoding="utf-8")

    def touched(self):
        return [name for name in self.fleet.names if (self.fleet.root / name).exists()]

    def play(self):
        fleet = self.fleet
        fleet.take_counts()
        # Bad input: fails on the controller, no process started for any host.
        self.missing_src = fleet.adhoc(MODULE, load_args(fleet, APP1, "/nonexistent/bundle"))
        self.invalid_index = fleet.adhoc(MODULE, load_args(fleet, APP1, self.invalid))
        self.unknown_app = fleet.adhoc(MODULE, load_args(fleet, "nosuchapp", self.src))
        self.counts_bad = fleet.take_counts()
        self.touched_by_bad = self.touched()
        # Check mode on empty hosts.
        self.preview = fleet.adhoc(MODULE, load_args(fleet, APP1, self.src), check=True)
        self.counts_preview = fleet.take_counts()
        self.touched_by_preview = self.touched()
        # The first load, then the same again.
        self.first = fleet.adhoc(MODULE, load_args(fleet, APP1, self.src))
        self.counts_first = fleet.take_counts()
        self.stores_first = {name: store_names(fleet.store(name)) for name in fleet.names}
        self.cached_first = {name: sorted(p.name for p in fleet.cache(name).iterdir()) for name in fleet.names}
        self.again = fleet.adhoc(MODULE, load_args(fleet, APP1, self.src))
        self.counts_again = fleet.take_counts()
        # A damaged base on one host, a file a cut transfer left on another; then both apps in one task.
        self.damaged, self.cut = fleet.names[0], fleet.names[1]
        base = fleet.cache(self.damaged) / self.app1_files["base"]
        data = bytearray(base.read_bytes())
        data[len(data) // 2] ^= 0xFF
        base.write_bytes(bytes(data))
        shutil.rmtree(fleet.store(self.damaged))  # so that it needs the base again
        app2 = self.app2_files["app"]
        partial = (self.src / app2).read_bytes()[:100]
        (fleet.cache(self.cut) / (".%s.part-0123456789abcdef" % app2)).write_bytes(partial)
        (fleet.cache(self.cut) / app2).write_bytes(partial)  # as if a rename had happened too early
        both = "names=%s,%s src=%s dir={{ rollout_cache_dir }} store={{ rollout_store }}" % (APP1, APP2, self.src)
        self.both = fleet.adhoc(MODULE, both)
        self.counts_both = fleet.take_counts()
        self.stores_both = {name: store_names(fleet.store(name)) for name in fleet.names}
        # A host whose cache folder cannot be created (its parent is a file); the others go on.
        self.blocked = fleet.names[2]
        blocker = fleet.root / "blocker"
        blocker.write_text("a file, not a folder", encoding="utf-8")
        self.blocked_store_before = tree_snapshot(fleet.store(self.blocked))
        args = ("name=app1:1 src=%s dir={{ '%s/cache' if inventory_hostname == '%s' else rollout_cache_dir }} "
                "store={{ rollout_store }} force=true" % (self.src, blocker, self.blocked))
        self.blocked_run = fleet.adhoc(MODULE, args)
        self.blocked_store_after = tree_snapshot(fleet.store(self.blocked))


@pytest.fixture(scope="module")
def adhoc(fleet_hosts, fleet_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("adhoc")
    fleet = Fleet(fleet_hosts, root / "hosts", fleet_bundle, playbook_runner(root), counted=True)
    scenario = Adhoc(fleet, root)
    scenario.play()
    return scenario


def test_bad_src_fails_on_the_controller_and_starts_nothing_for_any_host(adhoc):
    proc, results = adhoc.missing_src
    assert proc.returncode != 0
    for name in adhoc.fleet.names:
        assert results[name]["msg"] == "bundle folder /nonexistent/bundle does not exist or is not a folder"
    proc, results = adhoc.invalid_index
    assert proc.returncode != 0
    assert all("is not valid JSON" in r["msg"] and str(adhoc.invalid) in r["msg"] for r in results.values()), results
    proc, results = adhoc.unknown_app
    assert all("failed to find app image nosuchapp:latest" in r["msg"] for r in results.values()), results
    assert adhoc.counts_bad == {name: {"python": 0, "ssh": 0, "sftp": 0, "scp": 0} for name in adhoc.fleet.names}
    assert adhoc.touched_by_bad == []


def test_check_mode_says_what_would_be_sent_and_writes_nothing(adhoc):
    proc, results = adhoc.preview
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in adhoc.fleet.names:
        result = results[name]
        assert result["changed"] is True and result["would_load"] == [APP1]
        assert sorted(result["sent"]["files"]) == sorted(adhoc.app1_files.values())
        assert adhoc.counts_preview[name]["python"] == 1 and adhoc.counts_preview[name]["sftp"] == 0
    assert adhoc.touched_by_preview == []


def test_first_load_costs_two_module_runs_and_one_transfer_per_file(adhoc):
    proc, results = adhoc.first
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in adhoc.fleet.names:
        result = results[name]
        assert result["action"] == "loaded" and result["loaded"] == [APP1]
        assert sorted(result["sent"]["files"]) == sorted(adhoc.app1_files.values())
        assert result["sent"]["bytes"] == sum((adhoc.src / f).stat().st_size for f in adhoc.app1_files.values())
        counts = adhoc.counts_first[name]
        assert counts["python"] == 2, counts
        assert counts["ssh"] + counts["sftp"] + counts["scp"] <= 2 + 3 + 1, counts
        assert adhoc.stores_first[name] == {APP1}
        assert adhoc.cached_first[name] == sorted(list(adhoc.app1_files.values()) + ["manifest"])  # no temporary name left


def test_rerun_is_one_module_run_and_no_transfer(adhoc):
    proc, results = adhoc.again
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in adhoc.fleet.names:
        assert results[name]["changed"] is False and results[name]["action"] == "present"
        assert results[name]["sent"] == {"files": [], "bytes": 0}
        assert adhoc.counts_again[name] == {"python": 1, "ssh": 1, "sftp": 0, "scp": 0}


def test_two_apps_in_one_task_send_only_what_each_host_lacks(adhoc):
    proc, results = adhoc.both
    assert proc.returncode == 0, proc.stdout + proc.stderr
    app2, base = adhoc.app2_files["app"], adhoc.app1_files["base"]
    for name in adhoc.fleet.names:
        result = results[name]
        assert result["loaded"] == ([APP1, APP2] if name == adhoc.damaged else [APP2])
        # the damaged base is sent again; the fake app2 tarball a cut transfer left is not trusted
        expected = {app2} | ({base} if name == adhoc.damaged else set())
        assert set(result["sent"]["files"]) == expected, result
        assert adhoc.counts_both[name]["python"] == 2
        assert adhoc.stores_both[name] == {APP1, APP2}
        assert json.loads((adhoc.fleet.cache(name) / "manifest").read_text()) == adhoc.fleet.bundle.index


def test_a_host_whose_cache_cannot_be_written_fails_alone_and_keeps_its_store(adhoc):
    proc, results = adhoc.blocked_run
    assert proc.returncode != 0
    assert "cache folder %s/cache cannot be created" % (adhoc.fleet.root / "blocker") in results[adhoc.blocked]["msg"]
    assert adhoc.blocked_store_after == adhoc.blocked_store_before
    for name in adhoc.fleet.names:
        if name != adhoc.blocked:
            assert results[name]["action"] == "loaded", results[name]  # force: loaded again, the others went on


class Mirrors:
    """Hosts fetch from a list of mirrors: the first refuses connections, the second serves an altered base."""

    def __init__(self, fleet, http_server, root: Path):
        self.fleet = fleet
        self.src = Path(fleet.bundle.path)
        self.app1_files = bundle_files(fleet.bundle, APP1)
        altered = copy_bundle(root / "altered", self.src)
        base = altered / self.app1_files["base"]
        data = bytearray(base.read_bytes())
        data[-10] ^= 0xFF
        base.write_bytes(bytes(data))
        self.refusing = "http://127.0.0.1:%d/bundle" % free_port("127.0.0.1")  # nothing listens there
        self.altered = http_server(altered)
        self.good = http_server(self.src)

    def play(self):
        fleet = self.fleet
        fleet.take_counts()
        bad_only = "url=%s,%s" % (self.refusing, self.altered.url)
        self.none_good = fleet.adhoc(MODULE, load_args(fleet, APP1, self.src, bad_only))
        self.stores_none_good = {name: store_names(fleet.store(name)) for name in fleet.names}
        self.cached_none_good = {name: sorted(p.name for p in fleet.cache(name).iterdir()) for name in fleet.names}
        fleet.take_counts()
        mirrors = "url=%s,%s,%s" % (self.refusing, self.altered.url, self.good.url)
        self.first = fleet.adhoc(MODULE, load_args(fleet, APP1, self.src, mirrors))
        self.counts_first = fleet.take_counts()
        self.stores_first = {name: store_names(fleet.store(name)) for name in fleet.names}
        # No src: the controller reads the index from the first mirror that serves it.
        self.index_from_mirror = fleet.adhoc(
            MODULE, "name=%s url=%s,%s dir={{ rollout_cache_dir }} store={{ rollout_store }}"
            % (APP2, self.refusing, self.good.url))
        self.counts_second = fleet.take_counts()


@pytest.fixture(scope="module")
def mirrors(fleet_hosts, fleet_bundle, http_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("mirrors")
    fleet = Fleet(fleet_hosts, root / "hosts", fleet_bundle, playbook_runner(root), counted=True)
    scenario = Mirrors(fleet, http_server, root)
    scenario.play()
    return scenario


def test_no_good_copy_fails_naming_the_file_and_the_mirrors_and_loads_nothing(mirrors):
    proc, results = mirrors.none_good
    assert proc.returncode != 0
    base = mirrors.app1_files["base"]
    for name in mirrors.fleet.names:
        message = results[name]["msg"]
        assert message.startswith("no mirror has a good copy of %s; tried: " % base), message
        assert "%s/%s (no answer" % (mirrors.refusing, base) in message
        assert "%s/%s (served" % (mirrors.altered.url, base) in message and "is not the index's" in message
        assert mirrors.stores_none_good[name] == set()
        assert base not in mirrors.cached_none_good[name] and "manifest" not in mirrors.cached_none_good[name]
        assert not [f for f in mirrors.cached_none_good[name] if ".part-" in f]


def test_hosts_skip_a_refusing_and_an_altered_mirror_in_one_module_run(mirrors):
    proc, results = mirrors.first
    assert proc.returncode == 0, proc.stdout + proc.stderr
    base = mirrors.app1_files["base"]
    for name in mirrors.fleet.names:
        result = results[name]
        assert result["loaded"] == [APP1]
        # lib and app from the first mirror that answers (the altered one serves them intact), base from the good one
        assert {f["file"]: f["url"] for f in result["fetched"]} == dict(
            (f, "%s/%s" % (mirrors.good.url if f == base else mirrors.altered.url, f)) for f in mirrors.app1_files.values())
        fetched_base = [f for f in result["fetched"] if f["file"] == base]
        assert fetched_base and fetched_base[0]["url"] == "%s/%s" % (mirrors.good.url, base)
        skipped = {(s["file"], s["url"]) for s in result["mirrors_skipped"]}
        assert (base, "%s/%s" % (mirrors.altered.url, base)) in skipped
        assert (base, "%s/%s" % (mirrors.refusing, base)) in skipped
        assert mirrors.counts_first[name]["python"] == 1 and mirrors.counts_first[name]["sftp"] == 0
        assert mirrors.stores_first[name] == {APP1}


def test_without_src_the_controller_reads_the_index_from_a_mirror(mirrors):
    proc, results = mirrors.index_from_mirror
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in mirrors.fleet.names:
        assert results[name]["loaded"] == [APP2]
        assert [f["file"] for f in results[name]["fetched"]] == [bundle_files(mirrors.fleet.bundle, APP2)["app"]]
        assert mirrors.counts_second[name]["python"] == 1
