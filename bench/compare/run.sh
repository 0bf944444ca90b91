#!/usr/bin/env bash
# Side by side: rocketry and the Java RocketMQ 5.3.3 broker (from Maven Central) on this
# machine, same disk, ASYNC_FLUSH, driven by the same load generator (`rocketry bench`).
# Runs alternate A B A B; prints the median of each figure and the ratio rocketry/Java.
#
#   bench/compare/run.sh            RUNS=3 DURATION=10 SIZE=1024 CONCURRENCY=64 JAVA_HEAP=2g
#
# First version: startup time, idle and loaded RSS, and maximum produce rate into one topic
# with 8 queues. Still to come (see the performance issue): fixed-rate latency, end-to-end
# latency, backlog catch-up, 1,000 topics, Java's own benchmark tools, core pinning, the sink.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
RUNS="${RUNS:-3}" DURATION="${DURATION:-10}" SIZE="${SIZE:-1024}" CONCURRENCY="${CONCURRENCY:-64}" JAVA_HEAP="${JAVA_HEAP:-2g}"
work="$here/work"
rm -rf "$work" && mkdir -p "$work"

echo "== building rocketry (release) and fetching the Java broker"
(cd "$root" && cargo build --release -q -p rocketry)
bin="$root/target/release/rocketry"
(cd "$here" && mvn -q -B dependency:build-classpath -Dmdep.outputFile=cp.txt)
cp="$(cat "$here/cp.txt")"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { local end=$((SECONDS+60)); until (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null; do [ $SECONDS -lt $end ] || return 1; sleep 0.01; done; }
rss_kb() { awk '/VmRSS/ {print $2}' /proc/$1/status; }
now_ms() { date +%s%3N; }

# start_<kind> DIR NS_PORT BROKER_PORT: sets PIDS (all processes) and BROKER_PID
start_rocketry() {
    echo "diskCapacityBytes=1099511627776" > "$1/broker.conf"
    "$bin" standalone --data-dir "$1/data" --namesrv-port "$2" --broker-port "$3" -c "$1/broker.conf" > "$1/log" 2>&1 &
    BROKER_PID=$!; PIDS="$BROKER_PID"
}
start_java() {
    mkdir -p "$1/home/conf"
    printf 'listenPort=%s\n' "$2" > "$1/namesrv.conf"
    printf '%s\n' "brokerClusterName=DefaultCluster" "brokerName=broker-a" "brokerId=0" "listenPort=$3" \
        "namesrvAddr=127.0.0.1:$2" "storePathRootDir=$1/store" "storePathCommitLog=$1/store/commitlog" \
        "brokerIP1=127.0.0.1" "autoCreateTopicEnable=true" "flushDiskType=ASYNC_FLUSH" "diskMaxUsedSpaceRatio=99" > "$1/broker.conf"
    local jvm=(-Xms"$JAVA_HEAP" -Xmx"$JAVA_HEAP" -Duser.home="$1/home" -Drocketmq.home.dir="$1/home" -cp "$cp")
    ROCKETMQ_HOME="$1/home" java "${jvm[@]}" org.apache.rocketmq.namesrv.NamesrvStartup -c "$1/namesrv.conf" > "$1/ns.log" 2>&1 &
    local ns=$!
    wait_port "$2"
    ROCKETMQ_HOME="$1/home" java "${jvm[@]}" org.apache.rocketmq.broker.BrokerStartup -c "$1/broker.conf" > "$1/broker.log" 2>&1 &
    BROKER_PID=$!; PIDS="$ns $BROKER_PID"
}

run_one() { # kind run -> appends "kind startup_ms idle_rss_kb msgs_per_sec p99_us loaded_rss_kb" to results
    local kind=$1 n=$2 dir="$work/$1-$2"; mkdir -p "$dir"
    local ns br; ns=$(free_port); br=$(free_port)
    local t0; t0=$(now_ms)
    "start_$kind" "$dir" "$ns" "$br"
    wait_port "$br"
    # Ready = a send succeeds (the broker has registered and can store).
    local end=$((SECONDS+120))
    until "$bin" bench produce -n "127.0.0.1:$ns" -t Warmup -d 0 -c 1 >/dev/null 2>&1; do
        if [ $SECONDS -ge $end ]; then echo "$kind did not become ready; logs in $dir" >&2; kill $PIDS; exit 1; fi
        sleep 0.05
    done
    local startup=$(( $(now_ms) - t0 ))
    sleep 2
    local idle; idle=$(rss_kb "$BROKER_PID")
    local json; json=$("$bin" bench produce -n "127.0.0.1:$ns" -t "Compare8" --queues 8 -s "$SIZE" -c "$CONCURRENCY" -d "$DURATION" --json 2>/dev/null)
    local loaded; loaded=$(rss_kb "$BROKER_PID")
    kill $PIDS 2>/dev/null || true; wait $PIDS 2>/dev/null || true
    local tps p99
    tps=$(python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["msgs_per_sec"]))' "$json")
    p99=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["latency_us"]["p99"])' "$json")
    echo "$kind $startup $idle $tps $p99 $loaded" | tee -a "$work/results"
}

echo "== $RUNS runs each, alternating; ${SIZE} B messages, $CONCURRENCY senders, ${DURATION} s; Java heap $JAVA_HEAP"
echo "kind startup_ms idle_rss_kb msgs_per_sec p99_us loaded_rss_kb"
for i in $(seq 1 "$RUNS"); do
    run_one rocketry "$i"
    run_one java "$i"
done

python3 - "$work/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
cols = ["startup_ms", "idle_rss_kb", "msgs_per_sec", "p99_us", "loaded_rss_kb"]
med = {k: [statistics.median(float(r[i + 1]) for r in rows if r[0] == k) for i in range(len(cols))] for k in ("rocketry", "java")}
print("\n| figure | rocketry | Java 5.3.3 | rocketry/Java |\n|---|---|---|---|")
for i, c in enumerate(cols):
    r, j = med["rocketry"][i], med["java"][i]
    print(f"| {c} | {r:,.0f} | {j:,.0f} | {r / j:.2f} |")
PY
