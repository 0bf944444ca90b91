#!/usr/bin/env bash
# Runs the RocketMQ 5.x gRPC compatibility suite (official Go SDK v5) against a rocketry binary,
# twice: over plaintext, then over TLS (COMPAT_GRPC_TLS=1: the SDK's default, which trusts any
# certificate, here the broker's self-signed one). About 75 s each.
# Usage: tests/compat-grpc/go/run.sh /path/to/rocketry
set -euo pipefail
if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 /path/to/rocketry" >&2
    exit 2
fi
bin=$1
if [ ! -x "$bin" ] || [ -d "$bin" ]; then
    echo "$0: $bin is not an executable file" >&2
    exit 2
fi
ROCKETRY_BIN=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
export ROCKETRY_BIN
cd "$(dirname "$0")"
# go downloads the modules (go.sum pins them) from the Go module proxy itself.
failed=()
for mode in plaintext tls; do
    echo "== compat-grpc/go: $mode"
    rc=0
    COMPAT_GRPC_TLS=$([ "$mode" = tls ] && echo 1 || echo 0) go test -count=1 -timeout 5m -v ./... || rc=$?
    [ "$rc" -eq 0 ] || failed+=("$mode")
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "== compat-grpc/go: FAIL (${failed[*]})"
    exit 1
fi
echo "== compat-grpc/go: PASS (plaintext, tls)"
