#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and builds ringlet into a build directory.
#   scripts/build.sh [release|asan|fuzz] [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
dir=${2:-build}
case "$kind" in
    release) opts=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    asan)    opts=(-DCMAKE_BUILD_TYPE=Debug -DRINGLET_ASAN=ON) ;;
    fuzz)    opts=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang -DRINGLET_FUZZ=ON
                   -DRINGLET_BENCH=OFF) ;;
    *) echo "usage: $0 [release|asan|fuzz] [build-dir]" >&2; exit 2 ;;
esac
cmake -S . -B "$dir" "${opts[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
