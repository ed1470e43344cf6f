/* SPDX-License-Identifier: Apache-2.0 */
/*
 * protocol.h - ringlet's Kafka wire codec: the one public header of the protocol library.
 *
 * Contents:
 *   1. Kafka error codes (response data, never C return values).
 *   2. Per-request arena, bounded reader, growable writer.
 *   3. Primitive encoders/decoders (ints, varints, strings, bytes, UUID, tagged fields).
 *   4. Request / response headers.
 *   5. Generated messages (ringlet/protocol_messages.h, made at build time from protocol/schema/).
 *   6. RecordBatch v2: CRC-32C, header parse/validate, record iteration, batch building.
 *   7. Compression codecs (gzip, snappy/xerial, lz4 frame, zstd) with a decompressed-size cap.
 *
 * Conventions (the generator follows them; broker/ and client/ code relies on them):
 *   - A schema message `FooRequest` becomes `struct FooRequest`; a nested struct type `Bar`
 *     (Kafka's `[]Bar`) becomes `struct FooRequest_Bar`. Field names keep Kafka's spelling.
 *   - Arrays are a pointer plus a count: `struct FooRequest_Bar *Bars; int32_t n_Bars;`
 *     (n_ = -1 means a null array). Primitive arrays likewise (`int32_t *Ids; int32_t n_Ids;`).
 *   - string -> struct proto_str, bytes/records -> struct proto_bytes, uuid -> struct proto_uuid,
 *     bool -> bool, intN -> intN_t, uint16 -> uint16_t, float64 -> double.
 *   - Decoded strings/bytes point into the frame buffer (zero copy): the frame must outlive them.
 *     Arrays are allocated from the arena passed to decode.
 *   - For each message M: void proto_M_init(struct M *m) sets every field to its schema default
 *     (arrays empty, nullable strings per default); int proto_M_decode(struct proto_reader *r,
 *     int16_t version, struct proto_arena *a, struct M *out); int proto_M_encode(
 *     struct proto_writer *w, int16_t version, const struct M *m); size_t proto_M_size(
 *     int16_t version, const struct M *m). Nested types get proto_M_Bar_init too.
 *   - decode returns 0, -EBADMSG (malformed/truncated/over-long), or -ENOTSUP (version outside
 *     the schema's range). encode returns 0 or -EINVAL (a value that cannot be represented at
 *     this version, e.g. a null in a non-nullable field).
 */
#ifndef RINGLET_PROTOCOL_H
#define RINGLET_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- 1. Kafka error codes -------------------------------------------------------------------- */
enum proto_error {
    PROTO_ERR_UNKNOWN_SERVER_ERROR = -1,
    PROTO_ERR_NONE = 0,
    PROTO_ERR_OFFSET_OUT_OF_RANGE = 1,
    PROTO_ERR_CORRUPT_MESSAGE = 2,
    PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
    PROTO_ERR_INVALID_FETCH_SIZE = 4,
    PROTO_ERR_LEADER_NOT_AVAILABLE = 5,
    PROTO_ERR_NOT_LEADER_OR_FOLLOWER = 6,
    PROTO_ERR_REQUEST_TIMED_OUT = 7,
    PROTO_ERR_BROKER_NOT_AVAILABLE = 8,
    PROTO_ERR_REPLICA_NOT_AVAILABLE = 9,
    PROTO_ERR_MESSAGE_TOO_LARGE = 10,
    PROTO_ERR_OFFSET_METADATA_TOO_LARGE = 12,
    PROTO_ERR_NETWORK_EXCEPTION = 13,
    PROTO_ERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
    PROTO_ERR_COORDINATOR_NOT_AVAILABLE = 15,
    PROTO_ERR_NOT_COORDINATOR = 16,
    PROTO_ERR_INVALID_TOPIC_EXCEPTION = 17,
    PROTO_ERR_RECORD_LIST_TOO_LARGE = 18,
    PROTO_ERR_NOT_ENOUGH_REPLICAS = 19,
    PROTO_ERR_INVALID_REQUIRED_ACKS = 21,
    PROTO_ERR_ILLEGAL_GENERATION = 22,
    PROTO_ERR_INCONSISTENT_GROUP_PROTOCOL = 23,
    PROTO_ERR_INVALID_GROUP_ID = 24,
    PROTO_ERR_UNKNOWN_MEMBER_ID = 25,
    PROTO_ERR_INVALID_SESSION_TIMEOUT = 26,
    PROTO_ERR_REBALANCE_IN_PROGRESS = 27,
    PROTO_ERR_INVALID_COMMIT_OFFSET_SIZE = 28,
    PROTO_ERR_TOPIC_AUTHORIZATION_FAILED = 29,
    PROTO_ERR_GROUP_AUTHORIZATION_FAILED = 30,
    PROTO_ERR_CLUSTER_AUTHORIZATION_FAILED = 31,
    PROTO_ERR_INVALID_TIMESTAMP = 32,
    PROTO_ERR_UNSUPPORTED_SASL_MECHANISM = 33,
    PROTO_ERR_ILLEGAL_SASL_STATE = 34,
    PROTO_ERR_UNSUPPORTED_VERSION = 35,
    PROTO_ERR_TOPIC_ALREADY_EXISTS = 36,
    PROTO_ERR_INVALID_PARTITIONS = 37,
    PROTO_ERR_INVALID_REPLICATION_FACTOR = 38,
    PROTO_ERR_INVALID_REPLICA_ASSIGNMENT = 39,
    PROTO_ERR_INVALID_CONFIG = 40,
    PROTO_ERR_NOT_CONTROLLER = 41,
    PROTO_ERR_INVALID_REQUEST = 42,
    PROTO_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    PROTO_ERR_POLICY_VIOLATION = 44,
    PROTO_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
    PROTO_ERR_DUPLICATE_SEQUENCE_NUMBER = 46,
    PROTO_ERR_INVALID_PRODUCER_EPOCH = 47,
    PROTO_ERR_INVALID_TXN_STATE = 48,
    PROTO_ERR_INVALID_PRODUCER_ID_MAPPING = 49,
    PROTO_ERR_INVALID_TRANSACTION_TIMEOUT = 50,
    PROTO_ERR_CONCURRENT_TRANSACTIONS = 51,
    PROTO_ERR_SECURITY_DISABLED = 54,
    PROTO_ERR_OPERATION_NOT_ATTEMPTED = 55,
    PROTO_ERR_KAFKA_STORAGE_ERROR = 56,
    PROTO_ERR_LOG_DIR_NOT_FOUND = 57,
    PROTO_ERR_SASL_AUTHENTICATION_FAILED = 58,
    PROTO_ERR_UNKNOWN_PRODUCER_ID = 59,
    PROTO_ERR_NON_EMPTY_GROUP = 68,
    PROTO_ERR_GROUP_ID_NOT_FOUND = 69,
    PROTO_ERR_FETCH_SESSION_ID_NOT_FOUND = 70,
    PROTO_ERR_INVALID_FETCH_SESSION_EPOCH = 71,
    PROTO_ERR_LISTENER_NOT_FOUND = 72,
    PROTO_ERR_FENCED_LEADER_EPOCH = 74,
    PROTO_ERR_UNKNOWN_LEADER_EPOCH = 75,
    PROTO_ERR_UNSUPPORTED_COMPRESSION_TYPE = 76,
    PROTO_ERR_OFFSET_NOT_AVAILABLE = 78,
    PROTO_ERR_MEMBER_ID_REQUIRED = 79,
    PROTO_ERR_GROUP_MAX_SIZE_REACHED = 81,
    PROTO_ERR_FENCED_INSTANCE_ID = 82,
    PROTO_ERR_GROUP_SUBSCRIBED_TO_TOPIC = 86,
    PROTO_ERR_INVALID_RECORD = 87,
    PROTO_ERR_UNSTABLE_OFFSET_COMMIT = 88,
    PROTO_ERR_PRODUCER_FENCED = 90,
    PROTO_ERR_RESOURCE_NOT_FOUND = 91,
    PROTO_ERR_UNKNOWN_TOPIC_ID = 100,
};

/* Kafka's name for an error code ("UNKNOWN_TOPIC_OR_PARTITION"), "UNKNOWN" if not known. */
const char *proto_error_name(int16_t code);

/* ---- 2. arena, reader, writer ---------------------------------------------------------------- */

/* A per-request bump allocator: everything decoded for one request is freed at once. */
struct proto_arena {
    struct proto_arena_chunk *head;
    size_t total; /* bytes allocated from the system, for limits and metrics */
};
void proto_arena_init(struct proto_arena *a);
/* Returns zeroed memory aligned to 16 bytes; aborts on exhaustion like rl_malloc. */
void *proto_arena_alloc(struct proto_arena *a, size_t size);
/* Frees everything but keeps the first chunk for reuse. */
void proto_arena_reset(struct proto_arena *a);
void proto_arena_destroy(struct proto_arena *a);

/* A bounded cursor over one frame. Every read checks `pos + n <= len`; the first failure sets
 * `err` (-EBADMSG) and every later read returns zeros, so decoders check err once at the end. */
struct proto_reader {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    int err;
};
void proto_reader_init(struct proto_reader *r, const void *buf, size_t len);
static inline size_t proto_reader_remaining(const struct proto_reader *r) {
    return r->err ? 0 : r->len - r->pos;
}

/* A growable output buffer (malloc-backed). */
struct proto_writer {
    uint8_t *buf;
    size_t len;
    size_t cap;
};
void proto_writer_init(struct proto_writer *w);
void proto_writer_reset(struct proto_writer *w); /* len = 0, keeps the memory */
void proto_writer_free(struct proto_writer *w);
/* Ensures room for n more bytes; returns a pointer to them (len is not advanced). */
uint8_t *proto_writer_reserve(struct proto_writer *w, size_t n);

/* ---- 3. primitives --------------------------------------------------------------------------- */
struct proto_str {
    const char *ptr;
    int32_t len; /* -1 = null */
};
struct proto_bytes {
    const uint8_t *ptr;
    int32_t len; /* -1 = null */
};
struct proto_uuid {
    uint8_t b[16];
};

#define PROTO_STR_NULL   ((struct proto_str){NULL, -1})
#define PROTO_BYTES_NULL ((struct proto_bytes){NULL, -1})
/* A proto_str over a C string (NULL gives a null string). */
struct proto_str proto_str_c(const char *s);
/* Compares with a C string; a null string equals nothing. */
bool proto_str_eq(struct proto_str s, const char *c);
/* Copies into a NUL-terminated heap string (rl_malloc); a null string gives NULL. */
char *proto_str_dup(struct proto_str s);

int8_t proto_read_i8(struct proto_reader *r);
int16_t proto_read_i16(struct proto_reader *r);
int32_t proto_read_i32(struct proto_reader *r);
int64_t proto_read_i64(struct proto_reader *r);
uint16_t proto_read_u16(struct proto_reader *r);
uint32_t proto_read_u32(struct proto_reader *r);
double proto_read_f64(struct proto_reader *r);
bool proto_read_bool(struct proto_reader *r);
int32_t proto_read_varint(struct proto_reader *r);   /* zigzag, at most 5 bytes */
int64_t proto_read_varlong(struct proto_reader *r);  /* zigzag, at most 10 bytes */
uint32_t proto_read_uvarint(struct proto_reader *r); /* unsigned, at most 5 bytes */
struct proto_uuid proto_read_uuid(struct proto_reader *r);
/* compact = flexible-version encoding (unsigned varint length + 1). */
struct proto_str proto_read_string(struct proto_reader *r, bool compact);
struct proto_bytes proto_read_bytes(struct proto_reader *r, bool compact);
/* Array length: -1 for null. Fails (err set, returns 0) when n * min_elem_size exceeds what is
 * left in the frame, before the caller allocates anything. */
int32_t proto_read_array_len(struct proto_reader *r, bool compact, size_t min_elem_size);
/* Skips a tagged-field section (count, then tag/size/bytes per field). */
void proto_skip_tagged_fields(struct proto_reader *r);

void proto_write_i8(struct proto_writer *w, int8_t v);
void proto_write_i16(struct proto_writer *w, int16_t v);
void proto_write_i32(struct proto_writer *w, int32_t v);
void proto_write_i64(struct proto_writer *w, int64_t v);
void proto_write_u16(struct proto_writer *w, uint16_t v);
void proto_write_u32(struct proto_writer *w, uint32_t v);
void proto_write_f64(struct proto_writer *w, double v);
void proto_write_bool(struct proto_writer *w, bool v);
void proto_write_varint(struct proto_writer *w, int32_t v);
void proto_write_varlong(struct proto_writer *w, int64_t v);
void proto_write_uvarint(struct proto_writer *w, uint32_t v);
void proto_write_uuid(struct proto_writer *w, struct proto_uuid v);
void proto_write_string(struct proto_writer *w, struct proto_str s, bool compact);
void proto_write_bytes(struct proto_writer *w, struct proto_bytes b, bool compact);
void proto_write_array_len(struct proto_writer *w, int32_t n, bool compact); /* -1 = null */
void proto_write_raw(struct proto_writer *w, const void *p, size_t n);
size_t proto_uvarint_size(uint32_t v);
size_t proto_varint_size(int32_t v);
size_t proto_varlong_size(int64_t v);

/* ---- 4. headers ------------------------------------------------------------------------------ */
struct proto_request_header {
    int16_t ApiKey;
    int16_t ApiVersion;
    int32_t CorrelationId;
    struct proto_str ClientId; /* null in header v0 */
};

/* Header versions as Kafka defines them: request v1 (v2 for flexible versions), response v0
 * (v1 for flexible versions); ApiVersions responses always use header v0. A key this build
 * does not know gives request header v1 / response header v0. */
int16_t proto_request_header_version(int16_t api_key, int16_t api_version);
int16_t proto_response_header_version(int16_t api_key, int16_t api_version);

/* Decodes a request header from the start of a frame (the 4-byte length already removed).
 * Decodes key, version and correlation id first; the rest depends on whether this build knows
 * the API and version: unknown ones are decoded as header v1 (what every client sends for
 * ApiVersions). Returns 0 or -EBADMSG. */
int proto_request_header_decode(struct proto_reader *r, struct proto_request_header *h);
void proto_request_header_encode(struct proto_writer *w, const struct proto_request_header *h);
void proto_response_header_encode(struct proto_writer *w, int16_t header_version,
                                  int32_t correlation_id);
int proto_response_header_decode(struct proto_reader *r, int16_t header_version,
                                 int32_t *correlation_id);

/* Frames: reserve the 4-byte size, write the body, then patch the size in. */
size_t proto_frame_begin(struct proto_writer *w);
void proto_frame_end(struct proto_writer *w, size_t frame_start);

/* ---- 5. generated messages ------------------------------------------------------------------- */
/* The API table (generated from the schema files): what this build implements per key. */
struct proto_api_info {
    int16_t key;
    const char *name;
    int16_t min_version, max_version;
    int16_t flexible_min; /* -1 = never flexible */
};
extern const struct proto_api_info proto_apis[]; /* sorted by key */
extern const size_t proto_n_apis;
const struct proto_api_info *proto_api_lookup(int16_t key); /* NULL if unknown */
/* Decode a request/response body of any known API into arena memory (fuzzing, validation).
 * Returns 0, -EBADMSG, or -ENOTSUP (unknown key or version). */
int proto_request_decode_any(int16_t key, int16_t version, struct proto_reader *r,
                             struct proto_arena *a);
int proto_response_decode_any(int16_t key, int16_t version, struct proto_reader *r,
                              struct proto_arena *a);

/* Also defines enum proto_api_key (PROTO_API_KEY_PRODUCE = 0, PROTO_API_KEY_API_VERSIONS = 18,
 * ...: Kafka's API name in upper snake case) and every message struct and function. */
#include "ringlet/protocol_messages.h"

/* ---- 6. RecordBatch v2 ----------------------------------------------------------------------- */
uint32_t proto_crc32c(uint32_t crc, const void *data, size_t len);          /* best available */
uint32_t proto_crc32c_portable(uint32_t crc, const void *data, size_t len); /* table-driven */
bool proto_crc32c_hw_available(void);

#define PROTO_BATCH_HEADER_SIZE 61 /* baseOffset .. recordCount */
#define PROTO_BATCH_OVERHEAD    12 /* baseOffset (8) + batchLength (4) */

/* Attributes bits. */
#define PROTO_ATTR_COMPRESSION_MASK 0x07
#define PROTO_ATTR_TIMESTAMP_TYPE   0x08 /* 1 = LogAppendTime */
#define PROTO_ATTR_TRANSACTIONAL    0x10
#define PROTO_ATTR_CONTROL          0x20

enum proto_compression {
    PROTO_COMPRESSION_NONE = 0,
    PROTO_COMPRESSION_GZIP = 1,
    PROTO_COMPRESSION_SNAPPY = 2,
    PROTO_COMPRESSION_LZ4 = 3,
    PROTO_COMPRESSION_ZSTD = 4,
};

/* Byte offsets of the v2 batch header fields. */
enum {
    PROTO_BATCH_OFF_BASE_OFFSET = 0,
    PROTO_BATCH_OFF_LENGTH = 8,
    PROTO_BATCH_OFF_LEADER_EPOCH = 12,
    PROTO_BATCH_OFF_MAGIC = 16,
    PROTO_BATCH_OFF_CRC = 17,
    PROTO_BATCH_OFF_ATTRIBUTES = 21,
    PROTO_BATCH_OFF_LAST_OFFSET_DELTA = 23,
    PROTO_BATCH_OFF_BASE_TIMESTAMP = 27,
    PROTO_BATCH_OFF_MAX_TIMESTAMP = 35,
    PROTO_BATCH_OFF_PRODUCER_ID = 43,
    PROTO_BATCH_OFF_PRODUCER_EPOCH = 51,
    PROTO_BATCH_OFF_BASE_SEQUENCE = 53,
    PROTO_BATCH_OFF_RECORD_COUNT = 57,
};

struct proto_batch_header {
    int64_t BaseOffset;
    int32_t BatchLength; /* bytes after this field */
    int32_t PartitionLeaderEpoch;
    int8_t Magic;
    uint32_t Crc;
    int16_t Attributes;
    int32_t LastOffsetDelta;
    int64_t BaseTimestamp;
    int64_t MaxTimestamp;
    int64_t ProducerId;
    int16_t ProducerEpoch;
    int32_t BaseSequence;
    int32_t RecordCount;
};

/* Parses the 61-byte header of the batch at buf (len bytes available). Checks only that the
 * header fits and the magic is 2. Returns 0, -EBADMSG, or -EAGAIN if len is too short for
 * the header. Does not check the CRC. */
int proto_batch_header_parse(const uint8_t *buf, size_t len, struct proto_batch_header *h);
/* Full validation of one batch that starts at buf: the whole batch fits in len, magic 2,
 * batchLength >= 49, CRC-32C over attributes..end, recordCount == lastOffsetDelta + 1 (for
 * non-empty batches), recordCount >= 0. On success fills h and returns 0; -EBADMSG otherwise. */
int proto_batch_validate(const uint8_t *buf, size_t len, struct proto_batch_header *h);
/* Walks a sequence of batches (a Produce request's records field): validates each, counts
 * batches and records. Returns 0 or -EBADMSG. */
int proto_batches_validate(const uint8_t *buf, size_t len, int *nbatches, int64_t *nrecords);
/* Stamps base offset and leader epoch in place (both outside the CRC). */
void proto_batch_set_base_offset(uint8_t *batch, int64_t base_offset);
void proto_batch_set_leader_epoch(uint8_t *batch, int32_t epoch);
/* Sets the max timestamp and the LogAppendTime attribute bit and recomputes the CRC. */
void proto_batch_set_log_append_time(uint8_t *batch, int64_t ts);

struct proto_record_header {
    struct proto_bytes key;
    struct proto_bytes value;
};
struct proto_record {
    int8_t Attributes;
    int64_t TimestampDelta;
    int32_t OffsetDelta;
    struct proto_bytes Key;   /* len -1 = null */
    struct proto_bytes Value; /* len -1 = null */
    int32_t n_Headers;
    struct proto_record_header *Headers; /* arena-allocated */
};

/* Iterates the records of one (already validated) batch. For compressed batches the records
 * are decompressed first into arena memory, capped at max_decompressed bytes. */
struct proto_record_iter {
    struct proto_reader r;
    int32_t remaining;
    struct proto_arena *arena;
};
int proto_record_iter_init(struct proto_record_iter *it, const uint8_t *batch, size_t len,
                           struct proto_arena *a, size_t max_decompressed);
/* Returns 1 with *rec filled, 0 at the end, -EBADMSG on a malformed record. */
int proto_record_iter_next(struct proto_record_iter *it, struct proto_record *rec);
/* Record-level validation of one batch (not on the append hot path): decompresses (capped at
 * max_decompressed, -EMSGSIZE beyond), parses every record within its declared length, checks
 * offset deltas 0..n-1 and that nothing follows the last record. Does not check the CRC (use
 * proto_batch_validate first). Returns 0, -EBADMSG, or -EMSGSIZE. */
int proto_batch_validate_records(const uint8_t *batch, size_t len, struct proto_arena *a,
                                 size_t max_decompressed);
/* Control batches (PROTO_ATTR_CONTROL) hold control records whose key is version i16, type i16
 * (0 = ABORT, 1 = COMMIT). Returns 0 or -EBADMSG. */
#define PROTO_CONTROL_ABORT  0
#define PROTO_CONTROL_COMMIT 1
int proto_control_record_parse(const struct proto_record *rec, int16_t *version, int16_t *type);

/* Builds a batch (for the client and tests). */
struct proto_batch_builder {
    struct proto_writer records; /* uncompressed record bodies */
    int64_t base_timestamp;
    int64_t max_timestamp;
    int32_t count;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int16_t attributes; /* transactional / control bits; compression set at finish */
};
void proto_batch_builder_init(struct proto_batch_builder *b, int64_t base_timestamp);
void proto_batch_builder_add(struct proto_batch_builder *b, int64_t timestamp,
                             struct proto_bytes key, struct proto_bytes value,
                             const struct proto_record_header *headers, int32_t n_headers);
/* Appends the finished batch (base offset 0, compressed with codec) to out. */
int proto_batch_builder_finish(struct proto_batch_builder *b, enum proto_compression codec,
                               struct proto_writer *out);
void proto_batch_builder_free(struct proto_batch_builder *b);

/* ---- 7. compression -------------------------------------------------------------------------- */
/* Compresses in into out (appended). snappy uses Kafka's xerial framing, lz4 the frame format. */
int proto_compress(enum proto_compression codec, const void *in, size_t len,
                   struct proto_writer *out);
/* Decompresses in into out (appended), failing with -EMSGSIZE before out would exceed max_out
 * bytes, and -EBADMSG on malformed input. snappy accepts both xerial-framed and raw blocks. */
int proto_decompress(enum proto_compression codec, const void *in, size_t len, size_t max_out,
                     struct proto_writer *out);

#endif /* RINGLET_PROTOCOL_H */
