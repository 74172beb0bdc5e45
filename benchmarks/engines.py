# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Engine benchmark: this project's load into podman, docker and containerd against each engine's own import.

    make bench-engines                               # 256 MiB and 1 GiB, 3 repetitions
    .venv/bin/python benchmarks/engines.py --sizes 64 --reps 1   # a quick look

For each size, in one run: the bundle's tarballs merged once into the
finished docker-archive (uncompressed, what `podman load -i`, `docker load -i`
and `ctr images import` read); then, per repetition and engine, alternating
the order of the engines, each step in a fresh process (see _runner.py):

  stream   this project's side alone: the merged archive made from the bundle and
           dropped (no engine): what the engine's own import does not pay
  own      the engine's own import of the finished archive, into an empty engine
  ours     separated_image_load (module_utils called directly) from the bundle,
           into an empty engine
  noop     the same load again, the image present: timed inside the module
  noop_cold  the same with nothing remembered (another engine_state folder):
             the app tarball is read for its image id

The engine's storage and the module's temporary folder are sampled for disk
use: "extra disk" is the peak above what stays after the step, the
temporary disk of the load. Output: benchmarks/out/engines/engines.json
and engines.md (medians, and ours/own per engine and size).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))

import _engines  # noqa: E402
import _generate  # noqa: E402
from _runner import run_step  # noqa: E402
from bench import GENERATOR_VERSION, machine  # noqa: E402

MIB = 1024 * 1024


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="256,1024", help="bundle sizes in MiB of app1's image (default 256,1024)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--engines", default="podman,docker,containerd")
    parser.add_argument("--out", default=os.path.join(HERE, "out", "engines"))
    parser.add_argument("--keep-bundles", action="store_true")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = os.path.abspath(args.out)
    work = os.path.join(out, "work")
    bundles = os.path.join(HERE, "out", "bundles")
    for folder in (work, bundles):
        os.makedirs(folder, exist_ok=True)
    skipped, engines = {}, []
    started = time.perf_counter()
    runs = []
    try:
        for name in args.engines:
            why = _engines.available(name)
            if why:
                skipped[name] = why
                print("engines: SKIPPED %s: %s" % (name, why), flush=True)
                continue
            engines.append(_engines.ENGINES[name](work))
        tmp = os.path.join(work, "tmp")
        for size in args.sizes:
            bundle = os.path.join(bundles, "bundle-%dMiB-v%d" % (size, GENERATOR_VERSION))
            if not os.path.exists(bundle + ".json"):
                shutil.rmtree(bundle, ignore_errors=True)
                _generate.make_bundle(bundle, size)
            with open(bundle + ".json") as f:
                info = json.load(f)
            archive = os.path.join(work, "finished-%d.tar" % size)
            base = {"bundle": bundle, "name": info["app1"], "work": work}
            run_step(dict(base, method="merge", archive=archive))
            for rep in range(args.reps):
                print("engines: %d MiB, repetition %d/%d" % (size, rep + 1, args.reps), flush=True)
                alone = run_step(dict(base, method="stream_only"))
                alone.update(engine="(none)", size_mib=size, kind="stream_only", bytes=info["app1_bytes"])
                shown = ("-", "stream", alone["seconds"], alone["detail"]["cpu_seconds"])
                print("  %-10s %-10s %8.3f s  %7.1f s CPU" % shown, flush=True)
                runs.append(alone)
                shift = rep % len(engines)
                for engine in engines[shift:] + engines[:shift]:
                    runs.extend(_measure(engine, size, base, archive, tmp, info["app1_bytes"]))
            os.unlink(archive)
            if not args.keep_bundles:
                shutil.rmtree(bundle, ignore_errors=True)
                os.unlink(bundle + ".json")
    finally:
        for engine in engines:
            engine.close()
        shutil.rmtree(work, ignore_errors=True)
    document = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "arguments": {"sizes": args.sizes, "reps": args.reps, "engines": args.engines},
        "skipped": skipped,
        "elapsed_seconds": time.perf_counter() - started,
        "runs": runs,
    }
    document["summary"] = summarize(runs)
    with open(os.path.join(out, "engines.json"), "w") as f:
        json.dump(document, f, indent=1)
    with open(os.path.join(out, "engines.md"), "w") as f:
        f.write(table(document))
    print(table(document))


def _measure(engine, size, base, archive, tmp, image_bytes):
    """own, ours, noop and noop_cold of ENGINE at SIZE; each step's report."""
    reports = []
    env = dict(os.environ, **engine.env)
    env["TMPDIR"] = tmp
    watch = engine.watched + [tmp]

    def step(kind, spec):
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        report = run_step(spec, watch=watch, env=env)
        report.update(engine=engine.name, size_mib=size, kind=kind, bytes=image_bytes)
        print("  %-10s %-10s %8.3f s  %7.1f MiB extra disk" % (engine.name, kind, report["seconds"],
                                                               report["extra_disk_bytes"] / MIB), flush=True)
        reports.append(report)

    engine.reset()
    step("own", {"method": "engine_own", "argv": engine.own_import(archive)})
    engine.reset()
    load = dict(base, method="load", params=dict(engine.params, engine_state=os.path.join(base["work"], "state")))
    step("ours", load)
    step("noop", dict(load, expect="present"))
    cold = dict(load["params"], engine_state=os.path.join(base["work"], "state-%d" % time.monotonic_ns()))
    step("noop_cold", dict(load, expect="present", params=cold))
    engine.reset()
    return reports


def summarize(runs):
    """{engine: {size: {kind: median seconds, kind_extra_disk: median bytes}, ratio: ours/own}}."""
    summary = {}
    for run in runs:
        if run["kind"] == "stream_only":
            cell = summary.setdefault("stream_only", {}).setdefault(str(run["size_mib"]), {})
            cell.setdefault("seconds", []).append(run["seconds"])
            cell.setdefault("cpu_seconds", []).append(run["detail"]["cpu_seconds"])
            continue
        cell = summary.setdefault(run["engine"], {}).setdefault(str(run["size_mib"]), {})
        cell.setdefault(run["kind"], []).append(run["seconds"])
        cell.setdefault(run["kind"] + "_extra_disk", []).append(run["extra_disk_bytes"])
    for sizes in summary.values():
        for cell in sizes.values():
            for key in list(cell):
                cell[key] = statistics.median(cell[key])
            if cell.get("own"):
                cell["ratio"] = cell["ours"] / cell["own"]
    return summary


def table(document):
    lines = ["| engine | size | own import | ours | ours / own | no-op (remembered) | no-op (app tarball read) "
             "| temporary disk: own / ours |", "|---|---|---|---|---|---|---|---|"]
    alone = document["summary"].get("stream_only", {})
    for engine, sizes in sorted(document["summary"].items()):
        if engine == "stream_only":
            continue
        for size, cell in sorted(sizes.items(), key=lambda item: int(item[0])):
            lines.append("| %s | %s MiB | %.2f s | %.2f s | %.2f | %.0f ms | %.0f ms | %.0f / %.0f MiB |" % (
                engine, size, cell["own"], cell["ours"], cell["ratio"], cell["noop"] * 1000,
                cell["noop_cold"] * 1000, cell["own_extra_disk"] / MIB, cell["ours_extra_disk"] / MIB))
    lines.append("")
    for size, cell in sorted(alone.items(), key=lambda item: int(item[0])):
        lines.append("This project's stream alone (no engine), %s MiB: %.2f s, %.2f s of CPU (all threads)."
                     % (size, cell["seconds"], cell["cpu_seconds"]))
    lines.append("")
    lines.append("Medians of %d repetitions, %s, %d CPUs; commit %s." % (
        document["arguments"]["reps"], document["when"], document["machine"]["cpus"], document["machine"]["commit"]))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
