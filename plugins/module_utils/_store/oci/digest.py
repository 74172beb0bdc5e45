# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Digests as they come from a bundle or a store: checked before they name a file.

A digest becomes a path (blobs/sha256/<hex>), so one that is not exactly
'sha256:' and 64 lower-case hex digits could name any file: it is refused
before anything is opened, stat'ed or read because of it.
"""

from __future__ import annotations

import re

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError

_SHA256_DIGEST = re.compile(r"\Asha256:[0-9a-f]{64}\Z")


def is_digest(value):
    """Whether VALUE is a sha256 digest this collection may turn into a path."""
    return isinstance(value, str) and _SHA256_DIGEST.match(value) is not None


def checked_digest(value, where):
    """VALUE when it is 'sha256:' + 64 lower-case hex; else an error saying WHERE it came from."""
    if not is_digest(value):
        raise BundleError("%s holds the digest %r, which is not 'sha256:' followed by 64 lower-case hex digits"
                          % (where, _shortened(value)))
    return value


def _shortened(value):
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 100 else text[:100] + "..."
