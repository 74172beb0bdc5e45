# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read one bundle tarball as a stream of docker-archive members.

Only the shapes a docker-archive slice can hold pass: the folder of a legacy
layer with its VERSION, json and layer.tar, and at the top manifest.json,
repositories and the image config. Anything else (links, devices, absolute
names, '..', stray files) is an error naming the tarball and the member.
"""

from __future__ import annotations

import io
import re
import tarfile

from ansible_collections.fleetimage.separated.plugins.module_utils._digest import SHA256_HEX
from ansible_collections.fleetimage.separated.plugins.module_utils._io.codecs import DECOMPRESSION_ERRORS, detect_codec
from ansible_collections.fleetimage.separated.plugins.module_utils._io.pipeline import open_tarball
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.limits import (
    ARCHIVE_MAX_MEMBERS,
    EXTENDED_HEADER_MAX_BYTES,
    MAX_MEMBERS,
    METADATA_MEMBER_MAX_BYTES,
    METADATA_TOTAL_MAX_BYTES,
)

# Metadata members are held in memory; real ones are a few KiB (see limits.py).
SMALL_MEMBER_MAX_BYTES = METADATA_MEMBER_MAX_BYTES
_METADATA_KINDS = ("config", "manifest", "repositories", "layer_json", "layer_version")

_LAYER_DIR = re.compile(r"^(%s)$" % SHA256_HEX)
_LAYER_FILE = re.compile(r"^(%s)/(VERSION|json|layer\.tar)$" % SHA256_HEX)
_CONFIG = re.compile(r"^(%s)\.json$" % SHA256_HEX)
# What a truncated or corrupted stream raises, whichever decompressor reads it.
_STREAM_ERRORS = (tarfile.TarError,) + DECOMPRESSION_ERRORS
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
    bytes, read in the same pass. A compressed tarball is decompressed to
    its end, past the tar's end-of-archive blocks, so that its checksums
    (gzip's CRC) and anything after them are checked too.

    Headers -- ustar, pax and GNU long names -- are parsed by the standard
    library's tarfile, exactly as in its stream mode; the members' bytes are
    handed out by _Archive.extractfile without tarfile's copies.
    """
    return _read(path, on_member, whole=True)


def scan_tarball(path, on_member):
    """Read the tarball at PATH only as far as needed: on_member (as for stream_tarball) returns True to stop.

    The same bounds as a load's read (member count, metadata sizes, extended
    headers); no checksum is computed. Returns whether on_member stopped it.
    """
    return _read(path, on_member, whole=False)


def _read(path, on_member, whole):
    try:
        codec = detect_codec(path)
        stream = open_tarball(path, codec)
    except OSError as exc:
        raise BundleError("tarball %s cannot be read: %s" % (path, os_reason(exc)))
    with stream:
        try:
            tar = tarfile.TarFile(fileobj=stream, mode="r", tarinfo=BoundedTarInfo)
            archive = _Archive(tar, stream)
            metadata_bytes = 0
            for count, member in enumerate(tar, 1):
                if count > MAX_MEMBERS:
                    raise BundleError("%s holds more than %d members, more than a docker-archive of %d layers"
                                      % (path, MAX_MEMBERS, (MAX_MEMBERS - 64) // 4))
                name, member_kind, member_id = classify(member, path)
                if member_kind in _METADATA_KINDS:
                    metadata_bytes += member.size
                    if metadata_bytes > METADATA_TOTAL_MAX_BYTES:
                        raise BundleError("%s holds more than %d bytes of metadata files (manifest.json, configs,"
                                          " layers' json)" % (path, METADATA_TOTAL_MAX_BYTES))
                if on_member(name, member_kind, member_id, member, archive) and not whole:
                    return True
            if not whole:
                return False
            if codec.magic:  # compressed: its end checks the whole stream
                stream.read_to_end()
        except _STREAM_ERRORS as exc:
            what = codec.name + "-compressed tar" if codec.magic else "tar"
            raise BundleError("%s is not a valid %s archive: %s" % (path, what, exc))
        except MemoryError:
            raise BundleError("reading %s ran out of memory" % path)
        try:
            return stream.file_sha256()
        except OSError as exc:
            raise BundleError("tarball %s cannot be read: %s" % (path, os_reason(exc)))
        except MemoryError:
            raise BundleError("hashing %s ran out of memory" % path)


# Headers whose data tarfile reads whole into memory, and the error that ends its reading.
_EXTENDED_HEADER_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
                          tarfile.SOLARIS_XHDTYPE)
_HeaderError = tarfile.SubsequentHeaderError


def limited_members(tar, where, limit=ARCHIVE_MAX_MEMBERS):
    """The members of TAR (opened with tarinfo=BoundedTarInfo), refusing more than LIMIT: WHERE names it."""
    for count, member in enumerate(tar, 1):
        if count > limit:
            raise BundleError("%s holds more than %d members" % (where, limit))
        yield member


class BoundedTarInfo(tarfile.TarInfo):
    """A tar header whose pax or GNU long-name data, read whole by tarfile, is bounded."""

    def _proc_member(self, tarfile):  # pylint: disable=redefined-outer-name  # the overridden method's name
        if self.type in _EXTENDED_HEADER_TYPES and self.size > EXTENDED_HEADER_MAX_BYTES:
            raise _HeaderError("an extended header (pax or GNU long name) of %d bytes, more than the %d allowed"
                               % (self.size, EXTENDED_HEADER_MAX_BYTES))
        return super(BoundedTarInfo, self)._proc_member(tarfile)


class _Archive(object):
    """What on_member receives as `tar`: extractfile() of the member being visited."""

    def __init__(self, tar, stream):
        self._tar = tar
        self._stream = stream

    def extractfile(self, member):
        if member.isreg() and getattr(member, "sparse", None) is None:
            return _MemberReader(self._stream, member)
        # Sparse files and anything else: tarfile's own reader, as before.
        return self._tar.extractfile(member)


class _MemberReader(io.RawIOBase):
    """The bytes of one regular member, read from the stream in place.

    read1() hands on the stream's chunks as they are (no copy when a whole
    chunk lies inside the member); read() and readinto() fill what they are
    asked for, as tarfile's own member files do.
    """

    def __init__(self, stream, member):
        super(_MemberReader, self).__init__()
        self._stream = stream
        self._position = member.offset_data
        self._left = member.size

    def readable(self):
        return True

    def read1(self, size=-1):
        if self._left <= 0:
            return b""
        if self._stream.tell() != self._position:
            # Only members not yet passed can be read, as in tarfile's stream mode.
            if self._stream.tell() > self._position:
                raise tarfile.StreamError("seeking backwards is not allowed")
            self._stream.seek(self._position)
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        data = self._stream.read1(wanted)
        if not data:
            raise tarfile.ReadError("unexpected end of data")
        self._left -= len(data)
        self._position += len(data)
        return data

    def read(self, size=-1):
        parts, wanted = [], self._left if size is None or size < 0 else min(size, self._left)
        while wanted > 0:
            data = self.read1(wanted)
            parts.append(data)
            wanted -= len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readinto(self, buffer):
        target = memoryview(buffer).cast("B")
        done = 0
        while done < len(target) and self._left > 0:
            data = self.read1(len(target) - done)
            target[done:done + len(data)] = data
            done += len(data)
        return done
