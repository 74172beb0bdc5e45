# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one docker-archive that a bundle's tarballs form together, as a stream.

Container engines load a whole docker-archive. isula-build makes one by
unpacking the tarballs to folders and packing them again; here the members
of the app, lib and base tarballs are read once (validated as they are read,
a name in two tarballs refused) and written straight into one uncompressed
tar stream: the engine's stdin, or a file where the engine needs one.

Each byte is read once: each tarball's sha256 is computed in the same pass
that streams it, and manifest.json and the config, which sit after the app's
layers, are kept as they pass. The stream is only completed when every
check has passed: the tarballs' sha256, every layer.tar against the config's
diff ids, the config against its own digest. A caller that sees an error
must make sure the engine does not take the unfinished stream for a whole
archive (see _store/engine/cli.feeding).
"""

from __future__ import annotations

import functools
import io
import tarfile

from ansible_collections.fleetimage.separated.plugins.module_utils._archive.inflation import stream_checked
from ansible_collections.fleetimage.separated.plugins.module_utils._io.hashing import CHUNK, HashingReader
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.model import DockerArchive


def write_merged_archive(tarballs, sink, name, verify):
    """Write the members of TARBALLS (app first) as one uncompressed docker-archive to SINK.

    Each of TARBALLS has a `path` and check_sum(actual=None), which fails
    when the file's sha256 is not the bundle's (_bundle/index.py's Tarball).
    With VERIFY, each is checked when it has been read whole, with the sha256
    of the same pass; a tarball that inflates far beyond its size is checked
    there and then (_archive/inflation.py); and one that cannot be read is
    checked first (a wrong file is likelier than a broken one). The end of
    the archive is written only after every check passed. Returns (the image
    (see DockerArchive.image), the sha256 of the app tarball's bytes).
    """
    archive = DockerArchive()
    # Not the buffered "w|" stream: what reached SINK when an error is raised
    # must be whole 512-byte blocks, with nothing written behind it later.
    out = tarfile.TarFile(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT, copybufsize=CHUNK)
    digests = []
    for tarball in tarballs:
        digests.append(stream_checked(tarball, functools.partial(_copier, archive, out, tarball.path), verify))
    image = archive.image(name, lambda diff_id: False)
    out.close()  # the end-of-archive blocks: from here the engine may take the archive as whole
    return image, digests[0]


def _copier(archive, out, path, inflation):
    """The on_member callback that copies each member of the tarball PATH into OUT, layers counted by INFLATION."""

    def on_member(member_name, kind, member_id, member, tar):
        kept = archive.collect(path, member_name, kind, member_id, member, tar)
        info = _clean_header(member_name, member)
        if kind == "layer_dir":
            out.addfile(info)
        elif kind == "layer_tar":
            layer = HashingReader(inflation.reader(tar.extractfile(member)))
            out.addfile(info, layer)
            archive.layer_digests[member_id] = "sha256:" + layer.sha256.hexdigest()
        elif kept is not None:
            out.addfile(info, io.BytesIO(kept))
        else:  # a layer's VERSION or json, or repositories: copied as they are
            out.addfile(info, tar.extractfile(member))

    return on_member


def _clean_header(member_name, member):
    """A tar header for MEMBER under its validated name, owned by root, no extras."""
    info = tarfile.TarInfo(member_name)
    info.type = member.type if member.type == tarfile.DIRTYPE else tarfile.REGTYPE
    info.size = 0 if info.type == tarfile.DIRTYPE else member.size
    info.mode = member.mode & 0o777
    info.mtime = member.mtime
    return info
