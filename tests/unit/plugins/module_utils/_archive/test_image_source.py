"""The images a save source offers: copies of one image (one config) become one, with every name of each."""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._archive.image_source import (
    ImageSource, broken_candidate, candidate, merge_duplicates)


def image(config):
    return ImageSource(name=None, config=config, layers=[])


def test_copies_of_one_image_are_one_candidate_with_every_name_once_in_the_order_met():
    merged = merge_duplicates([
        candidate(["app:1", "app:latest"], image(b'{"a": 1}')),
        candidate(["other:1"], image(b'{"b": 2}')),
        candidate(["app:latest", "app:stable"], image(b'{"a": 1}')),
    ])
    assert [c.tags for c in merged] == [["app:1", "app:latest", "app:stable"], ["other:1"]]


def test_a_candidate_the_source_cannot_provide_is_kept_apart_at_the_end():
    broken = broken_candidate(["gone:1"], "blob sha256:... is missing")
    merged = merge_duplicates([broken, candidate(["app:1"], image(b"{}"))])
    assert [c.tags for c in merged] == [["app:1"], ["gone:1"]] and merged[1].error == broken.error
