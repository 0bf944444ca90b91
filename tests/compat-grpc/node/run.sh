#!/usr/bin/env bash
# Compatibility tests of Rocketry's gRPC (RocketMQ 5.x) endpoint with the official Node.js
# SDK (rocketmq-client-nodejs, pinned in package.json / package-lock.json), plaintext and TLS
# (tls.test.js, with a certificate from a throwaway CA made with node-forge, also pinned).
#
#   tests/compat-grpc/node/run.sh /path/to/rocketry
#
# Installs the SDK with `npm ci`, then runs every test/*.test.js with Node's built-in test
# runner; each test file starts its own broker (standalone, loopback, free ports, temp dir).
# Env knobs: ROCKETRY_LOG=debug (the broker's RUST_LOG), COMPAT_SDK_LOG=1 (echo the SDK's
# log to stderr), COMPAT_BROKER_LOG_DIR=<dir> (keep each broker's full output there).
set -euo pipefail

if [ $# -lt 1 ] || [ -z "$1" ]; then
  echo "usage: $0 /path/to/rocketry" >&2
  exit 2
fi
if [ ! -x "$1" ]; then
  echo "run.sh: $1 is not an executable rocketry binary" >&2
  exit 2
fi
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

npm ci --no-audit --no-fund

export ROCKETRY_BIN="$bin"
# Files run one at a time (each has its own broker); --test-force-exit ends a file whose
# SDK clients still hold timers or streams; `timeout` bounds the whole run.
timeout --kill-after=10 600 node --test --test-force-exit --test-concurrency=1 test/*.test.js
