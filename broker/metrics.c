/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - ringletd's Prometheus metrics: the metric table (which also generates
 * docs/metrics.md), the reactor-side counters and hooks, the once-a-second snapshot of topics,
 * partitions and consumer groups (including consumer lag in records and seconds), and the text
 * exposition served by admin_http.c.
 *
 * Threading (see metrics.h): counters have a single writer, the reactor thread, which updates
 * them with relaxed atomic load+store (no locked instruction on the hot path); the HTTP thread
 * reads them with relaxed loads. The snapshot text is swapped under snap_lock.
 */
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "group.h"
#include "metrics_int.h"
#include "topics.h"

/* ---- the metric table ------------------------------------------------------------------------
 * M(id, type, "name", "labels", "help"). Every family the exposition writes is here, once. */
#define METRIC_TABLE(M)                                                                            \
    M(TOPIC_RECORDS_IN, "counter", "ringlet_topic_records_in_total", "topic",                      \
      "Records accepted for append to the topic by Produce.")                                      \
    M(TOPIC_BYTES_IN, "counter", "ringlet_topic_bytes_in_total", "topic",                          \
      "Record batch bytes accepted for append to the topic by Produce.")                           \
    M(TOPIC_RECORDS_OUT, "counter", "ringlet_topic_records_out_total", "topic",                    \
      "Records sent to consumers by Fetch (records of a batch below the fetch offset are not "     \
      "counted).")                                                                                 \
    M(TOPIC_BYTES_OUT, "counter", "ringlet_topic_bytes_out_total", "topic",                        \
      "Record batch bytes sent to consumers by Fetch.")                                            \
    M(TOPIC_PRODUCE_REQ, "counter", "ringlet_topic_produce_requests_total", "topic",               \
      "Produce requests that addressed the topic.")                                                \
    M(TOPIC_PRODUCE_ERR, "counter", "ringlet_topic_produce_errors_total", "topic",                 \
      "Partitions of Produce requests for the topic answered with an error code.")                 \
    M(TOPIC_FETCH_REQ, "counter", "ringlet_topic_fetch_requests_total", "topic",                   \
      "Fetch requests that addressed the topic.")                                                  \
    M(TOPIC_FETCH_ERR, "counter", "ringlet_topic_fetch_errors_total", "topic",                     \
      "Partitions of Fetch requests for the topic answered with an error code.")                   \
    M(PART_START, "gauge", "ringlet_partition_log_start_offset", "topic, partition",               \
      "First offset still in the log (sum over partitions in per-topic mode).")                    \
    M(PART_END, "gauge", "ringlet_partition_log_end_offset", "topic, partition",                   \
      "Offset the next record will get (sum over partitions in per-topic mode).")                  \
    M(PART_HWM, "gauge", "ringlet_partition_high_watermark", "topic, partition",                   \
      "High watermark: records below it are visible to consumers (sum in per-topic mode).")        \
    M(PART_SIZE, "gauge", "ringlet_partition_size_bytes", "topic, partition",                      \
      "Bytes of the partition's segments on disk (sum in per-topic mode).")                        \
    M(PART_SEGMENTS, "gauge", "ringlet_partition_segments", "topic, partition",                    \
      "Segments of the partition's log (sum in per-topic mode).")                                  \
    M(TOPIC_PARTITIONS, "gauge", "ringlet_topic_partitions", "topic", "Partitions of the topic.")  \
    M(GROUP_STATE, "gauge", "ringlet_group_state", "group, state",                                 \
      "1 for the group's current state (Empty, PreparingRebalance, CompletingRebalance, "          \
      "Stable, Dead).")                                                                            \
    M(GROUP_MEMBERS, "gauge", "ringlet_group_members", "group", "Members of the group.")           \
    M(GROUP_OFFSET, "gauge", "ringlet_group_committed_offset", "group, topic, partition",          \
      "The group's committed offset (sum over partitions in per-topic mode).")                     \
    M(GROUP_LAG, "gauge", "ringlet_group_lag_records", "group, topic, partition",                  \
      "High watermark minus committed offset (sum over partitions in per-topic mode).")            \
    M(GROUP_LAG_SEC, "gauge", "ringlet_group_lag_seconds", "group, topic, partition",              \
      "Age of the oldest unconsumed record: now minus the timestamp of the record at the "         \
      "committed offset; 0 when nothing is unconsumed (max over partitions in per-topic mode).")   \
    M(GROUP_LAG_MAX, "gauge", "ringlet_group_max_lag_records", "group",                            \
      "Largest lag in records over the group's partitions.")                                       \
    M(GROUP_LAG_SUM, "gauge", "ringlet_group_total_lag_records", "group",                          \
      "Sum of the lag in records over the group's partitions.")                                    \
    M(GROUP_LAG_SEC_MAX, "gauge", "ringlet_group_max_lag_seconds", "group",                        \
      "Largest lag in seconds over the group's partitions.")                                       \
    M(PARTITIONS_OFFLINE, "gauge", "ringlet_storage_partitions_offline", "",                       \
      "Partitions that are read-only after a storage error.")                                      \
    M(SNAPSHOT_AGE, "gauge", "ringlet_metrics_snapshot_age_seconds", "",                           \
      "Age of the snapshot the topic, partition and group series come from.")                      \
    M(API_REQUESTS, "counter", "ringlet_api_requests_total", "api",                                \
      "Requests completed, by Kafka API.")                                                         \
    M(API_ERRORS, "counter", "ringlet_api_errors_total", "api, code",                              \
      "Error codes returned, by Kafka API and error name: the top-level error code of the "        \
      "response (Produce and Fetch: each partition's); a request that closed the connection "      \
      "counts as code=\"CONNECTION_CLOSED\".")                                                     \
    M(API_LATENCY, "histogram", "ringlet_api_request_duration_seconds", "api",                     \
      "Time from a request's arrival to its response being queued, by Kafka API.")                 \
    M(FSYNC_LATENCY, "histogram", "ringlet_storage_fsync_duration_seconds", "",                    \
      "Duration of the storage engine's fdatasync calls (and of a partition directory's fsync in " \
      "the first flush after a segment roll).")                                                    \
    M(STORAGE_WRITTEN, "counter", "ringlet_storage_written_bytes_total", "",                       \
      "Record batch bytes appended to partition logs.")                                            \
    M(DISK_READS, "counter", "ringlet_storage_disk_reads_total", "",                               \
      "Fetch reads that had to come from the disk (in neither the direct I/O cache nor the page "  \
      "cache), done asynchronously.")                                                              \
    M(DISK_READ_BYTES, "counter", "ringlet_storage_disk_read_bytes_total", "",                     \
      "Bytes of the partition slices those reads delivered (with any part of them that the "       \
      "read cache held).")                                                                         \
    M(READ_CACHE, "gauge", "ringlet_storage_read_cache_bytes", "",                                 \
      "Newest log data held in memory for readers: staging buffers of completed direct writes "    \
      "(log.direct.cache.bytes bounds it).")                                                       \
    M(STAGING_IDLE, "gauge", "ringlet_storage_staging_idle_bytes", "",                             \
      "Idle direct I/O staging buffers kept for reuse (at most 64 MiB).")                          \
    M(STAGING_ALLOCS, "counter", "ringlet_storage_staging_allocations_total", "",                  \
      "Direct I/O staging buffers of 64 KiB or more allocated fresh rather than taken from the "   \
      "idle ones (each costs page faults); under steady load it should stay nearly flat.")         \
    M(SEG_ROLLS, "counter", "ringlet_storage_segment_rolls_total", "",                             \
      "Segment rolls (segment.bytes or segment.ms reached).")                                      \
    M(SEG_ROLLS_MADE, "counter", "ringlet_storage_segment_rolls_blocking_total", "",               \
      "Segment rolls that created their files on the reactor (inode allocation, up to a few ms) "  \
      "because the spare files made ahead by io_uring were not ready.")                            \
    M(DISK_FREE, "gauge", "ringlet_storage_disk_free_bytes", "",                                   \
      "Free bytes (for unprivileged users) on the data directory's filesystem.")                   \
    M(DISK_TOTAL, "gauge", "ringlet_storage_disk_total_bytes", "",                                 \
      "Size of the data directory's filesystem.")                                                  \
    M(DISK_ALERT, "gauge", "ringlet_storage_disk_alert_level", "",                                 \
      "0 ok, 1 low (below disk.alert.low.percent free), 2 critical (below "                        \
      "disk.alert.critical.percent free).")                                                        \
    M(CONN_OPEN, "gauge", "ringlet_connections_open", "", "Client connections open now.")          \
    M(CONN_ACCEPTED, "counter", "ringlet_connections_accepted_total", "",                          \
      "Client connections accepted.")                                                              \
    M(CONN_CLOSED, "counter", "ringlet_connections_closed_total", "",                              \
      "Client connections closed (by either side).")                                               \
    M(CONN_REJECTED, "counter", "ringlet_connections_rejected_total", "",                          \
      "Connections refused at once (max.connections reached or shutting down).")                   \
    M(NET_RX, "counter", "ringlet_network_received_bytes_total", "",                               \
      "Bytes received from clients.")                                                              \
    M(NET_TX, "counter", "ringlet_network_sent_bytes_total", "", "Bytes sent to clients.")         \
    M(PROC_RSS, "gauge", "ringlet_process_resident_memory_bytes", "",                              \
      "Resident memory of the ringletd process.")                                                  \
    M(PROC_CPU, "counter", "ringlet_process_cpu_seconds_total", "",                                \
      "User and system CPU time used by the process.")                                             \
    M(PROC_FDS, "gauge", "ringlet_process_open_fds", "", "Open file descriptors.")                 \
    M(PROC_UPTIME, "gauge", "ringlet_uptime_seconds", "", "Seconds since ringletd started.")       \
    M(PROC_READY, "gauge", "ringlet_ready", "",                                                    \
      "1 once recovery finished and the listeners are open (as /health/ready).")                   \
    M(BUILD_INFO, "gauge", "ringlet_build_info", "version, commit",                                \
      "Always 1; the labels say which build is running.")

enum metric_id {
#define M_ENUM(id, type, name, labels, help) MID_##id,
    METRIC_TABLE(M_ENUM)
#undef M_ENUM
        MID_COUNT
};

struct metric_def {
    const char *type, *name, *labels, *help;
};
static const struct metric_def metric_defs[MID_COUNT] = {
#define M_DEF(id, type, name, labels, help) {type, name, labels, help},
    METRIC_TABLE(M_DEF)
#undef M_DEF
};

/* Latency buckets (upper bounds, seconds): 100 us .. 10 s. */
static const double lat_bounds[METRICS_LAT_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

void broker_metrics_print_help(FILE *f, bool markdown) {
    if (markdown) {
        fprintf(f, "# ringletd metrics\n\n"
                   "<!-- Generated by `ringletd --help-metrics=markdown` (CMake target "
                   "`metrics_docs`) from the metric table in broker/metrics.c. Do not edit. "
                   "-->\n\n"
                   "`GET /metrics` on the admin listener (`admin.listener`, default "
                   "127.0.0.1:9644) serves these in the Prometheus text format. Topic, "
                   "partition and group series come from a snapshot the broker takes once a "
                   "second; the others are live. With `metrics.partition.detail=false`, or "
                   "more than `metrics.partition.detail.max` partitions, the series labelled "
                   "`partition` lose that label and are aggregated per topic as stated.\n\n"
                   "| Name | Type | Labels | Meaning |\n|---|---|---|---|\n");
        for (int i = 0; i < MID_COUNT; i++)
            fprintf(f, "| `%s` | %s | %s | %s |\n", metric_defs[i].name, metric_defs[i].type,
                    metric_defs[i].labels[0] ? metric_defs[i].labels : "-", metric_defs[i].help);
        fprintf(f, "\nHistograms have the usual `_bucket{le=...}`, `_sum` and `_count` series; "
                   "latency buckets run from 100 us to 10 s.\n\n"
                   "## Endpoints\n\n"
                   "| Request | Answer |\n|---|---|\n"
                   "| `GET /metrics` | the series above (Prometheus text format 0.0.4) |\n"
                   "| `GET /health/live` | 200 while the process runs (also during recovery) |\n"
                   "| `GET /health/ready` | 200 once recovery finished and the listeners are "
                   "open; 503 before that and while shutting down |\n"
                   "| `GET /log/level` | the current log level |\n"
                   "| `PUT /log/level` | body `debug`, `info`, `warn` or `error`: sets the log "
                   "level at once (400 otherwise) |\n\n"
                   "## Pointing Prometheus at ringletd\n\n"
                   "```yaml\n"
                   "scrape_configs:\n"
                   "  - job_name: ringlet\n"
                   "    scrape_interval: 15s\n"
                   "    static_configs:\n"
                   "      - targets: ['127.0.0.1:9644']   # admin.listener\n"
                   "```\n\n"
                   "Useful queries: produce rate per topic "
                   "`rate(ringlet_topic_records_in_total[1m])`; p99 Produce latency "
                   "`histogram_quantile(0.99, "
                   "rate(ringlet_api_request_duration_seconds_bucket{api=\"Produce\"}[5m]))`; "
                   "groups falling behind `ringlet_group_max_lag_seconds > 60`.\n");
        return;
    }
    for (int i = 0; i < MID_COUNT; i++)
        fprintf(f, "%s (%s%s%s)\n    %s\n", metric_defs[i].name, metric_defs[i].type,
                metric_defs[i].labels[0] ? "; labels: " : "", metric_defs[i].labels,
                metric_defs[i].help);
}

/* ---- text buffer ----------------------------------------------------------------------------- */
void metrics__buf_printf(struct metrics_buf *mb, const char *fmt, ...) {
    for (;;) {
        size_t room = mb->cap - mb->len;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(mb->p ? mb->p + mb->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < room) {
            mb->len += (size_t)n;
            return;
        }
        size_t cap = mb->cap ? mb->cap : 4096;
        while (cap - mb->len <= (size_t)n)
            cap *= 2;
        mb->p = rl_realloc(mb->p, cap);
        mb->cap = cap;
    }
}

static void buf_header(struct metrics_buf *mb, enum metric_id id) {
    metrics__buf_printf(mb, "# HELP %s %s\n# TYPE %s %s\n", metric_defs[id].name,
                        metric_defs[id].help, metric_defs[id].name, metric_defs[id].type);
}

/* One unlabelled sample of metric id, with its HELP and TYPE lines. */
static void render_int(struct metrics_buf *mb, enum metric_id id, int64_t v) {
    buf_header(mb, id);
    metrics__buf_printf(mb, "%s %lld\n", metric_defs[id].name, (long long)v);
}

static void render_real(struct metrics_buf *mb, enum metric_id id, double v, int decimals) {
    buf_header(mb, id);
    metrics__buf_printf(mb, "%s %.*f\n", metric_defs[id].name, decimals, v);
}

/* A label value with \, " and newline escaped (into a static-size scratch, truncated). */
static const char *esc(char *out, size_t cap, const char *s, size_t len) {
    size_t j = 0;
    for (size_t i = 0; i < len && j + 3 < cap; i++) {
        char ch = s[i];
        if (ch == '\\' || ch == '"') {
            out[j++] = '\\';
            out[j++] = ch;
        } else if (ch == '\n') {
            out[j++] = '\\';
            out[j++] = 'n';
        } else {
            out[j++] = ch;
        }
    }
    out[j] = '\0';
    return out;
}

/* ---- counters: single writer ----------------------------------------------------------------- */
#define CADD(field, n)                                                                             \
    __atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + (uint64_t)(n),        \
                     __ATOMIC_RELAXED)
#define CGET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

static int lat_bucket(int64_t ns) {
    double s = (double)ns / 1e9;
    for (int i = 0; i < METRICS_LAT_BUCKETS; i++)
        if (s <= lat_bounds[i]) return i;
    return METRICS_LAT_BUCKETS;
}

static void api_error(struct broker_metrics *m, int16_t key, int16_t code) {
    if (key < 0 || key >= METRICS_MAX_API) return;
    int idx = code + 1; /* -1 (UNKNOWN_SERVER_ERROR) .. METRICS_MAX_CODE-2 */
    if (idx < 0 || idx >= METRICS_MAX_CODE) idx = METRICS_MAX_CODE - 1;
    CADD(m->api[key].errors[idx], 1);
}

/* Where a response carries its top-level ErrorCode (facts from Kafka's message definitions):
 * after ThrottleTimeMs when the version has one (throttle_from >= 0), in versions
 * err_from..err_to. Produce and Fetch are counted per partition instead. */
static const struct {
    int16_t key, throttle_from, err_from, err_to;
} top_errors[] = {
    {9, 3, 2, 7},    /* OffsetFetch */
    {10, 1, 0, 3},   /* FindCoordinator (v4+: per key) */
    {11, 2, 0, 99},  /* JoinGroup */
    {12, 1, 0, 99},  /* Heartbeat */
    {13, 1, 0, 99},  /* LeaveGroup */
    {14, 1, 0, 99},  /* SyncGroup */
    {16, 1, 0, 99},  /* ListGroups */
    {18, -1, 0, 99}, /* ApiVersions: ErrorCode comes first */
    {22, 0, 0, 99},  /* InitProducerId */
    {35, 0, 3, 99},  /* DescribeLogDirs */
    {47, -1, 0, 99}, /* OffsetDelete: ErrorCode comes first */
    {60, 0, 0, 99},  /* DescribeCluster */
};

/* The top-level error code of the response frame in req->out, or 0 if it has none. */
static int16_t response_top_error(const struct broker_request *req) {
    int16_t key = req->hdr.ApiKey, ver = req->hdr.ApiVersion;
    for (size_t i = 0; i < RL_ARRAY_SIZE(top_errors); i++) {
        if (top_errors[i].key != key) continue;
        if (ver < top_errors[i].err_from || ver > top_errors[i].err_to) return 0;
        const uint8_t *p = req->out.buf;
        size_t n = req->out.len, pos = 4 + 4; /* frame length, correlation id */
        if (proto_response_header_version(key, ver) >= 1) {
            if (pos >= n || p[pos] != 0) return 0; /* tagged fields in the header: not ours */
            pos++;
        }
        if (top_errors[i].throttle_from >= 0 && ver >= top_errors[i].throttle_from) pos += 4;
        if (pos + 2 > n) return 0;
        return (int16_t)((uint16_t)p[pos] << 8 | p[pos + 1]);
    }
    return 0;
}

void broker_metrics_request_done(struct broker_request *req) {
    struct broker_metrics *m = req->b->metrics;
    if (!m) return;
    int16_t key = req->hdr.ApiKey;
    int64_t ns = rl_mono_ns() - req->received_ns;
    if (ns < 0) ns = 0;
    if (key >= 0 && key < METRICS_MAX_API) {
        struct metrics_api *a = &m->api[key];
        CADD(a->requests, 1);
        CADD(a->lat[lat_bucket(ns)], 1);
        CADD(a->lat_sum_ns, ns);
        if (req->out.len > 8) {
            int16_t e = response_top_error(req);
            if (e != PROTO_ERR_NONE) api_error(m, key, e);
        }
    }
    int64_t slow = req->b->cfg.log_slow_request_ms;
    if (slow > 0 && ns / 1000000 >= slow) {
        const struct proto_api_info *info = proto_api_lookup(key);
        rl_warn("slowlog", "%s: %s v%d correlation id %d client %.*s took %.3f ms",
                broker_request_peer(req), info ? info->name : "unknown API", req->hdr.ApiVersion,
                req->hdr.CorrelationId, req->hdr.ClientId.len > 0 ? (int)req->hdr.ClientId.len : 0,
                req->hdr.ClientId.ptr ? req->hdr.ClientId.ptr : "", (double)ns / 1e6);
    }
}

void broker_metrics_request_closed(struct broker_request *req) {
    struct broker_metrics *m = req->b->metrics;
    if (!m) return;
    api_error(m, req->hdr.ApiKey, METRICS_CODE_CLOSED);
}

void broker_metrics_conn_accepted(struct broker *b) {
    if (b->metrics) CADD(b->metrics->conn_accepted, 1);
}
void broker_metrics_conn_closed(struct broker *b) {
    if (b->metrics) CADD(b->metrics->conn_closed, 1);
}
void broker_metrics_conn_rejected(struct broker *b) {
    if (b->metrics) CADD(b->metrics->conn_rejected, 1);
}
void broker_metrics_bytes_received(struct broker *b, size_t n) {
    if (b->metrics) CADD(b->metrics->net_rx, n);
}
void broker_metrics_bytes_sent(struct broker *b, size_t n) {
    if (b->metrics) CADD(b->metrics->net_tx, n);
}

void broker_metrics_fsync_observe(void *arg, int64_t latency_ns) {
    struct broker_metrics *m = arg;
    if (!m) return;
    /* storage may call this from its own threads: locked adds here (fsyncs are rare) */
    __atomic_fetch_add(&m->fsync_lat[lat_bucket(latency_ns)], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&m->fsync_sum_ns, (uint64_t)(latency_ns > 0 ? latency_ns : 0),
                       __ATOMIC_RELAXED);
}

/* ---- per-topic counters (reactor only; rendered into the snapshot) --------------------------- */
struct topic_stats {
    struct topic_stats *next;
    char *name;
    uint64_t records_in, bytes_in, records_out, bytes_out;
    uint64_t produce_req, produce_err, fetch_req, fetch_err;
};

static struct topic_stats *topic_stats_get(struct broker_metrics *m, const char *name, size_t len) {
    uint64_t h = rl_hash64(name, len, 0x6d657472);
    struct topic_stats **slot = &m->tbuckets[h & (METRICS_TOPIC_BUCKETS - 1)];
    for (struct topic_stats *s = *slot; s; s = s->next)
        if (strlen(s->name) == len && memcmp(s->name, name, len) == 0) return s;
    struct topic_stats *s = rl_calloc(1, sizeof(*s));
    s->name = rl_strndup(name, len);
    s->next = *slot;
    *slot = s;
    m->n_tstats++;
    return s;
}

void broker_metrics_produced(struct broker *b, const char *topic, const uint8_t *buf, size_t len) {
    struct broker_metrics *m = b->metrics;
    if (!m) return;
    uint64_t records = 0;
    for (size_t pos = 0; pos + PROTO_BATCH_OVERHEAD <= len;) {
        struct proto_batch_header h;
        if (proto_batch_header_parse(buf + pos, len - pos, &h) < 0) break;
        records += h.RecordCount > 0 ? (uint64_t)h.RecordCount : 0;
        pos += (size_t)h.BatchLength + PROTO_BATCH_OVERHEAD;
    }
    struct topic_stats *s = topic_stats_get(m, topic, strlen(topic));
    s->records_in += records;
    s->bytes_in += len;
    CADD(m->storage_written, len);
}

void broker_metrics_disk_read(struct broker *b, size_t bytes) {
    struct broker_metrics *m = b->metrics;
    if (!m) return;
    CADD(m->disk_reads, 1);
    CADD(m->disk_read_bytes, bytes);
}

void broker_metrics_produce_done(struct broker *b, const struct ProduceResponse *rs) {
    struct broker_metrics *m = b->metrics;
    if (!m) return;
    for (int32_t i = 0; i < rs->n_Responses; i++) {
        const struct ProduceResponse_TopicProduceResponse *tr = &rs->Responses[i];
        if (tr->Name.len <= 0) continue;
        struct topic_stats *s = topic_stats_get(m, tr->Name.ptr, (size_t)tr->Name.len);
        s->produce_req++;
        for (int32_t j = 0; j < tr->n_PartitionResponses; j++) {
            int16_t e = tr->PartitionResponses[j].ErrorCode;
            if (e == PROTO_ERR_NONE) continue;
            s->produce_err++;
            api_error(m, 0, e);
        }
    }
}

/* Records of the batches in a fetched slice at or above from_offset. */
static uint64_t count_records(const uint8_t *p, size_t len, int64_t from_offset) {
    uint64_t n = 0;
    for (size_t pos = 0; pos + PROTO_BATCH_OVERHEAD <= len;) {
        struct proto_batch_header h;
        if (proto_batch_header_parse(p + pos, len - pos, &h) < 0) break;
        size_t size = (size_t)h.BatchLength + PROTO_BATCH_OVERHEAD;
        if (size > len - pos) break; /* a partial batch at the end is not delivered */
        if (!(h.Attributes & PROTO_ATTR_CONTROL) && h.RecordCount > 0) {
            int64_t last = h.BaseOffset + h.LastOffsetDelta;
            int64_t first = RL_MAX(h.BaseOffset, from_offset);
            if (last >= first) n += (uint64_t)(last - first + 1);
        }
        pos += size;
    }
    return n;
}

void broker_metrics_fetch_done(struct broker *b, const struct FetchRequest *rq,
                               const struct FetchResponse *rs) {
    struct broker_metrics *m = b->metrics;
    if (!m) return;
    if (rs->ErrorCode != PROTO_ERR_NONE) api_error(m, 1, rs->ErrorCode);
    for (int32_t i = 0; i < rs->n_Responses && i < rq->n_Topics; i++) {
        const struct FetchResponse_FetchableTopicResponse *tr = &rs->Responses[i];
        const struct FetchRequest_FetchTopic *ft = &rq->Topics[i];
        const char *name = tr->Topic.ptr;
        size_t nlen = tr->Topic.len > 0 ? (size_t)tr->Topic.len : 0;
        if (!nlen) {
            struct broker_topic *t = broker_topic_find_id(b, tr->TopicId);
            if (t) {
                name = t->name;
                nlen = t->name_len;
            }
        }
        struct topic_stats *s = nlen ? topic_stats_get(m, name, nlen) : NULL;
        if (s) s->fetch_req++;
        for (int32_t j = 0; j < tr->n_Partitions && j < ft->n_Partitions; j++) {
            const struct FetchResponse_PartitionData *pd = &tr->Partitions[j];
            if (pd->ErrorCode != PROTO_ERR_NONE) {
                if (s) s->fetch_err++;
                api_error(m, 1, pd->ErrorCode);
                continue;
            }
            if (!s || pd->Records.len <= 0) continue;
            s->bytes_out += (uint64_t)pd->Records.len;
            s->records_out += count_records(pd->Records.ptr, (size_t)pd->Records.len,
                                            ft->Partitions[j].FetchOffset);
        }
    }
}

/* ---- the snapshot (reactor thread) ----------------------------------------------------------- */

/* Timestamp (ms) of the record at offset in log, or -1 if it cannot be read. */
static int64_t record_timestamp(struct storage_log *log, int64_t offset) {
    struct storage_slice sl;
    if (storage_log_read(log, offset, 1, &sl) < 0 || sl.len <= 0) return -1;
    /* Consumers usually commit a batch boundary: then the batch header alone answers. */
    uint8_t hb[PROTO_BATCH_OVERHEAD + 49];
    struct proto_batch_header h0;
    if ((size_t)sl.len >= sizeof(hb) &&
        pread(sl.fd, hb, sizeof(hb), (off_t)sl.file_pos) == (ssize_t)sizeof(hb) &&
        proto_batch_header_parse(hb, sizeof(hb), &h0) == 0 &&
        !(h0.Attributes & PROTO_ATTR_CONTROL)) {
        if (h0.Attributes & PROTO_ATTR_TIMESTAMP_TYPE) return h0.MaxTimestamp;
        if (h0.BaseOffset == offset) return h0.BaseTimestamp;
    }
    size_t cap = RL_MIN((size_t)sl.len, (size_t)(16u << 20));
    uint8_t *buf = rl_malloc(cap);
    size_t got = 0;
    int64_t ts = -1;
    if (storage_log_read_copy(log, offset, buf, cap, &got) < 0) goto out;
    for (size_t pos = 0; pos + PROTO_BATCH_OVERHEAD <= got;) {
        struct proto_batch_header h;
        if (proto_batch_header_parse(buf + pos, got - pos, &h) < 0) break;
        size_t size = (size_t)h.BatchLength + PROTO_BATCH_OVERHEAD;
        if (size > got - pos) break;
        if (h.BaseOffset + h.LastOffsetDelta < offset || (h.Attributes & PROTO_ATTR_CONTROL)) {
            pos += size;
            continue;
        }
        if (h.Attributes & PROTO_ATTR_TIMESTAMP_TYPE) {
            ts = h.MaxTimestamp; /* LogAppendTime: every record has the append time */
            break;
        }
        ts = h.BaseTimestamp;
        struct proto_arena a;
        proto_arena_init(&a);
        struct proto_record_iter it;
        if (proto_record_iter_init(&it, buf + pos, size, &a, 64u << 20) == 0) {
            struct proto_record rec;
            while (proto_record_iter_next(&it, &rec) == 1) {
                if (h.BaseOffset + rec.OffsetDelta >= offset) {
                    ts = h.BaseTimestamp + rec.TimestampDelta;
                    break;
                }
            }
        }
        proto_arena_destroy(&a);
        break;
    }
out:
    rl_free(buf);
    return ts;
}

struct snap_ctx {
    struct broker *b;
    struct broker_metrics *m;
    struct metrics_buf *out[6]; /* state, members, offset, lag, lag_sec, per-group aggregates */
    struct metrics_buf agg;
    bool detail;
    int64_t now_ms;
};

/* Per-(topic) aggregation scratch for a group in per-topic mode. */
struct lag_agg {
    const char *topic;
    int64_t offset, lag;
    double lag_sec;
};

static void snap_group(void *arg, struct group *g) {
    struct snap_ctx *sc = arg;
    char gid[512], tn[512];
    esc(gid, sizeof(gid), g->group_id, strlen(g->group_id));
    metrics__buf_printf(sc->out[0], "ringlet_group_state{group=\"%s\",state=\"%s\"} 1\n", gid,
                        group_state_name(g->state));
    metrics__buf_printf(sc->out[1], "ringlet_group_members{group=\"%s\"} %d\n", gid, g->n_members);
    int64_t lag_max = 0, lag_sum = 0;
    double sec_max = 0;
    struct lag_agg *aggs = NULL;
    size_t n_aggs = 0, cap_aggs = 0;
    for (uint32_t bi = 0; bi < g->n_obuckets; bi++) {
        for (struct group_offset *o = g->obuckets[bi]; o; o = o->next) {
            struct broker_topic *t = broker_topic_find(sc->b, o->topic, strlen(o->topic));
            struct broker_partition *p = t ? broker_partition_get(t, o->partition) : NULL;
            if (!p || !p->log) continue;
            int64_t hwm = storage_log_high_watermark(p->log);
            int64_t from = RL_MAX(o->offset, storage_log_start_offset(p->log));
            int64_t lag = hwm > o->offset ? hwm - RL_MAX(o->offset, 0) : 0;
            double sec = 0;
            if (lag > 0 && from < hwm) {
                int64_t ts = record_timestamp(p->log, from);
                if (ts >= 0 && sc->now_ms > ts) sec = (double)(sc->now_ms - ts) / 1000.0;
            }
            lag_max = RL_MAX(lag_max, lag);
            lag_sum += lag;
            if (sec > sec_max) sec_max = sec;
            if (sc->detail) {
                esc(tn, sizeof(tn), o->topic, strlen(o->topic));
                metrics__buf_printf(
                    sc->out[2],
                    "ringlet_group_committed_offset{group=\"%s\",topic=\"%s\",partition=\"%d\"} "
                    "%lld\n",
                    gid, tn, o->partition, (long long)o->offset);
                metrics__buf_printf(
                    sc->out[3],
                    "ringlet_group_lag_records{group=\"%s\",topic=\"%s\",partition=\"%d\"} %lld\n",
                    gid, tn, o->partition, (long long)lag);
                metrics__buf_printf(
                    sc->out[4],
                    "ringlet_group_lag_seconds{group=\"%s\",topic=\"%s\",partition=\"%d\"} %.3f\n",
                    gid, tn, o->partition, sec);
                continue;
            }
            size_t k = 0;
            while (k < n_aggs && strcmp(aggs[k].topic, o->topic) != 0)
                k++;
            if (k == n_aggs) {
                if (n_aggs == cap_aggs) {
                    cap_aggs = cap_aggs ? cap_aggs * 2 : 8;
                    aggs = rl_realloc(aggs, cap_aggs * sizeof(*aggs));
                }
                aggs[n_aggs++] = (struct lag_agg){o->topic, 0, 0, 0};
            }
            aggs[k].offset += o->offset;
            aggs[k].lag += lag;
            if (sec > aggs[k].lag_sec) aggs[k].lag_sec = sec;
        }
    }
    for (size_t k = 0; k < n_aggs; k++) {
        esc(tn, sizeof(tn), aggs[k].topic, strlen(aggs[k].topic));
        metrics__buf_printf(sc->out[2],
                            "ringlet_group_committed_offset{group=\"%s\",topic=\"%s\"} %lld\n", gid,
                            tn, (long long)aggs[k].offset);
        metrics__buf_printf(sc->out[3],
                            "ringlet_group_lag_records{group=\"%s\",topic=\"%s\"} %lld\n", gid, tn,
                            (long long)aggs[k].lag);
        metrics__buf_printf(sc->out[4],
                            "ringlet_group_lag_seconds{group=\"%s\",topic=\"%s\"} %.3f\n", gid, tn,
                            aggs[k].lag_sec);
    }
    rl_free(aggs);
    metrics__buf_printf(sc->out[5], "G%s\t%lld\t%lld\t%.3f\n", gid, (long long)lag_max,
                        (long long)lag_sum, sec_max);
}

static void buf_free(struct metrics_buf *mb) {
    rl_free(mb->p);
    mb->p = NULL;
    mb->len = mb->cap = 0;
}

static void buf_append(struct metrics_buf *dst, const struct metrics_buf *src) {
    if (src->len) metrics__buf_printf(dst, "%.*s", (int)src->len, src->p);
}

/* Section with header, only if it has lines. */
static void buf_section(struct metrics_buf *dst, enum metric_id id, const struct metrics_buf *src) {
    if (!src->len) return;
    buf_header(dst, id);
    buf_append(dst, src);
}

void broker_metrics_tick(struct broker *b, int64_t now_ms) {
    struct broker_metrics *m = b->metrics;
    if (!m) return;
    __atomic_store_n(&m->ready, b->ready && !b->stopping, __ATOMIC_RELAXED);
    if (!b->topics) return;
    struct metrics_buf out = {0};
    size_t n_topics = broker_topics_count(b);
    int64_t n_parts_total = 0;
    for (size_t i = 0; i < n_topics; i++)
        n_parts_total += broker_topics_at(b, i)->n_partitions;
    bool detail =
        b->cfg.metrics_partition_detail && n_parts_total <= b->cfg.metrics_partition_detail_max;

    /* per-topic counters; entries of topics that no longer exist are dropped */
    struct metrics_buf tc[8] = {{0}};
    static const enum metric_id tids[8] = {
        MID_TOPIC_RECORDS_IN,  MID_TOPIC_BYTES_IN,    MID_TOPIC_RECORDS_OUT, MID_TOPIC_BYTES_OUT,
        MID_TOPIC_PRODUCE_REQ, MID_TOPIC_PRODUCE_ERR, MID_TOPIC_FETCH_REQ,   MID_TOPIC_FETCH_ERR};
    char tn[512];
    for (size_t bi = 0; bi < METRICS_TOPIC_BUCKETS; bi++) {
        for (struct topic_stats **pp = &m->tbuckets[bi], *s; (s = *pp);) {
            struct broker_topic *t = broker_topic_find(b, s->name, strlen(s->name));
            if (!t || t->internal) {
                *pp = s->next;
                rl_free(s->name);
                rl_free(s);
                m->n_tstats--;
                continue;
            }
            esc(tn, sizeof(tn), s->name, strlen(s->name));
            uint64_t v[8] = {s->records_in,  s->bytes_in,    s->records_out, s->bytes_out,
                             s->produce_req, s->produce_err, s->fetch_req,   s->fetch_err};
            for (int k = 0; k < 8; k++)
                metrics__buf_printf(&tc[k], "%s{topic=\"%s\"} %llu\n", metric_defs[tids[k]].name,
                                    tn, (unsigned long long)v[k]);
            pp = &s->next;
        }
    }
    for (int k = 0; k < 8; k++) {
        buf_section(&out, tids[k], &tc[k]);
        buf_free(&tc[k]);
    }

    /* partitions */
    struct metrics_buf pc[6] = {{0}};
    static const enum metric_id pids[6] = {MID_PART_START, MID_PART_END,      MID_PART_HWM,
                                           MID_PART_SIZE,  MID_PART_SEGMENTS, MID_TOPIC_PARTITIONS};
    int64_t offline = 0;
    for (size_t i = 0; i < n_topics; i++) {
        struct broker_topic *t = broker_topics_at(b, i);
        if (t->deleted) continue;
        esc(tn, sizeof(tn), t->name, t->name_len);
        int64_t sum[5] = {0};
        for (int32_t j = 0; j < t->n_partitions; j++) {
            struct broker_partition *p = t->partitions[j];
            if (!p || !p->log) continue;
            int64_t v[5] = {storage_log_start_offset(p->log), storage_log_end_offset(p->log),
                            storage_log_high_watermark(p->log), storage_log_size_bytes(p->log),
                            storage_log_segment_count(p->log)};
            if (storage_log_error(p->log) < 0) offline++;
            for (int k = 0; k < 5; k++) {
                sum[k] += v[k];
                if (detail)
                    metrics__buf_printf(&pc[k], "%s{topic=\"%s\",partition=\"%d\"} %lld\n",
                                        metric_defs[pids[k]].name, tn, j, (long long)v[k]);
            }
        }
        if (!detail)
            for (int k = 0; k < 5; k++)
                metrics__buf_printf(&pc[k], "%s{topic=\"%s\"} %lld\n", metric_defs[pids[k]].name,
                                    tn, (long long)sum[k]);
        metrics__buf_printf(&pc[5], "ringlet_topic_partitions{topic=\"%s\"} %d\n", tn,
                            t->n_partitions);
    }
    for (int k = 0; k < 6; k++) {
        buf_section(&out, pids[k], &pc[k]);
        buf_free(&pc[k]);
    }
    render_int(&out, MID_PARTITIONS_OFFLINE, (int64_t)offline);
    if (b->storage) {
        struct storage_engine_stats mem;
        storage_engine_stats(b->storage, &mem);
        render_int(&out, MID_READ_CACHE, (int64_t)mem.read_cache_bytes);
        render_int(&out, MID_STAGING_IDLE, (int64_t)mem.staging_idle_bytes);
        render_int(&out, MID_STAGING_ALLOCS, (int64_t)mem.staging_allocs);
        render_int(&out, MID_SEG_ROLLS, (int64_t)mem.segment_rolls);
        render_int(&out, MID_SEG_ROLLS_MADE, (int64_t)mem.segment_rolls_made);
    }

    /* groups */
    if (b->groups && b->groups->coord) {
        struct metrics_buf gb[6] = {{0}};
        struct snap_ctx sc = {.b = b, .m = m, .detail = detail, .now_ms = now_ms};
        for (int k = 0; k < 6; k++)
            sc.out[k] = &gb[k];
        group_foreach(b->groups->coord, snap_group, &sc);
        static const enum metric_id gids[5] = {MID_GROUP_STATE, MID_GROUP_MEMBERS, MID_GROUP_OFFSET,
                                               MID_GROUP_LAG, MID_GROUP_LAG_SEC};
        for (int k = 0; k < 5; k++)
            buf_section(&out, gids[k], &gb[k]);
        /* per-group aggregates: lines "G<group>\tmax\tsum\tsecmax" */
        if (gb[5].len) {
            static const enum metric_id aids[3] = {MID_GROUP_LAG_MAX, MID_GROUP_LAG_SUM,
                                                   MID_GROUP_LAG_SEC_MAX};
            for (int k = 0; k < 3; k++) {
                buf_header(&out, aids[k]);
                char *save = NULL;
                char *copy = rl_strndup(gb[5].p, gb[5].len);
                for (char *line = strtok_r(copy, "\n", &save); line;
                     line = strtok_r(NULL, "\n", &save)) {
                    char *f[4] = {line + 1, NULL, NULL, NULL};
                    for (int x = 1; x < 4; x++) {
                        f[x] = strchr(f[x - 1], '\t');
                        if (!f[x]) break;
                        *f[x]++ = '\0';
                    }
                    if (!f[3]) continue;
                    metrics__buf_printf(&out, "%s{group=\"%s\"} %s\n", metric_defs[aids[k]].name,
                                        f[0], f[k + 1]);
                }
                rl_free(copy);
            }
        }
        for (int k = 0; k < 6; k++)
            buf_free(&gb[k]);
    }

    pthread_mutex_lock(&m->snap_lock);
    struct metrics_buf old = m->snap;
    m->snap = out;
    m->snap_mono_ms = rl_mono_ms();
    pthread_mutex_unlock(&m->snap_lock);
    buf_free(&old);
}

/* ---- the exposition (HTTP thread) ------------------------------------------------------------ */

static void render_hist(struct metrics_buf *mb, const char *name, const char *labels,
                        const uint64_t *counts, uint64_t sum_ns) {
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (int i = 0; i < METRICS_LAT_BUCKETS; i++) {
        cum += CGET(counts[i]);
        metrics__buf_printf(mb, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, lat_bounds[i],
                            (unsigned long long)cum);
    }
    cum += CGET(counts[METRICS_LAT_BUCKETS]);
    metrics__buf_printf(mb, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep,
                        (unsigned long long)cum);
    if (labels[0]) {
        metrics__buf_printf(mb, "%s_sum{%s} %.9f\n%s_count{%s} %llu\n", name, labels,
                            (double)sum_ns / 1e9, name, labels, (unsigned long long)cum);
    } else {
        metrics__buf_printf(mb, "%s_sum %.9f\n%s_count %llu\n", name, (double)sum_ns / 1e9, name,
                            (unsigned long long)cum);
    }
}

void metrics__render(struct broker *b, struct metrics_buf *mb) {
    struct broker_metrics *m = b->metrics;
    int64_t now_mono = rl_mono_ms();
    pthread_mutex_lock(&m->snap_lock);
    buf_append(mb, &m->snap);
    int64_t snap_ms = m->snap_mono_ms;
    pthread_mutex_unlock(&m->snap_lock);
    render_real(mb, MID_SNAPSHOT_AGE, snap_ms ? (double)(now_mono - snap_ms) / 1000.0 : 0.0, 3);

    /* per API */
    buf_header(mb, MID_API_REQUESTS);
    for (int k = 0; k < METRICS_MAX_API; k++) {
        uint64_t n = CGET(m->api[k].requests);
        const struct proto_api_info *info = proto_api_lookup((int16_t)k);
        if (!info || (!n && !broker_api_handler((int16_t)k))) continue;
        metrics__buf_printf(mb, "ringlet_api_requests_total{api=\"%s\"} %llu\n", info->name,
                            (unsigned long long)n);
    }
    buf_header(mb, MID_API_ERRORS);
    for (int k = 0; k < METRICS_MAX_API; k++) {
        const struct proto_api_info *info = proto_api_lookup((int16_t)k);
        if (!info) continue;
        for (int c = 0; c < METRICS_MAX_CODE; c++) {
            uint64_t n = CGET(m->api[k].errors[c]);
            if (!n) continue;
            const char *code = c == METRICS_MAX_CODE - 1 ? "CONNECTION_CLOSED"
                                                         : proto_error_name((int16_t)(c - 1));
            metrics__buf_printf(mb, "ringlet_api_errors_total{api=\"%s\",code=\"%s\"} %llu\n",
                                info->name, code ? code : "UNKNOWN", (unsigned long long)n);
        }
    }
    buf_header(mb, MID_API_LATENCY);
    for (int k = 0; k < METRICS_MAX_API; k++) {
        const struct proto_api_info *info = proto_api_lookup((int16_t)k);
        if (!info || !CGET(m->api[k].requests)) continue;
        char labels[128];
        snprintf(labels, sizeof(labels), "api=\"%s\"", info->name);
        render_hist(mb, "ringlet_api_request_duration_seconds", labels, m->api[k].lat,
                    CGET(m->api[k].lat_sum_ns));
    }

    /* storage */
    buf_header(mb, MID_FSYNC_LATENCY);
    render_hist(mb, "ringlet_storage_fsync_duration_seconds", "", m->fsync_lat,
                CGET(m->fsync_sum_ns));
    render_int(mb, MID_STORAGE_WRITTEN, (int64_t)CGET(m->storage_written));
    render_int(mb, MID_DISK_READS, (int64_t)CGET(m->disk_reads));
    render_int(mb, MID_DISK_READ_BYTES, (int64_t)CGET(m->disk_read_bytes));
    uint64_t free_b = 0, total_b = 0;
    if (metrics__disk_space(b->cfg.log_dir, &free_b, &total_b) == 0) {
        render_int(mb, MID_DISK_FREE, (int64_t)free_b);
        render_int(mb, MID_DISK_TOTAL, (int64_t)total_b);
        double pct = total_b ? 100.0 * (double)free_b / (double)total_b : 100.0;
        int level = pct < (double)b->cfg.disk_alert_critical_percent ? 2
                    : pct < (double)b->cfg.disk_alert_low_percent    ? 1
                                                                     : 0;
        render_int(mb, MID_DISK_ALERT, (int64_t)level);
    }

    /* network */
    uint64_t acc = CGET(m->conn_accepted), clo = CGET(m->conn_closed);
    render_int(mb, MID_CONN_OPEN, (int64_t)(acc > clo ? acc - clo : 0));
    render_int(mb, MID_CONN_ACCEPTED, (int64_t)acc);
    render_int(mb, MID_CONN_CLOSED, (int64_t)clo);
    render_int(mb, MID_CONN_REJECTED, (int64_t)CGET(m->conn_rejected));
    render_int(mb, MID_NET_RX, (int64_t)CGET(m->net_rx));
    render_int(mb, MID_NET_TX, (int64_t)CGET(m->net_tx));

    /* process */
    struct metrics_process pr;
    metrics__process(&pr);
    render_int(mb, MID_PROC_RSS, (int64_t)pr.rss_bytes);
    render_real(mb, MID_PROC_CPU, pr.cpu_seconds, 2);
    render_int(mb, MID_PROC_FDS, (int64_t)pr.open_fds);
    render_real(mb, MID_PROC_UPTIME, (double)(now_mono - m->start_mono_ms) / 1000.0, 3);
    render_int(mb, MID_PROC_READY, __atomic_load_n(&m->ready, __ATOMIC_RELAXED));
    buf_header(mb, MID_BUILD_INFO);
    metrics__buf_printf(mb, "ringlet_build_info{version=\"%s\",commit=\"%s\"} 1\n", RINGLET_VERSION,
                        RINGLET_GIT_COMMIT);
}

/* ---- lifetime -------------------------------------------------------------------------------- */
struct broker_metrics *metrics__create(void) {
    struct broker_metrics *m = rl_calloc(1, sizeof(*m));
    pthread_mutex_init(&m->snap_lock, NULL);
    m->start_mono_ms = rl_mono_ms();
    return m;
}

void metrics__destroy(struct broker_metrics *m) {
    if (!m) return;
    for (size_t bi = 0; bi < METRICS_TOPIC_BUCKETS; bi++) {
        for (struct topic_stats *s = m->tbuckets[bi], *next; s; s = next) {
            next = s->next;
            rl_free(s->name);
            rl_free(s);
        }
    }
    buf_free(&m->snap);
    pthread_mutex_destroy(&m->snap_lock);
    rl_free(m);
}
