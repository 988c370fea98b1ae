#!/usr/bin/env bash
# Make sure a Chromium is on PATH: install Debian's package when running as root,
# otherwise say what to install. Fast (no apt-get) when one is already there.
set -euo pipefail

for name in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$name" >/dev/null 2>&1; then
        exit 0
    fi
done

if [ "$(id -u)" != 0 ]; then
    echo "No Chromium found on PATH (looked for chromium, chromium-browser, google-chrome)." >&2
    echo "Install one, e.g. 'sudo apt-get install chromium', or set [browser] executable" >&2
    echo "in the config file, then run this again." >&2
    exit 1
fi

echo "No Chromium found on PATH: installing Debian's chromium package..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null
echo "Installed $(chromium --version 2>/dev/null || echo chromium)." >&2
