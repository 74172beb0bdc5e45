"""A real tmpfs for tests that need a full or read-only file system (root only; skipped where mount is refused)."""

from __future__ import annotations

import contextlib
import subprocess

import pytest


@contextlib.contextmanager
def tmpfs(folder, size):
    """Mount a tmpfs of SIZE (mount's spelling: "1m") on the existing FOLDER for the body; skip when it cannot be."""
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", str(folder)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % done.stderr.strip())
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def remount_read_only(folder):
    """Make the tmpfs on FOLDER read-only: a real EROFS for what writes there next."""
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
