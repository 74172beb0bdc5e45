# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fleet of managed hosts on this machine, reached over real SSH.

``fleet_hosts`` (session): one sshd per host, each on a loopback address of
its own (127.0.0.2, 127.0.0.3, ...) and a free port, key authentication only
(keys made with ssh-keygen in the session's temp folder), each with its own
config, PidFile and log. The sshds run in the foreground (``-D``) as children
of the test run, each in a process group of its own, and are stopped by pid
when the session ends, whatever happened. Ansible's ssh ControlMaster sockets
go to a folder of the session (not ~/.ansible/cp) and the masters are asked
to exit (``ssh -O exit``) before the sshds stop, so no session is left
behind. The tests are skipped, with the reason, only when sshd is not
installed or cannot start.

Hosts share this machine's file system: every test gives each host its own
cache and store folders through inventory variables (``Fleet.inventory``).

``fleet`` (function): a ``Fleet`` for one test: its own folders, the
playbook that applies the role and saves each host's ``rollout_result``,
and ``fleet.run(...)`` to run it through the harness's ``run_playbook``.

``http_server`` (module, for the scenarios of one test file): ``http_server(folder, basic_auth=None,
require_header=None) -> HttpServer`` (``url``, ``requests()``), a static file
server (``http_file_server.py``: http.server, optionally asking for basic
authentication ``(user, password)`` and a header ``(name, value)``, or
serving HTTPS and wanting a client certificate, ``tls=tls_files.TlsFiles``) on
127.0.0.1 serving FOLDER, stopped by pid at the end of the test file.
"""

from __future__ import annotations

import base64
import dataclasses
import getpass
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from support.fleet import Fleet
from support.processes import free_port, stop, wait_for_port

HOST_COUNT = 3
FIRST_ADDRESS = 2  # 127.0.0.2; 127.0.0.1 is left to everything else
START_TIMEOUT = 15
APPS = ("app1:1", "app2:1")
REPO_ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------
# sshd hosts
# --------------------------------------------------------------------------

@dataclasses.dataclass
class SshHost:
    name: str
    address: str
    port: int


@dataclasses.dataclass
class SshFleet:
    hosts: list[SshHost]
    user: str
    key: Path
    control_dir: Path  # Ansible's ssh ControlPath folder: out of $HOME, and closed at the end


def _sshd_binary() -> str | None:
    found = shutil.which("sshd")
    if found:
        return found
    return "/usr/sbin/sshd" if os.access("/usr/sbin/sshd", os.X_OK) else None


def _sshd_config(folder: Path, index: int, address: str, port: int) -> Path:
    config = folder / f"sshd_{index}.conf"
    config.write_text("\n".join([
        f"ListenAddress {address}:{port}",
        f"HostKey {folder / 'host_key'}",
        f"PidFile {folder / f'sshd_{index}.pid'}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}",
        "UsePAM no",
        "StrictModes no",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "UseDNS no",
        "PrintMotd no",
        "MaxSessions 50",
        "MaxStartups 50:30:100",
        "Subsystem sftp internal-sftp",
        "LogLevel INFO",
        "",
    ]), encoding="utf-8")
    return config


@pytest.fixture(scope="session")
def fleet_hosts(tmp_path_factory) -> SshFleet:
    """HOST_COUNT sshds on 127.0.0.2.. (skipped only when sshd cannot be had)."""
    sshd = _sshd_binary()
    if sshd is None:
        pytest.skip("sshd is not installed (Debian package openssh-server; `make system-deps` installs it)")
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian package openssh-client)")
    try:
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation folder
    except OSError as exc:
        pytest.skip(f"cannot create /run/sshd for sshd: {exc}")

    folder = tmp_path_factory.mktemp("sshd")
    for key in ("client_key", "host_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"fleetimage-test-{key}",
                        "-f", str(folder / key)], check=True, capture_output=True)
    shutil.copyfile(folder / "client_key.pub", folder / "authorized_keys")
    (folder / "authorized_keys").chmod(0o600)
    user = getpass.getuser()
    # Control sockets live here, not in ~/.ansible/cp; a socket path must stay under ~100 bytes.
    control_dir = folder / "cp"
    if len(str(control_dir)) > 60:
        control_dir = Path(tempfile.mkdtemp(prefix="fleetimage-cp-"))
    control_dir.mkdir(exist_ok=True)

    procs: list[subprocess.Popen] = []
    logs = []
    try:
        hosts = []
        for index in range(FIRST_ADDRESS, FIRST_ADDRESS + HOST_COUNT):
            address = f"127.0.0.{index}"
            port = free_port(address)
            config = _sshd_config(folder, index, address, port)
            checked = subprocess.run([sshd, "-t", "-f", str(config)], capture_output=True, text=True, check=False)
            if checked.returncode != 0:
                pytest.skip(f"sshd refuses its test configuration: {checked.stderr.strip()}")
            log = folder / f"sshd_{index}.log"
            logs.append(log)
            with open(log, "wb") as out:
                proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                        stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            procs.append(proc)
            if not wait_for_port(address, port, proc, START_TIMEOUT):
                pytest.skip(f"sshd did not start on {address}:{port}: {log.read_text(errors='replace').strip()}")
            hosts.append(SshHost(f"node{index}", address, port))

        fleet = SshFleet(hosts, user, folder / "client_key", control_dir)
        for host in hosts:  # a real login, so that a broken set-up fails here and clearly
            probe = subprocess.run(
                ["ssh", "-i", str(fleet.key), "-p", str(host.port), "-o", "BatchMode=yes",
                 "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                 "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10",
                 f"{user}@{host.address}", "true"],
                capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL, check=False)
            assert probe.returncode == 0, (
                f"ssh to {host.name} ({host.address}:{host.port}) failed: {probe.stderr}\n"
                + "\n".join(log.read_text(errors="replace") for log in logs))
        yield fleet
    finally:
        _close_ssh_masters(control_dir)  # first: their sshd session processes then end by themselves
        for proc in procs:
            stop(proc)
        if control_dir.parent != folder:
            shutil.rmtree(control_dir, ignore_errors=True)


def _close_ssh_masters(control_dir: Path) -> None:
    """Ask each ssh ControlMaster that Ansible left in CONTROL_DIR to exit (ssh -O exit)."""
    if not control_dir.is_dir():
        return
    for socket_path in control_dir.iterdir():
        if socket_path.is_socket():
            subprocess.run(["ssh", "-o", f"ControlPath={socket_path}", "-O", "exit", "fleet-test-host"],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL, check=False)


# --------------------------------------------------------------------------
# a bundle for the session
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def fleet_bundle(tmp_path_factory):
    """A two-app bundle (app1:1, app2:1) sharing one base and one lib: BuiltBundle."""
    folder = tmp_path_factory.mktemp("fleet-bundle")
    return _make_bundle()(str(folder / "bundle"), apps=APPS)


def _make_bundle():
    """support.images.make_bundle, with the collection importable from ANSIBLE_COLLECTIONS_PATH."""
    try:
        import ansible_collections.fleetimage.separated.plugins.module_utils  # noqa: F401  pylint: disable=unused-import
    except ImportError:
        for entry in os.environ.get("ANSIBLE_COLLECTIONS_PATH", "").split(os.pathsep):
            if entry and entry not in sys.path:
                sys.path.append(entry)
    from support.images import make_bundle  # pylint: disable=import-outside-toplevel

    return make_bundle


@pytest.fixture
def fleet(fleet_hosts, fleet_bundle, run_playbook, tmp_path) -> Fleet:
    return Fleet(fleet_hosts, tmp_path / "hosts", fleet_bundle, run_playbook)


# --------------------------------------------------------------------------
# an HTTP server on loopback
# --------------------------------------------------------------------------

@dataclasses.dataclass
class HttpServer:
    url: str
    log: Path
    offset: int = 0  # the log's start-up probe is not counted

    def requests(self) -> list[str]:
        """Request lines served since start-up, e.g. 'GET /manifest'."""
        with open(self.log, "rb") as f:
            f.seek(self.offset)
            text = f.read().decode("utf-8", errors="replace")
        lines = []
        for line in text.splitlines():
            if '"' in line:
                request = line.split('"')[1]
                lines.append(" ".join(request.split()[:2]))
        return lines


@pytest.fixture(scope="module")
def http_server(tmp_path_factory):
    procs: list[subprocess.Popen] = []
    tmp_path = tmp_path_factory.mktemp("http")

    def start(folder, basic_auth: tuple[str, str] | None = None,
              require_header: tuple[str, str] | None = None, tls=None) -> HttpServer:
        port = free_port("127.0.0.1")
        log = tmp_path / f"http-{port}.log"
        cmd = [sys.executable, "-u", str(Path(__file__).with_name("http_file_server.py")), str(port),
               "--bind", "127.0.0.1", "--directory", str(folder)]
        if basic_auth:
            cmd += ["--basic-auth", ":".join(basic_auth)]
        if require_header:
            cmd += ["--require-header", ":".join(require_header)]
        if tls is not None:  # tls_files.TlsFiles: HTTPS, and a client certificate required
            cmd += ["--tls-cert", tls.server_cert, "--tls-key", tls.server_key, "--client-ca", tls.ca]
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        procs.append(proc)
        if not wait_for_port("127.0.0.1", port, proc, START_TIMEOUT):
            raise RuntimeError(f"http.server did not start: {log.read_text(errors='replace')}")
        url = f"{'https' if tls is not None else 'http'}://127.0.0.1:{port}"
        context = None
        if tls is not None:
            context = ssl.create_default_context(cafile=tls.ca)
            context.load_cert_chain(tls.client_cert, tls.client_key)
        probe = urllib.request.Request(url + "/manifest")
        if basic_auth:
            token = base64.b64encode(":".join(basic_auth).encode("utf-8")).decode("ascii")
            probe.add_header("Authorization", "Basic " + token)
        if require_header:
            probe.add_header(*require_header)
        with urllib.request.urlopen(probe, timeout=10, context=context) as response:  # served and readable
            response.read()
        deadline = time.monotonic() + 5
        while b"GET /manifest" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
        return HttpServer(url, log, offset=log.stat().st_size)

    try:
        yield start
    finally:
        for proc in procs:
            stop(proc)


# --------------------------------------------------------------------------
# nginx mirrors on loopback
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nginx_server(tmp_path_factory):
    """``nginx_server(address, folder) -> support.nginx.Nginx``: a real nginx serving FOLDER on ADDRESS
    (loopback) and a free port, each in a prefix folder of its own, all stopped by pid at the end of the
    test file. Skipped, with the reason, only when nginx is not installed."""
    from support.nginx import nginx_binary, start_nginx  # pylint: disable=import-outside-toplevel

    if nginx_binary() is None:
        pytest.skip("nginx is not installed (Debian package nginx-light; `make system-deps` installs it)")
    root = tmp_path_factory.mktemp("nginx")
    servers = []

    def start(address: str, folder) -> object:
        server = start_nginx(root / f"{address}-{len(servers)}", address, Path(folder))
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
