#!/usr/bin/env bash
# The RocketMQ 5.x gRPC protocol, rocketry (serving it itself on grpcServerPort) side by side with
# the Java RocketMQ 5.3.3 proxy in LOCAL mode (`ProxyStartup -pm local`: the proxy process embeds
# the broker) plus its NameServer, all from Maven Central, on this machine: same disk,
# ASYNC_FLUSH, a fixed Java heap. The load generator is bench/grpc (the official 5.x Java SDK,
# rocketmq-client-java 5.2.0, plaintext). Runs alternate A B A B; prints each figure's median and
# the ratio rocketry/Java.
#
#   bench/grpc.sh     RUNS=2 WARMUP=20 DURATION=10 SIZE=1024 THREADS=64 WINDOW=64 CONSUMERS=16 DRAIN=15 JAVA_HEAP=2g PIN=1
#
# Per run: start (the Java side: NameServer, then the proxy), create the topics (8 queues) with
# `rocketry admin updateTopic`; then, each in one load-generator process after an unmeasured
# warm-up into another topic (WARMUP seconds for the first, 10 s for the second): THREADS threads
# sending SIZE-byte messages synchronously for DURATION seconds (msgs/s; send latency p50/p99),
# and one thread keeping WINDOW asynchronous sends in flight for DURATION seconds. The sync run's
# messages are then drained in new groups by a SimpleConsumer (CONSUMERS threads, each receiving up
# to 32 and acking each) and by a PushConsumer (CONSUMERS consumption threads), each for at most
# DRAIN seconds (msgs/s from first message to last). Every figure comes with the broker side's
# CPU (user+system time from /proc over the measurement: rocketry; the Java proxy, with its broker,
# and NameServer), in cores and in µs per message, and the load generator's CPU in cores: near 1.0
# with PIN=1 means the client set the pace, not the broker.
# ROCKETRY_CONF / JAVA_CONF ("key=value;key=value") add lines to either broker's broker.conf.
# PIN=1 (with 2+ cores) pins the broker side to core 0 and the load generator to core 1.
set -euo pipefail
here="$(cd "$(dirname "$0")/compare" && pwd)"
root="$(cd "$here/../.." && pwd)"
grpc="$root/bench/grpc"
RUNS="${RUNS:-2}" WARMUP="${WARMUP:-20}" DURATION="${DURATION:-10}" SIZE="${SIZE:-1024}" THREADS="${THREADS:-64}" WINDOW="${WINDOW:-64}" CONSUMERS="${CONSUMERS:-16}" DRAIN="${DRAIN:-15}" JAVA_HEAP="${JAVA_HEAP:-2g}" PIN="${PIN:-1}"
work="$root/bench/grpc-work"
rm -rf "$work" && mkdir -p "$work"
source "$here/brokers.sh"
PIDS=""
trap 'kill $PIDS 2>/dev/null || true' EXIT # a run that fails leaves no broker behind
echo "== building rocketry (release), fetching the Java broker, proxy and 5.x SDK"
bench_setup
(cd "$grpc" && mvn -q -B compile dependency:build-classpath -Dmdep.outputFile=target/cp.txt)
(cd "$grpc/proxy" && mvn -q -B dependency:build-classpath -Dmdep.outputFile=target/cp.txt)
load_cp="$grpc/target/classes:$(cat "$grpc/target/cp.txt")"
proxy_cp="$(cat "$grpc/proxy/target/cp.txt")"

load() { # DIR MODE ARGS...: the 5.x SDK load generator, one JSON line; it reads the CPU time of PIDS
    local dir=$1; shift
    BROKER_PIDS="$PIDS" CLK_TCK="$(getconf CLK_TCK)" "${on_load[@]}" java -Xms1g -Xmx1g -Duser.home="$dir/client" -Drocketmq.client.logRoot="$dir/client/logs" \
        -Drocketmq.client.logLevel=WARN -cp "$load_cp" rocketry.bench.grpc.GrpcBench "$@" 2>>"$dir/client.err" | tail -1
}

# A port P with P-2 and P+1 free too: the Java broker also listens on those (its "fast" remoting
# server and HA), and a collision makes the embedded broker fail to start.
broker_port() { python3 -c 'import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    try:
        for q in (p - 2, p + 1):
            socket.socket().bind(("127.0.0.1", q))
        print(p); break
    except OSError:
        pass'; }

# start_java_proxy DIR NS_PORT BROKER_PORT GRPC_PORT: the Java NameServer, then the proxy in LOCAL
# mode with the broker (the same broker.conf as start_java's) inside its process.
start_java_proxy() {
    java_conf "$1" "$2" "$3"
    printf '{"rocketMQClusterName": "DefaultCluster", "namesrvAddr": "127.0.0.1:%s", "grpcServerPort": %s, "remotingListenPort": %s}\n' \
        "$2" "$4" "$(free_port)" > "$1/rmq-proxy.json"
    local jvm=(-Xms"$JAVA_HEAP" -Xmx"$JAVA_HEAP" -Duser.home="$1/home" -Drocketmq.home.dir="$1/home" -cp "$proxy_cp")
    ROCKETMQ_HOME="$1/home" "${on_broker[@]}" java "${jvm[@]}" org.apache.rocketmq.namesrv.NamesrvStartup -c "$1/namesrv.conf" > "$1/ns.log" 2>&1 &
    local ns=$!
    wait_port "$2"
    ROCKETMQ_HOME="$1/home" RMQ_PROXY_HOME="$1/home" "${on_broker[@]}" java "${jvm[@]}" org.apache.rocketmq.proxy.ProxyStartup \
        -pm local -pc "$1/rmq-proxy.json" -bc "$1/broker.conf" > "$1/proxy.log" 2>&1 &
    BROKER_PID=$!; PIDS="$ns $BROKER_PID"
}

run_one() { # kind run
    local kind=$1 n=$2 dir="$work/$1-$2"; mkdir -p "$dir"
    local ns br gp; ns=$(free_port); br=$(broker_port); gp=$(free_port)
    if [[ $kind == rocketry ]]; then
        ROCKETRY_CONF="${ROCKETRY_CONF:+$ROCKETRY_CONF;}grpcServerPort=$gp" start_rocketry "$dir" "$ns" "$br"
    else
        start_java_proxy "$dir" "$ns" "$br" "$gp"
    fi
    wait_port "$br" || { echo "$kind did not open its port; logs in $dir" >&2; kill $PIDS; exit 1; }
    local nsaddr="127.0.0.1:$ns" ep="127.0.0.1:$gp" json
    wait_ready "$kind" "$nsaddr" "$dir"
    wait_port "$gp" || { echo "$kind: no gRPC port; logs in $dir" >&2; kill $PIDS; exit 1; }
    for t in GrpcWarm GrpcBench GrpcAsync; do
        "$bin" admin updateTopic -n "$nsaddr" -c DefaultCluster -t $t -r 8 -w 8 >/dev/null
    done
    sleep 1

    # Sync sends (the issue's figure), then asynchronous ones from one thread (WINDOW in flight:
    # the SDK's cheaper way to load a broker), each after an unmeasured warm-up in the same process.
    local mode topic width warm stored=0
    for mode in produce produce-async; do
        if [[ $mode == produce ]]; then topic=GrpcBench width=$THREADS warm=$WARMUP; else topic=GrpcAsync width=$WINDOW warm=10; fi
        json=$(load "$dir" "$mode" "$ep" "$topic" "$width" "$DURATION" "$SIZE" GrpcWarm "$warm")
        echo "$kind $mode: $json" >> "$work/json"
        [[ $mode == produce ]] && stored=$(field "$json" stored 2)
        mode=${mode/-/_}
        record "$kind" "${mode}_msgs_per_sec" "$(field "$json" msgs_per_sec 2)"
        record "$kind" "${mode}_p50_us" "$(field "$json" latency_us.p50 2)"
        record "$kind" "${mode}_p99_us" "$(field "$json" latency_us.p99 2)"
        record "$kind" "${mode}_errors" "$(field "$json" errors 2)"
        record "$kind" "${mode}_broker_cores" "$(field "$json" broker_cpu 2)"
        record "$kind" "${mode}_broker_cpu_us_per_msg" "$(field "$json" broker_cpu_us_per_msg 2)"
        record "$kind" "${mode}_client_cores" "$(field "$json" client_cpu 2)"
    done

    # The sync run's topic, drained in new groups (at most DRAIN seconds each).
    for mode in simple push; do
        json=$(load "$dir" "$mode" "$ep" GrpcBench "bench_$mode" "$stored" "$DRAIN" "$CONSUMERS")
        echo "$kind $mode: $json" >> "$work/json"
        record "$kind" "${mode}_msgs_per_sec" "$(field "$json" msgs_per_sec 2)"
        record "$kind" "${mode}_broker_cpu_us_per_msg" "$(field "$json" broker_cpu_us_per_msg 2)"
        record "$kind" "${mode}_client_cores" "$(field "$json" client_cpu 2)"
    done
    stop_brokers
    rm -rf "$dir/data" "$dir/store"
}

echo "== $RUNS runs each, alternating; ${SIZE} B messages, $THREADS producer threads (async: $WINDOW in flight), $CONSUMERS consumer threads, ${DURATION} s measured after ${WARMUP} s warm-up; Java heap $JAVA_HEAP; pinned: ${on_broker[*]:-no}"
for i in $(seq 1 "$RUNS"); do
    run_one rocketry "$i"
    run_one java "$i"
done
print_medians
