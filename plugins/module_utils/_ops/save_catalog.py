# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The images a save may take, and how a name the user typed picks one.

Every source (docker-archive files, the OCI store, an engine's save stream)
is read into a list of Candidate (_archive/image_source.py); select_image() then finds a name the way
isula-build finds it in its own store: by tag first, then by image id, and
a name that turns out to be an image id is refused, as isula-build refuses it.
"""

from __future__ import annotations

import re

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import normalize_name, same_image_name

_HEX = re.compile(r"^[0-9a-f]+$")


def checked_name(name, part):
    """NAME normalized (':latest' added), or isula-build's 'invalid PART image name NAME'."""
    try:
        return normalize_name(name)
    except BundleError:
        raise BundleError("invalid %s image name %s: expected NAME[:TAG], lowercase, as `docker tag` takes it" % (part, name))


def select_image(candidates, name, part, where):
    """The Candidate that NAME (the PART image: app, base or lib) designates among CANDIDATES.

    Tags match when they are the same name, the name podman gives a short
    name ('app:1' is 'localhost/app:1') or the name docker gives it
    ('docker.io/library/app:1'). WHERE says in which source, for errors.
    """
    wanted = checked_name(name, part)
    found = _by_tag(candidates, wanted, name, where)
    hex_name = name[len("sha256:"):] if name.startswith("sha256:") else name
    is_hex = bool(_HEX.match(hex_name))
    if found is None and is_hex:
        found = _unique([c for c in candidates if c.image_id and c.image_id.startswith(hex_name)], name, where)
    if found is None:
        raise BundleError("failed to find %s image %s in %s (the names there: %s)"
                          % (part, name, where, ", ".join(_all_tags(candidates)) or "none"))
    if found.error:
        raise BundleError(found.error)
    if is_hex and found.image_id.startswith(hex_name):
        # isula-build's words: a bundle's index is keyed by names, never ids.
        raise BundleError('using image ID "%s" as image name to save separated image is not allowed: '
                          "give the %s image's name instead" % (name, part))
    return found


def _by_tag(candidates, wanted, typed, where):
    podman_name = "localhost/" + wanted
    for same in (
        lambda tag: tag == wanted,
        lambda tag: tag == podman_name,
        lambda tag: same_image_name(tag, wanted),
    ):
        matches = [c for c in candidates if any(same(tag) for tag in _normalized_tags(c))]
        if matches:
            return _unique(matches, typed, where)
    return None


def _unique(matches, typed, where):
    if not matches:
        return None
    if len(set(c.image_id or id(c) for c in matches)) > 1:
        raise BundleError("image name %s is ambiguous in %s: it matches the images tagged %s"
                          % (typed, where, "; ".join(", ".join(c.tags) or c.image_id for c in matches)))
    return matches[0]


def _normalized_tags(found):
    for tag in found.tags:
        try:
            yield normalize_name(tag)
        except BundleError:
            continue  # a tag another tool wrote that is no image name cannot be asked for


def _all_tags(candidates):
    return sorted(set(tag for c in candidates for tag in c.tags))
