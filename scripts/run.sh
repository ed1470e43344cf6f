#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's first command: installs what is missing, builds, and starts ringletd in the
# foreground on its default config (listener 127.0.0.1:9092, data in ./data).
# Extra arguments go to ringletd (e.g. --config ringlet.yaml, --set log.level=debug).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh release build
exec ./build/broker/ringletd "$@"
