"""json_stream.array_items: the items of one array of a JSON object, read in chunks, equal to json.loads's reading.

Small chunks and a small item bound put every boundary (an item, a string, a
multi-byte character split between two reads) where the reader must join it.
"""

from __future__ import annotations

import io
import json

import pytest

from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_stream


def read(data, key="manifests", item_max_chars=json_stream.ITEM_MAX_CHARS, chunk_bytes=json_stream.CHUNK_BYTES):
    """(items, other members) of the JSON object DATA (bytes), exhausting the reader."""
    others = {}
    items = list(json_stream.array_items(io.BytesIO(data), key, others, item_max_chars, chunk_bytes))
    return items, others


DOCUMENTS = [
    {"schemaVersion": 2, "manifests": []},
    {"manifests": [1, "two", None, True, 2.5, {"a": [1, {"b": "c"}]}, [], {}], "schemaVersion": 2},
    {"annotations": {"k": "v"}, "manifests": [{"digest": "sha256:" + "a" * 64, "annotations": {"n": "é€😀"}}] * 5,
     "zzz": [1, 2, 3]},
    {"other": "no array here"},
    {},
    {"manifests": [{"name": "app%d:1\u2028" % n, "big": "x" * (n * 37)} for n in range(40)]},
]


@pytest.mark.parametrize("document", DOCUMENTS)
@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 7, 64, 1024 * 1024])
@pytest.mark.parametrize("spacing", [None, 2])
def test_items_and_members_are_json_loads_reading_at_every_chunk_size(document, chunk_bytes, spacing):
    data = json.dumps(document, indent=spacing, ensure_ascii=False).encode("utf-8")
    items, others = read(data, item_max_chars=4096, chunk_bytes=chunk_bytes)
    expected = json.loads(data)
    assert items == expected.get("manifests", [])
    assert others == dict(expected, manifests=[]) if "manifests" in expected else others == expected


def test_an_item_split_between_reads_is_joined():
    item = {"name": "a" * 100, "digest": "b" * 100}
    data = json.dumps({"manifests": [item, item, item]}).encode()
    items, unused = read(data, item_max_chars=1000, chunk_bytes=50)  # every item spans several reads
    assert items == [item] * 3


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5])
def test_a_multi_byte_character_split_between_reads_is_joined(chunk_bytes):
    names = ["é", "€", "😀", "a😀é€b"]  # 2, 3 and 4 bytes in UTF-8
    data = json.dumps({"manifests": names}, ensure_ascii=False).encode("utf-8")
    assert read(data, chunk_bytes=chunk_bytes)[0] == names


def test_whitespace_everywhere_json_allows_it():
    data = b' \n\t{ "manifests" :\r\n [ 1 ,\n 2 ] , "x" : { } \n} \n\n'
    assert read(data, chunk_bytes=3) == ([1, 2], {"manifests": [], "x": {}})


def test_items_come_one_at_a_time():
    """The reader hands out the first item before it has read the end of the file."""
    data = b'{"manifests": [1, 2, ' + b" " * (8 * 1024 * 1024) + b"3]}"
    f = io.BytesIO(data)
    items = json_stream.array_items(f, "manifests", {}, 1024, 4096)
    assert next(items) == 1
    assert f.tell() < 64 * 1024


def test_a_non_array_value_of_the_key_goes_to_the_members():
    assert read(b'{"manifests": {"a": 1}}') == ([], {"manifests": {"a": 1}})


@pytest.mark.parametrize("data, message", [
    (b"", "Expecting value at character 0"),
    (b"   ", "Expecting value at character 3"),
    (b"<html>", "Expecting value at character 0"),
    (b'{"manifests": [1, 2,]}', "Expecting value at character 20"),
    (b'{"manifests": [1 2]}', "Expecting ',' delimiter at character 17"),
    (b'{"manifests": [1, 2]', "Expecting ',' delimiter at character 20"),
    (b'{"manifests" [1]}', "Expecting ':' delimiter at character 13"),
    (b'{"manifests": [1], }', "Expecting property name enclosed in double quotes at character 19"),
    (b"{manifests: []}", "Expecting property name enclosed in double quotes at character 1"),
    (b'{"manifests": [1, tru]}', "Expecting value at character 18"),
    (b'{"manifests": ["a\x01"]}', "Invalid control character at character 17"),
    (b'{"manifests": ["abc', "Unterminated string starting at character 15"),
    (b'{"manifests": []} x', "Extra data at character 18"),
    (b'{"manifests": []}{}', "Extra data at character 17"),
    (b'{"manifests": [], "x": 1}]', "Extra data at character 25"),
])
def test_invalid_json_is_an_error_at_its_place(data, message):
    with pytest.raises(ValueError) as err:
        read(data, chunk_bytes=4)
    assert str(err.value) == message
    with pytest.raises(ValueError):
        json.loads(data)  # json.loads refuses them too


@pytest.mark.parametrize("data", [b"[]", b'"text"', b"2", b"null", b"true", b"[{}]"])
def test_a_top_level_that_is_no_object_is_refused(data):
    with pytest.raises(json_stream.NotAnObject, match="its top level is not a JSON object"):
        read(data)


def test_a_top_level_key_given_twice_is_refused():
    """json.loads would keep the second manifests silently: no reader may see another index than this one."""
    for data in (b'{"manifests": [1], "manifests": [2]}', b'{"a": 1, "manifests": [], "a": 2}'):
        with pytest.raises(json_stream.Refused, match='its top-level key "(manifests|a)" is given twice'):
            read(data)


@pytest.mark.parametrize("chunk_bytes", [7, 4096])
def test_an_item_larger_than_the_bound_is_refused_as_such(chunk_bytes):
    data = json.dumps({"manifests": [1, "x" * 5000, 3]}).encode()
    with pytest.raises(json_stream.Refused, match="item 1 of its array: a value at character 18 is more than the 1000"):
        read(data, item_max_chars=1000, chunk_bytes=chunk_bytes)
    data = json.dumps({"manifests": [1, {"a": ["x" * 30] * 200}]}).encode()
    with pytest.raises(json_stream.Refused, match="item 1 of its array: .* is more than the 1000 characters"):
        read(data, item_max_chars=1000, chunk_bytes=chunk_bytes)


def test_an_item_just_within_the_bound_is_taken():
    item = "x" * 998  # 1000 characters with its quotes
    data = json.dumps({"manifests": [item, item]}).encode()
    assert read(data, item_max_chars=1000, chunk_bytes=7)[0] == [item, item]
    data = json.dumps({"manifests": [item + "x"]}).encode()
    with pytest.raises(json_stream.Refused):
        read(data, item_max_chars=1000, chunk_bytes=7)


def test_the_other_members_are_bounded_together():
    data = json.dumps({"a": "x" * 400, "b": "y" * 400, "c": "z" * 400, "manifests": []}).encode()
    with pytest.raises(json_stream.Refused, match='its members other than "manifests" are more than the 1000'):
        read(data, item_max_chars=1000)


def test_an_item_nested_too_deeply_is_refused_like_json_text_does():
    data = b'{"manifests": [1, ' + b"[" * 100000 + b"]" * 100000 + b"]}"
    with pytest.raises(ValueError, match="nested more deeply than the"):
        read(data, item_max_chars=1024 * 1024)
    data = b'{"other": ' + b"{\"a\":" * 5000 + b"1" + b"}" * 5000 + b', "manifests": []}'
    with pytest.raises(ValueError, match="nested more deeply than the"):
        read(data)


@pytest.mark.parametrize("data, where", [
    (b'{"manifests": ["\xff"]}', 16),
    (b'{"manifests": ["\xc3"]}', 16),  # a character cut short
    (b'{"manifests": ["ok"]}\xe2\x82', 21),  # the file ends inside a character
    (b'{"manifests": ["\xed\xa0\x80"]}', 16),  # a surrogate encoded: no UTF-8
])
@pytest.mark.parametrize("chunk_bytes", [1, 1024])
def test_bytes_that_are_no_utf8_are_refused_with_their_place(data, where, chunk_bytes):
    with pytest.raises(ValueError, match="it is not UTF-8 text: byte %d " % where):
        read(data, chunk_bytes=chunk_bytes)


def test_a_file_read_beyond_its_bound_is_refused():
    with pytest.raises(json_stream.Refused, match="it grew to more than the 100 bytes allowed while it was read"):
        list(json_stream.array_items(io.BytesIO(b'{"manifests": [' + b"1," * 100 + b"1]}"), "manifests", {},
                                     chunk_bytes=16, max_bytes=100))


def test_the_last_check_comes_before_the_reader_ends():
    """A consumer that acts only once the items are exhausted never acts on a file that is bad after its array."""
    items = json_stream.array_items(io.BytesIO(b'{"manifests": [1, 2], "manifests": []}'), "manifests", {})
    assert next(items) == 1 and next(items) == 2
    with pytest.raises(json_stream.Refused):
        next(items)
