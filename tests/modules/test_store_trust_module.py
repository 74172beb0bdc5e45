"""A store refused by the trust checks reaches Ansible as the module's own message, not a traceback."""

from __future__ import annotations

from pathlib import Path

from support.operations import load_image


def load(bundle, store, name):
    return load_image({"name": name, "dir": str(bundle), "store": str(store)})


def test_store_must_not_be_empty_through_ansible(run_module, bundle, tmp_path):
    result = run_module("separated_image_load", name="app1:1", dir=str(bundle), store="")
    assert result["failed"] and "store must name the OCI layout folder" in result["msg"]
    assert not Path("/var/lib/fleetimage/oci/index.json").exists() or "app1:1" not in Path(
        "/var/lib/fleetimage/oci/index.json").read_text()


def test_an_untrusted_store_is_the_module_s_message_through_ansible(run_module, bundle, store):
    load(bundle, store, name="app2:1")
    (store / "blobs" / "sha256").chmod(0o777)
    result = run_module("separated_image_load", name="app1:1", dir=str(bundle), store=str(store))
    assert result["failed"] is True
    assert result["msg"].startswith("bad modes for the store folder %s: mode 0777" % (store / "blobs" / "sha256"))
