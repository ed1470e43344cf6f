# SPDX-License-Identifier: Apache-2.0
"""Malformed input on a raw socket. Each case must get its defined error or a closed
connection, never a crash or a large allocation; afterwards the broker must be alive and a kcat
produce on another connection must succeed."""
import socket
import struct
import sys
import time

import kproto
from kproto import i16, i32, i64, string
from harness import check, check_eq, log, rss_kib, run_tests, TestFailure

META = {"client": "raw socket", "version": "kproto.py"}
RSS_GROWTH_LIMIT_KIB = 64 * 1024


def assert_serving(ctx, b, tag, rss_before):
    b.check_alive("after bad input (%s)" % tag)
    line = ("after-%s-%d" % (tag, time.time_ns())).encode()
    ctx.kcat(b, ["-P", "-t", "badinput-check", "-p", "0", "-X", "acks=all"],
             input=line + b"\n", timeout=60)
    p = ctx.kcat(b, ["-C", "-t", "badinput-check", "-p", "0", "-e", "-q", "-f", "%s\n"],
                 timeout=60)
    check(line in p.stdout.split(b"\n"),
          "kcat produce after %s: line not consumed back (got %d bytes)" % (tag, len(p.stdout)))
    b.check_alive("after kcat check (%s)" % tag)
    rss = rss_kib(b.pid)
    if rss_before > 0 and rss > 0:
        check(rss - rss_before < RSS_GROWTH_LIMIT_KIB,
              "%s: broker RSS grew from %d KiB to %d KiB" % (tag, rss_before, rss))
    log("%s: broker alive and serving (RSS %d KiB)" % (tag, rss))


def expect_closed(c, what):
    check(c.is_closed(5.0), "%s: connection was not closed within 5 s" % what)


def closed_or_response(c, corr, what):
    """Accept a closed connection, or a well-formed response with the right correlation id
    (an error response); returns 'closed' or 'response'."""
    c.s.settimeout(5.0)
    try:
        got = c.recv_frame()
    except socket.timeout:
        raise TestFailure("%s: neither a response nor a close within 5 s" % what)
    if got is None:
        return "closed"
    check_eq(got[0], corr, "%s: correlation id of the response" % what)
    return "response"


def start(ctx):
    b = ctx.broker()
    # Warm up (create the check topic) so the RSS baseline includes it.
    ctx.kcat(b, ["-P", "-t", "badinput-check", "-p", "0"], input=b"warmup\n", timeout=60)
    return b, rss_kib(b.pid)


def frame_negative_length(ctx):
    b, rss = start(ctx)
    for n in (-1, -2147483648, -100):
        with kproto.Conn(b.port) as c:
            c.send_raw(i32(n) + b"\x00\x12\x00\x00")
            expect_closed(c, "frame length %d" % n)
    assert_serving(ctx, b, "negative frame length", rss)


def frame_huge_length(ctx):
    b, rss = start(ctx)
    for n in (0x7FFFFFFF, 104857601, 0x40000000):
        with kproto.Conn(b.port) as c:
            c.send_raw(i32(n) + b"\x00\x03\x00\x01" + b"\x00" * 1000)
            expect_closed(c, "frame length %#x" % n)
    assert_serving(ctx, b, "frame length 0x7fffffff", rss)


def frame_shorter_than_header(ctx):
    b, rss = start(ctx)
    for payload in (b"", b"\x00", b"\x00\x12\x00", b"\x00\x12\x00\x00\x00\x00\x00"):
        with kproto.Conn(b.port) as c:
            c.send_raw(i32(len(payload)) + payload)
            expect_closed(c, "frame of %d bytes" % len(payload))
    # client_id length pointing past the end of the frame.
    with kproto.Conn(b.port) as c:
        hdr = i16(18) + i16(0) + i32(7) + i16(1000) + b"abc"
        c.send_raw(i32(len(hdr)) + hdr)
        expect_closed(c, "client_id longer than the frame")
    assert_serving(ctx, b, "frame shorter than a header", rss)


def unknown_api_key(ctx):
    b, rss = start(ctx)
    for key in (9999, 32767, -1, 1000):
        with kproto.Conn(b.port) as c:
            c.send(key, 0, b"")
            expect_closed(c, "unknown api key %d" % key)
    assert_serving(ctx, b, "unknown api key", rss)


def unsupported_version(ctx):
    b, rss = start(ctx)
    # ApiVersions with an unknown version: error 35 in a v0-format response listing the range.
    for v in (99, 32767):
        with kproto.Conn(b.port) as c:
            r = c.request(kproto.API_VERSIONS, v, b"\x00\x01\x02garbage-body-of-a-future-version")
            err = r.i16()
            check_eq(err, kproto.UNSUPPORTED_VERSION, "ApiVersions v%d error code" % v)
            keys = r.array(lambda x: (x.i16(), x.i16(), x.i16()))
            check(keys and any(k == 18 for k, _, _ in keys),
                  "ApiVersions v%d error response lacks the ApiVersions range: %r" % (v, keys))
            check_eq(r.remaining(), 0, "bytes after the v0-format ApiVersions error response")
            mx = [m for k, _, m in keys if k == 18][0]
            check(mx >= 3, "advertised ApiVersions max %d < 3" % mx)
            # The connection stays usable: librdkafka retries on it with a lower version.
            r = c.request(kproto.API_VERSIONS, 0, b"")
            check_eq(r.i16(), 0, "ApiVersions v0 after the error, same connection")
    # Any other API at an unsupported version: connection closed.
    for key in (kproto.METADATA, kproto.PRODUCE, kproto.FETCH):
        with kproto.Conn(b.port) as c:
            c.send(key, 999, b"\x00" * 16)
            expect_closed(c, "api %d v999" % key)
    assert_serving(ctx, b, "unsupported version", rss)


def huge_array_count(ctx):
    b, rss = start(ctx)
    cases = [
        ("Metadata v1 topics", kproto.METADATA, 1, i32(0x7FFFFFF0)),
        ("Metadata v1 topics INT32_MAX with one name", kproto.METADATA, 1,
         i32(0x7FFFFFFF) + string("x")),
        ("CreateTopics v0 topics", kproto.CREATE_TOPICS, 0, i32(0x7FFFFFFE)),
        ("Produce v3 topics", kproto.PRODUCE, 3, string(None) + i16(1) + i32(1000) +
         i32(0x7FFFFFFF)),
        ("Produce v3 partitions", kproto.PRODUCE, 3, string(None) + i16(1) + i32(1000) +
         i32(1) + string("badinput-check") + i32(0x7FFFFFFF)),
        ("Fetch v4 topics", kproto.FETCH, 4, i32(-1) + i32(100) + i32(1) + i32(1 << 20) +
         b"\x00" + i32(0x7FFFFFFD)),
        ("ListOffsets v1 topics", kproto.LIST_OFFSETS, 1, i32(-1) + i32(0x7FFFFFFF)),
        ("JoinGroup v1 protocols", kproto.JOIN_GROUP, 1, string("g") + i32(10000) +
         i32(10000) + string("") + string("consumer") + i32(0x7FFFFFFF)),
        ("Produce v3 records length", kproto.PRODUCE, 3, string(None) + i16(1) + i32(1000) +
         i32(1) + string("badinput-check") + i32(1) + i32(0) + i32(0x7FFFFFF0) + b"\x00" * 8),
    ]
    outcomes = []
    for what, key, ver, body in cases:
        with kproto.Conn(b.port) as c:
            corr = c.send(key, ver, body)
            outcomes.append("%s: %s" % (what, closed_or_response(c, corr, what)))
        b.check_alive("after %s" % what)
        r = rss_kib(b.pid)
        check(r - rss < RSS_GROWTH_LIMIT_KIB,
              "%s: broker RSS grew from %d KiB to %d KiB" % (what, rss, r))
    log("; ".join(outcomes))
    assert_serving(ctx, b, "array count near INT32_MAX", rss)


def garbage_after_header(ctx):
    b, rss = start(ctx)
    junk = bytes((i * 37 + 11) & 0xFF for i in range(300))
    outcomes = []
    for key, ver in ((kproto.METADATA, 1), (kproto.PRODUCE, 3), (kproto.FETCH, 4),
                     (kproto.JOIN_GROUP, 1), (kproto.OFFSET_COMMIT, 2), (kproto.API_VERSIONS, 3),
                     (kproto.CREATE_TOPICS, 0), (kproto.LIST_OFFSETS, 1)):
        with kproto.Conn(b.port) as c:
            corr = c.send(key, ver, junk)
            outcomes.append("api %d v%d: %s" % (key, ver, closed_or_response(c, corr,
                                                                            "api %d" % key)))
        b.check_alive("after garbage for api %d v%d" % (key, ver))
    # A valid request followed by trailing junk inside the same frame.
    with kproto.Conn(b.port) as c:
        corr = c.send(kproto.METADATA, 1, i32(1) + string("badinput-check") + junk[:40])
        outcomes.append("metadata + trailing junk: %s" % closed_or_response(c, corr, "md"))
    log("; ".join(outcomes))
    assert_serving(ctx, b, "garbage after a valid header", rss)


def disconnect_mid_frame(ctx):
    b, rss = start(ctx)
    for data in (b"\x00\x00", i32(1000) + b"\x00\x03\x00\x01" + b"\x00" * 50,
                 i32(8 << 20) + b"\x00" * 4096):
        c = kproto.Conn(b.port)
        c.send_raw(data)
        time.sleep(0.05)
        c.close()
    # Same with a reset instead of an orderly close.
    c = kproto.Conn(b.port)
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.send_raw(i32(5000) + b"\x00\x00\x00\x03" + b"\x00" * 100)
    time.sleep(0.05)
    c.close()
    time.sleep(0.3)
    assert_serving(ctx, b, "disconnect mid-frame", rss)


def disconnect_mid_response(ctx):
    b, rss = start(ctx)
    # 1) Many pipelined requests whose responses exceed the socket buffers, then a reset.
    for linger in (True, False):
        c = kproto.Conn(b.port)
        c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        if linger:
            c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for _ in range(3000):
            c.send(kproto.API_VERSIONS, 0, b"")
        c.s.recv(10)
        c.close()
    # 2) A large Fetch response abandoned after a few bytes.
    big = b"y" * 1000
    batch = kproto.record_batch([(None, big, [])] * 500)
    with kproto.Conn(b.port) as c:
        for _ in range(8):
            err, _ = c.produce("badinput-check", 0, batch)
            check_eq(err, 0, "raw produce of a 500 KB batch")
    for _ in range(3):
        c = kproto.Conn(b.port)
        c.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.send(kproto.FETCH, 4, i32(-1) + i32(100) + i32(1) + i32(50 << 20) + b"\x00" +
               i32(1) + string("badinput-check") + i32(1) + i32(0) + i64(0) + i32(50 << 20))
        c.s.recv(10)
        c.close()
    time.sleep(0.5)
    assert_serving(ctx, b, "disconnect mid-response", rss)


CASES = [frame_negative_length, frame_huge_length, frame_shorter_than_header, unknown_api_key,
         unsupported_version, huge_array_count, garbage_after_header, disconnect_mid_frame,
         disconnect_mid_response]

TESTS = {"badinput_" + f.__name__: (f, dict(META, scenario="bad input: " +
                                               f.__name__.replace("_", " ")))
         for f in CASES}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
