"""One test's fleet: its hosts' folders, the inventory, the playbook that runs the role, and its runs."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

PLAYBOOK = """\
- name: Roll the bundle out (fleet test)
  hosts: fleet
  gather_facts: false
  serial: "{{ fleet_serial | default(0) }}"
  roles:
    - role: fleetimage.separated.rollout
  post_tasks:
    # Once per batch, for the hosts still in it: {host: rollout_result}.
    - name: Save the batch's rollout_result for the test
      ansible.builtin.copy:
        content: "{{ dict(ansible_play_batch | zip(ansible_play_batch | map('extract', hostvars, 'rollout_result'))) | to_nice_json }}"
        dest: "{{ fleet_results_dir }}/{{ ansible_play_batch | first }}.json"
        mode: "0644"
      delegate_to: localhost
      run_once: true
      check_mode: false
      changed_when: false
      tags: [always]
"""


@dataclasses.dataclass
class Fleet:
    """The hosts of one test, each with its own cache and store folders."""

    ssh: object  # the SshFleet of tests/fleet/conftest.py
    root: Path
    bundle: object
    run_playbook: object
    runs: int = 0

    @property
    def names(self) -> list[str]:
        return [host.name for host in self.ssh.hosts]

    def cache(self, name: str) -> Path:
        return self.root / name / "cache"

    def store(self, name: str) -> Path:
        return self.root / name / "store"

    def inventory(self) -> dict:
        hosts = {}
        for host in self.ssh.hosts:
            hosts[host.name] = {
                "ansible_host": host.address,
                "ansible_port": host.port,
                "rollout_cache_dir": str(self.cache(host.name)),
                "rollout_store": str(self.store(host.name)),
            }
        return {"all": {
            "children": {"fleet": {"hosts": hosts}},
            "vars": {
                "ansible_connection": "ssh",
                "ansible_user": self.ssh.user,
                "ansible_ssh_private_key_file": str(self.ssh.key),
                "ansible_ssh_common_args": ("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                            "-o IdentitiesOnly=yes -o BatchMode=yes"),
                # Ansible's default ssh_args less -C (compressing gzip tarballs on loopback only costs
                # CPU), and masters that outlive the gaps between one test's runs (conftest.py
                # closes them when the session ends).
                "ansible_ssh_args": "-o ControlMaster=auto -o ControlPersist=600s",
                "ansible_pipelining": True,
                "ansible_control_path_dir": str(self.ssh.control_dir),
                "ansible_python_interpreter": sys.executable,
            },
        }}

    def run(self, check: bool = False, limit: str | None = None, tags: str | None = None,
            skip_tags: str | None = None, **role_vars):
        """Run the role on the fleet; returns (PlaybookResult, {host: rollout_result})."""
        self.runs += 1
        results_dir = self.root.parent / f"results-{self.runs}"
        results_dir.mkdir()
        extra = {"rollout_bundle_dir": str(self.bundle.path), "fleet_results_dir": str(results_dir)}
        extra.update(role_vars)
        env = {}
        if tags:
            env["ANSIBLE_RUN_TAGS"] = tags
        if skip_tags:
            env["ANSIBLE_SKIP_TAGS"] = skip_tags
        started = time.monotonic()
        result = self.run_playbook(PLAYBOOK, extra_vars=extra, check=check, inventory=self.inventory(),
                                   limit=limit, env=env)
        result.seconds = time.monotonic() - started
        reports = {}
        for path in sorted(results_dir.glob("*.json")):
            reports.update(json.loads(path.read_text(encoding="utf-8")))
        return result, reports
