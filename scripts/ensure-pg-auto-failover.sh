#!/usr/bin/env bash
# Makes sure pg_auto_failover is on this machine: the pg_autoctl command and the monitor's
# PostgreSQL extension for the server that scripts/ensure-postgres.sh installs. `make chaos-ha`
# and the failover tests run a monitor and two nodes from them. On Debian as root it installs
# Debian's packages; anywhere else it prints the one line to run.
set -euo pipefail

"$(dirname "$0")/ensure-postgres.sh"

# The newest PostgreSQL major with server binaries: the one Giveathon's launchers use.
major=""
for dir in /usr/lib/postgresql/*/bin; do
  [ -x "$dir/postgres" ] || continue
  v=$(basename "$(dirname "$dir")")
  if [ -z "$major" ] || [ "$v" -gt "$major" ]; then major=$v; fi
done
[ -n "$major" ] || { echo "no PostgreSQL server binaries found" >&2; exit 1; }

have_failover() {
  command -v pg_autoctl >/dev/null 2>&1 &&
    [ -f "/usr/share/postgresql/$major/extension/pgautofailover.control" ]
}

have_failover && exit 0

packages="postgresql-$major-auto-failover pg-auto-failover-cli"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "pg_auto_failover not found: installing Debian's $packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq $packages >/dev/null
  have_failover && exit 0
fi
echo "pg_auto_failover not found: install it with 'sudo apt-get install -y $packages' (Debian/Ubuntu)." >&2
exit 1
