/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_crash.c - crash test. A child process appends to a partition log under group commit
 * (io_uring, zero pre-writing, small segments so it rolls) with 8 appends in flight, and reports
 * every offset range acknowledged as durable through a pipe. The parent SIGKILLs it at a random
 * moment, reopens the log (unclean: recovery runs) and checks that every reported-durable offset
 * is readable, every batch has a valid CRC and offsets are contiguous. At least 50 rounds, bounded
 * to about a minute.
 */
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "storage_test.h"

enum { INFLIGHT = 8, ROUNDS = 60, MIN_ROUNDS = 50, BUDGET_MS = 55000 };

struct slot {
    struct proto_writer w;
    int64_t base;
    int nrec;
    bool busy;
};

static int report_fd;
static struct slot slots[INFLIGHT];

static void child_cb(void *arg, int err, int64_t base) {
    struct slot *s = arg;
    if (err) _exit(3);
    int64_t rec[2] = {base, base + s->nrec};
    if (write(report_fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec)) _exit(4);
    s->busy = false;
}

static void child(const char *dir, unsigned seed) {
    rl_log_set_level(RL_LOG_ERROR + 1);
    srand(seed);
    struct storage_engine_config cfg = {.data_dir = dir,
                                        .flush_policy = STORAGE_FLUSH_GROUP_COMMIT,
                                        .segment_preallocate_bytes = 256 << 10};
    st_direct_apply(&cfg);
    struct storage_engine *e;
    if (storage_engine_open(&cfg, &e)) _exit(5);
    if (cfg.direct_io && !st_on_tmpfs(dir) && !storage_engine_direct_io(e)) _exit(9);
    struct storage_log_config lc;
    storage_log_config_default(&lc);
    lc.segment_bytes = 512 << 10;
    lc.index_interval_bytes = 4096;
    struct storage_log *log;
    if (storage_log_open(e, "crash", 0, &lc, &log)) _exit(6);
    for (int i = 0; i < INFLIGHT; i++)
        proto_writer_init(&slots[i].w);
    for (;;) {
        for (int i = 0; i < INFLIGHT; i++) {
            struct slot *s = &slots[i];
            if (s->busy) continue;
            proto_writer_reset(&s->w);
            s->nrec = 1 + rand() % 20;
            struct proto_batch_builder b;
            proto_batch_builder_init(&b, rl_now_ms());
            uint8_t val[200];
            memset(val, 'x', sizeof(val));
            for (int r = 0; r < s->nrec; r++)
                proto_batch_builder_add(&b, rl_now_ms(), PROTO_BYTES_NULL,
                                        (struct proto_bytes){val, 1 + rand() % 200}, NULL, 0);
            if (proto_batch_builder_finish(&b, PROTO_COMPRESSION_NONE, &s->w)) _exit(7);
            proto_batch_builder_free(&b);
            s->busy = true;
            if (storage_log_append(log, s->w.buf, s->w.len, 1, true, child_cb, s, &s->base))
                _exit(8);
        }
        storage_engine_wait(e, 100);
    }
}

/* Reads every report available (blocking until EOF when wait_eof). */
static void drain_reports(int fd, int64_t *max_durable, bool wait_eof) {
    int64_t rec[2];
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (!wait_eof && poll(&p, 1, 0) <= 0) return;
        ssize_t n = read(fd, rec, sizeof(rec));
        if (n <= 0) return;
        assert_int_equal(n, sizeof(rec)); /* 16-byte writes to a pipe are atomic */
        if (rec[1] > *max_durable) *max_durable = rec[1];
    }
}

static void test_crash(void **state) {
    (void)state;
    char *dir = st_tmpdir();
    unsigned seed = (unsigned)time(NULL);
    fprintf(stderr, "test_crash: seed %u, data dir %s\n", seed, dir);
    srand(seed);
    int64_t t0 = rl_mono_ms(), max_durable = 0;
    int rounds = 0;
    for (; rounds < ROUNDS && rl_mono_ms() - t0 < BUDGET_MS; rounds++) {
        int fd;
        pid_t pid = st_fork_reporter(&fd);
        if (pid == 0) {
            report_fd = fd;
            child(dir, seed + (unsigned)rounds);
            _exit(0);
        }
        int64_t until = rl_mono_ms() + 5 + rand() % 150;
        while (rl_mono_ms() < until) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            poll(&p, 1, 5);
            drain_reports(fd, &max_durable, false);
        }
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            fail_msg("round %d: child exited with status %d instead of being killed", rounds,
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        drain_reports(fd, &max_durable, true);
        close(fd);

        st_make_unclean(dir);
        struct storage_engine *e = st_engine(dir, STORAGE_FLUSH_GROUP_COMMIT, 256 << 10, false);
        assert_false(storage_engine_was_clean(e));
        struct storage_log_config lc;
        storage_log_config_default(&lc);
        lc.segment_bytes = 512 << 10;
        struct storage_log *log = st_log(e, "crash", &lc);
        if (storage_log_end_offset(log) < max_durable)
            fail_msg("round %d: log end offset %lld < reported durable offset %lld", rounds,
                     (long long)storage_log_end_offset(log), (long long)max_durable);
        assert_int_equal(storage_log_start_offset(log), 0);
        st_check_log(log); /* every batch: valid CRC, contiguous offsets up to the end */
        if (max_durable > 0) {
            uint8_t *buf = rl_malloc(1 << 16);
            size_t got;
            struct proto_batch_header h;
            assert_int_equal(storage_log_read_copy(log, max_durable - 1, buf, 1 << 16, &got), 0);
            assert_int_equal(proto_batch_validate(buf, got, &h), 0);
            assert_true(h.BaseOffset <= max_durable - 1 &&
                        h.BaseOffset + h.LastOffsetDelta >= max_durable - 1);
            rl_free(buf);
        }
        storage_engine_close(e);
        st_make_unclean(dir); /* the next child recovers too */
    }
    fprintf(stderr, "test_crash: %d rounds in %lld ms, %lld offsets durable\n", rounds,
            (long long)(rl_mono_ms() - t0), (long long)max_durable);
    assert_true(rounds >= MIN_ROUNDS);
    assert_true(max_durable > 0);
    st_rm_rf(dir);
    rl_free(dir);
}

int main(void) {
    rl_log_set_level(RL_LOG_ERROR + 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
