# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`molecule test` of the scenario extensions/molecule/default (the rollout role on localhost).

Molecule runs with the documented command, `molecule test -s default`, from the
collection's root folder, in both places a user has one: this work tree, and a
copy installed from the Galaxy artifact. An installed copy has no galaxy.yml (the
artifact has MANIFEST.json instead), which molecule needs to look for scenarios
under extensions/molecule/: there the documented command sets MOLECULE_GLOB.
Neither run gets ANSIBLE_COLLECTIONS_PATH:
the scenario finds the collection by itself. Molecule's state
(MOLECULE_EPHEMERAL_DIRECTORY: the scenario's bundle, cache and store) and
ansible-compat's cache (ANSIBLE_HOME) stay in the test's folders, never in $HOME
or in the work tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.fleet, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
SCENARIO = REPO_ROOT / "extensions" / "molecule" / "default"
TIMEOUT = 300


def _molecule() -> str | None:
    candidate = Path(sys.executable).parent / "molecule"
    if candidate.exists():
        return str(candidate)
    return shutil.which("molecule")


@pytest.fixture(params=["work-tree", "installed"])
def collection_root(request) -> Path:
    """The collection's root folder: this work tree, or the copy installed from the artifact."""
    if request.param == "work-tree":
        return REPO_ROOT
    return request.getfixturevalue("installed_collection").root


INSTALLED_COPY_ENV = {"MOLECULE_GLOB": "extensions/molecule/*/molecule.yml"}


def test_molecule_default_scenario(collection_root, ansible_test_env, tmp_path):
    molecule = _molecule()
    if molecule is None:
        pytest.skip("molecule is not installed in this Python environment (requirements-dev.txt has it: make venv)")
    assert (collection_root / "extensions" / "molecule" / "default" / "molecule.yml").is_file()

    env = dict(os.environ)
    env.update(ansible_test_env)
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)  # the scenario must find the collection itself
    env.pop("VIRTUAL_ENV", None)  # else ansible-compat caches into the venv
    env.update({
        "MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path / "molecule"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
        "NO_COLOR": "1",
        "ANSIBLE_NOCOLOR": "1",
        "PY_COLORS": "0",
    })
    env.pop("ANSIBLE_FORCE_COLOR", None)
    env.pop("MOLECULE_GLOB", None)
    if not (collection_root / "galaxy.yml").exists():
        env.update(INSTALLED_COPY_ENV)
    before = sorted(p.name for p in collection_root.iterdir())

    started = time.monotonic()
    proc = subprocess.run([molecule, "test", "-s", "default"], cwd=collection_root, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"molecule test failed (rc={proc.returncode}):\n{output}"
    for step in ("converge", "idempotence", "verify"):
        assert f"default > {step}: Executed: Successful" in output, output
    assert sorted(p.name for p in collection_root.iterdir()) == before, "molecule left files in the collection's folder"
    print(f"molecule test ({collection_root}): {seconds:.1f}s")
