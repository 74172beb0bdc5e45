# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`molecule test` of the scenario extensions/molecule/default (the rollout role on localhost).

Molecule runs from the repository root (collection mode: it finds the scenario
under extensions/molecule/) with the test run's Ansible environment. Its state
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


def test_molecule_default_scenario(ansible_test_env, tmp_path):
    molecule = _molecule()
    if molecule is None:
        pytest.skip("molecule is not installed in this Python environment (requirements-dev.txt has it: make venv)")
    assert (SCENARIO / "molecule.yml").is_file()

    env = dict(os.environ)
    env.update(ansible_test_env)
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
    before = sorted(p.name for p in REPO_ROOT.iterdir())

    started = time.monotonic()
    proc = subprocess.run([molecule, "test", "--scenario-name", "default"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"molecule test failed (rc={proc.returncode}):\n{output}"
    for step in ("converge", "idempotence", "verify"):
        assert f"default > {step}: Executed: Successful" in output, output
    assert sorted(p.name for p in REPO_ROOT.iterdir()) == before, "molecule left files in the work tree"
    print(f"molecule test: {seconds:.1f}s")
