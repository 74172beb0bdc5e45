# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What this module loaded into each engine, remembered on the host for the next run's presence check.

An engine keeps no record of the bundle an image came from, so without this
every re-run would read the app tarball again to learn its image id (0.8 s
per GiB). After each load, the file ENGINE_STATE/loads.json keeps, per
engine instance (its label and address(): socket, storage settings,
namespace) and name, the sha256 of the app tarball the load read and the
image id it became, with what the engine's listing showed for the name
(containerd: the manifest digest), the layers and the size. A later run
whose index names the same app sha256 asks the engine once (its inspect,
which presence needs anyway; containerd's listing of names) whether the name
still holds that image; if so the image is the bundle's -- an app tarball's
bytes fix its config, and so its image id -- and no tarball is read.

The file is trusted as a store is (oci/trust.py): its folder and the folders
above owned by this user or root and writable by no one else, the file a
regular file (not a link) owned likewise. A file or folder that fails that,
or a file that is damaged, is ignored with a warning: the run then decides
from the engine and the app tarball, as without it, and a foreign-owned or
linked file is never written either. Losing an entry (two loads at once on
one host) costs the next run only the slower check.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError, os_reason
from ansible_collections.fleetimage.separated.plugins.module_utils._io.files import fsync_folder, open_regular_file
from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.trust import check_store_trusted

DEFAULT_FOLDER = "/var/lib/fleetimage/engines"
FILE_NAME = "loads.json"
FILE_MODE = 0o644
FOLDER_MODE = 0o755
MAX_BYTES = 1024 * 1024  # read no more, write no more: the oldest entries go first
MAX_ENTRIES = 2000  # the oldest entries go first past this
MAX_LAYERS = 256  # the layers of an image worth remembering; one with more is looked up in full
VERSION = 1
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class Memory(object):
    """The loads remembered in FOLDER; WARN(message) is told why the file is not used, when it is not."""

    def __init__(self, folder, warn=None):
        self.folder = folder
        self.path = os.path.join(folder, FILE_NAME)
        self._warn = warn or (lambda message: None)
        self._loads = None  # {key: {"app_sha256", "image_id"}}, read at first use
        self._writable = False

    def known(self, engine, name):
        """What a load remembered of NAME in ENGINE: {"app_sha256", "image_id"} and, when it was seen, "target",
        "layers" and "size"; None when nothing is remembered."""
        entry = self._read().get(_key(engine, name))
        return dict(entry) if entry is not None else None

    def remember(self, engine, name, app_sha256, image_id, facts=None, target=None):
        """Remember that NAME in ENGINE holds IMAGE_ID, loaded from an app tarball hashing to APP_SHA256.

        FACTS (an inspect's) and TARGET (what engine.held() shows for the
        name) let a later presence check ask less of the engine.
        """
        loads = self._read()
        if not self._writable:
            return
        key = _key(engine, name)
        loads.pop(key, None)  # to the end: the newest last
        entry = {"app_sha256": app_sha256, "image_id": image_id}
        if target and facts and len(facts.get("layers") or []) <= MAX_LAYERS:
            entry.update(target=target, layers=list(facts["layers"]), size=facts["size"])
        loads[key] = _checked(entry) or {"app_sha256": app_sha256, "image_id": image_id}
        while len(loads) > MAX_ENTRIES:
            loads.pop(next(iter(loads)))
        try:
            self._write(loads)
        except OSError as exc:
            self._warn("the engine state file %s could not be written (%s): the next run reads the app tarball"
                       " to check its image" % (self.path, os_reason(exc)))
        except BundleError as exc:
            self._warn("the engine state file %s was not written: %s" % (self.path, exc))

    def _read(self):
        if self._loads is None:
            self._loads = {}
            try:
                self._check_trusted()
                self._writable = True  # the file is ours: a damaged one is written anew by the next load
                self._loads = self._parse()
            except BundleError as exc:
                self._warn("ignoring the engine state file %s: %s; the engine is asked instead" % (self.path, exc))
        return self._loads

    def _check_trusted(self):
        """Nothing when the folder and file may be read and written; else a BundleError saying why not."""
        check_store_trusted(self.folder)
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise BundleError("it cannot be checked (%s)" % os_reason(exc))
        if not stat.S_ISREG(st.st_mode):
            raise BundleError("it is not a regular file (a symbolic link, or another kind of file)")
        if st.st_uid not in (os.geteuid(), 0):
            raise BundleError("it is owned by uid %d, neither this user (uid %d) nor root" % (st.st_uid, os.geteuid()))
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise BundleError("mode %04o lets other users write it" % stat.S_IMODE(st.st_mode))

    def _parse(self):
        try:
            # Without blocking: a FIFO put in the file's place after the check above is refused, not waited on.
            with open_regular_file(self.path, "the engine state file", follow_links=False) as f:
                data = f.read(MAX_BYTES + 1)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise BundleError("it cannot be read (%s)" % os_reason(exc))
        if len(data) > MAX_BYTES:
            raise BundleError("it is larger than %d bytes" % MAX_BYTES)
        try:
            document = json_text.loads(data)
            entries = document["loads"]
            if document.get("version") != VERSION or not isinstance(entries, dict):
                raise ValueError("not version %d of this file" % VERSION)
        except (ValueError, LookupError, TypeError, AttributeError) as exc:
            raise BundleError("it is damaged (%s)" % exc)
        checked = ((key, _checked(value)) for key, value in entries.items())
        return dict((key, value) for key, value in checked if value is not None)

    def _write(self, loads):
        if not os.path.isdir(self.folder):
            os.makedirs(self.folder, FOLDER_MODE)
            check_store_trusted(self.folder)  # what was made under the umask
        data = json.dumps({"version": VERSION, "loads": loads}, indent=1, sort_keys=False).encode("utf-8")
        while len(data) > MAX_BYTES:  # the oldest tenth goes, until what is written can be read again
            for key in list(loads)[:max(1, len(loads) // 10)]:
                del loads[key]
            data = json.dumps({"version": VERSION, "loads": loads}, indent=1, sort_keys=False).encode("utf-8")
        fd, temp = tempfile.mkstemp(prefix=".loads-", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), FILE_MODE)
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, self.path)
        except BaseException:
            try:
                os.unlink(temp)
            except OSError:
                pass
            raise
        fsync_folder(self.folder)


def _key(engine, name):
    return "%s %s %s" % (engine.label, engine.address(), name)


def _checked(value):
    """VALUE, an entry of the file, with only the fields it has right; None when it lacks the two it needs."""
    if not (isinstance(value, dict) and _matches(_HEX64, value.get("app_sha256"))
            and _matches(_HEX64, value.get("image_id"))):
        return None
    entry = {"app_sha256": value["app_sha256"], "image_id": value["image_id"]}
    layers, size = value.get("layers"), value.get("size")
    if _matches(_DIGEST, value.get("target")) and isinstance(layers, list) and len(layers) <= MAX_LAYERS \
            and all(_matches(_DIGEST, layer) for layer in layers) \
            and isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        entry.update(target=value["target"], layers=list(layers), size=size)
    return entry


def _matches(pattern, value):
    return isinstance(value, str) and pattern.match(value) is not None
