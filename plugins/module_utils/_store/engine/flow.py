# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load a bundle into a container engine through its command line.

The same flow for every engine; what differs (how the engine spells a name,
how it answers an inspect, whether it loads from stdin or a file, how it
tags) is the engine object: Podman, Docker, Containerd or Isula.

    read manifest.json and the config from the app tarball (small)
    verify every tarball's sha256 -- before the engine sees a byte
    note what the engine holds under the names the load touches
    stream one merged docker-archive into the engine's load
    confirm the engine holds NAME as the bundle's image id (tag it if the
    load named it otherwise), and say whether anything changed
"""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.index import check_sum, tarball_sha256
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.merged import read_image_metadata, write_merged_archive

# What this flow needs of an engine object (see podman.py and the others):
#   label              its name in messages ("podman")
#   reference(name)    NAME as the engine spells it once loaded ("localhost/app:1")
#   inspect(ref)       {"id", "repo_tags", "layers", "size"} of the image REF, or None
#   load(write)        run the engine's load with WRITE(sink) producing the archive;
#                      return the bytes handed to the engine
#   tag(source, target) give the image SOURCE (a reference) the name TARGET


def lookup(engine, name):
    """What ENGINE holds under NAME, or None; reads no bundle."""
    return engine.inspect(engine.reference(name))


def load(engine, tarballs, name, layer_hints, verify):
    """Load the image NAME from TARBALLS (app first) into ENGINE; return the outcome.

    LAYER_HINTS are not used: an engine takes the whole archive and keeps the
    layers it has once, by itself.
    """
    app = tarballs[0]
    try:
        image, app_sha256 = read_image_metadata(app, name)
    except BundleError:
        if verify:  # a wrong file is the likelier cause than a broken one: say so first
            check_sum(app, tarball_sha256(app))
        raise
    if verify:
        check_sum(app, app_sha256)
        for tarball in tarballs[1:]:
            check_sum(tarball, tarball_sha256(tarball))
        expected_sha256 = dict((t.path, t.expected_sha256) for t in tarballs)
    else:
        expected_sha256 = {app.path: app_sha256}

    target = engine.reference(name)
    touched = list(dict.fromkeys([target] + [engine.reference(tag) for tag in image.repo_tags]))
    before = _ids_under(engine, touched)

    def write(sink):
        write_merged_archive(tarballs, sink, name, expected_sha256)

    bytes_sent = engine.load(write)

    facts = engine.inspect(target)
    if facts is None or facts["id"] != image.image_id:
        facts = _name_it(engine, image, touched, target)
    after = _ids_under(engine, [ref for ref in touched if ref != target])
    after[target] = facts["id"]
    return {
        "changed": before != after,
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


def _ids_under(engine, refs):
    """{reference: image id or None} for REFS, as ENGINE holds them now."""
    state = {}
    for ref in refs:
        facts = engine.inspect(ref)
        state[ref] = facts["id"] if facts else None
    return state
