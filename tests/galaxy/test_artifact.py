# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Galaxy artifact: what it holds, and that the installed copy alone works.

The artifact is built from this work tree and installed into an empty folder
(the session fixture ``installed_collection``, support/galaxy.py). Every Ansible
run below has that folder as its only collection path: a load, the rollout role
and ansible-doc, nothing taken from the work tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile

import pytest

from support.galaxy import ansible_cli, isolated_env

pytestmark = [pytest.mark.slow]

# What a user gets: what runs, what documents it, and the tests.
EXPECTED_TOP_LEVEL = {
    "CHANGELOG.md", "FILES.json", "LICENSE", "MANIFEST.json", "README.md", "changelogs", "docs",
    "extensions", "meta", "plugins", "roles", "tests",
}
# Development and CI tooling: never shipped.
NOT_SHIPPED = {
    ".ci", ".gitignore", ".ansible-lint", ".yamllint", "Makefile", "pytest.ini", "requirements-dev.txt",
    "requirements", "scripts", "benchmarks", ".venv", ".build", "galaxy.yml",
}
MODULES = ("separated_image_load", "separated_image_info", "separated_image_save", "separated_image_remove",
           "separated_image_prune")
# The isula-build fixtures the tests read, inside the artifact's own tests/ (tests/fixtures/README.md).
FIXTURES = ("tests/fixtures/isula-build/README.md", "tests/fixtures/isula-build/withlib/manifest",
            "tests/fixtures/isula-build/archives/app1.tar")


def test_artifact_holds_runtime_docs_and_tests_only(installed_collection):
    with tarfile.open(installed_collection.artifact) as archive:
        names = archive.getnames()
        manifest = json.load(archive.extractfile("MANIFEST.json"))
    top_level = {name.split("/", 1)[0] for name in names}
    assert top_level == EXPECTED_TOP_LEVEL, sorted(top_level)
    assert not top_level & NOT_SHIPPED
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc") or "/output/" in name]
    for module in MODULES:
        assert f"plugins/modules/{module}.py" in names
    assert "meta/runtime.yml" in names and "roles/rollout/tasks/main.yml" in names
    assert "changelogs/changelog.yaml" in names
    for fixture in FIXTURES:
        assert fixture in names, fixture
    info = manifest["collection_info"]
    assert info["repository"] == "https://github.com/fleetimage/separated"
    for key in ("documentation", "homepage", "issues"):
        assert info[key].startswith("https://github.com/fleetimage/separated"), (key, info[key])
    assert "tools" in info["tags"]


def test_installed_copy_documents_itself(installed_collection, tmp_path):
    env = isolated_env(installed_collection.collections, tmp_path / "ansible-home")
    for module in MODULES:
        doc = subprocess.run([ansible_cli("ansible-doc"), f"fleetimage.separated.{module}"], env=env,
                             capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)
        assert doc.returncode == 0, doc.stderr
        assert str(installed_collection.root / "plugins" / "modules" / f"{module}.py") in doc.stdout, doc.stdout[:500]
        assert "group/fleetimage.separated.separated" in doc.stdout
    role = subprocess.run([ansible_cli("ansible-doc"), "-t", "role", "fleetimage.separated.rollout"], env=env,
                          capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)
    assert role.returncode == 0, role.stderr
    assert "rollout_url_username" in role.stdout


INSTALLED_PLAY = """\
- name: Load with the module, then roll out with the role, from the installed copy
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Load app1:1
      fleetimage.separated.separated_image_load:
        name: app1:1
        dir: "{{ bundle }}"
        store: "{{ work }}/load-store"
      register: loaded

    - name: Roll app2:1 out
      ansible.builtin.include_role:
        name: fleetimage.separated.rollout
      vars:
        rollout_bundle_dir: "{{ bundle }}"
        rollout_apps: [app2:1]
        rollout_cache_dir: "{{ work }}/cache"
        rollout_store: "{{ work }}/role-store"

    - name: Report on app1:1 in the store it was loaded into
      fleetimage.separated.separated_image_info:
        dir: "{{ bundle }}"
        names: [app1:1]
        store: "{{ work }}/load-store"
      register: info

    - name: Save a bundle from the docker-archives among the installed copy's own test fixtures
      fleetimage.separated.separated_image_save:
        names: [app1:1]
        base: base:1
        lib: lib:1
        dest: "{{ work }}/saved"
        source: archive
        archives: "{{ archives }}"
      register: saved

    - name: Load app1:1 from the saved bundle beside the role's app2:1
      fleetimage.separated.separated_image_load:
        name: app1:1
        dir: "{{ work }}/saved"
        store: "{{ work }}/role-store"
      register: reloaded

    - name: Prune the role's store to one name of each repository
      fleetimage.separated.separated_image_prune:
        keep: 1
        store: "{{ work }}/role-store"
      register: pruned

    - name: Remove app1:1 from the load's store
      fleetimage.separated.separated_image_remove:
        names: [app1:1]
        store: "{{ work }}/load-store"
      register: removed

    - name: Save what the test checks
      ansible.builtin.copy:
        content: "{{ {'loaded': loaded, 'rollout': rollout_result, 'info': info, 'saved': saved, 'reloaded': reloaded,
                      'pruned': pruned, 'removed': removed} | to_json }}"
        dest: "{{ work }}/results.json"
        mode: "0644"
"""


def test_installed_copy_runs_every_module_and_the_role(installed_collection, bundle, run_playbook, tmp_path):
    env = isolated_env(installed_collection.collections, tmp_path / "ansible-home")
    fixtures = installed_collection.root / "tests" / "fixtures" / "isula-build" / "archives"
    archives = [str(fixtures / (name + ".tar")) for name in ("app1", "base", "lib")]
    result = run_playbook(INSTALLED_PLAY, extra_vars={"bundle": str(bundle), "work": str(tmp_path),
                                                      "archives": archives}, env=env)
    assert result.rc == 0, result
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert results["loaded"]["action"] == "loaded"
    assert results["rollout"]["loaded"] == ["app2:1"]
    assert results["info"]["present"] == ["app1:1"]
    assert results["saved"]["action"] == "written" and (tmp_path / "saved" / "manifest").is_file()
    assert results["reloaded"]["action"] == "loaded"
    # app1:1 and app2:1 are different repositories: keep 1 removes neither.
    assert results["pruned"]["removed"] == [] and not results["pruned"]["changed"]
    assert results["removed"]["removed"] == ["app1:1"]


def test_installed_copy_passes_its_own_unit_tests(installed_collection, tmp_path):
    # A unit test file that reads the isula-build fixtures, run by ansible-test inside the installed copy:
    # the artifact's tests need nothing beside it.
    env = isolated_env(installed_collection.collections, tmp_path / "ansible-home")
    env["PATH"] = os.path.dirname(ansible_cli("ansible-test")) + os.pathsep + env.get("PATH", "")
    python = "%d.%d" % sys.version_info[:2]
    units = subprocess.run([ansible_cli("ansible-test"), "units", "--local", "--python", python, "--color", "no",
                            "tests/unit/plugins/module_utils/_bundle/test_bundle_confinement.py"],
                           cwd=installed_collection.root, env=env, capture_output=True, text=True, timeout=600,
                           check=False, stdin=subprocess.DEVNULL)
    assert units.returncode == 0, units.stdout[-3000:] + units.stderr[-2000:]
    assert " passed" in units.stdout and " failed" not in units.stdout and " error" not in units.stdout
