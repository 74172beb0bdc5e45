# Copyright: (c) 2025, fleetimage maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest set-up: the Ansible fixtures of tests/ansible.py for every test.

Order matters here:

1. The test environment (ANSIBLE_* variables) is prepared before anything
   imports Ansible, because Ansible reads its configuration once, at import.
   That is why pytest.ini turns off pytest-ansible's automatic loading
   (``-p no:pytest-ansible``): it is loaded below, after the set-up.
2. tests/ is on sys.path (so tests can ``import support...``), where
   tests/ansible.py would shadow ansible-core. ansible-core is therefore
   imported with tests/ off sys.path, and tests/ansible.py is loaded under
   the name ``tests_ansible`` (tests may ``from tests_ansible import ...``).
"""

from __future__ import annotations

import importlib.util
import os
import sys


def _load_harness():
    name = "tests_ansible"
    if name not in sys.modules:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ansible.py")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_harness = _load_harness()
_harness.prepare_environment()
_harness.import_ansible_core()

# Already loaded when pytest ran without this repository's pytest.ini.
pytest_plugins = [] if "pytest_ansible.plugin" in sys.modules else ["pytest_ansible.plugin"]

# The harness's fixtures and hooks, offered to every test.
run_module = _harness.run_module
run_playbook = _harness.run_playbook
ansible_test_env = _harness.ansible_test_env
pytest_configure = _harness.pytest_configure
pytest_report_header = _harness.pytest_report_header
