/* SPDX-License-Identifier: Apache-2.0 */
/*
 * topics.h - internal interface of the topic/partition registry (topics.c), the idempotent
 * producer state (producers.c) and the helpers the data-plane handlers share.
 *
 * Everything here runs on the reactor thread.
 *
 * Lifetime: a topic is owned by the registry until deleted. Work that outlives the current
 * call (an in-flight append, a long-poll fetch) holds a reference with broker_topic_keep()
 * and drops it with broker_topic_release(); a deleted topic's logs are removed and its memory
 * freed when the last reference goes. While a deleted topic still has references its name
 * cannot be reused (CreateTopics answers TOPIC_ALREADY_EXISTS, "marked for deletion").
 */
#ifndef RINGLET_BROKER_TOPICS_H
#define RINGLET_BROKER_TOPICS_H

#include "broker.h"

/* ---- topic configs ---------------------------------------------------------------------------
 * Index of each topic config in the config table (topics.c). Effective values are int64. */
enum broker_tcfg {
    TCFG_CLEANUP_POLICY = 0, /* 0 delete, 1 compact, 2 compact,delete */
    TCFG_COMPRESSION_TYPE,   /* accepted; batches are stored as produced (no recompression) */
    TCFG_FLUSH_MESSAGES,
    TCFG_FLUSH_MS,
    TCFG_INDEX_INTERVAL_BYTES,
    TCFG_MAX_MESSAGE_BYTES,
    TCFG_MESSAGE_TIMESTAMP_TYPE, /* BROKER_TS_CREATE_TIME / BROKER_TS_LOG_APPEND_TIME */
    TCFG_MIN_INSYNC_REPLICAS,
    TCFG_RETENTION_BYTES,
    TCFG_RETENTION_MS,
    TCFG_SEGMENT_BYTES,
    TCFG_SEGMENT_MS,
    /* Kafka topic configs accepted, validated, persisted and described for compatibility with
     * tools that set them, but with no effect in ringlet (no compaction, replication or
     * message-format down-conversion yet). */
    TCFG_DELETE_RETENTION_MS,
    TCFG_FILE_DELETE_DELAY_MS,
    TCFG_MAX_COMPACTION_LAG_MS,
    TCFG_MESSAGE_DOWNCONVERSION_ENABLE,
    TCFG_MESSAGE_FORMAT_VERSION,
    TCFG_MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS,
    TCFG_MIN_CLEANABLE_DIRTY_RATIO,
    TCFG_MIN_COMPACTION_LAG_MS,
    TCFG_PREALLOCATE,
    TCFG_SEGMENT_INDEX_BYTES,
    TCFG_SEGMENT_JITTER_MS,
    TCFG_UNCLEAN_LEADER_ELECTION_ENABLE,
    TCFG_COUNT
};

/* Name of config i, or NULL past the end. */
const char *broker_tcfg_name(int i);
/* False for the configs accepted only for compatibility (see enum broker_tcfg). */
bool broker_tcfg_has_effect(int i);
/* Index of a config name, -1 if unknown. */
int broker_tcfg_find(const char *name, size_t len);
/* Validates value for config i; on success stores the normalised numeric value in *out and
 * returns 0, else fills errmsg and returns -EINVAL. */
int broker_tcfg_parse(int i, const char *value, int64_t *out, char *errmsg, size_t errlen);
/* The broker-wide default of config i as a string (into buf). */
const char *broker_tcfg_default(const struct broker *b, int i, char *buf, size_t len);

/* ---- fetch long-poll waiters -------------------------------------------------------------- */
struct broker_waiter {
    struct broker_waiter *next;
    struct broker_waiter **pprev; /* NULL when not on a list */
    broker_wake_fn fn;
    void *arg;
};

/* ---- producer state (producers.c) ---------------------------------------------------------- */
struct broker_pstate; /* per partition: producer id -> epoch + the last 5 batches */

/* ---- partitions and topics ----------------------------------------------------------------- */
struct broker_partition {
    struct broker_topic *topic;
    int32_t index;
    struct storage_log *log;
    struct broker_waiter *waiters; /* long-poll fetches waiting for data */
    struct broker_pstate *pstate;
};

struct broker_topic {
    char *name;
    size_t name_len;
    struct proto_uuid id;
    bool internal;
    bool deleted; /* removed from the registry, waiting for its last reference */
    bool growing; /* broker_topic_add_partitions_async in progress */
    int32_t n_partitions;
    struct broker_partition **partitions;
    /* config overrides (persisted), and the effective values (defaults + overrides) */
    char **ov_names;
    char **ov_values;
    int32_t n_ov;
    int64_t cfg[TCFG_COUNT];
    int refs;
    struct broker_topic *hnext_name;
    struct broker_topic *hnext_id;
    struct broker *b;
};

/* Number of live topics and the i-th one (order is arbitrary, stable while nothing changes). */
size_t broker_topics_count(const struct broker *b);
struct broker_topic *broker_topics_at(const struct broker *b, size_t i);
struct broker_topic *broker_topic_find_id(struct broker *b, struct proto_uuid id);
struct broker_topic *broker_topic_find_str(struct broker *b, struct proto_str name);

void broker_topic_keep(struct broker_topic *t);
void broker_topic_release(struct broker_topic *t);
/* Whether broker_topics_shutdown is freeing every topic (referenced or not): a request that
 * completes meanwhile (a log's close completes its reads) must not touch its kept topics. */
bool broker_topics_closing(const struct broker *b);

/* Kafka's topic name rules. Returns true if legal, else fills errmsg. */
bool broker_topic_name_valid(const char *name, size_t len, char *errmsg, size_t errlen);

/* broker_topic_create with validate_only: checks everything, creates nothing. */
int broker_topic_create_ex(struct broker *b, const char *name, int32_t n,
                           const char *const *cfg_names, const char *const *cfg_values,
                           int32_t n_cfgs, bool internal, bool validate_only,
                           struct broker_topic **out, char *errmsg, size_t errlen);
/* broker_topic_create_ex (not validate_only, not internal) with the file-system work on the
 * blocking thread, so a topic of many partitions does not stall the reactor: a failed check
 * returns its Kafka error at once (done is not called); else PROTO_ERR_NONE, and done(arg, err,
 * t, errmsg) runs later on the reactor, with t registered or an error. Until then the name counts
 * as taken: creating it again fails with TOPIC_ALREADY_EXISTS, auto-creation answers
 * LEADER_NOT_AVAILABLE (clients retry). */
typedef void (*broker_topic_created_fn)(void *arg, int16_t err, struct broker_topic *t,
                                        const char *errmsg);
int broker_topic_create_async(struct broker *b, const char *name, int32_t n,
                              const char *const *cfg_names, const char *const *cfg_values,
                              int32_t n_cfgs, broker_topic_created_fn done, void *arg, char *errmsg,
                              size_t errlen);
/* Finds a topic; if missing and auto.create.topics.enable, creates it with defaults. *err gets
 * the Kafka error (UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION, ...) when NULL. */
struct broker_topic *broker_topic_get_or_create(struct broker *b, struct proto_str name,
                                                bool allow_create, int16_t *err);
/* Deletes a topic (logs removed once no request uses them any more). Returns a Kafka error. */
int broker_topic_delete(struct broker *b, struct broker_topic *t);
/* broker_topic_add_partitions (not validate_only) with the new partitions' files made on the
 * blocking thread, like broker_topic_create_async: a failed check returns its error at once;
 * else done(arg, err, t, errmsg) runs later on the reactor. One growth at a time per topic. */
int broker_topic_add_partitions_async(struct broker *b, struct broker_topic *t, int32_t count,
                                      broker_topic_created_fn done, void *arg, char *errmsg,
                                      size_t errlen);
/* Grows a topic to count partitions. Returns a Kafka error code and fills errmsg. */
int broker_topic_add_partitions(struct broker *b, struct broker_topic *t, int32_t count,
                                bool validate_only, char *errmsg, size_t errlen);
/* Replaces the topic's config overrides by these (validated, persisted, applied to the open
 * logs). Returns a Kafka error code and fills errmsg. */
int broker_topic_set_configs(struct broker *b, struct broker_topic *t, const char *const *names,
                             const char *const *values, int32_t n, bool validate_only, char *errmsg,
                             size_t errlen);
/* The storage settings derived from the topic's effective configs. */
void broker_topic_log_config(const struct broker_topic *t, struct storage_log_config *out);

/* Appends batches to a partition (see storage_log_append). op must stay alive until done runs;
 * the topic is kept alive meanwhile and fetch waiters are woken after a successful write. */
struct broker_append_op {
    struct broker_partition *p;
    void (*done)(struct broker_append_op *op, int err, int64_t base_offset);
};
int broker_partition_append(struct broker_partition *p, uint8_t *buf, size_t len, bool durable,
                            struct broker_append_op *op, int64_t *base_offset);

void broker_partition_wait(struct broker_partition *p, struct broker_waiter *w);
void broker_waiter_remove(struct broker_waiter *w);
/* Wakes every waiter of the partition (after an append, a delete ...). */
void broker_partition_notify(struct broker_partition *p);

/* Topic ids: random UUID (never zero), base64url without padding (22 chars). */
void broker_uuid_random(struct proto_uuid *u);
void broker_uuid_base64(const struct proto_uuid *u, char out[23]);
int broker_uuid_parse_base64(const char *s, struct proto_uuid *u);
bool broker_uuid_is_zero(const struct proto_uuid *u);

/* Writes data to path atomically (tmp file + fsync + rename + fsync dir). */
int broker_write_file_atomic(const char *path, const void *data, size_t len);

/* ---- producers.c --------------------------------------------------------------------------- */
int broker_producers_init(struct broker *b);
void broker_producers_shutdown(struct broker *b);
/* Allocates a fresh producer id (persisted in blocks so ids never repeat after a restart). */
int64_t broker_producers_next_id(struct broker *b);
/* Makes sure future ids are above pid (learned from the logs at start-up). */
void broker_producers_seen_id(struct broker *b, int64_t pid);

struct broker_pstate *broker_pstate_new(void);
void broker_pstate_free(struct broker_pstate *s);
/* Checks an idempotent batch against the partition's state. Returns a Kafka error code:
 * NONE (append it), NONE with *dup = true and *dup_offset = the original base offset (a retry
 * of one of the last 5 batches: answer success without appending), OUT_OF_ORDER_SEQUENCE_NUMBER,
 * INVALID_PRODUCER_EPOCH. */
int16_t broker_pstate_check(struct broker_pstate *s, int64_t pid, int16_t epoch, int32_t first_seq,
                            int32_t last_seq, bool *dup, int64_t *dup_offset);
/* Records an appended batch (after a successful check). */
void broker_pstate_record(struct broker_pstate *s, int64_t pid, int16_t epoch, int32_t first_seq,
                          int32_t last_seq, int64_t base_offset, int64_t now_ms);
/* The append of that batch failed: forgets it (and anything recorded after it) so a retry is
 * not mistaken for a duplicate. */
void broker_pstate_forget(struct broker_pstate *s, int64_t pid, int16_t epoch, int32_t first_seq);
/* Rebuilds the state at start-up: the clean-stop snapshot plus the batches after it, or else
 * the tail of the log. Reports producer ids it saw to broker_producers_seen_id. */
int broker_pstate_rebuild(struct broker *b, struct broker_pstate *s, struct storage_log *log,
                          const char *topic, int32_t partition);
/* Writes the clean-stop snapshot of a partition's state (removes it when the state is empty). */
int broker_pstate_save(struct broker *b, struct broker_pstate *s, const char *topic,
                       int32_t partition, int64_t end_offset);
/* Drops producers idle since before cutoff_ms (wall clock). */
void broker_pstate_expire(struct broker_pstate *s, int64_t cutoff_ms);
size_t broker_pstate_count(const struct broker_pstate *s);
/* Last sequence of a batch (first + delta, wrapping at INT32_MAX like Kafka). */
int32_t broker_seq_add(int32_t seq, int32_t delta);

/* ---- handlers (api_*.c, producers.c) ------------------------------------------------------- */
int broker_api_produce(struct broker_request *req);
int broker_api_fetch(struct broker_request *req);
int broker_api_list_offsets(struct broker_request *req);
int broker_api_metadata(struct broker_request *req);
int broker_api_offset_for_leader_epoch(struct broker_request *req);
int broker_api_create_topics(struct broker_request *req);
int broker_api_delete_topics(struct broker_request *req);
int broker_api_delete_records(struct broker_request *req);
int broker_api_init_producer_id(struct broker_request *req);
int broker_api_describe_configs(struct broker_request *req);
int broker_api_alter_configs(struct broker_request *req);
int broker_api_describe_log_dirs(struct broker_request *req);
int broker_api_create_partitions(struct broker_request *req);
int broker_api_incremental_alter_configs(struct broker_request *req);
int broker_api_describe_cluster(struct broker_request *req);

/* A NUL-terminated arena copy of a proto_str ("" for null). */
char *broker_arena_strdup(struct proto_arena *a, struct proto_str s);

#endif /* RINGLET_BROKER_TOPICS_H */
