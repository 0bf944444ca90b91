#!/usr/bin/env bash
# The RocketMQ 5.x gRPC SDK suites against a rocketry binary's gRPC port, each with its official
# SDK from its registry: Go (golang/v5 v5.1.4, Go module proxy), Python (rocketmq-python-client
# 5.1.2, PyPI), Node.js (rocketmq-client-nodejs 1.0.8, npm). (The Java 5.x SDK's suite is
# GrpcSdkTest in tests/compat/java, one JVM with the remoting suites.)
# Usage: tests/compat-grpc/run.sh /path/to/rocketry
# The three run at once (they mostly wait on long polls; each starts its own brokers on free
# ports); each one's output is printed when all are done. Exits non-zero if any failed.
set -uo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 /path/to/rocketry" >&2
    exit 2
fi
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
here="$(cd "$(dirname "$0")" && pwd)"
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

declare -A pid
for suite in go python node; do
    bash "$here/$suite/run.sh" "$bin" > "$logs/$suite.log" 2>&1 &
    pid[$suite]=$!
done
failed=()
for suite in go python node; do
    rc=0
    wait "${pid[$suite]}" || rc=$?
    echo "==== compat-grpc/$suite (exit $rc)"
    cat "$logs/$suite.log"
    [[ $rc -eq 0 ]] || failed+=("$suite")
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "== compat-grpc: FAIL (${failed[*]})"
    exit 1
fi
echo "== compat-grpc: PASS (go, python, node)"
