# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""iSulad as an image store, through the isula CLI.

    load       isula load -i FILE: iSulad's load takes a file path, which its
               daemon opens, so the archive is written to a temporary file
               (under $TMPDIR, or /var/tmp) and removed afterwards
    presence   isula images (the REPOSITORY and TAG columns), then
               isula inspect REF; iSulad's image JSON is {"image": {"id",
               "repo_tags", "size", "Spec": the image config, ...}}
    names      isula_reference(): iSulad strips docker.io/ and library/
    remove     isula rmi REF, without force
    images     isula images, then isula inspect NAME for each (created)

Written from iSulad's documented CLI and its sources (src/cmd/isula/images/,
src/daemon/modules/image/oci/utils_images.c), on the code path that the
podman and docker adapters exercise; there is no iSulad package for Debian,
so it is not tested against a real iSulad. The daemon is the one
ISULAD_HOST names (default unix:///var/run/isulad.sock).
"""

from __future__ import annotations

import os

from ansible_collections.fleetimage.separated.plugins.module_utils._reference import normalize_name
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import cli
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.base import Engine
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.inspect_json import image_facts


class Isula(Engine):
    label = "isula"
    default_executable = "isula"

    def reference(self, name):
        """NAME as iSulad keeps it: docker.io/library/app:1 and library/app:1 are app:1."""
        name = normalize_name(name)
        if name.startswith("docker.io/"):
            name = name[len("docker.io/"):]
        if name.startswith("library/"):
            name = name[len("library/"):]
        return name

    def inspect(self, ref):
        # 'isula inspect' fails alike for "no such image" and "no daemon": ask the list first.
        if ref not in self.held():
            return None
        argv = [self.executable, "inspect", ref]
        return image_facts(argv, cli.run(argv), _isula_style)

    def held(self):
        held = {}
        for line in cli.run([self.executable, "images"]).splitlines()[1:]:
            fields = line.split()  # REPOSITORY TAG IMAGE-ID CREATED SIZE
            if len(fields) >= 3 and fields[0] != "<none>" and fields[1] != "<none>":
                held[fields[0] + ":" + fields[1]] = fields[2]
        return held

    def address(self):
        return "ISULAD_HOST=%s" % os.environ.get("ISULAD_HOST", "")

    def load(self, write):
        return cli.load_through_file(self.label, [self.executable, "load", "-i"], write)

    def tag(self, source, target):
        cli.run([self.executable, "tag", source, target])

    def remove(self, ref):
        """Remove the name REF, without force (isula rmi)."""
        cli.run([self.executable, "rmi", ref])

    def images(self):
        """[{"name", "id", "created"}] of every name iSulad holds (see lifecycle.py); one inspect per name."""
        found = []
        for name in sorted(self.held()):
            argv = [self.executable, "inspect", name]
            facts = image_facts(argv, cli.run(argv), _isula_created)
            found.append({"name": name, "id": facts["id"], "created": facts["created"]})
        return found


def _isula_created(document):
    image = document[0]["image"]
    return {"id": image["id"], "created": image.get("created") or (image.get("Spec") or {}).get("created")}


def _isula_style(document):
    image = document[0]["image"]
    return {
        "id": image["id"],
        "repo_tags": sorted(image.get("repo_tags") or []),
        "layers": list(((image.get("Spec") or {}).get("rootfs") or {}).get("diff_ids") or []),
        "size": image.get("size"),
    }
