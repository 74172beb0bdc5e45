"""The modules' operations called directly, with the parameters the module's argument spec would give them.

Tests name only the options they care about; the rest take the defaults of
the module's own argument spec, read from the module itself, so a default
is written once, in the module.
"""

from __future__ import annotations

import importlib
from unittest import mock

from ansible_collections.fleetimage.separated.plugins.module_utils._ops import info, load, save


class _SpecSeen(Exception):
    pass


def _refuse_to_run(**kwargs):
    raise _SpecSeen(kwargs["argument_spec"])


def module_params(module_name, **given):
    """GIVEN completed with the defaults of module MODULE_NAME's argument spec."""
    module = importlib.import_module("ansible_collections.fleetimage.separated.plugins.modules." + module_name)
    spec = None
    with mock.patch.object(module, "AnsibleModule", _refuse_to_run):
        try:
            module.main()
        except _SpecSeen as seen:
            spec = seen.args[0]
    assert spec is not None, "%s did not build its AnsibleModule" % module_name
    unknown = set(given) - set(spec)
    assert not unknown, "%s has no option %s" % (module_name, ", ".join(sorted(unknown)))
    return dict({name: option.get("default") for name, option in spec.items()}, **given)


def load_image(params, check_mode=False):
    return load.load_image(module_params("separated_image_load", **params), check_mode=check_mode)


def bundle_info(params):
    return info.bundle_info(module_params("separated_image_info", **params))


def save_bundle(params, check_mode=False):
    return save.save_bundle(module_params("separated_image_save", **params), check_mode=check_mode)
