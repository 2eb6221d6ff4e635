#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries (initdb, postgres) are on this machine: Giveathon's
# embedded default database and its tests start a private server from them. On Debian as root
# it installs them; anywhere else it prints the one line to run.
set -euo pipefail

have_server() {
  local dir
  if command -v pg_config >/dev/null 2>&1; then
    dir=$(pg_config --bindir 2>/dev/null || true)
    [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && return 0
  fi
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && return 0
  done
  command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1
}

have_server && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL server binaries not found: installing Debian's postgresql package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  # The package starts a system cluster on port 5432; Giveathon does not use it.
  have_server && exit 0
fi
echo "PostgreSQL server binaries not found: install them with 'sudo apt-get install -y postgresql' (Debian/Ubuntu), or set DATABASE_URL." >&2
exit 1
