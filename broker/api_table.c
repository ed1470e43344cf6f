/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_table.c - which Kafka APIs ringletd serves, and by which handler. ApiVersions advertises
 * exactly the APIs listed here, with the version range the codec supports (clamped by max_version
 * when a handler serves fewer versions than the codec knows).
 */
#include "broker.h"

int broker_api_apiversions(struct broker_request *req);

static const struct {
    int16_t key;
    int16_t max_version; /* -1: every version the codec supports */
    broker_handler_fn fn;
} api_table[] = {
    /* one line per API: {key, max_version, handler} */
    {18, -1, broker_api_apiversions},
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
