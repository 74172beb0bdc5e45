"""The archive podman loads (and podman's own temporary files) live in a folder the module owns: removed by
this run, or by the next one.

Real podman, killed with the module in the middle of a load.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from support.bundles import IMAGE_IDS
from support.images import make_bundle

from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.private_tmp import PREFIX
from support.operations import load_image

pytestmark = pytest.mark.engine

LOAD = """
import sys
sys.path[:0] = sys.argv[4:]
from support.operations import load_image
load_image({"name": sys.argv[1], "dir": sys.argv[2], "engine": "podman", "engine_state": sys.argv[3]})
"""


def _tmp_folders(temp):
    return [p for p in temp.iterdir() if p.name.startswith(PREFIX)]


def _bytes_under(folder):
    total = 0
    for root, dummy_dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def test_a_load_leaves_no_temporary_folder(podman_engine, bundle, tmp_path, monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    for key, value in podman_engine.env.items():
        monkeypatch.setenv(key, value)
    podman_engine.clear(podman_engine)
    result = load_image(dict(podman_engine.module_args, name="app1:1", dir=str(bundle)))
    assert result["image"]["id"].endswith(IMAGE_IDS["app1:1"])
    assert list(temp.iterdir()) == []


@pytest.mark.slow
def test_the_folder_of_a_killed_load_is_removed_by_the_next(podman_engine, bundle, tmp_path, monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    for key, value in podman_engine.env.items():
        monkeypatch.setenv(key, value)
    podman_engine.clear(podman_engine)
    big = make_bundle(tmp_path / "big", large_mib=64, compression_level=1)

    child = subprocess.Popen([sys.executable, "-c", LOAD, "app1:1", str(big.path), str(tmp_path / "engine-state")] + sys.path,
                             start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    copying = False
    deadline = time.time() + 120
    while time.time() < deadline and child.poll() is None:
        folders = _tmp_folders(temp)
        if folders and _bytes_under(folders[0]) > 8 * 1024 * 1024:
            copying = True
            break
        time.sleep(0.02)
    assert copying, "the archive for podman was never written into the module's folder: the test proves nothing"
    os.killpg(child.pid, signal.SIGKILL)  # the module and podman, as a stopped play or a reboot would
    child.wait()
    time.sleep(0.5)
    left = _tmp_folders(temp)
    assert left and _bytes_under(left[0]) > 8 * 1024 * 1024  # what podman alone would leave for ever

    result = load_image(dict(podman_engine.module_args, name="app2:1", dir=str(bundle)))
    assert result["image"]["id"].endswith(IMAGE_IDS["app2:1"])
    assert list(temp.iterdir()) == []
