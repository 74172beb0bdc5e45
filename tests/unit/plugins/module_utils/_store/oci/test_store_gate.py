"""One gate for every module that opens the OCI store: load, info, save from the store, remove, prune.

Probed as an attacker (a local user who owns a store, or who planted a link)
and as an unlucky operator (a read-only store, a blob that is a folder) would:
every module refuses with the same words as the load, and nothing inside the
store or outside it changes -- in particular no file a link leads to is
deleted. remove and prune also meet every file-system call failing in turn.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import traceback
from pathlib import Path

import pytest
from support.bundles import ISULA_FIXTURE, tree_snapshot
from support.faults import FAULTS, FaultInjector
from support.mounts import remount_read_only, tmpfs

from support.operations import bundle_info, load_image, prune_store, remove_images, save_bundle

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError

NOBODY = 65534
ARCHIVES = [str(ISULA_FIXTURE / "archives" / (name + ".tar")) for name in ("app1", "app2", "base", "lib")]


def _load(bundle, store):
    return load_image(dict(name="app1:1", dir=str(bundle), store=str(store)))


def _info(bundle, store):
    return bundle_info(dict(dir=str(bundle), store=str(store)))


def _remove(bundle, store):
    return remove_images(dict(names=["app2:1"], store=str(store)))


def _prune(bundle, store):
    return prune_store(dict(store=str(store), keep=1))


def _save(bundle, store):
    return save_bundle(dict(names=["app1:1"], base="base:1", lib="lib:1", dest=str(Path(store).parent / "saved"),
                            rename=None, rename_file=None, source="oci", archives=None, store=str(store),
                            executable=None, compression_level=6, force=False))


def _remove_diff(bundle, store):
    return remove_images(dict(names=["app2:1"], store=str(store)), diff=True)  # its look before the removal too


MODULES = {"load": _load, "info": _info, "remove": _remove, "prune": _prune, "save": _save, "remove --diff": _remove_diff}


def loaded_store(bundle, store):
    for name in ("app1:1", "app2:1"):
        load_image(dict(name=name, dir=str(bundle), store=str(store)))


def blob_like_folder(path):
    """A root-only folder of files named as blobs are (containerd's content store looks like this)."""
    path.mkdir()
    for n in range(3):
        (path / ("%064x" % n)).write_bytes(b"precious %d\n" % n)
    path.chmod(0o700)
    return path


def refused_by_every_module(bundle, store, outside, *words):
    before, outside_before = tree_snapshot(store), tree_snapshot(outside)
    for module, call in MODULES.items():
        with pytest.raises(BundleError) as err:
            call(bundle, store)
        for word in words:
            assert word in str(err.value), (module, str(err.value))
        assert tree_snapshot(store) == before, module
        assert tree_snapshot(outside) == outside_before, module


@pytest.mark.skipif(os.geteuid() != 0, reason="a store owned by another user needs root to make")
def test_a_store_of_another_user_with_a_linked_blob_folder_is_refused_and_nothing_is_deleted(bundle, tmp_path):
    store = tmp_path / "store"
    loaded_store(bundle, store)
    target = blob_like_folder(tmp_path / "content-store")
    shutil.rmtree(store / "blobs" / "sha256")
    (store / "blobs" / "sha256").symlink_to(target)
    for path in (store, store / "blobs", store / "index.json", store / "oci-layout"):
        os.lchown(path, NOBODY, NOBODY)
    refused_by_every_module(bundle, store, target, "bad ownership", str(store), "uid %d" % NOBODY)
    assert len(os.listdir(target)) == 3


@pytest.mark.parametrize("linked", ["blobs", "blobs/sha256", "index.json"])
def test_a_root_owned_store_with_a_link_in_its_tree_is_refused(bundle, tmp_path, linked):
    store = tmp_path / "store"
    loaded_store(bundle, store)
    outside = tmp_path / "outside"
    (store / linked).rename(outside)
    (store / linked).symlink_to(outside)
    refused_by_every_module(bundle, store, outside, str(store / linked), "not a")


def test_a_linked_staging_folder_is_refused_not_reported_removed(bundle, tmp_path):
    store = tmp_path / "store"
    loaded_store(bundle, store)
    target = blob_like_folder(tmp_path / "elsewhere")
    link = store / ".fleetimage-staging-abandoned"
    link.symlink_to(target)
    refused_by_every_module(bundle, store, target, "%s is a symbolic link" % link)


def test_a_linked_blob_is_not_read_and_not_followed(bundle, tmp_path):
    """A blob file that is a link: remove refuses before index.json changes, prune verify reports it."""
    store = tmp_path / "store"
    loaded_store(bundle, store)
    secret = tmp_path / "secret"
    secret.write_text("root's own\n")
    blobs = store / "blobs" / "sha256"
    manifest = sorted(blobs.iterdir(), key=lambda p: p.stat().st_size)[0]
    victim = next(p for p in blobs.iterdir() if p.stat().st_size > 1000)
    victim.unlink()
    victim.symlink_to(secret)
    report = prune_store(dict(store=str(store), verify=True))
    assert any(d["digest"].endswith(victim.name) and "symbolic link" in d["error"] for d in report["damaged"])
    assert secret.read_text() == "root's own\n" and victim.is_symlink()
    assert manifest.exists()


def blobs_of_name(store, name):
    """The blob files the image under NAME uses, read from index.json and its manifest independently."""
    import json
    index = json.loads((Path(store) / "index.json").read_text())
    entry = next(e for e in index["manifests"] if e["annotations"]["org.opencontainers.image.ref.name"] == name)
    manifest = json.loads((Path(store) / "blobs" / "sha256" / entry["digest"][7:]).read_text())
    return {d[7:] for d in [entry["digest"], manifest["config"]["digest"]] + [x["digest"] for x in manifest["layers"]]}


def test_a_blob_that_is_a_folder_makes_remove_fail_before_index_json_changes(bundle, tmp_path):
    store = tmp_path / "store"
    loaded_store(bundle, store)
    only_app2 = blobs_of_name(store, "app2:1") - blobs_of_name(store, "app1:1")
    folder = store / "blobs" / "sha256" / sorted(only_app2)[0]
    folder.unlink()
    folder.mkdir()
    (folder / "inside").write_text("kept\n")
    before = tree_snapshot(store)
    with pytest.raises(BundleError, match=r"blob %s is not a regular file .*nothing was changed" % re.escape(str(folder))):
        remove_images(dict(names=["app2:1"], store=str(store)))
    assert tree_snapshot(store) == before
    # prune's verify names it, and deletes nothing
    damaged = prune_store(dict(store=str(store), verify=True))["damaged"]
    assert [d["digest"] for d in damaged] == ["sha256:" + folder.name] and "not a regular file" in damaged[0]["error"]
    assert tree_snapshot(store) == before


@pytest.mark.parametrize("operation", ["remove", "prune"])
def test_every_file_system_call_of_remove_and_prune_may_fail(bundle, tmp_path, operation):
    """Each call fails in turn with EACCES, ENOSPC, EIO and EROFS: a message naming a path, and the store
    either fully changed or exactly as it was (index.json never rewritten by a removal that failed)."""
    template = tmp_path / "template"
    loaded_store(bundle, template)
    (template / ".fleetimage-staging-gone").mkdir()  # an abandoned load, for prune to clean up
    call = (lambda store: remove_images(dict(names=["app2:1"], store=str(store)))) if operation == "remove" else \
        (lambda store: prune_store(dict(store=str(store), keep=1, repositories=["app2"])))
    before = tree_snapshot(template)
    reference = tmp_path / "reference"
    shutil.copytree(template, reference, symlinks=True)
    with FaultInjector() as counting:
        call(reference)
    done = tree_snapshot(reference)
    assert done != before
    problems, outcomes = [], {"done": 0, "refused": 0}
    for k in range(1, counting.calls + 1):
        for error in FAULTS:
            store = tmp_path / "store"
            shutil.rmtree(store, ignore_errors=True)
            shutil.copytree(template, store, symlinks=True)
            injector = FaultInjector(k, error)
            label = "k=%d %s at %%s" % (k, errno.errorcode[error])
            try:
                with injector:
                    result = call(store)
                outcome = "done"
            except BundleError as exc:
                outcome = "refused"
                if not re.search(r"(^|[\s(])/", str(exc)) or "Errno" in str(exc):
                    problems.append(label % injector.failed_call + ": a poor message: %s" % exc)
            except Exception:  # pylint: disable=broad-except
                problems.append(label % injector.failed_call + ": raised\n" + traceback.format_exc(limit=-4))
                continue
            outcomes[outcome] += 1
            after = tree_snapshot(store)
            # Refused: index.json as it was, or (a clean-up after the commit failed, and said so) as committed.
            if outcome == "refused" and after.get("index.json") not in (before["index.json"], done["index.json"]):
                problems.append(label % injector.failed_call + ": refused, but index.json is neither as it was"
                                " nor as committed")
            # Done, but a staging folder could not be told abandoned: it counts as a running load's, so it
            # (and the blobs it may count on) stays for the next prune -- and the result claims no more than it did.
            if outcome == "done" and after != done and not _claims_hold(result, store, before, after, done):
                problems.append(label % injector.failed_call + ": reported done, but the store is not as it says")
    print("fault injection (%s): %d calls: %s" % (operation, counting.calls, outcomes))
    assert not problems, "\n".join(problems)
    assert outcomes["refused"] > 0


def _claims_hold(result, store, before, after, done):
    def blobs(snap):
        return set(p for p in snap if p.startswith("blobs/sha256/"))

    left = set(after) - set(done)
    claimed = set(os.path.relpath(p, str(store)) for p in result.get("staging_removed", []))
    return (after["index.json"] == done["index.json"] and left <= set(before)
            and not any(p == c or p.startswith(c + "/") for p in after for c in claimed)
            and result["blobs_removed"] == len(blobs(before) - blobs(after)))


@pytest.fixture
def read_only_store(tmp_path, bundle):
    """A loaded store on a tmpfs remounted read-only (a real EROFS)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    with tmpfs(mount, "64m"):
        store = mount / "store"
        loaded_store(bundle, store)
        (store / ".fleetimage-staging-gone").mkdir()
        remount_read_only(mount)
        yield store


def test_remove_and_prune_on_a_read_only_store_are_messages(read_only_store):
    before = tree_snapshot(read_only_store)
    for call in (lambda: remove_images(dict(names=["app2:1"], store=str(read_only_store))),
                 lambda: prune_store(dict(store=str(read_only_store), keep=1))):
        with pytest.raises(BundleError) as err:
            call()
        assert "Read-only file system" in str(err.value) and str(read_only_store) in str(err.value)
        assert "Errno" not in str(err.value)
    assert tree_snapshot(read_only_store) == before


AS_NOBODY = """
import sys
sys.path[:0] = sys.argv[2:]
import os
from support.operations import module_params, prune_store, remove_images
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
import datetime, tarfile, zlib, json, hashlib, fcntl, shutil, tempfile  # noqa: E401,F401  # imported as root
module_params("separated_image_remove"), module_params("separated_image_prune")  # the modules, imported as root
os.setgid(65534)
os.setuid(65534)
for name, call in (("remove", lambda: remove_images({"names": ["app2:1"], "store": sys.argv[1]})),
                   ("prune", lambda: prune_store({"store": sys.argv[1], "keep": 1}))):
    try:
        call()
        print(name, "done")
    except BundleError as exc:
        print(name, "refused:", exc)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="runs remove and prune as another user: needs root")
def test_remove_and_prune_as_another_user_on_a_root_owned_store_are_messages(bundle):
    import subprocess
    import sys
    import tempfile

    top = tempfile.mkdtemp(prefix="fleetimage-nobody-")
    try:
        os.chmod(top, 0o755)
        store = os.path.join(top, "store")
        loaded_store(bundle, store)
        os.mkdir(os.path.join(store, ".fleetimage-staging-gone"))  # work for prune: an abandoned load
        before = tree_snapshot(store)
        done = subprocess.run([sys.executable, "-c", AS_NOBODY, store] + sys.path, capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.strip().splitlines()
        assert [line.split()[:2] for line in lines] == [["remove", "refused:"], ["prune", "refused:"]], lines
        assert all("Permission denied" in line and store in line and "Errno" not in line for line in lines), lines
        assert tree_snapshot(store) == before
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.mark.parametrize("kind", ["link", "folder"])
def test_a_load_never_reuses_a_blob_that_is_no_regular_file(bundle, tmp_path, kind):
    store = tmp_path / "store"
    load_image(dict(name="app1:1", dir=str(bundle), store=str(store)))
    shared = sorted(blobs_of_name(store, "app1:1"), key=lambda h: -(store / "blobs" / "sha256" / h).stat().st_size)[0]
    blob = store / "blobs" / "sha256" / shared  # the largest: a layer app2 shares (base or lib)
    outside = tmp_path / "outside"
    blob.rename(outside)
    if kind == "link":
        blob.symlink_to(outside)
    else:
        blob.mkdir()
    before, outside_before = tree_snapshot(store), outside.read_bytes()
    with pytest.raises(BundleError, match="blob %s is not a regular file" % re.escape(str(blob))):
        load_image(dict(name="app2:1", dir=str(bundle), store=str(store)))
    assert tree_snapshot(store) == before and outside.read_bytes() == outside_before
