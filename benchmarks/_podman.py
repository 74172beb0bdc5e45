# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A podman image store of the benchmark's own, under a folder of its run.

Storage driver overlay (vfs would copy every lower layer into each upper
one), graphroot and runroot in the folder, podman's big temporary files
(TMPDIR) in it too, so the host's store is never touched and the sampler
sees every byte podman writes.
"""

from __future__ import annotations

import os
import shutil
import subprocess

_CONTAINERS_CONF = """[containers]
netns = "none"
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


class PodmanStore(object):
    def __init__(self, folder):
        self.folder = os.path.abspath(folder)
        self.graphroot = os.path.join(self.folder, "graph")
        self.runroot = os.path.join(self.folder, "run")
        self.tmpdir = os.path.join(self.folder, "tmp")
        os.makedirs(self.folder, exist_ok=True)
        self.storage_conf = os.path.join(self.folder, "storage.conf")
        self.containers_conf = os.path.join(self.folder, "containers.conf")
        with open(self.storage_conf, "w") as f:
            f.write('[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' % (self.graphroot, self.runroot))
        with open(self.containers_conf, "w") as f:
            f.write(_CONTAINERS_CONF)

    @property
    def env(self):
        return dict(
            os.environ,
            CONTAINERS_STORAGE_CONF=self.storage_conf,
            CONTAINERS_CONF=self.containers_conf,
            TMPDIR=self.tmpdir,
        )

    @property
    def watched(self):
        return [self.graphroot, self.runroot, self.tmpdir]

    def reset(self):
        """An empty store: what a host that never loaded the image has."""
        self._unmount()
        for folder in self.watched:
            shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(self.tmpdir)

    def close(self):
        """Remove the store and everything podman mounted for it."""
        self._unmount()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _unmount(self):
        """Unmount, deepest first, what podman left mounted under the folder.

        Its overlay driver keeps graphroot/overlay bind-mounted onto itself
        after podman exits, and a check it makes at start may leave an
        overlay mount behind: removed without this, they would stay mounted
        over deleted folders. (Not `podman system reset`: it also removes the
        host's network definitions.)
        """
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
        mine = [p for p in points if p == self.folder or p.startswith(self.folder + "/")]
        for point in sorted(mine, key=len, reverse=True):
            subprocess.run(["umount", point], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)

    def image_id(self, reference):
        proc = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", reference], env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None


def available():
    """None when podman can be used, else why not."""
    if shutil.which("podman") is None:
        return "podman is not installed (apt-get install -y podman)"
    return None
