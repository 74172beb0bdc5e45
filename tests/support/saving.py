"""separated_image_save's logic called directly, on isula-build's fixture archives."""

from __future__ import annotations

from support.bundles import ISULA_FIXTURE
from support.operations import save_bundle

ARCHIVES = [str(ISULA_FIXTURE / "archives" / (name + ".tar")) for name in ("app1", "app2", "base", "lib")]


def params(dest, **changes):
    """The module's parameters, as Ansible fills them in (defaults included)."""
    values = dict(names=["app1:1", "app2:1"], base="base:1", lib="lib:1", dest=str(dest), rename=None, rename_file=None,
                  source="archive", archives=ARCHIVES, store="/nonexistent/store", executable=None,
                  compression_level=6, force=False)
    values.update(changes)
    return values


def save(dest, check_mode=False, **changes):
    return save_bundle(params(dest, **changes), check_mode=check_mode)
