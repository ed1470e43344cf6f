# SPDX-License-Identifier: Apache-2.0
"""Disk full: the data dir sits on an 8 MiB tmpfs mounted by the test (skipped with exit 77 if
mounting is not permitted). Produce (raw acks=all) until KAFKA_STORAGE_ERROR; fetch of existing
data keeps working; after freeing space (a ballast file placed beforehand) produce works again;
nothing acknowledged is lost, also across a restart."""
import os
import subprocess
import sys
import time

import kproto
from harness import check, check_eq, log, run_tests, TestFailure, TestSkip

META = {"client": "raw socket", "version": "kproto.py", }
BALLAST = 2 * 1024 * 1024


def mount_tmpfs(ctx, path, size):
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "ringlet-test", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise TestSkip("cannot mount a tmpfs here: %s" % p.stdout.decode().strip())
    ctx.cleanups.append(lambda: subprocess.run(["umount", "-l", path]))


def make_batch(tag, n=50, size=1000):
    vals = [(b"%s-%03d-" % (tag, i)).ljust(size, b"f") for i in range(n)]
    return vals, kproto.record_batch([(None, v, []) for v in vals])


def verify(c, topic, acked, what):
    recs, hw = c.fetch_all(topic, 0)
    stored = {off: v for off, _, _, v, _ in recs}
    for off, v in acked.items():
        if stored.get(off) != v:
            raise TestFailure("%s: acknowledged record at offset %d is %r, expected %r"
                              % (what, off, (stored.get(off) or b"")[:30], v[:30]))
    log("%s: all %d acknowledged records readable (hw %d)" % (what, len(acked), hw))


def diskfull(ctx):
    mnt = os.path.join(ctx.workdir, "mnt")
    mount_tmpfs(ctx, mnt, "8m")
    ballast = os.path.join(mnt, "ballast")
    with open(ballast, "wb") as f:
        f.write(b"\xaa" * BALLAST)
        f.flush()
        os.fsync(f.fileno())
    b = ctx.broker(data_dir=os.path.join(mnt, "data"), settings={
        "log.segment.bytes": 262144,
        "log.segment.preallocate.bytes": 0,
        "log.flush.policy": "group_commit",
        "offsets.topic.num.partitions": 1,
    })
    topic = "diskfull"
    acked = {}
    with kproto.Conn(b.port, timeout=30) as c:
        check_eq(c.create_topic(topic, 1), 0, "CreateTopics error code")
        err = 0
        for i in range(400):
            vals, batch = make_batch(b"a%d" % i)
            err, base = c.produce(topic, 0, batch, acks=-1)
            if err != 0:
                break
            for j, v in enumerate(vals):
                acked[base + j] = v
        check_eq(err, kproto.KAFKA_STORAGE_ERROR,
                 "produce error once the 8 MiB disk is full (after %d acked records)"
                 % len(acked))
        check(len(acked) > 0, "nothing could be produced before the disk filled up")
        log("disk full after %d acknowledged records" % len(acked))
        # The broker keeps serving: metadata, fetch of existing data, and produce keeps failing
        # cleanly rather than hanging.
        md, _ = c.metadata([topic])
        check_eq(md[topic][0], 0, "metadata error for the topic on a full disk")
        verify(c, topic, acked, "fetch on a full disk")
        vals, batch = make_batch(b"still-full")
        err, _ = c.produce(topic, 0, batch, acks=-1)
        check(err != 0, "produce succeeded on a still-full disk")
    b.check_alive("on a full disk")
    # Free space: produce works again (allow the broker a moment to notice).
    os.unlink(ballast)
    with kproto.Conn(b.port, timeout=30) as c:
        deadline = time.time() + 30
        ok = 0
        errors = []
        while ok < 10 and time.time() < deadline:
            vals, batch = make_batch(b"b%d" % ok)
            err, base = c.produce(topic, 0, batch, acks=-1)
            if err == 0:
                for j, v in enumerate(vals):
                    acked[base + j] = v
                ok += 1
            else:
                errors.append(err)
                time.sleep(0.5)
        check_eq(ok, 10, "batches acknowledged within 30 s after freeing %d bytes (produce "
                 "errors meanwhile: %s)" % (BALLAST, sorted(set(errors))))
        verify(c, topic, acked, "after freeing space")
    b.stop()
    b.restart()
    with kproto.Conn(b.port, timeout=30) as c:
        verify(c, topic, acked, "after a restart")


TESTS = {
    "diskfull": (diskfull, dict(META, scenario="disk full: KAFKA_STORAGE_ERROR, fetch keeps "
                                               "working, recovers after space is freed")),
}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
