# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The id of the image an app tarball holds, read as cheaply as it can be.

Deciding whether a store already holds a bundle's image needs the image id:
the sha256 of the config that manifest.json names. Both are small members of
the app tarball, so the tarball is read only until both are known; the app's
own layers before them are skipped (still decompressed: a compressed stream
cannot be skipped), and nothing after them is read at all.

The tarball is read by the load's own reader (members.scan_tarball: bounded
headers, member count and metadata sizes) and manifest.json and the config
are judged by the load's own model (DockerArchive: the entry whose RepoTags
hold the name -- a lone image under other tags is refused, as a load refuses
it -- and a config that matches its name). The caller has checked the
tarball's sha256 against the index first (see _ops/presence.py).
"""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._archive.members import scan_tarball
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.model import DockerArchive
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError


def read_image_id(path, name):
    """The id (64 hex) of the image NAME in the app tarball PATH.

    Reads members until manifest.json and the config it names for NAME have
    both been seen, then stops.
    """
    archive = DockerArchive()
    wanted = []

    def on_member(member_name, kind, member_id, member, tar):
        if kind not in ("manifest", "config"):
            return False  # a layer: skipped unread
        archive.collect(path, member_name, kind, member_id, member, tar)
        if kind == "manifest":
            wanted.append(archive.entry_for(name)["Config"][:-len(".json")])
        return bool(wanted) and wanted[0] in archive.configs

    if not scan_tarball(path, on_member):
        if not wanted:
            raise BundleError("manifest.json is missing from the app tarball %s" % path)
        raise BundleError("the image config %s.json named by manifest.json is not in the app tarball %s"
                          % (wanted[0], path))
    archive.config_bytes(archive.entry_for(name))  # refuses a config that does not match its name
    return wanted[0]
