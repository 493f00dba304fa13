#!/usr/bin/env bash
# Installs Debian's `prometheus` package (the server and promtool) when either binary is missing.
# The deployment tests need both: promtool checks the rules and config, the server scrapes a real
# /metrics endpoint. CI runs as root on Debian; elsewhere this needs root (or sudo) and apt-get.
# Quiet on success so that .ci/run stays readable; apt's own errors still reach stderr.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-prometheus: prometheus/promtool missing and apt-get not found; install Prometheus by hand" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "ensure-prometheus: need root (or sudo) to install the prometheus package" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
# apt and debconf chatter on stderr even with -qq ("delaying package configuration..."): keep the
# whole log and show it only when something fails. The package's postinst may start a system
# service where systemd runs; the tests never use it, they start their own server.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends prometheus; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "ensure-prometheus: apt-get could not install the prometheus package" >&2
    exit 1
fi

if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    echo "ensure-prometheus: installed the prometheus package but prometheus/promtool are still not on PATH" >&2
    exit 1
fi
