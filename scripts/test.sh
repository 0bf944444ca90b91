#!/usr/bin/env bash
# Runs every test: formatting and lints, the Rust workspace (and a check with the oldest Rust
# the workspace declares), then the compatibility suites that drive the rocketry binary with
# the official Java (Maven Central) and Go clients, and the 5.x gRPC SDKs (Java, Go, Python,
# Node.js) from their registries.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo build"
cargo build --workspace --all-targets --locked

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

echo "== rust-version: the workspace builds with the oldest Rust it declares"
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
if ! command -v rustup >/dev/null; then
    echo "rustup is not installed: cannot check rust-version $msrv" >&2
    exit 1
fi
if rustup toolchain install "$msrv" --profile minimal >/dev/null; then
    CARGO_TARGET_DIR=target/msrv cargo "+$msrv" check --workspace --all-targets --locked
else
    # Only the toolchain's download can fail here (rustup's server, not a package registry):
    # say so loudly rather than stop every other test.
    echo "WARNING: rust-version $msrv NOT CHECKED: rustup could not install that toolchain" >&2
fi

echo "== fuzz smoke (every target in fuzz/, briefly)"
bash scripts/fuzz-smoke.sh

echo "== compatibility suites (official Java and Go clients; the Java 5.x gRPC SDK)"
bash tests/compat/run.sh "$PWD/target/debug/rocketry"

echo "== gRPC SDK suites (official Go, Python and Node.js 5.x SDKs)"
bash tests/compat-grpc/run.sh "$PWD/target/debug/rocketry"

echo "== all tests passed"
