# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which of separated_image_load's runs this is: one name, several names, or a step of src/url (cache.py)."""

from __future__ import annotations

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from ansible_collections.fleetimage.separated.plugins.module_utils._ops import cache
from ansible_collections.fleetimage.separated.plugins.module_utils._ops.load import load_image, load_images


def load_task(params, check_mode=False, diff=False, warn=None, open_url=None):
    """The module result for PARAMS; OPEN_URL fetches from the mirrors of params['url']."""
    # What the action plugin sends in _plugin becomes _step, _index, ... for cache.py.
    params = dict(params, **dict(("_" + key, value) for key, value in (params.get("_plugin") or {}).items()))
    if params.get("_step") == "ask":
        return cache.ask(params, check_mode=check_mode)
    if params.get("_step") == "load":
        return cache.load(params, check_mode=check_mode, diff=diff, warn=warn, open_url=open_url)
    if params.get("src") or params.get("url"):
        raise BundleError("src and url are handled by the action plugin fleetimage.separated.separated_image_load "
                          "on the controller; this run did not go through it")
    if not params.get("dir"):
        raise BundleError("dir is required without src and url")
    if params.get("names") is not None:
        return load_images(params, check_mode=check_mode, diff=diff, warn=warn)
    return load_image(params, check_mode=check_mode, diff=diff, warn=warn)
