#!/usr/bin/env bash
# Debian's `prometheus` package: the server scrapes a real /metrics in the deployment tests and
# promtool checks the rules and the config.
exec bash "$(dirname "$0")/ensure-debian-tools.sh" prometheus promtool -- prometheus
