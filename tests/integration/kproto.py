# SPDX-License-Identifier: Apache-2.0
"""A small, independent Kafka wire codec for raw-socket tests: only the non-flexible request
versions the tests need, written from the protocol description, so a test can send exactly the
bytes it wants (including malformed ones) and read error codes that clients would hide."""
import socket
import struct
import time

# Kafka error codes the tests look for.
NONE = 0
OFFSET_OUT_OF_RANGE = 1
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
LEADER_NOT_AVAILABLE = 5
MESSAGE_TOO_LARGE = 10
TOPIC_ALREADY_EXISTS = 36
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
UNKNOWN_MEMBER_ID = 25
REBALANCE_IN_PROGRESS = 27
UNSUPPORTED_VERSION = 35
KAFKA_STORAGE_ERROR = 56
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_RECORD = 87
MEMBER_ID_REQUIRED = 79
FENCED_INSTANCE_ID = 82

# API keys.
PRODUCE, FETCH, LIST_OFFSETS, METADATA = 0, 1, 2, 3
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR = 8, 9, 10
JOIN_GROUP, HEARTBEAT, LEAVE_GROUP, SYNC_GROUP = 11, 12, 13, 14
API_VERSIONS, CREATE_TOPICS, DELETE_TOPICS, INIT_PRODUCER_ID = 18, 19, 20, 22


# ---- CRC-32C (Castagnoli), reflected polynomial 0x82F63B78 ----
def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    t = _CRC
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# ---- primitive encoders ----
def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode() if isinstance(s, str) else s
    return i16(len(b)) + b


def bytes_(b):
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def array(items, enc):
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(enc(x) for x in items)


def varint(v):
    v = (v << 1) ^ (v >> 63)  # zigzag
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


class Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def take(self, n):
        if self.p + n > len(self.d):
            raise ValueError("truncated response at %d (+%d of %d)" % (self.p, n, len(self.d)))
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode("utf-8", "replace")

    def bytes_(self):
        n = self.i32()
        return None if n < 0 else self.take(n)

    def array(self, dec):
        n = self.i32()
        return None if n < 0 else [dec(self) for _ in range(n)]

    def varint(self):
        shift, v = 0, 0
        while True:
            b = self.take(1)[0]
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        return (v >> 1) ^ -(v & 1)

    def remaining(self):
        return len(self.d) - self.p


# ---- record batch v2 (uncompressed) ----
def record_batch(records, base_ts=None, producer_id=-1, producer_epoch=-1, base_seq=-1):
    """records: list of (key bytes|None, value bytes|None, [(hkey str, hval bytes)])."""
    ts = int(time.time() * 1000) if base_ts is None else base_ts
    body = b""
    for i, (k, v, hdrs) in enumerate(records):
        r = i8(0) + varint(0) + varint(i)
        r += varint(-1) if k is None else varint(len(k)) + k
        r += varint(-1) if v is None else varint(len(v)) + v
        r += varint(len(hdrs))
        for hk, hv in hdrs:
            hkb = hk.encode()
            r += varint(len(hkb)) + hkb + (varint(-1) if hv is None else varint(len(hv)) + hv)
        body += varint(len(r)) + r
    n = len(records)
    after_crc = (i16(0) + i32(n - 1) + i64(ts) + i64(ts) + i64(producer_id) +
                 i16(producer_epoch) + i32(base_seq) + i32(n) + body)
    crc = crc32c(after_crc)
    after_len = i32(0) + i8(2) + struct.pack(">I", crc) + after_crc  # leader epoch, magic, crc
    return i64(0) + i32(len(after_len)) + after_len


def parse_batches(data):
    """Parse a records blob into [(offset, timestamp, key, value, headers)]; a truncated last
    batch is ignored, as clients do."""
    out = []
    p = 0
    while p + 12 <= len(data):
        base_off, blen = struct.unpack(">qi", data[p:p + 12])
        if p + 12 + blen > len(data):
            break
        b = Reader(data[p + 12:p + 12 + blen])
        b.i32()  # partition leader epoch
        magic = b.i8()
        if magic != 2:
            raise ValueError("unexpected magic %d" % magic)
        b.take(4)  # crc
        attrs = b.i16()
        if attrs & 0x7:
            raise ValueError("compressed batch not supported by this parser")
        b.i32()  # last offset delta
        first_ts = b.i64()
        b.i64()
        b.i64(), b.i16(), b.i32()
        n = b.i32()
        for _ in range(n):
            b.varint()  # length
            b.i8()
            ts_delta = b.varint()
            off_delta = b.varint()
            kl = b.varint()
            k = None if kl < 0 else b.take(kl)
            vl = b.varint()
            v = None if vl < 0 else b.take(vl)
            hdrs = []
            for _ in range(b.varint()):
                hkl = b.varint()
                hk = b.take(hkl).decode()
                hvl = b.varint()
                hdrs.append((hk, None if hvl < 0 else b.take(hvl)))
            out.append((base_off + off_delta, first_ts + ts_delta, k, v, hdrs))
        p += 12 + blen
    return out


# ---- connection ----
class Conn:
    def __init__(self, port, timeout=10.0, client_id="ringlet-raw-test"):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.settimeout(timeout)
        self.corr = 0
        self.client_id = client_id

    def close(self):
        self.s.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send_raw(self, data):
        self.s.sendall(data)

    def header(self, key, version, corr=None):
        self.corr += 1
        return i16(key) + i16(version) + i32(self.corr if corr is None else corr) + \
            string(self.client_id)

    def send(self, key, version, body):
        """Frame and send one request (header v1); returns the correlation id."""
        payload = self.header(key, version) + body
        self.s.sendall(i32(len(payload)) + payload)
        return self.corr

    def recv_frame(self):
        """Returns (correlation id, body Reader), or None if the connection closed."""
        hdr = self._recv_exact(4)
        if hdr is None:
            return None
        (n,) = struct.unpack(">i", hdr)
        data = self._recv_exact(n)
        if data is None:
            return None
        r = Reader(data)
        return r.i32(), r

    def request(self, key, version, body):
        corr = self.send(key, version, body)
        got = self.recv_frame()
        if got is None:
            raise ConnectionError("connection closed instead of a response to api %d v%d"
                                  % (key, version))
        if got[0] != corr:
            raise ValueError("correlation id %d, expected %d" % (got[0], corr))
        return got[1]

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.s.recv(n - len(buf))
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            buf += chunk
        return buf

    def is_closed(self, timeout=5.0):
        """True if the peer closes the connection within timeout (no data expected)."""
        self.s.settimeout(timeout)
        try:
            data = self.s.recv(65536)
            while data:
                data = self.s.recv(65536)
            return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    # ---- typed requests ----
    def metadata(self, topics, version=1):
        """Metadata v0 or v1 (v1: topics None = all; v0: empty = all). Returns
        {topic: (error, {partition: error})} and the broker list."""
        r = self.request(METADATA, version, array(topics, string))
        if version == 0:
            brokers = r.array(lambda x: (x.i32(), x.string(), x.i32(), None))
        else:
            brokers = r.array(lambda x: (x.i32(), x.string(), x.i32(), x.string()))
            r.i32()  # controller id
        out = {}
        for _ in range(r.i32()):
            err = r.i16()
            name = r.string()
            if version >= 1:
                r.i8()  # is_internal
            parts = {}
            for _ in range(r.i32()):
                perr = r.i16()
                idx = r.i32()
                r.i32()
                r.array(lambda x: x.i32())
                r.array(lambda x: x.i32())
                parts[idx] = perr
            out[name] = (err, parts)
        return out, brokers

    def produce(self, topic, partition, batch, acks=-1, timeout_ms=30000, version=3):
        """Produce one batch; returns (error_code, base_offset)."""
        body = string(None) + i16(acks) + i32(timeout_ms) + i32(1) + string(topic) + i32(1) + \
            i32(partition) + bytes_(batch)
        r = self.request(PRODUCE, version, body)
        r.i32()
        r.string()
        r.i32()
        r.i32()
        err = r.i16()
        off = r.i64()
        return err, off

    def init_producer_id(self):
        """InitProducerId v0 without a transactional id: (error, producer id, epoch)."""
        r = self.request(INIT_PRODUCER_ID, 0, string(None) + i32(60000))
        r.i32()
        return r.i16(), r.i64(), r.i16()

    def fetch(self, topic, partition, offset, max_bytes=1 << 20, max_wait_ms=100):
        """Fetch v4 one partition; returns (error_code, high_watermark, records blob)."""
        body = i32(-1) + i32(max_wait_ms) + i32(1) + i32(max_bytes) + i8(0) + i32(1) + \
            string(topic) + i32(1) + i32(partition) + i64(offset) + i32(max_bytes)
        r = self.request(FETCH, 4, body)
        r.i32()  # throttle
        r.i32()
        r.string()
        r.i32()
        r.i32()
        err = r.i16()
        hw = r.i64()
        r.i64()
        r.array(lambda x: (x.i64(), x.i64()))
        recs = r.bytes_() or b""
        return err, hw, recs

    def fetch_all(self, topic, partition, start=0):
        """Every record of a partition from start up to the high watermark."""
        out = []
        off = start
        while True:
            err, hw, blob = self.fetch(topic, partition, off)
            if err != NONE:
                raise ValueError("fetch %s[%d]@%d: error %d" % (topic, partition, off, err))
            recs = [x for x in parse_batches(blob) if x[0] >= off]
            out += recs
            if recs:
                off = recs[-1][0] + 1
            if off >= hw or not recs:
                if off < hw and not recs:
                    raise ValueError("fetch %s[%d]@%d returned nothing below hw %d"
                                     % (topic, partition, off, hw))
                return out, hw

    def list_offsets(self, topic, partition, ts):
        body = i32(-1) + i32(1) + string(topic) + i32(1) + i32(partition) + i64(ts)
        r = self.request(LIST_OFFSETS, 1, body)
        r.i32()
        r.string()
        r.i32()
        r.i32()
        err = r.i16()
        r.i64()
        return err, r.i64()

    def create_topic(self, name, partitions, configs=None):
        cfg = list((configs or {}).items())
        body = i32(1) + string(name) + i32(partitions) + i16(1) + i32(0) + \
            array(cfg, lambda kv: string(kv[0]) + string(str(kv[1]))) + i32(30000)
        r = self.request(CREATE_TOPICS, 0, body)
        r.i32()
        r.string()
        return r.i16()

    def delete_topic(self, name):
        """DeleteTopics v0 of one topic; returns its error code."""
        r = self.request(DELETE_TOPICS, 0, i32(1) + string(name) + i32(30000))
        r.i32()
        r.string()
        return r.i16()

    def find_coordinator(self, group):
        r = self.request(FIND_COORDINATOR, 0, string(group))
        return r.i16(), r.i32(), r.string(), r.i32()

    def join_group(self, group, member_id="", protocol_type="consumer",
                   protocols=(("range", b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"),),
                   session_ms=10000, rebalance_ms=10000, version=1):
        body = string(group) + i32(session_ms)
        if version >= 1:
            body += i32(rebalance_ms)
        body += string(member_id) + string(protocol_type) + \
            array(list(protocols), lambda p: string(p[0]) + bytes_(p[1]))
        r = self.request(JOIN_GROUP, version, body)
        if version >= 2:
            r.i32()
        err = r.i16()
        gen = r.i32()
        proto = r.string()
        leader = r.string()
        mid = r.string()
        members = r.array(lambda x: (x.string(), x.bytes_()))
        return {"error": err, "generation": gen, "protocol": proto, "leader": leader,
                "member_id": mid, "members": members}

    def sync_group(self, group, generation, member_id, assignments=()):
        body = string(group) + i32(generation) + string(member_id) + \
            array(list(assignments), lambda a: string(a[0]) + bytes_(a[1]))
        r = self.request(SYNC_GROUP, 0, body)
        return r.i16(), r.bytes_()

    def heartbeat(self, group, generation, member_id):
        r = self.request(HEARTBEAT, 0, string(group) + i32(generation) + string(member_id))
        return r.i16()

    def leave_group(self, group, member_id):
        r = self.request(LEAVE_GROUP, 0, string(group) + string(member_id))
        return r.i16()

    def offset_commit(self, group, generation, member_id, topic, offsets):
        """OffsetCommit v2; offsets {partition: offset}. Returns {partition: error}."""
        body = string(group) + i32(generation) + string(member_id) + i64(-1) + i32(1) + \
            string(topic) + array(sorted(offsets.items()),
                                  lambda po: i32(po[0]) + i64(po[1]) + string(None))
        r = self.request(OFFSET_COMMIT, 2, body)
        out = {}
        for _ in range(r.i32()):
            r.string()
            for _ in range(r.i32()):
                p = r.i32()
                out[p] = r.i16()
        return out

    def offset_fetch(self, group, topic, partitions):
        """OffsetFetch v1; returns {partition: (offset, error)}."""
        body = string(group) + i32(1) + string(topic) + array(list(partitions), i32)
        r = self.request(OFFSET_FETCH, 1, body)
        out = {}
        for _ in range(r.i32()):
            r.string()
            for _ in range(r.i32()):
                p = r.i32()
                off = r.i64()
                r.string()
                out[p] = (off, r.i16())
        return out


def consumer_subscription(topics):
    """ConsumerProtocolSubscription v0 bytes."""
    return i16(0) + array(topics, string) + bytes_(b"")


def consumer_assignment(topic, partitions):
    """ConsumerProtocolAssignment v0 bytes."""
    return i16(0) + i32(1) + string(topic) + array(list(partitions), i32) + bytes_(b"")
