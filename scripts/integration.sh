#!/usr/bin/env bash
# ansible-test integration on a copy of the collection: the targets under
# tests/integration/targets/ (one per module; setup_bundle builds the bundle they use),
# run locally with the virtual environment's Python as controller and managed host.
#
# The copy goes to .build/integration/ansible_collections/fleetimage/separated/
# (scripts/copy_collection.sh). TEST_VENV_BIN: the venv's bin folder (default
# .venv/bin; `make matrix` runs it with each series' venv). Extra arguments are
# passed to ansible-test (e.g. a target name, -v).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_BIN=${TEST_VENV_BIN:-$ROOT/.venv/bin}
SERIES=$("$VENV_BIN/python" -c 'import ansible.release as r; print(".".join(r.__version__.split(".")[:2]))' 2>/dev/null || echo unknown)
DEST=$ROOT/.build/integration-$SERIES/ansible_collections/fleetimage/separated

if [ ! -x "$VENV_BIN/ansible-test" ]; then
    echo "integration: $VENV_BIN/ansible-test not found: run 'make venv' first" >&2
    exit 2
fi

# shellcheck source=scripts/copy_collection.sh
. "$ROOT/scripts/copy_collection.sh"
copy_collection "$ROOT" "$DEST"

echo "integration: ansible-test integration --local (ansible-core $SERIES) $*"
cd "$DEST"
export PATH=$VENV_BIN:$PATH
# Ansible's state stays in the test run's folders when scripts/test.sh set them.
rc=0
# stdin from /dev/null: ansible-test stops when it has none (CI), and never reads it here.
"$VENV_BIN/ansible-test" integration --local --python-interpreter "$VENV_BIN/python" --color no "$@" </dev/null || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "integration: FAILED (ansible-test exit $rc)" >&2
else
    echo "integration: passed"
fi
exit "$rc"
