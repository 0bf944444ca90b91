#!/usr/bin/env bash
# Compatibility suite: the official RocketMQ 5.x Python SDK (rocketmq-python-client 5.1.2, from
# PyPI) against a rocketry binary's gRPC port (apache.rocketmq.v2.MessagingService), plaintext
# and TLS (test_tls.py: a certificate from a throwaway CA that conftest.py makes).
# Usage: tests/compat-grpc/python/run.sh /path/to/rocketry
# Makes .venv here (python3 -m venv), installs requirements.txt from PyPI, runs pytest.
# Exits non-zero when a test failed (or nothing could run). Extra arguments go to pytest.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 /path/to/rocketry [pytest args...]" >&2
    exit 2
fi
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
shift
if [[ ! -f "$bin" || ! -x "$bin" ]]; then
    echo "compat-grpc/python: $bin is not an executable file" >&2
    exit 2
fi
python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
    echo "compat-grpc/python: '$python' is not installed (needs Python 3.8+ with venv)" >&2
    exit 2
fi

here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [[ ! -x "$venv/bin/python" ]]; then
    echo "== compat-grpc/python: creating $venv"
    "$python" -m venv "$venv"
fi
echo "== compat-grpc/python: pip install -r requirements.txt"
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$here/requirements.txt"

export ROCKETRY_BIN="$bin"
echo "== compat-grpc/python: rocketmq-python-client $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("rocketmq-python-client"))') against $bin"
cd "$here"
rc=0
# pytest-timeout bounds each test (60 s) and the session (300 s); this bounds everything else.
timeout -k 15 420 "$venv/bin/python" -m pytest "$@" || rc=$?
if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    echo "== compat-grpc/python: FAIL (pytest did not finish within 420 s)"
elif [[ $rc -ne 0 ]]; then
    echo "== compat-grpc/python: FAIL (pytest exit $rc)"
else
    echo "== compat-grpc/python: PASS"
fi
exit $rc
