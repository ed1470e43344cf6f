/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_metadata.c - Metadata (key 3) and DescribeCluster (key 60): this single broker is the
 * controller and the leader of every partition (replicas = isr = [node.id], leader epoch 0,
 * the epoch stamped into every stored batch). Topic ids are the stable ids from topics.c, so
 * every codec version (including v10+ with TopicId) is served.
 */
#include <string.h>

#include "topics.h"

/* ACL operation bits a single-node broker without authorization allows (Kafka's
 * AclOperation codes: READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8,
 * DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11). */
#define TOPIC_OPS                                                                                  \
    ((1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11))
/* CLUSTER: CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10,
 * ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12 */
#define CLUSTER_OPS ((1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12))

/* This broker's advertised host (127.0.0.1 when it has none) and port. */
static struct proto_str advertised_host(struct broker *b, int32_t *port) {
    const char *host = NULL;
    *port = 0;
    broker_advertised_listener(b, &host, port);
    return proto_str_c(host ? host : "127.0.0.1");
}

static void fill_topic(struct broker_request *req, struct MetadataResponse_MetadataResponseTopic *o,
                       struct broker_topic *t, bool with_ops) {
    struct broker *b = req->b;
    proto_MetadataResponse_MetadataResponseTopic_init(o);
    o->ErrorCode = PROTO_ERR_NONE;
    o->Name = (struct proto_str){t->name, (int32_t)t->name_len};
    o->TopicId = t->id;
    o->IsInternal = t->internal;
    if (with_ops) o->TopicAuthorizedOperations = TOPIC_OPS;
    o->n_Partitions = t->n_partitions;
    o->Partitions =
        proto_arena_alloc(&req->arena, (size_t)t->n_partitions * sizeof(*o->Partitions));
    int32_t *node = proto_arena_alloc(&req->arena, sizeof(int32_t));
    *node = b->node_id;
    for (int32_t i = 0; i < t->n_partitions; i++) {
        struct MetadataResponse_MetadataResponsePartition *p = &o->Partitions[i];
        proto_MetadataResponse_MetadataResponsePartition_init(p);
        p->ErrorCode = PROTO_ERR_NONE;
        p->PartitionIndex = i;
        p->LeaderId = b->node_id;
        p->LeaderEpoch = 0;
        p->ReplicaNodes = node;
        p->n_ReplicaNodes = 1;
        p->IsrNodes = node;
        p->n_IsrNodes = 1;
        p->n_OfflineReplicas = 0;
    }
}

int broker_api_metadata(struct broker_request *req) {
    struct broker *b = req->b;
    int16_t v = req->hdr.ApiVersion;
    struct MetadataRequest rq;
    proto_MetadataRequest_init(&rq);
    if (proto_MetadataRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed Metadata request");
        return 0;
    }
    struct MetadataResponse rs;
    proto_MetadataResponse_init(&rs);
    struct MetadataResponse_MetadataResponseBroker *br =
        proto_arena_alloc(&req->arena, sizeof(*br));
    proto_MetadataResponse_MetadataResponseBroker_init(br);
    br->NodeId = b->node_id;
    br->Host = advertised_host(b, &br->Port);
    rs.Brokers = br;
    rs.n_Brokers = 1;
    rs.ClusterId = proto_str_c(b->cluster_id);
    rs.ControllerId = b->node_id;
    if (v >= 8 && v <= 10 && rq.IncludeClusterAuthorizedOperations)
        rs.ClusterAuthorizedOperations = CLUSTER_OPS;
    bool ops = v >= 8 && rq.IncludeTopicAuthorizedOperations;

    bool all = (v == 0 && rq.n_Topics == 0) || rq.n_Topics < 0;
    if (all) {
        size_t n = broker_topics_count(b);
        rs.Topics = proto_arena_alloc(&req->arena, (n ? n : 1) * sizeof(*rs.Topics));
        for (size_t i = 0; i < n; i++)
            fill_topic(req, &rs.Topics[i], broker_topics_at(b, i), ops);
        rs.n_Topics = (int32_t)n;
    } else {
        rs.Topics = proto_arena_alloc(&req->arena,
                                      (size_t)(rq.n_Topics ? rq.n_Topics : 1) * sizeof(*rs.Topics));
        rs.n_Topics = rq.n_Topics;
        bool allow_create = v < 4 || rq.AllowAutoTopicCreation;
        for (int32_t i = 0; i < rq.n_Topics; i++) {
            struct MetadataRequest_MetadataRequestTopic *q = &rq.Topics[i];
            struct MetadataResponse_MetadataResponseTopic *o = &rs.Topics[i];
            struct broker_topic *t = NULL;
            int16_t err = PROTO_ERR_NONE;
            if (q->Name.len < 0) {
                t = broker_topic_find_id(b, q->TopicId);
                if (!t) err = PROTO_ERR_UNKNOWN_TOPIC_ID;
            } else {
                t = broker_topic_get_or_create(b, q->Name, allow_create, &err);
            }
            if (t) {
                fill_topic(req, o, t, ops);
            } else {
                proto_MetadataResponse_MetadataResponseTopic_init(o);
                o->ErrorCode = err;
                o->Name = q->Name;
                o->TopicId = q->TopicId;
                o->n_Partitions = 0;
            }
        }
    }
    BROKER_RESPOND(req, MetadataResponse, &rs);
    return 0;
}

int broker_api_describe_cluster(struct broker_request *req) {
    struct broker *b = req->b;
    int16_t v = req->hdr.ApiVersion;
    struct DescribeClusterRequest rq;
    proto_DescribeClusterRequest_init(&rq);
    if (proto_DescribeClusterRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed DescribeCluster request");
        return 0;
    }
    struct DescribeClusterResponse rs;
    proto_DescribeClusterResponse_init(&rs);
    struct DescribeClusterResponse_DescribeClusterBroker *br =
        proto_arena_alloc(&req->arena, sizeof(*br));
    proto_DescribeClusterResponse_DescribeClusterBroker_init(br);
    br->BrokerId = b->node_id;
    br->Host = advertised_host(b, &br->Port);
    rs.Brokers = br;
    rs.n_Brokers = 1;
    rs.ClusterId = proto_str_c(b->cluster_id);
    rs.ControllerId = b->node_id;
    rs.EndpointType = rq.EndpointType;
    if (rq.IncludeClusterAuthorizedOperations) rs.ClusterAuthorizedOperations = CLUSTER_OPS;
    BROKER_RESPOND(req, DescribeClusterResponse, &rs);
    return 0;
}
