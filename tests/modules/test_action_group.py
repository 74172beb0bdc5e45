# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action group `separated` (meta/runtime.yml): every module is in it, and
module_defaults set through it reach the modules."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
GROUP = "group/fleetimage.separated.separated"


def test_every_module_is_in_the_group():
    runtime = yaml.safe_load((REPO_ROOT / "meta" / "runtime.yml").read_text(encoding="utf-8"))
    members = set(runtime["action_groups"]["separated"])
    modules = {path.stem for path in (REPO_ROOT / "plugins" / "modules").glob("*.py") if path.stem != "__init__"}
    assert modules, "no modules found"
    assert modules <= members, f"modules missing from the action group: {sorted(modules - members)}"


PLAY = """\
- name: Options for every module of the collection, through its action group
  hosts: localhost
  gather_facts: false
  module_defaults:
    %(group)s:
      store: "{{ store }}"
  tasks:
    - name: Load app1:1 into the store named only by module_defaults
      fleetimage.separated.separated_image_load:
        name: app1:1
        dir: "{{ bundle }}"
      register: loaded

    - name: Ask the same store, again named only by module_defaults
      fleetimage.separated.separated_image_info:
        names: [app1:1]
      register: asked

    - name: Save what the test checks
      ansible.builtin.copy:
        content: "{{ {'loaded': loaded, 'asked': asked} | to_json }}"
        dest: "{{ results }}"
        mode: "0644"
""" % {"group": GROUP}


def test_module_defaults_through_the_group(run_playbook, bundle, store, tmp_path):
    results = tmp_path / "results.json"
    result = run_playbook(PLAY, extra_vars={"bundle": str(bundle), "store": str(store), "results": str(results)})
    assert result.rc == 0, result
    data = json.loads(results.read_text(encoding="utf-8"))
    assert data["loaded"]["action"] == "loaded"
    assert (store / "index.json").is_file(), "the load did not use the store set by module_defaults"
    assert data["asked"]["present"] == ["app1:1"]
