# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make `ansible_collections.fleetimage.separated` importable from this checkout.

The repository root is the collection root, so it is linked once per session
as <tmp>/ansible_collections/fleetimage/separated and <tmp> goes first on
sys.path; `ansible_collections` and `ansible_collections.fleetimage` are then
implicit namespace packages. This runs at import, before any test module is
collected, because the test modules import the collection at their top.
"""

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _link_collection():
    if _importable():
        return  # the suite's own set-up already made it importable
    root = tempfile.mkdtemp(prefix="fleetimage-collection-")
    namespace = os.path.join(root, "ansible_collections", "fleetimage")
    os.makedirs(namespace)
    os.symlink(_REPO_ROOT, os.path.join(namespace, "separated"))
    atexit.register(shutil.rmtree, root, True)
    sys.path.insert(0, root)


def _importable():
    try:
        spec = importlib.util.find_spec("ansible_collections.fleetimage.separated.plugins")
    except ImportError:
        return False
    return spec is not None


_link_collection()
