#!/usr/bin/env bash
# `make run`: Mailpit for the receipts, then Giveathon with its embedded database and the
# Stripe sandbox. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

MAILPIT_SMTP=${MAILPIT_SMTP:-127.0.0.1:1025}
MAILPIT_UI=${MAILPIT_UI:-127.0.0.1:8025}
mkdir -p .data

mailpit_pid=""
if [ -z "${SMTP_URL:-}" ]; then
  mailpit=$(go tool -n mailpit)
  "$mailpit" --quiet --disable-version-check --database .data/mailpit.db \
    --smtp "$MAILPIT_SMTP" --listen "$MAILPIT_UI" --smtp-auth-accept-any --smtp-auth-allow-insecure --ignore-duplicate-ids &
  mailpit_pid=$!
  export SMTP_URL="smtp://$MAILPIT_SMTP?tls=none"
  trap 'kill $mailpit_pid 2>/dev/null || true' EXIT
  echo "Mailpit inbox (receipts land here): http://$MAILPIT_UI"
fi
echo "Giveathon: the web app at http://localhost:8080, GraphQL at /graphql, playground at /playground (Ctrl-C stops it)"
./bin/giveathon serve &
server=$!
trap 'kill -INT $server 2>/dev/null || true' INT TERM
wait $server || true
# The first wait returns when a signal arrives; wait again for the server to finish stopping.
wait $server 2>/dev/null || true
