# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Medians, ratios and targets of a benchmark run; its JSON, Markdown and plot."""

from __future__ import annotations

import json
import os
import statistics

MIB = 2.0 ** 20
# Methods in the order of the tables and the plot, with what each is.
METHODS = [
    ("floor", "floor: read + sha256 + gunzip + sha256 + write, 1 fsync"),
    ("oci", "this project, OCI store (module_utils)"),
    ("ansible", "this project, OCI store, through `ansible -m`"),
    ("isula_pigz", "isula-build's algorithm, pigz -p2, OCI store"),
    ("isula_gzip", "isula-build's algorithm, gzip -6, OCI store"),
    ("podman", "this project, podman store"),
    ("isula_podman", "isula-build's algorithm, pigz -p2, then podman load"),
    ("noop", "no-op (image present), OCI, inside the module"),
    ("ansible_noop", "no-op through `ansible -m`"),
    ("podman_noop", "no-op (image present), podman store"),
    ("second_app", "second app sharing base and lib, OCI"),
    ("floor_app2", "floor of the second app's own tarball"),
    ("hash_shared", "sha256 of the shared base and lib tarballs"),
]
# (name, numerator, denominator, target, "min" when the ratio must be at least the target)
RATIOS = [
    ("oci time / floor time", "oci", "floor", 1.0, "max"),
    ("isula pigz -p2 / oci", "isula_pigz", "oci", 6.0, "min"),
    ("isula gzip -6 / oci", "isula_gzip", "oci", 10.0, "min"),
    ("isula pigz -p2 + podman load / podman (this project)", "isula_podman", "podman", 2.5, "min"),
    ("second app / floor of its own tarball", "second_app", "floor_app2", None, None),
    ("second app / (floor of its own tarball + sha256 of base and lib)", "second_app", ("floor_app2", "hash_shared"),
     1.0, "max"),
    ("second app / first app", "second_app", "oci", None, None),
    ("ansible / oci", "ansible", "oci", None, None),
]


def summarize(document):
    """{size: {"methods": {name: stats}, "ratios": {...}}, "targets": [...]}."""
    sizes = sorted({run["size_mib"] for run in document["runs"]})
    summary = {"sizes": {}}
    for size in sizes:
        methods = {}
        for name, label in METHODS:
            runs = [r for r in document["runs"] if r["size_mib"] == size and r["name"] == name]
            if not runs:
                continue
            seconds = [r["seconds"] for r in runs]
            median = statistics.median(seconds)
            size_bytes = runs[0]["bytes"]
            methods[name] = {
                "runs": len(runs),
                "median_seconds": median,
                "min_seconds": min(seconds),
                "max_seconds": max(seconds),
                "mb_per_second": size_bytes / median / 1e6 if size_bytes and median else None,
                "peak_rss_mib": max(r["vmhwm_kib"] for r in runs) / 1024.0,
                "peak_tree_rss_mib": max(r["peak_tree_rss_bytes"] for r in runs) / MIB,
                "extra_disk_mib": max(r["extra_disk_bytes"] for r in runs) / MIB,
                "steps": _median_steps(runs),
            }
        ratios = {}
        for label, top, bottom, goal, kind in RATIOS:
            bottoms = bottom if isinstance(bottom, tuple) else (bottom,)
            if top in methods and all(b in methods for b in bottoms):
                ratios[label] = methods[top]["median_seconds"] / sum(methods[b]["median_seconds"] for b in bottoms)
        summary["sizes"][str(size)] = {"methods": methods, "ratios": ratios}
    summary["targets"] = _targets(document, summary)
    return summary


def _median_steps(runs):
    steps = [r["detail"].get("steps") for r in runs if r.get("detail", {}).get("steps")]
    if not steps:
        return None
    return {key: statistics.median(s[key] for s in steps) for key in steps[0]}


def _targets(document, summary):
    main = str(document["arguments"]["size"])
    largest = str(max(int(s) for s in summary["sizes"]))
    at = summary["sizes"]
    targets = []

    def check(label, value, ok, where):
        targets.append({"target": label, "value": value, "met": ok if value is not None else None, "size_mib": where})

    for label, top, bottom, goal, kind in RATIOS:
        if goal is None:
            continue
        value = at[main]["ratios"].get(label)
        met = value is not None and (value >= goal if kind == "min" else value <= goal)
        check("%s %s %.1f" % (label, ">=" if kind == "min" else "<=", goal), value, met, int(main))
    noops = [(size, s["methods"]["noop"]["max_seconds"]) for size, s in at.items() if "noop" in s["methods"]]
    worst = max(noops, key=lambda item: item[1]) if noops else (main, None)
    check("no-op inside the module < 50 ms (slowest run, any size)",
          worst[1] * 1000 if worst[1] is not None else None, worst[1] is not None and worst[1] < 0.05, int(worst[0]))
    oci_rss = at[largest]["methods"].get("oci", {}).get("peak_rss_mib")
    check("oci peak RSS < 100 MiB at the largest size", oci_rss, oci_rss is not None and oci_rss < 100, int(largest))
    extra = max((s["methods"]["oci"]["extra_disk_mib"] for s in at.values() if "oci" in s["methods"]), default=None)
    check("oci extra disk beyond the store == 0 (MiB, any size)", extra, extra is not None and extra < 0.5,
          int(largest))
    return targets


# --- output ----------------------------------------------------------------------------------


def tables(document):
    """The Markdown tables of a run."""
    summary = document["summary"]
    lines = []
    for size, data in sorted(summary["sizes"].items(), key=lambda item: int(item[0])):
        bundle = document["bundles"].get(size, {})
        compressed = sum(bundle.get("tarballs", {}).values()) / MIB if bundle else 0
        lines.append("### %s MiB image (bundle: %.0f MiB of tarballs, two apps)" % (size, compressed))
        lines.append("")
        lines.append("| method | runs | median s | min-max s | MB/s | peak RSS MiB (process / tree) | extra disk MiB |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        for name, label in METHODS:
            stats = data["methods"].get(name)
            if stats is None:
                continue
            rate = "%.0f" % stats["mb_per_second"] if stats["mb_per_second"] else ""
            lines.append("| %s | %d | %.3f | %.3f-%.3f | %s | %.0f / %.0f | %.1f |" % (
                label, stats["runs"], stats["median_seconds"], stats["min_seconds"], stats["max_seconds"], rate,
                stats["peak_rss_mib"], stats["peak_tree_rss_mib"], stats["extra_disk_mib"]))
        lines.append("")
        if data["ratios"]:
            lines.append("| ratio (medians) | value |")
            lines.append("|---|---:|")
            for label, value in data["ratios"].items():
                lines.append("| %s | %.2f |" % (label, value))
            lines.append("")
        steps = [(name, stats["steps"]) for name, stats in data["methods"].items() if stats.get("steps")]
        for name, step_times in steps:
            lines.append("%s steps (median s): %s" % (name, ", ".join("%s %.2f" % kv for kv in step_times.items())))
        if steps:
            lines.append("")
    lines.append("### Targets")
    lines.append("")
    lines.append("| target | at MiB | value | met |")
    lines.append("|---|---:|---:|---|")
    for target in summary["targets"]:
        value = "%.2f" % target["value"] if target["value"] is not None else "n/a"
        met = {True: "yes", False: "**no**", None: "not measured"}[target["met"]]
        lines.append("| %s | %s | %s | %s |" % (target["target"], target["size_mib"], value, met))
    if document["skipped"]:
        lines.append("")
        for method, why in sorted(document["skipped"].items()):
            lines.append("Skipped %s: %s" % (method, why))
    return "\n".join(lines) + "\n"


def plot(document, path):
    """Throughput against size, one line per method; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    summary = document["summary"]["sizes"]
    sizes = sorted(int(s) for s in summary)
    fig, ax = plt.subplots(figsize=(12, 5.5))
    for name, label in METHODS:
        points = [(s, summary[str(s)]["methods"][name]["mb_per_second"]) for s in sizes
                  if name in summary[str(s)]["methods"] and summary[str(s)]["methods"][name]["mb_per_second"]]
        if name in ("floor_app2", "second_app", "hash_shared") or len(points) < 1:
            continue
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")  # equal ratios, equal distances
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(s) for s in sizes])
    ax.set_yticks([t for t in (5, 10, 20, 50, 100, 200, 500, 1000, 2000) if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]])
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("image size, MiB uncompressed (app1: base + lib + app)")
    ax.set_ylabel("MB/s of uncompressed image (median)")
    machine = document["machine"]
    ax.set_title("Loading a separated image bundle: %s CPUs, %s" % (machine["cpus"], document["when"][:10]))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write(document, out):
    with open(os.path.join(out, "bench.json"), "w") as f:
        json.dump(document, f, indent=1, sort_keys=True)
    text = tables(document)
    with open(os.path.join(out, "bench.md"), "w") as f:
        f.write(text)
    print()
    print(text)
    if plot(document, os.path.join(out, "bench.png")):
        print("bench: wrote %s/bench.json, bench.md, bench.png" % out)
    else:
        print("bench: wrote %s/bench.json, bench.md (no plot: matplotlib is not installed; "
              "pip install -r benchmarks/requirements.txt)" % out)
