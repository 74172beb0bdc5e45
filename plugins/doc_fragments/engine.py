# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the modules reach a container engine: the options and notes they share."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
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
notes:
  - Container engines are reached as their own command line reaches them; set their environment
    variables with the task's C(environment) keyword. V(docker) uses E(DOCKER_HOST) (or the docker
    context), V(containerd) uses E(CONTAINERD_ADDRESS) (default C(/run/containerd/containerd.sock))
    and E(CONTAINERD_SNAPSHOTTER), V(podman) uses E(CONTAINERS_CONF) and E(CONTAINERS_STORAGE_CONF)
    (or the user's and the system's files), V(isula) uses E(ISULAD_HOST).
  - An engine that is not installed or a daemon that cannot be reached fails the task with the
    engine's command and its own error output.
"""
