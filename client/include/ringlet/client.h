/* SPDX-License-Identifier: Apache-2.0 */
/*
 * client.h - ringlet's C client library (prefix ringlet_): the one public header.
 *
 * The library speaks only the Kafka protocol (through ringlet's protocol/ codec), so it works
 * against ringletd and any Kafka-compatible cluster. The I/O model is blocking sockets with
 * poll() deadlines: every call takes or inherits a timeout, and nothing blocks forever. A
 * malformed response from a server is an error for that request (-EBADMSG), never an abort.
 *
 * Contents:
 *   1. Configuration and broker list parsing (-b, RINGLET_BROKERS, 127.0.0.1:9092).
 *   2. Java-compatible partitioning (murmur2).
 *   3. Broker connections: ApiVersions negotiation, framed request/response with correlation.
 *   4. The client handle: bootstrap over several brokers, retries with backoff.
 *   5. Requests through the generated codec (ringlet_call, RINGLET_CODEC adapters).
 *   6. Metadata (deep copies) and broker connections by node id.
 *   7. ListOffsets.   8. Group coordinator lookup.
 *   9. Fetch and the walk over returned record batches.
 *  10. Producer (batching, murmur2/sticky partitioning, codecs, acks, idempotence).
 *  11. Consumer protocol formats and the range / roundrobin assignors.
 *  12. Consumer (manual assignment or classic group membership, commits).
 *  13. Admin: create/delete topics, add partitions, topic configs (describe, incremental
 *      alter), partition sizes on disk, list/describe/delete groups, group offsets (fetch,
 *      reset, delete), the cluster description. Log start/end offsets are section 7.
 *
 * Errors: functions return 0 or a negative errno; results go to out-params, written only on
 * success. Kafka error codes are response data (int16_t), never C return values.
 */
#ifndef RINGLET_CLIENT_H
#define RINGLET_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringlet/protocol.h"

/* The library version, "MAJOR.MINOR.PATCH". */
const char *ringlet_version(void);

/* ---- 1. configuration ------------------------------------------------------------------------ */
#define RINGLET_DEFAULT_BROKERS "127.0.0.1:9092"

struct ringlet_conf {
    const char *brokers;    /* "host:port,host:port" ([v6addr]:port allowed); not owned */
    const char *client_id;  /* sent in every request header; not owned */
    int connect_timeout_ms; /* per TCP connect attempt */
    int request_timeout_ms; /* per request/response round trip */
    int retries;            /* extra attempts on network or retriable Kafka errors */
    int retry_backoff_ms;   /* first backoff; doubles per attempt, capped at 1000 ms */
};
/* Defaults: brokers from ringlet_brokers_pick(NULL), client_id "ringlet", connect 5000 ms,
 * request 30000 ms, 3 retries, 100 ms backoff. */
void ringlet_conf_init(struct ringlet_conf *conf);

/* The broker list to use: cli_value if non-NULL and non-empty, else $RINGLET_BROKERS if set and
 * non-empty, else RINGLET_DEFAULT_BROKERS. The result is not owned by the caller. */
const char *ringlet_brokers_pick(const char *cli_value);

struct ringlet_broker_addr {
    char host[256];
    int port;
};
/* Parses "h1:p1,h2,[::1]:p3" (default port 9092, whitespace around entries ignored) into a
 * heap array (*out, caller frees with free()). Returns 0, or -EINVAL with a message in errbuf
 * for an empty list, a bad port or an over-long host. */
int ringlet_brokers_parse(const char *list, struct ringlet_broker_addr **out, int *n_out,
                          char *errbuf, size_t errlen);

/* ---- 2. partitioning ------------------------------------------------------------------------- */
/* Kafka's Utils.murmur2 (seed 0x9747b28c) over len bytes, as a signed 32-bit value exactly as the
 * Java client computes it. */
int32_t ringlet_murmur2(const void *data, size_t len);
/* The partition the Java client's default partitioner picks for a non-null key:
 * (murmur2(key) & 0x7fffffff) % partition_cnt. partition_cnt must be > 0. */
int32_t ringlet_partition_for_key(const void *key, size_t len, int32_t partition_cnt);

/* ---- 3. connections ---------------------------------------------------------------------------
 * One TCP connection to one broker. Requests are sent and answered one at a time (the blocking
 * model); the response's correlation id is checked, and a mismatch closes the connection. */
struct ringlet_conn;

/* Encodes a request body at version v (the codec's proto_M_encode has this shape). */
typedef int (*ringlet_encode_fn)(struct proto_writer *w, int16_t version, const void *msg);

/* A received response: the whole frame (owned) and a reader positioned after the response
 * header, ready for proto_M_decode. Decoded strings point into `frame`. */
struct ringlet_resp {
    uint8_t *frame;
    size_t len;
    struct proto_reader r;
};
void ringlet_resp_free(struct ringlet_resp *resp);

#define RINGLET_MAX_FRAME   (100 * 1024 * 1024) /* bigger responses are refused (-EMSGSIZE) */
#define RINGLET_API_KEY_MAX 127                 /* API keys tracked by negotiation */

/* Opens a TCP connection (timeout_ms for the whole attempt, all addresses of host tried in
 * turn). client_id is copied. Does not negotiate. Returns 0, -ETIMEDOUT, -ECONNREFUSED, -ENOENT
 * (name does not resolve) or another negative errno. */
int ringlet_conn_open(const char *host, int port, const char *client_id, int timeout_ms,
                      struct ringlet_conn **out);
void ringlet_conn_close(struct ringlet_conn *c);
const char *ringlet_conn_host(const struct ringlet_conn *c);
int ringlet_conn_port(const struct ringlet_conn *c);

/* ApiVersions: sends the highest version this library knows (3); if the broker answers error 35
 * (UNSUPPORTED_VERSION) it retries with min(3, the broker's max for ApiVersions), or v0.
 * Stores the broker's ranges in the connection. Returns 0, a network errno, -EBADMSG, or
 * -EPROTO if the broker answered another error (*kafka_err gets it if non-NULL). */
int ringlet_conn_negotiate(struct ringlet_conn *c, int timeout_ms, int16_t *kafka_err);
/* The broker's advertised range for an API; returns false if it does not advertise the key. */
bool ringlet_conn_api_range(const struct ringlet_conn *c, int16_t key, int16_t *min, int16_t *max);
/* The version to use: min(client_max, broker max), or -1 if the ranges do not overlap or the
 * broker lacks the API. Before negotiation it returns client_min (the safest choice). */
int16_t ringlet_conn_pick_version(const struct ringlet_conn *c, int16_t key, int16_t client_min,
                                  int16_t client_max);

/* Sends one request and waits for its response. expect_response=false is for Produce acks=0
 * (no response comes). On any network error, timeout or framing error the connection is closed
 * (later calls return -ENOTCONN) so the caller can reconnect. Returns 0, -ETIMEDOUT, -EPIPE,
 * -ECONNRESET, -EBADMSG (bad header or correlation id), -EMSGSIZE, -EINVAL (encode failed). */
int ringlet_conn_request(struct ringlet_conn *c, int16_t api_key, int16_t version,
                         ringlet_encode_fn encode, const void *msg, bool expect_response,
                         int timeout_ms, struct ringlet_resp *resp);
bool ringlet_conn_is_open(const struct ringlet_conn *c);

/* Pipelined requests. A response to a request sent with ringlet_conn_send_async is handed to fn
 * when it is read: by ringlet_conn_drain, or before the next ringlet_conn_request on the same
 * connection (responses come in request order). err is 0 with resp valid only during the call
 * (the connection frees it), or a negative errno with resp NULL; if the connection drops, every
 * pending fn gets -ECONNRESET at that moment, so an owner must drain (or close) the connection
 * before freeing what opaque points to. */
typedef void (*ringlet_async_fn)(void *opaque, int err, struct ringlet_resp *resp);
/* Sends a request whose response is read later. Returns 0 or a negative errno (the request was
 * not sent; fn is not called). */
int ringlet_conn_send_async(struct ringlet_conn *c, int16_t api_key, int16_t version,
                            ringlet_encode_fn encode, const void *msg, int timeout_ms,
                            ringlet_async_fn fn, void *opaque);
/* Reads pending responses and calls their fn: all of them (wait=true, within timeout_ms), or only
 * those already arriving (wait=false; a response whose first bytes are readable is then read in
 * full within timeout_ms). Returns 0, or the error that dropped the connection. */
int ringlet_conn_drain(struct ringlet_conn *c, bool wait, int timeout_ms);

/* ---- 4. the client handle -------------------------------------------------------------------- */
struct ringlet_client;

/* Creates a client; copies what it needs from conf. Parses the broker list (errors in errbuf)
 * but does not connect until the first request. */
int ringlet_client_new(const struct ringlet_conf *conf, struct ringlet_client **out, char *errbuf,
                       size_t errlen);
void ringlet_client_destroy(struct ringlet_client *cl);
const struct ringlet_conf *ringlet_client_conf(const struct ringlet_client *cl);

/* A negotiated connection to some bootstrap broker: the cached one if still open, else each
 * bootstrap address in turn (then the list again after a backoff, conf.retries times). The
 * connection stays owned by the client. Returns 0, or the last error with a message in errbuf. */
int ringlet_client_any_conn(struct ringlet_client *cl, struct ringlet_conn **out, char *errbuf,
                            size_t errlen);
/* A negotiated connection to a known broker address (node id >= 0 caches it by id). */
int ringlet_client_node_conn(struct ringlet_client *cl, int32_t node_id, const char *host, int port,
                             struct ringlet_conn **out, char *errbuf, size_t errlen);

/* Kafka errors a client should retry after a backoff (and usually a metadata refresh). */
bool ringlet_error_retriable(int16_t code);
/* Kafka errors that mean the coordinator moved: look it up again, then retry. */
bool ringlet_error_coordinator(int16_t code);
/* Backoff before attempt n (0-based): retry_backoff_ms * 2^n, capped at 1000 ms. */
int ringlet_backoff_ms(const struct ringlet_conf *conf, int attempt);

/* ---- 5. requests through the generated codec ------------------------------------------------ */
/* Decodes a response body at version v (the codec's proto_M_decode has this shape). */
typedef int (*ringlet_decode_fn)(struct proto_reader *r, int16_t version, struct proto_arena *a,
                                 void *out);

/* Type-safe adapters from a generated message pair to the callback types:
 * RINGLET_CODEC(Metadata) defines ringlet_enc_MetadataRequest / ringlet_dec_MetadataResponse. */
#define RINGLET_CODEC(M)                                                                           \
    static inline int ringlet_enc_##M##Request(struct proto_writer *w, int16_t v, const void *m) { \
        return proto_##M##Request_encode(w, v, (const struct M##Request *)m);                      \
    }                                                                                              \
    static inline int ringlet_dec_##M##Response(struct proto_reader *r, int16_t v,                 \
                                                struct proto_arena *a, void *o) {                  \
        return proto_##M##Response_decode(r, v, a, (struct M##Response *)o);                       \
    }

/* One request/response with version negotiation: picks min(cmax, broker max) (-ENOTSUP if the
 * ranges do not meet), sends req, and decodes the response into resp (arrays in arena a,
 * strings and bytes pointing into *frame, which the caller frees with ringlet_resp_free after
 * use). The picked version goes to *version_out if non-NULL. A response that does not decode is
 * -EBADMSG for this request only. */
int ringlet_call(struct ringlet_conn *c, int16_t key, int16_t cmin, int16_t cmax,
                 ringlet_encode_fn enc, const void *req, ringlet_decode_fn dec, void *resp,
                 struct proto_arena *a, struct ringlet_resp *frame, int timeout_ms,
                 int16_t *version_out);

/* ---- 6. metadata ----------------------------------------------------------------------------- */
struct ringlet_partition_md {
    int32_t partition;
    int16_t error;
    int32_t leader; /* -1 = none */
    int32_t leader_epoch;
    int32_t *replicas;
    int32_t n_replicas;
    int32_t *isr;
    int32_t n_isr;
};
struct ringlet_topic_md {
    char *name;
    int16_t error;
    bool internal;
    struct ringlet_partition_md *partitions; /* sorted by partition */
    int32_t n_partitions;
};
struct ringlet_broker_md {
    int32_t id;
    char *host;
    int port;
    char *rack; /* NULL = none */
};
struct ringlet_metadata {
    char *cluster_id; /* NULL before Metadata v2 */
    int32_t controller_id;
    struct ringlet_broker_md *brokers;
    int32_t n_brokers;
    struct ringlet_topic_md *topics; /* sorted by name */
    int32_t n_topics;
};
/* Fetches metadata for the named topics (n_topics < 0: all topics) from any bootstrap broker,
 * retrying network errors with backoff. allow_auto_create is sent at v4+. The result is a deep
 * copy (free with ringlet_metadata_free); the client also remembers its broker list for
 * ringlet_client_broker_conn. */
int ringlet_metadata_get(struct ringlet_client *cl, const char *const *topics, int n_topics,
                         bool allow_auto_create, struct ringlet_metadata **out, char *errbuf,
                         size_t errlen);
void ringlet_metadata_free(struct ringlet_metadata *md);
const struct ringlet_topic_md *ringlet_metadata_topic(const struct ringlet_metadata *md,
                                                      const char *name);
const struct ringlet_broker_md *ringlet_metadata_broker(const struct ringlet_metadata *md,
                                                        int32_t id);
/* A negotiated connection to broker node_id, found in the last metadata (refreshed once if the
 * id is unknown). */
int ringlet_client_broker_conn(struct ringlet_client *cl, int32_t node_id,
                               struct ringlet_conn **out, char *errbuf, size_t errlen);

/* ---- 7. offsets ------------------------------------------------------------------------------ */
#define RINGLET_OFFSET_EARLIEST (-2)
#define RINGLET_OFFSET_LATEST   (-1)
/* ListOffsets for partitions of one topic (grouped by leader): timestamp is a time in ms or
 * RINGLET_OFFSET_EARLIEST / _LATEST. Fills offsets[i] and errors[i] (Kafka error, or
 * PROTO_ERR_UNKNOWN_SERVER_ERROR when the leader could not be reached) for each partitions[i].
 * Returns 0 when every partition got an answer (errors may still be set), else the last
 * network error. */
int ringlet_list_offsets(struct ringlet_client *cl, const struct ringlet_topic_md *t,
                         const int32_t *partitions, int n, int64_t timestamp, int64_t *offsets,
                         int16_t *errors, char *errbuf, size_t errlen);

/* ---- 8. groups ------------------------------------------------------------------------------- */
/* A negotiated connection to the group's coordinator (FindCoordinator, retried on
 * COORDINATOR_NOT_AVAILABLE / LOAD_IN_PROGRESS with backoff). */
int ringlet_coordinator_conn(struct ringlet_client *cl, const char *group,
                             struct ringlet_conn **out, char *errbuf, size_t errlen);

/* ---- 9. fetching and reading records --------------------------------------------------------- */
struct ringlet_fetch_part {
    int32_t partition;
    int16_t error;
    int64_t high_watermark;
    int64_t log_start_offset; /* -1 before Fetch v5 */
    const uint8_t *records;   /* points into the response frame */
    size_t records_len;
};
/* One Fetch (v4..v12, read_uncommitted) to broker `leader` for n partitions of one topic from
 * offsets[i]. out[i] gets each partition's answer (error UNKNOWN_SERVER_ERROR if absent from the
 * response). Record bytes point into *frame (free with ringlet_resp_free). Returns 0 or a
 * negative errno (message in errbuf). */
int ringlet_fetch(struct ringlet_client *cl, int32_t leader, const char *topic,
                  const int32_t *partitions, const int64_t *offsets, int n, int32_t max_wait_ms,
                  int32_t partition_max_bytes, struct ringlet_fetch_part *out,
                  struct ringlet_resp *frame, struct proto_arena *a, char *errbuf, size_t errlen);

struct ringlet_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp; /* ms */
    bool log_append_time;
    struct proto_bytes key;   /* len -1 = null */
    struct proto_bytes value; /* len -1 = null */
    const struct proto_record_header *headers;
    int32_t n_headers;
};
/* Return non-zero to stop the walk after this record. */
typedef int (*ringlet_msg_fn)(void *opaque, const struct ringlet_msg *m);
/* Walks the record batches of a fetched partition: validates each batch (CRC included),
 * decompresses, skips control batches and records below min_offset, and calls fn per record.
 * A truncated last batch (normal in Fetch responses) ends the walk. *next_offset gets the offset
 * after the last record delivered or skipped (min_offset if none). Returns the number of records
 * delivered, or -EBADMSG for a corrupt batch (records before it were delivered). */
int ringlet_records_walk(const uint8_t *buf, size_t len, const char *topic, int32_t partition,
                         int64_t min_offset, struct proto_arena *a, ringlet_msg_fn fn, void *opaque,
                         int64_t *next_offset);

/* ---- 10. producer -----------------------------------------------------------------------------
 * Single-threaded: records are batched per partition in the caller's thread, and batches are
 * sent (blocking, one request per leader at a time) when full, when linger.ms has passed at a
 * ringlet_producer_poll, or at ringlet_producer_flush. Keyed records go to the Java client's
 * murmur2 partition; unkeyed ones stick to one partition until its batch is sent (sticky
 * partitioner). Idempotence (InitProducerId + per-partition sequences) is on by default, so a
 * retried batch is never written twice. */
struct ringlet_producer_conf {
    int16_t acks;                 /* 0, 1 or -1 (all); default -1 */
    enum proto_compression codec; /* default none */
    int linger_ms;                /* default 5 */
    int batch_size;               /* bytes of records per partition batch; default 16384 */
    bool idempotence;             /* default true; needs acks = -1 (else turned off) */
    int delivery_timeout_ms;      /* give up on a record after this long; default 120000 */
};
void ringlet_producer_conf_init(struct ringlet_producer_conf *pc);

struct ringlet_delivery {
    const char *topic;
    int32_t partition;
    int64_t offset; /* -1 when unknown (acks=0, or a duplicate the broker had already) */
    int16_t error;  /* Kafka error code, 0 = delivered */
    int err;        /* 0, or a negative errno when the record could not be sent */
    void *opaque;   /* the msg_opaque given to send */
};
typedef void (*ringlet_delivery_fn)(void *cb_opaque, const struct ringlet_delivery *d);

struct ringlet_producer;
/* The client must outlive the producer. cb (may be NULL) gets one report per record. */
int ringlet_producer_new(struct ringlet_client *cl, const struct ringlet_producer_conf *pc,
                         ringlet_delivery_fn cb, void *cb_opaque, struct ringlet_producer **out,
                         char *errbuf, size_t errlen);
/* Queues one record (copied). partition -1 = partitioner; timestamp_ms -1 = now. Topic metadata
 * is fetched on first use (allowing auto-creation). Returns 0, -ENOENT (unknown topic, message in
 * the producer's last error), -EINVAL (partition out of range), or -EMSGSIZE. */
int ringlet_producer_send(struct ringlet_producer *p, const char *topic, int32_t partition,
                          const void *key, int32_t key_len, const void *value, int32_t value_len,
                          const struct proto_record_header *headers, int32_t n_headers,
                          int64_t timestamp_ms, void *msg_opaque);
/* Sends batches whose linger has expired. Returns the number of records reported. */
int ringlet_producer_poll(struct ringlet_producer *p);
/* Sends everything queued and waits for every answer. Returns 0 if every record since the last
 * flush was delivered, else -EIO. */
int ringlet_producer_flush(struct ringlet_producer *p);
/* The last error message (for -ENOENT and failed deliveries). */
const char *ringlet_producer_last_error(const struct ringlet_producer *p);
/* The producer id in use, or -1 without idempotence. */
int64_t ringlet_producer_id(const struct ringlet_producer *p);
/* Frees everything; records still queued are reported as failed (-ECANCELED). */
void ringlet_producer_destroy(struct ringlet_producer *p);

/* ---- 11. consumer groups: the consumer protocol and assignors ----------------------------- */
struct ringlet_tp {
    char *topic;
    int32_t partition;
};
struct ringlet_assign_member {
    const char *member_id;
    char **topics; /* subscription */
    int n_topics;
    struct ringlet_tp *assigned; /* out: heap array, topic strings heap (ringlet_tps_free) */
    int n_assigned;
};
struct ringlet_assign_topic {
    const char *name;
    int32_t partitions;
};
/* Computes an assignment with "range" (per topic, consecutive partition ranges to members
 * sorted by id, the first P % M members one extra) or "roundrobin" (all topic-partitions
 * sorted, dealt to members sorted by id, skipping members not subscribed to the topic), as
 * the Java client's assignors do. Returns 0 or -EINVAL for an unknown assignor. */
int ringlet_assign(const char *assignor, struct ringlet_assign_member *members, int n_members,
                   const struct ringlet_assign_topic *topics, int n_topics);
void ringlet_tps_free(struct ringlet_tp *tps, int n);

/* ConsumerProtocolSubscription / ConsumerProtocolAssignment, version 0 (what every broker and
 * client understands; later versions' extra fields are skipped when decoding). Decoders return
 * 0 or -EBADMSG and allocate heap results. */
void ringlet_subscription_encode(struct proto_writer *w, const char *const *topics, int n);
int ringlet_subscription_decode(const uint8_t *p, int32_t len, char ***topics, int *n);
void ringlet_assignment_encode(struct proto_writer *w, const struct ringlet_tp *tps, int n);
int ringlet_assignment_decode(const uint8_t *p, int32_t len, struct ringlet_tp **tps, int *n);

/* ---- 12. consumer -----------------------------------------------------------------------------
 * Single-threaded, one topic per consumer. Manual assignment (ringlet_consumer_assign) or group
 * membership (ringlet_consumer_subscribe: classic protocol, JoinGroup/SyncGroup/Heartbeat, range
 * and roundrobin assignors, auto-commit). Each poll does one Fetch round (one request per
 * leader) and handles heartbeats, rebalances and auto-commits in between. */
enum ringlet_start_kind {
    RINGLET_START_EARLIEST,       /* the log start */
    RINGLET_START_LATEST,         /* the log end (only new records) */
    RINGLET_START_OFFSET,         /* value, clamped to [log start, log end] */
    RINGLET_START_AFTER_EARLIEST, /* log start + value */
    RINGLET_START_BEFORE_LATEST,  /* log end - value */
    RINGLET_START_TIMESTAMP,      /* first record with timestamp >= value ms (else the end) */
};
struct ringlet_start {
    enum ringlet_start_kind kind;
    int64_t value;
};
/* The offset a non-timestamp start resolves to within [log_start, log_end]. */
int64_t ringlet_start_resolve(const struct ringlet_start *s, int64_t log_start, int64_t log_end);

struct ringlet_consumer_conf {
    const char *group_id;        /* NULL = no group (manual assignment only); copied */
    const char *assignor;        /* "range", "roundrobin", NULL = offer both (range first) */
    int session_timeout_ms;      /* default 10000 */
    int rebalance_timeout_ms;    /* default 30000 */
    int heartbeat_interval_ms;   /* default 3000 */
    int auto_commit_interval_ms; /* default 5000; 0 = only ringlet_consumer_commit */
    int32_t partition_max_bytes; /* default 1 MiB */
    struct ringlet_start start;  /* for partitions without a committed offset; default earliest */
    /* Called when an asynchronous commit completes: err 0, or -EIO (details in last_error). */
    void (*commit_cb)(void *opaque, int err);
    void *commit_opaque;
};
void ringlet_consumer_conf_init(struct ringlet_consumer_conf *cc);

struct ringlet_consumer;
/* The client must outlive the consumer. */
int ringlet_consumer_new(struct ringlet_client *cl, const struct ringlet_consumer_conf *cc,
                         struct ringlet_consumer **out, char *errbuf, size_t errlen);
/* Joins conf.group_id for topic (needs a group id; the join happens here). Returns 0 or a
 * negative errno (message in ringlet_consumer_last_error). */
int ringlet_consumer_subscribe(struct ringlet_consumer *c, const char *topic);
/* Consumes partitions parts[0..n) of topic (n < 0: all), starting at conf.start. */
int ringlet_consumer_assign(struct ringlet_consumer *c, const char *topic, const int32_t *parts,
                            int n);
/* Moves an assigned partition's position. Returns 0 or -ENOENT if not assigned. */
int ringlet_consumer_seek(struct ringlet_consumer *c, int32_t partition, int64_t offset);
/* One fetch round: calls fn per record (a non-zero return stops the round after that record;
 * the position stays right after it). max_wait_ms is how long the broker may hold the fetch
 * when every partition is caught up. Returns the number of records delivered, or a negative
 * errno for a failure that retrying cannot fix (message in last_error). */
int ringlet_consumer_poll(struct ringlet_consumer *c, int max_wait_ms, ringlet_msg_fn fn,
                          void *opaque);
/* True when every assigned partition's position has reached its high watermark. */
bool ringlet_consumer_at_end(const struct ringlet_consumer *c);
/* Number of assigned partitions. */
int ringlet_consumer_assignment_size(const struct ringlet_consumer *c);
/* Commits every position that moved since the last commit (group mode). Returns 0 or -EIO.
 * Waits for asynchronous commits sent before it, so commits complete in order. */
int ringlet_consumer_commit(struct ringlet_consumer *c);
/* Sends the same commit without waiting for the answer (the periodic auto-commit uses it). The
 * answer is read by a later poll, commit or close, which then calls conf.commit_cb. Returns 0
 * (sent, or nothing to commit) or a negative errno if it could not be sent. */
int ringlet_consumer_commit_async(struct ringlet_consumer *c);
/* Asynchronous commits sent whose answer has not been read yet. */
int ringlet_consumer_commits_in_flight(const struct ringlet_consumer *c);
const char *ringlet_consumer_last_error(const struct ringlet_consumer *c);
/* Commits (group mode with auto-commit), leaves the group and frees. */
void ringlet_consumer_close(struct ringlet_consumer *c);

/* ---- 13. admin ----------------------------------------------------------------------------------
 * Operations on named objects answer one row per name, in request order. The call returns 0 when
 * the request was answered (each row then carries its Kafka error, 0 = done) and a negative errno
 * with a message in errbuf when it was not (no connection, timeout, -ENOTSUP, -EBADMSG); *out is
 * written only on 0 and freed with ringlet_admin_results_free. timeout_ms <= 0 means the
 * client's request timeout. Topic operations go to the controller (any broker if the metadata
 * names none); group operations to each group's coordinator, where a failure to reach one
 * coordinator is that row's error (UNKNOWN_SERVER_ERROR with the reason as message). */
struct ringlet_admin_result {
    char *name;
    int16_t error; /* Kafka error code */
    char *message; /* the broker's error message, or why there is no answer; NULL = none */
};
void ringlet_admin_results_free(struct ringlet_admin_result *r, int n);

/* A negotiated connection for admin requests: the controller, else any broker. The connection
 * stays owned by the client. */
int ringlet_admin_conn(struct ringlet_client *cl, struct ringlet_conn **out, char *errbuf,
                       size_t errlen);

struct ringlet_new_topic {
    const char *name;
    int32_t partitions;         /* -1 = the broker's default */
    int16_t replication_factor; /* -1 = the broker's default */
    const char *const *config_names;
    const char *const *config_values; /* NULL entries send a null value */
    int n_configs;
};
/* CreateTopics (v0-7; brokers older than v4 get 1 for a default count). */
int ringlet_admin_create_topics(struct ringlet_client *cl, const struct ringlet_new_topic *topics,
                                int n, int timeout_ms, struct ringlet_admin_result **out,
                                char *errbuf, size_t errlen);
/* DeleteTopics by name (v0-6). */
int ringlet_admin_delete_topics(struct ringlet_client *cl, const char *const *names, int n,
                                int timeout_ms, struct ringlet_admin_result **out, char *errbuf,
                                size_t errlen);
/* CreatePartitions: grows each topic to total partitions (v0-3; placement by the broker). */
int ringlet_admin_create_partitions(struct ringlet_client *cl, const char *const *names, int n,
                                    int32_t total, int timeout_ms,
                                    struct ringlet_admin_result **out, char *errbuf, size_t errlen);
/* The cluster id, controller and brokers: DescribeCluster (v0-1) where the broker supports it,
 * else Metadata for no topics. The result has no topics; free it with ringlet_metadata_free.
 * *used_describe_cluster (if non-NULL) says which request answered. */
int ringlet_cluster_describe(struct ringlet_client *cl, struct ringlet_metadata **out,
                             bool *used_describe_cluster, char *errbuf, size_t errlen);
/* IncrementalAlterConfigs of topics: for every topic, names[i] is set to values[i], or deleted
 * (back to the default) where values[i] is NULL (v0-1). */
int ringlet_admin_alter_topic_configs(struct ringlet_client *cl, const char *const *topics, int n,
                                      const char *const *names, const char *const *values,
                                      int n_configs, int timeout_ms,
                                      struct ringlet_admin_result **out, char *errbuf,
                                      size_t errlen);

struct ringlet_config_entry {
    char *name;
    char *value; /* NULL when null or sensitive */
    bool sensitive;
    bool is_override; /* set on the topic itself, not a default */
};
void ringlet_config_entries_free(struct ringlet_config_entry *e, int n);
/* DescribeConfigs of one topic (v0-4): every config with its value. Returns 0 with the entries
 * in *out / *n_out and the topic's Kafka error in *kafka_err (entries may be empty then), or a
 * negative errno (-ENOTSUP: the broker lacks DescribeConfigs) with a message in errbuf. */
int ringlet_admin_describe_topic_configs(struct ringlet_client *cl, const char *topic,
                                         struct ringlet_config_entry **out, int *n_out,
                                         int16_t *kafka_err, char *errbuf, size_t errlen);
/* Bytes on disk per partition of t (DescribeLogDirs, v0-4, to each partition's leader): sizes
 * has t->n_partitions slots, in t->partitions order; -1 where unknown. Returns 0 if every leader
 * answered, else the last error (the sizes that did arrive are filled). */
int ringlet_admin_log_dir_sizes(struct ringlet_client *cl, const struct ringlet_topic_md *t,
                                int64_t *sizes);
struct ringlet_group_listing {
    char *group;
    char *protocol_type; /* "consumer", "" for groups that only commit offsets */
    char *state;         /* NULL if the broker's ListGroups is older than v4 */
};
void ringlet_group_listings_free(struct ringlet_group_listing *g, int n);
/* ListGroups to every broker (each coordinates some groups), sorted by group id. Returns 0 with
 * the groups of the brokers that answered; *failed_brokers counts the others (the last reason is
 * in errbuf). A negative errno only if the broker list itself could not be fetched. */
int ringlet_admin_list_groups(struct ringlet_client *cl, struct ringlet_group_listing **out,
                              int *n_out, int *failed_brokers, char *errbuf, size_t errlen);

struct ringlet_group_offset {
    char *topic;
    int32_t partition;
    int64_t offset; /* -1 = nothing committed */
    int16_t error;  /* per-partition Kafka error */
};
void ringlet_group_offsets_free(struct ringlet_group_offset *o, int n);
/* The group's committed offsets (OffsetFetch v2-8 to its coordinator): for the partitions in
 * which[0..n_which) (only topic and partition are read), or every committed partition when
 * n_which is 0. Returns 0 with the rows and the group-level Kafka error in *group_error, or a
 * negative errno with a message in errbuf. */
int ringlet_admin_group_offsets(struct ringlet_client *cl, const char *group,
                                const struct ringlet_group_offset *which, int n_which,
                                struct ringlet_group_offset **out, int *n_out, int16_t *group_error,
                                char *errbuf, size_t errlen);
struct ringlet_group_member {
    char *member_id;
    char *group_instance_id; /* NULL = dynamic member */
    char *client_id;
    char *host;
    uint8_t *assignment; /* the protocol's assignment bytes (consumer protocol for "consumer") */
    int32_t assignment_len;
};
struct ringlet_group_description {
    char *group;
    int16_t error; /* Kafka error for this group */
    char *state;   /* "Stable", "Empty", "Dead", ... */
    char *protocol_type;
    char *protocol; /* the chosen assignor for consumer groups */
    struct ringlet_group_member *members;
    int n_members;
};
void ringlet_group_description_free(struct ringlet_group_description *g);
/* DescribeGroups (v0-5) for one group at its coordinator. Returns 0, or a negative errno
 * (-ENOTSUP: the broker lacks DescribeGroups) with a message in errbuf. */
int ringlet_admin_describe_group(struct ringlet_client *cl, const char *group,
                                 struct ringlet_group_description **out, char *errbuf,
                                 size_t errlen);
/* Commits offs[i].offset for each offs[i].topic / partition as an administrator (OffsetCommit
 * v2-8 with generation -1 and no member id, which brokers accept only while the group has no
 * active members). Returns 0 and sets every offs[i].error (0 = committed), or a negative errno
 * with a message in errbuf (offs untouched). */
int ringlet_admin_commit_group_offsets(struct ringlet_client *cl, const char *group,
                                       struct ringlet_group_offset *offs, int n, char *errbuf,
                                       size_t errlen);
/* OffsetDelete (v0) of the group's commits for partitions[0..n) of topic; rows are named
 * "topic/partition". A group-level error (GROUP_SUBSCRIBED_TO_TOPIC, ...) is every row's. */
int ringlet_admin_delete_group_offsets(struct ringlet_client *cl, const char *group,
                                       const char *topic, const int32_t *partitions, int n,
                                       struct ringlet_admin_result **out, char *errbuf,
                                       size_t errlen);
/* DeleteGroups, one request per group to its coordinator (v0-2). */
int ringlet_admin_delete_groups(struct ringlet_client *cl, const char *const *groups, int n,
                                int timeout_ms, struct ringlet_admin_result **out, char *errbuf,
                                size_t errlen);

#endif /* RINGLET_CLIENT_H */
