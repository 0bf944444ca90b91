#!/usr/bin/env bash
# Replication's cost: produce throughput and latency of a master with replicas against a single
# broker, rocketry beside the Java RocketMQ 5.3.3 broker (as bench/compare runs it) with the same
# layout. Modes:
#   - single: one broker (ASYNC_MASTER), no replica;
#   - async1: ASYNC_MASTER and one replica (brokerRole=SLAVE, brokerId=1);
#   - sync1:  SYNC_MASTER and one replica; every send waits until the replica holds it
#             (inSyncReplicas=2 on both brokers: Java 5.3.3's default of 1 waits for nothing);
#   - sync2:  SYNC_MASTER and two replicas, inSyncReplicas=2 (the faster replica confirms).
# Every process of a broker group runs on the broker's core (PIN=1), the load generator on the
# other. Each: WARMUP seconds of sends, then DURATION seconds measured (CONCURRENCY senders,
# SIZE-byte messages, 8 queues, ASYNC_FLUSH); broker CPU per message (all the group's
# processes) from /proc. Runs alternate rocketry / Java; prints the median of each figure,
# the ratio rocketry/Java, and each mode against single within each broker.
#
#   bench/replication.sh     RUNS=2 DURATION=10 WARMUP=10 SIZE=1024 CONCURRENCY=64 MODES="single async1 sync1 sync2" JAVA_HEAP=1g PIN=1
set -euo pipefail
here="$(cd "$(dirname "$0")/compare" && pwd)"
root="$(cd "$here/../.." && pwd)"
RUNS="${RUNS:-2}" DURATION="${DURATION:-10}" WARMUP="${WARMUP:-10}" SIZE="${SIZE:-1024}" CONCURRENCY="${CONCURRENCY:-64}"
MODES="${MODES:-single async1 sync1 sync2}" JAVA_HEAP="${JAVA_HEAP:-1g}" PIN="${PIN:-1}"
work="$root/bench/replication-work"
rm -rf "$work" && mkdir -p "$work"
source "$here/brokers.sh"
bench_setup

# master_conf MODE: the master's extra keys (ROCKETRY_CONF / JAVA_CONF form).
master_conf() {
    case $1 in
        single | async1) echo "brokerRole=ASYNC_MASTER" ;;
        sync1 | sync2) echo "brokerRole=SYNC_MASTER;inSyncReplicas=2;totalReplicas=$((${1#sync} + 1))" ;;
    esac
}
replicas() { case $1 in single) echo 0 ;; async1 | sync1) echo 1 ;; sync2) echo 2 ;; esac; }

# start_replica KIND DIR ID: replica ID of broker-a, registering with $NSADDR.
start_replica() {
    local kind=$1 dir=$2 id=$3 port ha
    mkdir -p "$dir"
    port=$(broker_port "${NSADDR##*:}")
    ha=$((port + 1))
    local keys=("brokerClusterName=DefaultCluster" "brokerName=broker-a" "brokerId=$id" "brokerRole=SLAVE" "listenPort=$port"
        "haListenPort=$ha" "namesrvAddr=$NSADDR" "brokerIP1=127.0.0.1" "flushDiskType=ASYNC_FLUSH" "inSyncReplicas=2")
    if [[ $kind == rocketry ]]; then
        printf '%s\n' "${keys[@]}" "storePathRootDir=$dir/data" "diskCapacityBytes=1099511627776" "grpcServerPort=0" "dashboardEnable=false" > "$dir/broker.conf"
        "${on_broker[@]}" "$bin" broker -c "$dir/broker.conf" > "$dir/log" 2>&1 &
    else
        mkdir -p "$dir/home/conf"
        printf '%s\n' "${keys[@]}" "storePathRootDir=$dir/store" "storePathCommitLog=$dir/store/commitlog" "diskMaxUsedSpaceRatio=99" > "$dir/broker.conf"
        ROCKETMQ_HOME="$dir/home" "${on_broker[@]}" java -Xms"$JAVA_HEAP" -Xmx"$JAVA_HEAP" -Duser.home="$dir/home" -Drocketmq.home.dir="$dir/home" -cp "$cp" \
            org.apache.rocketmq.broker.BrokerStartup -c "$dir/broker.conf" > "$dir/broker.log" 2>&1 &
    fi
    PIDS="$PIDS $!"
    wait_port "$port"
}

# Waits until a send comes back SEND_OK with the replicas in sync (a SYNC_MASTER answers
# SLAVE_NOT_AVAILABLE or FLUSH_SLAVE_TIMEOUT before); at most 120 s.
wait_in_sync() {
    local end=$((SECONDS + 120))
    until "$bin" admin --json haStatus -n "$NSADDR" -c DefaultCluster 2>/dev/null | python3 -c '
import json, sys
v = next(iter(json.load(sys.stdin).values()))
sys.exit(0 if v["inSyncSlaveNums"] >= int(sys.argv[1]) else 1)' "$1"; do
        if [ $SECONDS -ge $end ]; then echo "replicas did not get in sync; logs in $work" >&2; stop_brokers; exit 1; fi
        sleep 0.2
    done
}

measure() { # kind mode, with NSADDR set and the group running
    local kind=$1 mode=$2 json t0 msgs
    "$bin" bench produce -n "$NSADDR" -t BenchRepl --queues 8 -s "$SIZE" -c 1 -d 0 >/dev/null
    "${on_load[@]}" "$bin" bench produce -n "$NSADDR" -t BenchRepl -s "$SIZE" -c "$CONCURRENCY" -d "$WARMUP" >/dev/null 2>&1
    t0=$(cpu_ticks)
    json=$("${on_load[@]}" "$bin" bench produce -n "$NSADDR" -t BenchRepl -s "$SIZE" -c "$CONCURRENCY" -d "$DURATION" --json 2>"$work/$kind-$mode.err")
    msgs=$(field "$json" msgs)
    record "$kind" "${mode}_msgs_per_sec" "$(field "$json" msgs_per_sec)"
    record "$kind" "${mode}_errors" "$(field "$json" errors)"
    record "$kind" "${mode}_p50_us" "$(field "$json" service_latency_us.p50)"
    record "$kind" "${mode}_p99_us" "$(field "$json" service_latency_us.p99)"
    record_cpu "$kind" "${mode}_cpu_us_per_msg" "$t0" "$msgs"
}

run_one() { # run
    local n=$1 kind mode dir i
    for mode in $MODES; do
        for kind in rocketry java; do
            dir="$work/$n-$kind-$mode"; mkdir -p "$dir"
            # As start_broker, but the replicas start before the first send: a SYNC_MASTER
            # answers none SEND_OK without them.
            local ns br; ns=$(free_port); br=$(broker_port "$ns")
            if [[ $kind == rocketry ]]; then
                ROCKETRY_CONF="dashboardEnable=false;haListenPort=0;$(master_conf "$mode")" start_rocketry "$dir" "$ns" "$br"
            else
                JAVA_CONF="$(master_conf "$mode")" start_java "$dir" "$ns" "$br"
            fi
            wait_port "$br"
            NSADDR="127.0.0.1:$ns"
            for ((i = 1; i <= $(replicas "$mode"); i++)); do
                start_replica "$kind" "$dir/replica-$i" "$i"
            done
            (($(replicas "$mode") == 0)) || wait_in_sync "$(replicas "$mode")"
            wait_ready "$kind" "$NSADDR" "$dir"
            measure "$kind" "$mode"
            stop_brokers
            rm -rf "$dir/data" "$dir/store" "$dir"/replica-*/data "$dir"/replica-*/store
        done
    done
}

echo "== $RUNS runs of $MODES; ${SIZE} B messages, $CONCURRENCY senders, ${DURATION} s measured; pinned: ${on_broker[*]:-no}"
for i in $(seq 1 "$RUNS"); do
    run_one "$i"
done
pairs=()
for mode in $MODES; do
    [[ $mode == single ]] || pairs+=("${mode}_msgs_per_sec/single_msgs_per_sec")
done
print_medians "${pairs[@]}"
