# Copyright: fleetimage.separated contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Generate a benchmark bundle of a chosen size, streamed, never whole in memory.

The bundle holds two apps (app1 and app2) built on one lib (2 layers) built
on one base (1 layer): base and lib carry 70% of app1's bytes, app1's own two
layers 30%, and app2's own layers as much as app1's, for the "second app"
measurement. Each layer is a tar of files of log-uniform sizes (4 KiB to
4 MiB, about 1,700 files per GiB): half of every file's bytes are random
(incompressible, like machine code and compressed assets), half are text
(like scripts, configs and symbol tables), so gzip shrinks the whole to
about two thirds, as it does real images.

Bytes come from two pools made once (random and text) and are sliced at
pseudo-random offsets: the stream is fast to make again, and the same seed
makes the same bytes, which the bundle writer needs (it reads each layer
twice: once for its diff id, once to write it).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
import tarfile

from ansible_collections.fleetimage.separated.plugins.module_utils._archive.image_source import ImageSource, LayerSource
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.go_json import go_json
from ansible_collections.fleetimage.separated.plugins.module_utils._bundle.writer import write_bundle
from ansible_collections.fleetimage.separated.tests.support.images import ChunkReader

MIB = 1024 * 1024
# Share of app1's image per layer, bottom to top: base, lib x2, app x2.
LAYER_SHARES = {"base": [0.35], "lib": [0.20, 0.15], "app": [0.18, 0.12]}
_POOL_BYTES = 8 * MIB
_MIN_FILE, _MAX_FILE = 4096, 4 * MIB
_MTIME = 1700000000
_WORDS = (
    b"the of and to in is for on that with as by this from at be are or an it was not which have "
    b"config value error return status buffer stream layer image bundle store digest index load "
    b"usr lib bin share locale python3 site-packages __init__ module function class def self "
    b"int char const void struct static unsigned size_t include define ifdef endif 0x00 0xff "
    b"GLIBC_2.17 _ZNSt6vector libssl.so.3 libc.so.6 ld-linux-x86-64.so.2 /etc/ssl/certs"
).split()


_POOLS = []  # (random bytes, text), made once per process


def _pools():
    """8 MiB of random bytes and 8 MiB of word-salad text, as memoryviews."""
    if not _POOLS:
        rng = random.Random(0xB0DDE1)
        noise = rng.randbytes(_POOL_BYTES)
        lines, size = [], 0
        while size < _POOL_BYTES:
            line = b" ".join(rng.choice(_WORDS) for word in range(rng.randint(4, 14))) + b"\n"
            lines.append(line)
            size += len(line)
        _POOLS.extend([memoryview(noise), memoryview(b"".join(lines)[:_POOL_BYTES])])
    return _POOLS[0], _POOLS[1]


def _file_sizes(total, rng):
    """Log-uniform file sizes whose tar members fill about TOTAL bytes."""
    sizes, used = [], 1024  # the end-of-archive blocks
    low, high = math.log(_MIN_FILE), math.log(_MAX_FILE)
    while True:
        size = int(math.exp(rng.uniform(low, high)))
        cost = 512 + size + (-size % 512)
        if used + cost > total:
            left = total - used - 512
            if left > 0:
                sizes.append(left - left % 512)
            return sizes
        sizes.append(size)
        used += cost


def _layer_plan(label, total, seed):
    """[(TarInfo header bytes, file size, content seed)] and the layer's exact size."""
    rng = random.Random(seed)
    entries, size = [], 1024
    for position, file_size in enumerate(_file_sizes(total, rng)):
        info = tarfile.TarInfo("%s/d%03d/f%05d.bin" % (label, position // 100, position))
        info.size, info.mode, info.mtime = file_size, 0o644, _MTIME
        info.uname = info.gname = "root"
        header = info.tobuf(format=tarfile.USTAR_FORMAT)
        entries.append((header, file_size, rng.getrandbits(64)))
        size += len(header) + file_size + (-file_size % 512)
    return entries, size


def _layer_chunks(entries):
    """Yield the layer's tar stream in chunks of at most about 1 MiB."""
    noise, text = _pools()
    for header, file_size, seed in entries:
        yield header
        rng = random.Random(seed)
        left, use_noise = file_size, bool(seed & 1)
        while left > 0:
            piece = min(left, rng.randint(4096, 32768))
            pool = noise if use_noise else text
            start = rng.randrange(0, _POOL_BYTES - piece)
            yield pool[start:start + piece]
            left -= piece
            use_noise = not use_noise
        if file_size % 512:
            yield b"\0" * (-file_size % 512)
    yield b"\0" * 1024


def generated_layer(label, total, seed):
    """A LayerSource of about TOTAL bytes, generated each time it is opened; and its diff id."""
    entries, size = _layer_plan(label, total, seed)
    digest = hashlib.sha256()
    for chunk in _layer_chunks(entries):
        digest.update(chunk)

    def open_layer():
        return io.BufferedReader(ChunkReader(_layer_chunks(entries)), MIB)

    return LayerSource(size, open_layer), "sha256:" + digest.hexdigest()


def _image(name, layers, diff_ids):
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "layer %d" % i} for i in range(len(diff_ids))],
    }
    return ImageSource(name, go_json(config), layers)


def make_bundle(dest, size_mib, seed=1):
    """Write the benchmark bundle of about SIZE_MIB (app1's image, uncompressed) into DEST.

    Returns a dict describing it: tarball sizes, layer sizes, names.
    """
    total = size_mib * MIB
    layers, diff_ids, sizes = [], [], []
    for part in ("base", "lib", "app"):
        for position, share in enumerate(LAYER_SHARES[part]):
            label = "%s%d" % (part, position)
            layer, diff_id = generated_layer(label, int(total * share), seed * 1000 + len(layers))
            layers.append(layer)
            diff_ids.append(diff_id)
            sizes.append((label, layer.size))
    app2_layers, app2_ids = [], []
    for position, share in enumerate(LAYER_SHARES["app"]):
        layer, diff_id = generated_layer("other%d" % position, int(total * share), seed * 1000 + 100 + position)
        app2_layers.append(layer)
        app2_ids.append(diff_id)
    base = _image("bench-base:1", layers[:1], diff_ids[:1])
    lib = _image("bench-lib:1", layers[:3], diff_ids[:3])
    app1 = _image("bench-app1:1", layers, diff_ids)
    app2 = _image("bench-app2:1", layers[:3] + app2_layers, diff_ids[:3] + app2_ids)
    # Level 9 is isal's level 3 when isal is importable: about gzip -6's ratio (level 6 would
    # be isal's level 2, a quarter larger), so the loaders decompress what isula-build writes.
    index = write_bundle(dest, [app1, app2], base, lib, compression_level=9)
    files = {}
    for entry in index.values():
        for key in ("app", "lib", "base"):
            files[entry[key]] = os.path.getsize(os.path.join(dest, entry[key]))
    info = {
        "size_mib": size_mib,
        "app1": "bench-app1:1",
        "app2": "bench-app2:1",
        "app1_bytes": sum(layer.size for layer in layers),
        "app2_own_bytes": sum(layer.size for layer in app2_layers),
        "layers": sizes,
        "tarballs": files,
        "index": index,
    }
    with open(dest.rstrip("/") + ".json", "w") as f:
        json.dump(info, f, indent=1)
    return info
