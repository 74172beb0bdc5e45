#!/usr/bin/python
# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: separated_image_info
short_description: Report what a separated image bundle holds and which of its images a host has
version_added: 0.1.0
description:
  - Reads the index of a I(separated image bundle) (the format of C(isula-build ctr-img save -d DIR)) and reports, for
    each app image, its tarballs - app, lib and base - with their paths, sizes and expected sha256, and whether the
    image store already holds the image.
  - Lists the distinct tarball files the apps need, and those needed by the apps the store does not hold yet - what a
    rollout copies to a host before loading.
  - With O(verify), reads each tarball once, as a load would, and checks its sha256 against the index, every member,
    and that each app's tarballs together hold its whole image, every layer matching the config's diff ids. Nothing
    is written anywhere.
  - Without O(dir), reports only whether the store holds the images O(names).
  - Changes nothing; check mode and normal mode behave the same.
author:
  - fleetimage maintainers (@fleetimage)
options:
  dir:
    description:
      - The bundle folder, holding the index C(manifest) and the tarballs it names.
      - Tarball names from the index resolve inside this folder only; C(..), absolute names and symbolic links that
        lead out of it fail the module.
      - When omitted, only presence in the store is reported, and O(names) is required.
    type: path
  names:
    description:
      - The app images to report on, C(NAME[:TAG]); C(:latest) is appended when no tag follows the last C(/).
      - Defaults to every app in the bundle's index. A name the index does not hold fails the module with
        C(failed to find app image NAME), as isula-build's load does.
    type: list
    elements: str
  verify:
    description:
      - Read every tarball the selected apps need, once each, and check it. See RV(apps.tarballs[].verified) and
        RV(apps.verified).
      - Costs one read and decompression of the tarballs; a tarball shared by several apps is read once.
    type: bool
    default: false
  allowed_signers:
    description:
      - Path on the managed host of an OpenSSH C(allowed_signers) file, as M(fleetimage.separated.separated_image_load)
        takes it. When set, the bundle's signature C(manifest.sig) is checked over the exact bytes of the index and
        the outcome reported in RV(signature) - a bad signature is reported there, with the reason, and does not
        fail the module.
      - Needs O(dir), and C(ssh-keygen) from OpenSSH 8.2 or later on the managed host.
    type: path
  revoked_keys:
    description:
      - Path on the managed host of revoked keys (an OpenSSH KRL or a file of public keys), as C(ssh-keygen -Y verify -r)
        reads them. Needs O(allowed_signers).
    type: path
extends_documentation_fragment:
  - fleetimage.separated.engine
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads only, and reports the same in check mode.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - An image counts as present when the store holds an image under its name, whatever its id, as
    M(fleetimage.separated.separated_image_load) decides whether to load. Compare RV(apps.image_id) with
    RV(apps.bundle_image_id) (known with O(verify)) to find a host holding another image under the name.
seealso:
  - module: fleetimage.separated.separated_image_load
  - module: fleetimage.separated.separated_image_save
"""

EXAMPLES = r"""
# (isula-build has no such command: it reads the index only while it loads)
- name: Ask a host which apps of a bundle it already has
  fleetimage.separated.separated_image_info:
    dir: /srv/bundle
  register: bundle

- name: Copy only the tarballs still needed on this host
  ansible.builtin.copy:
    src: "/srv/bundle/{{ item.file }}"
    dest: "/var/cache/fleetimage/{{ item.file }}"
  loop: "{{ bundle.files_needed }}"

# isula-build ctr-img load -d /srv/bundle -i app1:1, without the load: check what it would check
- name: Verify the tarballs of app1:1 against the index and the image config
  fleetimage.separated.separated_image_info:
    dir: /srv/bundle
    names: [app1:1]
    verify: true
  register: checked
  failed_when: not checked.apps['app1:1'].verified

- name: See whether a bundle's signature verifies, and why not
  fleetimage.separated.separated_image_info:
    dir: /srv/bundle
    allowed_signers: /etc/fleetimage/allowed_signers
  register: signed

- name: Show who signed it
  ansible.builtin.debug:
    msg: "{{ signed.signature.principal if signed.signature.verified else signed.signature.error }}"

- name: Ask the store only, without a bundle
  fleetimage.separated.separated_image_info:
    names: [app1:1, app2:1]
    store: /var/lib/fleetimage/oci
  register: presence

- name: Show what is missing
  ansible.builtin.debug:
    msg: "{{ presence.missing }}"
"""

RETURN = r"""
apps:
  description: One entry per app image, keyed by its normalized name.
  returned: always
  type: dict
  contains:
    present:
      description: Whether the store holds an image under the name.
      type: bool
    image_id:
      description: The id of the image the store holds under the name, or null.
      type: str
    bundle_image_id:
      description: The id of the bundle's image (the sha256 of its config), known only when O(verify) checked it; else null.
      type: str
    base_image:
      description: The index's C(baseImageName); null without O(dir).
      type: str
    lib_image:
      description: The index's C(libImageName), null when the bundle has no lib or without O(dir).
      type: str
    tarballs:
      description: The app's tarballs, app first, then lib (when there is one), then base; empty without O(dir).
      type: list
      elements: dict
      contains:
        part:
          description: V(app), V(lib) or V(base).
          type: str
        file:
          description: The file name the index gives.
          type: str
        path:
          description: The resolved path on the host, inside O(dir).
          type: str
        size:
          description: Its size in bytes, or null when it is missing.
          type: int
        sha256:
          description: The sha256 the index expects, or null when the index gives none.
          type: str
        exists:
          description: Whether it is a regular file.
          type: bool
        verified:
          description:
            - With O(verify), whether its sha256 is the index's and it reads through as a valid slice of a docker-archive;
              null without O(verify).
          type: bool
        error:
          description: Why it is missing, or why it failed verification; null when fine.
          type: str
    verified:
      description:
        - With O(verify), whether every tarball verified and together they hold the whole image, every layer matching the
          config's diff ids; null without O(verify).
      type: bool
    error:
      description: Why the image as a whole failed verification; null when fine or not verified.
      type: str
signature:
  description:
    - The bundle's signature C(manifest.sig); null without O(dir).
  returned: always
  type: dict
  contains:
    present:
      description: Whether the bundle has a C(manifest.sig).
      type: bool
    verified:
      description:
        - With O(allowed_signers), whether the signature verified for the index; null without O(allowed_signers).
      type: bool
    principal:
      description: The principal of O(allowed_signers) whose key made the signature; null unless verified.
      type: str
      sample: release@example.com
    key:
      description:
        - The fingerprint of the key the signature names, as C(ssh-keygen -l) prints it, also when it is not
          trusted (then it only says which key was used); null without a readable signature.
      type: str
      sample: SHA256:4EuL8NhSQQ6tc76cBhyfZA+oEEEV6ya1ohAIHJXr8dM
    error:
      description:
        - Why the signature did not verify - missing, malformed, for another namespace, by a key not allowed,
          expired or not yet valid, revoked, or an index changed since it was signed; null when it verified or
          was not checked.
      type: str
present:
  description: The names the store holds.
  returned: always
  type: list
  elements: str
  sample: [app1:1]
missing:
  description: The names the store does not hold.
  returned: always
  type: list
  elements: str
  sample: [app2:1]
files:
  description: The distinct tarball files the selected apps need, sorted by file name; empty without O(dir).
  returned: always
  type: list
  elements: dict
  contains:
    file:
      description: The file name the index gives.
      type: str
    path:
      description: The resolved path on the host.
      type: str
    sha256:
      description: The sha256 the index expects.
      type: str
    size:
      description: Its size in bytes, or null when it is missing.
      type: int
files_needed:
  description: The distinct tarball files needed by the apps in RV(missing), as RV(files) lists them.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.info import bundle_info
from ansible_collections.fleetimage.separated.plugins.module_utils._store.registry import store_argument_spec


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dir=dict(type="path"),
            names=dict(type="list", elements="str"),
            verify=dict(type="bool", default=False),
            allowed_signers=dict(type="path"),
            revoked_keys=dict(type="path"),
            **store_argument_spec()
        ),
        required_one_of=[("dir", "names")],
        required_by={"allowed_signers": "dir", "revoked_keys": "allowed_signers"},
        supports_check_mode=True,
    )
    try:
        result = bundle_info(module.params)
    except BundleError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
