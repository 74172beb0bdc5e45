# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How much of a bundle's metadata a load holds in memory, at most.

A load keeps every member's name (to refuse one that is in two tarballs) and
the small metadata files (manifest.json, configs) in memory; everything else
is streamed. These limits keep that under a few tens of MiB whatever a
tarball holds -- a million stray members, a config of a million diff ids, a
pax header of a gigabyte -- so that a load stays under 100 MiB of memory and
a hostile bundle gets a message instead of an exhausted host.

A real docker-archive slice holds 4 members per layer and a few files; an
image has at most 127 layers with overlayfs (docker's own limit) and configs
of a few KiB: the limits are far above any real bundle.
"""

from __future__ import annotations

MAX_LAYERS = 1000
# Per tarball: a folder, VERSION, json and layer.tar per layer, and the top files.
MAX_MEMBERS = 4 * MAX_LAYERS + 64
# One metadata file (manifest.json, a config, a layer's json); containers/image allows 4 MiB for a config.
METADATA_MEMBER_MAX_BYTES = 2 * 1024 * 1024
# All metadata files of one tarball together.
METADATA_TOTAL_MAX_BYTES = 8 * 1024 * 1024
# A pax header or a GNU long name, which tarfile reads whole into memory.
EXTENDED_HEADER_MAX_BYTES = 1024 * 1024
# Members of a docker-archive a save reads (docker save, podman save: several images, links): every
# member's header is held, some 500 bytes each.
ARCHIVE_MAX_MEMBERS = 65536
# JSON objects and arrays in one metadata file: each costs about 64 bytes once parsed.
MAX_JSON_CONTAINERS = 100000
