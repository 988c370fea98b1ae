#!/usr/bin/env bash
# ensure_package.sh PACKAGE COMMAND...: make sure one of COMMANDs is on PATH, installing
# Debian's PACKAGE when running as root, otherwise saying what to install. Fast (no
# apt-get) when one is already there.
set -euo pipefail

package=$1
shift
for name in "$@"; do
    if command -v "$name" >/dev/null 2>&1; then
        exit 0
    fi
done

if [ "$(id -u)" != 0 ]; then
    echo "None of $* is on PATH: install Debian's $package package" >&2
    echo "(sudo apt-get install $package), then run this again." >&2
    exit 1
fi

echo "None of $* is on PATH: installing Debian's $package package..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "$package" >/dev/null
command -v "$1" >/dev/null
echo "Installed $package." >&2
