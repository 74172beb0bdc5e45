# Copyright: (c) 2025, fleetimage maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the harness of tests/ansible_harness.py adds to pytest-ansible: its environment, check mode, results.

The rest of the suite calls this collection's modules through it; these few
tests cover what those calls take for granted, with ansible.builtin modules.
"""

from __future__ import annotations

import os
import signal
import sys

from pathlib import Path

from ansible_harness import parse_recap
from support.xdist_scopes import xdist_scope_of


def test_environment_is_kept_out_of_home(ansible_test_env):
    home = os.path.expanduser("~")
    for name in ("ANSIBLE_HOME", "ANSIBLE_LOCAL_TEMP", "ANSIBLE_REMOTE_TMP"):
        assert ansible_test_env[name], name
        assert not ansible_test_env[name].startswith(os.path.join(home, ".ansible")), name
    assert ansible_test_env["ANSIBLE_PIPELINING"] == "1"
    collections = Path(ansible_test_env["ANSIBLE_COLLECTIONS_PATH"])
    assert (collections / "ansible_collections" / "fleetimage" / "separated" / "galaxy.yml").is_file()


def test_run_module_leaves_signal_handlers_alone(run_module):
    # Ansible's TaskQueueManager sets SIGTERM/SIGINT handlers in the calling
    # process; the harness must undo that (Ctrl-C, and forks in later tests).
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    assert run_module("ansible.builtin.ping")["ping"] == "pong"
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_run_module_failure_is_a_result(run_module, tmp_path):
    result = run_module("ansible.builtin.file", path=str(tmp_path / "missing" / "deep"), state="file")
    assert result["failed"] is True
    assert result["msg"]


def test_run_module_check_mode_changes_nothing(run_module, tmp_path):
    target = tmp_path / "not-made.txt"
    result = run_module("ansible.builtin.copy", check=True, content="data\n", dest=str(target))
    assert result["failed"] is False
    assert result["changed"] is True
    assert not target.exists()

    touched = tmp_path / "not-touched"
    result = run_module("ansible.builtin.file", check=True, path=str(touched), state="touch")
    assert result["failed"] is False
    assert result["changed"] is True
    assert not touched.exists()


def test_run_playbook_inventory_limit_and_failure(run_playbook):
    inventory = {"all": {"hosts": {
        "one": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "two": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
    }}}
    playbook = """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.ping:
    - ansible.builtin.fail:
        msg: planned failure
      when: inventory_hostname == 'two'
"""
    result = run_playbook(playbook, inventory=inventory)
    assert result.rc == 2, result
    assert result.recap["one"] == {"ok": 1, "changed": 0, "unreachable": 0, "failed": 0,
                                   "skipped": 1, "rescued": 0, "ignored": 0}
    assert result.recap["two"]["ok"] == 1
    assert result.recap["two"]["failed"] == 1
    limited = run_playbook(playbook, inventory=inventory, limit="one")
    assert limited.rc == 0, limited
    assert set(limited.recap) == {"one"}


def test_parse_recap():
    stdout = """PLAY [x] ***

PLAY RECAP *********************************************************************
host-a                     : ok=3    changed=1    unreachable=0    failed=0    skipped=2    rescued=0    ignored=0
127.0.0.2                  : ok=0    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0

"""
    recap = parse_recap(stdout)
    assert recap["host-a"] == {"ok": 3, "changed": 1, "unreachable": 0, "failed": 0, "skipped": 2, "rescued": 0, "ignored": 0}
    assert recap["127.0.0.2"]["unreachable"] == 1


def test_run_module_diff_mode(run_module, tmp_path):
    dest = tmp_path / "file.txt"
    dest.write_text("old\n")
    result = run_module("ansible.builtin.copy", diff=True, content="new\n", dest=str(dest))
    assert result["failed"] is False and result["changed"] is True
    (diff,) = result["diff"] if isinstance(result["diff"], list) else [result["diff"]]
    assert diff["before"] == "old\n" and diff["after"] == "new\n"
    assert dest.read_text() == "new\n"


def test_tests_that_share_a_set_up_share_a_worker():
    # pytest-xdist sends each scope to one worker: the fleet and the installed artifact
    # (tests/fleet, tests/galaxy) are made once, the engine daemons once.
    fleet = {xdist_scope_of("tests/fleet/test_rollout.py::test_a[1]"), xdist_scope_of("tests/fleet/test_molecule.py::t"),
             xdist_scope_of("tests/galaxy/test_artifact.py::test_b"), xdist_scope_of("tests/ee/test_ee.py::t")}
    engines = {xdist_scope_of("tests/engines/test_engine_load.py::t"), xdist_scope_of("tests/engines/x/test_y.py::t")}
    assert len(fleet) == 1 and len(engines) == 1 and fleet != engines
    assert xdist_scope_of("tests/modules/test_load_module.py::t[a::b]") == "tests/modules/test_load_module.py"
    assert xdist_scope_of("tests/unit/plugins/test_x.py::t") != xdist_scope_of("tests/unit/plugins/test_y.py::t")
