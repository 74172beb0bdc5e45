#!/usr/bin/python
# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: separated_image_prune
short_description: Keep the newest images of each repository, remove garbage, check every blob of an image store
version_added: 0.2.0
description:
  - Prunes the store that M(fleetimage.separated.separated_image_load) loads into.
  - With O(keep), each repository (an image name without its tag) keeps the O(keep) names loaded most recently;
    the others are removed, as M(fleetimage.separated.separated_image_remove) removes them. For O(engine=oci) the
    load time is the one the load recorded in the store's C(index.json); names loaded by another tool, or by
    version 0.1.0, count as older than any recorded one, in the order C(index.json) lists them.
  - For O(engine=oci), always removes the blobs that no image uses (left by removed images, or by a load killed
    before it finished) and the staging folders of loads that are no longer running. A load that is running is
    never disturbed.
  - For O(engine=oci) with O(verify), hashes every blob again and reports in RV(damaged) each one whose bytes do not
    match its digest, or that an image needs and the store lacks, with the images that use it. A damaged blob is
    never deleted; loading the image again with O(fleetimage.separated.separated_image_load#module:force=true)
    repairs it.
  - For a container engine only O(keep) applies, with O(repositories); the engine keeps its own storage tidy.
author:
  - fleetimage maintainers (@fleetimage)
options:
  keep:
    description:
      - How many names of each repository to keep, the most recently loaded ones. At least 1.
      - Not given, no image is removed.
      - For a container engine, which does not record when an image was loaded, the newest by the image's creation
        time (its config's C(created)) stay.
    type: int
  repositories:
    description:
      - The repositories O(keep) applies to, C(NAME) without a tag (C(app1), C(registry.example/team/app1)).
      - Defaults to every repository of the OCI store. Required with O(keep) for a container engine.
    type: list
    elements: str
  verify:
    description:
      - Hash every blob of the OCI store again and report the damaged ones in RV(damaged). Reads every byte of the
        store, once.
      - For O(engine=oci) only.
    type: bool
    default: false
extends_documentation_fragment:
  - fleetimage.separated.engine
  - fleetimage.separated.attributes
attributes:
  check_mode:
    support: full
    details: Reports the names, blobs, staging folders and bytes it would remove, and changes nothing.
  diff_mode:
    support: full
    details:
      - The store's names and the image id under each, before and after. For O(engine=oci) every name of the store;
        for a container engine the names of O(repositories).
  idempotent:
    support: full
    details: A second run with the same O(keep) finds nothing more to remove.
notes:
  - A damaged blob makes RV(damaged) non-empty but does not fail the task; use C(failed_when) to stop on it.
  - Blobs unused only because a load is running are left for the next prune (RV(blobs_deferred)).
seealso:
  - module: fleetimage.separated.separated_image_load
  - module: fleetimage.separated.separated_image_remove
"""

EXAMPLES = r"""
- name: Keep the two newest images of each repository in the host's OCI store
  fleetimage.separated.separated_image_prune:
    keep: 2

- name: Check every blob of the store, and fail when one is damaged
  fleetimage.separated.separated_image_prune:
    verify: true
  register: pruned
  failed_when: pruned.damaged | length > 0

- name: Keep the newest image of app1 in docker
  fleetimage.separated.separated_image_prune:
    engine: docker
    keep: 1
    repositories: [app1]
"""

RETURN = r"""
removed:
  description: The names removed (in check mode, that would be), as the store spelled them.
  returned: always
  type: list
  elements: str
  sample: [app1:1]
blobs_removed:
  description: Blob files deleted (O(engine=oci)).
  returned: always
  type: int
bytes_freed:
  description: Bytes of the blobs and staging folders deleted (O(engine=oci)).
  returned: always
  type: int
staging_removed:
  description:
    - The staging folders of loads no longer running, and the temporary index files of removals killed before they
      finished, that were deleted (O(engine=oci)).
  returned: always
  type: list
  elements: str
damaged:
  description: With O(verify), the blobs whose bytes do not match their digest, or that an image needs and lacks.
  returned: always
  type: list
  elements: dict
  contains:
    digest:
      description: The blob's digest.
      type: str
    error:
      description: V(missing), or what its sha256 is instead.
      type: str
    images:
      description: The names of the images that use it.
      type: list
      elements: str
blobs_deferred:
  description: Whether unused blobs were left in place because a load was running in the store.
  returned: always
  type: bool
diff:
  description: In diff mode, the names and image ids before and after the prune (see the diff_mode attribute).
  returned: when diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.module_run import run
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.prune import prune_store
from ansible_collections.fleetimage.separated.plugins.module_utils._store.registry import store_argument_spec


ARGUMENT_SPEC = dict(
    keep=dict(type="int"),
    repositories=dict(type="list", elements="str"),
    verify=dict(type="bool", default=False),
    **store_argument_spec()
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run(module, prune_store, check_mode=module.check_mode, diff=module._diff)


if __name__ == "__main__":
    main()
