#!/usr/bin/env bash
# `make demo`: the emulator, the demo stacks, and the shell pointed at them.
# The emulator stops when the shell exits.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
config=$(mktemp --suffix=.toml)
trap 'rm -f "$config"' EXIT
"$root/scripts/with-emulator.sh" bash -c '
  "$0/emulator/.venv/bin/python" "$0/scripts/demo-setup.py" "$DOCKHAND_TEST_EMULATOR" "$1"
  echo "Try: !status   !deploy hubot v2   !stack hubot   !history hubot   !rollback hubot   !help"
  "$0/target/debug/dockhand" shell --config "$1" --user alice --channel ops
' "$root" "$config"
