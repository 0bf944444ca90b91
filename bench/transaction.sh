#!/usr/bin/env bash
# Transactional messages, rocketry beside the Java RocketMQ 5.3.3 broker (as bench/compare runs
# it; both with transactionTimeOut=1000, transactionCheckInterval=1000 and transactionCheckMax=1000,
# so check-backs start a second after a half message is stored and none is given up). Each run,
# after WARMUP seconds of plain sends (JIT warm-up), DURATION seconds each of:
#   - `rocketry bench produce --transactional`: half send, then END_TRANSACTION commit, awaited
#     (CONCURRENCY senders, 8 queues); and a plain `rocketry bench produce` of the same shape;
#   - the Java client's TransactionMQProducer (CONCURRENCY threads calling sendMessageInTransaction:
#     half send, local transaction COMMIT, oneway END_TRANSACTION); and its plain DefaultMQProducer;
#   - check-back: CHECKBACK messages sent by a Java producer whose local transaction answers
#     UNKNOW, then a second producer of the group whose checker answers COMMIT; the time until a
#     reader of the topic has seen each of them (and how many records the topic got for them).
# Broker CPU per message is read from /proc (utime + stime) around each timed scenario.
# Runs alternate rocketry / Java; prints the median of each figure and the ratio rocketry/Java.
#
#   bench/transaction.sh     RUNS=2 DURATION=10 WARMUP=20 SIZE=1024 CONCURRENCY=64 CHECKBACK=100000 JAVA_HEAP=2g PIN=1
set -euo pipefail
here="$(cd "$(dirname "$0")/compare" && pwd)"
root="$(cd "$here/../.." && pwd)"
RUNS="${RUNS:-2}" DURATION="${DURATION:-10}" WARMUP="${WARMUP:-20}" SIZE="${SIZE:-1024}" CONCURRENCY="${CONCURRENCY:-64}"
CHECKBACK="${CHECKBACK:-100000}" JAVA_HEAP="${JAVA_HEAP:-2g}" PIN="${PIN:-1}"
work="$root/bench/transaction-work"
rm -rf "$work" && mkdir -p "$work"
source "$here/brokers.sh"
bench_setup
tx_conf="transactionTimeOut=1000;transactionCheckInterval=1000;transactionCheckMax=1000"
ROCKETRY_CONF="$tx_conf${ROCKETRY_CONF:+;$ROCKETRY_CONF}"
JAVA_CONF="$tx_conf${JAVA_CONF:+;$JAVA_CONF}"
java_bench() { "${on_load[@]}" java -Xmx1g -cp "$here/target/classes:$cp" "$@" 2>/dev/null | tail -1; }

run_one() { # kind run
    local kind=$1 n=$2 dir="$work/$1-$2"; mkdir -p "$dir"
    start_broker "$kind" "$dir"
    local nsaddr=$NSADDR json t0 msgs
    # Topics with 8 queues (one plain message each; the Java load generators count from there).
    for t in TxRust PlainRust TxJava PlainJava CheckBack; do
        "$bin" bench produce -n "$nsaddr" -t "$t" --queues 8 -s "$SIZE" -c 1 -d 0 >/dev/null 2>&1
    done
    "${on_load[@]}" "$bin" bench produce -n "$nsaddr" -t Warmup -s "$SIZE" -c "$CONCURRENCY" -d "$WARMUP" >/dev/null 2>&1
    "${on_load[@]}" "$bin" bench produce -n "$nsaddr" -t TxRust --transactional -s "$SIZE" -c "$CONCURRENCY" -d 5 >/dev/null 2>&1

    t0=$(cpu_ticks)
    json=$("${on_load[@]}" "$bin" bench produce -n "$nsaddr" -t TxRust --transactional -s "$SIZE" -c "$CONCURRENCY" -d "$DURATION" --json 2>/dev/null)
    msgs=$(field "$json" msgs)
    record "$kind" rust_tx_msgs_per_sec "$(field "$json" msgs_per_sec)"
    record "$kind" rust_tx_p50_us "$(field "$json" service_latency_us.p50)"
    record "$kind" rust_tx_p99_us "$(field "$json" service_latency_us.p99)"
    record "$kind" rust_commit_p50_us "$(field "$json" end_latency_us.p50)"
    record "$kind" rust_commit_p99_us "$(field "$json" end_latency_us.p99)"
    record "$kind" rust_tx_errors "$(field "$json" errors)"
    record_cpu "$kind" rust_tx_cpu_us_per_msg "$t0" "$msgs"

    t0=$(cpu_ticks)
    json=$("${on_load[@]}" "$bin" bench produce -n "$nsaddr" -t PlainRust -s "$SIZE" -c "$CONCURRENCY" -d "$DURATION" --json 2>/dev/null)
    msgs=$(field "$json" msgs)
    record "$kind" rust_plain_msgs_per_sec "$(field "$json" msgs_per_sec)"
    record "$kind" rust_plain_p50_us "$(field "$json" service_latency_us.p50)"
    record "$kind" rust_plain_p99_us "$(field "$json" service_latency_us.p99)"
    record_cpu "$kind" rust_plain_cpu_us_per_msg "$t0" "$msgs"

    java_bench rocketry.bench.JavaTransaction send "$nsaddr" TxJava "$CONCURRENCY" 5 "$SIZE" >/dev/null # JIT warm-up
    t0=$(cpu_ticks)
    json=$(java_bench rocketry.bench.JavaTransaction send "$nsaddr" TxJava "$CONCURRENCY" "$DURATION" "$SIZE")
    msgs=$(field "$json" msgs)
    record "$kind" java_tx_msgs_per_sec "$(field "$json" msgs_per_sec)"
    record "$kind" java_tx_p50_us "$(field "$json" latency_us.p50)"
    record "$kind" java_tx_p99_us "$(field "$json" latency_us.p99)"
    # In the topic minus sent: below 0 a commit was lost, above 0 a message was committed twice.
    record "$kind" java_tx_topic_minus_sent "$(( $(field "$json" committed) - msgs ))"
    record_cpu "$kind" java_tx_cpu_us_per_msg "$t0" "$msgs"

    t0=$(cpu_ticks)
    json=$(java_bench rocketry.bench.JavaProducer "$nsaddr" PlainJava "$CONCURRENCY" "$DURATION" "$SIZE")
    msgs=$(field "$json" msgs)
    record "$kind" java_plain_msgs_per_sec "$(field "$json" msgs_per_sec)"
    record "$kind" java_plain_p50_us "$(field "$json" latency_us.p50)"
    record "$kind" java_plain_p99_us "$(field "$json" latency_us.p99)"
    record_cpu "$kind" java_plain_cpu_us_per_msg "$t0" "$msgs"

    json=$(java_bench rocketry.bench.JavaTransaction checkback "$nsaddr" CheckBack "$CONCURRENCY" "$CHECKBACK" "$SIZE" 300)
    echo "$kind checkback: $json" >> "$work/checkback.log"
    record "$kind" checkback_half_send_msgs_per_sec "$(field "$json" send_msgs_per_sec)"
    record "$kind" checkback_committed "$(field "$json" committed)"
    record "$kind" checkback_stored_in_topic "$(field "$json" stored_in_topic)"
    record "$kind" checkback_first_commit_ms "$(python3 -c "import json,sys; print(round(json.loads(sys.argv[1])['first_commit_seconds'] * 1000))" "$json")"
    record "$kind" checkback_all_ms "$(python3 -c "import json,sys; print(round(json.loads(sys.argv[1])['seconds'] * 1000))" "$json")"
    record "$kind" checkback_msgs_per_sec "$(field "$json" msgs_per_sec)"
    stop_brokers
    rm -rf "$dir/data" "$dir/store" # keep the logs, not the stores
}

echo "== $RUNS runs each, alternating; ${SIZE} B messages, $CONCURRENCY senders, ${DURATION} s per scenario, $CHECKBACK check-backs; Java heap $JAVA_HEAP; pinned: ${on_broker[*]:-no}"
for i in $(seq 1 "$RUNS"); do
    run_one rocketry "$i"
    run_one java "$i"
done
print_medians rust_tx_msgs_per_sec/rust_plain_msgs_per_sec java_tx_msgs_per_sec/java_plain_msgs_per_sec rust_commit_p50_us/rust_plain_p50_us rust_commit_p99_us/rust_plain_p99_us
