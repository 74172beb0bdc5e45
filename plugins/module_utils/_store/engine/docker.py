# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker as an image store, through the docker CLI.

    load       docker load -q, the archive on stdin (the CLI streams it to the daemon)
    presence   docker image ls -q --no-trunc REF, then docker image inspect REF
    names      docker_familiar(): docker.io/library/app:1 and app:1 are one
               image, which docker lists, and matches in 'image ls', as app:1

The daemon is the one DOCKER_HOST (or the docker context) names, as for any
docker command.
"""

from __future__ import annotations

import functools
import json

from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import cli as _engine_cli
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.flow import Engine
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import docker_reference


def engine(executable):
    return Engine(
        label="docker",
        reference=docker_familiar,
        inspect=functools.partial(_inspect, executable),
        load=functools.partial(_engine_cli.load_through_stdin, [executable, "load", "-q"], None),
        tag=lambda source, target: _engine_cli.run([executable, "tag", source, target]),
    )


def docker_familiar(name):
    """NAME the way docker shows it: app:1 for docker.io/library/app:1, team/app:1 for docker.io/team/app:1."""
    name = docker_reference(name)
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _inspect(executable, ref):
    # 'image inspect' fails alike for "no such image" and "no daemon": ask the list first.
    listed = _engine_cli.run([executable, "image", "ls", "-q", "--no-trunc", ref])
    if not listed.strip():
        return None
    argv = [executable, "image", "inspect", ref]
    return facts_from_inspect(_engine_cli.run(argv), argv)


def facts_from_inspect(output, argv):
    """The image facts from docker-style 'image inspect' JSON (docker, podman)."""
    try:
        image = json.loads(output)[0]
        return {
            "id": image["Id"].split(":", 1)[-1],
            "repo_tags": sorted(image.get("RepoTags") or []),
            "layers": list((image.get("RootFS") or {}).get("Layers") or []),
            "size": image.get("Size"),
        }
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        raise BundleError("`%s` answered with output this module cannot read (%s): %.300s"
                          % (_engine_cli.command_line(argv), exc, output))
