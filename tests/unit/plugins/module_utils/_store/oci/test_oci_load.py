"""separated_image_load's logic on the OCI store, called directly (fast).

The bundle is the real one isula-build wrote; hostile and broken variants
are made from copies of it.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest
from support.bundles import (
    APP1,
    APP2,
    BASE,
    LIB,
    IMAGE_IDS,
    ISULA_BUNDLE,
    file_info,
    members,
    read_index,
    rewrite_tarball,
    set_hash,
    sha256,
    tree_snapshot,
    write_index,
)

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from support.operations import load_image


def load(bundle, store, name="app1:1", check_mode=False, **params):
    return load_image(dict(params, name=name, dir=str(bundle), store=str(store)), check_mode=check_mode)


def oci_index(store):
    return json.loads((Path(store) / "index.json").read_text())


def blob(store, digest):
    return Path(store) / "blobs" / "sha256" / digest.split(":")[1]


def assert_fails_cleanly(bundle, store, message, name="app1:1", **params):
    """The load fails with MESSAGE, and the store is exactly as it was, with no staging left."""
    before = tree_snapshot(store)
    with pytest.raises(BundleError) as err:
        load(bundle, store, name=name, **params)
    assert message in str(err.value)
    assert tree_snapshot(store) == before
    return str(err.value)


# 1. The index, read as isula-build reads it


def test_loads_isula_build_bundle_as_the_same_image(bundle, store):
    result = load(bundle, store)
    assert result["changed"] is True
    assert result["action"] == "loaded"
    assert result["image"]["id"] == IMAGE_IDS["app1:1"]
    assert result["image"]["repo_tags"] == ["app1:1"]
    assert len(result["image"]["layers"]) == 5
    assert result["checksums_verified"] is True
    assert result["tarballs"] == {"app": str(bundle / APP1), "lib": str(bundle / LIB), "base": str(bundle / BASE)}
    assert result["layers_written"] == 5 and result["layers_reused"] == 0


def test_name_without_tag_means_latest_as_in_isula_build(bundle, store):
    with pytest.raises(BundleError, match="failed to find app image app1:latest"):
        load(bundle, store, name="app1")


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "cannot be read"),
        (b"", "is empty"),
        (b"{not json", "is not valid JSON"),
        (b"[1, 2]", "is not a JSON object"),
        (b"x" * (10 * 1024 * 1024 + 1), "larger than"),
    ],
)
def test_bad_index_is_refused_and_names_the_file(bundle, store, content, message):
    index = bundle / "manifest"
    index.unlink()
    if content is not None:
        index.write_bytes(content)
    text = assert_fails_cleanly(bundle, store, message)
    assert str(index) in text
    assert not store.exists()


def test_index_that_is_a_folder_is_refused(bundle, store):
    (bundle / "manifest").unlink()
    (bundle / "manifest").mkdir()
    assert_fails_cleanly(bundle, store, "is not a regular file")


def test_missing_bundle_folder(tmp_path, store):
    assert_fails_cleanly(tmp_path / "nowhere", store, "does not exist")


def test_old_index_with_base_layer_as_array_loads(bundle, store):
    index = read_index(bundle)
    for entry in index.values():
        entry["baseLayer"] = [entry["baseLayer"]]
    write_index(bundle, index)
    assert load(bundle, store)["image"]["id"] == IMAGE_IDS["app1:1"]
    # and the array is used like the string: base is skipped for app2 once present
    assert load(bundle, store, name="app2:1")["layers_reused"] == 3


def test_missing_app_or_base_name_in_index(bundle, store):
    index = read_index(bundle)
    index["app1:1"]["base"] = ""
    write_index(bundle, index)
    assert_fails_cleanly(bundle, store, "has no base tarball")


# 2. Idempotent, keyed on presence


def test_present_image_reads_no_tarball(bundle, store):
    load(bundle, store)
    for name in (APP1, LIB, BASE):
        (bundle / name).unlink()
    result = load(bundle, store)
    assert result["changed"] is False
    assert result["action"] == "present"
    assert result["image"]["id"] == IMAGE_IDS["app1:1"]
    assert result["checksums_verified"] is False
    # force really reads the bundle: now it fails on the missing tarball
    with pytest.raises(BundleError, match="cannot be read"):
        load(bundle, store, force=True)


def test_force_verifies_again_and_changes_nothing_when_identical(bundle, store):
    load(bundle, store)
    before = tree_snapshot(store)
    result = load(bundle, store, force=True)
    assert result["action"] == "loaded"
    assert result["checksums_verified"] is True
    assert result["changed"] is False
    assert result["layers_written"] == 0 and result["bytes_written"] == 0
    assert tree_snapshot(store) == before


def test_force_with_corrupt_tarball_fails_and_keeps_the_image(bundle, store):
    load(bundle, store)
    before = tree_snapshot(store)
    set_hash(bundle, APP1, "0" * 64)
    with pytest.raises(BundleError, match="check sum for file"):
        load(bundle, store, force=True)
    assert tree_snapshot(store) == before


# 3. Check mode


def test_check_mode_writes_nothing(bundle, store):
    result = load(bundle, store, check_mode=True)
    assert result["action"] == "would_load" and result["changed"] is True
    assert not store.exists()
    load(bundle, store)
    result = load(bundle, store, check_mode=True)
    assert result["action"] == "present" and result["changed"] is False


def test_check_mode_still_validates_paths(bundle, store):
    (bundle / LIB).unlink()
    with pytest.raises(BundleError, match="lib tarball .* cannot be read"):
        load(bundle, store, check_mode=True)
    assert not store.exists()


# 4. One pass, compression detected from the bytes


@pytest.mark.parametrize("compression", ["tar", "bzip2", "xz", "zstd", "gzip"])
def test_compression_is_detected_from_the_bytes(bundle, store, compression):
    for name in (APP1, LIB, BASE):
        rewrite_tarball(bundle, name, compression=compression)  # the names still end in .tar.gz
    result = load(bundle, store)
    assert result["image"]["id"] == IMAGE_IDS["app1:1"]


def test_text_file_as_base_is_refused(bundle, store, tmp_path):
    text = tmp_path / "base.txt"
    text.write_text("this is not a tarball\n" * 40)
    set_hash(bundle, BASE, sha256(text))
    assert_fails_cleanly(bundle, store, "is neither a tar archive nor a compressed one", base=str(text))


# 5. Nothing committed until every check passed


def test_wrong_checksum_in_isula_build_words(bundle, store):
    index = read_index(bundle)
    index["app1:1"]["appHash"] = "f" * 64
    write_index(bundle, index)
    message = assert_fails_cleanly(bundle, store, "check sum for file %s failed" % (bundle / APP1))
    assert "want " + "f" * 64 in message
    assert not store.exists()


def test_lib_passed_as_base_fails_the_checksum(bundle, store):
    assert_fails_cleanly(bundle, store, "check sum for file %s failed" % (bundle / LIB), base=str(bundle / LIB))


def test_skip_check_loads_despite_wrong_hashes(bundle, store):
    set_hash(bundle, APP1, "0" * 64)
    result = load(bundle, store, skip_check=True)
    assert result["checksums_verified"] is False
    assert result["image"]["id"] == IMAGE_IDS["app1:1"]


def test_layer_that_does_not_match_the_config_is_refused(bundle, store):
    def corrupt(entries):
        return [(i, d + b"\0" * 512 if i.name.endswith("layer.tar") else d) for i, d in entries]

    rewrite_tarball(bundle, LIB, corrupt)
    message = assert_fails_cleanly(bundle, store, "but the image config expects")
    assert str(bundle / LIB) in message


def test_config_that_does_not_match_its_name_is_refused(bundle, store):
    def corrupt(entries):
        return [(i, d.replace(b'"os":"linux"', b'"os":"LINUX"') if i.name.endswith(".json") and "/" not in i.name else d)
                for i, d in entries]

    rewrite_tarball(bundle, APP1, corrupt)
    assert_fails_cleanly(bundle, store, "does not match its name")


def test_missing_layer_is_refused(bundle, store):
    index = read_index(bundle)
    index["app1:1"]["lib"] = ""  # the lib's two layers are then in no tarball
    write_index(bundle, index)
    assert_fails_cleanly(bundle, store, "is missing: none of the tarballs holds it")


def test_name_must_be_in_repo_tags_of_the_app_tarball(bundle, store):
    index = read_index(bundle)
    index["other:2"] = index["app1:1"]
    write_index(bundle, index)
    assert_fails_cleanly(bundle, store, "image other:2 is not among the RepoTags app1:1", name="other:2")


def test_truncated_tarball_is_refused(bundle, store):
    data = (bundle / BASE).read_bytes()
    (bundle / BASE).write_bytes(data[: len(data) // 2])
    set_hash(bundle, BASE, sha256(bundle / BASE))
    assert_fails_cleanly(bundle, store, "is not a valid gzip-compressed tar archive")


def test_failed_load_into_existing_store_keeps_it_byte_for_byte(bundle, store):
    load(bundle, store)
    set_hash(bundle, APP2, "1" * 64)
    assert_fails_cleanly(bundle, store, "check sum", name="app2:1")
    assert not [p for p in store.iterdir() if p.name.startswith(".fleetimage-staging-")]


# 6. Only docker-archive shapes; paths never leave the bundle folder


LAYER = "11f0e22221ad124114f8a6280f7502bdafecd2674867723594cc0be55099bdb9"


@pytest.mark.parametrize(
    "extra, message",
    [
        (file_info(LAYER + "/evil", kind=tarfile.SYMTYPE, linkname="/etc/passwd"), "only regular files and folders"),
        (file_info("hard", kind=tarfile.LNKTYPE, linkname="repositories"), "only regular files and folders"),
        (file_info("dev", kind=tarfile.CHRTYPE), "only regular files and folders"),
        (file_info("fifo", kind=tarfile.FIFOTYPE), "only regular files and folders"),
        (file_info("/etc/cron.d/x", b"x"), "names outside the archive"),
        (file_info("../escape", b"x"), "names outside the archive"),
        (file_info(LAYER + "/../../escape", b"x"), "names outside the archive"),
        (file_info("notes.txt", b"x"), "unexpected file"),
        (file_info("somedir", kind=tarfile.DIRTYPE), "unexpected folder"),
    ],
)
def test_hostile_members_are_refused(bundle, store, extra, message):
    rewrite_tarball(bundle, LIB, lambda entries: entries + [extra])
    text = assert_fails_cleanly(bundle, store, message)
    assert str(bundle / LIB) in text


def test_same_member_in_two_tarballs_is_refused(bundle, store):
    base_dir = [(i, d) for i, d in members(bundle / BASE) if i.isdir()]
    rewrite_tarball(bundle, LIB, lambda entries: entries + base_dir)
    assert_fails_cleanly(bundle, store, "a member may be in one tarball only")


@pytest.mark.parametrize("escape", ["../outside.tar.gz", "/etc/passwd", "link.tar.gz"])
def test_index_names_never_resolve_outside_the_bundle(bundle, store, tmp_path, escape):
    outside = tmp_path / "outside.tar.gz"
    outside.write_bytes((bundle / BASE).read_bytes())
    (bundle / "link.tar.gz").symlink_to(outside)
    index = read_index(bundle)
    index["app1:1"]["base"] = escape
    write_index(bundle, index)
    assert_fails_cleanly(bundle, store, "which")  # "...which resolves outside" / "which is not a name inside"


def test_symlink_inside_the_bundle_is_followed(bundle, store):
    (bundle / "base-link.tar.gz").symlink_to(BASE)
    index = read_index(bundle)
    index["app1:1"]["base"] = "base-link.tar.gz"
    write_index(bundle, index)
    assert load(bundle, store)["tarballs"]["base"] == str(bundle / BASE)


def test_caller_given_base_and_lib_may_lie_outside(bundle, store, tmp_path):
    shared = tmp_path / "cache"
    shared.mkdir()
    for name in (BASE, LIB):
        os.rename(bundle / name, shared / name)
    result = load(bundle, store, base=str(shared / BASE), lib=str(shared / LIB))
    assert result["image"]["id"] == IMAGE_IDS["app1:1"]
    assert result["tarballs"]["base"] == str(shared / BASE)


def test_base_or_lib_path_that_does_not_exist(bundle, store, tmp_path):
    assert_fails_cleanly(bundle, store, "base tarball %s cannot be read" % (tmp_path / "nope"), base=str(tmp_path / "nope"))
    assert_fails_cleanly(bundle, store, "lib tarball %s cannot be read" % (tmp_path / "nope"), lib=str(tmp_path / "nope"))


def test_missing_app_tarball(bundle, store):
    (bundle / APP1).unlink()
    assert_fails_cleanly(bundle, store, "app tarball %s cannot be read" % (bundle / APP1))


# 7. The OCI layout store


def test_store_is_an_oci_layout_with_uncompressed_layers(bundle, store):
    result = load(bundle, store)
    assert json.loads((store / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    (entry,) = oci_index(store)["manifests"]
    assert entry["annotations"] == {
        "org.opencontainers.image.ref.name": "app1:1",
        "io.containerd.image.name": "docker.io/library/app1:1",
    }
    manifest = json.loads(blob(store, entry["digest"]).read_bytes())
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    config = blob(store, manifest["config"]["digest"]).read_bytes()
    with tarfile.open(ISULA_BUNDLE / APP1) as tar:
        assert config == tar.extractfile(IMAGE_IDS["app1:1"] + ".json").read()
    for layer, diff_id in zip(manifest["layers"], result["image"]["layers"]):
        assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
        assert layer["digest"] == diff_id == "sha256:" + sha256(blob(store, diff_id))


def test_second_app_reuses_base_and_lib_blobs(bundle, store):
    first = load(bundle, store)
    shared = first["image"]["layers"][:3]
    stat_before = {d: blob(store, d).stat() for d in shared}
    second = load(bundle, store, name="app2:1")
    assert second["layers_written"] == 1 and second["layers_reused"] == 3
    assert second["bytes_written"] < 10000
    for digest in shared:
        after = blob(store, digest).stat()
        assert (after.st_ino, after.st_mtime_ns) == (stat_before[digest].st_ino, stat_before[digest].st_mtime_ns)
    names = sorted(e["annotations"]["org.opencontainers.image.ref.name"] for e in oci_index(store)["manifests"])
    assert names == ["app1:1", "app2:1"]


def test_a_tag_that_pointed_elsewhere_moves(bundle, store):
    load(bundle, store, name="app2:1")

    def retag(entries):
        out = []
        for info, data in entries:
            if info.name in ("manifest.json", "repositories"):
                data = data.replace(b"app1", b"app2")
            out.append((info, data))
        return out

    rewrite_tarball(bundle, APP1, retag)
    index = read_index(bundle)
    index["app2:1"] = index["app1:1"]  # app2:1 now names app1's image
    write_index(bundle, index)
    result = load(bundle, store, name="app2:1", force=True)
    assert result["changed"] is True
    assert result["image"]["id"] == IMAGE_IDS["app1:1"]
    (entry,) = oci_index(store)["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "app2:1"
    assert load(bundle, store, name="app2:1")["image"]["id"] == IMAGE_IDS["app1:1"]


def test_store_folders_are_created_and_removed_again_on_failure(bundle, tmp_path):
    store = tmp_path / "deep" / "er" / "store"
    set_hash(bundle, BASE, "2" * 64)
    with pytest.raises(BundleError):
        load(bundle, store)
    assert not (tmp_path / "deep").exists()


def test_image_with_a_missing_blob_is_not_present(bundle, store):
    result = load(bundle, store)
    blob(store, result["image"]["layers"][-1]).unlink()
    again = load(bundle, store)
    assert again["action"] == "loaded" and again["changed"] is True and again["layers_written"] == 1


# isula-build's own shell tests of `ctr-img load`, the cases not covered above


@pytest.mark.parametrize("given", ["base", "lib"])
def test_only_base_or_only_lib_given_like_dash_b_or_dash_l(bundle, store, tmp_path, given):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    file_name = {"base": BASE, "lib": LIB}[given]
    os.rename(bundle / file_name, elsewhere / file_name)
    result = load(bundle, store, **{given: str(elsewhere / file_name)})
    assert result["image"]["id"] == IMAGE_IDS["app1:1"]
    assert result["tarballs"][given] == str(elsewhere / file_name)


def test_text_file_as_lib_is_refused(bundle, store, tmp_path):
    text = tmp_path / "lib.txt"
    text.write_text("not a tarball either\n" * 40)
    set_hash(bundle, LIB, sha256(text))
    assert_fails_cleanly(bundle, store, "is neither a tar archive nor a compressed one", lib=str(text))
