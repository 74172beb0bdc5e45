"""keep_newest.py: the one rule of which names a prune drops, for the OCI store and the engines alike."""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._reference import repository_of, repository_or_none
from ansible_collections.fleetimage.separated.plugins.module_utils._store.keep_newest import beyond_newest


def _dropped(items, keep, wanted):
    return sorted(name for name, unused in beyond_newest(items, keep, wanted, name_of=lambda i: i[0],
                                                         newest=lambda i: (i[1], i[0])))


ITEMS = [("app1:1", 1), ("app1:2", 2), ("app1:3", 3), ("docker.io/library/app1:4", 4),
         ("app2:1", 1), ("app2:2", 2), ("Not An Image", 9)]


def test_each_repository_keeps_its_newest_names():
    # app1 and docker.io/library/app1 are one repository.
    assert _dropped(ITEMS, 2, None) == ["app1:1", "app1:2"]
    assert _dropped(ITEMS, 1, None) == ["app1:1", "app1:2", "app1:3", "app2:1"]
    assert _dropped(ITEMS, 0, None) == ["app1:1", "app1:2", "app1:3", "app2:1", "app2:2", "docker.io/library/app1:4"]


def test_only_the_repositories_asked_for():
    assert _dropped(ITEMS, 1, {repository_of("app2")}) == ["app2:1"]
    assert _dropped(ITEMS, 1, set()) == []  # an empty set asks for none; None asks for all


def test_a_name_that_is_no_image_name_has_no_repository_and_stays():
    assert repository_or_none("Not An Image") is None
    assert repository_of("app1:1") == "docker.io/library/app1"
