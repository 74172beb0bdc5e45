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
from support.xdist_scopes import xdist_scope_of  # noqa: E402  pylint: disable=wrong-import-position
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
    # pytest-xdist's own marker, known also to a venv without pytest-xdist; the scopes
    # below are what decides where a test runs.
    "xdist_group(name): pytest-xdist's group",
)


@pytest.hookimpl(tryfirst=True)  # before pytest-ansible's own (see the harness's)
def pytest_configure(config):
    # Here, not in pytest.ini: ansible-test runs pytest with a configuration of its own.
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    if _harness is not None:
        _harness.pytest_configure(config)


# With pytest-xdist (scripts/test.sh runs pytest with --dist loadscope), the
# tests that share an expensive session fixture run in one worker, so that it
# is made once: the loopback sshd fleet and the installed Galaxy artifact
# (tests/fleet, tests/galaxy, tests/ee), the engine daemons (tests/engines). Every other
# test file is a scope of its own, so that its module-scoped fixtures are made
# once too. (xdist's loadgroup marks would say the same, but xdist 3.8 cannot
# rename pytest 9's node ids, so the scopes are given to its scheduler here.)
@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling  # pylint: disable=import-outside-toplevel,import-error

    class _SharedSetUpScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return xdist_scope_of(nodeid)

    return _SharedSetUpScheduling(config, log)


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
