#!/usr/bin/env bash
# `make demo`: the emulator, the demo stacks, and the shell pointed at them.
# The emulator stops when the shell exits.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
config=$(mktemp --suffix=.toml)
url_file="$root/target/demo-emulator-url"
trap 'rm -f "$config" "$url_file"' EXIT
mkdir -p "$root/target"
"$root/scripts/with-emulator.sh" bash -c '
  "$0/emulator/.venv/bin/python" "$0/scripts/demo-setup.py" "$DOCKHAND_TEST_EMULATOR" "$1"
  # For `make demo-outside`, a deploy from another terminal that the shell reports.
  echo "$DOCKHAND_TEST_EMULATOR" > "$2"
  echo "Try: !status   !deploy hubot v2   !stack hubot   !history hubot   !logs hubot   !rollback hubot   !help"
  echo "And in another terminal: make demo-outside (deploys worker behind the bot: it tells you here)"
  "$0/target/debug/dockhand" shell --config "$1" --user alice --channel ops ${DEMO_LINGER:+--linger "$DEMO_LINGER"}
' "$root" "$config" "$url_file"
