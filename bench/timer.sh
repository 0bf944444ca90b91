#!/usr/bin/env bash
# Timer messages (RocketMQ 5.x TIMER_DELIVER_MS), rocketry side by side with the Java RocketMQ
# 5.3.3 broker (from Maven Central, as bench/compare runs it; its timer wheel is on by default).
# Each run: `rocketry bench timer` sends PENDING timers due over the hour after a minute (they stay
# pending), then a BURST all due in the same second BURST_LEAD seconds later, and reads the burst
# back: send rates, and each burst message's delivery lateness (its store time in the topic minus
# its TIMER_OUT_MS, the broker's clock; 1 ms resolution). The broker's RSS is read with the
# PENDING timers pending; a plain send of the same shape (`bench produce`) gives the rate a timer
# send is compared with. Runs alternate; prints each figure's median and the ratios.
#
#   bench/timer.sh     RUNS=2 PENDING=1000000 BURST=100000 BURST_LEAD=20 SIZE=128 JAVA_HEAP=2g PIN=1
set -euo pipefail
here="$(cd "$(dirname "$0")/compare" && pwd)"
root="$(cd "$here/../.." && pwd)"
RUNS="${RUNS:-2}" PENDING="${PENDING:-1000000}" BURST="${BURST:-100000}" BURST_LEAD="${BURST_LEAD:-20}" SIZE="${SIZE:-128}" JAVA_HEAP="${JAVA_HEAP:-2g}" PIN="${PIN:-1}"
work="$root/bench/timer-work"
rm -rf "$work" && mkdir -p "$work"
source "$here/brokers.sh"
bench_setup

run_one() { # kind run
    local kind=$1 n=$2 dir="$work/$1-$2"; mkdir -p "$dir"
    start_broker "$kind" "$dir"
    local nsaddr=$NSADDR json
    record "$kind" rss_idle_mb $(( $(rss_kb "$BROKER_PID") / 1024 ))
    json=$("${on_load[@]}" "$bin" bench produce -n "$nsaddr" -t PlainShape --queues 8 -s "$SIZE" -c 64 -d 10 --json 2>/dev/null)
    record "$kind" plain_send_msgs_per_sec "$(field "$json" msgs_per_sec)"
    json=$("${on_load[@]}" "$bin" bench timer -n "$nsaddr" --pending "$PENDING" --burst "$BURST" --burst-lead-secs "$BURST_LEAD" -s "$SIZE" -c 64 --json 2>"$dir/bench.log")
    echo "$json" > "$dir/timer.json"
    record "$kind" timer_send_msgs_per_sec "$(field "$json" pending_send_msgs_per_sec)"
    record "$kind" rss_pending_mb $(( $(rss_kb "$BROKER_PID") / 1024 ))
    record "$kind" burst_delivered "$(field "$json" burst_delivered)"
    record "$kind" lateness_p50_ms "$(field "$json" lateness_ms.p50)"
    record "$kind" lateness_p99_ms "$(field "$json" lateness_ms.p99)"
    record "$kind" lateness_max_ms "$(field "$json" lateness_ms.max)"
    stop_brokers
}

for n in $(seq 1 "$RUNS"); do
    run_one rocketry "$n"
    run_one java "$n"
done
print_medians timer_send_msgs_per_sec/plain_send_msgs_per_sec
