#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs broker_bench: builds a Release tree, starts ringletd on a free loopback port with a fresh
# data directory on disk (not tmpfs), benchmarks it against librdkafka's mock cluster in the same
# run, stops ringletd by its PID and removes the data directory.
#   scripts/bench-broker.sh [build-dir] [-- broker_bench options...]
# Environment: BENCH_DATA_PARENT (where the temporary data dir goes; default /var/tmp),
#              RINGLETD_SET (extra "name=value" settings for ringletd, space separated),
#              BENCH_PERF=1 (record `perf record -g` of ringletd during the run into
#                            <build-dir>/ringletd.perf.data).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build="build-release"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then build=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" = "--" ]; then shift; fi

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGLET_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target ringletd broker_bench >/dev/null

parent=${BENCH_DATA_PARENT:-/var/tmp}
if [ "$(stat -f -c %T "$parent")" = "tmpfs" ]; then
    echo "bench-broker: $parent is tmpfs; set BENCH_DATA_PARENT to a directory on disk" >&2
    exit 2
fi
data=$(mktemp -d "$parent/ringlet-bench.XXXXXX")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$data.ringletd.log"

settings=(--set "listeners=127.0.0.1:$port" --set "log.dir=$data")
# Metrics stay on, as by default, but on a free port (the default one may be taken).
if "$build/broker/ringletd" --help-config 2>/dev/null | grep -q '^admin\.listener\b'; then
    admin_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    settings+=(--set "admin.listener=127.0.0.1:$admin_port")
fi
for kv in ${RINGLETD_SET:-}; do settings+=(--set "$kv"); done

broker_pid=""
perf_pid=""
# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
    if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" || true; fi
    if [ -n "$broker_pid" ]; then
        kill -TERM "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
    fi
    rm -rf "$data"
}
trap cleanup EXIT

"$build/broker/ringletd" "${settings[@]}" >"$log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    if ! kill -0 "$broker_pid" 2>/dev/null; then
        echo "bench-broker: ringletd exited at start; its log:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.1
done

if [ "${BENCH_PERF:-0}" = 1 ]; then
    perf record -g -p "$broker_pid" -o "$build/ringletd.perf.data" >/dev/null 2>&1 &
    perf_pid=$!
fi

fs=$(stat -f -c %T "$data")
echo "bench-broker: ringletd pid $broker_pid on 127.0.0.1:$port, data dir $data ($fs)"
echo "bench-broker: ringletd command: $build/broker/ringletd ${settings[*]}"
cmd=("$build/bench/broker_bench" -b "127.0.0.1:$port" -p "$broker_pid" -d "$data" "$@")
echo "bench-broker: bench command:    ${cmd[*]}"
echo "bench-broker: this script:      scripts/bench-broker.sh ${build}${*:+ -- $*}"
echo "bench-broker: git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
     "$(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo
rc=0
"${cmd[@]}" || rc=$?
if ! kill -0 "$broker_pid" 2>/dev/null; then
    echo "bench-broker: ringletd died during the run; last lines of its log:" >&2
    tail -20 "$log" >&2
    broker_pid=""
    exit 1
fi
if grep -qE " (WARN|ERROR) " "$log"; then
    echo
    echo "bench-broker: ringletd warnings/errors during the run:"
    grep -E " (WARN|ERROR) " "$log" | tail -10
fi
rm -f "$log"
exit "$rc"
