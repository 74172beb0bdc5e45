"""A tag reused by a rebuild is loaded: presence in the OCI store is keyed on the bundle's content.

The first bundle is the one isula-build wrote (app1:1, app2:1); the "rebuilt"
one is a bundle of this project's test images under the same name app1:1,
a different image.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.bundles import APP1, BASE, IMAGE_IDS, LIB, members, read_index, set_hash, sha256, tree_snapshot, write_tarball
from support.images import make_bundle

from support.operations import bundle_info, load_image
from support.stores import forget_records

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError



def load(bundle, store, name="app1:1", check_mode=False, **params):
    return load_image(dict(params, name=name, dir=str(bundle), store=str(store)), check_mode=check_mode)


def names_and_ids(store):
    """{name: image id} as index.json and the manifests say, read independently of the module."""
    index = json.loads((Path(store) / "index.json").read_text())
    result = {}
    for entry in index["manifests"]:
        manifest = json.loads((Path(store) / "blobs" / "sha256" / entry["digest"].split(":")[1]).read_text())
        result[entry["annotations"]["org.opencontainers.image.ref.name"]] = manifest["config"]["digest"].split(":")[1]
    return result


@pytest.fixture
def rebuilt(tmp_path):
    """A bundle that holds another image under the name app1:1."""
    return make_bundle(tmp_path / "rebuilt", apps=("app1:1",))


def rebuilt_id(rebuilt):
    with_tags = [m for m in members(Path(rebuilt.path) / rebuilt.index["app1:1"]["app"]) if m[0].name == "manifest.json"]
    return json.loads(with_tags[0][1])[0]["Config"][:-len(".json")]


def test_a_rebuilt_tag_is_loaded_and_the_name_moves(bundle, store, rebuilt):
    new_id = rebuilt_id(rebuilt)
    first = load(bundle, store)
    assert first["previous_id"] is None

    moved = load(rebuilt.path, store)
    assert moved["action"] == "loaded" and moved["changed"] is True
    assert moved["previous_id"] == IMAGE_IDS["app1:1"]
    assert moved["image"]["id"] == new_id != IMAGE_IDS["app1:1"]
    assert names_and_ids(store) == {"app1:1": new_id}

    # Now the store holds the rebuilt image: a re-run reads no tarball at all.
    for tarball in Path(rebuilt.path).glob("*.tar.gz"):
        tarball.unlink()
    again = load(rebuilt.path, store)
    assert again["action"] == "present" and again["changed"] is False
    assert again["previous_id"] == again["image"]["id"] == new_id

    # And the first bundle moves the name back.
    back = load(bundle, store)
    assert back["action"] == "loaded" and back["previous_id"] == new_id
    assert names_and_ids(store) == {"app1:1": IMAGE_IDS["app1:1"]}


def test_check_mode_predicts_the_load_of_a_name_that_holds_another_image(bundle, store, rebuilt):
    load(bundle, store)
    before = tree_snapshot(store)
    would = load(rebuilt.path, store, check_mode=True)
    assert would["action"] == "would_load" and would["changed"] is True
    assert would["previous_id"] == IMAGE_IDS["app1:1"]
    assert tree_snapshot(store) == before
    present = load(bundle, store, check_mode=True)
    assert present["action"] == "present" and present["changed"] is False


def test_skip_check_keeps_its_meaning_for_presence(bundle, store, rebuilt):
    load(bundle, store)
    set_hash(rebuilt.path, rebuilt.index["app1:1"]["base"], "0" * 64)
    moved = load(rebuilt.path, store, skip_check=True)
    assert moved["action"] == "loaded" and moved["checksums_verified"] is False
    assert load(rebuilt.path, store, skip_check=True)["action"] == "present"


def test_an_entry_without_record_is_compared_by_image_id_from_the_app_tarball(bundle, store, rebuilt):
    load(bundle, store)
    forget_records(store)
    # The same image: present, reading only the app tarball (lib and base are gone).
    (bundle / LIB).unlink()
    (bundle / BASE).unlink()
    present = load(bundle, store)
    assert present["action"] == "present" and present["changed"] is False
    assert present["image"]["id"] == IMAGE_IDS["app1:1"]
    # Another image under the name: loaded.
    moved = load(rebuilt.path, store)
    assert moved["action"] == "loaded" and moved["previous_id"] == IMAGE_IDS["app1:1"]
    entry = json.loads((store / "index.json").read_text())["manifests"][0]
    assert entry["annotations"]["fleetimage.separated.app-sha256"] == rebuilt.index["app1:1"]["appHash"]


def test_the_app_tarball_is_read_only_until_manifest_and_config_are_known(bundle, store):
    """Metadata first, then bytes no reader accepts: the id is known before the reader reaches them."""
    load(bundle, store)
    forget_records(store)
    app = bundle / APP1
    entries = members(app)
    metadata = [m for m in entries if m[0].name == "manifest.json" or m[0].name.endswith(".json") and "/" not in m[0].name]
    write_tarball(app, metadata + [m for m in entries if m not in metadata])
    with open(app, "ab") as f:
        f.write(b"this is not gzip" * 1000)
    set_hash(bundle, APP1, sha256(app))
    present = load(bundle, store)
    assert present["action"] == "present" and present["image"]["id"] == IMAGE_IDS["app1:1"]
    with pytest.raises(BundleError, match="not a valid"):
        load(bundle, store, force=True)  # a whole read does reach them


def test_a_missing_app_tarball_is_a_clear_error_when_presence_needs_it(bundle, store):
    load(bundle, store)
    forget_records(store)
    (bundle / APP1).unlink()
    with pytest.raises(BundleError, match="app tarball %s cannot be read" % (bundle / APP1)):
        load(bundle, store)


def test_force_reload_of_the_same_bundle_changes_nothing(bundle, store):
    load(bundle, store)
    before = tree_snapshot(store)
    forced = load(bundle, store, force=True)
    assert forced["action"] == "loaded" and forced["changed"] is False
    assert tree_snapshot(store) == before  # the load time of an unchanged name is kept


# separated_image_info: the same decision, per app


def info(store, **params):
    return bundle_info(dict(params, store=str(store)))


def test_info_tells_the_bundles_image_from_another_under_the_name(bundle, store, rebuilt):
    load(bundle, store)
    assert info(store, dir=str(bundle))["apps"]["app1:1"]["state"] == "bundle"
    result = info(store, dir=str(rebuilt.path))
    assert result["apps"]["app1:1"]["state"] == "other" and result["apps"]["app1:1"]["present"] is False
    assert result["stale"] == ["app1:1"] and result["missing"] == ["app1:1"] and result["present"] == []
    assert [f["file"] for f in result["files_needed"]] == sorted(f["file"] for f in result["files"])
    rebuilt_app2 = info(store, dir=str(bundle))
    assert rebuilt_app2["apps"]["app2:1"]["state"] == "absent" and rebuilt_app2["stale"] == []


def test_info_with_the_index_alone_decides_from_the_record(bundle, store, rebuilt):
    load(bundle, store)
    same = info(store, index=read_index(bundle))
    assert same["apps"]["app1:1"]["state"] == "bundle" and same["present"] == ["app1:1"]
    assert same["apps"]["app2:1"]["state"] == "absent" and same["missing"] == ["app2:1"]
    other = info(store, index=rebuilt.index)
    assert other["stale"] == ["app1:1"] and other["missing"] == ["app1:1"]
    forget_records(store)
    unknown = info(store, index=read_index(bundle), names=["app1:1"])
    assert unknown["apps"]["app1:1"]["state"] == "unknown"
    assert unknown["missing"] == ["app1:1"] and unknown["stale"] == []
    # Without a bundle, only whether a name holds an image: as before.
    assert info(store, names=["app1:1"])["present"] == ["app1:1"]
    with pytest.raises(BundleError, match="not both"):
        info(store, dir=str(bundle), index=read_index(bundle))
