# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""engine=isula through Ansible, against a stand-in `isula` CLI (fake_isula.py).

There is no iSulad to test against (no Debian package): these tests check
the adapter's own part -- the load through a temporary file that is always
removed, reading `isula images` and `isula inspect`, tagging -- on the flow
that the real podman, docker and containerd tests exercise. Whether iSulad
answers as its sources say is not tested here.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from support.bundles import APP1, IMAGE_IDS, copy_bundle, read_index, write_index
from support.images import make_bundle

FAKE = Path(__file__).resolve().parent / "fake_isula.py"


@pytest.fixture
def isula(tmp_path, monkeypatch):
    """{'executable', 'state', 'tmp'}: the stand-in CLI, its store, and the TMPDIR of module runs."""
    executable = tmp_path / "isula"
    executable.write_text('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, FAKE), encoding="utf-8")
    executable.chmod(executable.stat().st_mode | stat.S_IXUSR)
    state = tmp_path / "isula-state.json"
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("FAKE_ISULA_STATE", str(state))
    monkeypatch.setenv("TMPDIR", str(temp))
    return {"executable": str(executable), "state": state, "tmp": temp, "engine_state": str(tmp_path / "engine-state")}


@pytest.fixture
def bundle(tmp_path):
    return copy_bundle(tmp_path / "bundle")


def load(run_module, isula, **args):
    return run_module("separated_image_load", engine="isula", executable=isula["executable"],
                      engine_state=isula["engine_state"], **args)


def loaded_from(isula):
    return json.loads(isula["state"].read_text(encoding="utf-8")).get("loaded_from", [])


def test_load_goes_through_a_file_that_is_removed(run_module, isula, bundle):
    result = load(run_module, isula, name="app1:1", dir=str(bundle))
    assert not result["failed"], result.get("msg")
    assert result["changed"] is True and result["action"] == "loaded"
    assert result["image"]["id"] == IMAGE_IDS["app1:1"]
    assert result["image"]["repo_tags"] == ["app1:1"]
    assert len(result["image"]["layers"]) == 5
    [path] = loaded_from(isula)
    assert Path(path).parent.parent == isula["tmp"]  # a private folder under TMPDIR
    assert not os.path.exists(path) and list(isula["tmp"].iterdir()) == []
    assert result["bytes_written"] > result["image"]["size"]

    for tarball in bundle.glob("*.tar.gz"):
        if tarball.name != APP1:
            tarball.unlink()  # presence needs the app tarball only: the bundle's image id
    again = load(run_module, isula, name="app1:1", dir=str(bundle))
    assert again["changed"] is False and again["action"] == "present"
    assert again["image"]["id"] == IMAGE_IDS["app1:1"]


def test_a_refused_load_quotes_isula_and_leaves_no_file(run_module, isula, bundle, monkeypatch):
    monkeypatch.setenv("FAKE_ISULA_FAIL_LOAD", "1")
    result = load(run_module, isula, name="app1:1", dir=str(bundle))
    assert result["failed"] is True
    assert result["msg"].startswith("`%s load -i " % isula["executable"]), result["msg"]
    assert "failed (exit 125): Failed to load image: write /var/lib/isulad/storage: no space left on device" in result["msg"]
    assert len(loaded_from(isula)) == 1
    assert list(isula["tmp"].iterdir()) == []


def test_names_are_found_as_isulad_keeps_them(run_module, isula, bundle):
    index = read_index(bundle)
    index["docker.io/library/app1:1"] = index.pop("app1:1")
    index["example.io/team/app2:1"] = index.pop("app2:1")
    write_index(bundle, index)
    # iSulad keeps docker.io/library/app1:1 as app1:1, which is what its load names it.
    app1 = load(run_module, isula, name="docker.io/library/app1:1", dir=str(bundle))
    assert not app1["failed"], app1.get("msg")
    assert app1["image"]["repo_tags"] == ["app1:1"]
    again = load(run_module, isula, name="docker.io/library/app1:1", dir=str(bundle))
    assert again["action"] == "present"
    # app2's RepoTags say app2:1, another image than example.io/team/app2:1: refused before isula loads.
    app2 = load(run_module, isula, name="example.io/team/app2:1", dir=str(bundle))
    assert app2["failed"] is True and "is not among the RepoTags" in app2["msg"], app2["msg"]
    assert len(loaded_from(isula)) == 1


def test_remove_and_keep_through_the_isula_cli(run_module, isula, bundle, tmp_path):
    older = make_bundle(tmp_path / "older", apps=("app1:2",))  # built in 2024; the fixture's app1:1 in 2026
    for name, folder in (("app1:1", bundle), ("app2:1", bundle), ("app1:2", older.path)):
        assert not load(run_module, isula, name=name, dir=str(folder))["failed"]
    options = {"engine": "isula", "executable": isula["executable"], "engine_state": isula["engine_state"]}

    pruned = run_module("separated_image_prune", keep=1, repositories=["app1"], **options)
    assert not pruned["failed"], pruned.get("msg")
    assert pruned["removed"] == ["app1:2"]
    removed = run_module("separated_image_remove", names=["app2:1", "app9:1"], **options)
    assert removed["removed"] == ["app2:1"] and removed["absent"] == ["app9:1"]
    assert sorted(json.loads(isula["state"].read_text(encoding="utf-8"))["names"]) == ["app1:1"]
