# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""separated_image_remove and separated_image_prune (keep) on real podman, docker and containerd, through Ansible.

What the modules report is checked against what the engine itself says.
"""

from __future__ import annotations

import time

import pytest
from support.bundles import IMAGE_IDS
from support.images import make_bundle

pytestmark = pytest.mark.engine


def run(run_module, module, engine, check=False, diff=False, **args):
    return run_module(module, check=check, diff=diff, **dict(engine.module_args, **args))


def load(run_module, engine, bundle, name):
    result = run(run_module, "separated_image_load", engine, name=name, dir=str(bundle))
    assert not result["failed"], result.get("msg")
    return result


def test_remove_takes_the_name_and_keeps_the_other_images(run_module, engine, bundle):
    load(run_module, engine, bundle, "app1:1")
    load(run_module, engine, bundle, "app2:1")

    would = run(run_module, "separated_image_remove", engine, check=True, diff=True, names=["app1:1", "app9:1"])
    assert not would["failed"], would.get("msg")
    assert would["changed"] is True and would["removed"] == [engine.qualify("app1:1")] and would["absent"] == ["app9:1"]
    assert would["diff"] == {"before": {"images": {"app1:1": IMAGE_IDS["app1:1"]}}, "after": {"images": {}}}
    assert engine.image_id(engine.qualify("app1:1")) == IMAGE_IDS["app1:1"]

    removed = run(run_module, "separated_image_remove", engine, names=["app1:1"])
    assert not removed["failed"], removed.get("msg")
    assert removed["changed"] is True and removed["removed"] == [engine.qualify("app1:1")]
    assert engine.image_names() == {engine.qualify("app2:1")}
    ran = engine.run_image(engine.qualify("app2:1"))  # its base and lib stayed
    assert ran.returncode == 0, ran.stdout + ran.stderr

    again = run(run_module, "separated_image_remove", engine, names=["app1:1"])
    assert again["changed"] is False and again["absent"] == ["app1:1"]


def test_an_image_a_container_uses_is_not_removed(run_module, engine, bundle):
    load(run_module, engine, bundle, "app1:1")
    ref = engine.qualify("app1:1")
    container = "fleetimage-test-%d" % time.monotonic_ns()
    if engine.name == "containerd":
        engine.run_cli("containers", "create", ref, container)
    else:
        engine.run_cli("create", "--name", container, ref, "/bin/busybox", "true")
    try:
        result = run(run_module, "separated_image_remove", engine, names=["app1:1"])
        assert result["failed"] is True
        assert ref in result["msg"] and "container" in result["msg"], result["msg"]
        assert engine.image_id(ref) == IMAGE_IDS["app1:1"]
    finally:
        if engine.name == "containerd":
            engine.run_cli("containers", "delete", container, check=False)
        else:
            engine.run_cli("rm", "--force", container, check=False)


def test_keep_leaves_the_newest_images_of_the_repository(run_module, engine, bundle, tmp_path):
    # The fixture's app1:1 was built in 2026; the test images in 2024 (their config's 'created').
    older = make_bundle(tmp_path / "older", apps=("app1:2",))
    load(run_module, engine, bundle, "app1:1")
    load(run_module, engine, older.path, "app1:2")
    load(run_module, engine, bundle, "app2:1")

    missing = run(run_module, "separated_image_prune", engine, keep=1)
    assert missing["failed"] and "keep needs repositories" in missing["msg"]

    would = run(run_module, "separated_image_prune", engine, check=True, keep=1, repositories=["app1"])
    assert not would["failed"], would.get("msg")
    assert would["changed"] is True and would["removed"] == [engine.qualify("app1:2")]
    assert engine.qualify("app1:2") in engine.image_names()

    pruned = run(run_module, "separated_image_prune", engine, diff=True, keep=1, repositories=["app1"])
    assert pruned["removed"] == [engine.qualify("app1:2")]
    assert list(pruned["diff"]["after"]["images"]) == [engine.qualify("app1:1")]
    assert engine.image_names() == {engine.qualify("app1:1"), engine.qualify("app2:1")}
    again = run(run_module, "separated_image_prune", engine, keep=1, repositories=["app1"])
    assert again["changed"] is False
