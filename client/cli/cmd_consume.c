/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_consume.c - `ringlet consume TOPIC`: fetch loop over the chosen partitions (all, -p, or
 * the group's assignment with -g), printing each record with a kcat-style format string or as
 * a JSON line. With -g it joins the group through the classic protocol (JoinGroup with the
 * range and roundrobin assignors, SyncGroup, Heartbeat), commits positions every few seconds
 * and at exit, and leaves the group at exit.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "ringlet/common.h"

RINGLET_CODEC(JoinGroup)
RINGLET_CODEC(SyncGroup)
RINGLET_CODEC(Heartbeat)
RINGLET_CODEC(LeaveGroup)
RINGLET_CODEC(OffsetFetch)
RINGLET_CODEC(OffsetCommit)

enum { O_OFFSET = 1, O_COUNT, O_EXIT, O_FORMAT_STR, O_PARTITION, O_GROUP, O_ASSIGNOR };

struct consume_opts {
    struct cli_offset_spec start;
    bool have_start;
    int64_t count; /* -1 = unlimited */
    bool exit_at_end;
    const char *fmt;
    int32_t *parts;
    int nparts;
    const char *group;
    const char *assignor;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static int consume_opt(struct cli *c, void *ctx, int id, const char *arg) {
    struct consume_opts *o = ctx;
    char err[160];
    int64_t v;
    switch (id) {
    case O_OFFSET:
        if (cli_parse_offset_spec(arg, &o->start, err, sizeof(err)))
            return cli_usage(c, "-o: %s", err);
        o->have_start = true;
        return 0;
    case O_COUNT:
        if (cli_parse_int(arg, 0, INT64_MAX, &v, err, sizeof(err)))
            return cli_usage(c, "-n: %s", err);
        o->count = v;
        return 0;
    case O_EXIT:
        o->exit_at_end = true;
        return 0;
    case O_FORMAT_STR:
        if (out_format_check(arg, err, sizeof(err))) return cli_usage(c, "-f: %s", err);
        o->fmt = arg;
        return 0;
    case O_PARTITION:
        if (cli_parse_int(arg, 0, INT32_MAX, &v, err, sizeof(err)))
            return cli_usage(c, "-p: %s", err);
        o->parts = rl_realloc(o->parts, sizeof(int32_t) * (size_t)(o->nparts + 1));
        o->parts[o->nparts++] = (int32_t)v;
        return 0;
    case O_GROUP:
        if (arg[0] == '\0') return cli_usage(c, "-g: empty group id");
        o->group = arg;
        return 0;
    case O_ASSIGNOR:
        if (strcmp(arg, "range") != 0 && strcmp(arg, "roundrobin") != 0)
            return cli_usage(c, "--assignor must be range or roundrobin");
        o->assignor = arg;
        return 0;
    default:
        return cli_usage(c, "unexpected option");
    }
}

static const struct cli_opt consume_optv[] = {
    {"offset", 'o', true, O_OFFSET},       {"count", 'n', true, O_COUNT},
    {"exit", 'e', false, O_EXIT},          {"format-string", 'f', true, O_FORMAT_STR},
    {"partition", 'p', true, O_PARTITION}, {"group", 'g', true, O_GROUP},
    {"assignor", 0, true, O_ASSIGNOR},     {NULL, 0, false, 0},
};

/* One consumed partition. */
struct cpart {
    int32_t partition;
    int32_t leader;
    int64_t position;  /* next offset to fetch */
    int64_t hwm;       /* from the last fetch, -1 before */
    int64_t committed; /* last committed position (group mode) */
};

struct consumer {
    struct cli *c;
    struct ringlet_client *cl;
    const char *topic;
    struct consume_opts *o;
    struct cpart *p;
    int np;
    int64_t printed;
    bool failed;
    /* group mode */
    struct ringlet_conn *coord;
    char *member_id;
    int32_t generation;
    int64_t last_heartbeat_ms, last_commit_ms;
};

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int print_record(void *opaque, const struct ringlet_msg *m) {
    struct consumer *cs = opaque;
    struct out_header hbuf[16];
    struct out_header *hs =
        m->n_headers <= 16 ? hbuf : rl_calloc((size_t)m->n_headers, sizeof(*hs));
    for (int32_t i = 0; i < m->n_headers; i++) {
        hs[i].key = m->headers[i].key.ptr;
        hs[i].key_len = m->headers[i].key.len;
        hs[i].value = m->headers[i].value.ptr;
        hs[i].value_len = m->headers[i].value.len;
    }
    struct out_record r = {
        .topic = m->topic,
        .partition = m->partition,
        .offset = m->offset,
        .timestamp = m->timestamp,
        .key = m->key.len >= 0 ? m->key.ptr : NULL,
        .key_len = m->key.len,
        .value = m->value.len >= 0 ? m->value.ptr : NULL,
        .value_len = m->value.len,
        .headers = hs,
        .n_headers = m->n_headers,
    };
    static const uint8_t empty[1];
    if (r.key == NULL && r.key_len == 0) r.key = empty;
    if (r.value == NULL && r.value_len == 0) r.value = empty;
    if (cs->c->json && cs->o->fmt == NULL)
        out_json_record(cs->c->out, &r);
    else
        out_format_record(cs->c->out, cs->o->fmt ? cs->o->fmt : "%s\\n", &r);
    if (hs != hbuf) rl_free(hs);
    cs->printed++;
    return cs->o->count >= 0 && cs->printed >= cs->o->count;
}

/* Leaders and partition list from fresh metadata. parts (if any) restricts the set. */
static int load_partitions(struct consumer *cs, const int32_t *only, int nonly) {
    char err[256];
    struct ringlet_metadata *md = NULL;
    const char *name = cs->topic;
    if (ringlet_metadata_get(cs->cl, &name, 1, false, &md, err, sizeof(err)) != 0) {
        cli_errorf(cs->c, "%s", err);
        return CLI_FAIL;
    }
    const struct ringlet_topic_md *t = ringlet_metadata_topic(md, name);
    if (t == NULL || t->error) {
        cli_errorf(cs->c, "topic %s: %s", name,
                   proto_error_name(t ? t->error : PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION));
        ringlet_metadata_free(md);
        return CLI_FAIL;
    }
    if (cs->p == NULL) {
        int n = nonly > 0 ? nonly : t->n_partitions;
        cs->p = rl_calloc((size_t)n + 1, sizeof(*cs->p));
        for (int i = 0; i < n; i++) {
            cs->p[i].partition = nonly > 0 ? only[i] : t->partitions[i].partition;
            cs->p[i].position = -1;
            cs->p[i].hwm = -1;
            cs->p[i].committed = -1;
        }
        cs->np = n;
    }
    int rc = 0;
    for (int i = 0; i < cs->np; i++) {
        cs->p[i].leader = -1;
        for (int32_t k = 0; k < t->n_partitions; k++)
            if (t->partitions[k].partition == cs->p[i].partition)
                cs->p[i].leader = t->partitions[k].leader;
        bool exists = false;
        for (int32_t k = 0; k < t->n_partitions; k++)
            if (t->partitions[k].partition == cs->p[i].partition) exists = true;
        if (!exists) {
            cli_errorf(cs->c, "topic %s has no partition %" PRId32, name, cs->p[i].partition);
            rc = CLI_USAGE;
        }
    }
    ringlet_metadata_free(md);
    return rc;
}

/* Resolves the start position of every partition whose position is -1. */
static int resolve_start(struct consumer *cs) {
    char err[256];
    struct ringlet_metadata *md = NULL;
    const char *name = cs->topic;
    if (ringlet_metadata_get(cs->cl, &name, 1, false, &md, err, sizeof(err)) != 0) {
        cli_errorf(cs->c, "%s", err);
        return CLI_FAIL;
    }
    const struct ringlet_topic_md *t = ringlet_metadata_topic(md, name);
    int rc = 0;
    int32_t *ids = rl_calloc((size_t)cs->np + 1, sizeof(int32_t));
    int *idx = rl_calloc((size_t)cs->np + 1, sizeof(int));
    int n = 0;
    for (int i = 0; i < cs->np; i++)
        if (cs->p[i].position < 0) {
            idx[n] = i;
            ids[n++] = cs->p[i].partition;
        }
    if (n > 0 && t != NULL) {
        int64_t *lo = rl_calloc((size_t)n, sizeof(int64_t));
        int64_t *hi = rl_calloc((size_t)n, sizeof(int64_t));
        int64_t *at = rl_calloc((size_t)n, sizeof(int64_t));
        int16_t *e1 = rl_calloc((size_t)n, sizeof(int16_t));
        int16_t *e2 = rl_calloc((size_t)n, sizeof(int16_t));
        int16_t *e3 = rl_calloc((size_t)n, sizeof(int16_t));
        struct cli_offset_spec spec =
            cs->o->have_start ? cs->o->start : (struct cli_offset_spec){CLI_OFFSET_BEGINNING, 0};
        ringlet_list_offsets(cs->cl, t, ids, n, RINGLET_OFFSET_EARLIEST, lo, e1, err, sizeof(err));
        ringlet_list_offsets(cs->cl, t, ids, n, RINGLET_OFFSET_LATEST, hi, e2, err, sizeof(err));
        if (spec.kind == CLI_OFFSET_TIMESTAMP)
            ringlet_list_offsets(cs->cl, t, ids, n, spec.value, at, e3, err, sizeof(err));
        for (int k = 0; k < n; k++) {
            struct cpart *p = &cs->p[idx[k]];
            if (e1[k] || e2[k] || e3[k]) {
                cli_errorf(cs->c, "offsets of %s/%" PRId32 ": %s", name, p->partition,
                           proto_error_name(e1[k]   ? e1[k]
                                            : e2[k] ? e2[k]
                                                    : e3[k]));
                rc = CLI_FAIL;
                continue;
            }
            if (spec.kind == CLI_OFFSET_TIMESTAMP)
                p->position = at[k] >= 0 ? at[k] : hi[k];
            else
                p->position = cli_offset_resolve(&spec, lo[k], hi[k]);
            p->hwm = hi[k];
        }
        rl_free(lo);
        rl_free(hi);
        rl_free(at);
        rl_free(e1);
        rl_free(e2);
        rl_free(e3);
    } else if (n > 0) {
        rc = CLI_FAIL;
    }
    rl_free(ids);
    rl_free(idx);
    ringlet_metadata_free(md);
    return rc;
}

/* ---- group membership ------------------------------------------------------------------------ */

static int group_commit(struct consumer *cs) {
    if (cs->coord == NULL || !ringlet_conn_is_open(cs->coord)) return 0;
    struct OffsetCommitRequest_OffsetCommitRequestPartition *pp =
        rl_calloc((size_t)cs->np + 1, sizeof(*pp));
    int n = 0;
    for (int i = 0; i < cs->np; i++) {
        if (cs->p[i].position < 0 || cs->p[i].position == cs->p[i].committed) continue;
        proto_OffsetCommitRequest_OffsetCommitRequestPartition_init(&pp[n]);
        pp[n].PartitionIndex = cs->p[i].partition;
        pp[n].CommittedOffset = cs->p[i].position;
        pp[n].CommittedMetadata = proto_str_c("");
        n++;
    }
    if (n == 0) {
        rl_free(pp);
        return 0;
    }
    struct OffsetCommitRequest_OffsetCommitRequestTopic tp;
    proto_OffsetCommitRequest_OffsetCommitRequestTopic_init(&tp);
    tp.Name = proto_str_c(cs->topic);
    tp.Partitions = pp;
    tp.n_Partitions = n;
    struct OffsetCommitRequest req;
    proto_OffsetCommitRequest_init(&req);
    req.GroupId = proto_str_c(cs->o->group);
    req.GenerationIdOrMemberEpoch = cs->generation;
    req.MemberId = proto_str_c(cs->member_id ? cs->member_id : "");
    req.Topics = &tp;
    req.n_Topics = 1;
    struct proto_arena a;
    proto_arena_init(&a);
    struct OffsetCommitResponse resp;
    struct ringlet_resp frame = {0};
    int e = ringlet_call(cs->coord, PROTO_API_KEY_OFFSET_COMMIT, 2, 8,
                         ringlet_enc_OffsetCommitRequest, &req, ringlet_dec_OffsetCommitResponse,
                         &resp, &a, &frame, ringlet_client_conf(cs->cl)->request_timeout_ms, NULL);
    int rc = 0;
    if (e != 0) {
        cli_errorf(cs->c, "OffsetCommit: %s", cli_strerror(e));
        rc = -1;
    } else {
        for (int32_t t = 0; t < resp.n_Topics; t++)
            for (int32_t k = 0; k < resp.Topics[t].n_Partitions; k++) {
                const struct OffsetCommitResponse_OffsetCommitResponsePartition *r =
                    &resp.Topics[t].Partitions[k];
                for (int i = 0; i < cs->np; i++) {
                    if (cs->p[i].partition != r->PartitionIndex) continue;
                    if (r->ErrorCode == 0) {
                        cs->p[i].committed = cs->p[i].position;
                    } else {
                        cli_errorf(cs->c, "commit %s/%" PRId32 ": %s", cs->topic, r->PartitionIndex,
                                   proto_error_name(r->ErrorCode));
                        rc = -1;
                    }
                }
            }
    }
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
    rl_free(pp);
    cs->last_commit_ms = rl_mono_ms();
    return rc;
}

/* Committed offsets for the assigned partitions become their positions. */
static int group_fetch_committed(struct consumer *cs) {
    int32_t *ids = rl_calloc((size_t)cs->np + 1, sizeof(int32_t));
    for (int i = 0; i < cs->np; i++)
        ids[i] = cs->p[i].partition;
    struct OffsetFetchRequest_OffsetFetchRequestTopic t;
    proto_OffsetFetchRequest_OffsetFetchRequestTopic_init(&t);
    t.Name = proto_str_c(cs->topic);
    t.PartitionIndexes = ids;
    t.n_PartitionIndexes = cs->np;
    struct OffsetFetchRequest req;
    proto_OffsetFetchRequest_init(&req);
    req.GroupId = proto_str_c(cs->o->group);
    req.Topics = &t;
    req.n_Topics = 1;
    struct proto_arena a;
    proto_arena_init(&a);
    struct OffsetFetchResponse resp;
    struct ringlet_resp frame = {0};
    int e = ringlet_call(cs->coord, PROTO_API_KEY_OFFSET_FETCH, 1, 7,
                         ringlet_enc_OffsetFetchRequest, &req, ringlet_dec_OffsetFetchResponse,
                         &resp, &a, &frame, ringlet_client_conf(cs->cl)->request_timeout_ms, NULL);
    int rc = 0;
    if (e != 0) {
        cli_errorf(cs->c, "OffsetFetch: %s", cli_strerror(e));
        rc = CLI_FAIL;
    } else {
        for (int32_t ti = 0; ti < resp.n_Topics; ti++)
            for (int32_t k = 0; k < resp.Topics[ti].n_Partitions; k++) {
                const struct OffsetFetchResponse_OffsetFetchResponsePartition *r =
                    &resp.Topics[ti].Partitions[k];
                for (int i = 0; i < cs->np; i++)
                    if (cs->p[i].partition == r->PartitionIndex && r->ErrorCode == 0 &&
                        r->CommittedOffset >= 0) {
                        cs->p[i].position = r->CommittedOffset;
                        cs->p[i].committed = r->CommittedOffset;
                    }
            }
    }
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
    rl_free(ids);
    return rc;
}

static int topic_partition_count(struct consumer *cs, const char *topic, int32_t *out) {
    char err[256];
    struct ringlet_metadata *md = NULL;
    if (ringlet_metadata_get(cs->cl, &topic, 1, false, &md, err, sizeof(err)) != 0) return -1;
    const struct ringlet_topic_md *t = ringlet_metadata_topic(md, topic);
    *out = t && !t->error ? t->n_partitions : 0;
    ringlet_metadata_free(md);
    return 0;
}

/* JoinGroup + SyncGroup until this member has an assignment; fills cs->p. */
static int group_join(struct consumer *cs) {
    char err[256];
    const char *assignors[2];
    int nassign = 0;
    if (cs->o->assignor) {
        assignors[nassign++] = cs->o->assignor;
    } else {
        assignors[nassign++] = "range";
        assignors[nassign++] = "roundrobin";
    }
    for (int attempt = 0; attempt < 20 && !stop_requested; attempt++) {
        if (attempt) sleep_ms(ringlet_backoff_ms(ringlet_client_conf(cs->cl), attempt - 1));
        if (cs->coord == NULL || !ringlet_conn_is_open(cs->coord)) {
            if (ringlet_coordinator_conn(cs->cl, cs->o->group, &cs->coord, err, sizeof(err))) {
                cli_errorf(cs->c, "%s", err);
                continue;
            }
        }
        struct proto_writer sub;
        proto_writer_init(&sub);
        ringlet_subscription_encode(&sub, &cs->topic, 1);
        struct JoinGroupRequest_JoinGroupRequestProtocol protos[2];
        for (int i = 0; i < nassign; i++) {
            proto_JoinGroupRequest_JoinGroupRequestProtocol_init(&protos[i]);
            protos[i].Name = proto_str_c(assignors[i]);
            protos[i].Metadata = (struct proto_bytes){sub.buf, (int32_t)sub.len};
        }
        struct JoinGroupRequest jreq;
        proto_JoinGroupRequest_init(&jreq);
        jreq.GroupId = proto_str_c(cs->o->group);
        jreq.SessionTimeoutMs = 10000;
        jreq.RebalanceTimeoutMs = 30000;
        jreq.MemberId = proto_str_c(cs->member_id ? cs->member_id : "");
        jreq.ProtocolType = proto_str_c("consumer");
        jreq.Protocols = protos;
        jreq.n_Protocols = nassign;
        struct proto_arena a;
        proto_arena_init(&a);
        struct JoinGroupResponse jr;
        struct ringlet_resp frame = {0};
        int e =
            ringlet_call(cs->coord, PROTO_API_KEY_JOIN_GROUP, 0, 7, ringlet_enc_JoinGroupRequest,
                         &jreq, ringlet_dec_JoinGroupResponse, &jr, &a, &frame, 40000, NULL);
        proto_writer_free(&sub);
        if (e != 0) {
            cli_errorf(cs->c, "JoinGroup: %s", cli_strerror(e));
            proto_arena_destroy(&a);
            if (e == -ENOTSUP || e == -EBADMSG) return CLI_FAIL;
            continue;
        }
        if (jr.ErrorCode == PROTO_ERR_MEMBER_ID_REQUIRED) {
            rl_free(cs->member_id);
            cs->member_id = proto_str_dup(jr.MemberId);
            ringlet_resp_free(&frame);
            proto_arena_destroy(&a);
            attempt = -1 + (attempt > 0); /* retry at once, once */
            continue;
        }
        if (jr.ErrorCode != 0) {
            int16_t ec = jr.ErrorCode;
            ringlet_resp_free(&frame);
            proto_arena_destroy(&a);
            if (ec == PROTO_ERR_UNKNOWN_MEMBER_ID) {
                rl_free(cs->member_id);
                cs->member_id = NULL;
                continue;
            }
            if (ringlet_error_coordinator(ec)) {
                cs->coord = NULL;
                continue;
            }
            if (ec == PROTO_ERR_REBALANCE_IN_PROGRESS) continue;
            cli_errorf(cs->c, "JoinGroup %s: %s", cs->o->group, proto_error_name(ec));
            return CLI_FAIL;
        }
        rl_free(cs->member_id);
        cs->member_id = proto_str_dup(jr.MemberId);
        cs->generation = jr.GenerationId;
        bool leader = proto_str_eq(jr.Leader, cs->member_id);
        struct SyncGroupRequest_SyncGroupRequestAssignment *sa = NULL;
        struct proto_writer *bufs = NULL;
        int nsa = 0;
        if (leader) {
            char *proto = proto_str_dup(jr.ProtocolName);
            struct ringlet_assign_member *mem = rl_calloc((size_t)jr.n_Members + 1, sizeof(*mem));
            char **ids = rl_calloc((size_t)jr.n_Members + 1, sizeof(char *));
            struct ringlet_assign_topic *tops = NULL;
            int ntops = 0;
            for (int32_t m = 0; m < jr.n_Members; m++) {
                ids[m] = proto_str_dup(jr.Members[m].MemberId);
                mem[m].member_id = ids[m] ? ids[m] : "";
                if (ringlet_subscription_decode(jr.Members[m].Metadata.ptr,
                                                jr.Members[m].Metadata.len, &mem[m].topics,
                                                &mem[m].n_topics) != 0) {
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
                    tops[ntops].partitions = 0;
                    topic_partition_count(cs, mem[m].topics[k], &tops[ntops].partitions);
                    ntops++;
                }
            }
            ringlet_assign(proto ? proto : "range", mem, jr.n_Members, tops, ntops);
            sa = rl_calloc((size_t)jr.n_Members + 1, sizeof(*sa));
            bufs = rl_calloc((size_t)jr.n_Members + 1, sizeof(*bufs));
            for (int32_t m = 0; m < jr.n_Members; m++) {
                proto_writer_init(&bufs[m]);
                ringlet_assignment_encode(&bufs[m], mem[m].assigned, mem[m].n_assigned);
                proto_SyncGroupRequest_SyncGroupRequestAssignment_init(&sa[m]);
                sa[m].MemberId = jr.Members[m].MemberId;
                sa[m].Assignment = (struct proto_bytes){bufs[m].buf, (int32_t)bufs[m].len};
                ringlet_tps_free(mem[m].assigned, mem[m].n_assigned);
                for (int k = 0; k < mem[m].n_topics; k++)
                    rl_free(mem[m].topics[k]);
                rl_free(mem[m].topics);
                rl_free(ids[m]);
            }
            nsa = jr.n_Members;
            rl_free(tops);
            rl_free(ids);
            rl_free(mem);
            rl_free(proto);
        }
        struct SyncGroupRequest sreq;
        proto_SyncGroupRequest_init(&sreq);
        sreq.GroupId = proto_str_c(cs->o->group);
        sreq.GenerationId = cs->generation;
        sreq.MemberId = proto_str_c(cs->member_id);
        sreq.ProtocolType = proto_str_c("consumer");
        sreq.ProtocolName = jr.ProtocolName;
        sreq.Assignments = sa;
        sreq.n_Assignments = nsa;
        struct proto_arena a2;
        proto_arena_init(&a2);
        struct SyncGroupResponse sr;
        struct ringlet_resp frame2 = {0};
        e = ringlet_call(cs->coord, PROTO_API_KEY_SYNC_GROUP, 0, 5, ringlet_enc_SyncGroupRequest,
                         &sreq, ringlet_dec_SyncGroupResponse, &sr, &a2, &frame2, 40000, NULL);
        for (int m = 0; m < nsa; m++)
            proto_writer_free(&bufs[m]);
        rl_free(bufs);
        rl_free(sa);
        ringlet_resp_free(&frame);
        proto_arena_destroy(&a);
        if (e != 0 || sr.ErrorCode != 0) {
            if (e) cli_errorf(cs->c, "SyncGroup: %s", cli_strerror(e));
            ringlet_resp_free(&frame2);
            proto_arena_destroy(&a2);
            continue; /* rebalance again */
        }
        struct ringlet_tp *tps = NULL;
        int ntps = 0;
        if (ringlet_assignment_decode(sr.Assignment.ptr, sr.Assignment.len, &tps, &ntps) != 0) {
            cli_errorf(cs->c, "SyncGroup: undecodable assignment");
            ringlet_resp_free(&frame2);
            proto_arena_destroy(&a2);
            return CLI_FAIL;
        }
        ringlet_resp_free(&frame2);
        proto_arena_destroy(&a2);
        rl_free(cs->p);
        cs->p = NULL;
        cs->np = 0;
        int32_t *mine = rl_calloc((size_t)ntps + 1, sizeof(int32_t));
        int nm = 0;
        for (int i = 0; i < ntps; i++)
            if (!strcmp(tps[i].topic, cs->topic)) mine[nm++] = tps[i].partition;
        ringlet_tps_free(tps, ntps);
        int rc = 0;
        if (nm > 0) {
            rc = load_partitions(cs, mine, nm);
            if (rc == 0) rc = group_fetch_committed(cs);
            if (rc == 0) rc = resolve_start(cs);
        }
        rl_free(mine);
        rl_debug("cli", "joined %s generation %d as %s with %d partition(s)", cs->o->group,
                 cs->generation, cs->member_id, nm);
        cs->last_heartbeat_ms = cs->last_commit_ms = rl_mono_ms();
        return rc;
    }
    if (!stop_requested) cli_errorf(cs->c, "could not join group %s", cs->o->group);
    return CLI_FAIL;
}

/* Returns 0, or 1 if the group is rebalancing (rejoin). */
static int group_heartbeat(struct consumer *cs) {
    struct HeartbeatRequest req;
    proto_HeartbeatRequest_init(&req);
    req.GroupId = proto_str_c(cs->o->group);
    req.GenerationId = cs->generation;
    req.MemberId = proto_str_c(cs->member_id);
    struct proto_arena a;
    proto_arena_init(&a);
    struct HeartbeatResponse resp;
    struct ringlet_resp frame = {0};
    int rc = 0;
    if (cs->coord == NULL) return 1;
    int e = ringlet_call(cs->coord, PROTO_API_KEY_HEARTBEAT, 0, 4, ringlet_enc_HeartbeatRequest,
                         &req, ringlet_dec_HeartbeatResponse, &resp, &a, &frame,
                         ringlet_client_conf(cs->cl)->request_timeout_ms, NULL);
    if (e != 0 || resp.ErrorCode != 0) rc = 1;
    if (e == 0 && resp.ErrorCode == PROTO_ERR_UNKNOWN_MEMBER_ID) {
        rl_free(cs->member_id);
        cs->member_id = NULL;
    }
    if (e != 0) cs->coord = NULL;
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
    cs->last_heartbeat_ms = rl_mono_ms();
    return rc;
}

static void group_leave(struct consumer *cs) {
    if (cs->coord == NULL || cs->member_id == NULL) return;
    struct LeaveGroupRequest_MemberIdentity mi;
    proto_LeaveGroupRequest_MemberIdentity_init(&mi);
    mi.MemberId = proto_str_c(cs->member_id);
    struct LeaveGroupRequest req;
    proto_LeaveGroupRequest_init(&req);
    req.GroupId = proto_str_c(cs->o->group);
    req.MemberId = proto_str_c(cs->member_id);
    req.Members = &mi;
    req.n_Members = 1;
    struct proto_arena a;
    proto_arena_init(&a);
    struct LeaveGroupResponse resp;
    struct ringlet_resp frame = {0};
    (void)ringlet_call(cs->coord, PROTO_API_KEY_LEAVE_GROUP, 0, 4, ringlet_enc_LeaveGroupRequest,
                       &req, ringlet_dec_LeaveGroupResponse, &resp, &a, &frame, 5000, NULL);
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
}

/* ---- the fetch loop -------------------------------------------------------------------------- */

static bool at_end(const struct consumer *cs) {
    for (int i = 0; i < cs->np; i++)
        if (cs->p[i].hwm < 0 || cs->p[i].position < cs->p[i].hwm) return false;
    return true;
}

/* One round: a Fetch per leader. Returns 0, 1 when -n is reached, or CLI_FAIL on errors that
 * make going on pointless. */
static int fetch_round(struct consumer *cs) {
    char err[256];
    bool refresh = false;
    bool *done = rl_calloc((size_t)cs->np + 1, sizeof(bool));
    int32_t *ids = rl_calloc((size_t)cs->np + 1, sizeof(int32_t));
    int64_t *offs = rl_calloc((size_t)cs->np + 1, sizeof(int64_t));
    int *idx = rl_calloc((size_t)cs->np + 1, sizeof(int));
    struct ringlet_fetch_part *fp = rl_calloc((size_t)cs->np + 1, sizeof(*fp));
    int rc = 0;
    /* Only wait at the broker when every partition is caught up. */
    int32_t wait = at_end(cs) ? 500 : 0;
    if (cs->o->exit_at_end) wait = 0;
    for (int i = 0; i < cs->np && rc == 0; i++) {
        if (done[i]) continue;
        int32_t leader = cs->p[i].leader;
        int n = 0;
        for (int k = i; k < cs->np; k++) {
            if (done[k] || cs->p[k].leader != leader) continue;
            done[k] = true;
            if (cs->o->exit_at_end && cs->p[k].hwm >= 0 && cs->p[k].position >= cs->p[k].hwm)
                continue;
            idx[n] = k;
            ids[n] = cs->p[k].partition;
            offs[n] = cs->p[k].position;
            n++;
        }
        if (n == 0) continue;
        if (leader < 0) {
            refresh = true;
            continue;
        }
        struct proto_arena a;
        proto_arena_init(&a);
        struct ringlet_resp frame = {0};
        int e = ringlet_fetch(cs->cl, leader, cs->topic, ids, offs, n, wait, 1024 * 1024, fp,
                              &frame, &a, err, sizeof(err));
        if (e != 0) {
            rl_debug("cli", "%s", err);
            refresh = true;
        } else {
            for (int k = 0; k < n && rc == 0; k++) {
                struct cpart *p = &cs->p[idx[k]];
                if (fp[k].error == PROTO_ERR_OFFSET_OUT_OF_RANGE) {
                    rl_warn("cli",
                            "%s/%d: offset %" PRId64 " out of range; restarting at the "
                            "log start",
                            cs->topic, p->partition, p->position);
                    p->position = -1;
                    struct cli_offset_spec save = cs->o->start;
                    bool had = cs->o->have_start;
                    cs->o->start = (struct cli_offset_spec){CLI_OFFSET_BEGINNING, 0};
                    cs->o->have_start = true;
                    if (resolve_start(cs)) rc = CLI_FAIL;
                    cs->o->start = save;
                    cs->o->have_start = had;
                    continue;
                }
                if (fp[k].error) {
                    if (ringlet_error_retriable(fp[k].error)) {
                        refresh = true;
                        continue;
                    }
                    cli_errorf(cs->c, "fetch %s/%" PRId32 ": %s", cs->topic, p->partition,
                               proto_error_name(fp[k].error));
                    rc = CLI_FAIL;
                    continue;
                }
                p->hwm = fp[k].high_watermark;
                int64_t next = p->position;
                int got =
                    ringlet_records_walk(fp[k].records, fp[k].records_len, cs->topic, p->partition,
                                         p->position, &a, print_record, cs, &next);
                if (got < 0) {
                    cli_errorf(cs->c, "%s/%" PRId32 " at offset %" PRId64 ": corrupt record batch",
                               cs->topic, p->partition, next);
                    rc = CLI_FAIL;
                    continue;
                }
                p->position = next;
                if (cs->o->count >= 0 && cs->printed >= cs->o->count) rc = 1;
            }
        }
        ringlet_resp_free(&frame);
        proto_arena_destroy(&a);
    }
    if (refresh && rc == 0) {
        sleep_ms(100);
        if (load_partitions(cs, NULL, 0) == CLI_FAIL) rc = CLI_FAIL;
    }
    rl_free(done);
    rl_free(ids);
    rl_free(offs);
    rl_free(idx);
    rl_free(fp);
    fflush(cs->c->out);
    return rc;
}

static int run_consume(struct cli *c, int argc, char **argv) {
    struct consume_opts o = {.count = -1};
    char **pos = NULL;
    int npos = 0;
    struct consumer cs = {0};
    int rc = cli_parse(c, argc, argv, consume_optv, consume_opt, &o, &pos, &npos);
    if (rc) goto out;
    if (npos != 1) {
        rc = cli_usage(c, "name exactly one topic");
        goto out;
    }
    if (o.group && o.nparts) {
        rc = cli_usage(c, "-p and -g exclude each other (the group assigns partitions)");
        goto out;
    }
    cs.c = c;
    cs.topic = pos[0];
    cs.o = &o;
    if (cli_client(c, &cs.cl)) {
        rc = CLI_FAIL;
        goto out;
    }
    stop_requested = 0;
    struct sigaction sa = {.sa_handler = on_signal};
    struct sigaction old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    if (o.count == 0) goto restore;
    if (o.group) {
        rc = group_join(&cs);
    } else {
        rc = load_partitions(&cs, o.parts, o.nparts);
        if (rc == 0) rc = resolve_start(&cs);
    }
    while (rc == 0 && !stop_requested) {
        if (o.exit_at_end && at_end(&cs)) break;
        int r = fetch_round(&cs);
        if (r == 1) break;
        if (r != 0) {
            rc = r;
            break;
        }
        if (o.group) {
            int64_t now = rl_mono_ms();
            if (now - cs.last_commit_ms >= 5000) group_commit(&cs);
            if (now - cs.last_heartbeat_ms >= 3000 && group_heartbeat(&cs)) {
                group_commit(&cs);
                rc = group_join(&cs);
            }
        }
        if (cs.np == 0 && !o.group) break;
        if (cs.np == 0) sleep_ms(200); /* a member with no partitions just heartbeats */
    }
    if (o.group) {
        if (group_commit(&cs)) rc = rc ? rc : CLI_FAIL;
        group_leave(&cs);
    }
restore:
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
out:
    rl_free(cs.p);
    rl_free(cs.member_id);
    rl_free(o.parts);
    rl_free(pos);
    return rc;
}

const struct cli_cmd cli_cmd_consume = {
    NULL,
    "consume",
    "TOPIC [-o OFFSET] [-n N] [-e] [-f FMT] [-p N]... [-g GROUP] [--format json]",
    "Print records of a topic (all partitions, some, or a group's share).",
    "Options:\n"
    "  -o, --offset WHERE     where to start: beginning (default), end, N (absolute),\n"
    "                         +N (N after the start), -N (N before the end),\n"
    "                         @TIMESTAMP_MS (first record at or after that time).\n"
    "                         With -g it applies only where the group has no commit.\n"
    "  -n, --count N          stop after N records\n"
    "  -e, --exit             stop at the end of every partition\n"
    "  -f, --format-string F  kcat-style: %t topic, %p partition, %o offset, %T timestamp,\n"
    "                         %k key, %K key length, %s value, %S value length,\n"
    "                         %h headers (k=v,...), %% and \\n \\t \\r (default '%s\\n')\n"
    "      --format json      one JSON object per record (key/value as strings, or\n"
    "                         key_base64/value_base64 when not UTF-8)\n"
    "  -p, --partition N      only this partition, repeatable\n"
    "  -g, --group GROUP      consume as a member of GROUP (commits every 5 s and at exit)\n"
    "      --assignor A       range or roundrobin (default: offer both, range first)\n\n"
    "Examples:\n"
    "  ringlet consume orders -o beginning -e\n"
    "  ringlet consume orders -o -10 -e -f '%p/%o %k=%s\\n'\n"
    "  ringlet consume orders -o @1700000000000 -n 5 --format json\n"
    "  ringlet consume orders -g billing\n",
    consume_optv,
    run_consume};
