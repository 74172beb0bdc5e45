"""What prune keeps of an engine's repository: the newest by the image config's creation time."""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._store.engine.lifecycle import prune, sortable_time


def test_creation_times_sort_in_time_order_whatever_their_fraction():
    times = ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00.5Z", "2024-01-01T00:00:00.123456789Z",
             "2023-12-31T23:59:59.999Z", None, "not a time"]
    expected = [None, "not a time", "2023-12-31T23:59:59.999Z",
                "2024-01-01T00:00:00Z", "2024-01-01T00:00:00.123456789Z", "2024-01-01T00:00:00.5Z"]
    assert sorted(times, key=sortable_time) == expected


class FakeEngine:
    """An engine that holds IMAGES and records what it was asked to remove."""

    label = "fake"

    def __init__(self, images):
        self._images = images
        self.removed = []

    def reference(self, name):
        return name if ":" in name else name + ":latest"

    def images(self):
        return [image for image in self._images if image["name"] not in self.removed]

    def remove(self, ref):
        self.removed.append(ref)


def test_keep_applies_to_the_repositories_asked_for_only():
    engine = FakeEngine([
        {"name": "app1:1", "id": "a", "created": "2024-01-01T00:00:01Z"},
        {"name": "app1:2", "id": "b", "created": "2024-01-01T00:00:03Z"},
        {"name": "app1:3", "id": "c", "created": "2024-01-01T00:00:02.5Z"},
        {"name": "app2:1", "id": "d", "created": "2020-01-01T00:00:00Z"},
        {"name": "other:1", "id": "e", "created": "2020-01-01T00:00:00Z"},
    ])
    would = prune(engine, keep=2, repositories=["app1", "app2"], check_mode=True)
    assert would["removed"] == ["app1:1"] and engine.removed == []
    assert would["after"] == {"app1:2": "b", "app1:3": "c", "app2:1": "d"}
    done = prune(engine, keep=1, repositories=["app1"])
    assert done["removed"] == ["app1:1", "app1:3"] and sorted(engine.removed) == ["app1:1", "app1:3"]
