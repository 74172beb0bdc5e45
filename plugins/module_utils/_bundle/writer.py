# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write a separated image bundle byte for byte as isula-build's `ctr-img save` does.

The uncompressed tar streams and the index are what isula-build 0.9.6 writes
(its vendored containers/image v5.17 docker-archive writer, then its
separator re-packing the untarred archive); only the gzip bytes differ, as
zlib (or isal) compresses differently from Go. Layers are streamed from their
sources and checked against the image config's diff ids on the way.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
import zlib

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import normalize_name

try:
    from isal import isal_zlib
except ImportError:  # an optional accelerator: zlib does the same job, slower
    isal_zlib = None

# One layer of an image: its size in bytes and a callable that opens its
# uncompressed tar stream (a binary file object, read once, then closed).
LayerSource = collections.namedtuple("LayerSource", "size open")

# One image: its name (a repo tag), its config file's bytes, its layers bottom
# to top. For the base and lib images only the name and config are read.
ImageSource = collections.namedtuple("ImageSource", "name config layers")

CHUNK = 1024 * 1024
INDEX_FILE_NAME = "manifest"

# isula-build packs with every mtime at 2016-12-31 00:00:00 UTC.
_MTIME = 1483142400
_DIR_MODE = 0o40755  # Go writes the file type bits into the mode field
_READ_ONLY_MODE = 0o100444  # as containers/image wrote the member
_PRIVATE_MODE = 0o100600  # the files isula-build rewrites itself
# Go's gzip writer: no file name, MTIME of Go's zero time, OS "unknown".
_GZIP_MTIME = b"\x00\x09\x6e\x88"
_GZIP_OS_UNKNOWN = b"\xff"
_TOP_LAYER_ATTRS = ("architecture", "config", "container", "container_config", "created", "docker_version", "os")
_SUFFIXES = {"app": "_app_image.tar.gz", "base": "_base_image.tar.gz", "lib": "_lib_image.tar.gz"}

# A tar member to write: a folder (data and layer None), small bytes, or a
# layer streamed from LayerSource and checked against DIFF_ID.
_Member = collections.namedtuple("_Member", "name mode data layer diff_id what")
# An app image once checked: its normalized name and what its tarballs need.
_App = collections.namedtuple("_App", "name image config_hex diff_ids legacy")


def legacy_layer_ids(diff_ids, config_bytes):
    """Return [(legacy id, json bytes)] for each layer, bottom to top.

    As containers/image v5.17's docker-archive writer derives them: each
    layer's v1 config is a JSON object (Go json.Marshal of a map: sorted keys,
    compact) holding "parent" (the id below, absent for the bottom layer) and,
    for the top layer only, the image config's 7 attributes of _TOP_LAYER_ATTRS
    (null when missing). The id is the sha256 of that object with an extra
    "layer_id" member, the layer's chain id; the json file holds "id" instead.
    """
    attrs = _top_level_members(config_bytes)
    result = []
    chain_id = parent = None
    for position, diff_id in enumerate(diff_ids):
        diff_id = _sha256_digest(diff_id)
        if chain_id is None:
            chain_id = diff_id
        else:
            chain_id = "sha256:" + hashlib.sha256((chain_id + " " + diff_id).encode("ascii")).hexdigest()
        fields = {}
        if parent is not None:
            fields["parent"] = json.dumps(parent)
        if position == len(diff_ids) - 1:
            for attr in _TOP_LAYER_ATTRS:
                fields[attr] = attrs.get(attr, "null")
        layer_id = hashlib.sha256(_go_object(dict(fields, layer_id=json.dumps(chain_id)))).hexdigest()
        fields["id"] = json.dumps(layer_id)
        result.append((layer_id, _go_object(fields)))
        parent = layer_id
    return result


def write_bundle(dest_dir, apps, base, lib=None, rename=None, compression_level=6):
    """Write the bundle of APPS (ImageSource list) into the new folder DEST_DIR.

    BASE and LIB are ImageSource of the base image (exactly one layer) and of
    the optional lib image (the base plus more layers); their names go into
    the index as given. App names are repo tags, ':latest' added when there is
    no tag. RENAME is isula-build's rename list [{"name": DEFAULT, "rename":
    NEW}]. COMPRESSION_LEVEL is zlib's 0-9 (isal's 0-3 when isal is used).
    The folder appears complete or not at all. Returns the index written.
    """
    if not 0 <= compression_level <= 9:
        raise BundleError("compression level %r is not between 0 and 9" % (compression_level,))
    plan = _plan(apps, base, lib, _rename_map(rename))
    dest_dir = os.path.abspath(dest_dir)
    parent = _check_destination(dest_dir)
    tmp = tempfile.mkdtemp(prefix=".%s.tmp-" % os.path.basename(dest_dir), dir=parent)
    try:
        index = _write_files(tmp, plan, compression_level)
        os.rename(tmp, dest_dir)
        fsync_folder(parent)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BundleError("writing bundle %s failed: %s" % (dest_dir, exc)) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return index


def go_json(value):
    """VALUE as Go's json.Marshal writes it: compact, `<>&` and U+2028/9 escaped.

    Dict keys keep their order here; sort them first where Go marshals a map.
    """
    return _go_escape(json.dumps(value, ensure_ascii=False, separators=(",", ":"))).encode("utf-8")


# --- checking the input and naming the tarballs -------------------------------------------


def _plan(apps, base, lib, renames):
    """Check the images and decide every tarball's name and members, before any write."""
    if not apps:
        raise BundleError("no app image given: a bundle holds at least one")
    if base is None:
        raise BundleError("no base image given: a bundle needs one")
    _check_name(base.name, "base")  # checked, but written to the index as given
    bottom = base_ids = _diff_ids(base.config, "base image %s" % base.name)
    if len(base_ids) != 1:
        raise BundleError("base image %s has %d layers: a base image must have exactly one" % (base.name, len(base_ids)))
    if lib is not None:
        _check_name(lib.name, "lib")
        bottom = _diff_ids(lib.config, "lib image %s" % lib.name)
        _check_built_on("lib image %s" % lib.name, bottom, base_ids, "base image %s" % base.name)
    lower = "lib image %s" % lib.name if lib is not None else "base image %s" % base.name
    checked = sorted((_check_app(app, bottom, lower) for app in apps), key=lambda a: a.name)
    _check_unique_apps(checked, len(bottom), lower)
    first = checked[0]
    names = {}
    for app in checked:
        names[app.name] = _tarball_name(app.name, "app", renames)
    names["base"] = _tarball_name(first.name, "base", renames)
    if lib is not None:
        names["lib"] = _tarball_name(first.name, "lib", renames)
    _check_distinct(names)
    return {"apps": checked, "base": base, "lib": lib, "names": names, "lib_count": len(bottom) - 1}


def _check_name(name, part):
    """Return NAME normalized; isula-build takes names only, never image ids."""
    normalized = normalize_name(name)
    if re.match(r"^(sha256:)?[0-9a-f]{64}(:latest)?$", normalized):
        raise BundleError("%s image %s: give an image name, not an image id" % (part, name))
    return normalized


def _check_app(app, bottom, lower):
    name = _check_name(app.name, "app")
    what = "app image %s" % name
    diff_ids = _diff_ids(app.config, what)
    if len(app.layers) != len(diff_ids):
        raise BundleError("%s has %d layers, but its config lists %d diff ids" % (what, len(app.layers), len(diff_ids)))
    _check_built_on(what, diff_ids, bottom, lower)
    config_hex = hashlib.sha256(app.config).hexdigest()
    return _App(name, app, config_hex, diff_ids, legacy_layer_ids(diff_ids, app.config))


def _check_built_on(what, diff_ids, lower_ids, lower):
    """Fail unless WHAT's layers start with all of LOWER's and add at least one."""
    for position, (mine, theirs) in enumerate(zip(diff_ids, lower_ids)):
        if mine != theirs:
            raise BundleError(
                "%s is not built on %s: its layer %d is %s, where %s has %s"
                % (what, lower, position + 1, mine, lower, theirs)
            )
    if len(diff_ids) <= len(lower_ids):
        raise BundleError("%s has no layer of its own above %s (%d layers, against %d)" % (what, lower, len(diff_ids), len(lower_ids)))


def _check_unique_apps(apps, bottom_count, lower):
    """isula-build keeps each app layer in one app tarball: no name or layer may repeat."""
    owner = {}
    for position, app in enumerate(apps):
        if position and app.name == apps[position - 1].name:
            raise BundleError("app image %s is given twice" % app.name)
        for layer_id, dummy_json in app.legacy[bottom_count:]:
            if layer_id in owner:
                raise BundleError(
                    "app images %s and %s share a layer above %s: the bundle format keeps each app layer "
                    "in one app tarball, so build both on a common lib image instead" % (owner[layer_id], app.name, lower)
                )
            owner[layer_id] = app.name


def _rename_map(rename):
    """isula-build's rename list as {default name: new name}; the first entry for a name wins."""
    renames = {}
    for item in rename or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("rename"), str):
            raise BundleError('rename entry %r is not {"name": DEFAULT_NAME, "rename": NEW_NAME}' % (item,))
        new = item["rename"]
        if new in ("", ".", "..", INDEX_FILE_NAME) or "/" in new or "\0" in new:
            raise BundleError("rename of %s to %r is not a usable tarball file name" % (item["name"], new))
        renames.setdefault(item["name"], new)
    return renames


def _tarball_name(app_name, part, renames):
    """<name>_<tag>_<part>_image.tar.gz, name being the repository's last '/' component."""
    repository, tag = app_name.rsplit(":", 1)
    default = "%s_%s%s" % (repository.rsplit("/", 1)[-1], tag, _SUFFIXES[part])
    return renames.get(default, default)


def _check_distinct(names):
    """Two tarballs with one file name would overwrite each other (isula-build lets them)."""
    seen = {}
    for owner, file_name in sorted(names.items()):
        # App names always hold a ':' (a tag); "base" and "lib" never do.
        owner = "app image %s" % owner if ":" in owner else "the %s image" % owner
        if file_name in seen:
            raise BundleError(
                "the tarballs of %s and %s would both be named %s: give a rename for one of them"
                % (seen[file_name], owner, file_name)
            )
        seen[file_name] = owner


def _diff_ids(config_bytes, what):
    try:
        config = json.loads(config_bytes.decode("utf-8"))
        diff_ids = config["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BundleError("the config of %s is not an image config with rootfs.diff_ids" % what)
    if not isinstance(diff_ids, list) or not diff_ids:
        raise BundleError("the config of %s lists no layers in rootfs.diff_ids" % what)
    try:
        return [_sha256_digest(d) for d in diff_ids]
    except BundleError as exc:
        raise BundleError("the config of %s: %s" % (what, exc))


def _sha256_digest(value):
    if not isinstance(value, str) or not re.match(r"^(sha256:)?[0-9a-f]{64}$", value):
        raise BundleError("%r is not a sha256 digest" % (value,))
    return value if value.startswith("sha256:") else "sha256:" + value


def _check_destination(dest_dir):
    """Return the parent folder; refuse a destination that holds anything."""
    parent = os.path.dirname(dest_dir)
    if not os.path.isdir(parent):
        raise BundleError("cannot write bundle %s: folder %s does not exist" % (dest_dir, parent))
    if os.path.lexists(dest_dir) and not (os.path.isdir(dest_dir) and not os.path.islink(dest_dir) and not os.listdir(dest_dir)):
        raise BundleError("cannot write bundle %s: it already exists and is not an empty folder" % dest_dir)
    return parent


# --- writing ---------------------------------------------------------------------------------


def _write_files(folder, plan, level):
    """Write base, lib, then each app's tarball into FOLDER, then the index; return the index."""
    apps, names, lib, base = plan["apps"], plan["names"], plan["lib"], plan["base"]
    first, lib_end = apps[0], 1 + plan["lib_count"]
    hashes = {"base": _write_tarball(os.path.join(folder, names["base"]), _layer_members(first, 0, 1), level)}
    if lib is not None:
        hashes["lib"] = _write_tarball(os.path.join(folder, names["lib"]), _layer_members(first, 1, lib_end), level)
    index = {}
    for app in apps:
        members = _layer_members(app, lib_end, len(app.diff_ids)) + _app_metadata(app)
        app_hash = _write_tarball(os.path.join(folder, names[app.name]), members, level)
        index[app.name] = {
            "app": names[app.name],
            "appHash": app_hash,
            "appLayers": [legacy[0] for legacy in app.legacy[lib_end:]],
            "lib": names.get("lib", ""),
            "libHash": hashes.get("lib", ""),
            "libImageName": lib.name if lib is not None else "",
            "libLayers": [legacy[0] for legacy in app.legacy[1:lib_end]] if lib is not None else None,
            "base": names["base"],
            "baseHash": hashes["base"],
            "baseImageName": base.name,
            "baseLayer": app.legacy[0][0],
        }
    index = dict(sorted(index.items()))  # Go marshals a map with its keys sorted
    _write_private_file(os.path.join(folder, INDEX_FILE_NAME), go_json(index))
    return index


def _layer_members(app, start, end):
    """The members of APP's layers START..END-1, each as its legacy folder."""
    members = []
    for position in range(start, end):
        layer_id, layer_json = app.legacy[position]
        what = "layer %d of app image %s" % (position + 1, app.name)
        members.append(_Member(layer_id + "/", _DIR_MODE, None, None, None, what))
        members.append(_Member(layer_id + "/VERSION", _READ_ONLY_MODE, b"1.0", None, None, what))
        members.append(_Member(layer_id + "/json", _READ_ONLY_MODE, layer_json, None, None, what))
        layer = app.image.layers[position]
        members.append(_Member(layer_id + "/layer.tar", _READ_ONLY_MODE, None, layer, app.diff_ids[position], what))
    return members


def _app_metadata(app):
    """manifest.json, repositories and the config, as isula-build writes them into the app tarball."""
    repository, tag = app.name.rsplit(":", 1)
    manifest = [
        {
            "Config": app.config_hex + ".json",
            "RepoTags": [app.name],
            "Layers": [legacy[0] + "/layer.tar" for legacy in app.legacy],
        }
    ]
    what = "app image %s" % app.name
    return [
        _Member(app.config_hex + ".json", _READ_ONLY_MODE, app.image.config, None, None, what),
        _Member("manifest.json", _PRIVATE_MODE, go_json(manifest), None, None, what),
        _Member("repositories", _PRIVATE_MODE, go_json({repository: {tag: app.legacy[-1][0]}}), None, None, what),
    ]


def _write_tarball(path, members, level):
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
            yield _tar_header(member.name, member.mode, member.layer.size)
            yield from _checked_layer(member)
            yield _padding(member.layer.size)
        elif member.data is not None:
            yield _tar_header(member.name, member.mode, len(member.data))
            yield member.data + _padding(len(member.data))
        else:
            yield _tar_header(member.name, member.mode, 0, typeflag=b"5")
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


def _tar_header(name, mode, size, typeflag=b"0"):
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


def _write_private_file(path, data):
    """A file of mode 0600, as isula-build writes its index."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def fsync_folder(path):
    """Make the rename durable; a file system that cannot sync a folder is left as it is."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- Go's JSON ------------------------------------------------------------------------------

# A JSON string literal, or a run of whitespace outside one.
_STRING_OR_SPACE = re.compile(r'"(?:[^"\\]|\\.)*"|[ \t\n\r]+', re.S)
_GO_ESCAPES = (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def _go_escape(text):
    # These characters occur in valid JSON text only inside strings, where
    # Go's HTML-safe escaping replaces them.
    for char, escape in _GO_ESCAPES:
        text = text.replace(char, escape)
    return text


def _go_compact(raw):
    """A json.RawMessage as Go re-emits it: whitespace outside strings dropped, escaped, else verbatim."""
    return _go_escape(_STRING_OR_SPACE.sub(lambda m: m.group(0) if m.group(0)[0] == '"' else "", raw))


def _go_object(fields):
    """{key: raw JSON text} as Go marshals a map: keys sorted, compact."""
    return ("{" + ",".join("%s:%s" % (json.dumps(key), fields[key]) for key in sorted(fields)) + "}").encode("utf-8")


def _top_level_members(config_bytes):
    """{key: raw JSON text} of the config's top-level object, as Go unmarshals it into
    map[string]*json.RawMessage: values verbatim (then compacted), the last duplicate winning."""
    try:
        text = config_bytes.decode("utf-8")
        document = json.loads(text)
    except ValueError as exc:
        raise BundleError("image config is not valid JSON: %s" % exc) from exc
    if not isinstance(document, dict):
        raise BundleError("image config is not a JSON object")
    decoder, members = json.JSONDecoder(), {}
    position = _skip_space(text, _skip_space(text, 0) + 1)  # past "{"
    while text[position] != "}":
        key, position = decoder.raw_decode(text, position)
        start = _skip_space(text, _skip_space(text, position) + 1)  # past ":"
        position = decoder.raw_decode(text, start)[1]
        members[key] = _go_compact(text[start:position])
        position = _skip_space(text, position)
        if text[position] == ",":
            position = _skip_space(text, position + 1)
    return members


def _skip_space(text, position):
    while text[position] in " \t\n\r":
        position += 1
    return position
