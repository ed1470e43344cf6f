/* SPDX-License-Identifier: Apache-2.0 */
/* client_int.h - internals shared by the client library's source files (not installed). */
#ifndef RINGLET_CLIENT_INT_H
#define RINGLET_CLIENT_INT_H

#include "ringlet/client.h"

/* API keys the library uses (Kafka's numbering). */
enum {
    RINGLET_API_PRODUCE = 0,
    RINGLET_API_FETCH = 1,
    RINGLET_API_LIST_OFFSETS = 2,
    RINGLET_API_METADATA = 3,
    RINGLET_API_API_VERSIONS = 18,
};

/* ApiVersions: the versions this library can encode and decode by itself. */
#define RINGLET_APIVERSIONS_MAX 3

/* Deadline helpers over the monotonic clock: deadline_ms = now + timeout; remaining >= 0. */
int64_t ringlet__deadline(int timeout_ms);
int ringlet__remaining(int64_t deadline);

struct node_conn {
    int32_t node_id;
    char host[256];
    int port;
    struct ringlet_conn *conn;
};

struct ringlet_client {
    struct ringlet_conf conf;
    char *brokers;
    char *client_id;
    struct ringlet_broker_addr *bootstrap;
    int n_bootstrap;
    int next_bootstrap; /* round-robin start, so a dead first broker is not always tried first */
    struct ringlet_conn *any;
    struct node_conn *nodes;
    int n_nodes;
    struct ringlet_broker_md *known; /* brokers from the last Metadata response */
    int32_t n_known;
};

/* Replaces the client's known broker list (from a Metadata response); takes a deep copy. */
void ringlet__client_set_brokers(struct ringlet_client *cl, const struct ringlet_metadata *md);

#endif /* RINGLET_CLIENT_INT_H */
