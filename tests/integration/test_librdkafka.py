# SPDX-License-Identifier: Apache-2.0
"""librdkafka C programs against ringletd: 100,000 idempotent acks=all messages with headers to
6 partitions consumed back exactly once, each compression codec, a 900 KiB message, a message
above max.message.bytes, and the Admin API."""
import os
import subprocess
import sys

import kproto
from harness import check, check_eq, log, run_tests, scaled


def rdk_version():
    path = os.path.join(os.environ.get("RINGLET_INTEG_BIN", "."), "rdk_roundtrip")
    try:
        return subprocess.run([path, "version"], stdout=subprocess.PIPE,
                              timeout=30).stdout.decode().strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


META = {"client": "librdkafka", "version": rdk_version}


def create_topic(b, name, partitions, configs=None):
    with kproto.Conn(b.port) as c:
        err = c.create_topic(name, partitions, configs)
    check_eq(err, 0, "CreateTopics %s (raw, v0) error code" % name)


def roundtrip(ctx, b, topic, count, size, codec="none", idempotent=True, timeout=900):
    argv = [ctx.bin("rdk_roundtrip"), "roundtrip", "-b", b.bootstrap, "-t", topic,
            "-n", str(count), "-s", str(size), "-z", codec, "-a", "all"]
    if idempotent:
        argv.append("-i")
    p = ctx.run(argv, timeout=timeout)
    out = p.stdout.decode()
    log(out.strip())
    check("OK" in out.split(), "rdk_roundtrip did not report OK")


def rdk_produce_consume_100k(ctx):
    n = scaled(100000, 1000)
    b = ctx.broker()
    create_topic(b, "rdk-100k", 6)
    roundtrip(ctx, b, "rdk-100k", n, 100)
    b.check_alive()


def rdk_codecs(ctx):
    n = scaled(20000, 500)
    b = ctx.broker()
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        topic = "rdk-codec-" + codec
        create_topic(b, topic, 3)
        roundtrip(ctx, b, topic, n, 200, codec=codec)
    b.check_alive()


def rdk_large_message(ctx):
    size = 900 * 1024
    b = ctx.broker(settings={"message.max.bytes": 2 * 1024 * 1024})
    create_topic(b, "rdk-large", 1, {"max.message.bytes": str(2 * 1024 * 1024)})
    roundtrip(ctx, b, "rdk-large", 5, size)
    # Compressible and compressed as well, to cover decompression of a big batch.
    create_topic(b, "rdk-large-zstd", 1, {"max.message.bytes": str(2 * 1024 * 1024)})
    roundtrip(ctx, b, "rdk-large-zstd", 3, size, codec="zstd")


def rdk_too_large(ctx):
    b = ctx.broker()
    create_topic(b, "rdk-too-large", 1, {"max.message.bytes": "100000"})
    p = ctx.run([ctx.bin("rdk_roundtrip"), "too-large", "-b", b.bootstrap, "-t",
                 "rdk-too-large", "-s", str(300 * 1024)], timeout=180)
    log(p.stdout.decode().strip())
    # The broker default (message.max.bytes ~1 MiB) applies to a topic without its own limit.
    p = ctx.run([ctx.bin("rdk_roundtrip"), "too-large", "-b", b.bootstrap, "-t",
                 "rdk-too-large-default", "-s", str(1100 * 1024)], timeout=180)
    log(p.stdout.decode().strip())
    b.check_alive("after MESSAGE_TOO_LARGE")


def rdk_admin(ctx):
    b = ctx.broker()
    p = ctx.run([ctx.bin("rdk_admin"), b.bootstrap], timeout=300)
    log(p.stdout.decode().strip())
    check("OK" in p.stdout.decode().split(), "rdk_admin did not report OK")


TESTS = {
    "rdk_produce_consume_100k": (rdk_produce_consume_100k, dict(
        META, scenario="100,000 idempotent acks=all messages with headers, 6 partitions, "
                       "exactly once")),
    "rdk_codecs": (rdk_codecs, dict(META, scenario="gzip, snappy, lz4, zstd round trips")),
    "rdk_large_message": (rdk_large_message, dict(META, scenario="900 KiB message round trip")),
    "rdk_too_large": (rdk_too_large, dict(META, scenario="MESSAGE_TOO_LARGE above "
                                                        "max.message.bytes, broker keeps serving")),
    "rdk_admin": (rdk_admin, dict(META, scenario="admin create/delete topics, create "
                                                 "partitions, describe/alter configs")),
}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
