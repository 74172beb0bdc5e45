"""Hostile bundles and stores meet every module, not only the load.

Deeply nested JSON (an index, a manifest.json, a config, the store's
index.json, the index the role's filter checks), a FIFO in a tarball's or
the index's place, and the hostile app tarballs that the presence check reads
(it runs before any tarball is loaded, whenever the store has no record of
these bytes): each ends as a message naming the file, in bounded memory,
never a traceback or a hang, and the store is left as it was.
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tarfile
import threading

import pytest
from support.bundles import APP1, put_config, rewrite_tarball, set_hash, sha256, stray_folder_headers, tree_snapshot

from support.operations import bundle_info, load_image, prune_store, remove_images
from support.stores import forget_records

from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.selection import wanted_apps
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError

MIB = 1024 * 1024
DEEP = 100000


def deep(depth=DEEP):
    return "[" * depth + "]" * depth


def in_thread(call, timeout=60):
    """CALL's exception (None when it returned); fails the test when it hangs."""
    outcome = {}

    def run():
        try:
            call()
            outcome["error"] = None
        except BaseException as exc:  # pylint: disable=broad-except
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "it hangs"
    return outcome["error"]


def loaded_without_record(bundle, store):
    load_image(dict(name="app1:1", dir=str(bundle), store=str(store)))
    forget_records(store)  # the presence check then reads the app tarball


# Deeply nested JSON


def test_a_deeply_nested_bundle_index_is_a_message_in_load_info_and_the_filter(bundle, store):
    (bundle / "manifest").write_text('{"app1:1": %s}' % deep())
    for call in (lambda: load_image(dict(name="app1:1", dir=str(bundle), store=str(store))),
                 lambda: bundle_info(dict(dir=str(bundle), store=str(store))),
                 lambda: wanted_apps((bundle / "manifest").read_text(), [], str(bundle))):
        with pytest.raises(BundleError, match="index %s is not valid JSON: .*nested more deeply" % (bundle / "manifest")):
            call()
    assert tree_snapshot(store) is None


def test_the_filter_refuses_an_index_too_large_before_parsing_it(bundle):
    with pytest.raises(BundleError, match="is larger than 10485760 bytes"):
        wanted_apps('{"a": "%s"}' % ("x" * (10 * MIB)), [], "https://mirror.example/bundle")


@pytest.mark.parametrize("member", ["manifest.json", "config"])
def test_a_deeply_nested_manifest_or_config_is_a_message_in_load_and_presence(bundle, store, member):
    loaded_without_record(bundle, store)
    before = tree_snapshot(store)

    data = deep(DEEP - 1).encode()  # fewer containers than the limit
    if member == "manifest.json":
        rewrite_tarball(bundle, APP1, lambda entries: [(info, data if info.name == "manifest.json" else content)
                                                       for info, content in entries])
    else:
        put_config(bundle, data)  # renamed after its digest: only its depth is wrong
    for call in (lambda: load_image(dict(name="app1:1", dir=str(bundle), store=str(store))),
                 lambda: load_image(dict(name="app1:1", dir=str(bundle), store=str(store), force=True))):
        with pytest.raises(BundleError, match="nested more deeply|is not a docker-archive manifest|no rootfs.diff_ids"):
            call()
    info = bundle_info(dict(dir=str(bundle), store=str(store), verify=True))
    assert info["apps"]["app1:1"]["verified"] is False
    assert tree_snapshot(store) == before


def test_a_deeply_nested_store_index_is_a_message_in_every_module(bundle, store):
    load_image(dict(name="app1:1", dir=str(bundle), store=str(store)))
    (store / "index.json").write_text('{"schemaVersion": 2, "manifests": %s}' % deep())
    before = tree_snapshot(store)
    for call in (lambda: load_image(dict(name="app1:1", dir=str(bundle), store=str(store))),
                 lambda: bundle_info(dict(dir=str(bundle), store=str(store))),
                 lambda: remove_images(dict(names=["app1:1"], store=str(store))),
                 lambda: prune_store(dict(store=str(store), keep=1))):
        with pytest.raises(BundleError, match="store index %s is not valid JSON: .*nested more deeply"
                           % (store / "index.json")):
            call()
    assert tree_snapshot(store) == before


@pytest.mark.parametrize("spoil, message", [
    (lambda text: text[:-1] + ',"mediaType":"application/vnd.oci.image.manifest.v1+json"}',
     "is not an OCI image index"),  # a wrong top-level member after every entry was read
    (lambda text: text[:-1] + ',"manifests":[]}', 'is refused: its top-level key "manifests" is given twice'),
    (lambda text: text + "[]", "is not valid JSON: Extra data"),
])
def test_an_index_bad_after_its_entries_changes_nothing_in_any_module(bundle, store, spoil, message):
    """index.json is read entry by entry: what is wrong after the entries still stops every module before it acts."""
    load_image(dict(name="app1:1", dir=str(bundle), store=str(store)))
    load_image(dict(name="app2:1", dir=str(bundle), store=str(store)))
    (store / "index.json").write_text(spoil((store / "index.json").read_text()))
    before = tree_snapshot(store)
    for call in (lambda: load_image(dict(name="app1:1", dir=str(bundle), store=str(store), force=True)),
                 lambda: bundle_info(dict(dir=str(bundle), store=str(store))),
                 lambda: remove_images(dict(names=["app1:1"], store=str(store))),
                 lambda: prune_store(dict(store=str(store), keep=1))):
        with pytest.raises(BundleError, match="store index %s %s" % (store / "index.json", message)):
            call()
    assert tree_snapshot(store) == before


def test_a_store_index_too_large_is_refused_unread(bundle, store):
    load_image(dict(name="app1:1", dir=str(bundle), store=str(store)))
    os.truncate(str(store / "index.json"), 96 * MIB + 1)  # sparse: no 96 MiB are written to the disk
    listed = sorted(os.listdir(str(store)))
    with pytest.raises(BundleError, match="store index %s is %d bytes, more than the 100663296 allowed"
                       % (store / "index.json", 96 * MIB + 1)):
        remove_images(dict(names=["app1:1"], store=str(store)))
    assert sorted(os.listdir(str(store))) == listed and (store / "index.json").stat().st_size == 96 * MIB + 1


# A FIFO in a file's place


@pytest.mark.parametrize("where", ["app tarball", "index"])
def test_a_fifo_is_refused_without_blocking(bundle, store, where):
    loaded_without_record(bundle, store)
    path = bundle / (APP1 if where == "app tarball" else "manifest")
    path.unlink()
    os.mkfifo(path)
    before = tree_snapshot(store)
    error = in_thread(lambda: load_image(dict(name="app1:1", dir=str(bundle), store=str(store))))
    assert isinstance(error, BundleError) and "%s is not a regular file" % path in str(error), repr(error)
    error = in_thread(lambda: bundle_info(dict(dir=str(bundle), store=str(store), verify=True)))
    if where == "index":
        assert isinstance(error, BundleError) and "%s is not a regular file" % path in str(error), repr(error)
    else:
        assert error is None
    assert tree_snapshot(store) == before


# Names


@pytest.mark.parametrize("name", ["app1:1\n", "app1:1\u2028", "app1\n:1"])
def test_a_name_with_a_line_break_is_refused_not_taken_for_another(bundle, store, name):
    with pytest.raises(BundleError, match="invalid image name"):
        load_image(dict(name=name, dir=str(bundle), store=str(store)))
    assert tree_snapshot(store) is None


# The presence check reads hostile app tarballs in bounded memory


def _raw_members(bundle, headers_and_data):
    """Put raw tar blocks before the end of the app tarball; keep the index's hash right (the attacker writes both)."""
    path = bundle / APP1
    data = gzip.decompress(path.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        first = tar.getmembers()[0]
    # in front: the presence check meets them before manifest.json
    path.write_bytes(gzip.compress(data[:first.offset] + headers_and_data + data[first.offset:], compresslevel=1))
    set_hash(bundle, APP1, sha256(path))


def _configs(count, size):
    blocks = []
    for n in range(count):
        info = tarfile.TarInfo("%064x.json" % n)
        info.size = size
        blocks.append(info.tobuf(format=tarfile.USTAR_FORMAT) + b" " * size)
    return b"".join(blocks)


def _folders(count):
    return stray_folder_headers(count)


def _pax(size):
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, size
    return header.tobuf(format=tarfile.USTAR_FORMAT) + b"9" * size + b"\0" * (-size % 512)


MEASURE = """
import sys
sys.path[:0] = sys.argv[4:]
from support.operations import bundle_info, load_image
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
try:
    if sys.argv[3] == "load":
        load_image({"name": "app1:1", "dir": sys.argv[1], "store": sys.argv[2]})
    else:
        print(bundle_info({"dir": sys.argv[1], "store": sys.argv[2], "names": ["app1:1"]})["apps"]["app1:1"]["state"])
    print("done")
except BundleError as exc:
    print("refused:", exc)
print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])
"""

HOSTILE = {
    "50 configs of 2 MiB": (lambda: _configs(50, 2 * MIB), "bytes of metadata files"),
    "a 128 MiB pax header": (lambda: _pax(128 * MIB), "an extended header (pax or GNU long name)"),
    "300,000 folders": (lambda: _folders(300000), "members, more than a docker-archive"),
}


@pytest.mark.parametrize("module", ["load", "info"])
@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_the_presence_check_reads_a_hostile_app_tarball_in_bounded_memory(bundle, store, hostile, module):
    loaded_without_record(bundle, store)
    make, words = HOSTILE[hostile]
    _raw_members(bundle, make())
    before = tree_snapshot(store)
    done = subprocess.run([sys.executable, "-c", MEASURE, str(bundle), str(store), module] + sys.path,
                          check=True, capture_output=True, text=True)
    outcome, peak_kib = done.stdout.splitlines()[0], int(done.stdout.split()[-1])
    if module == "load":
        assert outcome.startswith("refused:") and words in outcome, outcome
    else:
        assert outcome == "unknown", outcome  # info: the tarball's entry says why; the state is not "bundle"
    assert peak_kib < 100 * 1024, "peak RSS %d KiB" % peak_kib
    assert tree_snapshot(store) == before
