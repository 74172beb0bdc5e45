"""Which tests pytest-xdist runs in one worker (tests/conftest.py gives these scopes to its scheduler)."""

from __future__ import annotations


def xdist_scope_of(nodeid):
    """The scope of the test NODEID ('tests/fleet/test_rollout.py::test_x[1]'): a test file, or a whole folder."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    folder = parts[1] if len(parts) > 2 and parts[0] == "tests" else None
    if folder in ("fleet", "galaxy", "ee"):
        return "tests/fleet+galaxy+ee"
    if folder == "engines":
        return "tests/engines"
    return path
