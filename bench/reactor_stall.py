#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""reactor_stall.py - how long a broker keeps an idle client waiting while others load it.

Sends an ApiVersions v0 request on its own connection every --interval-ms, waits for the answer,
and prints the latency distribution: a reactor that blocks (a synchronous syscall, a long
handler) shows as pings that wait. A figure-printing benchmark (scripts/bench-rolls.sh runs it),
never a timed test.

    bench/reactor_stall.py --broker 127.0.0.1:9092 --seconds 10 [--label NAME]
"""
import argparse
import socket
import struct
import time


def request(corr):
    client = b"reactor-stall"
    body = struct.pack(">hhih", 18, 0, corr, len(client)) + client  # ApiVersions v0
    return struct.pack(">i", len(body)) + body


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return bytes(buf)


def pct(sorted_ms, p):
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(p / 100.0 * len(sorted_ms)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", default="127.0.0.1:9092")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--interval-ms", type=float, default=1.0)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    host, port = a.broker.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lat = []
    corr = 0
    end = time.monotonic() + a.seconds
    nxt = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if now < nxt:
            time.sleep(nxt - now)
        nxt += a.interval_ms / 1000.0
        corr += 1
        t0 = time.monotonic()
        sock.sendall(request(corr))
        (size,) = struct.unpack(">i", recv_exact(sock, 4))
        (got,) = struct.unpack(">i", recv_exact(sock, size)[:4])
        lat.append((time.monotonic() - t0) * 1000.0)
        if got != corr:
            raise SystemExit("correlation id %d, expected %d" % (got, corr))
    sock.close()
    s = sorted(lat)
    over = {t: sum(1 for x in s if x > t) for t in (1, 2, 5, 10)}
    print("stall %-12s pings %6d  p50 %6.3f  p99 %6.3f  p99.9 %7.3f  max %7.3f ms  "
          "over 1/2/5/10 ms: %d/%d/%d/%d"
          % (a.label, len(s), pct(s, 50), pct(s, 99), pct(s, 99.9), s[-1] if s else float("nan"),
             over[1], over[2], over[5], over[10]))


if __name__ == "__main__":
    main()
