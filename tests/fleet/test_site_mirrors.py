# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two sites, each with an nginx mirror: the bundle leaves the controller once per site.

One scenario (``sites``, module scope) over the session's sshd hosts. The
inventory names six hosts: one mirror host and two fleet hosts per site
(site_a, site_b). The session fleet has fewer sshds than that, so inventory
names share sshds (each name with its own cache and store folders, and its
own counting wrappers, support.fleet.Fleet.counted); what a host fetches is
told apart in nginx's access log by the ``X-Fleet-Host`` header each host
sends with its inventory name (every host runs on this machine, so
``$remote_addr`` is 127.0.0.1 for all of them).

Run 1 (playbook of two plays): the role with ``rollout_load: false`` stages
the bundle from the controller into each mirror host's cache folder, which is
the folder that site's nginx serves; then the fleet rolls out from the
mirrors, ``rollout_base_url`` set per site group (own mirror first, the other
site's second). Run 2: the fleet emptied, one tarball corrupted on mirror B:
site B's hosts skip it there and take it from mirror A. Run 3: the fleet
emptied, nginx A stopped (by pid): every host falls back to mirror B for what
B holds good, and fails on the corrupted tarball with a message naming the
file and both mirrors; nothing is loaded from the bad bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import socket
from pathlib import Path

import pytest

from ansible_harness import playbook_runner
from support.fleet import Fleet
from support.nginx import HOST_HEADER
from test_rollout import APP1, APP2, bundle_files, store_names

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

SITES = ("site_a", "site_b")
UNREACHABLE = "a-gone"

PLAYBOOK = """\
- name: Stage the bundle into each site's mirror folder
  hosts: mirrors
  gather_facts: false
  vars:
    rollout_load: false
  roles:
    - role: fleetimage.separated.rollout
  post_tasks:
    - name: Save the mirrors' rollout_result
      ansible.builtin.copy:
        content: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'rollout_result'))) | to_nice_json }}"
        dest: "{{ fleet_results_dir }}/mirrors.json"
        mode: "0644"
      delegate_to: localhost
      run_once: true

- name: Roll the fleet out from its site's mirror
  hosts: fleet
  gather_facts: false
  vars:
    rollout_source: url
    rollout_url_headers: {"%(header)s": "{{ inventory_hostname }}"}
  roles:
    - role: fleetimage.separated.rollout
  post_tasks:
    - name: Save the fleet's rollout_result
      ansible.builtin.copy:
        content: "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, 'rollout_result'))) | to_nice_json }}"
        dest: "{{ fleet_results_dir }}/fleet.json"
        mode: "0644"
      delegate_to: localhost
      run_once: true
""" % {"header": HOST_HEADER}


@dataclasses.dataclass
class Run:
    result: object  # PlaybookResult
    mirrors: dict  # {host: rollout_result}
    fleet: dict
    counts: dict  # {host: {'python', 'ssh', 'sftp', 'scp'}}
    requests: dict  # {site: [LoggedRequest]} logged during this run
    reports: dict  # {'mirrors'|'fleet': (report from the JSON file, Markdown page)} (rollout_report_dir)


class Sites:
    def __init__(self, fleet_hosts, bundle, root: Path, nginx_server):
        ssh_host = type(fleet_hosts.hosts[0])
        mirror_ssh, fleet_ssh = fleet_hosts.hosts[0], fleet_hosts.hosts[1:] or fleet_hosts.hosts
        self.mirror_of = {"site_a": "mirror-a", "site_b": "mirror-b"}
        self.members = {site: [f"{site[-1]}{n}" for n in (1, 2)] for site in SITES}
        hosts = [ssh_host(self.mirror_of[site], mirror_ssh.address, mirror_ssh.port) for site in SITES]
        for site in SITES:
            for n, name in enumerate(self.members[site]):
                target = fleet_ssh[n % len(fleet_ssh)]
                hosts.append(ssh_host(name, target.address, target.port))
        self.fleet = Fleet(dataclasses.replace(fleet_hosts, hosts=hosts), root / "hosts", bundle,
                           playbook_runner(root), counted=True)
        self.root = root
        self.bundle = Path(bundle.path)
        self.nginx = {}
        for site in SITES:
            folder = self.fleet.cache(self.mirror_of[site])
            folder.mkdir(parents=True)
            self.nginx[site] = nginx_server(mirror_ssh.address, folder)
        self.urls = {"site_a": [self.nginx["site_a"].url, self.nginx["site_b"].url],
                     "site_b": [self.nginx["site_b"].url, self.nginx["site_a"].url]}
        self.needed = sorted(set(bundle_files(bundle, APP1).values()) | set(bundle_files(bundle, APP2).values()))
        self.runs = 0
        self.closed_port = _closed_port(fleet_ssh[0].address)

    @property
    def fleet_names(self):
        return [name for site in SITES for name in self.members[site]]

    def site_of(self, name):
        return next(site for site in SITES if name in self.members[site])

    def inventory(self, unreachable=False):
        flat = self.fleet.inventory()
        hosts = flat["all"]["children"]["fleet"]["hosts"]
        members = dict(self.members)
        if unreachable:  # a host of site A whose sshd is gone: a closed port on its address
            gone = dict(hosts[self.members["site_a"][0]], ansible_port=self.closed_port)
            hosts = dict(hosts, **{UNREACHABLE: gone})
            members["site_a"] = members["site_a"] + [UNREACHABLE]
        return {"all": {
            "vars": flat["all"]["vars"],
            "children": {
                "mirrors": {"hosts": {self.mirror_of[site]: hosts[self.mirror_of[site]] for site in SITES}},
                "fleet": {"children": {
                    site: {"hosts": {name: hosts[name] for name in members[site]},
                           "vars": {"rollout_base_url": self.urls[site]}}
                    for site in SITES}},
            },
        }}

    def empty_fleet(self):
        for name in self.fleet_names:
            shutil.rmtree(self.fleet.root / name, ignore_errors=True)

    def run(self, limit=None, unreachable=False, report_dir=None) -> Run:
        self.runs += 1
        results = self.root / f"results-{self.runs}"
        results.mkdir()
        report_dir = report_dir or self.root / f"reports-{self.runs}"
        logged = {site: len(self.nginx[site].requests()) for site in SITES}
        self.fleet.take_counts()
        result = self.fleet.run_playbook(PLAYBOOK, inventory=self.inventory(unreachable), extra_vars={
            "rollout_bundle_dir": str(self.bundle), "rollout_apps": [APP1, APP2],
            "fleet_results_dir": str(results), "rollout_report_dir": str(report_dir)}, limit=limit)

        def read(name):
            path = results / f"{name}.json"
            return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

        reports = {}
        for page in sorted(report_dir.glob("*.json")) if report_dir.is_dir() else []:
            report = json.loads(page.read_text(encoding="utf-8"))
            kind = "mirrors" if report["play"].startswith("Stage") else "fleet"
            reports[kind] = (report, page.with_suffix(".md").read_text(encoding="utf-8"))
        return Run(result, read("mirrors"), read("fleet"), self.fleet.take_counts(),
                   {site: self.nginx[site].requests()[logged[site]:] for site in SITES}, reports)

    def play(self):
        self.first = self.run()
        self.mirror_stores = {site: store_names(self.fleet.store(self.mirror_of[site])) for site in SITES}
        self.fleet_stores_first = {name: store_names(self.fleet.store(name)) for name in self.fleet_names}
        # Run 2: one tarball altered on mirror B (same size, other bytes).
        self.corrupted = bundle_files(self.fleet.bundle, APP2)["app"]
        bad = self.fleet.cache(self.mirror_of["site_b"]) / self.corrupted
        data = bytearray(bad.read_bytes())
        data[len(data) // 2] ^= 0xFF
        bad.write_bytes(bytes(data))
        self.empty_fleet()
        self.second = self.run(limit="fleet")  # the mirrors as they are: a staging run would heal B
        self.fleet_stores_second = {name: store_names(self.fleet.store(name)) for name in self.fleet_names}
        self.cached_second = {name: _sha256(self.fleet.cache(name) / self.corrupted) for name in self.fleet_names}
        # Run 3: mirror A stopped; mirror B still serves the altered tarball: no good copy of it anywhere.
        self.nginx["site_a"].stop()
        self.empty_fleet()
        self.third = self.run(limit="fleet", unreachable=True)
        self.fleet_stores_third = {name: store_names(self.fleet.store(name)) for name in self.fleet_names}
        self.cached_third = {name: sorted(p.name for p in self.fleet.cache(name).iterdir())
                             if self.fleet.cache(name).is_dir() else [] for name in self.fleet_names}
        # Run 4: mirror B's copy repaired, site A only, a report folder that cannot be made (its parent is a file).
        shutil.copyfile(self.bundle / self.corrupted, self.fleet.cache(self.mirror_of["site_b"]) / self.corrupted)
        blocker = self.root / "blocker"
        blocker.write_text("a file, not a folder", encoding="utf-8")
        self.blocked_report_dir = blocker / "reports"
        self.fourth = self.run(limit="site_a", report_dir=self.blocked_report_dir)
        self.fleet_stores_fourth = {name: store_names(self.fleet.store(name)) for name in self.members["site_a"]}


def _closed_port(address):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


def _sha256(path: Path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.fixture(scope="module")
def sites(fleet_hosts, fleet_bundle, tmp_path_factory, nginx_server):
    scenario = Sites(fleet_hosts, fleet_bundle, tmp_path_factory.mktemp("sites"), nginx_server)
    scenario.play()
    return scenario


def _tarballs(requests, host=None, status=200):
    """{path without '/': bytes} of the tarball GETs in REQUESTS (of HOST, with STATUS)."""
    return {r.path.lstrip("/"): r.bytes for r in requests
            if r.method == "GET" and r.status == status and r.path != "/manifest" and (host is None or r.host == host)}


def test_the_mirrors_are_staged_from_the_controller_and_load_nothing(sites):
    run = sites.first
    assert run.result.rc == 0, str(run.result)
    for site in SITES:
        mirror = sites.mirror_of[site]
        result = run.mirrors[mirror]
        assert sorted(result["sent"]["files"]) == sites.needed
        assert result["loaded"] == [] and sites.mirror_stores[site] == set()
        served = sorted(p.name for p in sites.fleet.cache(mirror).iterdir())
        assert served == sorted(sites.needed + ["manifest"])  # the index too, and no temporary file


def test_each_fleet_host_fetches_every_tarball_from_its_own_site_mirror(sites):
    run = sites.first
    sizes = {name: (sites.bundle / name).stat().st_size for name in sites.needed}
    for name in sites.fleet_names:
        site = sites.site_of(name)
        other = next(s for s in SITES if s != site)
        assert _tarballs(run.requests[site], host=name) == sizes, run.requests[site]
        assert [r for r in run.requests[other] if r.host == name] == []
        result = run.fleet[name]
        assert sorted(result["loaded"]) == [APP1, APP2] and sites.fleet_stores_first[name] == {APP1, APP2}
        assert {f["file"]: f["bytes"] for f in result["fetched"]} == sizes
        assert {f["url"].rsplit("/", 1)[0] for f in result["fetched"]} == {sites.nginx[site].url}
        assert result["mirrors_skipped"] == []


def test_the_controller_sends_no_tarball_to_a_fleet_host(sites):
    run = sites.first
    bundle_bytes = sum((sites.bundle / name).stat().st_size for name in sites.needed)
    for name in sites.fleet_names:
        assert run.fleet[name]["sent"] == {"files": [], "bytes": 0}
        assert run.counts[name]["sftp"] == 0 and run.counts[name]["scp"] == 0, run.counts
    # Controller egress in tarballs: one bundle per site, to the mirror hosts only.
    egress = sum(r["sent"]["bytes"] for r in list(run.mirrors.values()) + list(run.fleet.values()))
    assert egress == len(SITES) * bundle_bytes
    # Every tarball byte the fleet received came from the mirrors: what nginx logged.
    served = sum(r.bytes for site in SITES for r in run.requests[site] if r.status == 200 and r.path != "/manifest")
    assert served == sum(sum(f["bytes"] for f in r["fetched"]) for r in run.fleet.values())
    assert served == len(sites.fleet_names) * bundle_bytes


def test_a_corrupted_tarball_is_skipped_and_fetched_from_the_other_site(sites):
    run = sites.second
    assert run.result.rc == 0, str(run.result)
    good = _sha256(sites.bundle / sites.corrupted)
    url_b = "%s/%s" % (sites.nginx["site_b"].url, sites.corrupted)
    for name in sites.fleet_names:
        result = run.fleet[name]
        assert sites.fleet_stores_second[name] == {APP1, APP2}
        assert sites.cached_second[name] == good  # never the altered bytes
        fetched_from = {f["file"]: f["url"].rsplit("/", 1)[0] for f in result["fetched"]}
        if sites.site_of(name) == "site_b":
            assert fetched_from[sites.corrupted] == sites.nginx["site_a"].url
            assert [(s["file"], s["url"]) for s in result["mirrors_skipped"]] == [(sites.corrupted, url_b)]
            assert "sha256" in result["mirrors_skipped"][0]["error"]
            assert sites.corrupted in _tarballs(run.requests["site_a"], host=name)
        else:
            assert set(fetched_from.values()) == {sites.nginx["site_a"].url}
            assert result["mirrors_skipped"] == []


def test_with_no_good_copy_left_every_host_fails_naming_the_file_and_the_mirrors(sites):
    run = sites.third
    assert run.result.rc != 0
    for name in sites.fleet_names:
        assert run.result.recap[name]["failed"] == 1, str(run.result)
        assert sites.fleet_stores_third[name] == set()  # nothing loaded, least of all from the bad bytes
        assert sites.corrupted not in sites.cached_third[name]
        assert [p for p in sites.cached_third[name] if p.startswith(".")] == []  # no temporary file left
        # Mirror A refused; mirror B was asked for the corrupted tarball (and served its bad bytes).
        assert sites.corrupted in _tarballs(run.requests["site_b"], host=name)
    assert run.requests["site_a"] == []
    message = "no mirror has a good copy of %s; tried: %s/%s" % (
        sites.corrupted, sites.urls["site_a"][0], sites.corrupted)
    assert message in run.result.stdout, str(run.result)
    assert "%s/%s" % (sites.nginx["site_b"].url, sites.corrupted) in run.result.stdout


def test_the_report_agrees_with_the_nginx_logs(sites):
    run = sites.first
    bundle_bytes = sum((sites.bundle / name).stat().st_size for name in sites.needed)
    staged, staged_page = run.reports["mirrors"]
    assert staged["totals"]["bytes_from_controller"] == len(SITES) * bundle_bytes
    assert staged["totals"]["bytes_from_mirrors"] == 0 and staged["totals"]["done"] == len(SITES)
    report, page = run.reports["fleet"]
    served = {sites.nginx[site].url: sum(r.bytes for r in run.requests[site] if r.status == 200) for site in SITES}
    assert report["totals"] == {"hosts": 4, "done": 4, "failed": 0, "not_started": 0, "loaded": 8,
                                "bytes_from_controller": 0,
                                "bytes_from_mirrors": sum(served.values()), "mirrors": served}
    for entry in report["hosts"]:
        own = sites.nginx[sites.site_of(entry["host"])].url
        logged = _tarballs(run.requests[sites.site_of(entry["host"])], host=entry["host"])
        assert entry["status"] == "done" and entry["held_before"] == [] and entry["loaded"] == [APP1, APP2]
        assert entry["sources"] == {own: sum(logged.values())} and sorted(entry["files"]) == sorted(logged)
        assert entry["seconds"] > 0 and entry["message"] == ""
        assert "| %s | done | - | %s, %s |" % (entry["host"], APP1, APP2) in page
    assert "| 4 | 4 | 0 | 8 | 0 | %d |" % sum(served.values()) in page


def test_the_report_names_failed_and_unreachable_hosts_with_their_messages(sites):
    report, page = sites.third.reports["fleet"]
    assert report["totals"]["hosts"] == 5 and report["totals"]["done"] == 0 and report["totals"]["failed"] == 5
    hosts = {entry["host"]: entry for entry in report["hosts"]}
    for name in sites.fleet_names:
        assert hosts[name]["status"] == "failed", hosts[name]
        assert "no mirror has a good copy of %s" % sites.corrupted in hosts[name]["message"]
        assert hosts[name]["loaded"] == []
    assert hosts[UNREACHABLE]["status"] == "unreachable" and hosts[UNREACHABLE]["message"], hosts[UNREACHABLE]
    assert "| %s | unreachable |" % UNREACHABLE in page


def test_a_report_folder_that_cannot_be_written_fails_after_the_rollout(sites):
    run = sites.fourth
    assert run.result.rc != 0
    for name in sites.members["site_a"]:
        assert sites.fleet_stores_fourth[name] == {APP1, APP2}  # the rollout itself is done
    assert "the rollout report cannot be written into rollout_report_dir %s" % sites.blocked_report_dir in run.result.stdout, \
        str(run.result)
