#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Checks that every tracked C file is clang-formatted (.clang-format at the root), with Debian 12's
# clang-format (14). Prints the files that are not, and exits 1 if there are any.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format missing"; exit 1; }
bad=()
while IFS= read -r f; do
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.c' '*.h')
if [ ${#bad[@]} -gt 0 ]; then
    echo "check-format: not clang-formatted (run clang-format -i on them): ${bad[*]}"
    exit 1
fi
echo "check-format: $(git ls-files '*.c' '*.h' | wc -l) files formatted"
