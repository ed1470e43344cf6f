# SPDX-License-Identifier: Apache-2.0
"""kafka-python (Debian's python3-kafka) against ringletd: produce/consume round trip, admin
create/list/delete topics and describe configs, and a group consumer with commits."""
import sys
import time

from harness import check, check_eq, log, run_tests, scaled, TestFailure

try:
    import kafka
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import (ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions,
                             NewTopic)
    from kafka.errors import TopicAlreadyExistsError
    from kafka.structs import OffsetAndMetadata
    KPY_VERSION = kafka.__version__
except ImportError:  # reported as a failure by each test
    kafka = None
    KPY_VERSION = "not installed"

META = {"client": "kafka-python", "version": KPY_VERSION}


def need_kafka():
    if kafka is None:
        raise TestFailure("kafka-python is not importable by %s" % sys.executable)


def wait_for(pred, timeout, what, interval=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise TestFailure("timed out after %.0f s waiting for %s" % (timeout, what))


def produce(b, topic, n, tag=b"", headers=True):
    p = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all", linger_ms=5,
                      request_timeout_ms=30000, max_block_ms=30000)
    futs = []
    for i in range(n):
        key = b"key-%d" % (i % 17)
        val = b"%s-value-%06d-" % (tag, i) + b"p" * (i % 200)
        hdrs = [("idx", b"%d" % i), ("kind", b"kpy")] if headers else None
        futs.append((key, val, hdrs, p.send(topic, key=key, value=val, headers=hdrs)))
    p.flush(60)
    out = []
    for key, val, hdrs, f in futs:
        md = f.get(timeout=60)
        out.append((md.partition, md.offset, key, val, hdrs))
    p.close(10)
    return out


def kpy_roundtrip(ctx):
    need_kafka()
    n = scaled(5000, 100)
    b = ctx.broker(settings={"num.partitions": 3})
    topic = "kpy-roundtrip"
    sent = produce(b, topic, n)
    parts = sorted({x[0] for x in sent})
    check(len(parts) > 1, "kafka-python's partitioner used only partitions %s" % parts)
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", consumer_timeout_ms=15000)
    tps = [TopicPartition(topic, p) for p in range(3)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    got = {}
    deadline = time.time() + 120
    while len(got) < n and time.time() < deadline:
        for tp, msgs in c.poll(timeout_ms=1000).items():
            for m in msgs:
                k = (m.partition, m.offset)
                check(k not in got, "record %s consumed twice" % (k,))
                got[k] = (m.key, m.value, list(m.headers or []))
    c.close()
    check_eq(len(got), n, "records consumed")
    for part, off, key, val, hdrs in sent:
        check((part, off) in got, "acknowledged record %d@%d not consumed" % (part, off))
        gk, gv, gh = got[(part, off)]
        check_eq(gk, key, "key at %d@%d" % (part, off))
        check_eq(gv, val, "value at %d@%d" % (part, off))
        check_eq([(h[0], h[1]) for h in gh], hdrs, "headers at %d@%d" % (part, off))
    log("%d records round-tripped through kafka-python" % n)


def config_map(resp):
    """DescribeConfigs response -> {name: value} for its first resource."""
    res = resp.resources[0]
    check_eq(res[0], 0, "DescribeConfigs resource error (%s)" % (res[1],))
    return {e[0]: e[1] for e in res[4]}


def kpy_admin(ctx):
    need_kafka()
    b = ctx.broker()
    a = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=30000)
    a.create_topics([NewTopic("kpy-admin-a", 3, 1, topic_configs={"retention.ms": "3600000"}),
                     NewTopic("kpy-admin-b", 1, 1)])
    wait_for(lambda: {"kpy-admin-a", "kpy-admin-b"} <= set(a.list_topics()), 15,
             "created topics to be listed")
    try:
        a.create_topics([NewTopic("kpy-admin-a", 3, 1)])
        raise TestFailure("creating an existing topic did not fail")
    except TopicAlreadyExistsError:
        pass
    desc = a.describe_topics(["kpy-admin-a"])
    check_eq(len(desc[0]["partitions"]), 3, "partitions of kpy-admin-a in describe_topics")
    cfg = config_map(a.describe_configs([ConfigResource(ConfigResourceType.TOPIC,
                                                        "kpy-admin-a")])[0])
    check_eq(cfg.get("retention.ms"), "3600000", "retention.ms of kpy-admin-a")
    check("cleanup.policy" in cfg and "max.message.bytes" in cfg,
          "topic configs lack cleanup.policy/max.message.bytes: %s" % sorted(cfg))
    bcfg = config_map(a.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")])[0])
    check("num.partitions" in bcfg, "broker configs lack num.partitions: %s" % sorted(bcfg)[:20])
    a.create_partitions({"kpy-admin-b": NewPartitions(4)})
    wait_for(lambda: len(a.describe_topics(["kpy-admin-b"])[0]["partitions"]) == 4, 15,
             "kpy-admin-b to have 4 partitions")
    a.delete_topics(["kpy-admin-a", "kpy-admin-b"])
    wait_for(lambda: not ({"kpy-admin-a", "kpy-admin-b"} & set(a.list_topics())), 15,
             "deleted topics to disappear from list_topics")
    a.close()


def kpy_group(ctx):
    need_kafka()
    n = scaled(600, 60)
    b = ctx.broker(settings={"num.partitions": 3})
    topic, group = "kpy-group", "kpy-group-1"
    sent = produce(b, topic, n, headers=False)
    first_n = n // 2

    def consumer():
        return KafkaConsumer(topic, bootstrap_servers=b.bootstrap, group_id=group,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             session_timeout_ms=10000, heartbeat_interval_ms=1000,
                             max_poll_records=50)

    c = consumer()
    seen = []
    deadline = time.time() + 90
    while len(seen) < first_n and time.time() < deadline:
        for tp, msgs in c.poll(timeout_ms=1000).items():
            for m in msgs:
                if len(seen) < first_n:
                    seen.append((m.partition, m.offset))
    check_eq(len(seen), first_n, "records consumed by the first group member")
    commit = {}
    for part, off in seen:
        commit[part] = max(commit.get(part, -1), off + 1)
    c.commit({TopicPartition(topic, p): OffsetAndMetadata(o, None) for p, o in commit.items()})
    for p, o in commit.items():
        check_eq(c.committed(TopicPartition(topic, p)), o, "committed offset of partition %d" % p)
    c.close()
    # The first member consumed each partition from 0 in order, so "the rest" is everything at
    # or above the committed offset (or the whole partition if nothing was committed for it).
    want = sorted((p, o) for p, o, _, _, _ in sent if o >= commit.get(p, 0))
    c = consumer()
    rest = []
    deadline = time.time() + 90
    while len(rest) < len(want) and time.time() < deadline:
        for tp, msgs in c.poll(timeout_ms=1000).items():
            rest += [(m.partition, m.offset) for m in msgs]
    extra = [x for x in c.poll(timeout_ms=2000).values()]
    c.close()
    check_eq(sum(len(x) for x in extra), 0, "records after the rest was consumed")
    check_eq(sorted(rest), want, "records consumed after commit/close/reopen")
    check_eq(len(set(seen) & set(rest)), 0, "records consumed by both members")
    log("group: %d before the commit, exactly the other %d after reopening" % (len(seen),
                                                                           len(rest)))


TESTS = {
    "kpy_roundtrip": (kpy_roundtrip, dict(META, scenario="produce/consume round trip")),
    "kpy_admin": (kpy_admin, dict(META, scenario="admin create/list/delete topics, "
                                                 "describe configs, create partitions")),
    "kpy_group": (kpy_group, dict(META, scenario="group consumer with commits")),
}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
