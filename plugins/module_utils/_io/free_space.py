# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The free space a load must leave on the store's file system.

A load that fills a disk to its last block takes the host down with it (logs,
databases, the next package update), and a bomb -- a small tarball that
inflates a thousandfold -- would do it with a few megabytes. So the space the
store's file system has left is asked (statvfs, cheap) before each tarball is
read and every few megabytes while layers are written, and the load stops
before it would leave less than the minimum: a size ('512M', '2G') or a share
of the file system ('5%').
"""

from __future__ import annotations

import collections
import os
import re

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason

DEFAULT_MIN_FREE_SPACE = "5%"

# min_free_space as the user wrote it (TEXT, for messages) and as parsed
# (MINIMUM, see parse_min_free_space): parsed once, where the option arrives.
MinFreeSpace = collections.namedtuple("MinFreeSpace", "text minimum")
_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
_SIZE = re.compile(r"\A\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:I?B)?\s*\Z", re.IGNORECASE)
_PERCENT = re.compile(r"\A\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*\Z")


def parse_min_free_space(text):
    """('bytes', N) or ('percent', P) from '512M', '2G', '1048576', '5%'; an error for anything else."""
    text = str(text)
    match = _PERCENT.match(text)
    if match:
        percent = float(match.group(1))
        if percent >= 100:
            raise BundleError("min_free_space %r is not a share of the file system below 100%%" % text)
        return ("percent", percent)
    match = _SIZE.match(text)
    if not match:
        raise BundleError("min_free_space %r is neither a size (such as 512M or 2G) nor a percentage (such as 5%%)"
                          % text)
    return ("bytes", int(float(match.group(1)) * _UNITS[match.group(2).upper()]))


def checked_min_free_space(text=DEFAULT_MIN_FREE_SPACE):
    """The MinFreeSpace of TEXT; the error of parse_min_free_space() for a wrong one."""
    return MinFreeSpace(str(text), parse_min_free_space(text))


class FreeSpaceGuard(object):
    """Refuses a write that would leave less than MINIMUM (parsed) free on FOLDER's file system."""

    def __init__(self, folder, minimum, text):
        self.folder = folder
        self._minimum = minimum
        self._text = text

    def check(self, about_to_write=0):
        """Fail unless ABOUT_TO_WRITE more bytes still leave the minimum free (a minimum of 0: never)."""
        if self._minimum[1] == 0:
            return
        try:
            st = os.statvfs(self.folder)
        except OSError as exc:
            raise BundleError("cannot ask the free space of %s: %s" % (self.folder, os_reason(exc)))
        available = st.f_bavail * st.f_frsize
        kind, value = self._minimum
        required = value if kind == "bytes" else int(st.f_blocks * st.f_frsize * value / 100)
        if available - about_to_write < required:
            raise BundleError(
                "not enough free space for the load into %s: %s free on its file system, %s more to write,"
                " and min_free_space %s keeps %s free; free some space or lower min_free_space"
                % (self.folder, _human(available), _human(about_to_write), self._text, _human(required)))


def _human(size):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return ("%d %s" % (size, unit)) if unit == "B" else ("%.1f %s" % (size, unit))
        size /= 1024.0
    return "%d B" % size
