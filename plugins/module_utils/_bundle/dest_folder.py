# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The folder a save writes its bundle to: what it holds now, and putting a new bundle there.

A save writes its bundle into a private folder beside DEST and only then
renames it into place, so DEST is at every moment either what it was or the
complete new bundle. "The same bundle" means the same bytes: the index's
hashes are what ties a bundle's files together for every consumer (a fleet
caches tarballs by them), so a bundle of the same images compressed otherwise
(another level, another gzip writer, isula-build) is another bundle.
"""

from __future__ import annotations

import collections
import os
import stat

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.plan import without_hashes
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import index as bundle_index
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.signature import SIGNATURE_FILE_NAME
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import fsync_folder
from ansible_collections.fleetimage.separated.plugins.module_utils._io.hashing import sha256_of_file
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason

# state: "absent" (missing, or an empty folder), "matching" (a consistent
# bundle whose index equals the planned one but for the hashes) or "other";
# reason: why it is "other"; index: DEST's index when it has a readable one.
Destination = collections.namedtuple("Destination", "state reason index")


def inspect_destination(dest, planned):
    """What DEST holds, compared with the PlannedBundle PLANNED; reads every tarball of a matching DEST once."""
    try:
        st = os.lstat(dest)
    except OSError:
        return Destination("absent", None, None)
    if stat.S_ISLNK(st.st_mode):
        return Destination("other", "it is a symbolic link", None)
    if not stat.S_ISDIR(st.st_mode):
        return Destination("other", "it is not a folder", None)
    # A signature is not part of what this save compares: the save settles it on its own (save_signature).
    present = sorted(name for name in os.listdir(dest) if name != SIGNATURE_FILE_NAME)
    if not present:
        return Destination("absent", None, None)
    index, reason = _read_index(dest)
    if index is None:
        return Destination("other", reason, None)
    if sorted(index) != sorted(planned.index):
        return Destination("other", "its index holds the apps %s, where this save writes %s"
                           % (", ".join(sorted(index)), ", ".join(sorted(planned.index))), index)
    mine, theirs = without_hashes(planned.index), without_hashes(index)
    for name in sorted(mine):
        if mine[name] != theirs[name]:
            fields = sorted(k for k in set(mine[name]) | set(theirs[name]) if mine[name].get(k) != theirs[name].get(k))
            return Destination("other", "the index entry of %s differs in %s" % (name, ", ".join(fields)), index)
    if present != planned.files:
        return Destination("other", "it holds the files %s, where this bundle has %s"
                           % (", ".join(present), ", ".join(planned.files)), index)
    for file_name, expected in sorted(tarball_hashes(index).items()):
        if sha256_of_file(os.path.join(dest, file_name)) != expected:
            return Destination("other", "its tarball %s does not match the sha256 its index gives" % file_name, index)
    return Destination("matching", None, index)


def refuse(dest, reason):
    """The error for a DEST that holds something else and may not be replaced."""
    return BundleError("dest %s already holds something other than this bundle: %s; set force: true to replace it"
                       % (dest, reason))


def put_in_place(new_dir, dest, scratch):
    """Rename the complete bundle NEW_DIR to DEST, replacing whatever DEST holds.

    What DEST held is moved into SCRATCH (the caller removes it), so that a
    failure between the two renames can put it back.
    """
    parent = os.path.dirname(dest)
    old = None
    try:
        if os.path.lexists(dest):
            old = os.path.join(scratch, "replaced")
            os.rename(dest, old)
        try:
            os.rename(new_dir, dest)
        except OSError:
            if old is not None:
                os.rename(old, dest)
            raise
    except OSError as exc:
        raise BundleError("putting the bundle in place at %s failed: %s" % (dest, os_reason(exc)))
    fsync_folder(parent)


def tarball_hashes(index):
    """{tarball file name: sha256} as INDEX gives them."""
    hashes = {}
    for entry in index.values():
        for part in ("app", "lib", "base"):
            if entry.get(part):
                hashes[entry[part]] = entry.get(part + "Hash", "")
    return hashes


def describe_files(folder, index):
    """[{name, size, sha256}] of the bundle in FOLDER, sorted; tarball hashes taken from INDEX."""
    hashes = tarball_hashes(index)
    files = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        digest = hashes.get(name) or sha256_of_file(path)
        files.append({"name": name, "size": os.path.getsize(path), "sha256": digest})
    return files


def _read_index(dest):
    """(index, None) of the bundle in DEST, or (None, why it holds none)."""
    try:
        index = bundle_index.read_index(dest)
    except BundleError as exc:
        return None, str(exc)
    if not all(isinstance(entry, dict) for entry in index.values()):
        return None, "its %s is not a bundle index" % bundle_index.INDEX_FILE_NAME
    return index, None
