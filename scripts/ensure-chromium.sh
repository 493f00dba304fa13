#!/usr/bin/env bash
# Installs Debian's `chromium` and `chromium-driver` packages when either binary is missing.
# The console's browser tests (tests/console) drive this headless chromium with selenium through
# the packaged chromedriver, so no browser build is ever downloaded. CI runs as root on Debian;
# elsewhere this needs root (or sudo) and apt-get. Quiet on success; apt's errors reach stderr.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: chromium/chromedriver missing and apt-get not found; install them by hand" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "ensure-chromium: need root (or sudo) to install the chromium packages" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "ensure-chromium: apt-get could not install chromium and chromium-driver" >&2
    exit 1
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "ensure-chromium: installed the packages but chromium/chromedriver are still not on PATH" >&2
    exit 1
fi
