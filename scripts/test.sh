#!/usr/bin/env bash
# Runs every test: the Rust workspace, then the compatibility suites that drive the
# rocketry binary with the official Java (Maven Central) and Go clients.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo build"
cargo build --workspace --all-targets --locked

echo "== cargo test"
cargo test --workspace --locked

echo "== fuzz smoke (every target in fuzz/, briefly)"
bash scripts/fuzz-smoke.sh

echo "== compatibility suites (official Java and Go clients)"
bash tests/compat/run.sh "$PWD/target/debug/rocketry"

echo "== all tests passed"
