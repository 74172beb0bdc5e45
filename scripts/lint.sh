#!/usr/bin/env bash
# The linters: ansible-lint (production profile, .ansible-lint), yamllint
# (.yamllint) and antsibull-changelog lint (the fragments and changelog.yaml).
# Expects `make venv collection` to have run. Every linter always runs;
# fails when any of them fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_BIN=$ROOT/.venv/bin
cd "$ROOT"

for tool in ansible-lint yamllint antsibull-changelog; do
    if [ ! -x "$VENV_BIN/$tool" ]; then
        echo "lint: $VENV_BIN/$tool not found: run 'make venv' first" >&2
        exit 2
    fi
done

# ansible-lint's syntax check resolves this collection's modules and role
# through the collection path, not the work tree.
export ANSIBLE_COLLECTIONS_PATH=$ROOT/.build/collections
export PATH=$VENV_BIN:$PATH
export NO_COLOR=1

failed=()
echo "lint: ansible-lint --offline --profile production"
"$VENV_BIN/ansible-lint" --offline --profile production --nocolor || failed+=(ansible-lint)
echo "lint: yamllint --strict ."
"$VENV_BIN/yamllint" --strict . || failed+=(yamllint)
echo "lint: antsibull-changelog lint"
"$VENV_BIN/antsibull-changelog" lint || failed+=(antsibull-changelog)

if [ "${#failed[@]}" -gt 0 ]; then
    echo "lint: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "lint: passed"
