"""separated_image_save's logic, called directly (fast): sources, isula-build's checks, the destination.

Images come from isula-build's fixture archives (podman-written docker-archives)
and from test images built locally (tests/support/images.py); the engine
sources are tested with a real podman in tests/integration/.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import tracemalloc
from pathlib import Path

import pytest
from support.bundles import IMAGE_IDS, ISULA_BUNDLE, copy_bundle, members, tree_snapshot, write_tarball
from support.images import make_images, write_docker_archive

from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import destination
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.image_source import ImageSource, LayerSource
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.go_json import go_json
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.stream_metadata import read_archive_metadata
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.file_source import read_docker_archive
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from support.operations import load_image
from support.saving import ARCHIVES, save

APP_IDS = dict(IMAGE_IDS, **{"base:1": "80f89ca78b2a9b06b7f4a36ecea1f6a6ecf3b4acfe082ffffba7f5e8eac4687e",
                             "lib:1": "e3605ed9b2bafaadc86f11f915163cd80ee8e75ee8a58ca146b7b2637e751e16"})
HEX64 = re.compile(rb'Hash":"[0-9a-f]{64}"')


def files(folder):
    return {path.name: path.read_bytes() for path in sorted(Path(folder).iterdir())}


def hidden(folder):
    """Temporary folders a save left beside its dest (none, ever)."""
    return sorted(name for name in os.listdir(str(folder)) if name.startswith("."))


# --- what is written ------------------------------------------------------------------------


def test_fixture_archives_give_isula_builds_bundle(tmp_path):
    dest = tmp_path / "bundle"
    result = save(dest)

    assert (result["changed"], result["action"], result["dest"]) == (True, "written", str(dest))
    expected, written = files(ISULA_BUNDLE), files(dest)
    assert sorted(written) == sorted(expected)
    for name in expected:
        if name == "manifest":
            assert HEX64.sub(b'Hash":"-"', written[name]) == HEX64.sub(b'Hash":"-"', expected[name])
        else:
            assert gzip.decompress(written[name]) == gzip.decompress(expected[name]), name
    assert json.loads(written["manifest"]) == result["index"]
    assert oct(os.stat(str(dest / "manifest")).st_mode & 0o777) == "0o600"
    assert result["files"] == [
        {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()} for name, data in written.items()]
    assert hidden(tmp_path) == []


def test_saved_twice_is_byte_identical(tmp_path):
    save(tmp_path / "one")
    save(tmp_path / "two", names=["app2:1", "app1:1", "app2:1"], archives=list(reversed(ARCHIVES)))

    assert files(tmp_path / "one") == files(tmp_path / "two")


def test_saving_again_into_the_same_dest_changes_nothing(tmp_path):
    dest = tmp_path / "bundle"
    first = save(dest)
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in dest.iterdir()}

    again = save(dest)

    assert (again["changed"], again["action"]) == (False, "unchanged")
    assert again["index"] == first["index"] and again["files"] == first["files"]
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in dest.iterdir()} == before
    assert hidden(tmp_path) == []


def test_check_mode_reports_the_plan_and_writes_nothing(tmp_path):
    before = tree_snapshot(tmp_path)
    planned = save(tmp_path / "bundle", check_mode=True)

    assert tree_snapshot(tmp_path) == before
    assert (planned["changed"], planned["action"]) == (True, "would_write")
    written = save(tmp_path / "bundle")
    assert [f["name"] for f in planned["files"]] == [f["name"] for f in written["files"]]
    assert all(f["size"] is None and f["sha256"] is None for f in planned["files"])
    for name, entry in planned["index"].items():
        assert entry["appHash"] is None and entry["baseHash"] is None and entry["libHash"] is None
        real = written["index"][name]
        assert dict(entry, appHash=0, libHash=0, baseHash=0) == dict(real, appHash=0, libHash=0, baseHash=0)
    again = save(tmp_path / "bundle", check_mode=True)
    assert (again["changed"], again["action"], again["index"]) == (False, "unchanged", written["index"])


def test_bundle_without_lib(tmp_path):
    result = save(tmp_path / "bundle", lib=None, names=["lib:1"])

    assert sorted(os.listdir(str(tmp_path / "bundle"))) == ["lib_1_app_image.tar.gz", "lib_1_base_image.tar.gz", "manifest"]
    entry = result["index"]["lib:1"]
    assert (entry["lib"], entry["libHash"], entry["libImageName"], entry["libLayers"]) == ("", "", "", None)


@pytest.mark.parametrize("layout", ["podman", "docker"])
def test_round_trip_through_a_load_gives_the_same_images(tmp_path, layout):
    images = make_images(str(tmp_path))
    archive = write_docker_archive(str(tmp_path / "images.tar"), [images.base, images.lib] + images.apps, layout=layout)
    save(tmp_path / "bundle", archives=[archive])

    store = tmp_path / "store"
    for image in images.apps:
        loaded = load_image(dict(name=image.name, dir=str(tmp_path / "bundle"), store=str(store)))["image"]
        assert loaded["id"] == hashlib.sha256(image.config).hexdigest()
        assert loaded["layers"] == json.loads(image.config)["rootfs"]["diff_ids"]


def test_a_second_repo_tag_finds_the_image(tmp_path):
    retagged = tmp_path / "app1.tar"

    def both_tags(entries):
        return [(info, data.replace(b'"RepoTags":["localhost/app1:1"]', b'"RepoTags":["localhost/app1:1","team/app1:2"]')
                 if info.name == "manifest.json" else data) for info, data in entries]

    write_tarball(retagged, both_tags(members(ARCHIVES[0])), compression="tar")
    result = save(tmp_path / "bundle", names=["team/app1:2"], archives=[str(retagged)] + ARCHIVES[2:])

    assert sorted(result["index"]) == ["team/app1:2"]
    assert result["index"]["team/app1:2"]["app"] == "app1_2_app_image.tar.gz"


def test_large_images_are_streamed_not_held(tmp_path):
    images = make_images(str(tmp_path), large_mib=32)
    # tarfile wants whole reads; the generated layer hands out partial ones.
    big = images.apps[0]._replace(layers=[LayerSource(layer.size, lambda layer=layer: io.BufferedReader(layer.open()))
                                          for layer in images.apps[0].layers])
    archive = write_docker_archive(str(tmp_path / "images.tar"), [images.base, images.lib, big, images.apps[1]])
    tracemalloc.start()
    try:
        result = save(tmp_path / "bundle", archives=[archive])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert result["action"] == "written"
    assert os.path.getsize(str(tmp_path / "bundle" / "app1_1_app_image.tar.gz")) > 10 * 2 ** 20
    assert peak < 16 * 2 ** 20


# --- the OCI store as a source --------------------------------------------------------------


def _store_with_the_fixture_images(tmp_path):
    """An OCI store that loaded isula-build's bundle, plus the base and lib images under their names."""
    store = tmp_path / "store"
    for name in ("app1:1", "app2:1"):
        load_image(dict(name=name, dir=str(ISULA_BUNDLE), store=str(store)))
    for name, archive in (("base:1", ARCHIVES[2]), ("lib:1", ARCHIVES[3])):
        (image,) = read_docker_archive(archive)
        with destination.destination(str(store)) as dest:
            dest.commit(image.config, json.loads(image.config)["rootfs"]["diff_ids"], [name])
    return store


def test_oci_store_gives_the_same_bundle_as_the_archives(tmp_path):
    store = _store_with_the_fixture_images(tmp_path)

    result = save(tmp_path / "from-store", source="oci", store=str(store), archives=None)
    save(tmp_path / "from-archives")

    assert result["action"] == "written"
    assert files(tmp_path / "from-store") == files(tmp_path / "from-archives")


def test_oci_store_without_the_base_image_says_so(tmp_path):
    store = tmp_path / "store"
    load_image(dict(name="app1:1", dir=str(ISULA_BUNDLE), store=str(store)))

    with pytest.raises(BundleError, match=r"failed to find base image base:1 in the OCI store .* \(the names there: app1:1\)"):
        save(tmp_path / "bundle", source="oci", store=str(store), names=["app1:1"])
    assert not (tmp_path / "bundle").exists() and hidden(tmp_path) == []


def test_oci_store_layer_stored_compressed_is_refused(tmp_path):
    store = _store_with_the_fixture_images(tmp_path)
    index = json.loads((store / "index.json").read_text())
    entry = next(e for e in index["manifests"] if e["annotations"]["org.opencontainers.image.ref.name"] == "app2:1")
    manifest_path = store / "blobs" / "sha256" / entry["digest"].split(":")[1]
    manifest = json.loads(manifest_path.read_text())
    manifest["layers"][-1]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    data = json.dumps(manifest).encode()
    digest = hashlib.sha256(data).hexdigest()
    (store / "blobs" / "sha256" / digest).write_bytes(data)
    entry["digest"] = "sha256:" + digest
    (store / "index.json").write_text(json.dumps(index))

    with pytest.raises(BundleError, match=r"image app2:1 in the OCI store .* cannot be saved: layer sha256:\w+ has media "
                                          r"type application/vnd.oci.image.layer.v1.tar\+gzip"):
        save(tmp_path / "bundle", source="oci", store=str(store))
    assert save(tmp_path / "bundle", source="oci", store=str(store), names=["app1:1"])["action"] == "written"


def test_oci_store_that_does_not_exist(tmp_path):
    with pytest.raises(BundleError, match="has no index.json: no image was ever loaded into it"):
        save(tmp_path / "bundle", source="oci", store=str(tmp_path / "store"))


# --- isula-build's checks, in its words -------------------------------------------------------


def _one_layer_image(name, content):
    """A one-layer image no fixture image is built on."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("other.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    layer = buf.getvalue()
    config = go_json({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}})
    return ImageSource(name, config, [LayerSource(len(layer), lambda: io.BytesIO(layer))])


def _rename_file(tmp_path, content):
    path = tmp_path / "rename.json"
    path.write_text(content)
    return str(path)


REFUSALS = [
    (dict(base="lib:1", lib=None), "number of base layers 3 more than one: base image lib:1 has 3 layers"),
    (dict(names=["app1:1"], lib="app2:1"), "dismatch checksum for lib image app2:1: app image app1:1 is not built on it "
                                           "(its layer 4 is sha256:242764f2a97f"),
    (dict(base="other:1", lib=None), "dismatch checksum for base image other:1: app image app1:1 is not built on it"),
    (dict(lib="base:1"), "base and lib images are the same: base:1"),
    (dict(names=["lib:1"]), "number of base or lib layers is equal or greater than saved app layers: app image lib:1 "
                            "has 3 layers, lib image lib:1 has 3"),
    (dict(names=["7b2224009c4e"]), 'using image ID "7b2224009c4e" as image name to save separated image is not allowed'),
    (dict(names=[IMAGE_IDS["app2:1"]]), 'using image ID "%s" as image name' % IMAGE_IDS["app2:1"]),
    (dict(names=["sha256:" + IMAGE_IDS["app2:1"]]), 'using image ID "sha256:%s" as image name' % IMAGE_IDS["app2:1"]),
    (dict(base="80f89ca78b2a"), 'using image ID "80f89ca78b2a" as image name to save separated image is not allowed: '
                                "give the base image's name instead"),
    (dict(names=["app1:1", "localhost/app1:1"]), "process app images localhost/app1:1 failed: lib layers "
                                                 "9ab7c467b55a8260a092bdbca9d210807ab586a3e71a08797854f374ed381647 already "
                                                 "saved in {dest}/app1_1_app_image.tar.gz for image localhost/app1:1"),
    (dict(names=["App1:1"]), "invalid app image name App1:1"),
    (dict(base="base image"), "invalid base image name base image"),
    (dict(lib="Lib"), "invalid lib image name Lib"),
    (dict(names=["app1:1", "app9:1"]), "failed to find app image app9:1 in the docker-archives"),
    (dict(names=[]), "save accepts at least one image"),
    (dict(rename_file="{tmp}/missing.json"), "check rename file failed: {tmp}/missing.json: No such file or directory"),
    (dict(rename_file="not json"), "check rename file failed: {tmp}/rename.json is not valid JSON"),
    (dict(rename_file='{"name": "a", "rename": "b"}'), "check rename file failed: {tmp}/rename.json is not a JSON array"),
    (dict(rename_file='[{"name": "app1_1_app_image.tar.gz", "rename": "../x"}]'),
     "check rename file failed: {tmp}/rename.json: rename of app1_1_app_image.tar.gz to '../x' is not a usable tarball"),
    (dict(rename=[{"name": "app1_1_app_image.tar.gz", "rename": "app2_1_app_image.tar.gz"}]), "would both be named"),
]


@pytest.mark.parametrize("change, message", REFUSALS, ids=[message.split(":")[0][:40] for change, message in REFUSALS])
@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
def test_what_isula_build_refuses_is_refused_and_leaves_nothing(tmp_path, change, message, check_mode):
    change = dict(change)
    if change.get("base") == "other:1":
        other = write_docker_archive(str(tmp_path / "other.tar"), [_one_layer_image("other:1", b"x")])
        change["archives"] = ARCHIVES + [other]
    rename_file = change.get("rename_file")
    if rename_file and not rename_file.startswith("{tmp}"):
        change["rename_file"] = _rename_file(tmp_path, rename_file)
    elif rename_file:
        change["rename_file"] = rename_file.format(tmp=tmp_path)
    before = tree_snapshot(tmp_path)

    with pytest.raises(BundleError) as failure:
        save(tmp_path / "bundle", check_mode=check_mode, **change)

    assert message.format(tmp=tmp_path, dest=tmp_path / "bundle") in str(failure.value)
    assert tree_snapshot(tmp_path) == before


def test_a_layer_that_does_not_match_its_diff_id_leaves_no_dest(tmp_path):
    images = make_images(str(tmp_path))
    app = images.apps[1]
    size = app.layers[-1].size
    corrupt = app._replace(layers=app.layers[:-1] + [LayerSource(size, lambda: io.BytesIO(b"\1" * size))])
    archive = write_docker_archive(str(tmp_path / "images.tar"), [images.base, images.lib, images.apps[0], corrupt])
    before = tree_snapshot(tmp_path)

    with pytest.raises(BundleError, match=r"layer 4 of app image app2:1 has sha256 sha256:\w+, but the image config lists"):
        save(tmp_path / "bundle", archives=[archive])
    assert tree_snapshot(tmp_path) == before


def test_missing_parent_folder(tmp_path):
    with pytest.raises(BundleError, match="cannot write bundle .*/no/bundle: folder .*/no does not exist"):
        save(tmp_path / "no" / "bundle")


# --- renames ----------------------------------------------------------------------------------


def test_rename_list_and_rename_file_name_the_tarballs_alike(tmp_path):
    renames = [{"name": "app1_1_base_image.tar.gz", "rename": "base.tgz"},
               {"name": "app2_1_app_image.tar.gz", "rename": "second.tgz"},
               {"name": "app2_1_app_image.tar.gz", "rename": "ignored.tgz"}]
    from_list = save(tmp_path / "list", rename=renames)
    from_file = save(tmp_path / "file", rename_file=_rename_file(tmp_path, json.dumps(renames)))

    assert sorted(os.listdir(str(tmp_path / "list"))) == [
        "app1_1_app_image.tar.gz", "app1_1_lib_image.tar.gz", "base.tgz", "manifest", "second.tgz"]
    assert from_list["index"] == from_file["index"]
    assert from_list["index"]["app2:1"]["base"] == "base.tgz"


# --- what dest already holds ------------------------------------------------------------------


def test_dest_holding_something_else_is_refused_then_replaced_with_force(tmp_path):
    dest = tmp_path / "bundle"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep me")
    before = tree_snapshot(tmp_path)

    for check_mode in (True, False):
        with pytest.raises(BundleError, match=r"dest .*/bundle already holds something other than this bundle: index "
                                              r".*/bundle/manifest cannot be read: .*; set force: true to replace it"):
            save(dest, check_mode=check_mode)
        assert tree_snapshot(tmp_path) == before

    planned = save(dest, check_mode=True, force=True)
    assert (planned["changed"], planned["action"]) == (True, "would_replace")
    assert tree_snapshot(tmp_path) == before
    replaced = save(dest, force=True)
    assert (replaced["changed"], replaced["action"]) == (True, "replaced")
    assert "notes.txt" not in os.listdir(str(dest)) and hidden(tmp_path) == []


@pytest.mark.parametrize("first, second, reason", [
    ({}, dict(names=["app1:1"]), "its index holds the apps app1:1, app2:1, where this save writes app1:1"),
    (dict(names=["app1:1"], lib=None), dict(names=["app1:1"]),
     "the index entry of app1:1 differs in appLayers, lib, libImageName, libLayers"),
    ({}, dict(rename=[{"name": "app1_1_base_image.tar.gz", "rename": "base.tgz"}]), "the index entry of app1:1 differs in base"),
])
def test_dest_holding_another_bundle_is_refused(tmp_path, first, second, reason):
    save(tmp_path / "bundle", **first)
    before = tree_snapshot(tmp_path)

    with pytest.raises(BundleError, match=re.escape(reason)):
        save(tmp_path / "bundle", **second)
    assert tree_snapshot(tmp_path) == before


def test_dest_with_a_tampered_tarball_is_refused(tmp_path):
    save(tmp_path / "bundle")
    tarball = tmp_path / "bundle" / "app2_1_app_image.tar.gz"
    data = bytearray(tarball.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tarball.write_bytes(bytes(data))

    with pytest.raises(BundleError, match="its tarball app2_1_app_image.tar.gz does not match the sha256 its index gives"):
        save(tmp_path / "bundle")
    assert save(tmp_path / "bundle", force=True)["action"] == "replaced"
    assert save(tmp_path / "bundle")["action"] == "unchanged"


def test_isula_builds_own_bundle_of_the_same_images_is_another_bundle(tmp_path):
    dest = copy_bundle(tmp_path / "bundle")
    before = tree_snapshot(tmp_path)

    # Check mode compresses nothing: it cannot tell (documented).
    assert save(dest, check_mode=True)["action"] == "unchanged"
    with pytest.raises(BundleError, match="it is a bundle of these images, but its tarballs are not the bytes this save "
                                          "writes"):
        save(dest)
    assert tree_snapshot(tmp_path) == before
    replaced = save(dest, force=True)
    assert replaced["action"] == "replaced"
    assert replaced["index"] == json.loads((dest / "manifest").read_bytes())


def test_an_empty_dest_folder_is_filled(tmp_path):
    (tmp_path / "bundle").mkdir()
    assert save(tmp_path / "bundle")["action"] == "written"


def test_compression_levels(tmp_path):
    level6 = files(save(tmp_path / "six")["dest"])
    level1 = files(save(tmp_path / "one", compression_level=1)["dest"])
    level0 = files(save(tmp_path / "zero", compression_level=0)["dest"])

    name = "app1_1_base_image.tar.gz"
    assert gzip.decompress(level1[name]) == gzip.decompress(level6[name]) == gzip.decompress(level0[name])
    assert len(level0[name]) > len(level1[name]) >= len(level6[name])
    with pytest.raises(BundleError, match="tarballs are not the bytes this save writes"):
        save(tmp_path / "six", compression_level=1)


# --- an engine's stream, read for its metadata only (check mode) ------------------------------


def test_metadata_of_a_stream_matches_the_archive(tmp_path):
    for path in ARCHIVES:
        with open(path, "rb") as stream:
            (found,) = read_archive_metadata(stream, path)
        (image,) = read_docker_archive(path)
        assert found.image.config == image.config
        assert [layer.size for layer in found.image.layers] == [layer.size for layer in image.layers]
        assert found.image_id == APP_IDS[found.tags[0].split("/")[1]]
        with pytest.raises(BundleError, match="was read past, not kept"):
            found.image.layers[0].open()


def test_metadata_of_a_stream_refuses_links_out_of_the_archive(tmp_path):
    path = tmp_path / "bad.tar"
    info = next(i for i, d in members(ARCHIVES[2]) if i.issym())
    escaping = tarfile.TarInfo(info.name)
    escaping.type, escaping.linkname = tarfile.SYMTYPE, "../../etc/passwd"
    write_tarball(path, [(i, d) for i, d in members(ARCHIVES[2]) if not i.issym()] + [(escaping, None)], compression="tar")

    with open(str(path), "rb") as stream, pytest.raises(BundleError, match="links outside the archive"):
        read_archive_metadata(stream, str(path))


def test_a_rename_file_that_is_a_fifo_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "rename.json"
    os.mkfifo(str(fifo))  # nobody writes it: a blocking open would hang the save
    with pytest.raises(BundleError) as failure:
        save(tmp_path / "bundle", rename_file=str(fifo))
    assert "check rename file failed: rename file %s is not a regular file" % fifo in str(failure.value)
    assert not (tmp_path / "bundle").exists()
