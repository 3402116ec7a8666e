#!/usr/bin/env bash
# `make demo`: the emulator, the demo's stacks made by `dockhand stack up` (printed
# as you would type them against AWS), and the shell pointed at them.
# The emulator stops when the shell exits.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" != --with-emulator ]; then
  exec "$root/scripts/with-emulator.sh" "$0" --with-emulator
fi
# From here on the AWS SDK's variables point at the emulator (scripts/with-emulator.sh).
cd "$root"
python="$root/emulator/.venv/bin/python"
url_file="$root/target/demo-emulator-url"
config=$(mktemp --suffix=.toml)
trap 'rm -f "$config" "$url_file"' EXIT
dockhand() { "$root/target/debug/dockhand" "$@"; }
# Prints a command, then runs it.
run() { printf '$ %s\n' "$*"; "$@"; }

# The demo's config, read by `stack up` ([aws], [watch]) and by the shell; it also
# makes the notifications queue the shell long-polls.
"$python" scripts/demo-setup.py config "$DOCKHAND_TEST_EMULATOR" "$config" demo
export DOCKHAND_CONFIG="$config"
echo "demo: config in $config (DOCKHAND_CONFIG), AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL (the emulator)"

# The seeds' two stacks: the cluster, then an app on it. `--parent cluster` fills the
# app's ClusterName, LogGroupName, SubnetIds and SecurityGroupId from the cluster
# stack's outputs of the same names.
run dockhand stack up --stack cluster --template deploy/cluster.yaml --param ClusterName=demo
run dockhand stack up --stack hubot --template deploy/service.yaml --parent cluster \
  --param ServiceName=hubot --param Image=public.ecr.aws/example/hubot --param Version=v1

# A service-managed app has no stack: made through the ECS API.
"$python" scripts/demo-setup.py worker "$DOCKHAND_TEST_EMULATOR" cluster
# For `make demo-outside`, a deploy from another terminal that the shell reports.
mkdir -p "$root/target"
echo "$DOCKHAND_TEST_EMULATOR" >"$url_file"

echo "Try: !status   !deploy hubot v2   !stack hubot   !history hubot   !logs hubot   !rollback hubot   !help"
echo "And in another terminal: make demo-outside (deploys worker behind the bot: it tells you here)"
run dockhand shell --user alice --channel ops ${DEMO_LINGER:+--linger "$DEMO_LINGER"}
