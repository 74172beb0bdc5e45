"""The engine list is written once: the registry; the documentation must say the same."""

from __future__ import annotations

import yaml

from ansible_collections.fleetimage.separated.plugins.doc_fragments.engine import ModuleDocFragment
from ansible_collections.fleetimage.separated.plugins.module_utils._store import registry


def test_documented_engines_are_the_registered_ones():
    options = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert options["engine"]["choices"] == list(registry.ENGINES)
    assert options["engine"]["default"] == registry.store_argument_spec()["engine"]["default"]
    assert options["store"]["default"] == registry.DEFAULT_OCI_STORE


def test_every_engine_class_offers_what_the_flows_call():
    for name, engine_class in registry.ENGINE_CLASSES.items():
        engine = engine_class(None, None)
        assert engine.label == name
        assert engine.executable == engine_class.default_executable
        for call in ("reference", "inspect", "load", "tag", "remove", "images"):
            assert callable(getattr(engine, call)), (name, call)
