# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The names in a host's bundle cache folder, which the controller and the host both use.

The cache folder (separated_image_load's dir with src or url) holds the
tarballs under the index's names, the index `manifest`, its signature and
the trust files the controller sent. A file on its way in has a temporary
name, ".FILE.part-TOKEN", which no step ever reads as the file.
"""

from __future__ import annotations

import re

DEFAULT_CACHE_DIR = "/var/cache/fleetimage/bundles"
INDEX_FILE_NAME = "manifest"
SIGNATURE_FILE_NAME = "manifest.sig"
ALLOWED_SIGNERS_FILE = "allowed_signers"
REVOKED_KEYS_FILE = "revoked_keys"
# Names that are not tarballs: a tarball of the index may not take them.
RESERVED_FILE_NAMES = (INDEX_FILE_NAME, SIGNATURE_FILE_NAME, ALLOWED_SIGNERS_FILE, REVOKED_KEYS_FILE)
PART_PATTERN = re.compile(r"^\.(.+)\.part-[A-Za-z0-9_]+$")


def part_name(file_name, token):
    """The temporary name FILE_NAME travels under (TOKEN: letters, digits, _)."""
    return ".%s.part-%s" % (file_name, token)


def mirror_list(url):
    """A url option (a list, or a string of URLs separated by commas) as base URLs without trailing slashes."""
    urls = url.split(",") if isinstance(url, str) else list(url or [])
    return [u.strip().rstrip("/") for u in urls if u and u.strip()]
