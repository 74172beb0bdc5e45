# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The metadata of a docker-archive read as a stream, its layers skipped.

What a save in check mode needs from an engine's save stream: manifest.json,
the image configs and each layer's size, with nothing written anywhere. The
stream is read once, front to back; small files are kept in memory (bounded),
layer bytes are read past. Links (podman's `L/layer.tar -> ../<diffid>.tar`)
are followed inside the archive only.
"""

from __future__ import annotations

import lzma
import posixpath
import tarfile
import zlib

from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.image_source import ImageSource, LayerSource, candidate
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.members import BoundedTarInfo, limited_members
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError

CHUNK = 1024 * 1024
# Configs and manifest.json are a few KiB; a layer this small may be kept too.
SMALL_FILE_MAX_BYTES = 1024 * 1024
SMALL_FILES_MAX_TOTAL = 64 * 1024 * 1024
_MAX_LINK_HOPS = 16
_STREAM_ERRORS = (tarfile.TarError, EOFError, OSError, ValueError, lzma.LZMAError, zlib.error)


def read_archive_metadata(stream, where):
    """Return the Candidate images of the docker-archive STREAM, whose layers cannot be opened.

    WHERE names the stream in errors ("the save stream of `podman save ...`").
    """
    small, sizes, links = {}, {}, {}
    kept = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK, tarinfo=BoundedTarInfo) as tar:
            for member in limited_members(tar, where):
                name = _normalize(member.name)
                if member.isdir():
                    continue
                if member.issym() or member.islnk():
                    links[name] = _link_target(name, member, where)
                elif member.isreg() and not member.issparse():
                    sizes[name] = member.size
                    if member.size <= SMALL_FILE_MAX_BYTES and kept + member.size <= SMALL_FILES_MAX_TOTAL:
                        small[name] = tar.extractfile(member).read()
                        kept += member.size
                else:
                    raise BundleError("member %s of %s is not a file, folder or link" % (member.name, where))
    except _STREAM_ERRORS as exc:
        raise BundleError("%s is not a valid docker-archive: %s" % (where, exc))
    manifest = _json(small, links, "manifest.json", where)
    if not isinstance(manifest, list) or not manifest:
        raise BundleError("manifest.json of %s lists no image" % where)
    return [_candidate(entry, small, sizes, links, where) for entry in manifest]


def _candidate(entry, small, sizes, links, where):
    if not (isinstance(entry, dict) and isinstance(entry.get("Config"), str) and isinstance(entry.get("Layers"), list)):
        raise BundleError("manifest.json of %s has an entry without Config and Layers" % where)
    tags = entry.get("RepoTags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise BundleError("manifest.json of %s has RepoTags that are not a list of names" % where)
    config = _small_file(small, links, entry["Config"], where)
    layers = []
    for layer in entry["Layers"]:
        if not isinstance(layer, str):
            raise BundleError("manifest.json of %s lists a layer that is not a member name" % where)
        name = _resolve(links, layer, where)
        if name not in sizes:
            raise BundleError("%s has no member %s" % (where, layer))
        layers.append(LayerSource(sizes[name], _not_kept(layer, where)))
    return candidate(tags, ImageSource(tags[0] if tags else None, config, layers))


def _json(small, links, name, where):
    try:
        return json_text.loads(_small_file(small, links, name, where).decode("utf-8"))
    except ValueError as exc:
        raise BundleError("%s of %s is not valid JSON: %s" % (name, where, exc))


def _small_file(small, links, name, where):
    resolved = _resolve(links, name, where)
    if resolved not in small:
        raise BundleError("%s of %s is missing or larger than the %d bytes read in check mode"
                          % (name, where, SMALL_FILE_MAX_BYTES))
    return small[resolved]


def _resolve(links, name, where):
    name = _normalize(name)
    for _hop in range(_MAX_LINK_HOPS):
        if name not in links:
            return name
        name = links[name]
    raise BundleError("member %s of %s is a chain of more than %d links" % (name, where, _MAX_LINK_HOPS))


def _link_target(name, member, where):
    if member.issym():
        if posixpath.isabs(member.linkname):
            raise BundleError("member %s of %s links outside the archive" % (member.name, where))
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
    else:
        target = posixpath.normpath(member.linkname)
    if target == ".." or target.startswith("../") or posixpath.isabs(target):
        raise BundleError("member %s of %s links outside the archive" % (member.name, where))
    return _normalize(target)


def _normalize(name):
    return posixpath.normpath("/" + name).lstrip("/")


def _not_kept(layer, where):
    def refuse():
        raise BundleError("layer %s of %s was read past, not kept: it cannot be written in check mode" % (layer, where))

    return refuse
