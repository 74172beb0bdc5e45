# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load a bundle into the OCI layout store in one streaming pass.

Each tarball is read once: its compressed bytes are hashed while they are
decompressed, and every layer.tar goes straight into the store's staging
area, hashed as it is written. The app tarball is read first: it holds
manifest.json and the config, so by the time lib and base are read the
loader knows which layers the store already has and skips their bytes. When
the index's layer lists say that every layer of the lib or base tarball is
already in the store, that tarball is not decompressed at all: only its
checksum is computed, when checks are on.
"""

from __future__ import annotations

import functools
import os

from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import destination, records
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.inflation import stream_checked
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.members import stream_tarball
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.model import DockerArchive
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason


def load(store, tarballs, name, layer_hints, verify, min_free_space=None, force=False):
    """Load the image NAME from TARBALLS (app first) into STORE; return the outcome.

    TARBALLS: each with part, path and check_sum(actual=None), which fails when
    the file's sha256 is not the bundle's (_bundle/index.py's Tarball).

    LAYER_HINTS: {part: legacy layer ids} the index says the lib and base tarballs hold.
    MIN_FREE_SPACE: what the store's file system must keep free (a MinFreeSpace, see _io/free_space.py).
    FORCE: blobs the store has are checked against their digest before they
    are reused, and written again when they do not match.
    """
    archive = DockerArchive()
    with destination.destination(store, min_free_space, verify_reused=force) as dest:
        skipped, app_sha256 = [], None
        for tarball in tarballs:
            if tarball.part != "app" and _all_present(dest, archive, layer_hints.get(tarball.part)):
                skipped.append(tarball)
                if verify:
                    tarball.check_sum()
            else:
                digest = _stream_checked(dest, archive, tarball, verify)
                app_sha256 = app_sha256 or digest  # the app tarball is read first
        archive.unread_layers = frozenset(legacy for tarball in skipped for legacy in layer_hints[tarball.part])
        try:
            image = archive.image(name, dest.has_blob)
        except BundleError:
            if not skipped:
                raise
            # The index's layer lists were wrong: read what was skipped after all.
            for tarball in skipped:
                _stream_into(dest, archive, tarball)
            archive.unread_layers = frozenset()
            image = archive.image(name, dest.has_blob)
        record = records.load_record(app_sha256, image.image_id)
        outcome = dest.commit(image.config_bytes, image.diff_ids, image.repo_tags, record)
    outcome["image"] = {
        "id": image.image_id,
        "repo_tags": image.repo_tags,
        "layers": image.diff_ids,
        "size": outcome.pop("size"),
    }
    return outcome


def _stream_checked(dest, archive, tarball, verify):
    # Before a byte of it is written: its compressed size is what it inflates to at the least, as a rule.
    dest.guard.check(_file_size(tarball))
    return stream_checked(tarball, functools.partial(_router, dest, archive, tarball), verify)


def _all_present(dest, archive, legacy_ids):
    expected = archive.expected_diff_ids()
    return bool(legacy_ids) and all(
        legacy in expected and dest.has_blob(expected[legacy]) for legacy in legacy_ids
    )


def _file_size(tarball):
    try:
        return os.stat(tarball.path).st_size
    except OSError as exc:
        raise BundleError("%s tarball %s cannot be read: %s" % (tarball.part, tarball.path, os_reason(exc)))


def _stream_into(dest, archive, tarball):
    """Route every member of TARBALL, unchecked; return the sha256 of its compressed bytes."""
    return stream_tarball(tarball.path, _router(dest, archive, tarball, None))


def _router(dest, archive, tarball, inflation):
    """What routes each member of TARBALL: metadata to ARCHIVE, layers the store lacks to DEST."""
    expected = archive.expected_diff_ids()

    def on_member(member_name, kind, member_id, member, tar):
        archive.collect(tarball.path, member_name, kind, member_id, member, tar)
        if kind == "layer_tar":
            known = expected.get(member_id)
            if known is not None and dest.has_blob(known):
                return  # already in the store: the tar reader skips its bytes
            layer = tar.extractfile(member)
            digest = dest.put_layer(inflation.reader(layer) if inflation else layer)[0]
            archive.layer_digests[member_id] = digest

    return on_member
