#!/usr/bin/env bash
# `make image`'s check of the image it built: the binary runs in it (static, no libc
# in the image), as the non-root user, with the catalogue and the health check; and
# its size, uncompressed and as a registry stores it (gzip layers).
set -euo pipefail
image=${1:-localhost/dockhand:dev}
b() { buildah --storage-driver vfs "$@"; }
cd "$(dirname "$0")/.."

# The Dockerfile's build stage and `make static` must build the binary the same way.
cmd=$(make -s -n --no-print-directory static | sed -n 1p)
grep -qF "$cmd" Dockerfile || { echo "image: the Dockerfile does not build with \`$cmd\` (make static)"; exit 1; }

ctr=$(b from "$image")
trap 'b rm "$ctr" >/dev/null' EXIT
run() { b run --isolation chroot "$ctr" -- "$@"; }

user=$(b inspect --format '{{.Docker.Config.User}}' "$image")
[ "$user" = "65532:65532" ] || { echo "image: runs as '$user', not 65532:65532"; exit 1; }
b inspect --format '{{.Docker.Config.Healthcheck.Test}}' "$image" | grep 'dockhand healthcheck' >/dev/null \
  || { echo "image: no HEALTHCHECK running dockhand healthcheck"; exit 1; }
run /dockhand --version
run /dockhand check | grep '^ok: ' >/dev/null || { echo "image: dockhand check failed in the image"; exit 1; }
# Nothing listens in this container: the health check must say unhealthy, not crash.
if run /dockhand healthcheck 2>/dev/null; then echo "image: healthcheck passed with no bot running"; exit 1; fi

mnt=$(b mount "$ctr")
bytes=$(du -sb "$mnt" | cut -f1)
gz=$(tar -C "$mnt" -cf - . | gzip -9 | wc -c)
b umount "$ctr" >/dev/null
awk -v i="$image" -v b="$bytes" -v g="$gz" \
  'BEGIN { printf "image %s: %.1f MB uncompressed, %.1f MB compressed (gzip -9 of its files)\n", i, b / 1e6, g / 1e6 }'
# The target: 25 MB, met even uncompressed.
limit=25000000
[ "$bytes" -le "$limit" ] || { echo "image: over 25 MB uncompressed"; exit 1; }
