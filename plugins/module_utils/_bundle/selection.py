# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which apps of a bundle index a rollout takes, checked before anything is sent.

The rollout role asks this on the controller (through the filter
fleetimage.separated.bundle_apps): the names are normalized and looked up
as the load module does it, each entry is checked as the load checks it,
and the tarball names must be files the hosts' cache folder can hold, each
with one sha256.
"""

from __future__ import annotations

import os

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle import index as _bundle_index
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import normalize_name


def wanted_apps(index_text, apps, bundle, verify=True, reserved=()):
    """The sorted, normalized names of APPS (a list, or names separated by commas; empty: every app of the index).

    INDEX_TEXT is the index as text; BUNDLE the folder or URL it was read
    from (for messages). VERIFY: every tarball must have its sha256 in the
    index. RESERVED: file names the cache folder keeps for other files.
    """
    data = index_text.encode("utf-8") if isinstance(index_text, str) else index_text
    index = _bundle_index.parse_index(bundle, data)
    names = apps.split(",") if isinstance(apps, str) else list(apps or [])
    names = sorted(set(normalize_name(str(n)) for n in names if str(n).strip())) or sorted(index)
    taken = set([_bundle_index.INDEX_FILE_NAME]) | set(reserved or ())
    sha256_of = {}
    for name in names:
        entry = _bundle_index.app_entry(index, name, bundle)
        tarballs = [_bundle_index.Tarball(part, entry[part], entry.get(part + "Hash", ""))
                    for part in ("app", "lib", "base") if entry.get(part)]
        for tarball in tarballs:
            _check_plain_name(name, tarball, taken)
            known = sha256_of.setdefault(tarball.path, tarball.expected_sha256)
            if known != tarball.expected_sha256:
                raise BundleError("the index %s gives the tarball %s two sha256: %s and %s"
                                  % (os.path.join(bundle, _bundle_index.INDEX_FILE_NAME), tarball.path,
                                     known or "(none)", tarball.expected_sha256 or "(none)"))
        if verify:
            _bundle_index.check_hashes_present(tarballs, name)
    return names


def _check_plain_name(name, tarball, taken):
    """A tarball name becomes a path in the cache folder: a plain file name, not one the cache keeps for itself."""
    file_name = tarball.path
    if file_name in (".", "..") or "/" in file_name or "\\" in file_name:
        raise BundleError("index entry of %s names %s tarball %r, which is not a plain file name"
                          % (name, tarball.part, file_name))
    if file_name in taken:
        raise BundleError("index entry of %s names %s tarball %r, a name the hosts' cache keeps for the %s"
                          % (name, tarball.part, file_name,
                             "index" if file_name == _bundle_index.INDEX_FILE_NAME else "signature files"))
