/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage_append.c - storage append/read benchmark (prints figures; not a test).
 *
 * For batches of 16 KiB, 256 KiB and 1 MiB it measures MB/s and appends/s of
 *   - baselines in the same run: plain pwrite of the same sizes, pwrite + fdatasync per write
 *     (the same record-batch bytes the storage cases append, so offsets and lengths match);
 *   - storage_log_append under each flush policy (none, interval with flush.ms = 1000,
 *     group commit with one appender waiting for durability before the next append);
 * then group commit with 8 appenders in flight at 16 KiB against fdatasync-per-write, and
 * sequential reads through storage_log_read_copy against plain pread of the segment file.
 * It prints the ratios; the last line is a one-line summary.
 *
 *   storage_append [-d data_dir] [-s seconds_per_case] [-m max_mib_per_case]
 *                  [-p segment_preallocate_bytes (default 8 MiB)] [-r repeats (default 3)]
 *                  [-c cpu (default 0; -1 = do not pin)]
 *
 * The program pins itself to one CPU (baselines and storage cases alike), as the broker's
 * reactor does with reactor.cpu; the engine then runs its io_uring workers on that CPU too.
 * Every case runs `repeats` times interleaved with the others and the best run is reported.
 *
 * data_dir (default /tmp/ringlet-storage-bench) should be on the disk being measured, not a
 * tmpfs (the program warns). Each case writes fresh files and removes them.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "ringlet/common.h"
#include "ringlet/protocol.h"
#include "ringlet/storage.h"

static const char *data_dir = "/tmp/ringlet-storage-bench";
static double case_seconds = 3.0;
static int64_t case_max_bytes = 256LL << 20;
static int64_t prealloc = 8 << 20; /* the broker's default log.segment.preallocate.bytes */
static int repeats = 3;
static int cpu = 0;
static bool direct = false; /* -D: the engine writes with O_DIRECT */

struct result {
    double mbps;
    double ops;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}
/* Removes the previous case's files and lets writeback settle, so cases start alike. */
static void rm_rf(const char *p) {
    nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    sync();
}

static double now_s(void) {
    return (double)rl_mono_ns() / 1e9;
}

/* A record batch of about `size` bytes (1000-byte values). */
static uint8_t *make_batch(size_t size, size_t *len) {
    struct proto_writer w;
    proto_writer_init(&w);
    struct proto_batch_builder b;
    proto_batch_builder_init(&b, rl_now_ms());
    static uint8_t val[1000];
    memset(val, 'v', sizeof(val));
    size_t n = size > 1100 ? (size - 100) / 1012 : 1;
    for (size_t i = 0; i < n; i++)
        proto_batch_builder_add(&b, rl_now_ms(), PROTO_BYTES_NULL,
                                (struct proto_bytes){val, sizeof(val)}, NULL, 0);
    if (proto_batch_builder_finish(&b, PROTO_COMPRESSION_NONE, &w)) abort();
    proto_batch_builder_free(&b);
    *len = w.len;
    return w.buf; /* caller frees */
}

static struct result baseline(size_t size, bool sync) {
    char path[600];
    rm_rf(data_dir);
    mkdir(data_dir, 0755);
    snprintf(path, sizeof(path), "%s/baseline", data_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    /* The very bytes storage_case appends (a record batch of about `size`), so both write the
     * same lengths at the same file offsets: page-cache writes that end mid-page cost more
     * than page-multiple ones, and Kafka batches have any length. */
    uint8_t *buf = make_batch(size, &size);
    double t0 = now_s(), t;
    int64_t bytes = 0, n = 0;
    do {
        if (pwrite(fd, buf, size, bytes) != (ssize_t)size) {
            perror("pwrite");
            exit(1);
        }
        if (sync && fdatasync(fd) < 0) {
            perror("fdatasync");
            exit(1);
        }
        bytes += (int64_t)size;
        n++;
        t = now_s() - t0;
    } while (t < case_seconds && bytes < case_max_bytes);
    close(fd);
    free(buf);
    rm_rf(data_dir);
    return (struct result){(double)bytes / t / 1e6, (double)n / t};
}

struct slot {
    uint8_t *buf;
    size_t len;
    bool busy;
};
struct run {
    int inflight;
    int64_t bytes, appends;
    int err;
};
static struct run run;

static void append_cb(void *arg, int err, int64_t base) {
    (void)base;
    struct slot *s = arg;
    s->busy = false;
    run.inflight--;
    if (err) run.err = err;
    run.bytes += (int64_t)s->len;
    run.appends++;
}

static struct storage_engine *open_engine(enum storage_flush_policy p) {
    struct storage_engine_config cfg = {.data_dir = data_dir,
                                        .flush_policy = p,
                                        .segment_preallocate_bytes = prealloc,
                                        .direct_io = direct};
    struct storage_engine *e;
    if (storage_engine_open(&cfg, &e)) {
        fprintf(stderr, "cannot open %s\n", data_dir);
        exit(1);
    }
    return e;
}

/* Appends batches of `size` with `inflight` appends outstanding. keep: leave the log for reads. */
static struct result storage_case(enum storage_flush_policy p, size_t size, int inflight,
                                  bool durable, bool keep) {
    rm_rf(data_dir);
    struct storage_engine *e = open_engine(p);
    struct storage_log_config lc;
    storage_log_config_default(&lc);
    if (p == STORAGE_FLUSH_INTERVAL) lc.flush_ms = 1000;
    struct storage_log *log;
    if (storage_log_open(e, "bench", 0, &lc, &log)) exit(1);
    struct slot *slots = calloc((size_t)inflight, sizeof(*slots));
    for (int i = 0; i < inflight; i++)
        slots[i].buf = make_batch(size, &slots[i].len);
    memset(&run, 0, sizeof(run));
    double t0 = now_s(), t, last_tick = t0;
    int64_t submitted = 0;
    do {
        for (int i = 0; i < inflight && submitted < case_max_bytes; i++) {
            if (slots[i].busy) continue;
            int64_t base;
            int rc = storage_log_append(log, slots[i].buf, slots[i].len, 0, durable, append_cb,
                                        &slots[i], &base);
            if (rc) {
                fprintf(stderr, "append: %s\n", rl_strerror(rc));
                exit(1);
            }
            slots[i].busy = true;
            run.inflight++;
            submitted += (int64_t)slots[i].len;
        }
        storage_engine_wait(e, 10);
        t = now_s();
        if (t - last_tick > 0.1) {
            storage_engine_tick(e, rl_now_ms());
            last_tick = t;
        }
        t -= t0;
    } while (t < case_seconds && submitted < case_max_bytes);
    while (run.inflight)
        storage_engine_wait(e, 10);
    t = now_s() - t0;
    if (run.err) {
        fprintf(stderr, "append failed: %s\n", rl_strerror(run.err));
        exit(1);
    }
    struct result r = {(double)run.bytes / t / 1e6, (double)run.appends / t};
    storage_engine_close(e);
    for (int i = 0; i < inflight; i++)
        free(slots[i].buf);
    free(slots);
    if (!keep) rm_rf(data_dir);
    return r;
}

/* Reads the log left by the last storage_case(keep = true) through read_copy, then the same
 * segment file with plain pread, with a 4 MiB buffer. */
static void read_case(struct result *via_storage, struct result *via_pread) {
    struct storage_engine *e = open_engine(STORAGE_FLUSH_NONE);
    struct storage_log *log;
    if (storage_log_open(e, "bench", 0, NULL, &log)) exit(1);
    size_t cap = 4 << 20;
    uint8_t *buf = malloc(cap);
    int64_t end = storage_log_end_offset(log), off = 0, bytes = 0, n = 0;
    double t0 = now_s();
    while (off < end) {
        size_t got;
        int rc = storage_log_read_copy(log, off, buf, cap, &got);
        if (rc || got == 0) {
            fprintf(stderr, "read_copy at %lld: %s\n", (long long)off, rl_strerror(rc));
            exit(1);
        }
        size_t p = 0, last = 0;
        while (p < got) {
            last = p;
            struct proto_batch_header h;
            if (proto_batch_header_parse(buf + p, got - p, &h)) exit(1);
            p += PROTO_BATCH_OVERHEAD + (size_t)h.BatchLength;
        }
        struct proto_batch_header h;
        proto_batch_header_parse(buf + last, got - last, &h);
        off = h.BaseOffset + h.LastOffsetDelta + 1;
        bytes += (int64_t)got;
        n++;
    }
    double t = now_s() - t0;
    *via_storage = (struct result){(double)bytes / t / 1e6, (double)n / t};
    storage_engine_close(e);

    char path[700];
    snprintf(path, sizeof(path), "%s/bench-0/00000000000000000000.log", data_dir);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    int64_t pos = 0;
    n = 0;
    t0 = now_s();
    for (;;) {
        ssize_t r = pread(fd, buf, cap, pos);
        if (r <= 0) break;
        pos += r;
        n++;
    }
    t = now_s() - t0;
    close(fd);
    *via_pread = (struct result){(double)pos / t / 1e6, (double)n / t};
    free(buf);
    rm_rf(data_dir);
}

static void row(const char *size, const char *name, struct result r) {
    printf("%-8s %-34s %10.1f MB/s %12.0f %s/s\n", size, name, r.mbps, r.ops,
           strncmp(name, "read", 4) ? "appends" : "reads");
    fflush(stdout);
}

/* Prints one run and keeps the better of it and *b. */
static void best(struct result *b, struct result r, const char *size, const char *name) {
    row(size, name, r);
    if (r.mbps > b->mbps) *b = r;
}

int main(int argc, char **argv) {
    int opt;
    while ((opt = getopt(argc, argv, "d:s:m:p:r:c:D")) != -1) {
        if (opt == 'd')
            data_dir = optarg;
        else if (opt == 's')
            case_seconds = atof(optarg);
        else if (opt == 'm')
            case_max_bytes = atoll(optarg) << 20;
        else if (opt == 'p')
            prealloc = atoll(optarg);
        else if (opt == 'r')
            repeats = RL_MAX(1, atoi(optarg));
        else if (opt == 'c')
            cpu = atoi(optarg);
        else if (opt == 'D')
            direct = true;
        else {
            fprintf(stderr,
                    "usage: %s [-d data_dir] [-s seconds_per_case] [-m max_mib] "
                    "[-p preallocate_bytes] [-r repeats] [-c cpu|-1]\n",
                    argv[0]);
            return 2;
        }
    }
    rl_log_set_level(RL_LOG_WARN);
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) < 0) {
            perror("sched_setaffinity");
            return 1;
        }
    }
    mkdir(data_dir, 0755);
    struct statfs sf;
    if (statfs(data_dir, &sf) == 0 && sf.f_type == TMPFS_MAGIC)
        fprintf(stderr, "warning: %s is on tmpfs: fdatasync figures mean nothing\n", data_dir);
    printf("storage_append: data dir %s, up to %.1f s / %lld MiB per case, preallocate %lld, "
           "%s%d\n",
           data_dir, case_seconds, (long long)(case_max_bytes >> 20), (long long)prealloc,
           cpu >= 0 ? "pinned to CPU " : "not pinned ", cpu);

    /* Warm-up: page-cache memory the VM has never touched is slow the first time (host-side
     * faults); write and drop a few times the per-case volume so every case starts alike. */
    {
        int64_t saved_max = case_max_bytes;
        double saved_s = case_seconds;
        case_max_bytes = RL_MAX(4 * case_max_bytes, 1LL << 30);
        case_seconds = 30;
        baseline(1 << 20, false);
        case_max_bytes = saved_max;
        case_seconds = saved_s;
    }
    static const size_t sizes[] = {16 << 10, 256 << 10, 1 << 20};
    static const char *names[] = {"16KiB", "256KiB", "1MiB"};
    struct result pw[3] = {{0}}, pws[3] = {{0}}, none[3] = {{0}}, none4[3] = {{0}}, intv[3] = {{0}},
                  gc[3] = {{0}}, gc8 = {0}, rs = {0}, rp = {0};
    /* Every case runs `repeats` times, interleaved with the others; the best run counts (the
     * machine is shared, so the best run is the one least disturbed). */
    for (int rep = 0; rep < repeats; rep++) {
        printf("-- run %d of %d\n", rep + 1, repeats);
        for (int i = 0; i < 3; i++) {
            best(&pw[i], baseline(sizes[i], false), names[i], "baseline pwrite");
            best(&pws[i], baseline(sizes[i], true), names[i], "baseline pwrite+fdatasync");
            best(&none[i], storage_case(STORAGE_FLUSH_NONE, sizes[i], 1, true, false), names[i],
                 "storage none, 1 in flight");
            best(&none4[i], storage_case(STORAGE_FLUSH_NONE, sizes[i], 4, true, false), names[i],
                 "storage none, 4 in flight");
            best(&intv[i], storage_case(STORAGE_FLUSH_INTERVAL, sizes[i], 1, true, false), names[i],
                 "storage interval, 1 in flight");
            best(&gc[i], storage_case(STORAGE_FLUSH_GROUP_COMMIT, sizes[i], 1, true, false),
                 names[i], "storage group commit, 1 appender");
        }
        best(&gc8, storage_case(STORAGE_FLUSH_GROUP_COMMIT, sizes[0], 8, true, false), names[0],
             "storage group commit, 8 appenders");
        int64_t saved_max = case_max_bytes;
        double saved_s = case_seconds;
        case_max_bytes = RL_MIN(case_max_bytes, 512LL << 20);
        case_seconds = 1e9; /* write the whole read set */
        storage_case(STORAGE_FLUSH_NONE, sizes[2], 4, false, true);
        case_max_bytes = saved_max;
        case_seconds = saved_s;
        struct result a, b;
        read_case(&a, &b);
        best(&rs, a, "4MiB", "read: storage_log_read_copy");
        best(&rp, b, "4MiB", "read: plain pread");
    }

    printf("\nbest of %d runs (interval: flush.ms=1000):\n", repeats);
    for (int i = 0; i < 3; i++) {
        row(names[i], "baseline pwrite", pw[i]);
        row(names[i], "baseline pwrite+fdatasync", pws[i]);
        row(names[i], "storage none, 1 in flight", none[i]);
        row(names[i], "storage none, 4 in flight", none4[i]);
        row(names[i], "storage interval, 1 in flight", intv[i]);
        row(names[i], "storage group commit, 1 appender", gc[i]);
    }
    row(names[0], "storage group commit, 8 appenders", gc8);
    row("4MiB", "read: storage_log_read_copy", rs);
    row("4MiB", "read: plain pread", rp);

    printf("\nratios (storage / baseline of the same size):\n");
    for (int i = 0; i < 3; i++)
        printf("  %-7s none-1/pwrite %.2fx  none-4/pwrite %.2fx  interval-1/pwrite %.2fx  "
               "group-commit-1/fdatasync-per-write %.2fx\n",
               names[i], none[i].mbps / pw[i].mbps, none4[i].mbps / pw[i].mbps,
               intv[i].mbps / pw[i].mbps, gc[i].mbps / pws[i].mbps);
    double r_none1 = none[1].mbps / pw[1].mbps, r_none4 = none4[1].mbps / pw[1].mbps,
           r_gc8 = gc8.mbps / pws[0].mbps, r_read = rs.mbps / rp.mbps;
    printf("  none/pwrite at 256KiB: %.2fx with 4 appends in flight, %.2fx with 1 (target >= "
           "0.9x)\n",
           r_none4, r_none1);
    printf("  group commit 8 appenders / fdatasync-per-write at 16KiB: %.2fx (target >= 3x)\n",
           r_gc8);
    printf("  read_copy/pread: %.2fx\n", r_read);
    printf("SUMMARY none4/pwrite@256KiB=%.2fx none1/pwrite@256KiB=%.2fx "
           "gc8/fsync-per-write@16KiB=%.2fx read_copy/pread=%.2fx "
           "gc1/fsync-per-write@1MiB=%.2fx\n",
           r_none4, r_none1, r_gc8, r_read, gc[2].mbps / pws[2].mbps);
    return 0;
}
