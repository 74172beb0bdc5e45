"""separated_image_save and separated_image_info through Ansible, on localhost.

The main paths run the modules as a playbook task would (the run_module fixture
of tests/ansible_harness.py); the detailed cases are in tests/unit/test_save.py and
tests/unit/test_info.py. The tests marked `engine` build their images with
buildah from local files (a static busybox and a few text files, no network)
in a podman storage of their own, and export them through `podman save`.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support.bundles import IMAGE_IDS, ISULA_BUNDLE, ISULA_FIXTURE

ARCHIVES = [str(ISULA_FIXTURE / "archives" / (name + ".tar")) for name in ("app1", "app2", "base", "lib")]


def save_args(dest, **changes):
    args = dict(names=["app1:1", "app2:1"], base="base:1", lib="lib:1", dest=str(dest), source="archive",
                archives=ARCHIVES)
    args.update(changes)
    return args


def folder_bytes(folder):
    return {path.name: path.read_bytes() for path in sorted(Path(folder).iterdir())}


def test_save_is_idempotent_and_check_mode_writes_nothing(run_module, tmp_path):
    dest = tmp_path / "bundle"

    planned = run_module("separated_image_save", check=True, **save_args(dest))
    assert not planned["failed"], planned
    assert (planned["changed"], planned["action"]) == (True, "would_write")
    assert os.listdir(str(tmp_path)) == []

    written = run_module("separated_image_save", **save_args(dest))
    assert not written["failed"], written
    assert (written["changed"], written["action"], written["dest"]) == (True, "written", str(dest))
    assert [f["name"] for f in written["files"]] == [f["name"] for f in planned["files"]]
    assert json.loads((dest / "manifest").read_bytes()) == written["index"]
    for name, data in folder_bytes(ISULA_BUNDLE).items():
        if name != "manifest":
            assert gzip.decompress((dest / name).read_bytes()) == gzip.decompress(data), name

    again = run_module("separated_image_save", **save_args(dest))
    assert (again["changed"], again["action"], again["index"]) == (False, "unchanged", written["index"])
    rechecked = run_module("separated_image_save", check=True, **save_args(dest))
    assert (rechecked["changed"], rechecked["action"]) == (False, "unchanged")


def test_save_refusals_fail_the_task_and_leave_no_dest(run_module, tmp_path):
    rename = tmp_path / "rename.json"
    rename.write_text("{not json")
    cases = [
        (dict(lib="base:1"), "base and lib images are the same"),
        (dict(base="lib:1", lib=None), "number of base layers 3 more than one"),
        (dict(names=["7b2224009c4e"]), 'using image ID "7b2224009c4e" as image name to save separated image is not allowed'),
        (dict(rename_file=str(rename)), "check rename file failed"),
    ]
    for change, message in cases:
        args = save_args(tmp_path / "bundle", **change)
        args = dict((k, v) for k, v in args.items() if v is not None)
        result = run_module("separated_image_save", **args)
        assert result["failed"] and message in result["msg"], result
        assert sorted(os.listdir(str(tmp_path))) == ["rename.json"]

    both = run_module("separated_image_save", **save_args(tmp_path / "bundle", rename_file=str(rename),
                                                          rename=[{"name": "a", "rename": "b"}]))
    assert both["failed"] and "mutually exclusive" in both["msg"]


def test_info_reports_verifies_and_follows_a_load(run_module, tmp_path):
    bundle, store = tmp_path / "bundle", tmp_path / "store"
    assert not run_module("separated_image_save", **save_args(bundle))["failed"]

    before = run_module("separated_image_info", dir=str(bundle), store=str(store), verify=True)
    assert not before["failed"], before
    assert (before["changed"], before["present"], before["missing"]) == (False, [], ["app1:1", "app2:1"])
    for name, app in before["apps"].items():
        assert (app["verified"], app["bundle_image_id"], app["image_id"]) == (True, IMAGE_IDS[name], None)
    assert len(before["files"]) == 4 and before["files_needed"] == before["files"]

    loaded = run_module("separated_image_load", name="app1:1", dir=str(bundle), store=str(store))
    assert not loaded["failed"] and loaded["image"]["id"] == IMAGE_IDS["app1:1"], loaded

    after = run_module("separated_image_info", check=True, dir=str(bundle), store=str(store))
    assert not after["failed"], after
    assert (after["changed"], after["present"], after["missing"]) == (False, ["app1:1"], ["app2:1"])
    assert after["apps"]["app1:1"]["image_id"] == IMAGE_IDS["app1:1"]
    assert [f["file"] for f in after["files_needed"]] == [
        "app1_1_base_image.tar.gz", "app1_1_lib_image.tar.gz", "app2_1_app_image.tar.gz"]

    presence = run_module("separated_image_info", names=["app1:1", "app2"], store=str(store))
    assert (presence["present"], presence["missing"], presence["files"]) == (["app1:1"], ["app2:latest"], [])

    tarball = bundle / "app2_1_app_image.tar.gz"
    data = bytearray(tarball.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tarball.write_bytes(bytes(data))
    corrupt = run_module("separated_image_info", dir=str(bundle), store=str(store), names=["app2:1"], verify=True)
    app = corrupt["apps"]["app2:1"]
    assert app["verified"] is False
    assert app["tarballs"][0]["error"].startswith("check sum for file %s failed" % tarball)

    neither = run_module("separated_image_info", store=str(store))
    assert neither["failed"] and "one of the following is required: dir, names" in neither["msg"]


# --- podman ---------------------------------------------------------------------------------


def _run(argv, env, **kwargs):
    return subprocess.run(argv, env=env, check=True, capture_output=True, **kwargs)


@pytest.fixture(scope="module")
def podman_images(tmp_path_factory):
    """base:1 (busybox), lib:1 (+2 layers), app1:1 (+2), app2:1 (+1), built by buildah in a storage of their own.

    Returns the environment that points podman at that storage.
    """
    for tool in ("buildah", "podman"):
        if not shutil.which(tool):
            pytest.skip("%s is not installed (scripts/install-system-deps.sh installs it)" % tool)
    if not os.path.exists("/bin/busybox"):
        pytest.skip("/bin/busybox is missing (apt-get install busybox-static)")
    root = tmp_path_factory.mktemp("podman")
    (root / "storage.conf").write_text(
        '[storage]\ndriver = "vfs"\ngraphroot = "%s/graph"\nrunroot = "%s/run"\n' % (root, root))
    (root / "containers.conf").write_text(
        '[containers]\nnetns = "none"\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
    env = dict(os.environ, CONTAINERS_STORAGE_CONF=str(root / "storage.conf"),
               CONTAINERS_CONF=str(root / "containers.conf"), TMPDIR=str(root))
    files = root / "files"
    files.mkdir()

    def layer(parent, name, source, target):
        container = _run(["buildah", "from", "--pull-never", parent], env, text=True).stdout.strip()
        try:
            _run(["buildah", "copy", container, str(source), target], env)
            _run(["buildah", "config", "--cmd", "/bin/busybox sh", container], env)
            _run(["buildah", "commit", "-q", container, name], env)
        finally:
            _run(["buildah", "rm", container], env)

    for name in ("lib-a", "lib-b", "app1-a", "app1-b", "app2-a"):
        (files / name).write_text("content of %s\n" % name)
    layer("scratch", "base:1", "/bin/busybox", "/bin/busybox")
    layer("base:1", "lib-a:1", files / "lib-a", "/usr/lib/lib-a")
    layer("lib-a:1", "lib:1", files / "lib-b", "/usr/lib/lib-b")
    layer("lib:1", "app1-a:1", files / "app1-a", "/opt/app1/a")
    layer("app1-a:1", "app1:1", files / "app1-b", "/opt/app1/b")
    layer("lib:1", "app2:1", files / "app2-a", "/opt/app2/a")
    yield env
    shutil.rmtree(str(root / "graph"), ignore_errors=True)


def _inspect(env, name):
    (image,) = json.loads(_run(["podman", "image", "inspect", name], env, text=True).stdout)
    return image["Id"], image["RootFS"]["Layers"]


@pytest.mark.engine
def test_podman_save_stream_gives_the_bundle_of_its_docker_archive(run_module, tmp_path, podman_images, monkeypatch):
    env = podman_images
    for name in ("CONTAINERS_STORAGE_CONF", "CONTAINERS_CONF"):
        monkeypatch.setenv(name, env[name])
    archive = tmp_path / "images.tar"
    with open(str(archive), "wb") as out:
        subprocess.run(["podman", "save", "--format", "docker-archive", "-m", "base:1", "lib:1", "app1:1", "app2:1"],
                       env=env, check=True, stdout=out)

    planned = run_module("separated_image_save", check=True, **save_args(tmp_path / "from-podman", source="podman"))
    assert (planned["failed"], planned["action"]) == (False, "would_write"), planned
    assert not (tmp_path / "from-podman").exists()
    from_podman = run_module("separated_image_save", **save_args(tmp_path / "from-podman", source="podman"))
    assert (from_podman["failed"], from_podman["action"]) == (False, "written"), from_podman
    from_archive = run_module("separated_image_save", **save_args(tmp_path / "from-archive", archives=[str(archive)]))
    assert not from_archive["failed"], from_archive

    assert folder_bytes(tmp_path / "from-podman") == folder_bytes(tmp_path / "from-archive")
    assert [f["name"] for f in from_podman["files"]] == [f["name"] for f in planned["files"]]
    again = run_module("separated_image_save", **save_args(tmp_path / "from-podman", source="podman"))
    assert (again["changed"], again["action"]) == (False, "unchanged")
    assert sorted(os.listdir(str(tmp_path))) == ["from-archive", "from-podman", "images.tar"]

    missing = run_module("separated_image_save", **save_args(tmp_path / "x", source="podman", names=["app9:1"]))
    assert missing["failed"] and "`podman save --format docker-archive -m app9:1 base:1 lib:1` failed" in missing["msg"]
    assert "image not known" in missing["msg"]


@pytest.mark.engine
def test_round_trip_gives_podmans_image_ids_and_diff_ids(run_module, tmp_path, podman_images, monkeypatch):
    env = podman_images
    for name in ("CONTAINERS_STORAGE_CONF", "CONTAINERS_CONF"):
        monkeypatch.setenv(name, env[name])
    bundle, store = tmp_path / "bundle", tmp_path / "store"
    saved = run_module("separated_image_save", **save_args(bundle, source="podman"))
    assert not saved["failed"], saved

    for name in ("app1:1", "app2:1"):
        image_id, diff_ids = _inspect(env, name)
        loaded = run_module("separated_image_load", name=name, dir=str(bundle), store=str(store))
        assert not loaded["failed"], loaded
        assert loaded["image"]["id"] == image_id.split(":")[-1]
        assert loaded["image"]["layers"] == diff_ids
    report = run_module("separated_image_info", dir=str(bundle), store=str(store), verify=True)
    assert report["present"] == ["app1:1", "app2:1"] and report["files_needed"] == []
    assert all(app["verified"] and app["bundle_image_id"] == app["image_id"] for app in report["apps"].values())

    in_podman = run_module("separated_image_info", names=["app1:1", "app9:1"], engine="podman", executable="podman",
                           engine_state=str(tmp_path / "engine-state"))
    assert not in_podman["failed"], in_podman
    assert (in_podman["present"], in_podman["missing"]) == (["app1:1"], ["app9:1"])
    assert in_podman["apps"]["app1:1"]["image_id"] == _inspect(env, "app1:1")[0].split(":")[-1]

    # The bundle is what isula-build would accept: the three tarballs merge into one docker-archive
    # that podman itself loads as the same image.
    merged = tmp_path / "merged"
    merged.mkdir()
    entry = saved["index"]["app2:1"]
    for part in ("base", "lib", "app"):
        subprocess.run(["tar", "-xzf", str(bundle / entry[part]), "-C", str(merged)], check=True)
    subprocess.run(["tar", "-cf", str(tmp_path / "merged.tar"), "-C", str(merged), "."], check=True)
    _run(["podman", "rmi", "app2:1"], env)
    _run(["podman", "load", "-q", "-i", str(tmp_path / "merged.tar")], env)
    assert _inspect(env, "app2:1")[0].split(":")[-1] == report["apps"]["app2:1"]["image_id"]
