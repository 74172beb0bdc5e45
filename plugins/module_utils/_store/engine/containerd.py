# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""containerd as an image store, through ctr.

    load       ctr -n NS images import -, the archive on stdin (unpacked for
               the default snapshotter, or CONTAINERD_SNAPSHOTTER's)
    presence   ctr -n NS images ls, then ctr content get of the image's
               manifest and config: containerd keeps images by name, and an
               image's id is its manifest's config digest
    names      docker_reference(): ctr import names 'app:1' docker.io/library/app:1

The daemon is the one CONTAINERD_ADDRESS names (default
/run/containerd/containerd.sock). Kubernetes nodes keep their images in the
namespace k8s.io.
"""

from __future__ import annotations

import json
import platform

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import docker_reference
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import cli

DEFAULT_NAMESPACE = "default"
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
# platform.machine() -> the architecture names of image indexes
_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm", "i686": "386"}


class Containerd(object):
    label = "containerd"
    default_executable = "ctr"

    def __init__(self, executable=None, namespace=None):
        self.executable = executable or self.default_executable
        self.ctr = [self.executable, "-n", namespace or DEFAULT_NAMESPACE]

    def reference(self, name):
        return docker_reference(name)

    def inspect(self, ref):
        return _inspect(self.ctr, ref)

    def load(self, write):
        return cli.load_through_stdin(self.ctr + ["images", "import", "-"], write)

    def tag(self, source, target):
        cli.run(self.ctr + ["images", "tag", "--force", source, target])


def _inspect(ctr, ref):
    targets = _image_targets(ctr)
    digest = targets.get(ref)
    if digest is None:
        return None
    manifest = _manifest(ctr, digest)
    if manifest is None:
        return None  # named, but its content is gone: a load restores it
    try:
        config_digest = manifest["config"]["digest"]
        size = manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
    except (LookupError, TypeError) as exc:
        raise BundleError("the manifest %s of %s in containerd is not an image manifest (%s)" % (digest, ref, exc))
    config = _content_json(ctr, config_digest)
    if config is None:
        return None
    return {
        "id": config_digest.split(":", 1)[-1],
        # Only names: not the digest references (NAME@sha256:..., sha256:...) that CRI adds.
        "repo_tags": sorted(r for r, d in targets.items() if d == digest and "@" not in r and not r.startswith("sha256:")),
        "layers": list((config.get("rootfs") or {}).get("diff_ids") or []),
        "size": size,
    }


def _image_targets(ctr):
    """{image name: target digest} of every image in the namespace."""
    argv = ctr + ["images", "ls"]
    targets = {}
    for line in cli.run(argv).splitlines()[1:]:
        fields = line.split()  # REF TYPE DIGEST SIZE PLATFORMS LABELS; only SIZE has a space
        if len(fields) >= 3 and fields[2].startswith("sha256:"):
            targets[fields[0]] = fields[2]
    return targets


def _manifest(ctr, digest):
    """The image manifest DIGEST points at; for an index, this host's platform's."""
    document = _content_json(ctr, digest)
    is_index = document is not None and (document.get("mediaType") in _INDEX_TYPES or "manifests" in document)
    if not is_index:
        return document
    manifests = document.get("manifests") or []
    arch = _ARCHITECTURES.get(platform.machine(), platform.machine())
    for entry in manifests:
        entry_platform = entry.get("platform") or {}
        if len(manifests) == 1 or (entry_platform.get("os") == "linux" and entry_platform.get("architecture") == arch):
            return _content_json(ctr, entry["digest"])
    return None


def _content_json(ctr, digest):
    argv = ctr + ["content", "get", digest]
    text = cli.run(argv, none_when_stderr_has="not found")
    if text is None:
        return None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise BundleError("`%s` answered with output that is not JSON: %s" % (cli.command_line(argv), exc))
    if not isinstance(document, dict):
        raise BundleError("`%s` answered with JSON that is not an object" % cli.command_line(argv))
    return document
