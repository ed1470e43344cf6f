/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_crc32c.c - CRC-32C: known vectors (the check value and RFC 3720's iSCSI examples) for the
 * portable and hardware paths, incremental use, and both paths against a bit-at-a-time
 * reference on random data of every length and alignment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ringlet/protocol.h"

static uint32_t crc_ref(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static void check_vectors(crc_fn f) {
    uint8_t buf[32];
    assert_int_equal(f(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(f(0, "", 0), 0);
    assert_int_equal(f(0, "a", 1), 0xC1D04330u);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(f(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, sizeof(buf));
    assert_int_equal(f(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    assert_int_equal(f(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    assert_int_equal(f(0, buf, 32), 0x113FDB5Cu);
    /* Continuing a CRC gives the same result as one pass. */
    assert_int_equal(f(f(0, "1234", 4), "56789", 5), 0xE3069283u);
}

static void test_vectors_portable(void **state) {
    (void)state;
    check_vectors(proto_crc32c_portable);
}

static void test_vectors_best(void **state) {
    (void)state;
    check_vectors(proto_crc32c);
    printf("hardware CRC-32C: %s\n", proto_crc32c_hw_available() ? "yes" : "no");
}

static void test_random_against_reference(void **state) {
    (void)state;
    size_t n = 4096 + 64;
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    srand(12345);
    for (size_t i = 0; i < n; i++)
        buf[i] = (uint8_t)rand();
    for (size_t off = 0; off < 9; off++) {
        for (size_t len = 0; len + off <= n; len += (len < 100 ? 1 : 37)) {
            uint32_t want = crc_ref(buf + off, len);
            assert_int_equal(proto_crc32c_portable(0, buf + off, len), want);
            assert_int_equal(proto_crc32c(0, buf + off, len), want);
            /* Split at an arbitrary point: incremental equals one pass on both paths. */
            size_t cut = len / 3;
            uint32_t c = proto_crc32c(0, buf + off, cut);
            assert_int_equal(proto_crc32c_portable(c, buf + off + cut, len - cut), want);
        }
    }
    /* Around the hardware path's 3 x 2048-byte stripes, from every alignment. */
    static const size_t edges[] = {6143, 6144, 6145, 6151, 12288, 12289, 18432 + 13, 65536};
    uint8_t *e = malloc(65536 + 8);
    assert_non_null(e);
    for (size_t i = 0; i < 65536 + 8; i++)
        e[i] = (uint8_t)rand();
    for (size_t k = 0; k < sizeof(edges) / sizeof(edges[0]); k++) {
        for (size_t off = 0; off < 8; off++) {
            uint32_t want = crc_ref(e + off, edges[k]);
            assert_int_equal(proto_crc32c(0, e + off, edges[k]), want);
            assert_int_equal(proto_crc32c_portable(0, e + off, edges[k]), want);
            assert_int_equal(
                proto_crc32c(proto_crc32c(0, e + off, 100), e + off + 100, edges[k] - 100), want);
        }
    }
    free(e);
    /* A large buffer: both paths agree. */
    size_t big = 1u << 20;
    uint8_t *b = malloc(big);
    assert_non_null(b);
    for (size_t i = 0; i < big; i++)
        b[i] = (uint8_t)(rand() >> 3);
    assert_int_equal(proto_crc32c(0, b, big), proto_crc32c_portable(0, b, big));
    assert_int_equal(proto_crc32c(0, b + 3, big - 3), crc_ref(b + 3, big - 3));
    free(b);
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_portable),
        cmocka_unit_test(test_vectors_best),
        cmocka_unit_test(test_random_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
