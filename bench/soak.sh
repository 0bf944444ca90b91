#!/usr/bin/env bash
# A bounded soak: fixed-rate producers and long-polling consumers against a rocketry
# standalone that is restarted every ROCKETRY_SOAK_RESTART_SECS, alternately with SIGKILL
# and SIGTERM; every message is checked by sender and sequence number at the end (no loss;
# duplicates only from sends whose answer was lost). The test is crates/rocketry/tests/soak.rs.
#
#   bench/soak.sh        ROCKETRY_SOAK_SECS=1800 ROCKETRY_SOAK_RATE=2000 ROCKETRY_SOAK_RESTART_SECS=60 ROCKETRY_SOAK_FLUSH=ASYNC_FLUSH
set -euo pipefail
cd "$(dirname "$0")/.."
export ROCKETRY_SOAK_SECS="${ROCKETRY_SOAK_SECS:-1800}" ROCKETRY_SOAK_RATE="${ROCKETRY_SOAK_RATE:-2000}"
export ROCKETRY_SOAK_RESTART_SECS="${ROCKETRY_SOAK_RESTART_SECS:-60}" ROCKETRY_SOAK_FLUSH="${ROCKETRY_SOAK_FLUSH:-ASYNC_FLUSH}"
echo "== soak: ${ROCKETRY_SOAK_SECS}s at ${ROCKETRY_SOAK_RATE} msgs/s, a restart every ${ROCKETRY_SOAK_RESTART_SECS}s, $ROCKETRY_SOAK_FLUSH"
cargo test --release --locked -p rocketry --test soak -- --ignored --nocapture
