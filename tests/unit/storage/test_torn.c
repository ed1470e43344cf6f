/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_torn.c - recovery from damaged tails: a batch cut short, garbage or zeros after the last
 * batch, a flipped CRC byte, a deleted or garbled index, and corruption inside an older segment
 * with the recovery point checkpoint gone. Recovery must cut to the last valid batch (dropping
 * later segments), rebuild indexes, and appends must continue at the right offset.
 */
#include "storage_test.h"

struct fixture {
    struct st_fixture st; /* first: st_teardown frees the fixture */
    char seg[512];        /* path of the first segment's .log */
    struct storage_log_config cfg;
};

static int setup(void **state) {
    struct fixture *f = st_fixture_new(sizeof(*f));
    snprintf(f->seg, sizeof(f->seg), "%s/torn-0/00000000000000000000.log", f->st.dir);
    storage_log_config_default(&f->cfg);
    f->cfg.index_interval_bytes = 256;
    /* 20 batches of 5 records (offsets 0..99), closed cleanly */
    struct storage_engine *e = st_engine(f->st.dir, STORAGE_FLUSH_GROUP_COMMIT, 1 << 16, false);
    struct storage_log *log = st_log(e, "torn", &f->cfg);
    for (int i = 0; i < 20; i++)
        assert_int_equal(st_append_records(e, log, 5, 100, 1000 + i, true, NULL), 0);
    storage_engine_close(e);
    *state = f;
    return 0;
}

/* Reopens (unclean unless clean is set), checks end offset, contents, and the next append. */
static void reopen_expect(struct fixture *f, bool clean, int64_t end) {
    if (!clean) st_make_unclean(f->st.dir);
    struct storage_engine *e = st_engine(f->st.dir, STORAGE_FLUSH_GROUP_COMMIT, 1 << 16, false);
    assert_int_equal(storage_engine_was_clean(e), clean);
    struct storage_log *log = st_log(e, "torn", &f->cfg);
    assert_int_equal(storage_log_end_offset(log), end);
    st_check_log(log);
    uint8_t buf[4096];
    size_t got;
    struct proto_batch_header h;
    for (int64_t o = 0; o < end; o++) {
        assert_int_equal(storage_log_read_copy(log, o, buf, 700, &got), 0);
        assert_int_equal(proto_batch_validate(buf, got, &h), 0);
        assert_int_equal(h.BaseOffset, o - o % 5);
    }
    int64_t base;
    assert_int_equal(st_append_records(e, log, 5, 100, 5000, true, &base), 0);
    assert_int_equal(base, end);
    st_check_log(log);
    storage_engine_close(e);
    /* and once more, cleanly */
    e = st_engine(f->st.dir, STORAGE_FLUSH_GROUP_COMMIT, 1 << 16, false);
    log = st_log(e, "torn", &f->cfg);
    assert_int_equal(storage_log_end_offset(log), end + 5);
    st_check_log(log);
    storage_engine_close(e);
}

static void test_truncated_last_batch(void **state) {
    struct fixture *f = *state;
    off_t sz = st_file_size(f->seg);
    assert_int_equal(truncate(f->seg, sz - 50), 0);
    reopen_expect(f, false, 95);
}

static void test_garbage_after_tail(void **state) {
    struct fixture *f = *state;
    int fd = open(f->seg, O_WRONLY | O_APPEND);
    uint8_t junk[1000];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 131 + 7);
    assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);
    reopen_expect(f, false, 100);
}

static void test_zeros_after_tail(void **state) {
    struct fixture *f = *state;
    off_t sz = st_file_size(f->seg);
    assert_int_equal(truncate(f->seg, sz + 65536), 0); /* like pre-written zeros at a crash */
    reopen_expect(f, false, 100);
    assert_true(st_file_size(f->seg) < sz + 2000);
}

static void test_flipped_crc(void **state) {
    struct fixture *f = *state;
    off_t sz = st_file_size(f->seg);
    off_t one = sz / 20;
    int fd = open(f->seg, O_RDWR);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, sz - one + 17), 1); /* CRC of the last batch */
    b ^= 0x01;
    assert_int_equal(pwrite(fd, &b, 1, sz - one + 17), 1);
    close(fd);
    reopen_expect(f, false, 95);
}

static void test_flipped_payload_byte(void **state) {
    struct fixture *f = *state;
    off_t sz = st_file_size(f->seg);
    int fd = open(f->seg, O_RDWR);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, sz - 10), 1);
    b ^= 0x80;
    assert_int_equal(pwrite(fd, &b, 1, sz - 10), 1);
    close(fd);
    reopen_expect(f, false, 95);
}

static void test_deleted_index_unclean(void **state) {
    struct fixture *f = *state;
    char p[600];
    snprintf(p, sizeof(p), "%s/torn-0/00000000000000000000.index", f->st.dir);
    assert_int_equal(unlink(p), 0);
    reopen_expect(f, false, 100);
    assert_true(st_file_size(p) >= 8);
}

static void test_deleted_index_clean(void **state) {
    struct fixture *f = *state;
    char p[600];
    snprintf(p, sizeof(p), "%s/torn-0/00000000000000000000.index", f->st.dir);
    assert_int_equal(unlink(p), 0);
    snprintf(p, sizeof(p), "%s/torn-0/00000000000000000000.timeindex", f->st.dir);
    assert_int_equal(unlink(p), 0);
    reopen_expect(f, true, 100);
    assert_true(st_file_size(p) >= 12);
}

static void test_garbled_index_clean(void **state) {
    struct fixture *f = *state;
    char p[600];
    snprintf(p, sizeof(p), "%s/torn-0/00000000000000000000.index", f->st.dir);
    int fd = open(p, O_WRONLY | O_TRUNC);
    uint8_t junk[24] = {0, 0, 0, 9, 0,    0,    0x30, 0, 0, 0, 0, 3,
                        0, 0, 1, 0, 0xff, 0xff, 0,    0, 0, 0, 0, 0};
    assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);
    reopen_expect(f, true, 100);
}

/* Corruption inside an older segment, recovery point checkpoint deleted: full scan, cut there,
 * later segments dropped. */
static void test_corrupt_older_segment(void **state) {
    struct fixture *f = *state;
    char dir2[600];
    snprintf(dir2, sizeof(dir2), "%s/multi", f->st.dir);
    struct storage_log_config cfg = f->cfg;
    cfg.segment_bytes = 2000; /* ~3 batches of ~630 bytes per segment */
    struct storage_engine *e = st_engine(dir2, STORAGE_FLUSH_GROUP_COMMIT, 0, false);
    struct storage_log *log = st_log(e, "m", &cfg);
    for (int i = 0; i < 12; i++)
        assert_int_equal(st_append_records(e, log, 5, 100, 1000 + i, true, NULL), 0);
    int nseg = storage_log_segment_count(log);
    assert_true(nseg >= 4);
    storage_engine_close(e);
    /* segment 2 starts at offset 15 (3 batches per segment); damage its second batch */
    char p[700];
    snprintf(p, sizeof(p), "%s/m-0/00000000000000000015.log", dir2);
    off_t sz = st_file_size(p);
    assert_true(sz > 0);
    int fd = open(p, O_RDWR);
    uint8_t b = 0x42;
    assert_int_equal(pwrite(fd, &b, 1, sz / 3 + 40), 1);
    close(fd);
    snprintf(p, sizeof(p), "%s/recovery-point-offset-checkpoint", dir2);
    assert_int_equal(unlink(p), 0);
    st_make_unclean(dir2);
    e = st_engine(dir2, STORAGE_FLUSH_GROUP_COMMIT, 0, false);
    log = st_log(e, "m", &cfg);
    assert_int_equal(storage_log_end_offset(log), 20);
    assert_int_equal(storage_log_segment_count(log), 2);
    st_check_log(log);
    int64_t base;
    assert_int_equal(st_append_records(e, log, 5, 100, 1, true, &base), 0);
    assert_int_equal(base, 20);
    snprintf(p, sizeof(p), "%s/m-0/00000000000000000030.log", dir2);
    assert_int_equal(access(p, F_OK), -1); /* dropped */
    storage_engine_close(e);
}

/* With the recovery point checkpoint present, recovery reads nothing below it: damage in an
 * old segment goes unnoticed at start-up (proof that start-up does not scan checkpointed data),
 * while a torn tail after it is still cut. */
static void test_recovery_starts_at_checkpoint(void **state) {
    struct fixture *f = *state;
    char dir2[600];
    snprintf(dir2, sizeof(dir2), "%s/rp", f->st.dir);
    struct storage_log_config cfg = f->cfg;
    cfg.segment_bytes = 2000;
    struct storage_engine *e = st_engine(dir2, STORAGE_FLUSH_GROUP_COMMIT, 0, false);
    struct storage_log *log = st_log(e, "m", &cfg);
    for (int i = 0; i < 12; i++)
        assert_int_equal(st_append_records(e, log, 5, 100, 1000 + i, true, NULL), 0);
    storage_engine_close(e);
    char p[700];
    snprintf(p, sizeof(p), "%s/m-0/00000000000000000015.log", dir2);
    int fd = open(p, O_RDWR);
    uint8_t b = 0x42;
    assert_int_equal(pwrite(fd, &b, 1, 100), 1);
    close(fd);
    snprintf(p, sizeof(p), "%s/m-0/00000000000000000045.log", dir2);
    off_t sz = st_file_size(p);
    assert_int_equal(truncate(p, sz - 7), 0);
    st_make_unclean(dir2);
    e = st_engine(dir2, STORAGE_FLUSH_GROUP_COMMIT, 0, false);
    log = st_log(e, "m", &cfg);
    assert_int_equal(storage_log_end_offset(log), 55);
    int64_t base;
    assert_int_equal(st_append_records(e, log, 5, 100, 1, true, &base), 0);
    assert_int_equal(base, 55);
    storage_engine_close(e);
}

int main(void) {
    rl_log_set_level(RL_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_truncated_last_batch, setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_garbage_after_tail, setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_zeros_after_tail, setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_flipped_crc, setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_flipped_payload_byte, setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_deleted_index_unclean, setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_deleted_index_clean, setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_garbled_index_clean, setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_older_segment, setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_recovery_starts_at_checkpoint, setup, st_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
