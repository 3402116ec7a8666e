# dockhand: the two commands that matter are `make demo` and `make test`.
.PHONY: build demo demo-outside test bench emulator check fmt static image

# The test build itself (`cargo test --all-targets --no-run`), whose target/debug/dockhand
# the demo runs: the dev-dependencies turn on features (tokio's test-util, axum's ws)
# that a plain `cargo build` lacks, so `make demo` after `make test`, or the other way
# round, recompiles no dependency. The image's binary is `make static`'s, without them.
build:
	cargo test --all-targets --no-run

# The shell, against a local AWS emulator with a cluster stack and a `hubot` app stack
# that `dockhand stack up` creates (scripts/demo.sh prints the commands as they run).
demo: build
	scripts/demo.sh

# While `make demo` runs, from another terminal: deploys the demo's worker straight
# through the ECS API, as a pipeline would; the demo's shell reports it.
demo-outside:
	emulator/.venv/bin/python scripts/demo-outside.py

# Every test: Rust unit and integration tests against one emulator, the emulator's
# own self-test, and cfn-lint over the templates.
test:
	scripts/test.sh

# Dispatch micro-benchmarks, shell throughput, memory and first reply, `status` of 50
# and 500 apps, one deploy's watch per deployment strategy, AWS calls per poll for
# 1-50 watches at once, a one-person flood and notifications (queue to post, a
# burst, idle polling) against the emulator, and Slack's per-channel pacing (a burst
# in one channel, an answer in another). Figures are recorded in BENCHMARKS.md.
bench:
	cargo bench --bench dispatch
	cargo build --release
	python3 scripts/bench-shell.py target/release/dockhand 1000000
	scripts/with-emulator.sh cargo run --release --quiet --example status_bench
	scripts/with-emulator.sh cargo run --release --quiet --example watch_bench
	scripts/with-emulator.sh cargo run --release --quiet --example poll_bench
	scripts/with-emulator.sh cargo run --release --quiet --example flood_bench
	scripts/with-emulator.sh cargo run --release --quiet --example notify_bench
	scripts/with-emulator.sh cargo run --release --quiet --example logs_bench
	scripts/with-emulator.sh cargo run --release --quiet --example state_bench
	scripts/with-emulator.sh cargo run --release --quiet --example slack_pacing

# The emulator in the foreground (Ctrl-C stops it).
emulator:
	emulator/start --port 4566

check: build
	target/debug/dockhand check --config dockhand.example.toml

fmt:
	cargo fmt --all

# The image's binary, built with the very command of the Dockerfile's build stage
# (scripts/image-check.sh holds them equal), staged with CA certificates for `image`.
static:
	RUSTFLAGS="-C target-feature=+crt-static" cargo build --profile image --locked --target x86_64-unknown-linux-gnu
	mkdir -p target/image-root/etc/ssl/certs
	cp target/x86_64-unknown-linux-gnu/image/dockhand target/image-root/dockhand
	cp /etc/ssl/certs/ca-certificates.crt target/image-root/etc/ssl/certs/

# The Dockerfile's final stage with buildah (no Docker engine needed), from `static`,
# then checked: runs, non-root, health check, size.
image: static
	buildah --storage-driver vfs bud --isolation chroot --format docker \
		--build-arg BINARY=prebuilt -t localhost/dockhand:dev .
	scripts/image-check.sh localhost/dockhand:dev
