# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tarball of a load with the checks the bundle's index asks of its bytes, for a store that reads it once.

The store reads the tarball (its path) and hands what it saw back to these
checks: the sha256 of all its bytes when it has read them (isula-build's
checksum rule, index.check_sum), each layer's bytes as they inflate (a
decompression bomb is checked early, early_check.py), and a read that
failed (a wrong file is the likelier cause than a broken one: the checksum
is said first). So the store needs nothing of the bundle format.
"""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.early_check import InflationCheck
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.index import check_sum, tarball_sha256


class CheckedTarball(object):
    """TARBALL (an index.Tarball), checked against the index when VERIFY."""

    def __init__(self, tarball, verify):
        self.tarball = tarball
        self.part = tarball.part
        self.path = tarball.path
        self.verify = verify
        self._inflation = InflationCheck(tarball, verify)

    def layer_reader(self, layer):
        """LAYER (a file of one layer's bytes), counted as it inflates."""
        return self._inflation.reader(layer)

    def check_read(self, sha256):
        """The tarball was read whole, its bytes hashing to SHA256: refuse it when the index says otherwise."""
        if self.verify:
            check_sum(self.tarball, sha256)

    def check_unreadable(self):
        """Reading the tarball failed: when its checksum is wrong, say that instead."""
        if self.verify:
            check_sum(self.tarball, tarball_sha256(self.tarball))


def checked_tarballs(tarballs, verify):
    return [CheckedTarball(tarball, verify) for tarball in tarballs]
