# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Store scale and hostile inputs: time and peak memory of every module, each step in a process of its own.

    make bench-store                            # 5,000 to 100,000 names, and every hostile input
    .venv/bin/python benchmarks/store_scale.py --names 10000,100000 --skip-hostile

Scale: an OCI store of N names (the two images of the isula-build fixture
bundle, under N names alternately: every blob shared by N/2 names), then in
fresh processes: info of one name, a no-op load, a save of one name from the
store, a remove in check mode with --diff (every name listed before and
after), prune that drops one name (keep 1 of a repository that has two),
remove of one name. Target: remove and
prune of one name at 100,000 names under 5 s.

Hostile: each input of the security review, given to each module that reads
it (peak resident memory, VmHWM, target under 100 MiB; and the outcome):
  configs      1000 members of 2 MiB (image configs) in the app tarball
  pax          a 128 MiB pax header in the app tarball
  folders      300,000 folder members in the app tarball
  deep-index   the bundle index nested 100,000 deep
  deep-manifest  manifest.json in the app tarball nested 100,000 deep
  deep-store   the store's index.json nested 100,000 deep
The app tarball inputs reach the presence check (the store holds the name
without a record of these bytes, and the index names the hostile bytes), the
load, and info with verify.

Output: benchmarks/out/store_scale.json and store_scale.md.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PATHS = [os.path.join(REPO, ".build", "collections"), os.path.join(REPO, "tests")]
sys.path[:0] = PATHS

from support.bundles import APP1, copy_bundle, set_hash, sha256, stray_folder_headers  # noqa: E402
from support.saving import ARCHIVES  # noqa: E402
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.file_source import read_docker_archive  # noqa: E402
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import destination  # noqa: E402

MIB = 1024 * 1024
OUT = os.path.join(HERE, "out")
RECORD_KEYS = ("fleetimage.separated.app-sha256", "fleetimage.separated.image-id", "fleetimage.separated.loaded-at")

# One step: the operation of a module through module_utils, with its module's defaults, in a fresh process.
CHILD = """
import json, sys, time
sys.path[:0] = json.loads(sys.argv[1])
from support import operations
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
call, params, flags = sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
started = time.perf_counter()
try:
    result = getattr(operations, call)(params, **flags)
    outcome = "ok: " + str(result.get("action") or sorted(k for k in result if result[k]) )[:80]
except BundleError as exc:
    outcome = "refused: " + str(exc)[:160]
seconds = time.perf_counter() - started
hwm = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
print(json.dumps({"seconds": seconds, "vmhwm_kib": hwm, "outcome": outcome}))
"""


def step(call, params, flags=None):
    """Run operations.CALL(PARAMS, **FLAGS) (FLAGS: check_mode, diff) in a fresh process; its time, peak and outcome."""
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(PATHS), call, json.dumps(params),
                           json.dumps(flags or {})],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"seconds": None, "vmhwm_kib": None, "outcome": "crashed: " + done.stderr.strip()[-300:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_inline(call, params):
    from support import operations  # noqa: E402  # pylint: disable=import-outside-toplevel

    return getattr(operations, call)(params)


# Scale


def scaled_store(work, bundle, names):
    """A store holding app1:1 and app2:1 of BUNDLE under NAMES names (scale/appK:1, scale/app0:2 too), and
    base:1 and lib:1 of the fixture archives (so that a save from the store finds them)."""
    store = os.path.join(work, "store-%d" % names)
    for name in ("app1:1", "app2:1"):
        run_inline("load_image", dict(name=name, dir=bundle, store=store))
    for name, archive in (("base:1", ARCHIVES[2]), ("lib:1", ARCHIVES[3])):
        (image,) = read_docker_archive(archive)
        with destination.destination(store) as dest:
            dest.commit(image.config, json.loads(image.config)["rootfs"]["diff_ids"], [name])
    path = os.path.join(store, "index.json")
    with open(path) as f:
        index = json.load(f)
    templates = index["manifests"]
    entries = []
    for number in range(names - len(templates) - 1):
        entry = json.loads(json.dumps(templates[number % 2]))
        name = "scale/app%d:1" % number
        entry["annotations"]["org.opencontainers.image.ref.name"] = name
        entry["annotations"]["io.containerd.image.name"] = "docker.io/" + name
        entries.append(entry)
    second = json.loads(json.dumps(templates[0]))  # a second tag of scale/app0: prune keep=1 drops one name
    second["annotations"]["org.opencontainers.image.ref.name"] = "scale/app0:2"
    second["annotations"]["io.containerd.image.name"] = "docker.io/scale/app0:2"
    second["annotations"]["fleetimage.separated.loaded-at"] = "2000-01-01T00:00:00Z"
    index["manifests"] = templates + entries + [second]
    with open(path, "w") as f:
        json.dump(index, f, sort_keys=True, separators=(",", ":"))
    return store


def scale(work, bundle, sizes):
    rows = []
    for names in sizes:
        store = scaled_store(work, bundle, names)
        size = os.path.getsize(os.path.join(store, "index.json"))
        saved = os.path.join(work, "saved-%d" % names)
        steps = [
            ("info of one name", "bundle_info", dict(dir=bundle, store=store, names=["app1:1"]), {}),
            ("no-op load", "load_image", dict(name="app1:1", dir=bundle, store=store), {}),
            ("save from the store", "save_bundle", dict(names=["app1:1"], base="base:1", lib="lib:1", dest=saved,
                                                        source="oci", store=store), {}),
            ("remove --diff --check", "remove_images", dict(names=["scale/app1:1"], store=store),
             dict(check_mode=True, diff=True)),
            ("prune (drops one name)", "prune_store", dict(store=store, keep=1, repositories=["scale/app0"]), {}),
            ("remove of one name", "remove_images", dict(names=["scale/app1:1"], store=store), {}),
        ]
        for label, call, params, flags in steps:
            measured = step(call, params, flags)
            rows.append(dict(measured, names=names, index_bytes=size, step=label))
            shown = (names, label, measured["seconds"] or -1, (measured["vmhwm_kib"] or 0) / 1024.0,
                     measured["outcome"][:60])
            print("%7d names  %-24s %7.2f s  %6.1f MiB  %s" % shown, flush=True)
        shutil.rmtree(store)
        shutil.rmtree(saved, ignore_errors=True)
    return rows


# Hostile inputs


def _gzip_app_with(bundle, write_extra):
    """Rewrite the app tarball with WRITE_EXTRA(out) members in front of its own, streamed (no 2 GiB in memory)."""
    path = os.path.join(bundle, APP1)
    data = gzip.decompress(open(path, "rb").read())
    tmp = path + ".new"
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    with open(tmp, "wb") as out:
        def put(chunk):
            out.write(compressor.compress(chunk))
        write_extra(put)
        put(data)
        out.write(compressor.flush())
    os.replace(tmp, path)
    set_hash(bundle, APP1, sha256(path))


def _configs(put):
    body = b" " * (2 * MIB)
    for number in range(1000):
        info = tarfile.TarInfo("%064x.json" % number)
        info.size = len(body)
        put(info.tobuf(format=tarfile.USTAR_FORMAT))
        put(body)


def _pax(put):
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, 128 * MIB
    put(header.tobuf(format=tarfile.USTAR_FORMAT))
    for dummy in range(128):
        put(b"9" * MIB)


def _folders(put):
    put(stray_folder_headers(300000))


def _deep_manifest(bundle):
    path = os.path.join(bundle, APP1)
    with tarfile.open(path) as tar:
        entries = [(m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for member, data in entries:
            if member.name == "manifest.json":
                data = b"[" * 99999 + b"]" * 99999
                member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    with open(path, "wb") as f:
        f.write(gzip.compress(buffer.getvalue(), compresslevel=1))
    set_hash(bundle, APP1, sha256(path))


def forget_records(store):
    path = os.path.join(store, "index.json")
    with open(path) as f:
        index = json.load(f)
    for entry in index["manifests"]:
        for key in RECORD_KEYS:
            entry["annotations"].pop(key, None)
    with open(path, "w") as f:
        json.dump(index, f)


def hostile(work):
    cases = {
        "configs": lambda b: _gzip_app_with(b, _configs),
        "pax": lambda b: _gzip_app_with(b, _pax),
        "folders": lambda b: _gzip_app_with(b, _folders),
        "deep-index": lambda b: open(os.path.join(b, "manifest"), "w").write('{"app1:1": %s}' % ("[" * 100000 + "]" * 100000)),
        "deep-manifest": _deep_manifest,
        "deep-store": None,
    }
    rows = []
    for case, spoil in cases.items():
        folder = os.path.join(work, "hostile-" + case)
        bundle = str(copy_bundle(os.path.join(folder, "bundle")))
        store = os.path.join(folder, "store")
        run_inline("load_image", dict(name="app1:1", dir=bundle, store=store))
        run_inline("load_image", dict(name="app2:1", dir=bundle, store=store))
        forget_records(store)  # the presence check reads the app tarball
        if spoil is None:
            with open(os.path.join(store, "index.json"), "w") as f:
                f.write('{"schemaVersion": 2, "manifests": %s}' % ("[" * 100000 + "]" * 100000))
        else:
            spoil(bundle)
        steps = [
            ("load", "load_image", dict(name="app1:1", dir=bundle, store=store)),
            ("load force", "load_image", dict(name="app1:1", dir=bundle, store=store, force=True)),
            ("info", "bundle_info", dict(dir=bundle, store=store)),
            ("info verify", "bundle_info", dict(dir=bundle, store=store, verify=True)),
            ("remove", "remove_images", dict(names=["app2:1"], store=store, )),
            ("prune", "prune_store", dict(store=store, keep=1)),
        ]
        for label, call, params in steps:
            measured = step(call, params)
            rows.append(dict(measured, case=case, module=label))
            shown = (case, label, (measured["vmhwm_kib"] or 0) / 1024.0, measured["seconds"] or -1,
                     measured["outcome"][:90])
            print("%-14s %-12s %6.1f MiB %6.2f s  %s" % shown, flush=True)
        shutil.rmtree(folder)
    return rows


def write_report(scale_rows, hostile_rows):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "store_scale.json"), "w") as f:
        json.dump({"scale": scale_rows, "hostile": hostile_rows, "python": sys.version.split()[0],
                   "cpus": os.cpu_count()}, f, indent=1)
    lines = ["| names | index.json | step | seconds | peak MiB |", "|---:|---:|---|---:|---:|"]
    for row in scale_rows:
        shown = (row["names"], row["index_bytes"] / MIB, row["step"], row["seconds"], row["vmhwm_kib"] / 1024.0)
        lines.append("| %d | %.1f MiB | %s | %.2f | %.0f |" % shown)
    lines += ["", "| input | module | peak MiB | outcome |", "|---|---|---:|---|"]
    for row in hostile_rows:
        lines.append("| %s | %s | %.0f | %s |" % (row["case"], row["module"], (row["vmhwm_kib"] or 0) / 1024.0,
                                                  row["outcome"].replace("|", "/")[:110]))
    with open(os.path.join(OUT, "store_scale.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", default="5000,20000,100000", help="store sizes, comma-separated")
    parser.add_argument("--skip-hostile", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="fleetimage-store-scale-")
    os.chmod(work, 0o755)
    try:
        bundle = str(copy_bundle(os.path.join(work, "bundle")))
        started = time.time()
        scale_rows = [] if args.skip_scale else scale(work, bundle, [int(n) for n in args.names.split(",")])
        hostile_rows = [] if args.skip_hostile else hostile(work)
        write_report(scale_rows, hostile_rows)
        print("total %.0f s" % (time.time() - started))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
