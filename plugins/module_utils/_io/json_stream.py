# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The items of one array of a JSON object in a file, read one at a time in bounded memory.

    {"schemaVersion": 2, "manifests": [ITEM, ITEM, ...], "annotations": {...}}

A file of a million items is never held whole: it is read in chunks through
an incremental UTF-8 decoder, each item is parsed on its own (json_text's
raw_decode, depth-safe like json_text.loads) and handed out, and the text
already parsed is dropped. Memory is bounded by ITEM_MAX_CHARS and the chunk
size, never by the file's size.

Telling a truncated item from an invalid one: before each value is parsed,
at least ITEM_MAX_CHARS (and a small margin) of text are kept ahead of it,
unless the file ends sooner. A value that fails to parse within that window
is then either invalid JSON or larger than the bound, and the error says
which: an item that runs to the window's end is too large.

What json.loads would take differently is refused rather than guessed: a
top-level key given twice (json.loads keeps the last one silently; a reader
that streams could not), anything but whitespace after the object, a top
level that is no object. The other members of the object (all but the array)
are returned to the caller; together they are bounded by ITEM_MAX_CHARS too.
"""

from __future__ import annotations

import codecs
import json
import re

from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text

ITEM_MAX_CHARS = 1024 * 1024  # one item, and all the object's other members together
CHUNK_BYTES = 1024 * 1024
# Text kept ahead beyond ITEM_MAX_CHARS, so that an item of exactly the bound is parsed with room to spare: a
# parser's error caused by the text running out lies within this many characters of the window's end.
_MARGIN = 64
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_AFTER_ITEM = re.compile(r"[ \t\n\r]*([,\]])[ \t\n\r]*")
_VALUE_STARTS = frozenset('["-0123456789tfnNI')


class NotAnObject(ValueError):
    """The file's JSON document is no object (an array, a string...)."""


class Refused(ValueError):
    """Valid JSON this reader will not take: a key given twice, an item larger than the bound."""


def array_items(f, array_key, others, item_max_chars=ITEM_MAX_CHARS, chunk_bytes=CHUNK_BYTES, max_bytes=None):
    """Yield, one at a time, the items of the array that is the member ARRAY_KEY of the JSON object in the
    binary file F (read from where it is). OTHERS, a dict, receives every other member of the object as it is
    read: all of them once the generator is exhausted. The array itself shows in OTHERS as an empty list
    under ARRAY_KEY (its items were yielded), so that OTHERS is the object with the array left empty. When
    ARRAY_KEY is absent nothing is yielded. A file that grows beyond MAX_BYTES while it is read is refused.

    Everything wrong with the file is a ValueError whose text follows "is not valid JSON: " (NotAnObject
    and Refused follow the file's name); the last check runs before the generator ends, so a caller that
    acts only after exhausting it never acts on a bad file.
    """
    text = _Text(f, chunk_bytes, item_max_chars + _MARGIN, max_bytes)
    text.skip_whitespace()
    if text.char() != "{":
        if text.char() in _VALUE_STARTS:
            raise NotAnObject("its top level is not a JSON object")
        raise ValueError(text.error("Expecting value"))
    text.advance(1)
    others_chars = 0
    seen = set()
    text.skip_whitespace()
    if text.char() == "}":
        text.advance(1)
    else:
        while True:
            if text.char() != '"':
                raise ValueError(text.error("Expecting property name enclosed in double quotes"))
            key, size = text.value(item_max_chars)
            if key in seen:
                raise Refused("its top-level key %s is given twice (readers disagree on which one counts)"
                              % json.dumps(key)[:200])
            seen.add(key)
            text.expect(":")
            if key == array_key and text.char() == "[":
                others_chars += size
                others[key] = []
                yield from _items(text, item_max_chars)
            else:
                others[key], value_size = text.value(item_max_chars)
                others_chars += size + value_size
            if others_chars > item_max_chars:
                raise Refused("its members other than %s are more than the %d characters allowed"
                              % (json.dumps(array_key), item_max_chars))
            text.skip_whitespace()
            if text.char() == "}":
                text.advance(1)
                break
            text.expect(",")
    text.skip_whitespace()
    if text.char() != "":
        raise ValueError(text.error("Extra data"))


def _items(text, item_max_chars):
    text.advance(1)  # the [
    text.skip_whitespace()
    if text.char() == "]":
        text.advance(1)
        return
    position = 0
    while True:
        try:
            item, unused_size = text.value(item_max_chars)
        except Refused as exc:
            raise Refused("item %d of its array: %s" % (position, exc))
        yield item
        position += 1
        if text.after_item() == "]":
            return


class _Text:
    """The file's text from the current position on, with at least AHEAD characters of it at hand (or all
    that is left); what lies before the position is dropped as the reading goes on."""

    def __init__(self, f, chunk_bytes, ahead, max_bytes):
        self._f = f
        self._max_bytes = max_bytes
        self._chunk_bytes = chunk_bytes
        self._ahead = ahead
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._bytes_read = 0
        self._text = ""
        self._position = 0  # in _text
        self._dropped = 0  # characters dropped before _text: _dropped + _position is the place in the file
        self._at_end = False

    def _fill(self, wanted):
        """Have WANTED characters after the position, or the whole rest of the file."""
        if len(self._text) - self._position >= wanted or self._at_end:
            return
        pieces = [self._text[self._position:]]
        self._dropped += self._position
        self._position = 0
        have = len(pieces[0])
        while have < wanted and not self._at_end:
            data = self._f.read(self._chunk_bytes)
            pending = len(self._decoder.getstate()[0])  # bytes of a character begun in the last read
            try:
                piece = self._decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                raise ValueError("it is not UTF-8 text: byte %d (%s)"
                                 % (self._bytes_read - pending + exc.start, exc.reason))
            self._bytes_read += len(data)
            if self._max_bytes is not None and self._bytes_read > self._max_bytes:
                raise Refused("it grew to more than the %d bytes allowed while it was read" % self._max_bytes)
            self._at_end = not data
            pieces.append(piece)
            have += len(piece)
        self._text = "".join(pieces)

    def char(self):
        """The character at the position; '' at the end of the file."""
        self._fill(1)
        return self._text[self._position:self._position + 1]

    def advance(self, count):
        self._position += count

    def skip_whitespace(self):
        while True:
            self._position = _WHITESPACE.match(self._text, self._position).end()
            if self._position < len(self._text) or self._at_end:
                return
            self._fill(1)

    def expect(self, delimiter):
        """Step over DELIMITER and the whitespace around it; anything else there is an error."""
        self.skip_whitespace()
        if self.char() != delimiter:
            raise ValueError(self.error("Expecting %r delimiter" % delimiter))
        self.advance(1)
        self.skip_whitespace()

    def after_item(self):
        """Step over the "," or "]" after an item of an array, and the whitespace around it; return which."""
        found = _AFTER_ITEM.match(self._text, self._position)
        if found is not None and found.end() < len(self._text):  # the usual case, quickly
            self._position = found.end()
            return found.group(1)
        self.skip_whitespace()
        delimiter = self.char()
        if delimiter not in ("]", ","):
            raise ValueError(self.error("Expecting ',' delimiter"))
        self.advance(1)
        self.skip_whitespace()
        return delimiter

    def value(self, max_chars):
        """(the JSON value at the position, its size in characters); the position moves past it."""
        if len(self._text) - self._position < self._ahead:
            self._fill(self._ahead)
        start = self._position
        try:
            value, end = json_text.raw_decode(self._text, start)
        except json.JSONDecodeError as exc:
            runs_out = exc.msg.startswith("Unterminated string") or exc.pos >= len(self._text) - _MARGIN // 2
            if runs_out and not self._at_end:
                raise Refused("a value at character %d is more than the %d characters allowed"
                              % (self._dropped + start, max_chars))
            message = exc.msg[:-len(" at")] if exc.msg.endswith(" at") else exc.msg  # "Unterminated string starting at"
            raise ValueError("%s at character %d" % (message, self._dropped + exc.pos))
        if end - start > max_chars:
            raise Refused("a value at character %d is more than the %d characters allowed"
                          % (self._dropped + start, max_chars))
        self._position = end
        return value, end - start

    def error(self, message):
        return "%s at character %d" % (message, self._dropped + self._position)
