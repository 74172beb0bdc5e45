"""A real nginx serving one folder on a loopback address, as a child process of the test run.

Each server has a prefix folder of its own: its config, pid file, error log,
access log and every temp path live there, so nothing touches /etc/nginx or
/var/lib/nginx. nginx runs in the foreground (``daemon off``) in a process
group of its own and is stopped by its pid.

Every managed host of the test fleet runs on this machine, so the source
address nginx sees is always 127.0.0.1 whatever sshd the host came in
through; the access log therefore also records the ``X-Fleet-Host`` request
header, which each test host sends with its inventory name
(``rollout_url_headers``), beside ``$remote_addr``.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import pwd
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from support.processes import free_port, stop

HOST_HEADER = "X-Fleet-Host"
# One line per request, tab-separated: address, the X-Fleet-Host header, status, bytes sent, request.
LOG_FORMAT = "$remote_addr\\t$http_x_fleet_host\\t$status\\t$body_bytes_sent\\t$request"
START_TIMEOUT = 15


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


@dataclasses.dataclass
class LoggedRequest:
    address: str
    host: str  # the X-Fleet-Host header ('-' when absent)
    status: int
    bytes: int
    method: str
    path: str


@dataclasses.dataclass
class Nginx:
    prefix: Path
    address: str
    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.prefix / "access.log"

    def requests(self) -> list[LoggedRequest]:
        """Every request nginx has logged so far."""
        if not self.access_log.exists():
            return []
        found = []
        for line in self.access_log.read_text(encoding="utf-8", errors="replace").splitlines():
            address, host, status, sent, request = line.split("\t", 4)
            method, path = (request.split(" ") + ["", ""])[:2]
            found.append(LoggedRequest(address, host, int(status), int(sent), method, path))
        return found

    def stop(self, timeout: float = 10) -> None:
        """Stop this nginx (its process group, by pid); a stopped server refuses connections."""
        stop(self.proc, timeout)


def _config(prefix: Path, address: str, port: int, root: Path) -> str:
    temp = {name: prefix / "tmp" / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for folder in temp.values():
        folder.mkdir(parents=True, exist_ok=True)
    # The worker runs as the test's own user: test folders are private (mode 0700) to everyone else.
    # (nginx ignores the directive, with a notice, when the test does not run as root.)
    user = f"{pwd.getpwuid(os.getuid()).pw_name} {grp.getgrgid(os.getgid()).gr_name}"
    return f"""\
user {user};
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
http {{
    log_format fleet "{LOG_FORMAT}";
    access_log {prefix}/access.log fleet;
    client_body_temp_path {temp['client_body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    default_type application/octet-stream;
    sendfile on;
    server {{
        listen {address}:{port};
        root {root};
        autoindex off;
    }}
}}
"""


def start_nginx(prefix: Path, address: str, root: Path) -> Nginx:
    """nginx on ADDRESS (loopback) and a free port, serving ROOT; raises RuntimeError when it does not start."""
    if not address.startswith("127."):
        raise ValueError(f"test servers listen on loopback only, not {address}")
    binary = nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx is not installed (Debian package nginx-light; `make system-deps`)")
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port(address)
    (prefix / "nginx.conf").write_text(_config(prefix, address, port, root), encoding="utf-8")
    cmd = [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log"),
           "-g", "daemon off;"]
    with open(prefix / "stderr.log", "wb") as out:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    server = Nginx(prefix, address, port, proc)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{server.url}/", timeout=2):
                pass
        except urllib.error.HTTPError:  # 403/404 on the root: it answers
            break
        except OSError:
            time.sleep(0.1)
            continue
        break
    if proc.poll() is not None:
        logs = [prefix / "stderr.log", prefix / "error.log"]
        raise RuntimeError("nginx did not start: " + " ".join(
            log.read_text(errors="replace").strip() for log in logs if log.exists()))
    server.access_log.write_bytes(b"")  # the start-up probe is not counted
    return server
