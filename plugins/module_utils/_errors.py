# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one error type of this collection: a message for a person."""

from __future__ import annotations


class BundleError(Exception):
    """Something about a bundle, a path or a store that a person must fix.

    Raised once where the problem is found; modules turn it into fail_json.
    """


def os_reason(exc):
    """Why the OSError EXC happened, for a message: its strerror ('No such file or directory'), else its text."""
    return exc.strerror or str(exc)
