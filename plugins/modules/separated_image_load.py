#!/usr/bin/python
# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: separated_image_load
short_description: Load an image from a separated image bundle into an image store
version_added: 0.1.0
description:
  - Loads one application image from a I(separated image bundle), the format that
    C(isula-build ctr-img save -b BASE -l LIB -d DIR APP) writes; a base tarball and an
    optional lib tarball shared by many apps, one app tarball per image, and a JSON
    index named C(manifest).
  - The equivalent of C(isula-build ctr-img load -d DIR [-b BASE] [-l LIB] -i NAME [--no-check]),
    without unpacking the bundle to disk or compressing it again. Each tarball is read once; its
    sha256 is checked against the index while it is decompressed, every layer is checked against
    the image config's C(rootfs.diff_ids), and nothing becomes visible in the store until every
    check has passed.
  - Idempotent and keyed on content. The module reports RV(action=present) only when the store holds
    O(name) as the very image this bundle would load. When O(name) holds another image (a tag reused
    by a rebuild, such as C(app:latest)), the load runs, the name moves to the bundle's image, and
    RV(previous_id) says which image the name held before; that image stays in the store under its
    other names, if any (M(fleetimage.separated.separated_image_prune) removes what no name holds).
  - What a no-op costs. For O(engine=oci), each load records in the store's C(index.json) the sha256
    of the app tarball and the image id; when the index's C(appHash) equals the record, the module
    decides from C(index.json) alone and reads no tarball, at any image size. An image without that
    record (loaded by version 0.1.0 or another tool), and every image in a container engine, is
    compared by image id. The app tarball's sha256 is checked against the index's C(appHash) first
    (an app tarball that is not the one the index names is never RV(action=present), so an old app
    tarball copied into a new, signed bundle cannot hold a host at the old image), then the id is
    read from its C(manifest.json) and config; the app tarball is decompressed up to those two
    members (not the lib and base tarballs), then closed, and the engine is asked for the id under
    the name.
  - The default store is an OCI image layout folder (O(engine=oci)), written by this module
    alone, with no container engine needed. Layers are stored uncompressed, so a layer's digest
    is its diff id, and a layer already in the store is never written again, which is how a
    second app that shares base and lib costs only its own layers.
  - With O(engine) V(podman), V(docker), V(containerd) or V(isula) the image is loaded into that
    container engine through its command line. The tarballs' checksums are verified before the
    engine sees a byte; then the app, lib and base tarballs are streamed to the engine's load as
    one uncompressed docker-archive (on its stdin; for iSulad, whose load only takes a file, through
    a temporary file that is always removed). Nothing is unpacked to a folder. After the load the
    module confirms that the engine holds O(name) as the bundle's image id, and tags it when the
    engine's load named it otherwise.
author:
  - fleetimage maintainers (@fleetimage)
requirements:
  - Python 3.8 or later on the managed host (standard library only).
  - For O(engine=oci) (the default), nothing else.
  - For the other engines, the engine's command line program on the managed host - C(podman), C(docker),
    C(ctr) (containerd) or C(isula) - and, for docker, containerd and iSulad, their daemon running.
  - Optional, on the managed host - the Python package C(zstandard) to read zstd tarballs; the Python
    package C(isal) for faster gzip.
options:
  name:
    description:
      - The app image to load, as the bundle index names it, C(NAME[:TAG]).
      - C(:latest) is appended when no tag follows the last C(/), as isula-build does.
        No C(docker.io/) prefix is added when looking the name up in the index.
      - One of O(name) and O(names) is required.
    type: str
  names:
    description:
      - Several app images to load in one task, as O(name) spells each.
      - With O(src) or O(url), their base and lib tarballs are sent or fetched once and all of them are
        loaded in one module run; the result has RV(apps) per name.
    type: list
    elements: str
    version_added: 0.3.0
  dir:
    description:
      - The bundle folder on the managed host, holding the index C(manifest) and the tarballs it names
        (isula-build's C(-d)).
      - Tarball names from the index always resolve inside this folder; C(..), absolute names and
        symbolic links that lead out of it are refused.
      - Required without O(src) and O(url). With either, it is the host's cache folder that receives
        the tarballs, the index and its signature, and defaults to C(/var/cache/fleetimage/bundles).
    type: path
  src:
    description:
      - A bundle folder on the B(controller). Its index is read and checked there (a missing folder,
        an invalid index or a name not in it fails the task before any host is contacted).
      - One module run asks the host which of the names its store holds and which needed tarballs its
        cache folder O(dir) holds intact (sha256 against the index); only the missing or damaged ones are
        sent, with the connection's own file transfer (sftp or scp for ssh), under temporary names
        that the host hashes before renaming them; then one module run writes the index and loads.
        A host that already holds every name costs one module run and no transfer.
      - Handled by the action plugin of this module; not usable with C(ansible.builtin.raw)-only hosts.
    type: path
    version_added: 0.3.0
  url:
    description:
      - Base URLs of mirrors that serve the bundle's tarballs as C(URL/FILE); a string or a list, asked in order.
      - The host fetches the tarballs its cache folder O(dir) lacks itself, checking each one's sha256 while it
        streams into the cache, and then loads, all in one module run. A mirror that refuses the connection,
        times out, answers an HTTP error or serves bytes that fail the sha256 is skipped for that file and listed
        in RV(mirrors_skipped); when none has a good copy the task fails naming the file and the mirrors tried.
      - The index comes from O(src) on the controller when given, else the controller reads C(URL/manifest)
        (and C(URL/manifest.sig) with O(allowed_signers)) from the first mirror that answers, and checks it there.
    type: list
    elements: str
    version_added: 0.3.0
  _plugin:
    description:
      - Set by the action plugin of this module with O(src) or O(url) - the step (ask or load), the index and
        signature text, the trust files and the names the files were sent under. Not for direct use.
    type: dict
  stage_only:
    description:
      - With O(src) or O(url), fill the cache folder O(dir) with the tarballs of every name (only those it lacks or
        holds damaged, checked by sha256), then the signature and the index last, and load nothing - whatever the
        host's store holds. A folder filled this way can be served as a mirror for O(url) - the index never
        appears before all its tarballs do.
    type: bool
    default: false
    version_added: 0.3.0
  url_username:
    description: User name for basic authentication to the mirrors of O(url).
    type: str
    version_added: 0.3.0
  url_password:
    description: Password for basic authentication to the mirrors of O(url).
    type: str
    version_added: 0.3.0
  headers:
    description: HTTP headers sent with every request to the mirrors of O(url).
    type: dict
    version_added: 0.3.0
  use_proxy:
    description: Use the proxy the environment names for O(url).
    type: bool
    default: true
    version_added: 0.3.0
  client_cert:
    description: A PEM client certificate (with its key, or see O(client_key)) for the mirrors of O(url); a path on the host.
    type: path
    version_added: 0.3.0
  client_key:
    description: The PEM key of O(client_cert); a path on the host.
    type: path
    version_added: 0.3.0
  ca_path:
    description: A PEM file of CA certificates to trust for the mirrors of O(url); a path on the host.
    type: path
    version_added: 0.3.0
  validate_certs:
    description: Check the TLS certificates of the mirrors of O(url).
    type: bool
    default: true
    version_added: 0.3.0
  timeout:
    description: Seconds to wait for a mirror of O(url) to connect or send more bytes.
    type: int
    default: 60
    version_added: 0.3.0
  base:
    description:
      - Path of the base tarball to use instead of the one the index names (isula-build's C(-b)).
      - May lie outside O(dir), for a base kept once per host. Its sha256 must still equal the index's
        C(baseHash) unless O(skip_check) is true.
    type: path
  lib:
    description:
      - Path of the lib tarball to use instead of the one the index names (isula-build's C(-l)).
      - May lie outside O(dir). Its sha256 must equal the index's C(libHash) unless O(skip_check) is true.
    type: path
  skip_check:
    description:
      - Do not compare the tarballs' sha256 with the index (isula-build's C(--no-check)).
      - Layers are still checked against the image config's diff ids, and the config against its own digest.
      - Whether the store already holds the bundle's image is then decided by the image id the app tarball's own
        C(manifest.json) and config give, without comparing the app tarball with the index's C(appHash).
    type: bool
    default: false
  min_free_space:
    description:
      - The free space the load must leave on the file system of O(store), for O(engine=oci).
      - A size with an optional binary unit, V(512M), V(2G), V(1048576), or a share of the file
        system, V(5%). V(0) turns the limit off.
      - Asked before each tarball is read (its compressed size counted as what it will at least
        write) and every 8 MiB while layers are written; a load that would go below it fails, and
        everything it wrote is removed. A tarball that inflates more than 100 times its size
        (and beyond 64 MiB) has its sha256 checked there and then, so a decompression bomb with
        a wrong checksum is refused early; one with a right checksum meets this limit.
    type: str
    default: 5%
  force:
    description:
      - Verify and import the bundle even when the store already holds O(name) as the bundle's image.
      - For O(engine=oci), every blob the store already has and the load would reuse is hashed
        first, and written again from the bundle when it does not match its digest.
      - C(changed) is still false when the store ends up as it was.
    type: bool
    default: false
extends_documentation_fragment:
  - fleetimage.separated.signature
  - fleetimage.separated.engine
  - fleetimage.separated.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the index, decides presence as a real run does, and checks that the tarballs exist; reports
        RV(action=would_load) (also for a name that holds another image) or RV(action=present); writes nothing.
  diff_mode:
    support: full
    details:
      - The store's names and the image id under each, before and after. For O(engine=oci) every name of the
        store; for a container engine O(name). In check mode the bundle's image id is not known yet and shows as
        C((the bundle's image)).
  idempotent:
    support: full
    details: Keyed on the bundle's image being under O(name); a second run reports RV(action=present).
notes:
  - Tarballs may be gzip, bzip2, xz or zstd compressed, or plain tar; the compression is detected
    from the bytes. zstd needs the Python package C(zstandard) on the managed host; gzip is faster
    when the package C(isal) is installed there.
  - Writes are durable when the module reports RV(action=loaded) -- blobs and the index are flushed
    to disk -- and atomic; a load that fails or is killed leaves the store as it was, and the next
    load removes anything a killed one left behind.
  - Two loads into one store at the same time both succeed; the index is replaced under a lock.
  - Podman's copy of its input and the file iSulad loads from go to a private folder under E(TMPDIR)
    (or C(/var/tmp)), C(fleetimage-engine-tmp-*), which the module removes, and which the next load
    removes when a killed module left it.
  - Limits that keep memory under 100 MiB whatever a tarball holds, the trust placed in the store
    and the threat model are in R(docs/docsite/rst/security.rst, ansible_collections.fleetimage.separated.docsite.security).
  - A load the engine refuses fails the task with the engine's command and its own error output.
  - With O(allowed_signers), the signature is checked before anything else, even when the store already holds
    O(name), and before any tarball is read or the store is opened. A missing, malformed, untrusted, expired, revoked
    or wrong-namespace signature, or an index changed since it was signed, fails the module with a message
    saying which. See R(docs/docsite/rst/signing.rst, ansible_collections.fleetimage.separated.docsite.signing).
  - O(allowed_signers) cannot be combined with O(skip_check) - the signature covers the tarballs only
    through the checksums that O(skip_check) skips.
  - For container engines RV(layers_written) and RV(layers_reused) are null (the engines do not say
    which layers they stored and which they already had) and RV(bytes_written) counts the bytes of
    the archive handed to the engine. See R(docs/docsite/rst/engines.rst, ansible_collections.fleetimage.separated.docsite.engines).
seealso:
  - name: isula-build ctr-img load
    description: The loader whose bundles this module reads.
    link: https://gitee.com/openeuler/isula-build
"""

EXAMPLES = r"""
- name: Load app1 from a bundle, like 'isula-build ctr-img load -d /srv/bundles -i app1:1'
  fleetimage.separated.separated_image_load:
    name: app1:1
    dir: /srv/bundles

- name: Use a base and lib kept once per host, like '-b ... -l ...'
  fleetimage.separated.separated_image_load:
    name: app2:1
    dir: /srv/bundles/app2
    base: /var/cache/fleetimage/app1_1_base_image.tar.gz
    lib: /var/cache/fleetimage/app1_1_lib_image.tar.gz
    store: /var/lib/fleetimage/oci

- name: Load without comparing tarball checksums, like '--no-check'
  fleetimage.separated.separated_image_load:
    name: app1:1
    dir: /srv/bundles
    skip_check: true
  register: loaded

- name: Load only a bundle signed by a trusted key
  fleetimage.separated.separated_image_load:
    name: app1:1
    dir: /srv/bundles
    allowed_signers: /etc/fleetimage/allowed_signers
    revoked_keys: /etc/fleetimage/revoked_keys

- name: Load into the containerd of a Kubernetes node, where pods find it
  fleetimage.separated.separated_image_load:
    name: app1:1
    dir: /srv/bundles
    engine: containerd
    namespace: k8s.io

- name: Load into a docker daemon other than the default one
  fleetimage.separated.separated_image_load:
    name: app1:1
    dir: /srv/bundles
    engine: docker
  environment:
    DOCKER_HOST: unix:///run/user/1000/docker.sock

- name: Load into podman with a storage of its own
  fleetimage.separated.separated_image_load:
    name: app1:1
    dir: /srv/bundles
    engine: podman
  environment:
    CONTAINERS_STORAGE_CONF: /etc/fleetimage/storage.conf

- name: Show the image id that was loaded or found
  ansible.builtin.debug:
    msg: "{{ loaded.image.name }} is {{ loaded.image.id }} ({{ loaded.action }})"
"""

RETURN = r"""
action:
  description:
    - V(loaded) when the bundle was read and imported, V(present) when the store already held
      O(name) as the bundle's image, V(would_load) in check mode when a load would happen.
  returned: always
  type: str
  sample: loaded
previous_id:
  description:
    - The id of the image the store held under O(name) before this run, or null when it held none.
    - Differs from RV(image.id) when the load moved the name from another image to the bundle's.
  returned: always
  type: str
  sample: ca86927501db29d57c51e6239e367576aa9e141be6b17ebef7118760775ca8ad
  version_added: 0.2.0
diff:
  description: In diff mode, the names and image ids before and after the load (see the diff_mode attribute).
  returned: when diff mode is on
  type: dict
  version_added: 0.2.0
image:
  description: The image, as loaded or as found in the store.
  returned: always
  type: dict
  contains:
    name:
      description: The normalized name that was asked for.
      type: str
      sample: app1:1
    id:
      description: The image id, the sha256 of its config (not returned for V(would_load)).
      type: str
      sample: 7b2224009c4e4b0eacfc453c4a76b244bb5fe66ac82c9c83ff63a379dbecc764
    repo_tags:
      description:
        - All names the store gives the image, as the store spells them (podman C(localhost/app1:1),
          docker C(app1:1), containerd C(docker.io/library/app1:1)).
      type: list
      elements: str
      sample: [app1:1]
    layers:
      description: The diff ids of the image's layers, bottom first.
      type: list
      elements: str
    size:
      description:
        - Bytes of the uncompressed layers and the config; for container engines, the size the
          engine reports.
      type: int
tarballs:
  description: The resolved tarball paths; C(lib) is null when the image has no lib.
  returned: always
  type: dict
  contains:
    app:
      description: Path of the app tarball.
      type: str
    lib:
      description: Path of the lib tarball, or null.
      type: str
    base:
      description: Path of the base tarball.
      type: str
checksums_verified:
  description: Whether the tarballs' sha256 were compared with the index in this run.
  returned: always
  type: bool
layers_written:
  description:
    - Layer blobs this run wrote into the store.
    - Null when a container engine loaded the image (the engines do not report it).
  returned: always
  type: int
layers_reused:
  description:
    - Layers of the image that the store already held and that were not written again.
    - Null when a container engine loaded the image (the engines do not report it).
  returned: always
  type: int
signature:
  description:
    - The bundle's signature, as checked with O(allowed_signers).
  returned: always
  type: dict
  contains:
    verified:
      description:
        - V(true) when C(manifest.sig) verified for the index; V(false) when O(allowed_signers) is not set
          (a signature that does not verify fails the module).
      type: bool
    principal:
      description: The principal of O(allowed_signers) whose key made the signature; null when not verified.
      type: str
      sample: release@example.com
    key:
      description: The fingerprint of the signing key, as C(ssh-keygen -l) prints it; null when not verified.
      type: str
      sample: SHA256:4EuL8NhSQQ6tc76cBhyfZA+oEEEV6ya1ohAIHJXr8dM
apps:
  description:
    - With O(names), O(src) or O(url), per name - C(action) (V(loaded), V(present) or V(would_load))
      and the image id; with a load, the load's own result (RV(image), RV(previous_id), RV(layers_written), ...).
  returned: with O(names), O(src) or O(url)
  type: dict
  version_added: 0.3.0
present:
  description: With O(src) or O(url), the names the store already held as the bundle's image.
  returned: with O(src) or O(url)
  type: list
  elements: str
  version_added: 0.3.0
missing:
  description: With O(src) or O(url), the names the store did not hold as the bundle's image before this run.
  returned: with O(src) or O(url)
  type: list
  elements: str
  version_added: 0.3.0
loaded:
  description: With O(src) or O(url), the names this run loaded.
  returned: with O(src) or O(url)
  type: list
  elements: str
  version_added: 0.3.0
stale:
  description: With O(src) or O(url), the names that held another image than the bundle's before this run.
  returned: with O(src) or O(url)
  type: list
  elements: str
  version_added: 0.3.0
sent:
  description:
    - With O(src), the tarballs sent from the controller (in check mode, that would be sent) and their total bytes.
  returned: with O(src)
  type: dict
  sample: {files: [app1_1_base_image.tar.gz], bytes: 4400123}
  version_added: 0.3.0
reused:
  description: With O(src) or O(url), the needed tarballs the host's cache folder already held intact.
  returned: with O(src) or O(url)
  type: list
  elements: str
  version_added: 0.3.0
fetched:
  description: With O(url), each tarball the host fetched - C(file), the C(url) that served it, its C(bytes).
  returned: with O(url)
  type: list
  elements: dict
  version_added: 0.3.0
mirrors_skipped:
  description:
    - With O(url), each mirror skipped for a file - C(file), C(url) and C(error) (refused, timed out, HTTP error,
      or bytes whose sha256 was not the index's).
  returned: with O(url)
  type: list
  elements: dict
  version_added: 0.3.0
bytes_written:
  description:
    - Bytes of blobs (layers, config, manifest) this run wrote into the store.
    - For container engines, bytes of the uncompressed docker-archive handed to the engine's load;
      the engine may store less, keeping layers it already had once.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.module_run import run
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.load_task import load_task
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.signature import signature_argument_spec
from ansible_collections.fleetimage.separated.plugins.module_utils._store.registry import store_argument_spec


ARGUMENT_SPEC = dict(
    name=dict(type="str"),
    names=dict(type="list", elements="str"),
    dir=dict(type="path"),
    src=dict(type="path"),
    url=dict(type="list", elements="str"),
    stage_only=dict(type="bool", default=False),
    url_username=dict(type="str"),
    url_password=dict(type="str", no_log=True),
    headers=dict(type="dict"),
    use_proxy=dict(type="bool", default=True),
    client_cert=dict(type="path"),
    client_key=dict(type="path", no_log=False),
    ca_path=dict(type="path"),
    validate_certs=dict(type="bool", default=True),
    timeout=dict(type="int", default=60),
    base=dict(type="path"),
    lib=dict(type="path"),
    skip_check=dict(type="bool", default=False),
    force=dict(type="bool", default=False),
    min_free_space=dict(type="str", default="5%"),
    # Set by the action plugin (src, url): {step, index, signature, allowed_signers, revoked_keys, staged}.
    _plugin=dict(type="dict"),
    **dict(signature_argument_spec(), **store_argument_spec())
)


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_one_of=[("name", "names")],
        mutually_exclusive=[("name", "names")],
        required_by={"revoked_keys": "allowed_signers"},
        supports_check_mode=True,
    )
    run(module, load_task, check_mode=module.check_mode, diff=module._diff, warn=module.warn, open_url=open_url)


if __name__ == "__main__":
    main()
