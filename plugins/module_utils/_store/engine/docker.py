# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker as an image store, through the docker CLI.

    load       docker load -q, the archive on stdin (the CLI streams it to the daemon)
    presence   docker image inspect REF: one call, "No such image" is absence
    names      familiar(): docker.io/library/app:1 and app:1 are one image,
               which docker lists, and matches in 'image ls', as app:1
    save       docker save NAME..., the archive on stdout
    remove     docker rmi REF, without force: refused for an image a container uses
    images     docker image ls, then docker image inspect NAME... (Id, Created)
    held       docker image ls --no-trunc: every name and its image id, in one call

The daemon is the one DOCKER_HOST (or the docker context) names, as for any
docker command. The load streams: docker's daemon unpacks the archive into
a temporary folder of its own and takes nothing from it before the archive
has ended, so a stream that ends in bytes no tar reader accepts (see
cli.feeding) leaves no image and no layer behind.
"""

from __future__ import annotations

import os

from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import docker_reference
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import cli
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.base import Engine
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.inspect_json import image_facts


class Docker(Engine):
    label = "docker"
    default_executable = "docker"

    def reference(self, name):
        """NAME the way docker shows it: app:1 for docker.io/library/app:1, team/app:1 for docker.io/team/app:1."""
        name = docker_reference(name)
        for prefix in ("docker.io/library/", "docker.io/"):
            if name.startswith(prefix):
                return name[len(prefix):]
        return name

    def inspect(self, ref):
        # The CLI's words for an image the daemon does not have (moby's "No such image: REF");
        # a daemon out of reach says otherwise, and fails.
        return self._image_inspect(ref, absent_when="No such image")

    def held(self):
        argv = [self.executable, "image", "ls", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]
        held = {}
        for line in cli.run(argv).splitlines():
            fields = line.split()
            if len(fields) == 2 and "<none>" not in fields[0]:
                held[fields[0]] = fields[1].split(":", 1)[-1]
        return held

    def address(self):
        return "DOCKER_HOST=%s DOCKER_CONTEXT=%s" % (os.environ.get("DOCKER_HOST", ""), os.environ.get("DOCKER_CONTEXT", ""))

    def load(self, write):
        return cli.load_through_stdin([self.executable, "load", "-q"], write)

    def tag(self, source, target):
        cli.run([self.executable, "tag", source, target])

    def remove(self, ref):
        """Remove the name REF, without force: the engine refuses an image a container uses."""
        cli.run([self.executable, "rmi", ref])

    def images(self):
        """[{"name", "id", "created"}] of every name the engine holds (see lifecycle.py)."""
        listing = cli.run([self.executable, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
        names = sorted(set(name for name in listing.split() if "<none>" not in name))
        if not names:
            return []
        argv = [self.executable, "image", "inspect"] + names
        output = cli.run(argv)
        try:
            return [{"name": name, "id": document["Id"].split(":", 1)[-1], "created": document.get("Created")}
                    for name, document in zip(names, json_text.loads(output))]
        except (ValueError, LookupError, TypeError, AttributeError) as exc:
            raise BundleError("`%s` answered with output this module cannot read (%s): %.300s"
                              % (cli.command_line(argv), exc, output))

    def save_command(self, names):
        """The argv that writes NAMES as one docker-archive to stdout."""
        return [self.executable, "save"] + list(names)

    def _image_inspect(self, ref, absent_when=None):
        """The facts of REF; None when the inspect fails with ABSENT_WHEN in its stderr."""
        argv = [self.executable, "image", "inspect", ref]
        output = cli.run(argv, none_when_stderr_has=absent_when)
        return None if output is None else image_facts(argv, output, _docker_style)


def _docker_style(document):
    image = document[0]
    return {
        "id": image["Id"],
        "repo_tags": sorted(image.get("RepoTags") or []),
        "layers": list((image.get("RootFS") or {}).get("Layers") or []),
        "size": image.get("Size"),
    }
