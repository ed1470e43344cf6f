/* SPDX-License-Identifier: Apache-2.0 */
/*
 * client.c - the client handle: configuration defaults, broker list parsing, bootstrap over
 * several brokers with retries and backoff, per-node connection cache, and the classification
 * of Kafka error codes into retriable / coordinator-moved.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"
#include "ringlet/common.h"

void ringlet_conf_init(struct ringlet_conf *conf) {
    memset(conf, 0, sizeof(*conf));
    conf->brokers = ringlet_brokers_pick(NULL);
    conf->client_id = "ringlet";
    conf->connect_timeout_ms = 5000;
    conf->request_timeout_ms = 30000;
    conf->retries = 3;
    conf->retry_backoff_ms = 100;
}

const char *ringlet_brokers_pick(const char *cli_value) {
    if (cli_value != NULL && cli_value[0] != '\0') return cli_value;
    const char *env = getenv("RINGLET_BROKERS");
    if (env != NULL && env[0] != '\0') return env;
    return RINGLET_DEFAULT_BROKERS;
}

static void set_err(char *errbuf, size_t errlen, const char *fmt, const char *arg) {
    if (errbuf != NULL && errlen > 0) snprintf(errbuf, errlen, fmt, arg);
}

/* Parses one trimmed entry [start, end) into a. Returns 0 or -EINVAL. */
static int parse_entry(const char *s, size_t n, struct ringlet_broker_addr *a) {
    const char *host = s, *port = NULL;
    size_t hlen = n;
    if (n > 0 && s[0] == '[') { /* [v6]:port */
        const char *close = memchr(s, ']', n);
        if (close == NULL) return -EINVAL;
        host = s + 1;
        hlen = (size_t)(close - host);
        size_t rest = n - (size_t)(close + 1 - s);
        if (rest > 0) {
            if (close[1] != ':') return -EINVAL;
            port = close + 2;
        }
    } else {
        const char *colon = NULL;
        for (size_t i = 0; i < n; i++)
            if (s[i] == ':') colon = s + i;
        if (colon != NULL) {
            hlen = (size_t)(colon - s);
            port = colon + 1;
        }
    }
    if (hlen == 0 || hlen >= sizeof(a->host)) return -EINVAL;
    memcpy(a->host, host, hlen);
    a->host[hlen] = '\0';
    a->port = 9092;
    if (port != NULL) {
        size_t plen = n - (size_t)(port - s);
        if (plen == 0 || plen > 5) return -EINVAL;
        int v = 0;
        for (size_t i = 0; i < plen; i++) {
            if (port[i] < '0' || port[i] > '9') return -EINVAL;
            v = v * 10 + (port[i] - '0');
        }
        if (v <= 0 || v > 65535) return -EINVAL;
        a->port = v;
    }
    return 0;
}

int ringlet_brokers_parse(const char *list, struct ringlet_broker_addr **out, int *n_out,
                          char *errbuf, size_t errlen) {
    if (list == NULL) list = "";
    int cap = 1;
    for (const char *p = list; *p; p++)
        if (*p == ',') cap++;
    struct ringlet_broker_addr *arr = rl_calloc((size_t)cap, sizeof(*arr));
    int n = 0;
    const char *p = list;
    for (;;) {
        const char *end = strchr(p, ',');
        if (end == NULL) end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a) {
            if (parse_entry(a, (size_t)(b - a), &arr[n]) != 0) {
                char bad[300];
                snprintf(bad, sizeof(bad), "%.*s", (int)(b - a), a);
                set_err(errbuf, errlen, "bad broker address '%s' (want host:port)", bad);
                rl_free(arr);
                return -EINVAL;
            }
            n++;
        }
        if (*end == '\0') break;
        p = end + 1;
    }
    if (n == 0) {
        set_err(errbuf, errlen, "empty broker list%s", "");
        rl_free(arr);
        return -EINVAL;
    }
    *out = arr;
    *n_out = n;
    return 0;
}

int ringlet_client_new(const struct ringlet_conf *conf, struct ringlet_client **out, char *errbuf,
                       size_t errlen) {
    struct ringlet_conf def;
    ringlet_conf_init(&def);
    if (conf == NULL) conf = &def;
    struct ringlet_broker_addr *addrs = NULL;
    int n = 0;
    const char *brokers = conf->brokers ? conf->brokers : ringlet_brokers_pick(NULL);
    int err = ringlet_brokers_parse(brokers, &addrs, &n, errbuf, errlen);
    if (err) return err;
    struct ringlet_client *cl = rl_calloc(1, sizeof(*cl));
    cl->conf = *conf;
    cl->brokers = rl_strdup(brokers);
    cl->client_id = rl_strdup(conf->client_id ? conf->client_id : "ringlet");
    cl->conf.brokers = cl->brokers;
    cl->conf.client_id = cl->client_id;
    if (cl->conf.connect_timeout_ms <= 0) cl->conf.connect_timeout_ms = def.connect_timeout_ms;
    if (cl->conf.request_timeout_ms <= 0) cl->conf.request_timeout_ms = def.request_timeout_ms;
    if (cl->conf.retries < 0) cl->conf.retries = 0;
    if (cl->conf.retry_backoff_ms < 0) cl->conf.retry_backoff_ms = 0;
    cl->bootstrap = addrs;
    cl->n_bootstrap = n;
    *out = cl;
    return 0;
}

void ringlet_client_destroy(struct ringlet_client *cl) {
    if (cl == NULL) return;
    ringlet_conn_close(cl->any);
    for (int i = 0; i < cl->n_nodes; i++)
        ringlet_conn_close(cl->nodes[i].conn);
    rl_free(cl->nodes);
    for (int32_t i = 0; i < cl->n_known; i++) {
        rl_free(cl->known[i].host);
        rl_free(cl->known[i].rack);
    }
    rl_free(cl->known);
    rl_free(cl->bootstrap);
    rl_free(cl->brokers);
    rl_free(cl->client_id);
    rl_free(cl);
}

const struct ringlet_conf *ringlet_client_conf(const struct ringlet_client *cl) {
    return &cl->conf;
}

int ringlet_backoff_ms(const struct ringlet_conf *conf, int attempt) {
    int64_t b = conf->retry_backoff_ms;
    for (int i = 0; i < attempt && b < 1000; i++)
        b *= 2;
    return (int)RL_MIN(b, 1000);
}

static void sleep_ms(int ms) {
    if (ms <= 0) return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

/* Opens and negotiates one connection. */
static int open_negotiated(struct ringlet_client *cl, const char *host, int port,
                           struct ringlet_conn **out, char *errbuf, size_t errlen) {
    struct ringlet_conn *c = NULL;
    int err = ringlet_conn_open(host, port, cl->conf.client_id, cl->conf.connect_timeout_ms, &c);
    if (err == 0) {
        int16_t kerr = 0;
        err = ringlet_conn_negotiate(c, cl->conf.request_timeout_ms, &kerr);
        if (err == -EPROTO && errbuf && errlen)
            snprintf(errbuf, errlen, "%s:%d: ApiVersions failed: %s", host, port,
                     proto_error_name(kerr));
        if (err) ringlet_conn_close(c);
    }
    if (err && err != -EPROTO && errbuf && errlen)
        snprintf(errbuf, errlen, "%s:%d: %s", host, port,
                 err == -ENOENT ? "host name does not resolve" : rl_strerror(err));
    if (err == 0) *out = c;
    return err;
}

int ringlet_client_any_conn(struct ringlet_client *cl, struct ringlet_conn **out, char *errbuf,
                            size_t errlen) {
    if (ringlet_conn_is_open(cl->any)) {
        *out = cl->any;
        return 0;
    }
    ringlet_conn_close(cl->any);
    cl->any = NULL;
    int err = -ENOTCONN;
    for (int attempt = 0; attempt <= cl->conf.retries; attempt++) {
        if (attempt > 0) sleep_ms(ringlet_backoff_ms(&cl->conf, attempt - 1));
        for (int i = 0; i < cl->n_bootstrap; i++) {
            struct ringlet_broker_addr *a =
                &cl->bootstrap[(cl->next_bootstrap + i) % cl->n_bootstrap];
            struct ringlet_conn *c = NULL;
            err = open_negotiated(cl, a->host, a->port, &c, errbuf, errlen);
            if (err == 0) {
                cl->next_bootstrap = (cl->next_bootstrap + i) % cl->n_bootstrap;
                cl->any = c;
                *out = c;
                return 0;
            }
            rl_debug("client", "bootstrap %s:%d failed: %s", a->host, a->port, rl_strerror(err));
        }
    }
    return err;
}

int ringlet_client_node_conn(struct ringlet_client *cl, int32_t node_id, const char *host, int port,
                             struct ringlet_conn **out, char *errbuf, size_t errlen) {
    struct node_conn *slot = NULL;
    if (node_id >= 0) {
        for (int i = 0; i < cl->n_nodes; i++)
            if (cl->nodes[i].node_id == node_id) slot = &cl->nodes[i];
    }
    if (slot != NULL && (strcmp(slot->host, host) != 0 || slot->port != port)) {
        ringlet_conn_close(slot->conn); /* the node moved */
        slot->conn = NULL;
    }
    if (slot != NULL && ringlet_conn_is_open(slot->conn)) {
        *out = slot->conn;
        return 0;
    }
    struct ringlet_conn *c = NULL;
    int err = -ENOTCONN;
    for (int attempt = 0; attempt <= cl->conf.retries; attempt++) {
        if (attempt > 0) sleep_ms(ringlet_backoff_ms(&cl->conf, attempt - 1));
        err = open_negotiated(cl, host, port, &c, errbuf, errlen);
        if (err == 0 || err == -EPROTO) break;
    }
    if (err) return err;
    if (node_id < 0) { /* uncached: keep it as the "any" connection so it gets freed */
        ringlet_conn_close(cl->any);
        cl->any = c;
        *out = c;
        return 0;
    }
    if (slot == NULL) {
        cl->nodes = rl_realloc(cl->nodes, sizeof(*cl->nodes) * (size_t)(cl->n_nodes + 1));
        slot = &cl->nodes[cl->n_nodes++];
        memset(slot, 0, sizeof(*slot));
        slot->node_id = node_id;
    }
    ringlet_conn_close(slot->conn);
    snprintf(slot->host, sizeof(slot->host), "%s", host);
    slot->port = port;
    slot->conn = c;
    *out = c;
    return 0;
}

bool ringlet_error_retriable(int16_t code) {
    switch (code) {
    case PROTO_ERR_CORRUPT_MESSAGE:
    case PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION:
    case PROTO_ERR_LEADER_NOT_AVAILABLE:
    case PROTO_ERR_NOT_LEADER_OR_FOLLOWER:
    case PROTO_ERR_REQUEST_TIMED_OUT:
    case PROTO_ERR_REPLICA_NOT_AVAILABLE:
    case PROTO_ERR_NETWORK_EXCEPTION:
    case PROTO_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case PROTO_ERR_COORDINATOR_NOT_AVAILABLE:
    case PROTO_ERR_NOT_COORDINATOR:
    case PROTO_ERR_NOT_ENOUGH_REPLICAS:
    case 20: /* NOT_ENOUGH_REPLICAS_AFTER_APPEND */
    case PROTO_ERR_NOT_CONTROLLER:
    case PROTO_ERR_KAFKA_STORAGE_ERROR:
    case PROTO_ERR_FETCH_SESSION_ID_NOT_FOUND:
    case PROTO_ERR_INVALID_FETCH_SESSION_EPOCH:
    case PROTO_ERR_FENCED_LEADER_EPOCH:
    case PROTO_ERR_UNKNOWN_LEADER_EPOCH:
    case PROTO_ERR_OFFSET_NOT_AVAILABLE:
    case PROTO_ERR_UNSTABLE_OFFSET_COMMIT:
        return true;
    default:
        return false;
    }
}

bool ringlet_error_coordinator(int16_t code) {
    return code == PROTO_ERR_COORDINATOR_NOT_AVAILABLE || code == PROTO_ERR_NOT_COORDINATOR ||
           code == PROTO_ERR_COORDINATOR_LOAD_IN_PROGRESS;
}
