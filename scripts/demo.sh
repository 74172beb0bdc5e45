#!/usr/bin/env bash
# The main job end to end: build a sample bundle (two apps sharing one base and
# one lib), load one app into an OCI store through ansible-playbook, then run
# the same play again to show it changes nothing. Expects `make venv collection`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV=$ROOT/.venv
DEMO=$ROOT/.build/demo
BUNDLE=$DEMO/bundle
STORE=$DEMO/oci

export ANSIBLE_COLLECTIONS_PATH=$ROOT/.build/collections
export ANSIBLE_HOME=$DEMO/ansible-home
export ANSIBLE_LOCAL_TEMP=$DEMO/ansible-home/tmp
export ANSIBLE_PYTHON_INTERPRETER=$VENV/bin/python
export ANSIBLE_LOCALHOST_WARNING=false
export ANSIBLE_INVENTORY_UNPARSED_WARNING=false
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0}

rm -rf "$STORE"
echo "== 1. Build a sample bundle in $BUNDLE"
"$VENV/bin/python" scripts/make_sample_bundle.py "$BUNDLE"

play() {
    "$VENV/bin/ansible-playbook" -i localhost, docs/examples/load-demo.yml \
        -e "bundle=$BUNDLE" -e "store=$STORE"
}

echo
echo "== 2. Load demo/app1:1 into the OCI store $STORE"
play

echo
echo "== 3. Run the same play again: the image is present, nothing is read or written"
out=$(play)
echo "$out" | grep -E '"action"|"changed"|ok=|changed='
echo "$out" | grep -qE 'localhost *: ok=[0-9]+ +changed=0 ' || { echo "demo: the second run changed something" >&2; exit 1; }

echo
echo "== 4. The store"
echo "It is an OCI image layout folder: $STORE"
find "$STORE" -maxdepth 3 -not -path '*/blobs/sha256/*' | sed "s|^$ROOT/||" | sort
if command -v skopeo >/dev/null; then
    echo
    echo "\$ skopeo inspect oci:$STORE:demo/app1:1   (an independent reader of the layout)"
    skopeo inspect "oci:$STORE:demo/app1:1" | head -20
fi
cat <<EOT

Inspect it yourself:
  skopeo inspect oci:$STORE:demo/app1:1
  podman pull oci:$STORE:demo/app1:1 && podman run --rm <image id> /bin/busybox echo hello
Load the second app; only its own layer is written (base and lib are reused):
  ANSIBLE_COLLECTIONS_PATH=.build/collections .venv/bin/ansible-playbook -i localhost, \\
    docs/examples/load-demo.yml -e bundle=$BUNDLE -e store=$STORE -e app=demo/app2:1
EOT
