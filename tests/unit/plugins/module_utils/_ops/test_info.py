"""separated_image_info's logic, called directly (fast), on copies of isula-build's own bundle."""

from __future__ import annotations

import os

import pytest
from support.bundles import (
    APP1,
    APP2,
    BASE,
    LIB,
    IMAGE_IDS,
    ISULA_BUNDLE,
    read_index,
    rewrite_tarball,
    sha256,
    tree_snapshot,
    write_index,
)
from support.images import make_bundle

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from support.operations import bundle_info
from support.operations import load_image


def info(bundle=None, store=None, **params):
    params.setdefault("dir", str(bundle) if bundle is not None else None)
    params.setdefault("store", str(store))
    params.setdefault("engine", "oci")
    return bundle_info(params)


def by_part(app):
    return dict((t["part"], t) for t in app["tarballs"])


def test_reports_every_app_its_tarballs_and_the_files_they_need(bundle, store):
    result = info(bundle, store)
    index = read_index(bundle)

    assert result["changed"] is False
    assert sorted(result["apps"]) == ["app1:1", "app2:1"]
    assert (result["present"], result["missing"]) == ([], ["app1:1", "app2:1"])
    app2 = result["apps"]["app2:1"]
    assert (app2["present"], app2["image_id"], app2["base_image"], app2["lib_image"]) == (False, None, "base:1", "lib:1")
    assert [t["part"] for t in app2["tarballs"]] == ["app", "lib", "base"]
    assert by_part(app2)["lib"] == {
        "part": "lib", "file": LIB, "path": str(bundle / LIB), "size": os.path.getsize(str(bundle / LIB)),
        "sha256": index["app2:1"]["libHash"], "exists": True, "verified": None, "error": None,
    }
    assert (app2["verified"], app2["error"], app2["bundle_image_id"]) == (None, None, None)
    assert [f["file"] for f in result["files"]] == sorted([APP1, APP2, BASE, LIB])
    assert result["files_needed"] == result["files"]
    assert result["files"][0] == {"file": APP1, "path": str(bundle / APP1), "sha256": sha256(bundle / APP1),
                                  "size": os.path.getsize(str(bundle / APP1))}


def test_presence_before_and_after_a_load(bundle, store):
    assert info(bundle, store)["present"] == []
    load_image(dict(name="app1:1", dir=str(bundle), store=str(store)))

    result = info(bundle, store)

    assert (result["present"], result["missing"]) == (["app1:1"], ["app2:1"])
    assert result["apps"]["app1:1"]["image_id"] == IMAGE_IDS["app1:1"]
    assert result["apps"]["app2:1"]["image_id"] is None
    assert [f["file"] for f in result["files_needed"]] == [BASE, LIB, APP2]
    assert len(result["files"]) == 4


def test_names_select_apps_and_take_latest_when_untagged(bundle, store):
    result = info(bundle, store, names=["app2:1", "app2:1"])
    assert list(result["apps"]) == ["app2:1"]
    assert [f["file"] for f in result["files"]] == [BASE, LIB, APP2]

    with pytest.raises(BundleError, match="failed to find app image app1:latest in .*/manifest"):
        info(bundle, store, names=["app1"])


def test_without_a_bundle_only_presence_is_reported(tmp_path, bundle, store):
    load_image(dict(name="app2:1", dir=str(bundle), store=str(store)))

    result = info(None, store, names=["app1:1", "app2:1"])

    assert (result["present"], result["missing"]) == (["app2:1"], ["app1:1"])
    assert result["apps"]["app2:1"]["image_id"] == IMAGE_IDS["app2:1"]
    assert result["apps"]["app1:1"]["tarballs"] == [] and result["apps"]["app1:1"]["base_image"] is None
    assert result["files"] == result["files_needed"] == []
    with pytest.raises(BundleError, match="give names, the dir of a bundle, or both"):
        info(None, store)


def test_a_store_that_does_not_exist_holds_nothing_and_is_not_created(bundle, tmp_path):
    result = info(bundle, tmp_path / "nowhere" / "store")
    assert result["missing"] == ["app1:1", "app2:1"]
    assert not (tmp_path / "nowhere").exists()


def test_verify_passes_on_isula_builds_bundle_and_writes_nothing(tmp_path, bundle, store):
    before = tree_snapshot(tmp_path)

    result = info(bundle, store, verify=True)

    assert tree_snapshot(tmp_path) == before
    for name, app in result["apps"].items():
        assert (app["verified"], app["error"], app["bundle_image_id"]) == (True, None, IMAGE_IDS[name])
        assert all(t["verified"] is True and t["error"] is None for t in app["tarballs"])


def test_verify_catches_a_corrupted_tarball(bundle, store):
    path = bundle / APP2
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))

    result = info(bundle, store, verify=True)

    app2 = result["apps"]["app2:1"]
    assert by_part(app2)["app"]["verified"] is False
    assert by_part(app2)["app"]["error"].startswith("check sum for file %s failed: got " % path)
    assert (by_part(app2)["lib"]["verified"], by_part(app2)["base"]["verified"]) == (True, True)
    assert app2["verified"] is False
    assert app2["error"] == "not checked as a whole: tarball %s failed its own check" % APP2
    assert result["apps"]["app1:1"]["verified"] is True


def test_verify_catches_a_layer_that_does_not_match_the_config(bundle, store):
    def change_a_layer(entries):
        return [(info, data.replace(b"app2", b"appX") if info.name.endswith("/layer.tar") else data)
                for info, data in entries]

    rewrite_tarball(bundle, APP2, change_a_layer)  # the index hash is fixed: the tarball itself verifies

    app2 = info(bundle, store, verify=True)["apps"]["app2:1"]

    assert by_part(app2)["app"]["verified"] is True
    assert app2["verified"] is False
    assert "has sha256 sha256:" in app2["error"] and "but the image config expects" in app2["error"]


def test_verify_catches_a_tarball_that_is_no_archive(bundle, store):
    (bundle / LIB).write_bytes(b"not a tarball at all\n" * 40)
    index = read_index(bundle)
    for entry in index.values():
        entry["libHash"] = sha256(bundle / LIB)
    write_index(bundle, index)

    lib = by_part(info(bundle, store, verify=True)["apps"]["app1:1"])["lib"]

    assert lib["verified"] is False
    assert "is neither a tar archive nor a compressed one" in lib["error"]


def test_a_missing_tarball_is_reported(bundle, store):
    (bundle / LIB).unlink()

    result = info(bundle, store)
    lib = by_part(result["apps"]["app1:1"])["lib"]
    assert (lib["exists"], lib["size"], lib["verified"]) == (False, None, None)
    assert lib["error"] == "lib tarball %s cannot be read: No such file or directory" % (bundle / LIB)
    assert next(f for f in result["files"] if f["file"] == LIB)["size"] is None

    verified = info(bundle, store, verify=True)
    for app in verified["apps"].values():
        assert by_part(app)["lib"]["verified"] is False
        assert (app["verified"], app["error"]) == (False, "not checked as a whole: tarball %s failed its own check" % LIB)
        assert by_part(app)["base"]["verified"] is True


def test_a_bundle_without_lib(tmp_path, store):
    built = make_bundle(str(tmp_path / "bundle"), lib=None)

    app = info(built.path, store, verify=True)["apps"]["app1:1"]

    assert app["lib_image"] is None
    assert [t["part"] for t in app["tarballs"]] == ["app", "base"]
    assert app["verified"] is True


def test_index_names_never_resolve_outside_the_bundle(bundle, store):
    index = read_index(bundle)
    index["app1:1"]["base"] = "../" + ISULA_BUNDLE.name + "/" + BASE
    write_index(bundle, index)

    with pytest.raises(BundleError, match="resolves outside"):
        info(bundle, store)
