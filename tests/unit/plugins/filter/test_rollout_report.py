"""The filters rollout_report and rollout_report_markdown, fed host variables as the rollout role leaves them."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.fleetimage.separated.plugins.filter.rollout_report import FilterModule

FILTERS = FilterModule().filters()
rollout_report = FILTERS["rollout_report"]
rollout_report_markdown = FILTERS["rollout_report_markdown"]
MIRROR_A = "http://127.0.0.2:8080/bundle"
MIRROR_B = "http://127.0.0.3:8080/bundle"


def result(**changes):
    base = {"present": [], "loaded": [], "would_load": [], "stale": [], "pruned": [], "sent": {"files": [], "bytes": 0},
            "fetched": [], "mirrors_skipped": []}
    base.update(changes)
    return base


HOSTVARS = {
    "pushed": {"__rollout_started_at": "100.0", "__rollout_finished_at": "102.5",
               "rollout_result": result(present=["app1:1"], loaded=["app2:1"],
                                        sent={"files": ["app2.tar.gz"], "bytes": 300})},
    "fetched": {"__rollout_started_at": 100.0, "__rollout_finished_at": 101.0,
                "rollout_result": result(loaded=["app1:1"], stale=["app1:1"], fetched=[
                    {"file": "base.tar.gz", "url": MIRROR_A + "/base.tar.gz", "bytes": 1000},
                    {"file": "app1.tar.gz", "url": MIRROR_B + "/app1.tar.gz", "bytes": 20}],
                    mirrors_skipped=[{"file": "app1.tar.gz", "url": MIRROR_A + "/app1.tar.gz", "error": "sha256"}])},
    # Failed in this run: its rollout_result is an earlier run's, and must not count.
    "failed": {"__rollout_started_at": 100.0, "__rollout_finished_at": "",
               "rollout_result": result(loaded=["old:1"], sent={"files": ["x"], "bytes": 5}),
               "__rollout_run": {"failed": True, "msg": "no mirror has a good copy of app1.tar.gz; tried: ..."}},
    "gone": {"__rollout_started_at": 100.0, "__rollout_finished_at": "",
             "__rollout_run": {"unreachable": True, "msg": "Failed to connect to the host via ssh"}},
}


def test_totals_and_sources_per_host():
    report = rollout_report(list(HOSTVARS), HOSTVARS, play="Roll out", written_at="2026-01-01T00:00:00")
    assert report["totals"] == {"hosts": 4, "done": 2, "failed": 2, "not_started": 0, "loaded": 2,
                                "bytes_from_controller": 300,
                                "bytes_from_mirrors": 1020, "mirrors": {MIRROR_A: 1000, MIRROR_B: 20}}
    hosts = {entry["host"]: entry for entry in report["hosts"]}
    assert hosts["pushed"]["sources"] == {"controller": 300} and hosts["pushed"]["seconds"] == 2.5
    assert hosts["pushed"]["held_before"] == ["app1:1"] and hosts["pushed"]["loaded"] == ["app2:1"]
    assert hosts["fetched"]["sources"] == {MIRROR_A: 1000, MIRROR_B: 20}
    assert hosts["fetched"]["files"] == ["base.tar.gz", "app1.tar.gz"] and hosts["fetched"]["bytes"] == 1020
    assert hosts["fetched"]["stale"] == ["app1:1"] and hosts["fetched"]["mirrors_skipped"][0]["error"] == "sha256"


def test_a_failed_or_unreachable_host_has_its_message_and_no_earlier_figures():
    hostvars = dict(HOSTVARS, never={"__rollout_started_at": 100.0, "__rollout_finished_at": ""})
    report = rollout_report(["failed", "gone", "never"], hostvars)
    failed, gone, never = report["hosts"]
    assert failed["status"] == "failed" and failed["message"].startswith("no mirror has a good copy of app1.tar.gz")
    assert failed["loaded"] == [] and failed["bytes"] == 0 and failed["seconds"] is None
    assert gone["status"] == "unreachable" and gone["message"] == "Failed to connect to the host via ssh"
    assert never["status"] == "failed" and "before its report" in never["message"]
    assert report["totals"]["done"] == 0 and report["totals"]["failed"] == 3


def test_markdown_has_the_totals_and_one_escaped_row_per_host():
    hostvars = dict(HOSTVARS, **{"odd|name": {"__rollout_finished_at": "",
                                              "__rollout_started_at": 1.0,
                                              "__rollout_run": {"failed": True, "msg": "line one\nline | two"}}})
    page = rollout_report_markdown(rollout_report(list(hostvars), hostvars, play="Roll out", written_at="T"))
    lines = page.splitlines()
    assert lines[0] == "# Rollout report: Roll out"
    assert "| 5 | 2 | 3 | 2 | 300 | 1020 |" in lines
    assert "| %s | 1000 |" % MIRROR_A in lines
    rows = [line for line in lines if line.startswith("| odd")]
    assert rows == ["| odd\\|name | failed | - | - | - | - | 0 | - | - | line one line \\| two |"]
    assert any(line.startswith("| fetched | done | - | app1:1 | app1:1 | base.tar.gz, app1.tar.gz | 1020 | ")
               for line in lines)


def test_bad_input_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="list of the play's hosts"):
        rollout_report("host1", {})
    with pytest.raises(AnsibleFilterError, match="the dict that rollout_report returns"):
        rollout_report_markdown({"hosts": []})


def test_a_host_of_a_later_serial_batch_is_not_started_not_failed():
    report = rollout_report(["pushed", "later"], HOSTVARS)
    assert report["hosts"][1]["status"] == "not_started"
    assert report["totals"]["done"] == 1 and report["totals"]["failed"] == 0 and report["totals"]["not_started"] == 1
