# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a save reads its images from: an image's config and its layers, opened when the writer reaches them."""

from __future__ import annotations

import collections

# One layer of an image: its size in bytes and a callable that opens its
# uncompressed tar stream (a binary file object, read once, then closed).
LayerSource = collections.namedtuple("LayerSource", "size open")

# One image: its name (a repo tag), its config file's bytes, its layers bottom
# to top. For the base and lib images only the name and config are read.
ImageSource = collections.namedtuple("ImageSource", "name config layers")
