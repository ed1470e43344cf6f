/* SPDX-License-Identifier: Apache-2.0 */
/*
 * consumer.c - the single-threaded consumer (see client.h section 12): positions per assigned
 * partition, Fetch rounds grouped by leader, OFFSET_OUT_OF_RANGE recovery, and classic group
 * membership (JoinGroup with MEMBER_ID_REQUIRED handling, leader-side assignment, SyncGroup,
 * Heartbeat, OffsetFetch/OffsetCommit, LeaveGroup).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"
#include "ringlet/common.h"

RINGLET_CODEC(JoinGroup)
RINGLET_CODEC(SyncGroup)
RINGLET_CODEC(Heartbeat)
RINGLET_CODEC(LeaveGroup)
RINGLET_CODEC(OffsetFetch)
RINGLET_CODEC(OffsetCommit)

struct cpart {
    int32_t partition;
    int32_t leader;
    int64_t position;  /* next offset to fetch; -1 = resolve from conf.start */
    int64_t hwm;       /* from the last fetch; -1 before */
    int64_t committed; /* last committed position (group mode) */
};

struct ringlet_consumer {
    struct ringlet_client *cl;
    struct ringlet_consumer_conf conf;
    char *group;
    char *assignor;
    char *topic;
    struct cpart *p;
    int np;
    bool subscribed;
    struct ringlet_conn *coord; /* owned by the client's connection cache */
    char *member_id;
    int32_t generation;
    int64_t last_heartbeat_ms, last_commit_ms;
    struct ringlet_conn *async_conn; /* where async commits are in flight (NULL = none) */
    int async_inflight;
    bool stop_round;
    char last_error[256];
};

#define SET_ERR(c, ...) snprintf((c)->last_error, sizeof((c)->last_error), __VA_ARGS__)

int64_t ringlet_start_resolve(const struct ringlet_start *s, int64_t log_start, int64_t log_end) {
    int64_t o;
    switch (s->kind) {
    case RINGLET_START_EARLIEST:
        return log_start;
    case RINGLET_START_LATEST:
        return log_end;
    case RINGLET_START_OFFSET:
        o = s->value;
        break;
    case RINGLET_START_AFTER_EARLIEST:
        o = s->value > INT64_MAX - log_start ? INT64_MAX : log_start + s->value;
        break;
    case RINGLET_START_BEFORE_LATEST:
        o = log_end - s->value;
        break;
    default:
        o = log_start;
    }
    if (o < log_start) o = log_start;
    if (o > log_end) o = log_end;
    return o;
}

void ringlet_consumer_conf_init(struct ringlet_consumer_conf *cc) {
    memset(cc, 0, sizeof(*cc));
    cc->session_timeout_ms = 10000;
    cc->rebalance_timeout_ms = 30000;
    cc->heartbeat_interval_ms = 3000;
    cc->auto_commit_interval_ms = 5000;
    cc->partition_max_bytes = 1024 * 1024;
    cc->start.kind = RINGLET_START_EARLIEST;
}

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int ringlet_consumer_new(struct ringlet_client *cl, const struct ringlet_consumer_conf *cc,
                         struct ringlet_consumer **out, char *errbuf, size_t errlen) {
    struct ringlet_consumer *c = rl_calloc(1, sizeof(*c));
    c->cl = cl;
    if (cc)
        c->conf = *cc;
    else
        ringlet_consumer_conf_init(&c->conf);
    if (c->conf.assignor && strcmp(c->conf.assignor, "range") != 0 &&
        strcmp(c->conf.assignor, "roundrobin") != 0) {
        if (errbuf && errlen) snprintf(errbuf, errlen, "unknown assignor '%s'", c->conf.assignor);
        rl_free(c);
        return -EINVAL;
    }
    if (c->conf.session_timeout_ms <= 0) c->conf.session_timeout_ms = 10000;
    if (c->conf.rebalance_timeout_ms <= 0) c->conf.rebalance_timeout_ms = 30000;
    if (c->conf.heartbeat_interval_ms <= 0) c->conf.heartbeat_interval_ms = 3000;
    if (c->conf.partition_max_bytes <= 0) c->conf.partition_max_bytes = 1024 * 1024;
    c->group = c->conf.group_id ? rl_strdup(c->conf.group_id) : NULL;
    c->assignor = c->conf.assignor ? rl_strdup(c->conf.assignor) : NULL;
    c->conf.group_id = c->group;
    c->conf.assignor = c->assignor;
    c->generation = -1;
    *out = c;
    return 0;
}

const char *ringlet_consumer_last_error(const struct ringlet_consumer *c) {
    return c->last_error;
}

int ringlet_consumer_assignment_size(const struct ringlet_consumer *c) {
    return c->np;
}

/* Fresh leaders for the assigned partitions; with only != NULL (or n_only < 0 = all) it also
 * (re)builds the assignment. Returns 0, -ENOENT (topic or partition missing) or a network
 * error. */
static int load_partitions(struct ringlet_consumer *c, bool rebuild, const int32_t *only,
                           int n_only) {
    struct ringlet_metadata *md = NULL;
    const char *name = c->topic;
    int err =
        ringlet_metadata_get(c->cl, &name, 1, false, &md, c->last_error, sizeof(c->last_error));
    if (err) return err;
    const struct ringlet_topic_md *t = ringlet_metadata_topic(md, name);
    if (t == NULL || t->error) {
        SET_ERR(c, "topic %s: %s", name,
                proto_error_name(t ? t->error : PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION));
        ringlet_metadata_free(md);
        return -ENOENT;
    }
    if (rebuild) {
        rl_free(c->p);
        int n = n_only >= 0 ? n_only : t->n_partitions;
        c->p = rl_calloc((size_t)n + 1, sizeof(*c->p));
        for (int i = 0; i < n; i++) {
            c->p[i].partition = n_only >= 0 ? only[i] : t->partitions[i].partition;
            c->p[i].position = c->p[i].hwm = c->p[i].committed = -1;
        }
        c->np = n;
    }
    err = 0;
    for (int i = 0; i < c->np; i++) {
        c->p[i].leader = -1;
        bool exists = false;
        for (int32_t k = 0; k < t->n_partitions; k++)
            if (t->partitions[k].partition == c->p[i].partition) {
                c->p[i].leader = t->partitions[k].leader;
                exists = true;
            }
        if (!exists) {
            SET_ERR(c, "topic %s has no partition %" PRId32, name, c->p[i].partition);
            err = -ENOENT;
        }
    }
    ringlet_metadata_free(md);
    return err;
}

/* Resolves every position that is -1 from conf.start (or `start` if non-NULL). */
static int resolve_start(struct ringlet_consumer *c, const struct ringlet_start *start) {
    const struct ringlet_start *spec = start ? start : &c->conf.start;
    struct ringlet_metadata *md = NULL;
    const char *name = c->topic;
    int err =
        ringlet_metadata_get(c->cl, &name, 1, false, &md, c->last_error, sizeof(c->last_error));
    if (err) return err;
    const struct ringlet_topic_md *t = ringlet_metadata_topic(md, name);
    int32_t *ids = rl_calloc((size_t)c->np + 1, sizeof(int32_t));
    int *idx = rl_calloc((size_t)c->np + 1, sizeof(int));
    int n = 0;
    for (int i = 0; i < c->np; i++)
        if (c->p[i].position < 0) {
            idx[n] = i;
            ids[n++] = c->p[i].partition;
        }
    if (n > 0 && t == NULL) {
        SET_ERR(c, "topic %s vanished", name);
        err = -ENOENT;
    } else if (n > 0) {
        int64_t *lo = rl_calloc((size_t)n, sizeof(int64_t));
        int64_t *hi = rl_calloc((size_t)n, sizeof(int64_t));
        int64_t *at = rl_calloc((size_t)n, sizeof(int64_t));
        int16_t *e1 = rl_calloc((size_t)n, sizeof(int16_t));
        int16_t *e2 = rl_calloc((size_t)n, sizeof(int16_t));
        int16_t *e3 = rl_calloc((size_t)n, sizeof(int16_t));
        char eb[256];
        ringlet_list_offsets(c->cl, t, ids, n, RINGLET_OFFSET_EARLIEST, lo, e1, eb, sizeof(eb));
        ringlet_list_offsets(c->cl, t, ids, n, RINGLET_OFFSET_LATEST, hi, e2, eb, sizeof(eb));
        if (spec->kind == RINGLET_START_TIMESTAMP)
            ringlet_list_offsets(c->cl, t, ids, n, spec->value, at, e3, eb, sizeof(eb));
        for (int k = 0; k < n; k++) {
            struct cpart *p = &c->p[idx[k]];
            int16_t ec = e1[k] ? e1[k] : e2[k] ? e2[k] : e3[k];
            if (ec) {
                SET_ERR(c, "offsets of %s/%" PRId32 ": %s", name, p->partition,
                        proto_error_name(ec));
                err = -EIO;
                continue;
            }
            if (spec->kind == RINGLET_START_TIMESTAMP)
                p->position = at[k] >= 0 ? at[k] : hi[k];
            else
                p->position = ringlet_start_resolve(spec, lo[k], hi[k]);
            p->hwm = hi[k];
        }
        rl_free(lo);
        rl_free(hi);
        rl_free(at);
        rl_free(e1);
        rl_free(e2);
        rl_free(e3);
    }
    rl_free(ids);
    rl_free(idx);
    ringlet_metadata_free(md);
    return err;
}

int ringlet_consumer_assign(struct ringlet_consumer *c, const char *topic, const int32_t *parts,
                            int n) {
    rl_free(c->topic);
    c->topic = rl_strdup(topic);
    c->subscribed = false;
    int err = load_partitions(c, true, parts, n < 0 ? -1 : n);
    if (err == 0) err = resolve_start(c, NULL);
    return err;
}

int ringlet_consumer_seek(struct ringlet_consumer *c, int32_t partition, int64_t offset) {
    for (int i = 0; i < c->np; i++)
        if (c->p[i].partition == partition) {
            c->p[i].position = offset;
            return 0;
        }
    return -ENOENT;
}

bool ringlet_consumer_at_end(const struct ringlet_consumer *c) {
    for (int i = 0; i < c->np; i++)
        if (c->p[i].hwm < 0 || c->p[i].position < c->p[i].hwm) return false;
    return true;
}

/* ---- group membership ------------------------------------------------------------------------ */

/* One OffsetCommit in flight (asynchronous) or being built (synchronous). */
struct commit_req {
    struct ringlet_consumer *c;
    int n;
    int32_t *parts;
    int64_t *offs;
    int16_t version;
};

/* Builds an OffsetCommit for every position that moved; returns false if there is none. The
 * request's arrays are in arena a. */
static bool commit_build(struct ringlet_consumer *c, struct proto_arena *a,
                         struct OffsetCommitRequest *req, struct commit_req *cr) {
    struct OffsetCommitRequest_OffsetCommitRequestPartition *pp =
        proto_arena_alloc(a, sizeof(*pp) * ((size_t)c->np + 1));
    cr->c = c;
    cr->n = 0;
    cr->parts = rl_calloc((size_t)c->np + 1, sizeof(int32_t));
    cr->offs = rl_calloc((size_t)c->np + 1, sizeof(int64_t));
    for (int i = 0; i < c->np; i++) {
        if (c->p[i].position < 0 || c->p[i].position == c->p[i].committed) continue;
        proto_OffsetCommitRequest_OffsetCommitRequestPartition_init(&pp[cr->n]);
        pp[cr->n].PartitionIndex = c->p[i].partition;
        pp[cr->n].CommittedOffset = c->p[i].position;
        pp[cr->n].CommittedMetadata = proto_str_c("");
        cr->parts[cr->n] = c->p[i].partition;
        cr->offs[cr->n] = c->p[i].position;
        cr->n++;
    }
    c->last_commit_ms = rl_mono_ms();
    if (cr->n == 0) return false;
    struct OffsetCommitRequest_OffsetCommitRequestTopic *tp = proto_arena_alloc(a, sizeof(*tp));
    proto_OffsetCommitRequest_OffsetCommitRequestTopic_init(tp);
    tp->Name = proto_str_c(c->topic);
    tp->Partitions = pp;
    tp->n_Partitions = cr->n;
    proto_OffsetCommitRequest_init(req);
    req->GroupId = proto_str_c(c->group);
    req->GenerationIdOrMemberEpoch = c->generation;
    req->MemberId = proto_str_c(c->member_id ? c->member_id : "");
    req->Topics = tp;
    req->n_Topics = 1;
    return true;
}

static void commit_req_free(struct commit_req *cr) {
    rl_free(cr->parts);
    rl_free(cr->offs);
}

/* Applies an OffsetCommit answer: the committed offsets move to what this request sent.
 * Returns 0 or -EIO (message in last_error). */
static int commit_apply(struct commit_req *cr, const struct OffsetCommitResponse *resp) {
    struct ringlet_consumer *c = cr->c;
    int rc = 0;
    for (int32_t t = 0; t < resp->n_Topics; t++)
        for (int32_t k = 0; k < resp->Topics[t].n_Partitions; k++) {
            const struct OffsetCommitResponse_OffsetCommitResponsePartition *r =
                &resp->Topics[t].Partitions[k];
            for (int q = 0; q < cr->n; q++) {
                if (cr->parts[q] != r->PartitionIndex) continue;
                if (r->ErrorCode != 0) {
                    SET_ERR(c, "commit %s/%" PRId32 ": %s", c->topic, r->PartitionIndex,
                            proto_error_name(r->ErrorCode));
                    rc = -EIO;
                    continue;
                }
                for (int i = 0; i < c->np; i++)
                    if (c->p[i].partition == cr->parts[q]) c->p[i].committed = cr->offs[q];
            }
        }
    return rc;
}

int ringlet_consumer_commit(struct ringlet_consumer *c) {
    if (c->group == NULL || c->coord == NULL || !ringlet_conn_is_open(c->coord)) return 0;
    if (c->async_inflight > 0 && c->async_conn != NULL)
        ringlet_conn_drain(c->async_conn, true, c->cl->conf.request_timeout_ms);
    struct proto_arena a;
    proto_arena_init(&a);
    struct OffsetCommitRequest req;
    struct commit_req cr;
    int rc = 0;
    if (commit_build(c, &a, &req, &cr)) {
        struct OffsetCommitResponse resp;
        struct ringlet_resp frame = {0};
        int e =
            ringlet_call(c->coord, PROTO_API_KEY_OFFSET_COMMIT, 2, 8,
                         ringlet_enc_OffsetCommitRequest, &req, ringlet_dec_OffsetCommitResponse,
                         &resp, &a, &frame, c->cl->conf.request_timeout_ms, NULL);
        if (e != 0) {
            SET_ERR(c, "OffsetCommit: %s", rl_strerror(e));
            rc = -EIO;
        } else {
            rc = commit_apply(&cr, &resp);
        }
        ringlet_resp_free(&frame);
    }
    commit_req_free(&cr);
    proto_arena_destroy(&a);
    return rc;
}

static void commit_done(void *opaque, int err, struct ringlet_resp *frame) {
    struct commit_req *cr = opaque;
    struct ringlet_consumer *c = cr->c;
    int rc;
    if (err != 0) {
        SET_ERR(c, "OffsetCommit: %s", rl_strerror(err));
        rc = -EIO;
    } else {
        struct proto_arena a;
        proto_arena_init(&a);
        struct OffsetCommitResponse resp;
        proto_OffsetCommitResponse_init(&resp);
        if (proto_OffsetCommitResponse_decode(&frame->r, cr->version, &a, &resp) < 0) {
            SET_ERR(c, "OffsetCommit: malformed response");
            rc = -EIO;
        } else {
            rc = commit_apply(cr, &resp);
        }
        proto_arena_destroy(&a);
    }
    if (--c->async_inflight == 0) c->async_conn = NULL;
    if (c->conf.commit_cb) c->conf.commit_cb(c->conf.commit_opaque, rc);
    commit_req_free(cr);
    rl_free(cr);
}

int ringlet_consumer_commit_async(struct ringlet_consumer *c) {
    if (c->group == NULL || c->coord == NULL || !ringlet_conn_is_open(c->coord)) return 0;
    /* In-flight commits on another (older) coordinator connection complete first. */
    if (c->async_inflight > 0 && c->async_conn != c->coord)
        ringlet_conn_drain(c->async_conn, true, c->cl->conf.request_timeout_ms);
    int16_t v = ringlet_conn_pick_version(c->coord, PROTO_API_KEY_OFFSET_COMMIT, 2, 8);
    if (v < 0) {
        SET_ERR(c, "OffsetCommit: %s", rl_strerror(-ENOTSUP));
        return -ENOTSUP;
    }
    struct proto_arena a;
    proto_arena_init(&a);
    struct OffsetCommitRequest req;
    struct commit_req *cr = rl_calloc(1, sizeof(*cr));
    int e = 0;
    if (!commit_build(c, &a, &req, cr)) {
        commit_req_free(cr);
        rl_free(cr);
    } else {
        cr->version = v;
        e = ringlet_conn_send_async(c->coord, PROTO_API_KEY_OFFSET_COMMIT, v,
                                    ringlet_enc_OffsetCommitRequest, &req,
                                    c->cl->conf.request_timeout_ms, commit_done, cr);
        if (e != 0) {
            SET_ERR(c, "OffsetCommit: %s", rl_strerror(e));
            commit_req_free(cr);
            rl_free(cr);
        } else {
            c->async_inflight++;
            c->async_conn = c->coord;
        }
    }
    proto_arena_destroy(&a);
    return e;
}

int ringlet_consumer_commits_in_flight(const struct ringlet_consumer *c) {
    return c->async_inflight;
}

/* Committed offsets of the assigned partitions become their positions. */
static int fetch_committed(struct ringlet_consumer *c) {
    int32_t *ids = rl_calloc((size_t)c->np + 1, sizeof(int32_t));
    for (int i = 0; i < c->np; i++)
        ids[i] = c->p[i].partition;
    struct OffsetFetchRequest_OffsetFetchRequestTopic t;
    proto_OffsetFetchRequest_OffsetFetchRequestTopic_init(&t);
    t.Name = proto_str_c(c->topic);
    t.PartitionIndexes = ids;
    t.n_PartitionIndexes = c->np;
    struct OffsetFetchRequest req;
    proto_OffsetFetchRequest_init(&req);
    req.GroupId = proto_str_c(c->group);
    req.Topics = &t;
    req.n_Topics = 1;
    struct proto_arena a;
    proto_arena_init(&a);
    struct OffsetFetchResponse resp;
    struct ringlet_resp frame = {0};
    int e = ringlet_call(c->coord, PROTO_API_KEY_OFFSET_FETCH, 1, 7, ringlet_enc_OffsetFetchRequest,
                         &req, ringlet_dec_OffsetFetchResponse, &resp, &a, &frame,
                         c->cl->conf.request_timeout_ms, NULL);
    if (e != 0) {
        SET_ERR(c, "OffsetFetch: %s", rl_strerror(e));
    } else {
        for (int32_t ti = 0; ti < resp.n_Topics; ti++)
            for (int32_t k = 0; k < resp.Topics[ti].n_Partitions; k++) {
                const struct OffsetFetchResponse_OffsetFetchResponsePartition *r =
                    &resp.Topics[ti].Partitions[k];
                for (int i = 0; i < c->np; i++)
                    if (c->p[i].partition == r->PartitionIndex && r->ErrorCode == 0 &&
                        r->CommittedOffset >= 0) {
                        c->p[i].position = r->CommittedOffset;
                        c->p[i].committed = r->CommittedOffset;
                    }
            }
    }
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
    rl_free(ids);
    return e;
}

static int32_t partition_count(struct ringlet_consumer *c, const char *topic) {
    char err[256];
    struct ringlet_metadata *md = NULL;
    if (ringlet_metadata_get(c->cl, &topic, 1, false, &md, err, sizeof(err)) != 0) return 0;
    const struct ringlet_topic_md *t = ringlet_metadata_topic(md, topic);
    int32_t n = t && !t->error ? t->n_partitions : 0;
    ringlet_metadata_free(md);
    return n;
}

/* The leader's job: assignments for every member, encoded for SyncGroup. */
static struct SyncGroupRequest_SyncGroupRequestAssignment *
leader_assign(struct ringlet_consumer *c, const struct JoinGroupResponse *jr,
              struct proto_writer **bufs_out) {
    char *proto = proto_str_dup(jr->ProtocolName);
    int nm = jr->n_Members;
    struct ringlet_assign_member *mem = rl_calloc((size_t)nm + 1, sizeof(*mem));
    char **ids = rl_calloc((size_t)nm + 1, sizeof(char *));
    struct ringlet_assign_topic *tops = NULL;
    int ntops = 0;
    for (int32_t m = 0; m < nm; m++) {
        ids[m] = proto_str_dup(jr->Members[m].MemberId);
        mem[m].member_id = ids[m] ? ids[m] : "";
        if (ringlet_subscription_decode(jr->Members[m].Metadata.ptr, jr->Members[m].Metadata.len,
                                        &mem[m].topics, &mem[m].n_topics) != 0) {
            mem[m].topics = NULL;
            mem[m].n_topics = 0;
        }
        for (int k = 0; k < mem[m].n_topics; k++) {
            bool have = false;
            for (int q = 0; q < ntops; q++)
                if (!strcmp(tops[q].name, mem[m].topics[k])) have = true;
            if (have) continue;
            tops = rl_realloc(tops, sizeof(*tops) * (size_t)(ntops + 1));
            tops[ntops].name = mem[m].topics[k];
            tops[ntops].partitions = partition_count(c, mem[m].topics[k]);
            ntops++;
        }
    }
    if (ringlet_assign(proto ? proto : "range", mem, nm, tops, ntops) != 0)
        ringlet_assign("range", mem, nm, tops, ntops);
    struct SyncGroupRequest_SyncGroupRequestAssignment *sa = rl_calloc((size_t)nm + 1, sizeof(*sa));
    struct proto_writer *bufs = rl_calloc((size_t)nm + 1, sizeof(*bufs));
    for (int32_t m = 0; m < nm; m++) {
        proto_writer_init(&bufs[m]);
        ringlet_assignment_encode(&bufs[m], mem[m].assigned, mem[m].n_assigned);
        proto_SyncGroupRequest_SyncGroupRequestAssignment_init(&sa[m]);
        sa[m].MemberId = jr->Members[m].MemberId;
        sa[m].Assignment = (struct proto_bytes){bufs[m].buf, (int32_t)bufs[m].len};
        ringlet_tps_free(mem[m].assigned, mem[m].n_assigned);
        for (int k = 0; k < mem[m].n_topics; k++)
            rl_free(mem[m].topics[k]);
        rl_free(mem[m].topics);
        rl_free(ids[m]);
    }
    rl_free(tops);
    rl_free(ids);
    rl_free(mem);
    rl_free(proto);
    *bufs_out = bufs;
    return sa;
}

/* JoinGroup + SyncGroup until this member has an assignment; rebuilds c->p. */
static int group_join(struct ringlet_consumer *c) {
    const char *assignors[2];
    int nassign = 0;
    if (c->assignor) {
        assignors[nassign++] = c->assignor;
    } else {
        assignors[nassign++] = "range";
        assignors[nassign++] = "roundrobin";
    }
    bool retried_member_id = false;
    for (int attempt = 0; attempt < 20; attempt++) {
        if (attempt) sleep_ms(ringlet_backoff_ms(&c->cl->conf, attempt - 1));
        if (c->coord == NULL || !ringlet_conn_is_open(c->coord)) {
            if (ringlet_coordinator_conn(c->cl, c->group, &c->coord, c->last_error,
                                         sizeof(c->last_error)) != 0) {
                c->coord = NULL;
                continue;
            }
        }
        struct proto_writer sub;
        proto_writer_init(&sub);
        const char *topic = c->topic;
        ringlet_subscription_encode(&sub, &topic, 1);
        struct JoinGroupRequest_JoinGroupRequestProtocol protos[2];
        for (int i = 0; i < nassign; i++) {
            proto_JoinGroupRequest_JoinGroupRequestProtocol_init(&protos[i]);
            protos[i].Name = proto_str_c(assignors[i]);
            protos[i].Metadata = (struct proto_bytes){sub.buf, (int32_t)sub.len};
        }
        struct JoinGroupRequest jreq;
        proto_JoinGroupRequest_init(&jreq);
        jreq.GroupId = proto_str_c(c->group);
        jreq.SessionTimeoutMs = c->conf.session_timeout_ms;
        jreq.RebalanceTimeoutMs = c->conf.rebalance_timeout_ms;
        jreq.MemberId = proto_str_c(c->member_id ? c->member_id : "");
        jreq.ProtocolType = proto_str_c("consumer");
        jreq.Protocols = protos;
        jreq.n_Protocols = nassign;
        struct proto_arena a;
        proto_arena_init(&a);
        struct JoinGroupResponse jr;
        struct ringlet_resp frame = {0};
        int e = ringlet_call(c->coord, PROTO_API_KEY_JOIN_GROUP, 0, 7, ringlet_enc_JoinGroupRequest,
                             &jreq, ringlet_dec_JoinGroupResponse, &jr, &a, &frame,
                             c->conf.rebalance_timeout_ms + 10000, NULL);
        proto_writer_free(&sub);
        if (e != 0) {
            SET_ERR(c, "JoinGroup: %s", rl_strerror(e));
            proto_arena_destroy(&a);
            if (e == -ENOTSUP || e == -EBADMSG) return e;
            c->coord = NULL;
            continue;
        }
        int16_t ec = jr.ErrorCode;
        if (ec == PROTO_ERR_MEMBER_ID_REQUIRED && !retried_member_id) {
            rl_free(c->member_id);
            c->member_id = proto_str_dup(jr.MemberId);
            ringlet_resp_free(&frame);
            proto_arena_destroy(&a);
            retried_member_id = true;
            attempt--; /* not a failure: join again at once with the id */
            continue;
        }
        if (ec != 0) {
            ringlet_resp_free(&frame);
            proto_arena_destroy(&a);
            SET_ERR(c, "JoinGroup %s: %s", c->group, proto_error_name(ec));
            if (ec == PROTO_ERR_UNKNOWN_MEMBER_ID) {
                rl_free(c->member_id);
                c->member_id = NULL;
                continue;
            }
            if (ringlet_error_coordinator(ec)) {
                c->coord = NULL;
                continue;
            }
            if (ec == PROTO_ERR_REBALANCE_IN_PROGRESS) continue;
            return -EPROTO;
        }
        rl_free(c->member_id);
        c->member_id = proto_str_dup(jr.MemberId);
        c->generation = jr.GenerationId;
        struct SyncGroupRequest_SyncGroupRequestAssignment *sa = NULL;
        struct proto_writer *bufs = NULL;
        int nsa = 0;
        if (proto_str_eq(jr.Leader, c->member_id ? c->member_id : "")) {
            sa = leader_assign(c, &jr, &bufs);
            nsa = jr.n_Members;
        }
        struct SyncGroupRequest sreq;
        proto_SyncGroupRequest_init(&sreq);
        sreq.GroupId = proto_str_c(c->group);
        sreq.GenerationId = c->generation;
        sreq.MemberId = proto_str_c(c->member_id ? c->member_id : "");
        sreq.ProtocolType = proto_str_c("consumer");
        sreq.ProtocolName = jr.ProtocolName;
        sreq.Assignments = sa;
        sreq.n_Assignments = nsa;
        struct proto_arena a2;
        proto_arena_init(&a2);
        struct SyncGroupResponse sr;
        struct ringlet_resp frame2 = {0};
        e = ringlet_call(c->coord, PROTO_API_KEY_SYNC_GROUP, 0, 5, ringlet_enc_SyncGroupRequest,
                         &sreq, ringlet_dec_SyncGroupResponse, &sr, &a2, &frame2,
                         c->conf.rebalance_timeout_ms + 10000, NULL);
        for (int m = 0; m < nsa; m++)
            proto_writer_free(&bufs[m]);
        rl_free(bufs);
        rl_free(sa);
        ringlet_resp_free(&frame);
        proto_arena_destroy(&a);
        if (e != 0 || sr.ErrorCode != 0) {
            if (e)
                SET_ERR(c, "SyncGroup: %s", rl_strerror(e));
            else
                SET_ERR(c, "SyncGroup: %s", proto_error_name(sr.ErrorCode));
            ringlet_resp_free(&frame2);
            proto_arena_destroy(&a2);
            continue; /* rebalance again */
        }
        struct ringlet_tp *tps = NULL;
        int ntps = 0;
        e = ringlet_assignment_decode(sr.Assignment.ptr, sr.Assignment.len, &tps, &ntps);
        ringlet_resp_free(&frame2);
        proto_arena_destroy(&a2);
        if (e != 0) {
            SET_ERR(c, "SyncGroup: undecodable assignment");
            return -EBADMSG;
        }
        int32_t *mine = rl_calloc((size_t)ntps + 1, sizeof(int32_t));
        int nmine = 0;
        for (int i = 0; i < ntps; i++)
            if (!strcmp(tps[i].topic, c->topic)) mine[nmine++] = tps[i].partition;
        ringlet_tps_free(tps, ntps);
        int rc = load_partitions(c, true, mine, nmine);
        if (rc == 0 && nmine > 0) {
            fetch_committed(c);
            rc = resolve_start(c, NULL);
        }
        rl_free(mine);
        rl_debug("client", "joined %s generation %d as %s with %d partition(s)", c->group,
                 c->generation, c->member_id ? c->member_id : "", nmine);
        c->last_heartbeat_ms = c->last_commit_ms = rl_mono_ms();
        return rc;
    }
    return -ETIMEDOUT;
}

int ringlet_consumer_subscribe(struct ringlet_consumer *c, const char *topic) {
    if (c->group == NULL) {
        SET_ERR(c, "subscribe needs a group id");
        return -EINVAL;
    }
    rl_free(c->topic);
    c->topic = rl_strdup(topic);
    c->subscribed = true;
    return group_join(c);
}

/* Returns 0, or 1 if the member must rejoin. */
static int heartbeat(struct ringlet_consumer *c) {
    c->last_heartbeat_ms = rl_mono_ms();
    if (c->coord == NULL || !ringlet_conn_is_open(c->coord)) return 1;
    struct HeartbeatRequest req;
    proto_HeartbeatRequest_init(&req);
    req.GroupId = proto_str_c(c->group);
    req.GenerationId = c->generation;
    req.MemberId = proto_str_c(c->member_id ? c->member_id : "");
    struct proto_arena a;
    proto_arena_init(&a);
    struct HeartbeatResponse resp;
    struct ringlet_resp frame = {0};
    int e = ringlet_call(c->coord, PROTO_API_KEY_HEARTBEAT, 0, 4, ringlet_enc_HeartbeatRequest,
                         &req, ringlet_dec_HeartbeatResponse, &resp, &a, &frame,
                         c->cl->conf.request_timeout_ms, NULL);
    int rc = e != 0 || resp.ErrorCode != 0;
    if (e == 0 && resp.ErrorCode == PROTO_ERR_UNKNOWN_MEMBER_ID) {
        rl_free(c->member_id);
        c->member_id = NULL;
    }
    if (e != 0 || (e == 0 && ringlet_error_coordinator(resp.ErrorCode))) c->coord = NULL;
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
    return rc;
}

static void leave(struct ringlet_consumer *c) {
    if (c->coord == NULL || c->member_id == NULL || !ringlet_conn_is_open(c->coord)) return;
    struct LeaveGroupRequest_MemberIdentity mi;
    proto_LeaveGroupRequest_MemberIdentity_init(&mi);
    mi.MemberId = proto_str_c(c->member_id);
    struct LeaveGroupRequest req;
    proto_LeaveGroupRequest_init(&req);
    req.GroupId = proto_str_c(c->group);
    req.MemberId = proto_str_c(c->member_id);
    req.Members = &mi;
    req.n_Members = 1;
    struct proto_arena a;
    proto_arena_init(&a);
    struct LeaveGroupResponse resp;
    struct ringlet_resp frame = {0};
    (void)ringlet_call(c->coord, PROTO_API_KEY_LEAVE_GROUP, 0, 4, ringlet_enc_LeaveGroupRequest,
                       &req, ringlet_dec_LeaveGroupResponse, &resp, &a, &frame, 5000, NULL);
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
}

/* ---- the fetch round ------------------------------------------------------------------------- */

struct walk_ctx {
    struct ringlet_consumer *c;
    ringlet_msg_fn fn;
    void *opaque;
    int delivered;
};

static int walk_one(void *opaque, const struct ringlet_msg *m) {
    struct walk_ctx *w = opaque;
    w->delivered++;
    if (w->fn(w->opaque, m)) {
        w->c->stop_round = true;
        return 1;
    }
    return 0;
}

int ringlet_consumer_poll(struct ringlet_consumer *c, int max_wait_ms, ringlet_msg_fn fn,
                          void *opaque) {
    if (c->topic == NULL) return -EINVAL;
    if (c->async_inflight > 0 && c->async_conn != NULL)
        ringlet_conn_drain(c->async_conn, false, c->cl->conf.request_timeout_ms);
    if (c->subscribed) {
        int64_t now = rl_mono_ms();
        if (c->conf.auto_commit_interval_ms > 0 &&
            now - c->last_commit_ms >= c->conf.auto_commit_interval_ms)
            ringlet_consumer_commit_async(c);
        if (now - c->last_heartbeat_ms >= c->conf.heartbeat_interval_ms && heartbeat(c)) {
            if (c->conf.auto_commit_interval_ms > 0) ringlet_consumer_commit(c);
            int err = group_join(c);
            if (err) return err;
        }
        if (c->np == 0) { /* a member without partitions only heartbeats */
            sleep_ms(RL_MIN(200, c->conf.heartbeat_interval_ms));
            return 0;
        }
    }
    struct walk_ctx w = {.c = c, .fn = fn, .opaque = opaque};
    bool refresh = false;
    int rc = 0;
    c->stop_round = false;
    bool *done = rl_calloc((size_t)c->np + 1, sizeof(bool));
    int32_t *ids = rl_calloc((size_t)c->np + 1, sizeof(int32_t));
    int64_t *offs = rl_calloc((size_t)c->np + 1, sizeof(int64_t));
    int *idx = rl_calloc((size_t)c->np + 1, sizeof(int));
    struct ringlet_fetch_part *fp = rl_calloc((size_t)c->np + 1, sizeof(*fp));
    int32_t wait = ringlet_consumer_at_end(c) ? max_wait_ms : 0;
    for (int i = 0; i < c->np && rc == 0 && !c->stop_round; i++) {
        if (done[i]) continue;
        int32_t leader = c->p[i].leader;
        int n = 0;
        for (int k = i; k < c->np; k++) {
            if (done[k] || c->p[k].leader != leader) continue;
            done[k] = true;
            idx[n] = k;
            ids[n] = c->p[k].partition;
            offs[n] = c->p[k].position;
            n++;
        }
        if (leader < 0) {
            refresh = true;
            continue;
        }
        struct proto_arena a;
        proto_arena_init(&a);
        struct ringlet_resp frame = {0};
        char err[256];
        int e = ringlet_fetch(c->cl, leader, c->topic, ids, offs, n, wait,
                              c->conf.partition_max_bytes, fp, &frame, &a, err, sizeof(err));
        if (e != 0) {
            rl_debug("client", "%s", err);
            if (e == -ENOTSUP) {
                SET_ERR(c, "%s", err);
                rc = e;
            }
            refresh = true;
        } else {
            for (int k = 0; k < n && rc == 0 && !c->stop_round; k++) {
                struct cpart *p = &c->p[idx[k]];
                if (fp[k].error == PROTO_ERR_OFFSET_OUT_OF_RANGE) {
                    rl_warn("client",
                            "%s/%d: offset %" PRId64 " out of range; restarting at "
                            "the log start",
                            c->topic, p->partition, p->position);
                    p->position = -1;
                    struct ringlet_start earliest = {RINGLET_START_EARLIEST, 0};
                    int re = resolve_start(c, &earliest);
                    if (re == -ENOENT) rc = re;
                    continue;
                }
                if (fp[k].error) {
                    if (ringlet_error_retriable(fp[k].error)) {
                        refresh = true;
                        continue;
                    }
                    SET_ERR(c, "fetch %s/%" PRId32 ": %s", c->topic, p->partition,
                            proto_error_name(fp[k].error));
                    rc = -EPROTO;
                    continue;
                }
                p->hwm = fp[k].high_watermark;
                int64_t next = p->position;
                int got = ringlet_records_walk(fp[k].records, fp[k].records_len, c->topic,
                                               p->partition, p->position, &a, walk_one, &w, &next);
                p->position = next;
                if (got < 0) {
                    SET_ERR(c, "%s/%" PRId32 " at offset %" PRId64 ": corrupt record batch",
                            c->topic, p->partition, next);
                    rc = -EBADMSG;
                }
            }
        }
        ringlet_resp_free(&frame);
        proto_arena_destroy(&a);
    }
    if (refresh && rc == 0) {
        sleep_ms(100);
        int e = load_partitions(c, false, NULL, 0);
        if (e == -ENOENT) rc = e;
    }
    rl_free(done);
    rl_free(ids);
    rl_free(offs);
    rl_free(idx);
    rl_free(fp);
    return rc ? rc : w.delivered;
}

void ringlet_consumer_close(struct ringlet_consumer *c) {
    if (c == NULL) return;
    if (c->subscribed) {
        if (c->conf.auto_commit_interval_ms > 0) ringlet_consumer_commit(c);
        leave(c);
    }
    /* Answers still owed to this consumer are read now: their callbacks point at it. */
    if (c->async_inflight > 0 && c->async_conn != NULL)
        ringlet_conn_drain(c->async_conn, true, c->cl->conf.request_timeout_ms);
    rl_free(c->p);
    rl_free(c->member_id);
    rl_free(c->topic);
    rl_free(c->group);
    rl_free(c->assignor);
    rl_free(c);
}
