"""Write the demo's sample bundle: two runnable apps sharing one base and one lib.

Usage: python scripts/make_sample_bundle.py DEST
The images are built from local files (a static busybox), with no network
and no container engine; the bundle is what isula-build's save would write.
"""

import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# tests/support builds the sample images; .build/collections (made by
# `make collection`) makes the collection importable as ansible_collections.
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(ROOT, ".build", "collections")]

from support.images import make_bundle  # noqa: E402  (needs the path above)


def main(dest):
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    built = make_bundle(dest, base="demo/base:1", lib="demo/lib:1", apps=("demo/app1:1", "demo/app2:1"))
    for name in sorted(os.listdir(dest)):
        print("  %-40s %9d bytes" % (name, os.path.getsize(os.path.join(dest, name))))
    print("apps in the index: %s" % ", ".join(sorted(built.index)))


if __name__ == "__main__":
    main(sys.argv[1])
