/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record_batch.c - Kafka RecordBatch v2 (magic 2): header parsing, validation of one batch or of
 * a Produce request's concatenated batches, in-place stamping of the fields outside the CRC,
 * record iteration (decompressing first when needed) and a batch builder.
 *
 * Layout (big-endian):
 *   baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 | crc u32 |
 *   attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 |
 *   producerId i64 | producerEpoch i16 | baseSequence i32 | recordCount i32 | records...
 * batchLength counts the bytes after itself; the CRC-32C covers attributes..end, so base offset,
 * leader epoch (and batchLength) can be rewritten without recomputing it.
 *
 * Record: length varint | attributes i8 | timestampDelta varlong | offsetDelta varint |
 *   keyLength varint (-1 null) | key | valueLength varint (-1 null) | value |
 *   headerCount varint | { headerKeyLength varint | key | headerValueLength varint | value }*
 *
 * Validation never reads outside [buf, buf + len): every length is checked against what is left
 * before it is used. The hot path (proto_batch_validate) touches only the header and the CRC;
 * record-level checks are in the iterator and proto_batch_validate_records.
 */
#include <errno.h>
#include <string.h>

#include "ringlet/common.h"
#include "ringlet/protocol.h"

/* The smallest record: length, attributes, timestampDelta, offsetDelta, keyLength, valueLength
 * and headerCount each take at least one byte. */
#define RECORD_MIN_SIZE 7
/* batchLength of a batch with no records: everything after batchLength in the header. */
#define BATCH_MIN_LENGTH (PROTO_BATCH_HEADER_SIZE - PROTO_BATCH_OVERHEAD)
/* The first byte the CRC covers. */
#define CRC_START PROTO_BATCH_OFF_ATTRIBUTES

static inline uint16_t ld16(const uint8_t *p) {
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t ld32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t ld64(const uint8_t *p) {
    return (uint64_t)ld32(p) << 32 | ld32(p + 4);
}
static inline void st16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void st32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void st64(uint8_t *p, uint64_t v) {
    st32(p, (uint32_t)(v >> 32));
    st32(p + 4, (uint32_t)v);
}

int proto_batch_header_parse(const uint8_t *buf, size_t len, struct proto_batch_header *h) {
    if (len < PROTO_BATCH_HEADER_SIZE) return -EAGAIN;
    if ((int8_t)buf[PROTO_BATCH_OFF_MAGIC] != 2) return -EBADMSG;
    h->BaseOffset = (int64_t)ld64(buf + PROTO_BATCH_OFF_BASE_OFFSET);
    h->BatchLength = (int32_t)ld32(buf + PROTO_BATCH_OFF_LENGTH);
    h->PartitionLeaderEpoch = (int32_t)ld32(buf + PROTO_BATCH_OFF_LEADER_EPOCH);
    h->Magic = (int8_t)buf[PROTO_BATCH_OFF_MAGIC];
    h->Crc = ld32(buf + PROTO_BATCH_OFF_CRC);
    h->Attributes = (int16_t)ld16(buf + PROTO_BATCH_OFF_ATTRIBUTES);
    h->LastOffsetDelta = (int32_t)ld32(buf + PROTO_BATCH_OFF_LAST_OFFSET_DELTA);
    h->BaseTimestamp = (int64_t)ld64(buf + PROTO_BATCH_OFF_BASE_TIMESTAMP);
    h->MaxTimestamp = (int64_t)ld64(buf + PROTO_BATCH_OFF_MAX_TIMESTAMP);
    h->ProducerId = (int64_t)ld64(buf + PROTO_BATCH_OFF_PRODUCER_ID);
    h->ProducerEpoch = (int16_t)ld16(buf + PROTO_BATCH_OFF_PRODUCER_EPOCH);
    h->BaseSequence = (int32_t)ld32(buf + PROTO_BATCH_OFF_BASE_SEQUENCE);
    h->RecordCount = (int32_t)ld32(buf + PROTO_BATCH_OFF_RECORD_COUNT);
    return 0;
}

/* The header checks shared by validation and iteration (everything but the CRC). */
static int batch_check_header(const uint8_t *buf, size_t len, struct proto_batch_header *h) {
    int rc = proto_batch_header_parse(buf, len, h);
    if (rc < 0) return -EBADMSG;
    if (h->BatchLength < BATCH_MIN_LENGTH) return -EBADMSG;
    if ((size_t)h->BatchLength + PROTO_BATCH_OVERHEAD > len) return -EBADMSG;
    if ((h->Attributes & PROTO_ATTR_COMPRESSION_MASK) > PROTO_COMPRESSION_ZSTD) return -EBADMSG;
    if (h->RecordCount < 0) return -EBADMSG;
    if (h->RecordCount > 0 && h->LastOffsetDelta != h->RecordCount - 1) return -EBADMSG;
    /* Uncompressed records occupy at least RECORD_MIN_SIZE bytes each. */
    if ((h->Attributes & PROTO_ATTR_COMPRESSION_MASK) == PROTO_COMPRESSION_NONE &&
        (uint64_t)h->RecordCount * RECORD_MIN_SIZE > (uint64_t)(h->BatchLength - BATCH_MIN_LENGTH))
        return -EBADMSG;
    return 0;
}

int proto_batch_validate(const uint8_t *buf, size_t len, struct proto_batch_header *h) {
    struct proto_batch_header hh;
    int rc = batch_check_header(buf, len, &hh);
    if (rc < 0) return rc;
    size_t crc_len = (size_t)hh.BatchLength + PROTO_BATCH_OVERHEAD - CRC_START;
    if (proto_crc32c(0, buf + CRC_START, crc_len) != hh.Crc) return -EBADMSG;
    *h = hh;
    return 0;
}

int proto_batches_validate(const uint8_t *buf, size_t len, int *nbatches, int64_t *nrecords) {
    size_t pos = 0;
    int nb = 0;
    int64_t nr = 0;

    while (pos < len) {
        struct proto_batch_header h;
        /* A trailing partial batch (Kafka's fetch responses may end with one, a Produce
         * request may not) fails here too: validate needs the whole batch. */
        int rc = proto_batch_validate(buf + pos, len - pos, &h);
        if (rc < 0) return rc;
        pos += (size_t)h.BatchLength + PROTO_BATCH_OVERHEAD;
        nb++;
        nr += h.RecordCount;
    }
    *nbatches = nb;
    *nrecords = nr;
    return 0;
}

void proto_batch_set_base_offset(uint8_t *batch, int64_t base_offset) {
    st64(batch + PROTO_BATCH_OFF_BASE_OFFSET, (uint64_t)base_offset);
}

void proto_batch_set_leader_epoch(uint8_t *batch, int32_t epoch) {
    st32(batch + PROTO_BATCH_OFF_LEADER_EPOCH, (uint32_t)epoch);
}

void proto_batch_set_log_append_time(uint8_t *batch, int64_t ts) {
    int32_t blen = (int32_t)ld32(batch + PROTO_BATCH_OFF_LENGTH);
    RL_BUG_ON(blen < BATCH_MIN_LENGTH);
    uint16_t attrs = ld16(batch + PROTO_BATCH_OFF_ATTRIBUTES);
    st16(batch + PROTO_BATCH_OFF_ATTRIBUTES, (uint16_t)(attrs | PROTO_ATTR_TIMESTAMP_TYPE));
    st64(batch + PROTO_BATCH_OFF_MAX_TIMESTAMP, (uint64_t)ts);
    size_t crc_len = (size_t)blen + PROTO_BATCH_OVERHEAD - CRC_START;
    st32(batch + PROTO_BATCH_OFF_CRC, proto_crc32c(0, batch + CRC_START, crc_len));
}

/* ---- record iteration ------------------------------------------------------------------------ */

int proto_record_iter_init(struct proto_record_iter *it, const uint8_t *batch, size_t len,
                           struct proto_arena *a, size_t max_decompressed) {
    struct proto_batch_header h;
    int rc = batch_check_header(batch, len, &h);
    if (rc < 0) return rc;

    const uint8_t *recs = batch + PROTO_BATCH_HEADER_SIZE;
    size_t recs_len = (size_t)h.BatchLength - BATCH_MIN_LENGTH;
    int codec = h.Attributes & PROTO_ATTR_COMPRESSION_MASK;
    if (codec != PROTO_COMPRESSION_NONE) {
        struct proto_writer w;
        proto_writer_init(&w);
        rc = proto_decompress((enum proto_compression)codec, recs, recs_len, max_decompressed, &w);
        if (rc < 0) {
            proto_writer_free(&w);
            return rc;
        }
        uint8_t *copy = proto_arena_alloc(a, w.len ? w.len : 1);
        if (w.len) memcpy(copy, w.buf, w.len);
        recs = copy;
        recs_len = w.len;
        proto_writer_free(&w);
        /* Each decompressed record still takes RECORD_MIN_SIZE bytes. */
        if ((uint64_t)h.RecordCount * RECORD_MIN_SIZE > recs_len) return -EBADMSG;
    }
    proto_reader_init(&it->r, recs, recs_len);
    it->remaining = h.RecordCount;
    it->arena = a;
    return 0;
}

/* Reads a varint length and the bytes it announces; -1 gives a null. */
static struct proto_bytes read_var_bytes(struct proto_reader *r, bool allow_null) {
    int32_t n = proto_read_varint(r);
    if (r->err) return PROTO_BYTES_NULL;
    if (n < 0) {
        if (n != -1 || !allow_null) r->err = -EBADMSG;
        return PROTO_BYTES_NULL;
    }
    if ((size_t)n > r->len - r->pos) {
        r->err = -EBADMSG;
        return PROTO_BYTES_NULL;
    }
    struct proto_bytes b = {r->buf + r->pos, n};
    r->pos += (size_t)n;
    return b;
}

int proto_record_iter_next(struct proto_record_iter *it, struct proto_record *rec) {
    struct proto_reader *r = &it->r;

    if (r->err) return -EBADMSG;
    if (it->remaining <= 0) {
        /* Bytes after the declared number of records mean a wrong count or batch size. */
        return r->pos == r->len ? 0 : -EBADMSG;
    }
    int32_t rlen = proto_read_varint(r);
    if (r->err || rlen < RECORD_MIN_SIZE - 1 || (size_t)rlen > r->len - r->pos) goto bad;

    /* Parse the record inside its own bounds and require it to use all of them. */
    struct proto_reader sub;
    proto_reader_init(&sub, r->buf + r->pos, (size_t)rlen);
    r->pos += (size_t)rlen;

    struct proto_record out;
    out.Attributes = proto_read_i8(&sub);
    out.TimestampDelta = proto_read_varlong(&sub);
    out.OffsetDelta = proto_read_varint(&sub);
    out.Key = read_var_bytes(&sub, true);
    out.Value = read_var_bytes(&sub, true);
    int32_t nh = proto_read_varint(&sub);
    if (sub.err || nh < 0) goto bad;
    /* Each header takes at least two bytes: bound the count before allocating. */
    if ((size_t)nh > (sub.len - sub.pos) / 2) goto bad;
    out.n_Headers = nh;
    out.Headers = NULL;
    if (nh > 0) {
        out.Headers = proto_arena_alloc(it->arena, (size_t)nh * sizeof(*out.Headers));
        for (int32_t i = 0; i < nh; i++) {
            out.Headers[i].key = read_var_bytes(&sub, false);
            out.Headers[i].value = read_var_bytes(&sub, true);
        }
    }
    if (sub.err || sub.pos != sub.len) goto bad;
    it->remaining--;
    *rec = out;
    return 1;
bad:
    r->err = -EBADMSG;
    return -EBADMSG;
}

int proto_batch_validate_records(const uint8_t *batch, size_t len, struct proto_arena *a,
                                 size_t max_decompressed) {
    struct proto_record_iter it;
    struct proto_record rec;
    int rc = proto_record_iter_init(&it, batch, len, a, max_decompressed);
    if (rc < 0) return rc;
    int32_t i = 0;
    while ((rc = proto_record_iter_next(&it, &rec)) == 1) {
        if (rec.OffsetDelta != i) return -EBADMSG;
        i++;
    }
    return rc;
}

int proto_control_record_parse(const struct proto_record *rec, int16_t *version, int16_t *type) {
    if (rec->Key.len < 4) return -EBADMSG;
    int16_t v = (int16_t)ld16(rec->Key.ptr);
    if (v < 0) return -EBADMSG;
    *version = v;
    *type = (int16_t)ld16(rec->Key.ptr + 2);
    return 0;
}

/* ---- builder --------------------------------------------------------------------------------- */

void proto_batch_builder_init(struct proto_batch_builder *b, int64_t base_timestamp) {
    memset(b, 0, sizeof(*b));
    proto_writer_init(&b->records);
    b->base_timestamp = base_timestamp;
    b->max_timestamp = base_timestamp;
    b->count = 0;
    b->producer_id = -1;
    b->producer_epoch = -1;
    b->base_sequence = -1;
    b->attributes = 0;
}

static size_t var_bytes_size(struct proto_bytes v) {
    return v.len < 0 ? proto_varint_size(-1) : proto_varint_size(v.len) + (size_t)v.len;
}

static void write_var_bytes(struct proto_writer *w, struct proto_bytes v) {
    if (v.len < 0) {
        proto_write_varint(w, -1);
        return;
    }
    proto_write_varint(w, v.len);
    if (v.len > 0) proto_write_raw(w, v.ptr, (size_t)v.len);
}

void proto_batch_builder_add(struct proto_batch_builder *b, int64_t timestamp,
                             struct proto_bytes key, struct proto_bytes value,
                             const struct proto_record_header *headers, int32_t n_headers) {
    /* Wraps rather than overflows on absurd timestamps (the wire format would wrap too). */
    int64_t delta = (int64_t)((uint64_t)timestamp - (uint64_t)b->base_timestamp);
    int32_t offset_delta = b->count;
    size_t body = 1 + proto_varlong_size(delta) + proto_varint_size(offset_delta) +
                  var_bytes_size(key) + var_bytes_size(value) + proto_varint_size(n_headers);
    for (int32_t i = 0; i < n_headers; i++)
        body += var_bytes_size(headers[i].key) + var_bytes_size(headers[i].value);
    RL_BUG_ON(body > INT32_MAX);

    struct proto_writer *w = &b->records;
    proto_write_varint(w, (int32_t)body);
    proto_write_i8(w, 0);
    proto_write_varlong(w, delta);
    proto_write_varint(w, offset_delta);
    write_var_bytes(w, key);
    write_var_bytes(w, value);
    proto_write_varint(w, n_headers);
    for (int32_t i = 0; i < n_headers; i++) {
        write_var_bytes(w, headers[i].key);
        write_var_bytes(w, headers[i].value);
    }
    if (b->count == 0 || timestamp > b->max_timestamp) b->max_timestamp = timestamp;
    b->count++;
}

int proto_batch_builder_finish(struct proto_batch_builder *b, enum proto_compression codec,
                               struct proto_writer *out) {
    if ((unsigned)codec > PROTO_COMPRESSION_ZSTD) return -EINVAL;
    size_t start = out->len;
    proto_write_i64(out, 0);  /* baseOffset */
    proto_write_i32(out, 0);  /* batchLength, patched below */
    proto_write_i32(out, -1); /* partitionLeaderEpoch: producers send -1 */
    proto_write_i8(out, 2);   /* magic */
    proto_write_u32(out, 0);  /* crc, patched below */
    proto_write_i16(out, (int16_t)((b->attributes & ~PROTO_ATTR_COMPRESSION_MASK) | codec));
    proto_write_i32(out, b->count - 1);
    proto_write_i64(out, b->base_timestamp);
    proto_write_i64(out, b->count ? b->max_timestamp : b->base_timestamp);
    proto_write_i64(out, b->producer_id);
    proto_write_i16(out, b->producer_epoch);
    proto_write_i32(out, b->base_sequence);
    proto_write_i32(out, b->count);
    if (codec == PROTO_COMPRESSION_NONE) {
        if (b->records.len) proto_write_raw(out, b->records.buf, b->records.len);
    } else {
        int rc = proto_compress(codec, b->records.buf, b->records.len, out);
        if (rc < 0) {
            out->len = start;
            return rc;
        }
    }
    size_t total = out->len - start;
    if (total - PROTO_BATCH_OVERHEAD > INT32_MAX) {
        out->len = start;
        return -EMSGSIZE;
    }
    uint8_t *p = out->buf + start;
    st32(p + PROTO_BATCH_OFF_LENGTH, (uint32_t)(total - PROTO_BATCH_OVERHEAD));
    st32(p + PROTO_BATCH_OFF_CRC, proto_crc32c(0, p + CRC_START, total - CRC_START));
    return 0;
}

void proto_batch_builder_free(struct proto_batch_builder *b) {
    proto_writer_free(&b->records);
    b->count = 0;
}
