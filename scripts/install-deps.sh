#!/bin/sh
# install-deps.sh - make sure the Debian/Ubuntu packages the C build needs are present.
# Idempotent: does nothing when every package is installed. Installs with apt-get when run as
# root (or through sudo when available); otherwise prints the command to run.
set -eu

# --arm64: what `make CC=aarch64-linux-gnu-gcc` and `make test-arm64` need instead of the
# native build packages: the cross compiler, qemu, and the C libraries as Debian multiarch
# `:arm64` packages (dpkg's arm64 architecture is added once). cairo for arm64 is optional:
# installed when the archive has it, otherwise the Makefile builds the arm64 library with
# NO_CAIRO=1 (scripts/install-deps.sh --arm64 exits 0 either way).
ARM64=0
if [ "${1:-}" = "--arm64" ]; then
    ARM64=1
    PKGS="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user pkg-config zlib1g-dev:arm64
          libcjson-dev:arm64 libzip-dev:arm64"
else
    PKGS="build-essential pkg-config zlib1g-dev libcjson-dev libzip-dev libcairo2-dev"
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: missing packages:$missing (no apt-get here; install them by hand)" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "install-deps: missing packages:$missing; run as root: apt-get install$missing" >&2
    exit 1
fi

echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
if [ "$ARM64" -eq 1 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64
fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
if [ "$ARM64" -eq 1 ]; then
    $SUDO apt-get install -y -qq --no-install-recommends libcairo2-dev:arm64 >/dev/null 2>&1 ||
        echo "install-deps: libcairo2-dev:arm64 not installable; arm64 builds use NO_CAIRO=1" >&2
fi
