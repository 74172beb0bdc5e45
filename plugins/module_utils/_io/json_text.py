# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSON from a bundle, a store or an engine, parsed so that no document can crash the parser.

json.loads recurses once per nested object or array: a document nested
100,000 deep ends in RecursionError, which is no ValueError and escaped as a
traceback. Here it is a ValueError like any other bad JSON, so that every
caller's "is not valid JSON" message covers it. Sizes are bounded by the
callers, before the bytes are read (each names its own limit).
"""

from __future__ import annotations

import json
import sys


class NestedTooDeeply(ValueError):
    """A JSON document nested more deeply than the parser can follow."""


def loads(data):
    """The JSON document DATA (bytes in UTF-8, or text); any malformed or too deeply nested one is a ValueError."""
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    try:
        return json.loads(text)
    except RecursionError:
        raise NestedTooDeeply("its objects and arrays are nested more deeply than the %d levels a parser follows"
                              % sys.getrecursionlimit())


def loads_as(data, kind, kind_text):
    """The JSON document DATA, which must be a KIND (dict, list); else a ValueError whose text follows a file's name.

    The text reads "is not valid JSON: WHY" or "is not KIND_TEXT", so that a
    caller writes "%s %s" % (what, exc) and names the file once.
    """
    try:
        document = loads(data)
    except ValueError as exc:
        raise ValueError("is not valid JSON: %s" % exc)
    if not isinstance(document, kind):
        raise ValueError("is not %s" % kind_text)
    return document


_DECODER = json.JSONDecoder()


def raw_decode(text, position):
    """(value, end) of the JSON value that starts at POSITION of the text TEXT (no whitespace before it), as
    json.JSONDecoder.raw_decode gives them; a value nested too deeply is a NestedTooDeeply, like in loads."""
    try:
        return _DECODER.raw_decode(text, position)
    except RecursionError:
        raise NestedTooDeeply("its objects and arrays are nested more deeply than the %d levels a parser follows"
                              % sys.getrecursionlimit())
