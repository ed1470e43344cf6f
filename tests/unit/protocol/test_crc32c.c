/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_crc32c.c - CRC-32C: known vectors (the check value and RFC 3720's iSCSI examples) for the
 * portable and hardware paths, incremental use, and both paths against a bit-at-a-time
 * reference on random data of every length and alignment. Every implementation the CPU can run
 * (AVX-512 folding, SSE4.2 3-way, slicing-by-8, reached through crc32c.c's testing hooks) is
 * checked against the portable one: every length 0..4096 at every start misalignment 0..63,
 * random lengths up to 1 MiB, and chained calls split at random points.
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

/* Testing hooks of protocol/crc32c.c (deliberately not in the public header). */
extern int proto_crc32c_impl_count(void);
extern const char *proto_crc32c_impl_name(int i);
extern uint32_t proto_crc32c_impl(int i, uint32_t crc, const void *data, size_t len);

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

/* xorshift64: deterministic test data and lengths, independent of rand(). */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_impls_vectors(void **state) {
    (void)state;
    int n = proto_crc32c_impl_count();
    assert_true(n >= 1);
    for (int i = 0; i < n; i++) {
        printf("crc32c implementation %d: %s\n", i, proto_crc32c_impl_name(i));
        assert_non_null(proto_crc32c_impl_name(i));
        assert_int_equal(proto_crc32c_impl(i, 0, "123456789", 9), 0xE3069283u);
    }
    assert_null(proto_crc32c_impl_name(n));
    /* The last one is always the portable fallback. */
    assert_string_equal(proto_crc32c_impl_name(n - 1), "slicing-by-8");
}

/* Every length 0..MAXLEN at every misalignment: the same bytes are copied to buf + off for each
 * off, so one portable result per length is the expected value for every offset. */
#define MAXLEN 4096
static void test_impls_every_length_alignment(void **state) {
    (void)state;
    uint8_t *src = malloc(MAXLEN);
    uint8_t *buf = aligned_alloc(64, MAXLEN + 128);
    uint32_t *want = malloc((MAXLEN + 1) * sizeof(*want));
    assert_non_null(src);
    assert_non_null(buf);
    assert_non_null(want);
    for (size_t i = 0; i < MAXLEN; i++)
        src[i] = (uint8_t)rng();
    for (size_t len = 0; len <= MAXLEN; len++)
        want[len] = proto_crc32c_portable(0x12345678u, src, len);
    int n = proto_crc32c_impl_count();
    for (size_t off = 0; off < 64; off++) {
        memset(buf, 0xA5, MAXLEN + 128);
        memcpy(buf + off, src, MAXLEN);
        for (size_t len = 0; len <= MAXLEN; len++) {
            for (int i = 0; i < n; i++) {
                uint32_t got = proto_crc32c_impl(i, 0x12345678u, buf + off, len);
                if (got != want[len])
                    fail_msg("%s: len %zu off %zu: %08x != %08x", proto_crc32c_impl_name(i), len,
                             off, got, want[len]);
            }
            assert_int_equal(proto_crc32c(0x12345678u, buf + off, len), want[len]);
        }
    }
    free(want);
    free(buf);
    free(src);
}

/* Random lengths up to 1 MiB at random misalignments, and the same split into 1..4 chained
 * calls at random points (each piece through a randomly chosen implementation). */
static void test_impls_random_and_chained(void **state) {
    (void)state;
    size_t max = (size_t)1 << 20;
    uint8_t *buf = malloc(max + 64);
    assert_non_null(buf);
    for (size_t i = 0; i < max + 64; i++)
        buf[i] = (uint8_t)rng();
    int n = proto_crc32c_impl_count();
    for (int round = 0; round < 48; round++) {
        size_t off = rng() % 64;
        /* Half the rounds near 1 MiB, half spread over every size scale. */
        size_t len = round % 2 ? max - rng() % 4096 : rng() % ((size_t)1 << (rng() % 20 + 1));
        const uint8_t *p = buf + off;
        uint32_t want = proto_crc32c_portable(0, p, len);
        for (int i = 0; i < n; i++)
            assert_int_equal(proto_crc32c_impl(i, 0, p, len), want);
        assert_int_equal(proto_crc32c(0, p, len), want);

        size_t cuts[5];
        int ncuts = (int)(rng() % 4);
        cuts[0] = 0;
        for (int c = 1; c <= ncuts; c++)
            cuts[c] = len ? rng() % (len + 1) : 0;
        cuts[ncuts + 1] = len;
        for (int a = 1; a <= ncuts; a++) /* sort the split points */
            for (int b = a + 1; b <= ncuts; b++)
                if (cuts[b] < cuts[a]) {
                    size_t t = cuts[a];
                    cuts[a] = cuts[b];
                    cuts[b] = t;
                }
        for (int i = 0; i <= n; i++) { /* i == n: each piece picks an implementation */
            uint32_t crc = 0;
            for (int c = 0; c <= ncuts; c++) {
                int which = i < n ? i : (int)(rng() % (uint64_t)n);
                crc = proto_crc32c_impl(which, crc, p + cuts[c], cuts[c + 1] - cuts[c]);
            }
            assert_int_equal(crc, want);
        }
        uint32_t crc = 0;
        for (int c = 0; c <= ncuts; c++)
            crc = proto_crc32c(crc, p + cuts[c], cuts[c + 1] - cuts[c]);
        assert_int_equal(crc, want);
    }
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_portable),
        cmocka_unit_test(test_vectors_best),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_impls_vectors),
        cmocka_unit_test(test_impls_every_length_alignment),
        cmocka_unit_test(test_impls_random_and_chained),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
