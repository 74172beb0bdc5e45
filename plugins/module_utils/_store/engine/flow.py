# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load a bundle into a container engine through its command line.

The same flow for every engine (base.Engine: podman, docker, containerd,
isula); what differs -- how the engine spells a name, how it answers an
inspect, whether it loads from stdin or a file, how it tags -- is the
engine object's.

    note the names the engine holds (one command)
    stream one merged docker-archive into the engine's load, reading each
    tarball once: its sha256 checked as it ends, manifest.json and the
    config kept as they pass; a failed check ends the stream so that the
    engine takes nothing (see cli.py)
    confirm the engine holds NAME as the bundle's image id (tag it if the
    load named it otherwise), say whether anything changed, and remember
    the load (memory.py) for the next run's presence check

The tarballs check themselves against the bundle's index (check_sum, see
_bundle/index.py's Tarball): the engine flow knows nothing of the bundle
format.
"""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._archive.merged import write_merged_archive
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError


def lookup(engine, name, remembered=None):
    """What ENGINE holds under NAME, or None; reads no bundle.

    With REMEMBERED (a memory.Memory), the facts carry "app_sha256": the app
    tarball a load of this module put under NAME, when the engine still
    holds that very image there (see memory.py).
    """
    known = remembered.known(engine, name) if remembered is not None else None
    ref = engine.reference(name)
    facts = engine.inspect(ref) if known is None else engine.inspect_known(ref, known)
    if facts is not None and known is not None and known["image_id"] == facts["id"]:
        facts["app_sha256"] = known["app_sha256"]
    return facts


def load(engine, tarballs, name, verify, remembered=None):
    """Load the image NAME from TARBALLS (app first) into ENGINE; return the outcome.

    TARBALLS: each with part, path and check_sum(actual=None); with VERIFY,
    each is checked as it has been streamed (see _archive/merged.py).

    The engine takes the whole archive and keeps the layers it has once, by
    itself: no layer hints are needed.
    """
    target = engine.reference(name)
    before = engine.held()
    loaded = {}

    def write(sink):
        loaded["image"], loaded["app_sha256"] = write_merged_archive(tarballs, sink, name, verify)

    bytes_sent = engine.load(write)
    image = loaded["image"]

    touched = list(dict.fromkeys([target] + [engine.reference(tag) for tag in image.repo_tags]))
    facts = engine.inspect(target)
    if facts is None or facts["id"] != image.image_id:
        facts = _name_it(engine, image, touched, target)
    after = engine.held()
    if remembered is not None:
        remembered.remember(engine, name, loaded["app_sha256"], image.image_id, facts, after.get(target))
    return {
        "changed": any(before.get(ref) != after.get(ref) for ref in touched),
        "image": facts,
        # The engines do not say which layers they stored and which they had.
        "layers_written": None,
        "layers_reused": None,
        "bytes_written": bytes_sent,
    }


def _name_it(engine, image, touched, target):
    """Give the loaded image the name TARGET, where the engine's load named it otherwise."""
    for ref in touched:
        if ref == target:
            continue
        facts = engine.inspect(ref)
        if facts is not None and facts["id"] == image.image_id:
            engine.tag(ref, target)
            break
    facts = engine.inspect(target)
    if facts is None:
        raise BundleError(
            "%s loaded the bundle, but holds no image %s afterwards (the archive names it %s)"
            % (engine.label, target, ", ".join(image.repo_tags))
        )
    if facts["id"] != image.image_id:
        raise BundleError(
            "%s loaded the bundle, but %s is image %s afterwards, not the bundle's image %s"
            % (engine.label, target, facts["id"], image.image_id)
        )
    return facts
