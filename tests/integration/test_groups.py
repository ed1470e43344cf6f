# SPDX-License-Identifier: Apache-2.0
"""Consumer groups with librdkafka consumers (rdk_group) and raw requests: rebalance on
join/death, commit/close/reopen, commit durability across a broker SIGKILL, static membership,
cooperative-sticky, 100 members, and error codes for bad group requests."""
import concurrent.futures
import os
import signal
import subprocess
import sys
import threading
import time

import harness
import kproto
from harness import check, check_eq, log, run_tests, scaled, TestFailure
from test_librdkafka import META, create_topic

GROUP_SETTINGS = {"group.initial.rebalance.delay.ms": 0, "offsets.topic.num.partitions": 4,
                  "group.min.session.timeout.ms": 1000}


class Member:
    """One rdk_group process; its stdout lines are collected by a reader thread."""

    def __init__(self, ctx, b, topic, group, name, args=()):
        self.name = name
        self.lines = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            [ctx.bin("rdk_group"), "-b", b.bootstrap, "-t", topic, "-g", group] + list(args),
            stdout=subprocess.PIPE, stderr=open(os.path.join(ctx.workdir, name + ".err"), "wb"),
            env=ctx.client_env(), preexec_fn=harness._die_with_parent)
        ctx.procs.append(self.proc)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.lock:
                self.lines.append((time.time(), line))

    def events(self, kind):
        with self.lock:
            return [(t, l.split(" ")) for t, l in self.lines if l.startswith(kind + " ")]

    def assignment(self, m=0):
        """Current partitions of member m per its last ASSIGN/REVOKE lines."""
        owned = set()
        with self.lock:
            lines = list(self.lines)
        for _, l in lines:
            f = l.split(" ")
            if f[0] not in ("ASSIGN", "REVOKE") or int(f[1]) != m:
                continue
            ps = set() if f[2] == "-" else {int(x) for x in f[2].split(",")}
            if f[0] == "ASSIGN":
                owned = ps
            else:
                owned -= ps
        return owned

    def messages(self):
        return [(int(f[2]), int(f[3]), f[4]) for _, f in self.events("MSG")]

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def term(self, timeout=60):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        self.t.join(5)


def wait_until(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise TestFailure("timed out after %.0f s waiting for %s" % (timeout, what))


def produce_values(b, topic, partitions, start, n):
    """Produce values g-<i> for i in [start, start+n), spread round-robin over partitions,
    with raw acks=all requests. Returns {value: (partition, offset)}."""
    out = {}
    with kproto.Conn(b.port) as c:
        per = {p: [] for p in range(partitions)}
        for i in range(start, start + n):
            per[i % partitions].append(b"g-%d" % i)
        for p, vals in per.items():
            for k in range(0, len(vals), 100):
                chunk = vals[k:k + 100]
                err, base = c.produce(topic, p, kproto.record_batch([(None, v, [])
                                                                     for v in chunk]))
                check_eq(err, 0, "raw produce to %s[%d]" % (topic, p))
                for j, v in enumerate(chunk):
                    out[v.decode()] = (p, base + j)
    return out


def owners(members):
    got = {}
    for m in members:
        for p in m.assignment():
            got.setdefault(p, []).append(m.name)
    return got


def groups_three_members_kill_one(ctx):
    b = ctx.broker(settings=GROUP_SETTINGS)
    topic, group = "grp-3", "grp-3-g"
    create_topic(b, topic, 6)
    ms = [Member(ctx, b, topic, group, "m%d" % i, ["-s", "6000"]) for i in range(3)]

    def balanced():
        a = [m.assignment() for m in ms]
        return all(len(x) == 2 for x in a) and len(set().union(*a)) == 6
    wait_until(balanced, 60, "3 members to own 2 partitions each (now %s)" % "see log")
    log("balanced: %s" % {m.name: sorted(m.assignment()) for m in ms})
    n = scaled(3000, 60)
    sent = produce_values(b, topic, 6, 0, n)
    ms[1].kill()
    t_kill = time.time()
    survivors = [ms[0], ms[2]]
    wait_until(lambda: len(owners(survivors)) == 6 and
               all(len(v) == 1 for v in owners(survivors).values()),
               6 + 30, "the 2 survivors to own all 6 partitions")
    log("survivors own all 6 partitions %.1f s after the SIGKILL" % (time.time() - t_kill))
    sent.update(produce_values(b, topic, 6, n, n))

    def consumed():
        vals = {}
        for m in ms:
            for p, off, v in m.messages():
                vals[v] = vals.get(v, 0) + 1
        return vals
    wait_until(lambda: set(sent) <= set(consumed()), 90, "every produced message consumed")
    vals = consumed()
    dups = sum(c - 1 for c in vals.values() if c > 1)
    log("consumed %d distinct messages, %d duplicates (at-least-once after the kill)"
        % (len(vals), dups))
    check(set(vals) <= set(sent), "consumed values that were never produced")
    for m in survivors:
        m.term()


def groups_commit_close_reopen(ctx):
    b = ctx.broker(settings=GROUP_SETTINGS)
    topic, group = "grp-ccr", "grp-ccr-g"
    create_topic(b, topic, 6)
    n = scaled(2000, 60)
    sent = produce_values(b, topic, 6, 0, n)
    first = Member(ctx, b, topic, group, "first", ["-c", "manual", "-x", str(n // 2)])
    first.proc.wait(120)
    check_eq(first.proc.returncode, 0, "exit code of the first member")
    first.t.join(5)
    check(first.events("COMMITTED"), "first member did not commit: %s" % first.lines[-5:])
    got1 = first.messages()
    check_eq(len(got1), n // 2, "messages consumed by the first member")
    # SIGKILL the broker right after the acknowledged commit, restart: offsets are there.
    b.kill9()
    b.restart()
    committed = {}
    for _, f in first.events("COMMITTED"):
        if f[2] != "-":
            for kv in f[2].split(","):
                p, o = kv.split("=")
                committed[int(p)] = int(o)
    with kproto.Conn(b.port) as c:
        fetched = c.offset_fetch(group, topic, range(6))
    for p, o in committed.items():
        if o >= 0:
            check_eq(fetched[p], (o, 0), "committed offset of partition %d after SIGKILL+restart"
                     % p)
    # Reopen: exactly the rest.
    second = Member(ctx, b, topic, group, "second", ["-c", "manual", "-x", str(n - n // 2)])
    second.proc.wait(120)
    check_eq(second.proc.returncode, 0, "exit code of the second member")
    second.t.join(5)
    got2 = second.messages()
    v1 = {v for _, _, v in got1}
    v2 = {v for _, _, v in got2}
    check_eq(len(v1 & v2), 0, "messages consumed both before and after commit/close/reopen")
    check_eq(len(got2), n - n // 2, "messages consumed after reopening")
    check_eq(v1 | v2, set(sent), "all messages consumed exactly once across the two members")


def groups_deleted_topic_offsets(ctx):
    """Committed offsets of a deleted topic are removed (by the periodic cleanup, here every
    500 ms) and stay removed after a restart; other topics' offsets stay."""
    b = ctx.broker(settings=dict(GROUP_SETTINGS, **{"offsets.retention.check.interval.ms": 500}))
    with kproto.Conn(b.port) as c:
        for t in ("gdt-keep", "gdt-gone"):
            create_topic(b, t, 2)
            check_eq(c.offset_commit("gdt-g", -1, "", t, {0: 5, 1: 7}), {0: 0, 1: 0},
                     "simple commit for %s" % t)
        check_eq(c.delete_topic("gdt-gone"), 0, "DeleteTopics gdt-gone")
        wait_until(lambda: all(o == -1 for o, _ in
                               c.offset_fetch("gdt-g", "gdt-gone", [0, 1]).values()),
                   10, "offsets of the deleted topic to be removed")
        check_eq(c.offset_fetch("gdt-g", "gdt-keep", [0, 1]), {0: (5, 0), 1: (7, 0)},
                 "offsets of the kept topic")
    b.stop()
    b.restart()
    with kproto.Conn(b.port) as c:
        got = c.offset_fetch("gdt-g", "gdt-gone", [0, 1])
        check(all(o == -1 for o, _ in got.values()),
              "offsets of the deleted topic came back after a restart: %s" % got)
        check_eq(c.offset_fetch("gdt-g", "gdt-keep", [0, 1]), {0: (5, 0), 1: (7, 0)},
                 "offsets of the kept topic after a restart")


def groups_recreated_topic_offsets(ctx):
    """A topic deleted and at once re-created under the same name must not inherit the old
    topic's committed offsets (Kafka drops them when the topic is deleted); otherwise the
    group would skip the new topic's first records."""
    b = ctx.broker(settings=GROUP_SETTINGS)
    with kproto.Conn(b.port) as c:
        create_topic(b, "grt", 2)
        check_eq(c.offset_commit("grt-g", -1, "", "grt", {0: 5, 1: 7}), {0: 0, 1: 0},
                 "simple commit")
        check_eq(c.delete_topic("grt"), 0, "DeleteTopics grt")
        create_topic(b, "grt", 2)
        got = c.offset_fetch("grt-g", "grt", [0, 1])
        check(all(o == -1 for o, _ in got.values()),
              "the re-created topic inherited the deleted topic's offsets: %s" % got)


def groups_rebalance_timeout_minus_one(ctx):
    """A JoinGroup with rebalance timeout -1 (and v0, which has none) gives a Stable group
    that stays Stable: heartbeats keep succeeding with the same generation."""
    b = ctx.broker(settings=GROUP_SETTINGS)
    create_topic(b, "grt1", 1)
    sub = kproto.consumer_subscription(["grt1"])
    for version, rebalance in ((1, -1), (0, 0)):
        group = "grt1-g-v%d" % version
        with kproto.Conn(b.port, timeout=30) as c:
            j = c.join_group(group, protocols=[("range", sub)], session_ms=6000,
                             rebalance_ms=rebalance, version=version)
            check_eq(j["error"], 0, "JoinGroup v%d rebalance timeout %d" % (version, rebalance))
            err, _ = c.sync_group(group, j["generation"], j["member_id"],
                                  [(j["member_id"], kproto.consumer_assignment("grt1", [0]))])
            check_eq(err, 0, "SyncGroup")
            for i in range(8):
                time.sleep(0.5)
                check_eq(c.heartbeat(group, j["generation"], j["member_id"]), 0,
                         "heartbeat %d of a JoinGroup v%d member (rebalance timeout %d)"
                         % (i, version, rebalance))


def groups_broker_restart(ctx):
    """Two members keep consuming across a broker SIGKILL and restart: everything produced
    before and after is consumed (at least once), and they own all partitions again."""
    b = ctx.broker(settings=GROUP_SETTINGS)
    topic, group = "grp-restart", "grp-restart-g"
    create_topic(b, topic, 4)
    ms = [Member(ctx, b, topic, group, "r%d" % i, ["-s", "6000"]) for i in range(2)]
    wait_until(lambda: all(len(m.assignment()) == 2 for m in ms), 60,
               "2 members x 2 partitions")
    n = scaled(1000, 40)
    sent = produce_values(b, topic, 4, 0, n)

    def consumed():
        return {v for m in ms for _, _, v in m.messages()}
    wait_until(lambda: set(sent) <= consumed(), 60, "records produced before the restart")
    b.kill9()
    time.sleep(1)
    b.restart()
    sent.update(produce_values(b, topic, 4, n, n))
    wait_until(lambda: set(sent) <= consumed(), 120, "records produced after the restart")
    wait_until(lambda: len(owners(ms)) == 4 and all(len(v) == 1 for v in owners(ms).values()),
               60, "the 2 members to own all 4 partitions after the restart")
    total = sum(len(m.messages()) for m in ms)
    log("%d distinct, %d consumed in all (%d duplicates)" % (len(consumed()), total,
                                                             total - len(consumed())))
    for m in ms:
        m.term()


def groups_raw_commit_durable(ctx):
    b = ctx.broker(settings=GROUP_SETTINGS)
    topic = "grp-raw"
    create_topic(b, topic, 3)
    produce_values(b, topic, 3, 0, 30)
    for rnd in range(3):
        with kproto.Conn(b.port) as c:
            offs = {0: 3 + rnd, 1: 7 + rnd, 2: 10}
            res = c.offset_commit("raw-simple-g", -1, "", topic, offs)
            check_eq(res, {0: 0, 1: 0, 2: 0}, "simple OffsetCommit (generation -1) errors")
        b.kill9()
        b.restart()
        with kproto.Conn(b.port) as c:
            got = c.offset_fetch("raw-simple-g", topic, [0, 1, 2])
        check_eq(got, {p: (o, 0) for p, o in offs.items()},
                 "round %d: offsets after SIGKILL right after the acknowledged commit" % rnd)


def groups_static_membership(ctx):
    b = ctx.broker(settings=GROUP_SETTINGS)
    topic, group = "grp-static", "grp-static-g"
    create_topic(b, topic, 4)
    a = Member(ctx, b, topic, group, "A", ["-I", "inst-a", "-s", "20000"])
    bb = Member(ctx, b, topic, group, "B", ["-I", "inst-b", "-s", "20000"])
    wait_until(lambda: len(a.assignment()) == 2 and len(bb.assignment()) == 2, 60,
               "A and B to own 2 partitions each")
    before_b = bb.assignment()
    a_assigns = len(a.events("ASSIGN")) + len(a.events("REVOKE"))
    bb.kill()
    b2 = Member(ctx, b, topic, group, "B2", ["-I", "inst-b", "-s", "20000"])
    wait_until(lambda: b2.assignment(), 30, "restarted static member B to get an assignment")
    check_eq(b2.assignment(), before_b, "assignment of the restarted static member")
    time.sleep(3)
    check_eq(len(a.events("ASSIGN")) + len(a.events("REVOKE")), a_assigns,
             "rebalance events on A when static member B rejoined (expected none)")
    # A duplicate instance id: one of the two instances is fenced.
    dup = Member(ctx, b, topic, group, "B-dup", ["-I", "inst-b", "-s", "20000"])
    wait_until(lambda: b2.events("FATAL") or dup.events("FATAL"), 60,
               "FENCED_INSTANCE_ID for one of two members with the same instance id")
    fatal = (b2.events("FATAL") or dup.events("FATAL"))[0][1]
    check("FENCED_INSTANCE_ID" in " ".join(fatal), "fatal error: %s" % " ".join(fatal))
    a.term()


def groups_cooperative_sticky(ctx):
    b = ctx.broker(settings=GROUP_SETTINGS)
    topic, group = "grp-coop", "grp-coop-g"
    create_topic(b, topic, 6)
    args = ["-S", "cooperative-sticky", "-s", "6000"]
    ms = [Member(ctx, b, topic, group, "c%d" % i, args) for i in range(3)]
    wait_until(lambda: all(len(m.assignment()) == 2 for m in ms), 60, "3 members x 2 partitions")
    before = {m.name: m.assignment() for m in ms}
    stop = threading.Event()
    sent = {}

    def producer():
        i = 0
        while not stop.is_set():
            sent.update(produce_values(b, topic, 6, i, 60))
            i += 60
            time.sleep(0.05)
    t = threading.Thread(target=producer, daemon=True)
    t.start()
    time.sleep(1)
    m4 = Member(ctx, b, topic, group, "c3", args)
    ms.append(m4)
    wait_until(lambda: m4.assignment() and len(owners(ms)) == 6 and
               all(len(v) == 1 for v in owners(ms).values()), 60,
               "the 4th member to get partitions, all 6 owned once")
    time.sleep(1)
    stop.set()
    t.join()
    after = {m.name: m.assignment() for m in ms}
    log("before %s after %s" % (before, after))
    for m in ms[:3]:
        kept = before[m.name] & after[m.name]
        revoked = set()
        for _, f in m.events("REVOKE"):
            if f[2] != "-":
                revoked |= {int(x) for x in f[2].split(",")}
        check(not (kept & revoked), "%s: partitions %s were revoked although it kept them "
              "(not cooperative)" % (m.name, sorted(kept & revoked)))
    wait_until(lambda: set(sent) <= {v for m in ms for _, _, v in m.messages()}, 60,
               "every message produced during the rebalance consumed")
    for m in ms:
        m.term()


def groups_100_members(ctx):
    members = int(os.environ.get("RINGLET_GROUP_MEMBERS", "100"))
    b = ctx.broker(settings=GROUP_SETTINGS)
    topic, group = "grp-100", "grp-100-g"
    create_topic(b, topic, members * 2)
    m = Member(ctx, b, topic, group, "many", ["-m", str(members), "-q", "-s", "30000"])
    line = wait_until(lambda: m.events("ALLASSIGNED"), 180,
                      "%d members to be Stable with every partition assigned once" % members)
    log("%d members stable after %s s" % (members, line[0][1][1]))
    for i in range(members):
        check(len(m.assignment(i)) == 2, "member %d owns %s, expected 2 partitions"
              % (i, sorted(m.assignment(i))))
    m.term(120)


def _join(port, group, **kw):
    with kproto.Conn(port, timeout=30) as c:
        return c.join_group(group, **kw)


def groups_bad_requests(ctx):
    b = ctx.broker(settings=GROUP_SETTINGS)
    topic, group = "grp-bad", "grp-bad-g"
    create_topic(b, topic, 2)
    sub = kproto.consumer_subscription([topic])
    with kproto.Conn(b.port, timeout=30) as c:
        err, node, host, port = c.find_coordinator(group)
        check_eq((err, node, port), (0, 1, b.port), "FindCoordinator (error, node, port)")
        # JoinGroup v4 without a member id: MEMBER_ID_REQUIRED with an id to use.
        j = c.join_group(group, version=4, protocols=[("range", sub)], rebalance_ms=5000)
        check_eq(j["error"], kproto.MEMBER_ID_REQUIRED, "JoinGroup v4 without member id")
        check(j["member_id"], "MEMBER_ID_REQUIRED response has no member id")
        j = c.join_group(group, member_id=j["member_id"], version=4,
                         protocols=[("range", sub)], rebalance_ms=5000)
        check_eq(j["error"], 0, "JoinGroup v4 with the given member id")
        leader, gen = j["member_id"], j["generation"]
        check_eq(j["leader"], leader, "leader of a one-member group")
        err, assignment = c.sync_group(group, gen, leader,
                                       [(leader, kproto.consumer_assignment(topic, [0, 1]))])
        check_eq(err, 0, "SyncGroup of the leader")
        check_eq(c.heartbeat(group, gen, leader), 0, "Heartbeat in a Stable group")
        # Stale / future generation, unknown member.
        check_eq(c.offset_commit(group, gen - 1, leader, topic, {0: 1}),
                 {0: kproto.ILLEGAL_GENERATION}, "OffsetCommit with a stale generation")
        check_eq(c.offset_commit(group, gen + 5, leader, topic, {0: 1}),
                 {0: kproto.ILLEGAL_GENERATION}, "OffsetCommit with a future generation")
        check_eq(c.offset_commit(group, gen, "no-such-member", topic, {0: 1}),
                 {0: kproto.UNKNOWN_MEMBER_ID}, "OffsetCommit from an unknown member")
        check_eq(c.heartbeat(group, gen, "no-such-member"), kproto.UNKNOWN_MEMBER_ID,
                 "Heartbeat from an unknown member")
        check_eq(c.heartbeat(group, gen + 1, leader), kproto.ILLEGAL_GENERATION,
                 "Heartbeat with a wrong generation")
        # JoinGroup with another protocol type, or no protocol in common: 23.
        j2 = c.join_group(group, protocol_type="connect", protocols=[("range", sub)])
        check_eq(j2["error"], kproto.INCONSISTENT_GROUP_PROTOCOL,
                 "JoinGroup with a different protocol type")
        j2 = c.join_group(group, protocols=[("no-such-assignor", sub)])
        check_eq(j2["error"], kproto.INCONSISTENT_GROUP_PROTOCOL,
                 "JoinGroup with no protocol in common")
        j2 = c.join_group("grp-bad-empty-type", protocol_type="", protocols=[("range", sub)])
        check_eq(j2["error"], kproto.INCONSISTENT_GROUP_PROTOCOL, "JoinGroup with empty type")
        j2 = c.join_group("grp-bad-no-protocols", protocols=[])
        check_eq(j2["error"], kproto.INCONSISTENT_GROUP_PROTOCOL, "JoinGroup without protocols")
        # The group still works: a valid commit by the member.
        check_eq(c.offset_commit(group, gen, leader, topic, {0: 1, 1: 2}), {0: 0, 1: 0},
                 "OffsetCommit by the member after the bad requests")
        check_eq(c.heartbeat(group, gen, leader), 0, "Heartbeat after the bad requests")
    # A second member joins (the group waits for the known member to rejoin); the follower's
    # SyncGroup assignments are ignored.
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        fb = ex.submit(_join, b.port, group, member_id="", protocols=[("range", sub)],
                       rebalance_ms=10000)
        time.sleep(0.3)
        fa = ex.submit(_join, b.port, group, member_id=leader, protocols=[("range", sub)],
                       rebalance_ms=10000)
        ja, jb = fa.result(60), fb.result(60)
    check_eq((ja["error"], jb["error"]), (0, 0), "JoinGroup errors of the two members")
    check_eq(ja["generation"], jb["generation"], "generation seen by the two members")
    gen2 = ja["generation"]
    check(gen2 > gen, "generation did not advance: %d -> %d" % (gen, gen2))
    lead_id = ja["leader"]
    follower = jb["member_id"] if lead_id == ja["member_id"] else ja["member_id"]
    check(lead_id in (ja["member_id"], jb["member_id"]), "leader is neither member")
    check_eq(len(ja["members"] if lead_id == ja["member_id"] else jb["members"]), 2,
             "members listed to the leader")
    real = {lead_id: kproto.consumer_assignment(topic, [0]),
            follower: kproto.consumer_assignment(topic, [1])}
    bogus = [(lead_id, kproto.consumer_assignment(topic, [0, 1])),
             (follower, kproto.consumer_assignment(topic, [0, 1]))]
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        def sync(mid, assignments):
            with kproto.Conn(b.port, timeout=30) as c:
                return c.sync_group(group, gen2, mid, assignments)
        ff = ex.submit(sync, follower, bogus)
        time.sleep(0.2)
        fl = ex.submit(sync, lead_id, list(real.items()))
        (ef, af), (el, al) = ff.result(60), fl.result(60)
    check_eq((ef, el), (0, 0), "SyncGroup errors (follower with assignments, leader)")
    check_eq(af, real[follower], "follower's assignment (its own SyncGroup assignments must be "
             "ignored)")
    check_eq(al, real[lead_id], "leader's assignment")
    # Oversized member metadata (1 MiB): an error or success, but the group keeps working.
    with kproto.Conn(b.port, timeout=30) as c:
        big = kproto.consumer_subscription([topic]) + b"\x00" * (1 << 20)
        jbig = c.join_group("grp-bad-big", protocols=[("range", big)])
        log("JoinGroup with 1 MiB metadata: error %d" % jbig["error"])
        check_eq(c.heartbeat(group, gen2, lead_id), 0, "Heartbeat of the leader afterwards")
        check_eq(c.offset_commit(group, gen2, follower, topic, {1: 5}), {1: 0},
                 "OffsetCommit by the follower afterwards")
        check_eq(c.offset_fetch(group, topic, [0, 1]), {0: (1, 0), 1: (5, 0)},
                 "committed offsets of the group")
        check_eq(c.leave_group(group, follower), 0, "LeaveGroup of the follower")
    b.check_alive()


TESTS = {
    "groups_three_members_kill_one": (groups_three_members_kill_one, dict(
        META, scenario="group: 3 members x 2 partitions, SIGKILL one, survivors take over")),
    "groups_commit_close_reopen": (groups_commit_close_reopen, dict(
        META, scenario="group: commit, close, reopen gets exactly the rest; commit survives "
                       "broker SIGKILL")),
    "groups_deleted_topic_offsets": (groups_deleted_topic_offsets, dict(
        META, client="raw socket", version="kproto.py",
        scenario="offsets of a deleted topic are removed, also after a restart")),
    "groups_recreated_topic_offsets": (groups_recreated_topic_offsets, dict(
        META, client="raw socket", version="kproto.py",
        scenario="a re-created topic does not inherit the deleted topic's offsets")),
    "groups_rebalance_timeout_minus_one": (groups_rebalance_timeout_minus_one, dict(
        META, client="raw socket", version="kproto.py",
        scenario="JoinGroup with rebalance timeout -1 / v0 stays Stable")),
    "groups_broker_restart": (groups_broker_restart, dict(
        META, scenario="group: members keep consuming across a broker SIGKILL and restart")),
    "groups_raw_commit_durable": (groups_raw_commit_durable, dict(
        META, client="raw socket", version="kproto.py",
        scenario="simple OffsetCommit durable across broker SIGKILL")),
    "groups_static_membership": (groups_static_membership, dict(
        META, scenario="group: static member rejoins without rebalance; duplicate fenced")),
    "groups_cooperative_sticky": (groups_cooperative_sticky, dict(
        META, scenario="group: cooperative-sticky, a 4th member joins")),
    "groups_100_members": (groups_100_members, dict(
        META, scenario="group: 100 members reach Stable with valid assignments")),
    "groups_bad_requests": (groups_bad_requests, dict(
        META, client="raw socket", version="kproto.py",
        scenario="group: error codes for bad JoinGroup/SyncGroup/Heartbeat/OffsetCommit")),
}

if __name__ == "__main__":
    sys.exit(run_tests(TESTS))
