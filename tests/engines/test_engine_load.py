# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""separated_image_load into real podman, docker and containerd, through Ansible.

The bundle is the one isula-build wrote (tests/fixtures/isula-build/withlib
beside the checkout, see support.bundles); its images run /bin/busybox true.
Each test gets the engine emptied of images (see conftest.py). What the
module reports is checked against what the engine itself says.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest
from support.bundles import APP1, BASE, IMAGE_IDS, LIB, read_index, set_hash, write_index
from support.images import make_bundle

pytestmark = pytest.mark.engine

# Diff ids of the fixture's layers, short (the fixture's README): base, lib, lib, then the app's own.
APP1_LAYERS = ["80b937b87d8e", "e2606164fb53", "b666451e90ce", "242764f2a97f", "12fdd7736404"]
APP2_LAYERS = APP1_LAYERS[:3] + ["95458a8049b5"]


def load(run_module, engine, check=False, **args):
    return run_module("separated_image_load", check=check, **dict(engine.module_args, **args))


def spy_on(engine, folder):
    """An executable that logs its arguments, then runs the engine's CLI; returns (path, log path)."""
    log = folder / "calls.log"
    spy = folder / ("spy-" + engine.name)
    spy.write_text('#!/bin/sh\necho "$*" >> "%s"\nexec "%s" "$@"\n' % (log, engine.cli[0]), encoding="utf-8")
    spy.chmod(spy.stat().st_mode | stat.S_IXUSR)
    return str(spy), log


def loads_in(log):
    """The engine's load commands among the logged calls."""
    calls = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return [call for call in calls if " load" in " " + call or "import" in call.split()]


def test_load_runs_and_is_what_the_engine_reports(run_module, engine, bundle):
    result = load(run_module, engine, name="app1:1", dir=str(bundle))
    assert not result["failed"], result.get("msg")
    assert result["changed"] is True and result["action"] == "loaded"
    assert result["checksums_verified"] is True
    image = result["image"]
    assert image["name"] == "app1:1"
    assert image["id"] == IMAGE_IDS["app1:1"]
    assert image["repo_tags"] == [engine.qualify("app1:1")]
    assert [layer[len("sha256:"):][:12] for layer in image["layers"]] == APP1_LAYERS
    assert image["size"] > 1000000  # the base layer's static busybox
    # What the engine was handed is known; what it stored, it does not say.
    assert result["bytes_written"] > image["size"] and result["bytes_written"] % 512 == 0
    assert result["layers_written"] is None and result["layers_reused"] is None

    assert engine.image_id(engine.qualify("app1:1")) == IMAGE_IDS["app1:1"]
    assert engine.image_names() == {engine.qualify("app1:1")}
    ran = engine.run_image(engine.qualify("app1:1"))
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_present_reads_no_tarball_after_a_load_it_remembers(run_module, engine, bundle, tmp_path):
    first = load(run_module, engine, name="app1:1", dir=str(bundle))
    assert not first["failed"], first.get("msg")
    for tarball in (APP1, LIB, BASE):
        (bundle / tarball).unlink()  # a run that read any would fail
    # The load remembered the index's app tarball sha256 and the image id (engine_state);
    # the engine, asked once, still holds that image under the name.
    spy, log = spy_on(engine, tmp_path)
    again = load(run_module, engine, name="app1:1", dir=str(bundle), executable=spy)
    assert not again["failed"], again.get("msg")
    assert len(log.read_text(encoding="utf-8").splitlines()) == 1, log.read_text(encoding="utf-8")
    assert again["changed"] is False and again["action"] == "present"
    assert again["previous_id"] == again["image"]["id"] == IMAGE_IDS["app1:1"]
    assert again["image"]["repo_tags"] == [engine.qualify("app1:1")]
    assert again["image"]["layers"] == first["image"]["layers"]
    assert not again.get("warnings")

    checked = load(run_module, engine, check=True, name="app1", dir=str(bundle))
    assert checked["failed"] and "failed to find app image app1:latest" in checked["msg"]
    checked = load(run_module, engine, check=True, name="app1:1", dir=str(bundle))
    assert not checked["failed"], checked.get("msg")
    assert checked["changed"] is False and checked["action"] == "present"


def test_present_without_a_remembered_load_reads_only_the_app_tarball(run_module, engine, bundle, tmp_path):
    first = load(run_module, engine, name="app1:1", dir=str(bundle))
    assert not first["failed"], first.get("msg")
    for tarball in (LIB, BASE):
        (bundle / tarball).unlink()
    # Another state folder: nothing remembered, so the image id comes from the app tarball.
    again = load(run_module, engine, name="app1:1", dir=str(bundle), engine_state=str(tmp_path / "other-state"))
    assert not again["failed"], again.get("msg")
    assert again["changed"] is False and again["action"] == "present"
    assert again["image"]["id"] == IMAGE_IDS["app1:1"]
    (bundle / APP1).unlink()
    gone = load(run_module, engine, name="app1:1", dir=str(bundle), engine_state=str(tmp_path / "other-state"))
    assert gone["failed"] and "app1_1_app_image.tar.gz" in gone["msg"], gone.get("msg")


def test_a_rebuilt_tag_is_loaded_and_the_name_moves(run_module, engine, bundle, tmp_path):
    rebuilt = make_bundle(tmp_path / "rebuilt", apps=("app1:1",))
    new_id = hashlib.sha256(rebuilt.images.apps[0].config).hexdigest()
    assert load(run_module, engine, name="app1:1", dir=str(bundle))["image"]["id"] == IMAGE_IDS["app1:1"]

    would = load(run_module, engine, check=True, name="app1:1", dir=str(rebuilt.path))
    assert would["action"] == "would_load" and would["changed"] is True
    assert would["previous_id"] == IMAGE_IDS["app1:1"]
    assert engine.image_id(engine.qualify("app1:1")) == IMAGE_IDS["app1:1"]

    moved = load(run_module, engine, name="app1:1", dir=str(rebuilt.path))
    assert not moved["failed"], moved.get("msg")
    assert moved["action"] == "loaded" and moved["changed"] is True
    assert moved["previous_id"] == IMAGE_IDS["app1:1"] and moved["image"]["id"] == new_id
    assert engine.image_id(engine.qualify("app1:1")) == new_id
    again = load(run_module, engine, name="app1:1", dir=str(rebuilt.path))
    assert again["action"] == "present" and again["changed"] is False


def test_second_app_shares_base_and_lib(run_module, engine, bundle):
    app1 = load(run_module, engine, name="app1:1", dir=str(bundle))
    app2 = load(run_module, engine, name="app2:1", dir=str(bundle))
    assert not app2["failed"], app2.get("msg")
    assert app2["changed"] is True and app2["action"] == "loaded"
    assert app2["image"]["id"] == IMAGE_IDS["app2:1"]
    assert [layer[len("sha256:"):][:12] for layer in app2["image"]["layers"]] == APP2_LAYERS
    assert app2["image"]["layers"][:3] == app1["image"]["layers"][:3]

    assert engine.image_names() == {engine.qualify("app1:1"), engine.qualify("app2:1")}
    assert engine.image_id(engine.qualify("app1:1")) == IMAGE_IDS["app1:1"]
    assert engine.image_id(engine.qualify("app2:1")) == IMAGE_IDS["app2:1"]
    ran = engine.run_image(engine.qualify("app2:1"))
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_force_loads_again_and_changes_nothing(run_module, engine, bundle):
    load(run_module, engine, name="app1:1", dir=str(bundle))
    forced = load(run_module, engine, name="app1:1", dir=str(bundle), force=True)
    assert not forced["failed"], forced.get("msg")
    assert forced["action"] == "loaded" and forced["changed"] is False
    assert forced["image"]["id"] == IMAGE_IDS["app1:1"]
    assert engine.image_names() == {engine.qualify("app1:1")}


@pytest.mark.parametrize("tarball", [APP1, BASE])
def test_wrong_checksum_leaves_the_engine_holding_nothing(run_module, engine, bundle, tmp_path, monkeypatch, tarball):
    # Each tarball is hashed once, as it streams: the base, the last one, is found out at the
    # very end of the stream, with every layer handed over already.
    set_hash(bundle, tarball, "0" * 64)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    spy, log = spy_on(engine, tmp_path)
    blobs_before = engine.blobs()
    result = load(run_module, engine, name="app1:1", dir=str(bundle), executable=spy)
    assert result["failed"] is True
    path = os.path.realpath(bundle / tarball)
    assert result["msg"].startswith("check sum for file %s failed: got " % path), result["msg"]
    assert result["msg"].endswith("want " + "0" * 64)
    assert log.exists(), "the spy was never called: the test proves nothing"
    if engine.name == "podman":  # loads a file written whole first: never shown a refused archive
        assert loads_in(log) == []
    else:  # fed as the tarballs stream: its load ran, and failed on the stream's end
        assert len(loads_in(log)) == 1
    assert engine.image_names() == set()
    assert engine.image_id(engine.qualify("app1:1")) is None
    assert engine.blobs() == blobs_before  # not a layer of the refused load is kept (containerd: after its GC)
    assert list(temp.iterdir()) == []


def test_a_stream_cut_short_leaves_no_image_and_no_temporary_file(run_module, engine, bundle, tmp_path, monkeypatch):
    # Without checksums, a truncated base is found out only while it is streamed to the engine.
    base = bundle / "app1_1_base_image.tar.gz"
    data = base.read_bytes()
    base.write_bytes(data[: len(data) * 2 // 3])
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))  # where the module writes podman's archive, and engines their temp files
    spy, log = spy_on(engine, tmp_path)

    result = load(run_module, engine, name="app1:1", dir=str(bundle), skip_check=True, executable=spy)
    assert result["failed"] is True
    assert result["msg"].startswith("%s is not a valid gzip-compressed tar archive" % os.path.realpath(base)), result["msg"]
    if engine.name == "podman":  # its file is written whole before podman runs: never shown a broken one
        assert log.exists() and loads_in(log) == []
    else:
        assert len(loads_in(log)) == 1, "the engine's load never started: the test proves nothing"
    assert engine.image_names() == set()
    assert list(temp.iterdir()) == []


def test_engine_not_installed(run_module, engine, bundle):
    result = load(run_module, engine, name="app1:1", dir=str(bundle), executable="/nonexistent")
    assert result["failed"] is True
    assert result["msg"] == "cannot run /nonexistent: No such file or directory"


def test_engine_unreachable_is_one_clear_message(run_module, engine, bundle, monkeypatch):
    if engine.name == "podman":
        monkeypatch.setenv("CONTAINERS_STORAGE_CONF", "/nonexistent/storage.conf")
        words = "/nonexistent/storage.conf"
    elif engine.name == "docker":
        monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        words = "Cannot connect to the Docker daemon"
    else:  # ctr gives up connecting after 10 s
        monkeypatch.setenv("CONTAINERD_ADDRESS", "/nonexistent/containerd.sock")
        words = "failed to dial"
    result = load(run_module, engine, name="app1:1", dir=str(bundle))
    assert result["failed"] is True
    assert result["msg"].startswith("`"), result["msg"]  # the engine command, quoted
    assert "failed (exit " in result["msg"] and words in result["msg"], result["msg"]


def test_a_name_the_engine_spells_otherwise_is_tagged(run_module, engine, bundle):
    # The index may name the app fully qualified while its RepoTags say app1:1: podman's load
    # names it localhost/app1:1, so the module must add docker.io/library/app1:1 itself.
    index = read_index(bundle)
    index["docker.io/library/app1:1"] = index.pop("app1:1")
    write_index(bundle, index)

    result = load(run_module, engine, name="docker.io/library/app1:1", dir=str(bundle))
    assert not result["failed"], result.get("msg")
    assert result["changed"] is True and result["image"]["id"] == IMAGE_IDS["app1:1"]
    assert engine.image_id("docker.io/library/app1:1") == IMAGE_IDS["app1:1"]
    again = load(run_module, engine, name="docker.io/library/app1:1", dir=str(bundle))
    assert again["action"] == "present" and again["changed"] is False


@pytest.mark.skipif(os.geteuid() != 0, reason="giving the state file to another user needs root")
# The state file is the module's, the same for every engine: one engine shows it.
@pytest.mark.parametrize("engine", ["containerd"], indirect=True)
def test_a_state_file_not_to_be_trusted_is_ignored_with_a_warning(run_module, engine, bundle):
    first = load(run_module, engine, name="app1:1", dir=str(bundle))
    assert not first["failed"], first.get("msg")
    state = os.path.join(engine.module_args["engine_state"], "loads.json")
    with open(state, encoding="utf-8") as f:
        remembered = json.load(f)["loads"]
    mine = [entry for key, entry in remembered.items() if key.startswith("containerd ") and key.endswith(" app1:1")]
    assert [entry["image_id"] for entry in mine] == [IMAGE_IDS["app1:1"]]
    os.chown(state, 1000, 1000)  # anyone could have written it: a planted entry must not be believed
    try:
        for tarball in (LIB, BASE):
            (bundle / tarball).unlink()
        again = load(run_module, engine, name="app1:1", dir=str(bundle))
        assert not again["failed"], again.get("msg")
        assert again["action"] == "present" and again["changed"] is False  # from the app tarball
        assert any("owned by uid 1000" in warning for warning in again["warnings"]), again.get("warnings")
        (bundle / APP1).unlink()
        unread = load(run_module, engine, name="app1:1", dir=str(bundle))
        assert unread["failed"] and APP1 in unread["msg"], unread.get("msg")  # it needed the app tarball
    finally:
        os.unlink(state)
