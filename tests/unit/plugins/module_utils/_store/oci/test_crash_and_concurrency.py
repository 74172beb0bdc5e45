"""The OCI store under SIGKILL at random moments (some aimed at the commit) and under concurrent loaders.

After every kill the store must read as before or as fully loaded (never a
name pointing at a missing or damaged blob), and the next load must complete
and clean up what the killed one left.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.bundles import IMAGE_IDS, copy_bundle
from support.images import make_bundle

from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import layout, prune
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.lock import STAGING_PREFIX
from support.operations import load_image

# The child loads NAME, writing "start" to the marker file when the load
# starts (after Python's start-up); with "commit", each rename of the commit
# first says so in the marker and waits a little, so that a kill can land inside.
CHILD = """
import os, sys, time
sys.path[:0] = sys.argv[6:]
marker, mode = sys.argv[4], sys.argv[5]
if mode == "commit":
    real_rename = os.rename
    def slow_rename(src, dst, *args, **kwargs):
        with open(marker, "a") as f:
            f.write("rename\\n")
        time.sleep(0.01)
        return real_rename(src, dst, *args, **kwargs)
    os.rename = slow_rename
from support.operations import load_image
with open(marker, "a") as f:
    f.write("start\\n")
load_image({"name": sys.argv[1], "dir": sys.argv[2], "store": sys.argv[3]})
"""


def check_consistent(store):
    """Every name of the store's index points at a manifest whose blobs are all there and intact."""
    index = json.loads((Path(store) / "index.json").read_bytes())
    blobs = Path(store) / "blobs" / "sha256"
    for entry in index["manifests"]:
        manifest_path = blobs / entry["digest"][7:]
        manifest = json.loads(manifest_path.read_bytes())
        assert hashlib.sha256(manifest_path.read_bytes()).hexdigest() == entry["digest"][7:]
        for descriptor in [manifest["config"]] + manifest["layers"]:
            path = blobs / descriptor["digest"][7:]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == descriptor["digest"][7:], path


def names(store):
    return sorted(e["annotations"][layout.REF_NAME] for e in json.loads((Path(store) / "index.json").read_bytes())["manifests"])


@pytest.mark.slow
def test_sigkill_at_random_moments_and_in_the_commit_leaves_a_readable_store(tmp_path):
    seed = int(os.environ.get("FLEETIMAGE_KILL_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    small = copy_bundle(tmp_path / "small")
    big = make_bundle(tmp_path / "big", large_mib=16, compression_level=1).path
    template = tmp_path / "template"
    load_image({"name": "app2:1", "dir": str(small), "store": str(template)})

    # How long a load takes here, to spread the kills over it.
    timing = tmp_path / "timing"
    shutil.copytree(template, timing)
    marker = tmp_path / "marker"
    child = subprocess.Popen([sys.executable, "-c", CHILD, "app1:1", str(big), str(timing), str(marker), "-"]
                             + sys.path)
    _wait_for(marker, "start", child)
    started = time.time()
    assert child.wait() == 0
    duration = time.time() - started

    outcomes = {"absent": 0, "loaded": 0}
    trials = 21
    for trial in range(trials):
        store = tmp_path / "store"
        shutil.rmtree(store, ignore_errors=True)
        shutil.copytree(template, store)
        at_commit = trial % 3 == 2  # every third trial is aimed at the commit's renames
        if marker.exists():
            marker.unlink()
        child = subprocess.Popen([sys.executable, "-c", CHILD, "app1:1", str(big), str(store), str(marker),
                                  "commit" if at_commit else "-"] + sys.path)
        if at_commit:
            _wait_for(marker, "rename", child)
            time.sleep(rng.uniform(0, 0.06))
        else:
            _wait_for(marker, "start", child)
            time.sleep(rng.uniform(0, duration))
        child.send_signal(signal.SIGKILL)
        child.wait()

        check_consistent(store)
        assert layout.lookup(str(store), "app2:1")["id"] == IMAGE_IDS["app2:1"], "seed %d trial %d" % (seed, trial)
        present = layout.lookup(str(store), "app1:1")
        outcomes["loaded" if present else "absent"] += 1
        result = load_image({"name": "app1:1", "dir": str(big), "store": str(store)})
        assert result["action"] in ("present", "loaded")
        check_consistent(store)
        assert names(store) == ["app1:1", "app2:1"]
        if result["action"] == "present":
            # Killed after its commit: a no-op opens no staging, so what the killed load
            # left is prune's to remove (a load that writes removes it too).
            prune.prune(str(store))
        assert not [p for p in store.iterdir() if p.name.startswith(STAGING_PREFIX)]
    print("SIGKILL trials: %d (%d aimed at the commit), seed %d: %s"
          % (trials, trials // 3, seed, outcomes))


def _wait_for(marker, word, child):
    deadline = time.time() + 120
    while child.poll() is None and time.time() < deadline:
        if marker.exists() and word in marker.read_text():
            return
        time.sleep(0.002)


def _load_in_child(args):
    name, bundle, store, force, barrier = args
    barrier.wait()
    return load_image({"name": name, "dir": bundle, "store": store, "force": force})["image"]["id"]


@pytest.mark.slow
def test_rounds_of_four_concurrent_loaders_lose_nothing(tmp_path):
    bundle = str(copy_bundle(tmp_path / "bundle"))
    ctx = multiprocessing.get_context("fork")
    manager = ctx.Manager()
    rounds = 30
    with ctx.Pool(4) as pool:
        for attempt in range(rounds):
            store = str(tmp_path / ("store%d" % attempt))
            if attempt % 2:
                load_image({"name": "app2:1", "dir": bundle, "store": store})  # half the rounds into a used store
            barrier = manager.Barrier(4)
            jobs = [("app1:1", bundle, store, False, barrier), ("app2:1", bundle, store, True, barrier),
                    ("app1:1", bundle, store, True, barrier), ("app2:1", bundle, store, False, barrier)]
            ids = pool.map(_load_in_child, jobs)
            assert ids == [IMAGE_IDS["app1:1"], IMAGE_IDS["app2:1"], IMAGE_IDS["app1:1"], IMAGE_IDS["app2:1"]]
            assert names(store) == ["app1:1", "app2:1"]
            check_consistent(store)
            assert not [p for p in os.listdir(store) if p.startswith(STAGING_PREFIX)]
    print("concurrent loaders: %d rounds of 4" % rounds)
