# Copyright: (c) 2025, fleetimage maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest set-up: the Ansible fixtures of tests/ansible_harness.py for every test.

The test environment (ANSIBLE_* variables) is prepared before anything
imports Ansible, because Ansible reads its configuration once, at import.
That is why pytest.ini turns off pytest-ansible's automatic loading
(``-p no:pytest-ansible``): it is loaded below, after the set-up.
"""

from __future__ import annotations

import os
import sys

import pytest

# tests/ on sys.path for support/ and the harness: pytest puts it there in its
# default import mode, ansible-test units (importlib mode) does not.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from support.bundles import copy_bundle  # noqa: E402  pylint: disable=wrong-import-position
from support.galaxy import build_and_install  # noqa: E402  pylint: disable=wrong-import-position
from support.signing import make_keys  # noqa: E402  pylint: disable=wrong-import-position
import ansible_harness as _harness  # noqa: E402  pylint: disable=wrong-import-position

_harness.prepare_environment()
try:
    # Ansible reads its settings once, at import: after the line above.
    import ansible.constants  # noqa: E402,F401  # pylint: disable=unused-import,wrong-import-position
except ImportError:
    # `ansible-test units` runs the module_utils tests with only ansible.module_utils
    # importable; none of them calls Ansible, so the harness is not offered there.
    _harness = None

if _harness is not None:
    # Already loaded when pytest ran without this repository's pytest.ini.
    pytest_plugins = [] if "pytest_ansible.plugin" in sys.modules else ["pytest_ansible.plugin"]
    # The harness's fixtures and hooks, offered to every test.
    run_module = _harness.run_module
    run_playbook = _harness.run_playbook
    ansible_test_env = _harness.ansible_test_env
    pytest_report_header = _harness.pytest_report_header

MARKERS = (
    "engine: needs a real container engine (podman, docker, containerd)",
    "fleet: needs several managed hosts (loopback sshd)",
    "slow: takes more than a few seconds",
    "xdist_group(name): run in one pytest-xdist worker with the other tests of NAME (see xdist_group_of)",
)


@pytest.hookimpl(tryfirst=True)  # before pytest-ansible's own (see the harness's)
def pytest_configure(config):
    # Here, not in pytest.ini: ansible-test runs pytest with a configuration of its own.
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    if _harness is not None:
        _harness.pytest_configure(config)


# With pytest-xdist (scripts/test.sh runs pytest with --dist loadgroup), the
# tests that share an expensive session fixture run in one worker, so that it
# is made once: the loopback sshd fleet and the installed Galaxy artifact
# (tests/fleet, tests/galaxy), the engine daemons (tests/engines and every test
# marked engine). Every other test file is a group of its own, so that its
# module-scoped fixtures are made once too.
_TESTS = os.path.dirname(os.path.abspath(__file__))


def xdist_group_of(path, markers):
    """The xdist group of a test in the file PATH (absolute) with the marker names MARKERS."""
    top = os.path.relpath(path, _TESTS).split(os.sep)[0]
    if top in ("fleet", "galaxy") or "fleet" in markers:
        return "fleet"
    if top == "engines" or "engine" in markers:
        return "engines"
    return os.path.relpath(path, _TESTS)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            markers = set(mark.name for mark in item.iter_markers())
            item.add_marker(pytest.mark.xdist_group(xdist_group_of(str(item.path), markers)))


@pytest.fixture
def bundle(tmp_path):
    """A writable copy of the bundle isula-build wrote (app1:1 and app2:1)."""
    return copy_bundle(tmp_path / "bundle")


@pytest.fixture
def store(tmp_path):
    """Where an OCI store is to be: the folder does not exist yet."""
    return tmp_path / "store"


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory):
    """Real ssh-keygen keys and allowed_signers files, made once per session (see support/signing.py)."""
    return make_keys(tmp_path_factory.mktemp("signing-keys"))


@pytest.fixture(scope="session")
def installed_collection(tmp_path_factory):
    """The Galaxy artifact built from this work tree and installed into an empty folder (support.galaxy)."""
    return build_and_install(_harness.REPO_ROOT, tmp_path_factory.mktemp("galaxy"))
