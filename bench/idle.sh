#!/usr/bin/env bash
# What idle connections cost the broker: its resident memory (VmRSS) before and while
# N connections are held, each having sent one producer heartbeat.
#
#   bench/idle.sh [BIN] [CONNECTIONS...]      default: target/release/rocketry, 5000 19000
#
# A NameServer and a broker run as separate processes on loopback with a fresh data dir. The
# connections come from several `rocketry bench idle` processes (at most 9,000 each), since
# one process may hold only as many sockets as its open-file limit (`ulimit -n`) allows; the
# broker needs one descriptor per connection too, which caps N below that limit.
set -uo pipefail
bin=$(realpath "${1:-target/release/rocketry}"); shift || true
counts=("${@:-5000 19000}"); counts=(${counts[@]})
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
ns=$((20000 + RANDOM % 10000)); br=$((ns + 1))
cat > "$work/broker.conf" <<CONF
listenPort=$br
namesrvAddr=127.0.0.1:$ns
storePathRootDir=$work/store
maxConnections=100000
CONF
"$bin" namesrv -p $ns >"$work/namesrv.log" 2>&1 &
start_broker() {
    rm -rf "$work/store"
    "$bin" broker -c "$work/broker.conf" >"$work/broker.log" 2>&1 & broker=$!
    for _ in $(seq 50); do grep -q "listening" "$work/broker.log" 2>/dev/null && break; sleep 0.1; done
    sleep 1
}
echo "connections,rss_before_kb,rss_held_kb,added_mb,bytes_per_connection"
for n in "${counts[@]}"; do
    # A fresh broker for each count: freed memory is not always handed back to the system.
    start_broker
    before=$(rss_kb $broker)
    per=9000; procs=$(( (n + per - 1) / per )); pids=()
    for p in $(seq 0 $((procs - 1))); do
        share=$(( p == procs - 1 ? n - p * per : per ))
        "$bin" bench idle -b 127.0.0.1:$br -c $share --hold-secs 30 --prefix "idle$n-$p" > "$work/idle.$p.out" 2>"$work/idle.$p.err" &
        pids+=($!)
    done
    for p in $(seq 0 $((procs - 1))); do
        for _ in $(seq 600); do grep -q ready "$work/idle.$p.out" && break; kill -0 "${pids[$p]}" 2>/dev/null || break; sleep 0.1; done
        grep -q ready "$work/idle.$p.out" || { echo "idle client $p failed: $(cat "$work/idle.$p.err")" >&2; exit 1; }
    done
    sleep 3
    held=$(rss_kb $broker)
    kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null
    echo "$n,$before,$held,$(( (held - before) / 1024 )),$(( (held - before) * 1024 / n ))"
    kill $broker; wait $broker 2>/dev/null
done
