#!/usr/bin/env bash
# Run all tests (pytest over tests/) and then ansible-test sanity.
# Expects `make venv collection` to have run (`make test` does that).
# Fails when either part fails; both parts always run.
# Extra arguments are passed to pytest.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$ROOT/.venv
cd "$ROOT"

if [ ! -x "$VENV/bin/pytest" ]; then
    echo "test: $VENV/bin/pytest not found: run 'make venv' first" >&2
    exit 2
fi

# Everything Ansible and pytest write during the run goes to one temp folder.
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fleetimage-test.XXXXXX")
cleanup() {
    if [ "${KEEP_TEST_RUN_DIR:-0}" = 1 ]; then
        echo "test: kept $RUN_DIR"
    else
        rm -rf "$RUN_DIR"
    fi
}
trap cleanup EXIT

export FLEETIMAGE_TEST_RUN_DIR=$RUN_DIR
export ANSIBLE_COLLECTIONS_PATH=$ROOT/.build/collections
export ANSIBLE_HOME=$RUN_DIR/ansible-home
export ANSIBLE_LOCAL_TEMP=$RUN_DIR/ansible-local-tmp
export ANSIBLE_REMOTE_TMP=$RUN_DIR/ansible-remote-tmp
export ANSIBLE_PYTHON_INTERPRETER=$VENV/bin/python
export ANSIBLE_PIPELINING=1
export PATH=$VENV/bin:$PATH
mkdir -p "$ANSIBLE_HOME" "$ANSIBLE_LOCAL_TEMP" "$ANSIBLE_REMOTE_TMP"

PYTEST_LOG=$RUN_DIR/pytest.log
pytest_rc=0
"$VENV/bin/pytest" -p no:cacheprovider -ra --basetemp="$RUN_DIR/pytest" tests "$@" 2>&1 \
    | tee "$PYTEST_LOG" || pytest_rc=${PIPESTATUS[0]}
pytest_summary=$(grep -E '^=+ .+ in [0-9.]+s( \([0-9:]+\))? =+$' "$PYTEST_LOG" | tail -1 || true)
if [ "$pytest_rc" -eq 5 ]; then
    echo "test: NOTE: pytest collected no tests (exit 5); counted as success."
    pytest_rc=0
fi

sanity_rc=0
bash "$ROOT/scripts/sanity.sh" || sanity_rc=$?

echo
echo "test: pytest:  ${pytest_summary:-<no summary line>} (exit $pytest_rc)"
echo "test: sanity:  $([ "$sanity_rc" -eq 0 ] && echo passed || echo "FAILED (exit $sanity_rc)")"
if [ "$pytest_rc" -ne 0 ] || [ "$sanity_rc" -ne 0 ]; then
    echo "test: FAILED"
    exit 1
fi
echo "test: all passed"
