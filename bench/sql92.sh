#!/usr/bin/env bash
# SQL92-filtered consumption against reading everything, rocketry beside the Java RocketMQ 5.3.3
# broker (as bench/compare runs it, with enablePropertyFilter=true). Each run: produce
# BACKLOG_RATE msgs/s for BACKLOG_SECONDS into one topic with 8 queues, each message with a
# property n = sequence % 100; then drain it with `rocketry bench consume` three times, new
# groups: unfiltered, `n = 7` (1 % match), `n < 50` (50 %). Runs alternate; prints medians.
#
#   bench/sql92.sh     RUNS=2 BACKLOG_RATE=40000 BACKLOG_SECONDS=10 SIZE=1024 JAVA_HEAP=2g PIN=1
set -euo pipefail
here="$(cd "$(dirname "$0")/compare" && pwd)"
root="$(cd "$here/../.." && pwd)"
RUNS="${RUNS:-2}" BACKLOG_RATE="${BACKLOG_RATE:-40000}" BACKLOG_SECONDS="${BACKLOG_SECONDS:-10}" SIZE="${SIZE:-1024}" JAVA_HEAP="${JAVA_HEAP:-2g}" PIN="${PIN:-1}"
work="$root/bench/sql92-work"
rm -rf "$work" && mkdir -p "$work"
source "$here/brokers.sh"
bench_setup
ROCKETRY_CONF="enablePropertyFilter=true${ROCKETRY_CONF:+;$ROCKETRY_CONF}"
JAVA_CONF="enablePropertyFilter=true${JAVA_CONF:+;$JAVA_CONF}"

run_one() { # kind run
    local kind=$1 n=$2 dir="$work/$1-$2"; mkdir -p "$dir"
    start_broker "$kind" "$dir"
    local nsaddr=$NSADDR json
    json=$("${on_load[@]}" "$bin" bench produce -n "$nsaddr" -t SqlBacklog --queues 8 -s "$SIZE" -c 64 -d "$BACKLOG_SECONDS" --rate "$BACKLOG_RATE" --mod-prop 100 --json 2>/dev/null)
    local backlog; backlog=$(field "$json" msgs)
    record "$kind" backlog_msgs "$backlog"
    for case in "all|" "match1|n = 7" "match50|n < 50"; do
        local name=${case%%|*} expr=${case#*|}
        if [[ -z $expr ]]; then
            json=$("${on_load[@]}" "$bin" bench consume -n "$nsaddr" -t SqlBacklog -d 120 -g "g_$name" --json 2>/dev/null)
        else
            json=$("${on_load[@]}" "$bin" bench consume -n "$nsaddr" -t SqlBacklog -d 120 -g "g_$name" --sql "$expr" --json 2>/dev/null)
        fi
        record "$kind" "${name}_matched_msgs" "$(field "$json" msgs)"
        # The backlog scanned per second: how fast the consumer gets through it.
        record "$kind" "${name}_backlog_per_sec" "$(python3 -c "print(round($backlog / $(field "$json" seconds 3)))")"
        record "$kind" "${name}_matches_per_sec" "$(python3 -c "print(round($(field "$json" msgs) / $(field "$json" seconds 3)))")"
    done
    stop_brokers
}

for n in $(seq 1 "$RUNS"); do
    run_one rocketry "$n"
    run_one java "$n"
done
print_medians
