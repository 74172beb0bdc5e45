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

failed=()
for series in "${series_list[@]}"; do
    echo "matrix: === ansible-core $series ==="
    rc=0
    venv=$(make_venv "$series") || rc=$?
    if [ "$rc" -eq 0 ]; then
        TEST_VENV=$venv TEST_STEPS="pytest integration" bash scripts/test.sh tests/fleet tests/modules || rc=$?
    fi
    [ "$rc" -eq 0 ] || failed+=("$series")
done

echo
if [ "${#failed[@]}" -gt 0 ]; then
    echo "matrix: FAILED on ansible-core ${failed[*]}"
    exit 1
fi
echo "matrix: passed on ansible-core ${series_list[*]}"
