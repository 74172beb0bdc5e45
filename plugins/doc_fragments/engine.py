# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options that choose an image store, and the notes on reaching a container engine, for every module."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  engine:
    description:
      - The image store.
      - V(oci) is an OCI image layout folder at O(store), written by this collection alone and readable by
        skopeo, podman (C(oci:) transport) and containerd.
      - V(podman) (C(podman load); names an image C(app:1) as C(localhost/app:1)), V(docker) (C(docker load);
        C(app:1) is C(docker.io/library/app:1), shown as C(app:1)), V(containerd) (C(ctr images import) into
        O(namespace), unpacked for the default snapshotter; C(app:1) is C(docker.io/library/app:1)) and
        V(isula) (C(isula load -i) into iSulad; written from iSulad's documented CLI and not tested against a
        real iSulad, which has no package for the test machines) are reached through their command line.
      - An image is looked up under the name as the engine spells it, so C(app1:1) is present in podman when
        podman holds C(localhost/app1:1).
    type: str
    choices: [oci, podman, docker, containerd, isula]
    default: oci
  store:
    description:
      - The OCI image layout folder, for O(engine=oci). A load creates it when missing; the other modules
        treat a missing folder as an empty store and do not create it. It must not be empty.
      - Only an absent or empty folder, or an OCI image layout 1.0.0 whose C(index.json) is an OCI
        image index, is taken for a store; any other folder is refused and left untouched.
      - Blobs in the store are reused without being read again, so the store, C(blobs/),
        C(blobs/sha256/) and the folders above the store must be owned by the user the module runs
        as or root and writable by no one else (a folder above may be writable by others with the
        sticky bit, as C(/tmp)); otherwise the store is refused, naming the folder.
      - Ignored by the container engines, which keep their own storage.
    type: path
    default: /var/lib/fleetimage/oci
  executable:
    description:
      - The engine's command line program, a name looked up on E(PATH) or a path.
      - Defaults to C(podman), C(docker), C(ctr) or C(isula) for the O(engine).
      - Ignored for O(engine=oci).
    type: str
  namespace:
    description:
      - The containerd namespace (C(ctr -n)), for O(engine=containerd).
      - Kubernetes nodes (the CRI plugin) keep their images in V(k8s.io); use that for images that
        pods are to find.
      - Ignored by the other engines.
    type: str
    default: default
  engine_state:
    description:
      - The folder where O(engine=podman), V(docker), V(containerd) and V(isula) loads are remembered
        in C(loads.json), per engine instance and name, as the sha256 of the app tarball loaded and the image id
        it became. A later run whose index gives the same app tarball sha256 asks the engine once whether the
        name still holds that image, and reads no tarball; without an entry it reads the app tarball's
        image id. Written by M(fleetimage.separated.separated_image_load), read by it and by
        M(fleetimage.separated.separated_image_info); ignored for O(engine=oci), which keeps its own records.
      - Trusted as O(store) is (the folder and the folders above owned by the user the module runs as or
        root and writable by no one else; the file not a link and owned likewise). A folder or file that
        fails this, or a damaged file, is ignored with a warning and the engine decides; nothing fails.
    type: path
    default: /var/lib/fleetimage/engines
notes:
  - Container engines are reached as their own command line reaches them; set their environment
    variables with the task's C(environment) keyword. V(docker) uses E(DOCKER_HOST) (or the docker
    context), V(containerd) uses E(CONTAINERD_ADDRESS) (default C(/run/containerd/containerd.sock))
    and E(CONTAINERD_SNAPSHOTTER), V(podman) uses E(CONTAINERS_CONF) and E(CONTAINERS_STORAGE_CONF)
    (or the user's and the system's files), V(isula) uses E(ISULAD_HOST).
  - An engine that is not installed or a daemon that cannot be reached fails the task with the
    engine's command and its own error output.
"""
