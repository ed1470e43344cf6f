/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin.c - admin operations that answer one row per named object: CreateTopics, DeleteTopics,
 * CreatePartitions (sent to the controller) and DeleteGroups (sent to each group's
 * coordinator), and the cluster description (DescribeCluster, falling back to Metadata). The
 * named-object calls return a row per requested name, in request order; a name the broker left
 * out of its answer gets UNKNOWN_SERVER_ERROR with a message saying so.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client_int.h"
#include "ringlet/common.h"

RINGLET_CODEC(CreateTopics)
RINGLET_CODEC(DeleteTopics)
RINGLET_CODEC(CreatePartitions)
RINGLET_CODEC(DeleteGroups)
RINGLET_CODEC(DescribeCluster)

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
