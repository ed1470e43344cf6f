/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_batch.c - libFuzzer target for RecordBatch v2 parsing: proto_batches_validate over the
 * input as a Produce request's records, then, for each batch in it (with the CRC patched so the
 * fuzzer gets past the checksum), validation, record iteration (decompressing compressed
 * batches under a cap) and a rebuild of the decoded records with the builder, which must
 * validate and decode to the same keys and values.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ringlet/common.h"
#include "ringlet/protocol.h"

#define CAP (4u << 20)

static uint32_t ld32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void st32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static volatile uint8_t sink;

static void touch(struct proto_bytes b) {
    uint8_t x = 0;
    for (int32_t i = 0; i < b.len; i++)
        x ^= b.ptr[i];
    sink ^= x;
}

static bool same(struct proto_bytes a, struct proto_bytes b) {
    return a.len == b.len && (a.len <= 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

/* Iterates one batch; when it decodes cleanly, rebuilds it and checks the copy. */
static void check_batch(const uint8_t *batch, size_t len) {
    struct proto_arena a;
    proto_arena_init(&a);
    struct proto_record_iter it;
    struct proto_record rec;
    int rc = proto_record_iter_init(&it, batch, len, &a, CAP);
    if (rc < 0) {
        if (rc != -EBADMSG && rc != -EMSGSIZE) abort();
        proto_arena_destroy(&a);
        return;
    }
    struct proto_batch_builder b;
    proto_batch_builder_init(&b, 0);
    struct proto_record *recs = NULL;
    int32_t n = 0;
    while ((rc = proto_record_iter_next(&it, &rec)) == 1) {
        touch(rec.Key);
        touch(rec.Value);
        for (int32_t h = 0; h < rec.n_Headers; h++) {
            if (rec.Headers[h].key.len < 0) abort(); /* header keys are never null */
            touch(rec.Headers[h].key);
            touch(rec.Headers[h].value);
        }
        recs = realloc(recs, sizeof(*recs) * (size_t)(n + 1));
        recs[n++] = rec;
        proto_batch_builder_add(&b, rec.TimestampDelta, rec.Key, rec.Value, rec.Headers,
                                rec.n_Headers);
    }
    if (rc != 0 && rc != -EBADMSG) abort();
    if (rc == 0) {
        struct proto_writer w;
        proto_writer_init(&w);
        if (proto_batch_builder_finish(&b, PROTO_COMPRESSION_NONE, &w) != 0) abort();
        struct proto_batch_header h;
        if (proto_batch_validate(w.buf, w.len, &h) != 0 || h.RecordCount != n) abort();
        if (proto_batch_validate_records(w.buf, w.len, &a, CAP) != 0) abort();
        struct proto_record_iter it2;
        if (proto_record_iter_init(&it2, w.buf, w.len, &a, CAP) != 0) abort();
        for (int32_t i = 0; i < n; i++) {
            struct proto_record r2;
            if (proto_record_iter_next(&it2, &r2) != 1) abort();
            if (!same(r2.Key, recs[i].Key) || !same(r2.Value, recs[i].Value) ||
                r2.n_Headers != recs[i].n_Headers || r2.TimestampDelta != recs[i].TimestampDelta)
                abort();
        }
        proto_writer_free(&w);
    }
    free(recs);
    proto_batch_builder_free(&b);
    proto_arena_destroy(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int nb;
    int64_t nr;
    struct proto_batch_header h;

    (void)proto_batches_validate(data, size, &nb, &nr);
    (void)proto_batch_header_parse(data, size, &h);

    /* A private copy whose batch CRCs are patched, so the checks behind the CRC get fuzzed. */
    uint8_t *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    size_t pos = 0;
    while (size - pos >= PROTO_BATCH_HEADER_SIZE) {
        uint8_t *p = buf + pos;
        uint32_t blen = ld32(p + PROTO_BATCH_OFF_LENGTH);
        if (blen < PROTO_BATCH_HEADER_SIZE - PROTO_BATCH_OVERHEAD ||
            blen > size - pos - PROTO_BATCH_OVERHEAD)
            break;
        size_t total = blen + PROTO_BATCH_OVERHEAD;
        st32(p + PROTO_BATCH_OFF_CRC,
             proto_crc32c(0, p + PROTO_BATCH_OFF_ATTRIBUTES, total - PROTO_BATCH_OFF_ATTRIBUTES));
        int rc = proto_batch_validate(p, size - pos, &h);
        if (rc == 0) {
            if ((size_t)h.BatchLength + PROTO_BATCH_OVERHEAD != total) abort();
            proto_batch_set_base_offset(p, 1000);
            proto_batch_set_leader_epoch(p, 3);
            if (proto_batch_validate(p, size - pos, &h) != 0) abort();
            proto_batch_set_log_append_time(p, 123456789);
            if (proto_batch_validate(p, size - pos, &h) != 0) abort();
        } else if (rc != -EBADMSG) {
            abort();
        }
        /* The iterator re-checks everything itself, whether or not validation passed. */
        check_batch(p, size - pos);
        pos += total;
    }
    if (pos == size && proto_batches_validate(buf, size, &nb, &nr) == 0 && nr < 0) abort();
    free(buf);
    return 0;
}
