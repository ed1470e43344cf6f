# SPDX-License-Identifier: Apache-2.0
"""kcat against ringletd: metadata listing, a 10,000-line keyed round trip (byte-exact, keys and
per-partition order kept) and timestamp offset lookups (-o s@<ts>)."""
import json
import random
import sys
import time

from harness import check, check_eq, kcat_version, log, run_tests, scaled, TestFailure

META = {"client": "kcat", "version": kcat_version}


def parse_kcat_records(out):
    """Parse output of -f '%p %o %T %K %S:%k%s\\n' into (partition, offset, ts, key, value)."""
    recs = []
    p = 0
    while p < len(out):
        colon = out.index(b":", p)
        part, off, ts, klen, vlen = (int(x) for x in out[p:colon].split(b" "))
        q = colon + 1
        key = None if klen < 0 else out[q:q + max(klen, 0)]
        q += max(klen, 0)
        val = None if vlen < 0 else out[q:q + max(vlen, 0)]
        q += max(vlen, 0)
        if out[q:q + 1] != b"\n":
            raise TestFailure("kcat output not in the expected format near byte %d: %r"
                              % (p, out[p:p + 80]))
        recs.append((part, off, ts, key, val))
        p = q + 1
    return recs


FMT = "%p %o %T %K %S:%k%s\n"


def consume_all(ctx, broker, topic, extra=None, timeout=180):
    p = ctx.kcat(broker, ["-C", "-t", topic, "-e", "-q", "-f", FMT] + (extra or []),
                 timeout=timeout)
    return parse_kcat_records(p.stdout)


def kcat_metadata(ctx):
    b = ctx.broker(settings={"num.partitions": 3})
    ctx.kcat(b, ["-P", "-t", "meta-topic"], input=b"hello\n")
    p = ctx.kcat(b, ["-L", "-J"])
    md = json.loads(p.stdout)
    log("metadata: %s" % json.dumps(md)[:1000])
    brokers = md.get("brokers", [])
    check_eq(len(brokers), 1, "number of brokers in kcat -L")
    check_eq(brokers[0]["id"], 1, "broker id")
    check_eq(brokers[0]["name"], b.bootstrap, "broker host:port")
    check_eq(md.get("controllerid"), 1, "controller id")
    topics = {t["topic"]: t for t in md.get("topics", [])}
    check("meta-topic" in topics, "auto-created topic missing from kcat -L: %s" % list(topics))
    t = topics["meta-topic"]
    check("error" not in t, "topic error in metadata: %s" % t.get("error"))
    parts = sorted(t["partitions"], key=lambda x: x["partition"])
    check_eq([x["partition"] for x in parts], [0, 1, 2], "partitions of auto-created topic")
    for x in parts:
        check_eq(x["leader"], 1, "leader of partition %d" % x["partition"])
        check_eq([r["id"] for r in x["replicas"]], [1], "replicas of partition %d" % x["partition"])
        check_eq([r["id"] for r in x["isrs"]], [1], "ISR of partition %d" % x["partition"])
    # Plain-text listing too, as a person would read it.
    p = ctx.kcat(b, ["-L", "-t", "meta-topic"])
    text = p.stdout.decode()
    check("1 brokers:" in text, "plain kcat -L lacks '1 brokers:':\n" + text)
    check('topic "meta-topic" with 3 partitions' in text,
          "plain kcat -L lacks the topic with 3 partitions:\n" + text)


def gen_keyed_lines(n):
    keys = [b"key-%d-%s" % (i, bytes([0xc3, 0xa9, 0x09, 0x7e])) for i in range(97)]
    lines = []
    for i in range(n):
        k = keys[(i * 7919) % len(keys)]
        ln = random.randint(1, 300)
        payload = bytes(random.choice(range(1, 256)) for _ in range(min(ln, 16)))
        payload = payload.replace(b"\n", b"\x0b")
        v = b"v%06d:" % i + payload + b"x" * (ln - min(ln, 16))
        lines.append((k, v))
    return lines


def kcat_roundtrip(ctx):
    n = scaled(10000, 100)
    b = ctx.broker(settings={"num.partitions": 4})
    topic = "kcat-roundtrip"
    lines = gen_keyed_lines(n)
    data = b"".join(k + b":" + v + b"\n" for k, v in lines)
    ctx.kcat(b, ["-P", "-t", topic, "-K:", "-X", "acks=all"], input=data, timeout=180)
    recs = consume_all(ctx, b, topic)
    check_eq(len(recs), n, "records consumed back")
    # Byte-exact multiset of (key, value), each value unique by its index prefix.
    want = {v: k for k, v in lines}
    got_vals = set()
    for part, off, ts, k, v in recs:
        check(v in want, "consumed a value that was never produced: %r" % v[:60])
        check(v not in got_vals, "value consumed twice: %r" % v[:40])
        got_vals.add(v)
        check_eq(k, want[v], "key of value %r" % v[:12])
    # Per partition: offsets 0..n-1 contiguous, and the produce order of each key kept.
    by_part = {}
    for part, off, ts, k, v in recs:
        by_part.setdefault(part, []).append((off, k, v))
    check(len(by_part) > 1, "all keys landed in one partition: %s" % list(by_part))
    key_part = {}
    order = {v: i for i, (k, v) in enumerate(lines)}
    for part, lst in by_part.items():
        offs = [o for o, _, _ in lst]
        check_eq(offs, list(range(len(lst))), "offsets of partition %d" % part)
        last_idx = {}
        for off, k, v in lst:
            check(key_part.setdefault(k, part) == part,
                  "key %r in partitions %d and %d" % (k, key_part[k], part))
            idx = order[v]
            check(idx > last_idx.get(k, -1),
                  "partition %d: key %r out of produce order at offset %d" % (part, k, off))
            last_idx[k] = idx
    log("%d records in %d partitions, byte-exact, keys and order kept" % (n, len(by_part)))


def kcat_timestamps(ctx):
    b = ctx.broker(settings={"num.partitions": 2})
    topic = "kcat-ts"
    t0 = int(time.time() * 1000)
    ctx.kcat(b, ["-P", "-t", topic, "-K:"], input=b"".join(b"k%d:first-%d\n" % (i, i)
                                                           for i in range(50)))
    time.sleep(1.2)
    t_mid = int(time.time() * 1000)
    time.sleep(1.2)
    ctx.kcat(b, ["-P", "-t", topic, "-K:"], input=b"".join(b"k%d:second-%d\n" % (i, i)
                                                           for i in range(50)))
    t_end = int(time.time() * 1000)
    recs = consume_all(ctx, b, topic)
    check_eq(len(recs), 100, "records in topic")
    for part, off, ts, k, v in recs:
        check(t0 - 1000 <= ts <= t_end + 1000,
              "timestamp %d of offset %d outside the produce window [%d,%d]" % (ts, off, t0,
                                                                              t_end))
    # s@<ts> between the two bursts: exactly the second burst.
    recs = consume_all(ctx, b, topic, ["-o", "s@%d" % t_mid])
    vals = sorted(v for _, _, _, _, v in recs)
    check_eq(vals, sorted(b"second-%d" % i for i in range(50)), "records from s@%d" % t_mid)
    # s@<before everything>: everything.
    recs = consume_all(ctx, b, topic, ["-o", "s@%d" % (t0 - 60000)])
    check_eq(len(recs), 100, "records from s@<before first>")
    # s@<ts> .. e@<ts>: only the first burst.
    recs = consume_all(ctx, b, topic, ["-o", "s@%d" % (t0 - 60000), "-o", "e@%d" % t_mid])
    vals = sorted(v for _, _, _, _, v in recs)
    check_eq(vals, sorted(b"first-%d" % i for i in range(50)),
             "records from s@<before first> to e@%d" % t_mid)
    # s@<future>: nothing (ListOffsets answers -1, kcat starts at the end).
    recs = consume_all(ctx, b, topic, ["-o", "s@%d" % (t_end + 3600000)])
    check_eq(len(recs), 0, "records from s@<one hour ahead>")


def kcat_group(ctx):
    """kcat -G (balanced consumer): reads everything once, commits, and a second run of the
    same group reads only what was produced in between."""
    b = ctx.broker(settings={"num.partitions": 3})
    topic = "kcat-group"
    ctx.kcat(b, ["-P", "-t", topic, "-K:"], input=b"".join(b"k%d:first-%d\n" % (i, i)
                                                           for i in range(100)))
    args = ["-G", "kcat-group-g", "-X", "auto.offset.reset=earliest", "-e", "-q", "-f",
            "%s\n", topic]
    p = ctx.kcat(b, args, timeout=120)
    got = sorted(p.stdout.split())
    check_eq(got, sorted(b"first-%d" % i for i in range(100)), "first kcat -G run")
    ctx.kcat(b, ["-P", "-t", topic, "-K:"], input=b"".join(b"k%d:second-%d\n" % (i, i)
                                                           for i in range(10)))
    p = ctx.kcat(b, args, timeout=120)
    got = sorted(p.stdout.split())
    check_eq(got, sorted(b"second-%d" % i for i in range(10)),
             "second kcat -G run of the same group (only the new records)")


TESTS = {
    "kcat_group": (kcat_group, dict(META, scenario="balanced consumer (-G) with commits")),
    "kcat_metadata": (kcat_metadata, dict(META, scenario="metadata listing (-L)")),
    "kcat_roundtrip": (kcat_roundtrip,
                       dict(META, scenario="10,000 keyed lines round trip, byte-exact")),
    "kcat_timestamps": (kcat_timestamps, dict(META, scenario="timestamp lookups (-o s@/e@)")),
}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
