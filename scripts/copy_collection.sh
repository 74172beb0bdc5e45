# shellcheck shell=bash
# copy_collection ROOT DEST: copy the collection's files (tracked, and untracked
# but not ignored: what a commit would hold) from the git work tree ROOT to
# DEST, a .../ansible_collections/fleetimage/separated folder, for ansible-test.
# DEST/tests/output (ansible-test's results and virtual environments) is kept.
#
# ansible-test lists a collection's files with git when it finds a .git at or
# above the collection: here it would find the repository's, which ignores
# .build/, and quietly skip every test. The copy gets a repository of its own
# (nothing committed: ansible-test takes untracked, not-ignored files).
copy_collection() {
    local root=$1 dest=$2
    mkdir -p "$dest"
    find "$dest" -mindepth 1 -maxdepth 1 ! -name tests -exec rm -rf {} +
    if [ -d "$dest/tests" ]; then
        find "$dest/tests" -mindepth 1 -maxdepth 1 ! -name output -exec rm -rf {} +
    fi
    (
        cd "$root" || exit 1
        git ls-files -z --cached --others --exclude-standard \
            | while IFS= read -r -d '' f; do
                # listed but deleted in the work tree: not part of the copy
                if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
            done \
            | tar --null --no-recursion -T - -cf -
    ) | tar -xf - -C "$dest"
    git -c init.defaultBranch=copy init -q "$dest"
}
