# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a save reads its images from: an image's config and its layers, opened when the writer reaches them,
and the images a source offers (Candidate), which _ops/save_catalog.py picks from."""

from __future__ import annotations

import collections
import hashlib

# One layer of an image: its size in bytes and a callable that opens its
# uncompressed tar stream (a binary file object, read once, then closed).
LayerSource = collections.namedtuple("LayerSource", "size open")

# One image: its name (a repo tag), its config file's bytes, its layers bottom
# to top. For the base and lib images only the name and config are read.
ImageSource = collections.namedtuple("ImageSource", "name config layers")

# One image of a source: the names it has there, the ImageSource to write it
# from and its id (sha256 of its config). An image the source names but
# cannot provide (a blob missing from the store) has image None and an error
# that is raised only when a save asks for it.
Candidate = collections.namedtuple("Candidate", "tags image image_id error")


def candidate(tags, image):
    """A readable Candidate: TAGS and the ImageSource IMAGE."""
    return Candidate(list(tags), image, hashlib.sha256(image.config).hexdigest(), None)


def broken_candidate(tags, error):
    """A Candidate the source names under TAGS but cannot provide, for the reason ERROR."""
    return Candidate(list(tags), None, None, error)


def merge_duplicates(candidates):
    """One Candidate per image id, with the tags of all its copies (the first copy is read)."""
    merged = collections.OrderedDict()
    tags_of = {}  # image id -> the set of its tags so far: one look-up a tag, however many copies share the id
    others = []
    for found in candidates:
        if found.image_id is None:
            others.append(found)
        elif found.image_id in merged:
            kept, seen = merged[found.image_id], tags_of[found.image_id]
            for tag in found.tags:
                if tag not in seen:
                    seen.add(tag)
                    kept.tags.append(tag)
        else:
            merged[found.image_id] = found
            tags_of[found.image_id] = set(found.tags)
    return list(merged.values()) + others
