/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics_int.h - internals shared by metrics.c (counters, snapshot, exposition) and
 * admin_http.c (the HTTP thread, /proc readers). See metrics.h for the threading rules.
 */
#ifndef RINGLET_BROKER_METRICS_INT_H
#define RINGLET_BROKER_METRICS_INT_H

#include <pthread.h>

#include "metrics.h"

#define METRICS_LAT_BUCKETS   16  /* finite bounds; one more slot counts the +Inf bucket */
#define METRICS_MAX_API       128 /* API keys counted */
#define METRICS_MAX_CODE      160 /* error codes -1..157; the last slot is CONNECTION_CLOSED */
#define METRICS_CODE_CLOSED   (METRICS_MAX_CODE - 2)
#define METRICS_TOPIC_BUCKETS 256 /* power of two */

struct metrics_buf {
    char *p; /* rl_malloc'd (malloc-compatible, libmicrohttpd may free() it) */
    size_t len, cap;
};
void metrics__buf_printf(struct metrics_buf *mb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct metrics_api {
    uint64_t requests;
    uint64_t lat[METRICS_LAT_BUCKETS + 1];
    uint64_t lat_sum_ns;
    uint64_t errors[METRICS_MAX_CODE];
};

struct topic_stats;
struct MHD_Daemon;

struct broker_metrics {
    /* live counters: written by the reactor only (fsync_*: by storage, with atomic adds) */
    struct metrics_api api[METRICS_MAX_API];
    uint64_t conn_accepted, conn_closed, conn_rejected;
    uint64_t net_rx, net_tx;
    uint64_t storage_written;
    uint64_t disk_reads, disk_read_bytes;
    uint64_t fsync_lat[METRICS_LAT_BUCKETS + 1];
    uint64_t fsync_sum_ns;
    /* reactor only */
    struct topic_stats *tbuckets[METRICS_TOPIC_BUCKETS];
    size_t n_tstats;
    /* the snapshot, swapped under snap_lock */
    pthread_mutex_t snap_lock;
    struct metrics_buf snap;
    int64_t snap_mono_ms;
    int64_t start_mono_ms;
    /* b->ready && !b->stopping, copied by the reactor's tick (the HTTP thread never reads
     * struct broker's fields that change): /health/ready and ringlet_ready */
    int ready;
    /* admin_http.c */
    struct MHD_Daemon *mhd;
    int port;
};

struct metrics_process {
    uint64_t rss_bytes;
    double cpu_seconds;
    int open_fds;
};

struct broker_metrics *metrics__create(void);
void metrics__destroy(struct broker_metrics *m);
/* Appends the whole exposition (snapshot + live counters) to mb. HTTP thread. */
void metrics__render(struct broker *b, struct metrics_buf *mb);
/* admin_http.c: statvfs of dir; /proc/self figures. */
int metrics__disk_space(const char *dir, uint64_t *free_bytes, uint64_t *total_bytes);
void metrics__process(struct metrics_process *out);

#endif /* RINGLET_BROKER_METRICS_INT_H */
