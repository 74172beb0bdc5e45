"""An engine's answer is hostile until read: one of another shape, or nested too deeply, is a message."""

from __future__ import annotations

import pytest

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.inspect_json import image_facts


def read(document):
    return {"id": document[0]["Id"], "repo_tags": [], "layers": [], "size": 0}


def test_a_well_formed_answer_gives_the_image_id():
    assert image_facts(["docker", "image", "inspect", "x"], '[{"Id": "sha256:%s"}]' % ("a" * 64), read)["id"] == "a" * 64


@pytest.mark.parametrize("output", ["[" * 100000 + "]" * 100000, "not json", "{}"])
def test_an_answer_it_cannot_read_names_the_command(output):
    with pytest.raises(BundleError) as failure:
        image_facts(["docker", "image", "inspect", "x"], output, read)
    assert "`docker image inspect x` answered with output this module cannot read" in str(failure.value)
