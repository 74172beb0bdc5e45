# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""When a tarball's checksum is checked while it streams: at its end, early when it
inflates far beyond its size (decompression bombs), and first when it cannot be read.

A tarball's sha256 is known only once all its bytes are read, which for a
bomb (4 MiB that inflate to 4 GiB) means after all of it was written. Real
tarballs inflate a few times; one that has inflated more than RATIO times
its size (and at least MIN_BYTES) is hashed on its own there and then --
reading the compressed file once more costs a hundredth of what it has
inflated to -- so a bomb with a wrong checksum is refused before it fills
the disk. One with a right checksum meets the free-space limit instead.
"""

from __future__ import annotations

import os

from ansible_collections.fleetimage.separated.plugins.module_utils._archive.members import stream_tarball
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError

RATIO = 100
MIN_BYTES = 64 * 1024 * 1024


def stream_checked(tarball, on_member_with, verify):
    """Stream the members of TARBALL to ON_MEMBER_WITH(inflation) (see members.stream_tarball); return its sha256.

    TARBALL has a path and check_sum(actual=None) (_bundle/index.py's Tarball).
    With VERIFY its sha256 is checked with the hash of the same pass, early
    through the InflationCheck handed to ON_MEMBER_WITH, and first when the
    stream fails: a wrong file is the likelier cause than a broken one.
    """
    inflation = InflationCheck(tarball.path, tarball.check_sum if verify else None)
    try:
        digest = stream_tarball(tarball.path, on_member_with(inflation))
    except BundleError:
        if verify:
            tarball.check_sum()
        raise
    if verify:
        tarball.check_sum(digest)
    return digest


class InflationCheck(object):
    """Counts the bytes the tarball at PATH inflated to; past the limit, calls CHECK_SUM() once (None: no check)."""

    def __init__(self, path, check_sum):
        self._check_sum = check_sum
        self._limit = None
        self._inflated = 0
        if check_sum is not None:
            try:
                size = os.stat(path).st_size
            except OSError:
                size = 0  # the read that follows says why it cannot be read
            self._limit = max(MIN_BYTES, RATIO * size)

    def reader(self, layer):
        """LAYER (a file of a layer's bytes), counted as it is read."""
        return _CountingReader(layer, self) if self._limit is not None else layer

    def count(self, size):
        self._inflated += size
        if self._limit is not None and self._inflated > self._limit:
            self._limit = None  # once
            self._check_sum()


class _CountingReader(object):
    def __init__(self, layer, check):
        self._layer = layer
        self._check = check

    def read1(self, size=-1):
        data = getattr(self._layer, "read1", self._layer.read)(size)
        self._check.count(len(data))
        return data

    def read(self, size=-1):
        data = self._layer.read(size)
        self._check.count(len(data))
        return data
