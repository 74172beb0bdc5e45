# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Put one image into the OCI layout store: blobs staged, then one commit.

Shaped as an image destination: put_layer() stages a blob (hashed as it is
written), has_blob() says whether a blob can be reused, commit() writes the
config and manifest and makes blobs and names visible at once. Until commit()
nothing of the load is visible in the store; a destination closed without a
commit leaves nothing behind. The staging folder is flocked for the load's
lifetime, so housekeeping (see lock.py) never removes a load in flight.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile

from ansible_collections.fleetimage.separated.plugins.module_utils._digest import blob_path
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import fsync_folder
from ansible_collections.fleetimage.separated.plugins.module_utils._io.hashing import sha256_of_file
from ansible_collections.fleetimage.separated.plugins.module_utils._io.free_space import FreeSpaceGuard, checked_min_free_space
from ansible_collections.fleetimage.separated.plugins.module_utils._io.staging_writer import MAX_PENDING, StagingWriter
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import layout
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.lock import STAGING_PREFIX, remove_abandoned_staging, store_lock

CHUNK = 1024 * 1024
# Free space is asked after every this many bytes of a layer; the bytes queued
# for the writer thread (not yet on disk, so not yet counted by the file
# system) are counted as written.
FREE_SPACE_CHECK_BYTES = 8 * CHUNK
IN_FLIGHT_BYTES = (MAX_PENDING + 1) * CHUNK


@contextlib.contextmanager
def destination(store, min_free_space=None, verify_reused=False):
    """A staging area for one image; nothing is visible until its commit().

    MIN_FREE_SPACE (a MinFreeSpace; None: the default 5%): what the store's file system must keep free;
    dest.guard.check() asks it, and put_layer() does every few MiB.
    VERIFY_REUSED (a load with force): every blob the store already has is
    hashed before it is reused, and one that does not match is written again.
    """
    limit = min_free_space or checked_min_free_space()
    layout.check_store(store)
    created = layout.make_dirs(store)
    try:
        dest = _Destination(store, verify_reused)
    except BaseException:
        layout.remove_empty(created)
        raise
    dest.guard = FreeSpaceGuard(store, limit.minimum, limit.text)
    try:
        dest.guard.check()
        yield dest
    finally:
        dest.close(remove_store_dirs=created if not dest.committed else [])


class _Destination(object):
    """Blobs put here are staged; commit() makes them and the names visible."""

    def __init__(self, store, verify_reused=False):
        self.store = store
        self._verify_reused = verify_reused
        self._checked = {}  # digest -> whether the store's blob matches it (verify_reused only)
        self.committed = False
        self._staged = {}  # digest -> staged file path
        self._writer = None  # the StagingWriter of the layers, once one is put
        self._commit_created = []  # folders the commit made (blobs/, blobs/sha256/)
        self._layout_file_created = False
        with store_lock(store):
            remove_abandoned_staging(store)
            try:
                self._dir = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=store)
            except OSError as exc:
                raise BundleError("cannot create a staging folder in the store %s: %s" % (store, describe_os_error(exc)))
            try:
                self._dir_fd = os.open(self._dir, os.O_RDONLY)
                fcntl.flock(self._dir_fd, fcntl.LOCK_EX)
            except OSError as exc:
                remove_tree(self._dir)
                raise BundleError("cannot lock the staging folder %s: %s" % (self._dir, describe_os_error(exc)))

    def has_blob(self, digest):
        if digest in self._staged:
            return True
        path = blob_path(self.store, digest)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise BundleError("the store %s: blob %s cannot be checked: %s" % (self.store, path, describe_os_error(exc)))
        if not stat.S_ISREG(st.st_mode):
            # A link would make the store trust (and a later remove delete) what lies outside it.
            raise BundleError("the store %s: blob %s is not a regular file (a link or a folder): refusing to reuse"
                              " or replace it; remove it by hand" % (self.store, path))
        if self._verify_reused:
            if digest not in self._checked:
                self._checked[digest] = blob_matches(path, digest)
            return self._checked[digest]
        return True

    def put_layer(self, reader):
        """Stage the uncompressed layer READER; return (digest, size).

        The layer is hashed here as it is read; a thread of its own writes
        and fsyncs it meanwhile (see _staging_writer), so that the disk works
        while the next bytes are decompressed. commit() waits for it.
        """
        writer = self._layer_writer()
        try:
            fd, path = layout.staging_file(self._dir)
        except OSError as exc:
            raise BundleError("writing a layer into the store %s failed: %s" % (self.store, describe_os_error(exc)))
        writer.adopt(fd)
        sha256 = hashlib.sha256()
        size = 0
        next_check = FREE_SPACE_CHECK_BYTES
        # read1: the reader's chunks as they come, without filling (copying) a buffer.
        read = getattr(reader, "read1", reader.read)
        while True:
            chunk = read(CHUNK)
            if not chunk:
                break
            if not isinstance(chunk, bytes):
                chunk = bytes(chunk)  # written later: a buffer the reader reuses would change meanwhile
            sha256.update(chunk)
            size += len(chunk)
            if size >= next_check:
                self.guard.check(IN_FLIGHT_BYTES)
                next_check = size + FREE_SPACE_CHECK_BYTES
            self._writing(writer.write, fd, chunk)
        digest = "sha256:" + sha256.hexdigest()
        if self.has_blob(digest):
            self._writing(writer.discard, fd, path)
        else:
            self._writing(writer.finish, fd)
            self._staged[digest] = path
        return digest, size

    def _layer_writer(self):
        if self._writer is None:
            self._writer = StagingWriter()
        return self._writer

    def _writing(self, call, *args):
        """CALL the writer; its errors (of this write or of an earlier one) in the store's words."""
        try:
            call(*args)
        except MemoryError:
            raise BundleError("writing a layer into the store %s ran out of memory" % self.store)
        except OSError as exc:
            raise BundleError("writing a layer into the store %s failed: %s" % (self.store, describe_os_error(exc)))

    def commit(self, config_bytes, diff_ids, names, annotations=None):
        """Make the image visible under NAMES; return what changed.

        DIFF_IDS must each be staged or already in the store; ANNOTATIONS
        (the load's record, see records.py) go into each name's index entry.
        A failure before index.json is replaced takes back every blob this
        commit put in place: the store is then as it was, with no blob no
        index names.
        """
        if self._writer is not None:
            self._writing(self._writer.wait)  # every layer written and synced
        config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        try:
            layers = [{"mediaType": layout.MEDIA_LAYER, "digest": d, "size": self._blob_size(d)} for d in diff_ids]
            manifest = layout.canonical_json({
                "schemaVersion": 2,
                "mediaType": layout.MEDIA_MANIFEST,
                "config": {"mediaType": layout.MEDIA_CONFIG, "digest": config_digest, "size": len(config_bytes)},
                "layers": layers,
            })
            manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
            self._stage_bytes(config_digest, config_bytes)
            self._stage_bytes(manifest_digest, manifest)
        except OSError as exc:
            raise BundleError("staging the image for the store %s failed: %s" % (self.store, describe_os_error(exc)))
        wanted = [config_digest, manifest_digest] + list(diff_ids)
        written = {}
        with store_lock(self.store):
            try:
                self._publish_blobs(wanted, written)
                index_changed = layout.update_index(self.store, self._dir, manifest_digest, len(manifest), names,
                                                    annotations)
            except (OSError, BundleError) as exc:
                if not layout.index_names(self.store, manifest_digest, names):
                    self._take_back(written)
                if isinstance(exc, BundleError):
                    raise
                raise BundleError("committing the image into the store %s failed: %s" % (self.store, describe_os_error(exc)))
        self.committed = True
        layer_written = [d for d in diff_ids if d in written]
        return {
            "changed": bool(written) or index_changed,
            "layers_written": len(set(layer_written)),
            "layers_reused": len(set(diff_ids) - set(layer_written)),
            "bytes_written": sum(written.values()),
            "size": len(config_bytes) + sum(layer["size"] for layer in layers),
        }

    def close(self, remove_store_dirs):
        if self._writer is not None:
            self._writer.close()  # no write may land in the folder once it is removed
        remove_tree(self._dir)
        os.close(self._dir_fd)  # releases the staging lock
        if remove_store_dirs:
            with store_lock(self.store):
                layout.remove_empty(remove_store_dirs)

    def _blob_size(self, digest):
        return os.stat(self._staged.get(digest) or blob_path(self.store, digest)).st_size

    def _stage_bytes(self, digest, data):
        """Stage a small blob (config, manifest) unless the store has it intact: checked always, it is cheap."""
        if digest in self._staged:
            return
        path = blob_path(self.store, digest)
        if os.path.exists(path):
            self._checked[digest] = blob_matches(path, digest)
            if self._checked[digest]:
                return
        fd, path = layout.staging_file(self._dir)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        self._staged[digest] = path

    def _publish_blobs(self, digests, written):
        """Rename the staged blobs among DIGESTS into place; note each in WRITTEN {digest: size}."""
        blobs = os.path.join(self.store, "blobs", "sha256")
        self._commit_created = layout.make_dirs(blobs)
        self._layout_file_created = layout.ensure_layout_file(self.store)
        for digest in digests:
            staged = self._staged.get(digest)
            final = blob_path(self.store, digest)
            if staged is None or digest in written:
                continue
            if os.path.exists(final) and self._checked.get(digest, True):
                continue  # another load put it there meanwhile (a damaged one found by force is replaced)
            size = os.stat(staged).st_size
            os.rename(staged, final)
            written[digest] = size
        fsync_folder(blobs)

    def _take_back(self, written):
        """Remove the blobs WRITTEN by a commit that failed before index.json named them."""
        for digest in written:
            try:
                os.unlink(blob_path(self.store, digest))
            except OSError:
                pass  # gone already, or the disk refuses: the next load's commit sees it missing or reuses it
        try:
            fsync_folder(os.path.join(self.store, "blobs", "sha256"))
            if self._layout_file_created and not os.path.exists(os.path.join(self.store, "index.json")):
                os.unlink(os.path.join(self.store, "oci-layout"))  # a new store goes back to empty
        except OSError:
            pass
        layout.remove_empty(self._commit_created)


def blob_matches(path, digest):
    """Whether the file PATH holds the bytes of DIGEST; unreadable counts as not."""
    try:
        return "sha256:" + sha256_of_file(path) == digest
    except OSError:
        return False


def remove_tree(path):
    """Remove the folder PATH; a second attempt when the first left something (a transient I/O error)."""
    for dummy_attempt in range(2):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            return


def describe_os_error(exc):
    """An OSError as 'PATH: reason', the path only when the error carries one."""
    return "%s: %s" % (exc.filename, os_reason(exc)) if exc.filename else os_reason(exc)
