#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Metrics overhead: runs bench/broker_bench against a fresh ringletd with the admin listener off
# (admin.listener="", no metrics kept) and on (scraped every second by curl), alternating
# off/on ROUNDS times in the same session, and prints the produce throughput ratio on/off for
# each produce scenario (the issue asks for >= 0.97). Rounds alternate the order (off/on, then
# on/off, ...) and each run starts after a sync and a pause, so the writeback of the previous
# run's data does not always land on the same mode.
#
#   scripts/bench-metrics.sh [build-dir] [rounds] [produce-secs] [max-MiB-per-scenario]
#   (defaults: build-metrics-rel, 4, 5, 512; the build dir needs ringletd and broker_bench,
#   Release)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build-metrics-rel}
ROUNDS=${2:-4}
SECS=${3:-5}
MIB=${4:-512}
RINGLETD=$BUILD/broker/ringletd
BENCH=$BUILD/bench/broker_bench
for f in "$RINGLETD" "$BENCH"; do
    [ -x "$f" ] || { echo "bench-metrics: $f missing (cmake --build $BUILD --target ringletd broker_bench)" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "bench-metrics: curl missing" >&2; exit 1; }

WORK=$(mktemp -d /tmp/ringlet-bench-metrics.XXXXXX)
BPID=""
SPID=""
cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null || true
    [ -n "$BPID" ] && kill "$BPID" 2>/dev/null && wait "$BPID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# run_once <on|off> <round>: prints "<scenario>\t<msgs/s>" for the ringletd produce rows.
run_once() {
    local mode=$1 round=$2 port admin="" out
    port=$(free_port)
    if [ "$mode" = on ]; then admin=127.0.0.1:$(free_port); fi
    rm -rf "$WORK/data"
    sync
    sleep 2
    "$RINGLETD" --listeners=127.0.0.1:$port --log.dir="$WORK/data" --admin.listener="$admin" \
        >"$WORK/ringletd-$mode-$round.log" 2>&1 &
    BPID=$!
    for _ in $(seq 100); do
        grep -q "ringletd ready" "$WORK/ringletd-$mode-$round.log" && break
        sleep 0.1
    done
    if [ "$mode" = on ]; then
        ( while :; do curl -s -o /dev/null "http://$admin/metrics"; sleep 1; done ) &
        SPID=$!
    fi
    out=$("$BENCH" -b 127.0.0.1:$port -p "$BPID" -s "$SECS" -e 1 -m "$MIB")
    echo "$out" | grep -E '^(scenario|produce).* (target|ringletd) ' | sed "s/^/  [$mode] /" >&2
    if [ -n "$SPID" ]; then kill "$SPID"; wait "$SPID" 2>/dev/null || true; SPID=""; fi
    kill "$BPID"; wait "$BPID" 2>/dev/null || true; BPID=""
    echo "$out" | awk '/^produce/ && $0 ~ / ringletd / {
        for (i = 1; i <= NF; i++) if ($i == "ringletd") { name = $1; for (j = 2; j < i; j++) name = name " " $j; print name "\t" $(i + 1) } }'
}

declare -A vals_on vals_off
for r in $(seq "$ROUNDS"); do
    order="off on"
    if [ $((r % 2)) -eq 0 ]; then order="on off"; fi
    for mode in $order; do
        while IFS=$'\t' read -r scen rate; do
            [ -z "$scen" ] && continue
            echo "round $r metrics $mode: $scen: $rate msgs/s"
            if [ "$mode" = on ]; then
                vals_on[$scen]="${vals_on[$scen]:-} ${rate%.*}"
            else
                vals_off[$scen]="${vals_off[$scen]:-} ${rate%.*}"
            fi
        done < <(run_once "$mode" "$r")
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{v[NR] = $1} END {
    if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine makes single runs noisy: medians of $ROUNDS runs)"
for scen in "${!vals_off[@]}"; do
    off=$(echo "${vals_off[$scen]}" | median)
    on=$(echo "${vals_on[$scen]:-}" | median)
    awk -v s="$scen" -v on="$on" -v off="$off" 'BEGIN {
        printf "%-24s metrics off %10.0f msgs/s, on (scraped every 1 s) %10.0f msgs/s, ratio on/off %.3f\n",
               s, off, on, off ? on / off : 0 }'
done
