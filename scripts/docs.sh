#!/usr/bin/env bash
# Build the collection's docs site into .build/docs/build/html, as antsibull-docs
# builds collection sites: `antsibull-docs sphinx-init --use-current`, then the
# build.sh it writes (antsibull-docs collection + sphinx-build -W: a warning fails).
# Then checks that the site has a page for every module, filter and role of the
# collection and for every guide docs/docsite/extra-docs.yml lists.
# Expects `make venv collection` and requirements/docs.txt installed (`make docs`).
#
# Offline: intersphinx would download the inventories of Ansible's and Python's
# docs. By default it is turned off, and scripts/docs/offline_ansible_refs.py
# links the labels of Ansible's docs that the generated pages use straight to
# their pages on docs.ansible.com. DOCS_INTERSPHINX=1 keeps antsibull-docs'
# intersphinx set-up instead (needs the network).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_BIN=$ROOT/.venv/bin
SITE=$ROOT/.build/docs
cd "$ROOT"

for tool in antsibull-docs sphinx-build; do
    if [ ! -x "$VENV_BIN/$tool" ]; then
        echo "docs: $VENV_BIN/$tool not found: run 'make docs' (installs requirements/docs.txt)" >&2
        exit 2
    fi
done
if [ ! -e "$ROOT/.build/collections/ansible_collections/fleetimage/separated/galaxy.yml" ]; then
    echo "docs: .build/collections does not hold the collection: run 'make collection' first" >&2
    exit 2
fi

# Ansible's state of this build in the site folder, not in $HOME.
export ANSIBLE_COLLECTIONS_PATH=$ROOT/.build/collections
export ANSIBLE_HOME=$SITE/ansible-home
export PATH=$VENV_BIN:$PATH

rm -rf "$SITE"
mkdir -p "$SITE"
"$VENV_BIN/antsibull-docs" sphinx-init --use-current --squash-hierarchy --fail-on-error \
    --project fleetimage.separated --title "fleetimage.separated" --html-short-title "fleetimage.separated" \
    --copyright "fleetimage.separated contributors" --dest-dir "$SITE" fleetimage.separated
if [ "${DOCS_INTERSPHINX:-0}" != 1 ]; then
    cp scripts/docs/offline_ansible_refs.py "$SITE/"
    cat >> "$SITE/conf.py" <<'PYEOF'

# Added by scripts/docs.sh: no intersphinx (the build may have no network); links to
# Ansible's own docs come from offline_ansible_refs.py, beside this file.
import os
import sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
intersphinx_mapping = {}
extensions.append('offline_ansible_refs')
PYEOF
fi

echo "docs: building the site in $SITE"
bash "$SITE/build.sh"

# Every plugin, the role and every guide has its page.
HTML=$SITE/build/html
expected=()
for module in plugins/modules/*.py; do
    expected+=("$(basename "$module" .py)_module.html")
done
for filter in plugins/filter/*.yml; do
    expected+=("$(basename "$filter" .yml)_filter.html")
done
for role in roles/*/; do
    expected+=("$(basename "$role")_role.html")
done
if [ -f docs/docsite/extra-docs.yml ]; then
    while read -r guide; do
        expected+=("docsite/$guide.html")
    done < <("$VENV_BIN/python" -c '
import sys, yaml
for section in yaml.safe_load(open(sys.argv[1]))["sections"]:
    for entry in section["toctree"]:
        print(entry if isinstance(entry, str) else entry["ref"])
' docs/docsite/extra-docs.yml)
fi
missing=()
for page in "${expected[@]}"; do
    [ -s "$HTML/$page" ] || missing+=("$page")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "docs: FAILED: the site at $HTML lacks ${missing[*]}" >&2
    exit 1
fi
echo "docs: built $HTML/index.html; pages checked: ${expected[*]}"
