#!/usr/bin/env bash
# Failover time: three `rocketry controller` nodes, a NameServer and a group of three brokers in
# controller mode (SYNC_MASTER, inSyncReplicas=2, release build), all on loopback. A sender
# sends one message every INTERVAL_MS (`rocketry admin sendMessage`, which finds the master in
# the NameServer's route as any client does); the master is SIGKILLed ROUNDS times (each killed
# broker restarted once its successor took a send). For each round: the time from the kill to
# the first send the new master acknowledges, and the longest gap between acknowledged sends.
# CONTROLLER_TIMEOUT_MS is controllerHeartBeatTimeoutMills (our default 3000; Java's 10000).
#
#   bench/failover.sh     ROUNDS=5 INTERVAL_MS=20 CONTROLLER_TIMEOUT_MS=3000
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
ROUNDS="${ROUNDS:-5}" INTERVAL_MS="${INTERVAL_MS:-20}" CONTROLLER_TIMEOUT_MS="${CONTROLLER_TIMEOUT_MS:-3000}"
work="$root/bench/failover-work"
rm -rf "$work" && mkdir -p "$work"
(cd "$root" && cargo build --release -q -p rocketry)
bin="$root/target/release/rocketry"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

cports=("$(free_port)" "$(free_port)" "$(free_port)")
peers="n0-127.0.0.1:${cports[0]};n1-127.0.0.1:${cports[1]};n2-127.0.0.1:${cports[2]}"
controllers="127.0.0.1:${cports[0]};127.0.0.1:${cports[1]};127.0.0.1:${cports[2]}"
for i in 0 1 2; do
    printf '%s\n' "controllerDLegerSelfId=n$i" "controllerDLegerPeers=$peers" "controllerStorePath=$work/c$i" "scanNotActiveBrokerInterval=200" > "$work/c$i.conf"
    "$bin" controller -c "$work/c$i.conf" > "$work/c$i.log" 2>&1 &
    PIDS+=($!)
done
ns_port=$(free_port)
"$bin" namesrv --port "$ns_port" > "$work/ns.log" 2>&1 &
PIDS+=($!)
ns="127.0.0.1:$ns_port"
declare -A BROKER_PID BROKER_ADDR
start_broker() { # id
    "$bin" broker -c "$work/b$1.conf" >> "$work/b$1.log" 2>&1 &
    BROKER_PID[$1]=$!
    PIDS+=($!)
}
for id in 1 2 3; do
    port=$(free_port)
    BROKER_ADDR[$id]="127.0.0.1:$port"
    printf '%s\n' "brokerClusterName=DefaultCluster" "brokerName=broker-a" "brokerId=$id" "brokerRole=SYNC_MASTER" "inSyncReplicas=2" \
        "enableControllerMode=true" "controllerAddr=$controllers" "controllerHeartBeatTimeoutMills=$CONTROLLER_TIMEOUT_MS" \
        "brokerHeartbeatInterval=300" "listenPort=$port" "haListenPort=$(free_port)" "namesrvAddr=$ns" "storePathRootDir=$work/b$id" \
        "flushDiskType=SYNC_FLUSH" "grpcServerPort=0" "dashboardEnable=false" "diskCapacityBytes=1099511627776" > "$work/b$id.conf"
    start_broker "$id"
done
master() { "$bin" admin --json topicRoute -n "$ns" -t BenchFailover 2>/dev/null | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)
    print(r["brokerDatas"][0]["brokerAddrs"].get("0", ""))
except Exception:
    print("")'; }
send() { "$bin" admin sendMessage -n "$ns" -t BenchFailover -p "m$1" >/dev/null 2>>"$work/send.err"; }
# A master elected, the topic made, a replica in sync (a send is acknowledged).
end=$((SECONDS + 60))
until "$bin" admin updateTopic -n "$ns" -c DefaultCluster -t BenchFailover -r 4 -w 4 >/dev/null 2>&1 && send 0; do
    [ $SECONDS -lt $end ] || { echo "no master took a send; logs in $work" >&2; exit 1; }
    sleep 0.2
done

echo "== $ROUNDS rounds; a send every ${INTERVAL_MS} ms; controllerHeartBeatTimeoutMills=$CONTROLLER_TIMEOUT_MS"
seq=1
for round in $(seq 1 "$ROUNDS"); do
    old=$(master)
    victim=""
    for id in 1 2 3; do [[ ${BROKER_ADDR[$id]} == "$old" ]] && victim=$id; done
    [[ -n $victim ]] || { echo "no master in the route; logs in $work" >&2; exit 1; }
    sleep 1
    kill -9 "${BROKER_PID[$victim]}"
    killed=$(now_ms)
    last_ok=$killed
    while true; do
        seq=$((seq + 1))
        if send "$seq"; then
            t=$(now_ms)
            echo "round $round: first acknowledged send $((t - killed)) ms after the kill (new master $(master))"
            echo "failover_ms $((t - killed))" >> "$work/results"
            break
        fi
        if (( $(now_ms) - killed > 60000 )); then echo "no new master within 60 s; logs in $work" >&2; exit 1; fi
        sleep "$(python3 -c "print($INTERVAL_MS/1000)")"
    done
    start_broker "$victim"
    # Back in the group (in sync) before the next round.
    sleep 5
done
python3 - "$work/results" <<'PY'
import sys, statistics
v = [float(l.split()[1]) for l in open(sys.argv[1])]
print(f"failover ms: median {statistics.median(v):.0f}, min {min(v):.0f}, max {max(v):.0f} over {len(v)} rounds")
PY
