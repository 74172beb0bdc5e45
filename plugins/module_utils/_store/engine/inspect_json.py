# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An engine's answer to an inspect, read as JSON; an answer of another shape is the engine's fault, said so."""

from __future__ import annotations


from ansible_collections.fleetimage.separated.plugins.module_utils._io import json_text
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine import cli


def image_facts(argv, output, read):
    """READ(document) of the JSON OUTPUT of ARGV: {"id", "repo_tags", "layers", "size"}.

    READ may raise any lookup or type error on a document of another shape;
    that becomes one BundleError quoting the command and the start of its answer.
    """
    try:
        facts = read(json_text.loads(output))
        facts["id"] = facts["id"].split(":", 1)[-1]
        return facts
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        raise BundleError("`%s` answered with output this module cannot read (%s): %.300s"
                          % (cli.command_line(argv), exc, output))
