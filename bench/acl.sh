#!/usr/bin/env bash
# ACL 2.0's cost: produce throughput with authentication and authorization on against off,
# rocketry beside the Java RocketMQ 5.3.3 broker (as bench/compare runs it) with the same ACL.
# Each run starts each broker twice:
#   - off: no ACL keys; `rocketry bench produce` unsigned;
#   - on: authenticationEnabled + authorizationEnabled with a super user made at start
#     (initAuthenticationUser); `rocketry admin` (the same commands against both brokers) makes
#     a Normal user `bench` whose ACL has ENTRIES entries (its topic Pub from 127.0.0.0/8, the
#     others for other topics); the load generator signs every request as `bench`
#     (AclClientRPCHook's HMAC-SHA1), so both the check and the client's signing are counted.
# Each: WARMUP seconds of sends (JIT warm-up), then DURATION seconds measured (CONCURRENCY
# senders, SIZE-byte messages, 8 queues); broker CPU per message from /proc.
# Runs alternate rocketry / Java; prints the median of each figure, the ratio rocketry/Java,
# and on/off within each broker.
#
#   bench/acl.sh     RUNS=2 DURATION=10 WARMUP=10 SIZE=1024 CONCURRENCY=64 ENTRIES=20 JAVA_HEAP=2g PIN=1
set -euo pipefail
here="$(cd "$(dirname "$0")/compare" && pwd)"
root="$(cd "$here/../.." && pwd)"
RUNS="${RUNS:-2}" DURATION="${DURATION:-10}" WARMUP="${WARMUP:-10}" SIZE="${SIZE:-1024}" CONCURRENCY="${CONCURRENCY:-64}"
ENTRIES="${ENTRIES:-20}" JAVA_HEAP="${JAVA_HEAP:-2g}" PIN="${PIN:-1}"
work="$root/bench/acl-work"
rm -rf "$work" && mkdir -p "$work"
source "$here/brokers.sh"
bench_setup
root_user='{"username":"root","password":"rootSecret1"}'
acl_keys="authenticationEnabled=true;authorizationEnabled=true;initAuthenticationUser=$root_user"
# Java's documented ACL 2.0 settings (rocketry accepts the provider keys and needs none of them).
java_providers="authenticationProvider=org.apache.rocketmq.auth.authentication.provider.DefaultAuthenticationProvider;authenticationMetadataProvider=org.apache.rocketmq.auth.authentication.provider.LocalAuthenticationMetadataProvider;authorizationProvider=org.apache.rocketmq.auth.authorization.provider.DefaultAuthorizationProvider;authorizationMetadataProvider=org.apache.rocketmq.auth.authorization.provider.LocalAuthorizationMetadataProvider"
as_root=(--access-key root --secret-key rootSecret1)
as_bench=(--access-key bench --secret-key benchSecret1)

measure() { # kind on|off, with NSADDR set and the broker running
    local kind=$1 mode=$2 json t0 msgs signed=() creator=()
    # The topic is made with 8 queues in both modes: by the super user with ACL on (creating a
    # topic needs Create, which `bench` does not have).
    [[ $mode == on ]] && signed=("${as_bench[@]}") creator=("${as_root[@]}")
    "$bin" bench produce -n "$NSADDR" -t BenchAcl --queues 8 -s "$SIZE" -c 1 -d 0 "${creator[@]}" >/dev/null
    "${on_load[@]}" "$bin" bench produce -n "$NSADDR" -t BenchAcl -s "$SIZE" -c "$CONCURRENCY" -d "$WARMUP" "${signed[@]}" >/dev/null 2>&1
    t0=$(cpu_ticks)
    json=$("${on_load[@]}" "$bin" bench produce -n "$NSADDR" -t BenchAcl -s "$SIZE" -c "$CONCURRENCY" -d "$DURATION" --json "${signed[@]}" 2>"$work/$kind-$mode.err")
    msgs=$(field "$json" msgs)
    record "$kind" "acl_${mode}_msgs_per_sec" "$(field "$json" msgs_per_sec)"
    record "$kind" "acl_${mode}_p50_us" "$(field "$json" service_latency_us.p50)"
    record "$kind" "acl_${mode}_p99_us" "$(field "$json" service_latency_us.p99)"
    record "$kind" "acl_${mode}_errors" "$(field "$json" errors)"
    record_cpu "$kind" "acl_${mode}_cpu_us_per_msg" "$t0" "$msgs"
}

run_one() { # kind run
    local kind=$1 n=$2 dir saved_r="${ROCKETRY_CONF:-}" saved_j="${JAVA_CONF:-}"
    dir="$work/$kind-$n-off"; mkdir -p "$dir"
    start_broker "$kind" "$dir"
    measure "$kind" off
    stop_brokers
    rm -rf "$dir/data" "$dir/store"

    dir="$work/$kind-$n-on"; mkdir -p "$dir"
    ROCKETRY_CONF="$acl_keys${saved_r:+;$saved_r}" JAVA_CONF="$acl_keys;$java_providers${saved_j:+;$saved_j}" READY_ARGS="${as_root[*]}" \
        start_broker "$kind" "$dir"
    local others=() i
    for ((i = 1; i < ENTRIES; i++)); do others+=("Topic:Other$i"); done
    "$bin" admin createUser -n "$NSADDR" -c DefaultCluster "${as_root[@]}" -u bench -p benchSecret1 >/dev/null
    "$bin" admin createAcl -n "$NSADDR" -c DefaultCluster "${as_root[@]}" -s User:bench -r Topic:BenchAcl -a Pub -d Allow -i 127.0.0.0/8 >/dev/null
    if ((ENTRIES > 1)); then
        "$bin" admin createAcl -n "$NSADDR" -c DefaultCluster "${as_root[@]}" -s User:bench -r "$(IFS=,; echo "${others[*]}")" -a Pub,Sub -d Allow >/dev/null
    fi
    measure "$kind" on
    stop_brokers
    rm -rf "$dir/data" "$dir/store"
}

echo "== $RUNS runs each, alternating; ${SIZE} B messages, $CONCURRENCY senders, ${DURATION} s measured, $ENTRIES ACL entries; Java heap $JAVA_HEAP; pinned: ${on_broker[*]:-no}"
for i in $(seq 1 "$RUNS"); do
    run_one rocketry "$i"
    run_one java "$i"
done
print_medians acl_on_msgs_per_sec/acl_off_msgs_per_sec acl_on_cpu_us_per_msg/acl_off_cpu_us_per_msg acl_on_p99_us/acl_off_p99_us
