/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_codec_roundtrip.c - every request and response of every API at every version: fill all
 * fields present at that version with non-default values (generated filler), then check
 * size == encoded length, decode consumes exactly the frame, and re-encoding the decoded struct
 * gives the same bytes. A second pass uses nulls wherever the schema allows them. Also checks
 * that every truncation of each encoding is rejected (never crashes or over-reads) and that
 * versions outside the range give -ENOTSUP.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol_testfill.h"
#include "ringlet/protocol.h"

static int roundtrip_one(const struct protogen_case *c, int16_t v, int mode, uint32_t seed) {
    struct proto_arena a;
    proto_arena_init(&a);
    void *m = proto_arena_alloc(&a, c->struct_size);
    void *m2 = proto_arena_alloc(&a, c->struct_size);
    c->fill(m, v, &a, mode, &seed);

    struct proto_writer w1, w2;
    proto_writer_init(&w1);
    proto_writer_init(&w2);
    int rc = c->encode(&w1, v, m);
    if (rc != 0) {
        fail_msg("%s v%d mode %d: encode failed %d", c->name, v, mode, rc);
    }
    size_t sz = c->size(v, m);
    if (sz != w1.len)
        fail_msg("%s v%d mode %d: size %zu != encoded %zu", c->name, v, mode, sz, w1.len);

    struct proto_reader r;
    proto_reader_init(&r, w1.buf, w1.len);
    rc = c->decode(&r, v, &a, m2);
    if (rc != 0) fail_msg("%s v%d mode %d: decode failed %d", c->name, v, mode, rc);
    if (r.pos != w1.len)
        fail_msg("%s v%d mode %d: decode consumed %zu of %zu", c->name, v, mode, r.pos, w1.len);
    rc = c->encode(&w2, v, m2);
    assert_int_equal(rc, 0);
    if (w1.len != w2.len || (w1.len && memcmp(w1.buf, w2.buf, w1.len) != 0))
        fail_msg("%s v%d mode %d: re-encoding differs", c->name, v, mode);

    /* Every strict prefix must be rejected; decode into a fresh struct each time. A prefix of
     * a trailing tagged-field section can never be complete either, so all must fail. */
    for (size_t cut = 0; cut < w1.len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1); /* exact-size copy so ASan sees any over-read */
        memcpy(copy, w1.buf, cut);
        proto_reader_init(&r, copy, cut);
        struct proto_arena a2;
        proto_arena_init(&a2);
        void *m3 = proto_arena_alloc(&a2, c->struct_size);
        rc = c->decode(&r, v, &a2, m3);
        if (rc != -EBADMSG)
            fail_msg("%s v%d mode %d: prefix %zu/%zu gave %d", c->name, v, mode, cut, w1.len, rc);
        proto_arena_destroy(&a2);
        free(copy);
    }
    proto_writer_free(&w1);
    proto_writer_free(&w2);
    proto_arena_destroy(&a);
    return 0;
}

static void test_all_messages_all_versions(void **state) {
    (void)state;
    int n = 0;
    for (size_t i = 0; i < protogen_n_cases; i++) {
        const struct protogen_case *c = &protogen_cases[i];
        for (int16_t v = c->min_version; v <= c->max_version; v++) {
            for (int mode = 0; mode < 2; mode++) {
                roundtrip_one(c, v, mode, (uint32_t)(i * 131 + (size_t)v * 7 + (size_t)mode));
                n++;
            }
        }
    }
    /* 29 APIs, request + response, at least one version each, two modes. */
    assert_true(protogen_n_cases >= 58);
    assert_true(n >= 4 * 29);
}

static void test_versions_out_of_range(void **state) {
    (void)state;
    uint8_t buf[64] = {0};
    for (size_t i = 0; i < protogen_n_cases; i++) {
        const struct protogen_case *c = &protogen_cases[i];
        struct proto_arena a;
        proto_arena_init(&a);
        void *m = proto_arena_alloc(&a, c->struct_size);
        struct proto_reader r;
        proto_reader_init(&r, buf, sizeof(buf));
        assert_int_equal(c->decode(&r, (int16_t)(c->max_version + 1), &a, m), -ENOTSUP);
        proto_reader_init(&r, buf, sizeof(buf));
        assert_int_equal(c->decode(&r, -1, &a, m), -ENOTSUP);
        struct proto_writer w;
        proto_writer_init(&w);
        assert_int_equal(c->encode(&w, (int16_t)(c->max_version + 1), m), -EINVAL);
        proto_writer_free(&w);
        proto_arena_destroy(&a);
    }
}

/* Every message's API key must be in the API table with the same version range. */
static void test_api_table_matches_messages(void **state) {
    (void)state;
    for (size_t i = 0; i < protogen_n_cases; i++) {
        const struct protogen_case *c = &protogen_cases[i];
        const struct proto_api_info *api = proto_api_lookup(c->key);
        assert_non_null(api);
        assert_int_equal(api->min_version, c->min_version);
        assert_int_equal(api->max_version, c->max_version);
    }
    for (size_t i = 1; i < proto_n_apis; i++)
        assert_true(proto_apis[i - 1].key < proto_apis[i].key);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_messages_all_versions),
        cmocka_unit_test(test_versions_out_of_range),
        cmocka_unit_test(test_api_table_matches_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
