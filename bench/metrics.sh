#!/usr/bin/env bash
# Metrics' cost and a scrape's: rocketry's produce throughput with metrics off (no exporter,
# no dashboard: nothing records) against on (metricsExporterType=PROM, scraped every second
# during the measurement as Prometheus would), then the time of one scrape with TOPICS topics
# that have stored messages and GROUP_COUNT consumer groups that consumed (subscription groups,
# committed offsets and messages-out series).
# Each throughput run: WARMUP seconds of sends, then DURATION seconds measured (CONCURRENCY
# senders, SIZE-byte messages, 8 queues); broker CPU per message from /proc. Runs alternate
# off / on; prints the median of each figure.
#
#   bench/metrics.sh     RUNS=3 DURATION=10 WARMUP=3 SIZE=1024 CONCURRENCY=64 TOPICS=10000 GROUP_COUNT=1000 PIN=1
set -euo pipefail
here="$(cd "$(dirname "$0")/compare" && pwd)"
root="$(cd "$here/../.." && pwd)"
RUNS="${RUNS:-3}" DURATION="${DURATION:-10}" WARMUP="${WARMUP:-3}" SIZE="${SIZE:-1024}" CONCURRENCY="${CONCURRENCY:-64}"
TOPICS="${TOPICS:-10000}" GROUP_COUNT="${GROUP_COUNT:-1000}" PIN="${PIN:-1}" JAVA_HEAP="${JAVA_HEAP:-2g}"
work="$root/bench/metrics-work"
rm -rf "$work" && mkdir -p "$work"
source "$here/brokers.sh"
bench_setup

measure() { # mode, with NSADDR set and the broker running
    local mode=$1 json t0 msgs scraper=""
    "$bin" bench produce -n "$NSADDR" -t BenchMetrics --queues 8 -s "$SIZE" -c 1 -d 0 >/dev/null
    "${on_load[@]}" "$bin" bench produce -n "$NSADDR" -t BenchMetrics -s "$SIZE" -c "$CONCURRENCY" -d "$WARMUP" >/dev/null 2>&1
    if [[ $mode == on ]]; then
        (while true; do curl -s -o /dev/null "http://127.0.0.1:$PROM_PORT/metrics"; sleep 1; done) &
        scraper=$!
    fi
    t0=$(cpu_ticks)
    json=$("${on_load[@]}" "$bin" bench produce -n "$NSADDR" -t BenchMetrics -s "$SIZE" -c "$CONCURRENCY" -d "$DURATION" --json 2>"$work/$mode.err")
    [[ -n $scraper ]] && kill "$scraper" && wait "$scraper" 2>/dev/null || true
    msgs=$(field "$json" msgs)
    record rocketry "metrics_${mode}_msgs_per_sec" "$(field "$json" msgs_per_sec)"
    record rocketry "metrics_${mode}_p50_us" "$(field "$json" service_latency_us.p50)"
    record rocketry "metrics_${mode}_p99_us" "$(field "$json" service_latency_us.p99)"
    record_cpu rocketry "metrics_${mode}_cpu_us_per_msg" "$t0" "$msgs"
}

run_one() { # run
    local n=$1 dir
    for mode in off on; do
        dir="$work/$n-$mode"; mkdir -p "$dir"
        PROM_PORT=$(free_port)
        if [[ $mode == on ]]; then
            ROCKETRY_CONF="metricsExporterType=PROM;metricsPromExporterPort=$PROM_PORT;dashboardEnable=false" start_broker rocketry "$dir"
        else
            ROCKETRY_CONF="dashboardEnable=false" start_broker rocketry "$dir"
        fi
        measure "$mode"
        stop_brokers
        rm -rf "$dir/data"
    done
}

# TOPICS topics (1 queue each, Scrape_0 …) and GROUP_COUNT subscription groups (ScrapeG_0 …) in the
# broker's config files before it starts.
scrape_setup() { # dir
    mkdir -p "$1/data/config"
    python3 - "$1/data/config" "$TOPICS" "$GROUP_COUNT" <<'PY'
import json, sys
d, topics, groups = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t = {f"Scrape_{i}": {"topicName": f"Scrape_{i}", "readQueueNums": 1, "writeQueueNums": 1, "perm": 6, "topicFilterType": "SINGLE_TAG",
                     "topicSysFlag": 0, "order": False, "attributes": {}} for i in range(topics)}
json.dump({"topicConfigTable": t, "dataVersion": {"stateVersion": 0, "timestamp": 0, "counter": 1}}, open(f"{d}/topics.json", "w"))
g = {f"ScrapeG_{i}": {"groupName": f"ScrapeG_{i}", "consumeEnable": True, "consumeFromMinEnable": True, "consumeBroadcastEnable": True,
                      "consumeMessageOrderly": False, "retryQueueNums": 1, "retryMaxTimes": 16, "brokerId": 0, "whichBrokerWhenConsumeSlowly": 1,
                      "notifyConsumerIdsChangedEnable": True, "groupSysFlag": 0, "consumeTimeoutMinute": 15, "attributes": {}} for i in range(groups)}
json.dump({"subscriptionGroupTable": g, "dataVersion": {"stateVersion": 0, "timestamp": 0, "counter": 1}}, open(f"{d}/subscriptionGroup.json", "w"))
PY
}

scrape() {
    local dir="$work/scrape" t i
    mkdir -p "$dir"
    scrape_setup "$dir"
    PROM_PORT=$(free_port)
    ROCKETRY_CONF="metricsExporterType=PROM;metricsPromExporterPort=$PROM_PORT;dashboardEnable=false" start_broker rocketry "$dir"
    # A message in every topic (a messages-in series each) …
    "$bin" bench produce -n "$NSADDR" -t Scrape --topics "$TOPICS" -s 128 -c 64 -d 10 >/dev/null 2>&1
    # … and every group consumes one topic by POP (a messages-out series and offsets each).
    # (Waits for these only: a bare `wait` would wait for the broker too.)
    local consumers=()
    for ((i = 0; i < GROUP_COUNT; i++)); do
        "$bin" bench consume -n "$NSADDR" -t "Scrape_$((i % TOPICS))" --pop -g "ScrapeG_$i" -c 1 -d 1 >/dev/null 2>&1 &
        consumers+=($!)
        if ((${#consumers[@]} == 16)); then wait "${consumers[@]}"; consumers=(); fi
    done
    ((${#consumers[@]} == 0)) || wait "${consumers[@]}"
    curl -s "http://127.0.0.1:$PROM_PORT/metrics" > "$work/scrape.txt"
    record rocketry scrape_series "$(grep -vc '^#' "$work/scrape.txt")"
    record rocketry scrape_kib "$(( $(wc -c < "$work/scrape.txt") / 1024 ))"
    record rocketry scrape_in_series "$(grep -c '^rocketmq_messages_in_total' "$work/scrape.txt")"
    record rocketry scrape_out_series "$(grep -c '^rocketmq_messages_out_total' "$work/scrape.txt")"
    for i in $(seq 1 20); do
        t=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PROM_PORT/metrics")
        record rocketry scrape_ms "$(python3 -c "print(round($t * 1000, 1))")"
    done
    stop_brokers
}

echo "== $RUNS runs, alternating off/on; ${SIZE} B messages, $CONCURRENCY senders, ${DURATION} s measured; pinned: ${on_broker[*]:-no}"
for i in $(seq 1 "$RUNS"); do
    run_one "$i"
done
echo "== scrape with $TOPICS topics and $GROUP_COUNT groups"
scrape
print_medians metrics_on_msgs_per_sec/metrics_off_msgs_per_sec metrics_on_cpu_us_per_msg/metrics_off_cpu_us_per_msg metrics_on_p99_us/metrics_off_p99_us
