# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""isula-build's way of loading a separated image, step by step, in Python.

As isula-build 0.9.6 does it (daemon/separator/load.go, util/util.go, then
daemon/load.go with containers/image's docker-archive transport):

1. tarballCheckSum: the sha256 of each whole tarball file against the index;
2. unpackTarballs: untar base, lib and app (gzip) into TMP/base, TMP/lib, TMP/app;
3. reconstructImage: rename every top-level entry of TMP/app and TMP/lib into TMP/base;
4. PackFiles: tar TMP/base (lexical walk order) and gzip it into TMP/all.tar.gz
   with pgzip (Go's parallel gzip, one 1 MiB block per core): `pigz -p2 -6`
   here, or plain `gzip -6` for a single-threaded gzip;
5. load TMP/all.tar.gz as a docker-archive: containers/image first
   decompresses a compressed archive into a temporary file
   (BigFilesTemporaryDir), then copies each layer into the store;
6. remove TMP.

Where Python could be slower than Go, this re-doing is generous to
isula-build: untar decompresses with isal when importable (about twice
Go's compress/gzip), and step 5 decompresses once, where isula-build's
Load() opens the archive twice (once to read its RepoTags, once to load
it), each time through a fresh temporary copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import time
import zlib

from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import destination
from ansible_collections.fleetimage.separated.plugins.module_utils._io.hashing import sha256_of_file
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.file_source import read_docker_archive
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import normalize_name

try:
    from isal import igzip_threaded, isal_zlib
except ImportError:  # then zlib, as the loader itself would
    igzip_threaded = isal_zlib = None

MIB = 1024 * 1024
PACKERS = {"pigz": ["pigz", "-p2", "-6", "-c"], "gzip": ["gzip", "-6", "-c"]}


def verify(tarballs):
    """Step 1: each tarball's sha256 against the index."""
    for tarball in tarballs:
        if sha256_of_file(tarball.path) != tarball.expected_sha256:
            raise RuntimeError("check sum for file %s failed" % tarball.path)


def unpack(path, folder):
    """Step 2: untar the gzip tarball PATH into FOLDER."""
    os.makedirs(folder)
    with open(path, "rb") as raw:
        stream = igzip_threaded.open(raw, "rb", threads=1, block_size=MIB) if igzip_threaded else None
        with tarfile.open(fileobj=stream or raw, mode="r|" if stream else "r|gz", bufsize=MIB) as tar:
            tar.extractall(folder, filter="tar")


def reconstruct(root):
    """Step 3: move app's and lib's top-level entries into base's folder."""
    for part in ("app", "lib"):
        folder = os.path.join(root, part)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            target = os.path.join(root, "base", name)
            if os.path.lexists(target):
                raise RuntimeError("reconstruct %s file %s failed: it exists" % (part, name))
            os.rename(os.path.join(folder, name), target)


class _PipeFile(object):
    """A pipe that tarfile's "w" mode accepts: it asks where it is, never seeks."""

    def __init__(self, pipe):
        self._pipe, self._offset = pipe, 0

    def write(self, data):
        self._pipe.write(data)
        self._offset += len(data)

    def tell(self):
        return self._offset


def pack(folder, dest, packer):
    """Step 4: tar FOLDER (lexical walk) through PACKER ('pigz' or 'gzip') into DEST."""
    with open(dest, "wb") as out:
        proc = subprocess.Popen(PACKERS[packer], stdin=subprocess.PIPE, stdout=out)
        try:
            with tarfile.TarFile(fileobj=_PipeFile(proc.stdin), mode="w", format=tarfile.PAX_FORMAT,
                                 copybufsize=MIB) as tar:
                for path, arcname in _walk(folder):
                    tar.add(path, arcname=arcname, recursive=False)
            proc.stdin.close()
        finally:
            if proc.wait() != 0:
                raise RuntimeError("%s exited with %d" % (PACKERS[packer][0], proc.returncode))


def _walk(folder, prefix=""):
    """filepath.Walk's order: names sorted, each folder followed at once by its contents."""
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        yield path, prefix + name
        if os.path.isdir(path) and not os.path.islink(path):
            yield from _walk(path, prefix + name + "/")


def decompress_to_temp(packed, dest):
    """Step 5a: containers/image's copy of a compressed archive into a plain temporary file."""
    decompressor = isal_zlib.decompressobj(31) if isal_zlib else zlib.decompressobj(31)
    with open(packed, "rb", buffering=0) as src, open(dest, "wb") as out:
        for chunk in iter(lambda: src.read(MIB), b""):
            out.write(decompressor.decompress(chunk))
        out.write(decompressor.flush())


def load_docker_archive_into_oci(archive, store, name):
    """Step 5b: every layer of the docker-archive ARCHIVE into the OCI store, then commit NAME."""
    image = read_docker_archive(archive)[0]
    diff_ids = _diff_ids(image.config)
    with destination.destination(store) as dest:
        for layer, diff_id in zip(image.layers, diff_ids):
            if dest.has_blob(diff_id):
                continue
            with layer.open() as stream:
                digest = dest.put_layer(stream)[0]
            if digest != diff_id:
                raise RuntimeError("layer %s does not match the config's %s" % (digest, diff_id))
        dest.commit(image.config, diff_ids, [normalize_name(name)])


def _diff_ids(config):
    return json.loads(config.decode("utf-8"))["rootfs"]["diff_ids"]


def prepare(tarballs, root, packer):
    """Steps 1-4; return (path of all.tar.gz, {step: seconds})."""
    steps = {}
    started = time.perf_counter()
    verify(tarballs)
    steps["verify"] = _lap(started)
    started = time.perf_counter()
    os.makedirs(root)
    for tarball in tarballs:
        unpack(tarball.path, os.path.join(root, tarball.part))
    steps["unpack"] = _lap(started)
    started = time.perf_counter()
    reconstruct(root)
    steps["move"] = _lap(started)
    started = time.perf_counter()
    packed = os.path.join(root, "all.tar.gz")
    pack(os.path.join(root, "base"), packed, packer)
    steps["pack"] = _lap(started)
    return packed, steps


def load_into_oci(tarballs, root, packer, store, name):
    """The whole of isula-build's load, with the OCI store as its store; return {step: seconds}."""
    packed, steps = prepare(tarballs, root, packer)
    started = time.perf_counter()
    plain = os.path.join(root, "docker-tar")
    decompress_to_temp(packed, plain)
    load_docker_archive_into_oci(plain, store, name)
    steps["load"] = _lap(started)
    started = time.perf_counter()
    shutil.rmtree(root)
    steps["cleanup"] = _lap(started)
    return steps


def load_into_podman(tarballs, root, packer, env):
    """isula-build's steps 1-4, then `podman load` of the re-packed archive; return {step: seconds}.

    podman 4.3 refuses a gzip-compressed docker-archive, from a file or from
    stdin ("archive/tar: invalid tar header"): the archive is decompressed
    into a temporary file first, which is what containers/image does inside
    isula-build; podman then reads that plain file in place.
    """
    packed, steps = prepare(tarballs, root, packer)
    started = time.perf_counter()
    plain = os.path.join(root, "docker-tar")
    decompress_to_temp(packed, plain)
    proc = subprocess.run(["podman", "load", "-q", "-i", plain], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise RuntimeError("podman load failed: %s" % proc.stderr.decode("utf-8", "replace"))
    steps["load"] = _lap(started)
    started = time.perf_counter()
    shutil.rmtree(root)
    steps["cleanup"] = _lap(started)
    return steps


def _lap(started):
    return time.perf_counter() - started
