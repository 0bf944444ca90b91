# Starting rocketry and the Java RocketMQ 5.3.3 broker side by side (sourced by run.sh and the
# bench/*.sh scripts). `bench_setup` sets on_broker/on_load (taskset prefixes with PIN=1 and 2+
# cores), builds rocketry (bin) and fetches the Java broker's classpath (cp); then
# `start_broker KIND DIR` (or `start_<kind> DIR NS_PORT BROKER_PORT` and `wait_ready KIND NAMESRV
# DIR`), `stop_brokers`, and `field JSON PATH` to read the load generators' answers.

bench_setup() {
    if [[ ${PIN:-1} == 1 && $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
        on_broker=(taskset -c 0) on_load=(taskset -c 1)
    else
        on_broker=() on_load=()
    fi
    (cd "$root" && cargo build --release -q -p rocketry)
    bin="$root/target/release/rocketry"
    (cd "$here" && mvn -q -B compile dependency:build-classpath -Dmdep.outputFile=cp.txt)
    cp="$(cat "$here/cp.txt")"
}

# record KIND METRIC VALUE, into $work/results.
record() { echo "$1 $2 $3" | tee -a "$work/results"; }
# The broker's CPU time so far (all its processes), in clock ticks.
cpu_ticks() { local t=0 p; for p in $PIDS; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $t; }
# record_cpu KIND METRIC TICKS_BEFORE MSGS: broker CPU µs per message since TICKS_BEFORE.
record_cpu() { record "$1" "$2" "$(python3 -c "print(round(($(cpu_ticks) - $3) * 1e6 / $(getconf CLK_TCK) / max($4, 1), 2))")"; }

# The median of each recorded metric per kind, and the ratio rocketry/java; then, for each
# NUMERATOR/DENOMINATOR argument, that ratio of medians within each kind.
print_medians() {
    python3 - "$work/results" "$@" <<'PY'
import sys, statistics, collections
vals = collections.defaultdict(list)
for line in open(sys.argv[1]):
    kind, metric, v = line.split()
    vals[(kind, metric)].append(float(v))
med = {k: statistics.median(v) for k, v in vals.items()}
print(f"{'metric':32} {'rocketry':>12} {'java':>12} {'ratio':>8}")
for m in sorted({m for _, m in med}):
    r, j = med.get(("rocketry", m), 0), med.get(("java", m), 0)
    d = 0 if max(r, j) >= 100 else 2  # small figures (CPU per message, cores) keep two decimals
    print(f"{m:32} {r:12.{d}f} {j:12.{d}f} {r / j if j else float('nan'):8.2f}")
for pair in sys.argv[2:]:
    num, den = pair.split("/")
    for kind in ("rocketry", "java"):
        d = med.get((kind, den), 0)
        print(f"{kind}: {num} / {den} = {med.get((kind, num), 0) / d if d else float('nan'):.2f}")
PY
}

# Ready = a send succeeds (the broker has registered and can store); at most 120 s. READY_ARGS
# adds arguments to that send (credentials, for a broker with ACL on).
wait_ready() { # kind namesrv dir
    local end=$((SECONDS+120))
    # shellcheck disable=SC2086
    until "$bin" bench produce -n "$2" -t Warmup -d 0 -c 1 ${READY_ARGS:-} >/dev/null 2>&1; do
        if [ $SECONDS -ge $end ]; then echo "$1 did not become ready; logs in $3" >&2; kill $PIDS; exit 1; fi
        sleep 0.05
    done
}

# start_broker KIND DIR: KIND's NameServer and broker on free ports, ready; sets NSADDR.
start_broker() {
    local ns br; ns=$(free_port); br=$(broker_port "$ns")
    "start_$1" "$2" "$ns" "$br"
    wait_port "$br"
    NSADDR="127.0.0.1:$ns"
    wait_ready "$1" "$NSADDR" "$2"
}
stop_brokers() { kill $PIDS 2>/dev/null || true; wait $PIDS 2>/dev/null || true; }

# field JSON PATH [DIGITS]: a value of a load generator's JSON line by dotted path; a float is
# rounded to DIGITS decimals (a whole number without).
field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1])
for k in sys.argv[2].split("."): v=v[k]
d=int(sys.argv[3]) if len(sys.argv) > 3 else None
print(round(v, d) if isinstance(v, float) else v)' "$@"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# broker_port NS_PORT: a free port P with P-2 (Java's fast remoting port) and P+1 (its HA port)
# free too, none of them NS_PORT.
broker_port() { python3 - "$1" <<'PY'
import socket, sys
ns = int(sys.argv[1])
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    ports = [p - 2, p, p + 1]
    if ns in ports or p < 1026 or p > 65534:
        continue
    try:
        held = []
        for q in ports:
            t = socket.socket(); t.bind(("0.0.0.0", q)); held.append(t)
        for t in held: t.close()
        print(p); break
    except OSError:
        for t in held: t.close()
PY
}
wait_port() { local end=$((SECONDS+60)); until (echo > /dev/tcp/127.0.0.1/$1) 2>/dev/null; do [ $SECONDS -lt $end ] || return 1; sleep 0.01; done; }
rss_kb() { awk '/VmRSS/ {print $2}' /proc/$1/status; }
now_ms() { date +%s%3N; }

# start_<kind> DIR NS_PORT BROKER_PORT: sets PIDS (all processes) and BROKER_PID
start_rocketry() {
    printf "diskCapacityBytes=1099511627776\ngrpcServerPort=0\n" > "$1/broker.conf"
    tr ';' '\n' <<< "${ROCKETRY_CONF:-}" >> "$1/broker.conf"
    "${on_broker[@]}" "$bin" standalone --data-dir "$1/data" --namesrv-port "$2" --broker-port "$3" -c "$1/broker.conf" > "$1/log" 2>&1 &
    BROKER_PID=$!; PIDS="$BROKER_PID"
}
# java_conf DIR NS_PORT BROKER_PORT: the Java NameServer's and broker's config files (start_java;
# bench/grpc.sh's proxy in LOCAL mode reads the same broker.conf).
java_conf() {
    mkdir -p "$1/home/conf"
    printf 'listenPort=%s\n' "$2" > "$1/namesrv.conf"
    printf '%s\n' "brokerClusterName=DefaultCluster" "brokerName=broker-a" "brokerId=0" "listenPort=$3" \
        "namesrvAddr=127.0.0.1:$2" "storePathRootDir=$1/store" "storePathCommitLog=$1/store/commitlog" \
        "brokerIP1=127.0.0.1" "autoCreateTopicEnable=true" "flushDiskType=ASYNC_FLUSH" "diskMaxUsedSpaceRatio=99" > "$1/broker.conf"
    # JAVA_CONF="key=value;key=value" adds lines to the Java broker's broker.conf.
    [[ -n ${JAVA_CONF:-} ]] && tr ';' '\n' <<< "$JAVA_CONF" >> "$1/broker.conf"
    return 0
}
start_java() {
    java_conf "$@"
    local jvm=(-Xms"$JAVA_HEAP" -Xmx"$JAVA_HEAP" -Duser.home="$1/home" -Drocketmq.home.dir="$1/home" -cp "$cp")
    ROCKETMQ_HOME="$1/home" "${on_broker[@]}" java "${jvm[@]}" org.apache.rocketmq.namesrv.NamesrvStartup -c "$1/namesrv.conf" > "$1/ns.log" 2>&1 &
    local ns=$!
    wait_port "$2"
    ROCKETMQ_HOME="$1/home" "${on_broker[@]}" java "${jvm[@]}" org.apache.rocketmq.broker.BrokerStartup -c "$1/broker.conf" > "$1/broker.log" 2>&1 &
    BROKER_PID=$!; PIDS="$ns $BROKER_PID"
}
