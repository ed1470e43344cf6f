/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_faults.c - injected I/O faults through the ops layer: EIO / ENOSPC on a write, EIO on an
 * fsync, short writes; on io_uring and on the posix backend. A failed write or fsync never
 * reports success, the partition enters an error state, nothing durable is damaged, and the next
 * append cuts back to the last good offset and succeeds.
 */
#include "storage_test.h"

struct fixture {
    struct st_fixture st; /* first: st_teardown_faults frees the fixture */
    bool posix;
};

static int setup_common(void **state, bool posix) {
    struct fixture *f = st_fixture_new(sizeof(*f));
    f->posix = posix;
    *state = f;
    return 0;
}
static int setup_uring(void **state) {
    return setup_common(state, false);
}
static int setup_posix(void **state) {
    return setup_common(state, true);
}

static void check_reopen(struct fixture *f, int64_t end) {
    struct storage_engine *e = st_engine(f->st.dir, STORAGE_FLUSH_GROUP_COMMIT, 1 << 16, f->posix);
    struct storage_log *log = st_log(e, "f", NULL);
    assert_int_equal(storage_log_end_offset(log), end);
    st_check_log(log);
    storage_engine_close(e);
}

static void write_error(void **state, int err) {
    struct fixture *f = *state;
    struct storage_engine *e = st_engine(f->st.dir, STORAGE_FLUSH_GROUP_COMMIT, 1 << 16, f->posix);
    struct storage_log *log = st_log(e, "f", NULL);
    for (int i = 0; i < 5; i++)
        assert_int_equal(st_append_records(e, log, 5, 100, i, true, NULL), 0);

    /* three appends in flight; the second write fails */
    storage_fault_inject(STORAGE_FAULT_WRITE, 2, err, false);
    struct proto_writer w[3];
    struct st_result r[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        proto_writer_init(&w[i]);
        st_make_batch(&w[i], 5, 100, 10 + i);
        int64_t base;
        assert_int_equal(storage_log_append(log, w[i].buf, w[i].len, 0, false, st_cb, &r[i], &base),
                         0);
        assert_int_equal(base, 25 + 5 * i);
    }
    for (int i = 0; i < 3; i++)
        st_wait_done(e, &r[i].done, 1);
    assert_int_equal(r[0].err, 0);
    assert_int_equal(r[1].err, -err);
    assert_int_equal(r[2].err, -err); /* written after a hole: never reported as success */
    assert_int_equal(storage_log_error(log), -err);
    assert_int_equal(storage_log_end_offset(log), 30);
    for (int i = 0; i < 3; i++)
        proto_writer_free(&w[i]);

    /* durable data is intact and readable */
    uint8_t buf[4096];
    size_t got;
    assert_int_equal(storage_log_read_copy(log, 27, buf, sizeof(buf), &got), 0);

    /* the next append cuts back to offset 30 and succeeds */
    int64_t base;
    assert_int_equal(st_append_records(e, log, 5, 100, 99, true, &base), 0);
    assert_int_equal(base, 30);
    assert_int_equal(storage_log_error(log), 0);
    st_check_log(log);
    storage_engine_close(e);
    check_reopen(f, 35);
}

static void test_write_eio(void **state) {
    write_error(state, EIO);
}
static void test_write_enospc(void **state) {
    write_error(state, ENOSPC);
}

static void test_fsync_eio(void **state) {
    struct fixture *f = *state;
    struct storage_engine *e = st_engine(f->st.dir, STORAGE_FLUSH_GROUP_COMMIT, 1 << 16, f->posix);
    struct storage_log *log = st_log(e, "f", NULL);
    for (int i = 0; i < 2; i++)
        assert_int_equal(st_append_records(e, log, 5, 100, i, true, NULL), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(st_append_records(e, log, 5, 100, i, false, NULL), 0);
    assert_int_equal(storage_log_end_offset(log), 20);
    storage_fault_inject(STORAGE_FAULT_FSYNC, 1, EIO, false);
    int64_t base;
    assert_int_equal(st_append_records(e, log, 5, 100, 7, true, &base), -EIO);
    assert_int_equal(base, 20);
    assert_int_equal(storage_log_error(log), -EIO);
    /* after a failed fsync only what an earlier fsync covered is trusted: cut back to 10 */
    assert_int_equal(st_append_records(e, log, 5, 100, 8, true, &base), 0);
    assert_int_equal(base, 10);
    assert_int_equal(storage_log_end_offset(log), 15);
    st_check_log(log);
    storage_engine_close(e);
    check_reopen(f, 15);
}

static void test_short_write(void **state) {
    struct fixture *f = *state;
    struct storage_engine *e = st_engine(f->st.dir, STORAGE_FLUSH_GROUP_COMMIT, 1 << 16, f->posix);
    struct storage_log *log = st_log(e, "f", NULL);
    assert_int_equal(st_append_records(e, log, 5, 100, 1, true, NULL), 0);
    storage_fault_inject(STORAGE_FAULT_WRITE, 1, 0, true);
    int64_t base;
    assert_int_equal(st_append_records(e, log, 50, 200, 2, true, &base), 0);
    assert_int_equal(base, 5);
    assert_int_equal(st_append_records(e, log, 5, 100, 3, true, &base), 0);
    assert_int_equal(base, 55);
    st_check_log(log);
    storage_engine_close(e);
    check_reopen(f, 60);
}

/* Appends made while a write of the log is in flight queue behind it and go out as one writev
 * when it completes: 8 appends are 2 writes. A fault armed for the 3rd write therefore hits the
 * next append, a short write of the group continues where it stopped, and a failed group
 * write fails every append in it. */
static void append_n(struct storage_engine *e, struct storage_log *log, int n, int seed,
                     struct st_result *r, int64_t first_base) {
    struct proto_writer *w = rl_calloc((size_t)n, sizeof(*w));
    for (int i = 0; i < n; i++) {
        proto_writer_init(&w[i]);
        st_make_batch(&w[i], 3, 100 + 50 * i, seed + i);
        int64_t base;
        assert_int_equal(storage_log_append(log, w[i].buf, w[i].len, 0, true, st_cb, &r[i], &base),
                         0);
        assert_int_equal(base, first_base + 3 * i);
    }
    for (int i = 0; i < n; i++)
        st_wait_done(e, &r[i].done, 1);
    for (int i = 0; i < n; i++)
        proto_writer_free(&w[i]);
    rl_free(w);
}

static void test_coalesced_writes(void **state) {
    struct fixture *f = *state;
    if (st_direct_env()) {
        /* direct I/O splits and groups writes its own way (whole blocks in flight, held-back
         * tails written later): the write counts above do not apply; test_direct.c sweeps a
         * fault over every write of a group instead */
        fprintf(stderr, "test_coalesced_writes: counts buffered writes, skipped in direct mode\n");
        skip();
    }
    struct storage_engine *e = st_engine(f->st.dir, STORAGE_FLUSH_GROUP_COMMIT, 0, f->posix);
    struct storage_log *log = st_log(e, "f", NULL);
    struct st_result r[8];

    storage_fault_inject(STORAGE_FAULT_WRITE, 3, EIO, false);
    memset(r, 0, sizeof(r));
    append_n(e, log, 8, 10, r, 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(r[i].err, 0); /* two writes: the armed third one is still ahead */
    assert_int_equal(storage_log_end_offset(log), 24);
    int64_t base;
    assert_int_equal(st_append_records(e, log, 3, 100, 30, true, &base), -EIO);
    assert_int_equal(base, 24);
    assert_int_equal(st_append_records(e, log, 3, 100, 31, true, &base), 0); /* cut back */
    assert_int_equal(base, 24);

    /* the group write comes back short: the rest of it is written, all succeed */
    storage_fault_inject(STORAGE_FAULT_WRITE, 2, 0, true);
    memset(r, 0, sizeof(r));
    append_n(e, log, 8, 40, r, 27);
    for (int i = 0; i < 8; i++)
        assert_int_equal(r[i].err, 0);
    assert_int_equal(storage_log_end_offset(log), 51);

    /* the group write fails: all 8 fail (the first, written alone, was still waiting for its
     * fdatasync, and a failed log fails its waiters); the log keeps what was written */
    storage_fault_inject(STORAGE_FAULT_WRITE, 2, ENOSPC, false);
    memset(r, 0, sizeof(r));
    append_n(e, log, 8, 60, r, 51);
    for (int i = 0; i < 8; i++)
        assert_int_equal(r[i].err, -ENOSPC);
    assert_int_equal(storage_log_end_offset(log), 54);
    assert_int_equal(st_append_records(e, log, 3, 100, 70, true, &base), 0);
    assert_int_equal(base, 54);
    st_check_log(log);
    storage_engine_close(e);
    check_reopen(f, 57);
}

int main(void) {
    rl_log_set_level(RL_LOG_ERROR + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_eio, setup_uring, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_write_enospc, setup_uring, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_fsync_eio, setup_uring, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_short_write, setup_uring, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_write_eio, setup_posix, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_fsync_eio, setup_posix, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_short_write, setup_posix, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_coalesced_writes, setup_uring, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_coalesced_writes, setup_posix, st_teardown_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
