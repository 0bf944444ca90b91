#!/usr/bin/env bash
# Side by side: rocketry and the Java RocketMQ 5.3.3 broker (from Maven Central) on this
# machine, same disk, ASYNC_FLUSH, a fixed Java heap (JAVA_HEAP), driven by the same load
# generators: `rocketry bench` and a producer on the official Java client (src/main/java).
# Runs alternate A B A B; prints the median of each figure and the ratio rocketry/Java.
#
#   bench/compare/run.sh     RUNS=2 DURATION=10 WARMUP=30 SIZE=1024 CONCURRENCY=64 WIDE=256 JAVA_HEAP=2g PIN=1
#
# ROCKETRY_CONF="key=value;key=value" adds lines to rocketry's broker.conf.
# PIN=1 (with 2+ cores) pins the broker (and the Java NameServer) to core 0 and every load
# generator to core 1 with taskset. Scenarios, per run:
#   startup (start to first stored message), idle RSS, then WARMUP seconds of unmeasured
#   full-speed produce (JIT warm-up; with less than ~30 s the Java broker's first scenario
#   still runs cold and its max rate comes out at under half its steady state), max produce rate into one topic with 8
#   queues (and p99) with CONCURRENCY senders and again with WIDE senders (64 in flight leave
#   a fast broker's core idle part of the time; the maximum is the better of the two), loaded RSS, send latency at fixed 10k and 50k msgs/s (from the intended
#   send time), end-to-end latency at 10k msgs/s, backlog catch-up (drain what max-rate
#   produced), 1,000 topics, the Java client's producer, the Java client's push consumer draining
#   the max-rate topic in a new group; and once per run the trivial sink
#   (`rocketry bench sink`), the loopback ceiling, with CONCURRENCY and with WIDE senders.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
RUNS="${RUNS:-2}" DURATION="${DURATION:-10}" SIZE="${SIZE:-1024}" CONCURRENCY="${CONCURRENCY:-64}" WIDE="${WIDE:-256}" JAVA_HEAP="${JAVA_HEAP:-2g}" PIN="${PIN:-1}" WARMUP="${WARMUP:-30}"
work="$here/work"
rm -rf "$work" && mkdir -p "$work"
source "$here/brokers.sh"
echo "== building rocketry (release) and fetching the Java broker"
bench_setup
bench() { "${on_load[@]}" "$bin" bench "$@"; }


run_one() { # kind run
    local kind=$1 n=$2 dir="$work/$1-$2"; mkdir -p "$dir"
    local ns br; ns=$(free_port); br=$(free_port)
    local t0; t0=$(now_ms)
    "start_$kind" "$dir" "$ns" "$br"
    wait_port "$br"
    local nsaddr="127.0.0.1:$ns" json
    wait_ready "$kind" "$nsaddr" "$dir"
    record "$kind" startup_ms $(( $(now_ms) - t0 ))
    sleep 2
    record "$kind" idle_rss_kb "$(rss_kb "$BROKER_PID")"
    # Warm-up, not measured: the JVM compiles its hot paths in the first seconds.
    bench produce -n "$nsaddr" -t Warmup -s "$SIZE" -c "$CONCURRENCY" -d "$WARMUP" >/dev/null 2>&1
    json=$(bench produce -n "$nsaddr" -t Compare8 --queues 8 -s "$SIZE" -c "$CONCURRENCY" -d "$DURATION" --json 2>/dev/null)
    record "$kind" max_msgs_per_sec "$(field "$json" msgs_per_sec)"
    local backlog; backlog=$(field "$json" msgs)
    record "$kind" max_rate_p99_us "$(field "$json" service_latency_us.p99)"
    json=$(bench produce -n "$nsaddr" -t CompareWide --queues 8 -s "$SIZE" -c "$WIDE" -d "$DURATION" --json 2>/dev/null)
    record "$kind" max_wide_msgs_per_sec "$(field "$json" msgs_per_sec)"
    record "$kind" max_wide_p99_us "$(field "$json" service_latency_us.p99)"
    record "$kind" loaded_rss_kb "$(rss_kb "$BROKER_PID")"
    json=$(bench consume -n "$nsaddr" -t Compare8 -d 60 --json 2>/dev/null)
    record "$kind" catchup_msgs_per_sec "$(field "$json" msgs_per_sec)"
    for rate in 10000 50000; do
        json=$(bench produce -n "$nsaddr" -t Rate8 --queues 8 -s "$SIZE" -c "$CONCURRENCY" -d "$DURATION" --rate $rate --json 2>/dev/null)
        record "$kind" "rate${rate}_achieved" "$(field "$json" msgs_per_sec)"
        record "$kind" "rate${rate}_p99_us" "$(field "$json" latency_us.p99)"
    done
    json=$(bench e2e -n "$nsaddr" -s "$SIZE" -c "$CONCURRENCY" -d "$DURATION" --rate 10000 --json 2>/dev/null)
    record "$kind" e2e10000_p50_us "$(field "$json" e2e_latency_us.p50)"
    record "$kind" e2e10000_p99_us "$(field "$json" e2e_latency_us.p99)"
    json=$(bench produce -n "$nsaddr" -t Many --topics 1000 -s "$SIZE" -c "$CONCURRENCY" -d "$DURATION" --json 2>/dev/null)
    record "$kind" topics1000_msgs_per_sec "$(field "$json" msgs_per_sec)"
    json=$("${on_load[@]}" java -Xmx1g -cp "$here/target/classes:$cp" rocketry.bench.JavaProducer "$nsaddr" JavaClient "$CONCURRENCY" "$DURATION" "$SIZE" 2>/dev/null | tail -1)
    record "$kind" java_client_msgs_per_sec "$(field "$json" msgs_per_sec)"
    record "$kind" java_client_p99_us "$(field "$json" latency_us.p99)"
    # The official Java client's push consumer drains the max-rate topic in a new group.
    json=$("${on_load[@]}" java -Xmx1g -cp "$here/target/classes:$cp" rocketry.bench.JavaConsumer "$nsaddr" Compare8 "$backlog" 120 2>/dev/null | tail -1)
    record "$kind" java_consumer_msgs_per_sec "$(field "$json" msgs_per_sec)"
    stop_brokers
}

sink_one() { # the loopback ceiling: the same load generator against a broker that stores nothing
    local port; port=$(free_port)
    "${on_broker[@]}" "$bin" bench sink -p "$port" 2>/dev/null &
    local pid=$!
    wait_port "$port"
    local json; json=$(bench produce --broker "127.0.0.1:$port" -s "$SIZE" -c "$CONCURRENCY" -d "$DURATION" --json 2>/dev/null)
    record sink max_msgs_per_sec "$(field "$json" msgs_per_sec)"
    json=$(bench produce --broker "127.0.0.1:$port" -s "$SIZE" -c "$WIDE" -d "$DURATION" --json 2>/dev/null)
    record sink max_wide_msgs_per_sec "$(field "$json" msgs_per_sec)"
    kill $pid; wait $pid 2>/dev/null || true
}

echo "== $RUNS runs each, alternating; ${SIZE} B messages, $CONCURRENCY senders ($WIDE for the wide max rate), ${DURATION} s per scenario; Java heap $JAVA_HEAP; pinned: ${on_broker[*]:-no}"
for i in $(seq 1 "$RUNS"); do
    run_one rocketry "$i"
    run_one java "$i"
    sink_one
done

python3 - "$work/results" <<'PY'
import collections, statistics, sys
vals = collections.defaultdict(list)
order = []
for line in open(sys.argv[1]):
    kind, metric, value = line.split()
    vals[(kind, metric)].append(float(value))
    if metric not in order:
        order.append(metric)
med = {k: statistics.median(v) for k, v in vals.items()}
print("\n| figure (median) | rocketry | Java 5.3.3 | rocketry/Java |\n|---|---|---|---|")
for m in order:
    r, j = med.get(("rocketry", m)), med.get(("java", m))
    if r is None or j is None:
        continue
    print(f"| {m} | {r:,.0f} | {j:,.0f} | {r / j:.2f} |" if j else f"| {m} | {r:,.0f} | {j:,.0f} | - |")
best = lambda kind: max(med.get((kind, "max_msgs_per_sec"), 0), med.get((kind, "max_wide_msgs_per_sec"), 0))
if best("java"):
    print(f"\nmax produce, the better of both concurrencies: rocketry {best('rocketry'):,.0f}, Java {best('java'):,.0f}, ratio {best('rocketry') / best('java'):.2f}")
s = med.get(("sink", "max_msgs_per_sec"))
if s:
    r = med[("rocketry", "max_msgs_per_sec")]
    print(f"trivial sink (loopback ceiling): {s:,.0f} msgs/s; rocketry reaches {r / s:.0%} of it with the same senders")
    sw = med.get(("sink", "max_wide_msgs_per_sec"))
    if sw:
        rw = med[("rocketry", "max_wide_msgs_per_sec")]
        print(f"  wide: sink {sw:,.0f}, rocketry {rw:,.0f} ({rw / sw:.0%}); better of both: {best('rocketry') / best('sink'):.0%}")
PY
