#!/usr/bin/env bash
# ansible-test units on a copy of the collection: tests/unit/plugins/..., run as
# every collection's maintainers run them (ansible-test's own pytest settings,
# only ansible.module_utils importable from ansible-core).
#
# The copy goes to .build/units/ansible_collections/fleetimage/separated/
# (scripts/copy_collection.sh), fixtures included: nothing outside it is read.
# Extra arguments are passed to ansible-test (e.g. a test file).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_BIN=${TEST_VENV_BIN:-$ROOT/.venv/bin}
DEST=$ROOT/.build/units/ansible_collections/fleetimage/separated
PY_VERSION=$("$VENV_BIN/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

if [ ! -x "$VENV_BIN/ansible-test" ]; then
    echo "units: $VENV_BIN/ansible-test not found: run 'make venv' first" >&2
    exit 2
fi

# shellcheck source=scripts/copy_collection.sh
. "$ROOT/scripts/copy_collection.sh"
copy_collection "$ROOT" "$DEST"

echo "units: ansible-test units --local --python $PY_VERSION $*"
cd "$DEST"
export PATH=$VENV_BIN:$PATH
rc=0
"$VENV_BIN/ansible-test" units --local --python "$PY_VERSION" --color no "$@" </dev/null || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "units: FAILED (ansible-test exit $rc)" >&2
else
    echo "units: passed"
fi
exit "$rc"
