#!/usr/bin/env python
# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write two tiny docker-archives into FOLDER: base.tar (base:1, one layer) and
apps.tar (app1:1 and app2:1, each base:1's layer plus one of its own).

    make_docker_archives.py FOLDER

Standard library only; the same bytes on every run (fixed times and owners),
so the images' ids are stable.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tarfile

MTIME = 1700000000


def _add(archive, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = MTIME
    archive.addfile(info, io.BytesIO(data))


def layer(files):
    """An uncompressed layer tar holding FILES {path: bytes}."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in sorted(files.items()):
            _add(archive, name, data)
    return buffer.getvalue()


def config(layers, created):
    return json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(data).hexdigest() for data in layers]},
        "history": [{"created": created, "created_by": "layer %d" % index} for index in range(len(layers))],
    }, sort_keys=True).encode("utf-8")


def write_archive(path, images):
    """IMAGES: [(name, [layer bytes], created)] -> one docker-archive holding them all."""
    entries = []
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        written = set()
        for name, layers, created in images:
            names = []
            for data in layers:
                member = hashlib.sha256(data).hexdigest() + "/layer.tar"
                if member not in written:
                    _add(archive, member, data)
                    written.add(member)
                names.append(member)
            config_bytes = config(layers, created)
            config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
            _add(archive, config_name, config_bytes)
            entries.append({"Config": config_name, "RepoTags": [name], "Layers": names})
        _add(archive, "manifest.json", json.dumps(entries).encode("utf-8"))


def main(folder):
    os.makedirs(folder, exist_ok=True)
    base = layer({"etc/os-release": b"NAME=integration-base\n", "etc/hostname": b"base\n"})
    app1 = layer({"srv/app1/run": b"#!/bin/sh\necho app1\n"})
    app2 = layer({"srv/app2/run": b"#!/bin/sh\necho app2\n"})
    write_archive(os.path.join(folder, "base.tar"), [("base:1", [base], "2024-01-01T00:00:00Z")])
    write_archive(os.path.join(folder, "apps.tar"), [("app1:1", [base, app1], "2024-01-01T00:00:01Z"),
                                                     ("app2:1", [base, app2], "2024-01-01T00:00:02Z")])


if __name__ == "__main__":
    main(sys.argv[1])
