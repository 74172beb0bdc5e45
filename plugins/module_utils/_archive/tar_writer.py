# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write tar streams and gzip files byte for byte as isula-build's Go code writes them.

Headers as Go's archive/tar writes them for isula-build (ustar, owner root, a
fixed mtime, PAX only for sizes past 8 GiB), members in filepath.Walk's
order, and the gzip framing of Go's compress/gzip; layers are streamed from
their sources and checked against their diff ids as they pass.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import struct
import zlib

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError

try:
    from isal import isal_zlib
except ImportError:  # an optional accelerator: zlib does the same job, slower
    isal_zlib = None

CHUNK = 1024 * 1024
# isula-build packs with every mtime at 2016-12-31 00:00:00 UTC.
_MTIME = 1483142400
DIR_MODE = 0o40755  # Go writes the file type bits into the mode field
READ_ONLY_MODE = 0o100444  # as containers/image wrote the member
PRIVATE_MODE = 0o100600  # the files isula-build rewrites itself
# Go's gzip writer: no file name, MTIME of Go's zero time, OS "unknown".
_GZIP_MTIME = b"\x00\x09\x6e\x88"
_GZIP_OS_UNKNOWN = b"\xff"

# A tar member to write: a folder (data and layer None), small bytes, or a
# layer streamed from a LayerSource and checked against DIFF_ID.
Member = collections.namedtuple("Member", "name mode data layer diff_id what")


def write_tarball(path, members, level):
    """Write MEMBERS as a gzip tarball in Go's walk order; return the file's sha256 hex."""
    return _write_gzip(path, _tar_stream(_walk_order(members)), level)


def _walk_order(members):
    """filepath.Walk's order: top-level names sorted, each folder followed by its sorted children."""
    groups = collections.defaultdict(list)
    for member in members:
        groups[member.name.split("/", 1)[0]].append(member)
    return [m for top in sorted(groups) for m in sorted(groups[top], key=lambda m: m.name)]


def _tar_stream(members):
    """Yield the uncompressed tar stream of MEMBERS, ending with two zero blocks (no record padding)."""
    for member in members:
        if member.layer is not None:
            yield tar_header(member.name, member.mode, member.layer.size)
            yield from _checked_layer(member)
            yield _padding(member.layer.size)
        elif member.data is not None:
            yield tar_header(member.name, member.mode, len(member.data))
            yield member.data + _padding(len(member.data))
        else:
            yield tar_header(member.name, member.mode, 0, typeflag=b"5")
    yield b"\0" * 1024


def _checked_layer(member):
    """Stream a layer, failing when its size or sha256 is not what the image says."""
    size, digest, seen = member.layer.size, hashlib.sha256(), 0
    with contextlib.closing(member.layer.open()) as stream:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            seen += len(chunk)
            if seen > size:
                raise BundleError("%s is larger than the %d bytes announced" % (member.what, size))
            digest.update(chunk)
            yield chunk
    if seen != size:
        raise BundleError("%s ended after %d bytes, %d were announced" % (member.what, seen, size))
    actual = "sha256:" + digest.hexdigest()
    if actual != member.diff_id:
        raise BundleError("%s has sha256 %s, but the image config lists %s" % (member.what, actual, member.diff_id))


def _padding(size):
    return b"\0" * (-size % 512)


def tar_header(name, mode, size, typeflag=b"0"):
    """A header as Go's archive/tar writes it for isula-build: ustar, owner root, fixed mtime.

    A size beyond ustar's 11 octal digits (8 GiB) goes into a PAX record first,
    as Go does; the ustar size field then holds 0.
    """
    pax = b""
    if size >= 8 ** 11:
        directory, base = name.rpartition("/")[::2]
        pax_name = (directory + "/" if directory else "") + "PaxHeaders.0/" + base
        record = _pax_record("size", str(size))
        pax = _ustar_header(pax_name[:100], 0o100644, len(record), b"x") + record + _padding(len(record))
        size = 0
    return pax + _ustar_header(name, mode, size, typeflag)


def _ustar_header(name, mode, size, typeflag):
    encoded = name.encode("utf-8")
    if len(encoded) > 100:
        raise BundleError("tar member name %s is longer than 100 bytes" % name)
    header = bytearray(512)
    header[0:len(encoded)] = encoded
    header[100:108] = b"%07o\0" % mode
    header[108:116] = b"0000000\0"  # uid
    header[116:124] = b"0000000\0"  # gid
    header[124:136] = b"%011o\0" % size
    header[136:148] = b"%011o\0" % _MTIME
    header[148:156] = b" " * 8  # the checksum counts itself as spaces
    header[156:157] = typeflag
    header[257:265] = b"ustar\x0000"
    header[265:269] = b"root"
    header[297:301] = b"root"
    header[329:337] = b"0000000\0"  # devmajor
    header[337:345] = b"0000000\0"  # devminor
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def _pax_record(key, value):
    """'<length> key=value\\n', the length counting its own digits."""
    body = " %s=%s\n" % (key, value)
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return ("%d%s" % (length, body)).encode("utf-8")


def _write_gzip(path, chunks, level):
    """Write CHUNKS gzip-compressed into the new file PATH; return its sha256 hex.

    The header is Go's compress/gzip one (no name, its fixed MTIME, XFL by
    level, OS unknown), so the framing matches isula-build's.
    """
    compressor, crc32 = _deflater(level)
    digest, crc, size = hashlib.sha256(), 0, 0
    xfl = b"\x02" if level == 9 else b"\x04" if level == 1 else b"\x00"
    with open(path, "xb") as f:

        def out(data):
            if data:
                f.write(data)
                digest.update(data)

        out(b"\x1f\x8b\x08\x00" + _GZIP_MTIME + xfl + _GZIP_OS_UNKNOWN)
        for chunk in chunks:
            crc = crc32(chunk, crc)
            size += len(chunk)
            out(compressor.compress(chunk))
        out(compressor.flush())
        out(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
        f.flush()
        os.fsync(f.fileno())
    return digest.hexdigest()


def _deflater(level):
    """A raw deflate compressor and its crc32: isal when importable (about 8 times faster), else zlib.

    isal has levels 0-3: zlib's 1-2, 3-4, 5-6, 7-9 map to them. Level 0 stores.
    """
    if isal_zlib is not None and level > 0:
        return isal_zlib.compressobj(min(3, (level - 1) // 2), isal_zlib.DEFLATED, -15), isal_zlib.crc32
    return zlib.compressobj(level, zlib.DEFLATED, -15), zlib.crc32
