"""The modules' operations called directly, with the parameters the module's argument spec would give them.

Tests name only the options they care about; the rest take the defaults of
the module's own argument spec, read from the module itself, so a default
is written once, in the module.
"""

from __future__ import annotations

import importlib

from ansible_collections.fleetimage.separated.plugins.module_utils._ops import info, load, prune, remove, save


def module_params(module_name, **given):
    """GIVEN completed with the defaults of module MODULE_NAME's argument spec (its ARGUMENT_SPEC)."""
    module = importlib.import_module("ansible_collections.fleetimage.separated.plugins.modules." + module_name)
    spec = module.ARGUMENT_SPEC
    unknown = set(given) - set(spec)
    assert not unknown, "%s has no option %s" % (module_name, ", ".join(sorted(unknown)))
    return dict({name: option.get("default") for name, option in spec.items()}, **given)


def load_image(params, check_mode=False, diff=False):
    return load.load_image(module_params("separated_image_load", **params), check_mode=check_mode, diff=diff)


def remove_images(params, check_mode=False, diff=False):
    return remove.remove_images(module_params("separated_image_remove", **params), check_mode=check_mode, diff=diff)


def prune_store(params, check_mode=False, diff=False):
    return prune.prune_store(module_params("separated_image_prune", **params), check_mode=check_mode, diff=diff)


def bundle_info(params):
    return info.bundle_info(module_params("separated_image_info", **params))


def save_bundle(params, check_mode=False):
    return save.save_bundle(module_params("separated_image_save", **params), check_mode=check_mode)
