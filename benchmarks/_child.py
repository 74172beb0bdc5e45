# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One measured step, in a process of its own: `python _child.py SPEC_JSON`.

Prints one JSON line: {"seconds": time of the step itself (imports and
interpreter start-up excluded), "vmhwm_kib": this process's peak resident
memory, "steps": {...}, "result": {...}}. The parent (_runner.py) adds what
it saw from outside.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, ".build", "collections"))

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import index as _bundle_index  # noqa: E402
from ansible_collections.fleetimage.separated.plugins.module_utils._io.hashing import sha256_of_file  # noqa: E402
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.load import load_image  # noqa: E402

import _isula  # noqa: E402
import _podman  # noqa: E402

try:
    from isal import isal_zlib as _fastest_gzip
    FASTEST_GZIP = "isal"
except ImportError:
    import zlib as _fastest_gzip
    FASTEST_GZIP = "zlib"

MIB = 1024 * 1024


def tarballs_of(spec, name=None):
    name = name or spec["name"]
    entry = _bundle_index.app_entry(_bundle_index.read_index(spec["bundle"]), name, spec["bundle"])
    tarballs = _bundle_index.resolve_tarballs(entry, name, spec["bundle"])
    parts = spec.get("parts")
    return [t for t in tarballs if parts is None or t.part in parts]


def floor(spec):
    """Read, hash, decompress, hash, write; one fsync at the end; nothing else.

    One thread, in 256 KiB reads with at most 1 MiB out per call: the sizes
    at which isal (or zlib) decompresses fastest here.
    """
    # Left in place: the output is the floor's "store", removed by the parent.
    out_path = os.path.join(spec["work"], "floor-%s.out" % spec["name"].replace("/", "_").replace(":", "_"))
    total = 0
    started = time.perf_counter()
    with open(out_path, "wb", buffering=0) as out:
        for tarball in tarballs_of(spec):
            compressed, plain = hashlib.sha256(), hashlib.sha256()
            decompressor = _fastest_gzip.decompressobj(31)
            with open(tarball.path, "rb", buffering=0) as src:
                for chunk in iter(lambda: src.read(256 * 1024), b""):
                    compressed.update(chunk)
                    while chunk:
                        data = decompressor.decompress(chunk, MIB)
                        plain.update(data)
                        out.write(data)
                        total += len(data)
                        chunk = decompressor.unconsumed_tail
                data = decompressor.flush()
                plain.update(data)
                out.write(data)
                total += len(data)
            if compressed.hexdigest() != tarball.expected_sha256:
                raise RuntimeError("check sum for file %s failed" % tarball.path)
        os.fsync(out.fileno())
    seconds = time.perf_counter() - started
    return seconds, {"decoder": FASTEST_GZIP, "bytes": total}


def hash_files(spec):
    """sha256 of whole tarballs, as the loader checks those it need not read (shared base and lib)."""
    started = time.perf_counter()
    for tarball in tarballs_of(spec):
        if sha256_of_file(tarball.path) != tarball.expected_sha256:
            raise RuntimeError("check sum for file %s failed" % tarball.path)
    return time.perf_counter() - started, {}


def load(spec):
    """This project's load, module_utils called directly, as the module does."""
    # Every option, as the module's argument spec would hand them over.
    params = {"name": spec["name"], "dir": spec["bundle"], "skip_check": spec.get("skip_check", False),
              "base": None, "lib": None, "force": False, "engine": "oci", "store": None,
              "executable": None, "namespace": "default", "allowed_signers": None, "revoked_keys": None,
              "min_free_space": "5%", "engine_state": os.path.join(spec.get("work", "."), "engine-state")}
    params.update(spec.get("params", {}))
    started = time.perf_counter()
    result = load_image(params)
    seconds = time.perf_counter() - started
    want = spec.get("expect", "loaded")
    if result["action"] != want:
        raise RuntimeError("expected action %s, got %s" % (want, result))
    return seconds, {k: result.get(k) for k in ("action", "changed", "layers_written", "layers_reused", "bytes_written")}


def engine_own(spec):
    """The engine's own import of the finished docker-archive (spec["argv"])."""
    started = time.perf_counter()
    subprocess.run(spec["argv"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    return time.perf_counter() - started, {}


def merge(spec):
    """Write the docker-archive the bundle's tarballs form (what the engines' own imports read)."""
    from ansible_collections.fleetimage.separated.plugins.module_utils._archive.merged import write_merged_archive

    started = time.perf_counter()
    with open(spec["archive"], "wb") as out:
        write_merged_archive(tarballs_of(spec), out, spec["name"], verify=True)
    return time.perf_counter() - started, {"bytes": os.path.getsize(spec["archive"])}


class _Discard(object):
    """A sink that counts and drops: the stream without an engine to take it."""

    def __init__(self):
        self.bytes_written = 0

    def write(self, data):
        self.bytes_written += len(data)
        return len(data)

    def tell(self):
        return self.bytes_written


def stream_only(spec):
    """This project's side of an engine load alone: the merged archive made from the bundle (every tarball
    inflated, hashed and checked, every layer hashed) and dropped; wall time and the CPU time of all threads."""
    from ansible_collections.fleetimage.separated.plugins.module_utils._archive.merged import write_merged_archive

    sink = _Discard()
    started, cpu = time.perf_counter(), time.process_time()
    write_merged_archive(tarballs_of(spec), sink, spec["name"], verify=True)
    return time.perf_counter() - started, {"bytes": sink.bytes_written, "cpu_seconds": time.process_time() - cpu}


def ansible(spec):
    """The module through `ansible localhost -m`, its whole wall time."""
    args = " ".join("%s=%s" % (k, v) for k, v in spec["args"].items())
    argv = [spec["ansible"], "localhost", "-i", "localhost,", "-c", "local", "-o",
            "-m", "fleetimage.separated.separated_image_load", "-a", args,
            "-e", "ansible_python_interpreter=%s" % sys.executable]
    started = time.perf_counter()
    proc = subprocess.run(argv, env=dict(os.environ, **spec["env"]), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=False)
    seconds = time.perf_counter() - started
    text = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0 or '"action": "%s"' % spec["expect"] not in text:
        raise RuntimeError("ansible failed (exit %d): %s %s" % (proc.returncode, text[-2000:], proc.stderr[-2000:]))
    return seconds, {"action": spec["expect"]}


def isula_oci(spec):
    started = time.perf_counter()
    steps = _isula.load_into_oci(tarballs_of(spec), spec["root"], spec["packer"], spec["store"], spec["name"])
    return time.perf_counter() - started, {"steps": steps}


def isula_podman(spec):
    store = _podman.PodmanStore(spec["podman"])
    started = time.perf_counter()
    steps = _isula.load_into_podman(tarballs_of(spec), spec["root"], spec["packer"], store.env)
    return time.perf_counter() - started, {"steps": steps}


METHODS = {"floor": floor, "hash": hash_files, "load": load, "ansible": ansible, "isula_oci": isula_oci,
           "isula_podman": isula_podman, "engine_own": engine_own, "merge": merge,
           "stream_only": stream_only}


def main():
    spec = json.loads(sys.argv[1])
    if spec.get("podman"):
        # This project's podman store reads the same settings as `podman` itself.
        os.environ.update(_podman.PodmanStore(spec["podman"]).env)
    seconds, detail = METHODS[spec["method"]](spec)
    with open("/proc/self/status") as f:
        vmhwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    print(json.dumps({"seconds": seconds, "vmhwm_kib": vmhwm, "detail": detail}))


if __name__ == "__main__":
    main()
