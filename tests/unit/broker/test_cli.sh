#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# ringletd's command line: exit codes and messages for bad options and bad configuration,
# docs/configuration.md matching the option table, and a start / SIGTERM / restart cycle
# (clean exit 0, meta.properties written once and its cluster id kept).
#   test_cli.sh <ringletd> <docs/configuration.md>
set -u
bin=$1
doc=$2
dir=$(mktemp -d /tmp/ringlet-test-cli-XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    [ -f "$dir/log" ] && cat "$dir/log"
    exit 1
}

"$bin" --bogus 2>"$dir/err"
[ $? -eq 2 ] || fail "unknown option: exit code"
grep -q "unknown option '--bogus'" "$dir/err" || fail "unknown option: message"
"$bin" --set 2>/dev/null
[ $? -eq 2 ] || fail "--set without an argument"
"$bin" --set nope=1 2>"$dir/err"
[ $? -eq 2 ] || fail "unknown setting: exit code"
grep -q "unknown setting 'nope'" "$dir/err" || fail "unknown setting: message"
"$bin" --node.id=x 2>"$dir/err"
[ $? -eq 2 ] || fail "--name=value with a bad value"
grep -q "node.id: expected an integer" "$dir/err" || fail "bad value: message"
printf 'node.id: 3\nlog:\n  level: loud\n' >"$dir/bad.yaml"
"$bin" --config "$dir/bad.yaml" 2>"$dir/err"
[ $? -eq 2 ] || fail "bad file: exit code"
grep -q "bad.yaml:3: log.level: expected one of debug|info|warn|error, got 'loud'" "$dir/err" ||
    fail "bad file: message $(cat "$dir/err")"
"$bin" --config "$dir/missing.yaml" 2>/dev/null
[ $? -eq 2 ] || fail "missing file: exit code"
"$bin" --version | grep -q '^ringletd ' || fail "--version"
"$bin" --help | grep -q 'usage: ringletd' || fail "--help"
"$bin" --help-config | grep -q '^socket.request.max.bytes (integer' || fail "--help-config"
"$bin" --help-config=markdown >"$dir/config.md" || fail "--help-config=markdown"
cmp -s "$dir/config.md" "$doc" ||
    fail "docs/configuration.md is stale: run cmake --build <dir> --target config_docs"

# Start (file + command-line override), wait until ready, SIGTERM, check the clean exit.
printf 'log:\n  dir: %s/data\nlisteners: 127.0.0.1:1\n' "$dir" >"$dir/ok.yaml"
start() {
    # The previous run's log goes first: the background job truncates it only once it runs, and
    # until then the wait below would find the old "ready" line and signal a broker that has not
    # installed its handlers yet (exit 143, seen as a flaky failure under load).
    rm -f "$dir/log"
    # no admin HTTP listener: tests run in parallel and its default port is fixed
    "$bin" --config "$dir/ok.yaml" --set listeners=127.0.0.1:0 --admin.listener= >"$dir/log" 2>&1 &
    pid=$!
    i=0
    until grep -qs "ringletd ready: listening on 127.0.0.1:[1-9]" "$dir/log"; do
        i=$((i + 1))
        [ $i -gt 600 ] && fail "not ready after 60 s"
        kill -0 "$pid" 2>/dev/null || fail "exited during start-up"
        sleep 0.1
    done
}
stop() {
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    pid=
    [ $rc -eq 0 ] || fail "exit code $rc after SIGTERM"
    grep -q "ringletd stopped cleanly" "$dir/log" || fail "no clean stop"
}
start
stop
id=$(sed -n 's/^cluster.id=//p' "$dir/data/meta.properties")
[ ${#id} -eq 22 ] || fail "cluster id '$id' in meta.properties"
grep -q "cluster $id" "$dir/log" || fail "cluster id not logged"
start
stop
grep -q "cluster $id" "$dir/log" || fail "cluster id changed across a restart"
echo "ok"
