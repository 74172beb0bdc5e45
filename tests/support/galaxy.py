# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection as users get it: the Galaxy artifact, built and installed.

    built = build_and_install(repo_root, workdir)
    built.artifact      # WORKDIR/build/fleetimage-separated-X.Y.Z.tar.gz
    built.collections   # WORKDIR/installed: holds only ansible_collections/fleetimage/separated
    built.root          # the installed collection's folder

``ansible-galaxy collection build`` (from the work tree, honouring galaxy.yml's
build_ignore), then ``ansible-galaxy collection install --offline -p`` into an
empty folder. Ansible's CLIs are the ones next to this Python (the venv).
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path

Installed = collections.namedtuple("Installed", "artifact collections root")


def ansible_cli(name: str) -> str:
    """Path of an Ansible command next to this Python, else its bare name (PATH)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def isolated_env(collections_dir: Path, home: Path) -> dict[str, str]:
    """The environment for Ansible with COLLECTIONS_DIR as its only collection path."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": str(collections_dir),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_NOCOLOR": "1",
    })
    env.pop("ANSIBLE_COLLECTIONS_PATHS", None)
    return env


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def build_and_install(repo_root: Path, workdir: Path) -> Installed:
    build_dir, installed = workdir / "build", workdir / "installed"
    build_dir.mkdir(parents=True)
    installed.mkdir()
    env = isolated_env(installed, workdir / "ansible-home")
    _run([ansible_cli("ansible-galaxy"), "collection", "build", "--output-path", str(build_dir), str(repo_root)],
         env, workdir)
    artifacts = sorted(build_dir.glob("fleetimage-separated-*.tar.gz"))
    if len(artifacts) != 1:
        raise RuntimeError(f"expected one artifact in {build_dir}, found {artifacts}")
    _run([ansible_cli("ansible-galaxy"), "collection", "install", "--offline", "-p", str(installed), str(artifacts[0])],
         env, workdir)
    return Installed(artifacts[0], installed, installed / "ansible_collections" / "fleetimage" / "separated")
