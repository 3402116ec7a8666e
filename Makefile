# dockhand: the two commands that matter are `make demo` and `make test`.
.PHONY: build demo test bench emulator check fmt

build:
	cargo build

# The shell, against a local AWS emulator with a cluster stack and a `hubot` app stack.
demo: build
	scripts/demo.sh

# Every test: Rust unit and integration tests against one emulator, the emulator's
# own self-test, and cfn-lint over the templates.
test:
	scripts/test.sh

# Dispatch micro-benchmarks, shell throughput and memory, and `status` of 50 apps
# against the emulator. Figures are recorded in BENCHMARKS.md.
bench:
	cargo bench --bench dispatch
	cargo build --release
	python3 scripts/bench-shell.py target/release/dockhand 1000000
	scripts/with-emulator.sh cargo run --release --quiet --example status_bench

# The emulator in the foreground (Ctrl-C stops it).
emulator:
	emulator/start --port 4566

check: build
	target/debug/dockhand check --config dockhand.example.toml

fmt:
	cargo fmt --all
