#!/usr/bin/env bash
# Quick pinned measurements of one rocketry binary, for A/B'ing a change (alternate old and new
# binaries; this VM's figures drift as its memory warms). Broker on core 0, load on core 1.
#
#   bench/pinned.sh produce BIN [SECONDS]        max-rate produce: msgs/s, p99, broker CPU and
#                                                write system calls per message, context switches
#   bench/pinned.sh syscalls BIN                 every system call of the broker per message
#   bench/pinned.sh profile BIN [SECONDS]        as produce, with `perf record` of the broker
#                                                (report: perf report -i perf.data --no-children)
#   bench/pinned.sh rate BIN RATE [SECONDS]      fixed-rate produce: latency from intended send time
#                                                and from actual send
#   bench/pinned.sh sink BIN                     the trivial sink: msgs/s and its CPU per message
#
# WARM=seconds of unmeasured max-rate produce first (default 5; the comparison uses 30).
# CONF="key=value;key=value" adds lines to the broker's broker.conf. CONC=senders of the measured
# produce (default 64; the comparison's wide rate uses 256).
set -uo pipefail
mode=${1:?mode}; bin=$(realpath "${2:?binary}"); shift 2
warm=${WARM:-5}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {s+=$2} END {print s}'; }
writes() { awk '/syscw/ {print $2}' "/proc/$1/io"; }
load() { taskset -c 1 "$bin" bench produce "$@"; }

if [ "$mode" = sink ]; then
    port=$((30000 + RANDOM % 10000))
    taskset -c 0 "$bin" bench sink -p $port 2>/dev/null & pid=$!
    sleep 0.3
    load --broker 127.0.0.1:$port -d 2 -c 64 >/dev/null 2>&1
    t0=$(cpu_ticks $pid)
    out=$(load --broker 127.0.0.1:$port -d 8 -c 64 --json 2>/dev/null)
    t1=$(cpu_ticks $pid)
    python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print("sink msgs/s", round(j["msgs_per_sec"]), "sink CPU us/msg", round((int(sys.argv[3])-int(sys.argv[2]))*10000/j["msgs"], 2))' "$out" "$t0" "$t1"
    exit
fi

ns=$((20000 + RANDOM % 10000)); br=$((ns + 1))
printf "diskCapacityBytes=1099511627776\ngrpcServerPort=0\n" > "$work/broker.conf"
tr ';' '\n' <<< "${CONF:-}" >> "$work/broker.conf"
if [ "$mode" = rate ]; then rate=${1:?rate}; shift; fi
taskset -c 0 "$bin" standalone --data-dir "$work/data" --namesrv-port $ns --broker-port $br -c "$work/broker.conf" > "$work/log" 2>&1 & pid=$!
until load -n 127.0.0.1:$ns -t Warmup -d 0 -c 1 >/dev/null 2>&1; do sleep 0.05; done
load -n 127.0.0.1:$ns -t Bench --queues 8 -d "$warm" -c 64 >/dev/null 2>&1
secs=${1:-8}
case "$mode" in
produce|profile)
    t0=$(cpu_ticks $pid) w0=$(writes $pid) c0=$(switches $pid)
    perf_pid=
    if [ "$mode" = profile ]; then taskset -c 1 perf record -e cpu-clock -F 2000 -p $pid -o perf.data -- sleep "$secs" >/dev/null 2>&1 & perf_pid=$!; fi
    out=$(load -n 127.0.0.1:$ns -t Bench -d "$secs" -c "${CONC:-64}" --json 2>/dev/null)
    t1=$(cpu_ticks $pid) w1=$(writes $pid) c1=$(switches $pid)
    [ -z "$perf_pid" ] || wait "$perf_pid"
    python3 -c 'import json,sys; j=json.loads(sys.argv[1]); n=j["msgs"]; a=[int(x) for x in sys.argv[2:]]
print("msgs/s", round(j["msgs_per_sec"]), "p99 us", j["latency_us"]["p99"], "| broker per message: CPU us", round((a[1]-a[0])*10000/n, 2),
      "writes", round((a[3]-a[2])/n, 3), "context switches", round((a[5]-a[4])/n, 3))' "$out" "$t0" "$t1" "$w0" "$w1" "$c0" "$c1"
    ;;
syscalls)
    perf stat -e 'syscalls:sys_enter_*' -p $pid -o "$work/stat" -- sleep 6 & sp=$!
    out=$(load -n 127.0.0.1:$ns -t Bench -d 6 -c 64 --json 2>/dev/null)
    wait $sp
    n=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["msgs"])' "$out")
    echo "msgs $n"
    awk -v n="$n" '$1 ~ /^[0-9,]+$/ {gsub(",", "", $1); if ($1 + 0 > n / 1000) printf "%-40s %8.3f per message\n", $2, $1 / n}' "$work/stat"
    ;;
rate)
    load -n 127.0.0.1:$ns -t Bench -d "$secs" -c 64 -r "$rate" --json 2>/dev/null |
        python3 -c 'import json,sys; j=json.load(sys.stdin); print("msgs/s", round(j["msgs_per_sec"]), "from intended send", j["latency_us"], "from actual send", j["service_latency_us"])'
    ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
