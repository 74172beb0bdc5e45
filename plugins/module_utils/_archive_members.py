# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read one bundle tarball as a stream of docker-archive members.

Only the shapes a docker-archive slice can hold pass: the folder of a legacy
layer with its VERSION, json and layer.tar, and at the top manifest.json,
repositories and the image config. Anything else (links, devices, absolute
names, '..', stray files) is an error naming the tarball and the member.
"""

from __future__ import annotations

import lzma
import re
import tarfile
import zlib

from ansible_collections.fleetimage.separated.plugins.module_utils._compressed_stream import (
    CHUNK,
    HashingReader,
    decompressed,
    detect_compression,
)
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError

# Metadata members are held in memory; real ones are a few KiB.
SMALL_MEMBER_MAX_BYTES = 16 * 1024 * 1024

_LAYER_DIR = re.compile(r"^([0-9a-f]{64})$")
_LAYER_FILE = re.compile(r"^([0-9a-f]{64})/(VERSION|json|layer\.tar)$")
_CONFIG = re.compile(r"^([0-9a-f]{64})\.json$")
# What a truncated or corrupted stream raises, whichever decompressor reads it.
_STREAM_ERRORS = (tarfile.TarError, EOFError, OSError, ValueError, lzma.LZMAError, zlib.error)
_KIND_OF_LAYER_FILE = {"VERSION": "layer_version", "json": "layer_json", "layer.tar": "layer_tar"}


def classify(member, path):
    """Return (normalized name, kind, id) of a tar member, or raise BundleError.

    kind is one of layer_dir, layer_version, layer_json, layer_tar (id = the
    legacy layer id), config (id = the config's sha256), manifest, repositories.
    """
    name = member.name
    if name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    where = "member %r of %s" % (member.name, path)
    if not name or name.startswith("/") or ".." in name.split("/"):
        raise BundleError("%s: names outside the archive are not allowed" % where)
    if member.type == tarfile.DIRTYPE:
        match = _LAYER_DIR.match(name)
        if not match:
            raise BundleError("%s: unexpected folder, not a legacy layer folder" % where)
        return name, "layer_dir", match.group(1)
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        raise BundleError("%s: only regular files and folders are allowed, not links, devices or fifos" % where)
    match = _LAYER_FILE.match(name)
    if match:
        return name, _KIND_OF_LAYER_FILE[match.group(2)], match.group(1)
    match = _CONFIG.match(name)
    if match:
        return name, "config", match.group(1)
    if name in ("manifest.json", "repositories"):
        return name, name.split(".")[0], None
    raise BundleError("%s: unexpected file, not part of a docker-archive" % where)


def read_small(tar, member, path):
    """The bytes of a metadata member, refusing one too large to hold in memory."""
    if member.size > SMALL_MEMBER_MAX_BYTES:
        raise BundleError("member %s of %s is %d bytes, more than the %d allowed for metadata"
                          % (member.name, path, member.size, SMALL_MEMBER_MAX_BYTES))
    return tar.extractfile(member).read()


def stream_tarball(path, on_member):
    """Read the tarball at PATH once, front to back.

    Calls on_member(name, kind, id, member, tar) for every member, in archive
    order; for files the callback reads tar.extractfile(member) itself, or
    leaves it unread to skip it. Returns the sha256 (hex) of all the file's
    bytes, read in the same pass.
    """
    kind = detect_compression(path)
    with open(path, "rb", buffering=0) as f:
        raw = HashingReader(f)
        stream = decompressed(raw, kind, path)
        try:
            with tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK) as tar:
                for member in tar:
                    name, member_kind, member_id = classify(member, path)
                    on_member(name, member_kind, member_id, member, tar)
        except _STREAM_ERRORS as exc:
            raise BundleError("%s is not a valid %s archive: %s" % (path, "tar" if kind == "tar" else kind + "-compressed tar", exc))
        finally:
            stream.close()
        return raw.drain()
