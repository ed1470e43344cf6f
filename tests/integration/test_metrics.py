# SPDX-License-Identifier: Apache-2.0
"""ringletd's admin listener: /metrics scraped during a kcat workload (promtool check metrics,
exact record counters), a real Prometheus server scraping it, consumer lag in records and
seconds for a group stopped halfway, health endpoints across recovery of an unclean data dir,
and the runtime log level."""
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import kproto
from harness import (TestFailure, TestSkip, check, check_eq, free_port, log, run_tests, scaled)

try:
    import kafka
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    KPY_VERSION = kafka.__version__
except ImportError:
    kafka = None
    KPY_VERSION = "not installed"

META = {"client": "kcat + prometheus", "version": "admin HTTP listener"}


# ---- helpers ---------------------------------------------------------------------------------

def http(port, path, method="GET", body=None, timeout=5.0):
    """(status, text) of an HTTP request to 127.0.0.1:port; status 0 if the connection failed."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
        return 0, ""


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset(labels.items())): float}"""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise TestFailure("unparsable exposition line: %r" % line)
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def scrape(port):
    st, text = http(port, "/metrics")
    check_eq(st, 200, "GET /metrics status")
    return text, parse_metrics(text)


def promtool_check(text):
    if not shutil.which("promtool"):
        raise TestFailure("promtool is missing (Debian package prometheus, "
                          "scripts/install-deps.sh)")
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    check(p.returncode == 0, "promtool check metrics failed:\n%s"
          % p.stdout.decode("utf-8", "replace")[-3000:])


def wait_for(pred, timeout, what, interval=0.2):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise TestFailure("timed out after %.0f s waiting for %s" % (timeout, what))


def admin_broker(ctx, settings=None, **kw):
    port = free_port()
    s = {"admin.listener": "127.0.0.1:%d" % port}
    s.update(settings or {})
    b = ctx.broker(settings=s, **kw)
    b.admin_port = port
    return b


def counter_when_settled(port, name, want, **labels):
    """The counter's value once it equals want (the snapshot is refreshed once a second)."""
    def get():
        _, s = scrape(port)
        v = value(s, name, **labels)
        return v is not None and v == want
    try:
        wait_for(get, 10, "%s%r == %d" % (name, labels, want), interval=0.3)
    except TestFailure:
        _, s = scrape(port)
        raise TestFailure("%s%r: expected %d, got %r" % (name, labels, want,
                                                         value(s, name, **labels)))


def need_kafka():
    if kafka is None:
        raise TestFailure("kafka-python is not importable (python3-kafka)")


# ---- tests -----------------------------------------------------------------------------------

def metrics_scrape(ctx):
    """kcat produces and consumes while /metrics is scraped continuously; every scrape passes
    promtool; the record counters match exactly what was produced and consumed."""
    b = admin_broker(ctx)
    port = b.admin_port
    topic = "metrics-scrape"
    ctx.kcat(b, ["-C", "-t", topic, "-e", "-q", "-o", "beginning"], check_rc=False)
    rounds, per = 5, scaled(2000, 50)
    stop = threading.Event()
    scrapes, errors = [], []

    def scraper():
        while not stop.is_set():
            st, text = http(port, "/metrics")
            if st != 200:
                errors.append(st)
            else:
                scrapes.append(text)
            time.sleep(0.05)
    th = threading.Thread(target=scraper, daemon=True)
    th.start()
    total = 0
    try:
        for r in range(rounds):
            data = "".join("round%d-msg%d\n" % (r, i) for i in range(per)).encode()
            ctx.kcat(b, ["-P", "-t", topic, "-X", "acks=all"], input=data)
            total += per
        p = ctx.kcat(b, ["-C", "-t", topic, "-e", "-q", "-o", "beginning"])
        got = len(p.stdout.splitlines())
        check_eq(got, total, "records consumed by kcat")
    finally:
        stop.set()
        th.join()
    check(not errors, "scrapes during the workload failed with status %r" % errors[:5])
    check(len(scrapes) >= 5, "only %d scrapes during the workload" % len(scrapes))
    log("%d scrapes during the workload" % len(scrapes))
    promtool_check(scrapes[len(scrapes) // 2])
    counter_when_settled(port, "ringlet_topic_records_in_total", total, topic=topic)
    counter_when_settled(port, "ringlet_topic_records_out_total", total, topic=topic)
    text, s = scrape(port)
    promtool_check(text)
    check_eq(value(s, "ringlet_topic_produce_requests_total", topic=topic) >= rounds, True,
             "at least one produce request per kcat run")
    check_eq(value(s, "ringlet_topic_produce_errors_total", topic=topic), 0.0, "produce errors")
    check_eq(value(s, "ringlet_partition_high_watermark", topic=topic, partition="0"),
             float(total), "high watermark")
    check_eq(value(s, "ringlet_partition_log_end_offset", topic=topic, partition="0"),
             float(total), "log end offset")
    check((value(s, "ringlet_partition_size_bytes", topic=topic, partition="0") or 0) > 0,
          "partition size")
    check((value(s, "ringlet_api_requests_total", api="Produce") or 0) >= rounds,
          "Produce requests counted")
    check((value(s, "ringlet_api_request_duration_seconds_count", api="Produce") or 0) >= rounds,
          "Produce latency histogram count")
    check((value(s, "ringlet_connections_accepted_total") or 0) >= rounds + 1,
          "connections accepted")
    check((value(s, "ringlet_network_received_bytes_total") or 0) > 0, "bytes received")
    check((value(s, "ringlet_network_sent_bytes_total") or 0) > 0, "bytes sent")
    check((value(s, "ringlet_storage_written_bytes_total") or 0) > 0, "bytes written")
    check((value(s, "ringlet_storage_fsync_duration_seconds_count") or 0) > 0,
          "fsyncs observed (acks=all)")
    check((value(s, "ringlet_storage_disk_free_bytes") or 0) > 0, "free disk bytes")
    for name in ("ringlet_storage_read_cache_bytes", "ringlet_storage_staging_idle_bytes",
                 "ringlet_storage_staging_allocations_total"):
        check((value(s, name) or 0) >= 0 and value(s, name) is not None, name + " present")
    # segment rolls: 64 KiB segments, 16 KB batches acknowledged one at a time (four per
    # segment); the files of a roll are made ahead through io_uring once a segment is half full,
    # so at least one roll must take them rather than create files on the reactor
    with kproto.Conn(b.port) as c:
        check_eq(c.create_topic("metrics-rolls", 1, {"segment.bytes": 65536}), 0,
                 "create metrics-rolls")
        batch = kproto.record_batch([(None, b"r" * 16000, [])])
        for i in range(40):
            err, _ = c.produce("metrics-rolls", 0, batch, acks=1)
            check_eq(err, 0, "produce %d to metrics-rolls" % i)
    def rolls_now():
        _, s2 = scrape(port)
        return (value(s2, "ringlet_storage_segment_rolls_total") or 0,
                value(s2, "ringlet_storage_segment_rolls_blocking_total"))
    try:  # the storage series come from the once-a-second snapshot
        wait_for(lambda: rolls_now()[0] >= 8, 10, "segment rolls counted", interval=0.3)
    except TestFailure:
        pass
    rolls, blocking = rolls_now()
    check(rolls >= 8, "segment rolls counted: %r" % rolls)
    check(blocking is not None and blocking < rolls,
          "rolls that made their files on the reactor: %r of %r" % (blocking, rolls))
    log("segment rolls %d, of which made on the reactor %d" % (rolls, blocking))
    check((value(s, "ringlet_process_resident_memory_bytes") or 0) > 0, "RSS")
    check((value(s, "ringlet_process_open_fds") or 0) > 0, "open fds")
    check_eq(value(s, "ringlet_ready"), 1.0, "ringlet_ready")
    check(any(k[0] == "ringlet_build_info" for k in s), "build info present")
    # error codes by API: a Fetch of a partition that does not exist, a Heartbeat of an
    # unknown member (top-level error code)
    with kproto.Conn(b.port) as c:
        err, _, _ = c.fetch(topic, 9, 0)
        check_eq(err, kproto.UNKNOWN_TOPIC_OR_PARTITION, "fetch of partition 9")
        hb = c.heartbeat("no-such-group", 1, "no-such-member")
        check(hb != 0, "heartbeat of an unknown member fails")
    names = {kproto.UNKNOWN_TOPIC_OR_PARTITION: "UNKNOWN_TOPIC_OR_PARTITION",
             kproto.UNKNOWN_MEMBER_ID: "UNKNOWN_MEMBER_ID",
             kproto.ILLEGAL_GENERATION: "ILLEGAL_GENERATION"}
    _, s = scrape(port)
    check_eq(value(s, "ringlet_api_errors_total", api="Fetch",
                   code="UNKNOWN_TOPIC_OR_PARTITION"), 1.0, "Fetch errors by code")
    if hb in names:
        check_eq(value(s, "ringlet_api_errors_total", api="Heartbeat", code=names[hb]), 1.0,
                 "Heartbeat errors by code")
    else:
        check(any(k[0] == "ringlet_api_errors_total" and ("api", "Heartbeat") in k[1]
                  for k in s), "Heartbeat error counted (code %d)" % hb)
    # health and runtime log level
    check_eq(http(port, "/health/live")[0], 200, "/health/live")
    check_eq(http(port, "/health/ready")[0], 200, "/health/ready")
    check_eq(http(port, "/nope")[0], 404, "unknown path")
    st, body = http(port, "/log/level", "PUT", b"debug")
    check_eq((st, body.strip()), (200, "debug"), "PUT /log/level debug")
    check_eq(http(port, "/log/level")[1].strip(), "debug", "GET /log/level after PUT")
    ctx.kcat(b, ["-L"])  # a request logged at debug level now
    st, _ = http(port, "/log/level", "PUT", b"loud")
    check_eq(st, 400, "PUT /log/level with a bad level")
    check_eq(http(port, "/log/level", "PUT", b"info")[0], 200, "PUT /log/level info")
    with open(b.log_path, "rb") as f:
        blog = f.read().decode("utf-8", "replace")
    check("log level changed from info to debug" in blog, "level change logged")
    check(" DEBUG " in blog or '"level":"debug"' in blog, "debug lines appear after the change")


def metrics_partition_aggregate(ctx):
    """metrics.partition.detail=false: partition series lose the partition label and are
    summed per topic."""
    b = admin_broker(ctx, settings={"metrics.partition.detail": "false", "num.partitions": "4",
                                    "log.slow.request.ms": "200"})
    topic = "metrics-agg"
    data = "".join("k%d:v%d\n" % (i, i) for i in range(400)).encode()
    ctx.kcat(b, ["-P", "-t", topic, "-K", ":"], input=data)
    counter_when_settled(b.admin_port, "ringlet_partition_high_watermark", 400, topic=topic)
    text, s = scrape(b.admin_port)
    promtool_check(text)
    check(not any(k[0].startswith("ringlet_partition_") and ("partition", "0") in k[1]
                  for k in s), "no per-partition series in aggregate mode")
    check_eq(value(s, "ringlet_topic_partitions", topic=topic), 4.0, "partitions of the topic")
    check_eq(value(s, "ringlet_topic_records_in_total", topic=topic), 400.0, "records in")
    # slow request log: a Fetch long poll at the end of the log waits fetch.wait.max.ms (1 s)
    ctx.kcat(b, ["-C", "-t", topic, "-p", "0", "-o", "end", "-e", "-q",
                 "-X", "fetch.wait.max.ms=1000"], check_rc=False)
    with open(b.log_path, "rb") as f:
        blog = f.read().decode("utf-8", "replace")
    check(re.search(r"slowlog: .*Fetch v\d+ correlation id \d+ .* took [0-9.]+ ms", blog),
          "a slow Fetch is logged with log.slow.request.ms=200")


def produce_timestamped(b, topic, n, base_ms, step_ms, one_batch=False):
    """one_batch=False: a batch per record (commits land on batch boundaries); True: one
    batch, so the committed offset points into the middle of a batch."""
    need_kafka()
    p = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all",
                      linger_ms=500 if one_batch else 0, batch_size=1 << 20)
    for i in range(n):
        p.send(topic, value=b"v%d" % i, partition=0, timestamp_ms=base_ms + i * step_ms)
        if not one_batch:
            p.flush()
    p.flush()
    p.close()


def commit_halfway(b, topic, group, offset):
    need_kafka()
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=group, enable_auto_commit=False,
                      auto_offset_reset="earliest", api_version_auto_timeout_ms=10000)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = 0
    deadline = time.time() + 30
    while got < offset and time.time() < deadline:
        for recs in c.poll(timeout_ms=500, max_records=offset - got).values():
            got += len(recs)
    check_eq(got, offset, "records consumed before stopping")
    c.commit({tp: OffsetAndMetadata(offset, None)})
    check_eq(c.committed(tp), offset, "committed offset")
    c.close()


def check_lag(port, group, topic, want_records, committed, ts_ms):
    """Scrape until the snapshot shows the commit; lag in seconds must be within a second of
    the age of the record at the committed offset at the snapshot's time."""
    def ok():
        _, s = scrape(port)
        return value(s, "ringlet_group_lag_records", group=group, topic=topic,
                     partition="0") == want_records
    wait_for(ok, 15, "group lag %d" % want_records, interval=0.3)
    t0 = time.time()
    text, s = scrape(port)
    t1 = time.time()
    promtool_check(text)
    age = value(s, "ringlet_metrics_snapshot_age_seconds")
    lag_s = value(s, "ringlet_group_lag_seconds", group=group, topic=topic, partition="0")
    snap_time = (t0 + t1) / 2 - age
    want_s = snap_time - ts_ms / 1000.0
    log("lag: %r records, %.3f s (expected %.3f s)" % (want_records, lag_s, want_s))
    check(abs(lag_s - want_s) <= 1.0, "lag seconds %.3f not within 1 s of %.3f" % (lag_s, want_s))
    check_eq(value(s, "ringlet_group_max_lag_records", group=group), float(want_records),
             "group max lag")
    check_eq(value(s, "ringlet_group_total_lag_records", group=group), float(want_records),
             "group lag sum")
    check_eq(value(s, "ringlet_group_committed_offset", group=group, topic=topic,
                   partition="0"), float(committed), "committed offset series")
    return lag_s


def metrics_group_lag(ctx):
    """A group stopped halfway: lag in records = the unconsumed count; lag in seconds within a
    second of the oldest unconsumed record's age."""
    b = admin_broker(ctx)
    topic, group, n = "metrics-lag", "lag-group", 40
    base = int(time.time() * 1000) - 300000  # 5 minutes ago, one record per second
    produce_timestamped(b, topic, n, base, 1000)
    commit_halfway(b, topic, group, n // 2)
    check_lag(b.admin_port, group, topic, n // 2, n // 2, base + (n // 2) * 1000)


def metrics_prometheus(ctx):
    """A real Prometheus server scrapes ringletd every second; its HTTP API returns the
    records-in counter and the group's lag in seconds."""
    prom = shutil.which("prometheus")
    if not prom:
        raise TestFailure("prometheus is missing (Debian package prometheus)")
    b = admin_broker(ctx)
    topic, group, n = "metrics-prom", "prom-group", 30
    base = int(time.time() * 1000) - 120000
    produce_timestamped(b, topic, n, base, 1000, one_batch=True)
    commit_halfway(b, topic, group, 10)
    lag_s = check_lag(b.admin_port, group, topic, 20, 10, base + 10 * 1000)

    ppath = os.path.join(ctx.workdir, "prometheus")
    os.makedirs(ppath)
    cfg = os.path.join(ppath, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: ringlet\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % b.admin_port)
    pport = free_port()
    out = open(os.path.join(ppath, "prometheus.log"), "wb")
    p = ctx.spawn([prom, "--config.file=" + cfg, "--storage.tsdb.path=" + ppath + "/data",
                   "--web.listen-address=127.0.0.1:%d" % pport], stdout=out)
    ctx.cleanups.append(lambda: (p.poll() is None and (p.terminate(), p.wait(20))))

    def query(q):
        st, body = http(pport, "/api/v1/query?query=" + urllib.parse.quote(q))
        if st != 200:
            return None
        import json
        res = json.loads(body).get("data", {}).get("result", [])
        return float(res[0]["value"][1]) if res else None

    want = 'ringlet_topic_records_in_total{topic="%s"}' % topic
    v = wait_for(lambda: query(want) == n and True, 60, "Prometheus to return %s == %d"
                 % (want, n), interval=0.5)
    check(v, "records-in from Prometheus")
    q = 'ringlet_group_lag_seconds{group="%s",topic="%s",partition="0"}' % (group, topic)
    got = wait_for(lambda: query(q), 30, "Prometheus to return the lag in seconds", 0.5)
    log("Prometheus: %s = %.3f (ringletd said %.3f a little earlier)" % (q, got, lag_s))
    # Same scrape: lag + snapshot age must equal (scrape time - record timestamp) within 1 s.
    err = query("%s + scalar(ringlet_metrics_snapshot_age_seconds) - (timestamp(%s) - %.3f)"
                % (q, q, (base + 10 * 1000) / 1000.0))
    log("Prometheus: lag seconds minus the record's age at the scrape: %r s" % err)
    check(err is not None and abs(err) <= 1.0, "lag seconds via Prometheus off by %r s" % err)
    check_eq(query('ringlet_group_lag_records{group="%s",topic="%s",partition="0"}'
                   % (group, topic)), 20.0, "lag records from Prometheus")
    check_eq(query('up{job="ringlet"}'), 1.0, "Prometheus target up")


def metrics_health_recovery(ctx):
    """/health/live answers during recovery of an unclean data dir while /health/ready says
    503; ready flips to 200 only once recovery finished (topics loaded, listeners open)."""
    settings = {"log.segment.bytes": "65536", "num.partitions": "8",
                "log.flush.policy": "none"}
    b = admin_broker(ctx, settings=settings)
    port = b.admin_port
    # enough logs and segments that recovery (scan of every partition's tail) takes a while
    topics = scaled(30, 10)
    line = ("x" * 200 + "\n").encode()
    for t in range(topics):
        ctx.kcat(b, ["-P", "-t", "recover-%d" % t, "-K", ":"],
                 input=b"".join(b"k%d:" % i + line for i in range(scaled(2000, 200))))
    b.kill9()  # unclean: no clean-shutdown marker

    seen = []  # (time, live status, ready status)
    stop = threading.Event()

    def poller():
        while not stop.is_set():
            r = http(port, "/health/ready", timeout=2)[0]
            lv = http(port, "/health/live", timeout=2)[0]
            seen.append((time.time(), lv, r))
    th = threading.Thread(target=poller, daemon=True)
    th.start()
    try:
        b.start(timeout=120)
        wait_for(lambda: seen and seen[-1][2] == 200, 30, "/health/ready to say 200")
    finally:
        stop.set()
        th.join()
    with open(b.log_path, "rb") as f:
        blog = f.read().decode("utf-8", "replace").split("==== start #2")[-1]
    check("ringletd ready" in blog, "the restarted broker logged that it is ready")
    answered = [x for x in seen if x[2] in (200, 503)]
    check(answered, "the admin listener never answered during the restart")
    first_ok = next(i for i, x in enumerate(answered) if x[2] == 200)
    check(all(x[2] == 200 for x in answered[first_ok:]), "ready went back to 503 after 200")
    not_ready = [x for x in answered[:first_ok] if x[2] == 503]
    log("health during restart: %d answers before ready (all 503, live=%s), then 200"
        % (len(not_ready), sorted(set(x[1] for x in not_ready))))
    if not not_ready:
        raise TestSkip("recovery finished before the first probe (%d partitions): cannot "
                       "observe the not-ready phase on this machine" % (topics * 8))
    check(all(x[1] == 200 for x in not_ready), "/health/live is 200 during recovery")
    check_eq(http(port, "/metrics")[0], 200, "/metrics after recovery")


TESTS = {
    "metrics_scrape": (metrics_scrape, dict(META, scenario="scrape /metrics during a kcat "
                                            "workload; promtool; exact record counters")),
    "metrics_partition_aggregate": (metrics_partition_aggregate,
                                    dict(META, scenario="metrics.partition.detail=false")),
    "metrics_group_lag": (metrics_group_lag, dict(META, client="kafka-python",
                                                  version=KPY_VERSION,
                                                  scenario="group lag in records and "
                                                  "seconds, group stopped halfway")),
    "metrics_prometheus": (metrics_prometheus, dict(META, scenario="a real Prometheus server "
                                                    "scrapes ringletd; query its HTTP API")),
    "metrics_health_recovery": (metrics_health_recovery,
                                dict(META, scenario="health/ready flips after recovery of an "
                                     "unclean data dir")),
}

if __name__ == "__main__":
    raise SystemExit(run_tests(TESTS))
