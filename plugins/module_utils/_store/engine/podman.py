# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Podman as an image store, through the podman CLI.

    load       podman load -q, the archive on stdin
    presence   podman image exists REF, then podman image inspect REF
    names      podman_reference(): podman's load names 'app:1' localhost/app:1

Podman copies its stdin to a temporary file before it loads (in $TMPDIR, or
/var/tmp) and removes it when it exits, also when its load fails, which is
how a load stopped by a failed check ends (see _engine_cli.feeding). TMPDIR
is left as it is: for rootless podman without XDG_RUNTIME_DIR it also places
the run root. Storage and settings are podman's own: CONTAINERS_STORAGE_CONF,
CONTAINERS_CONF, or the user's and the system's files.
"""

from __future__ import annotations

import functools

from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import cli as _engine_cli
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.docker import facts_from_inspect
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.flow import Engine
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import docker_reference, normalize_name


def engine(executable):
    return Engine(
        label="podman",
        reference=podman_reference,
        inspect=functools.partial(_inspect, executable),
        load=functools.partial(_engine_cli.load_through_stdin, [executable, "load", "-q"], None),
        tag=lambda source, target: _engine_cli.run([executable, "tag", source, target]),
    )


def podman_reference(name):
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


def _inspect(executable, ref):
    if not _engine_cli.run_check([executable, "image", "exists", ref]):
        return None
    argv = [executable, "image", "inspect", ref]
    return facts_from_inspect(_engine_cli.run(argv), argv)
