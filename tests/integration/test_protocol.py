# SPDX-License-Identifier: Apache-2.0
"""Raw protocol checks that clients hide: Produce validation error codes, ListOffsets by
timestamp, Metadata v0/v1 topic-list semantics, idempotent-producer deduplication (also
after a clean restart and after SIGKILL), and topic creation that does not stall other
connections."""
import select
import subprocess
import sys

import kproto
from harness import check, check_eq, log, run_tests

META = {"client": "raw socket", "version": "kproto.py"}


def records(n, tag, ts=None):
    return [(b"k%d" % i, b"%s-%d" % (tag, i), [("h", b"%d" % i)]) for i in range(n)]


def raw_produce_validation(ctx):
    b = ctx.broker()
    t = "pv"
    with kproto.Conn(b.port) as c:
        check_eq(c.create_topic(t, 2), 0, "CreateTopics error code")
        t1, t2 = 1700000000000, 1700000100000
        err, off = c.produce(t, 0, kproto.record_batch(records(5, b"a"), base_ts=t1))
        check_eq((err, off), (0, 0), "first valid produce (error, base offset)")
        # Bad CRC: flip one byte of the last record.
        good = kproto.record_batch(records(3, b"x"))
        bad = good[:-1] + bytes([good[-1] ^ 0x55])
        err, _ = c.produce(t, 0, bad)
        check_eq(err, kproto.CORRUPT_MESSAGE, "produce with a bad CRC")
        # Batch length claiming more bytes than sent.
        trunc = good[:8] + kproto.i32(len(good) + 1000) + good[12:]
        err, _ = c.produce(t, 0, trunc)
        check(err in (kproto.CORRUPT_MESSAGE, kproto.INVALID_RECORD),
              "produce of a truncated batch: error %d, expected 2 or 87" % err)
        # Record count larger than the records present.
        body = bytearray(good)
        body[57:61] = kproto.i32(50)
        crc_part = bytes(body[21:])
        body[17:21] = kproto.struct.pack(">I", kproto.crc32c(crc_part))
        err, _ = c.produce(t, 0, bytes(body))
        check(err in (kproto.CORRUPT_MESSAGE, kproto.INVALID_RECORD),
              "produce of a batch whose record count exceeds its records: error %d" % err)
        err, _ = c.produce(t, 99, good)
        check_eq(err, kproto.UNKNOWN_TOPIC_OR_PARTITION, "produce to partition 99")
        err, off = c.produce(t, 0, kproto.record_batch(records(4, b"b"), base_ts=t2))
        check_eq((err, off), (0, 5), "valid produce after the rejected ones (error, offset)")
        recs, hw = c.fetch_all(t, 0)
        check_eq(hw, 9, "high watermark after 2 valid and 3 rejected batches")
        check_eq([(o, v) for o, _, _, v, _ in recs],
                 [(i, b"a-%d" % i) for i in range(5)] + [(5 + i, b"b-%d" % i) for i in range(4)],
                 "stored records")
        check_eq([h for _, _, _, _, h in recs][6], [("h", b"1")], "headers of offset 6")
        check_eq([ts for _, ts, _, _, _ in recs][:5], [t1] * 5, "CreateTime timestamps")
        # ListOffsets: earliest, latest, by timestamp, beyond the last timestamp.
        check_eq(c.list_offsets(t, 0, -2), (0, 0), "ListOffsets earliest")
        check_eq(c.list_offsets(t, 0, -1), (0, 9), "ListOffsets latest")
        check_eq(c.list_offsets(t, 0, t1 + 1), (0, 5), "ListOffsets by a timestamp after t1")
        check_eq(c.list_offsets(t, 0, t1), (0, 0), "ListOffsets by t1")
        check_eq(c.list_offsets(t, 0, t2 + 1), (0, -1), "ListOffsets beyond the last timestamp")
        check_eq(c.list_offsets(t, 1, -1), (0, 0), "ListOffsets latest of the empty partition")
        # Fetch out of range.
        err, _, _ = c.fetch(t, 0, 100)
        check_eq(err, kproto.OFFSET_OUT_OF_RANGE, "fetch at offset 100 of a 9-record partition")
        # Metadata: v0 empty list = all topics; v1 empty = none, null = all.
        md0, brokers = c.metadata([], version=0)
        check(t in md0, "Metadata v0 with an empty topic list lacks %s: %s" % (t, list(md0)))
        check_eq([(x[0], x[2]) for x in brokers], [(1, b.port)], "brokers in Metadata v0")
        md1, _ = c.metadata([], version=1)
        check_eq(list(md1), [], "Metadata v1 with an empty topic list")
        md1, _ = c.metadata(None, version=1)
        check(t in md1, "Metadata v1 with a null topic list lacks %s" % t)
        check_eq(sorted(md1[t][1]), [0, 1], "partitions of %s" % t)


def raw_idempotence(ctx):
    b = ctx.broker()
    t = "idem"
    with kproto.Conn(b.port) as c:
        check_eq(c.create_topic(t, 1), 0, "CreateTopics error code")
        err, pid, epoch = c.init_producer_id()
        check_eq(err, 0, "InitProducerId error")
        check(pid >= 0 and epoch >= 0, "InitProducerId gave pid %d epoch %d" % (pid, epoch))

        def batch(seq, n, tag):
            return kproto.record_batch(records(n, tag), producer_id=pid, producer_epoch=epoch,
                                       base_seq=seq)
        b0 = batch(0, 3, b"s0")
        check_eq(c.produce(t, 0, b0), (0, 0), "first idempotent batch")
        check_eq(c.produce(t, 0, b0), (0, 0), "duplicate of the first batch (same offset)")
        b3 = batch(3, 2, b"s3")
        check_eq(c.produce(t, 0, b3), (0, 3), "second batch (seq 3)")
        check_eq(c.produce(t, 0, b0), (0, 0), "duplicate of the first batch again")
        err, _ = c.produce(t, 0, batch(10, 1, b"gap"))
        check_eq(err, kproto.OUT_OF_ORDER_SEQUENCE_NUMBER, "batch with a sequence gap")
        recs, hw = c.fetch_all(t, 0)
        check_eq(hw, 5, "high watermark after duplicates")
    for how in ("restart", "kill9"):
        if how == "restart":
            b.stop()
        else:
            b.kill9()
        b.restart()
        with kproto.Conn(b.port) as c:
            check_eq(c.produce(t, 0, b3), (0, 3),
                     "duplicate of the last batch after a %s (producer state from the log)" % how)
            err, _ = c.produce(t, 0, batch(10, 1, b"gap"))
            check_eq(err, kproto.OUT_OF_ORDER_SEQUENCE_NUMBER, "sequence gap after a %s" % how)
            recs, hw = c.fetch_all(t, 0)
            check_eq(hw, 5, "high watermark after the %s" % how)
    with kproto.Conn(b.port) as c:
        check_eq(c.produce(t, 0, batch(5, 1, b"s5")), (0, 5), "next batch in sequence")
        recs, hw = c.fetch_all(t, 0)
        check_eq([v for _, _, _, v, _ in recs],
                 [b"s0-0", b"s0-1", b"s0-2", b"s3-0", b"s3-1", b"s5-0"], "stored values")
    log("idempotent producer: duplicates deduplicated, gaps rejected, state survives restarts")


def raw_pipelining(ctx):
    """Responses in request order, acks=0 unanswered, KIP-74 first batch over max_bytes."""
    b = ctx.broker()
    t = "pipe"
    with kproto.Conn(b.port) as c:
        check_eq(c.create_topic(t, 2), 0, "CreateTopics error code")
        # A long-poll Fetch on an empty partition (waits max_wait), then quick requests behind
        # it: every response must come back in request order.
        fetch_body = (kproto.i32(-1) + kproto.i32(400) + kproto.i32(1) + kproto.i32(1 << 20) +
                      kproto.i8(0) + kproto.i32(1) + kproto.string(t) + kproto.i32(1) +
                      kproto.i32(1) + kproto.i64(0) + kproto.i32(1 << 20))
        sent = [c.send(kproto.FETCH, 4, fetch_body)]
        for i in range(20):
            sent.append(c.send(kproto.API_VERSIONS, 0, b""))
            sent.append(c.send(kproto.METADATA, 1, kproto.array([t], kproto.string)))
        # acks=0 produce: no response at all.
        body = (kproto.string(None) + kproto.i16(0) + kproto.i32(30000) + kproto.i32(1) +
                kproto.string(t) + kproto.i32(1) + kproto.i32(0) +
                kproto.bytes_(kproto.record_batch(records(3, b"acks0"))))
        c.send(kproto.PRODUCE, 3, body)
        sent.append(c.send(kproto.API_VERSIONS, 0, b""))
        got = []
        for _ in sent:
            frame = c.recv_frame()
            check(frame is not None, "connection closed after %d of %d responses"
                  % (len(got), len(sent)))
            got.append(frame[0])
        check_eq(got, sent, "correlation ids in response order (acks=0 produce unanswered)")
        # The acks=0 records were stored.
        recs, hw = c.fetch_all(t, 0)
        check_eq([v for _, _, _, v, _ in recs], [b"acks0-%d" % i for i in range(3)],
                 "records of the acks=0 produce")
        # KIP-74: a first batch larger than max_bytes still comes back whole.
        big = [(None, b"z" * 200, []) for _ in range(300)]
        check_eq(c.produce(t, 1, kproto.record_batch(big))[0], 0, "produce of a 60 KB batch")
        err, hw, blob = c.fetch(t, 1, 0, max_bytes=100)
        check_eq(err, 0, "fetch with max_bytes 100")
        check_eq(len(kproto.parse_batches(blob)), 300,
                 "records returned for max_bytes=100 (the whole first batch, KIP-74)")


def answered_before(a, other, n=5):
    """How many of n ApiVersions requests on `other` are answered while `a` has no response
    waiting yet."""
    first = 0
    for _ in range(n):
        other.request(kproto.API_VERSIONS, 0, b"")
        ready, _, _ = select.select([a.s], [], [], 0)
        first += 0 if ready else 1
    return first


def raw_create_topics_async(ctx):
    """A CreateTopics or CreatePartitions of many partitions does not stall other connections:
    their requests are answered while the partitions are being made; meanwhile a new topic's name
    is taken (Metadata does not auto-create it, a second CreateTopics fails); then every
    partition works, also after a restart."""
    b = ctx.broker()
    t, n = "many-parts", 300
    with kproto.Conn(b.port) as a, kproto.Conn(b.port) as other:
        body = (kproto.i32(1) + kproto.string(t) + kproto.i32(n) + kproto.i16(1) + kproto.i32(0) +
                kproto.i32(0) + kproto.i32(60000))
        corr = a.send(kproto.CREATE_TOPICS, 0, body)
        # Requests sent after it on another connection are answered before it is: the reactor
        # does not make the directories and files itself (with it doing so, the CreateTopics
        # response was always out first).
        answered_first = answered_before(a, other)
        check(answered_first >= 1, "ApiVersions on another connection was answered only after "
              "the CreateTopics of %d partitions" % n)
        # Meanwhile: not auto-created with the default partition count, not creatable again.
        md, _ = other.metadata([t])
        err, parts = md[t]
        check(err in (0, kproto.LEADER_NOT_AVAILABLE),
              "Metadata of a topic being created: error %d" % err)
        check(err != 0 or len(parts) == n, "Metadata auto-created %d partition(s)" % len(parts))
        check_eq(other.create_topic(t, 1), kproto.TOPIC_ALREADY_EXISTS,
                 "a second CreateTopics of the name")
        frame = a.recv_frame()
        check(frame is not None and frame[0] == corr, "the CreateTopics response")
        r = frame[1]
        r.i32()
        check_eq(r.string(), t, "topic in the response")
        check_eq(r.i16(), 0, "CreateTopics error code")
        log("%d of 5 requests on another connection answered before the CreateTopics"
            % answered_first)
        md, _ = other.metadata([t])
        check_eq((md[t][0], len(md[t][1])), (0, n), "Metadata after the creation")
        check_eq(other.produce(t, n - 1, kproto.record_batch(records(2, b"last")))[0], 0,
                 "produce to the last partition")
        # CreatePartitions (API 37 v0) to 2n: made off the reactor the same way.
        body = (kproto.i32(1) + kproto.string(t) + kproto.i32(2 * n) + kproto.i32(-1) +
                kproto.i32(60000) + kproto.i8(0))
        corr = a.send(37, 0, body)
        answered_first = answered_before(a, other)
        check(answered_first >= 1, "ApiVersions on another connection was answered only after "
              "the CreatePartitions of %d more partitions" % n)
        frame = a.recv_frame()
        check(frame is not None and frame[0] == corr, "the CreatePartitions response")
        r = frame[1]
        r.i32()
        check_eq(r.i32(), 1, "results in the CreatePartitions response")
        check_eq(r.string(), t, "topic in the CreatePartitions response")
        check_eq(r.i16(), 0, "CreatePartitions error code")
        md, _ = other.metadata([t])
        check_eq((md[t][0], len(md[t][1])), (0, 2 * n), "Metadata after CreatePartitions")
        check_eq(other.produce(t, 2 * n - 1, kproto.record_batch(records(1, b"new")))[0], 0,
                 "produce to the last new partition")
    b.restart()
    with kproto.Conn(b.port) as c:
        md, _ = c.metadata([t])
        check_eq((md[t][0], len(md[t][1])), (0, 2 * n), "Metadata after a restart")
        recs, _ = c.fetch_all(t, n - 1)
        check_eq([v for _, _, _, v, _ in recs], [b"last-0", b"last-1"],
                 "records of partition %d after a restart" % (n - 1))
        recs, _ = c.fetch_all(t, 2 * n - 1)
        check_eq([v for _, _, _, v, _ in recs], [b"new-0"],
                 "records of partition %d after a restart" % (2 * n - 1))


def raw_fetch_max_bytes(ctx):
    """Fetch MaxBytes across partitions: only the first partition with data may exceed it."""
    fetch_max_bytes_case(ctx, None, 100000, 100000)


def raw_fetch_broker_max_bytes(ctx):
    """The broker's fetch.max.bytes caps a response whatever MaxBytes the client asks."""
    fetch_max_bytes_case(ctx, {"fetch.max.bytes": 100000}, 50000000, 100000)


def fetch_max_bytes_case(ctx, settings, request_max, max_bytes):
    b = ctx.broker(settings=settings)
    t = "maxb"
    with kproto.Conn(b.port) as c:
        check_eq(c.create_topic(t, 3), 0, "CreateTopics error code")
        big = [(None, b"m" * 200, []) for _ in range(300)]  # one batch of about 62 KB
        for p in range(3):
            check_eq(c.produce(t, p, kproto.record_batch(big))[0], 0, "produce to %d" % p)
        body = (kproto.i32(-1) + kproto.i32(100) + kproto.i32(1) + kproto.i32(request_max) +
                kproto.i8(0) + kproto.i32(1) + kproto.string(t) +
                kproto.array(list(range(3)),
                             lambda p: kproto.i32(p) + kproto.i64(0) + kproto.i32(20000000)))
        r = c.request(kproto.FETCH, 4, body)
        r.i32()  # throttle
        sizes = {}
        for _ in range(r.i32()):
            r.string()
            for _ in range(r.i32()):
                p = r.i32()
                check_eq(r.i16(), 0, "partition %d error" % p)
                r.i64()
                r.i64()
                r.array(lambda x: (x.i64(), x.i64()))
                sizes[p] = len(r.bytes_() or b"")
        with_data = [p for p in sorted(sizes) if sizes[p] > 0]
        check_eq(len(with_data), 1,
                 "partitions with records when two 62 KB batches exceed MaxBytes %d (sizes %r)"
                 % (max_bytes, sizes))
        check(sum(sizes.values()) <= max_bytes,
              "response records %d bytes within MaxBytes %d" % (sum(sizes.values()), max_bytes))


def raw_reactor_pinned(ctx):
    """reactor.cpu pins the reactor (its io_uring write workers follow) and the broker serves;
    a CPU the machine does not have fails at start with a clear message."""
    b = ctx.broker(settings={"reactor.cpu": 0})
    t = "pinned"
    with kproto.Conn(b.port) as c:
        check_eq(c.create_topic(t, 1), 0, "CreateTopics error code")
        recs = [(None, b"p%d" % i, []) for i in range(100)]
        for _ in range(50):  # several appends, so writes queue behind one another
            check_eq(c.produce(t, 0, kproto.record_batch(recs))[0], 0, "produce")
        got, hw = c.fetch_all(t, 0)
        check_eq(hw, 5000, "high watermark")
        check_eq(len(got), 5000, "records read back")
    b.stop()
    with open(b.log_path, "rb") as f:
        text = f.read().decode(errors="replace")
    check("reactor thread pinned to CPU 0" in text, "log says the reactor was pinned")
    check("workers pinned" in text, "log says the storage workers follow the reactor's CPU")

    bad = ctx.broker(name="badcpu", settings={"reactor.cpu": 4000}, start=False)
    p = subprocess.run(bad.argv(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = p.stdout.decode(errors="replace")
    check(p.returncode != 0, "ringletd with reactor.cpu=4000 exits non-zero (got %d)" % p.returncode)
    check("reactor.cpu=4000" in out, "the error names the setting: %r" % out[-300:])


TESTS = {
    "raw_create_topics_async": (raw_create_topics_async, dict(
        META, scenario="CreateTopics/CreatePartitions of 300 partitions do not stall other connections")),
    "raw_fetch_max_bytes": (raw_fetch_max_bytes, dict(
        META, scenario="Fetch MaxBytes across partitions (librdkafka test 0082)")),
    "raw_reactor_pinned": (raw_reactor_pinned, dict(
        META, scenario="reactor.cpu pins the reactor and its write workers")),
    "raw_fetch_broker_max_bytes": (raw_fetch_broker_max_bytes, dict(
        META, scenario="broker fetch.max.bytes caps a Fetch response")),
    "raw_pipelining": (raw_pipelining, dict(
        META, scenario="pipelined requests answered in order, acks=0, KIP-74 first batch")),
    "raw_produce_validation": (raw_produce_validation, dict(
        META, scenario="Produce validation errors, ListOffsets, Metadata v0/v1 topic lists")),
    "raw_idempotence": (raw_idempotence, dict(
        META, scenario="idempotent producer: duplicates, sequence gaps, state after restart")),
}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
