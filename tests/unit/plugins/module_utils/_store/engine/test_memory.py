"""The loads remembered for the engines' no-op (engine_state/loads.json): trusted as a store is, or ignored with a warning."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import memory
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.containerd import Containerd
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.docker import Docker

APP = "a" * 64
OTHER_APP = "b" * 64
IMAGE = "c" * 64
OTHER_IMAGE = "d" * 64


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/test-docker.sock")
    tmp_path.chmod(0o755)
    return tmp_path / "engines"


def remembered(folder):
    warnings = []
    return memory.Memory(str(folder), warnings.append), warnings


def test_a_load_is_remembered_for_the_same_engine_name_and_image_only(folder, monkeypatch):
    first, warnings = remembered(folder)
    first.remember(Docker(), "app1:1", APP, IMAGE)
    assert warnings == []
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(folder / "loads.json").st_mode) == 0o644
    assert os.listdir(folder) == ["loads.json"]  # no temporary file left

    later, warnings = remembered(folder)  # the next run reads the file
    assert later.known(Docker(), "app1:1") == {"app_sha256": APP, "image_id": IMAGE}
    assert later.known(Docker(), "app2:1") is None
    assert later.known(Containerd(namespace="default"), "app1:1") is None
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/another-docker.sock")
    assert later.known(Docker(), "app1:1") is None  # another daemon
    assert warnings == []


def test_a_new_load_under_the_name_replaces_the_old(folder):
    first, dummy = remembered(folder)
    first.remember(Docker(), "app1:1", APP, IMAGE)
    first.remember(Docker(), "app1:1", OTHER_APP, OTHER_IMAGE)
    later, dummy = remembered(folder)
    assert later.known(Docker(), "app1:1") == {"app_sha256": OTHER_APP, "image_id": OTHER_IMAGE}


def test_the_oldest_entries_go_past_the_limit(folder, monkeypatch):
    monkeypatch.setattr(memory, "MAX_ENTRIES", 2)
    first, dummy = remembered(folder)
    for number in range(3):
        first.remember(Docker(), "app%d:1" % number, APP, IMAGE)
    names = [key.rsplit(" ", 1)[-1] for key in json.loads((folder / "loads.json").read_text())["loads"]]
    assert names == ["app1:1", "app2:1"]


@pytest.mark.parametrize("content", [b"{not json", b'{"version": 99, "loads": {}}', b"[]", b"\xff\xfe"])
def test_a_damaged_file_is_ignored_with_a_warning_and_written_anew(folder, content):
    folder.mkdir(mode=0o755)
    (folder / "loads.json").write_bytes(content)
    first, warnings = remembered(folder)
    assert first.known(Docker(), "app1:1") is None
    assert len(warnings) == 1 and "loads.json: it is damaged" in warnings[0], warnings
    first.remember(Docker(), "app1:1", APP, IMAGE)
    assert remembered(folder)[0].known(Docker(), "app1:1")["app_sha256"] == APP


def test_entries_that_are_not_digests_are_never_used(folder):
    folder.mkdir(mode=0o755)
    key = "docker %s app1:1" % Docker().address()
    (folder / "loads.json").write_text(json.dumps(
        {"version": 1, "loads": {key: {"app_sha256": "../" + APP, "image_id": IMAGE}}}))
    first, warnings = remembered(folder)
    assert first.known(Docker(), "app1:1") is None and warnings == []


def test_a_file_larger_than_the_limit_is_ignored(folder, monkeypatch):
    monkeypatch.setattr(memory, "MAX_BYTES", 100)
    folder.mkdir(mode=0o755)
    (folder / "loads.json").write_text(" " * 101)
    first, warnings = remembered(folder)
    assert first.known(Docker(), "app1:1") is None
    assert "larger than 100 bytes" in warnings[0]


def test_a_linked_file_is_ignored_and_never_written(folder, tmp_path):
    folder.mkdir(mode=0o755)
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"version": 1, "loads": {
        "docker %s app1:1" % Docker().address(): {"app_sha256": APP, "image_id": IMAGE}}}))
    os.symlink(str(target), str(folder / "loads.json"))
    first, warnings = remembered(folder)
    assert first.known(Docker(), "app1:1") is None
    assert "symbolic link" in warnings[0]
    before = target.read_bytes()
    first.remember(Docker(), "app1:1", OTHER_APP, IMAGE)
    assert target.read_bytes() == before and os.path.islink(str(folder / "loads.json"))


def test_a_folder_others_may_write_is_ignored(folder):
    folder.mkdir()
    folder.chmod(0o777)
    first, warnings = remembered(folder)
    first.remember(Docker(), "app1:1", APP, IMAGE)
    assert not (folder / "loads.json").exists()
    assert len(warnings) == 1 and "lets its group and others write it" in warnings[0], warnings


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_file_of_another_user_is_ignored_and_never_written(folder):
    folder.mkdir(mode=0o755)
    path = folder / "loads.json"
    path.write_text(json.dumps({"version": 1, "loads": {
        "docker %s app1:1" % Docker().address(): {"app_sha256": APP, "image_id": IMAGE}}}))
    os.chown(str(path), 1000, 1000)
    first, warnings = remembered(folder)
    assert first.known(Docker(), "app1:1") is None  # a planted entry is not believed
    assert "owned by uid 1000" in warnings[0]
    first.remember(Docker(), "app1:1", OTHER_APP, IMAGE)
    assert os.stat(str(path)).st_uid == 1000 and APP in path.read_text()


def test_a_folder_that_cannot_be_made_is_a_warning_not_a_failure(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    first, warnings = remembered(blocker / "engines")
    first.remember(Docker(), "app1:1", APP, IMAGE)
    assert len(warnings) == 1 and "engines/loads.json" in warnings[0] and "Not a directory" in warnings[0], warnings


def test_a_fifo_or_a_deeply_nested_file_is_ignored_with_a_warning_never_waited_on(folder):
    folder.mkdir(mode=0o755)
    os.mkfifo(str(folder / "loads.json"), 0o644)  # nobody writes it: a blocking open would hang here
    first, warnings = remembered(folder)
    assert first.known(Docker(), "app1:1") is None
    assert "not a regular file" in warnings[0]
    os.unlink(str(folder / "loads.json"))
    (folder / "loads.json").write_text("[" * 100000 + "]" * 100000)
    (folder / "loads.json").chmod(0o644)
    second, warnings = remembered(folder)
    assert second.known(Docker(), "app1:1") is None
    assert "damaged" in warnings[0] and "nested" in warnings[0]


LAYERS = ["sha256:" + "e" * 64, "sha256:" + "f" * 64]
TARGET = "sha256:" + "1" * 64


def test_the_listing_target_layers_and_size_are_remembered_with_the_load(folder):
    first, warnings = remembered(folder)
    first.remember(Containerd(), "app1:1", APP, IMAGE, {"id": IMAGE, "layers": LAYERS, "size": 1234}, TARGET)
    assert remembered(folder)[0].known(Containerd(), "app1:1") == {
        "app_sha256": APP, "image_id": IMAGE, "target": TARGET, "layers": LAYERS, "size": 1234}
    assert warnings == []


@pytest.mark.parametrize("field, value", [
    ("target", "../../etc"), ("layers", ["sha256:" + "e" * 63]), ("layers", "sha256:" + "e" * 64),
    ("size", -1), ("size", True), ("size", "1234"),
])
def test_a_damaged_target_layers_or_size_are_dropped_and_the_load_still_known(folder, field, value):
    folder.mkdir(mode=0o755)
    entry = {"app_sha256": APP, "image_id": IMAGE, "target": TARGET, "layers": LAYERS, "size": 1234}
    entry[field] = value
    key = "containerd %s app1:1" % Containerd().address()
    (folder / "loads.json").write_text(json.dumps({"version": 1, "loads": {key: entry}}))
    assert remembered(folder)[0].known(Containerd(), "app1:1") == {"app_sha256": APP, "image_id": IMAGE}


def test_the_file_is_never_written_larger_than_it_may_be_read(folder, monkeypatch):
    monkeypatch.setattr(memory, "MAX_BYTES", 4096)
    first, warnings = remembered(folder)
    for number in range(40):
        first.remember(Docker(), "app%d:1" % number, APP, IMAGE)
    assert len((folder / "loads.json").read_bytes()) <= 4096
    later, warnings = remembered(folder)
    assert later.known(Docker(), "app39:1") is not None and later.known(Docker(), "app0:1") is None
    assert warnings == []
