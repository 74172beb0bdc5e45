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
    image store already holds the bundle's image under its name, another image under that name (a tag reused by a
    rebuild), or nothing; see RV(apps.state).
  - Lists the distinct tarball files the apps need, and those needed by the apps the store does not hold yet - what a
    rollout copies to a host before loading.
  - With O(verify), reads each tarball once, as a load would, and checks its sha256 against the index, every member,
    and that each app's tarballs together hold its whole image, every layer matching the config's diff ids. Nothing
    is written anywhere.
  - With O(index) instead of O(dir), for a host that does not have the bundle yet, decides from what the store
    recorded when it loaded each image; see RV(apps.state).
  - Without O(dir) or O(index), reports only whether the store holds an image under each of O(names).
  - Changes nothing; check mode and normal mode behave the same.
author:
  - fleetimage maintainers (@fleetimage)
requirements:
  - Python 3.8 or later on the managed host (standard library only).
  - For O(engine=oci) (the default), nothing else; for the other engines, the engine's command line program
    (C(podman), C(docker), C(ctr) or C(isula)) and, for docker, containerd and iSulad, their daemon running.
  - Optional, on the managed host - the Python package C(zstandard) to verify zstd tarballs; C(isal) for faster gzip.
options:
  dir:
    description:
      - The bundle folder, holding the index C(manifest) and the tarballs it names.
      - Tarball names from the index resolve inside this folder only; C(..), absolute names and symbolic links that
        lead out of it fail the module.
      - When omitted, only presence in the store is reported, and O(names) or O(index) is required.
      - Mutually exclusive with O(index).
    type: path
  index:
    description:
      - The bundle's index, the content of its C(manifest) file as a mapping (as
        C(lookup('file', DIR ~ '/manifest') | from_json) reads it on the controller), for a host that does not
        have the bundle. Presence is then decided without any tarball, from the app tarball sha256 that
        M(fleetimage.separated.separated_image_load) records in an OCI store.
      - Mutually exclusive with O(dir).
    type: dict
    version_added: 0.2.0
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
extends_documentation_fragment:
  - fleetimage.separated.signature
  - fleetimage.separated.engine
  - fleetimage.separated.attributes
attributes:
  check_mode:
    support: full
    details: Reads only, and reports the same in check mode.
  diff_mode:
    support: N/A
    details: Changes nothing, so there is no difference to show.
  idempotent:
    support: full
    details: Reads only.
notes:
  - With O(dir), an app counts as present when the store holds the bundle's image under its name, decided as
    M(fleetimage.separated.separated_image_load) decides whether to load - from the store's record (O(engine=oci))
    without reading any tarball, or else by the image id read from the app tarball's C(manifest.json) and config.
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

- name: Ask a host that has no copy of the bundle, with the index read on the controller
  fleetimage.separated.separated_image_info:
    index: "{{ lookup('ansible.builtin.file', '/srv/bundle/manifest') | from_json }}"
  register: planned

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
    state:
      description:
        - V(bundle) when the store holds the bundle's image under the name; V(other) when it holds another image
          under the name (a tag reused by a rebuild; with O(index), an image recorded as loaded from another app
          tarball); V(absent) when it holds nothing under the name.
        - V(unknown) when it holds an image under the name and nothing at hand tells whether it is the bundle's,
          because no O(dir) or O(index) was given; or with O(index), because the image was loaded without a
          record (by version 0.1.0, by another tool, or into a container engine); or with O(dir), because the app
          tarball cannot be read.
      type: str
      sample: bundle
      version_added: 0.2.0
    present:
      description:
        - With O(dir) or O(index), whether RV(apps.state) is V(bundle).
        - Without either, whether the store holds an image under the name.
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
  description: The names not in RV(present), the apps a load would change (RV(stale) among them).
  returned: always
  type: list
  elements: str
  sample: [app2:1]
stale:
  description: The names under which the store holds another image than the bundle's (RV(apps.state=other)).
  returned: always
  type: list
  elements: str
  sample: [app2:1]
  version_added: 0.2.0
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
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.module_run import run
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.info import bundle_info
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.signature import signature_argument_spec
from ansible_collections.fleetimage.separated.plugins.module_utils._store.registry import store_argument_spec


ARGUMENT_SPEC = dict(
    dir=dict(type="path"),
    names=dict(type="list", elements="str"),
    index=dict(type="dict"),
    verify=dict(type="bool", default=False),
    **dict(signature_argument_spec(), **store_argument_spec())
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_one_of=[("dir", "names", "index")],
        mutually_exclusive=[("dir", "index")],
        required_by={"allowed_signers": "dir", "revoked_keys": "allowed_signers"},
        supports_check_mode=True,
    )
    run(module, bundle_info, warn=module.warn)


if __name__ == "__main__":
    main()
