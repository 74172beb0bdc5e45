"""separated_image_remove and separated_image_prune on the OCI store, called directly.

Whatever they remove, the store stays one that skopeo and the loader read:
every name reaches a manifest, a config and layers that are all there and
match their digests (checked here independently, with hashlib).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from support.bundles import IMAGE_IDS, tree_snapshot
from support.images import make_bundle

from support.operations import load_image, prune_store, remove_images

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.destination import destination
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci.lock import STAGING_PREFIX


def load(bundle, store, name="app1:1", **params):
    return load_image(dict(params, name=name, dir=str(bundle), store=str(store)))


def remove(store, *names, check_mode=False):
    return remove_images({"names": list(names), "store": str(store)}, check_mode=check_mode)


def prune(store, check_mode=False, **params):
    return prune_store(dict(params, store=str(store)), check_mode=check_mode)


def blob_files(store):
    folder = Path(store) / "blobs" / "sha256"
    return {"sha256:" + p.name: p for p in folder.iterdir()} if folder.exists() else {}


def check_store(store):
    """{name: image id}; fails unless every blob each name needs is there and matches, and nothing else is."""
    index = json.loads((Path(store) / "index.json").read_text())
    blobs = blob_files(store)
    needed, names = set(), {}
    for entry in index["manifests"]:
        manifest = json.loads(blobs[entry["digest"]].read_bytes())
        parts = [entry["digest"], manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]
        for digest in parts:
            assert "sha256:" + hashlib.sha256(blobs[digest].read_bytes()).hexdigest() == digest
        needed.update(parts)
        names[entry["annotations"]["org.opencontainers.image.ref.name"]] = manifest["config"]["digest"][7:]
    assert set(blobs) == needed, "blobs no image uses: %s" % sorted(set(blobs) - needed)
    return names


@pytest.fixture(scope="module")
def app1_versions(tmp_path_factory):
    """Bundles of app1:2 and app1:3: further images of the repository app1."""
    folder = tmp_path_factory.mktemp("versions")
    return {tag: make_bundle(folder / tag.replace(":", "_"), apps=(tag,)).path for tag in ("app1:2", "app1:3")}


# remove


def test_remove_takes_the_name_and_only_the_blobs_no_other_image_uses(bundle, store):
    load(bundle, store)
    app2 = load(bundle, store, name="app2:1")
    result = remove(store, "app1:1")
    assert result["changed"] is True and result["removed"] == ["app1:1"] and result["absent"] == []
    assert result["blobs_removed"] == 4  # app1's own two layers, its config and its manifest
    assert result["bytes_freed"] > 0 and result["blobs_deferred"] is False
    assert check_store(store) == {"app2:1": IMAGE_IDS["app2:1"]}
    # app2 keeps base and lib: still present, reading no tarball
    assert load(bundle, store, name="app2:1")["action"] == "present"
    assert app2["image"]["layers"][:3] == [d for d in app2["image"]["layers"][:3] if d in blob_files(store)]


def test_remove_is_idempotent_and_check_mode_changes_nothing(bundle, store):
    load(bundle, store)
    before = tree_snapshot(store)
    would = remove(store, "app1:1", "app9:1", check_mode=True)
    assert would["changed"] is True and would["removed"] == ["app1:1"] and would["absent"] == ["app9:1"]
    assert would["blobs_removed"] == 7  # the whole image: nothing else uses its blobs
    assert tree_snapshot(store) == before
    assert remove(store, "app1:1")["changed"] is True
    again = remove(store, "app1:1")
    assert again["changed"] is False and again["absent"] == ["app1:1"] and again["blobs_removed"] == 0
    assert check_store(store) == {} and blob_files(store) == {}


def test_remove_from_a_store_that_does_not_exist_creates_nothing(store):
    assert remove(store, "app1:1")["changed"] is False
    assert not store.exists()


def test_remove_matches_the_name_as_docker_resolves_it(bundle, store):
    load(bundle, store)
    assert remove(store, "docker.io/library/app1:1")["removed"] == ["app1:1"]


def test_remove_while_a_load_runs_leaves_the_blobs_for_a_later_prune(bundle, store):
    load(bundle, store)
    with destination(str(store)):  # a load between its start and its commit
        result = remove(store, "app1:1")
        assert result["removed"] == ["app1:1"] and result["blobs_deferred"] is True
        assert result["blobs_removed"] == 0 and len(blob_files(store)) == 7
        assert prune(store)["blobs_deferred"] is True
    pruned = prune(store)
    assert pruned["blobs_removed"] == 7 and pruned["blobs_deferred"] is False
    assert blob_files(store) == {}


# prune: keep


def test_keep_leaves_the_newest_of_each_repository(bundle, store, app1_versions):
    load(bundle, store)  # app1:1, the oldest
    load(app1_versions["app1:2"], store, name="app1:2")
    load(bundle, store, name="app2:1")  # another repository, alone in it
    load(app1_versions["app1:3"], store, name="app1:3")
    ids = check_store(store)

    would = prune(store, keep=2, check_mode=True)
    assert would["removed"] == ["app1:1"] and would["changed"] is True
    pruned = prune(store, keep=2)
    assert pruned["removed"] == ["app1:1"] and pruned["bytes_freed"] > 0
    assert check_store(store) == dict((n, ids[n]) for n in ("app1:2", "app1:3", "app2:1"))
    # Only the repositories asked for.
    assert prune(store, keep=1, repositories=["app2"])["removed"] == []
    assert prune(store, keep=1, repositories=["docker.io/library/app1"])["removed"] == ["app1:2"]
    assert prune(store, keep=1)["changed"] is False


def test_keep_counts_names_without_record_as_the_oldest(bundle, store, app1_versions):
    load(app1_versions["app1:2"], store, name="app1:2")
    load(bundle, store)  # app1:1, loaded after app1:2 ...
    index_path = store / "index.json"
    index = json.loads(index_path.read_text())
    for entry in index["manifests"]:
        if entry["annotations"]["org.opencontainers.image.ref.name"] == "app1:1":
            del entry["annotations"]["fleetimage.separated.loaded-at"]  # ... but by a tool that records nothing
    index_path.write_text(json.dumps(index))
    assert prune(store, keep=1)["removed"] == ["app1:1"]


def test_keep_must_be_positive(store):
    with pytest.raises(BundleError, match="keep must be 1 or more"):
        prune(store, keep=0)


# prune: garbage


def test_prune_removes_garbage_of_killed_loads_and_reports_the_bytes(bundle, store):
    load(bundle, store)
    kept = check_store(store)
    orphan = store / "blobs" / "sha256" / hashlib.sha256(b"orphan").hexdigest()
    orphan.write_bytes(b"orphan")  # published by a load killed before it replaced index.json
    staging = store / (STAGING_PREFIX + "killed")
    staging.mkdir()
    (staging / "tmpabc").write_bytes(b"x" * 1000)  # the staging folder of a killed load
    half_written = store / ".index-killed"
    half_written.write_bytes(b"{")  # the new index.json of a removal killed before its rename

    would = prune(store, check_mode=True)
    assert would["changed"] is True and would["blobs_removed"] == 1 and would["bytes_freed"] == 1007
    assert would["staging_removed"] == [str(staging), str(half_written)]
    assert staging.exists() and orphan.exists() and half_written.exists()

    pruned = prune(store)
    assert pruned["changed"] is True and pruned["removed"] == []
    assert pruned["blobs_removed"] == 1 and pruned["bytes_freed"] == 1007
    assert pruned["staging_removed"] == [str(staging), str(half_written)]
    assert not staging.exists() and not orphan.exists() and not half_written.exists()
    assert check_store(store) == kept
    assert prune(store)["changed"] is False


def test_prune_never_touches_the_staging_folder_of_a_running_load(bundle, store):
    load(bundle, store)
    with destination(str(store)) as dest:
        pruned = prune(store)
        assert pruned["staging_removed"] == [] and os.path.isdir(dest._dir)  # pylint: disable=protected-access


# prune: verify


def test_verify_reports_a_damaged_blob_with_its_images_and_keeps_it(bundle, store):
    app1 = load(bundle, store)
    load(bundle, store, name="app2:1")
    base = app1["image"]["layers"][0]
    path = blob_files(store)[base]
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    missing = app1["image"]["layers"][-1]  # app1's own top layer
    blob_files(store)[missing].unlink()

    assert prune(store)["damaged"] == []  # not checked without verify
    result = prune(store, verify=True)
    assert result["damaged"] == [
        {"digest": base, "error": "its sha256 is %s" % hashlib.sha256(bytes(data)).hexdigest(),
         "images": ["app1:1", "app2:1"]},
        {"digest": missing, "error": "missing", "images": ["app1:1"]},
    ]
    assert result["changed"] is False and path.exists()
