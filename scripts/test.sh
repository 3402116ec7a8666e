#!/usr/bin/env bash
# `make test`: every test, with one emulator for the whole run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/emulator/start" --install-only
echo "== cargo fmt --check and clippy (warnings are errors)"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
echo "== cfn-lint on the CloudFormation templates in deploy/"
# deploy/ also holds the Slack app manifest, which is not a template.
emulator/.venv/bin/cfn-lint $(grep -l AWSTemplateFormatVersion deploy/*.yaml)
echo "== deploy/dockhand.yaml: least privilege, secrets, and a create + self-deploy in the emulator"
emulator/.venv/bin/python emulator/check_dockhand_template.py --start
echo "== emulator self-test"
emulator/.venv/bin/python emulator/selftest.py
echo "== cargo test (one emulator for every test binary)"
scripts/with-emulator.sh cargo test --all-targets

# The image (a release build with fat LTO, minutes): in CI, or when asked.
if [ "${DOCKHAND_TEST_IMAGE:-0}" = 1 ]; then
  if command -v buildah >/dev/null; then
    echo "== make image: the Dockerfile's final stage with buildah, then checked"
    make image
  else
    echo "== SKIPPED make image: buildah is not installed (apt-get install buildah)"
  fi
fi
