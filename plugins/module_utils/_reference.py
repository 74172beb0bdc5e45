# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Image names as isula-build keys them, and as engines spell them."""

from __future__ import annotations

import re

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError

# Docker's reference grammar, loosely: lowercase path components, optional
# registry host with port, a tag. Digests are not names an index can hold.
_NAME = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)


def normalize_name(name):
    """Return NAME:TAG, appending ':latest' when no tag follows the last '/'.

    This is isula-build's rule; no 'docker.io/' is added, because the bundle
    index is keyed by the name exactly as the user typed it.
    """
    name = (name or "").strip()
    if not name or not _NAME.match(name):
        raise BundleError("invalid image name %r: expected NAME[:TAG]" % (name,))
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


def docker_reference(name):
    """Return the fully qualified form docker and containerd report.

    'app:1' -> 'docker.io/library/app:1', 'team/app:1' -> 'docker.io/team/app:1';
    a first component with '.', ':' or 'localhost' is a registry and stays.
    """
    name = normalize_name(name)
    first, sep, rest = name.partition("/")
    if first in ("docker.io", "index.docker.io") and sep:
        return "docker.io/" + (rest if "/" in rest else "library/" + rest)
    if sep and ("." in first or ":" in first or first == "localhost"):
        return name
    return "docker.io/" + (name if sep else "library/" + name)


def same_image_name(a, b):
    """Whether two names refer to the same image the way docker resolves them."""
    return docker_reference(a) == docker_reference(b)


def repository_of(name):
    """The repository of an image name, fully qualified: app1:1 -> docker.io/library/app1."""
    return docker_reference(name).rsplit(":", 1)[0]  # docker_reference adds ':latest' to a name without a tag


def repository_or_none(name):
    """repository_of(NAME), or None for a name another tool wrote that is no image name (a digest reference)."""
    try:
        return repository_of(name)
    except BundleError:
        return None
