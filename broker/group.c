/* SPDX-License-Identifier: Apache-2.0 */
/*
 * group.c - the classic consumer group state machine (see group.h for the state diagram).
 *
 * Follows Kafka's GroupCoordinator: which error each request gets in which state, when a
 * rebalance starts (maybe_prepare_rebalance), when it completes (all known members rejoined, or
 * the rebalance timeout: complete_join), the initial rebalance delay of an empty group (extended
 * while new members keep arriving, up to the rebalance timeout), session expiry, the pending-sync
 * expiry that removes members which never sent SyncGroup, and static membership (a rejoining
 * instance id replaces the old member id; the old id is fenced).
 *
 * Invariants:
 *   - n_awaiting_join == number of members with join_cb != NULL.
 *   - leader is NULL or one of members; NULL iff n_members == 0.
 *   - Every stored callback is called exactly once (answered, replaced or fenced).
 */
#include "group.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const state_names[] = {"Empty", "PreparingRebalance", "CompletingRebalance",
                                          "Stable", "Dead"};

const char *group_state_name(enum group_state s) {
    return (unsigned)s < RL_ARRAY_SIZE(state_names) ? state_names[s] : "Unknown";
}

int group_state_parse(const char *name, int32_t len) {
    for (size_t i = 0; i < RL_ARRAY_SIZE(state_names); i++)
        if (strlen(state_names[i]) == (size_t)len && strncasecmp(state_names[i], name, len) == 0)
            return (int)i;
    return -1;
}

int32_t group_partition_for(const char *group_id, size_t len, int32_t n) {
    /* Java's String.hashCode over UTF-16 code units. */
    int32_t h = 0;
    size_t i = 0;
    while (i < len) {
        const uint8_t *p = (const uint8_t *)group_id + i;
        uint32_t cp;
        size_t k;
        if (p[0] < 0x80) {
            cp = p[0], k = 1;
        } else if ((p[0] & 0xe0) == 0xc0 && i + 1 < len) {
            cp = ((p[0] & 0x1fu) << 6) | (p[1] & 0x3fu), k = 2;
        } else if ((p[0] & 0xf0) == 0xe0 && i + 2 < len) {
            cp = ((p[0] & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu), k = 3;
        } else if ((p[0] & 0xf8) == 0xf0 && i + 3 < len) {
            cp = ((p[0] & 0x07u) << 18) | ((p[1] & 0x3fu) << 12) | ((p[2] & 0x3fu) << 6) |
                 (p[3] & 0x3fu),
            k = 4;
        } else {
            cp = 0xfffd, k = 1; /* invalid UTF-8: Java decodes it as the replacement char */
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = (int32_t)((uint32_t)h * 31u + (0xd800u + (cp >> 10)));
            h = (int32_t)((uint32_t)h * 31u + (0xdc00u + (cp & 0x3ffu)));
        } else {
            h = (int32_t)((uint32_t)h * 31u + cp);
        }
        i += k;
    }
    return (int32_t)(((uint32_t)h & 0x7fffffffu) % (uint32_t)n);
}

/* ---- helpers ------------------------------------------------------------------------------- */
static int64_t mono_now(struct group_coord *c) {
    return c->ops->mono_ms(c->ops_ctx);
}
static int64_t wall_now(struct group_coord *c) {
    return c->ops->wall_ms(c->ops_ctx);
}
static void tarm(struct group_coord *c, struct broker_timer *t, int64_t deadline) {
    c->ops->timer_arm(c->ops_ctx, t, deadline);
}
static void tcancel(struct group_coord *c, struct broker_timer *t) {
    if (broker_timer_armed(t)) c->ops->timer_cancel(c->ops_ctx, t);
}
static bool str_eq(const char *a, const char *b) {
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}
static char *dup_or_null(const char *s) {
    return s ? rl_strdup(s) : NULL;
}
static void set_str(char **dst, const char *s) {
    char *n = dup_or_null(s);
    rl_free(*dst);
    *dst = n;
}

static void transition(struct group *g, enum group_state s) {
    g->state = s;
    g->state_ts_ms = wall_now(g->coord);
}

/* broker_timer_init without needing the reactor (unit tests link group.c alone). */
static void timer_setup(struct broker_timer *t, broker_timer_fn fn, void *arg) {
    t->deadline_ms = 0;
    t->fn = fn;
    t->arg = arg;
    t->heap_index = -1;
}

static void join_timer_fired(struct broker_timer *t);
static void sync_timer_fired(struct broker_timer *t);

static void notify_changed(struct group *g) {
    if (g->coord->ops->group_changed) g->coord->ops->group_changed(g->coord->ops_ctx, g);
}

/* ---- groups -------------------------------------------------------------------------------- */
static uint32_t hash_str(const char *s) {
    return (uint32_t)rl_hash64(s, strlen(s), 0x67726f7570ULL);
}

struct group_coord *group_coord_create(const struct group_coord_config *cfg,
                                       const struct group_coord_ops *ops, void *ops_ctx) {
    struct group_coord *c = rl_calloc(1, sizeof(*c));
    c->cfg = *cfg;
    if (c->cfg.num_partitions < 1) c->cfg.num_partitions = 1;
    c->ops = ops;
    c->ops_ctx = ops_ctx;
    c->n_buckets = 64;
    c->buckets = rl_calloc(c->n_buckets, sizeof(*c->buckets));
    c->id_counter = (uint64_t)rl_now_ms();
    return c;
}

static void group_rehash(struct group_coord *c) {
    uint32_t nb = c->n_buckets * 2;
    struct group **nbk = rl_calloc(nb, sizeof(*nbk));
    for (uint32_t i = 0; i < c->n_buckets; i++) {
        struct group *g = c->buckets[i], *next;
        for (; g; g = next) {
            next = g->hnext;
            uint32_t h = hash_str(g->group_id) & (nb - 1);
            g->hnext = nbk[h];
            nbk[h] = g;
        }
    }
    rl_free(c->buckets);
    c->buckets = nbk;
    c->n_buckets = nb;
}

struct group *group_find(struct group_coord *c, const char *group_id) {
    uint32_t h = hash_str(group_id) & (c->n_buckets - 1);
    for (struct group *g = c->buckets[h]; g; g = g->hnext)
        if (strcmp(g->group_id, group_id) == 0) return g;
    return NULL;
}

struct group *group_get_or_create(struct group_coord *c, const char *group_id) {
    struct group *g = group_find(c, group_id);
    if (g) return g;
    if (c->n_groups >= c->n_buckets) group_rehash(c);
    g = rl_calloc(1, sizeof(*g));
    g->coord = c;
    g->group_id = rl_strdup(group_id);
    g->partition = group_partition_for(group_id, strlen(group_id), c->cfg.num_partitions);
    g->state = GROUP_EMPTY;
    g->state_ts_ms = wall_now(c);
    timer_setup(&g->join_timer, join_timer_fired, g);
    timer_setup(&g->sync_timer, sync_timer_fired, g);
    uint32_t h = hash_str(group_id) & (c->n_buckets - 1);
    g->hnext = c->buckets[h];
    c->buckets[h] = g;
    c->n_groups++;
    return g;
}

void group_foreach(struct group_coord *c, void (*fn)(void *arg, struct group *g), void *arg) {
    for (uint32_t i = 0; i < c->n_buckets; i++) {
        struct group *g = c->buckets[i], *next;
        for (; g; g = next) {
            next = g->hnext;
            fn(arg, g);
        }
    }
}

/* ---- members ------------------------------------------------------------------------------- */
static void protocols_free(struct group_protocol *p, int32_t n) {
    for (int32_t i = 0; i < n; i++) {
        rl_free(p[i].name);
        rl_free(p[i].metadata);
    }
    rl_free(p);
}

static struct group_protocol *protocols_dup(const struct group_protocol *p, int32_t n) {
    struct group_protocol *r = rl_calloc(n > 0 ? (size_t)n : 1, sizeof(*r));
    for (int32_t i = 0; i < n; i++) {
        r[i].name = rl_strdup(p[i].name);
        r[i].metadata_len = p[i].metadata_len > 0 ? p[i].metadata_len : 0;
        r[i].metadata = rl_malloc(r[i].metadata_len + 1);
        if (r[i].metadata_len) memcpy(r[i].metadata, p[i].metadata, r[i].metadata_len);
    }
    return r;
}

struct group_member *group_member_find(const struct group *g, const char *member_id) {
    if (!member_id) return NULL;
    for (int32_t i = 0; i < g->n_members; i++)
        if (strcmp(g->members[i]->member_id, member_id) == 0) return g->members[i];
    return NULL;
}

struct group_member *group_static_member(const struct group *g, const char *instance_id) {
    if (!instance_id) return NULL;
    for (int32_t i = 0; i < g->n_members; i++)
        if (g->members[i]->instance_id && strcmp(g->members[i]->instance_id, instance_id) == 0)
            return g->members[i];
    return NULL;
}

const struct group_protocol *group_member_protocol(const struct group_member *m, const char *name) {
    for (int32_t i = 0; i < m->n_protocols; i++)
        if (strcmp(m->protocols[i].name, name) == 0) return &m->protocols[i];
    return NULL;
}

static void member_free(struct group_coord *c, struct group_member *m) {
    tcancel(c, &m->session_timer);
    rl_free(m->member_id);
    rl_free(m->instance_id);
    rl_free(m->client_id);
    rl_free(m->client_host);
    protocols_free(m->protocols, m->n_protocols);
    rl_free(m->assignment);
    rl_free(m);
}

static void session_expired(struct broker_timer *t);

static void schedule_session(struct group_member *m, int64_t timeout_ms) {
    struct group_coord *c = m->group->coord;
    m->last_heartbeat_ms = mono_now(c);
    tarm(c, &m->session_timer, m->last_heartbeat_ms + timeout_ms);
}

static void join_callback(struct group_member *m, const struct group_join_result *res) {
    if (!m->join_cb) return;
    group_join_cb cb = m->join_cb;
    void *ctx = m->join_ctx;
    m->join_cb = NULL;
    m->join_ctx = NULL;
    m->group->n_awaiting_join--;
    cb(ctx, res);
}

static void join_error(struct group_member *m, int16_t err, const char *member_id) {
    struct group_join_result r = {
        .error = err, .member_id = member_id, .generation_id = -1, .leader_id = ""};
    join_callback(m, &r);
}

static void sync_callback(struct group_member *m, const struct group_sync_result *res) {
    if (!m->sync_cb) return;
    group_sync_cb cb = m->sync_cb;
    void *ctx = m->sync_ctx;
    m->sync_cb = NULL;
    m->sync_ctx = NULL;
    cb(ctx, res);
}

static void sync_error(struct group_member *m, int16_t err) {
    struct group_sync_result r = {.error = err};
    sync_callback(m, &r);
}

static int32_t group_rebalance_timeout(const struct group *g) {
    int32_t t = 0;
    for (int32_t i = 0; i < g->n_members; i++)
        t = RL_MAX(t, g->members[i]->rebalance_timeout_ms);
    return t;
}

static void member_add(struct group *g, struct group_member *m) {
    if (g->n_members == g->cap_members) {
        g->cap_members = g->cap_members ? g->cap_members * 2 : 8;
        g->members = rl_realloc(g->members, sizeof(*g->members) * g->cap_members);
    }
    g->members[g->n_members++] = m;
    m->group = g;
    if (!g->leader) g->leader = m;
    if (m->join_cb) g->n_awaiting_join++;
}

/* Unlinks m from g (callbacks must have been answered) and frees it. */
static void member_remove(struct group *g, struct group_member *m) {
    int32_t i;
    for (i = 0; i < g->n_members && g->members[i] != m; i++)
        ;
    RL_BUG_ON(i == g->n_members);
    memmove(&g->members[i], &g->members[i + 1], sizeof(*g->members) * (g->n_members - i - 1));
    g->n_members--;
    if (m->join_cb) g->n_awaiting_join--;
    if (g->leader == m) g->leader = g->n_members ? g->members[0] : NULL;
    member_free(g->coord, m);
}

/* ---- pending members (MEMBER_ID_REQUIRED) ------------------------------------------------- */
static void pending_remove_at(struct group *g, int32_t i) {
    struct group_pending_member *p = g->pending[i];
    tcancel(g->coord, &p->timer);
    g->pending[i] = g->pending[--g->n_pending];
    rl_free(p->member_id);
    rl_free(p);
}

static int32_t pending_find(const struct group *g, const char *member_id) {
    for (int32_t i = 0; i < g->n_pending; i++)
        if (strcmp(g->pending[i]->member_id, member_id) == 0) return i;
    return -1;
}

static void try_complete_join(struct group *g);

static void pending_expired(struct broker_timer *t) {
    struct group_pending_member *p = t->arg;
    struct group *g = p->group;
    int32_t i = pending_find(g, p->member_id);
    if (i >= 0) pending_remove_at(g, i);
    try_complete_join(g);
}

static void pending_add(struct group *g, const char *member_id, int32_t session_timeout_ms) {
    struct group_pending_member *p = rl_calloc(1, sizeof(*p));
    p->group = g;
    p->member_id = rl_strdup(member_id);
    timer_setup(&p->timer, pending_expired, p);
    if (g->n_pending == g->cap_pending) {
        g->cap_pending = g->cap_pending ? g->cap_pending * 2 : 8;
        g->pending = rl_realloc(g->pending, sizeof(*g->pending) * g->cap_pending);
    }
    g->pending[g->n_pending++] = p;
    tarm(g->coord, &p->timer, mono_now(g->coord) + session_timeout_ms);
}

/* ---- protocol selection -------------------------------------------------------------------- */
static bool all_support(const struct group *g, const char *name) {
    for (int32_t i = 0; i < g->n_members; i++)
        if (!group_member_protocol(g->members[i], name)) return false;
    return true;
}

/* Kafka's supportsProtocols: an empty group accepts any non-empty type and list; otherwise the
 * type must match and one of the member's protocols must be supported by every member. */
static bool supports_protocols(const struct group *g, const char *type,
                               const struct group_protocol *p, int32_t n) {
    if (g->n_members == 0) return type && type[0] && n > 0;
    if (!str_eq(g->protocol_type, type)) return false;
    for (int32_t i = 0; i < n; i++)
        if (all_support(g, p[i].name)) return true;
    return false;
}

/* Each member votes for its first protocol that every member supports; most votes wins (ties:
 * the earliest in the leader's preference order). */
static const char *select_protocol(const struct group *g) {
    const struct group_member *ref = g->leader ? g->leader : g->members[0];
    const char *best = NULL;
    int32_t best_votes = -1;
    for (int32_t k = 0; k < ref->n_protocols; k++) {
        const char *cand = ref->protocols[k].name;
        if (!all_support(g, cand)) continue;
        int32_t votes = 0;
        for (int32_t i = 0; i < g->n_members; i++) {
            const struct group_member *m = g->members[i];
            for (int32_t j = 0; j < m->n_protocols; j++) {
                if (all_support(g, m->protocols[j].name)) {
                    if (strcmp(m->protocols[j].name, cand) == 0) votes++;
                    break;
                }
            }
        }
        if (votes > best_votes) best = cand, best_votes = votes;
    }
    return best;
}

static bool member_matches(const struct group_member *m, const struct group_protocol *p,
                           int32_t n) {
    if (m->n_protocols != n) return false;
    for (int32_t i = 0; i < n; i++) {
        if (strcmp(m->protocols[i].name, p[i].name) != 0) return false;
        int32_t l = p[i].metadata_len > 0 ? p[i].metadata_len : 0;
        if (m->protocols[i].metadata_len != l) return false;
        if (l && memcmp(m->protocols[i].metadata, p[i].metadata, l) != 0) return false;
    }
    return true;
}

/* Consumer protocol subscription: version int16, topics [string] ... (non-flexible). */
static void compute_subscribed(struct group *g) {
    for (int32_t i = 0; i < g->n_subscribed; i++)
        rl_free(g->subscribed[i]);
    rl_free(g->subscribed);
    g->subscribed = NULL;
    g->n_subscribed = 0;
    g->subscribed_known = false;
    if (!g->protocol_type || strcmp(g->protocol_type, "consumer") != 0 || !g->protocol_name) return;
    int32_t cap = 0;
    for (int32_t i = 0; i < g->n_members; i++) {
        const struct group_protocol *p = group_member_protocol(g->members[i], g->protocol_name);
        if (!p) goto fail;
        struct proto_reader r;
        proto_reader_init(&r, p->metadata, p->metadata_len);
        int16_t ver = proto_read_i16(&r);
        int32_t n = proto_read_i32(&r);
        if (r.err || ver < 0 || n < 0 || (size_t)n > proto_reader_remaining(&r) / 2) goto fail;
        for (int32_t k = 0; k < n; k++) {
            struct proto_str s = proto_read_string(&r, false);
            if (r.err || s.len < 0) goto fail;
            bool dup = false;
            for (int32_t j = 0; j < g->n_subscribed && !dup; j++)
                dup = (int32_t)strlen(g->subscribed[j]) == s.len &&
                      memcmp(g->subscribed[j], s.ptr, s.len) == 0;
            if (dup) continue;
            if (g->n_subscribed == cap) {
                cap = cap ? cap * 2 : 8;
                g->subscribed = rl_realloc(g->subscribed, sizeof(char *) * cap);
            }
            g->subscribed[g->n_subscribed++] = rl_strndup(s.ptr, s.len);
        }
    }
    g->subscribed_known = true;
    return;
fail:
    for (int32_t i = 0; i < g->n_subscribed; i++)
        rl_free(g->subscribed[i]);
    rl_free(g->subscribed);
    g->subscribed = NULL;
    g->n_subscribed = 0;
}

bool group_subscribed_to(const struct group *g, const char *topic) {
    if (g->n_members == 0) return false;
    if (!g->subscribed_known) return true;
    for (int32_t i = 0; i < g->n_subscribed; i++)
        if (strcmp(g->subscribed[i], topic) == 0) return true;
    return false;
}

/* ---- rebalance ----------------------------------------------------------------------------- */

static bool all_members_joined(const struct group *g) {
    return g->n_members == g->n_awaiting_join && g->n_pending == 0;
}

static void reset_and_propagate_assignment_error(struct group *g, int16_t err) {
    for (int32_t i = 0; i < g->n_members; i++) {
        struct group_member *m = g->members[i];
        rl_free(m->assignment);
        m->assignment = NULL;
        m->assignment_len = 0;
        sync_error(m, err);
    }
}

static void clear_pending_sync(struct group *g) {
    for (int32_t i = 0; i < g->n_members; i++)
        g->members[i]->pending_sync = false;
    tcancel(g->coord, &g->sync_timer);
}

static void prepare_rebalance(struct group *g, const char *reason) {
    struct group_coord *c = g->coord;
    if (g->state == GROUP_COMPLETING_REBALANCE)
        reset_and_propagate_assignment_error(g, PROTO_ERR_REBALANCE_IN_PROGRESS);
    g->storing_assignment = false;
    clear_pending_sync(g);
    tcancel(c, &g->join_timer);
    int32_t rt = group_rebalance_timeout(g);
    if (g->state == GROUP_EMPTY) {
        int32_t delay = c->cfg.initial_rebalance_delay_ms;
        g->join_initial = true;
        g->join_initial_remaining_ms = RL_MAX(rt - delay, 0);
        tarm(c, &g->join_timer, mono_now(c) + delay);
    } else {
        g->join_initial = false;
        tarm(c, &g->join_timer, mono_now(c) + rt);
    }
    rl_info("group", "preparing to rebalance group %s in state %s with old generation %d (%s)",
            g->group_id, group_state_name(g->state), g->generation_id, reason);
    transition(g, GROUP_PREPARING_REBALANCE);
    try_complete_join(g);
}

static void maybe_prepare_rebalance(struct group *g, const char *reason) {
    if (g->state == GROUP_STABLE || g->state == GROUP_COMPLETING_REBALANCE ||
        g->state == GROUP_EMPTY)
        prepare_rebalance(g, reason);
}

static void complete_join(struct group *g) {
    struct group_coord *c = g->coord;
    tcancel(c, &g->join_timer);
    /* remove dynamic members that did not rejoin */
    for (int32_t i = g->n_members - 1; i >= 0; i--) {
        struct group_member *m = g->members[i];
        if (!m->join_cb && !m->instance_id) {
            rl_info("group", "group %s: member %s did not rejoin, removed", g->group_id,
                    m->member_id);
            sync_error(m, PROTO_ERR_REBALANCE_IN_PROGRESS);
            member_remove(g, m);
        }
    }
    if (g->state == GROUP_DEAD) return;
    /* make sure the leader is a member that rejoined */
    bool leader_ok = false;
    if (g->leader) {
        if (g->leader->join_cb) {
            leader_ok = true;
        } else {
            for (int32_t i = 0; i < g->n_members; i++)
                if (g->members[i]->join_cb) {
                    g->leader = g->members[i];
                    leader_ok = true;
                    break;
                }
        }
    }
    if (!leader_ok && g->n_members > 0) {
        /* nobody rejoined: wait another rebalance timeout for session expiry to clean up */
        rl_warn("group", "group %s could not complete rebalance because no members rejoined",
                g->group_id);
        g->join_initial = false;
        tarm(c, &g->join_timer, mono_now(c) + group_rebalance_timeout(g));
        return;
    }
    g->generation_id++;
    if (g->n_members == 0) {
        set_str(&g->protocol_name, NULL);
        compute_subscribed(g);
        transition(g, GROUP_EMPTY);
        rl_info("group", "group %s with generation %d is now empty", g->group_id, g->generation_id);
        notify_changed(g);
        return;
    }
    set_str(&g->protocol_name, select_protocol(g));
    compute_subscribed(g);
    transition(g, GROUP_COMPLETING_REBALANCE);
    rl_info("group", "stabilized group %s generation %d (protocol %s) with %d members", g->group_id,
            g->generation_id, g->protocol_name, g->n_members);

    struct group_join_member *list = rl_calloc(g->n_members, sizeof(*list));
    for (int32_t i = 0; i < g->n_members; i++) {
        const struct group_protocol *p = group_member_protocol(g->members[i], g->protocol_name);
        list[i].member_id = g->members[i]->member_id;
        list[i].instance_id = g->members[i]->instance_id;
        list[i].metadata = p->metadata;
        list[i].metadata_len = p->metadata_len;
    }
    /* answer in member order; a callback cannot change the group synchronously */
    for (int32_t i = 0; i < g->n_members; i++) {
        struct group_member *m = g->members[i];
        bool is_leader = m == g->leader;
        struct group_join_result r = {.error = 0,
                                      .member_id = m->member_id,
                                      .generation_id = g->generation_id,
                                      .protocol_type = g->protocol_type,
                                      .protocol_name = g->protocol_name,
                                      .leader_id = g->leader->member_id,
                                      .members = is_leader ? list : NULL,
                                      .n_members = is_leader ? g->n_members : 0};
        m->pending_sync = true;
        join_callback(m, &r);
        schedule_session(m, m->session_timeout_ms);
        m->is_new = false;
    }
    rl_free(list);
    /* members that never send SyncGroup are removed after the rebalance timeout */
    tarm(c, &g->sync_timer, mono_now(c) + group_rebalance_timeout(g));
}

static void try_complete_join(struct group *g) {
    if (g->state == GROUP_PREPARING_REBALANCE && !g->join_initial && all_members_joined(g))
        complete_join(g);
}

static void join_timer_fired(struct broker_timer *t) {
    struct group *g = t->arg;
    struct group_coord *c = g->coord;
    if (g->state != GROUP_PREPARING_REBALANCE) return;
    if (g->join_initial && g->new_member_added && g->join_initial_remaining_ms > 0) {
        int32_t delay = c->cfg.initial_rebalance_delay_ms;
        int32_t next = RL_MIN(delay, g->join_initial_remaining_ms);
        g->join_initial_remaining_ms = RL_MAX(g->join_initial_remaining_ms - delay, 0);
        g->new_member_added = false;
        tarm(c, &g->join_timer, mono_now(c) + next);
        return;
    }
    g->join_initial = false;
    g->new_member_added = false;
    complete_join(g);
}

static void remove_member_and_update(struct group *g, struct group_member *m, const char *why) {
    rl_info("group", "group %s: removing member %s (%s)", g->group_id, m->member_id, why);
    join_error(m, PROTO_ERR_UNKNOWN_MEMBER_ID, "");
    sync_error(m, PROTO_ERR_UNKNOWN_MEMBER_ID);
    member_remove(g, m);
    switch (g->state) {
    case GROUP_STABLE:
    case GROUP_COMPLETING_REBALANCE:
        maybe_prepare_rebalance(g, why);
        break;
    case GROUP_PREPARING_REBALANCE:
        try_complete_join(g);
        break;
    default:
        break;
    }
}

static void sync_timer_fired(struct broker_timer *t) {
    struct group *g = t->arg;
    if (g->state != GROUP_COMPLETING_REBALANCE && g->state != GROUP_STABLE) return;
    bool any = false;
    for (int32_t i = g->n_members - 1; i >= 0; i--) {
        struct group_member *m = g->members[i];
        if (!m->pending_sync) continue;
        any = true;
        rl_info("group", "group %s: member %s sent no SyncGroup in time, removed", g->group_id,
                m->member_id);
        sync_error(m, PROTO_ERR_REBALANCE_IN_PROGRESS);
        member_remove(g, m);
    }
    if (any) prepare_rebalance(g, "removing members on pending sync expiration");
}

static void session_expired(struct broker_timer *t) {
    struct group_member *m = t->arg;
    struct group *g = m->group;
    struct group_coord *c = g->coord;
    int64_t now = mono_now(c);
    if (m->is_new) {
        if (m->last_heartbeat_ms + GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS > now) {
            tarm(c, t, m->last_heartbeat_ms + GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS);
            return;
        }
    } else if (m->join_cb || m->sync_cb) {
        /* waiting in a rebalance keeps a member alive */
        schedule_session(m, m->session_timeout_ms);
        return;
    }
    remove_member_and_update(g, m, "session timeout");
}

/* ---- JoinGroup ----------------------------------------------------------------------------- */
static char *new_member_id(struct group_coord *c, const char *client_id) {
    uint64_t a = rl_hash64(&c->id_counter, sizeof(c->id_counter), (uint64_t)rl_mono_ns());
    c->id_counter++;
    uint64_t b = rl_hash64(&a, sizeof(a), c->id_counter);
    size_t n = strlen(client_id) + 48;
    char *s = rl_malloc(n);
    snprintf(s, n, "%s-%08x-%04x-%04x-%04x-%012llx", client_id, (unsigned)(a >> 32),
             (unsigned)((a >> 16) & 0xffff), (unsigned)(0x4000 | (a & 0x0fff)),
             (unsigned)(0x8000 | ((b >> 48) & 0x3fff)),
             (unsigned long long)(b & 0xffffffffffffULL));
    return s;
}

static void member_update(struct group_member *m, const struct group_join_request *r,
                          group_join_cb cb, void *ctx) {
    struct group *g = m->group;
    protocols_free(m->protocols, m->n_protocols);
    m->protocols = protocols_dup(r->protocols, r->n_protocols);
    m->n_protocols = r->n_protocols;
    m->rebalance_timeout_ms = r->rebalance_timeout_ms;
    m->session_timeout_ms = r->session_timeout_ms;
    if (!m->join_cb && cb) g->n_awaiting_join++;
    if (m->join_cb && !cb) g->n_awaiting_join--;
    m->join_cb = cb;
    m->join_ctx = ctx;
}

static struct group_member *add_member_and_rebalance(struct group *g, const char *member_id,
                                                     const struct group_join_request *r,
                                                     group_join_cb cb, void *ctx) {
    struct group_member *m = rl_calloc(1, sizeof(*m));
    m->member_id = rl_strdup(member_id);
    m->instance_id = dup_or_null(r->instance_id);
    m->client_id = rl_strdup(r->client_id ? r->client_id : "");
    m->client_host = rl_strdup(r->client_host ? r->client_host : "");
    m->rebalance_timeout_ms = r->rebalance_timeout_ms;
    m->session_timeout_ms = r->session_timeout_ms;
    m->protocols = protocols_dup(r->protocols, r->n_protocols);
    m->n_protocols = r->n_protocols;
    m->is_new = true;
    m->join_cb = cb;
    m->join_ctx = ctx;
    timer_setup(&m->session_timer, session_expired, m);
    if (g->state == GROUP_PREPARING_REBALANCE && g->generation_id == 0) g->new_member_added = true;
    bool first = g->n_members == 0;
    member_add(g, m);
    if (first) set_str(&g->protocol_type, r->protocol_type);
    schedule_session(m, GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS);
    char reason[160];
    snprintf(reason, sizeof(reason), "adding new member %.100s", member_id);
    maybe_prepare_rebalance(g, reason);
    try_complete_join(g);
    return m;
}

static bool accept_joining_member(const struct group *g, const struct group_member *m) {
    switch (g->state) {
    case GROUP_EMPTY:
    case GROUP_DEAD:
        return true;
    case GROUP_PREPARING_REBALANCE:
        return (m && m->join_cb) || g->n_awaiting_join < g->coord->cfg.max_size;
    default:
        return m || g->n_members < g->coord->cfg.max_size;
    }
}

static void static_member_join(struct group *g, const struct group_join_request *r,
                               const char *new_id, group_join_cb cb, void *ctx) {
    struct group_member *m = group_static_member(g, r->instance_id);
    if (!m) {
        add_member_and_rebalance(g, new_id, r, cb, ctx);
        return;
    }
    /* a known static member restarted: replace its member id; the old id is fenced */
    rl_info("group", "group %s: static member %s rejoined, member id %s replaces %s", g->group_id,
            r->instance_id, new_id, m->member_id);
    const char *leader_before = g->leader ? g->leader->member_id : "";
    char *leader_copy = rl_strdup(leader_before);
    join_error(m, PROTO_ERR_FENCED_INSTANCE_ID, m->member_id);
    sync_error(m, PROTO_ERR_FENCED_INSTANCE_ID);
    /* as Kafka: the old leader id is returned even when this member was the leader, so a
     * rejoining leader does not compute an assignment a Stable group would never send out */
    set_str(&m->member_id, new_id);
    schedule_session(m, m->session_timeout_ms);
    char *old_protocol = dup_or_null(g->protocol_name);
    member_update(m, r, cb, ctx);
    switch (g->state) {
    case GROUP_STABLE: {
        const char *next = select_protocol(g);
        if (next && str_eq(next, old_protocol)) {
            /* no rebalance: the member gets the current generation, then its assignment from
             * SyncGroup. The old leader id is returned so the member does not assign. */
            notify_changed(g);
            struct group_join_result res = {.error = 0,
                                            .member_id = m->member_id,
                                            .generation_id = g->generation_id,
                                            .protocol_type = g->protocol_type,
                                            .protocol_name = g->protocol_name,
                                            .leader_id = leader_copy};
            join_callback(m, &res);
        } else {
            prepare_rebalance(g, "static member joined with a change of protocol");
        }
        break;
    }
    case GROUP_COMPLETING_REBALANCE:
        prepare_rebalance(g, "updating metadata for a static member");
        break;
    case GROUP_PREPARING_REBALANCE:
        try_complete_join(g);
        break;
    default:
        break;
    }
    rl_free(old_protocol);
    rl_free(leader_copy);
}

void group_join(struct group_coord *c, const struct group_join_request *r, group_join_cb cb,
                void *ctx) {
    struct group_join_request rq = *r;
    const char *mid = r->member_id ? r->member_id : "";
    struct group_join_result err = {.member_id = mid, .generation_id = -1, .leader_id = ""};
    if (rq.rebalance_timeout_ms < 0) rq.rebalance_timeout_ms = rq.session_timeout_ms;
    if (!r->group_id || !r->group_id[0]) {
        err.error = PROTO_ERR_INVALID_GROUP_ID;
        cb(ctx, &err);
        return;
    }
    if (r->session_timeout_ms < c->cfg.min_session_timeout_ms ||
        r->session_timeout_ms > c->cfg.max_session_timeout_ms) {
        err.error = PROTO_ERR_INVALID_SESSION_TIMEOUT;
        cb(ctx, &err);
        return;
    }
    bool unknown = mid[0] == 0;
    struct group *g = unknown ? group_get_or_create(c, r->group_id) : group_find(c, r->group_id);
    if (!g) {
        err.error = PROTO_ERR_UNKNOWN_MEMBER_ID;
        cb(ctx, &err);
        return;
    }
    if (g->state == GROUP_DEAD) {
        err.error = PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
        cb(ctx, &err);
        return;
    }
    struct group_member *existing = unknown ? NULL : group_member_find(g, mid);
    if (!accept_joining_member(g, existing)) {
        err.error = PROTO_ERR_GROUP_MAX_SIZE_REACHED;
        cb(ctx, &err);
        return;
    }
    if (!supports_protocols(g, r->protocol_type, r->protocols, r->n_protocols)) {
        err.error = PROTO_ERR_INCONSISTENT_GROUP_PROTOCOL;
        cb(ctx, &err);
        return;
    }

    if (unknown) {
        char *id = new_member_id(c, r->client_id ? r->client_id : "");
        if (r->instance_id) {
            static_member_join(g, &rq, id, cb, ctx);
        } else if (r->require_known_member_id) {
            pending_add(g, id, rq.session_timeout_ms);
            err.error = PROTO_ERR_MEMBER_ID_REQUIRED;
            err.member_id = id;
            cb(ctx, &err);
        } else {
            add_member_and_rebalance(g, id, &rq, cb, ctx);
        }
        rl_free(id);
        return;
    }

    int32_t pi = pending_find(g, mid);
    if (pi >= 0) {
        pending_remove_at(g, pi);
        add_member_and_rebalance(g, mid, &rq, cb, ctx);
        return;
    }
    struct group_member *st = group_static_member(g, r->instance_id);
    if (r->instance_id && st && strcmp(st->member_id, mid) != 0) {
        err.error = PROTO_ERR_FENCED_INSTANCE_ID;
        cb(ctx, &err);
        return;
    }
    if (!existing || (r->instance_id && !st)) {
        err.error = PROTO_ERR_UNKNOWN_MEMBER_ID;
        cb(ctx, &err);
        return;
    }
    struct group_member *m = existing;
    schedule_session(m, m->is_new ? GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS : rq.session_timeout_ms);
    switch (g->state) {
    case GROUP_PREPARING_REBALANCE:
        /* a second JoinGroup replaces the first, which gets no answer in Kafka either: answer
         * the old one with REBALANCE_IN_PROGRESS so it completes exactly once */
        if (m->join_cb) join_error(m, PROTO_ERR_REBALANCE_IN_PROGRESS, m->member_id);
        member_update(m, &rq, cb, ctx);
        try_complete_join(g);
        break;
    case GROUP_COMPLETING_REBALANCE:
        if (member_matches(m, r->protocols, r->n_protocols)) {
            struct group_join_member *list = NULL;
            int32_t n = 0;
            if (g->leader == m) {
                list = rl_calloc(g->n_members, sizeof(*list));
                for (int32_t i = 0; i < g->n_members; i++) {
                    const struct group_protocol *p =
                        group_member_protocol(g->members[i], g->protocol_name);
                    list[i].member_id = g->members[i]->member_id;
                    list[i].instance_id = g->members[i]->instance_id;
                    list[i].metadata = p->metadata;
                    list[i].metadata_len = p->metadata_len;
                }
                n = g->n_members;
            }
            struct group_join_result res = {.member_id = m->member_id,
                                            .generation_id = g->generation_id,
                                            .protocol_type = g->protocol_type,
                                            .protocol_name = g->protocol_name,
                                            .leader_id = g->leader->member_id,
                                            .members = list,
                                            .n_members = n};
            cb(ctx, &res);
            rl_free(list);
        } else {
            member_update(m, &rq, cb, ctx);
            prepare_rebalance(g, "member joined with new metadata");
        }
        break;
    case GROUP_STABLE:
        if (g->leader == m || !member_matches(m, r->protocols, r->n_protocols)) {
            member_update(m, &rq, cb, ctx);
            prepare_rebalance(g, g->leader == m ? "leader rejoined" : "member metadata changed");
        } else {
            struct group_join_result res = {.member_id = m->member_id,
                                            .generation_id = g->generation_id,
                                            .protocol_type = g->protocol_type,
                                            .protocol_name = g->protocol_name,
                                            .leader_id = g->leader->member_id};
            cb(ctx, &res);
        }
        break;
    default:
        err.error = PROTO_ERR_UNKNOWN_MEMBER_ID;
        cb(ctx, &err);
        break;
    }
}

/* ---- SyncGroup ----------------------------------------------------------------------------- */
/* Kafka's validateMember: FENCED_INSTANCE_ID / UNKNOWN_MEMBER_ID or 0. */
static int16_t validate_member(const struct group *g, const char *member_id,
                               const char *instance_id, struct group_member **mp) {
    if (instance_id) {
        struct group_member *st = group_static_member(g, instance_id);
        if (!st) return PROTO_ERR_UNKNOWN_MEMBER_ID;
        if (!member_id || strcmp(st->member_id, member_id) != 0)
            return PROTO_ERR_FENCED_INSTANCE_ID;
    }
    struct group_member *m = group_member_find(g, member_id);
    if (!m) return PROTO_ERR_UNKNOWN_MEMBER_ID;
    *mp = m;
    return 0;
}

/* The leader's assignment is stored: Stable, and every member waiting in SyncGroup gets its
 * assignment (Kafka's setAndPropagateAssignment). */
static void set_and_propagate_assignment(struct group *g) {
    g->storing_assignment = false;
    transition(g, GROUP_STABLE);
    for (int32_t i = 0; i < g->n_members; i++) {
        struct group_member *x = g->members[i];
        if (!x->sync_cb) continue;
        struct group_sync_result ok = {.protocol_type = g->protocol_type,
                                       .protocol_name = g->protocol_name,
                                       .assignment = x->assignment,
                                       .assignment_len = x->assignment_len};
        sync_callback(x, &ok);
        schedule_session(x, x->session_timeout_ms);
    }
    /* members still pending sync are removed by the sync timer */
    bool pending = false;
    for (int32_t i = 0; i < g->n_members; i++)
        pending |= g->members[i]->pending_sync;
    if (!pending) tcancel(g->coord, &g->sync_timer);
}

void group_assignment_stored(struct group_coord *c, const char *group_id, int32_t generation,
                             int16_t err) {
    struct group *g = group_find(c, group_id);
    /* a rebalance (or another generation) since the write answered the waiting members */
    if (!g || !g->storing_assignment || g->state != GROUP_COMPLETING_REBALANCE ||
        g->generation_id != generation)
        return;
    if (err) {
        rl_warn("group", "group %s: storing the assignment of generation %d failed: %s",
                g->group_id, generation, proto_error_name(err));
        g->storing_assignment = false;
        reset_and_propagate_assignment_error(g, err);
        maybe_prepare_rebalance(g, "error when storing the group assignment");
        return;
    }
    set_and_propagate_assignment(g);
}

void group_sync(struct group_coord *c, const struct group_sync_request *r, group_sync_cb cb,
                void *ctx) {
    struct group_sync_result res = {0};
    struct group *g = group_find(c, r->group_id);
    struct group_member *m = NULL;
    if (!g) {
        res.error = PROTO_ERR_UNKNOWN_MEMBER_ID;
    } else if (g->state == GROUP_DEAD) {
        res.error = PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
    } else if ((res.error = validate_member(g, r->member_id, r->instance_id, &m)) != 0) {
    } else if (r->generation_id != g->generation_id) {
        res.error = PROTO_ERR_ILLEGAL_GENERATION;
    } else if ((r->protocol_type && !str_eq(r->protocol_type, g->protocol_type)) ||
               (r->protocol_name && !str_eq(r->protocol_name, g->protocol_name))) {
        res.error = PROTO_ERR_INCONSISTENT_GROUP_PROTOCOL;
    } else {
        switch (g->state) {
        case GROUP_EMPTY:
            res.error = PROTO_ERR_UNKNOWN_MEMBER_ID;
            break;
        case GROUP_PREPARING_REBALANCE:
            res.error = PROTO_ERR_REBALANCE_IN_PROGRESS;
            break;
        case GROUP_COMPLETING_REBALANCE:
            if (m->sync_cb) sync_error(m, PROTO_ERR_REBALANCE_IN_PROGRESS);
            m->sync_cb = cb;
            m->sync_ctx = ctx;
            m->pending_sync = false;
            schedule_session(m, m->session_timeout_ms);
            if (g->leader == m) {
                /* the leader's assignment: members it left out get an empty one; entries for
                 * unknown member ids are ignored */
                for (int32_t i = 0; i < g->n_members; i++) {
                    struct group_member *x = g->members[i];
                    rl_free(x->assignment);
                    x->assignment = NULL;
                    x->assignment_len = 0;
                    for (int32_t k = 0; k < r->n_assignments; k++) {
                        if (strcmp(r->assignments[k].member_id, x->member_id) != 0) continue;
                        int32_t l = RL_MAX(r->assignments[k].assignment_len, 0);
                        x->assignment = rl_malloc(l + 1);
                        if (l) memcpy(x->assignment, r->assignments[k].assignment, l);
                        x->assignment_len = l;
                        break;
                    }
                }
                if (c->ops->store_assignment) {
                    /* Kafka's storeGroup: Stable, and the assignments go out, once durable */
                    g->storing_assignment = true;
                    c->ops->store_assignment(c->ops_ctx, g);
                } else {
                    notify_changed(g);
                    set_and_propagate_assignment(g);
                }
            }
            return;
        case GROUP_STABLE: {
            m->pending_sync = false;
            schedule_session(m, m->session_timeout_ms);
            struct group_sync_result ok = {.protocol_type = g->protocol_type,
                                           .protocol_name = g->protocol_name,
                                           .assignment = m->assignment,
                                           .assignment_len = m->assignment_len};
            cb(ctx, &ok);
            return;
        }
        default:
            res.error = PROTO_ERR_UNKNOWN_MEMBER_ID;
            break;
        }
    }
    cb(ctx, &res);
}

/* ---- Heartbeat / LeaveGroup ---------------------------------------------------------------- */
int16_t group_heartbeat(struct group_coord *c, const char *group_id, const char *member_id,
                        const char *instance_id, int32_t generation_id) {
    struct group *g = group_find(c, group_id);
    struct group_member *m = NULL;
    if (!g) return PROTO_ERR_UNKNOWN_MEMBER_ID;
    if (g->state == GROUP_DEAD) return PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
    int16_t err = validate_member(g, member_id, instance_id, &m);
    if (err) return err;
    if (generation_id != g->generation_id) return PROTO_ERR_ILLEGAL_GENERATION;
    switch (g->state) {
    case GROUP_EMPTY:
        return PROTO_ERR_UNKNOWN_MEMBER_ID;
    case GROUP_PREPARING_REBALANCE:
        schedule_session(m, m->session_timeout_ms);
        return PROTO_ERR_REBALANCE_IN_PROGRESS;
    default:
        schedule_session(m, m->session_timeout_ms);
        return 0;
    }
}

int16_t group_leave(struct group_coord *c, const char *group_id, const char *member_id,
                    const char *instance_id, int16_t *group_error) {
    *group_error = 0;
    struct group *g = group_find(c, group_id);
    if (!g) return PROTO_ERR_UNKNOWN_MEMBER_ID;
    if (g->state == GROUP_DEAD) {
        *group_error = PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
        return PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
    }
    const char *mid = member_id ? member_id : "";
    if (!mid[0] && instance_id) {
        struct group_member *st = group_static_member(g, instance_id);
        if (!st) return PROTO_ERR_UNKNOWN_MEMBER_ID;
        mid = st->member_id;
    }
    int32_t pi = pending_find(g, mid);
    if (pi >= 0) {
        pending_remove_at(g, pi);
        try_complete_join(g);
        return 0;
    }
    struct group_member *m = NULL;
    int16_t err = validate_member(g, mid, instance_id, &m);
    if (err) return err;
    remove_member_and_update(g, m, "member left the group");
    return 0;
}

/* ---- OffsetCommit / DeleteGroups checks ---------------------------------------------------- */
int16_t group_commit_check(struct group_coord *c, const char *group_id, const char *member_id,
                           const char *instance_id, int32_t generation_id, struct group **gp) {
    /* as Kafka, an empty group id is accepted here (old clients commit with one) */
    if (!group_id) return PROTO_ERR_INVALID_GROUP_ID;
    struct group *g = group_find(c, group_id);
    if (!g) {
        if (generation_id >= 0) return PROTO_ERR_ILLEGAL_GENERATION;
        *gp = group_get_or_create(c, group_id);
        return 0;
    }
    if (g->state == GROUP_DEAD) return PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
    if (instance_id) {
        struct group_member *st = group_static_member(g, instance_id);
        if (st && !str_eq(st->member_id, member_id)) return PROTO_ERR_FENCED_INSTANCE_ID;
    }
    if (generation_id < 0 && g->state == GROUP_EMPTY) {
        *gp = g;
        return 0;
    }
    struct group_member *m = group_member_find(g, member_id);
    if (!m) return PROTO_ERR_UNKNOWN_MEMBER_ID;
    if (generation_id != g->generation_id) return PROTO_ERR_ILLEGAL_GENERATION;
    if (g->state == GROUP_COMPLETING_REBALANCE) return PROTO_ERR_REBALANCE_IN_PROGRESS;
    schedule_session(m, m->session_timeout_ms);
    *gp = g;
    return 0;
}

int16_t group_delete_check(struct group_coord *c, const char *group_id, struct group **gp) {
    struct group *g = group_find(c, group_id);
    if (!g || g->state == GROUP_DEAD) return PROTO_ERR_GROUP_ID_NOT_FOUND;
    if (g->state != GROUP_EMPTY) return PROTO_ERR_NON_EMPTY_GROUP;
    *gp = g;
    return 0;
}

/* ---- offsets cache ------------------------------------------------------------------------- */
static uint32_t offset_hash(const char *topic, int32_t part) {
    return (uint32_t)rl_hash64(topic, strlen(topic),
                               (uint64_t)(uint32_t)part * 0x9e3779b97f4a7c15ULL);
}

struct group_offset *group_offset_find(const struct group *g, const char *topic, int32_t part) {
    if (!g->n_obuckets) return NULL;
    uint32_t h = offset_hash(topic, part) & (g->n_obuckets - 1);
    for (struct group_offset *o = g->obuckets[h]; o; o = o->next)
        if (o->partition == part && strcmp(o->topic, topic) == 0) return o;
    return NULL;
}

static void offsets_rehash(struct group *g) {
    uint32_t nb = g->n_obuckets ? g->n_obuckets * 2 : 16;
    struct group_offset **nbk = rl_calloc(nb, sizeof(*nbk));
    for (uint32_t i = 0; i < g->n_obuckets; i++) {
        struct group_offset *o = g->obuckets[i], *next;
        for (; o; o = next) {
            next = o->next;
            uint32_t h = offset_hash(o->topic, o->partition) & (nb - 1);
            o->next = nbk[h];
            nbk[h] = o;
        }
    }
    rl_free(g->obuckets);
    g->obuckets = nbk;
    g->n_obuckets = nb;
}

void group_offset_set(struct group *g, const char *topic, int32_t part, int64_t offset,
                      int32_t leader_epoch, const char *metadata, int64_t commit_ts_ms) {
    struct group_offset *o = group_offset_find(g, topic, part);
    if (!o) {
        if (g->n_offsets >= g->n_obuckets) offsets_rehash(g);
        o = rl_calloc(1, sizeof(*o));
        o->topic = rl_strdup(topic);
        o->partition = part;
        uint32_t h = offset_hash(topic, part) & (g->n_obuckets - 1);
        o->next = g->obuckets[h];
        g->obuckets[h] = o;
        g->n_offsets++;
    }
    o->offset = offset;
    o->leader_epoch = leader_epoch;
    set_str(&o->metadata, metadata ? metadata : "");
    o->commit_ts_ms = commit_ts_ms;
}

void group_offset_delete(struct group *g, const char *topic, int32_t part) {
    if (!g->n_obuckets) return;
    uint32_t h = offset_hash(topic, part) & (g->n_obuckets - 1);
    for (struct group_offset **pp = &g->obuckets[h]; *pp; pp = &(*pp)->next) {
        struct group_offset *o = *pp;
        if (o->partition == part && strcmp(o->topic, topic) == 0) {
            *pp = o->next;
            rl_free(o->topic);
            rl_free(o->metadata);
            rl_free(o);
            g->n_offsets--;
            return;
        }
    }
}

void group_offset_foreach(struct group *g, void (*fn)(void *arg, struct group_offset *o),
                          void *arg) {
    for (uint32_t i = 0; i < g->n_obuckets; i++) {
        struct group_offset *o = g->obuckets[i], *next;
        for (; o; o = next) {
            next = o->next;
            fn(arg, o);
        }
    }
}

/* ---- removal ------------------------------------------------------------------------------- */
static void group_free(struct group_coord *c, struct group *g) {
    for (int32_t i = g->n_members - 1; i >= 0; i--) {
        struct group_member *m = g->members[i];
        join_error(m, PROTO_ERR_COORDINATOR_NOT_AVAILABLE, m->member_id);
        sync_error(m, PROTO_ERR_COORDINATOR_NOT_AVAILABLE);
        member_remove(g, m);
    }
    while (g->n_pending)
        pending_remove_at(g, 0);
    tcancel(c, &g->join_timer);
    tcancel(c, &g->sync_timer);
    for (uint32_t i = 0; i < g->n_obuckets; i++) {
        struct group_offset *o = g->obuckets[i], *next;
        for (; o; o = next) {
            next = o->next;
            rl_free(o->topic);
            rl_free(o->metadata);
            rl_free(o);
        }
    }
    for (int32_t i = 0; i < g->n_subscribed; i++)
        rl_free(g->subscribed[i]);
    rl_free(g->subscribed);
    rl_free(g->obuckets);
    rl_free(g->members);
    rl_free(g->pending);
    rl_free(g->group_id);
    rl_free(g->protocol_type);
    rl_free(g->protocol_name);
    rl_free(g);
}

void group_remove(struct group_coord *c, struct group *g) {
    uint32_t h = hash_str(g->group_id) & (c->n_buckets - 1);
    for (struct group **pp = &c->buckets[h]; *pp; pp = &(*pp)->hnext) {
        if (*pp == g) {
            *pp = g->hnext;
            c->n_groups--;
            break;
        }
    }
    g->state = GROUP_DEAD;
    group_free(c, g);
}

void group_coord_destroy(struct group_coord *c) {
    if (!c) return;
    for (uint32_t i = 0; i < c->n_buckets; i++) {
        struct group *g = c->buckets[i], *next;
        for (; g; g = next) {
            next = g->hnext;
            group_free(c, g);
        }
    }
    rl_free(c->buckets);
    rl_free(c);
}

/* ---- loading ------------------------------------------------------------------------------- */
void group_load_clear(struct group_coord *c, struct group *g) {
    for (int32_t i = g->n_members - 1; i >= 0; i--)
        member_remove(g, g->members[i]);
    tcancel(c, &g->join_timer);
    tcancel(c, &g->sync_timer);
    set_str(&g->protocol_type, NULL);
    set_str(&g->protocol_name, NULL);
    compute_subscribed(g);
    g->state = GROUP_EMPTY;
    g->has_metadata_record = false;
}

void group_load_metadata(struct group_coord *c, struct group *g, const char *protocol_type,
                         int32_t generation, const char *protocol_name, const char *leader_id,
                         int64_t state_ts_ms, const struct group_load_member *members,
                         int32_t n_members) {
    group_load_clear(c, g);
    g->has_metadata_record = true;
    set_str(&g->protocol_type, protocol_type && protocol_type[0] ? protocol_type : NULL);
    g->generation_id = generation;
    for (int32_t i = 0; i < n_members; i++) {
        const struct group_load_member *lm = &members[i];
        struct group_member *m = rl_calloc(1, sizeof(*m));
        m->member_id = rl_strdup(lm->member_id);
        m->instance_id = dup_or_null(lm->instance_id);
        m->client_id = rl_strdup(lm->client_id ? lm->client_id : "");
        m->client_host = rl_strdup(lm->client_host ? lm->client_host : "");
        m->rebalance_timeout_ms = lm->rebalance_timeout_ms;
        m->session_timeout_ms = lm->session_timeout_ms;
        m->n_protocols = 1;
        struct group_protocol p = {.name = (char *)(protocol_name ? protocol_name : ""),
                                   .metadata = (uint8_t *)lm->subscription,
                                   .metadata_len = lm->subscription_len};
        m->protocols = protocols_dup(&p, 1);
        m->assignment_len = RL_MAX(lm->assignment_len, 0);
        m->assignment = rl_malloc(m->assignment_len + 1);
        if (m->assignment_len) memcpy(m->assignment, lm->assignment, m->assignment_len);
        timer_setup(&m->session_timer, session_expired, m);
        member_add(g, m);
        if (leader_id && strcmp(leader_id, m->member_id) == 0) g->leader = m;
    }
    if (n_members > 0) {
        set_str(&g->protocol_name, protocol_name);
        compute_subscribed(g);
        g->state = GROUP_STABLE;
        for (int32_t i = 0; i < g->n_members; i++)
            schedule_session(g->members[i], g->members[i]->session_timeout_ms);
    } else {
        set_str(&g->protocol_name, NULL);
        g->state = GROUP_EMPTY;
    }
    g->state_ts_ms = state_ts_ms > 0 ? state_ts_ms : wall_now(c);
}
