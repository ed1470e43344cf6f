/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_group.c - the wire handlers of the group coordinator: FindCoordinator (10), OffsetCommit
 * (8), OffsetFetch (9), JoinGroup (11), Heartbeat (12), LeaveGroup (13), SyncGroup (14),
 * DescribeGroups (15), ListGroups (16), DeleteGroups (42), OffsetDelete (47).
 *
 * Each handler decodes the request, turns it into a call on the state machine (group.c) or the
 * store (group_store.c) and encodes the answer; JoinGroup, SyncGroup and OffsetCommit answer
 * from a callback, later.
 *
 * FindCoordinator: this broker is the coordinator of every group. Transaction coordinator keys
 * (key type 1) get COORDINATOR_NOT_AVAILABLE with a message until transactions exist, so
 * transactional producers fail clearly instead of talking to a coordinator that cannot serve.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "group.h"
#include "topics.h"

#define OFFSET_METADATA_MAX_BYTES 4096
/* READ (3), DELETE (6), DESCRIBE (8): the group operations Kafka reports */
#define GROUP_AUTHORIZED_OPS ((1 << 3) | (1 << 6) | (1 << 8))

static struct group_coord *coord_of(struct broker_request *req) {
    return req->b->groups ? req->b->groups->coord : NULL;
}

/* A NUL-terminated copy in the request arena; NULL for a null string. */
static char *cstr(struct broker_request *req, struct proto_str s) {
    if (s.len < 0) return NULL;
    char *p = proto_arena_alloc(&req->arena, (size_t)s.len + 1);
    if (s.len) memcpy(p, s.ptr, s.len);
    p[s.len] = 0;
    return p;
}

static struct proto_str astr(struct broker_request *req, const char *s) {
    if (!s) return PROTO_STR_NULL;
    size_t n = strlen(s);
    char *p = proto_arena_alloc(&req->arena, n + 1);
    memcpy(p, s, n + 1);
    return (struct proto_str){p, (int32_t)n};
}

/* Kafka's client host: "/" + the peer's address without the port. */
static const char *client_host(struct broker_request *req) {
    const char *peer = broker_request_peer(req);
    size_t n = strlen(peer);
    const char *colon = strrchr(peer, ':');
    if (colon) n = (size_t)(colon - peer);
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') peer++, n -= 2;
    char *s = proto_arena_alloc(&req->arena, n + 2);
    s[0] = '/';
    memcpy(s + 1, peer, n);
    s[n + 1] = 0;
    return s;
}

/* ---- FindCoordinator ----------------------------------------------------------------------- */
static int16_t coordinator_for(struct broker_request *req, int8_t key_type, const char **msg) {
    if (!req->b->groups) {
        *msg = "the group coordinator is not running";
        return PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
    }
    if (key_type == 0) return 0;
    if (key_type == 1) {
        *msg = "transactions are not supported by this broker";
        return PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
    }
    *msg = "unknown coordinator key type";
    return PROTO_ERR_INVALID_REQUEST;
}

int broker_api_find_coordinator(struct broker_request *req) {
    struct broker *b = req->b;
    int16_t v = req->hdr.ApiVersion;
    struct FindCoordinatorRequest rq;
    proto_FindCoordinatorRequest_init(&rq);
    if (proto_FindCoordinatorRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed FindCoordinator request");
        return 0;
    }
    const char *host = "";
    int32_t port = -1;
    broker_advertised_listener(b, &host, &port);
    struct FindCoordinatorResponse rs;
    proto_FindCoordinatorResponse_init(&rs);
    if (v < 4) {
        const char *msg = NULL;
        rs.ErrorCode = coordinator_for(req, rq.KeyType, &msg);
        rs.ErrorMessage = rs.ErrorCode ? proto_str_c(msg) : PROTO_STR_NULL;
        rs.NodeId = rs.ErrorCode ? -1 : b->node_id;
        rs.Host = proto_str_c(rs.ErrorCode ? "" : host);
        rs.Port = rs.ErrorCode ? -1 : port;
    } else {
        int32_t n = RL_MAX(rq.n_CoordinatorKeys, 0);
        rs.Coordinators = proto_arena_alloc(&req->arena, sizeof(*rs.Coordinators) * (n ? n : 1));
        rs.n_Coordinators = n;
        for (int32_t i = 0; i < n; i++) {
            struct FindCoordinatorResponse_Coordinator *c = &rs.Coordinators[i];
            proto_FindCoordinatorResponse_Coordinator_init(c);
            const char *msg = NULL;
            c->Key = rq.CoordinatorKeys[i];
            c->ErrorCode = coordinator_for(req, rq.KeyType, &msg);
            c->ErrorMessage = c->ErrorCode ? proto_str_c(msg) : PROTO_STR_NULL;
            c->NodeId = c->ErrorCode ? -1 : b->node_id;
            c->Host = proto_str_c(c->ErrorCode ? "" : host);
            c->Port = c->ErrorCode ? -1 : port;
        }
    }
    BROKER_RESPOND(req, FindCoordinatorResponse, &rs);
    return 0;
}

/* ---- JoinGroup ----------------------------------------------------------------------------- */
static void join_done(void *ctx, const struct group_join_result *r) {
    struct broker_request *req = ctx;
    int16_t v = req->hdr.ApiVersion;
    struct JoinGroupResponse rs;
    proto_JoinGroupResponse_init(&rs);
    rs.ErrorCode = r->error;
    rs.GenerationId = r->generation_id;
    rs.ProtocolType = v >= 7 ? astr(req, r->protocol_type) : PROTO_STR_NULL;
    rs.ProtocolName = astr(req, r->protocol_name ? r->protocol_name : (v >= 7 ? NULL : ""));
    rs.Leader = astr(req, r->leader_id ? r->leader_id : "");
    rs.SkipAssignment = r->skip_assignment;
    rs.MemberId = astr(req, r->member_id ? r->member_id : "");
    if (r->n_members > 0) {
        rs.Members = proto_arena_alloc(&req->arena, sizeof(*rs.Members) * r->n_members);
        rs.n_Members = r->n_members;
        for (int32_t i = 0; i < r->n_members; i++) {
            struct JoinGroupResponse_JoinGroupResponseMember *m = &rs.Members[i];
            proto_JoinGroupResponse_JoinGroupResponseMember_init(m);
            m->MemberId = astr(req, r->members[i].member_id);
            m->GroupInstanceId = astr(req, r->members[i].instance_id);
            uint8_t *md = proto_arena_alloc(&req->arena, (size_t)r->members[i].metadata_len + 1);
            if (r->members[i].metadata_len)
                memcpy(md, r->members[i].metadata, r->members[i].metadata_len);
            m->Metadata = (struct proto_bytes){md, r->members[i].metadata_len};
        }
    }
    BROKER_RESPOND(req, JoinGroupResponse, &rs);
}

int broker_api_join_group(struct broker_request *req) {
    int16_t v = req->hdr.ApiVersion;
    struct JoinGroupRequest rq;
    proto_JoinGroupRequest_init(&rq);
    if (proto_JoinGroupRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed JoinGroup request");
        return 0;
    }
    struct group_coord *c = coord_of(req);
    if (!c) {
        struct group_join_result r = {.error = PROTO_ERR_COORDINATOR_NOT_AVAILABLE,
                                      .member_id = "",
                                      .generation_id = -1,
                                      .leader_id = ""};
        join_done(req, &r);
        return 0;
    }
    int32_t n = RL_MAX(rq.n_Protocols, 0);
    int64_t md_total = 0;
    struct group_protocol *p = proto_arena_alloc(&req->arena, sizeof(*p) * (n ? n : 1));
    for (int32_t i = 0; i < n; i++) {
        p[i].name = cstr(req, rq.Protocols[i].Name);
        if (!p[i].name) p[i].name = "";
        p[i].metadata = (uint8_t *)rq.Protocols[i].Metadata.ptr;
        p[i].metadata_len = RL_MAX(rq.Protocols[i].Metadata.len, 0);
        md_total += p[i].metadata_len;
    }
    /* A member's metadata ends up in the group's metadata record: one that could never be
     * stored (larger than message.max.bytes) is refused here, so it cannot break the rebalance
     * of the members already in the group (Kafka would fail every member's SyncGroup). */
    if (md_total > req->b->cfg.message_max_bytes) {
        struct group_join_result r = {.error = PROTO_ERR_INVALID_REQUEST,
                                      .member_id = "",
                                      .generation_id = -1,
                                      .leader_id = ""};
        rl_warn("group", "JoinGroup from %s refused: %lld bytes of protocol metadata",
                broker_request_peer(req), (long long)md_total);
        join_done(req, &r);
        return 0;
    }
    const char *client_id = cstr(req, req->hdr.ClientId);
    struct group_join_request r = {
        .group_id = cstr(req, rq.GroupId),
        .member_id = cstr(req, rq.MemberId),
        .instance_id = v >= 5 ? cstr(req, rq.GroupInstanceId) : NULL,
        .client_id = client_id ? client_id : "",
        .client_host = client_host(req),
        .protocol_type = cstr(req, rq.ProtocolType),
        .session_timeout_ms = rq.SessionTimeoutMs,
        .rebalance_timeout_ms = v >= 1 ? rq.RebalanceTimeoutMs : -1,
        .require_known_member_id = v >= 4,
        .protocols = p,
        .n_protocols = n,
    };
    if (!r.member_id) r.member_id = "";
    if (!r.group_id) r.group_id = "";
    group_join(c, &r, join_done, req);
    return 0;
}

/* ---- SyncGroup ----------------------------------------------------------------------------- */
static void sync_done(void *ctx, const struct group_sync_result *r) {
    struct broker_request *req = ctx;
    int16_t v = req->hdr.ApiVersion;
    struct SyncGroupResponse rs;
    proto_SyncGroupResponse_init(&rs);
    rs.ErrorCode = r->error;
    rs.ProtocolType = v >= 5 ? astr(req, r->protocol_type) : PROTO_STR_NULL;
    rs.ProtocolName = v >= 5 ? astr(req, r->protocol_name) : PROTO_STR_NULL;
    uint8_t *a = proto_arena_alloc(&req->arena, (size_t)RL_MAX(r->assignment_len, 0) + 1);
    if (r->assignment_len > 0) memcpy(a, r->assignment, r->assignment_len);
    rs.Assignment = (struct proto_bytes){a, RL_MAX(r->assignment_len, 0)};
    BROKER_RESPOND(req, SyncGroupResponse, &rs);
}

int broker_api_sync_group(struct broker_request *req) {
    int16_t v = req->hdr.ApiVersion;
    struct SyncGroupRequest rq;
    proto_SyncGroupRequest_init(&rq);
    if (proto_SyncGroupRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed SyncGroup request");
        return 0;
    }
    struct group_coord *c = coord_of(req);
    if (!c) {
        struct group_sync_result r = {.error = PROTO_ERR_COORDINATOR_NOT_AVAILABLE};
        sync_done(req, &r);
        return 0;
    }
    int32_t n = RL_MAX(rq.n_Assignments, 0);
    struct group_sync_assignment *a = proto_arena_alloc(&req->arena, sizeof(*a) * (n ? n : 1));
    for (int32_t i = 0; i < n; i++) {
        a[i].member_id = cstr(req, rq.Assignments[i].MemberId);
        if (!a[i].member_id) a[i].member_id = "";
        a[i].assignment = rq.Assignments[i].Assignment.ptr;
        a[i].assignment_len = RL_MAX(rq.Assignments[i].Assignment.len, 0);
    }
    struct group_sync_request r = {
        .group_id = cstr(req, rq.GroupId),
        .member_id = cstr(req, rq.MemberId),
        .instance_id = v >= 3 ? cstr(req, rq.GroupInstanceId) : NULL,
        .generation_id = rq.GenerationId,
        .protocol_type = v >= 5 ? cstr(req, rq.ProtocolType) : NULL,
        .protocol_name = v >= 5 ? cstr(req, rq.ProtocolName) : NULL,
        .assignments = a,
        .n_assignments = n,
    };
    if (!r.group_id) r.group_id = "";
    if (!r.member_id) r.member_id = "";
    group_sync(c, &r, sync_done, req);
    return 0;
}

/* ---- Heartbeat / LeaveGroup ---------------------------------------------------------------- */
int broker_api_heartbeat(struct broker_request *req) {
    int16_t v = req->hdr.ApiVersion;
    struct HeartbeatRequest rq;
    proto_HeartbeatRequest_init(&rq);
    if (proto_HeartbeatRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed Heartbeat request");
        return 0;
    }
    struct HeartbeatResponse rs;
    proto_HeartbeatResponse_init(&rs);
    struct group_coord *c = coord_of(req);
    const char *gid = cstr(req, rq.GroupId), *mid = cstr(req, rq.MemberId);
    rs.ErrorCode =
        !c ? PROTO_ERR_COORDINATOR_NOT_AVAILABLE
           : group_heartbeat(c, gid ? gid : "", mid ? mid : "",
                             v >= 3 ? cstr(req, rq.GroupInstanceId) : NULL, rq.GenerationId);
    BROKER_RESPOND(req, HeartbeatResponse, &rs);
    return 0;
}

int broker_api_leave_group(struct broker_request *req) {
    int16_t v = req->hdr.ApiVersion;
    struct LeaveGroupRequest rq;
    proto_LeaveGroupRequest_init(&rq);
    if (proto_LeaveGroupRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed LeaveGroup request");
        return 0;
    }
    struct LeaveGroupResponse rs;
    proto_LeaveGroupResponse_init(&rs);
    struct group_coord *c = coord_of(req);
    const char *gid = cstr(req, rq.GroupId);
    if (!gid) gid = "";
    if (!c) {
        rs.ErrorCode = PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
    } else if (v < 3) {
        int16_t gerr;
        const char *mid = cstr(req, rq.MemberId);
        rs.ErrorCode = group_leave(c, gid, mid ? mid : "", NULL, &gerr);
    } else {
        int32_t n = RL_MAX(rq.n_Members, 0);
        rs.Members = proto_arena_alloc(&req->arena, sizeof(*rs.Members) * (n ? n : 1));
        rs.n_Members = n;
        for (int32_t i = 0; i < n; i++) {
            struct LeaveGroupResponse_MemberResponse *m = &rs.Members[i];
            proto_LeaveGroupResponse_MemberResponse_init(m);
            m->MemberId = rq.Members[i].MemberId;
            m->GroupInstanceId = rq.Members[i].GroupInstanceId;
            const char *mid = cstr(req, rq.Members[i].MemberId);
            int16_t gerr = 0;
            m->ErrorCode = group_leave(c, gid, mid ? mid : "",
                                       cstr(req, rq.Members[i].GroupInstanceId), &gerr);
            if (gerr) rs.ErrorCode = gerr;
        }
        if (rs.ErrorCode) rs.n_Members = 0;
    }
    BROKER_RESPOND(req, LeaveGroupResponse, &rs);
    return 0;
}

/* ---- OffsetCommit -------------------------------------------------------------------------- */
struct commit_ctx {
    struct broker_request *req;
    struct OffsetCommitResponse rs;
    /* the partitions being written, as indexes into rs */
    int16_t **codes;
    int32_t n;
};

static void commit_done(void *ctx, int16_t err) {
    struct commit_ctx *cc = ctx;
    for (int32_t i = 0; i < cc->n; i++)
        *cc->codes[i] = err;
    BROKER_RESPOND(cc->req, OffsetCommitResponse, &cc->rs);
}

int broker_api_offset_commit(struct broker_request *req) {
    struct broker *b = req->b;
    int16_t v = req->hdr.ApiVersion;
    struct OffsetCommitRequest rq;
    proto_OffsetCommitRequest_init(&rq);
    if (proto_OffsetCommitRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed OffsetCommit request");
        return 0;
    }
    struct commit_ctx *cc = proto_arena_alloc(&req->arena, sizeof(*cc));
    cc->req = req;
    proto_OffsetCommitResponse_init(&cc->rs);
    int32_t nt = RL_MAX(rq.n_Topics, 0), total = 0;
    cc->rs.Topics = proto_arena_alloc(&req->arena, sizeof(*cc->rs.Topics) * (nt ? nt : 1));
    cc->rs.n_Topics = nt;
    for (int32_t i = 0; i < nt; i++)
        total += RL_MAX(rq.Topics[i].n_Partitions, 0);
    cc->codes = proto_arena_alloc(&req->arena, sizeof(*cc->codes) * (total ? total : 1));
    struct group_commit_offset *offs =
        proto_arena_alloc(&req->arena, sizeof(*offs) * (total ? total : 1));

    struct group_coord *c = coord_of(req);
    const char *gid = cstr(req, rq.GroupId);
    const char *mid = v >= 1 ? cstr(req, rq.MemberId) : "";
    struct group *g = NULL;
    /* unknown partitions first (as Kafka, which only passes known ones to the coordinator, so
     * a commit of nothing valid creates no group) */
    for (int32_t i = 0; i < nt; i++) {
        struct OffsetCommitRequest_OffsetCommitRequestTopic *it = &rq.Topics[i];
        struct OffsetCommitResponse_OffsetCommitResponseTopic *ot = &cc->rs.Topics[i];
        proto_OffsetCommitResponse_OffsetCommitResponseTopic_init(ot);
        ot->Name = it->Name;
        int32_t np = RL_MAX(it->n_Partitions, 0);
        ot->Partitions = proto_arena_alloc(&req->arena, sizeof(*ot->Partitions) * (np ? np : 1));
        ot->n_Partitions = np;
        const char *topic = cstr(req, it->Name);
        struct broker_topic *t = topic ? broker_topic_find(b, topic, strlen(topic)) : NULL;
        for (int32_t k = 0; k < np; k++) {
            struct OffsetCommitRequest_OffsetCommitRequestPartition *ip = &it->Partitions[k];
            struct OffsetCommitResponse_OffsetCommitResponsePartition *op = &ot->Partitions[k];
            proto_OffsetCommitResponse_OffsetCommitResponsePartition_init(op);
            op->PartitionIndex = ip->PartitionIndex;
            if (!t || ip->PartitionIndex < 0 ||
                ip->PartitionIndex >= broker_topic_partition_count(t)) {
                op->ErrorCode = PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else if (ip->CommittedMetadata.len > OFFSET_METADATA_MAX_BYTES) {
                op->ErrorCode = PROTO_ERR_OFFSET_METADATA_TOO_LARGE;
            } else {
                offs[cc->n] = (struct group_commit_offset){
                    .topic = topic,
                    .partition = ip->PartitionIndex,
                    .offset = ip->CommittedOffset,
                    .leader_epoch = v >= 6 ? ip->CommittedLeaderEpoch : -1,
                    .metadata = cstr(req, ip->CommittedMetadata),
                };
                cc->codes[cc->n++] = &op->ErrorCode;
            }
        }
    }
    if (cc->n == 0) {
        BROKER_RESPOND(req, OffsetCommitResponse, &cc->rs);
        return 0;
    }
    int16_t gerr = !c     ? PROTO_ERR_COORDINATOR_NOT_AVAILABLE
                   : !gid ? PROTO_ERR_INVALID_GROUP_ID
                          : group_commit_check(c, gid, mid ? mid : "",
                                               v >= 7 ? cstr(req, rq.GroupInstanceId) : NULL,
                                               v >= 1 ? rq.GenerationIdOrMemberEpoch : -1, &g);
    if (gerr) {
        commit_done(cc, gerr);
        return 0;
    }
    group_store_commit(b->groups->store, g, offs, cc->n, commit_done, cc);
    return 0;
}

/* ---- OffsetFetch --------------------------------------------------------------------------- */
/* One group's answer in the v8+ layout (converted for older versions). */
struct fetch_part {
    int32_t partition;
    int64_t offset;
    const char *metadata;
    int16_t error;
};
struct fetch_topic {
    struct proto_str name;
    struct fetch_part *parts;
    int32_t n, cap;
};
struct fetch_result {
    struct fetch_topic *topics;
    int32_t n, cap;
    struct broker_request *req;
};

static struct fetch_topic *fr_topic(struct fetch_result *fr, const char *name, size_t len) {
    for (int32_t i = 0; i < fr->n; i++)
        if ((size_t)fr->topics[i].name.len == len && memcmp(fr->topics[i].name.ptr, name, len) == 0)
            return &fr->topics[i];
    if (fr->n == fr->cap) {
        int32_t cap = fr->cap ? fr->cap * 2 : 8;
        struct fetch_topic *nt = proto_arena_alloc(&fr->req->arena, sizeof(*nt) * cap);
        if (fr->n) memcpy(nt, fr->topics, sizeof(*nt) * fr->n);
        fr->topics = nt;
        fr->cap = cap;
    }
    struct fetch_topic *t = &fr->topics[fr->n++];
    memset(t, 0, sizeof(*t));
    char *s = proto_arena_alloc(&fr->req->arena, len + 1);
    memcpy(s, name, len);
    t->name = (struct proto_str){s, (int32_t)len};
    return t;
}

static void fr_add(struct fetch_result *fr, struct fetch_topic *t, int32_t part, int64_t offset,
                   const char *md) {
    if (t->n == t->cap) {
        int32_t cap = t->cap ? t->cap * 2 : 8;
        struct fetch_part *np = proto_arena_alloc(&fr->req->arena, sizeof(*np) * cap);
        if (t->n) memcpy(np, t->parts, sizeof(*np) * t->n);
        t->parts = np;
        t->cap = cap;
    }
    char *m = NULL;
    if (md) {
        size_t l = strlen(md);
        m = proto_arena_alloc(&fr->req->arena, l + 1);
        memcpy(m, md, l + 1);
    }
    t->parts[t->n++] = (struct fetch_part){part, offset, m ? m : "", 0};
}

static void fr_all(void *arg, struct group_offset *o) {
    struct fetch_result *fr = arg;
    fr_add(fr, fr_topic(fr, o->topic, strlen(o->topic)), o->partition, o->offset, o->metadata);
}

/* Fills fr for one group: every partition if all, else the listed topics/partitions. */
static void fetch_group(struct broker_request *req, const char *gid, bool all,
                        const struct proto_str *names, int32_t *const *parts,
                        const int32_t *n_parts, int32_t n_topics, struct fetch_result *fr) {
    struct group_coord *c = coord_of(req);
    struct group *g = c && gid ? group_find(c, gid) : NULL;
    memset(fr, 0, sizeof(*fr));
    fr->req = req;
    if (all) {
        if (g) group_offset_foreach(g, fr_all, fr);
        return;
    }
    for (int32_t i = 0; i < n_topics; i++) {
        const char *topic = cstr(req, names[i]);
        struct fetch_topic *t = fr_topic(fr, topic ? topic : "", topic ? strlen(topic) : 0);
        for (int32_t k = 0; k < n_parts[i]; k++) {
            struct group_offset *o = g && topic ? group_offset_find(g, topic, parts[i][k]) : NULL;
            fr_add(fr, t, parts[i][k], o ? o->offset : -1, o ? o->metadata : "");
        }
    }
}

int broker_api_offset_fetch(struct broker_request *req) {
    int16_t v = req->hdr.ApiVersion;
    struct OffsetFetchRequest rq;
    proto_OffsetFetchRequest_init(&rq);
    if (proto_OffsetFetchRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed OffsetFetch request");
        return 0;
    }
    struct OffsetFetchResponse rs;
    proto_OffsetFetchResponse_init(&rs);
    int16_t cerr = coord_of(req) ? 0 : PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
    if (v < 8) {
        int32_t nt = rq.n_Topics;
        bool all = nt < 0 && v >= 2;
        if (nt < 0) nt = 0;
        struct proto_str *names = proto_arena_alloc(&req->arena, sizeof(*names) * (nt ? nt : 1));
        int32_t **parts = proto_arena_alloc(&req->arena, sizeof(*parts) * (nt ? nt : 1));
        int32_t *np = proto_arena_alloc(&req->arena, sizeof(*np) * (nt ? nt : 1));
        for (int32_t i = 0; i < nt; i++) {
            names[i] = rq.Topics[i].Name;
            parts[i] = rq.Topics[i].PartitionIndexes;
            np[i] = RL_MAX(rq.Topics[i].n_PartitionIndexes, 0);
        }
        struct fetch_result fr;
        fetch_group(req, cstr(req, rq.GroupId), all, names, parts, np, nt, &fr);
        rs.ErrorCode = cerr;
        rs.Topics = proto_arena_alloc(&req->arena, sizeof(*rs.Topics) * (fr.n ? fr.n : 1));
        rs.n_Topics = fr.n;
        for (int32_t i = 0; i < fr.n; i++) {
            struct OffsetFetchResponse_OffsetFetchResponseTopic *t = &rs.Topics[i];
            proto_OffsetFetchResponse_OffsetFetchResponseTopic_init(t);
            t->Name = fr.topics[i].name;
            t->n_Partitions = fr.topics[i].n;
            t->Partitions =
                proto_arena_alloc(&req->arena, sizeof(*t->Partitions) * (t->n_Partitions + 1));
            for (int32_t k = 0; k < t->n_Partitions; k++) {
                struct OffsetFetchResponse_OffsetFetchResponsePartition *p = &t->Partitions[k];
                proto_OffsetFetchResponse_OffsetFetchResponsePartition_init(p);
                p->PartitionIndex = fr.topics[i].parts[k].partition;
                p->CommittedOffset = fr.topics[i].parts[k].offset;
                p->CommittedLeaderEpoch = -1;
                p->Metadata = proto_str_c(fr.topics[i].parts[k].metadata);
                p->ErrorCode = v < 2 ? cerr : 0;
            }
        }
    } else {
        int32_t ng = RL_MAX(rq.n_Groups, 0);
        rs.Groups = proto_arena_alloc(&req->arena, sizeof(*rs.Groups) * (ng ? ng : 1));
        rs.n_Groups = ng;
        for (int32_t gi = 0; gi < ng; gi++) {
            struct OffsetFetchRequest_OffsetFetchRequestGroup *ig = &rq.Groups[gi];
            int32_t nt = ig->n_Topics;
            bool all = nt < 0;
            if (nt < 0) nt = 0;
            struct proto_str *names =
                proto_arena_alloc(&req->arena, sizeof(*names) * (nt ? nt : 1));
            int32_t **parts = proto_arena_alloc(&req->arena, sizeof(*parts) * (nt ? nt : 1));
            int32_t *np = proto_arena_alloc(&req->arena, sizeof(*np) * (nt ? nt : 1));
            for (int32_t i = 0; i < nt; i++) {
                names[i] = ig->Topics[i].Name;
                parts[i] = ig->Topics[i].PartitionIndexes;
                np[i] = RL_MAX(ig->Topics[i].n_PartitionIndexes, 0);
            }
            struct fetch_result fr;
            fetch_group(req, cstr(req, ig->GroupId), all, names, parts, np, nt, &fr);
            struct OffsetFetchResponse_OffsetFetchResponseGroup *og = &rs.Groups[gi];
            proto_OffsetFetchResponse_OffsetFetchResponseGroup_init(og);
            og->GroupId = ig->GroupId;
            og->ErrorCode = cerr;
            og->Topics = proto_arena_alloc(&req->arena, sizeof(*og->Topics) * (fr.n ? fr.n : 1));
            og->n_Topics = fr.n;
            for (int32_t i = 0; i < fr.n; i++) {
                struct OffsetFetchResponse_OffsetFetchResponseTopics *t = &og->Topics[i];
                proto_OffsetFetchResponse_OffsetFetchResponseTopics_init(t);
                t->Name = fr.topics[i].name;
                t->n_Partitions = fr.topics[i].n;
                t->Partitions =
                    proto_arena_alloc(&req->arena, sizeof(*t->Partitions) * (t->n_Partitions + 1));
                for (int32_t k = 0; k < t->n_Partitions; k++) {
                    struct OffsetFetchResponse_OffsetFetchResponsePartitions *p = &t->Partitions[k];
                    proto_OffsetFetchResponse_OffsetFetchResponsePartitions_init(p);
                    p->PartitionIndex = fr.topics[i].parts[k].partition;
                    p->CommittedOffset = fr.topics[i].parts[k].offset;
                    p->CommittedLeaderEpoch = -1;
                    p->Metadata = proto_str_c(fr.topics[i].parts[k].metadata);
                    p->ErrorCode = 0;
                }
            }
        }
    }
    BROKER_RESPOND(req, OffsetFetchResponse, &rs);
    return 0;
}

/* ---- ListGroups / DescribeGroups ----------------------------------------------------------- */
struct list_ctx {
    struct broker_request *req;
    struct ListGroupsRequest *rq;
    struct ListGroupsResponse *rs;
    int32_t cap;
};

static bool in_filter(const struct proto_str *f, int32_t n, const char *s) {
    if (n <= 0) return true;
    for (int32_t i = 0; i < n; i++)
        if (f[i].len >= 0 && (size_t)f[i].len == strlen(s) &&
            strncasecmp(f[i].ptr, s, f[i].len) == 0)
            return true;
    return false;
}

static void list_one(void *arg, struct group *g) {
    struct list_ctx *lc = arg;
    int16_t v = lc->req->hdr.ApiVersion;
    if (g->state == GROUP_DEAD) return;
    const char *state = group_state_name(g->state);
    if (v >= 4 && !in_filter(lc->rq->StatesFilter, lc->rq->n_StatesFilter, state)) return;
    if (v >= 5 && !in_filter(lc->rq->TypesFilter, lc->rq->n_TypesFilter, "classic")) return;
    struct ListGroupsResponse *rs = lc->rs;
    if (rs->n_Groups == lc->cap) {
        lc->cap = lc->cap ? lc->cap * 2 : 16;
        struct ListGroupsResponse_ListedGroup *n =
            proto_arena_alloc(&lc->req->arena, sizeof(*n) * lc->cap);
        if (rs->n_Groups) memcpy(n, rs->Groups, sizeof(*n) * rs->n_Groups);
        rs->Groups = n;
    }
    struct ListGroupsResponse_ListedGroup *o = &rs->Groups[rs->n_Groups++];
    proto_ListGroupsResponse_ListedGroup_init(o);
    o->GroupId = astr(lc->req, g->group_id);
    o->ProtocolType = astr(lc->req, g->protocol_type ? g->protocol_type : "");
    o->GroupState = proto_str_c(state);
    o->GroupType = proto_str_c("classic");
}

int broker_api_list_groups(struct broker_request *req) {
    int16_t v = req->hdr.ApiVersion;
    struct ListGroupsRequest rq;
    proto_ListGroupsRequest_init(&rq);
    if (proto_ListGroupsRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed ListGroups request");
        return 0;
    }
    struct ListGroupsResponse rs;
    proto_ListGroupsResponse_init(&rs);
    struct group_coord *c = coord_of(req);
    if (!c) {
        rs.ErrorCode = PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
    } else {
        struct list_ctx lc = {.req = req, .rq = &rq, .rs = &rs};
        group_foreach(c, list_one, &lc);
    }
    BROKER_RESPOND(req, ListGroupsResponse, &rs);
    return 0;
}

static struct proto_bytes abytes(struct broker_request *req, const uint8_t *p, int32_t n) {
    if (n <= 0 || !p) return (struct proto_bytes){(const uint8_t *)"", 0};
    uint8_t *d = proto_arena_alloc(&req->arena, (size_t)n);
    memcpy(d, p, n);
    return (struct proto_bytes){d, n};
}

int broker_api_describe_groups(struct broker_request *req) {
    int16_t v = req->hdr.ApiVersion;
    struct DescribeGroupsRequest rq;
    proto_DescribeGroupsRequest_init(&rq);
    if (proto_DescribeGroupsRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed DescribeGroups request");
        return 0;
    }
    struct DescribeGroupsResponse rs;
    proto_DescribeGroupsResponse_init(&rs);
    struct group_coord *c = coord_of(req);
    int32_t n = RL_MAX(rq.n_Groups, 0);
    rs.Groups = proto_arena_alloc(&req->arena, sizeof(*rs.Groups) * (n ? n : 1));
    rs.n_Groups = n;
    for (int32_t i = 0; i < n; i++) {
        struct DescribeGroupsResponse_DescribedGroup *o = &rs.Groups[i];
        proto_DescribeGroupsResponse_DescribedGroup_init(o);
        o->GroupId = rq.Groups[i];
        o->GroupState = proto_str_c("Dead");
        o->ProtocolType = proto_str_c("");
        o->ProtocolData = proto_str_c("");
        o->AuthorizedOperations = rq.IncludeAuthorizedOperations ? GROUP_AUTHORIZED_OPS : INT32_MIN;
        const char *gid = cstr(req, rq.Groups[i]);
        if (!c) {
            o->ErrorCode = PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
            continue;
        }
        if (!gid) { /* "" is valid here, as in Kafka */
            o->ErrorCode = PROTO_ERR_INVALID_GROUP_ID;
            continue;
        }
        struct group *g = group_find(c, gid);
        if (!g) continue;
        o->GroupState = proto_str_c(group_state_name(g->state));
        o->ProtocolType = astr(req, g->protocol_type ? g->protocol_type : "");
        bool stable = g->state == GROUP_STABLE && g->protocol_name;
        o->ProtocolData = astr(req, stable ? g->protocol_name : "");
        o->Members = proto_arena_alloc(&req->arena, sizeof(*o->Members) * (g->n_members + 1));
        o->n_Members = g->n_members;
        for (int32_t k = 0; k < g->n_members; k++) {
            const struct group_member *m = g->members[k];
            struct DescribeGroupsResponse_DescribedGroupMember *om = &o->Members[k];
            proto_DescribeGroupsResponse_DescribedGroupMember_init(om);
            om->MemberId = astr(req, m->member_id);
            om->GroupInstanceId = astr(req, m->instance_id);
            om->ClientId = astr(req, m->client_id);
            om->ClientHost = astr(req, m->client_host);
            const struct group_protocol *p =
                stable ? group_member_protocol(m, g->protocol_name) : NULL;
            om->MemberMetadata = abytes(req, p ? p->metadata : NULL, p ? p->metadata_len : 0);
            om->MemberAssignment =
                abytes(req, stable ? m->assignment : NULL, stable ? m->assignment_len : 0);
        }
    }
    BROKER_RESPOND(req, DescribeGroupsResponse, &rs);
    return 0;
}

/* ---- DeleteGroups / OffsetDelete ----------------------------------------------------------- */
int broker_api_delete_groups(struct broker_request *req) {
    int16_t v = req->hdr.ApiVersion;
    struct DeleteGroupsRequest rq;
    proto_DeleteGroupsRequest_init(&rq);
    if (proto_DeleteGroupsRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed DeleteGroups request");
        return 0;
    }
    struct DeleteGroupsResponse rs;
    proto_DeleteGroupsResponse_init(&rs);
    struct group_coord *c = coord_of(req);
    int32_t n = RL_MAX(rq.n_GroupsNames, 0);
    rs.Results = proto_arena_alloc(&req->arena, sizeof(*rs.Results) * (n ? n : 1));
    rs.n_Results = n;
    for (int32_t i = 0; i < n; i++) {
        struct DeleteGroupsResponse_DeletableGroupResult *o = &rs.Results[i];
        proto_DeleteGroupsResponse_DeletableGroupResult_init(o);
        o->GroupId = rq.GroupsNames[i];
        const char *gid = cstr(req, rq.GroupsNames[i]);
        struct group *g = NULL;
        if (!c) {
            o->ErrorCode = PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
        } else if (!gid) {
            o->ErrorCode = PROTO_ERR_INVALID_GROUP_ID;
        } else if ((o->ErrorCode = group_delete_check(c, gid, &g)) == 0) {
            if (g->inflight_commits > 0)
                o->ErrorCode = PROTO_ERR_NON_EMPTY_GROUP;
            else
                group_store_delete_group(req->b->groups->store, g);
        }
    }
    BROKER_RESPOND(req, DeleteGroupsResponse, &rs);
    return 0;
}

int broker_api_offset_delete(struct broker_request *req) {
    struct broker *b = req->b;
    int16_t v = req->hdr.ApiVersion;
    struct OffsetDeleteRequest rq;
    proto_OffsetDeleteRequest_init(&rq);
    if (proto_OffsetDeleteRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed OffsetDelete request");
        return 0;
    }
    struct OffsetDeleteResponse rs;
    proto_OffsetDeleteResponse_init(&rs);
    struct group_coord *c = coord_of(req);
    const char *gid = cstr(req, rq.GroupId);
    struct group *g = c && gid ? group_find(c, gid) : NULL;
    if (!c) {
        rs.ErrorCode = PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
    } else if (!gid || !gid[0]) {
        rs.ErrorCode = PROTO_ERR_INVALID_GROUP_ID;
    } else if (!g || g->state == GROUP_DEAD) {
        rs.ErrorCode = PROTO_ERR_GROUP_ID_NOT_FOUND;
    } else if (g->state != GROUP_EMPTY &&
               !(g->protocol_type && strcmp(g->protocol_type, "consumer") == 0)) {
        rs.ErrorCode = PROTO_ERR_NON_EMPTY_GROUP;
    }
    if (rs.ErrorCode) {
        BROKER_RESPOND(req, OffsetDeleteResponse, &rs);
        return 0;
    }
    int32_t nt = RL_MAX(rq.n_Topics, 0), total = 0;
    for (int32_t i = 0; i < nt; i++)
        total += RL_MAX(rq.Topics[i].n_Partitions, 0);
    const char **del_t = proto_arena_alloc(&req->arena, sizeof(*del_t) * (total ? total : 1));
    int32_t *del_p = proto_arena_alloc(&req->arena, sizeof(*del_p) * (total ? total : 1));
    int32_t nd = 0;
    rs.Topics = proto_arena_alloc(&req->arena, sizeof(*rs.Topics) * (nt ? nt : 1));
    rs.n_Topics = nt;
    for (int32_t i = 0; i < nt; i++) {
        struct OffsetDeleteResponse_OffsetDeleteResponseTopic *ot = &rs.Topics[i];
        proto_OffsetDeleteResponse_OffsetDeleteResponseTopic_init(ot);
        ot->Name = rq.Topics[i].Name;
        int32_t np = RL_MAX(rq.Topics[i].n_Partitions, 0);
        ot->Partitions = proto_arena_alloc(&req->arena, sizeof(*ot->Partitions) * (np ? np : 1));
        ot->n_Partitions = np;
        const char *topic = cstr(req, rq.Topics[i].Name);
        struct broker_topic *t = topic ? broker_topic_find(b, topic, strlen(topic)) : NULL;
        bool subscribed = topic && g->state != GROUP_EMPTY && group_subscribed_to(g, topic);
        for (int32_t k = 0; k < np; k++) {
            struct OffsetDeleteResponse_OffsetDeleteResponsePartition *op = &ot->Partitions[k];
            proto_OffsetDeleteResponse_OffsetDeleteResponsePartition_init(op);
            int32_t p = rq.Topics[i].Partitions[k].PartitionIndex;
            op->PartitionIndex = p;
            if (!t || p < 0 || p >= broker_topic_partition_count(t)) {
                op->ErrorCode = PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            } else if (subscribed) {
                op->ErrorCode = PROTO_ERR_GROUP_SUBSCRIBED_TO_TOPIC;
            } else if (group_offset_find(g, topic, p)) {
                del_t[nd] = topic;
                del_p[nd++] = p;
            }
        }
    }
    group_store_delete_offsets(b->groups->store, g, del_t, del_p, nd);
    BROKER_RESPOND(req, OffsetDeleteResponse, &rs);
    return 0;
}
