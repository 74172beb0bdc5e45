"""I/O errors at every step of a load, in the spirit of SQLite's I/O-error tests.

A first run counts the file-system calls one load makes (os.open, os.write,
os.rename, os.fsync, os.mkdir, os.stat, open(), ...). Then, for every k, the
same load runs again with the k-th call failing -- into a store holding
another image with each of EACCES, ENOSPC, EIO and EROFS, into a new store
with one of them in turn -- and each time the load must either
succeed with the store fully loaded, or fail with one BundleError that names
a path, the store exactly as it was, nothing left behind.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import traceback
from pathlib import Path

import pytest
from support.bundles import copy_bundle, tree_snapshot

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.records import LOADED_AT
from support.faults import FAULTS, FaultInjector
from support.operations import load_image

def _load(bundle, store):
    return load_image({"name": "app1:1", "dir": str(bundle), "store": str(store)})


@pytest.mark.slow
@pytest.mark.parametrize("existing", [True, False], ids=["into-a-store", "into-a-new-store"])
def test_every_file_system_call_of_a_load_may_fail(tmp_path, existing):
    bundle = copy_bundle(tmp_path / "bundle")
    template = tmp_path / "template"
    if existing:
        load_image({"name": "app2:1", "dir": str(bundle), "store": str(template)})
    before = _state(template)
    reference = tmp_path / "reference"
    _fresh_copy(template, reference)
    with FaultInjector() as counting:
        _load(bundle, reference)
    loaded = _state(reference)
    total = counting.calls
    assert total > 50

    problems, outcomes = [], {"loaded": 0, "refused": 0}
    for k in range(1, total + 1):
        # Into a store: every k with each error. Into a new store: each k with one, in turn.
        for error in (FAULTS if existing else [FAULTS[k % len(FAULTS)]]):
            store = tmp_path / "store"
            _fresh_copy(template, store)
            injector = FaultInjector(k, error)
            label = "k=%d %s at %s" % (k, errno.errorcode[error], "%s")
            try:
                with injector:
                    _load(bundle, store)
                outcome = "loaded"
            except BundleError as exc:
                outcome = "refused"
                if not re.search(r"(^|[\s(])/", str(exc)):
                    problems.append(label % injector.failed_call + ": the message names no path: %s" % exc)
            except Exception:  # pylint: disable=broad-except
                problems.append(label % injector.failed_call + ": raised\n" + traceback.format_exc(limit=-4))
                continue
            outcomes[outcome] += 1
            after = _state(store)
            if after != (loaded if outcome == "loaded" else before) and after not in (loaded, before):
                extra = sorted(set(after or ()) - set(loaded) - set(before or ()))
                problems.append(label % injector.failed_call + ": %s, but the store is neither as it was nor"
                                " fully loaded (extra: %s)" % (outcome, extra))
    print("fault injection (%s): %d calls: %s" % ("existing store" if existing else "new store", total, outcomes))
    assert not problems, "\n".join(problems)
    assert outcomes["refused"] > total / 3  # many faults do stop the load


def _state(store):
    """tree_snapshot of STORE, its index.json compared without the load times the records hold."""
    snap = tree_snapshot(store)
    index = Path(store) / "index.json"
    if snap is not None and index.is_file():
        document = json.loads(index.read_text(encoding="utf-8"))
        for entry in document.get("manifests", []):
            (entry.get("annotations") or {}).pop(LOADED_AT, None)
        snap["index.json"] = (snap["index.json"][0], json.dumps(document, sort_keys=True))
    return snap


def _fresh_copy(template, store):
    shutil.rmtree(store, ignore_errors=True)
    if template.exists():
        shutil.copytree(template, store, symlinks=True)


def test_an_unreadable_index_is_not_called_invalid_json(bundle, store):
    with FaultInjector(1, errno.EACCES):
        pass  # the injector itself works: nothing was called
    real_open = os.open

    def refusing_open(path, *args, **kwargs):
        if str(path) == str(bundle / "manifest"):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    os.open = refusing_open
    try:
        with pytest.raises(BundleError) as err:
            _load(bundle, store)
    finally:
        os.open = real_open
    assert str(err.value) == "index %s cannot be read: Permission denied" % (bundle / "manifest")


@pytest.mark.parametrize("where", ["frame header", "middle"])
def test_a_damaged_zstd_tarball_is_refused_with_its_name(bundle, store, where):
    zstandard = pytest.importorskip("zstandard")
    from support.bundles import APP1, members, set_hash, sha256, write_tarball

    path = bundle / APP1
    write_tarball(path, members(path), compression="tar")
    data = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(path.read_bytes()))
    at = 6 if where == "frame header" else len(data) // 2
    data[at:at + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    set_hash(bundle, APP1, sha256(path))
    with pytest.raises(BundleError) as err:
        _load(bundle, store)
    assert "%s is not a valid zstd-compressed tar archive: zstd decompress error" % path in str(err.value)
    assert tree_snapshot(store) is None


AS_NOBODY = """
import os, sys
sys.path[:0] = sys.argv[4:]
from support.operations import load_image
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.records import LOADED_AT
import datetime, tarfile, zlib  # noqa: E401,F401  # imported as root: the interpreter's files are root's own
load_image({"name": "app1:1", "dir": sys.argv[1], "store": sys.argv[2] + ".none"}, check_mode=True)
os.setgid(65534)
os.setuid(65534)
try:
    load_image({"name": "app1:1", "dir": sys.argv[1], "store": sys.argv[2], "base": sys.argv[3] or None})
    print("loaded")
except BundleError as exc:
    print("refused: %s" % exc)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="runs a load as another user: needs root")
@pytest.mark.parametrize("case", ["root-owned store", "unreadable tarball"])
def test_permission_denied_as_another_user_is_a_message(case):
    import subprocess
    import sys
    import tempfile

    from support.bundles import BASE

    top = tempfile.mkdtemp(prefix="fleetimage-nobody-")  # under /tmp, whose parents others may traverse
    try:
        os.chmod(top, 0o755)
        bundle = copy_bundle(os.path.join(top, "bundle"))
        store = os.path.join(top, "store")
        base = ""
        if case == "root-owned store":
            load_image({"name": "app2:1", "dir": str(bundle), "store": store})  # as root: 0755, root's
        else:
            os.chmod(bundle / BASE, 0o600)
            base = str(bundle / BASE)
            os.mkdir(store, 0o755)
            os.chown(store, 65534, 65534)  # the loading user's own, empty store
        before = tree_snapshot(store)
        done = subprocess.run([sys.executable, "-c", AS_NOBODY, str(bundle), store, base] + sys.path,
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        out = done.stdout.strip()
        if case == "root-owned store":
            assert out.startswith("refused: cannot create a staging folder in the store %s" % store), out
        else:
            assert out.startswith("refused: base tarball %s cannot be read: Permission denied" % base) or \
                out.startswith("refused: tarball %s cannot be read: Permission denied" % base), out
        assert "Permission denied" in out and "Errno" not in out
        assert tree_snapshot(store) == before
    finally:
        shutil.rmtree(top, ignore_errors=True)
