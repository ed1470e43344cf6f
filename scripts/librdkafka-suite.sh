#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs librdkafka's own test suite (issue 8) against ringletd:
#
#   scripts/librdkafka-suite.sh [BOOTSTRAP]
#
# The suite comes from Debian's source package of the installed librdkafka (apt-get source; a
# deb-src entry for the same suites is added when none exists). It is unpacked and built, with
# its test runner linked against the library of that same source tree, under
# $LIBRDKAFKA_SUITE_DIR (default build/librdkafka-suite) and reused by later runs.
#
# With BOOTSTRAP (host:port) the tests run against that broker; without it ringletd ($RINGLETD,
# default build/broker/ringletd) is started on a free loopback port with a temporary data dir,
# num.partitions=4 (the suite's default scenario) and group.initial.rebalance.delay.ms=0 (saves
# 3 s per group in most group tests), plus a second one with Kafka's default delay (3000) for the
# entries marked @rebalancedelay.
# Every entry of scripts/librdkafka-suite/tests.txt runs in its own test-runner process (cwd
# tests/, as the suite expects), SUITE_JOBS (2) at a time, each killed after SUITE_TEST_TIMEOUT
# seconds (300; the runner's own per-test watchdog usually ends a hung test first). One line per
# entry is printed (entry, PASS/FAIL/SKIP, seconds, first failure) and, last, exactly
# "N passed, M failed" (a skipped test counts as failed: it proved nothing). Logs:
# $LIBRDKAFKA_SUITE_DIR/results/<run>/<entry>/log, summary.tsv; results/last is the last run.
#
# Exit status: 1 if a test not listed in scripts/librdkafka-suite/expected-failures.txt failed,
# 0 otherwise (expected failures that now pass are listed). 2: the suite could not be set up.
#
# Environment: SUITE_TESTS ("0001 0017": run only these), SUITE_JOBS, SUITE_TEST_TIMEOUT,
# SUITE_QUICK (1 = the runner's quick mode -Q, which skips every sub-test not marked quick, so
# several tests pass without testing anything; default 0),
# SUITE_RETRIES (serial retries of an unexpected failure, default 1; reported as "passed on
# retry" with the first failure), SUITE_TIMEOUT_MULTIPLIER (test.timeout.multiplier, default 2),
# TEST_KAFKA_VERSION (3.5.0),
# SUITE_DOCS (a path: write the Markdown results page there, e.g.
# docs/compatibility-librdkafka.md), RINGLETD_ARGS (extra ringletd arguments), TEST_DEBUG and
# SUBTESTS (passed to the runner), SUITE_BOOTSTRAP_REBALANCEDELAY (with BOOTSTRAP: the broker
# for @rebalancedelay entries; without it they are SKIPs).
# The whole script is one { } block, so bash parses it before running it: editing the file while
# a run is in progress cannot change what that run does.
{
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)
helpers=$root/scripts/librdkafka-suite

work=$(realpath -m "${LIBRDKAFKA_SUITE_DIR:-$root/build/librdkafka-suite}")
jobs_max=${SUITE_JOBS:-2}
test_timeout=${SUITE_TEST_TIMEOUT:-300}
quick=${SUITE_QUICK:-0}
multiplier=${SUITE_TIMEOUT_MULTIPLIER:-2}
export TEST_KAFKA_VERSION=${TEST_KAFKA_VERSION:-3.5.0}
# The runner relaxes timeouts and skips some tests (0055) when CI is set: behave the same everywhere.
unset CI
bootstrap=${1:-}

die() {
    echo "librdkafka-suite: $*" >&2
    exit 2
}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# ---- suite source and build --------------------------------------------------------------------

# Adds a deb-src twin of every deb entry (deb822 .sources files and one-line .list files) when
# apt knows no source package for librdkafka yet.
ensure_deb_src() {
    if [ -n "$(apt-cache showsrc librdkafka 2>/dev/null)" ]; then return 0; fi
    local out=/etc/apt/sources.list.d/ringlet-deb-src.sources tmp f
    tmp=$(mktemp)
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # Keep enabled stanzas of type deb, rewritten to deb-src; blank lines separate stanzas.
        awk 'BEGIN { RS = ""; ORS = "\n\n" }
             /(^|\n)Types:([ \t]+[a-z-]+)*[ \t]+deb([ \t]|\n|$)/ && !/(^|\n)Enabled: *no/ {
                 sub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f" >>"$tmp"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        sed -n 's/^[[:space:]]*deb[[:space:]]\+/deb-src /p' "$f" | while read -r line; do
            # One-line entry "deb-src [opts] URI SUITE COMPONENTS..." as a deb822 stanza.
            # shellcheck disable=SC2086 # split the entry into words on purpose
            set -- $line
            shift
            if [[ $1 == \[* ]]; then shift; fi
            printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: %s\n\n' "$1" "$2" \
                "${*:3}" >>"$tmp"
        done
    done
    if [ ! -s "$tmp" ]; then
        rm -f "$tmp"
        die "no deb entries found to derive a deb-src entry from"
    fi
    echo "librdkafka-suite: adding deb-src entries in $out" >&2
    $SUDO install -m 0644 "$tmp" "$out"
    rm -f "$tmp"
    $SUDO apt-get update -qq || die "apt-get update failed"
}

# Downloads, unpacks and builds the suite of the installed librdkafka once; sets $src.
# Configured as Debian builds it (SSL, SASL, zstd, external lz4), and with RapidJSON, which
# tests 0053 and 0110 need; the id names the configuration so a change rebuilds.
configure_args=(--no-download --enable-ssl --enable-gssapi --enable-zstd --enable-lz4-ext)
build_id="ringlet-1 ${configure_args[*]}"
prepare_suite() {
    local version
    version=$(dpkg-query -W -f='${source:Version}' librdkafka1 2>/dev/null) ||
        die "librdkafka1 is not installed (scripts/install-deps.sh installs it)"
    src=$work/librdkafka-$version
    if [ -x "$src/tests/test-runner" ] &&
        [ "$(cat "$src/.ringlet-built" 2>/dev/null)" = "$build_id" ]; then return 0; fi

    ensure_deb_src
    mkdir -p "$work/download"
    echo "librdkafka-suite: fetching source package librdkafka $version" >&2
    (cd "$work/download" && apt-get source --download-only -qq "librdkafka=$version") ||
        die "apt-get source librdkafka=$version failed"
    rm -rf "$src"
    (cd "$work/download" && dpkg-source -x "librdkafka_${version#*:}.dsc" "$src" >/dev/null) ||
        die "dpkg-source -x failed"
    echo "librdkafka-suite: building librdkafka and its test runner in $src" >&2
    (
        cd "$src" &&
            ./configure "${configure_args[@]}" >"$work/build.log" 2>&1 &&
            grep -q "define WITH_RAPIDJSON 1" config.h &&
            grep -q "define WITH_SASL_OAUTHBEARER 1" config.h &&
            make -C src -j2 >>"$work/build.log" 2>&1 &&
            make -C src-cpp -j2 >>"$work/build.log" 2>&1 &&
            make -C tests -j2 test-runner >>"$work/build.log" 2>&1
    ) || die "building the suite failed, see $work/build.log"
    echo "$build_id" >"$src/.ringlet-built"
}

# What this script needs of scripts/install-deps.sh's list (that script installs everything the
# project needs, so it runs only when one of these is missing).
for pkg in build-essential dpkg-dev python3 libssl-dev libsasl2-dev rapidjson-dev libzstd-dev \
    liblz4-dev zlib1g-dev librdkafka1; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        bash "$root/scripts/install-deps.sh" >&2 || die "scripts/install-deps.sh failed"
        break
    fi
done
prepare_suite
runner=$src/tests/test-runner
export LD_LIBRARY_PATH="$src/src:$src/src-cpp${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The runner must use the library built from the same tree, never the system copy.
if ! grep -qF "librdkafka.so.1 => $src/src/librdkafka.so.1" <<<"$(ldd "$runner")"; then
    die "$runner does not resolve librdkafka.so.1 to $src/src"
fi

# ---- broker ------------------------------------------------------------------------------------

run_id=$(date -u +%Y%m%dT%H%M%SZ)
results=$work/results/$run_id
mkdir -p "$results"
ln -sfn "$run_id" "$work/results/last"
broker_pids=()
data_dirs=()

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local pid
    for pid in "${broker_pids[@]}"; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ ${#data_dirs[@]} -gt 0 ]; then rm -rf "${data_dirs[@]}"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts ringletd with extra --set arguments on a free loopback port; prints its address.
# Settings follow the suite's scenarios (tests/scenarios/*.json): 4 partitions per auto-created
# topic; no initial rebalance delay so group tests do not wait 3 s per join.
start_ringletd() {
    local name=$1 port data_dir pid
    shift
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    data_dir=$(mktemp -d /tmp/ringlet-rdksuite.XXXXXX)
    data_dirs+=("$data_dir")
    # shellcheck disable=SC2086
    "$ringletd" --set "listeners=127.0.0.1:$port" --set "log.dir=$data_dir" \
        --set group.initial.rebalance.delay.ms=0 --set num.partitions=4 "$@" ${RINGLETD_ARGS:-} \
        >"$results/ringletd-$name.log" 2>&1 &
    pid=$!
    broker_pids+=("$pid")
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
        kill -0 "$pid" 2>/dev/null || die "ringletd exited at start, see $results/ringletd-$name.log"
        sleep 0.1
    done
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || die "ringletd does not listen on $port"
    started_address=127.0.0.1:$port
}

# Test entries: "NNNN" runs in the suite's default scenario (topic auto-creation on);
# "NNNN:noautocreate" would run that number's tests of the noautocreate scenario against a broker
# with auto.create.topics.enable=false (0045's two such tests also need kafka-topics.sh, so
# tests.txt has none); "NNNN@rebalancedelay" runs against a
# broker with Kafka's default group.initial.rebalance.delay.ms=3000 (0102 and 0118 need their two
# consumers to join the same first generation: with no delay the first one forms a generation
# alone, and the test never polls it through the rebalance the second one's join starts). Each profile gets its own ringletd.
declare -A profile_args=(
    [noautocreate]="--set auto.create.topics.enable=false"
    [rebalancedelay]="--set group.initial.rebalance.delay.ms=3000"
)
if [ -n "${SUITE_TESTS:-}" ]; then
    tests=$SUITE_TESTS
else
    tests=$(awk '/^[0-9]/ { print $1 }' "$helpers/tests.txt")
fi

write_conf() {
    sed -e "s|@BOOTSTRAP@|$2|" -e "s|@MULTIPLIER@|$multiplier|" "$helpers/test.conf.in" \
        >"$results/test-$1.conf"
}
broker_started_by_us=0
if [ -z "$bootstrap" ]; then
    ringletd=$(realpath -m "${RINGLETD:-$root/build/broker/ringletd}")
    [ -x "$ringletd" ] || die "no ringletd at $ringletd (build it, or set RINGLETD)"
    start_ringletd default
    bootstrap=$started_address
    for profile in "${!profile_args[@]}"; do
        if [[ " $tests " == *[:@]${profile}[[:space:]]* ]]; then
            # shellcheck disable=SC2086
            start_ringletd "$profile" ${profile_args[$profile]}
            write_conf "$profile" "$started_address"
        fi
    done
    broker_started_by_us=1
else
    # With an external broker, other profiles need their own: SUITE_BOOTSTRAP_<PROFILE>.
    for profile in "${!profile_args[@]}"; do
        var=SUITE_BOOTSTRAP_${profile^^}
        if [ -n "${!var:-}" ]; then write_conf "$profile" "${!var}"; fi
    done
fi
write_conf default "$bootstrap"

# ---- tests -------------------------------------------------------------------------------------

runner_args=(-p1)
if [ "$quick" = 1 ]; then runner_args+=(-Q); fi

# Runs one test entry in its own process; writes <entry>/result as
# "<entry>\t<PASS|FAIL|SKIP>\t<seconds>\t<detail>" and prints that line.
run_one() {
    local entry=$1 n=${1:0:4} profile=default dir start end rc status detail secs rows
    local args=("${runner_args[@]}")
    if [[ $entry == *:* ]]; then
        profile=${entry#*:}
        args+=(-s "$profile")
    elif [[ $entry == *@* ]]; then
        profile=${entry#*@}
    fi
    local conf=$results/test-$profile.conf
    dir=$results/${entry//[:@]/-}
    mkdir -p "$dir"
    if [ ! -f "$conf" ]; then
        printf '%s\tSKIP\t0\tno broker for profile %s (set SUITE_BOOTSTRAP_%s)\n' \
            "$entry" "$profile" "${profile^^}" | tee "$dir/result" | tr '\t' ' '
        return
    fi
    start=$(date +%s.%N)
    { # (the braces keep bash's "Aborted" job notices out of the output)
        # The tests open files relative to tests/ (../src/statistics_schema.json), so run there.
        (cd "$src/tests" && RDKAFKA_TEST_CONF=$conf TESTS=$n exec timeout -k 10 "$test_timeout" \
            "$runner" "${args[@]}") >"$dir/log" 2>&1
        rc=$?
    } 2>/dev/null
    end=$(date +%s.%N)
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    # The runner's summary rows, one per test of that number (0053 has two):
    # "| 0001_multiobj | PASSED | 1.234s | <failstr>".
    # Rows SKIPPED without a reason belong to another scenario: they are run by another entry.
    rows=$(sed 's/\x1b\[[0-9;]*m//g' "$dir/log" | grep -E "^\| ${n}_" |
        grep -vE '\|[[:space:]]+SKIPPED[[:space:]]+\|[^|]*\|[[:space:]]*$')
    # timeout(1) exits 124 (or 137 after -k); the runner's own per-test watchdog also ends the
    # process with SIGKILL (137) but reports the failure first.
    if [ $rc -eq 124 ] || { [ $rc -eq 137 ] && ! grep -q '^### Test ".*" failed at ' \
        <<<"$(sed 's/\x1b\[[0-9;]*m//g' "$dir/log")"; }; then
        status=FAIL
        detail="killed after ${test_timeout}s (timeout)"
    elif [ $rc -eq 0 ] && grep -qE '\|[[:space:]]+PASSED[[:space:]]+\|' <<<"$rows" &&
        ! grep -qvE '\|[[:space:]]+PASSED[[:space:]]+\|' <<<"$rows"; then
        status=PASS
        detail=""
    elif [ -n "$rows" ] && ! grep -qvE '\|[[:space:]]+SKIPPED[[:space:]]+\|' <<<"$rows"; then
        status=SKIP
        # shellcheck disable=SC2001 # per line, on several lines
        detail=$(sed 's/^|[^|]*|[^|]*|[^|]*|[[:space:]]*//' <<<"$rows" | head -1)
    else
        status=FAIL
        # First failure report: the line after '### Test "..." failed at file:line:func() ###'.
        detail=$(sed 's/\x1b\[[0-9;]*m//g' "$dir/log" |
            awk '/^### Test ".*" failed at / { loc = $0; getline; print loc " " $0; exit }' |
            sed -E 's/^### Test "([^"]*)" failed at ([^ ]*) at [^#]*###/\1 @ \2:/')
        if [ -z "$detail" ]; then detail="exit status $rc, no failure report (see log)"; fi
    fi
    detail=$(tr '\t\n' '  ' <<<"$detail" | cut -c1-400)
    printf '%s\t%s\t%s\t%s\n' "$entry" "$status" "$secs" "$detail" >"$dir/result"
    printf '%s %s %6ss %s\n' "$entry" "$status" "$secs" "$detail"
}

echo "librdkafka-suite: $(wc -w <<<"$tests") tests against $bootstrap, $jobs_max at a time," \
    "timeout ${test_timeout}s, TEST_KAFKA_VERSION=$TEST_KAFKA_VERSION, quick=$quick;" \
    "logs in $results"
suite_start=$(date +%s)
declare -A running=() # pid -> test entry (ringletd is a job too: count only tests)
for n in $tests; do
    while [ ${#running[@]} -ge "$jobs_max" ]; do
        wait -n -p done_pid "${!running[@]}"
        unset "running[$done_pid]"
    done
    run_one "$n" &
    running[$!]=$n
done
for pid in "${!running[@]}"; do wait "$pid"; done

# One serial retry (SUITE_RETRIES, default 1) of each failed test that is not an expected
# failure: a few tests are timing-sensitive when two run side by side on 2 cores. A test that
# passes only on retry is reported as such (its result says "passed on retry", with the first
# attempt's failure), never silently.
declare -A expected_early=()
while read -r n _; do
    [[ $n =~ ^[0-9]{4}([:@][a-z0-9]+)?$ ]] && expected_early[$n]=1
done <"$helpers/expected-failures.txt"
for ((attempt = 1; attempt <= ${SUITE_RETRIES:-1}; attempt++)); do
    for n in $tests; do
        res="$results/${n//[:@]/-}/result"
        [ -f "$res" ] || continue
        [ "$(cut -f2 "$res")" = PASS ] && continue
        [ -n "${expected_early[$n]+x}" ] && continue
        first=$(cut -f4 "$res")
        mv "$results/${n//[:@]/-}" "$results/${n//[:@]/-}-attempt$attempt"
        echo "librdkafka-suite: retrying $n alone (attempt $((attempt + 1)))"
        run_one "$n"
        if [ "$(cut -f2 "$res")" = PASS ]; then
            printf '%s\tPASS\t%s\tpassed on retry (first attempt: %s)\n' "$n" \
                "$(cut -f3 "$res")" "$(tr '\t' ' ' <<<"$first" | cut -c1-300)" >"$res"
        fi
    done
done
suite_secs=$(($(date +%s) - suite_start))

broker_note=""
for pid in "${broker_pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
        broker_note="ringletd exited during the run (see $results/ringletd-*.log)"
        echo "librdkafka-suite: $broker_note"
    fi
done

# ---- summary -----------------------------------------------------------------------------------

declare -A expected=()
while read -r n reason; do
    [[ $n =~ ^[0-9]{4}([:@][a-z0-9]+)?$ ]] && expected[$n]=$reason
done <"$helpers/expected-failures.txt"

passed=0
failed=0
regressions=()
now_passing=()
: >"$results/summary.tsv"
for n in $tests; do
    if [ -f "$results/${n//[:@]/-}/result" ]; then
        line=$(cat "$results/${n//[:@]/-}/result")
    else
        line=$(printf '%s\tFAIL\t0\tno result recorded' "$n")
    fi
    printf '%s\n' "$line" >>"$results/summary.tsv"
    status=$(cut -f2 <<<"$line")
    if [ "$status" = PASS ]; then
        passed=$((passed + 1))
        if [ -n "${expected[$n]+x}" ]; then now_passing+=("$n"); fi
    else
        failed=$((failed + 1))
        if [ -z "${expected[$n]+x}" ]; then regressions+=("$n"); fi
    fi
done
{
    echo "bootstrap=$bootstrap"
    echo "started_broker=$broker_started_by_us"
    echo "seconds=$suite_secs"
    echo "jobs=$jobs_max"
    echo "quick=$quick"
    echo "test_timeout=$test_timeout"
    echo "kafka_version=$TEST_KAFKA_VERSION"
    echo "librdkafka=$(basename "$src")"
    echo "broker_note=$broker_note"
    echo "date=$run_id"
} >"$results/run.env"

if [ -n "${SUITE_DOCS:-}" ]; then
    python3 "$helpers/results-to-markdown.py" "$results" "$helpers/expected-failures.txt" \
        >"$SUITE_DOCS" && echo "librdkafka-suite: wrote $SUITE_DOCS"
fi

echo "librdkafka-suite: wall time ${suite_secs}s"
if [ ${#now_passing[@]} -gt 0 ]; then
    echo "expected failures that now pass (remove them from expected-failures.txt): ${now_passing[*]}"
fi
if [ ${#regressions[@]} -gt 0 ]; then
    echo "unexpected failures: ${regressions[*]}"
fi
echo "$passed passed, $failed failed"
if [ ${#regressions[@]} -gt 0 ]; then exit 1; fi
exit 0
}
