#!/usr/bin/env bash
# Runs a command with one local AWS emulator up, then stops the emulator.
# The command sees DOCKHAND_TEST_EMULATOR (the emulator's URL) and AWS variables
# that point the AWS SDK at it with dummy credentials.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/emulator/start" --install-only
log=$(mktemp)
"$root/emulator/start" --port 0 >"$log" 2>"$log.err" &
emulator=$!
trap 'kill $emulator 2>/dev/null; wait $emulator 2>/dev/null; rm -f "$log" "$log.err"' EXIT
for _ in $(seq 1 300); do
  url=$(sed -n 's/^DOCKHAND_EMULATOR_READY //p' "$log")
  [ -n "$url" ] && break
  kill -0 $emulator 2>/dev/null || { echo "the emulator did not start:" >&2; cat "$log.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "${url:-}" ] || { echo "the emulator did not answer within 30 s" >&2; cat "$log.err" >&2; exit 1; }
export DOCKHAND_TEST_EMULATOR="$url" AWS_ENDPOINT_URL="$url" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=emulator AWS_SECRET_ACCESS_KEY=emulator AWS_EC2_METADATA_DISABLED=true
"$@"
