#!/usr/bin/env bash
# Builds govulncheck's vulnerability database offline, from the golang.org/x/vulndb module
# served by the Go module proxy, into .cache/vulndb (once; delete the folder to rebuild).
set -euo pipefail
version=v0.0.0-20261105234957-e22db6528018
out=${1:-.cache/vulndb}
if [ -f "$out/index/db.json" ] && [ "$(cat "$out/.version" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
dir=$(go mod download -json "golang.org/x/vulndb@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir/data/osv" ] || { echo "vulndb: no data/osv in $dir" >&2; exit 1; }
rm -rf "$out.tmp"
echo "building the vulnerability database in $out (about a minute)" >&2
go run "golang.org/x/vulndb/cmd/indexdb@$version" -vulns "$dir/data/osv" -out "$out.tmp" >/dev/null
echo "$version" > "$out.tmp/.version"
rm -rf "$out"
mv "$out.tmp" "$out"
