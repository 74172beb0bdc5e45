"""Docker-archive-shaped tars made in memory, and their members read back, for the tests of the streaming read."""

from __future__ import annotations

import hashlib
import io
import random
import tarfile

from ansible_collections.fleetimage.separated.plugins.module_utils._archive.members import stream_tarball

MIB = 1024 * 1024


def layer_archive(sizes, fmt=tarfile.PAX_FORMAT, seed=0, long_names=False):
    """An uncompressed docker-archive-shaped tar: one layer folder per size, its layer.tar of that size."""
    rng = random.Random(seed)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for position, size in enumerate(sizes):
            layer = "%064x" % (position + 1)
            folder = tarfile.TarInfo(layer)
            folder.type = tarfile.DIRTYPE
            tar.addfile(folder)
            data = rng.randbytes(size // 2) + b"t" * (size - size // 2)
            info = tarfile.TarInfo(layer + "/layer.tar")
            info.size = len(data)
            if long_names:
                info.uname = "u" * 40  # pax or GNU records before the header
                info.pax_headers = {"comment": "x" * 300}
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def read_all(path, how="read1", piece=MIB):
    """{member name: sha256 of its bytes} and the file's sha256, through stream_tarball."""
    seen = {}

    def on_member(name, kind, member_id, member, tar):
        if kind != "layer_tar":
            return
        reader, digest = tar.extractfile(member), hashlib.sha256()
        if how == "readinto":
            buffer = bytearray(piece)
            for count in iter(lambda: reader.readinto(buffer), 0):
                digest.update(buffer[:count])
        else:
            read = getattr(reader, how)
            for chunk in iter(lambda: read(piece), b""):
                digest.update(chunk)
        seen[name] = digest.hexdigest()

    return seen, stream_tarball(str(path), on_member)


def member_digests(raw):
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return {m.name: hashlib.sha256(tar.extractfile(m).read()).hexdigest()
                for m in tar if m.name.endswith("/layer.tar")}
