"""_digest.py: the one sha256 pattern and the one blob path; where the copies disagreed, the stricter answer."""

from __future__ import annotations

import pytest

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.index import layer_hints
from ansible_collections.fleetimage.separated.plugins.module_utils._digest import blob_path, is_digest, is_sha256_hex
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import collect

HEX = "ab" * 32


def test_the_blob_path_of_a_digest():
    assert blob_path("/s", "sha256:" + HEX) == "/s/blobs/sha256/" + HEX


@pytest.mark.parametrize("digest", [
    "sha256:" + HEX + "\n",  # `$` let a trailing newline through in the store's garbage collection
    "sha256:" + HEX.upper(),
    "sha512:" + HEX,
    "sha256:../../etc/passwd",
    HEX,
    None,
])
def test_a_digest_that_is_not_one_names_no_file(digest):
    assert not is_digest(digest)
    with pytest.raises(BundleError, match="is not 'sha256:' followed by 64 lower-case hex digits") as err:
        blob_path("/s", digest, "manifest m in the store /s")
    assert "manifest m in the store /s" in str(err.value)


def test_a_hex_with_a_trailing_newline_is_no_sha256():
    assert is_sha256_hex(HEX)
    assert not is_sha256_hex(HEX + "\n")
    # The index's layer lists said yes to it; now they say what the store's listing says.
    assert layer_hints({"libLayers": [HEX, HEX + "\n"]}, "lib") == [HEX]


def test_the_store_lists_only_files_named_by_a_sha256(tmp_path):
    folder = tmp_path / "blobs" / "sha256"
    folder.mkdir(parents=True)
    (folder / HEX).write_bytes(b"x")
    (folder / (HEX + "\n")).write_bytes(b"y")
    (folder / "not-a-digest").write_bytes(b"z")
    assert collect.stored_blobs(str(tmp_path)) == {"sha256:" + HEX: 1}
