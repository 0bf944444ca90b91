#!/usr/bin/env bash
# Runs the compatibility suites against a rocketry binary: the official Java client and
# tools (Maven Central) and the official Go client (Go module proxy). Each suite starts
# its own rocketry processes on free loopback ports with fresh data dirs.
set -euo pipefail
bin="${1:?usage: compat/run.sh /path/to/rocketry}"
here="$(cd "$(dirname "$0")" && pwd)"

echo "-- Java (rocketmq-client and rocketmq-tools 5.3.3)"
if ! (cd "$here/java" && mvn -B -q test -DrocketryBin="$bin"); then
    echo "Java compatibility suite FAILED; reports in compat/java/target/surefire-reports" >&2
    cat "$here"/java/target/surefire-reports/*.txt >&2 || true
    exit 1
fi
cat "$here"/java/target/surefire-reports/*.txt | grep "Tests run" || true

echo "-- Go (rocketmq-client-go/v2)"
(cd "$here/go" && ROCKETRY_BIN="$bin" go test -count=1 -v ./...)
echo "compatibility suites passed"
