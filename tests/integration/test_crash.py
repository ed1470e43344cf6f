# SPDX-License-Identifier: Apache-2.0
"""Crash safety: SIGKILL the broker during an idempotent acks=all produce (librdkafka, every
delivery report recorded, the codec changing every round), restart it on the same data dir,
and check that every acknowledged message is readable at its acknowledged offset and that no
message is stored twice. Repeated for RINGLET_CRASH_ROUNDS rounds (default 20).
crash_acks_all_direct does the same with every append written with O_DIRECT
(log.direct.min.bytes=1: the held-back and re-written partial blocks, the staging buffers)."""
import os
import random
import signal
import sys
import time

from harness import check, check_eq, log, run_tests, scaled, TestFailure, TestSkip
from test_librdkafka import META, create_topic
from test_kcat import FMT, parse_kcat_records


def read_topic(ctx, b, topic):
    """{partition: [(offset, value)]} read with kcat."""
    p = ctx.kcat(b, ["-C", "-t", topic, "-e", "-q", "-f", FMT], timeout=300)
    out = {}
    for part, off, _, _, val in parse_kcat_records(p.stdout):
        out.setdefault(part, []).append((off, val))
    return out


def crash_acks_all(ctx, settings=None):
    rounds = int(os.environ.get("RINGLET_CRASH_ROUNDS", "20"))
    # Small segments, so crashes also land around segment rolls and recovery spans several.
    b = ctx.broker(settings=dict({"log.segment.bytes": 1 << 20}, **(settings or {})))
    if (settings or {}).get("log.direct.min.bytes") == 1:
        started = b.log_tail(1000)
        if "direct I/O writes" not in started:
            # only a file system without direct I/O (tmpfs) may say so; anything else fails
            check("appends use buffered writes" in started,
                  "the broker did not report its write mode:\n" + started)
            raise TestSkip("no direct I/O on the work directory's file system")
    topic = "crash-topic"
    create_topic(b, topic, 3)
    acks = {}  # (partition, offset) -> value
    total_acked = 0
    for rnd in range(rounds):
        ackfile = os.path.join(ctx.workdir, "acks-%d.txt" % rnd)
        codec = ("none", "lz4", "zstd", "gzip", "snappy")[rnd % 5]
        prod = ctx.spawn([ctx.bin("rdk_crash"), b.bootstrap, topic, str(rnd), ackfile, codec])
        target = random.randint(scaled(200, 20), scaled(3000, 40))
        deadline = time.time() + 60
        n = 0
        while time.time() < deadline:
            try:
                with open(ackfile, "rb") as f:
                    n = f.read().count(b"\n")
            except OSError:
                n = 0
            if n >= target:
                break
            if prod.poll() is not None:
                raise TestFailure("round %d: producer exited with %d" % (rnd, prod.returncode))
            time.sleep(0.02)
        check(n > 0, "round %d: no acknowledgement within 60 s" % rnd)
        time.sleep(random.random() * 0.05)
        b.kill9()
        time.sleep(0.3)  # acks already on the wire still reach the producer
        prod.send_signal(signal.SIGKILL)
        prod.wait()
        round_acks = 0
        with open(ackfile, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    continue
                part, off, val = line.rstrip(b"\n").split(b" ", 2)
                key = (int(part), int(off))
                if key in acks and acks[key] != val:
                    raise TestFailure("offset %d@%d acknowledged twice: %r and %r"
                                      % (key[0], key[1], acks[key], val))
                acks[key] = val
                round_acks += 1
        total_acked += round_acks
        b.restart()
        log("round %d (%s): %d acks (total %d), broker restarted"
            % (rnd, codec, round_acks, total_acked))
        data = read_topic(ctx, b, topic)
        seen = {}
        for part, recs in data.items():
            offs = [o for o, _ in recs]
            check_eq(offs, list(range(offs[0], offs[0] + len(offs))),
                     "round %d: offsets of partition %d are not contiguous" % (rnd, part))
            for off, val in recs:
                if val in seen:
                    raise TestFailure("round %d: value %r stored twice (%d@%d and %d@%d)"
                                      % (rnd, val, seen[val][0], seen[val][1], part, off))
                seen[val] = (part, off)
        stored = {(p, o): v for p, recs in data.items() for o, v in recs}
        lost = [(k, v) for k, v in acks.items() if stored.get(k) != v]
        if lost:
            k, v = lost[0]
            raise TestFailure("round %d: %d acknowledged messages lost or moved; first: %r "
                              "acknowledged at %d@%d, stored there: %r"
                              % (rnd, len(lost), v, k[0], k[1], stored.get(k)))
    log("%d rounds, %d acknowledged messages, all readable at their offsets, no duplicates"
        % (rounds, total_acked))


def crash_acks_all_direct(ctx):
    crash_acks_all(ctx, {"log.direct.io": "true", "log.direct.min.bytes": 1})


TESTS = {
    "crash_acks_all": (crash_acks_all, dict(META, scenario="SIGKILL during acks=all produce, "
                                                           "restart: nothing acknowledged lost "
                                                           "or duplicated")),
    "crash_acks_all_direct": (crash_acks_all_direct,
                              dict(META, scenario="the same with every write O_DIRECT")),
}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
