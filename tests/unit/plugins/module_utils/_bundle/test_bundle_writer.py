# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bundle writer against a real isula-build bundle, and its promises of its own."""

import gzip
import hashlib
import io
import json
import os
import re
import stat
import tarfile
import tracemalloc

import pytest

from ansible_collections.fleetimage.separated.plugins.module_utils._archive import tar_writer
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.image_source import ImageSource, LayerSource
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.go_json import go_json, legacy_layer_ids
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.writer import write_bundle
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.file_source import read_docker_archive
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.tests.support.bundles import ISULA_FIXTURE
from ansible_collections.fleetimage.separated.tests.support.images import (
    make_bundle,
    make_images,
    write_docker_archive,
)


FIXTURES = str(ISULA_FIXTURE)


def _archive_image(name, as_name):
    return read_docker_archive(os.path.join(FIXTURES, "archives", name + ".tar"))[0]._replace(name=as_name)


def _without_hashes(index_bytes):
    return re.sub(rb'Hash":"[0-9a-f]{64}"', b'Hash":"-"', index_bytes)


def _files(folder):
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}


# --- isula-build's own bundle --------------------------------------------------------------


@pytest.mark.parametrize("deflater", ["zlib", "isal"])
def test_fixture_archives_give_back_isula_builds_bundle(tmp_path, monkeypatch, deflater):
    if deflater == "zlib":
        monkeypatch.setattr(tar_writer, "isal_zlib", None)
    else:
        assert tar_writer.isal_zlib is not None, "isal, a test requirement, is not importable"
    dest = tmp_path / "bundle"
    apps = [_archive_image("app1", "app1:1"), _archive_image("app2", "app2:1")]
    write_bundle(str(dest), apps, _archive_image("base", "base:1"), _archive_image("lib", "lib:1"))

    expected = _files(os.path.join(FIXTURES, "withlib"))
    written = _files(str(dest))
    assert sorted(written) == sorted(expected)
    for name in expected:
        if name == "manifest":
            assert _without_hashes(written[name]) == _without_hashes(expected[name])
        else:
            assert gzip.decompress(written[name]) == gzip.decompress(expected[name]), name
            assert written[name][:10] == expected[name][:10], "gzip header of %s" % name


def test_index_hashes_are_the_tarballs_sha256_and_index_is_private(tmp_path):
    dest = tmp_path / "bundle"
    apps = [_archive_image("app2", "app2:1"), _archive_image("app1", "app1:1")]  # given unsorted
    index = write_bundle(str(dest), apps, _archive_image("base", "base:1"), _archive_image("lib", "lib:1"))

    assert json.loads((dest / "manifest").read_bytes()) == index
    assert stat.S_IMODE(os.stat(str(dest / "manifest")).st_mode) == 0o600
    for entry in index.values():
        for part in ("app", "lib", "base"):
            assert hashlib.sha256((dest / entry[part]).read_bytes()).hexdigest() == entry[part + "Hash"]


def test_legacy_ids_and_json_match_the_fixture():
    members = {}
    for name in ("app1_1_base_image", "app1_1_lib_image", "app1_1_app_image"):
        with tarfile.open(os.path.join(FIXTURES, "withlib", name + ".tar.gz")) as archive:
            for info in archive.getmembers():
                if info.name.endswith("/json") or info.name == "manifest.json":
                    members[info.name] = archive.extractfile(info).read()
    bottom_to_top = [layer.split("/")[0] for layer in json.loads(members["manifest.json"])[0]["Layers"]]
    config = _archive_image("app1", "app1:1").config
    diff_ids = json.loads(config)["rootfs"]["diff_ids"]

    computed = legacy_layer_ids(diff_ids, config)

    assert computed[0][0] == "6df832d1f8cd9e6c47bd03071d8f39e8912e7d1558b019a8f886d79c4f3057ca"
    assert [layer[0] for layer in computed] == bottom_to_top
    assert [layer[1] for layer in computed] == [members[layer_id + "/json"] for layer_id in bottom_to_top]


def test_legacy_id_is_sha256_of_the_v1_config_with_the_chain_id():
    diff_id = "sha256:80b937b87d8ec81fb2986aa859a71104becce950cd89b818422a575b2ef774ad"
    expected = hashlib.sha256(b'{"layer_id":"%s"}' % diff_id.encode()).hexdigest()
    config = _archive_image("app1", "app1:1").config

    assert legacy_layer_ids([diff_id], b'{"rootfs":{}}')[0][0] != expected  # a single layer is the top one
    assert legacy_layer_ids(json.loads(config)["rootfs"]["diff_ids"], config)[0][0] == expected


def test_top_layer_json_keeps_the_config_values_as_go_re_emits_them():
    config = b'{ "os" : "linux",\n  "config": { "Labels": {"b": "<x & y>", "a": "1"} },\n "created": "now" }'
    diff_id = "sha256:" + "ab" * 32

    (layer_id, layer_json), = legacy_layer_ids([diff_id], config)

    assert layer_json == (
        b'{"architecture":null,"config":{"Labels":{"b":"\\u003cx \\u0026 y\\u003e","a":"1"}},'
        b'"container":null,"container_config":null,"created":"now","docker_version":null,'
        b'"id":"' + layer_id.encode() + b'","os":"linux"}'
    )
    with_chain = layer_json.replace(b'"id":"%s",' % layer_id.encode(), b'"layer_id":"%s",' % diff_id.encode())
    assert hashlib.sha256(with_chain).hexdigest() == layer_id


def test_go_json_escapes_like_go():
    assert go_json({"k": "<a&b>\u2028"}) == b'{"k":"\\u003ca\\u0026b\\u003e\\u2028"}'


# --- bundles of test images ------------------------------------------------------------


def test_same_input_twice_gives_identical_bundles(tmp_path):
    first = make_bundle(str(tmp_path / "one"))
    second = make_bundle(str(tmp_path / "two"))

    assert _files(first.path) == _files(second.path)
    assert sorted(first.index) == ["app1:1", "app2:1"]
    assert first.index["app2:1"]["lib"] == "app1_1_lib_image.tar.gz"


def test_bundle_without_lib(tmp_path):
    built = make_bundle(str(tmp_path / "bundle"), lib=None)

    raw = (tmp_path / "bundle" / "manifest").read_bytes()
    assert b'"lib":"","libHash":"","libImageName":"","libLayers":null,' in raw
    assert sorted(os.listdir(built.path)) == [
        "app1_1_app_image.tar.gz", "app1_1_base_image.tar.gz", "app2_1_app_image.tar.gz", "manifest"]
    assert len(built.index["app1:1"]["appLayers"]) == 2


def test_tarballs_merge_into_a_complete_docker_archive(tmp_path):
    built = make_bundle(str(tmp_path / "bundle"))
    entry = built.index["app2:1"]

    members = {}
    for part in ("base", "lib", "app"):
        with tarfile.open(os.path.join(built.path, entry[part])) as archive:
            for info in archive.getmembers():
                assert info.name not in members
                members[info.name] = archive.extractfile(info).read() if info.isfile() else None
    manifest = json.loads(members["manifest.json"])
    config = members[manifest[0]["Config"]]
    digests = ["sha256:" + hashlib.sha256(members[layer]).hexdigest() for layer in manifest[0]["Layers"]]

    assert manifest[0]["RepoTags"] == ["app2:1"]
    assert digests == json.loads(config)["rootfs"]["diff_ids"]
    assert config == built.images.apps[1].config


def test_rename(tmp_path):
    rename = [
        {"name": "app1_1_base_image.tar.gz", "rename": "base.tgz"},
        {"name": "app2_1_app_image.tar.gz", "rename": "second.tgz"},
    ]
    built = make_bundle(str(tmp_path / "bundle"), rename=rename)

    assert sorted(os.listdir(built.path)) == [
        "app1_1_app_image.tar.gz", "app1_1_lib_image.tar.gz", "base.tgz", "manifest", "second.tgz"]
    assert built.index["app1:1"]["base"] == built.index["app2:1"]["base"] == "base.tgz"
    assert built.index["app2:1"]["app"] == "second.tgz"


@pytest.mark.parametrize("rename, message", [
    ([{"name": "app1_1_app_image.tar.gz", "rename": "../x"}], "not a usable tarball file name"),
    ([{"name": "app1_1_app_image.tar.gz", "rename": "app2_1_app_image.tar.gz"}], "would both be named"),
    (["app1"], 'is not {"name"'),
])
def test_bad_rename_is_refused(tmp_path, rename, message):
    with pytest.raises(BundleError, match=re.escape(message)):
        make_bundle(str(tmp_path / "bundle"), workdir=str(tmp_path), rename=rename)
    assert not (tmp_path / "bundle").exists()


# --- failures leave nothing behind --------------------------------------------------------


def _leftovers(folder):
    return sorted(name for name in os.listdir(folder) if not name.startswith("images-"))


def test_app_not_built_on_the_base_leaves_nothing(tmp_path):
    images = make_images(str(tmp_path))
    stranger = ImageSource("stranger:1", b'{"rootfs":{"diff_ids":["sha256:%s","sha256:%s","sha256:%s","sha256:%s"]}}'
                           % (b"1" * 64, b"2" * 64, b"4" * 64, b"5" * 64), [LayerSource(0, None)] * 4)
    other = stranger._replace(name="other:1", config=b'{"rootfs":{"diff_ids":["sha256:%s"]}}' % (b"3" * 64))
    dest = tmp_path / "bundle"

    with pytest.raises(BundleError) as failure:
        write_bundle(str(dest), images.apps + [stranger], images.base, images.lib)
    assert ("dismatch checksum for lib image lib:1: app image stranger:1 is not built on it (its layer 1 is sha256:111"
            in str(failure.value))
    with pytest.raises(BundleError, match="dismatch checksum for base image other:1: app image app1:1 is not built on it"):
        write_bundle(str(dest), images.apps, other)
    assert _leftovers(str(tmp_path)) == []


def test_layer_that_does_not_match_its_diff_id_leaves_nothing(tmp_path):
    images = make_images(str(tmp_path))
    app = images.apps[1]
    corrupt = LayerSource(app.layers[-1].size, lambda: io.BytesIO(b"\1" * app.layers[-1].size))
    dest = tmp_path / "bundle"

    with pytest.raises(BundleError, match=r"layer 4 of app image app2:1 has sha256 sha256:\w+, but the image config lists"):
        write_bundle(str(dest), [images.apps[0], app._replace(layers=app.layers[:-1] + [corrupt])], images.base, images.lib)
    assert _leftovers(str(tmp_path)) == []


@pytest.mark.parametrize("change, message", [
    (lambda i: dict(apps=i.apps + [i.apps[0]]), "app image app1:1 is given twice"),
    (lambda i: dict(apps=[i.apps[0], i.apps[0]._replace(name="copy:1")]), "share a layer above lib image lib:1"),
    (lambda i: dict(base=i.lib), "number of base layers 3 more than one: base image lib:1 has 3 layers"),
    (lambda i: dict(lib=i.base), "lib image base:1 has no layer of its own above base image base:1"),
    (lambda i: dict(apps=[i.apps[0]._replace(name="a/app:1"), i.apps[1]._replace(name="b/app:1")]),
     "would both be named app_1_app_image.tar.gz"),
    (lambda i: dict(apps=[i.apps[0]._replace(name="Bad Name")]), "invalid image name"),
    (lambda i: dict(apps=[i.apps[0]._replace(name="a" * 64)]), "give an image name, not an image id"),
    (lambda i: dict(apps=[i.apps[0]._replace(layers=i.apps[0].layers[:-1])]), "has 4 layers, but its config lists 5"),
])
def test_invalid_input_is_refused_before_any_write(tmp_path, change, message):
    images = make_images(str(tmp_path))
    arguments = dict(apps=images.apps, base=images.base, lib=images.lib)
    arguments.update(change(images))

    with pytest.raises(BundleError, match=re.escape(message)):
        write_bundle(str(tmp_path / "bundle"), **arguments)
    assert _leftovers(str(tmp_path)) == []


def test_existing_destination_is_refused(tmp_path):
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "x").write_bytes(b"")

    with pytest.raises(BundleError, match="already exists"):
        make_bundle(str(tmp_path / "bundle"))
    assert os.listdir(str(tmp_path / "bundle")) == ["x"]


# --- streaming and formats ----------------------------------------------------------------


def test_large_bundle_is_streamed(tmp_path):
    tracemalloc.start()
    try:
        built = make_bundle(str(tmp_path / "bundle"), large_mib=48)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    size = os.path.getsize(os.path.join(built.path, built.index["app1:1"]["app"]))
    assert 15 * 2 ** 20 < size < 40 * 2 ** 20  # half-compressible
    assert peak < 16 * 2 ** 20


def test_layer_over_8_gib_gets_a_pax_size(tmp_path):
    path = tmp_path / "big.tar"
    size = 9 * 2 ** 30
    with open(str(path), "wb") as f:
        f.write(tar_writer.tar_header("a/layer.tar", 0o100444, size))
        f.seek(size + 1024, io.SEEK_CUR)  # sparse: no need to write the data
        f.write(b"\0" * 1024)

    with tarfile.open(str(path)) as archive:
        (info,) = archive.getmembers()
    assert (info.name, info.size, info.mtime, info.uname) == ("a/layer.tar", size, 1483142400, "root")


@pytest.mark.parametrize("layout", ["podman", "docker"])
def test_docker_archive_round_trip(tmp_path, layout):
    images = make_images(str(tmp_path))
    path = write_docker_archive(str(tmp_path / "images.tar"), [images.lib] + images.apps, layout=layout)

    read = read_docker_archive(path)

    assert [image.name for image in read] == ["lib:1", "app1:1", "app2:1"]
    for original, copy in zip([images.lib] + images.apps, read):
        assert copy.config == original.config
        assert [_read(layer) for layer in copy.layers] == [_read(layer) for layer in original.layers]


def test_docker_archive_link_outside_is_refused(tmp_path):
    path = str(tmp_path / "bad.tar")
    with tarfile.open(path, "w") as archive:
        _add(archive, "manifest.json", b'[{"Config":"c.json","RepoTags":null,"Layers":["l/layer.tar"]}]')
        _add(archive, "c.json", b"{}")
        link = tarfile.TarInfo("l/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../../etc/passwd"
        archive.addfile(link)

    with pytest.raises(BundleError, match="links outside the archive"):
        read_docker_archive(path)


def _read(layer):
    with layer.open() as f:
        return f.read()


def _add(archive, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))
