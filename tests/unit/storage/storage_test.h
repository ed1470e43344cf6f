/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage_test.h - helpers shared by the storage tests: temporary data directories, record
 * batches built with proto_batch_builder_*, synchronous appends and whole-log checks.
 *
 * RINGLET_STORAGE_TEST_DIRECT=1 in the environment runs every engine the tests open with
 * direct_io (CMakeLists.txt registers each test a second time as storage_<name>_direct).
 */
#ifndef RINGLET_STORAGE_TEST_H
#define RINGLET_STORAGE_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "ringlet/common.h"
#include "ringlet/protocol.h"
#include "ringlet/storage.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void st_rm_rf(const char *path) {
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory under /tmp (caller frees and removes it). */
static inline char *st_tmpdir(void) {
    char tmpl[] = "/tmp/ringlet-storage-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return rl_strdup(d);
}

/* Per-test state of most storage tests: a fresh data directory. A file that keeps more per test
 * embeds it as the first member of its own fixture (st_fixture_new, st_teardown). */
struct st_fixture {
    char *dir;
};

/* A zeroed fixture of size bytes (a struct beginning with struct st_fixture) with a fresh data
 * directory. */
static inline void *st_fixture_new(size_t size) {
    struct st_fixture *f = rl_calloc(1, size);
    f->dir = st_tmpdir();
    return f;
}

/* cmocka setup: a struct st_fixture. */
static inline int st_setup(void **state) {
    *state = st_fixture_new(sizeof(struct st_fixture));
    return 0;
}

/* cmocka teardown: removes the data directory and frees the fixture. */
static inline int st_teardown(void **state) {
    struct st_fixture *f = *state;
    st_rm_rf(f->dir);
    rl_free(f->dir);
    rl_free(f);
    return 0;
}

/* cmocka teardown for tests that inject I/O faults: disarms them, then st_teardown. */
static inline int st_teardown_faults(void **state) {
    storage_fault_inject(STORAGE_FAULT_WRITE, 0, 0, false);
    storage_fault_inject(STORAGE_FAULT_FSYNC, 0, 0, false);
    return st_teardown(state);
}

/* Appends one batch of nrec records (value_size bytes each, timestamps ts, ts+1, ...) to w and
 * returns its size. */
static inline size_t st_make_batch(struct proto_writer *w, int nrec, size_t value_size,
                                   int64_t ts) {
    struct proto_batch_builder b;
    proto_batch_builder_init(&b, ts);
    uint8_t *val = rl_malloc(value_size ? value_size : 1);
    for (int i = 0; i < nrec; i++) {
        memset(val, 'a' + (i % 26), value_size);
        char key[32];
        int kl = snprintf(key, sizeof(key), "k%d", i);
        proto_batch_builder_add(&b, ts + i, (struct proto_bytes){(const uint8_t *)key, kl},
                                (struct proto_bytes){val, (int32_t)value_size}, NULL, 0);
    }
    size_t before = w->len;
    assert_int_equal(proto_batch_builder_finish(&b, PROTO_COMPRESSION_NONE, w), 0);
    proto_batch_builder_free(&b);
    rl_free(val);
    return w->len - before;
}

struct st_result {
    int done;
    int err;
    int64_t base;
};

static inline void st_cb(void *arg, int err, int64_t base) {
    struct st_result *r = arg;
    r->done++;
    r->err = err;
    r->base = base;
}

/* Waits (up to ~10 s) until *done reaches target. */
static inline void st_wait_done(struct storage_engine *e, const int *done, int target) {
    for (int i = 0; i < 10000 && *done < target; i++)
        storage_engine_wait(e, 1);
    assert_true(*done >= target);
}

/* Appends a copy of buf and waits for its completion; returns the callback's error, fills base. */
static inline int st_append_sync(struct storage_engine *e, struct storage_log *log,
                                 const uint8_t *buf, size_t len, bool durable, int64_t *base) {
    uint8_t *copy = rl_malloc(len);
    memcpy(copy, buf, len);
    struct st_result r = {0};
    int64_t b = -1;
    int rc = storage_log_append(log, copy, len, 7, durable, st_cb, &r, &b);
    if (rc == 0) {
        st_wait_done(e, &r.done, 1);
        assert_int_equal(r.base, b);
        rc = r.err;
    }
    rl_free(copy);
    if (base) *base = b;
    return rc;
}

/* Appends a copy of buf (one batch of nrec records) durably until an append fails (at most 1000
 * times), checking that each lands at the end of the log; returns the error and sets *end to the
 * end offset after the last append that succeeded. */
static inline int st_append_until_error(struct storage_engine *e, struct storage_log *log,
                                        const uint8_t *buf, size_t len, int nrec, int64_t *end) {
    int64_t good_end = storage_log_end_offset(log);
    int err = 0;
    for (int i = 0; i < 1000 && !err; i++) {
        int64_t base;
        err = st_append_sync(e, log, buf, len, true, &base);
        if (!err) {
            assert_int_equal(base, good_end);
            good_end += nrec;
        }
    }
    *end = good_end;
    return err;
}

/* Writes a 512 KiB filler file at path (deleted later to free space), fsynced if sync is set. */
static inline void st_write_filler(const char *path, bool sync) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    static uint8_t chunk[64 << 10];
    memset(chunk, 0x5a, sizeof(chunk));
    for (int i = 0; i < 8; i++)
        assert_int_equal(write(fd, chunk, sizeof(chunk)), sizeof(chunk));
    if (sync) assert_int_equal(fsync(fd), 0);
    close(fd);
}

/* Appends one fresh batch of nrec records synchronously; returns the callback's error. */
static inline int st_append_records(struct storage_engine *e, struct storage_log *log, int nrec,
                                    size_t value_size, int64_t ts, bool durable, int64_t *base) {
    struct proto_writer w;
    proto_writer_init(&w);
    st_make_batch(&w, nrec, value_size, ts);
    int rc = st_append_sync(e, log, w.buf, w.len, durable, base);
    proto_writer_free(&w);
    return rc;
}

struct st_check {
    int64_t next; /* expected next offset (contiguity) */
    int64_t batches;
    int bad;
};

static inline int st_check_cb(void *arg, const uint8_t *batch, size_t len) {
    struct st_check *c = arg;
    struct proto_batch_header h;
    if (proto_batch_validate(batch, len, &h) != 0 || (c->next >= 0 && h.BaseOffset != c->next))
        c->bad++;
    c->next = h.BaseOffset + h.LastOffsetDelta + 1;
    c->batches++;
    return 0;
}

/* Scans the whole log: every batch valid (CRC) and offsets contiguous up to the end offset. */
static inline void st_check_log(struct storage_log *log) {
    struct st_check c = {.next = -1};
    assert_int_equal(storage_log_scan(log, storage_log_start_offset(log), st_check_cb, &c), 0);
    assert_int_equal(c.bad, 0);
    if (c.batches) assert_int_equal(c.next, storage_log_end_offset(log));
}

/* Whether the tests run in direct mode (RINGLET_STORAGE_TEST_DIRECT=1). */
static inline bool st_direct_env(void) {
    const char *v = getenv("RINGLET_STORAGE_TEST_DIRECT");
    return v && strcmp(v, "1") == 0;
}

/* Applies the mode to a config a test builds: in direct mode every append is written with
 * O_DIRECT (direct_min_bytes 1: no page-cache writes for small groups) and read back from the
 * file (no direct_cache_bytes), so the tests check what O_DIRECT put on disk. */
static inline void st_direct_apply(struct storage_engine_config *cfg) {
    cfg->direct_io = st_direct_env();
    if (cfg->direct_io) cfg->direct_min_bytes = 1;
}

/* Whether path (which must exist) is on a tmpfs, where direct I/O may be unsupported. */
static inline bool st_on_tmpfs(const char *path) {
    struct statfs sf;
    assert_int_equal(statfs(path, &sf), 0);
    return sf.f_type == TMPFS_MAGIC;
}

/* After opening an engine with cfg: in direct mode, off tmpfs, the engine must really write
 * with O_DIRECT (so the direct variants never silently test buffered writes). */
static inline void st_check_direct(const struct storage_engine_config *cfg,
                                   const struct storage_engine *e) {
    if (cfg->direct_io && !st_on_tmpfs(cfg->data_dir)) {
        if (!storage_engine_direct_io(e))
            fail_msg("direct_io requested on %s (not tmpfs) but the engine writes buffered",
                     cfg->data_dir);
    }
    if (!cfg->direct_io) assert_false(storage_engine_direct_io(e));
}

/* The engine config the tests start from (buffered writes; 64 ring entries). */
static inline struct storage_engine_config
st_engine_cfg(const char *dir, enum storage_flush_policy p, int64_t prealloc, bool posix) {
    return (struct storage_engine_config){
        .data_dir = dir,
        .flush_policy = p,
        .segment_preallocate_bytes = prealloc,
        .ring_entries = 64,
        .use_posix_io = posix,
    };
}

/* Opens an engine with cfg; the open must succeed. */
static inline struct storage_engine *st_engine_open(const struct storage_engine_config *cfg) {
    struct storage_engine *e = NULL;
    assert_int_equal(storage_engine_open(cfg, &e), 0);
    return e;
}

/* An engine in the test's mode (st_direct_apply). */
static inline struct storage_engine *st_engine(const char *dir, enum storage_flush_policy p,
                                               int64_t prealloc, bool posix) {
    struct storage_engine_config cfg = st_engine_cfg(dir, p, prealloc, posix);
    st_direct_apply(&cfg);
    struct storage_engine *e = st_engine_open(&cfg);
    st_check_direct(&cfg, e);
    return e;
}

static inline struct storage_log *st_log(struct storage_engine *e, const char *topic,
                                         const struct storage_log_config *cfg) {
    struct storage_log *log = NULL;
    assert_int_equal(storage_log_open(e, topic, 0, cfg, &log), 0);
    return log;
}

/* Removes the clean-shutdown marker so the next open recovers. */
static inline void st_make_unclean(const char *dir) {
    char p[1024];
    snprintf(p, sizeof(p), "%s/.kafka_cleanshutdown", dir);
    unlink(p);
}

/* Forks a child that reports to the parent through a pipe: returns the child's pid (0 in the
 * child) and sets *fd to the write end in the child, the read end in the parent (each closes the
 * other end). */
static inline pid_t st_fork_reporter(int *fd) {
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    close(pid == 0 ? pfd[0] : pfd[1]);
    *fd = pid == 0 ? pfd[1] : pfd[0];
    return pid;
}

static inline off_t st_file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

#endif /* RINGLET_STORAGE_TEST_H */
