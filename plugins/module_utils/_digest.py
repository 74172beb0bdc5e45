# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sha256 digests as they come from a bundle, an archive or a store: checked before they name a file.

A digest becomes a path (blobs/sha256/<hex>, in an OCI layout and in the
docker-archives newer engines write), so one that is not exactly 'sha256:'
and 64 lower-case hex digits could name any file: it is refused before
anything is opened, stat'ed or read because of it. This is the one place
that spells the sha256 pattern and the blob path.
"""

from __future__ import annotations

import os
import re

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError

# 64 lower-case hex digits: a sha256 as isula-build, docker and OCI write it.
SHA256_HEX = "[0-9a-f]{64}"

_SHA256_HEX = re.compile(r"\A%s\Z" % SHA256_HEX)
_SHA256_DIGEST = re.compile(r"\Asha256:%s\Z" % SHA256_HEX)


def is_sha256_hex(value):
    """Whether VALUE is 64 lower-case hex digits (no 'sha256:' in front)."""
    return isinstance(value, str) and _SHA256_HEX.match(value) is not None


def is_digest(value):
    """Whether VALUE is a sha256 digest this collection may turn into a path."""
    return isinstance(value, str) and _SHA256_DIGEST.match(value) is not None


def checked_digest(value, where):
    """VALUE when it is 'sha256:' + 64 lower-case hex; else an error saying WHERE it came from."""
    if not is_digest(value):
        raise BundleError("%s holds the digest %r, which is not 'sha256:' followed by 64 lower-case hex digits"
                          % (where, _shortened(value)))
    return value


def blob_path(root, digest, where=None):
    """ROOT/blobs/sha256/<hex> of DIGEST, checked first (WHERE it came from; by default: asked of ROOT)."""
    checked_digest(digest, where or "a blob asked of the store %s" % root)
    return os.path.join(root, "blobs", "sha256", digest[len("sha256:"):])


def _shortened(value):
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 100 else text[:100] + "..."
