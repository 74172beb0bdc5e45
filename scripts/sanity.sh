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
# Extra arguments are passed to ansible-test (e.g. --test pep8).
# Exits with ansible-test's status: non-zero on any sanity error.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_BIN=$ROOT/.venv/bin
DEST=$ROOT/.build/sanity/ansible_collections/fleetimage/separated
# The oldest Python the modules support on managed hosts: the Python-specific
# tests (compile, import) run on it; the controller's tests on .venv's Python.
PY_VERSION=${SANITY_PYTHON:-3.8}

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

# 3. Python $PY_VERSION as ansible-test looks for it: python$PY_VERSION on PATH (a pyenv
# shim there may not run, so the one found by find_python is linked in front).
# shellcheck source=scripts/find_python.sh
. "$ROOT/scripts/find_python.sh"
TARGET_PYTHON=$(find_python "$PY_VERSION") || {
    echo "sanity: no Python $PY_VERSION found (on PATH or under pyenv); set SANITY_PYTHON to one that is installed" >&2
    exit 2
}
PY_LINKS=$ROOT/.build/sanity/bin
mkdir -p "$PY_LINKS"
ln -sfn "$TARGET_PYTHON" "$PY_LINKS/python$PY_VERSION"

# 4. Run it.
echo "sanity: ansible-test sanity --local --python $PY_VERSION $* (python$PY_VERSION: $TARGET_PYTHON)"
cd "$DEST"
export PATH=$VENV_BIN:$PY_LINKS:$PATH
LOG=$ROOT/.build/sanity/ansible-test.log
rc=0
"$VENV_BIN/ansible-test" sanity --local --python "$PY_VERSION" --color no "$@" </dev/null 2>&1 | tee "$LOG" || rc=${PIPESTATUS[0]}
if [ "$rc" -eq 0 ] && grep -q "All targets skipped" "$LOG"; then
    echo "sanity: ansible-test found no files to test in $DEST" >&2
    rc=3
fi
if [ "$rc" -ne 0 ]; then
    echo "sanity: FAILED (ansible-test exit $rc)" >&2
else
    echo "sanity: passed"
fi
exit "$rc"
