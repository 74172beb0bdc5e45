# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in for iSulad's `isula` CLI, for the isula adapter's tests.

iSulad has no Debian package, so the adapter cannot meet a real one here.
This plays the parts of the CLI the adapter uses, with the output shapes of
iSulad's sources (src/cmd/isula/images/images.c, information/inspect.c,
daemon/modules/image/oci/): `images` (a table), `inspect REF` (a JSON list
of {"image": {...}}), `load -i FILE` (a docker-archive, each layer checked
against the config's diff ids; names stripped of docker.io/ and library/),
`tag SRC DST`. The image store is a JSON file named by FAKE_ISULA_STATE.
With FAKE_ISULA_FAIL_LOAD set, `load` fails the way a full disk would.

Run as a program: python fake_isula.py ARGS...
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tarfile


def main(argv):
    state_path = os.environ["FAKE_ISULA_STATE"]
    state = _read(state_path)
    command, args = argv[0], argv[1:]
    if command == "images":
        print("%-30s %-10s %-20s %-20s %-10s" % ("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"))
        for name, image_id in sorted(state["names"].items()):
            repo, tag = name.rsplit(":", 1)
            print("%-30s %-10s %-20s %-20s %-10s" % (repo, tag, image_id[:12], "2024-01-01 00:00:00", "2.01MB"))
        return 0
    if command == "inspect":
        name = _normal(args[0])
        if name not in state["names"]:
            sys.stderr.write("No such image or container or accelerator:%s\n" % args[0])
            return 1
        image = dict(state["images"][state["names"][name]])
        image["repo_tags"] = sorted(n for n, i in state["names"].items() if i == image["id"])
        print("[\n" + json.dumps({"image": image}, indent=4) + "\n]")
        return 0
    if command == "load" and args[:1] == ["-i"]:
        path = args[1]
        state.setdefault("loaded_from", []).append(path)
        _write(state_path, state)
        if os.environ.get("FAKE_ISULA_FAIL_LOAD"):
            sys.stderr.write("Failed to load image: write /var/lib/isulad/storage: no space left on device\n")
            return 125
        _load(state, path)
        _write(state_path, state)
        print('Load image from "%s" success' % path)
        return 0
    if command == "tag":
        source = _normal(args[0])
        if source not in state["names"]:
            sys.stderr.write("No such image:%s\n" % source)
            return 1
        state["names"][_normal(args[1])] = state["names"][source]
        _write(state_path, state)
        return 0
    if command == "rmi":
        name = _normal(args[0])
        if name not in state["names"]:
            sys.stderr.write("No such image:%s\n" % args[0])
            return 1
        image_id = state["names"].pop(name)
        if image_id not in state["names"].values():
            del state["images"][image_id]
        _write(state_path, state)
        return 0
    sys.stderr.write("fake isula: unsupported command %r\n" % (argv,))
    return 2


def _load(state, path):
    with tarfile.open(path, "r:") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]
        config_bytes = tar.extractfile(manifest["Config"]).read()
        config = json.loads(config_bytes)
        diff_ids = config["rootfs"]["diff_ids"]
        size = 0
        for layer, diff_id in zip(manifest["Layers"], diff_ids):
            data = tar.extractfile(layer).read()
            if "sha256:" + hashlib.sha256(data).hexdigest() != diff_id:
                raise SystemExit("layer %s does not match %s" % (layer, diff_id))
            size += len(data)
    image_id = hashlib.sha256(config_bytes).hexdigest()
    state["images"][image_id] = {"id": image_id, "size": size,
                                 "Spec": {"rootfs": config["rootfs"], "created": config.get("created")}}
    for tag in manifest.get("RepoTags") or []:
        state["names"][_normal(tag)] = image_id


def _normal(name):
    """iSulad's oci_normalize_image_name: a default tag, then docker.io/ and library/ stripped."""
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    for prefix in ("docker.io/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {"names": {}, "images": {}}


def _write(path, state):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(state, f)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
