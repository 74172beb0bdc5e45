# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Podman as an image store, through the podman CLI: docker's commands, its own names.

    load       podman load -q, the archive on stdin
    presence   podman image inspect REF: one call, "image not known" is absence
    names      reference(): podman's load names 'app:1' localhost/app:1
    save       podman save --format docker-archive -m NAME..., on stdout
    remove     podman rmi REF and the image list, as docker's (inherited)

Podman copies its stdin to a temporary file before it loads (in $TMPDIR, or
/var/tmp), about the image's size, and removes it when it exits normally --
but not when it is killed with the module. So its TMPDIR is a private folder
the module makes and always removes, and that the next load removes when a
killed module left it (see private_tmp.py). Not for rootless podman without
XDG_RUNTIME_DIR: TMPDIR places its run root then, so it is left as it is.
Storage and settings are podman's own: CONTAINERS_STORAGE_CONF,
CONTAINERS_CONF, or the user's and the system's files.
"""

from __future__ import annotations

import os

from ansible_collections.fleetimage.separated.plugins.module_utils._reference import docker_reference, normalize_name
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import cli, private_tmp
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
        argv = [self.executable, "load", "-q"]
        if os.geteuid() != 0 and not os.environ.get("XDG_RUNTIME_DIR"):
            return cli.load_through_stdin(argv, write)
        with private_tmp.private_tmp(self.label) as folder:
            return cli.load_through_stdin(argv, write, env=private_tmp.engine_environment(folder))

    def inspect(self, ref):
        # Unlike docker's, podman's inspect needs no daemon: its "image not known"
        # (containers/storage's ErrImageUnknown) can only mean absence.
        return self._image_inspect(ref, absent_when="image not known")

    def save_command(self, names):
        # -m: further names are images of their own, not more tags of the first.
        return [self.executable, "save", "--format", "docker-archive", "-m"] + list(names)
