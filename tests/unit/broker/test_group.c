/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_group.c - the classic group state machine (broker/group.c) driven directly with a fake
 * clock and fake timers, and the __consumer_offsets store (broker/group_store.c) over a real
 * storage engine in a temporary directory: commit, reload, tombstones, snapshot truncation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "group.h"

/* ---- fake environment ---------------------------------------------------------------------- */
#define MAX_TIMERS 1024
static int64_t fake_now;
static struct broker_timer *timers[MAX_TIMERS];
static int n_timers;
static int n_changed;

static int64_t f_mono(void *ctx) {
    return fake_now;
}
static int64_t f_wall(void *ctx) {
    return 1700000000000LL + fake_now;
}
static void f_cancel(void *ctx, struct broker_timer *t) {
    for (int i = 0; i < n_timers; i++)
        if (timers[i] == t) {
            timers[i] = timers[--n_timers];
            break;
        }
    t->heap_index = -1;
}
static void f_arm(void *ctx, struct broker_timer *t, int64_t deadline) {
    if (t->heap_index >= 0) f_cancel(ctx, t);
    assert_true(n_timers < MAX_TIMERS);
    timers[n_timers++] = t;
    t->heap_index = 0;
    t->deadline_ms = deadline;
}
static void f_changed(void *ctx, struct group *g) {
    n_changed++;
}
static const struct group_coord_ops fake_ops = {f_mono, f_wall, f_arm, f_cancel, f_changed};

/* The store_assignment hook: writes are recorded and completed by the test (complete_stores). */
struct pending_store {
    char group_id[64];
    int32_t generation;
};
static struct pending_store stores[16];
static int n_stores;
static void f_store(void *ctx, struct group *g) {
    assert_true(n_stores < 16);
    snprintf(stores[n_stores].group_id, sizeof(stores[n_stores].group_id), "%s", g->group_id);
    stores[n_stores].generation = g->generation_id;
    n_stores++;
}
static const struct group_coord_ops fake_store_ops = {f_mono,   f_wall,    f_arm,
                                                      f_cancel, f_changed, f_store};
/* Completes every recorded write with err, oldest first. */
static void complete_stores(struct group_coord *c, int16_t err) {
    int n = n_stores;
    n_stores = 0;
    for (int i = 0; i < n; i++)
        group_assignment_stored(c, stores[i].group_id, stores[i].generation, err);
}

/* Moves the clock forward by ms, firing due timers in deadline order. */
static void advance(int64_t ms) {
    int64_t target = fake_now + ms;
    for (;;) {
        int best = -1;
        for (int i = 0; i < n_timers; i++)
            if (timers[i]->deadline_ms <= target &&
                (best < 0 || timers[i]->deadline_ms < timers[best]->deadline_ms))
                best = i;
        if (best < 0) break;
        struct broker_timer *t = timers[best];
        if (t->deadline_ms > fake_now) fake_now = t->deadline_ms;
        f_cancel(NULL, t);
        t->fn(t);
    }
    fake_now = target;
}

static struct group_coord *coord_new_ops(int32_t initial_delay, const struct group_coord_ops *ops) {
    fake_now = 1000;
    n_timers = 0;
    n_changed = 0;
    n_stores = 0;
    struct group_coord_config cfg = {.initial_rebalance_delay_ms = initial_delay,
                                     .min_session_timeout_ms = 6000,
                                     .max_session_timeout_ms = 300000,
                                     .max_size = 1000,
                                     .num_partitions = 50};
    return group_coord_create(&cfg, ops, NULL);
}
static struct group_coord *coord_new(int32_t initial_delay) {
    return coord_new_ops(initial_delay, &fake_ops);
}

/* ---- recorded results ---------------------------------------------------------------------- */
struct jres {
    int called;
    int16_t error;
    char member_id[200];
    int32_t generation;
    char leader[200];
    char protocol[64];
    int32_t n_members;
};
static void on_join(void *ctx, const struct group_join_result *r) {
    struct jres *j = ctx;
    j->called++;
    j->error = r->error;
    snprintf(j->member_id, sizeof(j->member_id), "%s", r->member_id ? r->member_id : "");
    j->generation = r->generation_id;
    snprintf(j->leader, sizeof(j->leader), "%s", r->leader_id ? r->leader_id : "");
    snprintf(j->protocol, sizeof(j->protocol), "%s", r->protocol_name ? r->protocol_name : "");
    j->n_members = r->n_members;
}
struct sres {
    int called;
    int16_t error;
    char assignment[64];
};
static void on_sync(void *ctx, const struct group_sync_result *r) {
    struct sres *s = ctx;
    s->called++;
    s->error = r->error;
    snprintf(s->assignment, sizeof(s->assignment), "%.*s", r->assignment_len,
             r->assignment ? (const char *)r->assignment : "");
}

static struct group_protocol P_RANGE[] = {{"range", (uint8_t *)"m", 1}};

static void join(struct group_coord *c, const char *group, const char *member, const char *inst,
                 const struct group_protocol *p, int32_t np, bool v4, struct jres *out) {
    memset(out, 0, sizeof(*out));
    struct group_join_request r = {.group_id = group,
                                   .member_id = member,
                                   .instance_id = inst,
                                   .client_id = "cli",
                                   .client_host = "/127.0.0.1",
                                   .protocol_type = "consumer",
                                   .session_timeout_ms = 10000,
                                   .rebalance_timeout_ms = 30000,
                                   .require_known_member_id = v4,
                                   .protocols = p,
                                   .n_protocols = np};
    group_join(c, &r, on_join, out);
}

static void do_sync(struct group_coord *c, const char *group, const char *member, int32_t gen,
                    const struct group_sync_assignment *a, int32_t na, struct sres *out) {
    memset(out, 0, sizeof(*out));
    struct group_sync_request r = {.group_id = group,
                                   .member_id = member,
                                   .generation_id = gen,
                                   .assignments = a,
                                   .n_assignments = na};
    group_sync(c, &r, on_sync, out);
}

/* ---- tests --------------------------------------------------------------------------------- */
static void test_partition_for(void **state) {
    assert_int_equal(group_partition_for("test", 4, 50), 48);
    assert_int_equal(group_partition_for("my-group", 8, 50), 36);
    assert_int_equal(group_partition_for("console-consumer-12345", 22, 50), 6);
    const char *u = "gr\xc3\xbcppe\xf0\x9f\x98\x80";
    assert_int_equal(group_partition_for(u, strlen(u), 50), 13);
}

static void test_single_member_v4(void **state) {
    struct group_coord *c = coord_new(0);
    struct jres j;
    join(c, "g", "", NULL, P_RANGE, 1, true, &j);
    assert_int_equal(j.called, 1);
    assert_int_equal(j.error, PROTO_ERR_MEMBER_ID_REQUIRED);
    assert_true(strncmp(j.member_id, "cli-", 4) == 0);
    char id[200];
    strcpy(id, j.member_id);
    join(c, "g", id, NULL, P_RANGE, 1, true, &j);
    assert_int_equal(j.called, 0); /* held until the rebalance completes */
    struct group *g = group_find(c, "g");
    assert_int_equal(g->state, GROUP_PREPARING_REBALANCE);
    advance(0);
    assert_int_equal(j.called, 1);
    assert_int_equal(j.error, 0);
    assert_int_equal(j.generation, 1);
    assert_string_equal(j.leader, id);
    assert_string_equal(j.protocol, "range");
    assert_int_equal(j.n_members, 1);
    assert_int_equal(g->state, GROUP_COMPLETING_REBALANCE);
    struct group_sync_assignment a = {id, (const uint8_t *)"A0", 2};
    struct sres s;
    do_sync(c, "g", id, 1, &a, 1, &s);
    assert_int_equal(s.called, 1);
    assert_int_equal(s.error, 0);
    assert_string_equal(s.assignment, "A0");
    assert_int_equal(g->state, GROUP_STABLE);
    assert_true(n_changed > 0);
    assert_int_equal(group_heartbeat(c, "g", id, NULL, 1), 0);
    assert_int_equal(group_heartbeat(c, "g", id, NULL, 0), PROTO_ERR_ILLEGAL_GENERATION);
    assert_int_equal(group_heartbeat(c, "g", "nobody", NULL, 1), PROTO_ERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(group_heartbeat(c, "nogroup", id, NULL, 1), PROTO_ERR_UNKNOWN_MEMBER_ID);
    group_coord_destroy(c);
}

/* Three members join during the initial delay, the leader assigns, followers get theirs. */
static void test_three_members(void **state) {
    struct group_coord *c = coord_new(3000);
    struct jres j[3];
    char ids[3][200];
    for (int i = 0; i < 3; i++) {
        join(c, "g3", "", NULL, P_RANGE, 1, false, &j[i]);
        assert_int_equal(j[i].called, 0);
        advance(1000); /* each join within the delay extends it */
    }
    assert_int_equal(j[0].called, 0);
    advance(10000);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(j[i].called, 1);
        assert_int_equal(j[i].error, 0);
        assert_int_equal(j[i].generation, 1);
        strcpy(ids[i], j[i].member_id);
    }
    /* the first member is the leader and the only one that gets the member list */
    assert_string_equal(j[0].leader, ids[0]);
    assert_string_equal(j[1].leader, ids[0]);
    assert_int_equal(j[0].n_members, 3);
    assert_int_equal(j[1].n_members, 0);
    /* a follower's SyncGroup waits for the leader; its own assignments are ignored */
    struct group_sync_assignment bogus[] = {{ids[1], (const uint8_t *)"XX", 2}};
    struct sres s[3];
    do_sync(c, "g3", ids[1], 1, bogus, 1, &s[1]);
    do_sync(c, "g3", ids[2], 1, NULL, 0, &s[2]);
    assert_int_equal(s[1].called, 0);
    assert_int_equal(group_heartbeat(c, "g3", ids[1], NULL, 1), 0);
    assert_int_equal(group_find(c, "g3")->state, GROUP_COMPLETING_REBALANCE);
    struct group_sync_assignment a[] = {{ids[0], (const uint8_t *)"P0", 2},
                                        {ids[1], (const uint8_t *)"P1", 2},
                                        {ids[2], (const uint8_t *)"P2", 2}};
    do_sync(c, "g3", ids[0], 1, a, 3, &s[0]);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s[i].called, 1);
        assert_int_equal(s[i].error, 0);
    }
    assert_string_equal(s[0].assignment, "P0");
    assert_string_equal(s[1].assignment, "P1");
    assert_string_equal(s[2].assignment, "P2");
    assert_int_equal(group_find(c, "g3")->state, GROUP_STABLE);
    /* wrong generation / unknown member in SyncGroup */
    do_sync(c, "g3", ids[1], 7, NULL, 0, &s[1]);
    assert_int_equal(s[1].error, PROTO_ERR_ILLEGAL_GENERATION);
    do_sync(c, "g3", "ghost", 1, NULL, 0, &s[1]);
    assert_int_equal(s[1].error, PROTO_ERR_UNKNOWN_MEMBER_ID);

    /* a member leaves: the others rejoin into generation 2 */
    int16_t gerr;
    assert_int_equal(group_leave(c, "g3", ids[2], NULL, &gerr), 0);
    assert_int_equal(group_find(c, "g3")->state, GROUP_PREPARING_REBALANCE);
    assert_int_equal(group_heartbeat(c, "g3", ids[0], NULL, 1), PROTO_ERR_REBALANCE_IN_PROGRESS);
    join(c, "g3", ids[0], NULL, P_RANGE, 1, false, &j[0]);
    assert_int_equal(j[0].called, 0);
    join(c, "g3", ids[1], NULL, P_RANGE, 1, false, &j[1]);
    /* everyone rejoined: completes without waiting for the timeout */
    assert_int_equal(j[0].called, 1);
    assert_int_equal(j[1].called, 1);
    assert_int_equal(j[0].generation, 2);
    assert_int_equal(j[0].n_members, 2);
    group_coord_destroy(c);
}

static void stable_group(struct group_coord *c, const char *gid, int n, char ids[][200],
                         const char *const *inst) {
    struct jres j[8];
    for (int i = 0; i < n; i++)
        join(c, gid, "", inst ? inst[i] : NULL, P_RANGE, 1, false, &j[i]);
    advance(0); /* the coordinators in these tests use no initial delay */
    struct group_sync_assignment a[8];
    static char asg[8][16];
    for (int i = 0; i < n; i++) {
        assert_int_equal(j[i].error, 0);
        strcpy(ids[i], j[i].member_id);
        snprintf(asg[i], sizeof(asg[i]), "P%d", i);
        a[i] = (struct group_sync_assignment){ids[i], (const uint8_t *)asg[i], 2};
    }
    struct sres s;
    for (int i = 0; i < n; i++) {
        if (strcmp(j[i].leader, ids[i]) != 0) continue;
        do_sync(c, gid, ids[i], j[i].generation, a, n, &s);
        assert_int_equal(s.error, 0);
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(j[i].leader, ids[i]) == 0) continue;
        do_sync(c, gid, ids[i], j[i].generation, NULL, 0, &s);
        assert_int_equal(s.error, 0);
    }
    assert_int_equal(group_find(c, gid)->state, GROUP_STABLE);
}

/* A member stops heartbeating: it is removed after its session timeout, the group rebalances,
 * and a member that does not rejoin within the rebalance timeout is dropped too. */
static void test_session_expiry(void **state) {
    struct group_coord *c = coord_new(0);
    char ids[2][200];
    stable_group(c, "gs", 2, ids, NULL);
    int32_t gen = group_find(c, "gs")->generation_id;
    for (int t = 0; t < 3; t++) {
        advance(3000);
        assert_int_equal(group_heartbeat(c, "gs", ids[0], NULL, gen), 0);
    }
    assert_non_null(group_member_find(group_find(c, "gs"), ids[1]));
    advance(3000);
    /* 12 s without a heartbeat from ids[1] (session 10 s) */
    assert_null(group_member_find(group_find(c, "gs"), ids[1]));
    assert_int_equal(group_heartbeat(c, "gs", ids[0], NULL, gen), PROTO_ERR_REBALANCE_IN_PROGRESS);
    struct jres j;
    join(c, "gs", ids[0], NULL, P_RANGE, 1, false, &j);
    assert_int_equal(j.called, 1);
    assert_int_equal(j.generation, gen + 1);
    assert_int_equal(j.n_members, 1);

    /* rebalance timeout: a second member joins, the first never rejoins */
    struct sres s;
    do_sync(c, "gs", ids[0], gen + 1, NULL, 0, &s);
    assert_int_equal(s.error, 0);
    struct jres j2;
    join(c, "gs", "", NULL, P_RANGE, 1, false, &j2);
    assert_int_equal(j2.called, 0);
    for (int t = 0; t < 9; t++) { /* keep ids[0] alive by heartbeats, but it does not rejoin */
        advance(3000);
        group_heartbeat(c, "gs", ids[0], NULL, gen + 1);
    }
    advance(5000); /* past the 30 s rebalance timeout */
    assert_int_equal(j2.called, 1);
    assert_int_equal(j2.error, 0);
    assert_string_equal(j2.leader, j2.member_id);
    assert_null(group_member_find(group_find(c, "gs"), ids[0]));
    group_coord_destroy(c);
}

/* Rebalance timeout -1 is the session timeout, so a member that does not rejoin cannot keep the
 * group rebalancing forever. */
static void test_rebalance_timeout_minus_one(void **state) {
    struct group_coord *c = coord_new(0);
    struct jres j;
    memset(&j, 0, sizeof(j));
    struct group_join_request r = {.group_id = "gm",
                                   .member_id = "",
                                   .client_id = "c",
                                   .protocol_type = "consumer",
                                   .session_timeout_ms = 10000,
                                   .rebalance_timeout_ms = -1,
                                   .protocols = P_RANGE,
                                   .n_protocols = 1};
    group_join(c, &r, on_join, &j);
    advance(0);
    assert_int_equal(j.error, 0);
    struct group_member *m = group_member_find(group_find(c, "gm"), j.member_id);
    assert_non_null(m);
    assert_int_equal(m->rebalance_timeout_ms, 10000);
    group_coord_destroy(c);
}

static void test_static_member(void **state) {
    struct group_coord *c = coord_new(0);
    char ids[2][200];
    const char *inst[] = {"i0", "i1"};
    stable_group(c, "gst", 2, ids, inst);
    struct group *g = group_find(c, "gst");
    int32_t gen = g->generation_id;
    /* i1 restarts: same protocols, no rebalance, same generation, new member id */
    struct jres j;
    join(c, "gst", "", "i1", P_RANGE, 1, true, &j);
    assert_int_equal(j.called, 1);
    assert_int_equal(j.error, 0);
    assert_int_equal(j.generation, gen);
    assert_string_not_equal(j.member_id, ids[1]);
    assert_int_equal(g->state, GROUP_STABLE);
    /* the old member id is fenced */
    assert_int_equal(group_heartbeat(c, "gst", ids[1], "i1", gen), PROTO_ERR_FENCED_INSTANCE_ID);
    struct sres s;
    struct group_sync_request sr = {
        .group_id = "gst", .member_id = ids[1], .instance_id = "i1", .generation_id = gen};
    memset(&s, 0, sizeof(s));
    group_sync(c, &sr, on_sync, &s);
    assert_int_equal(s.error, PROTO_ERR_FENCED_INSTANCE_ID);
    struct group *gg;
    assert_int_equal(group_commit_check(c, "gst", ids[1], "i1", gen, &gg),
                     PROTO_ERR_FENCED_INSTANCE_ID);
    /* the new id gets the old assignment */
    sr.member_id = j.member_id;
    memset(&s, 0, sizeof(s));
    group_sync(c, &sr, on_sync, &s);
    assert_int_equal(s.error, 0);
    assert_string_equal(s.assignment, "P1");
    assert_int_equal(group_heartbeat(c, "gst", j.member_id, "i1", gen), 0);
    /* JoinGroup with a known member id but another instance's id: fenced */
    struct jres j2;
    join(c, "gst", ids[0], "i1", P_RANGE, 1, true, &j2);
    assert_int_equal(j2.error, PROTO_ERR_FENCED_INSTANCE_ID);
    /* the static leader restarts: no rebalance, and the old leader id comes back so the
     * rejoined member does not compute an assignment */
    struct jres jl;
    join(c, "gst", "", "i0", P_RANGE, 1, true, &jl);
    assert_int_equal(jl.error, 0);
    assert_int_equal(jl.generation, gen);
    assert_string_equal(jl.leader, ids[0]);
    assert_string_not_equal(jl.member_id, ids[0]);
    assert_int_equal(g->state, GROUP_STABLE);
    /* a static member that changes protocols triggers a rebalance */
    struct group_protocol rr[] = {{"roundrobin", (uint8_t *)"x", 1}};
    join(c, "gst", "", "i0", rr, 1, true, &j2);
    assert_int_equal(j2.error, PROTO_ERR_INCONSISTENT_GROUP_PROTOCOL);
    group_coord_destroy(c);
}

/* librdkafka's 0102 "max poll violation": static member consumer2 stops heartbeating (its
 * application exceeded max.poll.interval.ms) and is removed at session expiry; consumer1 rejoins
 * at once and completes a one-member generation; consumer2 rejoins with an unknown member id
 * right behind it. As in Kafka, the group is CompletingRebalance until the leader's assignment
 * is stored, so consumer2's JoinGroup restarts the rebalance: consumer1's SyncGroup gets
 * REBALANCE_IN_PROGRESS (its application never sees the one-member assignment) and the next
 * generation has both static members. */
static void test_static_rejoin_while_storing(void **state) {
    struct group_coord *c = coord_new_ops(0, &fake_store_ops);
    struct jres j1, j2;
    join(c, "g102", "", "consumer1", P_RANGE, 1, true, &j1);
    join(c, "g102", "", "consumer2", P_RANGE, 1, true, &j2);
    advance(0);
    assert_int_equal(j1.error, 0);
    assert_int_equal(j2.error, 0);
    assert_int_equal(j1.generation, 1);
    assert_string_equal(j1.leader, j1.member_id);
    char id1[200], id2[200];
    strcpy(id1, j1.member_id);
    strcpy(id2, j2.member_id);
    struct group *g = group_find(c, "g102");
    struct group_sync_assignment a[] = {{id1, (const uint8_t *)"P0", 2},
                                        {id2, (const uint8_t *)"P1", 2}};
    struct sres s1, s2;
    do_sync(c, "g102", id2, 1, NULL, 0, &s2);
    do_sync(c, "g102", id1, 1, a, 2, &s1);
    /* nothing goes out before the assignment is stored */
    assert_int_equal(n_stores, 1);
    assert_int_equal(s1.called, 0);
    assert_int_equal(s2.called, 0);
    assert_int_equal(g->state, GROUP_COMPLETING_REBALANCE);
    complete_stores(c, 0);
    assert_int_equal(g->state, GROUP_STABLE);
    assert_int_equal(s1.called, 1);
    assert_int_equal(s1.error, 0);
    assert_string_equal(s1.assignment, "P0");
    assert_int_equal(s2.called, 1);
    assert_string_equal(s2.assignment, "P1");

    /* consumer2 goes silent; consumer1 keeps heartbeating; consumer2's session expires */
    for (int t = 0; t < 3; t++) {
        advance(3000);
        assert_int_equal(group_heartbeat(c, "g102", id1, "consumer1", 1), 0);
    }
    advance(3000);
    assert_null(group_static_member(g, "consumer2"));
    assert_int_equal(g->state, GROUP_PREPARING_REBALANCE);
    assert_int_equal(group_heartbeat(c, "g102", id1, "consumer1", 1),
                     PROTO_ERR_REBALANCE_IN_PROGRESS);

    /* consumer1 rejoins first: a generation with consumer1 alone */
    join(c, "g102", id1, "consumer1", P_RANGE, 1, true, &j1);
    assert_int_equal(j1.called, 1);
    assert_int_equal(j1.generation, 2);
    assert_int_equal(j1.n_members, 1);
    struct group_sync_assignment all[] = {{id1, (const uint8_t *)"P*", 2}};
    do_sync(c, "g102", id1, 2, all, 1, &s1);
    assert_int_equal(s1.called, 0);
    assert_int_equal(g->state, GROUP_COMPLETING_REBALANCE);

    /* consumer2 rejoins with an unknown member id before the write completes */
    join(c, "g102", "", "consumer2", P_RANGE, 1, true, &j2);
    assert_int_equal(j2.called, 0);
    assert_int_equal(g->state, GROUP_PREPARING_REBALANCE);
    assert_int_equal(s1.called, 1);
    assert_int_equal(s1.error, PROTO_ERR_REBALANCE_IN_PROGRESS);
    /* the late completion of generation 2's write changes nothing */
    complete_stores(c, 0);
    assert_int_equal(g->state, GROUP_PREPARING_REBALANCE);
    assert_int_equal(s1.called, 1);

    /* consumer1 rejoins: one generation with both static members */
    join(c, "g102", id1, "consumer1", P_RANGE, 1, true, &j1);
    assert_int_equal(j1.called, 1);
    assert_int_equal(j2.called, 1);
    assert_int_equal(j1.error, 0);
    assert_int_equal(j2.error, 0);
    assert_int_equal(j1.generation, 3);
    assert_int_equal(j2.generation, 3);
    assert_int_equal(j1.n_members, 2);
    assert_string_equal(j2.leader, id1);
    strcpy(id2, j2.member_id);
    struct group_sync_assignment a3[] = {{id1, (const uint8_t *)"Q0", 2},
                                         {id2, (const uint8_t *)"Q1", 2}};
    do_sync(c, "g102", id1, 3, a3, 2, &s1);
    do_sync(c, "g102", id2, 3, NULL, 0, &s2);
    assert_int_equal(s1.called + s2.called, 0);
    complete_stores(c, 0);
    assert_int_equal(g->state, GROUP_STABLE);
    assert_string_equal(s1.assignment, "Q0");
    assert_string_equal(s2.assignment, "Q1");
    assert_int_equal(group_heartbeat(c, "g102", id2, "consumer2", 3), 0);
    group_coord_destroy(c);
}

/* The assignment cannot be stored: every member waiting in SyncGroup gets the error and the group
 * rebalances (Kafka's resetAndPropagateAssignmentError + maybePrepareRebalance). */
static void test_store_assignment_error(void **state) {
    struct group_coord *c = coord_new_ops(0, &fake_store_ops);
    struct jres j1, j2;
    join(c, "gerr", "", NULL, P_RANGE, 1, false, &j1);
    join(c, "gerr", "", NULL, P_RANGE, 1, false, &j2);
    advance(0);
    struct group_sync_assignment a[] = {{j1.member_id, (const uint8_t *)"P0", 2},
                                        {j2.member_id, (const uint8_t *)"P1", 2}};
    struct sres s1, s2;
    do_sync(c, "gerr", j2.member_id, 1, NULL, 0, &s2);
    do_sync(c, "gerr", j1.member_id, 1, a, 2, &s1);
    assert_int_equal(s1.called + s2.called, 0);
    complete_stores(c, PROTO_ERR_COORDINATOR_NOT_AVAILABLE);
    assert_int_equal(s1.called, 1);
    assert_int_equal(s2.called, 1);
    assert_int_equal(s1.error, PROTO_ERR_COORDINATOR_NOT_AVAILABLE);
    assert_int_equal(s2.error, PROTO_ERR_COORDINATOR_NOT_AVAILABLE);
    struct group *g = group_find(c, "gerr");
    assert_int_equal(g->state, GROUP_PREPARING_REBALANCE);
    assert_int_equal(group_heartbeat(c, "gerr", j1.member_id, NULL, 1),
                     PROTO_ERR_REBALANCE_IN_PROGRESS);
    group_coord_destroy(c);
}

/* LeaveGroup: a pending member (MEMBER_ID_REQUIRED), a static member by instance id only, a
 * fenced member id, an unknown member. */
static void test_leave(void **state) {
    struct group_coord *c = coord_new(0);
    char ids[2][200];
    const char *inst[] = {"s0", "s1"};
    stable_group(c, "gl", 2, ids, inst);
    struct group *g = group_find(c, "gl");
    struct jres j;
    join(c, "gl", "", NULL, P_RANGE, 1, true, &j);
    assert_int_equal(j.error, PROTO_ERR_MEMBER_ID_REQUIRED);
    assert_int_equal(g->n_pending, 1);
    int16_t gerr;
    assert_int_equal(group_leave(c, "gl", j.member_id, NULL, &gerr), 0);
    assert_int_equal(g->n_pending, 0);
    assert_int_equal(g->state, GROUP_STABLE);
    assert_int_equal(group_leave(c, "gl", "ghost", NULL, &gerr), PROTO_ERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(group_leave(c, "gl", "ghost", "s0", &gerr), PROTO_ERR_FENCED_INSTANCE_ID);
    assert_int_equal(group_leave(c, "gl", "", "nobody", &gerr), PROTO_ERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(group_leave(c, "gl", "", "s1", &gerr), 0);
    assert_int_equal(gerr, 0);
    assert_int_equal(g->n_members, 1);
    assert_int_equal(g->state, GROUP_PREPARING_REBALANCE);
    /* the last member leaves during the rebalance: the group becomes Empty */
    assert_int_equal(group_leave(c, "gl", ids[0], "s0", &gerr), 0);
    assert_int_equal(g->state, GROUP_EMPTY);
    assert_int_equal(group_leave(c, "nogroup", "x", NULL, &gerr), PROTO_ERR_UNKNOWN_MEMBER_ID);
    group_coord_destroy(c);
}

static void test_protocol_selection(void **state) {
    struct group_coord *c = coord_new(0);
    struct group_protocol a[] = {{"range", (uint8_t *)"a", 1}, {"roundrobin", (uint8_t *)"b", 1}};
    struct group_protocol b[] = {{"roundrobin", (uint8_t *)"c", 1}};
    struct group_protocol x[] = {{"sticky", (uint8_t *)"d", 1}};
    struct jres j1, j2, j3;
    join(c, "gp", "", NULL, a, 2, false, &j1);
    join(c, "gp", "", NULL, b, 1, false, &j2);
    join(c, "gp", "", NULL, x, 1, false, &j3);
    assert_int_equal(j3.called, 1);
    assert_int_equal(j3.error, PROTO_ERR_INCONSISTENT_GROUP_PROTOCOL);
    struct jres j4;
    memset(&j4, 0, sizeof(j4));
    struct group_join_request r = {.group_id = "gp",
                                   .member_id = "",
                                   .client_id = "c",
                                   .protocol_type = "connect",
                                   .session_timeout_ms = 10000,
                                   .rebalance_timeout_ms = 10000,
                                   .protocols = b,
                                   .n_protocols = 1};
    group_join(c, &r, on_join, &j4);
    assert_int_equal(j4.error, PROTO_ERR_INCONSISTENT_GROUP_PROTOCOL);
    advance(0);
    assert_int_equal(j1.error, 0);
    assert_int_equal(j2.error, 0);
    assert_string_equal(j1.protocol, "roundrobin");
    assert_string_equal(j2.protocol, "roundrobin");
    /* session timeout bounds */
    r.protocol_type = "consumer";
    r.group_id = "other";
    r.session_timeout_ms = 10;
    group_join(c, &r, on_join, &j4);
    assert_int_equal(j4.error, PROTO_ERR_INVALID_SESSION_TIMEOUT);
    /* empty protocol type into a new group */
    r.session_timeout_ms = 10000;
    r.protocol_type = "";
    group_join(c, &r, on_join, &j4);
    assert_int_equal(j4.error, PROTO_ERR_INCONSISTENT_GROUP_PROTOCOL);
    group_coord_destroy(c);
}

static void test_max_size(void **state) {
    struct group_coord *c = coord_new(0);
    c->cfg.max_size = 2;
    struct jres j[3];
    join(c, "gx", "", NULL, P_RANGE, 1, false, &j[0]);
    join(c, "gx", "", NULL, P_RANGE, 1, false, &j[1]);
    join(c, "gx", "", NULL, P_RANGE, 1, false, &j[2]);
    assert_int_equal(j[2].error, PROTO_ERR_GROUP_MAX_SIZE_REACHED);
    advance(0);
    assert_int_equal(j[0].error, 0);
    assert_int_equal(j[1].error, 0);
    group_coord_destroy(c);
}

static void test_commit_checks(void **state) {
    struct group_coord *c = coord_new(0);
    struct group *g = NULL;
    /* simple commit: generation -1, no member, group does not exist */
    assert_int_equal(group_commit_check(c, "simple", "", NULL, -1, &g), 0);
    assert_non_null(g);
    assert_int_equal(g->state, GROUP_EMPTY);
    assert_int_equal(group_commit_check(c, "nogroup", "m", NULL, 3, &g),
                     PROTO_ERR_ILLEGAL_GENERATION);
    char ids[1][200];
    stable_group(c, "gc", 1, ids, NULL);
    int32_t gen = group_find(c, "gc")->generation_id;
    assert_int_equal(group_commit_check(c, "gc", ids[0], NULL, gen, &g), 0);
    assert_int_equal(group_commit_check(c, "gc", ids[0], NULL, gen - 1, &g),
                     PROTO_ERR_ILLEGAL_GENERATION);
    assert_int_equal(group_commit_check(c, "gc", "ghost", NULL, gen, &g),
                     PROTO_ERR_UNKNOWN_MEMBER_ID);
    assert_int_equal(group_commit_check(c, "gc", "", NULL, -1, &g), PROTO_ERR_UNKNOWN_MEMBER_ID);
    /* DeleteGroups */
    assert_int_equal(group_delete_check(c, "gc", &g), PROTO_ERR_NON_EMPTY_GROUP);
    assert_int_equal(group_delete_check(c, "none", &g), PROTO_ERR_GROUP_ID_NOT_FOUND);
    assert_int_equal(group_delete_check(c, "simple", &g), 0);
    /* offsets cache */
    group_offset_set(g, "t", 0, 42, -1, "meta", 5);
    group_offset_set(g, "t", 1, 43, -1, NULL, 5);
    group_offset_set(g, "t", 0, 44, 3, "m2", 6);
    assert_int_equal(g->n_offsets, 2);
    assert_int_equal(group_offset_find(g, "t", 0)->offset, 44);
    group_offset_delete(g, "t", 0);
    assert_null(group_offset_find(g, "t", 0));
    for (int i = 0; i < 100; i++)
        group_offset_set(g, "u", i, i, -1, "", 1);
    assert_int_equal(group_offset_find(g, "u", 77)->offset, 77);
    group_remove(c, g);
    assert_null(group_find(c, "simple"));
    group_coord_destroy(c);
}

/* ConsumerProtocolSubscription v0: version, topics, user data. */
static void test_subscribed_topics(void **state) {
    struct group_coord *c = coord_new(0);
    uint8_t md[] = {0,   0, 0, 0,   0,   2,   0,    3,    'f',  'o',
                    'o', 0, 3, 'b', 'a', 'r', 0xff, 0xff, 0xff, 0xff};
    struct group_protocol p[] = {{"range", md, sizeof(md)}};
    struct jres j;
    join(c, "gsub", "", NULL, p, 1, false, &j);
    advance(0);
    assert_int_equal(j.error, 0);
    struct group *g = group_find(c, "gsub");
    assert_true(group_subscribed_to(g, "foo"));
    assert_true(group_subscribed_to(g, "bar"));
    assert_false(group_subscribed_to(g, "baz"));
    group_coord_destroy(c);
}

/* ---- the __consumer_offsets store ---------------------------------------------------------- */
#define NPARTS 3
struct store_env {
    char dir[64];
    struct storage_engine *e;
    struct storage_log *logs[NPARTS];
    struct group_coord *c;
    struct group_store *s;
};

static void store_open(struct store_env *env, int64_t segment_bytes) {
    struct storage_engine_config ec = {
        .data_dir = env->dir, .flush_policy = STORAGE_FLUSH_GROUP_COMMIT, .use_posix_io = true};
    assert_int_equal(storage_engine_open(&ec, &env->e), 0);
    struct storage_log_config lc;
    memset(&lc, 0, sizeof(lc));
    storage_log_config_default(&lc);
    lc.segment_bytes = segment_bytes;
    lc.retention_ms = -1;
    for (int i = 0; i < NPARTS; i++)
        assert_int_equal(storage_log_open(env->e, "__consumer_offsets", i, &lc, &env->logs[i]), 0);
    env->c = coord_new(0);
    env->c->cfg.num_partitions = NPARTS;
    env->s = group_store_open(env->c, env->logs, NPARTS);
    assert_int_equal(group_store_load(env->s), 0);
}

static void store_close(struct store_env *env) {
    group_store_close(env->s);
    group_coord_destroy(env->c);
    for (int i = 0; i < NPARTS; i++)
        storage_log_close(env->logs[i]);
    storage_engine_close(env->e);
}

struct cres {
    int called;
    int16_t err;
};
static void on_commit(void *ctx, int16_t err) {
    struct cres *r = ctx;
    r->called++;
    r->err = err;
}

static void commit_one(struct store_env *env, const char *group, const char *topic, int32_t p,
                       int64_t offset) {
    struct group *g = group_get_or_create(env->c, group);
    struct group_commit_offset o = {topic, p, offset, 7, "md"};
    struct cres r = {0};
    group_store_commit(env->s, g, &o, 1, on_commit, &r);
    for (int i = 0; i < 500 && !r.called; i++)
        storage_engine_wait(env->e, 10);
    assert_int_equal(r.called, 1);
    assert_int_equal(r.err, 0);
}

static void drain(struct store_env *env) {
    for (int i = 0; i < 20; i++)
        storage_engine_wait(env->e, 5);
}

static void test_store_commit_reload(void **state) {
    struct store_env env;
    strcpy(env.dir, "/tmp/ringlet-tg-XXXXXX");
    assert_non_null(mkdtemp(env.dir));
    store_open(&env, 1 << 20);
    commit_one(&env, "ga", "t1", 0, 100);
    commit_one(&env, "ga", "t1", 1, 200);
    commit_one(&env, "gb", "t2", 0, 5);
    commit_one(&env, "ga", "t1", 0, 150);
    struct group *g = group_find(env.c, "ga");
    assert_int_equal(group_offset_find(g, "t1", 0)->offset, 150);
    /* a group with a generation and members is stored too */
    char ids[1][200];
    stable_group(env.c, "gm", 1, ids, NULL);
    group_store_write_group(env.s, group_find(env.c, "gm"));
    drain(&env);
    store_close(&env);

    store_open(&env, 1 << 20);
    g = group_find(env.c, "ga");
    assert_non_null(g);
    assert_int_equal(group_offset_find(g, "t1", 0)->offset, 150);
    assert_int_equal(group_offset_find(g, "t1", 0)->leader_epoch, 7);
    assert_string_equal(group_offset_find(g, "t1", 0)->metadata, "md");
    assert_int_equal(group_offset_find(g, "t1", 1)->offset, 200);
    assert_int_equal(group_offset_find(group_find(env.c, "gb"), "t2", 0)->offset, 5);
    struct group *gm = group_find(env.c, "gm");
    assert_non_null(gm);
    assert_int_equal(gm->state, GROUP_STABLE);
    assert_int_equal(gm->generation_id, 1);
    assert_non_null(group_member_find(gm, ids[0]));
    assert_string_equal(gm->protocol_name, "range");
    assert_string_equal(gm->protocol_type, "consumer");

    /* tombstones: one offset, then a whole group */
    const char *topics[] = {"t1"};
    int32_t parts[] = {1};
    group_store_delete_offsets(env.s, g, topics, parts, 1);
    assert_null(group_offset_find(g, "t1", 1));
    group_store_delete_group(env.s, group_find(env.c, "gb"));
    assert_null(group_find(env.c, "gb"));
    drain(&env);
    store_close(&env);

    store_open(&env, 1 << 20);
    g = group_find(env.c, "ga");
    assert_non_null(g);
    assert_null(group_offset_find(g, "t1", 1));
    assert_int_equal(group_offset_find(g, "t1", 0)->offset, 150);
    assert_null(group_find(env.c, "gb"));
    store_close(&env);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", env.dir);
    assert_int_equal(system(cmd), 0);
}

/* Many commits past the snapshot threshold: the log start moves forward, old segments go, and a
 * reload still has the latest value of every key. */
static void test_store_snapshot(void **state) {
    struct store_env env;
    strcpy(env.dir, "/tmp/ringlet-tg-XXXXXX");
    assert_non_null(mkdtemp(env.dir));
    store_open(&env, 4096);
    group_store_set_snapshot_threshold(env.s, 50, 1 << 30);
    int32_t part = group_partition_for("gsnap", 5, NPARTS);
    for (int i = 0; i < 400; i++)
        commit_one(&env, "gsnap", i % 2 ? "a" : "b", i % 3, i);
    drain(&env);
    struct storage_log *log = group_store_log(env.s, part);
    int64_t start = storage_log_start_offset(log);
    int64_t end = storage_log_end_offset(log);
    assert_true(start > 0);
    assert_true(end - start < 200);
    assert_true(storage_log_size_bytes(log) < 64 * 1024);
    store_close(&env);

    store_open(&env, 4096);
    struct group *g = group_find(env.c, "gsnap");
    assert_non_null(g);
    assert_int_equal(g->n_offsets, 6);
    /* the last commits: i = 399 (a, 0), 398 (b, 2), 397 (a, 1), 396 (b, 0), 395 (a, 2), 394 (b, 1)
     */
    assert_int_equal(group_offset_find(g, "a", 0)->offset, 399);
    assert_int_equal(group_offset_find(g, "b", 2)->offset, 398);
    assert_int_equal(group_offset_find(g, "b", 1)->offset, 394);
    store_close(&env);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", env.dir);
    assert_int_equal(system(cmd), 0);
}

/* Snapshots also happen while commits are in flight (a steady commit load): the in-flight
 * appends are repeated after the cache state, so nothing acknowledged is lost. */
static void test_store_snapshot_inflight(void **state) {
    struct store_env env;
    strcpy(env.dir, "/tmp/ringlet-tg-XXXXXX");
    assert_non_null(mkdtemp(env.dir));
    store_open(&env, 4096);
    group_store_set_snapshot_threshold(env.s, 40, 1 << 30);
    struct group *g = group_get_or_create(env.c, "gfly");
    static struct cres res[300];
    for (int round = 0; round < 3; round++) {
        memset(res, 0, sizeof(res));
        for (int i = 0; i < 300; i++) {
            struct group_commit_offset o = {"t", i % 4, round * 1000 + i, -1, ""};
            group_store_commit(env.s, g, &o, 1, on_commit, &res[i]);
            if (i % 50 == 0) storage_engine_wait(env.e, 0);
        }
        for (int k = 0; k < 1000; k++) {
            int done = 0;
            for (int i = 0; i < 300; i++)
                done += res[i].called;
            if (done == 300) break;
            storage_engine_wait(env.e, 10);
        }
        for (int i = 0; i < 300; i++) {
            assert_int_equal(res[i].called, 1);
            assert_int_equal(res[i].err, 0);
        }
    }
    drain(&env);
    struct storage_log *log = group_store_log(env.s, g->partition);
    assert_true(storage_log_start_offset(log) > 0);
    store_close(&env);
    store_open(&env, 4096);
    g = group_find(env.c, "gfly");
    assert_non_null(g);
    for (int p = 0; p < 4; p++)
        assert_int_equal(group_offset_find(g, "t", p)->offset, 2000 + 296 + p);
    store_close(&env);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", env.dir);
    assert_int_equal(system(cmd), 0);
}

/* Offsets of an empty group expire after the retention; offsets of deleted topics go at once. */
static bool only_topic_a(void *arg, const char *topic, int32_t partition) {
    return strcmp(topic, "a") == 0;
}
static void test_store_expiry(void **state) {
    struct store_env env;
    strcpy(env.dir, "/tmp/ringlet-tg-XXXXXX");
    assert_non_null(mkdtemp(env.dir));
    store_open(&env, 1 << 20);
    commit_one(&env, "gexp", "a", 0, 1);
    commit_one(&env, "gexp", "gone", 0, 1);
    struct group *g = group_find(env.c, "gexp");
    int64_t now = f_wall(NULL);
    group_store_expire(env.s, now, 3600000, only_topic_a, NULL);
    assert_null(group_offset_find(g, "gone", 0));
    assert_non_null(group_offset_find(g, "a", 0));
    group_store_expire(env.s, now + 3600000 + 1000, 3600000, only_topic_a, NULL);
    assert_null(group_find(env.c, "gexp"));
    drain(&env);
    store_close(&env);
    store_open(&env, 1 << 20);
    assert_null(group_find(env.c, "gexp"));
    store_close(&env);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", env.dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partition_for),
        cmocka_unit_test(test_single_member_v4),
        cmocka_unit_test(test_three_members),
        cmocka_unit_test(test_session_expiry),
        cmocka_unit_test(test_rebalance_timeout_minus_one),
        cmocka_unit_test(test_static_member),
        cmocka_unit_test(test_static_rejoin_while_storing),
        cmocka_unit_test(test_store_assignment_error),
        cmocka_unit_test(test_leave),
        cmocka_unit_test(test_protocol_selection),
        cmocka_unit_test(test_max_size),
        cmocka_unit_test(test_commit_checks),
        cmocka_unit_test(test_subscribed_topics),
        cmocka_unit_test(test_store_commit_reload),
        cmocka_unit_test(test_store_snapshot),
        cmocka_unit_test(test_store_snapshot_inflight),
        cmocka_unit_test(test_store_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
