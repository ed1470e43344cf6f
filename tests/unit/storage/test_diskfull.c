/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_diskfull.c - a real full disk: the test mounts a 2 MiB tmpfs in a temporary directory,
 * fills it with a partition log (io_uring writes with zero pre-writing) plus a filler file, and
 * checks that ENOSPC reaches the append callbacks, the partition reports the error, everything
 * written before stays readable, and appends succeed again once the filler is deleted.
 * Without the privilege to mount, the test exits 77 (skipped), never passes.
 */
#include <sys/mount.h>

#include "storage_test.h"

static char *mnt;

static int setup(void **state) {
    (void)state;
    return 0;
}

static void test_disk_full(void **state) {
    (void)state;
    char filler[600];
    snprintf(filler, sizeof(filler), "%s/filler", mnt);
    st_write_filler(filler, false);

    char data[600];
    snprintf(data, sizeof(data), "%s/data", mnt);
    struct storage_engine *e = st_engine(data, STORAGE_FLUSH_GROUP_COMMIT, 128 << 10, false);
    struct storage_log *log = st_log(e, "full", NULL);
    struct proto_writer w;
    proto_writer_init(&w);
    st_make_batch(&w, 16, 1000, 1); /* ~16 KiB */
    int64_t good_end;
    int err = st_append_until_error(e, log, w.buf, w.len, 16, &good_end);
    assert_int_equal(err, -ENOSPC);
    assert_true(good_end > 0);
    assert_int_equal(storage_log_error(log), -ENOSPC);
    assert_int_equal(storage_log_end_offset(log), good_end);
    st_check_log(log);
    uint8_t *buf = rl_malloc(64 << 10);
    size_t got;
    assert_int_equal(storage_log_read_copy(log, good_end - 1, buf, 64 << 10, &got), 0);
    struct proto_batch_header h;
    assert_int_equal(proto_batch_validate(buf, got, &h), 0);
    assert_int_equal(h.BaseOffset, good_end - 16);

    /* still full: the retry cuts back and fails again, nothing reported as success */
    int64_t base;
    int rc = st_append_sync(e, log, w.buf, w.len, true, &base);
    if (rc == 0) {
        /* the cut freed the partial write's blocks: that may be enough for one more batch */
        assert_int_equal(base, good_end);
        good_end += 16;
        rc = st_append_sync(e, log, w.buf, w.len, true, &base);
    }
    assert_int_equal(rc, -ENOSPC);

    /* space freed: appends work again, continuing at the right offset */
    assert_int_equal(unlink(filler), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(st_append_sync(e, log, w.buf, w.len, true, &base), 0);
        assert_int_equal(base, good_end);
        good_end += 16;
    }
    assert_int_equal(storage_log_error(log), 0);
    st_check_log(log);
    storage_engine_close(e);

    e = st_engine(data, STORAGE_FLUSH_GROUP_COMMIT, 128 << 10, false);
    log = st_log(e, "full", NULL);
    assert_int_equal(storage_log_end_offset(log), good_end);
    st_check_log(log);
    storage_engine_close(e);
    proto_writer_free(&w);
    rl_free(buf);
}

int main(void) {
    rl_log_set_level(RL_LOG_ERROR + 1);
    char *dir = st_tmpdir();
    mnt = dir;
    if (mount("tmpfs", dir, "tmpfs", 0, "size=2m") != 0) {
        fprintf(stderr, "test_diskfull: cannot mount a tmpfs on %s (%s): skipped\n", dir,
                strerror(errno));
        rmdir(dir);
        rl_free(dir);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_disk_full, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    umount2(dir, MNT_DETACH);
    rmdir(dir);
    rl_free(dir);
    return rc;
}
