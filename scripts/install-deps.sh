#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian package ringlet needs to build, test and benchmark, and only those that
# are missing. Safe to run again: with everything present it does nothing.
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config git python3 dpkg-dev libssl-dev libsasl2-dev rapidjson-dev
    liburing-dev libzstd-dev libxxhash-dev libyaml-dev libcmocka-dev
    liblz4-dev libsnappy-dev zlib1g-dev
    clang clang-format libclang-rt-14-dev
    librdkafka-dev kcat python3-kafka
    util-linux e2fsprogs procps iproute2 libmicrohttpd-dev prometheus
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

# Node.js and npm (for the kafkajs tests): any installation will do. Some images ship
# NodeSource's nodejs, which bundles npm and conflicts with Debian's npm package.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
