#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""capture-frames.py - a recording proxy on loopback between a real Kafka client and a running
ringletd, used to make the golden request fixtures in tests/unit/protocol/golden/.

It listens on 127.0.0.1:LISTEN and forwards every connection to 127.0.0.1:UPSTREAM. Each request
frame the client sends is written, without its 4-byte size, to
OUTDIR/<client>-<api>-v<version>-<n>.bin (n counts frames of that api/version, from 1).
Responses are forwarded untouched. Run ringletd with advertised.listeners=127.0.0.1:LISTEN so
that clients keep talking through the proxy after Metadata.

Not used by tests at run time: the fixtures are static files.

  scripts/capture-frames.py --listen 19101 --upstream 19100 --client kcat --out /tmp/frames
"""
import argparse
import os
import socket
import struct
import sys
import threading

API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit",
    9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
    13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
    17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
    22: "InitProducerId", 32: "DescribeConfigs", 36: "SaslAuthenticate",
}

lock = threading.Lock()
counters = {}


def save(out, client, frame):
    if len(frame) < 4:
        return
    key, ver = struct.unpack(">hh", frame[:4])
    api = API_NAMES.get(key, "Api%d" % key)
    with lock:
        n = counters.get((api, ver), 0) + 1
        counters[(api, ver)] = n
        path = os.path.join(out, "%s-%s-v%d-%d.bin" % (client, api, ver, n))
        with open(path, "wb") as f:
            f.write(frame)
    print("captured %s (%d bytes)" % (path, len(frame)), flush=True)


def pump_requests(src, dst, out, client):
    buf = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
            buf += data
            while len(buf) >= 4:
                (size,) = struct.unpack(">i", buf[:4])
                if len(buf) < 4 + size:
                    break
                save(out, client, buf[4:4 + size])
                buf = buf[4 + size:]
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def pump_plain(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", type=int, required=True, help="loopback port to listen on")
    ap.add_argument("--upstream", type=int, required=True, help="ringletd's loopback port")
    ap.add_argument("--client", required=True, help="file name prefix (kcat, kpy, kjs)")
    ap.add_argument("--out", required=True, help="directory for the .bin files")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", args.listen))
    ls.listen(16)
    print("proxy 127.0.0.1:%d -> 127.0.0.1:%d" % (args.listen, args.upstream), flush=True)
    while True:
        c, _ = ls.accept()
        try:
            u = socket.create_connection(("127.0.0.1", args.upstream))
        except OSError as e:
            print("upstream: %s" % e, file=sys.stderr)
            c.close()
            continue
        threading.Thread(target=pump_requests, args=(c, u, args.out, args.client),
                         daemon=True).start()
        threading.Thread(target=pump_plain, args=(u, c), daemon=True).start()


if __name__ == "__main__":
    main()
