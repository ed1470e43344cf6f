/* SPDX-License-Identifier: Apache-2.0 */
/*
 * group_store.c - committed offsets and group metadata in the internal topic __consumer_offsets,
 * plus the broker glue of the group coordinator (broker_groups_init/_tick/_shutdown).
 *
 * Records use Kafka's formats, so tools that read __consumer_offsets understand them:
 *   offset commit  key v1: group, topic, partition      value v3: offset, leader epoch,
 *                                                                  metadata, commit timestamp
 *   group metadata key v2: group                        value v3: protocol type, generation,
 *                  protocol, leader, state timestamp, members (id, instance id, client id,
 *                  client host, rebalance/session timeouts, subscription, assignment)
 *   a null value is a tombstone (offset deleted, group deleted).
 * A group maps to partition abs(javaStringHashCode(group)) % offsets.topic.num.partitions.
 *
 * Invariants (on disk):
 *   1. Replaying a partition from its log start offset in order, last value per key winning and
 *      tombstones deleting, gives exactly the live state of that partition's groups.
 *   2. A snapshot (the full live state of a partition, appended in one write) is taken only when
 *      no append of that partition is in flight; once it is durable the log start offset moves
 *      to its first offset (storage_log_delete_records), so older segments are deleted and the
 *      log stays bounded (about segment.bytes + the snapshot threshold).
 *   3. An OffsetCommit is answered, and the cache updated, only after its append is durable.
 *   4. So is the leader's SyncGroup: the group becomes Stable and the members get their
 *      assignments once the group metadata record with the assignment is durable (Kafka's
 *      storeGroup); a write error is answered to every waiting member and the group rebalances.
 *
 *   commit:   group_store_commit -> storage_log_append(durable) -> commit_done -> cache + reply
 *   snapshot: maybe_snapshot (tick, or the last in-flight append done) -> snapshot_done ->
 *             storage_log_delete_records
 *   start-up: group_store_load -> storage_log_scan -> load_batch -> load_record
 */
#include <errno.h>
#include <string.h>

#include "group.h"
#include "topics.h"

#define SNAPSHOT_RECORDS       10000
#define SNAPSHOT_BYTES         (4 << 20)
#define SNAPSHOT_BATCH_RECORDS 500
#define OFFSETS_SEGMENT_BYTES  "8388608"

struct store_op;
struct store_part {
    struct storage_log *log;
    int64_t records_since_snapshot;
    int64_t bytes_since_snapshot;
    int32_t inflight;
    bool snapshot_inflight;
    /* appends submitted and not completed, oldest first (copied into a snapshot) */
    struct store_op *oldest, *newest;
};

struct group_store {
    struct group_coord *coord;
    struct store_part *parts;
    int32_t n_parts;
    int64_t snap_records;
    int64_t snap_bytes;
    int32_t inflight_total;
};

enum store_op_kind { OP_COMMIT, OP_PLAIN, OP_SNAPSHOT, OP_ASSIGNMENT };

struct store_op {
    struct store_op *prev, *next; /* the partition's in-flight list */
    bool listed;
    struct group_store *s;
    enum store_op_kind kind;
    int32_t part;
    struct proto_writer buf;
    int64_t nrecords;
    /* OP_COMMIT, OP_ASSIGNMENT */
    char *group_id;
    int32_t generation; /* OP_ASSIGNMENT */
    struct group_commit_offset *offs;
    int32_t n_offs;
    int64_t commit_ts;
    group_commit_cb cb;
    void *ctx;
};

static int64_t store_wall(struct group_store *s) {
    return s->coord->ops->wall_ms(s->coord->ops_ctx);
}

/* ---- record encoding ----------------------------------------------------------------------- */
static void w_str(struct proto_writer *w, const char *s) {
    proto_write_string(w, proto_str_c(s), false);
}

static void offset_key(struct proto_writer *w, const char *group, const char *topic, int32_t p) {
    proto_write_i16(w, 1);
    w_str(w, group);
    w_str(w, topic);
    proto_write_i32(w, p);
}

static void offset_value(struct proto_writer *w, int64_t offset, int32_t epoch, const char *md,
                         int64_t ts) {
    proto_write_i16(w, 3);
    proto_write_i64(w, offset);
    proto_write_i32(w, epoch);
    w_str(w, md ? md : "");
    proto_write_i64(w, ts);
}

static void group_key(struct proto_writer *w, const char *group) {
    proto_write_i16(w, 2);
    w_str(w, group);
}

static void group_value(struct proto_writer *w, const struct group *g) {
    proto_write_i16(w, 3);
    w_str(w, g->protocol_type ? g->protocol_type : "");
    proto_write_i32(w, g->generation_id);
    bool members = g->n_members > 0 && g->protocol_name &&
                   (g->state == GROUP_STABLE || g->state == GROUP_COMPLETING_REBALANCE);
    w_str(w, members ? g->protocol_name : NULL);
    w_str(w, members && g->leader ? g->leader->member_id : NULL);
    proto_write_i64(w, g->state_ts_ms);
    proto_write_i32(w, members ? g->n_members : 0);
    for (int32_t i = 0; members && i < g->n_members; i++) {
        const struct group_member *m = g->members[i];
        const struct group_protocol *p = group_member_protocol(m, g->protocol_name);
        w_str(w, m->member_id);
        w_str(w, m->instance_id);
        w_str(w, m->client_id);
        w_str(w, m->client_host);
        proto_write_i32(w, m->rebalance_timeout_ms);
        proto_write_i32(w, m->session_timeout_ms);
        proto_write_bytes(
            w, (struct proto_bytes){p ? p->metadata : (const uint8_t *)"", p ? p->metadata_len : 0},
            false);
        proto_write_bytes(w,
                          (struct proto_bytes){m->assignment ? m->assignment : (const uint8_t *)"",
                                               m->assignment ? m->assignment_len : 0},
                          false);
    }
}

/* Adds one record (value NULL = tombstone) to a batch builder. */
static void add_record(struct proto_batch_builder *bb, int64_t ts, struct proto_writer *k,
                       struct proto_writer *v) {
    struct proto_bytes key = {k->buf, (int32_t)k->len};
    struct proto_bytes val = v ? (struct proto_bytes){v->buf, (int32_t)v->len} : PROTO_BYTES_NULL;
    proto_batch_builder_add(bb, ts, key, val, NULL, 0);
}

/* ---- appends ------------------------------------------------------------------------------- */
static void maybe_snapshot(struct group_store *s, int32_t part);

static void op_free(struct store_op *op) {
    proto_writer_free(&op->buf);
    for (int32_t i = 0; i < op->n_offs; i++) {
        rl_free((char *)op->offs[i].topic);
        rl_free((char *)op->offs[i].metadata);
    }
    rl_free(op->offs);
    rl_free(op->group_id);
    rl_free(op);
}

static int16_t commit_error(int err) {
    if (err == -EMSGSIZE || err == -EBADMSG) return PROTO_ERR_INVALID_COMMIT_OFFSET_SIZE;
    return PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
}

static void op_done(struct store_op *op, int err, int64_t base_offset) {
    struct group_store *s = op->s;
    struct store_part *sp = &s->parts[op->part];
    sp->inflight--;
    s->inflight_total--;
    if (op->listed) {
        if (op->prev)
            op->prev->next = op->next;
        else
            sp->oldest = op->next;
        if (op->next)
            op->next->prev = op->prev;
        else
            sp->newest = op->prev;
        op->listed = false;
    }
    if (op->kind == OP_SNAPSHOT) sp->snapshot_inflight = false;
    struct group *g = op->group_id ? group_find(s->coord, op->group_id) : NULL;
    switch (op->kind) {
    case OP_COMMIT:
        if (g) g->inflight_commits--;
        if (!err && g) {
            for (int32_t i = 0; i < op->n_offs; i++) {
                const struct group_commit_offset *o = &op->offs[i];
                group_offset_set(g, o->topic, o->partition, o->offset, o->leader_epoch, o->metadata,
                                 op->commit_ts);
            }
        }
        if (err)
            rl_warn("group", "offset commit of group %s failed: %s", op->group_id,
                    rl_strerror(err));
        op->cb(op->ctx, err ? commit_error(err) : 0);
        break;
    case OP_SNAPSHOT:
        if (!err) {
            int rc = storage_log_delete_records(sp->log, base_offset);
            if (rc < 0)
                rl_warn("group", "__consumer_offsets-%d: truncation to %lld failed: %s", op->part,
                        (long long)base_offset, rl_strerror(rc));
            else
                rl_info("group", "__consumer_offsets-%d: snapshot of %lld records at %lld",
                        op->part, (long long)op->nrecords, (long long)base_offset);
        } else {
            sp->records_since_snapshot += SNAPSHOT_RECORDS; /* try again later */
        }
        break;
    case OP_PLAIN:
        if (err)
            rl_warn("group", "__consumer_offsets-%d: write failed: %s", op->part, rl_strerror(err));
        break;
    case OP_ASSIGNMENT:
        if (err)
            rl_warn("group", "__consumer_offsets-%d: write failed: %s", op->part, rl_strerror(err));
        /* Kafka's storeGroup error mapping: too large -> UNKNOWN_SERVER_ERROR, else the
         * coordinator is not available */
        group_assignment_stored(s->coord, op->group_id, op->generation,
                                !err ? 0
                                : err == -EMSGSIZE || err == -EBADMSG
                                    ? PROTO_ERR_UNKNOWN_SERVER_ERROR
                                    : PROTO_ERR_COORDINATOR_NOT_AVAILABLE);
        break;
    }
    op_free(op);
    maybe_snapshot(s, sp - s->parts);
}

static void append_cb(void *arg, int err, int64_t base_offset) {
    op_done(arg, err, base_offset);
}

/* Submits op->buf to the op's partition. Always ends in op_done (now on a synchronous error). */
static void op_submit(struct store_op *op) {
    struct group_store *s = op->s;
    struct store_part *sp = &s->parts[op->part];
    int64_t base = 0;
    sp->inflight++;
    s->inflight_total++;
    if (op->kind != OP_SNAPSHOT) {
        sp->records_since_snapshot += op->nrecords;
        sp->bytes_since_snapshot += (int64_t)op->buf.len;
    }
    if (op->kind != OP_SNAPSHOT) {
        op->prev = sp->newest;
        op->next = NULL;
        if (sp->newest)
            sp->newest->next = op;
        else
            sp->oldest = op;
        sp->newest = op;
        op->listed = true;
    } else {
        sp->snapshot_inflight = true;
    }
    int rc = storage_log_append(sp->log, op->buf.buf, op->buf.len, 0, true, append_cb, op, &base);
    if (rc < 0) op_done(op, rc, -1);
}

static struct store_op *op_new(struct group_store *s, enum store_op_kind kind, int32_t part) {
    struct store_op *op = rl_calloc(1, sizeof(*op));
    op->s = s;
    op->kind = kind;
    op->part = part;
    proto_writer_init(&op->buf);
    return op;
}

/* ---- public store operations --------------------------------------------------------------- */
void group_store_commit(struct group_store *s, struct group *g,
                        const struct group_commit_offset *offs, int32_t n, group_commit_cb cb,
                        void *ctx) {
    struct store_op *op = op_new(s, OP_COMMIT, g->partition);
    op->group_id = rl_strdup(g->group_id);
    op->cb = cb;
    op->ctx = ctx;
    op->commit_ts = store_wall(s);
    op->offs = rl_calloc(n > 0 ? n : 1, sizeof(*op->offs));
    op->n_offs = n;
    struct proto_batch_builder bb;
    struct proto_writer k, v;
    proto_writer_init(&k);
    proto_writer_init(&v);
    proto_batch_builder_init(&bb, op->commit_ts);
    for (int32_t i = 0; i < n; i++) {
        op->offs[i] = offs[i];
        op->offs[i].topic = rl_strdup(offs[i].topic);
        op->offs[i].metadata = rl_strdup(offs[i].metadata ? offs[i].metadata : "");
        proto_writer_reset(&k);
        proto_writer_reset(&v);
        offset_key(&k, g->group_id, offs[i].topic, offs[i].partition);
        offset_value(&v, offs[i].offset, offs[i].leader_epoch, offs[i].metadata, op->commit_ts);
        add_record(&bb, op->commit_ts, &k, &v);
    }
    op->nrecords = n;
    proto_batch_builder_finish(&bb, PROTO_COMPRESSION_NONE, &op->buf);
    proto_batch_builder_free(&bb);
    proto_writer_free(&k);
    proto_writer_free(&v);
    g->inflight_commits++;
    if (n == 0) {
        /* nothing to write: answer now (Kafka answers an empty commit with no error) */
        struct store_part *sp = &s->parts[op->part];
        sp->inflight++;
        s->inflight_total++;
        op_done(op, 0, -1);
        return;
    }
    op_submit(op);
}

/* One group metadata record of g's current state. */
static void write_group(struct group_store *s, struct group *g, enum store_op_kind kind) {
    struct store_op *op = op_new(s, kind, g->partition);
    if (kind == OP_ASSIGNMENT) {
        op->group_id = rl_strdup(g->group_id);
        op->generation = g->generation_id;
    }
    int64_t now = store_wall(s);
    struct proto_batch_builder bb;
    struct proto_writer k, v;
    proto_writer_init(&k);
    proto_writer_init(&v);
    group_key(&k, g->group_id);
    group_value(&v, g);
    proto_batch_builder_init(&bb, now);
    add_record(&bb, now, &k, &v);
    proto_batch_builder_finish(&bb, PROTO_COMPRESSION_NONE, &op->buf);
    proto_batch_builder_free(&bb);
    proto_writer_free(&k);
    proto_writer_free(&v);
    op->nrecords = 1;
    g->has_metadata_record = true;
    op_submit(op);
}

void group_store_write_group(struct group_store *s, struct group *g) {
    write_group(s, g, OP_PLAIN);
}

void group_store_write_assignment(struct group_store *s, struct group *g) {
    write_group(s, g, OP_ASSIGNMENT);
}

void group_store_delete_offsets(struct group_store *s, struct group *g, const char **topics,
                                const int32_t *partitions, int32_t n) {
    if (n <= 0) return;
    struct store_op *op = op_new(s, OP_PLAIN, g->partition);
    int64_t now = store_wall(s);
    struct proto_batch_builder bb;
    struct proto_writer k;
    proto_writer_init(&k);
    proto_batch_builder_init(&bb, now);
    for (int32_t i = 0; i < n; i++) {
        proto_writer_reset(&k);
        offset_key(&k, g->group_id, topics[i], partitions[i]);
        add_record(&bb, now, &k, NULL);
    }
    proto_batch_builder_finish(&bb, PROTO_COMPRESSION_NONE, &op->buf);
    proto_batch_builder_free(&bb);
    proto_writer_free(&k);
    op->nrecords = n;
    for (int32_t i = 0; i < n; i++)
        group_offset_delete(g, topics[i], partitions[i]);
    op_submit(op);
}

struct collect {
    const char **topics;
    int32_t *parts;
    int32_t n, cap;
};
static void collect_offset(void *arg, struct group_offset *o) {
    struct collect *c = arg;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->topics = rl_realloc(c->topics, sizeof(*c->topics) * c->cap);
        c->parts = rl_realloc(c->parts, sizeof(*c->parts) * c->cap);
    }
    c->topics[c->n] = o->topic;
    c->parts[c->n++] = o->partition;
}

void group_store_delete_group(struct group_store *s, struct group *g) {
    struct store_op *op = op_new(s, OP_PLAIN, g->partition);
    int64_t now = store_wall(s);
    struct collect col = {0};
    group_offset_foreach(g, collect_offset, &col);
    struct proto_batch_builder bb;
    struct proto_writer k;
    proto_writer_init(&k);
    proto_batch_builder_init(&bb, now);
    for (int32_t i = 0; i < col.n; i++) {
        proto_writer_reset(&k);
        offset_key(&k, g->group_id, col.topics[i], col.parts[i]);
        add_record(&bb, now, &k, NULL);
    }
    proto_writer_reset(&k);
    group_key(&k, g->group_id);
    add_record(&bb, now, &k, NULL);
    proto_batch_builder_finish(&bb, PROTO_COMPRESSION_NONE, &op->buf);
    proto_batch_builder_free(&bb);
    proto_writer_free(&k);
    op->nrecords = col.n + 1;
    rl_free(col.topics);
    rl_free(col.parts);
    rl_info("group", "group %s deleted", g->group_id);
    group_remove(s->coord, g);
    op_submit(op);
}

/* ---- snapshots ----------------------------------------------------------------------------- */
struct snap_ctx {
    struct group_store *s;
    int32_t part;
    struct proto_writer *out;
    struct proto_batch_builder bb;
    bool open;
    int32_t in_batch;
    int64_t now;
    int64_t nrecords;
    struct proto_writer k, v;
    const char *group_id;
};

static void snap_flush(struct snap_ctx *c) {
    if (!c->open) return;
    proto_batch_builder_finish(&c->bb, PROTO_COMPRESSION_NONE, c->out);
    proto_batch_builder_free(&c->bb);
    c->open = false;
    c->in_batch = 0;
}

static void snap_add(struct snap_ctx *c, bool has_value) {
    if (!c->open) {
        proto_batch_builder_init(&c->bb, c->now);
        c->open = true;
    }
    add_record(&c->bb, c->now, &c->k, has_value ? &c->v : NULL);
    c->nrecords++;
    if (++c->in_batch >= SNAPSHOT_BATCH_RECORDS) snap_flush(c);
}

static void snap_offset(void *arg, struct group_offset *o) {
    struct snap_ctx *c = arg;
    proto_writer_reset(&c->k);
    proto_writer_reset(&c->v);
    offset_key(&c->k, c->group_id, o->topic, o->partition);
    offset_value(&c->v, o->offset, o->leader_epoch, o->metadata, o->commit_ts_ms);
    snap_add(c, true);
}

static void snap_group(void *arg, struct group *g) {
    struct snap_ctx *c = arg;
    if (g->partition != c->part) return;
    c->group_id = g->group_id;
    if (g->has_metadata_record || g->n_members > 0) {
        proto_writer_reset(&c->k);
        proto_writer_reset(&c->v);
        group_key(&c->k, g->group_id);
        group_value(&c->v, g);
        snap_add(c, true);
    }
    group_offset_foreach(g, snap_offset, c);
}

static void maybe_snapshot(struct group_store *s, int32_t part) {
    struct store_part *sp = &s->parts[part];
    if (sp->snapshot_inflight) return;
    if (sp->records_since_snapshot < s->snap_records && sp->bytes_since_snapshot < s->snap_bytes)
        return;
    struct store_op *op = op_new(s, OP_SNAPSHOT, part);
    struct snap_ctx c = {.s = s, .part = part, .out = &op->buf, .now = store_wall(s)};
    proto_writer_init(&c.k);
    proto_writer_init(&c.v);
    group_foreach(s->coord, snap_group, &c);
    snap_flush(&c);
    /* Appends still in flight come after the cache state, in their order: the cache already
     * holds their deletions and metadata but not their commits, and replaying them again
     * after the cache state gives the same result as the log itself. If one of them fails,
     * the log is failed and so is this later snapshot append, which then truncates nothing. */
    for (struct store_op *o = sp->oldest; o; o = o->next) {
        proto_write_raw(&op->buf, o->buf.buf, o->buf.len);
        c.nrecords += o->nrecords;
    }
    proto_writer_free(&c.k);
    proto_writer_free(&c.v);
    sp->records_since_snapshot = 0;
    sp->bytes_since_snapshot = 0;
    op->nrecords = c.nrecords;
    if (c.nrecords == 0) {
        /* nothing live: everything up to the end can go */
        int64_t end = storage_log_end_offset(sp->log);
        int rc = storage_log_delete_records(sp->log, end);
        if (rc < 0)
            rl_warn("group", "__consumer_offsets-%d: truncation failed: %s", part, rl_strerror(rc));
        op_free(op);
        return;
    }
    op_submit(op);
}

void group_store_set_snapshot_threshold(struct group_store *s, int64_t records, int64_t bytes) {
    s->snap_records = records;
    s->snap_bytes = bytes;
}

struct storage_log *group_store_log(struct group_store *s, int32_t partition) {
    return partition >= 0 && partition < s->n_parts ? s->parts[partition].log : NULL;
}

/* ---- loading ------------------------------------------------------------------------------- */
static char *r_str(struct proto_reader *r, struct proto_arena *a) {
    struct proto_str st = proto_read_string(r, false);
    if (r->err || st.len < 0) return NULL;
    char *s = proto_arena_alloc(a, (size_t)st.len + 1);
    memcpy(s, st.ptr, st.len);
    s[st.len] = 0;
    return s;
}

static void load_offset(struct group_store *s, struct proto_reader *kr, struct proto_bytes val,
                        struct proto_arena *a) {
    char *group = r_str(kr, a);
    char *topic = r_str(kr, a);
    int32_t part = proto_read_i32(kr);
    if (kr->err || !group || !topic) return;
    struct group *g = group_find(s->coord, group);
    if (val.len < 0) {
        if (g) group_offset_delete(g, topic, part);
        return;
    }
    struct proto_reader r;
    proto_reader_init(&r, val.ptr, val.len);
    int16_t ver = proto_read_i16(&r);
    int64_t offset = proto_read_i64(&r);
    int32_t epoch = -1;
    if (ver >= 3) epoch = proto_read_i32(&r);
    char *md = r_str(&r, a);
    int64_t ts = proto_read_i64(&r);
    if (r.err || ver < 0 || ver > 3) {
        rl_warn("group", "skipping an unreadable offset record of group %s", group);
        return;
    }
    if (!g) g = group_get_or_create(s->coord, group);
    group_offset_set(g, topic, part, offset, epoch, md ? md : "", ts);
}

static void load_group(struct group_store *s, struct proto_reader *kr, struct proto_bytes val,
                       struct proto_arena *a) {
    char *group = r_str(kr, a);
    if (kr->err || !group) return;
    struct group *g = group_find(s->coord, group);
    if (val.len < 0) {
        if (g) {
            group_load_clear(s->coord, g);
            g->generation_id = 0;
            if (g->n_offsets == 0) group_remove(s->coord, g);
        }
        return;
    }
    struct proto_reader r;
    proto_reader_init(&r, val.ptr, val.len);
    int16_t ver = proto_read_i16(&r);
    char *ptype = r_str(&r, a);
    int32_t gen = proto_read_i32(&r);
    char *proto = r_str(&r, a);
    char *leader = r_str(&r, a);
    int64_t ts = ver >= 2 ? proto_read_i64(&r) : -1;
    int32_t n = proto_read_i32(&r);
    if (r.err || ver < 0 || ver > 3 || n < 0 || (size_t)n > proto_reader_remaining(&r)) {
        rl_warn("group", "skipping an unreadable metadata record of group %s", group);
        return;
    }
    struct group_load_member *m = proto_arena_alloc(a, sizeof(*m) * (size_t)(n ? n : 1));
    for (int32_t i = 0; i < n; i++) {
        m[i].member_id = r_str(&r, a);
        m[i].instance_id = ver >= 3 ? r_str(&r, a) : NULL;
        m[i].client_id = r_str(&r, a);
        m[i].client_host = r_str(&r, a);
        m[i].rebalance_timeout_ms = ver >= 1 ? proto_read_i32(&r) : -1;
        m[i].session_timeout_ms = proto_read_i32(&r);
        if (m[i].rebalance_timeout_ms < 0) m[i].rebalance_timeout_ms = m[i].session_timeout_ms;
        struct proto_bytes sub = proto_read_bytes(&r, false);
        struct proto_bytes asg = proto_read_bytes(&r, false);
        m[i].subscription = sub.ptr;
        m[i].subscription_len = RL_MAX(sub.len, 0);
        m[i].assignment = asg.ptr;
        m[i].assignment_len = RL_MAX(asg.len, 0);
        if (r.err || !m[i].member_id) {
            rl_warn("group", "skipping an unreadable metadata record of group %s", group);
            return;
        }
    }
    if (!g) g = group_get_or_create(s->coord, group);
    group_load_metadata(s->coord, g, ptype, gen, proto, leader, ts, m, n);
}

struct load_ctx {
    struct group_store *s;
    int32_t part;
    int64_t start;
    int64_t records;
    int64_t bytes;
    struct proto_arena arena;
};

static int load_batch(void *arg, const uint8_t *batch, size_t len) {
    struct load_ctx *lc = arg;
    struct proto_batch_header h;
    if (proto_batch_header_parse(batch, len, &h) < 0) return 0;
    if (h.BaseOffset + h.LastOffsetDelta < lc->start) return 0;
    if (h.Attributes & PROTO_ATTR_CONTROL) return 0;
    lc->bytes += (int64_t)len;
    struct proto_record_iter it;
    proto_arena_reset(&lc->arena);
    if (proto_record_iter_init(&it, batch, len, &lc->arena, 64u << 20) < 0) return 0;
    struct proto_record rec;
    while (proto_record_iter_next(&it, &rec) == 1) {
        if (h.BaseOffset + rec.OffsetDelta < lc->start) continue;
        lc->records++;
        if (rec.Key.len < 2) continue;
        struct proto_reader kr;
        proto_reader_init(&kr, rec.Key.ptr, rec.Key.len);
        int16_t kv = proto_read_i16(&kr);
        if (kv == 0 || kv == 1)
            load_offset(lc->s, &kr, rec.Value, &lc->arena);
        else if (kv == 2)
            load_group(lc->s, &kr, rec.Value, &lc->arena);
    }
    return 0;
}

static void drop_empty(void *arg, struct group *g) {
    struct group_store *s = arg;
    if (g->n_members == 0 && g->n_offsets == 0 && !g->has_metadata_record)
        group_remove(s->coord, g);
}

int group_store_load(struct group_store *s) {
    int64_t t0 = rl_mono_ms();
    for (int32_t p = 0; p < s->n_parts; p++) {
        struct store_part *sp = &s->parts[p];
        struct load_ctx lc = {.s = s, .part = p, .start = storage_log_start_offset(sp->log)};
        proto_arena_init(&lc.arena);
        int rc = storage_log_scan(sp->log, lc.start, load_batch, &lc);
        proto_arena_destroy(&lc.arena);
        if (rc < 0) {
            rl_error("group", "loading __consumer_offsets-%d failed: %s", p, rl_strerror(rc));
            return rc;
        }
        sp->records_since_snapshot = lc.records;
        sp->bytes_since_snapshot = lc.bytes;
    }
    group_foreach(s->coord, drop_empty, s);
    rl_info("group", "loaded %u groups from __consumer_offsets in %lld ms", s->coord->n_groups,
            (long long)(rl_mono_ms() - t0));
    return 0;
}

struct group_store *group_store_open(struct group_coord *c, struct storage_log **logs, int32_t n) {
    struct group_store *s = rl_calloc(1, sizeof(*s));
    s->coord = c;
    s->n_parts = n;
    s->parts = rl_calloc(n, sizeof(*s->parts));
    for (int32_t i = 0; i < n; i++)
        s->parts[i].log = logs[i];
    s->snap_records = SNAPSHOT_RECORDS;
    s->snap_bytes = SNAPSHOT_BYTES;
    return s;
}

void group_store_close(struct group_store *s) {
    if (!s) return;
    rl_free(s->parts);
    rl_free(s);
}

/* ---- expiry -------------------------------------------------------------------------------- */
struct expire_ctx {
    struct group_store *s;
    struct group *g;
    int64_t now;
    int64_t retention;
    bool (*topic_exists)(void *arg, const char *topic, int32_t partition);
    void *arg;
    struct collect col;
    struct group **dead;
    int32_t n_dead, cap_dead;
};

static void expire_offset(void *arg, struct group_offset *o) {
    struct expire_ctx *e = arg;
    struct group *g = e->g;
    bool drop = false;
    if (e->topic_exists && !e->topic_exists(e->arg, o->topic, o->partition)) {
        drop = true;
    } else if (o->commit_ts_ms + e->retention <= e->now) {
        if (g->state == GROUP_EMPTY)
            drop = g->state_ts_ms + e->retention <= e->now;
        else if (g->subscribed_known)
            drop = !group_subscribed_to(g, o->topic);
    }
    if (drop) collect_offset(&e->col, o);
}

static void expire_group(void *arg, struct group *g) {
    struct expire_ctx *e = arg;
    e->g = g;
    e->col.n = 0;
    group_offset_foreach(g, expire_offset, e);
    if (e->col.n) {
        rl_info("group", "group %s: removing %d expired or orphaned offsets", g->group_id,
                e->col.n);
        /* the names point into the offsets being deleted: copy them first */
        char **names = rl_calloc(e->col.n, sizeof(char *));
        for (int32_t i = 0; i < e->col.n; i++)
            names[i] = rl_strdup(e->col.topics[i]);
        group_store_delete_offsets(e->s, g, (const char **)names, e->col.parts, e->col.n);
        for (int32_t i = 0; i < e->col.n; i++)
            rl_free(names[i]);
        rl_free(names);
    }
    /* as Kafka: an empty group without offsets is removed at the next cleanup */
    if (g->state == GROUP_EMPTY && g->n_offsets == 0 && g->n_members == 0 && g->n_pending == 0 &&
        g->inflight_commits == 0) {
        if (e->n_dead == e->cap_dead) {
            e->cap_dead = e->cap_dead ? e->cap_dead * 2 : 8;
            e->dead = rl_realloc(e->dead, sizeof(*e->dead) * e->cap_dead);
        }
        e->dead[e->n_dead++] = g;
    }
}

void group_store_expire(struct group_store *s, int64_t now_wall_ms, int64_t retention_ms,
                        bool (*topic_exists)(void *arg, const char *topic, int32_t partition),
                        void *arg) {
    struct expire_ctx e = {.s = s,
                           .now = now_wall_ms,
                           .retention = retention_ms,
                           .topic_exists = topic_exists,
                           .arg = arg};
    group_foreach(s->coord, expire_group, &e);
    for (int32_t i = 0; i < e.n_dead; i++)
        group_store_delete_group(s, e.dead[i]);
    rl_free(e.dead);
    rl_free(e.col.topics);
    rl_free(e.col.parts);
}

/* ---- broker glue --------------------------------------------------------------------------- */
static int64_t b_mono(void *ctx) {
    return rl_mono_ms();
}
static int64_t b_wall(void *ctx) {
    return rl_now_ms();
}
static void b_arm(void *ctx, struct broker_timer *t, int64_t deadline) {
    struct broker_groups *gs = ctx;
    broker_timer_arm(gs->b, t, deadline);
}
static void b_cancel(void *ctx, struct broker_timer *t) {
    struct broker_groups *gs = ctx;
    broker_timer_cancel(gs->b, t);
}
static void b_changed(void *ctx, struct group *g) {
    struct broker_groups *gs = ctx;
    if (gs->store) group_store_write_group(gs->store, g);
}
static void b_store_assignment(void *ctx, struct group *g) {
    struct broker_groups *gs = ctx;
    if (gs->store)
        group_store_write_assignment(gs->store, g);
    else
        group_assignment_stored(gs->coord, g->group_id, g->generation_id,
                                PROTO_ERR_COORDINATOR_NOT_AVAILABLE);
}
static const struct group_coord_ops broker_group_ops = {b_mono,   b_wall,    b_arm,
                                                        b_cancel, b_changed, b_store_assignment};

static bool topic_exists(void *arg, const char *topic, int32_t partition) {
    struct broker *b = arg;
    struct broker_topic *t = broker_topic_find(b, topic, strlen(topic));
    return t && partition >= 0 && partition < broker_topic_partition_count(t);
}

int broker_groups_init(struct broker *b) {
    struct broker_groups *gs = rl_calloc(1, sizeof(*gs));
    gs->b = b;
    struct group_coord_config cfg = {
        .initial_rebalance_delay_ms = (int32_t)b->cfg.group_initial_rebalance_delay_ms,
        .min_session_timeout_ms = (int32_t)b->cfg.group_min_session_timeout_ms,
        .max_session_timeout_ms = (int32_t)b->cfg.group_max_session_timeout_ms,
        .max_size = (int32_t)b->cfg.group_max_size,
        .num_partitions = (int32_t)b->cfg.offsets_topic_num_partitions,
    };
    struct broker_topic *t = broker_topic_find(b, "__consumer_offsets", 18);
    if (!t) {
        /* compacted in Kafka; here snapshots keep it bounded, and it must never expire */
        static const char *const names[] = {"cleanup.policy", "retention.ms", "retention.bytes",
                                            "segment.bytes"};
        static const char *const values[] = {"compact", "-1", "-1", OFFSETS_SEGMENT_BYTES};
        char err[256] = "";
        int rc = broker_topic_create(b, "__consumer_offsets", cfg.num_partitions, names, values,
                                     (int32_t)RL_ARRAY_SIZE(names), true, &t, err, sizeof(err));
        if (rc != 0) {
            rl_error("group", "cannot create __consumer_offsets: %s (%s)", err,
                     proto_error_name((int16_t)rc));
            rl_free(gs);
            return -EIO;
        }
    }
    int32_t n = broker_topic_partition_count(t);
    if (n != cfg.num_partitions)
        rl_warn("group",
                "__consumer_offsets has %d partitions, offsets.topic.num.partitions is %d: "
                "using %d",
                n, cfg.num_partitions, n);
    cfg.num_partitions = n;
    struct storage_log **logs = rl_calloc(n, sizeof(*logs));
    for (int32_t i = 0; i < n; i++)
        logs[i] = broker_partition_log(broker_partition_get(t, i));
    gs->coord = group_coord_create(&cfg, &broker_group_ops, gs);
    gs->store = group_store_open(gs->coord, logs, n);
    rl_free(logs);
    b->groups = gs;
    int rc = group_store_load(gs->store);
    if (rc < 0) {
        broker_groups_shutdown(b);
        return rc;
    }
    gs->last_expiry_ms = rl_now_ms();
    return 0;
}

void broker_groups_tick(struct broker *b, int64_t now_ms) {
    struct broker_groups *gs = b->groups;
    if (!gs) return;
    for (int32_t p = 0; p < gs->store->n_parts; p++)
        maybe_snapshot(gs->store, p);
    if (now_ms - gs->last_expiry_ms < b->cfg.offsets_retention_check_interval_ms) return;
    gs->last_expiry_ms = now_ms;
    group_store_expire(gs->store, now_ms, b->cfg.offsets_retention_minutes * 60000, topic_exists,
                       b);
}

void broker_groups_topic_deleted(struct broker *b, const char *topic) {
    struct broker_groups *gs = b->groups;
    if (!gs || !gs->store) return;
    /* Kafka drops a deleted topic's committed offsets at once, so a topic re-created under the
     * same name starts without them. The topic is already gone from the registry: run the
     * orphan check now, with a retention no offset can reach. */
    rl_debug("group", "topic %s deleted: removing its committed offsets", topic);
    group_store_expire(gs->store, rl_now_ms(), INT64_MAX / 4, topic_exists, b);
}

void broker_groups_shutdown(struct broker *b) {
    struct broker_groups *gs = b->groups;
    if (!gs) return;
    /* let in-flight appends complete: their callbacks use the store */
    for (int i = 0; i < 500 && gs->store->inflight_total > 0 && b->storage; i++)
        storage_engine_wait(b->storage, 10);
    if (gs->store->inflight_total > 0)
        rl_warn("group", "%d __consumer_offsets writes still in flight at shutdown",
                gs->store->inflight_total);
    struct group_coord *c = gs->coord;
    group_store_close(gs->store);
    gs->store = NULL;
    group_coord_destroy(c);
    rl_free(gs);
    b->groups = NULL;
}
