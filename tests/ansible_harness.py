# Copyright: (c) 2025, fleetimage maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place where tests reach Ansible.

Tests never use pytest-ansible (or the ansible CLIs) directly: they use the
fixtures defined here, so the runner behind them can be swapped in one file
(pytest-ansible has announced its end of life).

Fixtures:

``run_module(module_name, check=False, _args=None, diff=False, **args) -> dict``
    Runs one module on localhost (connection ``local``, the test run's Python
    as ``ansible_python_interpreter``) and returns its result dict. A bare
    name means a module of this collection (``fleetimage.separated.<name>``);
    a dotted name is taken as a FQCN. ``result["failed"]`` is always present.
    Module options named ``check`` or ``_args`` go in ``_args={...}``.

    Normal calls go through pytest-ansible's ``ansible_adhoc`` fixture
    (in-process). pytest-ansible cannot run in check mode: its ad-hoc runner
    never passes ``--check`` into the play (``ansible_adhoc(check=True)`` is
    silently ignored). So ``check=True`` runs the ``ansible`` ad-hoc CLI with
    ``-C`` and a small stdout callback (written into the run folder) that
    prints each result as one JSON line, which is parsed here. ``diff=True``
    (Ansible's ``--diff``) runs the same CLI with ``-D``: the result then
    holds the module's ``diff``.

``run_playbook(playbook, extra_vars=None, check=False, inventory=None, limit=None) -> PlaybookResult``
    Runs ``ansible-playbook`` from the test run's Python environment. ``playbook``
    is a path or YAML text; ``inventory`` is None (localhost), a path, a
    ``host,`` list, YAML/INI text or a dict. The result has ``args``, ``rc``
    (``returncode``), ``stdout``, ``stderr`` and ``recap``: the PLAY RECAP
    counts per host, e.g. ``{"localhost": {"ok": 2, "changed": 1, ...}}``.

``ansible_test_env`` (session): the environment dict the tests run Ansible with.

The fixtures and hooks are offered to all tests by ``tests/conftest.py``.

Environment: ``prepare_environment()`` (called by ``tests/conftest.py`` before
Ansible is imported) fills in, unless already set by ``scripts/test.sh``:
ANSIBLE_COLLECTIONS_PATH (``.build/collections``), ANSIBLE_HOME /
ANSIBLE_LOCAL_TEMP / ANSIBLE_REMOTE_TMP (in a per-run folder),
ANSIBLE_PYTHON_INTERPRETER (this Python) and ANSIBLE_PIPELINING=1.

This module must not import Ansible at import time: Ansible reads its
configuration from the environment once, when it is first imported.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import typing as t

from pathlib import Path

import pytest


REPO_ROOT = Path(__file__).resolve().parent.parent
COLLECTION = "fleetimage.separated"
RUN_DIR_VAR = "FLEETIMAGE_TEST_RUN_DIR"
RESULT_MARKER = "FLEETIMAGE-TEST-RESULT "
CALLBACK_NAME = "fleetimage_test_result"
DEFAULT_TIMEOUT = 1800

# Written into the run folder and used as the stdout callback of the ad-hoc
# CLI when a module runs in check mode: one JSON line per host result.
CALLBACK_SOURCE = '''\
"""Stdout callback of the fleetimage.separated test harness (generated)."""
from __future__ import annotations

import json
import sys

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: %(name)s
type: stdout
short_description: print each task result as one JSON line
description: Used by tests/ansible_harness.py to read module results from the ansible CLI.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "%(name)s"

    def _emit(self, result, extra):
        data = dict(getattr(result, "result", None) or getattr(result, "_result", {}))
        data.update(extra)
        host = getattr(result, "host", None) or getattr(result, "_host")
        line = json.dumps({"host": host.get_name(), "result": data}, default=str)
        sys.stdout.write("%(marker)s" + line + "\\n")
        sys.stdout.flush()

    def v2_runner_on_ok(self, result, **kwargs):
        self._emit(result, {})

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._emit(result, {"failed": True})

    def v2_runner_on_skipped(self, result, **kwargs):
        self._emit(result, {"skipped": True})

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._emit(result, {"unreachable": True, "failed": True})
''' % {"name": CALLBACK_NAME, "marker": RESULT_MARKER}


# --------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------

def run_dir() -> Path:
    """Return the per-run folder (made by scripts/test.sh or by prepare_environment)."""
    return Path(os.environ[RUN_DIR_VAR])


def prepare_environment() -> dict[str, str]:
    """Fill in the test environment variables that are not set yet; return them."""
    if not os.environ.get(RUN_DIR_VAR):
        folder = tempfile.mkdtemp(prefix="fleetimage-test-")
        atexit.register(shutil.rmtree, folder, True)
        os.environ[RUN_DIR_VAR] = folder
    base = run_dir()

    if not os.environ.get("ANSIBLE_COLLECTIONS_PATH"):
        collections = REPO_ROOT / ".build" / "collections"
        link = collections / "ansible_collections" / "fleetimage" / "separated"
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink():
                link.unlink()
            link.symlink_to(os.path.join("..", "..", "..", ".."))
        os.environ["ANSIBLE_COLLECTIONS_PATH"] = str(collections)

    defaults = {
        "ANSIBLE_HOME": base / "ansible-home",
        "ANSIBLE_LOCAL_TEMP": base / "ansible-local-tmp",
        "ANSIBLE_REMOTE_TMP": base / "ansible-remote-tmp",
    }
    for name, path in defaults.items():
        if not os.environ.get(name):
            os.environ[name] = str(path)
        Path(os.environ[name]).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ANSIBLE_PYTHON_INTERPRETER", sys.executable)
    os.environ.setdefault("ANSIBLE_PIPELINING", "1")
    # Plain, uncolored output that the harness can parse.
    os.environ["ANSIBLE_NOCOLOR"] = "1"
    os.environ.pop("ANSIBLE_FORCE_COLOR", None)
    return current_test_env()


def current_test_env() -> dict[str, str]:
    """Return the variables that make up the test environment."""
    names = [
        RUN_DIR_VAR, "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_HOME", "ANSIBLE_LOCAL_TEMP",
        "ANSIBLE_REMOTE_TMP", "ANSIBLE_PYTHON_INTERPRETER", "ANSIBLE_PIPELINING",
    ]
    return {name: os.environ[name] for name in names if name in os.environ}


def _bin(name: str) -> str:
    """Return the path of an Ansible CLI next to this Python (the venv), else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found next to {sys.executable} nor on PATH")
    return found


def _localhost_inventory() -> Path:
    path = run_dir() / "inventory-localhost.yml"
    if not path.exists():
        data = {"all": {"hosts": {"localhost": {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
        }}}}
        _write_once(path, json.dumps(data, indent=2) + "\n")
    return path


def _write_once(path: Path, text: str) -> None:
    """Write PATH whole or not at all: pytest-xdist's workers share the run folder and may race to write it."""
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def _fqcn(module_name: str) -> str:
    return module_name if "." in module_name else f"{COLLECTION}.{module_name}"


def _plain(data: t.Any) -> t.Any:
    """Return ``data`` as plain JSON types (same shape from every runner)."""
    return json.loads(json.dumps(data, default=str))


def _finish(result: dict[str, t.Any]) -> dict[str, t.Any]:
    result = _plain(result)
    result.setdefault("failed", False)
    return result


# --------------------------------------------------------------------------
# run_module
# --------------------------------------------------------------------------

def _run_module_adhoc(ansible_adhoc: t.Callable[..., t.Any], fqcn: str, args: dict[str, t.Any]) -> dict[str, t.Any]:
    """Run a module in-process through pytest-ansible."""
    from pytest_ansible.errors import AnsibleConnectionFailure  # pylint: disable=import-outside-toplevel

    hosts = ansible_adhoc(inventory=str(_localhost_inventory()), connection="local", host_pattern="localhost")
    module = getattr(hosts["localhost"], fqcn)
    # Ansible's TaskQueueManager installs SIGTERM/SIGINT handlers in this (the
    # pytest) process and never restores them. Left in place, Ctrl-C no longer
    # stops pytest, and processes forked later by other tests ignore SIGTERM
    # while blocked (e.g. a multiprocessing Pool's terminate() then hangs).
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        results = module(**args)
    except AnsibleConnectionFailure as exc:
        dark = getattr(exc, "dark", {}) or {}
        return _finish(dict(dark.get("localhost", {}), unreachable=True, failed=True, msg=str(exc)))
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)
    if "localhost" not in results:
        return _finish({"skipped": True, "msg": "no result for localhost"})
    return _finish(dict(results["localhost"]))


def _callback_dir() -> Path:
    folder = run_dir() / "callback_plugins"
    path = folder / f"{CALLBACK_NAME}.py"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        _write_once(path, CALLBACK_SOURCE)
    return folder


def _run_module_cli(fqcn: str, args: dict[str, t.Any], check: bool, diff: bool = False,
                    timeout: float = DEFAULT_TIMEOUT) -> dict[str, t.Any]:
    """Run a module with the ``ansible`` ad-hoc CLI and read the result from its stdout."""
    cmd = [_bin("ansible"), "localhost", "-i", str(_localhost_inventory()), "-m", fqcn]
    if args:
        cmd += ["-a", json.dumps(args, default=str)]
    if check:
        cmd.append("-C")
    if diff:
        cmd.append("-D")
    env = dict(os.environ)
    env.update({
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_STDOUT_CALLBACK": CALLBACK_NAME,
        "ANSIBLE_CALLBACK_PLUGINS": str(_callback_dir()),
    })
    # stdin from /dev/null: ansible-core 2.21's CLI stops ("Could not detach from stdio") when
    # the test run has no stdin (CI), and no run here ever reads it.
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            record = json.loads(line[len(RESULT_MARKER):])
            if record.get("host") == "localhost":
                return _finish(record["result"])
    raise RuntimeError(
        f"no module result in the output of {cmd!r} (rc={proc.returncode})\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )


@pytest.fixture
def run_module(ansible_adhoc: t.Callable[..., t.Any]) -> t.Callable[..., dict[str, t.Any]]:
    """Return ``run_module(module_name, check=False, _args=None, diff=False, **args) -> dict``."""

    def _run(module_name: str, check: bool = False, _args: dict[str, t.Any] | None = None, diff: bool = False,
             **args: t.Any) -> dict[str, t.Any]:
        module_args = dict(_args or {}, **args)
        fqcn = _fqcn(module_name)
        if check or diff:
            return _run_module_cli(fqcn, module_args, check=check, diff=diff)
        return _run_module_adhoc(ansible_adhoc, fqcn, module_args)

    return _run


# --------------------------------------------------------------------------
# run_playbook
# --------------------------------------------------------------------------

_RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")


@dataclasses.dataclass(repr=False)
class PlaybookResult:
    """What one ansible-playbook run gave (CompletedProcess-like).

    ``str()`` and ``repr()`` give the whole run (command, rc, recap, stdout,
    stderr), errors last: ``assert result.rc == 0, str(result)`` shows it all
    (pytest shortens a non-str message to its head and tail).
    """

    args: list[str]
    rc: int
    stdout: str
    stderr: str
    recap: dict[str, dict[str, int]]

    @property
    def returncode(self) -> int:
        """Same as ``rc`` (subprocess.CompletedProcess spelling)."""
        return self.rc

    def check_returncode(self) -> None:
        """Raise CalledProcessError when ansible-playbook failed."""
        if self.rc:
            raise subprocess.CalledProcessError(self.rc, self.args, self.stdout, self.stderr)

    def __str__(self) -> str:
        return (f"ansible-playbook rc={self.rc} recap={self.recap}\n$ {' '.join(self.args)}\n"
                f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}")

    __repr__ = __str__


def parse_recap(stdout: str) -> dict[str, dict[str, int]]:
    """Return the PLAY RECAP counts per host from ansible-playbook's default output."""
    recap: dict[str, dict[str, int]] = {}
    in_recap = False
    for line in stdout.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if not in_recap:
            continue
        match = _RECAP_LINE.match(line.strip())
        if match:
            counts = dict(item.split("=") for item in match.group("counts").split())
            recap[match.group("host")] = {key: int(value) for key, value in counts.items()}
        elif line.strip():
            in_recap = False
    return recap


def _looks_like_text(value: str) -> bool:
    return "\n" in value or value.lstrip().startswith(("-", "{", "["))


def _write_inventory(inventory: t.Any, folder: Path) -> str:
    if inventory is None:
        return str(_localhost_inventory())
    if isinstance(inventory, os.PathLike):
        return os.fspath(inventory)
    if isinstance(inventory, dict):
        path = folder / "inventory.yml"
        path.write_text(json.dumps(inventory, indent=2, default=str) + "\n", encoding="utf-8")
        return str(path)
    text = str(inventory)
    if "\n" not in text and (text.endswith(",") or os.path.exists(text)):
        return text
    import yaml  # pylint: disable=import-outside-toplevel

    try:
        is_yaml = isinstance(yaml.safe_load(text), dict)
    except yaml.YAMLError:
        is_yaml = False
    path = folder / ("inventory.yml" if is_yaml else "inventory.ini")
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def run_playbook(tmp_path: Path) -> t.Callable[..., PlaybookResult]:
    """Return ``run_playbook(playbook, extra_vars=None, check=False, inventory=None, limit=None) -> PlaybookResult``."""
    return playbook_runner(tmp_path)


def playbook_runner(tmp_path: Path) -> t.Callable[..., PlaybookResult]:
    """run_playbook, writing its files under TMP_PATH: for fixtures wider than one test."""
    counter = iter(range(1, 1_000_000))

    def _run(
        playbook: str | os.PathLike[str],
        extra_vars: dict[str, t.Any] | None = None,
        check: bool = False,
        inventory: t.Any = None,
        limit: str | None = None,
        *,
        env: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> PlaybookResult:
        folder = tmp_path / f"playbook-run-{next(counter)}"
        folder.mkdir()
        if isinstance(playbook, os.PathLike) or not _looks_like_text(str(playbook)):
            playbook_path = os.fspath(playbook)
        else:
            playbook_path = str(folder / "playbook.yml")
            Path(playbook_path).write_text(str(playbook), encoding="utf-8")
        cmd = [_bin("ansible-playbook"), "-i", _write_inventory(inventory, folder), playbook_path]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars, default=str)]
        if check:
            cmd.append("-C")
        if limit:
            cmd += ["-l", limit]
        run_env = dict(os.environ)
        run_env.update({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default", "ANSIBLE_NOCOLOR": "1"})
        run_env.update(env or {})
        proc = subprocess.run(cmd, env=run_env, capture_output=True, text=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)  # as in _run_module_cli
        return PlaybookResult(args=cmd, rc=proc.returncode, stdout=proc.stdout, stderr=proc.stderr,
                              recap=parse_recap(proc.stdout))

    return _run


@pytest.fixture(scope="session")
def ansible_test_env() -> dict[str, str]:
    """The environment variables the tests run Ansible with."""
    return current_test_env()


# --------------------------------------------------------------------------
# pytest hooks (re-exported by tests/conftest.py)
# --------------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Keep pytest-ansible from laying out a collections/ tree in the repository.

    Without this, pytest-ansible (started from a folder holding galaxy.yml)
    symlinks every top-level entry into ./collections/ansible_collections/...
    Instead it is told to use ANSIBLE_COLLECTIONS_PATH as prepared above.
    """
    if hasattr(config.option, "ansible_unit_inject_only"):
        config.option.ansible_unit_inject_only = True


def pytest_report_header(config: pytest.Config) -> list[str]:  # pylint: disable=unused-argument
    """Show the Ansible test environment in pytest's header."""
    return [f"{name}={value}" for name, value in current_test_env().items()]
