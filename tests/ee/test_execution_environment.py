# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The execution environment: what ansible-builder finds in the collection, and the
build context it writes for docs/examples/execution-environment/.

Introspection runs on the Galaxy artifact installed into an empty folder (the
session fixture ``installed_collection``): that is what an EE build installs
and introspects, so a dependency file left out by build_ignore fails here.
Building the image itself needs the base image's registry; these tests stop at
``ansible-builder create`` and then run the build context's own introspection
script, the step of the build that decides what the image installs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

# In the worker that already holds the installed artifact (tests/conftest.py, xdist_scope_of).
pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "examples" / "execution-environment"
TAG = "  # from collection fleetimage.separated"


def tool(name: str) -> str:
    """A command installed next to this Python (requirements-dev.txt); missing is a failure."""
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{path} not found: `make venv` installs it from requirements-dev.txt"
    return str(path)


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
                          stdin=subprocess.DEVNULL)
    if check:
        assert proc.returncode == 0, f"{' '.join(cmd)}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def declared(name: str) -> list[str]:
    """The requirement lines of meta/NAME, comments and blank lines left out."""
    lines = (REPO / "meta" / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_meta_names_the_dependency_files():
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())
    assert meta["version"] == 3
    assert meta["dependencies"] == {"python": "meta/ee-requirements.txt", "system": "meta/ee-bindep.txt"}
    assert "zstandard>=0.19" in declared("ee-requirements.txt")
    assert "openssh-clients [platform:rpm]" in declared("ee-bindep.txt")
    assert "openssh-client [platform:dpkg]" in declared("ee-bindep.txt")


def test_introspect_lists_the_installed_collection_needs(installed_collection, tmp_path):
    pip_out, bindep_out = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    proc = run([tool("ansible-builder"), "introspect", "--write-pip", str(pip_out), "--write-bindep", str(bindep_out),
                str(installed_collection.collections)], tmp_path)
    found = yaml.safe_load(proc.stdout.split("---", 1)[1])
    assert found["python"] == [line + TAG for line in declared("ee-requirements.txt")], proc.stdout
    assert found["system"] == [line + TAG for line in declared("ee-bindep.txt")], proc.stdout
    # What the build installs: pip's file, and bindep's answer for this (Debian) platform.
    assert [line.split("#")[0].strip() for line in pip_out.read_text().splitlines()] == declared("ee-requirements.txt")
    listed = run([tool("bindep"), "--file", str(bindep_out), "--list_all", "newline"], tmp_path).stdout.split()
    assert "openssh-client" in listed and "openssh-clients" not in listed, listed


def test_create_writes_a_context_that_installs_them(installed_collection, tmp_path):
    context = tmp_path / "context"
    run([tool("ansible-builder"), "create", "--file", str(EXAMPLE / "execution-environment.yml"),
         "--context", str(context)], tmp_path)
    containerfile = (context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile
    assert "/output/scripts/introspect.py introspect --write-bindep=/tmp/src/bindep.txt" in containerfile
    assert "RUN /output/scripts/assemble" in containerfile  # pip-installs what introspection wrote
    assert "RUN /output/scripts/install-from-bindep" in containerfile  # installs the system packages
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert [c["name"] for c in galaxy["collections"]] == ["fleetimage.separated"]

    # The context's own introspection, as its RUN step does it, on the installed collection.
    pip_out, bindep_out = tmp_path / "src" / "requirements.txt", tmp_path / "src" / "bindep.txt"
    run([sys.executable, str(context / "_build" / "scripts" / "introspect.py"), "introspect",
         f"--write-bindep={bindep_out}", f"--write-pip={pip_out}", str(installed_collection.collections)], tmp_path)
    assert [line.split("#")[0].strip() for line in pip_out.read_text().splitlines()] == declared("ee-requirements.txt")
    assert [line.split("#")[0].strip() for line in bindep_out.read_text().splitlines()] == declared("ee-bindep.txt")


def test_create_fails_with_the_tool_message_on_a_missing_file(tmp_path):
    definition = tmp_path / "execution-environment.yml"
    definition.write_text((EXAMPLE / "execution-environment.yml").read_text())  # its requirements.yml not copied
    proc = run([tool("ansible-builder"), "create", "--file", str(definition), "--context", str(tmp_path / "context")],
               tmp_path, check=False)
    assert proc.returncode != 0
    assert "requirements.yml" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
