/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_direct.c - what is specific to direct-I/O writes (storage_engine_config.direct_io):
 * byte-identical files against a buffered engine, reads that see every O_DIRECT write (no stale
 * page cache after the partial last block is re-written), unclean stops (zero padding cut by
 * recovery), segment rolls, truncate and delete-records, switching modes between opens, injected
 * write faults on the direct path, and a real full disk on a small ext4 loop mount. Most tests
 * write every append with O_DIRECT (direct_min_bytes 1) and read from the files; the _hybrid
 * variants keep the default (small groups through the page cache), the _cached ones read the
 * newest data from the staging buffers (direct_cache_bytes). Every test needs a file system with
 * direct I/O and is skipped on tmpfs; the loop-mount test is skipped without the privilege or
 * tools to create one.
 */
#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "storage_test.h"

static const char *check_phase = ""; /* named in file-check failure messages */

/* Direct engines: direct_min_bytes (1 = every append with O_DIRECT, 0 = the default: small
 * groups through the page cache) and direct_cache_bytes (newest data read from the staging
 * buffers). Reset by setup. */
static int32_t g_min = 1;
static int64_t g_cache = 0;

static int setup(void **state) {
    check_phase = "";
    g_min = 1;
    g_cache = 0;
    return st_setup(state);
}

/* The tests rely on real direct I/O: skipped where the data dir is on tmpfs. */
static void need_direct_fs(const char *dir) {
    if (st_on_tmpfs(dir)) {
        fprintf(stderr, "test dir %s is on tmpfs (no direct I/O): skipped\n", dir);
        skip();
    }
}

static struct storage_engine *d_engine(const char *dir, enum storage_flush_policy p,
                                       int64_t prealloc, bool posix, bool direct) {
    struct storage_engine_config cfg = st_engine_cfg(dir, p, prealloc, posix);
    cfg.direct_io = direct;
    cfg.direct_min_bytes = direct ? g_min : 0;
    cfg.direct_cache_bytes = direct ? g_cache : 0;
    struct storage_engine *e = st_engine_open(&cfg);
    assert_int_equal(storage_engine_direct_io(e), direct);
    return e;
}

/* ---- expected contents: every batch as stamped by the append ---------------------------- */

struct exp_batch {
    int64_t base, last;
    uint8_t *data;
    size_t len;
};

struct exp_log {
    struct exp_batch *b;
    size_t n, cap;
};

static void exp_add(struct exp_log *x, const uint8_t *buf, size_t len) {
    size_t pos = 0;
    while (pos < len) {
        struct proto_batch_header h;
        assert_int_equal(proto_batch_validate(buf + pos, len - pos, &h), 0);
        size_t bl = 12 + (size_t)h.BatchLength;
        if (x->n == x->cap) {
            x->cap = x->cap ? 2 * x->cap : 64;
            x->b = rl_realloc(x->b, x->cap * sizeof(*x->b));
        }
        struct exp_batch *eb = &x->b[x->n++];
        eb->base = h.BaseOffset;
        eb->last = h.BaseOffset + h.LastOffsetDelta;
        eb->data = rl_malloc(bl);
        memcpy(eb->data, buf + pos, bl);
        eb->len = bl;
        pos += bl;
    }
}

/* Drops every batch holding an offset >= off (storage_log_truncate); returns the new end. */
static int64_t exp_truncate(struct exp_log *x, int64_t off) {
    while (x->n > 0 && x->b[x->n - 1].last >= off) {
        x->n--;
        rl_free(x->b[x->n].data);
    }
    return x->n ? x->b[x->n - 1].last + 1 : 0;
}

static int64_t exp_end(const struct exp_log *x) {
    return x->n ? x->b[x->n - 1].last + 1 : 0;
}

static size_t exp_bytes(const struct exp_log *x, int64_t from) {
    size_t s = 0;
    for (size_t i = 0; i < x->n; i++)
        if (x->b[i].last >= from) s += x->b[i].len;
    return s;
}

static void exp_free(struct exp_log *x) {
    for (size_t i = 0; i < x->n; i++)
        rl_free(x->b[i].data);
    rl_free(x->b);
    memset(x, 0, sizeof(*x));
}

/* Every offset from the log start reads back as exactly the expected batch holding it. */
static void verify_all(struct storage_log *log, const struct exp_log *x) {
    int64_t start = storage_log_start_offset(log);
    assert_int_equal(storage_log_end_offset(log), exp_end(x));
    uint8_t *buf = rl_malloc(1 << 20);
    for (size_t i = 0; i < x->n; i++) {
        const struct exp_batch *eb = &x->b[i];
        if (eb->last < start) continue;
        for (int64_t o = eb->base < start ? start : eb->base; o <= eb->last; o++) {
            size_t got = 0;
            int rc = storage_log_read_copy(log, o, buf, eb->len, &got);
            if (rc != 0 || got != eb->len || memcmp(buf, eb->data, eb->len) != 0)
                fail_msg("offset %lld (batch %lld..%lld, %zu bytes): rc %d, got %zu bytes%s",
                         (long long)o, (long long)eb->base, (long long)eb->last, eb->len, rc, got,
                         rc == 0 && got == eb->len ? ", different contents" : "");
        }
        /* the zero-copy slice (sendfile from the segment file) holds the same bytes */
        struct storage_slice sl;
        assert_int_equal(storage_log_read(log, eb->last, (int32_t)eb->len, &sl), 0);
        assert_int_equal(sl.len, (int32_t)eb->len);
        if (pread(sl.fd, buf, eb->len, sl.file_pos) != (ssize_t)eb->len ||
            memcmp(buf, eb->data, eb->len) != 0)
            fail_msg("offset %lld: the file slice differs from the batch", (long long)eb->last);
    }
    rl_free(buf);
    st_check_log(log);
}

/* Fails naming what follows the last whole batch at pos of a size-byte file: zeros (padding
 * or pre-written zeros never cut) or anything else (a torn tail). */
static void fail_tail(int fd, const char *path, off_t size, off_t pos) {
    bool zeros = true;
    uint8_t b[4096];
    for (off_t at = pos; at < size && zeros;) {
        ssize_t n = pread(fd, b, sizeof(b), at);
        assert_true(n > 0);
        for (ssize_t i = 0; i < n; i++)
            zeros = zeros && b[i] == 0;
        at += n;
    }
    fail_msg("%s%s: %lld bytes, the batches end at %lld: %lld bytes of %s after them", check_phase,
             path, (long long)size, (long long)pos, (long long)(size - pos),
             zeros ? "zeros (padding or pre-written zeros not cut)" : "non-batch data");
}

/* A .log file holds whole batches up to its very end: no zero padding, nothing torn. Returns
 * its size. */
static off_t check_log_file_exact(const char *path) {
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    off_t pos = 0;
    while (pos < st.st_size) {
        uint8_t hdr[12];
        if (pread(fd, hdr, sizeof(hdr), pos) != (ssize_t)sizeof(hdr))
            fail_tail(fd, path, st.st_size, pos);
        int32_t bl = (int32_t)((uint32_t)hdr[8] << 24 | (uint32_t)hdr[9] << 16 |
                               (uint32_t)hdr[10] << 8 | hdr[11]);
        if (bl < 49 || pos + 12 + bl > st.st_size) fail_tail(fd, path, st.st_size, pos);
        pos += 12 + bl;
    }
    close(fd);
    return st.st_size;
}

/* Checks every .log of dir/<topic>-0 (all segments, or all but the newest); returns the total
 * size and the number of files. */
static off_t check_log_files(const char *dir, const char *topic, bool skip_newest, int *nfiles) {
    char pdir[700];
    snprintf(pdir, sizeof(pdir), "%s/%s-0", dir, topic);
    DIR *d = opendir(pdir);
    assert_non_null(d);
    char names[256][32];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l == 24 && strcmp(de->d_name + 20, ".log") == 0) {
            assert_true(n < 256);
            memcpy(names[n++], de->d_name, l + 1);
        }
    }
    closedir(d);
    int newest = -1;
    for (int i = 0; i < n; i++)
        if (newest < 0 || strcmp(names[i], names[newest]) > 0) newest = i;
    off_t total = 0;
    for (int i = 0; i < n; i++) {
        if (skip_newest && i == newest) continue;
        char p[800];
        int k = snprintf(p, sizeof(p), "%s/%s", pdir, names[i]);
        assert_true(k > 0 && (size_t)k < sizeof(p));
        total += check_log_file_exact(p);
    }
    if (nfiles) *nfiles = n;
    return total;
}

/* ---- append sequences ------------------------------------------------------------------ */

/* One append: nbatches batches of nrec records of vsize-byte values, or (target > 0) one batch
 * of one record sized to about target bytes. wait = false leaves it in flight with the next
 * ones. */
struct step {
    int nrec;
    int vsize;
    int target;
    int nbatches;
    bool durable;
    bool wait;
};

/* One batch of one record whose encoded size is target bytes (or the next size a varint jump
 * allows). */
static void make_sized(struct proto_writer *w, int target, int64_t ts) {
    struct proto_writer t;
    proto_writer_init(&t);
    int v = target > 90 ? target - 90 : 0;
    for (;; v++) {
        proto_writer_reset(&t);
        size_t len = st_make_batch(&t, 1, (size_t)v, ts);
        if (len >= (size_t)target) break;
    }
    proto_writer_free(&t);
    st_make_batch(w, 1, (size_t)v, ts);
}

static void build_step(struct proto_writer *w, const struct step *s, int64_t ts) {
    if (s->target > 0) {
        make_sized(w, s->target, ts);
        return;
    }
    int nb = s->nbatches > 0 ? s->nbatches : 1;
    for (int i = 0; i < nb; i++)
        st_make_batch(w, s->nrec, (size_t)s->vsize, ts + 100 * i);
}

struct pend {
    struct proto_writer w;
    struct st_result r;
    int64_t base;
};

/* Appends the steps (timestamps from ts0), with up to 8 in flight; completed batches go to x.
 * check_each: after each wait, every batch just completed reads back exactly. */
static void run_steps(struct storage_engine *e, struct storage_log *log, const struct step *steps,
                      int n, int64_t ts0, struct exp_log *x, bool check_each) {
    struct pend p[8];
    int np = 0;
    uint8_t *buf = rl_malloc(1 << 20);
    for (int i = 0; i < n; i++) {
        struct pend *q = &p[np++];
        memset(q, 0, sizeof(*q));
        proto_writer_init(&q->w);
        build_step(&q->w, &steps[i], ts0 + 1000 * i);
        int64_t want = storage_log_end_offset(log);
        if (np > 1) {
            struct proto_batch_header h;
            const struct pend *prev = &p[np - 2];
            size_t pos = 0;
            while (pos < prev->w.len) { /* the previous append's last offset + 1 */
                assert_int_equal(proto_batch_header_parse(prev->w.buf + pos, prev->w.len - pos, &h),
                                 0);
                want = h.BaseOffset + h.LastOffsetDelta + 1;
                pos += 12 + (size_t)h.BatchLength;
            }
        }
        assert_int_equal(storage_log_append(log, q->w.buf, q->w.len, 3, steps[i].durable, st_cb,
                                            &q->r, &q->base),
                         0);
        assert_int_equal(q->base, want);
        if (steps[i].wait || np == 8 || i == n - 1) {
            for (int k = 0; k < np; k++)
                st_wait_done(e, &p[k].r.done, 1);
            for (int k = 0; k < np; k++) {
                assert_int_equal(p[k].r.err, 0);
                assert_int_equal(p[k].r.base, p[k].base);
                size_t first = x->n;
                exp_add(x, p[k].w.buf, p[k].w.len);
                for (size_t j = first; check_each && j < x->n; j++) {
                    size_t got = 0;
                    assert_int_equal(
                        storage_log_read_copy(log, x->b[j].base, buf, x->b[j].len, &got), 0);
                    assert_int_equal(got, x->b[j].len);
                    assert_memory_equal(buf, x->b[j].data, got);
                }
                proto_writer_free(&p[k].w);
            }
            np = 0;
        }
    }
    rl_free(buf);
}

static uint32_t lcg_next(uint32_t *s) {
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffffff;
}

/* n pseudo-random steps (fixed seed): 1..9 records of 0..max_v bytes, 1..3 batches, some
 * sized around 512 / 4096, durable or not, 1..5 in flight. */
static struct step *random_steps(int n, uint32_t seed, int max_v) {
    struct step *s = rl_calloc((size_t)n, sizeof(*s));
    static const int targets[] = {511, 512, 513, 1023, 1024, 1025, 4095, 4096, 4097, 8191, 8193};
    for (int i = 0; i < n; i++) {
        uint32_t r = lcg_next(&seed);
        if (r % 5 == 0)
            s[i].target = targets[lcg_next(&seed) % (sizeof(targets) / sizeof(targets[0]))];
        s[i].nrec = 1 + (int)(lcg_next(&seed) % 9);
        s[i].vsize = (int)(lcg_next(&seed) % (uint32_t)(max_v + 1));
        s[i].nbatches = 1 + (int)(lcg_next(&seed) % 3);
        s[i].durable = lcg_next(&seed) % 2;
        s[i].wait = lcg_next(&seed) % 3 == 0;
    }
    return s;
}

static const struct step fixed_steps[] = {
    {.nrec = 1, .vsize = 1, .durable = true, .wait = true},
    {.nrec = 3, .vsize = 100, .durable = true, .wait = true},
    {.nrec = 1, .vsize = 5000, .durable = false, .wait = true},
    {.target = 511, .durable = true},
    {.target = 512, .durable = false},
    {.target = 513, .durable = true, .wait = true},
    {.target = 4095, .durable = true, .wait = true},
    {.target = 4096, .durable = false, .wait = true},
    {.target = 4097, .durable = true},
    {.nrec = 1, .vsize = 0, .durable = true},
    {.nrec = 2, .vsize = 7, .nbatches = 3, .durable = false},
    {.nrec = 1, .vsize = 12000, .durable = true, .wait = true},
    {.target = 1024, .durable = true, .wait = true},
    {.nrec = 5, .vsize = 333, .durable = false, .wait = true},
};
#define N_FIXED ((int)(sizeof(fixed_steps) / sizeof(fixed_steps[0])))

/* Runs fixed_steps then n random steps. */
static void run_mixed(struct storage_engine *e, struct storage_log *log, int n, uint32_t seed,
                      int64_t ts0, struct exp_log *x, bool check_each) {
    run_steps(e, log, fixed_steps, N_FIXED, ts0, x, check_each);
    struct step *s = random_steps(n, seed, 3000);
    run_steps(e, log, s, n, ts0 + 1000000, x, check_each);
    rl_free(s);
}

static void files_equal(const char *a, const char *b) {
    int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
    assert_true(fa >= 0);
    assert_true(fb >= 0);
    struct stat sa, sb;
    assert_int_equal(fstat(fa, &sa), 0);
    assert_int_equal(fstat(fb, &sb), 0);
    if (sa.st_size != sb.st_size)
        fail_msg("%s is %lld bytes, %s %lld", a, (long long)sa.st_size, b, (long long)sb.st_size);
    uint8_t *ba = rl_malloc((size_t)sa.st_size + 1), *bb = rl_malloc((size_t)sb.st_size + 1);
    assert_int_equal(pread(fa, ba, (size_t)sa.st_size, 0), sa.st_size);
    assert_int_equal(pread(fb, bb, (size_t)sb.st_size, 0), sb.st_size);
    for (off_t i = 0; i < sa.st_size; i++)
        if (ba[i] != bb[i]) fail_msg("%s and %s differ at byte %lld", a, b, (long long)i);
    rl_free(ba);
    rl_free(bb);
    close(fa);
    close(fb);
}

/* ---- tests ------------------------------------------------------------------------------ */

/* The same appends through a buffered and a direct engine give byte-identical files; the
 * direct engine's data reads back while it is open. */
static void identical_case(struct st_fixture *f, bool posix, int64_t prealloc,
                           enum storage_flush_policy p) {
    need_direct_fs(f->dir);
    char dirs[2][600];
    snprintf(dirs[0], sizeof(dirs[0]), "%s/buffered", f->dir);
    snprintf(dirs[1], sizeof(dirs[1]), "%s/direct", f->dir);
    struct storage_log_config lc;
    storage_log_config_default(&lc);
    lc.index_interval_bytes = 1000;
    struct exp_log x[2] = {{0}};
    for (int m = 0; m < 2; m++) {
        struct storage_engine *e = d_engine(dirs[m], p, prealloc, posix, m == 1);
        struct storage_log *log = st_log(e, "same", &lc);
        run_mixed(e, log, 80, 42, 1000, &x[m], m == 1);
        verify_all(log, &x[m]); /* every offset, while the engine is open */
        storage_engine_close(e);
    }
    assert_int_equal(x[0].n, x[1].n);
    assert_true(x[1].n > 100);
    static const char *const ext[] = {"log", "index", "timeindex"};
    for (int i = 0; i < 3; i++) {
        char a[800], b[800];
        snprintf(a, sizeof(a), "%s/same-0/00000000000000000000.%s", dirs[0], ext[i]);
        snprintf(b, sizeof(b), "%s/same-0/00000000000000000000.%s", dirs[1], ext[i]);
        files_equal(a, b);
    }
    char a[800];
    snprintf(a, sizeof(a), "%s/same-0/00000000000000000000.log", dirs[1]);
    assert_int_equal(check_log_file_exact(a), (off_t)exp_bytes(&x[1], 0));
    /* and the direct engine reopened reads it all back */
    struct storage_engine *e = d_engine(dirs[1], p, prealloc, posix, true);
    struct storage_log *log = st_log(e, "same", &lc);
    verify_all(log, &x[1]);
    storage_engine_close(e);
    exp_free(&x[0]);
    exp_free(&x[1]);
}

static void test_identical_uring_prealloc(void **state) {
    identical_case(*state, false, 64 << 10, STORAGE_FLUSH_GROUP_COMMIT);
}
static void test_identical_uring(void **state) {
    identical_case(*state, false, 0, STORAGE_FLUSH_GROUP_COMMIT);
}
static void test_identical_posix(void **state) {
    identical_case(*state, true, 16 << 10, STORAGE_FLUSH_GROUP_COMMIT);
}
static void test_identical_flush_none(void **state) {
    identical_case(*state, false, 0, STORAGE_FLUSH_NONE);
}
static void test_identical_hybrid(void **state) { /* small groups through the page cache */
    g_min = 0;
    identical_case(*state, false, 64 << 10, STORAGE_FLUSH_GROUP_COMMIT);
}
static void test_identical_cached(void **state) { /* reads from the staging buffers */
    g_cache = 256 << 10;
    identical_case(*state, false, 0, STORAGE_FLUSH_GROUP_COMMIT);
}

/* After every completed append, a read from the previous end offset returns exactly the batch
 * just appended, and the one before it (whose last block the new write re-wrote) is unchanged:
 * the page cache a read filled is never stale after an O_DIRECT write. */
static void read_each_case(struct st_fixture *f, bool posix, int64_t prealloc) {
    need_direct_fs(f->dir);
    struct storage_engine *e = d_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, prealloc, posix, true);
    struct storage_log *log = st_log(e, "each", NULL);
    uint8_t *buf = rl_malloc(1 << 20);
    uint32_t seed = 7;
    struct exp_log x = {0};
    for (int i = 0; i < 150; i++) {
        struct proto_writer w;
        proto_writer_init(&w);
        int nrec = 1 + (int)(lcg_next(&seed) % 4);
        size_t vs = i % 7 == 0 ? 4096 - 61 : lcg_next(&seed) % 1500;
        st_make_batch(&w, nrec, vs, 10 * i);
        int64_t prev_end = storage_log_end_offset(log), base;
        /* the partial last block is in the page cache now */
        size_t got = 0;
        if (x.n) {
            assert_int_equal(storage_log_read_copy(log, x.b[x.n - 1].base, buf, 1 << 20, &got), 0);
            assert_int_equal(got, x.b[x.n - 1].len);
        }
        /* st_append_sync appends a copy: stamp ours the same way for the comparison */
        assert_int_equal(st_append_sync(e, log, w.buf, w.len, i % 2 == 0, &base), 0);
        assert_int_equal(base, prev_end);
        proto_batch_set_base_offset(w.buf, base);
        proto_batch_set_leader_epoch(w.buf, 7);
        assert_int_equal(storage_log_end_offset(log), prev_end + nrec);
        assert_int_equal(storage_log_read_copy(log, prev_end, buf, 1 << 20, &got), 0);
        assert_int_equal(got, w.len);
        assert_memory_equal(buf, w.buf, w.len);
        if (x.n) {
            const struct exp_batch *pb = &x.b[x.n - 1];
            assert_int_equal(storage_log_read_copy(log, pb->base, buf, pb->len, &got), 0);
            assert_int_equal(got, pb->len);
            assert_memory_equal(buf, pb->data, pb->len);
        }
        exp_add(&x, w.buf, w.len);
        proto_writer_free(&w);
    }
    verify_all(log, &x);
    storage_engine_close(e);
    assert_int_equal(check_log_files(f->dir, "each", false, NULL), (off_t)exp_bytes(&x, 0));
    exp_free(&x);
    rl_free(buf);
}

static void test_read_each_uring(void **state) {
    read_each_case(*state, false, 0);
}
static void test_read_each_uring_prealloc(void **state) {
    read_each_case(*state, false, 32 << 10);
}
static void test_read_each_posix(void **state) {
    read_each_case(*state, true, 0);
}
static void test_read_each_cached(void **state) { /* newest from memory, older from the file */
    g_cache = 16 << 10;
    read_each_case(*state, false, 0);
}
static void test_read_each_hybrid(void **state) {
    g_min = 0;
    read_each_case(*state, false, 0);
}

/* ---- unclean stop ------------------------------------------------------------------------ */

enum { CHILD_BATCHES = 40 };

/* The child's batch i (deterministic, so the parent can rebuild it). */
static int child_batch(struct proto_writer *w, int i) {
    int nrec = 1 + i % 5;
    size_t vs = (size_t)((i * 977) % 2600);
    if (i % 9 == 4) vs = 4096 - 70;
    st_make_batch(w, nrec, vs, 100 + i);
    return nrec;
}

static void child_done_cb(void *arg, int err, int64_t base) {
    (void)base;
    int *r = arg;
    *r = err ? err : 1;
}

/* Appends CHILD_BATCHES durable batches one by one, reporting each durable end offset, then
 * three more without waiting, and exits without closing anything. */
static void child_unclean(const char *dir, int64_t prealloc, int fd) {
    rl_log_set_level(RL_LOG_ERROR + 1);
    struct storage_engine_config cfg = {.data_dir = dir,
                                        .flush_policy = STORAGE_FLUSH_GROUP_COMMIT,
                                        .segment_preallocate_bytes = prealloc,
                                        .direct_io = true,
                                        .direct_min_bytes = 1};
    struct storage_engine *e;
    if (storage_engine_open(&cfg, &e)) _exit(5);
    if (!storage_engine_direct_io(e)) _exit(9);
    struct storage_log *log;
    if (storage_log_open(e, "unclean", 0, NULL, &log)) _exit(6);
    static struct proto_writer w[CHILD_BATCHES + 3];
    for (int i = 0; i < CHILD_BATCHES + 3; i++) {
        proto_writer_init(&w[i]);
        int nrec = child_batch(&w[i], i);
        static int res[CHILD_BATCHES + 3];
        int64_t base;
        bool durable = i < CHILD_BATCHES;
        if (storage_log_append(log, w[i].buf, w[i].len, 1, durable, child_done_cb, &res[i], &base))
            _exit(7);
        if (!durable) continue; /* left in flight */
        for (int k = 0; k < 10000 && res[i] == 0; k++)
            storage_engine_wait(e, 1);
        if (res[i] != 1) _exit(8);
        int64_t end = base + nrec;
        if (write(fd, &end, sizeof(end)) != (ssize_t)sizeof(end)) _exit(4);
    }
    _exit(0);
}

static void unclean_case(struct st_fixture *f, int64_t child_prealloc, bool reopen_direct) {
    need_direct_fs(f->dir);
    int fd;
    pid_t pid = st_fork_reporter(&fd);
    if (pid == 0) child_unclean(f->dir, child_prealloc, fd);
    int64_t durable = 0, v;
    while (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
        if (v > durable) durable = v;
    close(fd);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child failed: status 0x%x", status);
    assert_true(durable > 0);

    /* what the child wrote, as the engine stamps it */
    struct exp_log x = {0};
    int64_t off = 0;
    for (int i = 0; i < CHILD_BATCHES; i++) {
        struct proto_writer w;
        proto_writer_init(&w);
        int nrec = child_batch(&w, i);
        proto_batch_set_base_offset(w.buf, off);
        proto_batch_set_leader_epoch(w.buf, 1);
        exp_add(&x, w.buf, w.len);
        off += nrec;
        proto_writer_free(&w);
    }
    assert_int_equal(off, durable);

    st_make_unclean(f->dir);
    struct storage_engine *e =
        d_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, false, reopen_direct);
    assert_false(storage_engine_was_clean(e));
    struct storage_log *log = st_log(e, "unclean", NULL);
    int64_t end = storage_log_end_offset(log);
    if (end < durable)
        fail_msg("end offset %lld after recovery < durable offset %lld", (long long)end,
                 (long long)durable);
    st_check_log(log);
    /* the durable batches are there, byte for byte; anything after them was in flight */
    if (end > durable) {
        uint8_t *buf = rl_malloc(1 << 20);
        size_t got = 0;
        assert_int_equal(storage_log_read_copy(log, durable, buf, 1 << 20, &got), 0);
        struct exp_log tail = {0};
        exp_add(&tail, buf, got);
        assert_int_equal(tail.b[0].base, durable);
        assert_int_equal(tail.b[tail.n - 1].last + 1, end);
        for (size_t i = 0; i < tail.n; i++)
            exp_add(&x, tail.b[i].data, tail.b[i].len);
        exp_free(&tail);
        rl_free(buf);
    }
    verify_all(log, &x);
    /* recovery cut the zero padding / pre-written zeros: the file ends with the last batch */
    char p[700];
    snprintf(p, sizeof(p), "%s/unclean-0/00000000000000000000.log", f->dir);
    assert_int_equal(check_log_file_exact(p), (off_t)exp_bytes(&x, 0));

    /* appends continue at the right offset */
    run_mixed(e, log, 30, 99, 50000, &x, reopen_direct);
    verify_all(log, &x);
    storage_engine_close(e);
    assert_int_equal(check_log_file_exact(p), (off_t)exp_bytes(&x, 0));
    e = d_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, false, true);
    assert_true(storage_engine_was_clean(e));
    log = st_log(e, "unclean", NULL);
    verify_all(log, &x);
    storage_engine_close(e);
    exp_free(&x);
}

static void test_unclean_prealloc_reopen_direct(void **state) {
    unclean_case(*state, 64 << 10, true);
}
static void test_unclean_prealloc_reopen_buffered(void **state) {
    unclean_case(*state, 64 << 10, false);
}
static void test_unclean_reopen_direct(void **state) {
    unclean_case(*state, 0, true);
}
static void test_unclean_reopen_buffered(void **state) {
    unclean_case(*state, 0, false);
}

/* ---- segment roll ------------------------------------------------------------------------ */

static void test_segment_roll(void **state) {
    struct st_fixture *f = *state;
    need_direct_fs(f->dir);
    struct storage_engine *e = d_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 32 << 10, false, true);
    struct storage_log_config lc;
    storage_log_config_default(&lc);
    lc.segment_bytes = 64 << 10;
    lc.index_interval_bytes = 2048;
    struct storage_log *log = st_log(e, "roll", &lc);
    struct exp_log x = {0};
    run_mixed(e, log, 200, 5, 1000, &x, true);
    int nseg = storage_log_segment_count(log);
    assert_true(nseg >= 5);
    verify_all(log, &x);
    /* sealed segments end with their last batch (let completions of the seal arrive first) */
    for (int k = 0; k < 20; k++)
        storage_engine_wait(e, 10);
    int nfiles = 0;
    check_phase = "sealed segment, engine open: ";
    check_log_files(f->dir, "roll", true, &nfiles);
    assert_int_equal(nfiles, nseg);
    storage_engine_close(e);
    check_phase = "after close: ";
    assert_int_equal(check_log_files(f->dir, "roll", false, &nfiles), (off_t)exp_bytes(&x, 0));
    assert_int_equal(nfiles, nseg);

    e = d_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 32 << 10, false, true);
    log = st_log(e, "roll", &lc);
    assert_int_equal(storage_log_segment_count(log), nseg);
    verify_all(log, &x);
    run_mixed(e, log, 60, 6, 900000, &x, true);
    verify_all(log, &x);
    storage_engine_close(e);
    check_phase = "after the second close: ";
    assert_int_equal(check_log_files(f->dir, "roll", false, NULL), (off_t)exp_bytes(&x, 0));
    exp_free(&x);
}

/* Runs the completions of I/O still in flight after a failed append (as the broker's reactor
 * would before the next produce): a failed log refuses appends while any is in flight. */
static void settle(struct storage_engine *e) {
    for (int idle = 0, k = 0; idle < 3 && k < 500; k++) {
        int c = storage_engine_wait(e, 10);
        idle = c > 0 ? 0 : idle + 1;
    }
}

/* Rolls at every second append (1-record batches of ~1 KiB, segment.bytes 3000), with the
 * appends either all queued at once or each reaped before the next (so the roll comes while
 * the old segment's write is queued, in flight, or done with its fdatasync in flight), with
 * zero pre-writing off and on: once nothing is in flight every sealed segment ends with its
 * last batch (no padding, no pre-written zeros), and after close all do. */
static void seal_case(const char *dir, int64_t prealloc, bool durable, bool reap_each) {
    struct storage_engine *e = d_engine(dir, STORAGE_FLUSH_GROUP_COMMIT, prealloc, false, true);
    struct storage_log_config lc;
    storage_log_config_default(&lc);
    lc.segment_bytes = 3000;
    struct storage_log *log = st_log(e, "seal", &lc);
    enum { N = 12 };
    struct proto_writer w[N];
    struct st_result r[N];
    memset(r, 0, sizeof(r));
    struct exp_log x = {0};
    for (int i = 0; i < N; i++) {
        proto_writer_init(&w[i]);
        st_make_batch(&w[i], 1, 1000 + (size_t)i, i);
        int64_t base;
        assert_int_equal(
            storage_log_append(log, w[i].buf, w[i].len, 1, durable, st_cb, &r[i], &base), 0);
        assert_int_equal(base, i);
        if (reap_each) {
            usleep(500); /* the write completes; reaping it starts the fdatasync */
            storage_engine_poll(e);
        }
    }
    for (int i = 0; i < N; i++) {
        st_wait_done(e, &r[i].done, 1);
        assert_int_equal(r[i].err, 0);
        exp_add(&x, w[i].buf, w[i].len);
        proto_writer_free(&w[i]);
    }
    assert_int_equal(storage_log_segment_count(log), N / 2);
    settle(e);
    int nfiles = 0;
    check_phase = "sealed segment, engine open: ";
    check_log_files(dir, "seal", true, &nfiles);
    assert_int_equal(nfiles, N / 2);
    verify_all(log, &x);
    storage_engine_close(e);
    check_phase = "after close: ";
    assert_int_equal(check_log_files(dir, "seal", false, NULL), (off_t)exp_bytes(&x, 0));
    exp_free(&x);
}

static void test_seal_cuts_padding(void **state) {
    struct st_fixture *f = *state;
    need_direct_fs(f->dir);
    for (int k = 0; k < 8; k++) {
        char d[600];
        snprintf(d, sizeof(d), "%s/seal%d", f->dir, k);
        fprintf(stderr, "seal case: prealloc %d, durable %d, each append reaped %d\n",
                k & 4 ? 4096 : 0, k & 1, !!(k & 2));
        seal_case(d, k & 4 ? 4096 : 0, k & 1, k & 2);
    }
}

/* ---- truncate and delete-records --------------------------------------------------------- */

static void test_truncate_delete_records(void **state) {
    struct st_fixture *f = *state;
    need_direct_fs(f->dir);
    struct storage_engine *e = d_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 8 << 10, false, true);
    struct storage_log_config lc;
    storage_log_config_default(&lc);
    lc.segment_bytes = 24 << 10;
    lc.index_interval_bytes = 512;
    struct storage_log *log = st_log(e, "trunc", &lc);
    struct exp_log x = {0};
    run_mixed(e, log, 60, 11, 1000, &x, false);
    assert_true(storage_log_segment_count(log) >= 3);
    verify_all(log, &x);

    /* mid-batch inside the newest batches (the active segment, mid-block) */
    const struct exp_batch *cut = &x.b[x.n - 3];
    int64_t at = cut->last; /* the last offset of that batch: the whole batch goes */
    int64_t want = exp_truncate(&x, at);
    assert_int_equal(storage_log_truncate(log, at), 0);
    assert_int_equal(storage_log_end_offset(log), want);
    verify_all(log, &x);
    size_t before = x.n;
    run_mixed(e, log, 10, 12, 700000, &x, true);
    assert_int_equal(x.b[before].base, want); /* the new data follows the cut */
    verify_all(log, &x);

    /* into an older segment */
    at = x.b[x.n / 3].base + 1;
    want = exp_truncate(&x, at);
    int nseg = storage_log_segment_count(log);
    assert_int_equal(storage_log_truncate(log, at), 0);
    assert_int_equal(storage_log_end_offset(log), want);
    assert_true(storage_log_segment_count(log) < nseg);
    verify_all(log, &x);
    before = x.n;
    run_mixed(e, log, 20, 13, 800000, &x, true);
    assert_int_equal(x.b[before].base, want);
    verify_all(log, &x);

    /* delete-records past the first segments, then more appends */
    int64_t start = x.b[x.n / 2].base + 1;
    nseg = storage_log_segment_count(log);
    assert_int_equal(storage_log_delete_records(log, start), 0);
    assert_int_equal(storage_log_start_offset(log), start);
    assert_true(storage_log_segment_count(log) < nseg);
    uint8_t buf[64];
    size_t got;
    assert_int_equal(storage_log_read_copy(log, start - 2, buf, sizeof(buf), &got), -ERANGE);
    verify_all(log, &x);
    run_mixed(e, log, 20, 14, 900000, &x, true);
    verify_all(log, &x);
    storage_engine_close(e);
    check_phase = "after close: ";
    check_log_files(f->dir, "trunc", false, NULL);

    e = d_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 8 << 10, false, true);
    log = st_log(e, "trunc", &lc);
    assert_int_equal(storage_log_start_offset(log), start);
    verify_all(log, &x);
    /* truncate everything above the start, append again */
    want = exp_truncate(&x, start);
    assert_int_equal(storage_log_truncate(log, start), 0);
    assert_int_equal(storage_log_end_offset(log), want);
    run_mixed(e, log, 10, 15, 990000, &x, true);
    verify_all(log, &x);
    storage_engine_close(e);
    check_phase = "after the second close: ";
    check_log_files(f->dir, "trunc", false, NULL);
    exp_free(&x);
}

/* ---- mode switch ------------------------------------------------------------------------- */

static void test_mode_switch(void **state) {
    struct st_fixture *f = *state;
    need_direct_fs(f->dir);
    struct storage_log_config lc;
    storage_log_config_default(&lc);
    lc.segment_bytes = 128 << 10;
    struct exp_log x = {0};
    /* buffered, direct, buffered after an unclean stop, direct after a clean one */
    static const bool direct[] = {false, true, false, true};
    for (int r = 0; r < 4; r++) {
        struct storage_engine *e =
            d_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 16 << 10, false, direct[r]);
        if (r >= 2) assert_int_equal(storage_engine_was_clean(e), r == 3);
        struct storage_log *log = st_log(e, "switch", &lc);
        verify_all(log, &x);
        size_t before = x.n;
        run_mixed(e, log, 30, 20 + (uint32_t)r, 1000000 * (r + 1), &x, direct[r]);
        assert_int_equal(x.b[before].base, before ? x.b[before - 1].last + 1 : 0);
        verify_all(log, &x);
        storage_engine_close(e);
        static const char *const phase[] = {"after buffered round 0: ", "after direct round 1: ",
                                            "after buffered round 2: ", "after direct round 3: "};
        check_phase = phase[r];
        check_log_files(f->dir, "switch", false, NULL);
        if (r == 1) st_make_unclean(f->dir);
    }
    struct storage_engine *e = d_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, false, false);
    struct storage_log *log = st_log(e, "switch", &lc);
    check_phase = "after the final close: ";
    verify_all(log, &x);
    storage_engine_close(e);
    assert_int_equal(check_log_files(f->dir, "switch", false, NULL), (off_t)exp_bytes(&x, 0));
    exp_free(&x);
}

static void test_segment_roll_hybrid_cached(void **state) {
    g_min = 0;
    g_cache = 1 << 20;
    test_segment_roll(state);
}

static void test_truncate_delete_records_cached(void **state) { /* the cut drops cached data */
    g_cache = 1 << 20;
    test_truncate_delete_records(state);
}

/* ---- injected faults on the direct path -------------------------------------------------- */

/* Three appends in flight, the second write fails: the second and third report the error, the
 * next append cuts back and succeeds, the earlier data is intact. */
static void fault_error_case(struct st_fixture *f, bool posix, int err) {
    need_direct_fs(f->dir);
    struct storage_engine *e = d_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, posix, true);
    struct storage_log *log = st_log(e, "fault", NULL);
    struct exp_log x = {0};
    run_steps(e, log, fixed_steps, N_FIXED, 1000, &x, true); /* the tail is mid-block */
    int64_t end = storage_log_end_offset(log);

    storage_fault_inject(STORAGE_FAULT_WRITE, 2, err, false);
    struct proto_writer w[3];
    struct st_result r[3] = {{0}};
    int64_t bases[3];
    for (int i = 0; i < 3; i++) {
        proto_writer_init(&w[i]);
        st_make_batch(&w[i], 3, 700 + 300 * i, 5000 + i);
        assert_int_equal(
            storage_log_append(log, w[i].buf, w[i].len, 3, false, st_cb, &r[i], &bases[i]), 0);
        assert_int_equal(bases[i], end + 3 * i);
    }
    for (int i = 0; i < 3; i++)
        st_wait_done(e, &r[i].done, 1);
    assert_int_equal(r[0].err, 0);
    assert_int_equal(r[1].err, -err);
    assert_int_equal(r[2].err, -err);
    assert_int_equal(storage_log_error(log), -err);
    assert_int_equal(storage_log_end_offset(log), end + 3);
    exp_add(&x, w[0].buf, w[0].len);
    verify_all(log, &x);
    for (int i = 0; i < 3; i++)
        proto_writer_free(&w[i]);

    /* the next append cuts back and succeeds; more follow, in flight */
    size_t before = x.n;
    run_steps(e, log, fixed_steps, N_FIXED, 9000, &x, true);
    assert_int_equal(x.b[before].base, end + 3);
    assert_int_equal(storage_log_error(log), 0);
    verify_all(log, &x);
    storage_engine_close(e);
    assert_int_equal(check_log_files(f->dir, "fault", false, NULL), (off_t)exp_bytes(&x, 0));
    e = d_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, posix, true);
    log = st_log(e, "fault", NULL);
    verify_all(log, &x);
    storage_engine_close(e);
    exp_free(&x);
}

static void test_fault_eio_uring(void **state) {
    fault_error_case(*state, false, EIO);
}
static void test_fault_eio_posix(void **state) {
    fault_error_case(*state, true, EIO);
}
static void test_fault_eio_cached(void **state) { /* the failed data is never read back */
    g_cache = 1 << 20;
    fault_error_case(*state, false, EIO);
}
static void test_fault_enospc_uring(void **state) {
    fault_error_case(*state, false, ENOSPC);
}

/* A direct write comes back short (with appends queued behind it): the rest is written, every
 * append succeeds, the data is exact. */
static void fault_short_case(struct st_fixture *f, bool posix) {
    need_direct_fs(f->dir);
    struct storage_engine *e = d_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, posix, true);
    struct storage_log *log = st_log(e, "short", NULL);
    struct exp_log x = {0};
    static const struct step s1[] = {
        {.nrec = 1, .vsize = 300, .durable = true, .wait = true},
        {.nrec = 3, .vsize = 3000, .durable = true, .wait = true},
    };
    run_steps(e, log, s1, 2, 1000, &x, true);
    for (int round = 1; round <= 3; round++) {
        storage_fault_inject(STORAGE_FAULT_WRITE, round, 0, true);
        static const struct step s2[] = {
            {.nrec = 4, .vsize = 2500, .durable = true},
            {.nrec = 1, .vsize = 10, .durable = false},
            {.nrec = 2, .vsize = 5000, .durable = true},
            {.target = 4096, .durable = true},
            {.nrec = 1, .vsize = 1, .durable = true, .wait = true},
        };
        run_steps(e, log, s2, 5, 10000 * round, &x, true);
        assert_int_equal(storage_log_error(log), 0);
        verify_all(log, &x);
    }
    storage_engine_close(e);
    assert_int_equal(check_log_files(f->dir, "short", false, NULL), (off_t)exp_bytes(&x, 0));
    e = d_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, posix, true);
    log = st_log(e, "short", NULL);
    verify_all(log, &x);
    storage_engine_close(e);
    exp_free(&x);
}

/* Eight appends of different sizes in flight (whole blocks, held-back tails, padded barriers)
 * with the nth direct write failing (or short) for every n from 1 to 5: whatever the write
 * boundaries, the appends that succeed are a prefix, the rest report the error, the end offset
 * is the prefix's end, the next append continues there, and all data reads back exactly. */
static void fault_sweep_case(struct st_fixture *f, bool posix, bool durable) {
    need_direct_fs(f->dir);
    struct storage_engine *e = d_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, posix, true);
    struct storage_log *log = st_log(e, "sweep", NULL);
    struct exp_log x = {0};
    run_steps(e, log, fixed_steps, 3, 1000, &x, true);
    enum { N = 8 };
    int failed_rounds = 0;
    for (int round = 0; round < 10; round++) {
        int nth = 1 + round / 2;
        bool shortw = round % 2;
        storage_fault_inject(STORAGE_FAULT_WRITE, nth, shortw ? 0 : EIO, shortw);
        struct proto_writer w[N];
        struct st_result r[N];
        memset(r, 0, sizeof(r));
        int64_t end = storage_log_end_offset(log);
        for (int i = 0; i < N; i++) {
            proto_writer_init(&w[i]);
            st_make_batch(&w[i], 1 + i % 3, (size_t)(300 + 1700 * i), 100 * round + i);
            int64_t base;
            assert_int_equal(
                storage_log_append(log, w[i].buf, w[i].len, 3, durable, st_cb, &r[i], &base), 0);
        }
        for (int i = 0; i < N; i++)
            st_wait_done(e, &r[i].done, 1);
        storage_fault_inject(STORAGE_FAULT_WRITE, 0, 0, false);
        int ok = 0;
        while (ok < N && r[ok].err == 0)
            ok++;
        for (int i = ok; i < N; i++)
            if (r[i].err != -EIO)
                fail_msg("round %d (write %d %s): append %d of %d: error %d after %d succeeded",
                         round, nth, shortw ? "short" : "EIO", i, N, r[i].err, ok);
        if (shortw) assert_int_equal(ok, N);
        failed_rounds += ok < N;
        assert_int_equal(storage_log_error(log), ok < N ? -EIO : 0);
        settle(e);
        /* the next append continues after what the log kept: the appends that succeeded, and
         * (durable) maybe more that were written but failed while waiting for their fsync */
        struct proto_writer nw;
        proto_writer_init(&nw);
        st_make_batch(&nw, 2, 777, 99999);
        int64_t nbase;
        assert_int_equal(st_append_sync(e, log, nw.buf, nw.len, durable, &nbase), 0);
        assert_int_equal(storage_log_error(log), 0);
        int kept = 0;
        int64_t kept_end = exp_end(&x);
        while (kept < N && kept_end < nbase) {
            struct proto_batch_header h;
            assert_int_equal(proto_batch_header_parse(w[kept].buf, w[kept].len, &h), 0);
            kept_end = h.BaseOffset + h.LastOffsetDelta + 1;
            kept++;
        }
        if (kept_end != nbase || kept < ok || (!durable && kept != ok))
            fail_msg("round %d (write %d %s): %d appends succeeded, the log continues at %lld "
                     "(%d kept, ending at %lld)",
                     round, nth, shortw ? "short" : "EIO", ok, (long long)nbase, kept,
                     (long long)kept_end);
        for (int i = 0; i < kept; i++)
            exp_add(&x, w[i].buf, w[i].len);
        for (int i = 0; i < N; i++)
            proto_writer_free(&w[i]);
        proto_batch_set_base_offset(nw.buf, nbase);
        proto_batch_set_leader_epoch(nw.buf, 7);
        exp_add(&x, nw.buf, nw.len);
        proto_writer_free(&nw);
        assert_true(exp_end(&x) > end);
        verify_all(log, &x);
    }
    assert_true(failed_rounds >= 3); /* 8 such appends are at least 3 writes: 1 alone, then
                                        whole blocks, then the held-back tail */
    storage_engine_close(e);
    assert_int_equal(check_log_files(f->dir, "sweep", false, NULL), (off_t)exp_bytes(&x, 0));
    e = d_engine(f->dir, STORAGE_FLUSH_GROUP_COMMIT, 0, posix, true);
    log = st_log(e, "sweep", NULL);
    verify_all(log, &x);
    storage_engine_close(e);
    exp_free(&x);
}

static void test_fault_sweep_uring(void **state) {
    fault_sweep_case(*state, false, false);
}
static void test_fault_sweep_posix_durable(void **state) {
    fault_sweep_case(*state, true, true);
}
static void test_fault_sweep_cached(void **state) {
    g_cache = 1 << 20;
    fault_sweep_case(*state, false, false);
}

static void test_fault_short_uring(void **state) {
    fault_short_case(*state, false);
}
static void test_fault_short_posix(void **state) {
    fault_short_case(*state, true);
}

/* ---- a real full disk: 4 MiB ext4 on a loop device --------------------------------------- */

struct loopfs {
    char *dir;     /* temp dir holding the image and the mount point */
    char img[600]; /* image file */
    char mnt[600]; /* mount point */
    char dev[64];  /* loop device we attached ("" if none) */
    bool mounted;
};

static int loop_teardown(void **state) {
    struct loopfs *l = *state;
    if (!l) return 0;
    if (l->mounted && umount2(l->mnt, 0) != 0) umount2(l->mnt, MNT_DETACH);
    if (l->dev[0]) {
        char cmd[200];
        snprintf(cmd, sizeof(cmd), "losetup -d '%s' >/dev/null 2>&1", l->dev);
        if (system(cmd) != 0) fprintf(stderr, "test_direct: could not detach %s\n", l->dev);
    }
    st_rm_rf(l->dir);
    rl_free(l->dir);
    rl_free(l);
    return 0;
}

/* Creates and mounts the file system; returns false (with a message) when it cannot. */
static bool loop_make(struct loopfs *l) {
    snprintf(l->img, sizeof(l->img), "%s/img", l->dir);
    snprintf(l->mnt, sizeof(l->mnt), "%s/mnt", l->dir);
    int fd = open(l->img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 4 << 20) != 0) {
        if (fd >= 0) close(fd);
        return false;
    }
    close(fd);
    if (mkdir(l->mnt, 0755) != 0) return false;
    char cmd[1400];
    snprintf(cmd, sizeof(cmd), "mkfs.ext4 -q -F '%s' >/dev/null 2>&1", l->img);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_direct: mkfs.ext4 failed\n");
        return false;
    }
    snprintf(cmd, sizeof(cmd), "losetup --find --show '%s' 2>/dev/null", l->img);
    FILE *p = popen(cmd, "r");
    if (!p) return false;
    char line[64] = "";
    char *ok = fgets(line, sizeof(line), p);
    int st = pclose(p);
    line[strcspn(line, "\n")] = 0;
    if (ok && strncmp(line, "/dev/loop", 9) == 0) snprintf(l->dev, sizeof(l->dev), "%s", line);
    if (st != 0 || !l->dev[0]) {
        fprintf(stderr, "test_direct: losetup failed\n");
        return false;
    }
    if (mount(l->dev, l->mnt, "ext4", 0, NULL) != 0) {
        fprintf(stderr, "test_direct: mount %s: %s\n", l->dev, strerror(errno));
        return false;
    }
    l->mounted = true;
    return true;
}

static int loop_setup(void **state) {
    struct loopfs *l = rl_calloc(1, sizeof(*l));
    l->dir = st_tmpdir();
    g_min = 1;
    g_cache = 0;
    *state = l;
    return 0;
}

static void test_disk_full_ext4(void **state) {
    struct loopfs *l = *state;
    if (!loop_make(l)) {
        fprintf(stderr, "test_direct: no ext4 loop mount (privilege or tools missing): skipped\n");
        skip();
    }
    char filler[700], data[700];
    snprintf(filler, sizeof(filler), "%s/filler", l->mnt);
    snprintf(data, sizeof(data), "%s/data", l->mnt);
    st_write_filler(filler, true);

    struct storage_engine *e = d_engine(data, STORAGE_FLUSH_GROUP_COMMIT, 128 << 10, false, true);
    struct storage_log *log = st_log(e, "full", NULL);
    struct proto_writer w;
    proto_writer_init(&w);
    st_make_batch(&w, 16, 1000, 1); /* ~16 KiB, not a multiple of the block size */
    int64_t good_end;
    int err = st_append_until_error(e, log, w.buf, w.len, 16, &good_end);
    struct exp_log x = {0}; /* the batches that went in, as the appends stamped them */
    for (int64_t base = 0; base < good_end; base += 16) {
        proto_batch_set_base_offset(w.buf, base);
        proto_batch_set_leader_epoch(w.buf, 7);
        exp_add(&x, w.buf, w.len);
    }
    assert_int_equal(err, -ENOSPC);
    assert_true(good_end > 16 * 50); /* about 2 MiB went in */
    assert_int_equal(storage_log_error(log), -ENOSPC);
    assert_int_equal(storage_log_end_offset(log), good_end);
    verify_all(log, &x);

    /* still full: retries cut back and fail again (a cut may free room for a batch or two) */
    int rc = 0;
    for (int i = 0; i < 4 && rc == 0; i++) {
        int64_t base;
        settle(e);
        rc = st_append_sync(e, log, w.buf, w.len, true, &base);
        if (rc == 0) {
            assert_int_equal(base, good_end);
            proto_batch_set_base_offset(w.buf, base);
            exp_add(&x, w.buf, w.len);
            good_end += 16;
        }
    }
    assert_int_equal(rc, -ENOSPC);
    verify_all(log, &x);

    /* space freed: appends work again, at the right offset */
    assert_int_equal(unlink(filler), 0);
    int fd = open(l->mnt, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(syncfs(fd), 0); /* the freed blocks become allocatable at the commit */
    close(fd);
    settle(e);
    for (int i = 0; i < 8; i++) {
        int64_t base;
        assert_int_equal(st_append_sync(e, log, w.buf, w.len, i % 2 == 0, &base), 0);
        assert_int_equal(base, good_end);
        proto_batch_set_base_offset(w.buf, base);
        exp_add(&x, w.buf, w.len);
        good_end += 16;
    }
    assert_int_equal(storage_log_error(log), 0);
    verify_all(log, &x);
    storage_engine_close(e);
    assert_int_equal(check_log_files(data, "full", false, NULL), (off_t)exp_bytes(&x, 0));

    e = d_engine(data, STORAGE_FLUSH_GROUP_COMMIT, 128 << 10, false, true);
    log = st_log(e, "full", NULL);
    verify_all(log, &x);
    storage_engine_close(e);
    proto_writer_free(&w);
    exp_free(&x);
}

/* Staging buffers are reused under steady load although appends vary in size: once the read
 * cache (larger than the idle pool) is full, every write's buffer comes from the pool, which the
 * cache's evictions refill; a request whose own size class is empty takes a larger idle buffer.
 * (With exact classes only, about one write in ten allocated a fresh buffer here.) Newest
 * data read from those larger buffers and from the files is still byte for byte right. */
static void test_staging_pool_reuse(void **state) {
    struct st_fixture *f = *state;
    need_direct_fs(f->dir);
    g_cache = 96 << 20; /* above the 64 MiB idle pool: evictions alone would not fit in it */
    struct storage_engine *e = d_engine(f->dir, STORAGE_FLUSH_NONE, 0, false, true);
    struct storage_log_config lc;
    storage_log_config_default(&lc);
    lc.segment_bytes = 1 << 30;
    struct storage_log *log = st_log(e, "pool", &lc);
    enum { SIZES = 24, WARM = 260, MEASURED = 300 };
    struct proto_writer w[SIZES];
    uint32_t seed = 11;
    for (int i = 0; i < SIZES; i++) { /* one record of 60 KiB .. 1.5 MiB */
        proto_writer_init(&w[i]);
        st_make_batch(&w[i], 1, (60 << 10) + lcg_next(&seed) % (1440 << 10), i);
    }
    uint8_t *buf = rl_malloc(2 << 20), *want = rl_malloc(2 << 20);
    struct storage_engine_stats m0 = {0}, m1;
    for (int i = 0; i < WARM + MEASURED; i++) {
        if (i == WARM) storage_engine_stats(e, &m0);
        const struct proto_writer *b = &w[lcg_next(&seed) % SIZES];
        int64_t base;
        assert_int_equal(st_append_sync(e, log, b->buf, b->len, false, &base), 0);
        if (i % 25 == 0 || i == WARM + MEASURED - 1) { /* read back through the read cache */
            size_t got = 0;
            assert_int_equal(storage_log_read_copy(log, base, buf, 2 << 20, &got), 0);
            assert_int_equal(got, b->len);
            memcpy(want, b->buf, b->len); /* stamped as the append stamps its copy */
            proto_batch_set_base_offset(want, base);
            proto_batch_set_leader_epoch(want, 7);
            assert_memory_equal(buf, want, b->len);
        }
    }
    storage_engine_stats(e, &m1);
    uint64_t fresh = m1.staging_allocs - m0.staging_allocs;
    if (fresh > MEASURED / 20)
        fail_msg("%llu of %d writes allocated a fresh staging buffer after warm-up (at most %d)",
                 (unsigned long long)fresh, MEASURED, MEASURED / 20);
    assert_true(m1.read_cache_bytes > 0 && m1.read_cache_bytes <= g_cache);
    assert_true(m1.staging_idle_bytes > 0 && m1.staging_idle_bytes <= 64 << 20);
    st_check_log(log);
    storage_engine_close(e);
    for (int i = 0; i < SIZES; i++)
        proto_writer_free(&w[i]);
    rl_free(buf);
    rl_free(want);
}

int main(void) {
    rl_log_set_level(getenv("RINGLET_TEST_LOG") ? RL_LOG_INFO : RL_LOG_ERROR + 1); /* debugging */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identical_uring_prealloc, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_identical_uring, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_identical_posix, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_identical_flush_none, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_identical_hybrid, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_identical_cached, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_read_each_uring, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_read_each_uring_prealloc, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_read_each_posix, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_read_each_cached, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_read_each_hybrid, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_unclean_prealloc_reopen_direct, setup,
                                        st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_unclean_prealloc_reopen_buffered, setup,
                                        st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_unclean_reopen_direct, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_unclean_reopen_buffered, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_segment_roll, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_segment_roll_hybrid_cached, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_seal_cuts_padding, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_truncate_delete_records, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_truncate_delete_records_cached, setup,
                                        st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_mode_switch, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_staging_pool_reuse, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_fault_eio_uring, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_fault_eio_posix, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_fault_eio_cached, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_fault_enospc_uring, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_fault_short_uring, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_fault_sweep_uring, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_fault_sweep_posix_durable, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_fault_sweep_cached, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_fault_short_posix, setup, st_teardown_faults),
        cmocka_unit_test_setup_teardown(test_disk_full_ext4, loop_setup, loop_teardown),
    };
    const char *only = getenv("RINGLET_TEST_FILTER"); /* run one test by name (debugging) */
    if (only) cmocka_set_test_filter(only);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
