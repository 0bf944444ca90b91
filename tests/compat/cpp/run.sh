#!/usr/bin/env bash
# Compatibility suite: the official RocketMQ C++ client 2.2.0 (apache/rocketmq-client-cpp) and the
# Python client built on it (PyPI rocketmq-client-python 2.0.0) against a rocketry binary.
#   tests/compat/cpp/run.sh /path/to/rocketry [pytest args...]
# The client library is built from ../shared/clients (beside the project) by its
# build-librocketmq.sh, once, into a cache outside the clone keyed by the archive's and the
# script's hash (${ROCKETRY_CACHE:-~/.cache/rocketry}/librocketmq-<hash>; a few minutes on 2 cores
# the first time, Debian packages installed by that script). Then cpp_client.cpp is compiled
# against it, a virtualenv here gets rocketmq-client-python with that library copied into its
# package, and pytest runs test_clients.py. Without ../shared/clients it says so and skips.
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 /path/to/rocketry [pytest args...]" >&2
    exit 2
fi
bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
shift
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
clients="$(cd "$root/.." && pwd)/shared/clients"
if [[ ! -f "$clients/rocketmq-client-cpp-2.2.0.tar.gz" || ! -f "$clients/build-librocketmq.sh" ]]; then
    echo "== compat/cpp: SKIPPED: $clients (the C++ client's source archive and build script) is missing"
    exit 0
fi

cache="${ROCKETRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rocketry}"
key="$(cat "$clients/rocketmq-client-cpp-2.2.0.tar.gz" "$clients/build-librocketmq.sh" | sha256sum | cut -c1-16)"
lib="$cache/librocketmq-$key"
# A cached library whose Debian dependencies are gone (a fresh machine with the cache restored)
# is built again, which installs them.
if [[ -f "$lib/lib/librocketmq.so" ]] && ldd "$lib/lib/librocketmq.so" | grep -q "not found"; then
    echo "== compat/cpp: $lib/lib/librocketmq.so misses libraries; building again"
    rm -rf "$lib"
fi
if [[ ! -f "$lib/lib/librocketmq.so" ]]; then
    echo "== compat/cpp: building librocketmq (C++ client 2.2.0) into $lib"
    mkdir -p "$cache"
    bash "$clients/build-librocketmq.sh" "$lib.partial" && rm -rf "$lib" && mv "$lib.partial" "$lib"
fi

# The test program, compiled again when its source or the library changes.
prog_key="$(cat "$here/cpp_client.cpp" "$lib/lib/librocketmq.so" | sha256sum | cut -c1-16)"
prog="$cache/cpp_client-$prog_key"
if [[ ! -x "$prog" ]]; then
    echo "== compat/cpp: compiling cpp_client.cpp"
    g++ -std=c++11 -O1 -Wall -I"$lib/include" "$here/cpp_client.cpp" -L"$lib/lib" -lrocketmq -lpthread \
        -Wl,-rpath,"$lib/lib" -o "$prog.tmp"
    mv "$prog.tmp" "$prog"
fi

python="${PYTHON:-python3}"
venv="$here/.venv"
if [[ ! -x "$venv/bin/python" ]]; then
    echo "== compat/cpp: creating $venv"
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$here/requirements.txt"
# The PyPI package is a ctypes wrapper: it loads librocketmq.so from its own folder first.
pkg="$("$venv/bin/python" -c 'import importlib.util; print(importlib.util.find_spec("rocketmq").submodule_search_locations[0])')"
cp "$lib/lib/librocketmq.so" "$pkg/librocketmq.so"

export ROCKETRY_BIN="$bin" CPP_CLIENT="$prog"
# The C++ client writes its logs under $HOME/logs/rocketmq-cpp: keep them out of the real home.
export HOME="$here/.home"
mkdir -p "$HOME"
echo "== compat/cpp: C++ client 2.2.0 and rocketmq-client-python $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("rocketmq-client-python"))') against $bin"
cd "$here"
timeout -k 15 600 "$venv/bin/python" -m pytest -v "$@"
