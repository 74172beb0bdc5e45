"""Servers the tests start (sshd, nginx, an HTTP file server): free loopback ports, readiness, stop by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time


def free_port(address: str) -> int:
    """A TCP port free on ADDRESS (a loopback address) right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def wait_for_port(address: str, port: int, proc: subprocess.Popen, timeout: float) -> bool:
    """Whether ADDRESS:PORT accepts a connection within TIMEOUT seconds, while PROC still runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((address, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Stop PROC and the process group it leads (it was started with start_new_session), by its pid."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
