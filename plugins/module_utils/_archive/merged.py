# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one docker-archive that a bundle's tarballs form together, as a stream.

Container engines load a whole docker-archive. isula-build makes one by
unpacking the tarballs to folders and packing them again; here the members
of the app, lib and base tarballs are read once (validated as they are read,
a name in two tarballs refused) and written straight into one uncompressed
tar stream: the engine's stdin, or a file where the engine needs one.

The stream is only completed when every check has passed: the tarballs'
sha256, every layer.tar against the config's diff ids, the config against
its own digest. A caller that sees an error must make sure the engine does
not take the unfinished stream for a whole archive (see _engine_cli.feeding).
"""

from __future__ import annotations

import functools
import io
import tarfile

from ansible_collections.fleetimage.separated.plugins.module_utils._archive.members import stream_tarball
from ansible_collections.fleetimage.separated.plugins.module_utils._io.hashing import CHUNK, HashingReader
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.model import DockerArchive
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError


def read_image_metadata(app_tarball, name):
    """Read the app tarball once for what a load must know before it starts.

    Returns (image, sha256 of the tarball's bytes): the image's id, its
    diff ids and RepoTags from manifest.json and the config. The app's
    layers are validated as tar members but not hashed here; that happens
    while they are streamed.
    """
    archive = DockerArchive()
    archive.unread_layers = None  # lib and base are read later, when the archive is streamed

    digest = stream_tarball(app_tarball.path, functools.partial(archive.collect, app_tarball.path))
    # Layers are in lib and base, or not yet hashed: let image() check the rest.
    return archive.image(name, lambda diff_id: True), digest


def write_merged_archive(tarballs, sink, name, expected_sha256):
    """Write the members of TARBALLS as one uncompressed docker-archive to SINK.

    EXPECTED_SHA256 maps a tarball path to the sha256 its bytes must have
    (those checked before the load began: a tarball changed since is refused).
    The end of the archive is written only after every check passed; returns
    the image (see DockerArchive.image).
    """
    archive = DockerArchive()
    # Not the buffered "w|" stream: what reached SINK when an error is raised
    # must be whole 512-byte blocks, with nothing written behind it later.
    out = tarfile.TarFile(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT, copybufsize=CHUNK)
    for tarball in tarballs:
        digest = stream_tarball(tarball.path, _copier(archive, out, tarball.path))
        want = expected_sha256.get(tarball.path)
        if want is not None and digest != want:
            raise BundleError(
                "check sum for file %s failed: it changed while it was loaded (sha256 %s, checked before as %s)"
                % (tarball.path, digest, want)
            )
    image = archive.image(name, lambda diff_id: False)
    out.close()  # the end-of-archive blocks: from here the engine may take the archive as whole
    return image


def _copier(archive, out, path):
    """The on_member callback that copies each member of the tarball PATH into OUT."""

    def on_member(member_name, kind, member_id, member, tar):
        kept = archive.collect(path, member_name, kind, member_id, member, tar)
        info = _clean_header(member_name, member)
        if kind == "layer_dir":
            out.addfile(info)
        elif kind == "layer_tar":
            layer = HashingReader(tar.extractfile(member))
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
