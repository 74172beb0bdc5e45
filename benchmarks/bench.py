# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load benchmark: this project's loader against the floor and isula-build's algorithm.

    make bench                              # default size (1 GiB) and the sweep
    .venv/bin/python benchmarks/bench.py --quick
    .venv/bin/python benchmarks/bench.py --size 1024 --sweep 128,512,2048 --reps 3

For each bundle size, in one run, alternating the order of the methods from
one repetition to the next, each step in a fresh process (see _runner.py):

  floor          read + sha256 + gunzip (fastest decoder) + sha256 + write, one fsync
  oci            this project's load into its OCI store (module_utils called directly)
  noop           the same load again, the image present: the module's idempotent run
  second_app     app2, sharing base and lib with app1 already in the store; beside it
                 floor_app2 (the floor of app2's own tarball) and hash_shared (sha256 of
                 the base and lib tarballs, which the loader checks without reading them)
  ansible        the module through `ansible localhost -m` (main size only), and its no-op
  isula_pigz     isula-build's algorithm into the same OCI store, re-packed with pigz -p2
  isula_gzip     the same, re-packed with gzip -6 (main size only)
  podman         this project's podman store (engine=podman), and its no-op
  isula_podman   isula-build's algorithm (pigz -p2), then `podman load` of its archive (main size only)

Output: benchmarks/out/bench.json (every run and the summary), bench.md (the
tables), bench.png (throughput against size).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
COLLECTIONS = os.path.join(REPO, ".build", "collections")
sys.path.insert(0, COLLECTIONS)

import _generate  # noqa: E402
import _podman  # noqa: E402
import _report  # noqa: E402
from _runner import run_step  # noqa: E402

GENERATOR_VERSION = 1


# Defaults of a full run, and of --quick; options given on the command line win over both.
FULL = {"size": 1024, "sweep": "128,512,2048", "reps": 3, "sweep_reps": 2}
QUICK = {"size": 64, "sweep": "16,32", "reps": 2, "sweep_reps": 2}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--size", type=int, help="main bundle size, MiB of app1's image (default 1024)")
    parser.add_argument("--sweep", help="more sizes in MiB, comma-separated, '' for none (default 128,512,2048)")
    parser.add_argument("--reps", type=int, help="repetitions at the main size (default 3)")
    parser.add_argument("--sweep-reps", type=int, help="repetitions at the sweep sizes (default 2)")
    parser.add_argument("--quick", action="store_true", help="small sizes: 64 MiB, sweep 16,32, 2 repetitions")
    parser.add_argument("--out", help="output folder (default benchmarks/out, benchmarks/out/quick with --quick)")
    parser.add_argument("--skip", default="", help="methods to leave out, comma-separated (e.g. ansible,podman)")
    parser.add_argument("--keep-bundles", action="store_true", help="keep the generated bundles for the next run")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.out is None:  # a quick run never overwrites the figures of a full one
        args.out = os.path.join(HERE, "out", "quick") if args.quick else os.path.join(HERE, "out")
    args.sweep = [int(s) for s in args.sweep.split(",") if s.strip()]
    args.skip = set(s.strip() for s in args.skip.split(",") if s.strip())
    return args


class Bench(object):
    def __init__(self, args):
        self.args = args
        self.out = os.path.abspath(args.out)
        self.work = os.path.join(self.out, "work")
        self.bundles = os.path.join(self.out, "bundles")
        for folder in (self.work, self.bundles):
            os.makedirs(folder, exist_ok=True)
        self.skipped = {}
        self.runs = []  # every measured step
        self.podman = None
        self._check_tools()

    # --- set-up -----------------------------------------------------------------------

    def _check_tools(self):
        if not os.path.isdir(os.path.join(COLLECTIONS, "ansible_collections", "fleetimage", "separated")):
            sys.exit("bench: %s lacks the collection: run `make collection` first" % COLLECTIONS)
        self.ansible = os.path.join(os.path.dirname(sys.executable), "ansible")
        if "ansible" not in self.args.skip and not os.path.exists(self.ansible):
            self._skip("ansible", "%s not found: run `make venv` (ansible-core)" % self.ansible)
        for tool, methods in (("pigz", ("isula_pigz", "isula_podman")), ("gzip", ("isula_gzip",))):
            if shutil.which(tool) is None:
                for method in methods:
                    self._skip(method, "%s is not installed (apt-get install -y %s)" % (tool, tool))
        why = _podman.available()
        if why:
            self._skip("podman", why)
            self._skip("isula_podman", why)
        else:
            from ansible_collections.fleetimage.separated.plugins.module_utils._store import registry as _stores

            if "podman" not in getattr(_stores, "ENGINES", ()):
                self._skip("podman", "this project's engine=\"podman\" store is not available yet "
                           "(plugins/module_utils/_stores.py ENGINES = %r)" % (getattr(_stores, "ENGINES", ()),))
            if self.wanted("podman") or self.wanted("isula_podman"):
                self.podman = _podman.PodmanStore(os.path.join(self.work, "podman"))

    def _skip(self, method, why):
        self.skipped[method] = why

    def wanted(self, method):
        return method not in self.args.skip and method not in self.skipped

    def bundle(self, size):
        """The bundle of SIZE MiB, generated unless an identical one is kept from a previous run."""
        path = os.path.join(self.bundles, "bundle-%dMiB-v%d" % (size, GENERATOR_VERSION))
        info_path = path + ".json"
        if os.path.isdir(path) and os.path.exists(info_path):
            with open(info_path) as f:
                return path, json.load(f), 0.0
        shutil.rmtree(path, ignore_errors=True)
        started = time.perf_counter()
        info = _generate.make_bundle(path, size)
        return path, info, time.perf_counter() - started

    # --- the steps ---------------------------------------------------------------------

    def step(self, size, method, spec, watch=(), env=None, bytes_=None):
        spec = dict(spec, method=spec.get("method", method))
        report = run_step(spec, watch=watch, env=env)
        report.update(size_mib=size, name=method, bytes=bytes_)
        self.runs.append(report)
        print("  %-16s %8.3f s  %7.1f MiB RSS  %7.1f MiB extra disk"
              % (method, report["seconds"], report["vmhwm_kib"] / 1024.0, report["extra_disk_bytes"] / 2.0 ** 20),
              flush=True)
        return report

    def groups(self, size, bundle, info, main):
        """The measured groups of one repetition: each a function running one or more dependent steps."""
        app1, app2 = info["app1"], info["app2"]
        image, own2 = info["app1_bytes"], info["app2_own_bytes"]
        store = os.path.join(self.work, "store")
        tmp = os.path.join(self.work, "tmp")
        base = {"bundle": bundle, "name": app1, "work": self.work}

        def fresh(*folders):
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
            os.makedirs(tmp, exist_ok=True)

        def floor():
            fresh(tmp)
            self.step(size, "floor", dict(base, work=tmp), watch=[tmp], bytes_=image)
            self.step(size, "floor_app2", dict(base, method="floor", work=tmp, name=app2, parts=["app"]),
                      watch=[tmp], bytes_=own2)
            self.step(size, "hash_shared", dict(base, method="hash", name=app2, parts=["lib", "base"]), watch=[tmp])
            fresh(tmp)

        def oci():
            fresh(store, tmp)
            load = dict(base, method="load", params={"store": store})
            self.step(size, "oci", load, watch=[store, tmp], bytes_=image)
            self.step(size, "noop", dict(load, expect="present"), watch=[store, tmp])
            self.step(size, "second_app", dict(load, name=app2), watch=[store, tmp], bytes_=own2)
            fresh(store)

        def ansible():
            fresh(store, tmp)
            env = self.ansible_env()
            spec = {"method": "ansible", "ansible": self.ansible, "env": env,
                    "args": {"name": app1, "dir": bundle, "store": store}}
            self.step(size, "ansible", dict(spec, expect="loaded"), watch=[store, tmp], bytes_=image)
            self.step(size, "ansible_noop", dict(spec, expect="present"), watch=[store, tmp])
            fresh(store)

        def isula(packer):
            def run():
                fresh(store, tmp)
                spec = dict(base, method="isula_oci", packer=packer, root=os.path.join(tmp, "isula"), store=store)
                self.step(size, "isula_" + packer, spec, watch=[store, tmp], bytes_=image)
                fresh(store)
            return run

        def podman():
            self.podman.reset()
            load = dict(base, method="load", podman=self.podman.folder, params={"engine": "podman"})
            self.step(size, "podman", load, watch=self.podman.watched, bytes_=image)
            self.step(size, "podman_noop", dict(load, expect="present"), watch=self.podman.watched)
            self.podman.reset()

        def isula_podman():
            self.podman.reset()
            fresh(tmp)
            spec = dict(base, method="isula_podman", packer="pigz", root=os.path.join(tmp, "isula"),
                        podman=self.podman.folder)
            self.step(size, "isula_podman", spec, watch=self.podman.watched + [tmp], bytes_=image)
            self.podman.reset()

        groups = [("floor", floor), ("oci", oci)]
        if main and self.wanted("ansible"):
            groups.append(("ansible", ansible))
        if self.wanted("isula_pigz"):
            groups.append(("isula_pigz", isula("pigz")))
        if main and self.wanted("isula_gzip"):
            groups.append(("isula_gzip", isula("gzip")))
        if self.wanted("podman"):
            groups.append(("podman", podman))
        if main and self.wanted("isula_podman"):
            groups.append(("isula_podman", isula_podman))
        return [(name, fn) for name, fn in groups if name not in self.args.skip]

    def ansible_env(self):
        home = os.path.join(self.work, "ansible")
        env = {
            "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
            "ANSIBLE_HOME": os.path.join(home, "home"),
            "ANSIBLE_LOCAL_TEMP": os.path.join(home, "local-tmp"),
            "ANSIBLE_REMOTE_TMP": os.path.join(home, "remote-tmp"),
            "ANSIBLE_PIPELINING": "1",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
        }
        for key in ("ANSIBLE_HOME", "ANSIBLE_LOCAL_TEMP", "ANSIBLE_REMOTE_TMP"):
            os.makedirs(env[key], exist_ok=True)
        return env

    # --- the run -----------------------------------------------------------------------

    def _run_sizes(self, sizes, bundles):
        """Every repetition of every group at every size; BUNDLES gets each size's bundle as it is made."""
        for size, main in sizes:
            path, info, seconds = self.bundle(size)
            bundles[size] = dict(info, path=path, generated_seconds=seconds, main=main)
            print("bench: bundle %d MiB %s (%s)" % (size, path, "%.1f s to generate" % seconds if seconds else "kept"),
                  flush=True)
            reps = self.args.reps if main else self.args.sweep_reps
            groups = self.groups(size, path, info, main)
            for rep in range(reps):
                print("bench: %d MiB, repetition %d/%d" % (size, rep + 1, reps), flush=True)
                # Each repetition starts one group later: no method always runs first, or after the slowest.
                shift = rep % len(groups)
                for name, group in groups[shift:] + groups[:shift]:
                    group()

    def run(self):
        started = time.perf_counter()
        for method, why in sorted(self.skipped.items()):
            print("bench: SKIPPED %s: %s" % (method, why), flush=True)
        sizes = [(self.args.size, True)] + [(s, False) for s in self.args.sweep if s != self.args.size]
        bundles = {}
        try:
            self._run_sizes(sizes, bundles)
        finally:
            if self.podman is not None:
                self.podman.close()
            if not self.args.keep_bundles:
                for info in bundles.values():
                    shutil.rmtree(info["path"], ignore_errors=True)
                    os.unlink(info["path"] + ".json")
                if not os.listdir(self.bundles):
                    os.rmdir(self.bundles)
            shutil.rmtree(self.work, ignore_errors=True)
        elapsed = time.perf_counter() - started
        document = {
            "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine(),
            "arguments": {"size": self.args.size, "sweep": self.args.sweep, "reps": self.args.reps,
                          "sweep_reps": self.args.sweep_reps, "quick": self.args.quick},
            "skipped": self.skipped,
            "elapsed_seconds": elapsed,
            "bundles": {str(k): {kk: vv for kk, vv in v.items() if kk != "index"} for k, v in bundles.items()},
            "runs": self.runs,
        }
        document["summary"] = _report.summarize(document)
        _report.write(document, self.out)
        print("bench: done in %.0f s" % elapsed)


def machine():
    def version(argv):
        try:
            out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False).stdout.decode()
            return out.strip().splitlines()[0]
        except (OSError, IndexError):
            return None

    try:
        import isal
        isal_version = isal.__version__
    except ImportError:
        isal_version = None
    try:
        commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, check=False).stdout.decode().strip()
    except OSError:
        commit = None
    with open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2.0 ** 30, 1),
        "python": platform.python_version(),
        "isal": isal_version,
        "pigz": version(["pigz", "--version"]),
        "gzip": version(["gzip", "--version"]),
        "podman": version(["podman", "--version"]),
        "kernel": platform.release(),
        "commit": commit,
    }


def main(argv=None):
    Bench(parse_args(sys.argv[1:] if argv is None else argv)).run()


if __name__ == "__main__":
    main()
