#!/usr/bin/env bash
# Install the Debian packages that the real-engine and fleet tests (and the
# demo) use: container engines and tools, sshd for loopback "hosts", pigz;
# and shellcheck, without which ansible-test sanity skips its shellcheck test.
# Only missing packages are installed; `apt-get update` runs at most once.
# Not root or no apt: prints a note and exits 0 (tests needing them skip).
set -euo pipefail

PACKAGES=(podman skopeo buildah runc busybox-static docker.io openssh-server pigz uidmap shellcheck nginx-light)

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: NOTE: no dpkg/apt-get on this machine; not installing ${PACKAGES[*]}." >&2
    echo "system-deps: tests that need container engines or sshd will be skipped." >&2
    exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "system-deps: all present (${PACKAGES[*]})"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "system-deps: NOTE: not root, so not installing: ${missing[*]}" >&2
    echo "system-deps: install them with: sudo apt-get install -y ${missing[*]}" >&2
    echo "system-deps: until then, tests that need them will be skipped." >&2
    exit 0
fi

echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y "${missing[@]}"

still_missing=()
for pkg in "${missing[@]}"; do
    is_installed "$pkg" || still_missing+=("$pkg")
done
if [ "${#still_missing[@]}" -ne 0 ]; then
    echo "system-deps: ERROR: still not installed: ${still_missing[*]}" >&2
    exit 1
fi
echo "system-deps: installed ${missing[*]}"
