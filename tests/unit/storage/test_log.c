/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_log.c - partition log unit tests: append (every flush policy, io_uring and posix),
 * read (whole batches, KIP-74), index and time index, roll (with spare files made ahead),
 * retention, delete-records,
 * truncate, clean reopen and scan.
 */
#include <linux/magic.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/vfs.h>

#include "storage_test.h"

static void small_cfg(struct storage_log_config *c) {
    storage_log_config_default(c);
    c->index_interval_bytes = 256;
}

/* Appends n batches of 5 records (100-byte values, timestamps 1000*i) and checks offsets. */
static void append_n(struct storage_engine *e, struct storage_log *log, int n, bool durable) {
    int64_t first = storage_log_end_offset(log);
    for (int i = 0; i < n; i++) {
        int64_t base;
        assert_int_equal(
            st_append_records(e, log, 5, 100, 1000 * (first / 5 + i + 1), durable, &base), 0);
        assert_int_equal(base, first + 5 * i);
    }
    assert_int_equal(storage_log_end_offset(log), first + 5 * n);
}

static void run_basic(const char *dir, enum storage_flush_policy p, bool posix) {
    struct storage_engine *e = st_engine(dir, p, 1 << 16, posix);
    struct storage_log_config cfg;
    small_cfg(&cfg);
    struct storage_log *log = st_log(e, "basic", &cfg);
    assert_int_equal(storage_log_end_offset(log), 0);
    append_n(e, log, 10, true);
    append_n(e, log, 10, false);
    assert_int_equal(storage_log_high_watermark(log), 100);
    assert_int_equal(storage_log_error(log), 0);

    /* offset 7 lives in the batch starting at 5: the read starts there, never mid-batch */
    uint8_t buf[1 << 16];
    size_t got;
    assert_int_equal(storage_log_read_copy(log, 7, buf, sizeof(buf), &got), 0);
    struct proto_batch_header h;
    assert_true(got > 0);
    assert_int_equal(proto_batch_validate(buf, got, &h), 0);
    assert_int_equal(h.BaseOffset, 5);
    assert_int_equal(h.PartitionLeaderEpoch, 7);
    assert_int_equal(h.LastOffsetDelta, 4);
    /* every offset reads back as the batch holding it */
    for (int64_t o = 0; o < 100; o++) {
        assert_int_equal(storage_log_read_copy(log, o, buf, 700, &got), 0);
        assert_int_equal(proto_batch_validate(buf, got, &h), 0);
        assert_int_equal(h.BaseOffset, o - o % 5);
    }
    struct storage_slice sl;
    assert_int_equal(storage_log_read(log, 100, 1000, &sl), 0);
    assert_int_equal(sl.len, 0);
    assert_int_equal(storage_log_read(log, 101, 1000, &sl), -ERANGE);
    assert_int_equal(storage_log_read(log, -1, 1000, &sl), -ERANGE);
    st_check_log(log);
    storage_engine_close(e);

    /* clean reopen: same end offset, same contents */
    e = st_engine(dir, p, 1 << 16, posix);
    assert_true(storage_engine_was_clean(e));
    log = st_log(e, "basic", &cfg);
    assert_int_equal(storage_log_end_offset(log), 100);
    st_check_log(log);
    append_n(e, log, 2, true);
    st_check_log(log);
    storage_engine_close(e);
}

static void test_basic_group_commit(void **state) {
    run_basic(((struct st_fixture *)*state)->dir, STORAGE_FLUSH_GROUP_COMMIT, false);
}
static void test_basic_interval(void **state) {
    run_basic(((struct st_fixture *)*state)->dir, STORAGE_FLUSH_INTERVAL, false);
}
static void test_basic_none(void **state) {
    run_basic(((struct st_fixture *)*state)->dir, STORAGE_FLUSH_NONE, false);
}
static void test_basic_posix(void **state) {
    run_basic(((struct st_fixture *)*state)->dir, STORAGE_FLUSH_GROUP_COMMIT, true);
}

/* Many durable appends in flight at once all complete, in offset order. */
struct order_ctx {
    int done;
    int64_t last;
    int bad;
};
static void order_cb(void *arg, int err, int64_t base) {
    struct order_ctx *c = arg;
    if (err || base <= c->last) c->bad++;
    c->last = base;
    c->done++;
}

static void test_group_commit_concurrent(void **state) {
    struct st_fixture *f = *state;
    struct storage_engine *e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 1 << 20, false);
    struct storage_log *log = st_log(e, "gc", NULL);
    enum { N = 200 };
    struct proto_writer w[N];
    struct order_ctx c = {.last = -1};
    for (int i = 0; i < N; i++) {
        proto_writer_init(&w[i]);
        st_make_batch(&w[i], 3, 50, 1000 + i);
        int64_t base;
        assert_int_equal(storage_log_append(log, w[i].buf, w[i].len, 0, true, order_cb, &c, &base),
                         0);
        assert_int_equal(base, 3 * i);
        if (i % 50 == 49) storage_engine_poll(e);
    }
    st_wait_done(e, &c.done, N);
    assert_int_equal(c.bad, 0);
    assert_int_equal(storage_log_end_offset(log), 3 * N);
    for (int i = 0; i < N; i++)
        proto_writer_free(&w[i]);
    st_check_log(log);
    storage_engine_close(e);
}

static void test_bad_batch_rejected(void **state) {
    struct st_fixture *f = *state;
    struct storage_engine *e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, false);
    struct storage_log *log = st_log(e, "bad", NULL);
    append_n(e, log, 1, true);
    struct proto_writer w;
    proto_writer_init(&w);
    st_make_batch(&w, 2, 10, 1);
    st_make_batch(&w, 2, 10, 1);
    w.buf[w.len - 1] ^= 0x55; /* second batch's CRC no longer matches */
    int64_t base = -1;
    struct st_result r = {0};
    assert_int_equal(storage_log_append(log, w.buf, w.len, 0, true, st_cb, &r, &base), -EBADMSG);
    assert_int_equal(storage_log_append(log, w.buf, 30, 0, true, st_cb, &r, &base), -EBADMSG);
    assert_int_equal(r.done, 0);
    assert_int_equal(storage_log_end_offset(log), 5);
    assert_int_equal(storage_log_size_bytes(log), storage_log_size_bytes(log));
    proto_writer_free(&w);
    append_n(e, log, 1, true);
    st_check_log(log);
    storage_engine_close(e);
}

/* Several batches in one append, and KIP-74 reads. */
static void test_read_max_bytes(void **state) {
    struct st_fixture *f = *state;
    struct storage_engine *e = st_engine(f->dir, STORAGE_FLUSH_NONE, 0, false);
    struct storage_log_config cfg;
    small_cfg(&cfg);
    struct storage_log *log = st_log(e, "kip74", &cfg);
    struct proto_writer w;
    proto_writer_init(&w);
    size_t one = st_make_batch(&w, 4, 200, 5);
    for (int i = 1; i < 20; i++)
        assert_int_equal(st_make_batch(&w, 4, 200, 5), one);
    int64_t base;
    assert_int_equal(st_append_sync(e, log, w.buf, w.len, true, &base), 0);
    assert_int_equal(base, 0);
    assert_int_equal(storage_log_end_offset(log), 80);
    proto_writer_free(&w);

    struct storage_slice sl;
    assert_int_equal(storage_log_read(log, 9, 1, &sl), 0); /* whole first batch even if larger */
    assert_int_equal(sl.len, (int32_t)one);
    assert_int_equal(sl.file_pos, (int64_t)(2 * one));
    assert_int_equal(storage_log_read(log, 9, (int32_t)(3 * one + 10), &sl), 0);
    assert_int_equal(sl.len, (int32_t)(3 * one)); /* whole batches only */
    assert_int_equal(storage_log_read(log, 0, 1 << 30, &sl), 0);
    assert_int_equal(sl.len, (int32_t)(20 * one));
    uint8_t small[64];
    size_t got;
    assert_int_equal(storage_log_read_copy(log, 0, small, sizeof(small), &got), -ENOBUFS);
    storage_engine_close(e);
}

static void test_index_and_timeindex(void **state) {
    struct st_fixture *f = *state;
    struct storage_engine *e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, false);
    struct storage_log_config cfg;
    small_cfg(&cfg);
    struct storage_log *log = st_log(e, "idx", &cfg);
    append_n(e, log, 40, false); /* timestamps 1000..40000 (+4 within a batch) */
    int64_t off, ts;
    assert_int_equal(storage_log_find_timestamp(log, 0, &off, &ts), 0);
    assert_int_equal(off, 0);
    assert_int_equal(ts, 1004);
    assert_int_equal(storage_log_find_timestamp(log, 15500, &off, &ts), 0);
    assert_int_equal(off, 75); /* batch 16: timestamps 16000..16004 */
    assert_int_equal(ts, 16004);
    assert_int_equal(storage_log_find_timestamp(log, 16004, &off, &ts), 0);
    assert_int_equal(off, 75);
    assert_int_equal(storage_log_find_timestamp(log, 16005, &off, &ts), 0);
    assert_int_equal(off, 80);
    assert_int_equal(storage_log_find_timestamp(log, 99999, &off, &ts), 0);
    assert_int_equal(off, 200);
    assert_int_equal(ts, -1);
    assert_int_equal(storage_log_max_timestamp(log, &ts, &off), 0);
    assert_int_equal(ts, 40004);
    assert_int_equal(off, 199);
    storage_engine_close(e);

    /* the index files hold Kafka-layout entries: (relative last offset, position) BE */
    char p[512];
    snprintf(p, sizeof(p), "%s/idx-0/00000000000000000000.index", f->dir);
    off_t sz = st_file_size(p);
    assert_true(sz >= 8 * 5);
    assert_int_equal(sz % 8, 0);
    FILE *fp = fopen(p, "rb");
    uint8_t ent[8];
    assert_int_equal(fread(ent, 1, 8, fp), 8);
    fclose(fp);
    uint32_t rel = (uint32_t)ent[0] << 24 | ent[1] << 16 | ent[2] << 8 | ent[3];
    assert_int_equal(rel % 5, 4); /* last offset of a batch */
    snprintf(p, sizeof(p), "%s/idx-0/00000000000000000000.timeindex", f->dir);
    sz = st_file_size(p);
    assert_true(sz >= 12 * 5);
    assert_int_equal(sz % 12, 0);

    e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, false);
    log = st_log(e, "idx", &cfg);
    assert_int_equal(storage_log_find_timestamp(log, 15500, &off, &ts), 0);
    assert_int_equal(off, 75);
    storage_engine_close(e);
}

/* The read at offset returns whole batches, the first one starting at base. */
static void assert_batch_at(struct storage_log *log, int64_t offset, int64_t base) {
    uint8_t buf[4096];
    size_t got;
    struct proto_batch_header h;
    assert_int_equal(storage_log_read_copy(log, offset, buf, sizeof(buf), &got), 0);
    assert_int_equal(proto_batch_validate(buf, got, &h), 0);
    assert_int_equal(h.BaseOffset, base);
}

static void test_roll_and_retention(void **state) {
    struct st_fixture *f = *state;
    struct storage_engine *e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 4096, false);
    struct storage_log_config cfg;
    small_cfg(&cfg);
    cfg.segment_bytes = 4000;
    struct storage_log *log = st_log(e, "roll", &cfg);
    append_n(e, log, 60, true); /* ~630 bytes each: 6 per segment */
    int nseg = storage_log_segment_count(log);
    assert_true(nseg >= 9);
    char p[512];
    snprintf(p, sizeof(p), "%s/roll-0/00000000000000000030.log", f->dir);
    assert_true(st_file_size(p) > 0 && st_file_size(p) <= 4000); /* cut back: no zeros left */
    st_check_log(log);
    assert_batch_at(log, 33, 30);
    uint8_t buf[4096];
    size_t got;

    /* retention.bytes: keep about 3 segments */
    int64_t size = storage_log_size_bytes(log);
    cfg.retention_bytes = 3 * 4000;
    cfg.retention_ms = -1;
    storage_log_set_config(log, &cfg);
    storage_engine_tick(e, rl_now_ms());
    assert_true(storage_log_segment_count(log) < nseg);
    assert_true(storage_log_size_bytes(log) < size);
    assert_true(storage_log_size_bytes(log) >= 3 * 4000);
    int64_t start = storage_log_start_offset(log);
    assert_true(start > 0);
    assert_int_equal(start % 5, 0);
    assert_int_equal(storage_log_read_copy(log, start - 1, buf, sizeof(buf), &got), -ERANGE);
    assert_int_equal(storage_log_read_copy(log, start, buf, sizeof(buf), &got), 0);
    st_check_log(log);

    /* retention.ms: timestamps are from 1970, so everything but the active segment goes */
    cfg.retention_bytes = -1;
    cfg.retention_ms = 1000;
    storage_log_set_config(log, &cfg);
    storage_engine_tick(e, rl_now_ms());
    assert_int_equal(storage_log_segment_count(log), 1);
    assert_int_equal(storage_log_end_offset(log), 300);
    storage_engine_close(e);

    e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 4096, false);
    log = st_log(e, "roll", &cfg);
    assert_int_equal(storage_log_segment_count(log), 1);
    assert_int_equal(storage_log_end_offset(log), 300);
    assert_true(storage_log_start_offset(log) > start);
    st_check_log(log);
    storage_engine_close(e);
}

static bool exists_at(const char *dir, const char *name) {
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

static ino_t ino_at(const char *dir, const char *name) {
    char p[600];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    assert_int_equal(stat(p, &st), 0);
    return st.st_ino;
}

static const char *const spare_files[3] = {"spare.log", "spare.index", "spare.timeindex"};

static bool any_spare(const char *dir) {
    for (int i = 0; i < 3; i++)
        if (exists_at(dir, spare_files[i])) return true;
    return false;
}

/* Waits until the three spare files in dir exist, then reaps their opens. */
static void wait_spare(struct storage_engine *e, const char *dir) {
    for (int i = 0; i < 500; i++) {
        bool all = true;
        for (int k = 0; k < 3; k++)
            all = all && exists_at(dir, spare_files[k]);
        if (all) break;
        storage_engine_wait(e, 10);
    }
    for (int k = 0; k < 3; k++)
        assert_true(exists_at(dir, spare_files[k]));
    for (int i = 0; i < 5; i++)
        storage_engine_wait(e, 20);
}

/* A roll takes the files made ahead off the owner thread (the spare), the sealed segment is cut
 * by an ftruncate op, a clean close removes a spare, a crash's leftover spare is removed at open,
 * and a spare that cannot be made leaves the roll making its own files. */
static void run_roll_spare(const char *dir, bool posix) {
    struct storage_engine *e = st_engine(dir, STORAGE_FLUSH_GROUP_COMMIT, 4096, posix);
    struct storage_log_config cfg;
    small_cfg(&cfg);
    cfg.segment_bytes = 4000;
    struct storage_log *log = st_log(e, "spare", &cfg);
    char d[512];
    snprintf(d, sizeof(d), "%s/spare-0", dir);
    append_n(e, log, 3, true); /* ~630 bytes each: below half the segment, no spare yet */
    assert_false(any_spare(d));
    append_n(e, log, 1, true); /* past half: the next roll's files are made ahead */
    wait_spare(e, d);
    ino_t spare_ino = ino_at(d, "spare.log");
    append_n(e, log, 3, true); /* the 7th batch rolls at offset 30, into the spare's files */
    assert_int_equal(storage_log_segment_count(log), 2);
    struct storage_engine_stats st;
    storage_engine_stats(e, &st);
    assert_int_equal(st.segment_rolls, 1);
    assert_int_equal(st.segment_rolls_made, 0);
    assert_true(ino_at(d, "00000000000000000030.log") == spare_ino);
    assert_true(exists_at(d, "00000000000000000030.index"));
    assert_true(exists_at(d, "00000000000000000030.timeindex"));
    assert_false(any_spare(d));
    /* the sealed segment is cut to its six batches (pre-written zeros gone) */
    char p0[600];
    snprintf(p0, sizeof(p0), "%s/00000000000000000000.log", d);
    for (int i = 0; i < 200 && st_file_size(p0) > 6 * 630; i++)
        storage_engine_wait(e, 10);
    off_t sz0 = st_file_size(p0);
    assert_true(sz0 > 6 * 600 && sz0 <= 6 * 630);
    assert_batch_at(log, 32, 30);
    append_n(e, log, 3, true); /* a second spare, ready when the log closes */
    wait_spare(e, d);
    st_check_log(log);
    storage_engine_close(e);
    assert_false(any_spare(d)); /* a clean close leaves none */

    /* spare files left by a crash are removed at open and never taken for segments */
    for (int i = 0; i < 2; i++) {
        char p[600];
        snprintf(p, sizeof(p), "%s/%s", d, spare_files[i]);
        st_write_filler(p, false);
    }
    e = st_engine(dir, STORAGE_FLUSH_GROUP_COMMIT, 4096, posix);
    log = st_log(e, "spare", &cfg);
    assert_false(any_spare(d));
    assert_int_equal(storage_log_end_offset(log), 50);
    assert_int_equal(storage_log_segment_count(log), 2);
    st_check_log(log);

    /* spare.log cannot be opened (a directory): the attempt is dropped, the roll makes its files */
    char sp[600];
    snprintf(sp, sizeof(sp), "%s/spare.log", d);
    assert_int_equal(mkdir(sp, 0755), 0);
    append_n(e, log, 1, true); /* 5 batches in the active segment: past half */
    for (int i = 0; i < 10; i++)
        storage_engine_wait(e, 20);
    assert_false(exists_at(d, "spare.index")); /* the failed attempt's other files are gone */
    assert_false(exists_at(d, "spare.timeindex"));
    append_n(e, log, 2, true); /* the second rolls at offset 60 */
    storage_engine_stats(e, &st);
    assert_int_equal(st.segment_rolls, 1);
    assert_int_equal(st.segment_rolls_made, 1);
    assert_int_equal(storage_log_segment_count(log), 3);
    assert_true(exists_at(d, "00000000000000000060.log"));
    assert_int_equal(rmdir(sp), 0);
    st_check_log(log);
    storage_engine_close(e);

    e = st_engine(dir, STORAGE_FLUSH_GROUP_COMMIT, 4096, posix);
    log = st_log(e, "spare", &cfg);
    assert_int_equal(storage_log_end_offset(log), 65);
    st_check_log(log);
    storage_engine_close(e);
}

static void test_roll_spare(void **state) {
    struct st_fixture *f = *state;
    run_roll_spare(f->dir, false);
}

static void test_roll_spare_posix(void **state) {
    struct st_fixture *f = *state;
    run_roll_spare(f->dir, true);
}

static void test_segment_ms_roll(void **state) {
    struct st_fixture *f = *state;
    struct storage_engine *e = st_engine(f->dir, STORAGE_FLUSH_NONE, 0, false);
    struct storage_log_config cfg;
    small_cfg(&cfg);
    cfg.segment_ms = 1000;
    struct storage_log *log = st_log(e, "segms", &cfg);
    append_n(e, log, 2, false);
    storage_engine_tick(e, rl_now_ms());
    assert_int_equal(storage_log_segment_count(log), 1);
    storage_engine_tick(e, rl_now_ms() + 5000);
    assert_int_equal(storage_log_segment_count(log), 2);
    append_n(e, log, 1, false);
    st_check_log(log);
    storage_engine_close(e);
}

static void test_delete_records(void **state) {
    struct st_fixture *f = *state;
    struct storage_engine *e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, false);
    struct storage_log_config cfg;
    small_cfg(&cfg);
    cfg.segment_bytes = 2000;
    struct storage_log *log = st_log(e, "delrec", &cfg);
    append_n(e, log, 20, true);
    int nseg = storage_log_segment_count(log);
    assert_int_equal(storage_log_delete_records(log, 101), -ERANGE);
    assert_int_equal(storage_log_delete_records(log, 42), 0);
    assert_int_equal(storage_log_start_offset(log), 42);
    assert_true(storage_log_segment_count(log) < nseg);
    uint8_t buf[4096];
    size_t got;
    assert_int_equal(storage_log_read_copy(log, 41, buf, sizeof(buf), &got), -ERANGE);
    assert_int_equal(storage_log_read_copy(log, 42, buf, sizeof(buf), &got), 0);
    struct proto_batch_header h;
    assert_int_equal(proto_batch_validate(buf, got, &h), 0);
    assert_int_equal(h.BaseOffset, 40);
    assert_int_equal(storage_log_delete_records(log, 10), 0); /* backwards: no-op */
    assert_int_equal(storage_log_start_offset(log), 42);
    storage_engine_close(e);

    e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, false);
    log = st_log(e, "delrec", &cfg);
    assert_int_equal(storage_log_start_offset(log), 42); /* log-start-offset-checkpoint */
    assert_int_equal(storage_log_end_offset(log), 100);
    storage_engine_close(e);
    char p[512];
    snprintf(p, sizeof(p), "%s/log-start-offset-checkpoint", f->dir);
    FILE *fp = fopen(p, "r");
    assert_non_null(fp);
    char line[3][64];
    for (int i = 0; i < 3; i++)
        assert_non_null(fgets(line[i], sizeof(line[i]), fp));
    fclose(fp);
    assert_string_equal(line[0], "0\n");
    assert_string_equal(line[1], "1\n");
    assert_string_equal(line[2], "delrec 0 42\n");
}

static void test_truncate(void **state) {
    struct st_fixture *f = *state;
    struct storage_engine *e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 8192, false);
    struct storage_log_config cfg;
    small_cfg(&cfg);
    cfg.segment_bytes = 2000;
    struct storage_log *log = st_log(e, "trunc", &cfg);
    append_n(e, log, 30, true);
    /* to a batch boundary inside an older segment */
    assert_int_equal(storage_log_truncate(log, 60), 0);
    assert_int_equal(storage_log_end_offset(log), 60);
    st_check_log(log);
    int64_t base;
    assert_int_equal(st_append_records(e, log, 5, 100, 1, true, &base), 0);
    assert_int_equal(base, 60);
    /* mid-batch: the batch holding the offset goes */
    assert_int_equal(storage_log_truncate(log, 52), 0);
    assert_int_equal(storage_log_end_offset(log), 50);
    assert_int_equal(storage_log_truncate(log, 500), 0);
    assert_int_equal(storage_log_end_offset(log), 50);
    st_check_log(log);
    append_n(e, log, 3, true);
    assert_int_equal(storage_log_end_offset(log), 65);
    st_check_log(log);
    storage_engine_close(e);
    e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 8192, false);
    log = st_log(e, "trunc", &cfg);
    assert_int_equal(storage_log_end_offset(log), 65);
    st_check_log(log);
    assert_int_equal(storage_log_truncate(log, 0), 0);
    assert_int_equal(storage_log_end_offset(log), 0);
    assert_int_equal(storage_log_segment_count(log), 1);
    append_n(e, log, 1, true);
    storage_engine_close(e);
}

static void test_unclean_reopen(void **state) {
    struct st_fixture *f = *state;
    struct storage_engine *e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 1 << 16, false);
    struct storage_log_config cfg;
    small_cfg(&cfg);
    cfg.segment_bytes = 3000;
    struct storage_log *log = st_log(e, "rec", &cfg);
    append_n(e, log, 25, true);
    storage_engine_tick(e, rl_now_ms());
    storage_engine_close(e);
    st_make_unclean(f->dir);
    e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 1 << 16, false);
    assert_false(storage_engine_was_clean(e));
    log = st_log(e, "rec", &cfg);
    assert_int_equal(storage_log_end_offset(log), 125);
    st_check_log(log);
    append_n(e, log, 1, true);
    storage_engine_close(e);
}

static void found_dir(void *arg, const char *topic, int32_t partition) {
    int *n = arg;
    if (strcmp(topic, "my-topic") == 0 && partition == 3) (*n)++;
}

static void test_dirs_and_delete(void **state) {
    struct st_fixture *f = *state;
    struct storage_engine *e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, false);
    struct storage_log *log;
    assert_int_equal(storage_log_open(e, "my-topic", 3, NULL, &log), 0);
    struct storage_log *dup;
    assert_int_equal(storage_log_open(e, "my-topic", 3, NULL, &dup), -EBUSY);
    assert_int_equal(storage_log_open(e, "../x", 0, NULL, &dup), -EINVAL);
    append_n(e, log, 2, true);
    storage_engine_close(e);
    e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, false);
    int n = 0;
    storage_engine_foreach_dir(e, found_dir, &n);
    assert_int_equal(n, 1);
    assert_int_equal(storage_log_open(e, "my-topic", 3, NULL, &log), 0);
    assert_int_equal(storage_log_end_offset(log), 10);
    assert_int_equal(storage_log_delete(log), 0);
    char p[512];
    snprintf(p, sizeof(p), "%s/my-topic-3", f->dir);
    assert_int_equal(access(p, F_OK), -1);
    n = 0;
    storage_engine_foreach_dir(e, found_dir, &n);
    assert_int_equal(n, 0);
    storage_engine_close(e);
}

struct scan_ctx {
    int n;
    int64_t first;
};
static int scan_cb(void *arg, const uint8_t *batch, size_t len) {
    struct scan_ctx *c = arg;
    struct proto_batch_header h;
    assert_int_equal(proto_batch_validate(batch, len, &h), 0);
    if (c->n++ == 0) c->first = h.BaseOffset;
    return c->n == 3; /* stop after three */
}

static void test_scan(void **state) {
    struct st_fixture *f = *state;
    struct storage_engine *e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, false);
    struct storage_log *log = st_log(e, "scan", NULL);
    append_n(e, log, 10, false);
    struct scan_ctx c = {0};
    assert_int_equal(storage_log_scan(log, 23, scan_cb, &c), 0);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.first, 20);
    storage_engine_close(e);
}

/* Resident pages of [from, to) of a file, per mincore(). */
static long resident_pages(const char *path, int64_t from, int64_t to) {
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    long pg = sysconf(_SC_PAGESIZE);
    void *m = mmap(NULL, (size_t)to, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(m != MAP_FAILED);
    size_t n = (size_t)((to + pg - 1) / pg);
    unsigned char *vec = rl_malloc(n);
    assert_int_equal(mincore(m, (size_t)to, vec), 0);
    long res = 0;
    for (size_t i = (size_t)(from / pg); i < n; i++)
        res += vec[i] & 1;
    rl_free(vec);
    munmap(m, (size_t)to);
    close(fd);
    return res;
}

/* fadvise cannot drop tmpfs pages: the cache tests are skipped (reported as such) there. */
static void skip_on_tmpfs(const char *dir) {
    struct statfs sf;
    assert_int_equal(statfs(dir, &sf), 0);
    if (sf.f_type == TMPFS_MAGIC) {
        fprintf(stderr, "test dir is on tmpfs, where fadvise cannot drop pages: skipped\n");
        skip();
    }
}

/* cache_tail_bytes: data older than the newest 1 MiB leaves the page cache after two ticks
 * (the first starts writeback, the second drops); with 0 it stays cached, unless written with
 * O_DIRECT (direct variant), which never caches it. */
static void cache_case(struct st_fixture *f, int64_t tail, bool expect_dropped) {
    skip_on_tmpfs(f->dir);
    struct storage_engine_config cfg = {
        .data_dir = f->dir, .flush_policy = STORAGE_FLUSH_NONE, .cache_tail_bytes = tail};
    st_direct_apply(&cfg);
    struct storage_engine *e = NULL;
    assert_int_equal(storage_engine_open(&cfg, &e), 0);
    st_check_direct(&cfg, e);
    struct storage_log *log = st_log(e, "cache", NULL);
    for (int i = 0; i < 64; i++) /* 64 x ~128 KiB = 8 MiB, written (not synced) */
        assert_int_equal(st_append_records(e, log, 128, 1000, i, false, NULL), 0);
    int64_t size = storage_log_size_bytes(log);
    assert_true(size > (8 << 20) - (1 << 19));
    for (int t = 0; t < 3; t++) {
        storage_engine_tick(e, rl_now_ms());
        for (int k = 0; k < 50 && storage_engine_wait(e, 20) >= 0; k++)
            ;
        usleep(200 * 1000); /* writeback started by the first tick completes */
    }
    char path[600];
    snprintf(path, sizeof(path), "%s/cache-0/00000000000000000000.log", f->dir);
    long pg = sysconf(_SC_PAGESIZE);
    long old_pages = (long)((size - (2 << 20)) / pg);
    long res = resident_pages(path, 0, size - (2 << 20));
    if (expect_dropped || storage_engine_direct_io(e))
        assert_true(res < old_pages / 10); /* O_DIRECT writes never enter the page cache */
    else
        assert_true(res > old_pages / 2);
    /* the data is still all there */
    uint8_t buf[4096];
    size_t got;
    assert_int_equal(storage_log_read_copy(log, 0, buf, sizeof(buf), &got), -ENOBUFS);
    st_check_log(log);
    storage_engine_close(e);
}

/* Without any tick: a log trims its cache every 64 MiB appended; durable (fsynced, clean) data
 * goes at the first ask. */
static void test_cache_tail_by_volume(void **state) {
    struct st_fixture *f = *state;
    skip_on_tmpfs(f->dir);
    struct storage_engine_config cfg = {.data_dir = f->dir,
                                        .flush_policy = STORAGE_FLUSH_GROUP_COMMIT,
                                        .cache_tail_bytes = 1 << 20};
    st_direct_apply(&cfg);
    struct storage_engine *e = NULL;
    assert_int_equal(storage_engine_open(&cfg, &e), 0);
    st_check_direct(&cfg, e);
    struct storage_log *log = st_log(e, "vol", NULL);
    for (int i = 0; i < 70; i++) /* 70 x ~1 MiB, each durable before the next */
        assert_int_equal(st_append_records(e, log, 1000, 1000, i, true, NULL), 0);
    for (int k = 0; k < 50 && storage_engine_wait(e, 20) >= 0; k++)
        ;
    char path[600];
    snprintf(path, sizeof(path), "%s/vol-0/00000000000000000000.log", f->dir);
    long pg = sysconf(_SC_PAGESIZE);
    long res = resident_pages(path, 0, 32 << 20);
    assert_true(res < (32 << 20) / pg / 10);
    st_check_log(log);
    storage_engine_close(e);
}

static void test_cache_tail_dropped(void **state) {
    cache_case(*state, 1 << 20, true);
}

static void test_cache_tail_off(void **state) {
    cache_case(*state, 0, false);
}

static void count_prep_dirs(void *arg, const char *topic, int32_t partition) {
    (void)partition;
    if (strcmp(topic, "prep") == 0) (*(int *)arg)++;
}

/* storage_log_prepare makes the directory and empty first segment that storage_log_open then
 * opens as a new, empty log, from another thread than the engine's; it leaves an existing log
 * alone; bad names are refused. */
struct prep_arg {
    const char *dir;
    int rc;
};
static void *prep_thread(void *arg) {
    struct prep_arg *a = arg;
    for (int p = 0; p < 4 && a->rc == 0; p++)
        a->rc = storage_log_prepare(a->dir, "prep", p);
    return NULL;
}
static void test_prepare_then_open(void **state) {
    struct st_fixture *f = *state;
    struct storage_engine *e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, false);
    struct prep_arg a = {f->dir, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, prep_thread, &a), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(a.rc, 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/prep-3/00000000000000000000.timeindex", f->dir);
    assert_int_equal(st_file_size(path), 0);
    struct storage_log_config cfg;
    small_cfg(&cfg);
    struct storage_log *logs[4];
    for (int p = 0; p < 4; p++) {
        assert_int_equal(storage_log_open(e, "prep", p, &cfg, &logs[p]), 0);
        assert_int_equal(storage_log_start_offset(logs[p]), 0);
        assert_int_equal(storage_log_end_offset(logs[p]), 0);
        assert_int_equal(storage_log_segment_count(logs[p]), 1);
    }
    append_n(e, logs[1], 4, true);
    st_check_log(logs[1]);
    /* the engine lists the prepared directories as its own (once each) */
    int seen = 0;
    storage_engine_foreach_dir(e, count_prep_dirs, &seen);
    assert_int_equal(seen, 4);
    /* prepared again while open: nothing is truncated */
    assert_int_equal(storage_log_prepare(f->dir, "prep", 1), 0);
    storage_engine_close(e);
    e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, false);
    struct storage_log *log = st_log(e, "prep", &cfg);
    assert_int_equal(storage_log_end_offset(log), 0);
    assert_int_equal(storage_log_open(e, "prep", 1, &cfg, &logs[1]), 0);
    assert_int_equal(storage_log_end_offset(logs[1]), 20);
    st_check_log(logs[1]);
    storage_engine_close(e);
    assert_int_equal(storage_log_prepare(f->dir, "a/b", 0), -EINVAL);
    assert_int_equal(storage_log_prepare(f->dir, "..", 0), -EINVAL);
    assert_int_equal(storage_log_prepare(f->dir, "ok", -1), -EINVAL);
    snprintf(path, sizeof(path), "%s/no-such-dir", f->dir);
    assert_int_equal(storage_log_prepare(path, "ok", 0), -ENOENT);
}

int main(void) {
    rl_log_set_level(RL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic_group_commit, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_basic_interval, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_basic_none, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_basic_posix, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_prepare_then_open, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_concurrent, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_bad_batch_rejected, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_read_max_bytes, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_index_and_timeindex, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_roll_and_retention, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_roll_spare, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_roll_spare_posix, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_segment_ms_roll, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_delete_records, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_truncate, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_unclean_reopen, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_dirs_and_delete, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_scan, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_cache_tail_dropped, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_cache_tail_off, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_cache_tail_by_volume, st_setup, st_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
