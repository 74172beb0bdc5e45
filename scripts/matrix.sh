#!/usr/bin/env bash
# The role, module and molecule tests (tests/fleet, tests/modules) and the
# ansible-test integration targets on the other ansible-core series that
# meta/runtime.yml claims: `make test` covers the main series (.venv).
#
#   scripts/matrix.sh            every requirements/ansible-core-*.txt
#   scripts/matrix.sh 2.17       one series
#
# Each series gets a virtual environment of its own, .venv-SERIES, made from
# requirements/ansible-core-SERIES.txt with the first Python its "# python:"
# line names that can be found (re-installed only when that file changes).
# A Python 3.X is looked for as `python3.X` on PATH, then under pyenv:
# ${PYENV_ROOT:-$HOME/.pyenv}/versions/3.X.*/bin/python. MATRIX_PYTHON
# overrides the choice for every series.
# Fails when any series fails; every series always runs.
#
# MATRIX_JOBS series run side by side (default 2): most of a series' time is
# spent waiting on SSH, daemons and Ansible's own start-up, so two series on two
# cores take little more than one. Each series' output goes to a log that is
# printed when that series is done. MATRIX_JOBS=1 runs them one after another
# in the foreground. The virtual environments are made first, one at a time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# shellcheck source=scripts/find_python.sh
. "$ROOT/scripts/find_python.sh"

all_series() {  # every SERIES of requirements/ansible-core-SERIES.txt, oldest first
    find requirements -maxdepth 1 -name 'ansible-core-*.txt' | sed -n 's|^requirements/ansible-core-\(.*\)\.txt$|\1|p' | sort -V
}

make_venv() {  # SERIES -> prints the venv path; installs the pinned requirements when they changed
    local series=$1 requirements=requirements/ansible-core-$1.txt venv=$ROOT/.venv-$1 python
    if [ ! -f "$requirements" ]; then
        echo "matrix: $requirements not found (series: $(all_series | xargs))" >&2
        return 2
    fi
    if [ ! -x "$venv/bin/python" ]; then
        # shellcheck disable=SC2046  # one word per version
        python=${MATRIX_PYTHON:-$(find_python $(sed -n 's/^# python: *//p' "$requirements") || true)}
        if [ -z "$python" ]; then
            echo "matrix: no Python for ansible-core $series ($(sed -n 's/^# python: *//p' "$requirements")) on PATH or under pyenv" >&2
            return 2
        fi
        echo "matrix: creating $venv with $("$python" --version 2>&1) ($python)" >&2
        "$python" -m venv "$venv" >&2
    fi
    if ! cmp -s "$requirements" "$venv/.requirements.stamp"; then
        "$venv/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements" >&2
        cp "$requirements" "$venv/.requirements.stamp"
    fi
    echo "$venv"
}

if [ "$#" -gt 0 ]; then
    series_list=("$@")
else
    mapfile -t series_list < <(all_series)
fi

JOBS=${MATRIX_JOBS:-2}
if ! [[ "$JOBS" =~ ^[1-9][0-9]*$ ]]; then
    echo "matrix: MATRIX_JOBS must be a positive number, not '$JOBS'" >&2
    exit 2
fi

failed=()
declare -A venvs=()
for series in "${series_list[@]}"; do
    venv=$(make_venv "$series") && venvs[$series]=$venv || failed+=("$series")
done

# The molecule scenario runs once a series, from the installed artifact: the same role and
# scenario as from the work tree, which `make test` runs on the main series.
# shellcheck disable=SC2016  # expanded by the bash that runs it
RUN_SERIES='echo "matrix: === ansible-core $1 ($("$2/bin/python" --version 2>&1), $2) ==="
TEST_VENV=$2 TEST_STEPS="pytest integration" exec bash scripts/test.sh tests/fleet tests/modules \
    --deselect "tests/fleet/test_molecule.py::test_molecule_default_scenario[work-tree]"'

LOG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fleetimage-matrix.XXXXXX")
declare -A pids=() started=()
# Each series runs in a session of its own, so that an interrupted matrix stops all of it.
stop_series() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    wait
    rm -rf "$LOG_DIR"
}
trap stop_series EXIT
finish_one() {  # waits for any running series, prints its log and records its result
    local done_pid series rc=0
    wait -n -p done_pid "${pids[@]}" || rc=$?
    for series in "${!pids[@]}"; do
        [ "${pids[$series]}" = "$done_pid" ] || continue
        unset "pids[$series]"
        cat "$LOG_DIR/$series.log"
        echo "matrix: ansible-core $series: $([ "$rc" -eq 0 ] && echo passed || echo "FAILED (exit $rc)") in $((SECONDS - started[$series])) s"
        [ "$rc" -eq 0 ] || failed+=("$series")
    done
}
for series in "${series_list[@]}"; do
    [ -n "${venvs[$series]:-}" ] || continue
    if [ "$JOBS" -eq 1 ]; then
        started[$series]=$SECONDS
        rc=0
        bash -c "$RUN_SERIES" "series-$series" "$series" "${venvs[$series]}" || rc=$?
        echo "matrix: ansible-core $series: $([ "$rc" -eq 0 ] && echo passed || echo "FAILED (exit $rc)") in $((SECONDS - started[$series])) s"
        [ "$rc" -eq 0 ] || failed+=("$series")
        continue
    fi
    while [ "${#pids[@]}" -ge "$JOBS" ]; do finish_one; done
    echo "matrix: ansible-core $series started (output when it is done)"
    started[$series]=$SECONDS
    setsid bash -c "$RUN_SERIES" "series-$series" "$series" "${venvs[$series]}" </dev/null >"$LOG_DIR/$series.log" 2>&1 &
    pids[$series]=$!
done
while [ "${#pids[@]}" -gt 0 ]; do finish_one; done

echo
if [ "${#failed[@]}" -gt 0 ]; then
    echo "matrix: FAILED on ansible-core ${failed[*]}"
    exit 1
fi
echo "matrix: passed on ansible-core ${series_list[*]}"
