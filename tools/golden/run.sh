#!/usr/bin/env bash
# Regenerates the golden fixtures in crates/protocol/tests/golden/ from the real
# Apache RocketMQ 5.3.3 Java classes. Needs JDK 17+ and Maven (dependencies come
# from Maven Central). Output is deterministic; re-running must not change any file.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/crates/protocol/tests/golden"
mkdir -p "$out"
cd "$here"
mvn -B -q clean compile exec:java -Dexec.args="$out"
