"""Loads, removes and prunes of one OCI store at the same time, in real processes.

Each round starts a mix of them at once, each after a delay of its own. It
always holds the dangerous pair: app1:1 loaded while app2:1, whose base and
lib it shares, is removed, the removal aimed at the end of the load, when it
has found base and lib in the store and skipped them and is finishing its
own large layer before it commits. A removal that took base and lib away
then would leave app1:1 naming blobs that are gone; the window is short, so
the last test holds a real load's place open in another process to show
that a removal waits for it. Whatever the interleaving, every process
succeeds, the store stays valid (every name reaches blobs that are there and
match their digests), nothing is left staged, and a load that no remove or
prune of its round could undo has its name afterwards. At the end, a prune
with nothing running leaves no blob that no image uses.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.images import make_bundle

import ansible_collections.fleetimage.separated.plugins as collection_plugins
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.lock import STAGING_PREFIX

ROUNDS = 10
LARGE_MIB = 64  # app1:1's own top layer: its write keeps the load from its commit a while

WORKER = r"""
import json, sys, time
from support.operations import load_image, prune_store, remove_images
op, store, arg, bundle, delay = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
time.sleep(delay)
if op == "load":
    result = load_image({"name": arg, "dir": bundle, "store": store})
elif op == "remove":
    result = remove_images({"names": [arg], "store": store})
else:
    result = prune_store({"keep": int(arg) if arg else None, "store": store})
print(json.dumps(result))
"""


TESTS = str(Path(__file__).resolve().parents[5])  # for support.operations


def worker_env():
    # .../ansible_collections/fleetimage/separated/plugins -> the folder that holds ansible_collections
    collections_root = str(Path(collection_plugins.__path__[0]).parents[3])
    return dict(os.environ, PYTHONPATH=os.pathsep.join([collections_root, TESTS]))


def start(op, store, arg="", bundle="", delay=0.0):
    env = worker_env()
    return subprocess.Popen([sys.executable, "-c", WORKER, op, str(store), arg, str(bundle), str(delay)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def valid_names(store):
    """{name: image id} of STORE, failing unless every blob each name needs is there and matches."""
    index = json.loads((Path(store) / "index.json").read_text())
    blobs = Path(store) / "blobs" / "sha256"
    names, needed = {}, set()
    for entry in index["manifests"]:
        manifest = json.loads((blobs / entry["digest"][7:]).read_bytes())
        parts = [entry["digest"], manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]
        for digest in parts:
            assert hashlib.sha256((blobs / digest[7:]).read_bytes()).hexdigest() == digest[7:], digest
        needed.update(parts)
        names[entry["annotations"]["org.opencontainers.image.ref.name"]] = manifest["config"]["digest"][7:]
    return names, needed


def run_alone(op, store, arg="", bundle=""):
    proc = start(op, store, arg, bundle)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return json.loads(out)


@pytest.mark.slow
def test_loads_removes_and_prunes_at_once_lose_nothing(store, tmp_path):
    built = make_bundle(tmp_path / "bundle", apps=("app1:1", "app2:1"), large_mib=LARGE_MIB)
    rebuilt = make_bundle(tmp_path / "v2", apps=("app1:2",)).path
    # How long a load of app1:1 takes here, start to end: the removal is aimed at its last part,
    # after base and lib were found in the store and before the commit.
    run_alone("load", store, "app2:1", built.path)
    started = time.monotonic()
    run_alone("load", store, "app1:1", built.path)
    load_seconds = time.monotonic() - started
    rng = random.Random(20261130)
    image_ids = {}  # name -> the id its loads reported
    for round_number in range(ROUNDS):
        run_alone("remove", store, "app1:1")
        run_alone("load", store, "app2:1", built.path)
        # (op, name, bundle, delay): the remove lands anywhere in the load's run
        ops = [("load", "app1:1", built.path, 0.0), ("remove", "app2:1", None, load_seconds * rng.uniform(0.4, 0.9))]
        # More loads, of another image: a load of app2:1 would put base and lib back, hiding a loss.
        ops += [("load", "app1:2", rebuilt, rng.random() * load_seconds) for unused in range(rng.randint(0, 1))]
        ops += [("remove", rng.choice(["app1:1", "app2:1", "app1:2"]), None, rng.random() * load_seconds)
                for unused in range(rng.randint(0, 1))]
        ops += [("prune", rng.choice(["", "1"]), None, rng.random() * load_seconds) for unused in range(rng.randint(0, 2))]
        procs = [(op, start(op[0], store, op[1], op[2] or "", op[3])) for op in ops]
        outcomes = []
        for op, proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, "round %d: %s failed:\n%s" % (round_number, op, err)
            outcomes.append((op, json.loads(out)))

        names = valid_names(store)[0]
        assert not [p for p in os.listdir(store) if p.startswith(STAGING_PREFIX)]
        assert not [p for p in os.listdir(store) if p.startswith(".index-")]
        undone = set(op[1] for op in ops if op[0] == "remove")
        if any(op[0] == "prune" and op[1] for op in ops):
            undone |= {"app1:1", "app1:2"}  # keep=1 may drop either of app1's
        for op, result in outcomes:
            if op[0] == "load":
                assert image_ids.setdefault(op[1], result["image"]["id"]) == result["image"]["id"]
            if op[0] == "load" and op[1] not in undone:
                assert names.get(op[1]) == result["image"]["id"], (round_number, op, names)

    final = start("prune", store)
    assert final.wait(timeout=300) == 0, final.stderr.read()
    names, needed = valid_names(store)
    assert set("sha256:" + p for p in os.listdir(store / "blobs" / "sha256")) == needed
    assert names and all(names[name] == image_ids[name] for name in names)


HOLDER = r"""
import sys
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.destination import destination
with destination(sys.argv[1]):
    print("staging", flush=True)
    sys.stdin.readline()
"""


def test_a_removal_leaves_the_blobs_a_load_in_another_process_may_count_on(bundle, store):
    assert run_alone("load", store, "app1:1", bundle)["action"] == "loaded"
    blobs = set(os.listdir(store / "blobs" / "sha256"))
    env = worker_env()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store)], env=env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == "staging\n"  # a load between its start and its commit
        removed = run_alone("remove", store, "app1:1")
        assert removed["removed"] == ["app1:1"] and removed["blobs_deferred"] is True
        assert set(os.listdir(store / "blobs" / "sha256")) == blobs
        assert run_alone("prune", store)["staging_removed"] == []
    finally:
        holder.communicate("done\n", timeout=60)
    pruned = run_alone("prune", store)
    assert pruned["blobs_removed"] == len(blobs) and os.listdir(store / "blobs" / "sha256") == []
