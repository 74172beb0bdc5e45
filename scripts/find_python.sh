# shellcheck shell=bash
# find_python VERSION... : print the path of the first Python 3.X of VERSION...
# that runs, looked for as `python3.X` on PATH, then under pyenv at
# ${PYENV_ROOT:-$HOME/.pyenv}/versions/3.X.*/bin/python (newest patch first).
# A pyenv shim on PATH for a version that is not selected fails to run, so
# every candidate is tried, not just found. Returns 1 when none runs.
find_python() {
    local version candidate
    for version in "$@"; do
        for candidate in $(command -v "python$version" 2>/dev/null) \
                $(find "${PYENV_ROOT:-$HOME/.pyenv}/versions" -mindepth 3 -maxdepth 3 -path "*/$version.*/bin/python" \
                    2>/dev/null | sort -rV); do
            if "$candidate" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$version'.split('.'))))" \
                    >/dev/null 2>&1; then
                echo "$candidate"
                return 0
            fi
        done
    done
    return 1
}
