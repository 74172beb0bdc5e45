"""separated_image_remove, separated_image_prune and diff mode, through Ansible on localhost."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from support.bundles import IMAGE_IDS, tree_snapshot
from support.images import make_bundle


def test_remove_check_mode_diff_and_idempotence(run_module, bundle, tmp_path):
    store = tmp_path / "store"
    assert not run_module("separated_image_load", name="app1:1", dir=str(bundle), store=str(store))["failed"]
    assert not run_module("separated_image_load", name="app2:1", dir=str(bundle), store=str(store))["failed"]
    before = tree_snapshot(store)

    would = run_module("separated_image_remove", check=True, diff=True, names=["app1:1"], store=str(store))
    assert not would["failed"], would.get("msg")
    assert would["changed"] is True and would["removed"] == ["app1:1"] and would["blobs_removed"] == 4
    assert would["diff"] == {"before": {"images": {"app1:1": IMAGE_IDS["app1:1"], "app2:1": IMAGE_IDS["app2:1"]}},
                             "after": {"images": {"app2:1": IMAGE_IDS["app2:1"]}}}
    assert tree_snapshot(store) == before

    removed = run_module("separated_image_remove", diff=True, names=["app1:1"], store=str(store))
    assert removed["changed"] is True and removed["removed"] == ["app1:1"] and removed["bytes_freed"] > 0
    assert removed["diff"] == would["diff"]
    again = run_module("separated_image_remove", names=["app1:1"], store=str(store))
    assert again["changed"] is False and again["absent"] == ["app1:1"]


def test_load_diff_shows_the_name_moving(run_module, bundle, tmp_path):
    store = tmp_path / "store"
    run_module("separated_image_load", name="app1:1", dir=str(bundle), store=str(store))
    rebuilt = make_bundle(tmp_path / "rebuilt", apps=("app1:1",))
    would = run_module("separated_image_load", check=True, diff=True, name="app1:1", dir=str(rebuilt.path),
                       store=str(store))
    assert would["action"] == "would_load" and would["previous_id"] == IMAGE_IDS["app1:1"]
    assert would["diff"] == {"before": {"images": {"app1:1": IMAGE_IDS["app1:1"]}},
                             "after": {"images": {"app1:1": "(the bundle's image)"}}}
    moved = run_module("separated_image_load", diff=True, name="app1:1", dir=str(rebuilt.path), store=str(store))
    assert moved["action"] == "loaded" and moved["previous_id"] == IMAGE_IDS["app1:1"]
    assert moved["diff"]["after"] == {"images": {"app1:1": moved["image"]["id"]}}
    present = run_module("separated_image_load", diff=True, name="app1:1", dir=str(rebuilt.path), store=str(store))
    assert present["changed"] is False and present["diff"]["before"] == present["diff"]["after"]


def test_prune_through_ansible(run_module, bundle, tmp_path):
    store = tmp_path / "store"
    run_module("separated_image_load", name="app1:1", dir=str(bundle), store=str(store))
    newer = make_bundle(tmp_path / "newer", apps=("app1:2",))
    run_module("separated_image_load", name="app1:2", dir=str(newer.path), store=str(store))

    would = run_module("separated_image_prune", check=True, diff=True, keep=1, store=str(store))
    assert not would["failed"], would.get("msg")
    assert would["changed"] is True and would["removed"] == ["app1:1"]
    assert list(would["diff"]["after"]["images"]) == ["app1:2"]
    pruned = run_module("separated_image_prune", keep=1, verify=True, store=str(store))
    assert pruned["removed"] == ["app1:1"] and pruned["damaged"] == [] and pruned["bytes_freed"] > 0
    assert run_module("separated_image_prune", keep=1, store=str(store))["changed"] is False
    bad = run_module("separated_image_prune", keep=0, store=str(store))
    assert bad["failed"] and "keep must be 1 or more" in bad["msg"]


def test_ansible_doc_renders_the_new_modules(ansible_test_env):
    ansible_doc = os.path.join(os.path.dirname(sys.executable), "ansible-doc")
    for module in ("separated_image_remove", "separated_image_prune"):
        fqcn = "fleetimage.separated." + module
        proc = subprocess.run([ansible_doc, "--json", fqcn], env=ansible_test_env, capture_output=True, text=True,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)[fqcn]["doc"]
        assert doc["version_added"] == "0.2.0" and doc["version_added_collection"] == "fleetimage.separated"
        assert doc["attributes"]["check_mode"]["support"] == "full"
        assert doc["attributes"]["diff_mode"]["support"] == "full"
        assert {"engine", "store", "executable", "namespace"} <= set(doc["options"])
        text = subprocess.run([ansible_doc, fqcn], env=ansible_test_env, capture_output=True, text=True, check=False)
        assert text.returncode == 0 and "EXAMPLES" in text.stdout, text.stderr
