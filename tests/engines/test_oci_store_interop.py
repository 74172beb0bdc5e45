# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OCI layout store, as independent tools read it: skopeo, podman, containerd."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest
from support.bundles import IMAGE_IDS, copy_bundle

pytestmark = pytest.mark.engine


@pytest.fixture
def store(tmp_path, run_module):
    """An OCI store holding app1:1 and app2:1, loaded through Ansible from isula-build's bundle."""
    bundle = copy_bundle(tmp_path / "bundle")
    store = tmp_path / "store"
    for name in ("app1:1", "app2:1"):
        result = run_module("separated_image_load", name=name, dir=str(bundle), store=str(store))
        assert not result["failed"], result.get("msg")
    return store


def skopeo(*args):
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed (`make system-deps` installs it)")
    proc = subprocess.run(["skopeo"] + list(args), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("name", ["app1:1", "app2:1"])
def test_skopeo_reads_each_image(store, name):
    raw = json.loads(skopeo("inspect", "--raw", "oci:%s:%s" % (store, name)))
    assert raw["config"]["digest"] == "sha256:" + IMAGE_IDS[name]
    config = json.loads(skopeo("inspect", "--config", "--raw", "oci:%s:%s" % (store, name)))
    assert [layer["digest"] for layer in raw["layers"]] == config["rootfs"]["diff_ids"]
    # skopeo copy re-reads and verifies every blob against its digest
    skopeo("copy", "--quiet", "oci:%s:%s" % (store, name), "dir:%s" % (store.parent / ("copy-" + name)))


def test_podman_pulls_and_runs_from_the_store(store, podman_engine):
    # podman names an image pulled from oci:PATH after PATH, and refuses upper case there.
    # mkdtemp's random part may hold '_' next to a '/', which no reference allows: a name of digits only.
    lower = Path(tempfile.gettempdir()) / ("fleetimage-oci-%d" % os.getpid())
    shutil.rmtree(lower, ignore_errors=True)
    lower.mkdir()
    try:
        shutil.copytree(store, lower / "store")
        _pull_and_run(lower / "store", podman_engine)
    finally:
        shutil.rmtree(lower)


def _pull_and_run(store, podman_engine):
    podman_engine.clear(podman_engine)
    pulled = podman_engine.run_cli("pull", "-q", "oci:%s:app1:1" % store, timeout=180).stdout.split()
    assert pulled and pulled[-1].split(":")[-1] == IMAGE_IDS["app1:1"], pulled  # `pull -q` prints the image id
    run = podman_engine.run_cli("run", "--rm", IMAGE_IDS["app1:1"], "/bin/busybox", "echo", "hello", check=False, timeout=180)
    assert run.returncode == 0 and run.stdout.strip() == "hello", run.stderr


def test_containerd_imports_the_store_by_its_names(store, containerd_engine, tmp_path):
    containerd_engine.clear(containerd_engine)
    archive = tmp_path / "layout.tar"
    with tarfile.open(archive, "w") as tar:
        for entry in ("oci-layout", "index.json", "blobs"):
            tar.add(store / entry, arcname=entry)
    containerd_engine.run_cli("images", "import", str(archive), timeout=180)
    assert containerd_engine.image_names() >= {"docker.io/library/app1:1", "docker.io/library/app2:1"}
    assert containerd_engine.image_id("docker.io/library/app2:1") == IMAGE_IDS["app2:1"]
    run = containerd_engine.run_image("docker.io/library/app2:1")
    assert run.returncode == 0, run.stderr
