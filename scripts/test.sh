#!/usr/bin/env bash
# `make test`: every test, with one emulator for the whole run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/emulator/start" --install-only
echo "== cfn-lint deploy/*.yaml"
emulator/.venv/bin/cfn-lint deploy/*.yaml
echo "== emulator self-test"
emulator/.venv/bin/python emulator/selftest.py
echo "== cargo test (one emulator for every test binary)"
scripts/with-emulator.sh cargo test --all-targets
