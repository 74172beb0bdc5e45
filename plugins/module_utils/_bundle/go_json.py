# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""JSON as Go writes it, and the legacy layer ids containers/image derives with it.

isula-build is written in Go: its index, its manifest.json and the legacy
layer ids in its tarballs come out of Go's encoding/json. These functions
give the same bytes, so that a bundle written here is the one isula-build
would write.
"""

from __future__ import annotations

import hashlib
import json
import re

from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._digest import SHA256_HEX
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError

_TOP_LAYER_ATTRS = ("architecture", "config", "container", "container_config", "created", "docker_version", "os")
# A JSON string literal, or a run of whitespace outside one.
_STRING_OR_SPACE = re.compile(r'"(?:[^"\\]|\\.)*"|[ \t\n\r]+', re.S)
_GO_ESCAPES = (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


def go_json(value):
    """VALUE as Go's json.Marshal writes it: compact, `<>&` and U+2028/9 escaped.

    Dict keys keep their order here; sort them first where Go marshals a map.
    """
    return _go_escape(json.dumps(value, ensure_ascii=False, separators=(",", ":"))).encode("utf-8")


def legacy_layer_ids(diff_ids, config_bytes):
    """Return [(legacy id, json bytes)] for each layer, bottom to top.

    As containers/image v5.17's docker-archive writer derives them: each
    layer's v1 config is a JSON object (Go json.Marshal of a map: sorted keys,
    compact) holding "parent" (the id below, absent for the bottom layer) and,
    for the top layer only, the image config's 7 attributes of _TOP_LAYER_ATTRS
    (null when missing). The id is the sha256 of that object with an extra
    "layer_id" member, the layer's chain id; the json file holds "id" instead.
    """
    attrs = _top_level_members(config_bytes)
    result = []
    chain_id = parent = None
    for position, diff_id in enumerate(diff_ids):
        diff_id = sha256_digest(diff_id)
        if chain_id is None:
            chain_id = diff_id
        else:
            chain_id = "sha256:" + hashlib.sha256((chain_id + " " + diff_id).encode("ascii")).hexdigest()
        fields = {}
        if parent is not None:
            fields["parent"] = json.dumps(parent)
        if position == len(diff_ids) - 1:
            for attr in _TOP_LAYER_ATTRS:
                fields[attr] = attrs.get(attr, "null")
        layer_id = hashlib.sha256(_go_object(dict(fields, layer_id=json.dumps(chain_id)))).hexdigest()
        fields["id"] = json.dumps(layer_id)
        result.append((layer_id, _go_object(fields)))
        parent = layer_id
    return result


def sha256_digest(value):
    if not isinstance(value, str) or not re.match(r"^(sha256:)?%s$" % SHA256_HEX, value):
        raise BundleError("%r is not a sha256 digest" % (value,))
    return value if value.startswith("sha256:") else "sha256:" + value


def _go_escape(text):
    # These characters occur in valid JSON text only inside strings, where
    # Go's HTML-safe escaping replaces them.
    for char, escape in _GO_ESCAPES:
        text = text.replace(char, escape)
    return text


def _go_compact(raw):
    """A json.RawMessage as Go re-emits it: whitespace outside strings dropped, escaped, else verbatim."""
    return _go_escape(_STRING_OR_SPACE.sub(lambda m: m.group(0) if m.group(0)[0] == '"' else "", raw))


def _go_object(fields):
    """{key: raw JSON text} as Go marshals a map: keys sorted, compact."""
    return ("{" + ",".join("%s:%s" % (json.dumps(key), fields[key]) for key in sorted(fields)) + "}").encode("utf-8")


def _top_level_members(config_bytes):
    """{key: raw JSON text} of the config's top-level object, as Go unmarshals it into
    map[string]*json.RawMessage: values verbatim (then compacted), the last duplicate winning."""
    try:
        text = config_bytes.decode("utf-8")
        document = json_text.loads(text)  # a too deeply nested one is refused here, before raw_decode below
    except ValueError as exc:
        raise BundleError("image config is not valid JSON: %s" % exc) from exc
    if not isinstance(document, dict):
        raise BundleError("image config is not a JSON object")
    decoder, members = json.JSONDecoder(), {}
    position = _skip_space(text, _skip_space(text, 0) + 1)  # past "{"
    while text[position] != "}":
        key, position = decoder.raw_decode(text, position)
        start = _skip_space(text, _skip_space(text, position) + 1)  # past ":"
        position = decoder.raw_decode(text, start)[1]
        members[key] = _go_compact(text[start:position])
        position = _skip_space(text, position)
        if text[position] == ",":
            position = _skip_space(text, position + 1)
    return members


def _skip_space(text, position):
    while text[position] in " \t\n\r":
        position += 1
    return position
