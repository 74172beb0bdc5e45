"""Memory stays bounded whatever a tarball holds, and a failing thread ends a load with an error.

Limits (plugins/module_utils/_archive/limits.py): 1000 layers, 4064 members
per tarball, 2 MiB per metadata file and 8 MiB of them per tarball, 1 MiB
per pax or GNU long-name header, 100000 JSON objects and arrays per file.
"""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import tarfile
import threading

import pytest
from support.bundles import APP1, LIB, change_config, file_info, rewrite_tarball, set_hash, sha256, stray_folder_headers, tree_snapshot

from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
from support.operations import load_image

MIB = 1024 * 1024


def load(bundle, store, name="app1:1", **params):
    return load_image(dict(params, name=name, dir=str(bundle), store=str(store)))


def refused(bundle, store, message):
    with pytest.raises(BundleError) as err:
        load(bundle, store)
    assert message in str(err.value)
    assert tree_snapshot(store) is None
    return str(err.value)


def _append_raw(bundle, file_name, raw_members):
    """Put RAW_MEMBERS (whole tar blocks) before the end of FILE_NAME's tar, gzip it, fix the index."""
    path = bundle / file_name
    data = gzip.decompress(path.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        last = tar.getmembers()[-1]
    end = last.offset_data + -(-last.size // 512) * 512
    path.write_bytes(gzip.compress(data[:end] + raw_members + b"\0" * 1024, compresslevel=1))
    set_hash(bundle, file_name, sha256(path))


def test_a_tarball_of_too_many_members_is_refused(bundle, store):
    _append_raw(bundle, LIB, stray_folder_headers(5000))
    refused(bundle, store, "%s holds more than 4064 members" % (bundle / LIB))


def test_an_oversized_pax_header_is_refused(bundle, store):
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, 4 * MIB
    _append_raw(bundle, LIB, header.tobuf(format=tarfile.USTAR_FORMAT) + b"9" * (4 * MIB))
    refused(bundle, store, "an extended header (pax or GNU long name) of 4194304 bytes")


def test_metadata_beyond_the_total_is_refused(bundle, store):
    extra = [file_info("%064x/json" % n, b"{}" + b" " * (MIB + 100)) for n in range(8)]
    rewrite_tarball(bundle, LIB, lambda entries: entries + extra)
    refused(bundle, store, "holds more than 8388608 bytes of metadata files")


def test_a_config_of_too_many_layers_is_refused(bundle, store):
    change_config(bundle, lambda c: c["rootfs"]["diff_ids"].extend(["sha256:" + "%064x" % n for n in range(1000)]))
    refused(bundle, store, "lists 1005 layers, more than the 1000 allowed")


def test_a_config_that_would_explode_when_parsed_is_refused(bundle, store):
    change_config(bundle, lambda c: c.__setitem__("junk", [[]] * 150000))
    refused(bundle, store, "holds more than 100000 JSON objects and arrays")


MEASURE = """
import sys
sys.path[:0] = sys.argv[3:]
from support.operations import load_image
from ansible_collections.fleetimage.separated.plugins.module_utils._errors import BundleError
try:
    load_image({"name": "app1:1", "dir": sys.argv[1], "store": sys.argv[2]})
    print("loaded")
except BundleError as exc:
    print("refused:", exc)
print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])
"""


@pytest.mark.parametrize("hostile", ["members", "pax"])
def test_memory_stays_under_100_mib_for_hostile_tarballs(bundle, tmp_path, hostile):
    if hostile == "members":
        _append_raw(bundle, APP1, stray_folder_headers(150000))  # 150,000 members
    else:
        header = tarfile.TarInfo("././@PaxHeader")
        header.type, header.size = tarfile.XHDTYPE, 128 * MIB
        _append_raw(bundle, APP1, header.tobuf(format=tarfile.USTAR_FORMAT) + b"9" * (128 * MIB))
    done = subprocess.run([sys.executable, "-c", MEASURE, str(bundle), str(tmp_path / "store")] + sys.path,
                          check=True, capture_output=True, text=True)
    outcome, peak_kib = done.stdout.splitlines()[0], int(done.stdout.split()[-1])
    assert outcome.startswith("refused:"), outcome
    assert peak_kib < 100 * 1024, "peak RSS %d KiB for %s" % (peak_kib, hostile)


# A failure in any thread of the pipeline ends the load, never hangs it


def _load_in_thread(bundle, store):
    """Run the load in a thread; return its exception (None when it loaded). Fails the test if it hangs."""
    outcome = {}

    def run():
        try:
            load(bundle, store)
            outcome["error"] = None
        except BaseException as exc:  # pylint: disable=broad-except
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the load hangs"
    return outcome["error"]


def test_the_hashing_thread_failing_ends_the_load(bundle, store, monkeypatch):
    from ansible_collections.fleetimage.separated.plugins.module_utils._io import hashing

    real = hashing.hashlib.sha256

    class Failing(object):
        def __init__(self, *args):
            self._real = real(*args)
            self._calls = 0

        def update(self, data):
            self._calls += 1
            if self._calls == 3 and threading.current_thread().name == "sha256":
                raise MemoryError()
            self._real.update(data)

        def hexdigest(self):
            return self._real.hexdigest()

    monkeypatch.setattr(hashing.hashlib, "sha256", Failing)
    error = _load_in_thread(bundle, store)
    assert isinstance(error, BundleError) and "ran out of memory" in str(error), repr(error)
    assert tree_snapshot(store) is None


def test_the_decompressing_thread_failing_ends_the_load(bundle, store, monkeypatch):
    from ansible_collections.fleetimage.separated.plugins.module_utils._io import gzip_reader

    real_read = gzip_reader.GzipReader.read

    def failing_read(self, size=-1):
        if threading.current_thread().name.startswith("decompress " + LIB):
            raise MemoryError()
        return real_read(self, size)

    monkeypatch.setattr(gzip_reader.GzipReader, "read", failing_read)
    error = _load_in_thread(bundle, store)
    assert isinstance(error, BundleError) and "reading %s ran out of memory" % (bundle / LIB) in str(error), repr(error)
    assert tree_snapshot(store) is None


def test_the_writing_thread_failing_ends_the_load(bundle, store, monkeypatch):
    import os

    real_write = os.write

    def failing_write(fd, data):
        if threading.current_thread().name == "staging writer":
            raise MemoryError()
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", failing_write)
    error = _load_in_thread(bundle, store)
    assert isinstance(error, BundleError) and "ran out of memory" in str(error), repr(error)
    assert tree_snapshot(store) is None
