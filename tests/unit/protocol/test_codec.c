/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_codec.c - unit tests of protocol/codec.c and the generated messages: primitive encodings
 * against known bytes, the arena, the writer and frames, header versions, golden frames as real
 * clients send them, and malformed input (huge counts, negative lengths, truncation, over-long
 * varints, unknown and oversized tagged fields).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ringlet/common.h"
#include "ringlet/protocol.h"

/* Copies bytes into an exact-size heap buffer so ASan flags any read past the end. */
static uint8_t *dup_exact(const void *p, size_t n) {
    uint8_t *d = malloc(n ? n : 1);
    memcpy(d, p, n);
    return d;
}

static void assert_writer_bytes(const struct proto_writer *w, const void *want, size_t n) {
    assert_int_equal(w->len, n);
    assert_memory_equal(w->buf, want, n);
}

/* ---- primitives ------------------------------------------------------------------------------ */

static void test_fixed_ints(void **state) {
    (void)state;
    struct proto_writer w;
    proto_writer_init(&w);
    proto_write_i8(&w, -2);
    proto_write_i16(&w, 0x1234);
    proto_write_i32(&w, -2);
    proto_write_i64(&w, 0x0102030405060708LL);
    proto_write_u16(&w, 0xfffe);
    proto_write_bool(&w, true);
    proto_write_f64(&w, 1.0);
    static const uint8_t want[] = {0xfe, 0x12, 0x34, 0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4, 5, 6,
                                   7,    8,    0xff, 0xfe, 0x01, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0};
    assert_writer_bytes(&w, want, sizeof(want));

    struct proto_reader r;
    proto_reader_init(&r, w.buf, w.len);
    assert_int_equal(proto_read_i8(&r), -2);
    assert_int_equal(proto_read_i16(&r), 0x1234);
    assert_int_equal(proto_read_i32(&r), -2);
    assert_true(proto_read_i64(&r) == 0x0102030405060708LL);
    assert_int_equal(proto_read_u16(&r), 0xfffe);
    assert_true(proto_read_bool(&r));
    assert_true(proto_read_f64(&r) == 1.0);
    assert_int_equal(r.err, 0);
    assert_int_equal(proto_reader_remaining(&r), 0);
    /* Reading past the end sets a sticky error and returns zeros. */
    assert_int_equal(proto_read_i32(&r), 0);
    assert_int_equal(r.err, -EBADMSG);
    r.pos = 0;
    assert_int_equal(proto_read_i8(&r), 0);
    assert_int_equal(proto_reader_remaining(&r), 0);
    proto_writer_free(&w);
}

static void test_varints_golden(void **state) {
    (void)state;
    struct {
        int32_t v;
        uint8_t b[5];
        size_t n;
    } zz[] = {
        {0, {0x00}, 1},
        {-1, {0x01}, 1},
        {1, {0x02}, 1},
        {-64, {0x7f}, 1},
        {64, {0x80, 0x01}, 2},
        {150, {0xac, 0x02}, 2},
        {INT32_MAX, {0xfe, 0xff, 0xff, 0xff, 0x0f}, 5},
        {INT32_MIN, {0xff, 0xff, 0xff, 0xff, 0x0f}, 5},
    };
    for (size_t i = 0; i < sizeof(zz) / sizeof(zz[0]); i++) {
        struct proto_writer w;
        proto_writer_init(&w);
        proto_write_varint(&w, zz[i].v);
        assert_writer_bytes(&w, zz[i].b, zz[i].n);
        assert_int_equal(proto_varint_size(zz[i].v), zz[i].n);
        struct proto_reader r;
        proto_reader_init(&r, w.buf, w.len);
        assert_int_equal(proto_read_varint(&r), zz[i].v);
        assert_int_equal(r.err, 0);
        proto_writer_free(&w);
    }
    /* unsigned */
    struct proto_writer w;
    proto_writer_init(&w);
    proto_write_uvarint(&w, 300);
    proto_write_uvarint(&w, UINT32_MAX);
    static const uint8_t uw[] = {0xac, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f};
    assert_writer_bytes(&w, uw, sizeof(uw));
    assert_int_equal(proto_uvarint_size(300), 2);
    assert_int_equal(proto_uvarint_size(UINT32_MAX), 5);
    struct proto_reader r;
    proto_reader_init(&r, w.buf, w.len);
    assert_int_equal(proto_read_uvarint(&r), 300);
    assert_int_equal(proto_read_uvarint(&r), UINT32_MAX);
    assert_int_equal(r.err, 0);
    proto_writer_free(&w);

    /* varlong */
    int64_t lv[] = {0, -1, 1, INT64_MAX, INT64_MIN, 1234567890123LL};
    for (size_t i = 0; i < sizeof(lv) / sizeof(lv[0]); i++) {
        proto_writer_init(&w);
        proto_write_varlong(&w, lv[i]);
        assert_int_equal(w.len, proto_varlong_size(lv[i]));
        proto_reader_init(&r, w.buf, w.len);
        assert_true(proto_read_varlong(&r) == lv[i]);
        assert_int_equal(r.err, 0);
        assert_int_equal(r.pos, w.len);
        proto_writer_free(&w);
    }
    assert_int_equal(proto_varlong_size(INT64_MIN), 10);
}

static void test_varint_overlong(void **state) {
    (void)state;
    struct proto_reader r;
    /* Continuation bit on the 5th byte. */
    static const uint8_t a[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    proto_reader_init(&r, a, sizeof(a));
    proto_read_uvarint(&r);
    assert_int_equal(r.err, -EBADMSG);
    /* Bits beyond 32 in the 5th byte. */
    static const uint8_t b[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
    proto_reader_init(&r, b, sizeof(b));
    proto_read_varint(&r);
    assert_int_equal(r.err, -EBADMSG);
    /* Truncated varint. */
    uint8_t *c = dup_exact("\x80\x80", 2);
    proto_reader_init(&r, c, 2);
    proto_read_uvarint(&r);
    assert_int_equal(r.err, -EBADMSG);
    free(c);
    /* varlong: 11 bytes, and a 10th byte > 1. */
    static const uint8_t d[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    proto_reader_init(&r, d, sizeof(d));
    proto_read_varlong(&r);
    assert_int_equal(r.err, -EBADMSG);
    static const uint8_t e[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    proto_reader_init(&r, e, sizeof(e));
    proto_read_varlong(&r);
    assert_int_equal(r.err, -EBADMSG);
}

static void test_strings_bytes(void **state) {
    (void)state;
    struct proto_writer w;
    proto_writer_init(&w);
    proto_write_string(&w, proto_str_c("abc"), false);
    proto_write_string(&w, PROTO_STR_NULL, false);
    proto_write_string(&w, proto_str_c("abc"), true);
    proto_write_string(&w, PROTO_STR_NULL, true);
    proto_write_bytes(&w, (struct proto_bytes){(const uint8_t *)"xy", 2}, false);
    proto_write_bytes(&w, PROTO_BYTES_NULL, false);
    proto_write_bytes(&w, (struct proto_bytes){(const uint8_t *)"xy", 2}, true);
    proto_write_bytes(&w, PROTO_BYTES_NULL, true);
    static const uint8_t want[] = {0, 3, 'a', 'b', 'c', 0xff, 0xff, 4,    'a',  'b', 'c', 0,   0,
                                   0, 0, 2,   'x', 'y', 0xff, 0xff, 0xff, 0xff, 3,   'x', 'y', 0};
    assert_writer_bytes(&w, want, sizeof(want));
    struct proto_reader r;
    proto_reader_init(&r, w.buf, w.len);
    struct proto_str s = proto_read_string(&r, false);
    assert_true(proto_str_eq(s, "abc"));
    assert_int_equal(proto_read_string(&r, false).len, -1);
    assert_true(proto_str_eq(proto_read_string(&r, true), "abc"));
    assert_int_equal(proto_read_string(&r, true).len, -1);
    struct proto_bytes b = proto_read_bytes(&r, false);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.ptr, "xy", 2);
    assert_int_equal(proto_read_bytes(&r, false).len, -1);
    assert_int_equal(proto_read_bytes(&r, true).len, 2);
    assert_int_equal(proto_read_bytes(&r, true).len, -1);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.pos, w.len);

    char *d = proto_str_dup(s);
    assert_string_equal(d, "abc");
    rl_free(d);
    assert_null(proto_str_dup(PROTO_STR_NULL));
    assert_false(proto_str_eq(PROTO_STR_NULL, ""));
    assert_true(proto_str_eq(proto_str_c(""), ""));
    assert_false(proto_str_eq(proto_str_c("ab"), "abc"));
    proto_writer_free(&w);
}

static void test_bad_lengths(void **state) {
    (void)state;
    struct proto_reader r;
    /* string length -2 */
    static const uint8_t a[] = {0xff, 0xfe, 'x'};
    proto_reader_init(&r, a, sizeof(a));
    proto_read_string(&r, false);
    assert_int_equal(r.err, -EBADMSG);
    /* string longer than the frame */
    uint8_t *b = dup_exact("\x00\x05"
                           "abc",
                           5);
    proto_reader_init(&r, b, 5);
    proto_read_string(&r, false);
    assert_int_equal(r.err, -EBADMSG);
    free(b);
    /* bytes length -5 */
    static const uint8_t c[] = {0xff, 0xff, 0xff, 0xfb};
    proto_reader_init(&r, c, sizeof(c));
    proto_read_bytes(&r, false);
    assert_int_equal(r.err, -EBADMSG);
    /* compact bytes claiming 2^32-2 bytes */
    static const uint8_t d[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0};
    proto_reader_init(&r, d, sizeof(d));
    proto_read_bytes(&r, true);
    assert_int_equal(r.err, -EBADMSG);
    /* array: huge count, negative count, count * min size > remaining */
    static const uint8_t e[] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    proto_reader_init(&r, e, sizeof(e));
    assert_int_equal(proto_read_array_len(&r, false, 1), 0);
    assert_int_equal(r.err, -EBADMSG);
    static const uint8_t f[] = {0xff, 0xff, 0xff, 0xfe};
    proto_reader_init(&r, f, sizeof(f));
    proto_read_array_len(&r, false, 1);
    assert_int_equal(r.err, -EBADMSG);
    static const uint8_t g[] = {0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0};
    proto_reader_init(&r, g, sizeof(g));
    assert_int_equal(proto_read_array_len(&r, false, 4), 0); /* 3 * 4 > 8 */
    assert_int_equal(r.err, -EBADMSG);
    proto_reader_init(&r, g, sizeof(g));
    assert_int_equal(proto_read_array_len(&r, false, 2), 3); /* 3 * 2 <= 8 */
    assert_int_equal(r.err, 0);
    static const uint8_t h[] = {0xff, 0xff, 0xff, 0xff};
    proto_reader_init(&r, h, sizeof(h));
    assert_int_equal(proto_read_array_len(&r, false, 4), -1);
    assert_int_equal(r.err, 0);
    static const uint8_t i[] = {0x00, 0x04, 1, 2, 3};
    proto_reader_init(&r, i, sizeof(i));
    assert_int_equal(proto_read_array_len(&r, true, 1), -1);
    assert_int_equal(proto_read_array_len(&r, true, 1), 3);
    assert_int_equal(r.err, 0);
}

static void test_skip_tagged(void **state) {
    (void)state;
    struct proto_reader r;
    static const uint8_t a[] = {2, 5, 2, 0xaa, 0xbb, 0x80, 0x01, 0, 0x42};
    proto_reader_init(&r, a, sizeof(a));
    proto_skip_tagged_fields(&r);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.pos, 8);
    /* field size beyond the frame */
    static const uint8_t b[] = {1, 5, 10, 0xaa};
    proto_reader_init(&r, b, sizeof(b));
    proto_skip_tagged_fields(&r);
    assert_int_equal(r.err, -EBADMSG);
    /* count much larger than the frame: stops at the first failure */
    static const uint8_t c[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0};
    proto_reader_init(&r, c, sizeof(c));
    proto_skip_tagged_fields(&r);
    assert_int_equal(r.err, -EBADMSG);
}

/* ---- arena, writer, frames ------------------------------------------------------------------- */

static void test_arena(void **state) {
    (void)state;
    struct proto_arena a;
    proto_arena_init(&a);
    for (int i = 0; i < 1000; i++) {
        uint8_t *p = proto_arena_alloc(&a, (size_t)(i % 37) + 1);
        assert_int_equal((uintptr_t)p % 16, 0);
        for (int j = 0; j < i % 37 + 1; j++)
            assert_int_equal(p[j], 0);
        memset(p, 0xab, (size_t)(i % 37) + 1);
    }
    uint8_t *big = proto_arena_alloc(&a, 100000);
    assert_int_equal((uintptr_t)big % 16, 0);
    assert_int_equal(big[99999], 0);
    big[99999] = 1;
    assert_true(a.total >= 100000);
    proto_arena_reset(&a);
    assert_true(a.total <= 8192);
    uint8_t *p = proto_arena_alloc(&a, 64);
    for (int j = 0; j < 64; j++)
        assert_int_equal(p[j], 0);
    proto_arena_destroy(&a);
    assert_int_equal(a.total, 0);
    proto_arena_destroy(&a); /* idempotent */
}

static void test_writer_frames(void **state) {
    (void)state;
    struct proto_writer w;
    proto_writer_init(&w);
    size_t f = proto_frame_begin(&w);
    for (int i = 0; i < 1000; i++)
        proto_write_i32(&w, i);
    proto_frame_end(&w, f);
    assert_int_equal(w.len, 4004);
    assert_int_equal(w.buf[0], 0);
    assert_int_equal(w.buf[1], 0);
    assert_int_equal(w.buf[2], 0x0f);
    assert_int_equal(w.buf[3], 0xa0);
    uint8_t *p = proto_writer_reserve(&w, 10);
    assert_ptr_equal(p, w.buf + w.len);
    assert_true(w.cap >= w.len + 10);
    proto_writer_reset(&w);
    assert_int_equal(w.len, 0);
    proto_writer_free(&w);
    assert_null(w.buf);
}

static void test_error_names(void **state) {
    (void)state;
    assert_string_equal(proto_error_name(-1), "UNKNOWN_SERVER_ERROR");
    assert_string_equal(proto_error_name(0), "NONE");
    assert_string_equal(proto_error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
    assert_string_equal(proto_error_name(35), "UNSUPPORTED_VERSION");
    assert_string_equal(proto_error_name(79), "MEMBER_ID_REQUIRED");
    assert_string_equal(proto_error_name(100), "UNKNOWN_TOPIC_ID");
    assert_string_equal(proto_error_name(113), "STALE_MEMBER_EPOCH");
    assert_string_equal(proto_error_name(114), "UNKNOWN");
    assert_string_equal(proto_error_name(-2), "UNKNOWN");
}

/* ---- headers ----------------------------------------------------------------------------------
 */

static void test_header_versions(void **state) {
    (void)state;
    assert_int_equal(proto_request_header_version(PROTO_API_KEY_API_VERSIONS, 0), 1);
    assert_int_equal(proto_request_header_version(PROTO_API_KEY_API_VERSIONS, 3), 2);
    assert_int_equal(proto_request_header_version(PROTO_API_KEY_API_VERSIONS, 99), 1);
    assert_int_equal(proto_request_header_version(PROTO_API_KEY_METADATA, 8), 1);
    assert_int_equal(proto_request_header_version(PROTO_API_KEY_METADATA, 9), 2);
    assert_int_equal(proto_request_header_version(PROTO_API_KEY_SASL_HANDSHAKE, 1), 1);
    assert_int_equal(proto_request_header_version(1000, 0), 1);
    assert_int_equal(proto_response_header_version(PROTO_API_KEY_API_VERSIONS, 3), 0);
    assert_int_equal(proto_response_header_version(PROTO_API_KEY_API_VERSIONS, 4), 0);
    assert_int_equal(proto_response_header_version(PROTO_API_KEY_PRODUCE, 8), 0);
    assert_int_equal(proto_response_header_version(PROTO_API_KEY_PRODUCE, 9), 1);
    assert_int_equal(proto_response_header_version(PROTO_API_KEY_FETCH, 12), 1);
    assert_int_equal(proto_response_header_version(1000, 5), 0);

    const struct proto_api_info *api = proto_api_lookup(PROTO_API_KEY_PRODUCE);
    assert_non_null(api);
    assert_string_equal(api->name, "Produce");
    assert_int_equal(api->min_version, 0);
    assert_int_equal(api->max_version, 11);
    assert_int_equal(api->flexible_min, 9);
    assert_int_equal(proto_api_lookup(PROTO_API_KEY_OFFSET_DELETE)->flexible_min, -1);
    assert_null(proto_api_lookup(4));
    assert_null(proto_api_lookup(-1));
    assert_int_equal(proto_n_apis, 29);
}

/* ApiVersions v3 request exactly as librdkafka 2.0.2 sends it (after the 4-byte size). */
static const uint8_t rdk_apiversions_v3[] = {
    0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,                /* key, version, corr */
    0x00, 0x07, 'r',  'd',  'k',  'a',  'f',  'k',  'a',           /* ClientId (INT16) */
    0x00,                                                          /* header tags */
    0x0b, 'l',  'i',  'b',  'r',  'd',  'k',  'a',  'f', 'k', 'a', /* compact string */
    0x06, '2',  '.',  '0',  '.',  '2',                             /* compact string */
    0x00,                                                          /* body tags */
};

static void test_golden_apiversions_v3_request(void **state) {
    (void)state;
    uint8_t *buf = dup_exact(rdk_apiversions_v3, sizeof(rdk_apiversions_v3));
    struct proto_reader r;
    proto_reader_init(&r, buf, sizeof(rdk_apiversions_v3));
    struct proto_request_header h;
    assert_int_equal(proto_request_header_decode(&r, &h), 0);
    assert_int_equal(h.ApiKey, 18);
    assert_int_equal(h.ApiVersion, 3);
    assert_int_equal(h.CorrelationId, 1);
    assert_true(proto_str_eq(h.ClientId, "rdkafka"));
    struct proto_arena a;
    proto_arena_init(&a);
    struct ApiVersionsRequest req;
    assert_int_equal(proto_ApiVersionsRequest_decode(&r, 3, &a, &req), 0);
    assert_true(proto_str_eq(req.ClientSoftwareName, "librdkafka"));
    assert_true(proto_str_eq(req.ClientSoftwareVersion, "2.0.2"));
    assert_int_equal(r.pos, sizeof(rdk_apiversions_v3));

    /* Encoding the same header and body gives the same bytes. */
    struct proto_writer w;
    proto_writer_init(&w);
    proto_request_header_encode(&w, &h);
    assert_int_equal(proto_ApiVersionsRequest_encode(&w, 3, &req), 0);
    assert_writer_bytes(&w, rdk_apiversions_v3, sizeof(rdk_apiversions_v3));
    assert_int_equal(proto_ApiVersionsRequest_size(3, &req), sizeof(rdk_apiversions_v3) - 18);
    proto_writer_free(&w);
    proto_arena_destroy(&a);
    free(buf);
}

/* An unknown ApiVersions version: the header is read as v1 so the broker can answer v0 + 35. */
static void test_apiversions_unknown_version_header(void **state) {
    (void)state;
    uint8_t frame[sizeof(rdk_apiversions_v3)];
    memcpy(frame, rdk_apiversions_v3, sizeof(frame));
    frame[3] = 77;
    struct proto_reader r;
    proto_reader_init(&r, frame, sizeof(frame));
    struct proto_request_header h;
    assert_int_equal(proto_request_header_decode(&r, &h), 0);
    assert_int_equal(h.ApiVersion, 77);
    assert_int_equal(r.pos, 17); /* no header tag byte consumed */
    struct proto_arena a;
    proto_arena_init(&a);
    struct ApiVersionsRequest req;
    assert_int_equal(proto_ApiVersionsRequest_decode(&r, 77, &a, &req), -ENOTSUP);
    assert_int_equal(proto_request_decode_any(18, 77, &r, &a), -ENOTSUP);
    assert_int_equal(proto_request_decode_any(4, 0, &r, &a), -ENOTSUP);
    proto_arena_destroy(&a);
}

/* Metadata v0 request for topic "t" (kafka-python's probe shape) and the v0 "all topics". */
static void test_golden_metadata_v0(void **state) {
    (void)state;
    static const uint8_t want[] = {0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x03,
                                   'c',  'l',  'i',  0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 't'};
    struct proto_writer w;
    proto_writer_init(&w);
    struct proto_request_header h = {3, 0, 7, proto_str_c("cli")};
    proto_request_header_encode(&w, &h);
    struct MetadataRequest m;
    proto_MetadataRequest_init(&m);
    struct MetadataRequest_MetadataRequestTopic t;
    proto_MetadataRequest_MetadataRequestTopic_init(&t);
    t.Name = proto_str_c("t");
    m.Topics = &t;
    m.n_Topics = 1;
    assert_int_equal(proto_MetadataRequest_encode(&w, 0, &m), 0);
    assert_writer_bytes(&w, want, sizeof(want));

    struct proto_reader r;
    proto_reader_init(&r, w.buf, w.len);
    struct proto_request_header h2;
    assert_int_equal(proto_request_header_decode(&r, &h2), 0);
    assert_true(proto_str_eq(h2.ClientId, "cli"));
    struct proto_arena a;
    proto_arena_init(&a);
    struct MetadataRequest m2;
    assert_int_equal(proto_MetadataRequest_decode(&r, 0, &a, &m2), 0);
    assert_int_equal(m2.n_Topics, 1);
    assert_true(proto_str_eq(m2.Topics[0].Name, "t"));
    assert_true(m2.AllowAutoTopicCreation); /* v4+ field keeps its default */

    /* Null topics: representable from v1 (all topics), not in v0. */
    m.n_Topics = -1;
    m.Topics = NULL;
    proto_writer_reset(&w);
    assert_int_equal(proto_MetadataRequest_encode(&w, 0, &m), -EINVAL);
    proto_writer_reset(&w);
    assert_int_equal(proto_MetadataRequest_encode(&w, 1, &m), 0);
    static const uint8_t v1null[] = {0xff, 0xff, 0xff, 0xff};
    assert_writer_bytes(&w, v1null, 4);
    proto_reader_init(&r, v1null, 4);
    assert_int_equal(proto_MetadataRequest_decode(&r, 0, &a, &m2), -EBADMSG);
    proto_reader_init(&r, v1null, 4);
    assert_int_equal(proto_MetadataRequest_decode(&r, 1, &a, &m2), 0);
    assert_int_equal(m2.n_Topics, -1);
    proto_writer_free(&w);
    proto_arena_destroy(&a);
}

/* ApiVersions responses: v0 layout, and v3 with the default tagged fields omitted. */
static void test_golden_apiversions_response(void **state) {
    (void)state;
    struct ApiVersionsResponse resp;
    proto_ApiVersionsResponse_init(&resp);
    assert_true(resp.FinalizedFeaturesEpoch == -1);
    struct ApiVersionsResponse_ApiVersion keys[2] = {{0, 3, 7}, {18, 0, 3}};
    resp.ApiKeys = keys;
    resp.n_ApiKeys = 2;
    struct proto_writer w;
    proto_writer_init(&w);
    proto_response_header_encode(&w, proto_response_header_version(18, 0), 5);
    assert_int_equal(proto_ApiVersionsResponse_encode(&w, 0, &resp), 0);
    static const uint8_t v0[] = {0, 0, 0, 5, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 7, 0, 18, 0, 0, 0, 3};
    assert_writer_bytes(&w, v0, sizeof(v0));

    proto_writer_reset(&w);
    proto_response_header_encode(&w, proto_response_header_version(18, 3), 5);
    assert_int_equal(proto_ApiVersionsResponse_encode(&w, 3, &resp), 0);
    static const uint8_t v3[] = {0, 0, 0,  5, 0, 0, 3, 0, 0, 0, 3, 0, 7,
                                 0, 0, 18, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0};
    assert_writer_bytes(&w, v3, sizeof(v3));

    /* A non-default tagged field is written as tag 1, size 8, value. */
    resp.FinalizedFeaturesEpoch = 5;
    proto_writer_reset(&w);
    assert_int_equal(proto_ApiVersionsResponse_encode(&w, 3, &resp), 0);
    static const uint8_t tail[] = {1, 1, 8, 0, 0, 0, 0, 0, 0, 0, 5};
    assert_true(w.len > sizeof(tail));
    assert_memory_equal(w.buf + w.len - sizeof(tail), tail, sizeof(tail));
    assert_int_equal(proto_ApiVersionsResponse_size(3, &resp), w.len);

    struct proto_reader r;
    proto_reader_init(&r, w.buf, w.len);
    struct proto_arena a;
    proto_arena_init(&a);
    struct ApiVersionsResponse d;
    assert_int_equal(proto_ApiVersionsResponse_decode(&r, 3, &a, &d), 0);
    assert_true(d.FinalizedFeaturesEpoch == 5);
    assert_int_equal(d.n_ApiKeys, 2);
    assert_int_equal(d.ApiKeys[1].ApiKey, 18);
    assert_int_equal(d.ApiKeys[1].MaxVersion, 3);
    proto_arena_destroy(&a);
    proto_writer_free(&w);
}

/* Produce v7 and Fetch v11 requests captured from kcat 1.7.1 (librdkafka) on loopback. */
static const uint8_t kcat_produce_v7[] = {
    0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x03, 0x00, 0x07, 0x72, 0x64, 0x6b, 0x61, 0x66, 0x6b,
    0x61, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x75, 0x30, 0x00, 0x00, 0x00, 0x01, 0x00, 0x07, 0x6d,
    0x79, 0x74, 0x6f, 0x70, 0x69, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x59, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4d, 0x00, 0x00,
    0x00, 0x00, 0x02, 0xe3, 0x82, 0x95, 0xe4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01,
    0xa2, 0x1a, 0x86, 0xb9, 0x36, 0x00, 0x00, 0x01, 0xa2, 0x1a, 0x86, 0xb9, 0x36, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x02, 0x1a,
    0x00, 0x00, 0x00, 0x04, 0x6b, 0x31, 0x0a, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00, 0x1a, 0x00, 0x00,
    0x02, 0x04, 0x6b, 0x32, 0x0a, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x00};
static const uint8_t kcat_fetch_v11[] = {
    0x00, 0x01, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x04, 0x00, 0x07, 0x72, 0x64, 0x6b, 0x61, 0x66, 0x6b,
    0x61, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x01, 0xf4, 0x00, 0x00, 0x00, 0x01, 0x03, 0x20, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x07,
    0x6d, 0x79, 0x74, 0x6f, 0x70, 0x69, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0xff,
    0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

/* Decodes header + body of a captured frame, then checks re-encoding gives the same bytes.
 * Returns the decode buffer (decoded strings point into it); the caller frees it. */
static uint8_t *check_reencode(const uint8_t *frame, size_t n, struct proto_request_header *h,
                               struct proto_arena *a, void *msg,
                               int (*dec)(struct proto_reader *, int16_t, struct proto_arena *,
                                          void *),
                               int (*enc)(struct proto_writer *, int16_t, const void *)) {
    uint8_t *buf = dup_exact(frame, n);
    struct proto_reader r;
    proto_reader_init(&r, buf, n);
    assert_int_equal(proto_request_header_decode(&r, h), 0);
    assert_int_equal(dec(&r, h->ApiVersion, a, msg), 0);
    assert_int_equal(r.pos, n);
    struct proto_writer w;
    proto_writer_init(&w);
    proto_request_header_encode(&w, h);
    assert_int_equal(enc(&w, h->ApiVersion, msg), 0);
    assert_writer_bytes(&w, frame, n);
    proto_writer_free(&w);
    return buf;
}

static int dec_produce(struct proto_reader *r, int16_t v, struct proto_arena *a, void *m) {
    return proto_ProduceRequest_decode(r, v, a, m);
}
static int enc_produce(struct proto_writer *w, int16_t v, const void *m) {
    return proto_ProduceRequest_encode(w, v, m);
}
static int dec_fetch(struct proto_reader *r, int16_t v, struct proto_arena *a, void *m) {
    return proto_FetchRequest_decode(r, v, a, m);
}
static int enc_fetch(struct proto_writer *w, int16_t v, const void *m) {
    return proto_FetchRequest_encode(w, v, m);
}

static void test_golden_kcat_produce_fetch(void **state) {
    (void)state;
    struct proto_arena a;
    proto_arena_init(&a);
    struct proto_request_header h;
    struct ProduceRequest p;
    uint8_t *b1 = check_reencode(kcat_produce_v7, sizeof(kcat_produce_v7), &h, &a, &p, dec_produce,
                                 enc_produce);
    assert_int_equal(h.ApiKey, 0);
    assert_int_equal(h.ApiVersion, 7);
    assert_int_equal(p.TransactionalId.len, -1);
    assert_int_equal(p.Acks, -1);
    assert_int_equal(p.TimeoutMs, 30000);
    assert_int_equal(p.n_TopicData, 1);
    assert_true(proto_str_eq(p.TopicData[0].Name, "mytopic"));
    assert_int_equal(p.TopicData[0].n_PartitionData, 1);
    assert_int_equal(p.TopicData[0].PartitionData[0].Index, 0);
    assert_int_equal(p.TopicData[0].PartitionData[0].Records.len, 89);

    struct FetchRequest f;
    uint8_t *b2 =
        check_reencode(kcat_fetch_v11, sizeof(kcat_fetch_v11), &h, &a, &f, dec_fetch, enc_fetch);
    assert_true(proto_str_eq(f.Topics[0].Topic, "mytopic"));
    assert_int_equal(h.ApiVersion, 11);
    assert_int_equal(f.ReplicaId, -1);
    assert_int_equal(f.MaxWaitMs, 500);
    assert_int_equal(f.MinBytes, 1);
    assert_int_equal(f.MaxBytes, 52428800);
    assert_int_equal(f.IsolationLevel, 1);
    assert_int_equal(f.SessionId, 0);
    assert_int_equal(f.SessionEpoch, -1);
    assert_int_equal(f.n_Topics, 1);
    assert_int_equal(f.Topics[0].n_Partitions, 1);
    assert_int_equal(f.Topics[0].Partitions[0].CurrentLeaderEpoch, -1);
    assert_true(f.Topics[0].Partitions[0].FetchOffset == 0);
    assert_true(f.Topics[0].Partitions[0].LogStartOffset == -1);
    assert_int_equal(f.Topics[0].Partitions[0].PartitionMaxBytes, 1048576);
    assert_int_equal(f.n_ForgottenTopicsData, 0);
    assert_int_equal(f.RackId.len, 0);
    free(b1);
    free(b2);
    proto_arena_destroy(&a);
}

/* ---- malformed input ---------------------------------------------------------------------------
 */

static void test_huge_array_small_frame(void **state) {
    (void)state;
    /* Produce v3: TransactionalId null, acks, timeout, then 2^31-1 topics in a 14-byte frame. */
    static const uint8_t f[] = {0xff, 0xff, 0x00, 0x01, 0x00, 0x00, 0x75,
                                0x30, 0x7f, 0xff, 0xff, 0xff, 0x00, 0x00};
    uint8_t *buf = dup_exact(f, sizeof(f));
    struct proto_reader r;
    proto_reader_init(&r, buf, sizeof(f));
    struct proto_arena a;
    proto_arena_init(&a);
    struct ProduceRequest p;
    assert_int_equal(proto_ProduceRequest_decode(&r, 3, &a, &p), -EBADMSG);
    assert_true(a.total <= 4096); /* nothing allocated for the array */
    /* Same with a compact count in a flexible version (v9). */
    static const uint8_t g[] = {0x00, 0x00, 0x01, 0x00, 0x00, 0x75, 0x30,
                                0xff, 0xff, 0xff, 0xff, 0x07, 0x00};
    proto_reader_init(&r, g, sizeof(g));
    assert_int_equal(proto_ProduceRequest_decode(&r, 9, &a, &p), -EBADMSG);
    assert_true(a.total <= 4096);
    /* Fetch v4: 1000 topics of >= 2+4 bytes each in a few bytes. */
    static const uint8_t h[] = {0xff, 0xff, 0xff, 0xff, 0, 0,    0,    0, 0, 0,   0, 0, 0, 0,
                                0,    0,    0,    0,    0, 0x03, 0xe8, 0, 1, 't', 0, 0, 0, 0};
    proto_reader_init(&r, h, sizeof(h));
    assert_int_equal(proto_FetchRequest_decode(&r, 4, &a, &(struct FetchRequest){0}), -EBADMSG);
    assert_true(a.total <= 4096);
    proto_arena_destroy(&a);
    free(buf);
}

static void test_negative_lengths_in_messages(void **state) {
    (void)state;
    struct proto_arena a;
    proto_arena_init(&a);
    struct proto_reader r;
    /* FindCoordinator v0 with key length -3 */
    static const uint8_t a1[] = {0xff, 0xfd, 'x'};
    proto_reader_init(&r, a1, sizeof(a1));
    struct FindCoordinatorRequest fc;
    assert_int_equal(proto_FindCoordinatorRequest_decode(&r, 0, &a, &fc), -EBADMSG);
    /* FindCoordinator v0 with a null key: not nullable. */
    static const uint8_t a2[] = {0xff, 0xff};
    proto_reader_init(&r, a2, sizeof(a2));
    assert_int_equal(proto_FindCoordinatorRequest_decode(&r, 0, &a, &fc), -EBADMSG);
    /* Metadata v1 with topic count -2 */
    static const uint8_t a3[] = {0xff, 0xff, 0xff, 0xfe};
    proto_reader_init(&r, a3, sizeof(a3));
    struct MetadataRequest mr;
    assert_int_equal(proto_MetadataRequest_decode(&r, 1, &a, &mr), -EBADMSG);
    /* SaslAuthenticate v0 with bytes length -7 */
    static const uint8_t a4[] = {0xff, 0xff, 0xff, 0xf9, 1, 2};
    proto_reader_init(&r, a4, sizeof(a4));
    struct SaslAuthenticateRequest sa;
    assert_int_equal(proto_SaslAuthenticateRequest_decode(&r, 0, &a, &sa), -EBADMSG);
    proto_arena_destroy(&a);
}

static void test_truncated_and_overlong(void **state) {
    (void)state;
    struct proto_arena a;
    proto_arena_init(&a);
    struct ApiVersionsRequest req;
    struct proto_reader r;
    const uint8_t *body = rdk_apiversions_v3 + 18;
    size_t n = sizeof(rdk_apiversions_v3) - 18;
    for (size_t cut = 0; cut < n; cut++) {
        uint8_t *b = dup_exact(body, cut);
        proto_reader_init(&r, b, cut);
        assert_int_equal(proto_ApiVersionsRequest_decode(&r, 3, &a, &req), -EBADMSG);
        free(b);
    }
    /* Over-long compact string length. */
    static const uint8_t o[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 'x', 0x01, 0x00};
    proto_reader_init(&r, o, sizeof(o));
    assert_int_equal(proto_ApiVersionsRequest_decode(&r, 3, &a, &req), -EBADMSG);
    proto_arena_destroy(&a);
}

static void test_unknown_tagged_fields(void **state) {
    (void)state;
    struct proto_arena a;
    proto_arena_init(&a);
    /* ApiVersions v3 request body with two unknown tags (7: 3 bytes, 300: empty). */
    static const uint8_t f[] = {0x02, 'a', 0x02, 'b', 0x02, 0x07, 0x03, 1, 2, 3, 0xac, 0x02, 0x00};
    struct proto_reader r;
    proto_reader_init(&r, f, sizeof(f));
    struct ApiVersionsRequest req;
    assert_int_equal(proto_ApiVersionsRequest_decode(&r, 3, &a, &req), 0);
    assert_int_equal(r.pos, sizeof(f));
    assert_true(proto_str_eq(req.ClientSoftwareName, "a"));
    assert_true(proto_str_eq(req.ClientSoftwareVersion, "b"));
    /* Tagged field whose size runs past the frame. */
    static const uint8_t g[] = {0x02, 'a', 0x02, 'b', 0x01, 0x07, 0x09, 1, 2};
    proto_reader_init(&r, g, sizeof(g));
    assert_int_equal(proto_ApiVersionsRequest_decode(&r, 3, &a, &req), -EBADMSG);
    /* A known tag (FinalizedFeaturesEpoch) whose payload is too short for an int64. */
    static const uint8_t h[] = {0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                0x00, 0x01, 0x01, 0x02, 0x00, 0x05};
    proto_reader_init(&r, h, sizeof(h));
    struct ApiVersionsResponse resp;
    assert_int_equal(proto_ApiVersionsResponse_decode(&r, 3, &a, &resp), -EBADMSG);
    /* Request header v2 with an unknown tag. */
    static const uint8_t hd[] = {0x00, 0x03, 0x00, 0x09, 0,    0,    0,
                                 1,    0xff, 0xff, 0x01, 0x05, 0x01, 0xee};
    proto_reader_init(&r, hd, sizeof(hd));
    struct proto_request_header hh;
    assert_int_equal(proto_request_header_decode(&r, &hh), 0);
    assert_int_equal(hh.ClientId.len, -1);
    assert_int_equal(r.pos, sizeof(hd));
    proto_arena_destroy(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_ints),
        cmocka_unit_test(test_varints_golden),
        cmocka_unit_test(test_varint_overlong),
        cmocka_unit_test(test_strings_bytes),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_skip_tagged),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_writer_frames),
        cmocka_unit_test(test_error_names),
        cmocka_unit_test(test_header_versions),
        cmocka_unit_test(test_golden_apiversions_v3_request),
        cmocka_unit_test(test_apiversions_unknown_version_header),
        cmocka_unit_test(test_golden_metadata_v0),
        cmocka_unit_test(test_golden_apiversions_response),
        cmocka_unit_test(test_golden_kcat_produce_fetch),
        cmocka_unit_test(test_huge_array_small_frame),
        cmocka_unit_test(test_negative_lengths_in_messages),
        cmocka_unit_test(test_truncated_and_overlong),
        cmocka_unit_test(test_unknown_tagged_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
