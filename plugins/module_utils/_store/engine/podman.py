# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Podman as an image store, through the podman CLI: docker's commands, its own names.

    load       podman load -q -i FILE: the merged archive written whole to a
               private temporary folder first (see below)
    presence   podman image inspect REF: one call, "image not known" is absence
    names      reference(): podman's load names 'app:1' localhost/app:1
    save       podman save --format docker-archive -m NAME..., on stdout
    remove     podman rmi REF and the image list, as docker's (inherited)

Podman needs its archive as a file: fed on stdin (or a pipe), it copies the
stream to a temporary file first and imports only then, the copy costing a
second image of temporary disk and the import some 50% more time than `load
-i` of a file (docs/docsite/rst/performance.rst has the figures). So the archive is
written to one file in a private folder (private_tmp.py: always removed, by
this run or, when the module was killed, by the next load), and podman runs
only once every check of the bundle has passed: a bundle refused half-way
never reaches podman at all. The same folder is podman's TMPDIR, for what it
writes itself -- except for rootless podman without XDG_RUNTIME_DIR, where
TMPDIR places its run root, so it is left as it is. Storage and settings
are podman's own: CONTAINERS_STORAGE_CONF, CONTAINERS_CONF, or the user's
and the system's files.
"""

from __future__ import annotations

import os

from ansible_collections.fleetimage.separated.plugins.module_utils._reference import docker_reference, normalize_name
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import cli
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.docker import Docker


class Podman(Docker):
    label = "podman"
    default_executable = "podman"

    def reference(self, name):
        """NAME as podman holds it after a load.

        A name whose first component is a registry (has '.' or ':', or is
        'localhost') is qualified already: docker.io/app:1 is
        docker.io/library/app:1. Any other is put under localhost/, as podman's
        load does: app:1 is localhost/app:1, team/app:1 localhost/team/app:1.
        """
        name = normalize_name(name)
        first, sep = name.partition("/")[:2]
        if sep and ("." in first or ":" in first or first == "localhost"):
            return docker_reference(name)
        return "localhost/" + name

    def load(self, write):
        own_tmpdir = os.geteuid() == 0 or bool(os.environ.get("XDG_RUNTIME_DIR"))
        return cli.load_through_file(self.label, [self.executable, "load", "-q", "-i"], write, engine_tmpdir=own_tmpdir)

    def inspect(self, ref):
        # Unlike docker's, podman's inspect needs no daemon: its "image not known"
        # (containers/storage's ErrImageUnknown) can only mean absence.
        return self._image_inspect(ref, absent_when="image not known")

    def address(self):
        return "uid=%d CONTAINER_HOST=%s CONTAINERS_STORAGE_CONF=%s" % (
            os.geteuid(), os.environ.get("CONTAINER_HOST", ""), os.environ.get("CONTAINERS_STORAGE_CONF", ""))

    def save_command(self, names):
        # -m: further names are images of their own, not more tags of the first.
        return [self.executable, "save", "--format", "docker-archive", "-m"] + list(names)
