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
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?\Z"  # \Z, not $: '$' also matches before a final newline
)


def normalize_name(name):
    """Return NAME:TAG, appending ':latest' when no tag follows the last '/'.

    Spaces and tabs around NAME are dropped (YAML makes them easily); any other
    white space -- a trailing newline, U+2028 -- makes it no name, never
    silently another one.

    This is isula-build's rule; no 'docker.io/' is added, because the bundle
    index is keyed by the name exactly as the user typed it.
    """
    name = (name or "").strip(" \t")
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
    """Whether two names refer to the same image the way docker resolves them (both must be names)."""
    return docker_reference(a) == docker_reference(b)


def name_key(name):
    """What NAME resolves to (docker_reference), or None when it is no image name (one another tool wrote).

    The one rule for "these two names are the same image": equal keys. Keys
    of many names go in a set, so that matching N names against M is N + M work.
    """
    try:
        return docker_reference(name)
    except BundleError:
        return None


def name_matcher(names):
    """A function telling whether a name (anything a file held) is one of NAMES, as docker resolves them.

    Constant time a call: the keys of NAMES are a set, and a name whose last
    component differs from theirs is told apart without being resolved.
    """
    keys = set(key for key in map(name_key, names) if key is not None)
    tails = set(_tail(key) for key in keys)

    def matches(name):
        return isinstance(name, str) and _tail(name) in tails and name_key(name) in keys

    return matches


def _tail(name):
    """The last path component of NAME with its tag (':latest' when it has none): equal for equal keys."""
    last = name.strip(" \t").rsplit("/", 1)[-1]
    return last if ":" in last else last + ":latest"


def same_image(a, b):
    """Whether A and B (either may be anything a file held) are names of the same image."""
    key = name_key(a)
    return key is not None and key == name_key(b)


def repository_of(name):
    """The repository of an image name, fully qualified: app1:1 -> docker.io/library/app1."""
    return docker_reference(name).rsplit(":", 1)[0]  # docker_reference adds ':latest' to a name without a tag


def repository_or_none(name):
    """repository_of(NAME), or None for a name another tool wrote that is no image name (a digest reference)."""
    try:
        return repository_of(name)
    except BundleError:
        return None
