/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin.c - admin operations that answer one row per named object: CreateTopics, DeleteTopics,
 * CreatePartitions (sent to the controller) and DeleteGroups (sent to each group's
 * coordinator), IncrementalAlterConfigs / DescribeConfigs of topics, partition sizes from
 * DescribeLogDirs, group listing (ListGroups to every broker), a group's committed offsets
 * (OffsetFetch), their reset (OffsetCommit outside the group) and deletion (OffsetDelete), a
 * group's description (DescribeGroups) and the cluster description (DescribeCluster, falling back
 * to Metadata). The named-object calls return a row per requested name, in request order; a name
 * the broker left out of its answer gets UNKNOWN_SERVER_ERROR with a message saying so.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "ringlet/common.h"

RINGLET_CODEC(CreateTopics)
RINGLET_CODEC(DeleteTopics)
RINGLET_CODEC(CreatePartitions)
RINGLET_CODEC(DeleteGroups)
RINGLET_CODEC(DescribeCluster)
RINGLET_CODEC(IncrementalAlterConfigs)
RINGLET_CODEC(DescribeConfigs)
RINGLET_CODEC(DescribeLogDirs)
RINGLET_CODEC(ListGroups)
RINGLET_CODEC(OffsetFetch)
RINGLET_CODEC(DescribeGroups)
RINGLET_CODEC(OffsetDelete)
RINGLET_CODEC(OffsetCommit)

static int admin_timeout(const struct ringlet_client *cl, int timeout_ms) {
    return timeout_ms > 0 ? timeout_ms : cl->conf.request_timeout_ms;
}

static char *msg_dup(struct proto_str s) {
    return s.len > 0 ? proto_str_dup(s) : NULL;
}

/* Rows for names[0..n), all "no answer" until filled from the response. */
static struct ringlet_admin_result *rows_new(const char *const *names, int n) {
    struct ringlet_admin_result *r = rl_calloc((size_t)n + 1, sizeof(*r));
    for (int i = 0; i < n; i++) {
        r[i].name = rl_strdup(names[i]);
        r[i].error = PROTO_ERR_UNKNOWN_SERVER_ERROR;
        r[i].message = rl_strdup("the broker did not answer for this name");
    }
    return r;
}

static void row_set(struct ringlet_admin_result *r, int16_t error, struct proto_str msg) {
    rl_free(r->message);
    r->error = error;
    r->message = msg_dup(msg);
}

void ringlet_admin_results_free(struct ringlet_admin_result *r, int n) {
    if (r == NULL) return;
    for (int i = 0; i < n; i++) {
        rl_free(r[i].name);
        rl_free(r[i].message);
    }
    rl_free(r);
}

int ringlet_admin_conn(struct ringlet_client *cl, struct ringlet_conn **out, char *errbuf,
                       size_t errlen) {
    struct ringlet_metadata *md = NULL;
    int e = ringlet_metadata_get(cl, NULL, 0, false, &md, errbuf, errlen);
    if (e != 0) return e;
    int32_t ctrl = md->controller_id;
    bool known = ctrl >= 0 && ringlet_metadata_broker(md, ctrl) != NULL;
    ringlet_metadata_free(md);
    return known ? ringlet_client_broker_conn(cl, ctrl, out, errbuf, errlen)
                 : ringlet_client_any_conn(cl, out, errbuf, errlen);
}

int ringlet_admin_create_topics(struct ringlet_client *cl, const struct ringlet_new_topic *topics,
                                int n, int timeout_ms, struct ringlet_admin_result **out,
                                char *errbuf, size_t errlen) {
    if (n <= 0) {
        snprintf(errbuf, errlen, "CreateTopics: no topic named");
        return -EINVAL;
    }
    struct ringlet_conn *conn;
    int e = ringlet_admin_conn(cl, &conn, errbuf, errlen);
    if (e != 0) return e;
    int tmo = admin_timeout(cl, timeout_ms);
    bool old = ringlet_conn_pick_version(conn, PROTO_API_KEY_CREATE_TOPICS, 0, 7) < 4;
    int ncfg = 0;
    for (int i = 0; i < n; i++)
        ncfg += RL_MAX(topics[i].n_configs, 0);
    struct CreateTopicsRequest_CreatableTopicConfig *cfg =
        rl_calloc((size_t)ncfg + 1, sizeof(*cfg));
    struct CreateTopicsRequest_CreatableTopic *tops = rl_calloc((size_t)n, sizeof(*tops));
    const char **names = rl_calloc((size_t)n, sizeof(char *));
    int k = 0;
    for (int i = 0; i < n; i++) {
        const struct ringlet_new_topic *t = &topics[i];
        names[i] = t->name;
        proto_CreateTopicsRequest_CreatableTopic_init(&tops[i]);
        tops[i].Name = proto_str_c(t->name);
        /* -1 (broker default) needs v4+; older brokers get 1. */
        tops[i].NumPartitions = t->partitions < 0 && old ? 1 : t->partitions;
        tops[i].ReplicationFactor = t->replication_factor < 0 && old ? 1 : t->replication_factor;
        tops[i].Configs = &cfg[k];
        tops[i].n_Configs = RL_MAX(t->n_configs, 0);
        for (int c = 0; c < t->n_configs; c++, k++) {
            proto_CreateTopicsRequest_CreatableTopicConfig_init(&cfg[k]);
            cfg[k].Name = proto_str_c(t->config_names[c]);
            cfg[k].Value = t->config_values[c] ? proto_str_c(t->config_values[c]) : PROTO_STR_NULL;
        }
    }
    struct CreateTopicsRequest req;
    proto_CreateTopicsRequest_init(&req);
    req.Topics = tops;
    req.n_Topics = n;
    req.timeoutMs = tmo;
    struct proto_arena a;
    proto_arena_init(&a);
    struct CreateTopicsResponse resp;
    struct ringlet_resp frame = {0};
    e = ringlet_call(conn, PROTO_API_KEY_CREATE_TOPICS, 0, 7, ringlet_enc_CreateTopicsRequest, &req,
                     ringlet_dec_CreateTopicsResponse, &resp, &a, &frame, tmo, NULL);
    if (e != 0) {
        snprintf(errbuf, errlen, "CreateTopics: %s", rl_strerror(e));
    } else {
        struct ringlet_admin_result *r = rows_new(names, n);
        for (int i = 0; i < n; i++)
            for (int32_t q = 0; q < resp.n_Topics; q++)
                if (proto_str_eq(resp.Topics[q].Name, names[i]))
                    row_set(&r[i], resp.Topics[q].ErrorCode, resp.Topics[q].ErrorMessage);
        *out = r;
    }
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
    rl_free(names);
    rl_free(tops);
    rl_free(cfg);
    return e;
}

int ringlet_admin_delete_topics(struct ringlet_client *cl, const char *const *names, int n,
                                int timeout_ms, struct ringlet_admin_result **out, char *errbuf,
                                size_t errlen) {
    if (n <= 0) {
        snprintf(errbuf, errlen, "DeleteTopics: no topic named");
        return -EINVAL;
    }
    struct ringlet_conn *conn;
    int e = ringlet_admin_conn(cl, &conn, errbuf, errlen);
    if (e != 0) return e;
    int tmo = admin_timeout(cl, timeout_ms);
    struct proto_str *strs = rl_calloc((size_t)n, sizeof(*strs));
    struct DeleteTopicsRequest_DeleteTopicState *st = rl_calloc((size_t)n, sizeof(*st));
    for (int i = 0; i < n; i++) {
        strs[i] = proto_str_c(names[i]);
        proto_DeleteTopicsRequest_DeleteTopicState_init(&st[i]);
        st[i].Name = strs[i];
    }
    struct DeleteTopicsRequest req;
    proto_DeleteTopicsRequest_init(&req);
    req.TopicNames = strs; /* up to v5 */
    req.n_TopicNames = n;
    req.Topics = st; /* v6+ */
    req.n_Topics = n;
    req.TimeoutMs = tmo;
    struct proto_arena a;
    proto_arena_init(&a);
    struct DeleteTopicsResponse resp;
    struct ringlet_resp frame = {0};
    e = ringlet_call(conn, PROTO_API_KEY_DELETE_TOPICS, 0, 6, ringlet_enc_DeleteTopicsRequest, &req,
                     ringlet_dec_DeleteTopicsResponse, &resp, &a, &frame, tmo, NULL);
    if (e != 0) {
        snprintf(errbuf, errlen, "DeleteTopics: %s", rl_strerror(e));
    } else {
        struct ringlet_admin_result *r = rows_new(names, n);
        for (int i = 0; i < n; i++)
            for (int32_t q = 0; q < resp.n_Responses; q++)
                if (proto_str_eq(resp.Responses[q].Name, names[i]))
                    row_set(&r[i], resp.Responses[q].ErrorCode, resp.Responses[q].ErrorMessage);
        *out = r;
    }
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
    rl_free(strs);
    rl_free(st);
    return e;
}

int ringlet_admin_create_partitions(struct ringlet_client *cl, const char *const *names, int n,
                                    int32_t total, int timeout_ms,
                                    struct ringlet_admin_result **out, char *errbuf,
                                    size_t errlen) {
    if (n <= 0 || total < 1) {
        snprintf(errbuf, errlen, "CreatePartitions: name a topic and a total of at least 1");
        return -EINVAL;
    }
    struct ringlet_conn *conn;
    int e = ringlet_admin_conn(cl, &conn, errbuf, errlen);
    if (e != 0) return e;
    int tmo = admin_timeout(cl, timeout_ms);
    struct CreatePartitionsRequest_CreatePartitionsTopic *tops =
        rl_calloc((size_t)n, sizeof(*tops));
    for (int i = 0; i < n; i++) {
        proto_CreatePartitionsRequest_CreatePartitionsTopic_init(&tops[i]);
        tops[i].Name = proto_str_c(names[i]);
        tops[i].Count = total;
        tops[i].Assignments = NULL;
        tops[i].n_Assignments = -1; /* the broker places the new partitions */
    }
    struct CreatePartitionsRequest req;
    proto_CreatePartitionsRequest_init(&req);
    req.Topics = tops;
    req.n_Topics = n;
    req.TimeoutMs = tmo;
    struct proto_arena a;
    proto_arena_init(&a);
    struct CreatePartitionsResponse resp;
    struct ringlet_resp frame = {0};
    e = ringlet_call(conn, PROTO_API_KEY_CREATE_PARTITIONS, 0, 3,
                     ringlet_enc_CreatePartitionsRequest, &req,
                     ringlet_dec_CreatePartitionsResponse, &resp, &a, &frame, tmo, NULL);
    if (e != 0) {
        snprintf(errbuf, errlen, "CreatePartitions: %s",
                 e == -ENOTSUP ? "not supported by the broker" : rl_strerror(e));
    } else {
        struct ringlet_admin_result *r = rows_new(names, n);
        for (int i = 0; i < n; i++)
            for (int32_t q = 0; q < resp.n_Results; q++)
                if (proto_str_eq(resp.Results[q].Name, names[i]))
                    row_set(&r[i], resp.Results[q].ErrorCode, resp.Results[q].ErrorMessage);
        *out = r;
    }
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
    rl_free(tops);
    return e;
}

int ringlet_admin_delete_groups(struct ringlet_client *cl, const char *const *groups, int n,
                                int timeout_ms, struct ringlet_admin_result **out, char *errbuf,
                                size_t errlen) {
    if (n <= 0) {
        snprintf(errbuf, errlen, "DeleteGroups: no group named");
        return -EINVAL;
    }
    int tmo = admin_timeout(cl, timeout_ms);
    struct ringlet_admin_result *r = rows_new(groups, n);
    /* One request per group: each goes to its own coordinator; a failure stays in its row. */
    for (int i = 0; i < n; i++) {
        char err[256];
        struct ringlet_conn *conn;
        if (ringlet_coordinator_conn(cl, groups[i], &conn, err, sizeof(err)) != 0) {
            rl_free(r[i].message);
            r[i].message = rl_strdup(err);
            continue;
        }
        struct proto_str g = proto_str_c(groups[i]);
        struct DeleteGroupsRequest req;
        proto_DeleteGroupsRequest_init(&req);
        req.GroupsNames = &g;
        req.n_GroupsNames = 1;
        struct proto_arena a;
        proto_arena_init(&a);
        struct DeleteGroupsResponse resp;
        struct ringlet_resp frame = {0};
        int e =
            ringlet_call(conn, PROTO_API_KEY_DELETE_GROUPS, 0, 2, ringlet_enc_DeleteGroupsRequest,
                         &req, ringlet_dec_DeleteGroupsResponse, &resp, &a, &frame, tmo, NULL);
        if (e != 0) {
            rl_free(r[i].message);
            r[i].message = rl_strdup(rl_strerror(e));
        } else {
            for (int32_t q = 0; q < resp.n_Results; q++)
                if (proto_str_eq(resp.Results[q].GroupId, groups[i]))
                    row_set(&r[i], resp.Results[q].ErrorCode, PROTO_STR_NULL);
        }
        ringlet_resp_free(&frame);
        proto_arena_destroy(&a);
    }
    *out = r;
    return 0;
}

static char *str_or_null(struct proto_str s) {
    return s.len >= 0 && s.ptr != NULL ? proto_str_dup(s) : NULL;
}

int ringlet_cluster_describe(struct ringlet_client *cl, struct ringlet_metadata **out,
                             bool *used_describe_cluster, char *errbuf, size_t errlen) {
    struct ringlet_conn *conn;
    int e = ringlet_client_any_conn(cl, &conn, errbuf, errlen);
    if (e != 0) return e;
    bool fallback = ringlet_conn_pick_version(conn, PROTO_API_KEY_DESCRIBE_CLUSTER, 0, 1) < 0;
    if (!fallback) {
        struct DescribeClusterRequest req;
        proto_DescribeClusterRequest_init(&req);
        req.EndpointType = 1; /* brokers (v1+) */
        struct proto_arena a;
        proto_arena_init(&a);
        struct DescribeClusterResponse resp;
        struct ringlet_resp frame = {0};
        e = ringlet_call(conn, PROTO_API_KEY_DESCRIBE_CLUSTER, 0, 1,
                         ringlet_enc_DescribeClusterRequest, &req,
                         ringlet_dec_DescribeClusterResponse, &resp, &a, &frame,
                         cl->conf.request_timeout_ms, NULL);
        if (e == 0 && resp.ErrorCode != 0) {
            /* e.g. UNSUPPORTED_VERSION or an authorization error: Metadata may still work */
            rl_debug("client", "DescribeCluster answered %s; falling back to Metadata",
                     proto_error_name(resp.ErrorCode));
            fallback = true;
        } else if (e == 0) {
            struct ringlet_metadata *md = rl_calloc(1, sizeof(*md));
            md->cluster_id = str_or_null(resp.ClusterId);
            md->controller_id = resp.ControllerId;
            md->n_brokers = RL_MAX(resp.n_Brokers, 0);
            md->brokers = rl_calloc((size_t)md->n_brokers + 1, sizeof(*md->brokers));
            for (int32_t i = 0; i < md->n_brokers; i++) {
                const struct DescribeClusterResponse_DescribeClusterBroker *b = &resp.Brokers[i];
                md->brokers[i].id = b->BrokerId;
                md->brokers[i].host = proto_str_dup(b->Host);
                md->brokers[i].port = b->Port;
                md->brokers[i].rack = str_or_null(b->Rack);
            }
            *out = md;
        } else {
            snprintf(errbuf, errlen, "DescribeCluster: %s", rl_strerror(e));
        }
        ringlet_resp_free(&frame);
        proto_arena_destroy(&a);
        if (!fallback) {
            if (e == 0 && used_describe_cluster) *used_describe_cluster = true;
            return e;
        }
    }
    e = ringlet_metadata_get(cl, NULL, 0, false, out, errbuf, errlen);
    if (e == 0 && used_describe_cluster) *used_describe_cluster = false;
    return e;
}

enum { RES_TOPIC = 2, OP_SET = 0, OP_DELETE = 1 };

int ringlet_admin_alter_topic_configs(struct ringlet_client *cl, const char *const *topics, int n,
                                      const char *const *names, const char *const *values,
                                      int n_configs, int timeout_ms,
                                      struct ringlet_admin_result **out, char *errbuf,
                                      size_t errlen) {
    if (n <= 0 || n_configs <= 0) {
        snprintf(errbuf, errlen, "IncrementalAlterConfigs: name a topic and a config");
        return -EINVAL;
    }
    struct ringlet_conn *conn;
    int e = ringlet_admin_conn(cl, &conn, errbuf, errlen);
    if (e != 0) return e;
    int tmo = admin_timeout(cl, timeout_ms);
    struct IncrementalAlterConfigsRequest_AlterableConfig *cfg =
        rl_calloc((size_t)n_configs, sizeof(*cfg));
    for (int i = 0; i < n_configs; i++) {
        proto_IncrementalAlterConfigsRequest_AlterableConfig_init(&cfg[i]);
        cfg[i].Name = proto_str_c(names[i]);
        cfg[i].ConfigOperation = values[i] ? OP_SET : OP_DELETE;
        cfg[i].Value = values[i] ? proto_str_c(values[i]) : PROTO_STR_NULL;
    }
    struct IncrementalAlterConfigsRequest_AlterConfigsResource *res =
        rl_calloc((size_t)n, sizeof(*res));
    for (int i = 0; i < n; i++) {
        proto_IncrementalAlterConfigsRequest_AlterConfigsResource_init(&res[i]);
        res[i].ResourceType = RES_TOPIC;
        res[i].ResourceName = proto_str_c(topics[i]);
        res[i].Configs = cfg;
        res[i].n_Configs = n_configs;
    }
    struct IncrementalAlterConfigsRequest req;
    proto_IncrementalAlterConfigsRequest_init(&req);
    req.Resources = res;
    req.n_Resources = n;
    struct proto_arena a;
    proto_arena_init(&a);
    struct IncrementalAlterConfigsResponse resp;
    struct ringlet_resp frame = {0};
    e = ringlet_call(conn, PROTO_API_KEY_INCREMENTAL_ALTER_CONFIGS, 0, 1,
                     ringlet_enc_IncrementalAlterConfigsRequest, &req,
                     ringlet_dec_IncrementalAlterConfigsResponse, &resp, &a, &frame, tmo, NULL);
    if (e != 0) {
        snprintf(errbuf, errlen, "IncrementalAlterConfigs: %s",
                 e == -ENOTSUP ? "not supported by the broker" : rl_strerror(e));
    } else {
        struct ringlet_admin_result *r = rows_new(topics, n);
        for (int i = 0; i < n; i++)
            for (int32_t q = 0; q < resp.n_Responses; q++)
                if (proto_str_eq(resp.Responses[q].ResourceName, topics[i]))
                    row_set(&r[i], resp.Responses[q].ErrorCode, resp.Responses[q].ErrorMessage);
        *out = r;
    }
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
    rl_free(res);
    rl_free(cfg);
    return e;
}

void ringlet_config_entries_free(struct ringlet_config_entry *e, int n) {
    if (e == NULL) return;
    for (int i = 0; i < n; i++) {
        rl_free(e[i].name);
        rl_free(e[i].value);
    }
    rl_free(e);
}

int ringlet_admin_describe_topic_configs(struct ringlet_client *cl, const char *topic,
                                         struct ringlet_config_entry **out, int *n_out,
                                         int16_t *kafka_err, char *errbuf, size_t errlen) {
    struct ringlet_conn *conn;
    int e = ringlet_client_any_conn(cl, &conn, errbuf, errlen);
    if (e != 0) return e;
    struct DescribeConfigsRequest_DescribeConfigsResource res;
    proto_DescribeConfigsRequest_DescribeConfigsResource_init(&res);
    res.ResourceType = RES_TOPIC;
    res.ResourceName = proto_str_c(topic);
    res.ConfigurationKeys = NULL;
    res.n_ConfigurationKeys = -1; /* all */
    struct DescribeConfigsRequest req;
    proto_DescribeConfigsRequest_init(&req);
    req.Resources = &res;
    req.n_Resources = 1;
    struct proto_arena a;
    proto_arena_init(&a);
    struct DescribeConfigsResponse resp;
    struct ringlet_resp frame = {0};
    int16_t v = 0;
    e = ringlet_call(conn, PROTO_API_KEY_DESCRIBE_CONFIGS, 0, 4, ringlet_enc_DescribeConfigsRequest,
                     &req, ringlet_dec_DescribeConfigsResponse, &resp, &a, &frame,
                     cl->conf.request_timeout_ms, &v);
    if (e != 0) {
        snprintf(errbuf, errlen, "DescribeConfigs %s: %s", topic,
                 e == -ENOTSUP ? "not supported by the broker" : rl_strerror(e));
    } else if (resp.n_Results < 1) {
        snprintf(errbuf, errlen, "DescribeConfigs %s: empty answer", topic);
        e = -EBADMSG;
    } else {
        const struct DescribeConfigsResponse_DescribeConfigsResult *r = &resp.Results[0];
        *kafka_err = r->ErrorCode;
        int n = RL_MAX(r->n_Configs, 0);
        struct ringlet_config_entry *ce = rl_calloc((size_t)n + 1, sizeof(*ce));
        for (int i = 0; i < n; i++) {
            const struct DescribeConfigsResponse_DescribeConfigsResourceResult *cf = &r->Configs[i];
            ce[i].name = proto_str_dup(cf->Name);
            ce[i].value = cf->IsSensitive ? NULL : str_or_null(cf->Value);
            ce[i].sensitive = cf->IsSensitive;
            /* v0 has IsDefault only; v1+ says where the value comes from (1 = topic). */
            ce[i].is_override = v == 0 ? !cf->IsDefault : cf->ConfigSource == 1;
        }
        *out = ce;
        *n_out = n;
    }
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
    return e;
}

int ringlet_admin_log_dir_sizes(struct ringlet_client *cl, const struct ringlet_topic_md *t,
                                int64_t *sizes) {
    int rc = 0;
    for (int32_t i = 0; i < t->n_partitions; i++)
        sizes[i] = -1;
    int32_t *done = rl_calloc((size_t)t->n_partitions + 1, sizeof(int32_t));
    int32_t ndone = 0;
    int32_t *parts = rl_calloc((size_t)t->n_partitions + 1, sizeof(int32_t));
    /* One DescribeLogDirs per leader, for the partitions it leads. */
    for (int32_t i = 0; i < t->n_partitions; i++) {
        int32_t leader = t->partitions[i].leader;
        if (leader < 0) continue;
        bool seen = false;
        for (int32_t k = 0; k < ndone; k++)
            if (done[k] == leader) seen = true;
        if (seen) continue;
        done[ndone++] = leader;
        int32_t np = 0;
        for (int32_t k = 0; k < t->n_partitions; k++)
            if (t->partitions[k].leader == leader) parts[np++] = t->partitions[k].partition;
        struct DescribeLogDirsRequest_DescribableLogDirTopic rt;
        proto_DescribeLogDirsRequest_DescribableLogDirTopic_init(&rt);
        rt.Topic = proto_str_c(t->name);
        rt.Partitions = parts;
        rt.n_Partitions = np;
        struct DescribeLogDirsRequest req;
        proto_DescribeLogDirsRequest_init(&req);
        req.Topics = &rt;
        req.n_Topics = 1;
        struct ringlet_conn *conn;
        char err[256];
        int e = ringlet_client_broker_conn(cl, leader, &conn, err, sizeof(err));
        if (e != 0) {
            rc = e;
            continue;
        }
        struct proto_arena a;
        proto_arena_init(&a);
        struct DescribeLogDirsResponse resp;
        struct ringlet_resp frame = {0};
        e = ringlet_call(conn, PROTO_API_KEY_DESCRIBE_LOG_DIRS, 0, 4,
                         ringlet_enc_DescribeLogDirsRequest, &req,
                         ringlet_dec_DescribeLogDirsResponse, &resp, &a, &frame,
                         cl->conf.request_timeout_ms, NULL);
        if (e != 0) {
            rc = e;
        } else {
            for (int32_t d = 0; d < resp.n_Results; d++) {
                if (resp.Results[d].ErrorCode) continue;
                for (int32_t ti = 0; ti < resp.Results[d].n_Topics; ti++) {
                    const struct DescribeLogDirsResponse_DescribeLogDirsTopic *rtp =
                        &resp.Results[d].Topics[ti];
                    if (!proto_str_eq(rtp->Name, t->name)) continue;
                    for (int32_t pi = 0; pi < rtp->n_Partitions; pi++) {
                        if (rtp->Partitions[pi].IsFutureKey) continue;
                        for (int32_t k = 0; k < t->n_partitions; k++) {
                            if (t->partitions[k].partition != rtp->Partitions[pi].PartitionIndex)
                                continue;
                            if (sizes[k] < 0) sizes[k] = 0;
                            sizes[k] += rtp->Partitions[pi].PartitionSize;
                        }
                    }
                }
            }
        }
        ringlet_resp_free(&frame);
        proto_arena_destroy(&a);
    }
    rl_free(parts);
    rl_free(done);
    return rc;
}

/* ---- groups ---------------------------------------------------------------------------------- */

static int cmp_listing(const void *a, const void *b) {
    return strcmp(((const struct ringlet_group_listing *)a)->group,
                  ((const struct ringlet_group_listing *)b)->group);
}

void ringlet_group_listings_free(struct ringlet_group_listing *g, int n) {
    if (g == NULL) return;
    for (int i = 0; i < n; i++) {
        rl_free(g[i].group);
        rl_free(g[i].protocol_type);
        rl_free(g[i].state);
    }
    rl_free(g);
}

int ringlet_admin_list_groups(struct ringlet_client *cl, struct ringlet_group_listing **out,
                              int *n_out, int *failed_brokers, char *errbuf, size_t errlen) {
    struct ringlet_metadata *md = NULL;
    int e = ringlet_metadata_get(cl, NULL, 0, false, &md, errbuf, errlen);
    if (e != 0) return e;
    struct ringlet_group_listing *rows = NULL;
    int nrows = 0, failed = 0;
    /* Every broker coordinates some groups: ask them all. */
    for (int32_t b = 0; b < md->n_brokers; b++) {
        struct ringlet_conn *conn;
        char err[256];
        e = ringlet_client_broker_conn(cl, md->brokers[b].id, &conn, err, sizeof(err));
        if (e != 0) {
            snprintf(errbuf, errlen, "%s", err);
            failed++;
            continue;
        }
        struct ListGroupsRequest req;
        proto_ListGroupsRequest_init(&req);
        struct proto_arena a;
        proto_arena_init(&a);
        struct ListGroupsResponse resp;
        struct ringlet_resp frame = {0};
        int16_t v = 0;
        e = ringlet_call(conn, PROTO_API_KEY_LIST_GROUPS, 0, 4, ringlet_enc_ListGroupsRequest, &req,
                         ringlet_dec_ListGroupsResponse, &resp, &a, &frame,
                         cl->conf.request_timeout_ms, &v);
        if (e != 0 || resp.ErrorCode != 0) {
            snprintf(errbuf, errlen, "ListGroups on broker %d: %s", md->brokers[b].id,
                     e ? rl_strerror(e) : proto_error_name(resp.ErrorCode));
            failed++;
        } else {
            rows = rl_realloc(rows, sizeof(*rows) * (size_t)(nrows + resp.n_Groups + 1));
            for (int32_t g = 0; g < resp.n_Groups; g++) {
                struct ringlet_group_listing *r = &rows[nrows++];
                r->group = proto_str_dup(resp.Groups[g].GroupId);
                if (r->group == NULL) r->group = rl_strdup("");
                r->protocol_type = proto_str_dup(resp.Groups[g].ProtocolType);
                r->state = v >= 4 ? proto_str_dup(resp.Groups[g].GroupState) : NULL;
            }
        }
        ringlet_resp_free(&frame);
        proto_arena_destroy(&a);
    }
    ringlet_metadata_free(md);
    if (nrows > 1) qsort(rows, (size_t)nrows, sizeof(*rows), cmp_listing);
    *out = rows;
    *n_out = nrows;
    *failed_brokers = failed;
    return 0;
}

void ringlet_group_offsets_free(struct ringlet_group_offset *o, int n) {
    if (o == NULL) return;
    for (int i = 0; i < n; i++)
        rl_free(o[i].topic);
    rl_free(o);
}

static void offset_push(struct ringlet_group_offset **v, int *n, struct proto_str topic,
                        int32_t partition, int64_t offset, int16_t error) {
    *v = rl_realloc(*v, sizeof(**v) * (size_t)(*n + 1));
    struct ringlet_group_offset *o = &(*v)[(*n)++];
    o->topic = proto_str_dup(topic);
    if (o->topic == NULL) o->topic = rl_strdup("");
    o->partition = partition;
    o->offset = offset;
    o->error = error;
}

int ringlet_admin_group_offsets(struct ringlet_client *cl, const char *group,
                                const struct ringlet_group_offset *which, int n_which,
                                struct ringlet_group_offset **out, int *n_out, int16_t *group_error,
                                char *errbuf, size_t errlen) {
    struct ringlet_conn *conn;
    int e = ringlet_coordinator_conn(cl, group, &conn, errbuf, errlen);
    if (e != 0) return e;
    /* The request lists each topic once with its partitions (v2-7 and v8 layouts). */
    int nt = 0;
    n_which = RL_MAX(n_which, 0);
    struct OffsetFetchRequest_OffsetFetchRequestTopic *t7 =
        rl_calloc((size_t)n_which + 1, sizeof(*t7));
    struct OffsetFetchRequest_OffsetFetchRequestTopics *t8 =
        rl_calloc((size_t)n_which + 1, sizeof(*t8));
    int32_t *ids = rl_calloc((size_t)n_which + 1, sizeof(int32_t));
    int nids = 0;
    for (int i = 0; i < n_which; i++) {
        bool seen = false;
        for (int k = 0; k < i; k++)
            if (!strcmp(which[k].topic, which[i].topic)) seen = true;
        if (seen) continue;
        proto_OffsetFetchRequest_OffsetFetchRequestTopic_init(&t7[nt]);
        proto_OffsetFetchRequest_OffsetFetchRequestTopics_init(&t8[nt]);
        t7[nt].Name = t8[nt].Name = proto_str_c(which[i].topic);
        t7[nt].PartitionIndexes = t8[nt].PartitionIndexes = &ids[nids];
        for (int k = i; k < n_which; k++)
            if (!strcmp(which[k].topic, which[i].topic)) ids[nids++] = which[k].partition;
        t7[nt].n_PartitionIndexes = t8[nt].n_PartitionIndexes =
            (int32_t)(&ids[nids] - t7[nt].PartitionIndexes);
        nt++;
    }
    struct OffsetFetchRequest_OffsetFetchRequestGroup g;
    proto_OffsetFetchRequest_OffsetFetchRequestGroup_init(&g);
    g.GroupId = proto_str_c(group);
    g.Topics = nt ? t8 : NULL;
    g.n_Topics = nt ? nt : -1;
    struct OffsetFetchRequest req;
    proto_OffsetFetchRequest_init(&req);
    req.GroupId = proto_str_c(group);
    req.Topics = nt ? t7 : NULL;
    req.n_Topics = nt ? nt : -1; /* null = every topic the group committed */
    req.Groups = &g;
    req.n_Groups = 1;
    struct proto_arena a;
    proto_arena_init(&a);
    struct OffsetFetchResponse resp;
    struct ringlet_resp frame = {0};
    int16_t v = 0;
    e = ringlet_call(conn, PROTO_API_KEY_OFFSET_FETCH, 2, 8, ringlet_enc_OffsetFetchRequest, &req,
                     ringlet_dec_OffsetFetchResponse, &resp, &a, &frame,
                     cl->conf.request_timeout_ms, &v);
    if (e != 0) {
        snprintf(errbuf, errlen, "OffsetFetch: %s", rl_strerror(e));
    } else {
        struct ringlet_group_offset *o = NULL;
        int n = 0;
        int16_t gerr = 0;
        if (v >= 8) {
            for (int32_t gi = 0; gi < resp.n_Groups; gi++) {
                if (resp.Groups[gi].ErrorCode) gerr = resp.Groups[gi].ErrorCode;
                for (int32_t t = 0; t < resp.Groups[gi].n_Topics; t++)
                    for (int32_t p = 0; p < resp.Groups[gi].Topics[t].n_Partitions; p++) {
                        const struct OffsetFetchResponse_OffsetFetchResponsePartitions *pp =
                            &resp.Groups[gi].Topics[t].Partitions[p];
                        offset_push(&o, &n, resp.Groups[gi].Topics[t].Name, pp->PartitionIndex,
                                    pp->CommittedOffset, pp->ErrorCode);
                    }
            }
        } else {
            gerr = resp.ErrorCode;
            for (int32_t t = 0; t < resp.n_Topics; t++)
                for (int32_t p = 0; p < resp.Topics[t].n_Partitions; p++) {
                    const struct OffsetFetchResponse_OffsetFetchResponsePartition *pp =
                        &resp.Topics[t].Partitions[p];
                    offset_push(&o, &n, resp.Topics[t].Name, pp->PartitionIndex,
                                pp->CommittedOffset, pp->ErrorCode);
                }
        }
        *out = o;
        *n_out = n;
        *group_error = gerr;
    }
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
    rl_free(t7);
    rl_free(t8);
    rl_free(ids);
    return e;
}

void ringlet_group_description_free(struct ringlet_group_description *g) {
    if (g == NULL) return;
    for (int i = 0; i < g->n_members; i++) {
        struct ringlet_group_member *m = &g->members[i];
        rl_free(m->member_id);
        rl_free(m->group_instance_id);
        rl_free(m->client_id);
        rl_free(m->host);
        rl_free(m->assignment);
    }
    rl_free(g->members);
    rl_free(g->group);
    rl_free(g->state);
    rl_free(g->protocol_type);
    rl_free(g->protocol);
    rl_free(g);
}

static char *str_or_empty(struct proto_str s) {
    char *p = proto_str_dup(s);
    return p ? p : rl_strdup("");
}

int ringlet_admin_describe_group(struct ringlet_client *cl, const char *group,
                                 struct ringlet_group_description **out, char *errbuf,
                                 size_t errlen) {
    struct ringlet_conn *conn;
    int e = ringlet_coordinator_conn(cl, group, &conn, errbuf, errlen);
    if (e != 0) return e;
    struct proto_str gname = proto_str_c(group);
    struct DescribeGroupsRequest req;
    proto_DescribeGroupsRequest_init(&req);
    req.Groups = &gname;
    req.n_Groups = 1;
    struct proto_arena a;
    proto_arena_init(&a);
    struct DescribeGroupsResponse resp;
    struct ringlet_resp frame = {0};
    e = ringlet_call(conn, PROTO_API_KEY_DESCRIBE_GROUPS, 0, 5, ringlet_enc_DescribeGroupsRequest,
                     &req, ringlet_dec_DescribeGroupsResponse, &resp, &a, &frame,
                     cl->conf.request_timeout_ms, NULL);
    if (e == 0 && resp.n_Groups < 1) e = -EBADMSG;
    if (e != 0) {
        snprintf(errbuf, errlen, "DescribeGroups %s: %s", group,
                 e == -ENOTSUP ? "not supported by the broker" : rl_strerror(e));
    } else {
        const struct DescribeGroupsResponse_DescribedGroup *g = &resp.Groups[0];
        struct ringlet_group_description *d = rl_calloc(1, sizeof(*d));
        d->group = rl_strdup(group);
        d->error = g->ErrorCode;
        d->state = str_or_empty(g->GroupState);
        d->protocol_type = str_or_empty(g->ProtocolType);
        d->protocol = str_or_empty(g->ProtocolData);
        d->n_members = RL_MAX(g->n_Members, 0);
        d->members = rl_calloc((size_t)d->n_members + 1, sizeof(*d->members));
        for (int i = 0; i < d->n_members; i++) {
            const struct DescribeGroupsResponse_DescribedGroupMember *mb = &g->Members[i];
            struct ringlet_group_member *m = &d->members[i];
            m->member_id = str_or_empty(mb->MemberId);
            m->group_instance_id = str_or_null(mb->GroupInstanceId);
            m->client_id = str_or_empty(mb->ClientId);
            m->host = str_or_empty(mb->ClientHost);
            m->assignment_len = RL_MAX(mb->MemberAssignment.len, 0);
            m->assignment = rl_malloc((size_t)m->assignment_len + 1);
            if (m->assignment_len > 0)
                memcpy(m->assignment, mb->MemberAssignment.ptr, (size_t)m->assignment_len);
        }
        *out = d;
    }
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
    return e;
}

int ringlet_admin_delete_group_offsets(struct ringlet_client *cl, const char *group,
                                       const char *topic, const int32_t *partitions, int n,
                                       struct ringlet_admin_result **out, char *errbuf,
                                       size_t errlen) {
    if (n <= 0) {
        snprintf(errbuf, errlen, "OffsetDelete: no partition named");
        return -EINVAL;
    }
    struct ringlet_conn *conn;
    int e = ringlet_coordinator_conn(cl, group, &conn, errbuf, errlen);
    if (e != 0) return e;
    struct OffsetDeleteRequest_OffsetDeleteRequestPartition *pp =
        rl_calloc((size_t)n + 1, sizeof(*pp));
    for (int i = 0; i < n; i++)
        pp[i].PartitionIndex = partitions[i];
    struct OffsetDeleteRequest_OffsetDeleteRequestTopic tp;
    proto_OffsetDeleteRequest_OffsetDeleteRequestTopic_init(&tp);
    tp.Name = proto_str_c(topic);
    tp.Partitions = pp;
    tp.n_Partitions = n;
    struct OffsetDeleteRequest req;
    proto_OffsetDeleteRequest_init(&req);
    req.GroupId = proto_str_c(group);
    req.Topics = &tp;
    req.n_Topics = 1;
    struct proto_arena a;
    proto_arena_init(&a);
    struct OffsetDeleteResponse resp;
    struct ringlet_resp frame = {0};
    e = ringlet_call(conn, PROTO_API_KEY_OFFSET_DELETE, 0, 0, ringlet_enc_OffsetDeleteRequest, &req,
                     ringlet_dec_OffsetDeleteResponse, &resp, &a, &frame,
                     cl->conf.request_timeout_ms, NULL);
    if (e != 0) {
        snprintf(errbuf, errlen, "OffsetDelete: %s",
                 e == -ENOTSUP ? "not supported by the broker" : rl_strerror(e));
    } else {
        struct ringlet_admin_result *r = rl_calloc((size_t)n + 1, sizeof(*r));
        for (int i = 0; i < n; i++) {
            char nm[512];
            snprintf(nm, sizeof(nm), "%s/%" PRId32, topic, partitions[i]);
            r[i].name = rl_strdup(nm);
            /* A group-level error (e.g. GROUP_SUBSCRIBED_TO_TOPIC) applies to every row. */
            r[i].error = resp.ErrorCode ? resp.ErrorCode : PROTO_ERR_UNKNOWN_SERVER_ERROR;
            for (int32_t t = 0; t < resp.n_Topics && !resp.ErrorCode; t++) {
                if (!proto_str_eq(resp.Topics[t].Name, topic)) continue;
                for (int32_t p = 0; p < resp.Topics[t].n_Partitions; p++)
                    if (resp.Topics[t].Partitions[p].PartitionIndex == partitions[i])
                        r[i].error = resp.Topics[t].Partitions[p].ErrorCode;
            }
            if (r[i].error == PROTO_ERR_UNKNOWN_SERVER_ERROR && !resp.ErrorCode)
                r[i].message = rl_strdup("the broker did not answer for this partition");
        }
        *out = r;
    }
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
    rl_free(pp);
    return e;
}

int ringlet_admin_commit_group_offsets(struct ringlet_client *cl, const char *group,
                                       struct ringlet_group_offset *offs, int n, char *errbuf,
                                       size_t errlen) {
    if (n <= 0) {
        snprintf(errbuf, errlen, "OffsetCommit: no partition named");
        return -EINVAL;
    }
    struct ringlet_conn *conn;
    int e = ringlet_coordinator_conn(cl, group, &conn, errbuf, errlen);
    if (e != 0) return e;
    struct OffsetCommitRequest_OffsetCommitRequestTopic *tops =
        rl_calloc((size_t)n + 1, sizeof(*tops));
    struct OffsetCommitRequest_OffsetCommitRequestPartition *parts =
        rl_calloc((size_t)n + 1, sizeof(*parts));
    int nt = 0, np = 0;
    for (int i = 0; i < n; i++) {
        bool seen = false;
        for (int k = 0; k < i; k++)
            if (!strcmp(offs[k].topic, offs[i].topic)) seen = true;
        if (seen) continue;
        proto_OffsetCommitRequest_OffsetCommitRequestTopic_init(&tops[nt]);
        tops[nt].Name = proto_str_c(offs[i].topic);
        tops[nt].Partitions = &parts[np];
        for (int k = i; k < n; k++) {
            if (strcmp(offs[k].topic, offs[i].topic) != 0) continue;
            proto_OffsetCommitRequest_OffsetCommitRequestPartition_init(&parts[np]);
            parts[np].PartitionIndex = offs[k].partition;
            parts[np].CommittedOffset = offs[k].offset;
            parts[np].CommittedMetadata = proto_str_c("");
            np++;
            tops[nt].n_Partitions++;
        }
        nt++;
    }
    struct OffsetCommitRequest req;
    proto_OffsetCommitRequest_init(&req);
    req.GroupId = proto_str_c(group);
    req.GenerationIdOrMemberEpoch = -1; /* not a member: brokers accept it for empty groups */
    req.MemberId = proto_str_c("");
    req.Topics = tops;
    req.n_Topics = nt;
    struct proto_arena a;
    proto_arena_init(&a);
    struct OffsetCommitResponse resp;
    struct ringlet_resp frame = {0};
    e = ringlet_call(conn, PROTO_API_KEY_OFFSET_COMMIT, 2, 8, ringlet_enc_OffsetCommitRequest, &req,
                     ringlet_dec_OffsetCommitResponse, &resp, &a, &frame,
                     cl->conf.request_timeout_ms, NULL);
    if (e != 0) {
        snprintf(errbuf, errlen, "OffsetCommit: %s", rl_strerror(e));
    } else {
        for (int i = 0; i < n; i++) {
            int16_t pe = PROTO_ERR_UNKNOWN_SERVER_ERROR;
            for (int32_t t = 0; t < resp.n_Topics; t++) {
                if (!proto_str_eq(resp.Topics[t].Name, offs[i].topic)) continue;
                for (int32_t p = 0; p < resp.Topics[t].n_Partitions; p++)
                    if (resp.Topics[t].Partitions[p].PartitionIndex == offs[i].partition)
                        pe = resp.Topics[t].Partitions[p].ErrorCode;
            }
            offs[i].error = pe;
        }
    }
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
    rl_free(tops);
    rl_free(parts);
    return e;
}
