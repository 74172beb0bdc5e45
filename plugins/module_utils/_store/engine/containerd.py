# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""containerd as an image store, through ctr.

    load       ctr -n NS images import -, the archive on stdin (unpacked for
               the default snapshotter, or CONTAINERD_SNAPSHOTTER's)
    presence   ctr -n NS images ls, then ctr content get of the image's
               manifest and config: containerd keeps images by name, and an
               image's id is its manifest's config digest; after a load this
               module remembers (memory.py), ctr -n NS images ls alone, when
               the name still points at the manifest it pointed at then
    names      docker_reference(): ctr import names 'app:1' docker.io/library/app:1
    remove     ctr -n NS containers ls first (ctr itself would remove an image a
               container uses), then ctr -n NS images rm REF
    images     ctr -n NS images ls, then the manifest and config of each (created)
    held       ctr -n NS images ls: every name and its target digest

The daemon is the one CONTAINERD_ADDRESS names (default
/run/containerd/containerd.sock). Kubernetes nodes keep their images in the
namespace k8s.io.

The import streams: ctr writes each layer into containerd's content store as
it arrives, under a lease of its own, and names the image only at the end of
the archive. A stream that ends in bytes no tar reader accepts (see
cli.feeding) makes ctr fail before it names anything; it then deletes its
lease, which leaves the layers written so far as unreferenced content until
containerd's next garbage collection -- not run on a lease's deletion by
default. So after a failed import the module runs one at once (a lease of
its own, deleted with --sync): the namespace ends as it was before.
"""

from __future__ import annotations

import binascii
import os
import platform

from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._reference import docker_reference
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import cli
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.base import Engine

DEFAULT_NAMESPACE = "default"
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
# platform.machine() -> the architecture names of image indexes
_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm", "i686": "386"}


class Containerd(Engine):
    label = "containerd"
    default_executable = "ctr"

    def __init__(self, executable=None, namespace=None):
        super(Containerd, self).__init__(executable)
        self.namespace = namespace or DEFAULT_NAMESPACE
        self.ctr = [self.executable, "-n", self.namespace]

    def reference(self, name):
        return docker_reference(name)

    def inspect(self, ref):
        return _inspect(self.ctr, ref)

    def inspect_known(self, ref, known):
        targets = _image_targets(self.ctr)
        digest = targets.get(ref)
        if digest is None:
            return None
        if known.get("target") == digest and "layers" in known:
            # A manifest digest fixes the config (the image id), the layers and the sizes.
            return {"id": known["image_id"], "repo_tags": _names_of(targets, digest),
                    "layers": list(known["layers"]), "size": known["size"]}
        return _inspect(self.ctr, ref, targets)

    def held(self):
        return _image_targets(self.ctr)

    def address(self):
        return "CONTAINERD_ADDRESS=%s namespace=%s" % (os.environ.get("CONTAINERD_ADDRESS", ""), self.namespace)

    def load(self, write):
        try:
            return cli.load_through_stdin(self.ctr + ["images", "import", "-"], write)
        except BundleError:
            self._collect_garbage()
            raise

    def _collect_garbage(self):
        """Make containerd remove unreferenced content now (what a failed import wrote); never an error."""
        lease = "fleetimage-gc-%d-%s" % (os.getpid(), binascii.hexlify(os.urandom(4)).decode("ascii"))
        try:
            cli.run(self.ctr + ["leases", "create", "--id", lease, "--expires", "10m"])
            cli.run(self.ctr + ["leases", "delete", "--sync", lease])
        except BundleError:
            pass  # containerd's own next collection removes it

    def tag(self, source, target):
        cli.run(self.ctr + ["images", "tag", "--force", source, target])

    def remove(self, ref):
        """Remove the name REF; refuse, as podman and docker do, when a container uses it (ctr would not)."""
        users = []
        for line in cli.run(self.ctr + ["containers", "ls"]).splitlines()[1:]:
            fields = line.split()  # CONTAINER IMAGE RUNTIME
            if len(fields) >= 2 and fields[1] == ref:
                users.append(fields[0])
        if users:
            plural = "s" if len(users) > 1 else ""
            raise BundleError("the image is in use by the container%s %s" % (plural, ", ".join(users)))
        cli.run(self.ctr + ["images", "rm", ref])

    def images(self):
        """[{"name", "id", "created"}] of every name the namespace holds (see lifecycle.py)."""
        found = []
        for ref, digest in sorted(_image_targets(self.ctr).items()):
            if "@" in ref or ref.startswith("sha256:"):
                continue  # digest references CRI adds: not names
            manifest = _manifest(self.ctr, digest)
            config_digest = ((manifest or {}).get("config") or {}).get("digest")
            if not config_digest:
                continue  # named, but its content is gone
            config = _content_json(self.ctr, config_digest) or {}
            found.append({"name": ref, "id": config_digest.split(":", 1)[-1], "created": config.get("created")})
        return found


def _inspect(ctr, ref, targets=None):
    targets = _image_targets(ctr) if targets is None else targets
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
        "repo_tags": _names_of(targets, digest),
        "layers": list((config.get("rootfs") or {}).get("diff_ids") or []),
        "size": size,
    }


def _names_of(targets, digest):
    """The names in TARGETS that point at DIGEST: not the digest references (NAME@sha256:..., sha256:...) CRI adds."""
    return sorted(r for r, d in targets.items() if d == digest and "@" not in r and not r.startswith("sha256:"))


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
        document = json_text.loads(text)
    except ValueError as exc:
        raise BundleError("`%s` answered with output that is not JSON: %s" % (cli.command_line(argv), exc))
    if not isinstance(document, dict):
        raise BundleError("`%s` answered with JSON that is not an object" % cli.command_line(argv))
    return document
