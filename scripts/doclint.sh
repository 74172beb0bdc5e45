#!/usr/bin/env bash
# antsibull-docs lint-collection-docs --plugin-docs: the plugins' and the role's
# documentation as the docs site renders it, docs/docsite/extra-docs.yml,
# docs/docsite/links.yml and the guides in docs/docsite/rst/.
# Expects `make venv collection` to have run (`make test` runs this as a step).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_BIN=${TEST_VENV_BIN:-$ROOT/.venv/bin}
cd "$ROOT"

if [ ! -x "$VENV_BIN/antsibull-docs" ]; then
    echo "doclint: $VENV_BIN/antsibull-docs not found: run 'make venv' first (requirements-dev.txt)" >&2
    exit 2
fi
# The plugin docs are read through ansible-doc, from the collection path.
export ANSIBLE_COLLECTIONS_PATH=$ROOT/.build/collections
export PATH=$VENV_BIN:$PATH
echo "doclint: antsibull-docs lint-collection-docs --plugin-docs ."
rc=0
"$VENV_BIN/antsibull-docs" lint-collection-docs --plugin-docs . || rc=$?
if [ "$rc" -ne 0 ]; then
    echo "doclint: FAILED (antsibull-docs exit $rc)" >&2
    exit "$rc"
fi
echo "doclint: passed"
