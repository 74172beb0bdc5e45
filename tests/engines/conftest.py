# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real container engines for the engine tests, each with all its state in a temp folder.

podman runs with its own storage.conf and containers.conf; dockerd and
containerd are started by the test session (once, when a test first needs
them) and stopped by their pid at its end, whatever the tests did. Nothing
touches the host's own engines or image stores.

A fixture skips, saying why, only where an engine is not installed or does
not start here (`make system-deps` installs them all).

Tests use the function-scoped fixture ``engine`` (parametrized over podman,
docker, containerd): the engine emptied of images, its connection variables
set in this process's environment (modules run on localhost inherit it),
and the helpers of EngineUnderTest.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import typing as t

from pathlib import Path

import pytest

START_TIMEOUT = 60  # seconds for a daemon to answer
STOP_TIMEOUT = 30  # seconds for a daemon to exit on SIGTERM before SIGKILL
ENGINES = ("podman", "docker", "containerd")


@dataclasses.dataclass
class EngineUnderTest:
    """One engine as the tests see it: module options, environment, and its own CLI to check with."""

    name: str  # the module's 'engine' option
    cli: list[str]  # the engine's CLI with the options that reach this instance
    env: dict[str, str]  # variables a module run needs to reach this instance
    module_args: dict[str, str]
    qualify: t.Callable[[str], str]  # 'app1:1' as the engine lists it
    image_id_of: t.Callable[["EngineUnderTest", str], t.Optional[str]]
    names_of: t.Callable[["EngineUnderTest"], set]
    run_argv: t.Callable[[str], list[str]]  # CLI arguments that run /bin/busybox true in an image
    clear: t.Callable[["EngineUnderTest"], None]
    blobs_of: t.Callable[["EngineUnderTest"], set]  # what the engine keeps of layers, as its storage lists it

    def run_cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        env = dict(os.environ, **self.env)
        proc = subprocess.run(self.cli + list(args), env=env, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError("%s failed (exit %s):\n%s%s" % (self.cli + list(args), proc.returncode, proc.stdout, proc.stderr))
        return proc

    def image_id(self, ref: str) -> t.Optional[str]:
        """The id (config digest, hex) of the image the engine holds as REF, asked of the engine itself."""
        return self.image_id_of(self, ref)

    def image_names(self) -> set:
        """Every image name the engine holds."""
        return self.names_of(self)

    def blobs(self) -> set:
        """The layers (or content) the engine stores, images or not."""
        return self.blobs_of(self)

    def run_image(self, ref: str) -> subprocess.CompletedProcess:
        return self.run_cli(*self.run_argv(ref), check=False, timeout=180)


# --------------------------------------------------------------------------
# podman: no daemon; its own storage and settings
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def podman_engine(tmp_path_factory):
    podman = _installed("podman")
    folder = tmp_path_factory.mktemp("podman")
    storage_conf = folder / "storage.conf"
    storage_conf.write_text(
        '[storage]\ndriver = "vfs"\ngraphroot = "%s"\nrunroot = "%s"\n' % (folder / "graph", folder / "run"),
        encoding="utf-8",
    )
    containers_conf = folder / "containers.conf"
    # Settings seen to be needed on the test machines (docs/docsite/rst/engines.rst): runc (crun refuses
    # the cgroup hybrid mode), cgroupfs, no network namespace, file events.
    containers_conf.write_text(
        "[containers]\n"
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
        'netns = "none"\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        'tmp_dir = "%s"\n' % (folder / "tmp"),
        encoding="utf-8",
    )
    engine = EngineUnderTest(
        name="podman",
        cli=[podman],
        env={"CONTAINERS_STORAGE_CONF": str(storage_conf), "CONTAINERS_CONF": str(containers_conf)},
        module_args={"engine": "podman", "engine_state": str(folder / "engine-state")},
        qualify=lambda name: "localhost/" + name,
        image_id_of=_podman_like_image_id,
        names_of=_podman_names,
        run_argv=lambda ref: ["run", "--rm", ref, "/bin/busybox", "true"],
        clear=lambda e: e.run_cli("rmi", "--all", "--force"),
        blobs_of=lambda e: _entries(folder / "graph" / "vfs" / "dir"),
    )
    info = engine.run_cli("info", check=False, timeout=60)
    if info.returncode != 0:
        pytest.skip("podman does not work here: `podman info` failed: %s" % info.stderr.strip()[-800:])
    yield engine
    engine.run_cli("rmi", "--all", "--force", check=False)


def _podman_like_image_id(engine, ref):
    proc = engine.run_cli("image", "inspect", "--format", "{{.Id}}", ref, check=False)
    return proc.stdout.strip().split(":")[-1] if proc.returncode == 0 else None


def _podman_names(engine):
    out = engine.run_cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    return {line for line in out.split() if "<none>" not in line}


# --------------------------------------------------------------------------
# docker: a dockerd of the test session (it starts a containerd of its own)
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory):
    docker, dockerd = _installed("docker"), _installed("dockerd")
    folder = _short_temp_folder("dockerd")
    socket = folder / "docker.sock"
    state = tmp_path_factory.mktemp("docker-engine-state")
    (folder / "daemon.json").write_text("{}\n", encoding="utf-8")
    argv = [
        dockerd, "--config-file", str(folder / "daemon.json"),
        "--data-root", str(folder / "data"), "--exec-root", str(folder / "exec"),
        "--pidfile", str(folder / "docker.pid"), "-H", "unix://%s" % socket,
        "--iptables=false", "--ip6tables=false", "--bridge=none",
    ]
    engine = EngineUnderTest(
        name="docker",
        cli=[docker],
        env={"DOCKER_HOST": "unix://%s" % socket},
        module_args={"engine": "docker", "engine_state": str(state)},
        qualify=lambda name: name,
        image_id_of=_podman_like_image_id,
        names_of=_docker_names,
        run_argv=lambda ref: ["run", "--rm", "--network", "none", ref, "/bin/busybox", "true"],
        clear=_docker_clear,
        blobs_of=lambda e: set().union(*(_entries(p) for p in (folder / "data" / "image").glob("*/layerdb/sha256"))),
    )
    with _daemon("dockerd", argv, folder, lambda: engine.run_cli("version", check=False, timeout=10).returncode == 0):
        yield engine


def _docker_names(engine):
    out = engine.run_cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    return {line for line in out.split() if "<none>" not in line}


def _docker_clear(engine):
    ids = engine.run_cli("images", "--all", "--quiet").stdout.split()
    if ids:
        engine.run_cli("rmi", "--force", *sorted(set(ids)))


# --------------------------------------------------------------------------
# containerd: a containerd of the test session, used through ctr
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def containerd_engine(tmp_path_factory):
    ctr, containerd = _installed("ctr"), _installed("containerd")
    _installed("containerd-shim-runc-v2")
    folder = _short_temp_folder("containerd")
    socket = folder / "containerd.sock"
    state = tmp_path_factory.mktemp("containerd-engine-state")
    config = folder / "config.toml"
    config.write_text(
        "version = 2\n"
        'root = "%s"\n'
        'state = "%s"\n'
        # No Kubernetes here: the CRI plugin would want CNI and more.
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        "[grpc]\n"
        '  address = "%s"\n'
        "[ttrpc]\n"
        '  address = "%s.ttrpc"\n'
        '[plugins."io.containerd.internal.v1.opt"]\n'
        '  path = "%s"\n' % (folder / "root", folder / "state", socket, socket, folder / "opt"),
        encoding="utf-8",
    )
    engine = EngineUnderTest(
        name="containerd",
        cli=[ctr, "--address", str(socket), "--namespace", "fleetimage-test"],
        env={"CONTAINERD_ADDRESS": str(socket)},
        module_args={"engine": "containerd", "namespace": "fleetimage-test", "engine_state": str(state)},
        qualify=lambda name: "docker.io/library/" + name,
        image_id_of=_containerd_image_id,
        names_of=lambda e: set(e.run_cli("images", "list", "--quiet").stdout.split()),
        run_argv=lambda ref: ["run", "--rm", ref, "fleetimage-test-%d" % time.monotonic_ns(), "/bin/busybox", "true"],
        clear=_containerd_clear,
        blobs_of=_containerd_content,
    )
    with _daemon("containerd", [containerd, "--config", str(config)], folder,
                 lambda: engine.run_cli("version", check=False, timeout=10).returncode == 0):
        yield engine


def _containerd_image_id(engine, ref):
    listing = engine.run_cli("images", "list", "name==" + ref).stdout.splitlines()[1:]
    if not listing:
        return None
    manifest = json.loads(engine.run_cli("content", "get", listing[0].split()[2]).stdout)
    return manifest["config"]["digest"].split(":")[-1]


def _containerd_content(engine):
    """Content blobs and ingests in progress; removed content goes at containerd's next garbage collection."""
    for dummy_attempt in range(50):
        content = set(engine.run_cli("content", "ls", "--quiet").stdout.split())
        active = engine.run_cli("content", "active").stdout.splitlines()[1:]
        leases = engine.run_cli("leases", "ls").stdout.splitlines()[1:]
        if not active and not leases:
            return content
        time.sleep(0.2)
    return content | {"active: %s" % line for line in active} | {"lease: %s" % line for line in leases}


def _entries(folder):
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        return set()


def _containerd_clear(engine):
    names = engine.run_cli("images", "list", "--quiet").stdout.split()
    if names:
        engine.run_cli("images", "remove", "--sync", *names)


# --------------------------------------------------------------------------
# The engine under test
# --------------------------------------------------------------------------

@pytest.fixture(params=ENGINES)
def engine(request, monkeypatch) -> EngineUnderTest:
    """The engine REQUEST names, without images, reachable by module runs of this test."""
    under_test = request.getfixturevalue("%s_engine" % request.param)
    under_test.clear(under_test)
    for name, value in under_test.env.items():
        monkeypatch.setenv(name, value)
    return under_test


def _installed(program):
    path = shutil.which(program)
    if path is None:
        pytest.skip("%s is not installed (`make system-deps` installs the container engines)" % program)
    return path


def _short_temp_folder(label):
    # Unix socket paths may not exceed 108 bytes: pytest's temp folders can be deep.
    return Path(tempfile.mkdtemp(prefix="fleetimage-%s-" % label))


class _daemon:  # pylint: disable=invalid-name
    """Start a daemon in its own session; on exit stop it by pid and remove FOLDER.

    The daemon's output goes to FOLDER/daemon.log, quoted when it does not
    come up (the tests of that engine then skip).
    """

    def __init__(self, label, argv, folder, ready):
        self.label, self.argv, self.folder, self.ready = label, argv, folder, ready
        self.proc = None

    def __enter__(self):
        log = open(self.folder / "daemon.log", "wb")  # pylint: disable=consider-using-with
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._give_up("exited with status %s" % self.proc.returncode)
            if self.ready():
                return self
            time.sleep(0.2)
        self._give_up("did not answer within %d s" % START_TIMEOUT)
        return self

    def __exit__(self, *exc):
        self._stop()
        return False

    def _give_up(self, why):
        self._stop()
        pytest.skip("%s could not be started here: %s\n%s" % (self.label, why, self._log_tail()))

    def _log_tail(self):
        try:
            return (self.folder / "daemon.log").read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    def _stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # its session: the daemon and what it started
                self.proc.wait()
        # The log and the daemon's state: removed unless asked to keep them for a look.
        if os.environ.get("KEEP_TEST_RUN_DIR") != "1":
            subprocess.run(["rm", "-rf", "--one-file-system", str(self.folder)], check=False)
