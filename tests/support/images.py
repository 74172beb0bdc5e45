# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test images and bundles, built locally: no network, no container engine.

Layers are real tar files made with tarfile from file trees written under a
work folder; the base layer holds the host's static busybox, so the images
run (`podman run IMAGE /bin/busybox true`). Content is deterministic for a
given busybox binary, and nothing is cached between calls.

    images = make_images(workdir)            # base:1, lib:1, app1:1, app2:1
    write_docker_archive(path, [images.apps[0]])
    built = make_bundle(dest)                 # a two-app bundle, shared base and lib
"""

import collections
import hashlib
import io
import json
import os
import random
import shutil
import tarfile
import tempfile

from ansible_collections.fleetimage.separated.plugins.module_utils._archive.image_source import ImageSource, LayerSource
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.go_json import go_json, legacy_layer_ids
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.writer import write_bundle

BUSYBOX = "/bin/busybox"
MIB = 1024 * 1024
_MTIME = 1700000000  # layer members: a fixed time keeps diff ids stable
_CREATED = "2024-01-01T00:00:%02dZ"

Images = collections.namedtuple("Images", "base lib apps")  # lib is None when there is none
BuiltBundle = collections.namedtuple("BuiltBundle", "path index images")


def make_images(workdir, base="base:1", lib="lib:1", apps=("app1:1", "app2:1"), large_mib=0):
    """Build the base, lib and app images under WORKDIR (a new folder inside it).

    base: one layer (busybox, /bin/sh, /etc, /tmp). lib: base + 2 layers (the
    second one deletes a file of the first). Each app: lib (or base when LIB
    is None) + 1 layer, the first app + 2; LARGE_MIB > 0 adds to the first
    app a top layer holding a file of that many MiB of half-compressible data,
    generated as it is read (never on disk, never whole in memory).
    """
    if not os.path.exists(BUSYBOX):
        raise RuntimeError("%s is missing: install it with `apt-get install -y busybox-static`" % BUSYBOX)
    folder = tempfile.mkdtemp(prefix="images-", dir=workdir)
    base_layers = [_tree_layer(folder, "base", _base_tree)]
    base_image = _image(base, base_layers, [])
    lower = base_layers
    lib_image = None
    if lib is not None:
        lower = base_layers + [_tree_layer(folder, "lib1", _lib_tree_1), _tree_layer(folder, "lib2", _lib_tree_2)]
        lib_image = _image(lib, lower, [base])
    app_images = []
    for position, name in enumerate(apps):
        tag = "app%d" % position
        own = [_tree_layer(folder, tag + "a", _app_tree(name, "run.sh"))]
        if position == 0:
            own.append(_tree_layer(folder, tag + "b", _app_tree(name, "data.txt")))
            if large_mib:
                own.append(_generated_layer("opt/%s/large.bin" % _slug(name), large_mib * MIB, seed=name))
        app_images.append(_image(name, lower + own, [base] + ([lib] if lib is not None else [])))
    return Images(base_image, lib_image, app_images)


def make_bundle(dest, workdir=None, base="base:1", lib="lib:1", apps=("app1:1", "app2:1"), large_mib=0,
                rename=None, compression_level=6):
    """Write the bundle of APPS (shared base and, unless LIB is None, lib) into DEST.

    The layer files go to WORKDIR, or to a temporary folder next to DEST that
    is removed afterwards. Returns BuiltBundle(path, index, images).
    """
    scratch = workdir or tempfile.mkdtemp(prefix=".images-", dir=os.path.dirname(os.path.abspath(dest)))
    try:
        images = make_images(scratch, base=base, lib=lib, apps=apps, large_mib=large_mib)
        index = write_bundle(dest, images.apps, images.base, images.lib, rename=rename,
                             compression_level=compression_level)
    finally:
        if workdir is None:
            shutil.rmtree(scratch, ignore_errors=True)
    return BuiltBundle(dest, index, images)


def write_docker_archive(path, images, layout="podman"):
    """Write IMAGES (ImageSource list, named by their repo tags) as one docker-archive.

    layout "podman": containers/image's, as `podman save` writes it: layers as
    top-level <diffid>.tar, <legacy id>/layer.tar symlinks to them. layout
    "docker": `docker save`'s older one, <legacy id>/layer.tar real files.
    """
    manifest, repositories, written = [], {}, set()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for image in images:
            diff_ids = _diff_ids(image.config)
            legacy = legacy_layer_ids(diff_ids, image.config)
            paths = []
            for (layer_id, layer_json), diff_id, layer in zip(legacy, diff_ids, image.layers):
                physical = diff_id[len("sha256:"):] + ".tar" if layout == "podman" else layer_id + "/layer.tar"
                if physical not in written:
                    _add_stream(archive, physical, layer)
                    written.add(physical)
                if layer_id not in written:
                    if layout == "podman":
                        _add_symlink(archive, layer_id + "/layer.tar", "../" + physical)
                    _add_bytes(archive, layer_id + "/VERSION", b"1.0")
                    _add_bytes(archive, layer_id + "/json", layer_json)
                    written.add(layer_id)
                paths.append(physical)
            config_name = hashlib.sha256(image.config).hexdigest() + ".json"
            if config_name not in written:
                _add_bytes(archive, config_name, image.config)
                written.add(config_name)
            manifest.append({"Config": config_name, "RepoTags": [image.name] if image.name else [], "Layers": paths})
            if image.name:
                repository, tag = image.name.rsplit(":", 1)
                repositories.setdefault(repository, {})[tag] = legacy[-1][0]
        _add_bytes(archive, "manifest.json", go_json(manifest))
        _add_bytes(archive, "repositories", go_json(repositories))
    return path


# --- layers ----------------------------------------------------------------------------------


def _tree_layer(folder, name, fill):
    """Write a file tree with FILL(root), tar it (sorted, owner root, fixed mtime): a LayerSource."""
    root = os.path.join(folder, name)
    os.mkdir(root)
    fill(root)
    path = root + ".tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for entry in sorted(os.listdir(root)):
            archive.add(os.path.join(root, entry), arcname=entry, filter=_owned_by_root)
    return LayerSource(os.path.getsize(path), lambda: open(path, "rb"))


def _owned_by_root(info):
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = _MTIME
    return info


def _base_tree(root):
    _folder(root, "bin", 0o755)
    shutil.copyfile(BUSYBOX, os.path.join(root, "bin", "busybox"))
    os.chmod(os.path.join(root, "bin", "busybox"), 0o755)
    os.symlink("busybox", os.path.join(root, "bin", "sh"))
    _folder(root, "etc", 0o755)
    _file(root, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    _file(root, "etc/group", b"root:x:0:\n")
    _folder(root, "tmp", 0o1777)


def _lib_tree_1(root):
    _folder(root, "usr/lib", 0o755)
    _file(root, "usr/lib/libdemo.so.1", b"demo library, version 1\n" * 64)
    _folder(root, "etc", 0o755)
    _file(root, "etc/demo-old.conf", b"obsolete = true\n")


def _lib_tree_2(root):
    _folder(root, "usr/lib", 0o755)
    _file(root, "usr/lib/libextra.so.1", b"extra library, version 1\n" * 32)
    _folder(root, "etc", 0o755)
    _file(root, "etc/.wh.demo-old.conf", b"")  # an OCI whiteout: deletes the lib's first layer's file
    _file(root, "etc/demo.conf", b"enabled = true\n")


def _app_tree(name, file_name):
    def fill(root):
        _folder(root, "opt/" + _slug(name), 0o755)
        _file(root, "opt/%s/%s" % (_slug(name), file_name), ("#!/bin/sh\necho %s %s\n" % (name, file_name)).encode())

    return fill


def _slug(name):
    return name.replace("/", "_").replace(":", "_")


def _folder(root, relative, mode):
    path = os.path.join(root, relative)
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)  # explicit modes keep the tar independent of the umask


def _file(root, relative, data, mode=0o644):
    path = os.path.join(root, relative)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


# --- a large generated layer ---------------------------------------------------------------


def _generated_layer(member_name, size, seed):
    """A LayerSource of a one-file layer whose SIZE bytes are generated on each read."""
    info = tarfile.TarInfo(member_name)
    info.size, info.mode, info.mtime = size, 0o644, _MTIME
    info.uname = info.gname = "root"
    header = info.tobuf(format=tarfile.PAX_FORMAT)
    trailer = b"\0" * (-size % 512) + b"\0" * 1024

    def chunks():
        yield header
        yield from _half_compressible(size, seed)
        yield trailer

    return LayerSource(len(header) + size + len(trailer), lambda: ChunkReader(chunks()))


def _half_compressible(size, seed):
    """SIZE deterministic bytes in 1 MiB blocks: 32 KiB pseudo-random, 32 KiB text, in turn."""
    rng = random.Random(seed)
    text = b"".join(b"line %06d of the half-compressible test data, seed %s\n" % (i, str(seed).encode())
                    for i in range(600))[:32768]
    piece = 0
    while size > 0:
        parts = []
        for dummy_part in range(16):
            parts.append(rng.getrandbits(32768 * 8).to_bytes(32768, "little"))
            parts.append(b"%016x" % piece + text[16:])
            piece += 1
        block = b"".join(parts)[:size]
        size -= len(block)
        yield block


class ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte strings."""

    def __init__(self, chunks):
        super(ChunkReader, self).__init__()
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


# --- configs and archives ------------------------------------------------------------------


def _image(name, layers, parents):
    """An ImageSource of LAYERS, its config listing their diff ids and a history entry each."""
    diff_ids = [_sha256_of(layer) for layer in layers]
    history = [{"created": _CREATED % i, "created_by": "/bin/sh", "comment": "layer %d of %s" % (i + 1, name)}
               for i in range(len(layers))]
    config = {
        "created": _CREATED % len(layers),
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/busybox", "sh"], "Labels": {"built-on": ",".join(parents)}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }
    return ImageSource(name, go_json(config), layers)


def _sha256_of(layer):
    digest = hashlib.sha256()
    with layer.open() as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def _diff_ids(config_bytes):
    return json.loads(config_bytes.decode("utf-8"))["rootfs"]["diff_ids"]


def _add_stream(archive, name, layer):
    info = _member_info(name, layer.size, 0o444)
    with layer.open() as f:
        archive.addfile(info, f)


def _add_bytes(archive, name, data):
    archive.addfile(_member_info(name, len(data), 0o444), io.BytesIO(data))


def _add_symlink(archive, name, target):
    info = _member_info(name, 0, 0o777)
    info.type, info.linkname = tarfile.SYMTYPE, target
    archive.addfile(info)


def _member_info(name, size, mode):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, 0
    return info
