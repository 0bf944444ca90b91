#!/usr/bin/env bash
# A short run of every fuzz target in fuzz/ (FUZZ_SECONDS each, default 20), as part of the
# test command. Needs rustup's nightly toolchain; installs cargo-fuzz from crates.io when it
# is missing. Longer runs: cargo +nightly fuzz run <target> -- -max_total_time=600 (fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-20}"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz smoke: rustup has no nightly toolchain (cargo-fuzz needs it): rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked --version 0.13.2
fi
cd fuzz
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for target in $(cargo +nightly fuzz list); do
    echo "== fuzz $target for ${secs}s"
    status=0
    cargo +nightly fuzz run "$target" -- -max_total_time="$secs" -rss_limit_mb=2048 >"$log" 2>&1 || status=$?
    grep -E "^(Done [0-9]+ runs|==[0-9]+==|SUMMARY|thread '.*' panicked|Test unit written|error)" "$log" || true
    if [[ $status -ne 0 ]]; then
        tail -40 "$log" >&2
        echo "fuzz smoke: $target failed (exit $status); a crash input is under fuzz/artifacts/$target" >&2
        exit 1
    fi
done
echo "== fuzz smoke passed"
