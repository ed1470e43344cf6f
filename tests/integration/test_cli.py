# SPDX-License-Identifier: Apache-2.0
"""The `ringlet` CLI against ringletd: every command in table and JSON form (the JSON is parsed
and its values checked), exit codes (0 success, 1 a failed operation or row, 2 usage error),
group describe lag figures while a consumer is behind (lag in records exact, lag in time close
to the age of the oldest unconsumed record), and interoperability with kcat in both directions
(keys, values, headers and timestamps byte-exact).

RINGLET_CLI names the CLI binary."""
import base64
import json
import os
import random
import threading
import time

from harness import check, check_eq, free_port, run_tests, TestFailure, TestSkip

META = {"client": "ringlet-cli", "version": ""}


def cli_path():
    p = os.environ.get("RINGLET_CLI")
    if not p:
        raise TestFailure("RINGLET_CLI is not set (path of the ringlet CLI)")
    check(os.access(p, os.X_OK), "ringlet CLI %s is not executable" % p)
    return p


def cli_env(ctx):
    env = ctx.client_env()
    # The CLI is our own code: keep ASan's leak checker on for it.
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
    env.pop("RINGLET_BROKERS", None)
    return env


def ringlet(ctx, broker, args, rc=0, input=None, timeout=120, env=None):
    """Runs `ringlet -b <broker> args...`; checks the exit code and that nothing was reported
    by the sanitizers. Returns the CompletedProcess."""
    argv = [cli_path()]
    if broker is not None:
        argv += ["-b", broker.bootstrap]
    p = ctx.run(argv + list(args), input=input, timeout=timeout, check_rc=False,
                env=env or cli_env(ctx))
    err = p.stderr.decode("utf-8", "replace")
    if "Sanitizer" in err or "runtime error:" in err:
        raise TestFailure("sanitizer report from ringlet %s:\n%s" % (" ".join(args), err[-4000:]))
    if rc is not None and p.returncode != rc:
        raise TestFailure("ringlet %s: exit code %d, expected %d\nstdout:\n%s\nstderr:\n%s"
                          % (" ".join(args), p.returncode, rc,
                             p.stdout[-3000:].decode("utf-8", "replace"), err[-3000:]))
    return p


def rjson(ctx, broker, args, rc=0, input=None):
    p = ringlet(ctx, broker, list(args) + ["--format", "json"], rc=rc, input=input)
    try:
        return json.loads(p.stdout)
    except ValueError as e:
        raise TestFailure("ringlet %s --format json printed invalid JSON (%s):\n%r"
                          % (" ".join(args), e, p.stdout[:2000]))


def rjson_lines(ctx, broker, args, rc=0, input=None):
    p = ringlet(ctx, broker, list(args) + ["--format", "json"], rc=rc, input=input)
    out = []
    for ln in p.stdout.decode().splitlines():
        if ln.strip():
            out.append(json.loads(ln))
    return out


def table(p):
    """Splits table output into rows of whitespace-separated cells (header row first)."""
    return [ln.split() for ln in p.stdout.decode().splitlines() if ln.strip()]


def results_by_name(doc):
    return {r["name"]: r for r in doc["results"]}


def broker_alive(b):
    b.check_alive("(after the CLI ran)")


# ---- cluster and help ---------------------------------------------------------------------


def cli_cluster(ctx):
    b = ctx.broker()
    p = ringlet(ctx, b, ["cluster", "info"])
    t = table(p)
    check(["CONTROLLER", "1"] in t, "cluster info lacks 'CONTROLLER 1':\n%s" % p.stdout.decode())
    check(["1", "127.0.0.1", str(b.port), "-", "yes"] in t,
          "cluster info lacks the broker row:\n%s" % p.stdout.decode())
    doc = rjson(ctx, b, ["cluster", "info"])
    check_eq(doc["source"], "DescribeCluster", "cluster info source (ringletd has API 60)")
    check_eq(doc["controller_id"], 1, "controller_id")
    check(isinstance(doc["cluster_id"], str) and doc["cluster_id"], "cluster_id: %r" % doc)
    check_eq(doc["brokers"], [{"id": 1, "host": "127.0.0.1", "port": b.port, "rack": None,
                               "controller": True}], "brokers")

    doc = rjson(ctx, b, ["cluster", "api-versions"])
    check_eq(doc["broker"], b.bootstrap, "api-versions broker")
    apis = {a["key"]: a for a in doc["apis"]}
    for key, name in ((0, "Produce"), (1, "Fetch"), (3, "Metadata"), (18, "ApiVersions")):
        check(key in apis, "api-versions lacks %s" % name)
        check_eq(apis[key]["name"], name, "api %d name" % key)
        check(apis[key]["min"] <= apis[key]["max"], "api %d min > max" % key)
    p = ringlet(ctx, b, ["cluster", "api-versions"])
    check(any(r[:2] == ["18", "ApiVersions"] for r in table(p)),
          "api-versions table lacks ApiVersions:\n%s" % p.stdout.decode())

    # Brokers from the environment when -b is absent.
    env = cli_env(ctx)
    env["RINGLET_BROKERS"] = b.bootstrap
    doc = json.loads(ringlet(ctx, None, ["cluster", "info", "--format", "json"], env=env).stdout)
    check_eq(doc["brokers"][0]["port"], b.port, "broker port via RINGLET_BROKERS")

    # Help: exit 0 and mention every command; usage errors: exit 2.
    p = ringlet(ctx, None, ["help"])
    text = p.stdout.decode()
    for cmd in ("cluster info", "topic list", "topic describe", "topic create", "topic delete",
                "topic alter-config", "topic add-partitions", "group list", "group describe",
                "group seek", "group delete", "group offset-delete", "produce", "consume"):
        check(cmd in text, "'ringlet help' does not list %r" % cmd)
        p = ringlet(ctx, None, cmd.split() + ["--help"])
        check("Usage: ringlet %s" % cmd in p.stdout.decode(),
              "'ringlet %s --help' lacks its usage line" % cmd)
    for args in (["nosuchcommand"], ["topic", "nosuch"], ["topic", "create"],
                 ["topic", "create", "x", "-p", "abc"], ["--format", "xml", "topic", "list"],
                 ["topic", "list", "--no-such-option"], ["group", "seek", "g"],
                 ["group", "seek", "g", "--to", "earliest", "--shift-by", "1"],
                 ["consume"], ["produce", "t", "--acks", "7"]):
        p = ringlet(ctx, b, args, rc=2)
        check(p.stderr, "usage error %s printed nothing on stderr" % args)
    # Nothing listens: a failed operation, exit 1.
    dead = "127.0.0.1:%d" % free_port()
    ringlet(ctx, None, ["-b", dead, "--timeout", "2000", "topic", "list"], rc=1)
    broker_alive(b)


# ---- topics -------------------------------------------------------------------------------


def cli_topics(ctx):
    b = ctx.broker()
    p = ringlet(ctx, b, ["topic", "create", "alpha", "beta", "-p", "3", "-c",
                         "retention.ms=3600000"])
    t = table(p)
    check_eq(t[0], ["TOPIC", "STATUS", "MESSAGE"], "create table header")
    check_eq(sorted(r[:2] for r in t[1:]), [["alpha", "OK"], ["beta", "OK"]], "create rows")
    # Already exists: one failed row is exit 1; JSON carries the Kafka error name.
    doc = rjson(ctx, b, ["topic", "create", "alpha", "gamma", "-p", "2"], rc=1)
    res = results_by_name(doc)
    check_eq(res["alpha"]["error"], "TOPIC_ALREADY_EXISTS", "create existing topic")
    check_eq(res["gamma"]["error"], None, "create gamma")
    doc = rjson(ctx, b, ["topic", "create", "alpha", "--if-not-exists"])
    check_eq(results_by_name(doc)["alpha"]["error"], None, "--if-not-exists on existing topic")
    ringlet(ctx, b, ["topic", "create", "bad", "-p", "0"], rc=2)

    doc = rjson(ctx, b, ["topic", "list"])
    topics = {x["name"]: x for x in doc["topics"]}
    for name, n in (("alpha", 3), ("beta", 3), ("gamma", 2)):
        check(name in topics, "topic list lacks %s: %s" % (name, list(topics)))
        check_eq(topics[name]["partitions"], n, "%s partitions" % name)
        check_eq(topics[name]["replication_factor"], 1, "%s replication factor" % name)
        check_eq(topics[name]["internal"], False, "%s internal" % name)
        check_eq(topics[name]["error"], None, "%s error" % name)
    p = ringlet(ctx, b, ["topic", "list"])
    rows = {r[0]: r for r in table(p)[1:]}
    check_eq(rows["alpha"][:4], ["alpha", "3", "1", "no"], "topic list table row")

    # Records in partition 1 of alpha, then describe: offsets, records and size on disk.
    lines = b"".join(b"record-%d\n" % i for i in range(25))
    ringlet(ctx, b, ["produce", "alpha", "-p", "1"], input=lines)
    doc = rjson(ctx, b, ["topic", "describe", "alpha"])
    check_eq(len(doc["topics"]), 1, "described topics")
    td = doc["topics"][0]
    check_eq(td["name"], "alpha", "described name")
    check_eq(td["error"], None, "described error")
    check_eq(td["configs"], {"retention.ms": "3600000"}, "config overrides")
    parts = sorted(td["partitions"], key=lambda x: x["partition"])
    check_eq([x["partition"] for x in parts], [0, 1, 2], "partition ids")
    for x in parts:
        check_eq((x["leader"], x["replicas"], x["isr"], x["error"]), (1, [1], [1], None),
                 "partition %d leader/replicas/isr" % x["partition"])
        want = 25 if x["partition"] == 1 else 0
        check_eq((x["log_start_offset"], x["log_end_offset"], x["records"]), (0, want, want),
                 "partition %d offsets" % x["partition"])
        if want:
            check(x["size_bytes"] > 25 * len(b"record-10"),
                  "size_bytes of partition 1 too small: %d" % x["size_bytes"])
        else:
            check_eq(x["size_bytes"], 0, "size_bytes of empty partition")
    p = ringlet(ctx, b, ["topic", "describe", "alpha"])
    text = p.stdout.decode()
    check("TOPIC alpha (3 partitions)" in text, "describe title:\n" + text)
    check("retention.ms=3600000" in text, "describe shows no config override:\n" + text)
    rows = [r for r in table(p) if r and r[0] == "1" and len(r) >= 8]
    check(rows and rows[0][4:7] == ["0", "25", "25"], "describe row of partition 1:\n" + text)
    # Describe of a missing topic among existing ones: exit 1, the row carries the error.
    doc = rjson(ctx, b, ["topic", "describe", "beta", "nosuch"], rc=1)
    errs = {x["name"]: x["error"] for x in doc["topics"]}
    check_eq(errs, {"beta": None, "nosuch": "UNKNOWN_TOPIC_OR_PARTITION"}, "describe errors")

    # add-partitions: grow (ok), shrink (failed row, exit 1).
    p = ringlet(ctx, b, ["topic", "add-partitions", "beta", "-n", "5"])
    check_eq(table(p)[1][:2], ["beta", "OK"], "add-partitions row")
    doc = rjson(ctx, b, ["topic", "add-partitions", "beta", "-n", "2"], rc=1)
    check_eq(results_by_name(doc)["beta"]["error"], "INVALID_PARTITIONS", "shrink error")
    doc = rjson(ctx, b, ["topic", "describe", "beta"])
    check_eq(len(doc["topics"][0]["partitions"]), 5, "partitions after add-partitions")
    ringlet(ctx, b, ["topic", "add-partitions", "beta"], rc=2)

    # delete: a missing topic among existing ones is a failed row (exit 1); the others go.
    p = ringlet(ctx, b, ["topic", "delete", "beta", "nosuch"], rc=1)
    rows = {r[0]: r for r in table(p)[1:]}
    check_eq(rows["beta"][1], "OK", "delete beta")
    check_eq(rows["nosuch"][1], "UNKNOWN_TOPIC_OR_PARTITION", "delete nosuch")
    doc = rjson(ctx, b, ["topic", "delete", "gamma"])
    check_eq(doc["results"], [{"name": "gamma", "error": None, "message": None}],
             "delete gamma JSON")
    deadline = time.time() + 10
    while True:
        names = {x["name"] for x in rjson(ctx, b, ["topic", "list"])["topics"]}
        if "beta" not in names and "gamma" not in names:
            break
        check(time.time() < deadline, "deleted topics still listed: %s" % names)
        time.sleep(0.2)
    check("alpha" in names, "alpha vanished")
    broker_alive(b)


def cli_alter_config(ctx):
    b = ctx.broker()
    ringlet(ctx, b, ["topic", "create", "plain", "-p", "1"])
    ringlet(ctx, b, ["topic", "create", "withcfg", "-p", "1", "-c", "retention.ms=100000"])
    p = ringlet(ctx, b, ["topic", "alter-config", "plain", "--set", "retention.ms=5000",
                         "--set", "cleanup.policy=delete"])
    check_eq(table(p)[1][:2], ["plain", "OK"], "alter-config row")
    doc = rjson(ctx, b, ["topic", "describe", "plain"])
    check_eq(doc["topics"][0]["configs"], {"retention.ms": "5000", "cleanup.policy": "delete"},
             "configs after --set")
    # A second change of a topic that has overrides, and --delete.
    doc = rjson(ctx, b, ["topic", "alter-config", "plain", "--delete", "retention.ms",
                         "--set", "segment.bytes=1048576"])
    check_eq(results_by_name(doc)["plain"]["error"], None, "alter-config --delete")
    doc = rjson(ctx, b, ["topic", "describe", "plain"])
    check_eq(doc["topics"][0]["configs"],
             {"cleanup.policy": "delete", "segment.bytes": "1048576"}, "configs after --delete")
    doc = rjson(ctx, b, ["topic", "alter-config", "withcfg", "--set", "retention.ms=7000"])
    check_eq(results_by_name(doc)["withcfg"]["error"], None, "alter-config of created override")
    doc = rjson(ctx, b, ["topic", "describe", "withcfg"])
    check_eq(doc["topics"][0]["configs"], {"retention.ms": "7000"}, "configs of withcfg")
    # Failed rows: unknown topic and unknown config name (exit 1); no change: usage (exit 2).
    doc = rjson(ctx, b, ["topic", "alter-config", "plain", "nosuch", "--set", "retention.ms=1"],
                rc=1)
    res = results_by_name(doc)
    check_eq(res["nosuch"]["error"], "UNKNOWN_TOPIC_OR_PARTITION", "alter unknown topic")
    doc = rjson(ctx, b, ["topic", "alter-config", "plain", "--set", "no.such.config=1"], rc=1)
    check_eq(results_by_name(doc)["plain"]["error"], "INVALID_CONFIG", "alter unknown config")
    ringlet(ctx, b, ["topic", "alter-config", "plain"], rc=2)
    ringlet(ctx, b, ["topic", "alter-config", "plain", "--set", "novalue"], rc=2)
    broker_alive(b)


# ---- produce and consume ------------------------------------------------------------------


def cli_produce_consume(ctx):
    b = ctx.broker()
    ringlet(ctx, b, ["topic", "create", "pc", "-p", "4"])
    # Keyed lines with headers; -v prints where each record went.
    keys = ["k%d" % i for i in range(40)]
    lines = "".join("%s:value-%d\n" % (k, i) for i, k in enumerate(keys)) + "nokey\n"
    t0 = int(time.time() * 1000)
    out = rjson_lines(ctx, b, ["produce", "pc", "-K", ":", "-H", "h1=v1", "-H", "h2=a=b", "-v"],
                      input=lines.encode())
    t1 = int(time.time() * 1000)
    check_eq(len(out), 41, "delivery lines")
    # Delivery reports arrive per partition batch, not in input order.
    check_eq(sorted(d["line"] for d in out), list(range(1, 42)), "delivery line numbers")
    for d in out:
        check_eq((d["topic"], d["error"]), ("pc", None), "delivery %r" % d)
    where = {(d["partition"], d["offset"]): d["line"] for d in out}
    check_eq(len(where), 41, "distinct partition/offset pairs")
    recs = rjson_lines(ctx, b, ["consume", "pc", "-e"])
    check_eq(len(recs), 41, "consumed records")
    for r in recs:
        line = where[(r["partition"], r["offset"])]
        if line <= 40:
            check_eq((r["key"], r["value"]), (keys[line - 1], "value-%d" % (line - 1)),
                     "record of line %d" % line)
        else:
            check_eq((r["key"], r["value"]), (None, "nokey"), "unkeyed record")
        check_eq(r["headers"], [{"key": "h1", "value": "v1"}, {"key": "h2", "value": "a=b"}],
                 "headers")
        check(t0 - 5 <= r["timestamp"] <= t1 + 5, "timestamp %d outside [%d, %d]"
              % (r["timestamp"], t0, t1))
    # Same key, same partition.
    by_key = {}
    for r in recs:
        by_key.setdefault(r["key"], set()).add(r["partition"])
    check(all(len(v) == 1 for k, v in by_key.items() if k), "a key went to two partitions")
    # Table form of -v.
    p = ringlet(ctx, b, ["produce", "pc", "-p", "3", "-v"], input=b"x\ny\n")
    check_eq(p.stdout.decode().split(), ["pc/3@%d" % n for n in (
        sum(1 for r in recs if r["partition"] == 3),
        sum(1 for r in recs if r["partition"] == 3) + 1)], "produce -v to partition 3")

    # Every codec and acks setting round trips.
    ringlet(ctx, b, ["topic", "create", "codecs", "-p", "1"])
    sent = []
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        for acks in ("0", "1", "all"):
            if acks == "0" and codec != "none":
                continue
            vals = ["%s-%s-%d-%s" % (codec, acks, i, "z" * (i % 50)) for i in range(200)]
            ringlet(ctx, b, ["produce", "codecs", "-z", codec, "--acks", acks, "-k", codec],
                    input=("\n".join(vals) + "\n").encode())
            sent += vals
    deadline = time.time() + 10
    while True:
        got = [r["value"] for r in rjson_lines(ctx, b, ["consume", "codecs", "-e"])]
        if len(got) >= len(sent) or time.time() > deadline:
            break
        time.sleep(0.3)  # acks=0 records may land a moment later
    check_eq(got, sent, "records of every codec, in order")

    # Offsets: absolute, +N, -N, end, @timestamp, -n, -p, and a format string.
    p = ringlet(ctx, b, ["consume", "codecs", "-o", "10", "-n", "3", "-f", "%o:%s\\n"])
    check_eq(p.stdout.decode().splitlines(), ["%d:%s" % (10 + i, sent[10 + i]) for i in range(3)],
             "-o 10 -n 3")
    p = ringlet(ctx, b, ["consume", "codecs", "-o", "+5", "-n", "1", "-f", "%o\\n"])
    check_eq(p.stdout.decode().split(), ["5"], "-o +5")
    p = ringlet(ctx, b, ["consume", "codecs", "-o", "-2", "-e", "-f", "%o %k %K %S\\n"])
    n = len(sent)
    check_eq(p.stdout.decode().splitlines(),
             ["%d zstd 4 %d" % (o, len(sent[o])) for o in (n - 2, n - 1)], "-o -2 -e")
    p = ringlet(ctx, b, ["consume", "codecs", "-o", "end", "-e"])
    check_eq(p.stdout, b"", "-o end -e prints nothing")
    ts = sorted((r["timestamp"], r["offset"]) for r in recs if r["partition"] == 0)
    if ts:
        recs0 = rjson_lines(ctx, b, ["consume", "pc", "-p", "0", "-o", "@%d" % ts[-1][0], "-e"])
        check(recs0 and recs0[0]["timestamp"] >= ts[-1][0], "-o @ts returned %r" % recs0[:1])
        check(all(r["partition"] == 0 for r in recs0), "-p 0 returned another partition")
    p = ringlet(ctx, b, ["consume", "pc", "-p", "2", "-e", "-f", "%t %p %h\\n"])
    for ln in p.stdout.decode().splitlines():
        check_eq(ln, "pc 2 h1=v1,h2=a=b", "format %t %p %h")
    # Binary values come back as base64 in JSON.
    ringlet(ctx, b, ["topic", "create", "bin", "-p", "1"])
    ringlet(ctx, b, ["produce", "bin"], input=b"\xff\xfe\x00ok\n")
    r = rjson_lines(ctx, b, ["consume", "bin", "-e"])[0]
    check_eq(base64.b64decode(r["value_base64"]), b"\xff\xfe\x00ok", "value_base64")
    check("value" not in r or r["value"] is None, "binary value also given as a string: %r" % r)
    # Usage errors and failures.
    ringlet(ctx, b, ["consume", "pc", "-o", "sideways"], rc=2)
    ringlet(ctx, b, ["consume", "pc", "-f", "%Q"], rc=2)
    ringlet(ctx, b, ["produce", "pc", "-z", "brotli"], input=b"x\n", rc=2)
    ringlet(ctx, b, ["produce", "pc", "-p", "99"], input=b"x\n", rc=1)
    broker_alive(b)


# ---- groups -------------------------------------------------------------------------------


def group_row(doc, topic, partition):
    for o in doc["offsets"]:
        if o["topic"] == topic and o["partition"] == partition:
            return o
    raise TestFailure("no row for %s/%d in %r" % (topic, partition, doc))


def describe_checked(ctx, b, group, topic, committed, records):
    """group describe --format json; checks lag in records exactly and lag in time against the
    age of the oldest unconsumed record measured around the call."""
    before = int(time.time() * 1000)
    doc = rjson(ctx, b, ["group", "describe", group])["groups"][0]
    after = int(time.time() * 1000)
    check_eq(doc["error"], None, "describe error")
    for part, c in committed.items():
        row = group_row(doc, topic, part)
        end = len(records[part])
        check_eq(row["log_end_offset"], end, "log end of %d" % part)
        check_eq(row["committed_offset"], c, "committed offset of %d" % part)
        check_eq(row["lag"], end - (c or 0), "lag of partition %d" % part)
        if end - (c or 0) == 0:
            check_eq(row["lag_ms"], 0, "lag_ms of caught-up partition %d" % part)
            continue
        oldest_ts = records[part][c or 0]["timestamp"]
        lo, hi = before - oldest_ts, after - oldest_ts
        check(lo - 20 <= row["lag_ms"] <= hi + 20,
              "lag_ms of partition %d is %d, expected between %d and %d (age of offset %d)"
              % (part, row["lag_ms"], lo, hi, c or 0))
    return doc


def cli_groups(ctx):
    b = ctx.broker()
    topic = "orders"
    ringlet(ctx, b, ["topic", "create", topic, "-p", "2"])
    ringlet(ctx, b, ["produce", topic, "-p", "0"],
            input=b"".join(b"a%d\n" % i for i in range(30)))
    time.sleep(1.0)  # records of partition 1 are younger, so the two ages differ
    ringlet(ctx, b, ["produce", topic, "-p", "1"],
            input=b"".join(b"b%d\n" % i for i in range(12)))
    records = {p: rjson_lines(ctx, b, ["consume", topic, "-p", str(p), "-e"]) for p in (0, 1)}
    check_eq([len(records[0]), len(records[1])], [30, 12], "records per partition")

    # A kafka-python consumer in group "billing" reads 7 records of partition 0 and 5 of
    # partition 1, commits them and stays in the group (heartbeating) while we look.
    try:
        import kafka
        from kafka.structs import OffsetAndMetadata, TopicPartition
    except ImportError:
        raise TestSkip("python3-kafka is not installed")
    cons = kafka.KafkaConsumer(bootstrap_servers=b.bootstrap, group_id="billing",
                               enable_auto_commit=False, auto_offset_reset="earliest",
                               session_timeout_ms=30000, heartbeat_interval_ms=1000,
                               api_version_auto_timeout_ms=10000)
    try:
        cons.subscribe([topic])
        deadline = time.time() + 60
        while not cons.assignment() and time.time() < deadline:
            cons.poll(timeout_ms=200, max_records=1)
        check_eq(len(cons.assignment()), 2, "kafka-python assignment")
        cons.commit({TopicPartition(topic, 0): OffsetAndMetadata(7, ""),
                     TopicPartition(topic, 1): OffsetAndMetadata(5, "")})
        stop = threading.Event()
        # kafka-python heartbeats from its own thread; polling keeps the member alive too.
        cons.pause(*cons.assignment())

        def keep_polling():
            while not stop.is_set():
                cons.poll(timeout_ms=100)
        th = threading.Thread(target=keep_polling, daemon=True)
        th.start()
        try:
            time.sleep(0.5)
            doc = describe_checked(ctx, b, "billing", topic, {0: 7, 1: 5}, records)
            check_eq(doc["state"], "Stable", "group state with a live consumer")
            check_eq(len(doc["members"]), 1, "members")
            mid = doc["members"][0]["member_id"]
            check(all(o["member_id"] == mid for o in doc["offsets"]),
                  "assignments not shown: %r" % doc["offsets"])
            lag0 = group_row(doc, topic, 0)["lag_ms"]
            lag1 = group_row(doc, topic, 1)["lag_ms"]
            check(lag0 >= lag1 + 800, "older records should be older: lag_ms %d vs %d"
                  % (lag0, lag1))
            # The table form shows the same figures.
            p = ringlet(ctx, b, ["group", "describe", "billing"])
            text = p.stdout.decode()
            check("STATE     Stable" in text, "describe table lacks the state:\n" + text)
            rows = [r for r in table(p) if r and r[0] == topic]
            check_eq(sorted((r[1], r[2], r[3], r[4]) for r in rows),
                     [("0", "7", "30", "23"), ("1", "5", "12", "7")], "describe table rows")
            check(all(r[6] == mid for r in rows), "table member column:\n" + text)
            # Offset resets refuse a group with active members; delete too.
            ringlet(ctx, b, ["group", "seek", "billing", "--to", "earliest", "--execute"],
                    rc=1)
            doc = rjson(ctx, b, ["group", "delete", "billing"], rc=1)
            check_eq(doc["results"][0]["error"], "NON_EMPTY_GROUP", "delete of active group")
            # Time passes, nothing consumed: the lag in time grows with it.
            time.sleep(1.0)
            doc = describe_checked(ctx, b, "billing", topic, {0: 7, 1: 5}, records)
            check(group_row(doc, topic, 0)["lag_ms"] >= lag0 + 900, "lag_ms did not grow")
            # The consumer catches up on partition 1: lag 0 there.
            cons.commit({TopicPartition(topic, 1): OffsetAndMetadata(12, "")})
            describe_checked(ctx, b, "billing", topic, {0: 7, 1: 12}, records)
        finally:
            stop.set()
            th.join(10)
    finally:
        cons.close(autocommit=False)

    # list
    doc = rjson(ctx, b, ["group", "list"])
    groups = {g["group"]: g for g in doc["groups"]}
    check("billing" in groups, "group list lacks billing: %r" % doc)
    check_eq(groups["billing"]["protocol_type"], "consumer", "protocol type")
    check(groups["billing"]["state"] in ("Empty", "PreparingRebalance", "Stable"),
          "state %r" % groups["billing"]["state"])
    p = ringlet(ctx, b, ["group", "list"])
    check(any(r[0] == "billing" for r in table(p)[1:]), "group list table lacks billing")

    deadline = time.time() + 30
    while rjson(ctx, b, ["group", "describe", "billing"])["groups"][0]["state"] != "Empty":
        check(time.time() < deadline, "group billing did not become Empty after close")
        time.sleep(0.3)

    # seek: dry run by default, then --execute with each target.
    doc = rjson(ctx, b, ["group", "seek", "billing", "--to", "earliest"])
    check_eq(doc["executed"], False, "dry run")
    check_eq(sorted((o["partition"], o["current_offset"], o["new_offset"])
                    for o in doc["offsets"]), [(0, 7, 0), (1, 12, 0)], "earliest dry run")
    describe_checked(ctx, b, "billing", topic, {0: 7, 1: 12}, records)
    p = ringlet(ctx, b, ["group", "seek", "billing", "--to", "earliest"])
    check("Dry run" in p.stdout.decode(), "table dry run lacks the notice")
    for args, want in ((["--to", "3"], {0: 3, 1: 3}),
                       (["--shift-by", "4"], {0: 7, 1: 7}),
                       (["--shift-by", "-100"], {0: 0, 1: 0}),
                       (["--to", "latest"], {0: 30, 1: 12}),
                       (["--to", "@%d" % records[0][10]["timestamp"], "--topics", topic],
                        None)):
        doc = rjson(ctx, b, ["group", "seek", "billing"] + args + ["--execute"])
        check_eq(doc["executed"], True, "executed")
        got = {o["partition"]: o["new_offset"] for o in doc["offsets"]}
        if want is None:  # by timestamp: the first record at or after it
            ts = records[0][10]["timestamp"]
            want = {p: next((r["offset"] for r in records[p] if r["timestamp"] >= ts),
                            len(records[p])) for p in (0, 1)}
        check_eq(got, want, "seek %s" % args)
        describe_checked(ctx, b, "billing", topic, want, records)
    ringlet(ctx, b, ["group", "seek", "billing", "--to", "earliest", "--topics", "nosuch",
                     "--execute"], rc=1)

    # offset-delete of one partition, then the topic.
    p = ringlet(ctx, b, ["group", "offset-delete", "billing", topic, "-p", "1"])
    check_eq(table(p)[1][:2], ["%s/1" % topic, "OK"], "offset-delete row")
    doc = rjson(ctx, b, ["group", "describe", "billing"])["groups"][0]
    check_eq([o["partition"] for o in doc["offsets"]], [0], "offsets after offset-delete -p 1")
    doc = rjson(ctx, b, ["group", "offset-delete", "billing", topic])
    check(all(r["error"] is None for r in doc["results"]), "offset-delete: %r" % doc)
    doc = rjson(ctx, b, ["group", "describe", "billing"])["groups"][0]
    check_eq(doc["offsets"], [], "offsets after offset-delete")
    ringlet(ctx, b, ["group", "offset-delete", "billing"], rc=2)

    # delete: a missing group among existing ones fails its row only.
    ringlet(ctx, b, ["consume", topic, "-g", "other", "-n", "1"])
    p = ringlet(ctx, b, ["group", "delete", "billing", "nosuchgroup"], rc=1)
    rows = {r[0]: r for r in table(p)[1:]}
    check_eq(rows["billing"][1], "OK", "delete billing")
    check_eq(rows["nosuchgroup"][1], "GROUP_ID_NOT_FOUND", "delete nosuchgroup")
    doc = rjson(ctx, b, ["group", "delete", "other"])
    check_eq(doc["results"], [{"name": "other", "error": None, "message": None}], "delete other")
    names = {g["group"] for g in rjson(ctx, b, ["group", "list"])["groups"]}
    check("billing" not in names and "other" not in names, "deleted groups listed: %s" % names)
    broker_alive(b)


def cli_consume_group(ctx):
    """`ringlet consume -g` as a group member: a first run reads part and commits it, the second
    run continues where the first stopped; group describe agrees at each step."""
    b = ctx.broker()
    ringlet(ctx, b, ["topic", "create", "jobs", "-p", "3"])
    vals = ["job-%d" % i for i in range(60)]
    ringlet(ctx, b, ["produce", "jobs"], input=("\n".join(vals) + "\n").encode())
    first = rjson_lines(ctx, b, ["consume", "jobs", "-g", "workers", "-n", "20"])
    check_eq(len(first), 20, "first run")
    doc = rjson(ctx, b, ["group", "describe", "workers"])["groups"][0]
    total_lag = sum(o["lag"] for o in doc["offsets"])
    check_eq(total_lag, 40, "lag after the first run")
    second = rjson_lines(ctx, b, ["consume", "jobs", "-g", "workers", "-e"])
    check_eq(sorted(r["value"] for r in first + second), sorted(vals),
             "the two runs together read every record once")
    doc = rjson(ctx, b, ["group", "describe", "workers"])["groups"][0]
    check_eq(sum(o["lag"] for o in doc["offsets"]), 0, "lag after the second run")
    check(all(o["lag_ms"] == 0 for o in doc["offsets"]), "lag_ms after catching up: %r" % doc)
    broker_alive(b)


# ---- kcat interoperability ----------------------------------------------------------------


KCAT_FMT = "%p %o %T %K %S:%k%s|%h\n"


def parse_fmt_records(out):
    """Records printed with KCAT_FMT (by kcat or by ringlet consume -f) as tuples
    (partition, offset, timestamp, key, value, headers-text)."""
    recs = []
    p = 0
    while p < len(out):
        colon = out.index(b":", p)
        part, off, ts, klen, vlen = (int(x) for x in out[p:colon].split(b" "))
        q = colon + 1
        key = None if klen < 0 else out[q:q + klen]
        q += max(klen, 0)
        val = None if vlen < 0 else out[q:q + vlen]
        q += max(vlen, 0)
        nl = out.index(b"\n", q)
        check(out[q:q + 1] == b"|", "format error near byte %d: %r" % (p, out[p:p + 80]))
        recs.append((part, off, ts, key, val, out[q + 1:nl]))
        p = nl + 1
    return recs


def binary_lines(n, sep):
    """n (key, value) pairs of arbitrary bytes except newline and the key separator."""
    alphabet = bytes(x for x in range(1, 256) if x not in (0x0a, 0x0d, ord(sep)))
    pairs = []
    for i in range(n):
        k = b"k%03d-" % (i % 17) + bytes(random.choice(alphabet) for _ in range(i % 9))
        v = b"v%05d-" % i + bytes(random.choice(alphabet + b"\x00") for _ in range(i % 300))
        pairs.append((k, v))
    return pairs


def cli_kcat_interop(ctx):
    b = ctx.broker()
    # ringlet produce -> kcat consume
    ringlet(ctx, b, ["topic", "create", "r2k", "-p", "3"])
    pairs = binary_lines(500, ":")
    data = b"".join(k + b":" + v + b"\n" for k, v in pairs)
    t0 = int(time.time() * 1000)
    out = rjson_lines(ctx, b, ["produce", "r2k", "-K", ":", "-H", "source=ringlet",
                               "-H", "trace=42", "-z", "lz4", "-v"], input=data)
    t1 = int(time.time() * 1000)
    placed = {(d["partition"], d["offset"]): d["line"] for d in out}
    p = ctx.kcat(b, ["-C", "-t", "r2k", "-e", "-q", "-f", KCAT_FMT])
    krecs = parse_fmt_records(p.stdout)
    check_eq(len(krecs), len(pairs), "records kcat read")
    for part, off, ts, key, val, hdrs in krecs:
        line = placed[(part, off)]
        check_eq((key, val), pairs[line - 1], "kcat record %d/%d" % (part, off))
        check_eq(hdrs, b"source=ringlet,trace=42", "headers seen by kcat")
        check(t0 - 5 <= ts <= t1 + 5, "timestamp %d outside produce window" % ts)
    # ringlet prints the same bytes with the same format string.
    p = ringlet(ctx, b, ["consume", "r2k", "-e", "-f", KCAT_FMT.replace("\n", "\\n")])
    rrecs = parse_fmt_records(p.stdout)
    check_eq(sorted(rrecs), sorted(krecs), "ringlet and kcat print the same records")

    # kcat produce -> ringlet consume (keys, headers; timestamps as kcat reads them)
    ringlet(ctx, b, ["topic", "create", "k2r", "-p", "2"])
    pairs = binary_lines(400, "\t")
    data = b"".join(k + b"\t" + v + b"\n" for k, v in pairs)
    ctx.kcat(b, ["-P", "-t", "k2r", "-K", "\t", "-H", "from=kcat", "-H", "empty=",
                 "-z", "snappy"], input=data)
    p = ctx.kcat(b, ["-C", "-t", "k2r", "-e", "-q", "-f", KCAT_FMT])
    krecs = parse_fmt_records(p.stdout)
    check_eq(sorted((k, v) for _, _, _, k, v, _ in krecs), sorted(pairs), "kcat read back")
    p = ringlet(ctx, b, ["consume", "k2r", "-e", "-f", KCAT_FMT.replace("\n", "\\n")])
    rrecs = parse_fmt_records(p.stdout)
    check_eq(sorted(rrecs), sorted(krecs), "ringlet reads what kcat produced, byte-exact")
    # The JSON form carries the headers and timestamps too.
    jrecs = rjson_lines(ctx, b, ["consume", "k2r", "-e"])
    by_pos = {(r[0], r[1]): r for r in krecs}
    check_eq(len(jrecs), len(krecs), "JSON records")
    for j in jrecs:
        k = by_pos[(j["partition"], j["offset"])]
        check_eq(j["timestamp"], k[2], "JSON timestamp")
        check_eq(j["headers"], [{"key": "from", "value": "kcat"}, {"key": "empty", "value": ""}],
                 "JSON headers")
    broker_alive(b)


TESTS = {
    "cli_cluster": (cli_cluster, dict(META, scenario="ringlet CLI: cluster, help, usage")),
    "cli_topics": (cli_topics, dict(META, scenario="ringlet CLI: topic commands")),
    "cli_alter_config": (cli_alter_config, dict(META, scenario="ringlet CLI: topic alter-config")),
    "cli_produce_consume": (cli_produce_consume,
                            dict(META, scenario="ringlet CLI: produce and consume")),
    "cli_groups": (cli_groups, dict(META, scenario="ringlet CLI: group commands and lag")),
    "cli_consume_group": (cli_consume_group, dict(META, scenario="ringlet CLI: consume -g")),
    "cli_kcat_interop": (cli_kcat_interop, dict(META, scenario="ringlet CLI <-> kcat")),
}

if __name__ == "__main__":
    raise SystemExit(run_tests(TESTS))
