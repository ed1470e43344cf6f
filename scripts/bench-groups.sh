#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Consumer-group benchmark: builds ringletd and group_bench (Release), starts ringletd on a free
# loopback port with a temporary data directory on disk (not tmpfs) and
# group.initial.rebalance.delay.ms=0, runs group_bench against it (failover time for 3 and 100
# members, durable OffsetCommit round trips per second), then stops ringletd by its PID.
#   scripts/bench-groups.sh [extra group_bench arguments, e.g. -r 5 -n 3,100 -c 5]
# Environment: BUILD_DIR (default build-release), SESSION_MS (default 6000), BENCH_TMP (parent
# of the data directory, default /var/tmp), RINGLETD_SET (extra "name=value ..." settings).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD_DIR:-build-release}
session=${SESSION_MS:-6000}

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRINGLET_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target ringletd group_bench >/dev/null

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

tmp=$(mktemp -d "${BENCH_TMP:-/var/tmp}/ringlet-groupbench.XXXXXX")
fstype=$(stat -f -c %T "$tmp")
if [ "$fstype" = tmpfs ] || [ "$fstype" = ramfs ]; then
    echo "bench-groups: $tmp is on $fstype; set BENCH_TMP to a directory on disk" >&2
    rm -rf "$tmp"
    exit 2
fi
port=$(free_port)
aport=$(free_port)
broker_pid=
cleanup() {
    if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
        kill -TERM "$broker_pid"
        for _ in $(seq 100); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$broker_pid" 2>/dev/null && kill -KILL "$broker_pid"
        wait "$broker_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

settings=("listeners=127.0.0.1:$port" "admin.listener=127.0.0.1:$aport" "log.dir=$tmp/data"
          group.initial.rebalance.delay.ms=0 "group.min.session.timeout.ms=$session")
# shellcheck disable=SC2206
[ -n "${RINGLETD_SET:-}" ] && settings+=(${RINGLETD_SET})
argv=("$root/$build/broker/ringletd")
for s in "${settings[@]}"; do argv+=(--set "$s"); done
"${argv[@]}" >"$tmp/ringletd.log" 2>&1 &
broker_pid=$!
for _ in $(seq 150); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$broker_pid" 2>/dev/null || { cat "$tmp/ringletd.log" >&2; exit 1; }
    sleep 0.1
done

offsets_parts=50
for s in "${settings[@]}"; do
    case "$s" in offsets.topic.num.partitions=*) offsets_parts=${s#*=} ;; esac
done
bench=("$root/$build/bench/group_bench" -b "127.0.0.1:$port" -p "$broker_pid" -s "$session"
       -O "$offsets_parts" -D "$tmp/data")
# The data directory's block device, for counting flush requests per commit.
dev=$(basename "$(df --output=source "$tmp" | tail -1)")
awk -v d="$dev" '$3 == d { f = 1 } END { exit !f }' /proc/diskstats && bench+=(-F "$dev")
bench+=("$@")
echo "data dir: $tmp/data ($fstype on $(df --output=source "$tmp" | tail -1)), $(nproc) CPUs"
echo "broker:   ${argv[*]}"
echo "bench:    ${bench[*]}"
"${bench[@]}" | tee "$tmp/bench.out"
nwarn=$(grep -cE ' (WARN|ERROR) ' "$tmp/ringletd.log" || true)
echo "ringletd log: $nwarn warn/error lines"
grep -E ' (WARN|ERROR) ' "$tmp/ringletd.log" | head -5 || true
awk -v session="$session" '
     /^RESULT failover/ && !/FAILED/ {
        m = val("members"); raw = val("death_to_reassigned_ms median"); ms = val("minus_session_ms median");
        rb = val("rebalance_ms median"); js = val("join_sync_ms median");
        out = out sprintf("failover %s members: death->reassigned %s ms median (%s ms minus the %s ms session timeout; rebalance %s ms, of it join+sync %s ms); ", m, raw, ms, session, rb, js) }
     /^RESULT failover/ && /FAILED/ { out = out $0 "; " }
     /^RESULT commits/ { out = out sprintf("%s commits/s %s; ", $3, val("commits_per_s")) }
     function val(k,   s) { s = $0; if (!sub(".*" k "=", "", s)) return "?"; sub(/ .*/, "", s); return s }
     END { sub(/; $/, "", out); print "SUMMARY " out }' "$tmp/bench.out"
