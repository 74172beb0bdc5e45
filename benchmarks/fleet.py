# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet benchmark: the rollout role over N loopback SSH hosts, before and after, beside `ansible -m ping`.

    make bench-fleet                                   # N = 10, 25, 50
    .venv/bin/python benchmarks/fleet.py --sizes 10 --before-ref main

It starts N sshds itself (127.0.2.1.., free ports, key authentication, its
own temp folder) and stops them by pid at the end. Every host's ssh, sftp,
scp and python go through wrappers that count what the controller starts
for it. For each N, and for each role (the role at --before-ref, taken with
`git archive` into a temp folder, and this checkout's), on empty hosts:

  first     rollout of app1 (base, lib, app1 tarballs)
  rerun     the same again (nothing to do)
  second    app1 and app2 (app2 shares base and lib: only its app tarball is new)

and `ansible all -m ping` at the same N and forks. Reported per step: wall
seconds, module runs and ssh/sftp/scp processes per host, controller CPU
seconds per host (ansible and every process it started, from
getrusage(RUSAGE_CHILDREN)), and ratios to ping.

Output: benchmarks/out/fleet.json and fleet.md.
"""

from __future__ import annotations

import argparse
import datetime
import getpass
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
VENV_BIN = os.path.dirname(sys.executable)
PLAYBOOK = """\
- name: Roll the bundle out (fleet benchmark)
  hosts: fleet
  gather_facts: false
  roles:
    - role: fleetimage.separated.rollout
"""


def free_port(address):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def stop(proc):
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(wait)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def start_hosts(folder, count):
    """COUNT sshds on 127.0.2.1..; returns [(name, address, port)], [Popen]."""
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    os.makedirs("/run/sshd", exist_ok=True)
    for key in ("client_key", "host_key"):
        if not os.path.exists(os.path.join(folder, key)):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(folder, key)], check=True)
    shutil.copyfile(os.path.join(folder, "client_key.pub"), os.path.join(folder, "authorized_keys"))
    os.chmod(os.path.join(folder, "authorized_keys"), 0o600)
    hosts, procs = [], []
    for index in range(1, count + 1):
        address = "127.0.2.%d" % index
        port = free_port(address)
        config = os.path.join(folder, "sshd_%d.conf" % index)
        with open(config, "w") as f:
            f.write("\n".join([
                "ListenAddress %s:%d" % (address, port), "HostKey %s/host_key" % folder,
                "PidFile %s/sshd_%d.pid" % (folder, index), "AuthorizedKeysFile %s/authorized_keys" % folder,
                "UsePAM no", "StrictModes no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password", "UseDNS no", "MaxSessions 50", "MaxStartups 200:30:400",
                "Subsystem sftp internal-sftp", "LogLevel ERROR", ""]))
        log = open(os.path.join(folder, "sshd_%d.log" % index), "wb")
        procs.append(subprocess.Popen([sshd, "-D", "-e", "-f", config], stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True))
        hosts.append(("host%d" % index, address, port))
    deadline = time.monotonic() + 30
    for _name, address, port in hosts:
        while True:
            try:
                socket.create_connection((address, port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("sshd on %s:%d did not start" % (address, port))
                time.sleep(0.1)
    return hosts, procs


def wrappers(folder, name):
    """Host variables sending the host's ssh, sftp, scp and python through counting wrappers."""
    wrap = os.path.join(folder, "wrappers", name)
    os.makedirs(wrap, exist_ok=True)
    log = os.path.join(folder, "counts", name + ".log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    variables = {}
    for tool, variable in (("ssh", "ansible_ssh_executable"), ("sftp", "ansible_sftp_executable"),
                           ("scp", "ansible_scp_executable"), ("python", "ansible_python_interpreter")):
        real = sys.executable if tool == "python" else shutil.which(tool)
        path = os.path.join(wrap, tool)
        with open(path, "w") as f:
            f.write("#!/bin/sh\necho %s >> '%s'\nexec '%s' \"$@\"\n" % (tool, log, real))
        os.chmod(path, 0o755)
        variables[variable] = path
    return variables


def take_counts(folder, names):
    totals = {"python": 0, "ssh": 0, "sftp": 0, "scp": 0}
    for name in names:
        log = os.path.join(folder, "counts", name + ".log")
        if os.path.exists(log):
            with open(log) as f:
                lines = f.read().split()
            os.unlink(log)
            for tool in totals:
                totals[tool] += lines.count(tool)
    return dict((tool, count / float(len(names))) for tool, count in totals.items())


def inventory(folder, hosts, key, run_root):
    data = {}
    for name, address, port in hosts:
        data[name] = dict(wrappers(folder, name), ansible_host=address, ansible_port=port,
                          rollout_cache_dir=os.path.join(run_root, name, "cache"),
                          rollout_store=os.path.join(run_root, name, "store"))
    path = os.path.join(run_root, "inventory.json")
    with open(path, "w") as f:
        json.dump({"all": {"children": {"fleet": {"hosts": data}}, "vars": {
            "ansible_connection": "ssh", "ansible_user": getpass.getuser(), "ansible_ssh_private_key_file": key,
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
                                       "-o IdentitiesOnly=yes -o BatchMode=yes",
            "ansible_ssh_args": "-o ControlMaster=auto -o ControlPersist=600s",
            "ansible_control_path_dir": os.path.join(folder, "cp"),
            "ansible_pipelining": True}}}, f)
    return path


def timed(cmd, env):
    """(wall seconds, controller CPU seconds of CMD and everything it started, returncode, output tail)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode, (proc.stdout + proc.stderr)[-2000:]


def close_masters(folder):
    cp = os.path.join(folder, "cp")
    if os.path.isdir(cp):
        for entry in os.listdir(cp):
            subprocess.run(["ssh", "-o", "ControlPath=" + os.path.join(cp, entry), "-O", "exit", "x"],
                           capture_output=True, check=False, timeout=30)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,25,50")
    parser.add_argument("--before-ref", default="main", help="git ref of the role to compare with ('' to skip)")
    parser.add_argument("--bundle-mib", type=int, default=5, help="the size of the base's extra layer")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    os.makedirs(OUT, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="fleetimage-bench-fleet-")
    os.makedirs(os.path.join(folder, "cp"))
    procs = []
    results = {"started": datetime.datetime.utcnow().isoformat() + "Z", "machine": platform.platform(),
               "cpus": os.cpu_count(), "before_ref": args.before_ref, "runs": []}
    try:
        sys.path[:0] = [os.path.join(REPO, "tests"), os.path.join(REPO, ".build", "collections")]
        from support.images import make_bundle  # pylint: disable=import-outside-toplevel
        bundle = os.path.join(folder, "bundle")
        make_bundle(bundle, apps=("app1:1", "app2:1"), large_mib=args.bundle_mib)
        results["bundle_bytes"] = sum(os.path.getsize(os.path.join(bundle, f)) for f in os.listdir(bundle))
        roles = {"after": os.path.join(REPO, ".build", "collections")}
        if args.before_ref:
            before = os.path.join(folder, "before", "ansible_collections", "fleetimage", "separated")
            os.makedirs(before)
            archive = subprocess.run(["git", "-C", REPO, "archive", args.before_ref], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", before], input=archive.stdout, check=True)
            roles = {"before": os.path.join(folder, "before"), "after": roles["after"]}
        hosts, procs = start_hosts(folder, max(sizes))
        playbook = os.path.join(folder, "rollout.yml")
        with open(playbook, "w") as f:
            f.write(PLAYBOOK)
        for count in sizes:
            names = [h[0] for h in hosts[:count]]
            for variant, collections in roles.items():
                run_root = os.path.join(folder, "run-%d-%s" % (count, variant))
                os.makedirs(run_root)
                inv = inventory(folder, hosts[:count], os.path.join(folder, "client_key"), run_root)
                env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_FORKS=str(count),
                           ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1",
                           ANSIBLE_LOCAL_TEMP=os.path.join(run_root, "tmp"))
                steps = [
                    ("ping", [os.path.join(VENV_BIN, "ansible"), "fleet", "-i", inv, "-m", "ansible.builtin.ping"]),
                    ("first", [os.path.join(VENV_BIN, "ansible-playbook"), "-i", inv, playbook,
                               "-e", json.dumps({"rollout_bundle_dir": bundle, "rollout_apps": ["app1:1"]})]),
                    ("rerun", [os.path.join(VENV_BIN, "ansible-playbook"), "-i", inv, playbook,
                               "-e", json.dumps({"rollout_bundle_dir": bundle, "rollout_apps": ["app1:1"]})]),
                    ("second", [os.path.join(VENV_BIN, "ansible-playbook"), "-i", inv, playbook,
                                "-e", json.dumps({"rollout_bundle_dir": bundle, "rollout_apps": ["app1:1", "app2:1"]})]),
                ]
                take_counts(folder, names)
                for step, cmd in steps:
                    wall, cpu, rc, tail = timed(cmd, env)
                    row = dict(n=count, role=variant, step=step, wall=round(wall, 2), rc=rc,
                               cpu_per_host=round(cpu / count, 3), per_host=take_counts(folder, names))
                    if rc:
                        row["output"] = tail
                    results["runs"].append(row)
                    print(json.dumps(row), flush=True)
                    with open(os.path.join(OUT, "fleet.json"), "w") as f:
                        json.dump(results, f, indent=2)
                close_masters(folder)
        write_markdown(results)
    finally:
        close_masters(folder)
        for proc in procs:
            stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


def write_markdown(results):
    lines = ["| N | role | step | wall s | x ping | module runs/host | ssh+sftp+scp/host | controller CPU s/host |",
             "|---|---|---|---|---|---|---|---|"]
    ping = dict(((r["n"], r["role"]), r["wall"]) for r in results["runs"] if r["step"] == "ping")
    for r in results["runs"]:
        c = r["per_host"]
        ratio = r["wall"] / ping[(r["n"], r["role"])] if ping.get((r["n"], r["role"])) else 0
        lines.append("| %d | %s | %s | %.1f | %.2f | %.1f | %.1f | %.3f |%s" % (
            r["n"], r["role"], r["step"], r["wall"], ratio, c["python"], c["ssh"] + c["sftp"] + c["scp"],
            r["cpu_per_host"], " rc=%d" % r["rc"] if r["rc"] else ""))
    with open(os.path.join(OUT, "fleet.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
