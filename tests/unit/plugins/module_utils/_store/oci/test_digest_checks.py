"""Digests from a bundle or a store name no file until they are checked.

A diff id or a descriptor's digest becomes a blob path; each must be
'sha256:' + 64 lower-case hex, or the load stops before anything outside the
store is opened, stat'ed or read.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
from pathlib import Path

import pytest
from support.bundles import APP1, change_config, tree_snapshot

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from support.operations import load_image

HEX = "a" * 64


def load(bundle, store, name="app1:1", **params):
    return load_image(dict(params, name=name, dir=str(bundle), store=str(store)))


@pytest.fixture
def paths_touched(monkeypatch):
    """Every path the code under test opens or stats, as given."""
    seen = []
    for module, name in ((os, "stat"), (os, "lstat"), (os, "open"), (builtins, "open")):
        real = getattr(module, name)

        def recording(path, *args, _real=real, **kwargs):
            if isinstance(path, (str, bytes, os.PathLike)):
                seen.append(os.fsdecode(path))
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(module, name, recording)
    return seen


@pytest.mark.parametrize("hostile", [
    "sha256:../../../../etc/passwd",
    "sha256:" + HEX.upper(),
    "sha512:" + HEX,
    HEX,
    "sha256:" + HEX[:63],
    "sha256:" + HEX + "\n",
    "sha256:" + HEX + "/../../../../etc/passwd",
    42,
])
def test_a_diff_id_that_is_no_digest_is_refused_before_it_names_a_file(bundle, store, paths_touched, hostile):
    def poison(config):
        config["rootfs"]["diff_ids"][-1] = hostile

    change_config(bundle, poison)
    with pytest.raises(BundleError) as err:
        load(bundle, store)
    assert "malformed rootfs.diff_ids" in str(err.value) and str(bundle / APP1) in str(err.value)
    assert not [p for p in paths_touched if "etc/passwd" in p]
    assert tree_snapshot(store) is None


def test_the_passwd_diff_id_of_the_report_is_refused_with_a_store_in_place(bundle, store, paths_touched):
    load(bundle, store, name="app2:1")
    before = tree_snapshot(store)
    change_config(bundle, lambda config: config["rootfs"]["diff_ids"].__setitem__(0, "sha256:../../../../etc/passwd"))
    with pytest.raises(BundleError, match="malformed rootfs.diff_ids"):
        load(bundle, store, force=True)
    assert tree_snapshot(store) == before
    assert not [p for p in paths_touched if "etc/passwd" in p]


def _loaded_store(bundle, store):
    load(bundle, store)
    index_path = Path(store) / "index.json"
    return index_path, json.loads(index_path.read_text())


@pytest.mark.parametrize("entry, message", [
    ("just a string", "is not a JSON object but str"),
    (["a", "list"], "is not a JSON object but list"),
    ({"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1,
      "digest": "sha256:../../../../etc/passwd"}, "is not 'sha256:' followed by 64"),
    ({"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1, "digest": 7}, "is not 'sha256:'"),
    ({"mediaType": 3, "size": 1, "digest": "sha256:" + HEX}, "no mediaType"),
    ({"mediaType": "x", "size": "12", "digest": "sha256:" + HEX}, "no size"),
    ({"mediaType": "x", "size": 1, "digest": "sha256:" + HEX, "annotations": ["a"]}, "annotations"),
])
def test_a_store_index_entry_of_the_wrong_shape_names_the_index(bundle, store, paths_touched, entry, message):
    index_path, index = _loaded_store(bundle, store)
    index["manifests"].append(entry)
    index_path.write_text(json.dumps(index))
    before = tree_snapshot(store)
    for params in ({}, {"force": True}, {"name": "app2:1"}):
        with pytest.raises(BundleError) as err:
            load(bundle, store, **params)
        assert message in str(err.value)
        assert "entry 1 of the store index %s" % index_path in str(err.value)
    assert tree_snapshot(store) == before
    assert not [p for p in paths_touched if "etc/passwd" in p]


@pytest.mark.parametrize("field", ["config", "layer"])
def test_a_stored_manifest_listing_a_path_as_a_digest_is_refused(bundle, store, paths_touched, field):
    index_path, index = _loaded_store(bundle, store)
    manifest = json.loads((Path(store) / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_text())
    if field == "config":
        manifest["config"]["digest"] = "sha256:../../../../etc/passwd"
    else:
        manifest["layers"][1]["digest"] = "sha256:../../../../etc/passwd"
    data = json.dumps(manifest).encode()
    digest = hashlib.sha256(data).hexdigest()
    (Path(store) / "blobs" / "sha256" / digest).write_bytes(data)
    index["manifests"][0]["digest"] = "sha256:" + digest
    index_path.write_text(json.dumps(index))
    with pytest.raises(BundleError) as err:
        load(bundle, store)
    assert "is not 'sha256:' followed by 64" in str(err.value) and digest in str(err.value)
    assert not [p for p in paths_touched if "etc/passwd" in p]
