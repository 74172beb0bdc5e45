#!/usr/bin/env bash
# Run the tests: pytest, ansible-test units, sanity and integration, the
# linters (ansible-lint, yamllint, antsibull-changelog lint) and the docs linter
# (antsibull-docs lint-collection-docs, scripts/doclint.sh).
# Expects `make venv collection` to have run (`make test` does that).
# Fails when any step fails; every step always runs.
#
# The steps other than pytest run one after another in the background while
# pytest runs (pytest waits on SSH, daemons and Ansible much of the time, so
# they mostly use the core it leaves idle); each one's output goes to a log that
# is printed when pytest is done. TEST_SERIAL=1 runs every step in the
# foreground instead, one after another.
#
# Arguments are passed to pytest; without a path among them pytest runs all of
# tests/ (`scripts/test.sh -k rollout`, `scripts/test.sh tests/fleet`).
# TEST_VENV: the virtual environment to test with (default .venv; `make matrix`
# passes .venv-SERIES). TEST_STEPS: the steps to run, of
# "pytest units sanity integration lint doclint" (the default: all of them). With the
# units step, ansible-test runs tests/unit/ and pytest runs the rest of tests/.
# TEST_WORKERS: pytest-xdist workers for pytest (default auto: one per core; 0
# runs pytest in one process). Tests that share the fleet, the installed
# artifact or the engine daemons run in one worker (--dist loadscope, the scopes
# set in tests/conftest.py), every other test file in a worker of its own choosing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$(cd "${TEST_VENV:-$ROOT/.venv}" 2>/dev/null && pwd || echo "${TEST_VENV:-$ROOT/.venv}")
STEPS=${TEST_STEPS:-pytest units sanity integration lint doclint}
cd "$ROOT"

if [ ! -x "$VENV/bin/pytest" ]; then
    echo "test: $VENV/bin/pytest not found: run 'make venv' first" >&2
    exit 2
fi

# Everything Ansible and pytest write during the run goes to one temp folder.
RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fleetimage-test.XXXXXX")
background_pid=
cleanup() {
    if [ -n "$background_pid" ] && kill -0 "$background_pid" 2>/dev/null; then
        kill -TERM -- "-$background_pid" 2>/dev/null || true
        wait "$background_pid" 2>/dev/null || true
    fi
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
export TEST_VENV_BIN=$VENV/bin  # the venv units.sh and integration.sh run ansible-test from

# lint first: it is the shortest, and done before the molecule test looks at the
# work tree's top folder.
OTHER_STEPS=()
for step in lint doclint units sanity integration; do
    if has_step "$step"; then OTHER_STEPS+=("$step"); fi
done

# NAME...: run scripts/NAME.sh for each, one after another; each one's output in
# RUN_DIR/NAME.log (unless LOG=-), its exit status in RUN_DIR/NAME.rc.
# shellcheck disable=SC2016  # expanded by the bash that runs it, with its own "$@"
STEP_CHAIN='for step in "$@"; do
    rc=0
    if [ "$LOG" = - ]; then bash "$ROOT/scripts/$step.sh" </dev/null || rc=$?
    else bash "$ROOT/scripts/$step.sh" </dev/null >"$RUN_DIR/$step.log" 2>&1 || rc=$?; fi
    echo "$rc" >"$RUN_DIR/$step.rc"
done'
export ROOT RUN_DIR

if [ "${TEST_SERIAL:-0}" != 1 ] && has_step pytest && [ "${#OTHER_STEPS[@]}" -gt 0 ]; then
    echo "test: ${OTHER_STEPS[*]} run in the background while pytest runs; their output follows pytest's"
    # A session of its own, so that an interrupted run stops the whole chain (see cleanup).
    LOG=to-files setsid bash -c "$STEP_CHAIN" step-chain "${OTHER_STEPS[@]}" &
    background_pid=$!
fi

if has_step pytest; then
    paths=(tests)
    if has_step units; then paths+=(--ignore=tests/unit); fi  # ansible-test units runs those
    for arg in "$@"; do
        if [[ "$arg" != -* ]] && [ -e "$arg" ]; then paths=(); break; fi
    done
    workers=()
    # A venv without pytest-xdist (requirements/ansible-core-*.txt) runs pytest in one process.
    if [ "${TEST_WORKERS:-auto}" != 0 ] && "$VENV/bin/python" -c "import xdist" 2>/dev/null; then
        workers=(-n "${TEST_WORKERS:-auto}" --dist loadscope)
    fi
    PYTEST_LOG=$RUN_DIR/pytest.log
    pytest_rc=0
    # --durations: the slowest tests, so that a test that makes the loop longer is seen.
    "$VENV/bin/pytest" -p no:cacheprovider -ra --durations=15 --basetemp="$RUN_DIR/pytest" "${workers[@]}" "${paths[@]}" "$@" 2>&1 \
        | tee "$PYTEST_LOG" || pytest_rc=${PIPESTATUS[0]}
    pytest_summary=$(grep -E '^=+ .+ in [0-9.]+s( \([0-9:]+\))? =+$' "$PYTEST_LOG" | tail -1 || true)
    if [ "$pytest_rc" -eq 5 ]; then
        echo "test: NOTE: pytest collected no tests (exit 5); counted as success."
        pytest_rc=0
    fi
    results[pytest]="${pytest_summary:-<no summary line>} (exit $pytest_rc)"
    [ "$pytest_rc" -eq 0 ] || results[failed]+=" pytest"
fi

if [ -n "$background_pid" ]; then
    wait "$background_pid" || true
    for step in "${OTHER_STEPS[@]}"; do
        echo
        echo "test: ---- $step (ran in the background) ----"
        cat "$RUN_DIR/$step.log"
    done
elif [ "${#OTHER_STEPS[@]}" -gt 0 ]; then
    LOG=- bash -c "$STEP_CHAIN" step-chain "${OTHER_STEPS[@]}"
fi
for step in "${OTHER_STEPS[@]}"; do
    rc=$(cat "$RUN_DIR/$step.rc" 2>/dev/null || echo "?")
    if [ "$rc" = 0 ]; then results[$step]=passed; else results[$step]="FAILED (exit $rc)"; results[failed]+=" $step"; fi
done

echo
for step in pytest units sanity integration lint doclint; do
    if has_step "$step"; then printf 'test: %-12s %s\n' "$step:" "${results[$step]}"; fi
done
if [ -n "${results[failed]:-}" ]; then
    echo "test: FAILED:${results[failed]}"
    exit 1
fi
echo "test: all passed"
