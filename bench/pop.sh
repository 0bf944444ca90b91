#!/usr/bin/env bash
# POP against pull on the same backlog, rocketry side by side with the Java RocketMQ 5.3.3
# broker (from Maven Central, as bench/compare runs it). Each run: produce BACKLOG_RATE msgs/s
# for BACKLOG_SECONDS into one topic with 8 queues (the same backlog on both brokers), then
# drain it three times in new groups with `rocketry bench consume`: by pull, by POP with one
# BATCH_ACK per answer, and by POP with one ACK_MESSAGE per message (the Java push consumer's
# way). Runs alternate; prints each figure's median and the ratios.
#
#   bench/pop.sh     RUNS=2 BACKLOG_RATE=40000 BACKLOG_SECONDS=10 SIZE=1024 JAVA_HEAP=2g PIN=1
set -euo pipefail
here="$(cd "$(dirname "$0")/compare" && pwd)"
root="$(cd "$here/../.." && pwd)"
RUNS="${RUNS:-2}" BACKLOG_RATE="${BACKLOG_RATE:-40000}" BACKLOG_SECONDS="${BACKLOG_SECONDS:-10}" SIZE="${SIZE:-1024}" JAVA_HEAP="${JAVA_HEAP:-2g}" PIN="${PIN:-1}"
work="$root/bench/pop-work"
rm -rf "$work" && mkdir -p "$work"
source "$here/brokers.sh"
bench_setup

run_one() { # kind run
    local kind=$1 n=$2 dir="$work/$1-$2"; mkdir -p "$dir"
    start_broker "$kind" "$dir"
    local nsaddr=$NSADDR json
    json=$("${on_load[@]}" "$bin" bench produce -n "$nsaddr" -t PopBacklog --queues 8 -s "$SIZE" -c 64 -d "$BACKLOG_SECONDS" --rate "$BACKLOG_RATE" --json 2>/dev/null)
    record "$kind" backlog_msgs "$(field "$json" msgs)"
    json=$("${on_load[@]}" "$bin" bench consume -n "$nsaddr" -t PopBacklog -d 120 --json 2>/dev/null)
    record "$kind" pull_msgs_per_sec "$(field "$json" msgs_per_sec)"
    json=$("${on_load[@]}" "$bin" bench consume -n "$nsaddr" -t PopBacklog -d 120 --pop -g pop_batch --json 2>/dev/null)
    record "$kind" pop_batch_ack_msgs_per_sec "$(field "$json" msgs_per_sec)"
    record "$kind" pop_batch_ack_msgs "$(field "$json" msgs)"
    json=$("${on_load[@]}" "$bin" bench consume -n "$nsaddr" -t PopBacklog -d 120 --pop --ack-each -g pop_each --json 2>/dev/null)
    record "$kind" pop_ack_each_msgs_per_sec "$(field "$json" msgs_per_sec)"
    record "$kind" pop_ack_each_msgs "$(field "$json" msgs)"
    stop_brokers
}

for n in $(seq 1 "$RUNS"); do
    run_one rocketry "$n"
    run_one java "$n"
done
print_medians pop_batch_ack_msgs_per_sec/pull_msgs_per_sec pop_ack_each_msgs_per_sec/pull_msgs_per_sec
