#!/usr/bin/env bash
# Debian's `chromium` and `chromium-driver`: the console's browser tests drive this headless
# chromium with selenium through the packaged chromedriver, so no browser build is downloaded.
exec bash "$(dirname "$0")/ensure-debian-tools.sh" chromium chromedriver -- chromium chromium-driver
