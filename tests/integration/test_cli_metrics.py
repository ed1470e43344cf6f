# SPDX-License-Identifier: Apache-2.0
"""`ringlet cluster metrics` against ringletd's admin listener: a group stopped partway through
a topic, then the summary (JSON and table) must agree with what the test produced and committed
(records in, lag in records exactly, lag in seconds within the record's age) and with a direct
scrape of /metrics; --interval rates; RINGLET_ADMIN; exit codes 1 (unreachable, not HTTP) and 2
(usage).

RINGLET_CLI names the CLI binary."""
import json
import re
import threading
import time
import urllib.request

from harness import check, check_eq, free_port, run_tests, TestFailure
from test_cli import cli_env, rjson, ringlet

META = {"client": "ringlet-cli", "version": "cluster metrics"}

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(port):
    """{(name, frozenset(labels)): float} from GET /metrics."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            m = SAMPLE.match(line)
            check(m, "unparsable exposition line %r" % line)
            out[(m.group(1), frozenset(LABEL.findall(m.group(3) or "")))] = float(m.group(4))
    return out


def val(s, name, **labels):
    return s.get((name, frozenset(labels.items())))


def admin_broker(ctx):
    port = free_port()
    b = ctx.broker(settings={"admin.listener": "127.0.0.1:%d" % port})
    b.admin_port = port
    b.admin = "127.0.0.1:%d" % port
    return b


def find(rows, key, name):
    for r in rows:
        if r[key] == name:
            return r
    raise TestFailure("no %s %r in %r" % (key, name, rows))


def cli_metrics(ctx):
    b = admin_broker(ctx)
    topic, group, n, stop_at = "cm-topic", "cm-group", 40, 15
    ringlet(ctx, b, ["topic", "create", topic, "-p", "1"])
    t_before = time.time()
    lines = "".join("rec-%d\n" % i for i in range(n)).encode()
    ringlet(ctx, b, ["produce", topic, "-p", "0"], input=lines)
    t_after = time.time()
    ringlet(ctx, b, ["consume", topic, "-g", group, "-n", str(stop_at)])
    desc = rjson(ctx, b, ["group", "describe", group])["groups"][0]
    committed = [o for o in desc["offsets"] if o["topic"] == topic][0]["committed_offset"]
    check_eq(committed, stop_at, "committed offset after consuming %d" % stop_at)
    want_lag = n - committed

    # The group series come from a snapshot taken once a second: wait for the commit to show.
    deadline = time.time() + 20
    while True:
        doc = rjson(ctx, b, ["cluster", "metrics", "--admin", b.admin])
        g = [x for x in doc["groups"] if x["group"] == group]
        if g and g[0]["total_lag_records"] == want_lag:
            break
        if time.time() > deadline:
            raise TestFailure("cluster metrics never showed lag %d for %s: %r"
                              % (want_lag, group, doc))
        time.sleep(0.3)
    t_doc = time.time()
    direct = scrape(b.admin_port)

    check_eq(doc["admin"], b.admin, "admin endpoint")
    check(doc["uptime_seconds"] > 0, "uptime %r" % doc["uptime_seconds"])
    check(doc["resident_memory_bytes"] > 1 << 20, "RSS %r" % doc["resident_memory_bytes"])
    check(isinstance(doc["connections_open"], int), "connections_open %r" % doc)
    check_eq(doc["partitions_offline"], 0, "partitions offline")
    check_eq(doc["disk"]["alert_level"], 0, "disk alert level")
    check_eq(doc["disk"]["alert"], "ok", "disk alert")
    check(0 < doc["disk"]["free_bytes"] <= doc["disk"]["total_bytes"], "disk %r" % doc["disk"])
    check_eq(doc["interval_ms"], None, "interval_ms without --interval")
    check(doc["version"] and doc["commit"], "build info %r" % doc)

    t = find(doc["topics"], "topic", topic)
    check_eq(t["records_in"], n, "records in (what the test produced)")
    check(t["records_out"] >= stop_at, "records out %r < %d consumed" % (t["records_out"], stop_at))
    check_eq(t["records_out"], val(direct, "ringlet_topic_records_out_total", topic=topic),
             "records out vs /metrics")
    check_eq(t["records_in_per_second"], None, "no rate from a single sample")

    g = find(doc["groups"], "group", group)
    check_eq(g["state"], "Empty", "group state (the consumer left)")
    check_eq(g["members"], 0, "group members")
    check_eq(g["total_lag_records"], want_lag, "total lag in records")
    check_eq(val(direct, "ringlet_group_total_lag_records", group=group), float(want_lag),
             "total lag in records from /metrics")
    # The oldest unconsumed record (offset 15) was produced between t_before and t_after; its
    # age at the snapshot is at most (now - t_before) and at least (t_after-ish - 1 s snapshot).
    lag_s = g["max_lag_seconds"]
    check(lag_s is not None and 0 <= lag_s <= t_doc - t_before + 1.0,
          "max lag seconds %r not within the record's age (0 .. %.3f)" % (lag_s,
                                                                          t_doc - t_before))
    check(abs(lag_s - val(direct, "ringlet_group_max_lag_seconds", group=group)) <= 2.0,
          "max lag seconds %r vs /metrics %r" % (lag_s, val(direct,
                                                            "ringlet_group_max_lag_seconds",
                                                            group=group)))

    prod = find(doc["apis"], "api", "Produce")
    check(prod["requests"] >= 1, "Produce requests %r" % prod)
    check(prod["requests"] <= val(direct, "ringlet_api_request_duration_seconds_count",
                                  api="Produce"), "Produce count vs /metrics")
    check(0 < prod["p50_seconds"] <= prod["p99_seconds"] <= 10.0, "Produce quantiles %r" % prod)

    # Table form: the group row and the topic row.
    p = ringlet(ctx, b, ["cluster", "metrics", "--admin", b.admin])
    rows = [ln.split() for ln in p.stdout.decode().splitlines()]
    check([topic, str(n)] == rows[[r[:1] for r in rows].index([topic])][:2],
          "table lacks the topic row:\n%s" % p.stdout.decode())
    grow = [r for r in rows if r[:1] == [group]]
    check(grow and grow[0][1:4] == ["Empty", "0", str(want_lag)],
          "table group row %r:\n%s" % (grow, p.stdout.decode()))
    check("alert level 0 (ok)" in p.stdout.decode(), "table lacks the disk line")

    # Two samples 3 s apart with 20 records produced in between: the rate is exactly 20 per
    # measured interval (the first scrape is taken before the produce starts and the second
    # reflects a snapshot at most 1 s old, well after it finished).
    env = cli_env(ctx)
    env["RINGLET_ADMIN"] = b.admin  # and the endpoint from the environment
    res = {}

    def sample():
        res["p"] = ringlet(ctx, None, ["cluster", "metrics", "--format", "json", "--interval",
                                       "3000"], env=env)
    th = threading.Thread(target=sample)
    th.start()
    time.sleep(0.7)
    ringlet(ctx, b, ["produce", topic, "-p", "0"],
            input="".join("more-%d\n" % i for i in range(20)).encode())
    th.join(60)
    check("p" in res, "cluster metrics --interval did not finish")
    doc2 = json.loads(res["p"].stdout)
    check_eq(doc2["interval_ms"], 300 * 10, "interval_ms")
    secs = doc2["sample_seconds"]
    check(secs is not None and 3.0 <= secs < 10, "sample_seconds %r" % secs)
    t2 = find(doc2["topics"], "topic", topic)
    check_eq(t2["records_in"], n + 20, "records in after the second produce")
    check(abs(t2["records_in_per_second"] * secs - 20) < 1e-3,
          "records in per second %r over %r s is not 20 records" % (t2["records_in_per_second"],
                                                                    secs))

    # Exit codes: nothing listening / not HTTP -> 1 with a message; usage -> 2.
    dead = "127.0.0.1:%d" % free_port()
    p = ringlet(ctx, None, ["cluster", "metrics", "--admin", dead, "--timeout", "3000"], rc=1)
    check(b"cannot connect" in p.stderr, "unreachable message: %r" % p.stderr)
    p = ringlet(ctx, None, ["cluster", "metrics", "--admin", b.bootstrap, "--timeout", "5000"],
                rc=1)
    check(p.stderr.strip(), "Kafka port as admin endpoint printed nothing")
    ringlet(ctx, None, ["cluster", "metrics", "--admin", "x:notaport"], rc=2)
    ringlet(ctx, None, ["cluster", "metrics", "--interval", "-5"], rc=2)
    ringlet(ctx, None, ["cluster", "metrics", "extra"], rc=2)
    b.check_alive("(after cluster metrics)")


TESTS = {
    "cli_metrics": (cli_metrics, dict(META, scenario="ringlet cluster metrics vs a lagging "
                                      "group")),
}

if __name__ == "__main__":
    raise SystemExit(run_tests(TESTS))
