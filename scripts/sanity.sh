#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection.
#
# ansible-test wants the collection at .../ansible_collections/<ns>/<name>/.
# We copy the tracked and untracked-but-not-ignored files (what a commit
# would hold) to .build/sanity/ansible_collections/fleetimage/separated/ and
# run `ansible-test sanity --local` there. The copy's tests/output/ is kept
# between runs, so ansible-test reuses the virtual environments it made.
#
# Offline pip bootstrap: ansible-test downloads a get-pip script into
# ~/.ansible/test/cache/ (path fixed by ansible-test) before it installs
# its test requirements from PyPI. Hosts may reach PyPI but not that
# download site, so we put a stand-in there that bootstraps pip with
# ensurepip and then installs the requested pip with pip itself.
#
# Every managed-host Python this ansible-test supports from 3.8 on (3.8 to 3.13
# with ansible-core 2.19) is tested: all sanity tests once, with the compile and
# import tests on Python 3.8, then the compile and import tests on each newer
# Python that is installed (on PATH or under pyenv). Python 3.8 and the newest
# one must be installed: without them the run fails; a missing one in between is
# named in the output. SANITY_PYTHON=3.X runs all sanity tests on that one only.
#
# Extra arguments are passed to ansible-test (e.g. --test pep8) on its first run.
# Exits non-zero on any sanity error or a missing required Python.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_BIN=$ROOT/.venv/bin
DEST=$ROOT/.build/sanity/ansible_collections/fleetimage/separated

if [ ! -x "$VENV_BIN/ansible-test" ]; then
    echo "sanity: $VENV_BIN/ansible-test not found: run 'make venv' first" >&2
    exit 2
fi
if ! git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "sanity: $ROOT is not a git work tree: cannot tell which files belong to the collection" >&2
    exit 2
fi

# 1. Fresh copy of the collection's files (keep tests/output: ansible-test's venvs).
# shellcheck source=scripts/copy_collection.sh
. "$ROOT/scripts/copy_collection.sh"
copy_collection "$ROOT" "$DEST"
echo "sanity: copied $(find "$DEST" -path "$DEST/tests/output" -prune -o -type f -print | wc -l) files to $DEST"

# 2. The get-pip stand-in, named for the pip version this ansible-test pins.
PIP_VERSION=$("$VENV_BIN/python" - <<'PYEOF' 2>/dev/null || true
from types import SimpleNamespace
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(SimpleNamespace(version="3.11"))["pip"])
PYEOF
)
if [ -z "$PIP_VERSION" ]; then
    PIP_VERSION=$(grep -ho "pip='[0-9.]*'" "$VENV_BIN"/../lib/python*/site-packages/ansible_test/_internal/python_requirements.py | head -1 | tr -dc '0-9.')
fi
if [ -z "$PIP_VERSION" ]; then
    echo "sanity: cannot tell which pip version ansible-test bootstraps" >&2
    exit 2
fi
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
export HOME
CACHE_DIR=$HOME/.ansible/test/cache
GET_PIP=$CACHE_DIR/get_pip_${PIP_VERSION//./_}.py
MARKER='fleetimage-separated offline get-pip stand-in'
if [ ! -e "$GET_PIP" ] || grep -q "$MARKER" "$GET_PIP"; then
    mkdir -p "$CACHE_DIR"
    cat > "$GET_PIP.tmp" <<PYEOF
# $MARKER (written by scripts/sanity.sh).
# ansible-test runs this in place of get-pip.py: bootstrap pip with ensurepip,
# then let pip install what was asked (get-pip's own flags dropped).
import subprocess
import sys

DROP = {"--no-setuptools", "--no-wheel"}
args = [a for a in sys.argv[1:] if a not in DROP]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
PYEOF
    mv "$GET_PIP.tmp" "$GET_PIP"
fi

# 3. The Pythons, as ansible-test looks for them: python3.X on PATH (a pyenv shim
# there may not run, so the one find_python finds is linked in front).
# shellcheck source=scripts/find_python.sh
. "$ROOT/scripts/find_python.sh"
if [ -n "${SANITY_PYTHON:-}" ]; then
    versions=("$SANITY_PYTHON")
    required=("$SANITY_PYTHON")
else
    # The host Pythons this ansible-test supports, 3.8 and later, oldest first.
    mapfile -t versions < <("$VENV_BIN/python" -c '
from ansible_test._internal.constants import SUPPORTED_PYTHON_VERSIONS
for v in sorted(SUPPORTED_PYTHON_VERSIONS, key=lambda v: tuple(map(int, v.split(".")))):
    if tuple(map(int, v.split("."))) >= (3, 8):
        print(v)')
    required=("${versions[0]}" "${versions[-1]}")
fi
PY_LINKS=$ROOT/.build/sanity/bin
mkdir -p "$PY_LINKS"
found=()
for version in "${versions[@]}"; do
    if python=$(find_python "$version"); then
        ln -sfn "$python" "$PY_LINKS/python$version"
        found+=("$version")
    elif [[ " ${required[*]} " == *" $version "* ]]; then
        echo "sanity: no Python $version found (on PATH or under pyenv): it is required (the oldest and the newest host Python)" >&2
        exit 2
    else
        echo "sanity: NOTE: no Python $version found (on PATH or under pyenv): its compile and import tests do not run"
    fi
done

# 4. Run it: everything on the first Python, compile and import on the others.
cd "$DEST"
export PATH=$VENV_BIN:$PY_LINKS:$PATH
failed=()
for version in "${found[@]}"; do
    if [ "$version" = "${found[0]}" ]; then args=("$@"); else args=(--test compile --test import); fi
    echo "sanity: ansible-test sanity --local --python $version ${args[*]} (python$version: $(readlink "$PY_LINKS/python$version"))"
    LOG=$ROOT/.build/sanity/ansible-test-$version.log
    rc=0
    "$VENV_BIN/ansible-test" sanity --local --python "$version" --color no "${args[@]}" </dev/null 2>&1 | tee "$LOG" \
        || rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 0 ] && grep -q "All targets skipped" "$LOG"; then
        echo "sanity: ansible-test found no files to test in $DEST" >&2
        rc=3
    fi
    [ "$rc" -eq 0 ] || failed+=("$version (ansible-test exit $rc)")
done
if [ "${#failed[@]}" -gt 0 ]; then
    echo "sanity: FAILED on Python ${failed[*]}" >&2
    exit 1
fi
echo "sanity: passed on Python ${found[*]}"
