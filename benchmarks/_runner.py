# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run one measured step in a child process and watch it from outside.

Each step runs in a fresh `python _child.py SPEC` so that its peak memory is
its own: the child reads VmHWM from /proc/self/status when it is done
(ru_maxrss would not do: a child inherits its parent's peak across fork and
exec). Meanwhile a thread here samples:

- the bytes used under the folders the step may write to (its store, its
  temporary folders), walked with lstat: the peak, minus what is left when
  the step is over, is the extra disk the step needed;
- the resident memory of the child and all its descendants (pigz, podman,
  ansible's worker and module processes), summed: for steps that hand work
  to other programs, what the whole load held at once.

The sampler spaces its samples so that it costs at most a few percent of
one core, however many files the folders hold.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_PAGE = os.sysconf("SC_PAGE_SIZE")


def disk_bytes(folders):
    """Bytes allocated to the files under FOLDERS (hard links counted once)."""
    seen, total = set(), 0
    stack = [f for f in folders if os.path.isdir(f)]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:  # removed while we looked
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def tree_rss(root_pid):
    """Resident bytes of ROOT_PID and all its descendants, now."""
    parents = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields follow the last ')'.
        fields = stat[stat.rfind(b")") + 2:].split()
        parents[int(name)] = int(fields[1])
    tree, grew = {root_pid}, True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    total = 0
    for pid in tree:
        try:
            with open("/proc/%d/statm" % pid, "rb") as f:
                total += int(f.read().split()[1]) * _PAGE
        except OSError:
            continue
    return total


class _Sampler(threading.Thread):
    def __init__(self, pid, folders):
        super(_Sampler, self).__init__(daemon=True)
        self.pid, self.folders = pid, folders
        self.peak_disk = self.peak_rss = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self):
        while True:
            started = time.perf_counter()
            self.peak_disk = max(self.peak_disk, disk_bytes(self.folders))
            self.peak_rss = max(self.peak_rss, tree_rss(self.pid))
            self.samples += 1
            cost = time.perf_counter() - started
            # At most ~5% of a core: sample every 50 ms, less often when a walk is slow.
            if self._stop_event.wait(max(0.05, 20 * cost)):
                return

    def stop(self):
        self._stop_event.set()
        self.join()


def run_step(spec, watch=(), env=None, timeout=3600):
    """Run the step SPEC (a dict for _child.py) and return its measurements.

    WATCH: folders whose disk use is sampled. Returns the child's own report
    ({"seconds", "vmhwm_kib", ...}) plus wall_seconds, peak_tree_rss_bytes,
    peak_disk_bytes, final_disk_bytes and extra_disk_bytes.
    """
    watch = list(watch)
    before = disk_bytes(watch)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "_child.py"), json.dumps(spec)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    sampler = _Sampler(proc.pid, watch)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        sampler.stop()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError("step %s failed (exit %d):\n%s"
                           % (spec.get("method"), proc.returncode, err.decode("utf-8", "replace")[-4000:]))
    report = json.loads(out.decode("utf-8").strip().splitlines()[-1])
    final = disk_bytes(watch)
    report.update(
        wall_seconds=wall,
        peak_tree_rss_bytes=sampler.peak_rss,
        disk_before_bytes=before,
        peak_disk_bytes=max(sampler.peak_disk, final),
        final_disk_bytes=final,
        extra_disk_bytes=max(0, max(sampler.peak_disk, final) - final),
        samples=sampler.samples,
    )
    return report
