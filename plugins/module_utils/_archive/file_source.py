# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read images out of a docker-archive file, as `docker save` and `podman save` write it.

The archive is an uncompressed tar, so each member is a byte range of the
file: its members are indexed once, manifest.json and the configs are read
into memory (small, bounded), and each layer is handed out as a LayerSource
that streams its byte range when opened. Symlinks (podman's `L/layer.tar ->
../<diffid>.tar`) and hard links are followed inside the archive only.
"""

from __future__ import annotations

import io
import posixpath
import tarfile

from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.image_source import ImageSource, LayerSource
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.members import BoundedTarInfo, limited_members
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import open_regular_file

MANIFEST_MAX_BYTES = 10 * 1024 * 1024
CONFIG_MAX_BYTES = 32 * 1024 * 1024
_MAX_LINK_HOPS = 16


def read_docker_archive(path):
    """Return the images of the docker-archive at PATH, in manifest.json order.

    Each is an ImageSource named by its first RepoTag (None when it has none);
    give it another name with image._replace(name=...).
    """
    return [image for image, tags in read_tagged_images(path)]


def read_tagged_images(path):
    """[(ImageSource, every RepoTag)] of the docker-archive at PATH, in manifest.json order.

    The archive's headers are read as a load reads a bundle's (pax and long
    names bounded, a member limit), its manifest.json and configs within
    their size limits and parsed by json_text.
    """
    members = _index_members(path)
    manifest = _read_json(path, members, "manifest.json", MANIFEST_MAX_BYTES)
    if not isinstance(manifest, list) or not manifest:
        raise BundleError("manifest.json of docker-archive %s lists no image" % path)
    images = [_image(path, members, entry) for entry in manifest]
    return [(image, list(entry.get("RepoTags") or [])) for image, entry in zip(images, manifest)]


def _image(path, members, entry):
    if not (isinstance(entry, dict) and isinstance(entry.get("Config"), str) and isinstance(entry.get("Layers"), list)):
        raise BundleError("manifest.json of docker-archive %s has an entry without Config and Layers" % path)
    tags = entry.get("RepoTags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise BundleError("manifest.json of docker-archive %s has RepoTags that are not a list of names" % path)
    config = _read_bytes(path, _resolve(path, members, entry["Config"]), CONFIG_MAX_BYTES)
    layers = []
    for name in entry["Layers"]:
        if not isinstance(name, str):
            raise BundleError("manifest.json of docker-archive %s lists a layer that is not a member name" % path)
        member = _resolve(path, members, name)
        layers.append(LayerSource(member.size, _opener(path, member)))
    return ImageSource(tags[0] if tags else None, config, layers)


def _index_members(path):
    """{normalized name: TarInfo} of every member; the last of a repeated name wins, as tar does."""
    try:
        with open_regular_file(path, "docker-archive") as raw:  # a FIFO is refused, not waited on
            with tarfile.open(fileobj=raw, mode="r:", tarinfo=BoundedTarInfo) as archive:
                return {_normalize(info.name): info for info in limited_members(archive, "docker-archive %s" % path)}
    except tarfile.ReadError as exc:
        raise BundleError("%s is not an uncompressed tar archive (a docker-archive): %s" % (path, exc))
    except OSError as exc:
        raise BundleError("docker-archive %s cannot be read: %s" % (path, exc.strerror or exc))


def _normalize(name):
    return posixpath.normpath("/" + name).lstrip("/")


def _resolve(path, members, name):
    """The regular-file member NAME designates, following links inside the archive."""
    wanted = name
    for dummy_hop in range(_MAX_LINK_HOPS):
        info = members.get(_normalize(name))
        if info is None:
            raise BundleError("docker-archive %s has no member %s" % (path, name))
        if info.isreg() and not info.issparse():
            return info
        if info.issym():
            if posixpath.isabs(info.linkname):
                raise BundleError("member %s of docker-archive %s links outside the archive" % (info.name, path))
            target = posixpath.join(posixpath.dirname(_normalize(info.name)), info.linkname)
            if posixpath.normpath(target).startswith("../") or posixpath.normpath(target) == "..":
                raise BundleError("member %s of docker-archive %s links outside the archive" % (info.name, path))
            name = target
        elif info.islnk():
            name = info.linkname
        else:
            raise BundleError("member %s of docker-archive %s is not a regular file" % (info.name, path))
    raise BundleError("member %s of docker-archive %s is a chain of more than %d links" % (wanted, path, _MAX_LINK_HOPS))


def _read_json(path, members, name, limit):
    data = _read_bytes(path, _resolve(path, members, name), limit)
    try:
        return json_text.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise BundleError("%s of docker-archive %s is not valid JSON: %s" % (name, path, exc))


def _read_bytes(path, member, limit):
    if member.size > limit:
        raise BundleError("member %s of docker-archive %s is larger than %d bytes" % (member.name, path, limit))
    with _opener(path, member)() as f:
        return f.read()


def _opener(path, member):
    """A callable opening MEMBER's bytes as a file of their own (several may be open at once)."""

    def open_member():
        return io.BufferedReader(_MemberFile(path, member.offset_data, member.size), 1024 * 1024)

    return open_member


class _MemberFile(io.RawIOBase):
    """The byte range of one member of an uncompressed tar file, read-only."""

    def __init__(self, path, offset, size):
        super(_MemberFile, self).__init__()
        self._path = path
        self._left = size
        self._file = open(path, "rb")
        self._file.seek(offset)

    def readable(self):
        return True

    def readinto(self, buffer):
        wanted = min(len(buffer), self._left)
        if wanted == 0:
            return 0
        got = self._file.readinto(memoryview(buffer)[:wanted])
        if not got:
            raise BundleError("docker-archive %s ends in the middle of a member" % self._path)
        self._left -= got
        return got

    def close(self):
        if not self.closed:
            self._file.close()
        super(_MemberFile, self).close()
