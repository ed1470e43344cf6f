/* SPDX-License-Identifier: Apache-2.0 */
/* test_common.c - the common/ basics: log level parsing, clocks, hashing, allocation, the buffer
 * pool. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "ringlet/common.h"

static void test_log_level_parse(void **state) {
    enum rl_log_level l;
    assert_int_equal(rl_log_level_parse("debug", &l), 0);
    assert_int_equal(l, RL_LOG_DEBUG);
    assert_int_equal(rl_log_level_parse("error", &l), 0);
    assert_int_equal(l, RL_LOG_ERROR);
    assert_int_equal(rl_log_level_parse("verbose", &l), -EINVAL);
    rl_log_set_level(RL_LOG_WARN);
    assert_int_equal(rl_log_level_current, RL_LOG_WARN);
    rl_log_set_level(RL_LOG_INFO);
}

static void test_clocks(void **state) {
    int64_t a = rl_mono_ns(), b = rl_mono_ns();
    assert_true(b >= a);
    assert_true(rl_now_ms() > 1700000000000LL); /* after November 2023 */
    assert_true(rl_mono_ms() >= 0);
}

static void test_hash(void **state) {
    const char *k = "orders";
    uint64_t h1 = rl_hash64(k, strlen(k), 0), h2 = rl_hash64(k, strlen(k), 0);
    assert_int_equal(h1, h2);
    assert_int_not_equal(h1, rl_hash64(k, strlen(k), 1));
    assert_int_not_equal(h1, rl_hash64("orderz", 6, 0));
}

static void test_alloc(void **state) {
    char *s = rl_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    rl_free(s);
    int *z = rl_calloc(16, sizeof(int));
    for (int i = 0; i < 16; i++)
        assert_int_equal(z[i], 0);
    z = rl_realloc(z, 64 * sizeof(int));
    z[63] = 7;
    assert_int_equal(z[63], 7);
    rl_free(z);
    assert_string_equal(rl_strerror(-ENOSPC), strerror(ENOSPC));
}

/* Class sizes, best fit from larger classes, the byte cap (smaller idle buffers go first),
 * foreign sizes freed, alignment, the fresh-allocation count and clear. */
static void test_bufpool(void **state) {
    (void)state;
    struct rl_bufpool p;
    rl_bufpool_init(&p, 16, 22, 4, 4096, 8 << 20); /* 64 KiB .. 4 MiB, 4 per doubling, 8 MiB */
    assert_int_equal(p.n_classes, 25);
    size_t cap;
    /* a fresh buffer of the smallest class size >= len */
    static const size_t want[][2] = {
        {1, 64 << 10},          {64 << 10, 64 << 10},         {(64 << 10) + 1, 80 << 10},
        {100 << 10, 112 << 10}, {(112 << 10) + 1, 128 << 10}, {(3 << 20) + 1, (7 << 20) / 2},
        {4 << 20, 4 << 20}};
    for (size_t i = 0; i < RL_ARRAY_SIZE(want); i++) {
        uint8_t *b = rl_bufpool_get(&p, want[i][0], &cap);
        assert_non_null(b);
        assert_int_equal(cap, want[i][1]);
        assert_int_equal((uintptr_t)b % 4096, 0);
        memset(b, 0xab, cap); /* all of it is usable (ASan checks) */
        rl_free(b);
    }
    assert_int_equal(p.allocs, RL_ARRAY_SIZE(want));
    assert_null(rl_bufpool_get(&p, (4 << 20) + 1, &cap)); /* beyond the classes */

    /* an idle buffer of a larger class serves a smaller request; none is allocated */
    uint8_t *big = rl_bufpool_get(&p, 1 << 20, &cap);
    assert_int_equal(cap, 1 << 20);
    rl_bufpool_put(&p, big, cap);
    assert_int_equal(p.idle_bytes, 1 << 20);
    uint64_t allocs = p.allocs;
    uint8_t *got = rl_bufpool_get(&p, 200 << 10, &cap);
    assert_ptr_equal(got, big);
    assert_int_equal(cap, 1 << 20);
    assert_int_equal(p.allocs, allocs);
    assert_int_equal(p.idle_bytes, 0);
    /* ... but a larger request never gets a smaller idle buffer */
    uint8_t *small = rl_bufpool_get(&p, 64 << 10, &cap);
    rl_bufpool_put(&p, small, cap);
    uint8_t *other = rl_bufpool_get(&p, 80 << 10, &cap);
    assert_ptr_not_equal(other, small);
    assert_int_equal(cap, 80 << 10);
    rl_bufpool_put(&p, other, cap);
    rl_bufpool_put(&p, got, 1 << 20);
    assert_int_equal(p.idle_bytes, (64 << 10) + (80 << 10) + (1 << 20));

    /* sizes that are not a class size, or beyond the classes, are freed, not kept */
    rl_bufpool_put(&p, rl_aligned_alloc(4096, 4096), 4096);
    rl_bufpool_put(&p, rl_aligned_alloc(4096, 100 << 10), 100 << 10);
    rl_bufpool_put(&p, rl_aligned_alloc(4096, 5 << 20), 5 << 20);
    assert_int_equal(p.idle_bytes, (64 << 10) + (80 << 10) + (1 << 20));

    /* the cap: filling with 4 MiB buffers frees the smaller idle ones to make room */
    uint8_t *m1 = rl_bufpool_get(&p, 4 << 20, &cap), *m2 = rl_bufpool_get(&p, 4 << 20, &cap);
    rl_bufpool_put(&p, m1, 4 << 20);
    assert_true(p.idle_bytes <= 8 << 20);
    rl_bufpool_put(&p, m2, 4 << 20); /* 8 MiB: only the two big ones fit */
    assert_int_equal(p.idle_bytes, 8 << 20);
    allocs = p.allocs;
    assert_ptr_equal(rl_bufpool_get(&p, 64 << 10, &cap), m2); /* smallest idle that fits */
    assert_int_equal(cap, 4 << 20);
    assert_int_equal(p.allocs, allocs);
    /* a smaller buffer does not push out a larger one when there is no room */
    uint8_t *m3 = rl_bufpool_get(&p, 4 << 20, &cap);
    assert_ptr_equal(m3, m1);
    rl_bufpool_put(&p, m3, 4 << 20);
    rl_bufpool_put(&p, m2, 4 << 20);
    uint8_t *s2 = rl_aligned_alloc(4096, 64 << 10);
    rl_bufpool_put(&p, s2, 64 << 10); /* no room, nothing smaller to drop: freed */
    assert_int_equal(p.idle_bytes, 8 << 20);

    rl_bufpool_clear(&p);
    assert_int_equal(p.idle_bytes, 0);
    allocs = p.allocs;
    rl_free(rl_bufpool_get(&p, 64 << 10, &cap));
    assert_int_equal(p.allocs, allocs + 1);

    /* power-of-two classes, malloc alignment */
    rl_bufpool_init(&p, 16, 24, 1, 0, 1 << 20);
    assert_int_equal(p.n_classes, 9);
    uint8_t *f = rl_bufpool_get(&p, (1 << 20) + 1, &cap);
    assert_int_equal(cap, 2 << 20);
    rl_bufpool_put(&p, f, cap); /* above the 1 MiB cap: freed */
    assert_int_equal(p.idle_bytes, 0);
    f = rl_bufpool_get(&p, 300 << 10, &cap);
    assert_int_equal(cap, 512 << 10);
    rl_bufpool_put(&p, f, cap);
    assert_int_equal(p.idle_bytes, 512 << 10);
    rl_bufpool_clear(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_level_parse),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_alloc),
        cmocka_unit_test(test_bufpool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
