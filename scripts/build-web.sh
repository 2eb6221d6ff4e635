#!/usr/bin/env bash
# Builds the donor web app into web/dist/app, which `go build` embeds: `npm ci` from
# package-lock.json (again only when the lock file changed), then `npm run build` (operation
# types generated from schema.graphqls, type check, Vite).
set -euo pipefail
cd "$(dirname "$0")/../web"
command -v npm >/dev/null 2>&1 || {
  echo "npm not found: the web app needs Node.js 20 and npm (Debian: apt-get install -y nodejs npm)" >&2
  exit 1
}
stamp=node_modules/.giveathon-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
# A go.mod makes node_modules a module of its own, so that `go ... ./...` never walks into a
# package's stray Go files.
printf 'module ignore.invalid/node_modules\n' > node_modules/go.mod
npm run --silent build
