/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_read.c - storage_log_read_copy_nowait and storage_log_read_async: asynchronous reads return
 * exactly what storage_log_read_copy returns (io_uring and posix backends, with and without the
 * direct I/O read cache), -EAGAIN from the non-blocking copy once the segment files left the page
 * cache, many reads in flight at once (more than the ring holds), the error cases, reads in flight
 * across storage_log_close / storage_engine_close / storage_log_delete / storage_log_truncate
 * (which must complete them), and delete-records and retention while a read is in flight (the
 * segment read must outlive the read; it goes at the next tick).
 */
#include <dirent.h>
#include <sys/mman.h>

#include "storage_test.h"

/* A group-commit engine in the test's mode; direct engines keep dcache bytes of the newest data
 * in memory (0: every read goes to the file). */
static struct storage_engine *r_engine(const char *dir, bool posix, int64_t dcache) {
    struct storage_engine_config cfg = st_engine_cfg(dir, STORAGE_FLUSH_GROUP_COMMIT, 0, posix);
    st_direct_apply(&cfg);
    if (cfg.direct_io) cfg.direct_cache_bytes = dcache;
    struct storage_engine *e = st_engine_open(&cfg);
    st_check_direct(&cfg, e);
    return e;
}

static void r_cfg(struct storage_log_config *c) {
    storage_log_config_default(c);
    c->index_interval_bytes = 256;
    c->retention_ms = -1; /* the batches carry small timestamps: no time retention */
}

/* Appends n durable batches of 5 records (100-byte values); offsets continue the log. */
static void append_n(struct storage_engine *e, struct storage_log *log, int n) {
    int64_t first = storage_log_end_offset(log);
    for (int i = 0; i < n; i++) {
        int64_t base;
        assert_int_equal(st_append_records(e, log, 5, 100, 1000 * (first / 5 + i + 1), true, &base),
                         0);
        assert_int_equal(base, first + 5 * i);
    }
    assert_int_equal(storage_log_end_offset(log), first + 5 * n);
}

/* ---- one asynchronous read and what it must deliver ------------------------------------ */

struct rd {
    int64_t offset;
    size_t cap;
    uint8_t *buf;  /* cap bytes, poisoned before the read */
    uint8_t *want; /* storage_log_read_copy's bytes */
    size_t want_len;
    int rc; /* storage_log_read_async's return */
    size_t len;
    int calls;
    int err;
};

static void rd_cb(void *arg, int err) {
    struct rd *r = arg;
    r->calls++;
    r->err = err;
}

/* Records what storage_log_read_copy returns at offset (cap bytes): the expected bytes. The
 * first batch must hold offset. */
static void rd_expect(struct storage_log *log, struct rd *r, int64_t offset, size_t cap) {
    memset(r, 0, sizeof(*r));
    r->offset = offset;
    r->cap = cap;
    r->buf = rl_malloc(cap);
    r->want = rl_malloc(cap);
    r->rc = -1;
    assert_int_equal(storage_log_read_copy(log, offset, r->want, cap, &r->want_len), 0);
    assert_true(r->want_len > 0);
    struct proto_batch_header h;
    assert_int_equal(proto_batch_header_parse(r->want, r->want_len, &h), 0);
    assert_true(h.BaseOffset <= offset && offset <= h.BaseOffset + h.LastOffsetDelta);
}

/* Submits the read; returns its rc. A read that will complete later has not completed yet. */
static int rd_submit(struct storage_log *log, struct rd *r) {
    memset(r->buf, 0xEE, r->cap);
    r->len = (size_t)-1;
    r->calls = 0;
    r->err = 0;
    r->rc = storage_log_read_async(log, r->offset, r->buf, r->cap, &r->len, rd_cb, r);
    if (r->rc >= 0) assert_int_equal(r->len, r->want_len);
    if (r->rc == 1) assert_int_equal(r->calls, 0); /* only storage_engine_poll runs callbacks */
    return r->rc;
}

static bool rd_pending(const struct rd *r, int n) {
    for (int i = 0; i < n; i++)
        if (r[i].rc == 1 && r[i].calls == 0) return true;
    return false;
}

/* Waits (up to ~10 s) for every read that returned 1. */
static void rd_wait(struct storage_engine *e, const struct rd *r, int n) {
    for (int i = 0; i < 10000 && rd_pending(r, n); i++)
        storage_engine_wait(e, 1);
    assert_false(rd_pending(r, n));
}

/* The read delivered exactly the expected bytes, its callback ran once (rc 1) or never (rc 0). */
static void rd_check(const struct rd *r) {
    if (r->rc != 0 && r->rc != 1)
        fail_msg("read at %lld: storage_log_read_async returned %d", (long long)r->offset, r->rc);
    if (r->calls != (r->rc == 1 ? 1 : 0))
        fail_msg("read at %lld (rc %d): callback ran %d times", (long long)r->offset, r->rc,
                 r->calls);
    if (r->rc == 1 && r->err != 0)
        fail_msg("read at %lld: callback error %d", (long long)r->offset, r->err);
    assert_int_equal(r->len, r->want_len);
    if (memcmp(r->buf, r->want, r->want_len) != 0)
        fail_msg("read at %lld: %zu bytes differ from storage_log_read_copy's",
                 (long long)r->offset, r->want_len);
}

static void rd_free(struct rd *r, int n) {
    for (int i = 0; i < n; i++) {
        rl_free(r[i].buf);
        rl_free(r[i].want);
        r[i].buf = r[i].want = NULL;
    }
}

/* A few polls more run no callback twice (or late for rc 0). */
static void rd_settle(struct storage_engine *e, const struct rd *r, int n) {
    for (int i = 0; i < 3; i++)
        storage_engine_poll(e);
    for (int i = 0; i < n; i++)
        rd_check(&r[i]);
}

/* ---- page cache ------------------------------------------------------------------------- */

/* Calls fn(path) for every .log file of dir/<topic>-0. Returns the number of files. */
static int foreach_seg_file(const char *dir, const char *topic, void (*fn)(const char *path)) {
    char pdir[512];
    snprintf(pdir, sizeof(pdir), "%s/%s-0", dir, topic);
    DIR *d = opendir(pdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l != 24 || strcmp(de->d_name + 20, ".log") != 0) continue;
        char p[800];
        snprintf(p, sizeof(p), "%s/%s", pdir, de->d_name);
        if (fn) fn(p);
        n++;
    }
    closedir(d);
    return n;
}

static void evict_one(const char *path) {
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    close(fd);
}

/* Drops the (clean: durable) pages of every segment of the log from the page cache. */
static void evict(const char *dir, const char *topic) {
    assert_true(foreach_seg_file(dir, topic, evict_one) > 0);
}

static long g_resident;

static void count_resident(const char *path) {
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    if (st.st_size > 0) {
        long pg = sysconf(_SC_PAGESIZE);
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        assert_true(m != MAP_FAILED);
        size_t n = (size_t)((st.st_size + pg - 1) / pg);
        unsigned char *vec = rl_malloc(n);
        assert_int_equal(mincore(m, (size_t)st.st_size, vec), 0);
        for (size_t i = 0; i < n; i++)
            g_resident += vec[i] & 1;
        rl_free(vec);
        munmap(m, (size_t)st.st_size);
    }
    close(fd);
}

/* Pages of the log's segment files in the page cache (for failure messages). */
static long resident(const char *dir, const char *topic) {
    g_resident = 0;
    foreach_seg_file(dir, topic, count_resident);
    return g_resident;
}

/* fadvise cannot drop tmpfs pages: the eviction checks are skipped (reported) there. */
static void skip_on_tmpfs(const char *dir) {
    if (st_on_tmpfs(dir)) {
        fprintf(stderr, "test dir %s is on tmpfs, where fadvise cannot drop pages: skipped\n", dir);
        skip();
    }
}

static void seg_path(char *p, size_t cap, const char *dir, const char *topic, int64_t base) {
    int k = snprintf(p, cap, "%s/%s-0/%020lld.log", dir, topic, (long long)base);
    assert_true(k > 0 && (size_t)k < cap);
}

static bool seg_exists(const char *dir, const char *topic, int64_t base) {
    char p[800];
    seg_path(p, sizeof(p), dir, topic, base);
    return access(p, F_OK) == 0;
}

/* ---- 1. asynchronous reads return storage_log_read_copy's bytes -------------------------- */

static void run_matches_copy(const char *dir, bool posix, int64_t dcache) {
    struct storage_engine *e = r_engine(dir, posix, dcache);
    struct storage_log_config cfg;
    r_cfg(&cfg);
    struct storage_log *log = st_log(e, "match", &cfg);
    append_n(e, log, 30); /* offsets 0..149 */
    bool cached = storage_engine_direct_io(e) && dcache > 0;

    /* first batch (its base, mid-batch), middle, last offset; one batch or many */
    static const struct {
        int64_t offset;
        size_t cap;
    } reads[] = {{0, 1 << 16}, {2, 700},       {0, 700},   {75, 1 << 16},
                 {77, 2000},   {149, 1 << 16}, {145, 700}, {100, 3000}};
    enum { N = sizeof(reads) / sizeof(reads[0]) };
    struct rd r[N];
    for (int i = 0; i < N; i++) {
        rd_expect(log, &r[i], reads[i].offset, reads[i].cap);
        int rc = rd_submit(log, &r[i]);
        if (rc == 1) {
            rd_wait(e, &r[i], 1);
        } else if (rc == 0) {
            /* everything came from the direct I/O cache: only possible with one */
            if (!cached)
                fail_msg("read at %lld returned 0 without a cache", (long long)r[i].offset);
        }
        rd_check(&r[i]);
    }
    rd_settle(e, r, N);
    if (cached) {
        /* the whole log (30 small batches) is in the 1 MiB cache: copied at once */
        for (int i = 0; i < N; i++)
            if (r[i].rc != 0)
                fail_msg("direct cache of %lld bytes: the read at %lld went to the file",
                         (long long)dcache, (long long)r[i].offset);
    }

    /* all at once, then polled */
    for (int i = 0; i < N; i++)
        rd_submit(log, &r[i]);
    rd_wait(e, r, N);
    rd_settle(e, r, N);
    rd_free(r, N);
    storage_engine_close(e);
}

static void test_matches_copy_uring(void **state) {
    run_matches_copy(((struct st_fixture *)*state)->dir, false, 0);
}
static void test_matches_copy_posix(void **state) {
    run_matches_copy(((struct st_fixture *)*state)->dir, true, 0);
}
static void test_matches_copy_cached(void **state) {
    run_matches_copy(((struct st_fixture *)*state)->dir, false, 1 << 20);
}

/* ---- 2. data evicted from the page cache -------------------------------------------------- */

static void run_evicted(const char *dir, int64_t dcache) {
    skip_on_tmpfs(dir);
    struct storage_engine *e = r_engine(dir, false, dcache);
    struct storage_log_config cfg;
    r_cfg(&cfg);
    struct storage_log *log = st_log(e, "evict", &cfg);
    /* 200 batches (about 140 KB), so offset 75 is far older than a 16 KiB cache holds however
     * the appends were grouped into writes; the last batch alone, once the others are written:
     * a write of its own, which such a cache keeps. */
    append_n(e, log, 199);
    append_n(e, log, 1);
    bool cached = storage_engine_direct_io(e) && dcache > 0;
    uint8_t *buf = rl_malloc(1 << 16);
    size_t got = 0;

    struct rd r[2];
    rd_expect(log, &r[0], 75, 1 << 16); /* middle: older than a 16 KiB cache holds */
    rd_expect(log, &r[1], 995, 700);    /* last batch: in a direct cache when there is one */

    /* cached pages: the non-blocking copy returns the same bytes */
    assert_int_equal(storage_log_read_copy_nowait(log, 75, buf, 1 << 16, &got), 0);
    assert_int_equal(got, r[0].want_len);
    assert_memory_equal(buf, r[0].want, got);

    /* Not cached: -EAGAIN. preadv2(RWF_NOWAIT) starts readahead for the missing pages, and when
     * that I/O completes before the kernel looks again (a busy host) the read returns the
     * bytes instead: it must then return the right ones, and -EAGAIN must still come within
     * 200 tries, evicting again before each (seen here: 1 in 5 tries or more even on a loaded
     * machine, and 20 tries fell short once in about 70 runs). */
    int rc = 0, eagain = 0, raced = 0;
    for (int i = 0; i < 200 && !eagain; i++) {
        evict(dir, "evict");
        got = 0;
        rc = storage_log_read_copy_nowait(log, 75, buf, 1 << 16, &got);
        if (rc == -EAGAIN) {
            eagain++;
        } else if (rc == 0) {
            raced++;
            assert_int_equal(got, r[0].want_len);
            assert_memory_equal(buf, r[0].want, got);
        } else {
            fail_msg("read_copy_nowait after POSIX_FADV_DONTNEED: %d", rc);
        }
    }
    if (!eagain)
        fail_msg("read_copy_nowait after POSIX_FADV_DONTNEED: 0 in %d tries, never -EAGAIN (%ld "
                 "pages of the segment files resident after the last)",
                 raced, resident(dir, "evict"));
    if (raced)
        fprintf(stderr,
                "test_read: %d read_copy_nowait calls found their pages read in by "
                "readahead before -EAGAIN came\n",
                raced);
    if (cached) { /* the newest batch is served from the direct I/O cache, without the disk */
        assert_int_equal(storage_log_read_copy_nowait(log, 995, buf, 700, &got), 0);
        assert_int_equal(got, r[1].want_len);
        assert_memory_equal(buf, r[1].want, got);
    }

    evict(dir, "evict"); /* the nowait read may have started readahead */
    assert_int_equal(rd_submit(log, &r[0]), 1);
    assert_int_equal(rd_submit(log, &r[1]), cached ? 0 : 1);
    rd_wait(e, r, 2);
    rd_check(&r[0]);
    rd_check(&r[1]);
    rd_settle(e, r, 2);

    /* the asynchronous read brought the pages back: now the non-blocking copy succeeds */
    rc = storage_log_read_copy_nowait(log, 75, buf, 1 << 16, &got);
    if (rc != 0)
        fail_msg("read_copy_nowait after the async read of the same bytes: %d (%ld pages "
                 "resident)",
                 rc, resident(dir, "evict"));
    assert_int_equal(got, r[0].want_len);
    assert_memory_equal(buf, r[0].want, got);

    /* the end offset needs no disk */
    got = 99;
    assert_int_equal(storage_log_read_copy_nowait(log, 1000, buf, 1 << 16, &got), 0);
    assert_int_equal(got, 0);
    rd_free(r, 2);
    rl_free(buf);
    storage_engine_close(e);
}

static void test_evicted(void **state) {
    run_evicted(((struct st_fixture *)*state)->dir, 0);
}
static void test_evicted_cached(void **state) {
    run_evicted(((struct st_fixture *)*state)->dir, 16 << 10); /* the newest few appends */
}

/* ---- 3. many reads in flight -------------------------------------------------------------- */

static void run_many(const char *dir, bool posix) {
    struct storage_engine *e = r_engine(dir, posix, 0);
    struct storage_log_config cfg;
    r_cfg(&cfg);
    struct storage_log *log = st_log(e, "many", &cfg);
    append_n(e, log, 100); /* offsets 0..499 */
    enum { N = 96 };       /* more than the ring's 64 entries */
    struct rd *r = rl_calloc(N, sizeof(*r));
    for (int i = 0; i < N; i++)
        rd_expect(log, &r[i], (int64_t)(i * 5 + i % 5), (size_t)(700 + 97 * (i % 40)));
    if (!st_on_tmpfs(dir)) evict(dir, "many"); /* the reads really go to the disk */
    for (int i = 0; i < N; i++)
        assert_int_equal(rd_submit(log, &r[i]), 1);
    for (int i = 0; i < N; i++)
        assert_int_equal(r[i].calls, 0);
    rd_wait(e, r, N);
    rd_settle(e, r, N);
    rd_free(r, N);
    rl_free(r);
    st_check_log(log);
    storage_engine_close(e);
}

static void test_many_uring(void **state) {
    run_many(((struct st_fixture *)*state)->dir, false);
}
static void test_many_posix(void **state) {
    run_many(((struct st_fixture *)*state)->dir, true);
}

/* ---- 4. errors ---------------------------------------------------------------------------- */

static void test_errors(void **state) {
    struct st_fixture *f = *state;
    struct storage_engine *e = r_engine(f->dir, false, 0);
    struct storage_log_config cfg;
    r_cfg(&cfg);
    struct storage_log *log = st_log(e, "err", &cfg);
    uint8_t *buf = rl_malloc(1 << 16);
    struct rd r = {0};
    size_t got;

    /* an empty log: offset 0 is the end */
    got = 99;
    assert_int_equal(storage_log_read_async(log, 0, buf, 1 << 16, &got, rd_cb, &r), 0);
    assert_int_equal(got, 0);
    assert_int_equal(storage_log_read_async(log, 1, buf, 1 << 16, &got, rd_cb, &r), -ERANGE);

    append_n(e, log, 10); /* offsets 0..49 */
    size_t first;
    assert_int_equal(storage_log_read_copy(log, 0, buf, 700, &first), 0);
    assert_int_equal(storage_log_read_async(log, 51, buf, 1 << 16, &got, rd_cb, &r), -ERANGE);
    assert_int_equal(storage_log_read_async(log, 1000, buf, 1 << 16, &got, rd_cb, &r), -ERANGE);
    assert_int_equal(storage_log_read_async(log, -1, buf, 1 << 16, &got, rd_cb, &r), -ERANGE);
    assert_int_equal(storage_log_read_copy_nowait(log, 51, buf, 1 << 16, &got), -ERANGE);
    /* the first batch does not fit */
    assert_int_equal(storage_log_read_async(log, 0, buf, first - 1, &got, rd_cb, &r), -ENOBUFS);
    assert_int_equal(storage_log_read_async(log, 3, buf, 1, &got, rd_cb, &r), -ENOBUFS);
    assert_int_equal(storage_log_read_copy_nowait(log, 0, buf, first - 1, &got), -ENOBUFS);
    /* the end offset: nothing to read, done at once */
    got = 99;
    assert_int_equal(storage_log_read_async(log, 50, buf, 1 << 16, &got, rd_cb, &r), 0);
    assert_int_equal(got, 0);
    got = 99;
    assert_int_equal(storage_log_read_async(log, 50, buf, 0, &got, rd_cb, &r), 0);
    assert_int_equal(got, 0);
    /* below the log start */
    assert_int_equal(storage_log_delete_records(log, 20), 0);
    assert_int_equal(storage_log_read_async(log, 19, buf, 1 << 16, &got, rd_cb, &r), -ERANGE);
    assert_int_equal(storage_log_read_copy_nowait(log, 0, buf, 1 << 16, &got), -ERANGE);

    for (int i = 0; i < 3; i++)
        storage_engine_poll(e);
    assert_int_equal(r.calls, 0); /* no callback for any of them */
    rl_free(buf);
    storage_engine_close(e);
}

/* ---- 5. reads in flight across close / delete / truncate ----------------------------------- */

enum drain_how { DRAIN_LOG_CLOSE, DRAIN_ENGINE_CLOSE, DRAIN_DELETE, DRAIN_TRUNCATE };

static void run_drain(const char *dir, bool posix, enum drain_how how) {
    struct storage_engine *e = r_engine(dir, posix, 0);
    struct storage_log_config cfg;
    r_cfg(&cfg);
    struct storage_log *log = st_log(e, "drain", &cfg);
    append_n(e, log, 20); /* offsets 0..99 */
    enum { N = 8 };
    struct rd r[N];
    for (int i = 0; i < N; i++)
        rd_expect(log, &r[i], (int64_t)(12 * i + 3), i % 2 ? 700 : 1 << 14);
    if (!st_on_tmpfs(dir)) evict(dir, "drain");
    for (int i = 0; i < N; i++)
        assert_int_equal(rd_submit(log, &r[i]), 1);
    switch (how) {
    case DRAIN_LOG_CLOSE:
        storage_log_close(log);
        break;
    case DRAIN_ENGINE_CLOSE:
        storage_engine_close(e);
        e = NULL;
        break;
    case DRAIN_DELETE: {
        assert_int_equal(storage_log_delete(log), 0);
        char p[700];
        snprintf(p, sizeof(p), "%s/drain-0", dir);
        assert_int_not_equal(access(p, F_OK), 0);
        break;
    }
    case DRAIN_TRUNCATE: /* cuts batches being read: they are read first */
        assert_int_equal(storage_log_truncate(log, 40), 0);
        assert_int_equal(storage_log_end_offset(log), 40);
        break;
    }
    /* every callback ran before the call returned, with the bytes that were there */
    for (int i = 0; i < N; i++)
        rd_check(&r[i]);
    if (how == DRAIN_TRUNCATE) {
        append_n(e, log, 2); /* the log still works, from the new end */
        st_check_log(log);
    }
    if (e) storage_engine_close(e);
    rd_free(r, N);
}

static void test_drain_log_close(void **state) {
    run_drain(((struct st_fixture *)*state)->dir, false, DRAIN_LOG_CLOSE);
}
static void test_drain_log_close_posix(void **state) {
    run_drain(((struct st_fixture *)*state)->dir, true, DRAIN_LOG_CLOSE);
}
static void test_drain_engine_close(void **state) {
    run_drain(((struct st_fixture *)*state)->dir, false, DRAIN_ENGINE_CLOSE);
}
static void test_drain_delete(void **state) {
    run_drain(((struct st_fixture *)*state)->dir, false, DRAIN_DELETE);
}
static void test_drain_truncate(void **state) {
    run_drain(((struct st_fixture *)*state)->dir, false, DRAIN_TRUNCATE);
}

/* ---- 6. delete-records and retention while a read is in flight ---------------------------- */

static int64_t g_bases[64];
static int g_nbases;

static void note_base(const char *path) {
    const char *name = strrchr(path, '/') + 1;
    assert_true(g_nbases < 64);
    g_bases[g_nbases++] = strtoll(name, NULL, 10);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The base offsets of the log's segments, from its files, ascending. */
static int seg_bases(const char *dir, const char *topic) {
    g_nbases = 0;
    foreach_seg_file(dir, topic, note_base);
    qsort(g_bases, (size_t)g_nbases, sizeof(g_bases[0]), cmp_i64);
    return g_nbases;
}

/* Small segments, reads in flight on the first two; then delete-records (or retention) past
 * them. by_retention: retention.bytes shrinks instead of delete-records. */
static void run_delete_inflight(const char *dir, bool posix, bool by_retention) {
    struct storage_engine *e = r_engine(dir, posix, 0);
    struct storage_log_config cfg;
    r_cfg(&cfg);
    cfg.segment_bytes = 4096;
    struct storage_log *log = st_log(e, "del", &cfg);
    append_n(e, log, 40); /* about 6 batches a segment */
    int n0 = storage_log_segment_count(log);
    assert_int_equal(seg_bases(dir, "del"), n0);
    assert_true(n0 >= 5);
    assert_int_equal(g_bases[0], 0);
    int64_t b1 = g_bases[1], b2 = g_bases[2];

    struct rd r[3];
    rd_expect(log, &r[0], 0, 1 << 16);      /* the whole first segment */
    rd_expect(log, &r[1], 2, 700);          /* its first batch */
    rd_expect(log, &r[2], b1 + 1, 1 << 16); /* the whole second segment */
    assert_true(r[0].want_len > r[1].want_len);
    if (!st_on_tmpfs(dir)) evict(dir, "del");
    for (int i = 0; i < 3; i++)
        assert_int_equal(rd_submit(log, &r[i]), 1);

    if (by_retention) {
        /* keeps what follows the second segment; retention runs at the tick */
        cfg.retention_bytes = storage_log_size_bytes(log) - r[0].want_len - r[2].want_len;
        storage_log_set_config(log, &cfg);
    } else {
        assert_int_equal(storage_log_delete_records(log, b2), 0);
        assert_int_equal(storage_log_start_offset(log), b2);
        size_t got;
        uint8_t small[1024];
        assert_int_equal(storage_log_read_copy(log, 0, small, sizeof(small), &got), -ERANGE);
    }
    /* nothing polled: the reads are in flight, a tick must not delete their segments */
    storage_engine_tick(e, rl_now_ms());
    assert_true(seg_exists(dir, "del", 0));
    assert_true(seg_exists(dir, "del", b1));
    assert_int_equal(storage_log_segment_count(log), n0);
    for (int i = 0; i < 3; i++)
        assert_true(r[i].calls == 0);

    rd_wait(e, r, 3);
    for (int i = 0; i < 3; i++)
        rd_check(&r[i]);

    /* the reads are done: the next tick deletes the two segments */
    storage_engine_tick(e, rl_now_ms());
    if (storage_log_segment_count(log) != n0 - 2)
        fail_msg("after the reads and a tick: %d segments, expected %d",
                 storage_log_segment_count(log), n0 - 2);
    assert_false(seg_exists(dir, "del", 0));
    assert_false(seg_exists(dir, "del", b1));
    assert_true(seg_exists(dir, "del", b2));
    assert_int_equal(storage_log_start_offset(log), b2);
    assert_int_equal(seg_bases(dir, "del"), n0 - 2);
    rd_settle(e, r, 3);
    st_check_log(log);
    append_n(e, log, 1);
    rd_free(r, 3);
    storage_engine_close(e);
}

static void test_delete_records_inflight(void **state) {
    run_delete_inflight(((struct st_fixture *)*state)->dir, false, false);
}
static void test_delete_records_inflight_posix(void **state) {
    run_delete_inflight(((struct st_fixture *)*state)->dir, true, false);
}
static void test_retention_inflight(void **state) {
    run_delete_inflight(((struct st_fixture *)*state)->dir, false, true);
}

int main(void) {
    rl_log_set_level(getenv("RINGLET_TEST_LOG") ? RL_LOG_INFO : RL_LOG_ERROR + 1); /* debugging */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_matches_copy_uring, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_matches_copy_posix, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_matches_copy_cached, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_evicted, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_evicted_cached, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_many_uring, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_many_posix, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_errors, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_drain_log_close, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_drain_log_close_posix, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_drain_engine_close, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_drain_delete, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_drain_truncate, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_delete_records_inflight, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_delete_records_inflight_posix, st_setup, st_teardown),
        cmocka_unit_test_setup_teardown(test_retention_inflight, st_setup, st_teardown),
    };
    const char *only = getenv("RINGLET_TEST_FILTER"); /* run one test by name (debugging) */
    if (only) cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
