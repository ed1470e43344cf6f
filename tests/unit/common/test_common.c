/* SPDX-License-Identifier: Apache-2.0 */
/* test_common.c - the common/ basics: log level parsing, clocks, hashing, allocation. */
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_level_parse),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
