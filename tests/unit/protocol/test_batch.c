/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_batch.c - RecordBatch v2: builder -> validate -> iterate round trips for every codec,
 * the in-place stamping helpers, corrupt inputs (bad CRC, truncation, wrong magic, count
 * mismatches, bad batchLength, malformed records, decompression bombs), control batches, and
 * batches produced by real librdkafka (fixtures in data/, see data/README.md).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ringlet/common.h"
#include "ringlet/protocol.h"

#ifndef RECORDS_DATA_DIR
#define RECORDS_DATA_DIR "tests/unit/protocol/data"
#endif

#define CAP (64u << 20)

static const enum proto_compression codecs[] = {PROTO_COMPRESSION_NONE, PROTO_COMPRESSION_GZIP,
                                                PROTO_COMPRESSION_SNAPPY, PROTO_COMPRESSION_LZ4,
                                                PROTO_COMPRESSION_ZSTD};

static struct proto_bytes B(const char *s) {
    return (struct proto_bytes){(const uint8_t *)s, (int32_t)strlen(s)};
}

static void
put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void fix_crc(uint8_t *batch) {
    size_t total = get32(batch + PROTO_BATCH_OFF_LENGTH) + PROTO_BATCH_OVERHEAD;
    put32(batch + PROTO_BATCH_OFF_CRC,
          proto_crc32c(0, batch + PROTO_BATCH_OFF_ATTRIBUTES, total - PROTO_BATCH_OFF_ATTRIBUTES));
}

static bool bytes_eq(struct proto_bytes a, struct proto_bytes b) {
    if (a.len != b.len) return false;
    return a.len <= 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0;
}

/* The records every round-trip test writes: nulls, empty, headers, a large value. */
struct rec_in {
    int64_t ts;
    struct proto_bytes key, value;
    struct proto_record_header hdrs[3];
    int32_t nh;
};

static uint8_t big_value[200000];

static int make_records(struct rec_in *r, int64_t base) {
    int n = 0;
    for (size_t i = 0; i < sizeof(big_value); i++)
        big_value[i] = (uint8_t)("abcdefgh"[i % 8] + i / 4096);
    r[n++] = (struct rec_in){.ts = base,
                             .key = B("key-0"),
                             .value = B("value-0"),
                             .hdrs = {{B("h1"), B("v1")}},
                             .nh = 1};
    r[n++] = (struct rec_in){.ts = base + 5, .key = PROTO_BYTES_NULL, .value = B("no key")};
    r[n++] = (struct rec_in){.ts = base - 3, .key = B("k"), .value = PROTO_BYTES_NULL};
    r[n++] = (struct rec_in){
        .ts = base + 100000,
        .key = B(""),
        .value = B(""),
        .hdrs = {{B("a"), PROTO_BYTES_NULL}, {B("b"), B("")}, {B("trace-id"), B("0123456789")}},
        .nh = 3};
    r[n++] = (struct rec_in){
        .ts = base + 7, .key = B("big"), .value = {big_value, (int32_t)sizeof(big_value)}};
    for (int i = 0; i < 300; i++)
        r[n++] = (struct rec_in){
            .ts = base + i, .key = B("same-key"), .value = B("a fairly compressible value")};
    return n;
}

static void build(struct proto_writer *out, enum proto_compression codec, struct rec_in *r, int n,
                  int64_t base) {
    struct proto_batch_builder b;
    proto_batch_builder_init(&b, base);
    for (int i = 0; i < n; i++)
        proto_batch_builder_add(&b, r[i].ts, r[i].key, r[i].value, r[i].hdrs, r[i].nh);
    assert_int_equal(proto_batch_builder_finish(&b, codec, out), 0);
    proto_batch_builder_free(&b);
}

static void check_records(const uint8_t *batch, size_t len, struct rec_in *r, int n, int64_t base) {
    struct proto_arena a;
    proto_arena_init(&a);
    struct proto_record_iter it;
    struct proto_record rec;
    assert_int_equal(proto_record_iter_init(&it, batch, len, &a, CAP), 0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(proto_record_iter_next(&it, &rec), 1);
        assert_int_equal(rec.OffsetDelta, i);
        assert_int_equal(rec.TimestampDelta, r[i].ts - base);
        assert_true(bytes_eq(rec.Key, r[i].key));
        assert_true(bytes_eq(rec.Value, r[i].value));
        assert_int_equal(rec.n_Headers, r[i].nh);
        for (int h = 0; h < r[i].nh; h++) {
            assert_true(bytes_eq(rec.Headers[h].key, r[i].hdrs[h].key));
            assert_true(bytes_eq(rec.Headers[h].value, r[i].hdrs[h].value));
        }
    }
    assert_int_equal(proto_record_iter_next(&it, &rec), 0);
    assert_int_equal(proto_batch_validate_records(batch, len, &a, CAP), 0);
    proto_arena_destroy(&a);
}

static void test_roundtrip_all_codecs(void **state) {
    (void)state;
    static struct rec_in r[400];
    int64_t base = 1700000000000;
    int n = make_records(r, base);
    for (size_t c = 0; c < RL_ARRAY_SIZE(codecs); c++) {
        struct proto_writer w;
        proto_writer_init(&w);
        build(&w, codecs[c], r, n, base);
        struct proto_batch_header h;
        assert_int_equal(proto_batch_validate(w.buf, w.len, &h), 0);
        assert_int_equal(h.Magic, 2);
        assert_int_equal(h.BaseOffset, 0);
        assert_int_equal(h.PartitionLeaderEpoch, -1);
        assert_int_equal(h.BatchLength + PROTO_BATCH_OVERHEAD, w.len);
        assert_int_equal(h.RecordCount, n);
        assert_int_equal(h.LastOffsetDelta, n - 1);
        assert_int_equal(h.Attributes & PROTO_ATTR_COMPRESSION_MASK, codecs[c]);
        assert_int_equal(h.BaseTimestamp, base);
        assert_int_equal(h.MaxTimestamp, base + 100000);
        assert_int_equal(h.ProducerId, -1);
        assert_int_equal(h.ProducerEpoch, -1);
        assert_int_equal(h.BaseSequence, -1);
        if (codecs[c] != PROTO_COMPRESSION_NONE) assert_true(w.len < 100000);
        check_records(w.buf, w.len, r, n, base);
        proto_writer_free(&w);
    }
}

static void test_builder_fields_and_empty(void **state) {
    (void)state;
    struct proto_batch_builder b;
    struct proto_writer w;
    proto_writer_init(&w);
    proto_batch_builder_init(&b, 42);
    b.producer_id = 1000;
    b.producer_epoch = 3;
    b.base_sequence = 77;
    b.attributes = PROTO_ATTR_TRANSACTIONAL;
    proto_batch_builder_add(&b, 50, B("k"), B("v"), NULL, 0);
    proto_batch_builder_add(&b, 45, B("k"), B("v"), NULL, 0);
    assert_int_equal(proto_batch_builder_finish(&b, PROTO_COMPRESSION_NONE, &w), 0);
    struct proto_batch_header h;
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), 0);
    assert_int_equal(h.ProducerId, 1000);
    assert_int_equal(h.ProducerEpoch, 3);
    assert_int_equal(h.BaseSequence, 77);
    assert_int_equal(h.MaxTimestamp, 50);
    assert_int_equal(h.Attributes, PROTO_ATTR_TRANSACTIONAL);
    assert_int_equal(proto_batch_builder_finish(&b, (enum proto_compression)9, &w), -EINVAL);
    proto_batch_builder_free(&b);

    /* An empty batch is valid (compaction leaves those) and iterates to nothing. */
    proto_writer_reset(&w);
    proto_batch_builder_init(&b, 1);
    assert_int_equal(proto_batch_builder_finish(&b, PROTO_COMPRESSION_NONE, &w), 0);
    assert_int_equal(w.len, PROTO_BATCH_HEADER_SIZE);
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), 0);
    assert_int_equal(h.RecordCount, 0);
    struct proto_arena a;
    proto_arena_init(&a);
    struct proto_record_iter it;
    struct proto_record rec;
    assert_int_equal(proto_record_iter_init(&it, w.buf, w.len, &a, CAP), 0);
    assert_int_equal(proto_record_iter_next(&it, &rec), 0);
    proto_arena_destroy(&a);
    proto_batch_builder_free(&b);
    proto_writer_free(&w);
}

static void test_header_parse(void **state) {
    (void)state;
    struct proto_writer w;
    proto_writer_init(&w);
    struct proto_batch_builder b;
    proto_batch_builder_init(&b, 10);
    proto_batch_builder_add(&b, 10, B("k"), B("v"), NULL, 0);
    assert_int_equal(proto_batch_builder_finish(&b, PROTO_COMPRESSION_NONE, &w), 0);
    proto_batch_builder_free(&b);

    struct proto_batch_header h;
    assert_int_equal(proto_batch_header_parse(w.buf, PROTO_BATCH_HEADER_SIZE - 1, &h), -EAGAIN);
    assert_int_equal(proto_batch_header_parse(w.buf, 0, &h), -EAGAIN);
    assert_int_equal(proto_batch_header_parse(w.buf, PROTO_BATCH_HEADER_SIZE, &h), 0);
    assert_int_equal(h.RecordCount, 1);
    assert_int_equal(h.BatchLength + PROTO_BATCH_OVERHEAD, w.len);
    w.buf[PROTO_BATCH_OFF_MAGIC] = 1;
    assert_int_equal(proto_batch_header_parse(w.buf, w.len, &h), -EBADMSG);
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), -EBADMSG);
    proto_writer_free(&w);
}

static void test_stamping_keeps_crc(void **state) {
    (void)state;
    struct proto_writer w;
    proto_writer_init(&w);
    struct proto_batch_builder b;
    proto_batch_builder_init(&b, 1000);
    proto_batch_builder_add(&b, 1000, B("k"), B("v"), NULL, 0);
    proto_batch_builder_add(&b, 1001, B("k"), B("v"), NULL, 0);
    assert_int_equal(proto_batch_builder_finish(&b, PROTO_COMPRESSION_LZ4, &w), 0);
    proto_batch_builder_free(&b);

    struct proto_batch_header h;
    proto_batch_set_base_offset(w.buf, 0x123456789aLL);
    proto_batch_set_leader_epoch(w.buf, 17);
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), 0);
    assert_int_equal(h.BaseOffset, 0x123456789aLL);
    assert_int_equal(h.PartitionLeaderEpoch, 17);

    proto_batch_set_log_append_time(w.buf, 5555);
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), 0);
    assert_int_equal(h.MaxTimestamp, 5555);
    assert_int_equal(h.BaseTimestamp, 1000);
    assert_int_equal(h.Attributes, PROTO_ATTR_TIMESTAMP_TYPE | PROTO_COMPRESSION_LZ4);
    proto_writer_free(&w);
}

static void test_batches_validate(void **state) {
    (void)state;
    struct proto_writer w;
    proto_writer_init(&w);
    int64_t total = 0;
    for (int i = 0; i < 5; i++) {
        struct proto_batch_builder b;
        proto_batch_builder_init(&b, 0);
        for (int j = 0; j <= i; j++)
            proto_batch_builder_add(&b, j, B("k"), B("value"), NULL, 0);
        total += i + 1;
        assert_int_equal(proto_batch_builder_finish(&b, codecs[i], &w), 0);
        proto_batch_builder_free(&b);
    }
    int nb = -1;
    int64_t nr = -1;
    assert_int_equal(proto_batches_validate(w.buf, w.len, &nb, &nr), 0);
    assert_int_equal(nb, 5);
    assert_int_equal(nr, total);
    assert_int_equal(proto_batches_validate(w.buf, 0, &nb, &nr), 0);
    assert_int_equal(nb, 0);
    assert_int_equal(nr, 0);

    /* Any truncation point makes a partial trailing batch: an error, and outputs untouched. */
    for (size_t cut = 1; cut < w.len; cut += 7) {
        struct proto_batch_header h;
        size_t pos = 0, ends = 0;
        while (pos < w.len && proto_batch_validate(w.buf + pos, w.len - pos, &h) == 0) {
            pos += (size_t)h.BatchLength + PROTO_BATCH_OVERHEAD;
            if (pos == cut) ends = 1;
        }
        nb = -7;
        int rc = proto_batches_validate(w.buf, cut, &nb, &nr);
        if (ends) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, -EBADMSG);
            assert_int_equal(nb, -7);
        }
    }
    proto_writer_free(&w);
}

static void build_simple(struct proto_writer *w, int n) {
    struct proto_batch_builder b;
    proto_batch_builder_init(&b, 100);
    for (int i = 0; i < n; i++)
        proto_batch_builder_add(&b, 100 + i, B("key"), B("value"), NULL, 0);
    assert_int_equal(proto_batch_builder_finish(&b, PROTO_COMPRESSION_NONE, w), 0);
    proto_batch_builder_free(&b);
}

static void test_corrupt(void **state) {
    (void)state;
    struct proto_writer w;
    proto_writer_init(&w);
    build_simple(&w, 3);
    struct proto_batch_header h;
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), 0);

    /* Bad CRC: every byte the CRC covers matters; the stamped fields do not. */
    for (size_t i = PROTO_BATCH_OFF_ATTRIBUTES; i < w.len; i++) {
        w.buf[i] ^= 0x40;
        assert_int_equal(proto_batch_validate(w.buf, w.len, &h), -EBADMSG);
        w.buf[i] ^= 0x40;
    }
    w.buf[PROTO_BATCH_OFF_CRC] ^= 1;
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), -EBADMSG);
    w.buf[PROTO_BATCH_OFF_CRC] ^= 1;

    /* Truncated anywhere. */
    for (size_t n = 0; n < w.len; n++)
        assert_int_equal(proto_batch_validate(w.buf, n, &h), -EBADMSG);

    /* Wrong magic, even with a CRC that matches. */
    w.buf[PROTO_BATCH_OFF_MAGIC] = 1;
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), -EBADMSG);
    w.buf[PROTO_BATCH_OFF_MAGIC] = 2;

    /* recordCount / lastOffsetDelta mismatch (CRC recomputed so only the check can catch it). */
    put32(w.buf + PROTO_BATCH_OFF_RECORD_COUNT, 4);
    fix_crc(w.buf);
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), -EBADMSG);
    put32(w.buf + PROTO_BATCH_OFF_LAST_OFFSET_DELTA, 3);
    fix_crc(w.buf);
    /* Consistent header now, but only 3 records follow: the header check passes, the records
     * do not. */
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), 0);
    struct proto_arena a;
    proto_arena_init(&a);
    assert_int_equal(proto_batch_validate_records(w.buf, w.len, &a, CAP), -EBADMSG);
    put32(w.buf + PROTO_BATCH_OFF_RECORD_COUNT, 2);
    put32(w.buf + PROTO_BATCH_OFF_LAST_OFFSET_DELTA, 1);
    fix_crc(w.buf);
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), 0);
    /* Two declared, three present: trailing bytes. */
    assert_int_equal(proto_batch_validate_records(w.buf, w.len, &a, CAP), -EBADMSG);
    put32(w.buf + PROTO_BATCH_OFF_RECORD_COUNT, (uint32_t)-1);
    put32(w.buf + PROTO_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)-2);
    fix_crc(w.buf);
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), -EBADMSG);
    /* More records declared than bytes could hold. */
    put32(w.buf + PROTO_BATCH_OFF_RECORD_COUNT, 1000);
    put32(w.buf + PROTO_BATCH_OFF_LAST_OFFSET_DELTA, 999);
    fix_crc(w.buf);
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), -EBADMSG);
    put32(w.buf + PROTO_BATCH_OFF_RECORD_COUNT, 3);
    put32(w.buf + PROTO_BATCH_OFF_LAST_OFFSET_DELTA, 2);
    fix_crc(w.buf);
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), 0);

    /* batchLength out of bounds: too small, beyond the buffer, negative. */
    uint32_t blen = get32(w.buf + PROTO_BATCH_OFF_LENGTH);
    put32(w.buf + PROTO_BATCH_OFF_LENGTH, 48);
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), -EBADMSG);
    put32(w.buf + PROTO_BATCH_OFF_LENGTH, blen + 1);
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), -EBADMSG);
    put32(w.buf + PROTO_BATCH_OFF_LENGTH, 0x80000000u);
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), -EBADMSG);
    put32(w.buf + PROTO_BATCH_OFF_LENGTH, 0x7fffffffu);
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), -EBADMSG);
    put32(w.buf + PROTO_BATCH_OFF_LENGTH, blen);

    /* Unknown compression codec 5..7. */
    w.buf[PROTO_BATCH_OFF_ATTRIBUTES + 1] |= 5;
    fix_crc(w.buf);
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), -EBADMSG);
    w.buf[PROTO_BATCH_OFF_ATTRIBUTES + 1] &= (uint8_t)~7;
    fix_crc(w.buf);

    /* A record whose length runs past the batch (valid CRC). First record's length varint is at
     * the start of the records; make it huge. */
    uint8_t saved = w.buf[PROTO_BATCH_HEADER_SIZE];
    w.buf[PROTO_BATCH_HEADER_SIZE] = 0x7e; /* zigzag 63 > what is left in this record */
    fix_crc(w.buf);
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), 0);
    struct proto_record_iter it;
    struct proto_record rec;
    assert_int_equal(proto_record_iter_init(&it, w.buf, w.len, &a, CAP), 0);
    int rc = proto_record_iter_next(&it, &rec);
    assert_int_equal(rc, -EBADMSG);
    assert_int_equal(proto_record_iter_next(&it, &rec), -EBADMSG); /* stays failed */
    w.buf[PROTO_BATCH_HEADER_SIZE] = 0x01;                         /* negative length */
    fix_crc(w.buf);
    assert_int_equal(proto_batch_validate_records(w.buf, w.len, &a, CAP), -EBADMSG);
    w.buf[PROTO_BATCH_HEADER_SIZE] = saved;
    fix_crc(w.buf);
    assert_int_equal(proto_batch_validate_records(w.buf, w.len, &a, CAP), 0);

    /* A key length of -2 inside the first record. Record: len, attrs, tsDelta, offsetDelta,
     * keyLen at offset +4. */
    w.buf[PROTO_BATCH_HEADER_SIZE + 4] = 0x03; /* zigzag -2 */
    fix_crc(w.buf);
    assert_int_equal(proto_batch_validate_records(w.buf, w.len, &a, CAP), -EBADMSG);
    proto_arena_destroy(&a);
    proto_writer_free(&w);
}

static void test_bomb(void **state) {
    (void)state;
    /* 8 MiB of zeros compresses to almost nothing; a 1 MiB cap must refuse it with -EMSGSIZE
     * (before allocating the full size) while a bigger cap accepts it. */
    size_t n = 8u << 20;
    uint8_t *zeros = calloc(1, n);
    assert_non_null(zeros);
    for (size_t c = 1; c < RL_ARRAY_SIZE(codecs); c++) {
        struct proto_batch_builder b;
        struct proto_writer w;
        proto_writer_init(&w);
        proto_batch_builder_init(&b, 0);
        proto_batch_builder_add(&b, 0, PROTO_BYTES_NULL, (struct proto_bytes){zeros, (int32_t)n},
                                NULL, 0);
        assert_int_equal(proto_batch_builder_finish(&b, codecs[c], &w), 0);
        proto_batch_builder_free(&b);
        assert_true(w.len < n / 8);
        struct proto_batch_header h;
        assert_int_equal(proto_batch_validate(w.buf, w.len, &h), 0);
        struct proto_arena a;
        proto_arena_init(&a);
        struct proto_record_iter it;
        assert_int_equal(proto_record_iter_init(&it, w.buf, w.len, &a, 1u << 20), -EMSGSIZE);
        assert_int_equal(proto_batch_validate_records(w.buf, w.len, &a, 1u << 20), -EMSGSIZE);
        assert_int_equal(proto_batch_validate_records(w.buf, w.len, &a, 16u << 20), 0);
        proto_arena_destroy(&a);
        proto_writer_free(&w);
    }
    free(zeros);
}

static void test_control_batch(void **state) {
    (void)state;
    /* A COMMIT marker as a transaction coordinator writes it: key = version 0, type 1;
     * value = version 0, coordinator epoch. */
    static const uint8_t key[4] = {0, 0, 0, 1};
    static const uint8_t value[6] = {0, 0, 0, 0, 0, 5};
    struct proto_batch_builder b;
    struct proto_writer w;
    proto_writer_init(&w);
    proto_batch_builder_init(&b, 99);
    b.attributes = PROTO_ATTR_CONTROL | PROTO_ATTR_TRANSACTIONAL;
    b.producer_id = 4000;
    b.producer_epoch = 0;
    proto_batch_builder_add(&b, 99, (struct proto_bytes){key, 4}, (struct proto_bytes){value, 6},
                            NULL, 0);
    assert_int_equal(proto_batch_builder_finish(&b, PROTO_COMPRESSION_NONE, &w), 0);
    proto_batch_builder_free(&b);

    struct proto_batch_header h;
    assert_int_equal(proto_batch_validate(w.buf, w.len, &h), 0);
    assert_true(h.Attributes & PROTO_ATTR_CONTROL);
    struct proto_arena a;
    proto_arena_init(&a);
    struct proto_record_iter it;
    struct proto_record rec;
    assert_int_equal(proto_record_iter_init(&it, w.buf, w.len, &a, CAP), 0);
    assert_int_equal(proto_record_iter_next(&it, &rec), 1);
    int16_t ver = -1, type = -1;
    assert_int_equal(proto_control_record_parse(&rec, &ver, &type), 0);
    assert_int_equal(ver, 0);
    assert_int_equal(type, PROTO_CONTROL_COMMIT);
    struct proto_record bad = rec;
    bad.Key.len = 3;
    assert_int_equal(proto_control_record_parse(&bad, &ver, &type), -EBADMSG);
    bad.Key = PROTO_BYTES_NULL;
    assert_int_equal(proto_control_record_parse(&bad, &ver, &type), -EBADMSG);
    proto_arena_destroy(&a);
    proto_writer_free(&w);
}

/* ---- librdkafka fixtures --------------------------------------------------------------------
 * data/rdkafka_<codec>.bin: the records bytes of a Fetch response from a librdkafka mock
 * cluster after librdkafka produced 200 messages "key-<i>" / "value-<i> ..." with that codec
 * (generated by gen_rdkafka_fixtures.c). */
static uint8_t *read_file(const char *name, size_t *len) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", RECORDS_DATA_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void test_librdkafka_fixtures(void **state) {
    (void)state;
    static const char *names[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    for (size_t c = 0; c < RL_ARRAY_SIZE(names); c++) {
        char file[64];
        snprintf(file, sizeof(file), "rdkafka_%s.bin", names[c]);
        size_t len = 0;
        uint8_t *buf = read_file(file, &len);
        if (!buf) fail_msg("missing fixture %s/%s", RECORDS_DATA_DIR, file);
        int nb = 0;
        int64_t nr = 0;
        assert_int_equal(proto_batches_validate(buf, len, &nb, &nr), 0);
        assert_true(nb >= 1);
        assert_int_equal(nr, 200);

        struct proto_arena a;
        proto_arena_init(&a);
        size_t pos = 0;
        int idx = 0;
        while (pos < len) {
            struct proto_batch_header h;
            assert_int_equal(proto_batch_validate(buf + pos, len - pos, &h), 0);
            assert_int_equal(h.Attributes & PROTO_ATTR_COMPRESSION_MASK, (int)c);
            struct proto_record_iter it;
            struct proto_record rec;
            assert_int_equal(proto_record_iter_init(&it, buf + pos, len - pos, &a, CAP), 0);
            int rc;
            while ((rc = proto_record_iter_next(&it, &rec)) == 1) {
                char want[32];
                snprintf(want, sizeof(want), "key-%d", idx);
                assert_int_equal(rec.Key.len, strlen(want));
                assert_memory_equal(rec.Key.ptr, want, strlen(want));
                snprintf(want, sizeof(want), "value-%d ", idx);
                assert_true(rec.Value.len > (int32_t)strlen(want));
                assert_memory_equal(rec.Value.ptr, want, strlen(want));
                assert_int_equal(h.BaseOffset + rec.OffsetDelta, idx);
                idx++;
            }
            assert_int_equal(rc, 0);
            pos += (size_t)h.BatchLength + PROTO_BATCH_OVERHEAD;
        }
        assert_int_equal(idx, 200);
        proto_arena_destroy(&a);
        free(buf);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_codecs),
        cmocka_unit_test(test_builder_fields_and_empty),
        cmocka_unit_test(test_header_parse),
        cmocka_unit_test(test_stamping_keeps_crc),
        cmocka_unit_test(test_batches_validate),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_bomb),
        cmocka_unit_test(test_control_batch),
        cmocka_unit_test(test_librdkafka_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
