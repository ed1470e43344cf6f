/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_durable.c - a durable append completes only after an fdatasync of its segment file that
 * started after the append's bytes were written, and after an fsync of the log's directory that
 * started after the segment file was created (its name survives a crash). The test binary
 * interposes pwrite, pwritev, fdatasync, fsync and openat (the posix backend's calls) to record,
 * per file, every write (range, sequence number), every fdatasync and fsync, and every creation,
 * then checks each durable append against them: with appends queued across several segment
 * rolls, reaped one by one, and in between.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "storage_test.h"

enum { MAX_EV = 1 << 16 };

enum { EV_FDATASYNC = -1, EV_DIR_FSYNC = -2, EV_CREATE = -3 }; /* ev.len of what is not a write */

struct ev {
    ino_t ino;
    int64_t off, len; /* writes; len < 0: EV_* */
    long seq;
};

static struct ev evs[MAX_EV];
static int n_evs;
static long seq_now;

static void record(int fd, int64_t off, int64_t len) {
    struct stat st;
    if (fstat(fd, &st) != 0 || n_evs >= MAX_EV) return;
    if (!S_ISREG(st.st_mode) && !(len == EV_DIR_FSYNC && S_ISDIR(st.st_mode))) return;
    evs[n_evs++] = (struct ev){st.st_ino, off, len, ++seq_now};
}

/* The interposed calls: record, then do the real system call. */
ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
    ssize_t rc = syscall(SYS_pwrite64, fd, buf, n, off);
    if (rc > 0) record(fd, off, rc);
    return rc;
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) {
    ssize_t rc = syscall(SYS_pwritev, fd, iov, cnt, (unsigned long)off,
                         (unsigned long)((uint64_t)off >> 32));
    if (rc > 0) record(fd, off, rc);
    return rc;
}

int fdatasync(int fd) {
    record(fd, 0, EV_FDATASYNC); /* before the call: what was written before it is covered */
    return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd) {
    struct stat st;
    bool dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    record(fd, 0, dir ? EV_DIR_FSYNC : EV_FDATASYNC); /* fsync covers what fdatasync does */
    return (int)syscall(SYS_fsync, fd);
}

int openat(int dirfd, const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    int fd = (int)syscall(SYS_openat, dirfd, path, flags, mode);
    if (fd >= 0 && (flags & O_CREAT)) record(fd, 0, EV_CREATE);
    return fd;
}

struct done {
    int n;
    int err;
    long seq; /* when the callback ran */
    int64_t base;
};

static void done_cb(void *arg, int err, int64_t base) {
    struct done *d = arg;
    d->n++;
    d->err = err;
    d->base = base;
    d->seq = ++seq_now;
}

/* Checks one completed durable append: the first write that covered its last byte, then an
 * fdatasync of the same file before the callback; and an fsync of the log's directory (inode
 * dir_ino) after the file was last created, before the callback. */
static void check_synced(struct storage_log *log, ino_t dir_ino, const struct done *d, size_t len) {
    struct storage_slice sl;
    assert_int_equal(storage_log_read(log, d->base, 1, &sl), 0);
    assert_true(sl.len >= (int32_t)len);
    struct stat st;
    assert_int_equal(fstat(sl.fd, &st), 0);
    int64_t last = sl.file_pos + (int64_t)len - 1;
    long wseq = -1;
    for (int i = 0; i < n_evs && wseq < 0; i++)
        if (evs[i].ino == st.st_ino && evs[i].len > 0 && evs[i].seq < d->seq &&
            evs[i].off <= last && last < evs[i].off + evs[i].len)
            wseq = evs[i].seq;
    if (wseq < 0)
        fail_msg("durable append at offset %lld completed before any write of its last byte",
                 (long long)d->base);
    long cseq = -1;
    for (int i = 0; i < n_evs; i++)
        if (evs[i].ino == st.st_ino && evs[i].len == EV_CREATE && evs[i].seq < d->seq)
            cseq = evs[i].seq;
    if (cseq < 0)
        fail_msg("segment inode %lu of offset %lld: no creation recorded", (unsigned long)st.st_ino,
                 (long long)d->base);
    bool dir_synced = false;
    for (int i = 0; i < n_evs && !dir_synced; i++)
        dir_synced = evs[i].ino == dir_ino && evs[i].len == EV_DIR_FSYNC && evs[i].seq > cseq &&
                     evs[i].seq < d->seq;
    if (!dir_synced)
        fail_msg("durable append at offset %lld completed before an fsync of the directory after "
                 "its segment file was created",
                 (long long)d->base);
    for (int i = 0; i < n_evs; i++)
        if (evs[i].ino == st.st_ino && evs[i].len == EV_FDATASYNC && evs[i].seq > wseq &&
            evs[i].seq < d->seq)
            return;
    fail_msg("durable append at offset %lld (file position %lld of segment inode %lu) completed "
             "without an fdatasync of its segment after it was written",
             (long long)d->base, (long long)sl.file_pos, (unsigned long)st.st_ino);
}

/* A fresh data directory and no recorded events for each test. */
static int setup(void **state) {
    int rc = st_setup(state);
    n_evs = 0;
    return rc;
}

/* mode 0: all appends queued at once; 1: each reaped (its write done, the fsync in flight)
 * before the next; 2: in groups of three. */
static void durable_case(const struct st_fixture *f, int mode, int64_t prealloc) {
    struct storage_engine *e = st_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, prealloc, true);
    struct storage_log_config lc;
    storage_log_config_default(&lc);
    lc.segment_bytes = 3000;
    struct storage_log *log = st_log(e, "dur", &lc);
    enum { N = 24 };
    struct proto_writer w[N];
    struct done d[N];
    memset(d, 0, sizeof(d));
    for (int i = 0; i < N; i++) {
        proto_writer_init(&w[i]);
        st_make_batch(&w[i], 1, 1000 + (size_t)(37 * i), i);
        int64_t base;
        assert_int_equal(
            storage_log_append(log, w[i].buf, w[i].len, 1, true, done_cb, &d[i], &base), 0);
        assert_int_equal(base, i);
        if (mode == 1 || (mode == 2 && i % 3 == 2)) {
            usleep(300);
            storage_engine_poll(e);
        }
    }
    for (int i = 0; i < N; i++) {
        st_wait_done(e, &d[i].n, 1);
        assert_int_equal(d[i].err, 0);
    }
    assert_true(storage_log_segment_count(log) >= N / 3);
    char dir[PATH_MAX];
    struct stat dst;
    snprintf(dir, sizeof(dir), "%s/dur-0", f->dir);
    assert_int_equal(stat(dir, &dst), 0);
    for (int i = 0; i < N; i++)
        check_synced(log, dst.st_ino, &d[i], w[i].len);
    for (int i = 0; i < N; i++)
        proto_writer_free(&w[i]);
    st_check_log(log);
    storage_engine_close(e);
}

static void test_durable_all_queued(void **state) {
    durable_case(*state, 0, 0);
}
static void test_durable_reaped_each(void **state) {
    durable_case(*state, 1, 0);
}
static void test_durable_groups(void **state) {
    durable_case(*state, 2, 0);
}
static void test_durable_all_queued_prealloc(void **state) {
    durable_case(*state, 0, 4096);
}
static void test_durable_reaped_each_prealloc(void **state) {
    durable_case(*state, 1, 4096);
}

int main(void) {
    rl_log_set_level(RL_LOG_ERROR + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_durable_all_queued, setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_durable_reaped_each, setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_durable_groups, setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_durable_all_queued_prealloc, setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_durable_reaped_each_prealloc, setup, st_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
