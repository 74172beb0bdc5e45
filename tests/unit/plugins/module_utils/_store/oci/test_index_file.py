"""index_file: the OCI store's index.json read entry by entry and written as a stream, byte for byte canonical."""

from __future__ import annotations

import io
import json
import os
import random
import re

import pytest

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._store.oci import index_file

HEX = "0123456789abcdef"
NAMES = ["app", "ÄÖÜ-bild", "образ", "镜像", "😀", "tab\tand\nnewline", "quote\"back\\slash", "\u2028", "\x00"]
TOP_KEYS = ["annotations", "mediaType", "artifactType", "subject", "zzz", "Manifests", "manifest", "manifests0",
            "m", "é", "", "_"]


def random_value(rng, depth=0):
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.choice(NAMES) + str(rng.randrange(1000))
    if kind == 1:
        return rng.randrange(-10 ** 12, 10 ** 12)
    if kind == 2:
        return rng.choice([0.5, -1e-300, 1e300, 3.141592653589793, 2.0])
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return ""
    if kind == 5:
        return [random_value(rng, depth + 1) for dummy in range(rng.randrange(4))]
    return dict((rng.choice(NAMES + TOP_KEYS), random_value(rng, depth + 1)) for dummy in range(rng.randrange(4)))


def random_entry(rng):
    entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": "sha256:" + "".join(rng.choice(HEX) for dummy in range(64)),
             "size": rng.randrange(10 ** 6)}
    if rng.random() < 0.8:
        name = rng.choice(NAMES) + ":%d" % rng.randrange(100)
        entry["annotations"] = {"org.opencontainers.image.ref.name": name, "io.containerd.image.name": name,
                                rng.choice(NAMES): rng.choice(NAMES)}
    if rng.random() < 0.3:
        entry[rng.choice(NAMES + ["platform", "urls", "zzz"])] = random_value(rng)
    return entry


def random_index(rng):
    index = {"schemaVersion": 2, "manifests": [random_entry(rng) for dummy in range(rng.randrange(30))]}
    if rng.random() < 0.5:
        index["mediaType"] = index_file.MEDIA_INDEX
    for dummy in range(rng.randrange(4)):
        key = rng.choice(TOP_KEYS)
        if key != "mediaType":
            index[key] = random_value(rng)
    return index


def streamed(index):
    top = dict(index, manifests=[])
    out = io.BytesIO()
    index_file.write(out, top, iter(index["manifests"]))
    return out.getvalue()


@pytest.mark.parametrize("seed", range(300))
def test_the_streamed_index_is_byte_for_byte_the_canonical_one(seed):
    index = random_index(random.Random(seed))
    assert streamed(index) == index_file.canonical_json(index)


@pytest.mark.parametrize("seed", range(50))
def test_an_index_read_entry_by_entry_and_written_again_is_unchanged(tmp_path, seed):
    index = random_index(random.Random(seed))
    (tmp_path / "index.json").write_text(json.dumps(index, indent=seed % 3 or None, ensure_ascii=bool(seed % 2)),
                                         encoding="utf-8")
    top = {}
    with index_file.opened(str(tmp_path)) as f:
        read = list(index_file.entries(f, "index.json", top))
        assert read == index["manifests"]
        out = io.BytesIO()
        index_file.write(out, top, index_file.entries(f, "index.json"))  # a second pass through the same file
    assert out.getvalue() == index_file.canonical_json(index)


def test_a_store_without_index_has_an_empty_one(tmp_path):
    top = {}
    with index_file.opened(str(tmp_path)) as f:
        assert f is None
        assert list(index_file.entries(f, "index.json", top)) == []
    out = io.BytesIO()
    index_file.write(out, top, [])
    assert out.getvalue() == b'{"manifests":[],"schemaVersion":2}'


def entries_of(store):
    with index_file.opened(str(store)) as f:
        return list(index_file.entries(f, index_file.index_path(str(store))))


ENTRY = '{"mediaType": "m", "size": 1, "digest": "sha256:%s"}' % ("a" * 64)


@pytest.mark.parametrize("text, message", [
    ('{"schemaVersion": 2, "manifests": [%s], "manifests": []}' % ENTRY,
     'is refused: its top-level key "manifests" is given twice'),
    ('{"schemaVersion": 2, "manifests": [%s, "x"]}' % ENTRY, "^entry 1 of the store index INDEX is not a JSON object but str$"),
    ('{"schemaVersion": 2, "manifests": [%s] ,' % ENTRY, "is not valid JSON: Expecting property name"),
    ('{"schemaVersion": 2, "manifests": []} []', "is not valid JSON: Extra data at character 38"),
    ('[{"schemaVersion": 2, "manifests": []}]', r"is not an OCI image index \(schemaVersion 2, a manifests list\)"),
    ('{"schemaVersion": 2, "manifests": ["%s"]}' % ("x" * (2 * 1024 * 1024)),
     "is refused: item 0 of its array: a value at character 35 is more than the 1048576 characters allowed"),
    ('{"schemaVersion": 2, "manifests": [%s]}' % ("[" * 100000 + "]" * 100000), "is not valid JSON: .*nested more deeply"),
    ('{"schemaVersion": 2, "manifests": [%s], "mediaType": "other"}' % ENTRY, "is not an OCI image index"),
    ('{"manifests": [%s]}' % ENTRY, "is not an OCI image index"),
])
def test_a_bad_index_is_a_message_naming_it(tmp_path, text, message):
    (tmp_path / "index.json").write_text(text)
    if "INDEX" not in message:
        message = "^store index INDEX " + message
    with pytest.raises(BundleError, match=message.replace("INDEX", re.escape(str(tmp_path / "index.json")))):
        entries_of(tmp_path)


def test_bytes_that_are_no_utf8_are_a_message(tmp_path):
    (tmp_path / "index.json").write_bytes(b'{"schemaVersion": 2, "manifests": [], "x": "\xff"}')
    with pytest.raises(BundleError, match="store index .* is not valid JSON: it is not UTF-8 text: byte 44 "):
        entries_of(tmp_path)


def test_a_top_level_check_after_the_entries_fails_before_the_reader_ends(tmp_path):
    """mediaType may come after manifests: the entries are handed out, then the refusal comes, before the end."""
    (tmp_path / "index.json").write_text('{"schemaVersion": 2, "manifests": [%s], "mediaType": "other"}' % ENTRY)
    with index_file.opened(str(tmp_path)) as f:
        reader = index_file.entries(f, "index.json")
        assert next(reader)["size"] == 1
        with pytest.raises(BundleError, match="is not an OCI image index"):
            next(reader)


def test_an_index_larger_than_the_bound_is_refused_unread(tmp_path):
    path = tmp_path / "index.json"
    path.write_text("{")
    os.truncate(str(path), index_file.INDEX_MAX_BYTES + 1)  # sparse: nothing of it is on the disk
    with pytest.raises(BundleError, match="store index %s is %d bytes, more than the %d allowed"
                       % (path, index_file.INDEX_MAX_BYTES + 1, index_file.INDEX_MAX_BYTES)):
        entries_of(tmp_path)


def test_a_link_or_a_fifo_in_its_place_is_refused_unopened(tmp_path):
    os.symlink("/etc/hostname", str(tmp_path / "index.json"))
    with pytest.raises(BundleError, match="is a symbolic link"):
        entries_of(tmp_path)
    os.unlink(str(tmp_path / "index.json"))
    os.mkfifo(str(tmp_path / "index.json"))
    with pytest.raises(BundleError, match="is not a regular file"):
        entries_of(tmp_path)


@pytest.mark.parametrize("count", [999, 1000, 1001, 2501])
def test_a_long_index_written_in_batches_is_canonical(count):
    rng = random.Random(count)
    index = dict(random_index(rng), manifests=[random_entry(rng) for dummy in range(count)])
    assert streamed(index) == index_file.canonical_json(index)
