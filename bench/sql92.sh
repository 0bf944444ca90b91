#!/usr/bin/env bash
# SQL92-filtered consumption against reading everything, rocketry beside the Java RocketMQ 5.3.3
# broker (as bench/compare runs it, with enablePropertyFilter=true). Each run: create the topic
# (8 queues) and let two groups' expressions, `n = 7` (1 % match) and `n < 50` (50 %), pull
# its empty queues once ("subscribed": rocketry judges what is stored from then on in its filter
# bitmap); produce BACKLOG_RATE msgs/s for BACKLOG_SECONDS, each message with a property
# n = sequence % 100; then drain the backlog with `rocketry bench consume` in new groups:
# unfiltered; `7 = n` and `50 > n` (the same matches by expressions first seen after the backlog:
# the records are read to be checked); and the two subscribed expressions. Last, SEND_SECONDS of
# unlimited sends into the filtered topic and into a topic nobody filters (the bitmap's cost on
# the send path). Runs alternate; prints medians.
#
#   bench/sql92.sh     RUNS=2 BACKLOG_RATE=40000 BACKLOG_SECONDS=10 SIZE=1024 SEND_SECONDS=10 JAVA_HEAP=2g PIN=1
set -euo pipefail
here="$(cd "$(dirname "$0")/compare" && pwd)"
root="$(cd "$here/../.." && pwd)"
SEND_SECONDS="${SEND_SECONDS:-10}" RUNS="${RUNS:-2}" BACKLOG_RATE="${BACKLOG_RATE:-40000}" BACKLOG_SECONDS="${BACKLOG_SECONDS:-10}" SIZE="${SIZE:-1024}" JAVA_HEAP="${JAVA_HEAP:-2g}" PIN="${PIN:-1}"
work="$root/bench/sql92-work"
rm -rf "$work" && mkdir -p "$work"
source "$here/brokers.sh"
bench_setup
ROCKETRY_CONF="enablePropertyFilter=true${ROCKETRY_CONF:+;$ROCKETRY_CONF}"
JAVA_CONF="enablePropertyFilter=true${JAVA_CONF:+;$JAVA_CONF}"

# consume NSADDR GROUP [SQL]: drains SqlBacklog; prints the load generator's JSON.
consume() {
    local args=("${on_load[@]}" "$bin" bench consume -n "$1" -t SqlBacklog -d 120 -g "$2" --json)
    [[ -n ${3:-} ]] && args+=(--sql "$3")
    "${args[@]}" 2>/dev/null
}

run_one() { # kind run
    local kind=$1 n=$2 dir="$work/$1-$2"; mkdir -p "$dir"
    start_broker "$kind" "$dir"
    local nsaddr=$NSADDR json
    "$bin" admin updateTopic -n "$nsaddr" -c DefaultCluster -t SqlBacklog -r 8 -w 8 > /dev/null
    "$bin" admin updateTopic -n "$nsaddr" -c DefaultCluster -t SqlPlain -r 8 -w 8 > /dev/null
    # The subscribed groups pull the empty queues once (once the route is there).
    for case in "match1_sub|n = 7" "match50_sub|n < 50"; do
        local end=$((SECONDS + 30))
        until consume "$nsaddr" "g_${case%%|*}" "${case#*|}" > /dev/null; do
            [ $SECONDS -lt $end ] || { echo "no route for SqlBacklog on $kind" >&2; exit 1; }
            sleep 0.5
        done
    done
    json=$("${on_load[@]}" "$bin" bench produce -n "$nsaddr" -t SqlBacklog --queues 8 -s "$SIZE" -c 64 -d "$BACKLOG_SECONDS" --rate "$BACKLOG_RATE" --mod-prop 100 --json 2>/dev/null)
    local backlog; backlog=$(field "$json" msgs)
    record "$kind" backlog_msgs "$backlog"
    for case in "all|" "match1|7 = n" "match50|50 > n" "match1_sub|n = 7" "match50_sub|n < 50"; do
        local name=${case%%|*} expr=${case#*|}
        json=$(consume "$nsaddr" "g_$name" "$expr")
        record "$kind" "${name}_matched_msgs" "$(field "$json" msgs)"
        # The backlog scanned per second: how fast the consumer gets through it.
        record "$kind" "${name}_backlog_per_sec" "$(python3 -c "print(round($backlog / $(field "$json" seconds 3)))")"
        record "$kind" "${name}_matches_per_sec" "$(python3 -c "print(round($(field "$json" msgs) / $(field "$json" seconds 3)))")"
    done
    # Sends into the topic four expressions filter, and into one nobody filters.
    for topic in SqlBacklog SqlPlain; do
        json=$("${on_load[@]}" "$bin" bench produce -n "$nsaddr" -t "$topic" --queues 8 -s "$SIZE" -c 64 -d "$SEND_SECONDS" --mod-prop 100 --json 2>/dev/null)
        record "$kind" "send_${topic}_msgs_per_sec" "$(field "$json" msgs_per_sec 0)"
    done
    stop_brokers
    rm -rf "$dir/data" "$dir/store"   # gigabytes of sends; the logs stay
}

for n in $(seq 1 "$RUNS"); do
    run_one rocketry "$n"
    run_one java "$n"
done
print_medians
