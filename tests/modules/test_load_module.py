"""separated_image_load called through Ansible on localhost, as a playbook would."""

from __future__ import annotations

import json
from pathlib import Path

from support.bundles import IMAGE_IDS, set_hash, tree_snapshot
from support.images import make_bundle


def test_load_then_present_then_check_mode(run_module, bundle, tmp_path):
    store = tmp_path / "store"

    would = run_module("separated_image_load", check=True, name="app1:1", dir=str(bundle), store=str(store))
    assert not would["failed"], would.get("msg")
    assert would["action"] == "would_load" and would["changed"] is True
    assert not store.exists()

    loaded = run_module("separated_image_load", name="app1:1", dir=str(bundle), store=str(store))
    assert not loaded["failed"], loaded.get("msg")
    assert loaded["changed"] is True and loaded["action"] == "loaded"
    assert loaded["image"]["id"] == IMAGE_IDS["app1:1"]
    assert loaded["checksums_verified"] is True

    for tarball in bundle.glob("*.tar.gz"):
        tarball.unlink()
    again = run_module("separated_image_load", name="app1:1", dir=str(bundle), store=str(store))
    assert again["changed"] is False and again["action"] == "present"
    assert again["image"]["id"] == IMAGE_IDS["app1:1"]

    checked = run_module("separated_image_load", check=True, name="app1:1", dir=str(bundle), store=str(store))
    assert checked["changed"] is False and checked["action"] == "present"


def test_failure_is_one_clear_message_and_changes_nothing(run_module, bundle, tmp_path):
    store = tmp_path / "store"
    run_module("separated_image_load", name="app2:1", dir=str(bundle), store=str(store))
    before = tree_snapshot(store)
    set_hash(bundle, "app1_1_app_image.tar.gz", "a" * 64)
    result = run_module("separated_image_load", name="app1:1", dir=str(bundle), store=str(store))
    assert result["failed"] is True
    assert result["msg"].startswith("check sum for file %s failed" % (bundle / "app1_1_app_image.tar.gz"))
    assert tree_snapshot(store) == before


def test_unknown_app_and_bad_options(run_module, bundle, tmp_path):
    result = run_module("separated_image_load", name="app9", dir=str(bundle), store=str(tmp_path / "s"))
    assert result["failed"] and "failed to find app image app9:latest" in result["msg"]
    result = run_module("separated_image_load", name="app1:1", dir=str(bundle), engine="nonsense")
    assert result["failed"] and "engine" in result["msg"]
    result = run_module("separated_image_load", dir=str(bundle))
    assert result["failed"] and "name" in result["msg"]


def test_bundle_without_lib_loads(run_module, tmp_path):
    """isula-build itself cannot load these (it takes the folder for the lib tarball)."""
    built = make_bundle(tmp_path / "nolib", lib=None)
    index = json.loads((Path(built.path) / "manifest").read_text())
    assert index["app1:1"]["lib"] == ""
    result = run_module("separated_image_load", name="app1:1", dir=str(built.path), store=str(tmp_path / "store"))
    assert not result["failed"], result.get("msg")
    assert result["tarballs"]["lib"] is None
    assert len(result["image"]["layers"]) == 3  # base + the app's two layers


def test_skip_check_through_ansible(run_module, bundle, tmp_path):
    set_hash(bundle, "app1_1_base_image.tar.gz", "b" * 64)
    result = run_module("separated_image_load", name="app1:1", dir=str(bundle), store=str(tmp_path / "s"), skip_check=True)
    assert not result["failed"], result.get("msg")
    assert result["checksums_verified"] is False and result["image"]["id"] == IMAGE_IDS["app1:1"]


def test_required_options_as_isula_build_requires_them(run_module, bundle):
    """isula-build refuses a load without a folder, and base or lib without a folder."""
    result = run_module("separated_image_load", name="app1:1")
    assert result["failed"] and "dir" in result["msg"]
    result = run_module("separated_image_load", name="app1:1", base=str(bundle / "app1_1_base_image.tar.gz"))
    assert result["failed"] and "dir" in result["msg"]
