"""The packages of plugins/module_utils depend one way (docs/docsite/rst/architecture.rst, "Packages").

    _errors -> _reference, _digest -> _io -> _archive -> _bundle | _store -> _ops

Each package imports only its own modules and those of the floors below it;
_bundle and _store stand side by side and import neither each other nor
anything above. Only the module files (plugins/modules/) import _ops, and
nothing in module_utils imports Ansible.
"""

from __future__ import annotations

import ast
import os

import pytest

PLUGINS = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins"))
PREFIX = "ansible_collections.fleetimage.separated.plugins.module_utils."

FLOORS = {
    "_errors": 0,
    "_reference": 1,
    "_digest": 1,
    "_io": 2,
    "_archive": 3,
    "_bundle": 4,
    "_store": 4,
    "_ops": 5,
}

# Imports that go against the order today, each with the reason it stays.
KNOWN = set()


def _python_files(folder):
    for root, unused_dirs, files in os.walk(os.path.join(PLUGINS, folder)):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                yield os.path.relpath(path, os.path.join(PLUGINS, folder)), path


def _imported(path):
    """Every module PATH imports, at any depth of its code (lazy imports count too)."""
    with open(path, "rb") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            for alias in node.names:
                yield node.module + "." + alias.name  # "from ..module_utils import _ops"
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError("%s: relative import of %s: use the full ansible_collections path" % (path, node.module))


def _package(dotted):
    """The top package of module_utils that DOTTED (a full module path) is in, or None."""
    if not dotted.startswith(PREFIX):
        return None
    return dotted[len(PREFIX):].split(".")[0]


def _module_utils_files():
    return list(_python_files("module_utils"))


def _upward_imports(relative, path):
    """The packages the module_utils file PATH (RELATIVE to module_utils) imports that are not below its own."""
    own = relative.split(os.sep)[0].replace(".py", "")
    assert own in FLOORS, "%s is in no floor of the order: add its package to FLOORS and docs/docsite/rst/architecture.rst" % relative
    wrong = set()
    for dotted in _imported(path):
        assert not dotted.startswith("ansible."), "%s imports Ansible (%s): module_utils run without it" % (relative, dotted)
        target = _package(dotted)
        if target is None or target == own or target not in FLOORS:
            continue
        if FLOORS[target] >= FLOORS[own] and (relative, target) not in KNOWN:
            wrong.add(target)
    return wrong


@pytest.mark.parametrize("relative,path", _module_utils_files(), ids=lambda v: v if v.endswith(".py") else "")
def test_module_utils_imports_only_downwards(relative, path):
    if relative == "__init__.py":
        return
    wrong = _upward_imports(relative, path)
    assert not wrong, "%s imports %s, which is not below its package" % (relative, ", ".join(sorted(wrong)))


def test_every_package_has_a_floor():
    packages = set(name.replace(".py", "") for name in os.listdir(os.path.join(PLUGINS, "module_utils"))
                   if not name.startswith(("__", ".")))
    assert packages == set(FLOORS)


def test_known_exceptions_are_still_needed():
    # An exception that no longer happens is taken off the list, so the rule tightens by itself.
    for relative, target in KNOWN:
        imported = set(_package(d) for d in _imported(os.path.join(PLUGINS, "module_utils", relative)))
        assert target in imported, "%s no longer imports %s: drop it from KNOWN" % (relative, target)


@pytest.mark.parametrize("folder", [f for f in sorted(os.listdir(PLUGINS)) if f not in ("modules", "module_utils")])
def test_only_modules_import_ops(folder):
    for relative, path in _python_files(folder):
        for dotted in _imported(path):
            assert _package(dotted) != "_ops", "plugins/%s/%s imports %s: only modules call _ops" % (folder, relative, dotted)


def test_the_check_finds_an_upward_import(tmp_path):
    # The check itself: an _archive module that imports the store (even lazily) or a
    # sibling _bundle module that imports the store is reported; a downward import is not.
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\ndef f():\n    from %s_store.oci import layout\n    from %s_io import files\n" % (PREFIX, PREFIX))
    assert _upward_imports(os.path.join("_archive", "bad.py"), str(bad)) == {"_store"}
    assert _upward_imports(os.path.join("_bundle", "bad.py"), str(bad)) == {"_store"}
    assert _upward_imports(os.path.join("_ops", "bad.py"), str(bad)) == set()
