# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tarball's checksum checked early when it inflates far beyond its size (decompression bombs).

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

RATIO = 100
MIN_BYTES = 64 * 1024 * 1024


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
