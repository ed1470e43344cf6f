/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.h - ringletd's Prometheus metrics (metrics.c) and the admin HTTP listener that serves
 * them (admin_http.c).
 *
 * Threads: every broker_metrics_* hook below runs on the reactor thread, which is the only
 * writer of the counters. The admin listener runs in libmicrohttpd's own thread and reads
 * (a) live counters with relaxed atomic loads (a scrape may see one counter a few requests
 * ahead of another), and (b) a text snapshot of everything that needs broker data structures
 * (topics, partitions, groups, lag), which the reactor renders once a second
 * (broker_metrics_tick) under a mutex held only for a pointer swap. The HTTP thread never
 * touches a broker data structure, so a slow scrape cannot block the reactor.
 *
 * Every hook is a no-op when b->metrics is NULL (admin.listener empty), so a broker without the
 * admin listener pays one pointer test per hook.
 */
#ifndef RINGLET_BROKER_METRICS_H
#define RINGLET_BROKER_METRICS_H

#include "broker.h"

struct broker_metrics;
struct ProduceResponse;
struct FetchRequest;
struct FetchResponse;

/* Creates b->metrics (if admin.listener is set) and starts the admin HTTP listener. Call before
 * recovery starts, so /health/live answers during recovery and /health/ready says 503 until
 * b->ready. A listener that cannot be opened is logged and the broker runs without it.
 * Returns 0 (or -EINVAL for a malformed admin.listener, logged). */
int broker_admin_http_start(struct broker *b);
/* Stops the listener (waits for in-flight HTTP requests) and frees b->metrics. */
void broker_admin_http_stop(struct broker *b);
/* The port the admin listener is bound to, or -1 if it is not running. */
int broker_admin_http_port(const struct broker *b);

/* Prints the metric table (name, type, labels, help): plain text, or the Markdown that is
 * docs/metrics.md. */
void broker_metrics_print_help(FILE *f, bool markdown);

/* ---- reactor-thread hooks ------------------------------------------------------------------ */
/* Renders the snapshot of per-topic, per-partition and per-group series (about once a second,
 * from the reactor's tick). now_ms: wall clock. */
void broker_metrics_tick(struct broker *b, int64_t now_ms);
/* A request completed (latency from req->received_ns; slow requests are logged). */
void broker_metrics_request_done(struct broker_request *req);
/* A request closed its connection instead of answering (malformed, unsupported version). */
void broker_metrics_request_closed(struct broker_request *req);
void broker_metrics_conn_accepted(struct broker *b);
void broker_metrics_conn_closed(struct broker *b);
void broker_metrics_conn_rejected(struct broker *b);
void broker_metrics_bytes_received(struct broker *b, size_t n);
void broker_metrics_bytes_sent(struct broker *b, size_t n);
/* Records and bytes of the batches in buf (len bytes) were accepted for append to topic. */
void broker_metrics_produced(struct broker *b, const char *topic, const uint8_t *buf, size_t len);
/* A Produce / Fetch response is about to be sent: per-topic request and error counts, per-API
 * error codes, and (Fetch) the records and bytes sent. */
/* A fetch read that must come from the disk (storage_log_read_async) of bytes bytes. */
void broker_metrics_disk_read(struct broker *b, size_t bytes);
void broker_metrics_produce_done(struct broker *b, const struct ProduceResponse *rs);
void broker_metrics_fetch_done(struct broker *b, const struct FetchRequest *rq,
                               const struct FetchResponse *rs);
/* A storage fdatasync took latency_ns (any thread that storage calls it from). */
void broker_metrics_fsync_observe(void *arg, int64_t latency_ns);

#endif /* RINGLET_BROKER_METRICS_H */
