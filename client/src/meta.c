/* SPDX-License-Identifier: Apache-2.0 */
/*
 * meta.c - requests through the generated codec: the generic negotiated call, metadata (deep
 * copied out of the response frame), broker connections by node id, ListOffsets grouped by
 * leader, and group coordinator lookup. Every decode failure is -EBADMSG for that request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"
#include "ringlet/common.h"

RINGLET_CODEC(Metadata)
RINGLET_CODEC(ListOffsets)
RINGLET_CODEC(FindCoordinator)

int ringlet_call(struct ringlet_conn *c, int16_t key, int16_t cmin, int16_t cmax,
                 ringlet_encode_fn enc, const void *req, ringlet_decode_fn dec, void *resp,
                 struct proto_arena *a, struct ringlet_resp *frame, int timeout_ms,
                 int16_t *version_out) {
    int16_t v = ringlet_conn_pick_version(c, key, cmin, cmax);
    if (v < 0) return -ENOTSUP;
    struct ringlet_resp f = {0};
    int err = ringlet_conn_request(c, key, v, enc, req, true, timeout_ms, &f);
    if (err) return err;
    err = dec(&f.r, v, a, resp);
    if (err) {
        rl_debug("client", "undecodable response to API %d v%d from %s:%d", key, v,
                 ringlet_conn_host(c), ringlet_conn_port(c));
        ringlet_resp_free(&f);
        return err == -ENOTSUP ? -ENOTSUP : -EBADMSG;
    }
    *frame = f;
    if (version_out) *version_out = v;
    return 0;
}

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

static int cmp_topic(const void *a, const void *b) {
    return strcmp(((const struct ringlet_topic_md *)a)->name,
                  ((const struct ringlet_topic_md *)b)->name);
}

static int cmp_part(const void *a, const void *b) {
    int32_t x = ((const struct ringlet_partition_md *)a)->partition;
    int32_t y = ((const struct ringlet_partition_md *)b)->partition;
    return (x > y) - (x < y);
}

static int32_t *dup_i32(const int32_t *p, int32_t n) {
    if (n <= 0) return NULL;
    int32_t *d = rl_malloc(sizeof(*d) * (size_t)n);
    memcpy(d, p, sizeof(*d) * (size_t)n);
    return d;
}

static struct ringlet_metadata *md_copy(const struct MetadataResponse *r) {
    struct ringlet_metadata *md = rl_calloc(1, sizeof(*md));
    md->cluster_id = proto_str_dup(r->ClusterId);
    md->controller_id = r->ControllerId;
    md->n_brokers = r->n_Brokers > 0 ? r->n_Brokers : 0;
    md->brokers = rl_calloc((size_t)md->n_brokers + 1, sizeof(*md->brokers));
    for (int32_t i = 0; i < md->n_brokers; i++) {
        const struct MetadataResponse_MetadataResponseBroker *b = &r->Brokers[i];
        md->brokers[i].id = b->NodeId;
        md->brokers[i].host = b->Host.len >= 0 ? proto_str_dup(b->Host) : rl_strdup("");
        md->brokers[i].port = b->Port;
        md->brokers[i].rack = proto_str_dup(b->Rack);
    }
    int32_t nt = 0;
    md->topics = rl_calloc((size_t)(r->n_Topics > 0 ? r->n_Topics : 0) + 1, sizeof(*md->topics));
    for (int32_t i = 0; i < r->n_Topics; i++) {
        const struct MetadataResponse_MetadataResponseTopic *t = &r->Topics[i];
        if (t->Name.len < 0) continue; /* topic-id-only answers carry no name */
        struct ringlet_topic_md *o = &md->topics[nt++];
        o->name = proto_str_dup(t->Name);
        o->error = t->ErrorCode;
        o->internal = t->IsInternal;
        o->n_partitions = t->n_Partitions > 0 ? t->n_Partitions : 0;
        o->partitions = rl_calloc((size_t)o->n_partitions + 1, sizeof(*o->partitions));
        for (int32_t j = 0; j < o->n_partitions; j++) {
            const struct MetadataResponse_MetadataResponsePartition *p = &t->Partitions[j];
            struct ringlet_partition_md *q = &o->partitions[j];
            q->partition = p->PartitionIndex;
            q->error = p->ErrorCode;
            q->leader = p->LeaderId;
            q->leader_epoch = p->LeaderEpoch;
            q->replicas = dup_i32(p->ReplicaNodes, p->n_ReplicaNodes);
            q->n_replicas = p->n_ReplicaNodes > 0 ? p->n_ReplicaNodes : 0;
            q->isr = dup_i32(p->IsrNodes, p->n_IsrNodes);
            q->n_isr = p->n_IsrNodes > 0 ? p->n_IsrNodes : 0;
        }
        qsort(o->partitions, (size_t)o->n_partitions, sizeof(*o->partitions), cmp_part);
    }
    md->n_topics = nt;
    qsort(md->topics, (size_t)nt, sizeof(*md->topics), cmp_topic);
    return md;
}

void ringlet_metadata_free(struct ringlet_metadata *md) {
    if (md == NULL) return;
    for (int32_t i = 0; i < md->n_brokers; i++) {
        rl_free(md->brokers[i].host);
        rl_free(md->brokers[i].rack);
    }
    for (int32_t i = 0; i < md->n_topics; i++) {
        for (int32_t j = 0; j < md->topics[i].n_partitions; j++) {
            rl_free(md->topics[i].partitions[j].replicas);
            rl_free(md->topics[i].partitions[j].isr);
        }
        rl_free(md->topics[i].partitions);
        rl_free(md->topics[i].name);
    }
    rl_free(md->topics);
    rl_free(md->brokers);
    rl_free(md->cluster_id);
    rl_free(md);
}

const struct ringlet_topic_md *ringlet_metadata_topic(const struct ringlet_metadata *md,
                                                      const char *name) {
    for (int32_t i = 0; i < md->n_topics; i++)
        if (!strcmp(md->topics[i].name, name)) return &md->topics[i];
    return NULL;
}

const struct ringlet_broker_md *ringlet_metadata_broker(const struct ringlet_metadata *md,
                                                        int32_t id) {
    for (int32_t i = 0; i < md->n_brokers; i++)
        if (md->brokers[i].id == id) return &md->brokers[i];
    return NULL;
}

void ringlet__client_set_brokers(struct ringlet_client *cl, const struct ringlet_metadata *md) {
    for (int32_t i = 0; i < cl->n_known; i++) {
        rl_free(cl->known[i].host);
        rl_free(cl->known[i].rack);
    }
    rl_free(cl->known);
    cl->n_known = md->n_brokers;
    cl->known = rl_calloc((size_t)md->n_brokers + 1, sizeof(*cl->known));
    for (int32_t i = 0; i < md->n_brokers; i++) {
        cl->known[i].id = md->brokers[i].id;
        cl->known[i].host = rl_strdup(md->brokers[i].host);
        cl->known[i].port = md->brokers[i].port;
        cl->known[i].rack = md->brokers[i].rack ? rl_strdup(md->brokers[i].rack) : NULL;
    }
}

int ringlet_metadata_get(struct ringlet_client *cl, const char *const *topics, int n_topics,
                         bool allow_auto_create, struct ringlet_metadata **out, char *errbuf,
                         size_t errlen) {
    struct MetadataRequest req;
    proto_MetadataRequest_init(&req);
    struct MetadataRequest_MetadataRequestTopic *rt = NULL;
    if (n_topics >= 0) {
        rt = rl_calloc((size_t)n_topics + 1, sizeof(*rt));
        for (int i = 0; i < n_topics; i++) {
            proto_MetadataRequest_MetadataRequestTopic_init(&rt[i]);
            rt[i].Name = proto_str_c(topics[i]);
        }
        req.Topics = rt;
        req.n_Topics = n_topics;
    } else {
        req.Topics = NULL;
        req.n_Topics = -1; /* v1+: null = all topics */
    }
    req.AllowAutoTopicCreation = allow_auto_create;

    int err = -ENOTCONN;
    for (int attempt = 0; attempt <= cl->conf.retries; attempt++) {
        if (attempt > 0) sleep_ms(ringlet_backoff_ms(&cl->conf, attempt - 1));
        struct ringlet_conn *c = NULL;
        err = ringlet_client_any_conn(cl, &c, errbuf, errlen);
        if (err) break; /* any_conn already retried the whole bootstrap list */
        struct proto_arena a;
        proto_arena_init(&a);
        struct MetadataResponse resp;
        struct ringlet_resp frame = {0};
        /* v1+: null topics = all (v0 would need an empty array). */
        err = ringlet_call(c, PROTO_API_KEY_METADATA, 1, 12, ringlet_enc_MetadataRequest, &req,
                           ringlet_dec_MetadataResponse, &resp, &a, &frame,
                           cl->conf.request_timeout_ms, NULL);
        if (err == 0) {
            struct ringlet_metadata *md = md_copy(&resp);
            ringlet__client_set_brokers(cl, md);
            ringlet_resp_free(&frame);
            proto_arena_destroy(&a);
            rl_free(rt);
            *out = md;
            return 0;
        }
        proto_arena_destroy(&a);
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "Metadata from %s:%d: %s", ringlet_conn_host(c),
                     ringlet_conn_port(c),
                     err == -ENOTSUP ? "broker lacks Metadata v1+" : rl_strerror(err));
        if (err == -ENOTSUP || err == -EBADMSG) break;
    }
    rl_free(rt);
    return err;
}

int ringlet_client_broker_conn(struct ringlet_client *cl, int32_t node_id,
                               struct ringlet_conn **out, char *errbuf, size_t errlen) {
    for (int pass = 0; pass < 2; pass++) {
        for (int32_t i = 0; i < cl->n_known; i++) {
            if (cl->known[i].id != node_id) continue;
            char host[256];
            snprintf(host, sizeof(host), "%s", cl->known[i].host);
            return ringlet_client_node_conn(cl, node_id, host, cl->known[i].port, out, errbuf,
                                            errlen);
        }
        if (pass == 0) {
            struct ringlet_metadata *md = NULL;
            int err = ringlet_metadata_get(cl, NULL, 0, false, &md, errbuf, errlen);
            if (err) return err;
            ringlet_metadata_free(md);
        }
    }
    if (errbuf && errlen) snprintf(errbuf, errlen, "broker %d is not in the metadata", node_id);
    return -ENOENT;
}

int ringlet_list_offsets(struct ringlet_client *cl, const struct ringlet_topic_md *t,
                         const int32_t *partitions, int n, int64_t timestamp, int64_t *offsets,
                         int16_t *errors, char *errbuf, size_t errlen) {
    int result = 0;
    bool *done = rl_calloc((size_t)n + 1, sizeof(bool));
    for (int i = 0; i < n; i++) {
        offsets[i] = -1;
        errors[i] = PROTO_ERR_UNKNOWN_SERVER_ERROR;
    }
    struct ListOffsetsRequest_ListOffsetsPartition *parts =
        rl_calloc((size_t)n + 1, sizeof(*parts));
    for (int i = 0; i < n; i++) {
        if (done[i]) continue;
        /* Gather every pending partition with the same leader as partitions[i]. */
        int32_t leader = -1;
        for (int32_t j = 0; j < t->n_partitions; j++)
            if (t->partitions[j].partition == partitions[i]) leader = t->partitions[j].leader;
        if (leader < 0) {
            done[i] = true;
            errors[i] = PROTO_ERR_LEADER_NOT_AVAILABLE;
            continue;
        }
        int np = 0;
        for (int k = i; k < n; k++) {
            if (done[k]) continue;
            int32_t lk = -1;
            for (int32_t j = 0; j < t->n_partitions; j++)
                if (t->partitions[j].partition == partitions[k]) lk = t->partitions[j].leader;
            if (lk != leader) continue;
            proto_ListOffsetsRequest_ListOffsetsPartition_init(&parts[np]);
            parts[np].PartitionIndex = partitions[k];
            parts[np].Timestamp = timestamp;
            parts[np].MaxNumOffsets = 1;
            np++;
        }
        struct ListOffsetsRequest_ListOffsetsTopic topic;
        proto_ListOffsetsRequest_ListOffsetsTopic_init(&topic);
        topic.Name = proto_str_c(t->name);
        topic.Partitions = parts;
        topic.n_Partitions = np;
        struct ListOffsetsRequest req;
        proto_ListOffsetsRequest_init(&req);
        req.ReplicaId = -1;
        req.IsolationLevel = 0;
        req.Topics = &topic;
        req.n_Topics = 1;

        struct ringlet_conn *c = NULL;
        int err = ringlet_client_broker_conn(cl, leader, &c, errbuf, errlen);
        struct proto_arena a;
        proto_arena_init(&a);
        struct ListOffsetsResponse resp;
        struct ringlet_resp frame = {0};
        int16_t v = 0;
        /* v3 at most: leader epochs (v4+) are not used here, and librdkafka's mock cluster
         * encodes v4+ answers with 4 extra bytes per partition. */
        if (err == 0)
            err = ringlet_call(c, PROTO_API_KEY_LIST_OFFSETS, 0, 3, ringlet_enc_ListOffsetsRequest,
                               &req, ringlet_dec_ListOffsetsResponse, &resp, &a, &frame,
                               cl->conf.request_timeout_ms, &v);
        for (int k = i; k < n; k++) {
            if (done[k]) continue;
            bool mine = false;
            for (int q = 0; q < np; q++)
                if (parts[q].PartitionIndex == partitions[k]) mine = true;
            if (!mine) continue;
            done[k] = true;
            if (err) continue;
            for (int32_t ti = 0; ti < resp.n_Topics; ti++) {
                if (!proto_str_eq(resp.Topics[ti].Name, t->name)) continue;
                for (int32_t pi = 0; pi < resp.Topics[ti].n_Partitions; pi++) {
                    const struct ListOffsetsResponse_ListOffsetsPartitionResponse *pr =
                        &resp.Topics[ti].Partitions[pi];
                    if (pr->PartitionIndex != partitions[k]) continue;
                    errors[k] = pr->ErrorCode;
                    if (v == 0)
                        offsets[k] = pr->n_OldStyleOffsets > 0 ? pr->OldStyleOffsets[0] : -1;
                    else
                        offsets[k] = pr->Offset;
                }
            }
        }
        if (err) {
            result = err;
            if (errbuf && errlen && err != -ENOENT)
                snprintf(errbuf, errlen, "ListOffsets to broker %d: %s", leader, rl_strerror(err));
        }
        ringlet_resp_free(&frame);
        proto_arena_destroy(&a);
    }
    rl_free(parts);
    rl_free(done);
    return result;
}

int ringlet_coordinator_conn(struct ringlet_client *cl, const char *group,
                             struct ringlet_conn **out, char *errbuf, size_t errlen) {
    struct FindCoordinatorRequest req;
    proto_FindCoordinatorRequest_init(&req);
    req.Key = proto_str_c(group);
    req.KeyType = 0;
    struct proto_str keys[1] = {proto_str_c(group)};
    req.CoordinatorKeys = keys;
    req.n_CoordinatorKeys = 1;
    int err = -ENOTCONN;
    for (int attempt = 0; attempt <= cl->conf.retries + 2; attempt++) {
        if (attempt > 0) sleep_ms(ringlet_backoff_ms(&cl->conf, attempt - 1));
        struct ringlet_conn *c = NULL;
        err = ringlet_client_any_conn(cl, &c, errbuf, errlen);
        if (err) return err;
        struct proto_arena a;
        proto_arena_init(&a);
        struct FindCoordinatorResponse resp;
        struct ringlet_resp frame = {0};
        int16_t v = 0;
        err = ringlet_call(c, PROTO_API_KEY_FIND_COORDINATOR, 0, 4,
                           ringlet_enc_FindCoordinatorRequest, &req,
                           ringlet_dec_FindCoordinatorResponse, &resp, &a, &frame,
                           cl->conf.request_timeout_ms, &v);
        if (err) {
            proto_arena_destroy(&a);
            if (errbuf && errlen) snprintf(errbuf, errlen, "FindCoordinator: %s", rl_strerror(err));
            if (err == -ENOTSUP || err == -EBADMSG) return err;
            continue;
        }
        int16_t ec;
        int32_t node;
        int32_t port;
        char host[256] = "";
        if (v >= 4) {
            if (resp.n_Coordinators < 1) {
                ec = PROTO_ERR_COORDINATOR_NOT_AVAILABLE;
                node = -1;
                port = 0;
            } else {
                ec = resp.Coordinators[0].ErrorCode;
                node = resp.Coordinators[0].NodeId;
                port = resp.Coordinators[0].Port;
                snprintf(host, sizeof(host), "%.*s", RL_MAX(resp.Coordinators[0].Host.len, 0),
                         resp.Coordinators[0].Host.ptr ? resp.Coordinators[0].Host.ptr : "");
            }
        } else {
            ec = resp.ErrorCode;
            node = resp.NodeId;
            port = resp.Port;
            snprintf(host, sizeof(host), "%.*s", RL_MAX(resp.Host.len, 0),
                     resp.Host.ptr ? resp.Host.ptr : "");
        }
        ringlet_resp_free(&frame);
        proto_arena_destroy(&a);
        if (ec != 0) {
            if (errbuf && errlen)
                snprintf(errbuf, errlen, "FindCoordinator for group '%s': %s", group,
                         proto_error_name(ec));
            err = -EPROTO;
            if (ringlet_error_coordinator(ec) || ringlet_error_retriable(ec)) continue;
            return err;
        }
        return ringlet_client_node_conn(cl, node, host, port, out, errbuf, errlen);
    }
    return err;
}
