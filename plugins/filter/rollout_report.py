# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters rollout_report and rollout_report_markdown (documented in their .yml files).

rollout_report reads, for each host of a play, the facts the role fleetimage.separated.rollout
leaves (rollout_result and its private run records) and returns one report; rollout_report_markdown
renders that report as a Markdown page. They run on the controller, once per play.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

# The role's registered results whose message tells why a host failed, in the order the role runs them.
_STEP_RESULTS = ("__rollout_run", "__rollout_cache_load", "__rollout_removed", "__rollout_pruned")
CONTROLLER = "controller"


def _var(variables, name, default=None):
    try:
        value = variables[name]
    except (KeyError, TypeError):
        return default
    return default if value is None else value


def _seconds(started, finished):
    try:
        return round(float(finished) - float(started), 3)
    except (TypeError, ValueError):
        return None


def _failure(variables):
    """(status, message) of a host that has no report of this run: the first failed step's message."""
    for name in _STEP_RESULTS:
        step = _var(variables, name, {})
        if not isinstance(step, dict):
            continue
        if step.get("unreachable"):
            return "unreachable", str(step.get("msg") or "unreachable")
        if step.get("failed"):
            return "failed", str(step.get("msg") or "failed")
    return "failed", "the host stopped before its report (see the play's output for the failed task)"


def _host_entry(host, variables):
    started = _var(variables, "__rollout_started_at")
    finished = _var(variables, "__rollout_finished_at")
    if finished == "":
        finished = None  # reset at the role's start: this run has not reached the host's report
    result = _var(variables, "rollout_result", {}) if finished is not None else {}
    entry = {
        "host": host,
        "status": "done",
        "held_before": sorted(result.get("present", [])),
        "loaded": sorted(result.get("loaded", [])),
        "would_load": sorted(result.get("would_load", [])),
        "stale": list(result.get("stale", [])),
        "pruned": list(result.get("pruned", [])),
        "files": [],
        "bytes": 0,
        "sources": {},
        "mirrors_skipped": list(result.get("mirrors_skipped", [])),
        "seconds": _seconds(started, finished),
        "message": "",
    }
    if started is None:  # under serial, a host of a later batch: not counted as done nor as failed
        entry["status"], entry["message"] = "not_started", "not reached yet (a later serial batch)"
        return entry
    if finished is None:
        entry["status"], entry["message"] = _failure(variables)
        return entry
    sent = result.get("sent") or {}
    if sent.get("bytes") or sent.get("files"):
        entry["files"].extend(sent.get("files", []))
        entry["sources"][CONTROLLER] = int(sent.get("bytes", 0))
    for fetched in result.get("fetched", []):
        mirror = str(fetched["url"]).rsplit("/", 1)[0]
        entry["files"].append(fetched["file"])
        entry["sources"][mirror] = entry["sources"].get(mirror, 0) + int(fetched["bytes"])
    entry["bytes"] = sum(entry["sources"].values())
    return entry


def rollout_report(hosts, hostvars, play="", check_mode=False, written_at=""):
    """The report of one play: totals, then one entry per host of HOSTS (ansible_play_hosts_all)."""
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError("rollout_report expects the list of the play's hosts, not %s" % type(hosts).__name__)
    entries = []
    for host in hosts:
        try:
            variables = hostvars[host]
        except KeyError:
            variables = {}
        entries.append(_host_entry(str(host), variables))
    mirrors = {}
    for entry in entries:
        for source, size in entry["sources"].items():
            if source != CONTROLLER:
                mirrors[source] = mirrors.get(source, 0) + size
    totals = {
        "hosts": len(entries),
        "done": sum(1 for e in entries if e["status"] == "done"),
        "failed": sum(1 for e in entries if e["status"] in ("failed", "unreachable")),
        "not_started": sum(1 for e in entries if e["status"] == "not_started"),
        "loaded": sum(len(e["loaded"]) for e in entries),
        "bytes_from_controller": sum(e["sources"].get(CONTROLLER, 0) for e in entries),
        "bytes_from_mirrors": sum(mirrors.values()),
        "mirrors": dict(sorted(mirrors.items())),
    }
    return {"play": str(play), "check_mode": bool(check_mode), "written_at": str(written_at),
            "totals": totals, "hosts": entries}


def _cell(value):
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ") or "-"


def rollout_report_markdown(report):
    """REPORT (from rollout_report) as a Markdown page: totals on top, then a row per host."""
    try:
        totals, hosts = report["totals"], report["hosts"]
    except (KeyError, TypeError):
        raise AnsibleFilterError("rollout_report_markdown expects the dict that rollout_report returns")
    title = "Rollout report" + (": %s" % report["play"] if report.get("play") else "")
    lines = ["# %s" % _cell(title), ""]
    if report.get("written_at"):
        lines += ["Written %s%s." % (report["written_at"], " (check mode: nothing was changed)"
                                     if report.get("check_mode") else ""), ""]
    figures = (totals["hosts"], totals["done"], totals["failed"], totals["loaded"],
               totals["bytes_from_controller"], totals["bytes_from_mirrors"])
    lines += ["| hosts | done | failed | apps loaded | bytes from the controller | bytes from mirrors |",
              "|---:|---:|---:|---:|---:|---:|",
              "| %d | %d | %d | %d | %d | %d |" % figures, ""]
    if totals.get("mirrors"):
        lines += ["| mirror | bytes served |", "|---|---:|"]
        lines += ["| %s | %d |" % (_cell(url), size) for url, size in totals["mirrors"].items()]
        lines.append("")
    lines += ["| host | status | held before | loaded | stale | files received | bytes | from | seconds | message |",
              "|---|---|---|---|---|---|---:|---|---:|---|"]
    for entry in hosts:
        sources = ["%s (%d)" % (source, size) for source, size in entry["sources"].items()]
        lines.append("| %s |" % " | ".join(_cell(v) for v in (
            entry["host"], entry["status"], entry["held_before"], entry["loaded"] or entry.get("would_load"),
            entry["stale"], entry["files"], entry["bytes"], sources, entry["seconds"], entry["message"])))
    return "\n".join(lines) + "\n"


class FilterModule(object):
    def filters(self):
        return {"rollout_report": rollout_report, "rollout_report_markdown": rollout_report_markdown}
