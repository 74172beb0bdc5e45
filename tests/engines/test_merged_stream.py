# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The merged docker-archive that engines are fed, and how a failed feed ends.

No engine needed: the archive is written to memory, and the "engine" fed a
stream cut short is `cat` writing its stdin to a file.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile

import pytest
from support.bundles import IMAGE_IDS, copy_bundle, members, rewrite_tarball

from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import cli as _engine_cli
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.index import (
    app_entry,
    read_index,
    resolve_tarballs,
)
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._archive.merged import write_merged_archive


@pytest.fixture
def bundle(tmp_path):
    return copy_bundle(tmp_path / "bundle")


def tarballs_of(bundle, name="app1:1"):
    return resolve_tarballs(app_entry(read_index(str(bundle)), name, str(bundle)), name, str(bundle))


def test_merged_archive_is_the_union_of_the_tarballs(bundle):
    tarballs = tarballs_of(bundle)
    expected = {}
    for tarball in tarballs:
        for info, data in members(tarball.path):
            expected[info.name.rstrip("/")] = data
    sink = io.BytesIO()
    image, app_sha256 = write_merged_archive(tarballs, sink, "app1:1", verify=True)
    # What a load needs of the image comes out of the same pass: no read before it.
    assert image.image_id == IMAGE_IDS["app1:1"] and image.repo_tags == ["app1:1"] and len(image.diff_ids) == 5
    assert app_sha256 == tarballs[0].expected_sha256
    assert len(sink.getvalue()) % 10240 == 0  # whole tar records, end-of-archive included
    with tarfile.open(fileobj=io.BytesIO(sink.getvalue()), mode="r:") as tar:
        merged = {m.name.rstrip("/"): (tar.extractfile(m).read() if m.isreg() else None) for m in tar}
        assert all(m.uid == 0 and m.gid == 0 for m in tar.getmembers())
    assert merged == expected


def test_a_tarball_whose_sha256_differs_from_the_index_ends_the_stream_before_the_next(bundle):
    tarballs = tarballs_of(bundle)
    lib = tarballs[1].path
    rewrite_tarball(bundle, "app1_1_lib_image.tar.gz")  # same members, other bytes
    actual = hashlib.sha256(open(lib, "rb").read()).hexdigest()
    sink = io.BytesIO()
    with pytest.raises(BundleError) as raised:
        write_merged_archive(tarballs, sink, "app1:1", verify=True)
    # isula-build's words, found while the lib tarball streamed: it was read once.
    assert str(raised.value) == "check sum for file %s failed: got %s, want %s" % (
        lib, actual, tarballs[1].expected_sha256)
    assert len(sink.getvalue()) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(sink.getvalue()), mode="r:") as tar:
        names = tar.getnames()
    base = members(bundle / "app1_1_base_image.tar.gz")
    assert "manifest.json" in names and not any(entry[0].name in names for entry in base)


def test_a_member_in_two_tarballs_is_refused(bundle):
    app_members = members(bundle / "app1_1_app_image.tar.gz")
    manifest = [entry for entry in app_members if entry[0].name == "manifest.json"]
    rewrite_tarball(bundle, "app1_1_lib_image.tar.gz", lambda entries: entries + manifest)
    tarballs = tarballs_of(bundle)
    with pytest.raises(BundleError, match="manifest.json is in both"):
        write_merged_archive(tarballs, io.BytesIO(), "app1:1", verify=False)


@pytest.mark.skipif(shutil.which("tar") is None, reason="no tar program to read the stream with")
def test_a_feed_that_fails_ends_in_bytes_no_tar_reader_accepts(bundle, tmp_path):
    # An archive cut at a member boundary is a valid, shorter archive; the feed must not end so.
    received = tmp_path / "received.tar"
    tarballs = tarballs_of(bundle)

    def write_then_fail(sink):
        write_merged_archive(tarballs[:1], sink, "app1:1", verify=True)  # app alone: refused at the end (layers missing)

    with pytest.raises(BundleError, match="missing"):
        _engine_cli.load_through_stdin(["sh", "-c", 'cat > "$0"', str(received)], write_then_fail)
    assert received.stat().st_size > 0
    # Python's tarfile takes a bad header for the end; GNU tar, like Go's archive/tar
    # (docker, podman, containerd), refuses it.
    listed = subprocess.run(["tar", "-tf", str(received)], capture_output=True, text=True, check=False)
    assert listed.returncode != 0 and "manifest.json" in listed.stdout


def test_an_engine_that_stops_reading_is_quoted(bundle):
    tarballs = tarballs_of(bundle)

    def write(sink):
        write_merged_archive(tarballs, sink, "app1:1", verify=True)

    with pytest.raises(BundleError, match=r"^`sh -c 'echo refused >&2; exit 3'` failed \(exit 3\): refused$"):
        _engine_cli.load_through_stdin(["sh", "-c", "echo refused >&2; exit 3"], write)


def test_a_file_load_removes_its_file_whatever_happens(bundle, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    tarballs = tarballs_of(bundle)
    seen = tmp_path / "seen"

    def write(sink):
        write_merged_archive(tarballs, sink, "app1:1", verify=True)

    sent = _engine_cli.load_through_file("test", ["sh", "-c", 'tar -tf "$1" > "$0"', str(seen)], write)
    assert sent % 10240 == 0 and "manifest.json" in seen.read_text()
    with pytest.raises(BundleError, match="failed \\(exit 1\\)"):
        _engine_cli.load_through_file("test", ["sh", "-c", "exit 1"], write)
    assert sorted(os.listdir(tmp_path)) == ["bundle", "seen"]
