"""The OCI store under concurrency, kills and power cuts."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.bundles import IMAGE_IDS, copy_bundle, tree_snapshot
from support.images import make_bundle

from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import destination, layout
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.lock import STAGING_PREFIX
from support.operations import load_image


def _load_in_child(args):
    name, bundle, store, barrier = args
    barrier.wait()
    return load_image({"name": name, "dir": bundle, "store": store})["image"]["id"]


def test_two_loads_into_one_store_at_once_both_succeed(tmp_path):
    bundle = str(copy_bundle(tmp_path / "bundle"))
    ctx = multiprocessing.get_context("fork")
    for attempt in range(5):
        store = str(tmp_path / ("store%d" % attempt))
        barrier = ctx.Manager().Barrier(2)
        with ctx.Pool(2) as pool:
            ids = pool.map(_load_in_child, [("app1:1", bundle, store, barrier), ("app2:1", bundle, store, barrier)])
        assert ids == [IMAGE_IDS["app1:1"], IMAGE_IDS["app2:1"]]
        index = json.loads(Path(store, "index.json").read_text())
        names = sorted(e["annotations"][layout.REF_NAME] for e in index["manifests"])
        assert names == ["app1:1", "app2:1"]
        assert not [p for p in os.listdir(store) if p.startswith(STAGING_PREFIX)]


def test_blobs_and_index_are_flushed_before_success(tmp_path, monkeypatch):
    store = tmp_path / "store"
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(os.readlink("/proc/self/fd/%d" % fd))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    bundle = copy_bundle(tmp_path / "bundle")
    load_image({"name": "app1:1", "dir": str(bundle), "store": str(store)})
    blobs = store / "blobs" / "sha256"
    # Each blob was flushed (under its staging name, before its rename), then
    # the folders that received renames, and the index after its rename.
    assert len([p for p in synced if STAGING_PREFIX in p]) >= len(list(blobs.iterdir()))
    assert str(blobs) in synced
    last = {path: position for position, path in enumerate(synced)}
    assert last[str(store)] > last[str(blobs)]
    index_flush = [p for p in synced if p.endswith("index.json") or STAGING_PREFIX in p][-1]
    assert STAGING_PREFIX in index_flush  # the new index was flushed before it was renamed in


KILL_SCRIPT = """
import sys
sys.path[:0] = sys.argv[4:]
from support.operations import load_image
load_image({"name": sys.argv[1], "dir": sys.argv[2], "store": sys.argv[3]})
"""


def test_a_killed_load_leaves_the_store_readable_and_is_cleaned_up(tmp_path):
    store = tmp_path / "store"
    small = copy_bundle(tmp_path / "small")
    load_image({"name": "app2:1", "dir": str(small), "store": str(store)})
    before = tree_snapshot(store)

    big = make_bundle(tmp_path / "big", large_mib=160)
    child = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, "app1:1", str(big.path), str(store)] + sys.path)
    staging = None
    deadline = time.time() + 60
    while time.time() < deadline and child.poll() is None:
        found = [p for p in store.iterdir() if p.name.startswith(STAGING_PREFIX)]
        if found and sum(f.stat().st_size for f in found[0].iterdir()) > 20 * 1024 * 1024:
            staging = found[0]
            break
        time.sleep(0.01)
    assert staging is not None, "the load finished before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()

    after = tree_snapshot(store)
    assert {k: v for k, v in after.items() if not k.startswith(STAGING_PREFIX)} == before
    assert layout.lookup(str(store), "app2:1")["id"] == IMAGE_IDS["app2:1"]
    assert layout.lookup(str(store), "app1:1") is None

    load_image({"name": "app1:1", "dir": str(small), "store": str(store)})
    assert not staging.exists()
    assert not [p for p in store.iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_a_running_load_keeps_its_staging_folder(tmp_path):
    """Housekeeping removes only abandoned staging folders, never a live one."""
    store = tmp_path / "store"
    with destination.destination(str(store)) as live:
        other = copy_bundle(tmp_path / "bundle")
        load_image({"name": "app1:1", "dir": str(other), "store": str(store)})
        assert os.path.isdir(live._dir)
    assert not os.path.exists(live._dir)


@pytest.mark.slow
def test_memory_stays_flat_for_a_large_bundle(tmp_path):
    bundle = make_bundle(tmp_path / "big", large_mib=320)
    # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec.
    script = KILL_SCRIPT + "\nprint(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
    out = subprocess.run(
        [sys.executable, "-c", script, "app1:1", str(bundle.path), str(tmp_path / "store")] + sys.path,
        check=True, capture_output=True, text=True,
    )
    peak_kib = int(out.stdout.split()[-1])
    assert peak_kib < 100 * 1024, "peak RSS %d KiB for a %d MiB bundle" % (peak_kib, 320)
