# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engines of the engine benchmark, each with all its state under a folder of the run.

podman: the benchmark's own storage (see _podman.py). docker and containerd:
a dockerd and a containerd started here, on sockets in the folder, stopped
by their pid at the end. Each engine can be emptied between measurements
(a host that never loaded the image) and says which folders hold what it
writes, so the sampler sees its disk use.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time

import _podman

NAMESPACE = "fleetimage-bench"


class _Daemon(object):
    def __init__(self, label, argv, folder, ready):
        self.label, self.argv, self.folder = label, argv, folder
        with open(os.path.join(folder, "daemon.log"), "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + 60
        while not ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("%s did not start: see %s/daemon.log" % (label, folder))
            time.sleep(0.2)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _run(argv, env, check=True):
    return subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=check)


class Podman(object):
    name = "podman"

    def __init__(self, folder):
        self.store = _podman.PodmanStore(os.path.join(folder, "podman"))
        self.env = {k: v for k, v in self.store.env.items() if k in ("CONTAINERS_STORAGE_CONF", "CONTAINERS_CONF")}
        self.params = {"engine": "podman"}
        self.watched = [self.store.graphroot, self.store.runroot]

    def own_import(self, archive):
        return ["podman", "load", "-q", "-i", archive]

    def reset(self):
        self.store.reset()

    def close(self):
        self.store.close()


class Docker(object):
    name = "docker"

    def __init__(self, folder):
        # Unix socket paths may not exceed 108 bytes.
        self.folder = tempfile.mkdtemp(prefix="fleetimage-bench-dockerd-")
        socket = os.path.join(self.folder, "docker.sock")
        with open(os.path.join(self.folder, "daemon.json"), "w") as f:
            f.write("{}\n")
        self.env = {"DOCKER_HOST": "unix://" + socket}
        self.params = {"engine": "docker"}
        self.watched = [os.path.join(self.folder, "data")]
        env = dict(os.environ, **self.env)
        self.daemon = _Daemon("dockerd", [
            "dockerd", "--config-file", os.path.join(self.folder, "daemon.json"),
            "--data-root", os.path.join(self.folder, "data"), "--exec-root", os.path.join(self.folder, "exec"),
            "--pidfile", os.path.join(self.folder, "docker.pid"), "-H", self.env["DOCKER_HOST"],
            "--iptables=false", "--ip6tables=false", "--bridge=none"], self.folder,
            lambda: _run(["docker", "version"], env, check=False).returncode == 0)

    def own_import(self, archive):
        return ["docker", "load", "-q", "-i", archive]

    def reset(self):
        env = dict(os.environ, **self.env)
        ids = _run(["docker", "image", "ls", "-aq"], env).stdout.split()
        if ids:
            _run(["docker", "rmi", "-f"] + sorted(set(i.decode() for i in ids)), env)

    def close(self):
        self.daemon.stop()
        subprocess.run(["rm", "-rf", "--one-file-system", self.folder], check=False)


class Containerd(object):
    name = "containerd"

    def __init__(self, folder):
        self.folder = tempfile.mkdtemp(prefix="fleetimage-bench-containerd-")
        socket = os.path.join(self.folder, "containerd.sock")
        config = os.path.join(self.folder, "config.toml")
        with open(config, "w") as f:
            f.write('version = 2\nroot = "%s"\nstate = "%s"\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                    '[grpc]\n  address = "%s"\n[ttrpc]\n  address = "%s.ttrpc"\n'
                    '[plugins."io.containerd.internal.v1.opt"]\n  path = "%s"\n'
                    % (os.path.join(self.folder, "root"), os.path.join(self.folder, "state"), socket, socket,
                       os.path.join(self.folder, "opt")))
        self.env = {"CONTAINERD_ADDRESS": socket}
        self.params = {"engine": "containerd", "namespace": NAMESPACE}
        self.watched = [os.path.join(self.folder, "root")]
        env = dict(os.environ, **self.env)
        self.daemon = _Daemon("containerd", ["containerd", "--config", config], self.folder,
                              lambda: _run(["ctr", "version"], env, check=False).returncode == 0)

    def own_import(self, archive):
        return ["ctr", "-n", NAMESPACE, "images", "import", archive]

    def reset(self):
        env = dict(os.environ, **self.env)
        names = _run(["ctr", "-n", NAMESPACE, "images", "ls", "-q"], env).stdout.split()
        if names:
            _run(["ctr", "-n", NAMESPACE, "images", "rm", "--sync"] + [n.decode() for n in names], env)

    def close(self):
        self.daemon.stop()
        subprocess.run(["rm", "-rf", "--one-file-system", self.folder], check=False)


ENGINES = {"podman": Podman, "docker": Docker, "containerd": Containerd}


def available(name):
    """None when the engine NAME can be used here, else why not."""
    programs = {"podman": ["podman"], "docker": ["docker", "dockerd"], "containerd": ["ctr", "containerd"]}[name]
    missing = [p for p in programs if shutil.which(p) is None]
    return "not installed: %s" % ", ".join(missing) if missing else None
