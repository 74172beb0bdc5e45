#!/usr/bin/python
# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: separated_image_remove
short_description: Remove images by name from an image store
version_added: 0.2.0
description:
  - Removes the image names O(names) from the store that M(fleetimage.separated.separated_image_load) loads into.
  - For the OCI image layout folder (O(engine=oci)), the names leave the store's C(index.json) in one atomic replace,
    under the store's lock, and then every blob that no remaining image uses is deleted. A blob shared with an image
    that stays (a base or lib layer) stays.
  - For a container engine, the engine's own remove runs for each name, without force (C(podman rmi), C(docker rmi),
    C(ctr images rm), C(isula rmi)); an image that has other names keeps them. An image that a container uses is
    not removed, and the task fails naming the container.
  - Idempotent; a name the store does not hold is reported in RV(absent) and changes nothing.
author:
  - fleetimage maintainers (@fleetimage)
options:
  names:
    description:
      - The image names to remove, C(NAME[:TAG]); C(:latest) is appended when no tag follows the last C(/).
      - A name matches as the store spells it, so C(app1:1) removes podman's C(localhost/app1:1) and containerd's
        C(docker.io/library/app1:1).
    type: list
    elements: str
    required: true
extends_documentation_fragment:
  - fleetimage.separated.engine
  - fleetimage.separated.attributes
attributes:
  check_mode:
    support: full
    details: Reports what would be removed, blobs and bytes included, and changes nothing.
  diff_mode:
    support: full
    details:
      - Before and after, the image id under each name of the store (O(engine=oci)), or under each of O(names)
        (a container engine).
  idempotent:
    support: full
    details: A name already removed is reported in RV(absent) and changes nothing.
notes:
  - For O(engine=oci), a load running in the same store at the same time keeps every blob it counts on; the blobs
    removal is then left to the next M(fleetimage.separated.separated_image_prune), and RV(blobs_deferred) is true.
  - RV(blobs_removed) and RV(bytes_freed) are zero for container engines, which do not report them.
seealso:
  - module: fleetimage.separated.separated_image_load
  - module: fleetimage.separated.separated_image_prune
"""

EXAMPLES = r"""
- name: Remove app1:1 and app2:1 from the host's OCI store
  fleetimage.separated.separated_image_remove:
    names: [app1:1, app2:1]

- name: Remove an image from podman
  fleetimage.separated.separated_image_remove:
    names: [app1:1]
    engine: podman
"""

RETURN = r"""
removed:
  description: The names removed, as the store spelled them.
  returned: always
  type: list
  elements: str
  sample: [app1:1]
absent:
  description: The names asked for that the store did not hold.
  returned: always
  type: list
  elements: str
  sample: []
blobs_removed:
  description: Blob files deleted (O(engine=oci)); zero for the container engines.
  returned: always
  type: int
bytes_freed:
  description: Bytes of the blob files deleted (O(engine=oci)); zero for the container engines.
  returned: always
  type: int
blobs_deferred:
  description: Whether unused blobs were left in place because a load was running in the store.
  returned: always
  type: bool
diff:
  description: In diff mode, the names and image ids before and after the removal (see the diff_mode attribute).
  returned: when diff mode is on
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.module_run import run
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.remove import remove_images
from ansible_collections.fleetimage.separated.plugins.module_utils._store.registry import store_argument_spec


ARGUMENT_SPEC = dict(
    names=dict(type="list", elements="str", required=True),
    **store_argument_spec()
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run(module, remove_images, check_mode=module.check_mode, diff=module._diff)


if __name__ == "__main__":
    main()
