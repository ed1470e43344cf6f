#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every libFuzzer target built in BUILD_DIR for SECONDS each, on a copy of its committed
# corpus (tests/fuzz/corpus/<target>/). A crash fails the run and leaves the input in
# BUILD_DIR/fuzz-artifacts/ to turn into a unit test.
#   scripts/fuzz.sh [build-dir] [seconds]
set -uo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-fuzz}
secs=${2:-60}
fail=0
n=0
mkdir -p "$dir/fuzz-artifacts"
for bin in "$dir"/tests/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    corpus="tests/fuzz/corpus/$name"
    work="$dir/fuzz-work/$name"
    rm -rf "$work"; mkdir -p "$work"
    [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
    echo "-- $name (${secs}s, $(ls "$work" | wc -l) seeds)"
    if "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=0 \
        -artifact_prefix="$dir/fuzz-artifacts/$name-" "$work" >"$dir/fuzz-work/$name.log" 2>&1; then
        echo "   ok: $(grep -c . "$dir/fuzz-work/$name.log") log lines, no crash"
    else
        echo "   FAILED: see $dir/fuzz-work/$name.log"; tail -30 "$dir/fuzz-work/$name.log"; fail=1
    fi
    n=$((n + 1))
done
echo "fuzz: $n targets run"
[ $n -gt 0 ] || { echo "fuzz: no targets found in $dir"; fail=1; }
exit $fail
