"""Copies of real bundles, altered the way a broken or hostile bundle would be.

Every helper works on a copy: the isula-build fixture itself stays read-only.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import os
import shutil
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# A real bundle written by isula-build, kept in the repository (its README says how).
ISULA_FIXTURE = REPO / "tests" / "fixtures" / "isula-build"
ISULA_BUNDLE = ISULA_FIXTURE / "withlib"

# The tarballs of isula-build's bundle: app2 shares app1's base and lib.
APP1 = "app1_1_app_image.tar.gz"
APP2 = "app2_1_app_image.tar.gz"
LIB = "app1_1_lib_image.tar.gz"
BASE = "app1_1_base_image.tar.gz"

# The images isula-build's bundle must load as (from the fixture's README).
IMAGE_IDS = {
    "app1:1": "7b2224009c4e4b0eacfc453c4a76b244bb5fe66ac82c9c83ff63a379dbecc764",
    "app2:1": "ca86927501db29d57c51e6239e367576aa9e141be6b17ebef7118760775ca8ad",
}


def copy_bundle(dest, src=ISULA_BUNDLE):
    """A writable copy of the bundle folder SRC at DEST; returns DEST as a Path."""
    dest = Path(dest)
    shutil.copytree(src, dest)
    for path in [dest, *dest.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


def read_index(bundle):
    return json.loads((Path(bundle) / "manifest").read_text())


def write_index(bundle, index):
    (Path(bundle) / "manifest").write_text(json.dumps(index, separators=(",", ":"), sort_keys=True))


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def members(path):
    """[(TarInfo, bytes or None)] of a (compressed) tarball, in order."""
    with tarfile.open(path, "r:*") as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else None) for m in tar.getmembers()]


def write_tarball(path, entries, compression="gzip"):
    """Write ENTRIES [(TarInfo, bytes or None)] as a tarball with COMPRESSION."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in entries:
            info = _copy_info(info)
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    compress = {
        "gzip": gzip.compress,
        "bzip2": bz2.compress,
        "xz": lzma.compress,
        "tar": lambda b: b,
        "zstd": _zstd_compress,
    }[compression]
    Path(path).write_bytes(compress(raw))


def rewrite_tarball(bundle, file_name, change=lambda entries: entries, compression="gzip", fix_hash=True):
    """Rewrite tarball FILE_NAME of BUNDLE through CHANGE; keep the index's hash right unless told not to."""
    path = Path(bundle) / file_name
    write_tarball(path, change(members(path)), compression)
    if fix_hash:
        set_hash(bundle, file_name, sha256(path))
    return path


def set_hash(bundle, file_name, value):
    """Set the hash of FILE_NAME in every index entry that names it."""
    index = read_index(bundle)
    for entry in index.values():
        for part in ("app", "lib", "base"):
            if entry.get(part) == file_name:
                entry[part + "Hash"] = value
    write_index(bundle, index)


def file_info(name, data=b"", kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, (data if kind == tarfile.REGTYPE else None)


def tree_snapshot(root):
    """{relative path: (mode, sha256 or None)} of every file and folder under ROOT."""
    root = Path(root)
    if not root.exists():
        return None
    snap = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            snap[rel] = (path.lstat().st_mode, None if path.is_dir() else sha256(path))
    return snap


def _copy_info(info):
    copy = tarfile.TarInfo(info.name)
    for attr in ("type", "linkname", "mode", "uid", "gid", "uname", "gname", "mtime", "size", "devmajor", "devminor"):
        setattr(copy, attr, getattr(info, attr))
    return copy


def _zstd_compress(data):
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def change_config(bundle, change):
    """Rewrite app1's config through CHANGE(config dict); rename it and manifest.json after its new digest."""
    config = json.loads(dict((i.name, d) for i, d in members(bundle / APP1))[IMAGE_IDS["app1:1"] + ".json"])
    change(config)
    return put_config(bundle, json.dumps(config).encode())


def put_config(bundle, data):
    """DATA as app1's config, named after its digest (manifest.json follows the new name); returns that name."""
    old_name = IMAGE_IDS["app1:1"] + ".json"
    new_name = hashlib.sha256(data).hexdigest() + ".json"

    def rewrite(entries):
        out = []
        for info, content in entries:
            if info.name == old_name:
                info.name, content = new_name, data
            elif info.name == "manifest.json":
                content = content.replace(old_name.encode(), new_name.encode())
            out.append((info, content))
        return out

    rewrite_tarball(bundle, APP1, rewrite)
    return new_name


def stray_folder_headers(count):
    """COUNT tar headers of layer folders (valid members, each a new name), as raw bytes.

    One header made by tarfile, then only its name and checksum changed: quick for 100,000s.
    """
    info = tarfile.TarInfo("0" * 64)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    template = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    template[148:156] = b" " * 8
    base = sum(template) - sum(b"0" * 64)
    headers = []
    for number in range(count):
        name = b"%064x" % number
        header = bytearray(template)
        header[0:64] = name
        header[148:156] = b"%06o\0 " % (base + sum(name))
        headers.append(bytes(header))
    return b"".join(headers)
