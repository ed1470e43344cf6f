/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_admin.c - topic administration: CreateTopics (19), DeleteTopics (20), CreatePartitions
 * (37), DescribeConfigs (32), AlterConfigs (33), IncrementalAlterConfigs (44), DescribeLogDirs
 * (35).
 *
 * Topic configs are validated by topics.c's config table and persisted there; broker configs
 * are described (read-only: they come from the config file / command line) but not alterable
 * at run time.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "topics.h"

enum { RES_TOPIC = 2, RES_BROKER = 4, RES_BROKER_LOGGER = 8 };
enum { SRC_DYNAMIC_TOPIC = 1, SRC_STATIC_BROKER = 4, SRC_DEFAULT = 5 };
enum { CT_BOOLEAN = 1, CT_STRING = 2, CT_INT = 3, CT_LONG = 5, CT_DOUBLE = 6, CT_LIST = 7 };
enum { OP_SET = 0, OP_DELETE = 1, OP_APPEND = 2, OP_SUBTRACT = 3 };

static struct proto_str amsg(struct broker_request *req, const char *msg) {
    if (!msg || !msg[0]) return PROTO_STR_NULL;
    size_t n = strlen(msg);
    char *p = proto_arena_alloc(&req->arena, n + 1);
    memcpy(p, msg, n + 1);
    return (struct proto_str){p, (int32_t)n};
}

static size_t cnt(int32_t n) {
    return n > 0 ? (size_t)n : 1;
}

/* An arena C string of a config value from a request, NULL for a null value. */
static const char *arena_value(struct broker_request *req, struct proto_str v) {
    return v.len < 0 ? NULL : broker_arena_strdup(&req->arena, v);
}

/* Arena room for n config names and n values. */
static void alloc_pairs(struct broker_request *req, int32_t n, const char ***names,
                        const char ***values) {
    *names = proto_arena_alloc(&req->arena, cnt(n) * sizeof(char *));
    *values = proto_arena_alloc(&req->arena, cnt(n) * sizeof(char *));
}

/* The broker option that supplies a topic config's default (synonyms). */
static const char *tcfg_broker_name(int i) {
    switch (i) {
    case TCFG_FLUSH_MESSAGES:
        return "log.flush.interval.messages";
    case TCFG_FLUSH_MS:
        return "log.flush.interval.ms";
    case TCFG_INDEX_INTERVAL_BYTES:
        return "log.index.interval.bytes";
    case TCFG_MAX_MESSAGE_BYTES:
        return "message.max.bytes";
    case TCFG_MESSAGE_TIMESTAMP_TYPE:
        return "log.message.timestamp.type";
    case TCFG_RETENTION_BYTES:
        return "log.retention.bytes";
    case TCFG_RETENTION_MS:
        return "log.retention.ms";
    case TCFG_SEGMENT_BYTES:
        return "log.segment.bytes";
    case TCFG_SEGMENT_MS:
        return "log.roll.ms";
    default:
        return NULL;
    }
}

static int8_t tcfg_type(int i) {
    switch (i) {
    case TCFG_CLEANUP_POLICY:
        return CT_LIST;
    case TCFG_COMPRESSION_TYPE:
    case TCFG_MESSAGE_TIMESTAMP_TYPE:
    case TCFG_MESSAGE_FORMAT_VERSION:
        return CT_STRING;
    case TCFG_INDEX_INTERVAL_BYTES:
    case TCFG_MAX_MESSAGE_BYTES:
    case TCFG_MIN_INSYNC_REPLICAS:
    case TCFG_SEGMENT_BYTES:
    case TCFG_SEGMENT_INDEX_BYTES:
        return CT_INT;
    case TCFG_MESSAGE_DOWNCONVERSION_ENABLE:
    case TCFG_PREALLOCATE:
    case TCFG_UNCLEAN_LEADER_ELECTION_ENABLE:
        return CT_BOOLEAN;
    case TCFG_MIN_CLEANABLE_DIRTY_RATIO:
        return CT_DOUBLE;
    default:
        return CT_LONG;
    }
}

static const char *tcfg_doc(int i) {
    switch (i) {
    case TCFG_CLEANUP_POLICY:
        return "delete or compact (compaction is not implemented yet: compacted topics keep "
               "every record)";
    case TCFG_COMPRESSION_TYPE:
        return "Accepted and reported; ringlet stores batches as the producer compressed them "
               "(no broker-side recompression).";
    case TCFG_FLUSH_MESSAGES:
        return "fsync after this many messages (log.flush.policy=interval)";
    case TCFG_FLUSH_MS:
        return "fsync after this many ms (log.flush.policy=interval)";
    case TCFG_INDEX_INTERVAL_BYTES:
        return "Bytes between two sparse offset index entries.";
    case TCFG_MAX_MESSAGE_BYTES:
        return "Largest record batch accepted.";
    case TCFG_MESSAGE_TIMESTAMP_TYPE:
        return "CreateTime or LogAppendTime.";
    case TCFG_MIN_INSYNC_REPLICAS:
        return "acks=all needs this many in-sync replicas (1 here).";
    case TCFG_RETENTION_BYTES:
        return "Partition size above which old segments are deleted.";
    case TCFG_RETENTION_MS:
        return "Age after which old segments are deleted (-1: forever).";
    case TCFG_SEGMENT_BYTES:
        return "Segment file size.";
    case TCFG_SEGMENT_MS:
        return "A segment rolls once this old.";
    default:
        return broker_tcfg_has_effect(i)
                   ? NULL
                   : "Accepted and kept for compatibility with Kafka tools; no effect in ringlet.";
    }
}

struct find_opt {
    const char *name;
    bool found, is_default;
};

static int find_opt_cb(void *arg, const char *name, const char *value, bool is_default) {
    struct find_opt *f = arg;
    if (strcmp(name, f->name) != 0) return 0;
    f->found = true;
    f->is_default = is_default;
    return 1;
}

/* Where a topic config's default comes from: the broker's config file / command line
 * (STATIC_BROKER_CONFIG) when the matching broker option was set, else DEFAULT_CONFIG. */
static int8_t tcfg_default_source(const struct broker *b, int i) {
    const char *bname = tcfg_broker_name(i);
    if (!bname) return SRC_DEFAULT;
    struct find_opt f = {bname, false, true};
    broker_config_foreach(&b->cfg, find_opt_cb, &f);
    return f.found && !f.is_default ? SRC_STATIC_BROKER : SRC_DEFAULT;
}

static const char *topic_override(const struct broker_topic *t, const char *name) {
    for (int32_t k = 0; k < t->n_ov; k++)
        if (strcmp(t->ov_names[k], name) == 0) return t->ov_values[k];
    return NULL;
}

/* ---- CreateTopics --------------------------------------------------------------------------- */

static void fill_created_configs(struct broker_request *req, struct broker_topic *t,
                                 struct CreateTopicsResponse_CreatableTopicResult *o) {
    o->n_Configs = TCFG_COUNT;
    o->Configs = proto_arena_alloc(&req->arena, TCFG_COUNT * sizeof(*o->Configs));
    for (int i = 0; i < TCFG_COUNT; i++) {
        struct CreateTopicsResponse_CreatableTopicConfigs *c = &o->Configs[i];
        proto_CreateTopicsResponse_CreatableTopicConfigs_init(c);
        const char *name = broker_tcfg_name(i);
        const char *ov = topic_override(t, name);
        char buf[64];
        c->Name = proto_str_c(name);
        c->Value = amsg(req, ov ? ov : broker_tcfg_default(req->b, i, buf, sizeof(buf)));
        c->ReadOnly = false;
        c->ConfigSource = ov ? SRC_DYNAMIC_TOPIC : tcfg_default_source(req->b, i);
        c->IsSensitive = false;
    }
}

/* A CreateTopics request waiting for the topics it creates (broker_topic_create_async): the
 * response goes out when the last one is done. */
struct create_ctx {
    struct broker_request *req;
    struct CreateTopicsResponse rs;
    int pending; /* creations not done yet, plus one while the handler runs */
};
struct create_one {
    struct create_ctx *c;
    int32_t i; /* index in rs.Topics */
};

static void fill_created_result(struct broker_request *req, struct broker_topic *t,
                                struct CreateTopicsResponse_CreatableTopicResult *o) {
    o->NumPartitions = broker_topic_partition_count(t);
    o->ReplicationFactor = 1;
    o->TopicId = t->id;
    if (req->hdr.ApiVersion >= 5) fill_created_configs(req, t, o);
}

static void create_ctx_put(struct create_ctx *c) {
    if (--c->pending > 0) return;
    BROKER_RESPOND(c->req, CreateTopicsResponse, &c->rs);
}

static void topic_created(void *arg, int16_t err, struct broker_topic *t, const char *msg) {
    struct create_one *one = arg;
    struct create_ctx *c = one->c;
    struct CreateTopicsResponse_CreatableTopicResult *o = &c->rs.Topics[one->i];
    o->ErrorCode = err;
    if (err)
        o->ErrorMessage = amsg(c->req, msg);
    else
        fill_created_result(c->req, t, o);
    create_ctx_put(c);
}

int broker_api_create_topics(struct broker_request *req) {
    struct broker *b = req->b;
    int16_t v = req->hdr.ApiVersion;
    struct CreateTopicsRequest rq;
    proto_CreateTopicsRequest_init(&rq);
    if (proto_CreateTopicsRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed CreateTopics request");
        return 0;
    }
    struct create_ctx *c = proto_arena_alloc(&req->arena, sizeof(*c));
    c->req = req;
    c->pending = 1;
    struct CreateTopicsResponse *rs = &c->rs;
    proto_CreateTopicsResponse_init(rs);
    rs->n_Topics = RL_MAX(rq.n_Topics, 0);
    rs->Topics = proto_arena_alloc(&req->arena, cnt(rs->n_Topics) * sizeof(*rs->Topics));
    for (int32_t i = 0; i < rs->n_Topics; i++) {
        struct CreateTopicsRequest_CreatableTopic *q = &rq.Topics[i];
        struct CreateTopicsResponse_CreatableTopicResult *o = &rs->Topics[i];
        proto_CreateTopicsResponse_CreatableTopicResult_init(o);
        o->Name = q->Name;
        o->n_Configs = -1;
        char msg[512] = "";
        int16_t err = PROTO_ERR_NONE;
        int32_t nparts = q->NumPartitions;
        for (int32_t k = 0; k < i && !err; k++) {
            if (rq.Topics[k].Name.len == q->Name.len &&
                memcmp(rq.Topics[k].Name.ptr, q->Name.ptr, (size_t)RL_MAX(q->Name.len, 0)) == 0) {
                err = PROTO_ERR_INVALID_REQUEST;
                snprintf(msg, sizeof(msg),
                         "Create topics request from client contains "
                         "multiple entries for the same topic.");
            }
        }
        if (!err &&
            !broker_topic_name_valid(q->Name.ptr, (size_t)RL_MAX(q->Name.len, 0), msg, sizeof(msg)))
            err = PROTO_ERR_INVALID_TOPIC_EXCEPTION;
        if (!err && q->n_Assignments > 0) {
            if (q->NumPartitions != -1 || q->ReplicationFactor != -1) {
                err = PROTO_ERR_INVALID_REQUEST;
                snprintf(msg, sizeof(msg),
                         "Both numPartitions or replicationFactor and "
                         "replicasAssignments were set. Both cannot be used "
                         "at the same time.");
            }
            for (int32_t k = 0; k < q->n_Assignments && !err; k++) {
                struct CreateTopicsRequest_CreatableReplicaAssignment *a = &q->Assignments[k];
                if (a->PartitionIndex != k || a->n_BrokerIds != 1 ||
                    a->BrokerIds[0] != b->node_id) {
                    err = PROTO_ERR_INVALID_REPLICA_ASSIGNMENT;
                    snprintf(msg, sizeof(msg),
                             "Replica assignment must list partitions 0..n-1 each with the "
                             "single broker %d.",
                             b->node_id);
                }
            }
            nparts = q->n_Assignments;
        } else if (!err && q->ReplicationFactor != -1 && q->ReplicationFactor != 1) {
            err = PROTO_ERR_INVALID_REPLICATION_FACTOR;
            if (q->ReplicationFactor <= 0)
                snprintf(msg, sizeof(msg),
                         "Replication factor must be larger than 0, or -1 to "
                         "use the default value.");
            else
                snprintf(msg, sizeof(msg),
                         "Unable to replicate the partition %d time(s): The target replication "
                         "factor of %d cannot be reached because only 1 broker(s) are "
                         "registered (ringlet is a single broker: use 1 or -1).",
                         q->ReplicationFactor, q->ReplicationFactor);
        }
        if (!err && nparts == 0) {
            err = PROTO_ERR_INVALID_PARTITIONS;
            snprintf(msg, sizeof(msg), "Number of partitions must be larger than 0.");
        }
        if (!err) {
            int32_t nc = RL_MAX(q->n_Configs, 0);
            const char **names, **values;
            alloc_pairs(req, nc, &names, &values);
            for (int32_t k = 0; k < nc; k++) {
                names[k] = broker_arena_strdup(&req->arena, q->Configs[k].Name);
                values[k] = arena_value(req, q->Configs[k].Value);
            }
            char *name = broker_arena_strdup(&req->arena, q->Name);
            if (v >= 1 && rq.validateOnly) {
                err = (int16_t)broker_topic_create_ex(b, name, nparts, names, values, nc, false,
                                                      true, NULL, msg, sizeof(msg));
                if (!err) {
                    o->NumPartitions = nparts == -1 ? (int32_t)b->cfg.num_partitions : nparts;
                    o->ReplicationFactor = 1;
                }
            } else {
                /* the directories and files are made off the reactor; topic_created fills o */
                struct create_one *one = proto_arena_alloc(&req->arena, sizeof(*one));
                one->c = c;
                one->i = i;
                c->pending++;
                err = (int16_t)broker_topic_create_async(b, name, nparts, names, values, nc,
                                                         topic_created, one, msg, sizeof(msg));
                if (!err) continue;
                c->pending--;
            }
        }
        o->ErrorCode = err;
        if (err) o->ErrorMessage = amsg(req, msg);
    }
    create_ctx_put(c);
    return 0;
}

/* ---- DeleteTopics --------------------------------------------------------------------------- */

static void delete_one(struct broker_request *req, struct broker_topic *t,
                       struct DeleteTopicsResponse_DeletableTopicResult *o, int16_t notfound) {
    if (!t) {
        o->ErrorCode = notfound;
        return;
    }
    o->Name = amsg(req, t->name);
    o->TopicId = t->id;
    if (t->internal) {
        o->ErrorCode = PROTO_ERR_INVALID_TOPIC_EXCEPTION;
        o->ErrorMessage = amsg(req, "Internal topics cannot be deleted.");
        return;
    }
    o->ErrorCode = (int16_t)broker_topic_delete(req->b, t);
}

int broker_api_delete_topics(struct broker_request *req) {
    struct broker *b = req->b;
    int16_t v = req->hdr.ApiVersion;
    struct DeleteTopicsRequest rq;
    proto_DeleteTopicsRequest_init(&rq);
    if (proto_DeleteTopicsRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed DeleteTopics request");
        return 0;
    }
    struct DeleteTopicsResponse rs;
    proto_DeleteTopicsResponse_init(&rs);
    int32_t n = v >= 6 ? RL_MAX(rq.n_Topics, 0) : RL_MAX(rq.n_TopicNames, 0);
    rs.n_Responses = n;
    rs.Responses = proto_arena_alloc(&req->arena, cnt(n) * sizeof(*rs.Responses));
    for (int32_t i = 0; i < n; i++) {
        struct DeleteTopicsResponse_DeletableTopicResult *o = &rs.Responses[i];
        proto_DeleteTopicsResponse_DeletableTopicResult_init(o);
        if (v >= 6) {
            struct DeleteTopicsRequest_DeleteTopicState *q = &rq.Topics[i];
            o->Name = q->Name;
            o->TopicId = q->TopicId;
            if (q->Name.len >= 0 && !broker_uuid_is_zero(&q->TopicId)) {
                o->ErrorCode = PROTO_ERR_INVALID_REQUEST;
                o->ErrorMessage = amsg(req, "Give a topic name or a topic id, not both.");
            } else if (q->Name.len >= 0) {
                delete_one(req, broker_topic_find_str(b, q->Name), o,
                           PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION);
            } else {
                delete_one(req, broker_topic_find_id(b, q->TopicId), o, PROTO_ERR_UNKNOWN_TOPIC_ID);
            }
        } else {
            o->Name = rq.TopicNames[i];
            delete_one(req, broker_topic_find_str(b, rq.TopicNames[i]), o,
                       PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION);
            if (o->Name.len < 0) o->Name = rq.TopicNames[i];
        }
    }
    BROKER_RESPOND(req, DeleteTopicsResponse, &rs);
    return 0;
}

/* ---- CreatePartitions ----------------------------------------------------------------------- */

/* A CreatePartitions request waiting for its topics' growth (broker_topic_add_partitions_async),
 * answered when the last one is done. */
struct grow_ctx {
    struct broker_request *req;
    struct CreatePartitionsResponse rs;
    int pending; /* growths not done yet, plus one while the handler runs */
};
struct grow_one {
    struct grow_ctx *c;
    int32_t i; /* index in rs.Results */
};

static void grow_ctx_put(struct grow_ctx *c) {
    if (--c->pending > 0) return;
    BROKER_RESPOND(c->req, CreatePartitionsResponse, &c->rs);
}

static void partitions_added(void *arg, int16_t err, struct broker_topic *t, const char *msg) {
    (void)t;
    struct grow_one *one = arg;
    struct CreatePartitionsResponse_CreatePartitionsTopicResult *o = &one->c->rs.Results[one->i];
    o->ErrorCode = err;
    if (err) o->ErrorMessage = amsg(one->c->req, msg);
    grow_ctx_put(one->c);
}

int broker_api_create_partitions(struct broker_request *req) {
    struct broker *b = req->b;
    int16_t v = req->hdr.ApiVersion;
    struct CreatePartitionsRequest rq;
    proto_CreatePartitionsRequest_init(&rq);
    if (proto_CreatePartitionsRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed CreatePartitions request");
        return 0;
    }
    struct grow_ctx *c = proto_arena_alloc(&req->arena, sizeof(*c));
    c->req = req;
    c->pending = 1;
    struct CreatePartitionsResponse *rs = &c->rs;
    proto_CreatePartitionsResponse_init(rs);
    rs->n_Results = RL_MAX(rq.n_Topics, 0);
    rs->Results = proto_arena_alloc(&req->arena, cnt(rs->n_Results) * sizeof(*rs->Results));
    for (int32_t i = 0; i < rs->n_Results; i++) {
        struct CreatePartitionsRequest_CreatePartitionsTopic *q = &rq.Topics[i];
        struct CreatePartitionsResponse_CreatePartitionsTopicResult *o = &rs->Results[i];
        proto_CreatePartitionsResponse_CreatePartitionsTopicResult_init(o);
        o->Name = q->Name;
        char msg[256] = "";
        struct broker_topic *t = broker_topic_find_str(b, q->Name);
        int err;
        if (!t) {
            err = PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            snprintf(msg, sizeof(msg), "The topic does not exist.");
        } else if (t->internal) {
            /* the group coordinator maps groups to a fixed partition count */
            err = PROTO_ERR_INVALID_REQUEST;
            snprintf(msg, sizeof(msg), "Cannot add partitions to the internal topic %s.", t->name);
        } else if (q->n_Assignments > 0 &&
                   q->n_Assignments != q->Count - broker_topic_partition_count(t)) {
            err = PROTO_ERR_INVALID_REPLICA_ASSIGNMENT;
            snprintf(msg, sizeof(msg),
                     "Increasing the number of partitions by %d but %d "
                     "assignments provided.",
                     q->Count - broker_topic_partition_count(t), q->n_Assignments);
        } else {
            err = PROTO_ERR_NONE;
            for (int32_t k = 0; k < q->n_Assignments && !err; k++) {
                struct CreatePartitionsRequest_CreatePartitionsAssignment *a = &q->Assignments[k];
                if (a->n_BrokerIds != 1 || a->BrokerIds[0] != b->node_id) {
                    err = PROTO_ERR_INVALID_REPLICA_ASSIGNMENT;
                    snprintf(msg, sizeof(msg),
                             "Each new partition must be assigned to the "
                             "single broker %d.",
                             b->node_id);
                }
            }
            if (!err && rq.ValidateOnly) {
                err = broker_topic_add_partitions(b, t, q->Count, true, msg, sizeof(msg));
            } else if (!err) { /* the files are made off the reactor; partitions_added fills o */
                struct grow_one *one = proto_arena_alloc(&req->arena, sizeof(*one));
                one->c = c;
                one->i = i;
                c->pending++;
                err = broker_topic_add_partitions_async(b, t, q->Count, partitions_added, one, msg,
                                                        sizeof(msg));
                if (!err) continue;
                c->pending--;
            }
        }
        o->ErrorCode = (int16_t)err;
        if (err) o->ErrorMessage = amsg(req, msg);
    }
    grow_ctx_put(c);
    return 0;
}

/* ---- DescribeConfigs ------------------------------------------------------------------------ */

static bool key_wanted(const struct DescribeConfigsRequest_DescribeConfigsResource *q,
                       const char *name) {
    if (q->n_ConfigurationKeys < 0) return true;
    for (int32_t k = 0; k < q->n_ConfigurationKeys; k++)
        if (proto_str_eq(q->ConfigurationKeys[k], name)) return true;
    return false;
}

struct cfg_list {
    struct DescribeConfigsResponse_DescribeConfigsResourceResult *v;
    int32_t n, cap;
};

static struct DescribeConfigsResponse_DescribeConfigsResourceResult *
cfg_push(struct broker_request *req, struct cfg_list *l) {
    if (l->n == l->cap) {
        int32_t ncap = l->cap ? l->cap * 2 : 32;
        void *nv = proto_arena_alloc(&req->arena, (size_t)ncap * sizeof(*l->v));
        if (l->n) memcpy(nv, l->v, (size_t)l->n * sizeof(*l->v));
        l->v = nv;
        l->cap = ncap;
    }
    struct DescribeConfigsResponse_DescribeConfigsResourceResult *c = &l->v[l->n++];
    proto_DescribeConfigsResponse_DescribeConfigsResourceResult_init(c);
    return c;
}

static void describe_topic(struct broker_request *req, const struct DescribeConfigsRequest *rq,
                           const struct DescribeConfigsRequest_DescribeConfigsResource *q,
                           struct broker_topic *t, struct cfg_list *l) {
    int16_t v = req->hdr.ApiVersion;
    for (int i = 0; i < TCFG_COUNT; i++) {
        const char *name = broker_tcfg_name(i);
        if (!key_wanted(q, name)) continue;
        const char *ov = topic_override(t, name);
        char buf[64];
        const char *def = broker_tcfg_default(req->b, i, buf, sizeof(buf));
        struct DescribeConfigsResponse_DescribeConfigsResourceResult *c = cfg_push(req, l);
        c->Name = proto_str_c(name);
        c->Value = amsg(req, ov ? ov : def);
        int8_t dsrc = tcfg_default_source(req->b, i);
        c->ReadOnly = false;
        c->IsDefault = ov == NULL;
        c->ConfigSource = ov ? SRC_DYNAMIC_TOPIC : dsrc;
        c->IsSensitive = false;
        c->ConfigType = tcfg_type(i);
        if (v >= 3 && rq->IncludeDocumentation) c->Documentation = amsg(req, tcfg_doc(i));
        if (v >= 1 && rq->IncludeSynonyms) {
            c->Synonyms = proto_arena_alloc(&req->arena, 2 * sizeof(*c->Synonyms));
            int32_t n = 0;
            if (ov) {
                proto_DescribeConfigsResponse_DescribeConfigsSynonym_init(&c->Synonyms[n]);
                c->Synonyms[n].Name = proto_str_c(name);
                c->Synonyms[n].Value = c->Value;
                c->Synonyms[n].Source = SRC_DYNAMIC_TOPIC;
                n++;
            }
            const char *bname = tcfg_broker_name(i);
            proto_DescribeConfigsResponse_DescribeConfigsSynonym_init(&c->Synonyms[n]);
            c->Synonyms[n].Name = proto_str_c(bname ? bname : name);
            c->Synonyms[n].Value = amsg(req, def);
            c->Synonyms[n].Source = dsrc;
            n++;
            c->n_Synonyms = n;
        }
    }
}

struct broker_cfg_visit {
    struct broker_request *req;
    const struct DescribeConfigsRequest *rq;
    const struct DescribeConfigsRequest_DescribeConfigsResource *q;
    struct cfg_list *l;
};

static int describe_broker_cb(void *arg, const char *name, const char *value, bool is_default) {
    struct broker_cfg_visit *x = arg;
    if (!key_wanted(x->q, name)) return 0;
    struct DescribeConfigsResponse_DescribeConfigsResourceResult *c = cfg_push(x->req, x->l);
    c->Name = amsg(x->req, name);
    c->Value = value ? amsg(x->req, value) : PROTO_STR_NULL;
    if (value && !value[0]) c->Value = (struct proto_str){"", 0};
    c->ReadOnly = true;
    c->IsDefault = is_default;
    c->ConfigSource = is_default ? SRC_DEFAULT : SRC_STATIC_BROKER;
    c->IsSensitive = false;
    if (x->req->hdr.ApiVersion >= 1 && x->rq->IncludeSynonyms) {
        c->Synonyms = proto_arena_alloc(&x->req->arena, sizeof(*c->Synonyms));
        proto_DescribeConfigsResponse_DescribeConfigsSynonym_init(c->Synonyms);
        c->Synonyms->Name = c->Name;
        c->Synonyms->Value = c->Value;
        c->Synonyms->Source = (int8_t)c->ConfigSource;
        c->n_Synonyms = 1;
    }
    return 0;
}

static bool is_this_broker(struct broker_request *req, struct proto_str name) {
    if (name.len <= 0) return true; /* "" = the cluster-wide default */
    char buf[16];
    snprintf(buf, sizeof(buf), "%d", req->b->node_id);
    return proto_str_eq(name, buf);
}

int broker_api_describe_configs(struct broker_request *req) {
    struct broker *b = req->b;
    int16_t v = req->hdr.ApiVersion;
    struct DescribeConfigsRequest rq;
    proto_DescribeConfigsRequest_init(&rq);
    if (proto_DescribeConfigsRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed DescribeConfigs request");
        return 0;
    }
    struct DescribeConfigsResponse rs;
    proto_DescribeConfigsResponse_init(&rs);
    rs.n_Results = RL_MAX(rq.n_Resources, 0);
    rs.Results = proto_arena_alloc(&req->arena, cnt(rs.n_Results) * sizeof(*rs.Results));
    for (int32_t i = 0; i < rs.n_Results; i++) {
        struct DescribeConfigsRequest_DescribeConfigsResource *q = &rq.Resources[i];
        struct DescribeConfigsResponse_DescribeConfigsResult *o = &rs.Results[i];
        proto_DescribeConfigsResponse_DescribeConfigsResult_init(o);
        o->ResourceType = q->ResourceType;
        o->ResourceName = q->ResourceName;
        o->ErrorMessage = PROTO_STR_NULL;
        struct cfg_list l = {0};
        if (q->ResourceType == RES_TOPIC) {
            struct broker_topic *t = broker_topic_find_str(b, q->ResourceName);
            if (!t) {
                o->ErrorCode = PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                o->ErrorMessage = amsg(req, "The topic does not exist.");
            } else {
                describe_topic(req, &rq, q, t, &l);
            }
        } else if (q->ResourceType == RES_BROKER) {
            if (!is_this_broker(req, q->ResourceName)) {
                o->ErrorCode = PROTO_ERR_INVALID_REQUEST;
                o->ErrorMessage = amsg(req, "Unexpected broker id: this broker is node.id "
                                            "of the only broker.");
            } else {
                struct broker_cfg_visit x = {req, &rq, q, &l};
                broker_config_foreach(&b->cfg, describe_broker_cb, &x);
            }
        } else if (q->ResourceType == RES_BROKER_LOGGER) {
            /* no per-logger levels: an empty list */
        } else {
            o->ErrorCode = PROTO_ERR_INVALID_REQUEST;
            o->ErrorMessage = amsg(req, "Unsupported resource type.");
        }
        o->Configs = l.v;
        o->n_Configs = l.n;
    }
    BROKER_RESPOND(req, DescribeConfigsResponse, &rs);
    return 0;
}

/* ---- AlterConfigs / IncrementalAlterConfigs ------------------------------------------------- */

static const char broker_static_msg[] =
    "Broker configs cannot be changed at run time: set them in the config file (or with --set) "
    "and restart ringletd.";

/* The error (and msg) for altering a resource that is not a topic. */
static int alter_not_topic(int8_t type, char *msg, size_t msglen) {
    if (type == RES_BROKER || type == RES_BROKER_LOGGER)
        snprintf(msg, msglen, "%s", broker_static_msg);
    else
        snprintf(msg, msglen, "Unsupported resource type %d.", type);
    return PROTO_ERR_INVALID_REQUEST;
}

static int alter_topic(struct broker_request *req, bool validate_only,
                       struct AlterConfigsRequest_AlterConfigsResource *q, char *msg,
                       size_t msglen) {
    struct broker *b = req->b;
    struct broker_topic *t = broker_topic_find_str(b, q->ResourceName);
    if (!t) {
        snprintf(msg, msglen, "The topic does not exist.");
        return PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    int32_t n = RL_MAX(q->n_Configs, 0);
    const char **names, **values;
    alloc_pairs(req, n, &names, &values);
    for (int32_t k = 0; k < n; k++) {
        names[k] = broker_arena_strdup(&req->arena, q->Configs[k].Name);
        values[k] = arena_value(req, q->Configs[k].Value);
    }
    return broker_topic_set_configs(b, t, names, values, n, validate_only, msg, msglen);
}

int broker_api_alter_configs(struct broker_request *req) {
    int16_t v = req->hdr.ApiVersion;
    struct AlterConfigsRequest rq;
    proto_AlterConfigsRequest_init(&rq);
    if (proto_AlterConfigsRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed AlterConfigs request");
        return 0;
    }
    struct AlterConfigsResponse rs;
    proto_AlterConfigsResponse_init(&rs);
    rs.n_Responses = RL_MAX(rq.n_Resources, 0);
    rs.Responses = proto_arena_alloc(&req->arena, cnt(rs.n_Responses) * sizeof(*rs.Responses));
    for (int32_t i = 0; i < rs.n_Responses; i++) {
        struct AlterConfigsRequest_AlterConfigsResource *q = &rq.Resources[i];
        struct AlterConfigsResponse_AlterConfigsResourceResponse *o = &rs.Responses[i];
        proto_AlterConfigsResponse_AlterConfigsResourceResponse_init(o);
        o->ResourceType = q->ResourceType;
        o->ResourceName = q->ResourceName;
        o->ErrorMessage = PROTO_STR_NULL;
        char msg[512] = "";
        int err = q->ResourceType == RES_TOPIC
                      ? alter_topic(req, rq.ValidateOnly, q, msg, sizeof(msg))
                      : alter_not_topic(q->ResourceType, msg, sizeof(msg));
        o->ErrorCode = (int16_t)err;
        if (err) o->ErrorMessage = amsg(req, msg);
    }
    BROKER_RESPOND(req, AlterConfigsResponse, &rs);
    return 0;
}

/* Working set of overrides for one IncrementalAlterConfigs resource. */
struct ov_set {
    const char **names;
    const char **values;
    int32_t n, cap;
};

static int32_t ov_find(const struct ov_set *s, const char *name) {
    for (int32_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) return i;
    return -1;
}

static void ov_put(struct ov_set *s, const char *name, const char *value) {
    int32_t i = ov_find(s, name);
    if (i >= 0) {
        s->values[i] = value;
        return;
    }
    s->names[s->n] = name;
    s->values[s->n] = value;
    s->n++;
}

static void ov_del(struct ov_set *s, const char *name) {
    int32_t i = ov_find(s, name);
    if (i < 0) return;
    s->names[i] = s->names[s->n - 1];
    s->values[i] = s->values[s->n - 1];
    s->n--;
}

/* The next item of the comma-separated list at *pp (blanks around it trimmed; it may be empty)
 * and its length, advancing *pp; NULL at the end of the list. */
static const char *list_next(const char **pp, size_t *len) {
    const char *p = *pp;
    if (!*p) return NULL;
    while (*p == ',' || *p == ' ')
        p++;
    const char *s = p;
    while (*p && *p != ',')
        p++;
    const char *e = p;
    while (e > s && e[-1] == ' ')
        e--;
    *len = (size_t)(e - s);
    *pp = p;
    return s;
}

static bool list_has(const char *list, const char *item, size_t len) {
    const char *p = list, *s;
    size_t n;
    while ((s = list_next(&p, &n)) != NULL)
        if (n == len && memcmp(s, item, len) == 0) return true;
    return false;
}

/* APPEND / SUBTRACT on a list config: returns the new value in arena memory. */
static char *list_apply(struct broker_request *req, const char *cur, const char *arg, bool add) {
    size_t cap = strlen(cur) + strlen(arg) + 2;
    char *out = proto_arena_alloc(&req->arena, cap);
    size_t o = 0;
    const char *srcs[2] = {cur, add ? arg : ""};
    for (int k = 0; k < 2; k++) {
        const char *p = srcs[k], *s;
        size_t len;
        while ((s = list_next(&p, &len)) != NULL) {
            if (!len) continue;
            if (!add && list_has(arg, s, len)) continue;
            if (o && list_has(out, s, len)) continue;
            if (o) out[o++] = ',';
            memcpy(out + o, s, len);
            o += len;
            out[o] = 0;
        }
    }
    out[o] = 0;
    return out;
}

static int incremental_topic(struct broker_request *req, bool validate_only,
                             struct IncrementalAlterConfigsRequest_AlterConfigsResource *q,
                             char *msg, size_t msglen) {
    struct broker *b = req->b;
    struct broker_topic *t = broker_topic_find_str(b, q->ResourceName);
    if (!t) {
        snprintf(msg, msglen, "The topic does not exist.");
        return PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    }
    int32_t n = RL_MAX(q->n_Configs, 0);
    struct ov_set s = {0};
    s.cap = t->n_ov + n + 1;
    alloc_pairs(req, s.cap, &s.names, &s.values);
    for (int32_t k = 0; k < t->n_ov; k++)
        ov_put(&s, t->ov_names[k], t->ov_values[k]);
    for (int32_t k = 0; k < n; k++) {
        struct IncrementalAlterConfigsRequest_AlterableConfig *c = &q->Configs[k];
        for (int32_t j = 0; j < k; j++) {
            if (q->Configs[j].Name.len == c->Name.len &&
                memcmp(q->Configs[j].Name.ptr, c->Name.ptr, (size_t)RL_MAX(c->Name.len, 0)) == 0) {
                snprintf(msg, msglen, "Error due to duplicate config keys");
                return PROTO_ERR_INVALID_REQUEST;
            }
        }
        char *name = broker_arena_strdup(&req->arena, c->Name);
        int idx = broker_tcfg_find(name, strlen(name));
        if (idx < 0) {
            snprintf(msg, msglen, "Unknown topic config name: %s", name);
            return PROTO_ERR_INVALID_CONFIG;
        }
        const char *value = arena_value(req, c->Value);
        switch (c->ConfigOperation) {
        case OP_SET:
            if (!value) {
                snprintf(msg, msglen, "Null value not supported for topic config %s", name);
                return PROTO_ERR_INVALID_REQUEST;
            }
            ov_put(&s, name, value);
            break;
        case OP_DELETE:
            ov_del(&s, name);
            break;
        case OP_APPEND:
        case OP_SUBTRACT: {
            if (idx != TCFG_CLEANUP_POLICY) {
                snprintf(msg, msglen, "Config value %s is not allowed for config key %s",
                         c->ConfigOperation == OP_APPEND ? "append" : "subtract", name);
                return PROTO_ERR_INVALID_CONFIG;
            }
            int32_t cur_i = ov_find(&s, name);
            char buf[64];
            const char *cur =
                cur_i >= 0 ? s.values[cur_i] : broker_tcfg_default(b, idx, buf, sizeof(buf));
            ov_put(&s, name,
                   list_apply(req, cur, value ? value : "", c->ConfigOperation == OP_APPEND));
            break;
        }
        default:
            snprintf(msg, msglen, "Unknown config operation %d", c->ConfigOperation);
            return PROTO_ERR_INVALID_REQUEST;
        }
    }
    return broker_topic_set_configs(b, t, s.names, s.values, s.n, validate_only, msg, msglen);
}

int broker_api_incremental_alter_configs(struct broker_request *req) {
    int16_t v = req->hdr.ApiVersion;
    struct IncrementalAlterConfigsRequest rq;
    proto_IncrementalAlterConfigsRequest_init(&rq);
    if (proto_IncrementalAlterConfigsRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed IncrementalAlterConfigs request");
        return 0;
    }
    struct IncrementalAlterConfigsResponse rs;
    proto_IncrementalAlterConfigsResponse_init(&rs);
    rs.n_Responses = RL_MAX(rq.n_Resources, 0);
    rs.Responses = proto_arena_alloc(&req->arena, cnt(rs.n_Responses) * sizeof(*rs.Responses));
    for (int32_t i = 0; i < rs.n_Responses; i++) {
        struct IncrementalAlterConfigsRequest_AlterConfigsResource *q = &rq.Resources[i];
        struct IncrementalAlterConfigsResponse_AlterConfigsResourceResponse *o = &rs.Responses[i];
        proto_IncrementalAlterConfigsResponse_AlterConfigsResourceResponse_init(o);
        o->ResourceType = q->ResourceType;
        o->ResourceName = q->ResourceName;
        o->ErrorMessage = PROTO_STR_NULL;
        char msg[512] = "";
        int err = q->ResourceType == RES_TOPIC
                      ? incremental_topic(req, rq.ValidateOnly, q, msg, sizeof(msg))
                      : alter_not_topic(q->ResourceType, msg, sizeof(msg));
        o->ErrorCode = (int16_t)err;
        if (err) o->ErrorMessage = amsg(req, msg);
    }
    BROKER_RESPOND(req, IncrementalAlterConfigsResponse, &rs);
    return 0;
}

/* ---- DescribeLogDirs ------------------------------------------------------------------------ */

static void fill_logdir_topic(struct broker_request *req, struct broker_topic *t,
                              const int32_t *parts, int32_t n_parts,
                              struct DescribeLogDirsResponse_DescribeLogDirsTopic *o) {
    proto_DescribeLogDirsResponse_DescribeLogDirsTopic_init(o);
    o->Name = (struct proto_str){t->name, (int32_t)t->name_len};
    int32_t n = parts ? n_parts : t->n_partitions;
    o->Partitions = proto_arena_alloc(&req->arena, cnt(n) * sizeof(*o->Partitions));
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        struct broker_partition *p = broker_partition_get(t, parts ? parts[i] : i);
        if (!p) continue;
        struct DescribeLogDirsResponse_DescribeLogDirsPartition *d = &o->Partitions[k++];
        proto_DescribeLogDirsResponse_DescribeLogDirsPartition_init(d);
        d->PartitionIndex = p->index;
        d->PartitionSize = storage_log_size_bytes(p->log);
        d->OffsetLag = 0;
        d->IsFutureKey = false;
    }
    o->n_Partitions = k;
}

int broker_api_describe_log_dirs(struct broker_request *req) {
    struct broker *b = req->b;
    int16_t v = req->hdr.ApiVersion;
    struct DescribeLogDirsRequest rq;
    proto_DescribeLogDirsRequest_init(&rq);
    if (proto_DescribeLogDirsRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed DescribeLogDirs request");
        return 0;
    }
    struct DescribeLogDirsResponse rs;
    proto_DescribeLogDirsResponse_init(&rs);
    struct DescribeLogDirsResponse_DescribeLogDirsResult *r =
        proto_arena_alloc(&req->arena, sizeof(*r));
    proto_DescribeLogDirsResponse_DescribeLogDirsResult_init(r);
    char *abs = realpath(b->cfg.log_dir, NULL);
    r->LogDir = amsg(req, abs ? abs : b->cfg.log_dir);
    free(abs);
    struct statvfs sv;
    if (statvfs(b->cfg.log_dir, &sv) == 0) {
        r->TotalBytes = (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
        r->UsableBytes = (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
    }
    if (rq.n_Topics < 0) {
        size_t n = broker_topics_count(b);
        r->Topics = proto_arena_alloc(&req->arena, (n ? n : 1) * sizeof(*r->Topics));
        for (size_t i = 0; i < n; i++)
            fill_logdir_topic(req, broker_topics_at(b, i), NULL, 0, &r->Topics[i]);
        r->n_Topics = (int32_t)n;
    } else {
        r->Topics = proto_arena_alloc(&req->arena, cnt(rq.n_Topics) * sizeof(*r->Topics));
        int32_t k = 0;
        for (int32_t i = 0; i < rq.n_Topics; i++) {
            struct broker_topic *t = broker_topic_find_str(b, rq.Topics[i].Topic);
            if (!t) continue;
            fill_logdir_topic(req, t, rq.Topics[i].Partitions, RL_MAX(rq.Topics[i].n_Partitions, 0),
                              &r->Topics[k++]);
        }
        r->n_Topics = k;
    }
    rs.Results = r;
    rs.n_Results = 1;
    BROKER_RESPOND(req, DescribeLogDirsResponse, &rs);
    return 0;
}
