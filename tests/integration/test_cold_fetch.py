# SPDX-License-Identifier: Apache-2.0
"""Fetch of data that is only on the disk: a broker that keeps no copy of what it writes
(log.direct.cache.bytes=0, every append written with O_DIRECT) stores tens of MB over 4
partitions, the test drops the segment files from the page cache (POSIX_FADV_DONTNEED), and
consumers read everything from the beginning. Fetch then reads the bytes asynchronously
(io_uring), which ringlet_storage_disk_reads_total must show. Checked with kcat (librdkafka) and
kafka-python, and with a producer/consumer at the tail of another topic while a consumer reads
the cold data."""
import ctypes
import mmap
import os
import random
import re
import subprocess
import sys
import threading
import time
import zlib

import kproto
from harness import (_die_with_parent, check, check_eq, free_port, kcat_version, log, run_tests,
                     scaled, TestFailure)
from test_kcat import parse_kcat_records
from test_metrics import scrape, value

try:
    import kafka
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    KPY_VERSION = kafka.__version__
except ImportError:  # reported as a failure by the tests that need it
    kafka = None
    KPY_VERSION = "not installed"

PARTITIONS = 4
MIN_SIZE, MAX_SIZE = 100, 20 * 1024
# Every fetch must find its bytes on the disk: no in-memory copy of direct writes, every append
# written with O_DIRECT (so past the page cache), several segments per partition.
COLD_SETTINGS = {
    "log.direct.io": "true",
    "log.direct.cache.bytes": "0",
    "log.direct.min.bytes": "1",
    "log.segment.bytes": str(2 * 1024 * 1024),
}
KCAT_FMT = "%p %o %T %K %S:%k%s\n"
HEADER = re.compile(rb"^p(\d+) s(\d+) crc([0-9a-f]{8}) len(\d+) ")


def need_kafka():
    if kafka is None:
        raise TestFailure("kafka-python is not importable by %s" % sys.executable)


def cold_broker(ctx, name="broker"):
    port = free_port()
    s = dict(COLD_SETTINGS)
    s["admin.listener"] = "127.0.0.1:%d" % port
    b = ctx.broker(name=name, settings=s)
    b.admin_port = port
    return b


def create_topic(b, name, partitions):
    with kproto.Conn(b.port) as c:
        err = c.create_topic(name, partitions)
    check_eq(err, 0, "CreateTopics %s error code" % name)


def make_payload(part, seq, body):
    return b"p%d s%07d crc%08x len%05d " % (part, seq, zlib.crc32(body), len(body)) + body


def gen_dataset(total_bytes):
    """{partition: [payload, ...]}: about total_bytes of messages of 100 B - 20 KiB (mostly
    small, some large), each carrying its partition, sequence number and the CRC-32 and length
    of its body. Bodies are printable (kcat -P splits its input at newlines)."""
    alphabet = bytes(range(0x20, 0x7f))
    base = bytes(random.choice(alphabet) for _ in range(64 * 1024 + MAX_SIZE))
    data = {p: [] for p in range(PARTITIONS)}
    size = 0
    i = 0
    while size < total_bytes:
        part = i % PARTITIONS
        n = MIN_SIZE + int(random.random() ** 2 * (MAX_SIZE - MIN_SIZE))
        at = random.randrange(0, 64 * 1024)
        payload = make_payload(part, len(data[part]), base[at:at + n])
        data[part].append(payload)
        size += len(payload)
        i += 1
    return data


def dataset_bytes(data):
    return sum(len(v) for lst in data.values() for v in lst)


def produce_kcat(ctx, b, topic, data):
    """kcat -P (librdkafka, acks=all), one run per partition."""
    for part in range(PARTITIONS):
        ctx.kcat(b, ["-P", "-t", topic, "-p", str(part), "-X", "acks=all",
                     "-X", "message.max.bytes=1000000"],
                 input=b"".join(v + b"\n" for v in data[part]), timeout=300)
    log("produced %d messages, %d bytes to %s" % (sum(len(x) for x in data.values()),
                                                  dataset_bytes(data), topic))


def resident_pages(fd, size):
    """Pages of the file (fd, size bytes) in the page cache now (mincore(2) of a mapping)."""
    if size == 0:
        return 0
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    check(addr not in (None, ctypes.c_void_p(-1).value), "mmap failed: errno %d"
          % ctypes.get_errno())
    try:
        vec = ctypes.create_string_buffer((size + mmap.PAGESIZE - 1) // mmap.PAGESIZE)
        check(libc.mincore(addr, size, vec) == 0, "mincore failed: errno %d"
              % ctypes.get_errno())
        return sum(c & 1 for c in vec.raw)
    finally:
        libc.munmap(addr, size)


def evict_page_cache(b, topic):
    """Drops every segment file of the broker from the page cache; checks that none of the
    topic's pages stayed."""
    files, size, resident = 0, 0, 0
    dirs = set()
    for root, _, names in os.walk(b.data_dir):
        for n in names:
            if not n.endswith(".log"):
                continue
            path = os.path.join(root, n)
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)  # DONTNEED skips dirty pages
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                st = os.fstat(fd)
                if os.path.basename(root).startswith(topic + "-"):
                    dirs.add(os.path.basename(root))
                    files += 1
                    size += st.st_size
                    resident += resident_pages(fd, st.st_size)
            finally:
                os.close(fd)
    check_eq(sorted(dirs), sorted("%s-%d" % (topic, p) for p in range(PARTITIONS)),
             "partition directories with segment files")
    log("dropped %d segment files of %s (%d bytes) from the page cache; %d pages still "
        "resident" % (files, topic, size, resident))
    check_eq(resident, 0, "pages of %s's segment files in the page cache after "
             "POSIX_FADV_DONTNEED" % topic)


class Evictor:
    """Keeps dropping the topic's segment files from the page cache while a consumer reads
    them (the kernel's readahead would otherwise serve most reads after the first miss of each
    segment), so that many fetches, and fetches of partly cached ranges, go to the disk."""

    def __init__(self, b, topic):
        self.paths = []
        for p in range(PARTITIONS):
            d = os.path.join(b.data_dir, "%s-%d" % (topic, p))
            self.paths += [os.path.join(d, n) for n in os.listdir(d) if n.endswith(".log")]
        self.stop = threading.Event()
        self.passes = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            for path in self.paths:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)
            self.passes += 1
            self.stop.wait(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        log("evicted the segment files %d times during the read" % self.passes)


def check_payload(part, off, v):
    """The payload's own header must match where it was read and its body's CRC."""
    m = HEADER.match(v or b"")
    check(m is not None, "partition %d offset %d: payload without header: %r"
          % (part, off, (v or b"")[:60]))
    body = v[m.end():]
    check_eq(int(m.group(1)), part, "partition in the payload at %d/%d" % (part, off))
    check_eq(int(m.group(2)), off, "sequence in the payload at %d/%d" % (part, off))
    check_eq(len(body), int(m.group(4)), "body length at %d/%d" % (part, off))
    check_eq("%08x" % zlib.crc32(body), m.group(3).decode(), "body CRC-32 at %d/%d"
             % (part, off))


def verify_partitions(data, got, who):
    """got: {partition: [(offset, value), ...]} in arrival order. Each partition must hold
    every produced message exactly once, at offsets 0.., in order, byte for byte."""
    for part in range(PARTITIONS):
        want = data[part]
        lst = got.get(part, [])
        for i, (off, v) in enumerate(lst):
            check_eq(off, i, "%s: offset of message #%d of partition %d" % (who, i, part))
            check(i < len(want), "%s: partition %d has more messages than the %d produced"
                  % (who, part, len(want)))
            check_payload(part, off, v)
            if v != want[i]:
                raise TestFailure("%s: partition %d offset %d: %d bytes differ from the %d "
                                  "produced (first 60: %r)" % (who, part, off, len(v),
                                                              len(want[i]), v[:60]))
        check_eq(len(lst), len(want), "%s: messages consumed from partition %d" % (who, part))
    log("%s: all %d messages of %d partitions exactly once, in order, byte-exact"
        % (who, sum(len(x) for x in data.values()), PARTITIONS))


def kcat_records(out):
    got = {}
    for part, off, _, _, v in parse_kcat_records(out):
        got.setdefault(part, []).append((off, v))
    return got


def check_disk_reads(b):
    """ringlet_storage_disk_reads_total and ..._read_bytes_total > 0 (the snapshot is refreshed
    once a second)."""
    deadline = time.time() + 10
    while True:
        _, s = scrape(b.admin_port)
        reads = value(s, "ringlet_storage_disk_reads_total")
        rbytes = value(s, "ringlet_storage_disk_read_bytes_total")
        if (reads or 0) > 0 and (rbytes or 0) > 0:
            break
        if time.time() > deadline:
            raise TestFailure("no asynchronous disk reads counted after reading cold data: "
                              "ringlet_storage_disk_reads_total=%r "
                              "ringlet_storage_disk_read_bytes_total=%r" % (reads, rbytes))
        time.sleep(0.3)
    log("disk reads: %d, %d bytes" % (reads, rbytes))
    return reads, rbytes


def stop_clean(b):
    """Stops the broker (exit code 0 required) and fails on any sanitizer report in its log."""
    b.stop()
    with open(b.log_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: AddressSanitizer"):
        check(marker not in text, "sanitizer report in the broker log (%s)" % marker)


def cold_setup(ctx, topic, mb):
    b = cold_broker(ctx)
    create_topic(b, topic, PARTITIONS)
    data = gen_dataset(scaled(mb * 1024 * 1024, 8 * 1024 * 1024))
    produce_kcat(ctx, b, topic, data)
    evict_page_cache(b, topic)
    return b, data


# ---- tests -----------------------------------------------------------------------------------

def cold_fetch_rdk(ctx):
    topic = "cold-rdk"
    b, data = cold_setup(ctx, topic, 48)
    t0 = time.time()
    with Evictor(b, topic):
        p = ctx.kcat(b, ["-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", KCAT_FMT,
                         "-X", "fetch.message.max.bytes=1048576"], timeout=300)
    log("kcat consumed %d bytes in %.1f s" % (len(p.stdout), time.time() - t0))
    verify_partitions(data, kcat_records(p.stdout), "kcat")
    check_disk_reads(b)
    stop_clean(b)


def kpy_consume(b, topic, data, timeout=240):
    """kafka-python, assigned every partition, from the beginning until each partition's
    produced count is reached. Returns {partition: [(offset, value)]}."""
    want = sum(len(x) for x in data.values())
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", max_partition_fetch_bytes=1024 * 1024,
                      fetch_max_bytes=16 * 1024 * 1024)
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = {}
        n = 0
        deadline = time.time() + timeout
        while n < want:
            if time.time() > deadline:
                raise TestFailure("kafka-python consumed %d of %d messages in %d s (%s)"
                                  % (n, want, timeout, {p: len(v) for p, v in got.items()}))
            for tp, msgs in c.poll(timeout_ms=1000).items():
                for m in msgs:
                    got.setdefault(m.partition, []).append((m.offset, m.value))
                    n += 1
        ends = c.end_offsets(tps)
        for tp in tps:
            check_eq(c.position(tp), ends[tp], "kafka-python position of partition %d at the "
                     "end" % tp.partition)
    finally:
        c.close()
    return got


def cold_fetch_kpy(ctx):
    need_kafka()
    topic = "cold-kpy"
    b, data = cold_setup(ctx, topic, 40)
    t0 = time.time()
    got = kpy_consume(b, topic, data)
    log("kafka-python consumed the cold topic in %.1f s" % (time.time() - t0))
    verify_partitions(data, got, "kafka-python")
    check_disk_reads(b)
    stop_clean(b)


def cold_fetch_tail_while_cold(ctx):
    """kcat reads the cold topic from the beginning while kafka-python produces (acks=all) and
    consumes small batches at the tail of another topic; both must get everything right."""
    need_kafka()
    topic, tail = "cold-big", "tail-hot"
    b, data = cold_setup(ctx, topic, 48)
    create_topic(b, tail, 2)
    tps = [TopicPartition(tail, p) for p in range(2)]
    prod = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all", linger_ms=2,
                         request_timeout_ms=30000, max_block_ms=30000)
    cons = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                         auto_offset_reset="earliest", fetch_max_wait_ms=100)
    cons.assign(tps)
    cons.seek_to_beginning(*tps)
    # The cold reader runs in the background; its output goes to a file (tens of MB).
    out_path = os.path.join(ctx.workdir, "cold-kcat.out")
    err_path = os.path.join(ctx.workdir, "cold-kcat.err")
    argv = ["kcat", "-b", b.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f",
            KCAT_FMT]
    log("spawn: %s" % " ".join(argv))
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        cold = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=ctx.client_env(), preexec_fn=_die_with_parent)
    ctx.procs.append(cold)
    min_rounds = scaled(20, 5)
    per_round = 50
    rounds, sent, overlapped = 0, {0: [], 1: []}, 0
    got = {0: [], 1: []}
    deadline = time.time() + 240
    evictor = Evictor(b, topic).__enter__()
    try:
        while rounds < min_rounds or cold.poll() is None:
            check(time.time() < deadline, "tail rounds did not finish within 240 s")
            if cold.poll() is None:
                overlapped += 1
            futs = []
            for i in range(per_round):
                part = i % 2
                body = bytes(random.choice(b"abcdefghij") for _ in range(random.randint(1, 300)))
                v = make_payload(part, rounds * per_round + i, body)
                futs.append((part, v, prod.send(tail, value=v, partition=part)))
            prod.flush(60)
            for part, v, f in futs:
                md = f.get(timeout=60)
                check_eq(md.partition, part, "partition of a tail message")
                check_eq(md.offset, len(sent[part]), "offset of tail message in partition %d"
                         % part)
                sent[part].append(v)
            # Read this round back before the next one.
            want = sum(len(x) for x in sent.values())
            while sum(len(x) for x in got.values()) < want:
                check(time.time() < deadline, "tail consumer got %d of %d messages"
                      % (sum(len(x) for x in got.values()), want))
                for tp, msgs in cons.poll(timeout_ms=500).items():
                    for m in msgs:
                        lst = got[m.partition]
                        check_eq(m.offset, len(lst), "offset of the next tail message of "
                                 "partition %d" % m.partition)
                        check(m.offset < len(sent[m.partition]),
                              "tail message at %d/%d that was not produced yet"
                              % (m.partition, m.offset))
                        check(m.value == sent[m.partition][m.offset],
                              "tail message %d/%d: got %r, produced %r"
                              % (m.partition, m.offset, m.value[:60],
                                 sent[m.partition][m.offset][:60]))
                        lst.append(m.value)
            rounds += 1
    finally:
        evictor.__exit__()
        prod.close(10)
        cons.close()
    log("tail: %d rounds of %d messages produced and consumed back, %d of them while the cold "
        "read ran" % (rounds, per_round, overlapped))
    check(overlapped > 0, "the cold read finished before the first tail round (nothing ran "
          "concurrently); the data set is too small for this machine")
    rc = cold.wait(timeout=60)
    with open(out_path, "rb") as f:
        cold_out = f.read()
    with open(err_path, "rb") as f:
        cold_err = f.read()
    check_eq(rc, 0, "exit code of the cold kcat consumer (stderr tail %r)" % cold_err[-1000:])
    verify_partitions(data, kcat_records(cold_out), "cold kcat")
    check_disk_reads(b)
    stop_clean(b)


KCAT_META = {"client": "kcat", "version": kcat_version}
KPY_META = {"client": "kafka-python", "version": KPY_VERSION}
TESTS = {
    "cold_fetch_rdk": (cold_fetch_rdk, dict(
        KCAT_META, scenario="48 MB over 4 partitions written with O_DIRECT, dropped from the "
                            "page cache, consumed from the beginning (asynchronous disk reads)")),
    "cold_fetch_kpy": (cold_fetch_kpy, dict(
        KPY_META, scenario="40 MB over 4 partitions written with O_DIRECT, dropped from the page "
                           "cache, consumed from the beginning (asynchronous disk reads)")),
    "cold_fetch_tail_while_cold": (cold_fetch_tail_while_cold, dict(
        KPY_META, scenario="produce/consume at the tail of a topic while kcat reads another "
                           "from the disk")),
}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
