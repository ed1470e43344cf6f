#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# What segment rolls cost everyone else: kcat produces 1 KB lines with acks=all for SECONDS
# while bench/reactor_stall.py pings ApiVersions every 1 ms on another connection; once with
# log.segment.bytes=SEGMENT (a roll every SEGMENT bytes) and, as the baseline in the same run,
# with 1 GiB segments (no roll in the window). Prints both ping distributions, the rolls counted
# by ringletd (ringlet_storage_segment_rolls_total, and _blocking_total: rolls that made their
# files on the reactor) and, from `strace --seccomp-bpf -T` of ringletd (only the file calls a
# roll makes stop it), the time each segment creation held the reactor thread in them
# (bench/roll_reactor_time.py). A benchmark that prints figures, not a test.
#   scripts/bench-rolls.sh [build-dir] [SEGMENT bytes, default 16777216] [SECONDS, default 10]
# Environment: BENCH_DATA_PARENT (default /var/tmp; not tmpfs).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-release}
segment=${2:-16777216}
seconds=${3:-10}

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGLET_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target ringletd >/dev/null
command -v kcat >/dev/null || { echo "bench-rolls: kcat is not installed" >&2; exit 2; }
command -v strace >/dev/null || { echo "bench-rolls: strace is not installed" >&2; exit 2; }

parent=${BENCH_DATA_PARENT:-/var/tmp}
if [ "$(stat -f -c %T "$parent")" = "tmpfs" ]; then
    echo "bench-rolls: $parent is tmpfs; set BENCH_DATA_PARENT to a directory on disk" >&2
    exit 2
fi
work=$(mktemp -d "$parent/ringlet-rolls.XXXXXX")
broker_pid=""  # strace's pid; ringletd is its child
# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
    if [ -n "$broker_pid" ]; then
        pkill -TERM -P "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
metric() { # name port: the unlabelled sample's value
    /usr/bin/python3 - "$1" "$2" <<'EOF'
import sys, urllib.request
name, port = sys.argv[1], sys.argv[2]
for line in urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=10).read().decode().splitlines():
    if line.startswith(name + " "):
        print(int(float(line.split()[1])))
        break
else:
    print("n/a")
EOF
}

# 256 MiB of 1000-byte lines, sent again and again
/usr/bin/python3 -c '
import sys
line = (b"x" * 999) + b"\n"
with open(sys.argv[1], "wb") as f:
    for _ in range(256 * 1024 * 1024 // 1000):
        f.write(line)' "$work/load.txt"

echo "bench-rolls: git $(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) CPUs;" \
     "command: scripts/bench-rolls.sh $build $segment $seconds"
for phase in rolls baseline; do
    seg=$segment
    [ "$phase" = baseline ] && seg=1073741824
    data="$work/data-$phase"
    port=$(free_port)
    admin=$(free_port)
    strace --seccomp-bpf -f -T -e trace=openat,ftruncate,renameat -o "$work/strace-$phase.txt" \
        "$build/broker/ringletd" --set "listeners=127.0.0.1:$port" --set "log.dir=$data" \
        --set "admin.listener=127.0.0.1:$admin" --set "log.segment.bytes=$seg" \
        >"$work/ringletd-$phase.log" 2>&1 &
    broker_pid=$!
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
        sleep 0.1
    done
    kcat -b "127.0.0.1:$port" -L -t stall >/dev/null 2>&1 || true # auto-creates the topic
    bench/reactor_stall.py --broker "127.0.0.1:$port" --seconds "$seconds" \
        --label "$phase" >"$work/stall-$phase.txt" &
    ping_pid=$!
    end=$((SECONDS + ${seconds%.*}))
    while [ $SECONDS -lt $end ]; do
        timeout $((end - SECONDS + 1)) kcat -b "127.0.0.1:$port" -P -t stall -X acks=all \
            <"$work/load.txt" 2>/dev/null || true
    done
    wait "$ping_pid"
    sleep 1.2 # the metrics snapshot is refreshed once a second
    rolls=$(metric ringlet_storage_segment_rolls_total "$admin")
    blocking=$(metric ringlet_storage_segment_rolls_blocking_total "$admin")
    mb=$(du -sm "$data" | cut -f1)
    pkill -TERM -P "$broker_pid" # ringletd, strace's child; strace exits with it
    wait "$broker_pid" || true
    broker_pid=""
    echo "$(cat "$work/stall-$phase.txt")  segment ${seg} B: ${mb} MB written, rolls $rolls" \
         "(made on the reactor: $blocking)"
    bench/roll_reactor_time.py "$work/strace-$phase.txt" "$phase"
    rm -rf "$data"
done
