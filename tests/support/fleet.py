"""One test's fleet: its hosts' folders, the inventory, the playbook that runs the role, and its runs."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
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
    counted: bool = False  # wrap each host's ssh, sftp, scp and python to count what the controller starts

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
            if self.counted:
                hosts[host.name].update(self._wrappers(host.name))
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

    # ----------------------------------------------------------------------
    # counting what the controller starts for each host
    # ----------------------------------------------------------------------

    def counts_log(self, name: str) -> Path:
        return self.root / "counts" / f"{name}.log"

    def _wrappers(self, name: str) -> dict:
        """Host variables that send this host's ssh, sftp, scp and python through counting wrappers."""
        folder = self.root / "wrappers" / name
        folder.mkdir(parents=True, exist_ok=True)
        self.counts_log(name).parent.mkdir(parents=True, exist_ok=True)
        variables = {}
        for tool, variable in (("ssh", "ansible_ssh_executable"), ("sftp", "ansible_sftp_executable"),
                               ("scp", "ansible_scp_executable"), ("python", "ansible_python_interpreter")):
            real = sys.executable if tool == "python" else shutil.which(tool)
            wrapper = folder / tool
            wrapper.write_text(f"#!/bin/sh\necho {tool} >> '{self.counts_log(name)}'\nexec '{real}' \"$@\"\n",
                               encoding="utf-8")
            wrapper.chmod(0o755)
            variables[variable] = str(wrapper)
        return variables

    def take_counts(self) -> dict:
        """{host: {'python': module runs, 'ssh': n, 'sftp': n, 'scp': n}} since the last call; resets them."""
        counts = {}
        for name in self.names:
            log = self.counts_log(name)
            lines = log.read_text(encoding="utf-8").split() if log.exists() else []
            counts[name] = {tool: lines.count(tool) for tool in ("python", "ssh", "sftp", "scp")}
            if log.exists():
                log.unlink()
        return counts

    # ----------------------------------------------------------------------
    # ad-hoc runs (the `ansible` command)
    # ----------------------------------------------------------------------

    def adhoc(self, module: str, args: str, check: bool = False, limit: str = "fleet", diff: bool = False):
        """Run `ansible LIMIT -m MODULE -a ARGS` on the fleet; returns (CompletedProcess, {host: result})."""
        inventory = self.root / "adhoc-inventory.json"
        self.root.mkdir(parents=True, exist_ok=True)
        inventory.write_text(json.dumps(self.inventory()), encoding="utf-8")
        cmd = [str(Path(sys.executable).parent / "ansible"), limit, "-i", str(inventory), "-m", module, "-a", args]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.oneline", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
                   ANSIBLE_NOCOLOR="1")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False,
                              stdin=subprocess.DEVNULL)
        results = {}
        for line in proc.stdout.splitlines():
            host, unused_bar, rest = line.partition(" | ")
            if " => " in rest:
                results[host] = json.loads(rest.split(" => ", 1)[1])
        return proc, results

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
