#!/usr/bin/env bash
# Makes sure Debian's Chromium is at /usr/bin/chromium for the browser tests (Playwright drives
# it; nothing downloads a browser of its own). On Debian as root it installs the package;
# anywhere else it prints the one line to run.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Chromium not found: installing Debian's chromium package for the browser tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  [ -x /usr/bin/chromium ] && exit 0
fi
echo "Chromium not found at /usr/bin/chromium: install it with 'sudo apt-get install -y chromium' for the browser tests." >&2
exit 1
