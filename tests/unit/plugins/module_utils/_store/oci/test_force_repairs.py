"""force: true re-verifies every blob it would reuse, and writes a damaged one again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from support.bundles import IMAGE_IDS

from support.operations import load_image


def load(bundle, store, name="app1:1", **params):
    return load_image(dict(params, name=name, dir=str(bundle), store=str(store)))


def blob(store, digest):
    return Path(store) / "blobs" / "sha256" / digest.split(":")[1]


def intact(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() == path.name


def _manifest_digest(store):
    return json.loads((Path(store) / "index.json").read_text())["manifests"][0]["digest"]


@pytest.mark.parametrize("which", ["base layer", "top layer", "config", "manifest"])
def test_force_rewrites_a_damaged_blob(bundle, store, which):
    first = load(bundle, store)
    manifest_digest = _manifest_digest(store)
    target = {
        "base layer": lambda: blob(store, first["image"]["layers"][0]),
        "top layer": lambda: blob(store, first["image"]["layers"][-1]),
        "config": lambda: blob(store, "sha256:" + IMAGE_IDS["app1:1"]),
        "manifest": lambda: blob(store, manifest_digest),
    }[which]()
    data = target.read_bytes()
    target.write_bytes(data[:len(data) // 2] + b"planted" + data[len(data) // 2 + 7:])
    assert not intact(target)

    if which.endswith("layer"):
        # Without force a layer in the store is trusted: the image is present, nothing is read.
        assert load(bundle, store)["action"] == "present" and not intact(target)
        repaired = load(bundle, store, force=True)
    else:
        # Configs and manifests are small: checked on every run, a damaged one means "not present".
        repaired = load(bundle, store)
    assert repaired["action"] == "loaded" and repaired["changed"] is True
    assert repaired["image"]["id"] == IMAGE_IDS["app1:1"]
    assert intact(target)
    assert all(intact(p) for p in (Path(store) / "blobs" / "sha256").iterdir())
    again = load(bundle, store, force=True)
    assert again["changed"] is False and again["bytes_written"] == 0


def test_force_repairs_a_shared_layer_a_second_app_would_reuse(bundle, store):
    first = load(bundle, store)
    base = blob(store, first["image"]["layers"][0])
    base.write_bytes(b"not the base layer")
    result = load(bundle, store, name="app2:1", force=True)
    assert result["layers_written"] >= 1 and intact(base)
