#!/usr/bin/python
# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: separated_image_save
short_description: Save images as a separated image bundle, as isula-build's ctr-img save does
version_added: 0.1.0
description:
  - Writes a I(separated image bundle) into O(dest) from the images O(names), O(base) and O(lib) - one app
    tarball per app image, one base tarball and one optional lib tarball that the apps share, and the JSON
    index C(manifest). The equivalent of C(isula-build ctr-img save -b BASE [-l LIB] [-r RENAME] -d DEST APP...),
    for hosts where isula-build is not installed.
  - The bundle is what isula-build writes, so that C(isula-build ctr-img load) and
    M(fleetimage.separated.separated_image_load) accept it - the same file names, the same tar members in the
    same order with the same fixed times and owners, the same legacy layer ids, the same compact index with its
    keys sorted, mode 0600 for the index. Shared base and lib tarballs are named after the first app in sorted
    order. Only the gzip bytes differ from isula-build's, as zlib compresses differently from Go; the index
    holds the sha256 of the tarballs this module writes.
  - Refuses what isula-build refuses, in its words - a base image of more than one layer, an app not built on
    the base or the lib, a lib equal to the base, an image id given as a name, two apps that share a layer
    above base and lib, an invalid rename file.
  - Deterministic and idempotent. The same images give byte-identical tarballs and index (the gzip header has
    no file name and a fixed time). When O(dest) already holds exactly that bundle, byte for byte, nothing is
    changed. When it holds anything else, the module fails unless O(force) is true. A save that fails leaves
    O(dest) as it was, and never a partial bundle.
  - Each layer is read from its source once and compressed into its tarball as it is read, never extracted to
    a folder. Layers are checked against the image config's C(rootfs.diff_ids) on the way.
author:
  - fleetimage maintainers (@fleetimage)
requirements:
  - Python 3.8 or later on the managed host (standard library only).
  - For O(source=podman) or O(source=docker), the engine's command line program on the managed host (and, for
    docker, its daemon running); nothing else for the other sources.
  - Optional, on the managed host - the Python package C(isal) for faster gzip compression.
options:
  names:
    description:
      - The app images to save, C(NAME[:TAG]) (isula-build's C(APP...) arguments). One tarball is written for each.
      - C(:latest) is appended when no tag follows the last C(/). The bundle's index is keyed by the names
        as given here, with no C(docker.io/) or C(localhost/) added, as isula-build keys it.
      - A name given twice is saved once. An image id is refused, as isula-build refuses it.
    type: list
    elements: str
    required: true
  base:
    description:
      - The base image (isula-build's C(-b)), an image of exactly one layer that every app is built on.
      - Written into the index as given.
    type: str
    required: true
  lib:
    description:
      - The lib image (isula-build's C(-l)), built on O(base), that every app is built on. Its layers above the
        base go into one lib tarball that the apps share.
      - Omit it for a bundle without a lib; the index then has C(lib) empty.
    type: str
  dest:
    description:
      - The bundle folder to write (isula-build's C(-d)). Its parent folder must exist.
      - The bundle is written into a hidden temporary folder beside O(dest), on the same file system, then renamed
        to O(dest); that folder needs room for the whole bundle, and, with an engine O(source), for the images.
    type: path
    required: true
  rename:
    description:
      - New names for tarballs, as the entries of isula-build's rename file (C(-r)). An entry whose O(rename[].name)
        is a default tarball name (C(<name>_<tag>_app_image.tar.gz), C(..._base_image.tar.gz),
        C(..._lib_image.tar.gz), C(<name>) being the repository's last C(/) component) makes that tarball
        O(rename[].rename). The first entry for a name counts.
      - Mutually exclusive with O(rename_file).
    type: list
    elements: dict
    suboptions:
      name:
        description: The default tarball name to replace.
        type: str
        required: true
      rename:
        description: The file name to use instead, a name inside O(dest) (no C(/)).
        type: str
        required: true
  rename_file:
    description:
      - 'Path of an isula-build rename file on the managed host, a JSON array of
        C({"name": DEFAULT_NAME, "rename": NEW_NAME}) objects, used as O(rename) is.'
      - A file that is missing, not valid JSON or not such an array fails the module with
        C(check rename file failed), as isula-build does.
      - Mutually exclusive with O(rename).
    type: path
  source:
    description:
      - Where the images come from.
      - V(archive) - the docker-archive files O(archives), as C(docker save) or C(podman save) write them
        (podman's C(<diffid>.tar) files with C(<layer>/layer.tar) links included).
      - V(oci) - this collection's OCI image layout store O(store), as M(fleetimage.separated.separated_image_load)
        fills it; its layers are stored uncompressed. The base and lib images must be in it under their names too
        (loading a bundle stores only its app images).
      - V(podman), V(docker) - the engine's own storage, exported with C(podman save --format docker-archive -m)
        or C(docker save), read from the engine's stdout as it is written. The bundle needs the layers in an
        order the stream does not have, and C(manifest.json) comes at the stream's end; so the stream goes, as
        it arrives, into one temporary file beside O(dest), removed afterwards. In check mode the stream is read
        for its metadata only and nothing is written.
      - An image is found by its name as given, or as podman (C(localhost/NAME)) or docker
        (C(docker.io/library/NAME)) names it.
    type: str
    required: true
    choices: [archive, oci, podman, docker]
  archives:
    description:
      - The docker-archive files to take the images from, for O(source=archive). An image may be in any of them.
    type: list
    elements: path
  store:
    description:
      - The OCI image layout folder to take the images from, for O(source=oci).
    type: path
    default: /var/lib/fleetimage/oci
  executable:
    description:
      - The engine's command, for O(source=podman) and O(source=docker); a name looked up on C(PATH), or a path.
      - Defaults to C(podman) or C(docker). The engine uses its usual settings and storage (for podman,
        C(CONTAINERS_STORAGE_CONF) and C(CONTAINERS_CONF); for docker, C(DOCKER_HOST)).
    type: str
  compression_level:
    description:
      - The gzip compression level of the tarballs, V(0) (stored) to V(9). isula-build writes its default level.
      - With the Python package C(isal) on the managed host, levels 1 to 9 are mapped onto isal's levels 0 to 3, which
        is several times faster. Tarballs compressed by isal differ in their bytes from those compressed by zlib,
        so a bundle saved on a host without isal is another bundle to a host with it (see O(force)).
    type: int
    default: 6
    choices: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
  signing_key:
    description:
      - Sign the bundle - write C(manifest.sig) beside the index, exactly what C(ssh-keygen -Y sign -f KEY -n fleetimage-bundle manifest)
        writes, an OpenSSH signature over the index's bytes (which hold every tarball's sha256).
      - A path on the managed host of a private key without a passphrase, or of a public key whose private half
        C(ssh-agent) holds (set E(SSH_AUTH_SOCK) in the task's C(environment)).
      - The signature is written into the private folder with the index, so both are renamed into place together.
        When O(dest) already holds this bundle, byte for byte, and its C(manifest.sig) is a valid signature of its
        index by this key, nothing is rewritten (RV(signature.action=kept)); otherwise only C(manifest.sig) is
        written (RV(signature.action=signed)).
      - Without it, a save never leaves a C(manifest.sig) that does not verify for the index - a new bundle has none,
        and on an unchanged bundle an existing one is kept when it is a valid signature of the index (by any key, as
        C(ssh-keygen -Y check-novalidate) checks) and removed otherwise. RV(signature.action) says which.
      - Needs C(ssh-keygen) from OpenSSH 8.2 or later on the managed host.
        See R(docs/docsite/rst/signing.rst, ansible_collections.fleetimage.separated.docsite.signing).
    type: path
  force:
    description:
      - Replace O(dest) when it holds anything other than this bundle (another bundle, other files, a bundle of
        the same images compressed otherwise). The old content is removed only once the new bundle is complete.
    type: bool
    default: false
extends_documentation_fragment:
  - fleetimage.separated.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the images' metadata and runs every check; reports RV(action=would_write) or RV(action=would_replace)
        with the files and index that would be written (hashes and sizes null), or RV(action=unchanged). Writes nothing.
      - As the tarballs are not compressed in check mode, a O(dest) that holds a bundle of the same images
        compressed otherwise is reported unchanged; a real run finds the difference and fails, or replaces it
        with O(force).
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A O(dest) that already holds the same bundle, byte for byte, is left alone and reported unchanged.
notes:
  - Saving costs one read of each layer, one sha256 of it, one gzip compression and one write; compression
    dominates. Install C(isal) on the managed host for speed.
  - O(dest) and its temporary sibling are written with the module's umask; the index is mode 0600, as
    isula-build writes it, and the bundle folder mode 0700.
seealso:
  - module: fleetimage.separated.separated_image_load
  - module: fleetimage.separated.separated_image_info
  - name: isula-build ctr-img save
    description: The saver whose bundles this module reproduces.
    link: https://gitee.com/openeuler/isula-build
"""

EXAMPLES = r"""
# isula-build ctr-img save -b busybox:latest -l lib:1 -d /srv/bundle app1:1 app2:1
- name: Save two apps with a shared base and lib, from podman's storage
  fleetimage.separated.separated_image_save:
    names: [app1:1, app2:1]
    base: busybox:latest
    lib: lib:1
    dest: /srv/bundle
    source: podman

# isula-build ctr-img save -b busybox:latest -d /srv/bundle-nolib app1:1
- name: Save one app without a lib, from docker-archives written by 'docker save' or 'podman save'
  fleetimage.separated.separated_image_save:
    names: [app1:1]
    base: busybox:latest
    dest: /srv/bundle-nolib
    source: archive
    archives:
      - /srv/images/busybox.tar
      - /srv/images/app1.tar

# isula-build ctr-img save -b base:1 -l lib:1 -r rename.json -d /srv/bundle app1:1 app2:1
- name: Rename tarballs as isula-build's rename file does
  fleetimage.separated.separated_image_save:
    names: [app1:1, app2:1]
    base: base:1
    lib: lib:1
    dest: /srv/bundle
    source: docker
    rename:
      - name: app1_1_base_image.tar.gz
        rename: base.tar.gz
      - name: app1_1_lib_image.tar.gz
        rename: lib.tar.gz

# isula-build ctr-img save -b base:1 -l lib:1 -r /etc/fleet/rename.json -d /srv/bundle app1:1
- name: Use an isula-build rename file that is on the host
  fleetimage.separated.separated_image_save:
    names: [app1:1]
    base: base:1
    lib: lib:1
    dest: /srv/bundle
    source: podman
    rename_file: /etc/fleet/rename.json

# isula-build has no signatures: the bundle stays readable by it, manifest.sig is one more file
- name: Save and sign a bundle with a key held by ssh-agent
  fleetimage.separated.separated_image_save:
    names: [app1:1]
    base: base:1
    dest: /srv/bundle-signed
    source: podman
    signing_key: /etc/fleetimage/release_key.pub
  environment:
    SSH_AUTH_SOCK: "{{ lookup('ansible.builtin.env', 'SSH_AUTH_SOCK') }}"

# (no isula-build equivalent: isula-build reads only its own store)
- name: Save again the images a host loaded into this collection's OCI store
  fleetimage.separated.separated_image_save:
    names: [app1:1]
    base: base:1
    lib: lib:1
    dest: /srv/bundle-again
    source: oci
    store: /var/lib/fleetimage/oci
    force: true
  register: saved

- name: Show the tarballs and their sha256
  ansible.builtin.debug:
    msg: "{{ saved.files | map(attribute='name') | list }} ({{ saved.action }})"
"""

RETURN = r"""
action:
  description:
    - V(written) when O(dest) did not exist (or was an empty folder), V(replaced) when O(force) replaced what it held,
      V(unchanged) when it held exactly this bundle already.
    - In check mode V(would_write), V(would_replace) or V(unchanged).
  returned: always
  type: str
  sample: written
dest:
  description: The absolute path of the bundle folder.
  returned: always
  type: str
  sample: /srv/bundle
index:
  description:
    - The bundle's index, as written to C(DEST/manifest) - app name to entry with the fields C(app), C(appHash),
      C(appLayers), C(lib), C(libHash), C(libImageName), C(libLayers), C(base), C(baseHash), C(baseImageName),
      C(baseLayer).
    - In check mode, when a bundle would be written, the hashes are null.
  returned: always
  type: dict
  sample:
    "app1:1":
      app: app1_1_app_image.tar.gz
      appHash: 067326bce591857e75e16b1403e0ecfb581eaa460380dde82c2b0537b7983d69
      appLayers:
        - 9ab7c467b55a8260a092bdbca9d210807ab586a3e71a08797854f374ed381647
        - 9608db3ea3139f9c27758be1eea14882ff4afc9a471cac02e01f02a23140743c
      lib: app1_1_lib_image.tar.gz
      libHash: 9b9bc825d990e5cf50dc42f85f751a67fd302d89417f03d404d28dca3da0afbe
      libImageName: lib:1
      libLayers:
        - 11f0e22221ad124114f8a6280f7502bdafecd2674867723594cc0be55099bdb9
        - 80ef5c924a7747796b328d58eadc91e2e82e0eb9376df0d20c94fa6f53f2292e
      base: app1_1_base_image.tar.gz
      baseHash: 24eb71cd456e885e6e83815730120d7cd4021780c2ae8efdf1d92a344f29abc0
      baseImageName: base:1
      baseLayer: 6df832d1f8cd9e6c47bd03071d8f39e8912e7d1558b019a8f886d79c4f3057ca
signature:
  description: What the save did with C(manifest.sig).
  returned: always
  type: dict
  contains:
    action:
      description:
        - V(signed) when it wrote a signature by O(signing_key), V(kept) when O(dest) already had a valid one (by
          O(signing_key) when given), V(removed) when O(dest) had one that the save removed (a new bundle without
          O(signing_key), or one that did not verify for the index), V(none) when there is none and was none.
        - In check mode V(would_sign), V(would_remove), V(kept) or V(none).
        - A signature written or removed on an otherwise unchanged bundle makes C(changed) true with
          RV(action=unchanged).
      type: str
      sample: signed
    key:
      description: The fingerprint of the key of the signature O(dest) holds (or would hold), as C(ssh-keygen -l) prints it; null without one.
      type: str
      sample: SHA256:4EuL8NhSQQ6tc76cBhyfZA+oEEEV6ya1ohAIHJXr8dM
files:
  description: Every file of the bundle folder, the index C(manifest) included, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The file name inside O(dest).
      type: str
      sample: app1_1_app_image.tar.gz
    size:
      description: Its size in bytes; null in check mode for a file that would be written.
      type: int
    sha256:
      description: The sha256 of its bytes (for a tarball, the index's hash); null in check mode for a file that would be written.
      type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.module_run import run
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.save_sources import SOURCES
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.save import save_bundle
from ansible_collections.fleetimage.separated.plugins.module_utils._store.registry import DEFAULT_OCI_STORE


ARGUMENT_SPEC = dict(
    names=dict(type="list", elements="str", required=True),
    base=dict(type="str", required=True),
    lib=dict(type="str"),
    dest=dict(type="path", required=True),
    rename=dict(
        type="list",
        elements="dict",
        options=dict(name=dict(type="str", required=True), rename=dict(type="str", required=True)),
    ),
    rename_file=dict(type="path"),
    source=dict(type="str", required=True, choices=list(SOURCES)),
    archives=dict(type="list", elements="path"),
    store=dict(type="path", default=DEFAULT_OCI_STORE),
    executable=dict(type="str"),
    compression_level=dict(type="int", default=6, choices=list(range(10))),
    force=dict(type="bool", default=False),
    signing_key=dict(type="path"),
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[("rename", "rename_file")],
        required_if=[("source", "archive", ("archives",))],
        supports_check_mode=True,
    )
    run(module, save_bundle, check_mode=module.check_mode)


if __name__ == "__main__":
    main()
