/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_table.c - which Kafka APIs ringletd serves, and by which handler. ApiVersions advertises
 * exactly the APIs listed here, with the version range the codec supports (clamped by max_version
 * when a handler serves fewer versions than the codec knows).
 */
#include "broker.h"

int broker_api_apiversions(struct broker_request *req);
/* data plane and admin (topics.h) */
int broker_api_produce(struct broker_request *req);
int broker_api_fetch(struct broker_request *req);
int broker_api_list_offsets(struct broker_request *req);
int broker_api_metadata(struct broker_request *req);
int broker_api_create_topics(struct broker_request *req);
int broker_api_delete_topics(struct broker_request *req);
int broker_api_delete_records(struct broker_request *req);
int broker_api_init_producer_id(struct broker_request *req);
int broker_api_offset_for_leader_epoch(struct broker_request *req);
int broker_api_describe_configs(struct broker_request *req);
int broker_api_alter_configs(struct broker_request *req);
int broker_api_describe_log_dirs(struct broker_request *req);
int broker_api_create_partitions(struct broker_request *req);
int broker_api_incremental_alter_configs(struct broker_request *req);
int broker_api_describe_cluster(struct broker_request *req);
/* group coordinator (api_group.c) */
int broker_api_offset_commit(struct broker_request *req);
int broker_api_offset_fetch(struct broker_request *req);
int broker_api_find_coordinator(struct broker_request *req);
int broker_api_join_group(struct broker_request *req);
int broker_api_heartbeat(struct broker_request *req);
int broker_api_leave_group(struct broker_request *req);
int broker_api_sync_group(struct broker_request *req);
int broker_api_describe_groups(struct broker_request *req);
int broker_api_list_groups(struct broker_request *req);
int broker_api_delete_groups(struct broker_request *req);
int broker_api_offset_delete(struct broker_request *req);

static const struct {
    int16_t key;
    int16_t max_version; /* -1: every version the codec supports */
    broker_handler_fn fn;
} api_table[] = {
    /* one line per API: {key, max_version, handler} */
    {18, -1, broker_api_apiversions},
    {0, -1, broker_api_produce},
    {1, -1, broker_api_fetch},
    {2, -1, broker_api_list_offsets},
    {3, -1, broker_api_metadata},
    {19, -1, broker_api_create_topics},
    {20, -1, broker_api_delete_topics},
    {21, -1, broker_api_delete_records},
    {22, -1, broker_api_init_producer_id},
    {23, -1, broker_api_offset_for_leader_epoch},
    {32, -1, broker_api_describe_configs},
    {33, -1, broker_api_alter_configs},
    {35, -1, broker_api_describe_log_dirs},
    {37, -1, broker_api_create_partitions},
    {44, -1, broker_api_incremental_alter_configs},
    {60, -1, broker_api_describe_cluster},
    {8, -1, broker_api_offset_commit},
    {9, -1, broker_api_offset_fetch},
    {10, -1, broker_api_find_coordinator},
    {11, -1, broker_api_join_group},
    {12, -1, broker_api_heartbeat},
    {13, -1, broker_api_leave_group},
    {14, -1, broker_api_sync_group},
    {15, -1, broker_api_describe_groups},
    {16, -1, broker_api_list_groups},
    {42, -1, broker_api_delete_groups},
    {47, -1, broker_api_offset_delete},
};

broker_handler_fn broker_api_handler(int16_t api_key) {
    for (size_t i = 0; i < RL_ARRAY_SIZE(api_table); i++)
        if (api_table[i].key == api_key) return api_table[i].fn;
    return NULL;
}

int16_t broker_api_max_version(int16_t api_key) {
    for (size_t i = 0; i < RL_ARRAY_SIZE(api_table); i++)
        if (api_table[i].key == api_key) return api_table[i].max_version;
    return -1;
}

void broker_api_foreach(void (*cb)(void *arg, int16_t api_key), void *arg) {
    for (size_t i = 0; i < RL_ARRAY_SIZE(api_table); i++)
        cb(arg, api_table[i].key);
}
