#!/usr/bin/env bash
# Compatibility suites: drive a rocketry binary with the official Apache RocketMQ clients.
#   Java: rocketmq-client + rocketmq-tools 5.3.3 (Maven Central), JUnit 5  -> tests/compat/java
#         (with DifferentialTest: the same scenarios against the Java 5.3.3 broker)
#   Go:   github.com/apache/rocketmq-client-go/v2                         -> tests/compat/go
#   C++:  apache/rocketmq-client-cpp 2.2.0 (../shared/clients) and PyPI
#         rocketmq-client-python 2.0.0 on it                               -> tests/compat/cpp
# Usage: tests/compat/run.sh /path/to/rocketry
# Needs JDK 17+, Maven and Go; both fetch their dependencies from their registries.
# Runs both suites (the Go suite also when the Java suite failed) and exits non-zero if either failed.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 /path/to/rocketry" >&2
    exit 2
fi
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
if [[ ! -f "$bin" || ! -x "$bin" ]]; then
    echo "compat: $1 is not an executable file" >&2
    exit 2
fi
for tool in java mvn go; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "compat: '$tool' is not installed (the suites need JDK 17+, Maven and Go)" >&2
        exit 2
    fi
done

here="$(cd "$(dirname "$0")" && pwd)"
export ROCKETRY_BIN="$bin"

# The dashboard's browser test (DashboardTest) drives Debian's Chromium and ChromeDriver.
bash "$here/../../scripts/install-chromium.sh"

# ---- Java
echo "== compat/java: official Java client and admin tools against $bin"
rm -rf "$here/java/target/surefire-reports"
java_rc=0
# The differential tests compare with the Java 5.3.3 broker: its classpath from Maven Central.
java_broker_cp="$here/java/target/java-broker-cp.txt"
mkdir -p "$here/java/target"
(cd "$here/../../bench/compare" && mvn -B -q -Dstyle.color=never dependency:build-classpath -Dmdep.outputFile="$java_broker_cp") || java_rc=$?
(cd "$here/java" && mvn -B -q -Dstyle.color=never test -DrocketryBin="$bin" -DjavaBrokerCp="$java_broker_cp") || java_rc=$?
echo
java_run=0 java_fail=0 java_err=0 java_skip=0
shopt -s nullglob
for f in "$here"/java/target/surefire-reports/*.txt; do
    line="$(grep -m1 '^Tests run:' "$f" || true)"
    [[ -z "$line" ]] && continue
    r="$(sed -E 's/^Tests run: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+), Skipped: ([0-9]+).*/\1 \2 \3 \4/' <<<"$line")"
    read -r a b c d <<<"$r"
    java_run=$((java_run + a)) java_fail=$((java_fail + b)) java_err=$((java_err + c)) java_skip=$((java_skip + d))
done
shopt -u nullglob
java_failed=$((java_fail + java_err))
java_passed=$((java_run - java_failed - java_skip))
if [[ $java_rc -eq 0 && $java_run -gt 0 && $java_failed -eq 0 ]]; then
    java_status=PASS
else
    java_status=FAIL
fi
echo "== compat/java: $java_status ($java_run tests: $java_passed passed, $java_failed failed, $java_skip skipped; mvn exit $java_rc)"

# ---- Go
echo "== compat/go: official Go client against $bin"
go_log="$(mktemp)"
go_rc=0
(cd "$here/go" && go test -count=1 -timeout 4m -v ./...) 2>&1 | tee "$go_log" || go_rc=$?
go_passed="$(grep -c -- '^--- PASS' "$go_log" || true)"
go_failed="$(grep -c -- '^--- FAIL' "$go_log" || true)"
rm -f "$go_log"
if [[ $go_rc -eq 0 && $go_passed -gt 0 && $go_failed -eq 0 ]]; then
    go_status=PASS
else
    go_status=FAIL
fi
echo "== compat/go: $go_status ($go_passed passed, $go_failed failed; go test exit $go_rc)"

# ---- C++ and Python (the C++ client's library)
echo "== compat/cpp: official C++ client 2.2.0 and the Python client on it against $bin"
cpp_log="$(mktemp)"
cpp_rc=0
bash "$here/cpp/run.sh" "$bin" 2>&1 | tee "$cpp_log" || cpp_rc=$?
cpp_passed="$(grep -c -- ' PASSED' "$cpp_log" || true)"
cpp_failed="$(grep -c -- ' FAILED\| ERROR' "$cpp_log" || true)"
if grep -q "compat/cpp: SKIPPED" "$cpp_log"; then
    cpp_status=SKIPPED
elif [[ $cpp_rc -eq 0 && $cpp_passed -gt 0 ]]; then
    cpp_status=PASS
else
    cpp_status=FAIL
fi
rm -f "$cpp_log"
echo "== compat/cpp: $cpp_status ($cpp_passed passed; run.sh exit $cpp_rc)"

echo "== compat summary: java $java_status, go $go_status, cpp $cpp_status"
echo "compat: $((java_passed + go_passed + cpp_passed)) passed, $((java_failed + go_failed + cpp_failed)) failed"
if [[ $java_status != PASS || $go_status != PASS || $cpp_status == FAIL ]]; then
    exit 1
fi
