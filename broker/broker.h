/* SPDX-License-Identifier: Apache-2.0 */
/*
 * broker.h - ringletd's internal interfaces, shared by every file of broker/.
 *
 *   config.c      struct broker_config from config_options.h; YAML + --set overrides; docs.
 *   reactor.c     the io_uring reactor: listeners, connections, framing, in-order responses,
 *                 timers, storage completions (the storage engine's eventfd).
 *   dispatch.c    request header decode, ApiVersions negotiation checks, handler table
 *                 (api_table.c), error responses for unknown APIs/versions.
 *   topics.c      topic/partition registry over storage/ logs; topic ids and configs persisted.
 *   api_*.c       one file per Kafka API (or per family).
 *   group*.c      the group coordinator (state machine separate from the wire handlers).
 *
 * Threading: everything here runs on the single reactor thread unless a comment says
 * otherwise. A partition is owned by exactly one reactor; more reactors can come later.
 */
#ifndef RINGLET_BROKER_H
#define RINGLET_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ringlet/common.h"
#include "ringlet/protocol.h"
#include "ringlet/storage.h"

/* ---- configuration (config.c) ---------------------------------------------------------------- */
struct broker_config {
#define OPT_INT(f, n, d, lo, hi, h)   int64_t f;
#define OPT_BOOL(f, n, d, h)          bool f;
#define OPT_STR(f, n, d, h)           char *f;
#define OPT_ENUM(f, n, d, choices, h) int f;
#include "config_options.h"
#undef OPT_INT
#undef OPT_BOOL
#undef OPT_STR
#undef OPT_ENUM
};
enum { BROKER_FLUSH_GROUP_COMMIT = 0, BROKER_FLUSH_INTERVAL = 1, BROKER_FLUSH_NONE = 2 };
enum { BROKER_TS_CREATE_TIME = 0, BROKER_TS_LOG_APPEND_TIME = 1 };

/* Sets every field to its default. */
void broker_config_defaults(struct broker_config *c);
/* Loads a YAML file (flat mapping "name: value", or nested mappings joined with dots) over c.
 * On error fills errbuf with "file:line: what is wrong" and returns -EINVAL. */
int broker_config_load_yaml(struct broker_config *c, const char *path, char *errbuf, size_t errlen);
/* Sets one option from "name=value" (command line). */
int broker_config_set(struct broker_config *c, const char *name_eq_value, char *errbuf,
                      size_t errlen);
void broker_config_free(struct broker_config *c);
/* Prints every option (name, type, default, bounds, help): plain text, or the Markdown table
 * that is docs/configuration.md. */
void broker_config_print_help(FILE *f, bool markdown);
/* Calls cb for every option with its current value as text and whether it is the default
 * (DescribeConfigs of the broker resource). Stops and returns cb's value if non-zero. */
int broker_config_foreach(const struct broker_config *c,
                          int (*cb)(void *arg, const char *name, const char *value,
                                    bool is_default),
                          void *arg);

/* ---- the broker ------------------------------------------------------------------------------ */
struct broker_reactor;
struct broker_topics;
struct broker_groups;
struct broker_producers;
struct broker_blocking;

struct broker {
    struct broker_config cfg;
    struct storage_engine *storage;
    struct broker_reactor *reactor;
    struct broker_topics *topics;       /* topics.c */
    struct broker_groups *groups;       /* group coordinator */
    struct broker_producers *producers; /* idempotent producer state */
    struct broker_blocking *blocking;   /* blocking.c: the file-system worker thread */
    struct broker_metrics *metrics;     /* metrics.c; NULL without the admin listener */
    char cluster_id[64];
    int32_t node_id;
    bool ready;    /* recovery finished and listeners open */
    bool stopping; /* SIGTERM/SIGINT seen: stop accepting, drain, shut down */
};

/* Start-up and shut-down of each subsystem, in this order (main.c / reactor.c call them). */
int broker_topics_init(struct broker *b); /* loads every partition log found in log.dir */
int broker_groups_init(struct broker *b); /* loads __consumer_offsets */
void broker_groups_shutdown(struct broker *b);
void broker_topics_shutdown(struct broker *b);
/* Called about once a second from the reactor: retention, offset expiry, ... now_ms is the wall
 * clock (rl_now_ms). The reactor does not call storage_engine_tick itself. */
void broker_topics_tick(struct broker *b, int64_t now_ms);
void broker_groups_tick(struct broker *b, int64_t now_ms);
/* A topic was deleted: its committed offsets are removed at once (topics.c calls this). */
void broker_groups_topic_deleted(struct broker *b, const char *topic);

/* ---- slow file-system work off the reactor (blocking.c) -------------------------------------
 * run() runs on a worker thread (jobs one at a time, in order) and must touch only what the job
 * carries; done() then runs on the reactor thread. Without a reactor both run in submit. */
struct broker_job {
    void (*run)(struct broker_job *job);
    void (*done)(struct broker_job *job);
    struct broker_job *next;
};
int broker_blocking_init(struct broker *b);
void broker_blocking_submit(struct broker *b, struct broker_job *job);
void broker_blocking_reap(struct broker *b);     /* reactor: done() of the jobs that ran */
void broker_blocking_shutdown(struct broker *b); /* runs what is queued, joins the thread */

/* ---- timers (reactor.c): a min-heap on the reactor's own clock, no thread per timer ---------- */
struct broker_timer;
typedef void (*broker_timer_fn)(struct broker_timer *t);
struct broker_timer {
    int64_t deadline_ms; /* rl_mono_ms() clock */
    broker_timer_fn fn;
    void *arg;
    int32_t heap_index; /* -1 when not armed */
};
void broker_timer_init(struct broker_timer *t, broker_timer_fn fn, void *arg);
/* (Re)arms t to fire once at deadline_ms (rl_mono_ms clock). */
void broker_timer_arm(struct broker *b, struct broker_timer *t, int64_t deadline_ms);
void broker_timer_cancel(struct broker *b, struct broker_timer *t);
static inline bool broker_timer_armed(const struct broker_timer *t) {
    return t->heap_index >= 0;
}

/* ---- requests (reactor.c / dispatch.c) ---------------------------------------------------------
 * A request is created for each complete frame. Its handler decodes req->body with the generated
 * decoder (allocating from req->arena), acts, and completes the request exactly once, now or
 * later (after an fsync, a long-poll wait, a rebalance), with BROKER_RESPOND() or
 * broker_request_drop(). Responses leave each connection in request order whatever order
 * requests complete in. If the client disconnects meanwhile, the request still completes and the
 * response is discarded: a handler never has to check.
 */
struct broker_conn;
struct broker_request {
    struct broker *b;
    struct broker_conn *conn;
    struct proto_request_header hdr; /* ClientId points into the frame */
    struct proto_reader body;        /* the request body after the header */
    struct proto_arena arena;        /* freed after the request completes, never inside the
                                        handler's call: usable until the callback returns */
    int64_t received_ns;
    /* reactor-private from here */
    struct broker_request *next;
    uint8_t *frame;
    size_t frame_len;
    size_t frame_cap; /* size of a frame from the reactor's pool; 0: in this allocation */
    struct proto_writer out;
    int state;
};

typedef int (*broker_handler_fn)(struct broker_request *req);

/* Starts a response: frame length placeholder + response header; returns the writer for the
 * body. broker_response_end() patches the length and queues the response. */
struct proto_writer *broker_response_begin(struct broker_request *req);
void broker_response_end(struct broker_request *req);
#define BROKER_RESPOND(req, Msg, msgp)                                                             \
    do {                                                                                           \
        struct proto_writer *w__ = broker_response_begin(req);                                     \
        proto_##Msg##_encode(w__, (req)->hdr.ApiVersion, (msgp));                                  \
        broker_response_end(req);                                                                  \
    } while (0)
/* Completes a request with no response (Produce with acks=0). */
void broker_request_drop(struct broker_request *req);
/* Closes the request's connection after whatever was already queued (malformed input). */
void broker_request_close_conn(struct broker_request *req, const char *why);
/* The peer address "ip:port" of the request's connection, for logs. */
const char *broker_request_peer(const struct broker_request *req);

/* Handler table (api_table.c): the handler for an API key, or NULL if not served; and the
 * highest version the handler serves (-1: every version the codec supports). */
broker_handler_fn broker_api_handler(int16_t api_key);
int16_t broker_api_max_version(int16_t api_key);
/* The version range ringletd advertises for an API (codec range clamped by the table): 0, or
 * -ENOENT if the API is not served (dispatch.c). */
int broker_api_version_range(int16_t api_key, int16_t *min_version, int16_t *max_version);
/* Visits every served API key in table order (ApiVersions). */
void broker_api_foreach(void (*cb)(void *arg, int16_t api_key), void *arg);

/* ---- reactor lifecycle (reactor.c; main.c and tests) ------------------------------------------
 * create: the ring, timers, the storage engine's eventfd (if b->storage), and the SIGTERM/SIGINT
 * signalfd when handle_signals (the caller blocks those signals first). listen: opens every
 * address of cfg.listeners. run: serves until stopped, then stops accepting, lets in-flight
 * requests finish (bounded by drain_ms) and returns 0. broker_reactor_stop may be called from
 * any thread. */
int broker_reactor_create(struct broker *b, bool handle_signals);
int broker_reactor_listen(struct broker *b);
int broker_reactor_run(struct broker *b, int64_t drain_ms);
void broker_reactor_stop(struct broker *b);
/* Wakes the reactor to reap finished blocking jobs (any thread). */
void broker_reactor_wake(struct broker *b);
void broker_reactor_destroy(struct broker *b);
/* The port listener i is bound to (after listen; useful with port 0), or -1. */
int broker_reactor_port(struct broker *b, int i);
/* "host:port,..." of every listener with its bound port (after listen), for logs. */
const char *broker_reactor_addresses(struct broker *b);
/* The host and port clients should use (first of advertised.listeners, else of listeners, with
 * the bound port). host stays valid while the broker runs. */
void broker_advertised_listener(struct broker *b, const char **host, int32_t *port);

/* ---- topics and partitions (topics.c) -------------------------------------------------------- */
struct broker_partition;
struct broker_topic;
typedef void (*broker_wake_fn)(void *arg);

/* Finds a topic by name (len bytes, not NUL-terminated). NULL if it does not exist. */
struct broker_topic *broker_topic_find(struct broker *b, const char *name, size_t len);
struct broker_partition *broker_partition_get(struct broker_topic *t, int32_t partition);
int32_t broker_topic_partition_count(const struct broker_topic *t);
/* Creates a topic with n partitions (n = -1: num.partitions) and configs (name/value pairs,
 * validated). Fills errmsg and returns a Kafka error code (PROTO_ERR_*), 0 on success. */
int broker_topic_create(struct broker *b, const char *name, int32_t n, const char *const *cfg_names,
                        const char *const *cfg_values, int32_t n_cfgs, bool internal,
                        struct broker_topic **out, char *errmsg, size_t errlen);
struct storage_log *broker_partition_log(struct broker_partition *p);

#endif /* RINGLET_BROKER_H */
