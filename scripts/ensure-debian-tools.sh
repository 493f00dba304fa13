#!/usr/bin/env bash
# Usage: ensure-debian-tools.sh COMMAND... -- PACKAGE...
# Installs Debian's PACKAGEs when any COMMAND is missing from PATH, then checks that every
# COMMAND is there. The tests need real tools (Prometheus and promtool for the deployment tests,
# chromium and chromedriver for the console's browser tests), never downloaded builds. CI runs
# as root on Debian; elsewhere this needs root (or sudo) and apt-get. Quiet on success so that
# .ci/run stays readable; apt's own errors still reach stderr.
set -euo pipefail

commands=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do commands+=("$1"); shift; done
[ $# -gt 0 ] && shift
packages=("$@")
if [ ${#commands[@]} -eq 0 ] || [ ${#packages[@]} -eq 0 ]; then
    echo "usage: ensure-debian-tools.sh COMMAND... -- PACKAGE..." >&2
    exit 2
fi

missing() {
    for name in "${commands[@]}"; do
        command -v "$name" >/dev/null 2>&1 || { echo "$name"; return 0; }
    done
    return 1
}

gone="$(missing)" || exit 0
what="${packages[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-debian-tools: $gone is missing and apt-get is not found; install $what by hand" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "ensure-debian-tools: need root (or sudo) to install $what" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
# apt and debconf chatter on stderr even with -qq ("delaying package configuration..."): keep the
# whole log and show it only when something fails. A package's postinst may start a system
# service where systemd runs; the tests never use it, they start their own.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "ensure-debian-tools: apt-get could not install $what" >&2
    exit 1
fi

if gone="$(missing)"; then
    echo "ensure-debian-tools: installed $what but $gone is still not on PATH" >&2
    exit 1
fi
