#!/usr/bin/env bash
# Run the tests: pytest, ansible-test units, sanity and integration, and the
# linters (ansible-lint, yamllint, antsibull-changelog lint).
# Expects `make venv collection` to have run (`make test` does that).
# Fails when any step fails; every step always runs.
#
# Arguments are passed to pytest; without a path among them pytest runs all of
# tests/ (`scripts/test.sh -k rollout`, `scripts/test.sh tests/fleet`).
# TEST_VENV: the virtual environment to test with (default .venv; `make matrix`
# passes .venv-SERIES). TEST_STEPS: the steps to run, of
# "pytest units sanity integration lint" (the default: all of them). With the
# units step, ansible-test runs tests/unit/ and pytest runs the rest of tests/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$(cd "${TEST_VENV:-$ROOT/.venv}" 2>/dev/null && pwd || echo "${TEST_VENV:-$ROOT/.venv}")
STEPS=${TEST_STEPS:-pytest units sanity integration lint}
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
echo "test: ansible-core $("$VENV/bin/python" -c 'import ansible.release as r; print(r.__version__)'), $("$VENV/bin/python" --version) ($VENV); steps: $STEPS"

has_step() { [[ " $STEPS " == *" $1 "* ]]; }
declare -A results=()

if has_step pytest; then
    paths=(tests)
    if has_step units; then paths+=(--ignore=tests/unit); fi  # ansible-test units runs those
    for arg in "$@"; do
        if [[ "$arg" != -* ]] && [ -e "$arg" ]; then paths=(); break; fi
    done
    PYTEST_LOG=$RUN_DIR/pytest.log
    pytest_rc=0
    "$VENV/bin/pytest" -p no:cacheprovider -ra --basetemp="$RUN_DIR/pytest" "${paths[@]}" "$@" 2>&1 \
        | tee "$PYTEST_LOG" || pytest_rc=${PIPESTATUS[0]}
    pytest_summary=$(grep -E '^=+ .+ in [0-9.]+s( \([0-9:]+\))? =+$' "$PYTEST_LOG" | tail -1 || true)
    if [ "$pytest_rc" -eq 5 ]; then
        echo "test: NOTE: pytest collected no tests (exit 5); counted as success."
        pytest_rc=0
    fi
    results[pytest]="${pytest_summary:-<no summary line>} (exit $pytest_rc)"
    [ "$pytest_rc" -eq 0 ] || results[failed]+=" pytest"
fi

run_step() {  # NAME SCRIPT: run one of the other scripts, record passed/FAILED
    local rc=0
    bash "$ROOT/scripts/$2" || rc=$?
    if [ "$rc" -eq 0 ]; then results[$1]=passed; else results[$1]="FAILED (exit $rc)"; results[failed]+=" $1"; fi
}
export TEST_VENV_BIN=$VENV/bin  # the venv units.sh and integration.sh run ansible-test from
if has_step units; then run_step units units.sh; fi
if has_step sanity; then run_step sanity sanity.sh; fi
if has_step integration; then run_step integration integration.sh; fi
if has_step lint; then run_step lint lint.sh; fi

echo
for step in pytest units sanity integration lint; do
    if has_step "$step"; then printf 'test: %-12s %s\n' "$step:" "${results[$step]}"; fi
done
if [ -n "${results[failed]:-}" ]; then
    echo "test: FAILED:${results[failed]}"
    exit 1
fi
echo "test: all passed"
