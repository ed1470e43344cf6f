/* SPDX-License-Identifier: Apache-2.0 */
/*
 * broker_bench.c - a librdkafka load generator that measures a Kafka broker and compares it,
 * in the same run and with the same client settings, with librdkafka's own in-memory mock
 * cluster (rd_kafka_mock_cluster_new, public API) as the baseline:
 *   1. produce 100-byte messages, acks=1: msgs/s, MB/s, ack latency p50/p99/p99.9;
 *   2. produce 1 KiB messages, acks=all: the same figures;
 *   3. consume 100-byte and 1 KiB messages from offset 0: msgs/s, MB/s;
 *   4. end to end: a producer paced at a fixed rate (1,000 msg/s, linger.ms=0, acks=1) and a
 *      consumer; latency from the produce call to the consumer's receipt, p50/p99/p99.9.
 * Each scenario runs -n times (3), alternating mock and ringletd; it prints every run, then the
 * ratios of the medians ringletd/mock, and a last line that summarises them.
 *
 *   broker_bench [-b host:port] [-p broker_pid] [-s produce_secs] [-e e2e_secs] [-r rate]
 *                [-m max_MiB] [-c consume_partitions] [-w e2e_fetch_wait_ms]
 *                [-M child|inproc] [-x produce100,produce1k,consume,e2e] [-d data_dir] [-n runs]
 *                [-X librdkafka.setting=value ...] [-P client_cpus/target_cpus] [-R mock_rtt_ms]
 *                [-H busy_fraction] [-S stats_file]
 *   With -d (the broker's data directory), the disk's sync-write limit is measured there (1 s)
 *   after each acks=all run and acks=all MB/s is also given as a fraction of it.
 *   scripts/bench-broker.sh starts ringletd and runs it; docs/benchmarks.md has figures.
 *
 * Method:
 *   - Every scenario runs against the mock first, then against the broker, with one
 *     rd_kafka_conf built by the same function for both, on topics created beforehand
 *     (CreateTopics on the broker, rd_kafka_mock_topic_create on the mock), with fresh clients
 *     connected and warmed up (one message delivered, or received) before the clock starts.
 *   - Client settings are librdkafka's defaults except acks per scenario, and linger.ms=0 for
 *     the end-to-end producer (the default 5 ms linger alone would exceed 2 ms).
 *   - Produce: one partition; messages are enqueued for -s seconds (or until -m MiB), then
 *     flushed; throughput is delivered messages over the time from the first enqueue to the
 *     last delivery report. Ack latency is enqueue to delivery report, so it includes client
 *     queueing (as Kafka's producer-perf-test measures it).
 *   - Consume: the mock keeps at most 5 MiB per partition (it drops older batches silently), so
 *     the consume scenarios first write 3.5 MiB to each of -c (64) partitions (not measured),
 *     then a partition consumer (no group) reads them all back from offset 0 through one
 *     queue; throughput counts from the first message to the last (no connection setup).
 *   - End to end: the mock never wakes a waiting Fetch (it answers an empty one after
 *     fetch.wait.max.ms), so its figure is about that setting (500 ms by default; -w changes it
 *     for both targets); ringletd is expected to answer as soon as the append completes.
 *   - The mock runs by default in a child process (-M child), forked before any client thread
 *     exists, so it is scheduled like a broker process, competing with the client for the
 *     cores as ringletd does; -M inproc keeps it in the bench process.
 *   - -P 1/0 runs the clients on CPU 1 and the mock child on CPU 0 (CPU lists as taskset
 *     takes them: "0-1,3"); pin ringletd to the target CPUs too (reactor.cpu, or taskset), so
 *     each broker gets cores of its own as on a dedicated machine. Off by default: the figures
 *     let the scheduler place everything, as on the shared machine they are measured on.
 *   - -R 20 makes the mock hold every response 20 ms (rd_kafka_mock_broker_set_rtt): how much
 *     of the mock's lead is the client's sensitivity to acknowledgement latency alone.
 *   - -H 0.4 runs a busy child process that spins 0.4 ms of every millisecond (pinned like the
 *     mock with -P) during every scenario: how fast the same client drives the mock when a
 *     broker process takes that much more CPU than the mock (compare cpu-tg): on a 2-core
 *     machine that share, with the acknowledgement latency (-R), sets the acks=all ratio.
 *   - -S file appends librdkafka's statistics (statistics.interval.ms=1000) of every client as
 *     JSON lines: per broker connection int_latency (queue time before a request), outbuf
 *     latency, rtt and waitresp_cnt (requests in flight) show where a produce run's latency is.
 *   - With -p, the CPU time the broker process used during each scenario is printed (from
 *     /proc/<pid>/stat), next to the bench's own; the mock child's is measured the same way.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/* ---- clocks and latency histograms ---- */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Log-linear histogram of nanoseconds: values below 64 exact, then 64 buckets per power of two
 * (relative error under 1.6%), so recording costs no allocation and no sort.
 */
#define MAX_REPS     9
#define HIST_SUB     64
#define HIST_BUCKETS (59 * HIST_SUB)

struct hist {
    uint64_t n;
    uint64_t counts[HIST_BUCKETS];
};

static unsigned hist_index(uint64_t v) {
    if (v < HIST_SUB) return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    return (msb - 5) * HIST_SUB + (unsigned)((v >> (msb - 6)) & (HIST_SUB - 1));
}

static void hist_add(struct hist *h, uint64_t v) {
    h->counts[hist_index(v)]++;
    h->n++;
}

/* Returns the value at quantile q (0..1) in ms: the middle of the bucket holding it. */
static double hist_quantile_ms(const struct hist *h, double q) {
    if (h->n == 0) return NAN;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen < rank) continue;
        if (i < HIST_SUB) return (double)i / 1e6;
        unsigned msb = i / HIST_SUB + 5, sub = i % HIST_SUB;
        double low = (double)((uint64_t)(HIST_SUB + sub) << (msb - 6));
        double width = (double)(1ull << (msb - 6));
        return (low + width / 2) / 1e6;
    }
    return NAN;
}

/* ---- CPU accounting ---- */

/* CPU seconds (user + system) used so far by process pid, or by this process if pid <= 0. */
static double cpu_seconds(pid_t pid) {
    if (pid <= 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6;
    }
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return NAN;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the ")" closing the command name: state is field 3, utime 14, stime 15. */
    char *p = strrchr(buf, ')');
    if (!p) return NAN;
    unsigned long utime = 0, stime = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return NAN;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- targets ---- */

enum { T_MOCK, T_BROKER, T_COUNT };
static const char *const target_names[T_COUNT] = {"mock", "ringletd"};

struct target {
    bool enabled;
    char bootstrap[512];
    pid_t pid; /* process whose CPU time is reported; 0 = unknown / in the bench process */
};

static struct target targets[T_COUNT];

/* The in-process mock (-M inproc) and its host handle. */
static rd_kafka_t *inproc_rk;
static rd_kafka_mock_cluster_t *inproc_mock;
/* The mock child (-M child): write end of the pipe whose EOF tells it to exit. */
static int mock_ctl_fd = -1;
static pid_t mock_child;

/*
 * Payload written to each partition of the consume topics: the mock keeps at most 5 MiB (and
 * 100,000 batches) per partition and silently drops the oldest batches beyond that, so the consume
 * scenarios spread their data over many partitions that each stay below that limit.
 */
#define CONSUME_BYTES_PER_PARTITION (3584u * 1024u)

/* Topics: produce 100 B, produce 1 KiB, end to end (1 partition each), consume 100 B, 1 KiB. */
enum { TP_P100, TP_P1K, TP_E2E, TP_C100, TP_C1K, NTOPICS };
static char topics[NTOPICS][128];
static int topic_partitions[NTOPICS] = {1, 1, 1, 64, 64};

/* librdkafka log lines of level warning and worse go to stderr; notices and debug are dropped. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    if (level <= 4) fprintf(stderr, "  [librdkafka %s] %s: %s\n", rd_kafka_name(rk), fac, buf);
}

/* Parses a CPU list ("0", "0-1,3") into set; false if malformed. */
static bool parse_cpus(const char *s, cpu_set_t *set) {
    CPU_ZERO(set);
    while (*s) {
        char *end;
        long a = strtol(s, &end, 10), b = a;
        if (end == s || a < 0 || a >= CPU_SETSIZE) return false;
        if (*end == '-') {
            s = end + 1;
            b = strtol(s, &end, 10);
            if (end == s || b < a || b >= CPU_SETSIZE) return false;
        }
        for (long c = a; c <= b; c++)
            CPU_SET((int)c, set);
        s = end;
        if (*s == ',')
            s++;
        else if (*s)
            return false;
    }
    return CPU_COUNT(set) > 0;
}

static int mock_rtt_ms;     /* -R */
static double hog_fraction; /* -H */
static pid_t hog_child;
static const char *stats_path;            /* -S */
static cpu_set_t pin_clients, pin_target; /* -P */
static bool pinned;

static int mock_create(rd_kafka_t **rkp, rd_kafka_mock_cluster_t **mcp, char *bootstrap,
                       size_t len) {
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "client.id", "broker_bench_mock_host", err, sizeof(err));
    rd_kafka_conf_set_log_cb(conf, log_cb); /* drops the notice about no bootstrap.servers */
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "mock: rd_kafka_new: %s\n", err);
        return -EINVAL;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    if (!mc) {
        fprintf(stderr, "mock: rd_kafka_mock_cluster_new failed\n");
        rd_kafka_destroy(rk);
        return -EINVAL;
    }
    for (int i = 0; i < NTOPICS; i++) {
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topics[i], topic_partitions[i], 1);
        if (e) fprintf(stderr, "mock: create %s: %s\n", topics[i], rd_kafka_err2str(e));
    }
    if (mock_rtt_ms > 0) rd_kafka_mock_broker_set_rtt(mc, 1, mock_rtt_ms);
    snprintf(bootstrap, len, "%s", rd_kafka_mock_cluster_bootstraps(mc));
    *rkp = rk;
    *mcp = mc;
    return 0;
}

/*
 * Forks the mock child before the bench creates any thread: the child hosts the mock cluster,
 * writes its bootstrap address on a pipe, and exits when the control pipe reaches EOF (or when
 * the bench dies: PR_SET_PDEATHSIG).
 */
static int mock_spawn_child(char *bootstrap, size_t len, pid_t *pid) {
    int up[2], ctl[2];
    if (pipe(up) || pipe(ctl)) return -errno;
    pid_t child = fork();
    if (child < 0) return -errno;
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (pinned && sched_setaffinity(0, sizeof(pin_target), &pin_target)) _exit(1);
        close(up[0]);
        close(ctl[1]);
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mc;
        char bs[512];
        if (mock_create(&rk, &mc, bs, sizeof(bs))) _exit(1);
        size_t n = strlen(bs);
        bs[n++] = '\n';
        if (write(up[1], bs, n) != (ssize_t)n) _exit(1);
        close(up[1]);
        char c;
        while (read(ctl[0], &c, 1) > 0 || errno == EINTR) {}
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        _exit(0);
    }
    close(up[1]);
    close(ctl[0]);
    size_t got = 0;
    while (got < len - 1) {
        ssize_t k = read(up[0], bootstrap + got, len - 1 - got);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        got += (size_t)k;
        if (bootstrap[got - 1] == '\n') break;
    }
    close(up[0]);
    if (got == 0 || bootstrap[got - 1] != '\n') {
        fprintf(stderr, "mock child did not report its address\n");
        return -EIO;
    }
    bootstrap[got - 1] = '\0';
    mock_ctl_fd = ctl[1];
    *pid = child;
    return 0;
}

/*
 * -H: forks a child that spins for hog_fraction of every millisecond and sleeps the rest, until
 * the bench exits (PR_SET_PDEATHSIG) or hog_stop() kills it. Forked before any client thread.
 */
static int hog_spawn(void) {
    pid_t child = fork();
    if (child < 0) return -errno;
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (pinned && sched_setaffinity(0, sizeof(pin_target), &pin_target)) _exit(1);
        uint64_t busy = (uint64_t)(hog_fraction * 1e6);
        struct timespec idle = {0, (long)((1.0 - hog_fraction) * 1e6)};
        volatile uint64_t sink = 0;
        for (;;) {
            uint64_t t0 = now_ns();
            while (now_ns() - t0 < busy)
                for (int i = 0; i < 1000; i++)
                    sink += (uint64_t)i;
            if (idle.tv_nsec) nanosleep(&idle, NULL);
        }
    }
    hog_child = child;
    return 0;
}

static void hog_stop(void) {
    if (hog_child <= 0) return;
    kill(hog_child, SIGKILL);
    waitpid(hog_child, NULL, 0);
    hog_child = 0;
}

static void mock_stop(void) {
    if (mock_ctl_fd >= 0) {
        close(mock_ctl_fd);
        mock_ctl_fd = -1;
        int st;
        waitpid(mock_child, &st, 0);
    }
    if (inproc_mock) rd_kafka_mock_cluster_destroy(inproc_mock);
    if (inproc_rk) rd_kafka_destroy(inproc_rk);
    inproc_mock = NULL;
    inproc_rk = NULL;
}

/* ---- client configuration (identical for both targets) ---- */

static void conf_set(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char err[256];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "config %s=%s: %s\n", name, value, err);
        exit(2);
    }
}

/* -X name=value settings, applied to every client of both targets (experiments only: the
 * figures in docs/benchmarks.md use librdkafka's defaults). */
#define MAX_EXTRA_CONF 16
static const char *extra_conf[MAX_EXTRA_CONF];
static int n_extra_conf;

static rd_kafka_conf_t *base_conf(const struct target *t) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "bootstrap.servers", t->bootstrap);
    conf_set(conf, "client.id", "broker_bench");
    rd_kafka_conf_set_log_cb(conf, log_cb);
    for (int i = 0; i < n_extra_conf; i++) {
        char name[128];
        const char *eq = strchr(extra_conf[i], '=');
        snprintf(name, sizeof(name), "%.*s", (int)(eq - extra_conf[i]), extra_conf[i]);
        conf_set(conf, name, eq + 1);
    }
    return conf;
}

/* -S: one JSON object per client and interval, appended to stats_path. */
static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque) {
    (void)rk;
    (void)opaque;
    FILE *f = fopen(stats_path, "a");
    if (!f) return 0;
    fwrite(json, 1, len, f);
    fputc('\n', f);
    fclose(f);
    return 0; /* librdkafka frees json */
}

static rd_kafka_t *client_new(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
    char err[256];
    if (stats_path) {
        conf_set(conf, "statistics.interval.ms", "1000");
        rd_kafka_conf_set_stats_cb(conf, stats_cb);
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        exit(1);
    }
    return rk;
}

/* Creates the bench topics (one partition each) on the broker; auto-create is the fallback. */
static void broker_create_topics(const struct target *t) {
    rd_kafka_t *rk = client_new(RD_KAFKA_PRODUCER, base_conf(t));
    rd_kafka_NewTopic_t *nt[NTOPICS];
    char err[256];
    for (int i = 0; i < NTOPICS; i++)
        nt[i] = rd_kafka_NewTopic_new(topics[i], topic_partitions[i], 1, err, sizeof(err));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, 10000, err, sizeof(err));
    rd_kafka_CreateTopics(rk, nt, NTOPICS, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 20000);
    if (!ev) {
        fprintf(stderr, "CreateTopics: no answer in 20 s; relying on auto-create\n");
    } else if (rd_kafka_event_error(ev)) {
        fprintf(stderr, "CreateTopics: %s; relying on auto-create\n",
                rd_kafka_event_error_string(ev));
    } else {
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        for (size_t i = 0; i < n; i++)
            if (rd_kafka_topic_result_error(res[i]) &&
                rd_kafka_topic_result_error(res[i]) != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                fprintf(stderr, "CreateTopics %s: %s\n", rd_kafka_topic_result_name(res[i]),
                        rd_kafka_topic_result_error_string(res[i]));
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    for (int i = 0; i < NTOPICS; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    rd_kafka_destroy(rk);
}

/* ---- results ---- */

struct result {
    bool ran, ok;
    uint64_t msgs, bytes, errors;
    double secs;
    struct hist lat;
    double cpu_bench, cpu_target; /* CPU seconds during the measured interval */
    double cpu_hog;               /* ... and the -H busy child's (NaN without -H) */
};

static double rate(const struct result *r, double per) {
    return r->secs > 0 ? (double)per / r->secs : NAN;
}

static double hog_cpu0; /* the busy child's CPU seconds at cpu_begin */

static void cpu_begin(const struct target *t, double *self, double *other) {
    hog_cpu0 = hog_child > 0 ? cpu_seconds(hog_child) : NAN;
    *self = cpu_seconds(0);
    *other = t->pid > 0 ? cpu_seconds(t->pid) : NAN;
}

static void cpu_end(const struct target *t, struct result *r, double self, double other) {
    r->cpu_bench = cpu_seconds(0) - self;
    r->cpu_target = t->pid > 0 ? cpu_seconds(t->pid) - other : NAN;
    r->cpu_hog = hog_child > 0 ? cpu_seconds(hog_child) - hog_cpu0 : NAN;
}

static void print_header(void) {
    printf("%-24s %-9s %11s %9s %8s %8s %8s %7s %7s %6s\n", "scenario", "target", "msgs/s", "MB/s",
           "p50 ms", "p99 ms", "p99.9 ms", "cpu-bn", "cpu-tg", "errors");
}

/* cpu-bn / cpu-tg: cores used by the bench process and by the target process (CPU s / wall s). */
static void print_row(const char *scenario, int t, const struct result *r, bool latency) {
    if (!r->ran) return;
    char p50[16] = "-", p99[16] = "-", p999[16] = "-", cb[16] = "-", ct[16] = "-";
    if (latency && r->lat.n) {
        snprintf(p50, sizeof(p50), "%.3f", hist_quantile_ms(&r->lat, 0.50));
        snprintf(p99, sizeof(p99), "%.3f", hist_quantile_ms(&r->lat, 0.99));
        snprintf(p999, sizeof(p999), "%.3f", hist_quantile_ms(&r->lat, 0.999));
    }
    if (r->secs > 0) snprintf(cb, sizeof(cb), "%.2f", r->cpu_bench / r->secs);
    if (r->secs > 0 && !isnan(r->cpu_target))
        snprintf(ct, sizeof(ct), "%.2f", r->cpu_target / r->secs);
    char hog[48] = "";
    if (r->secs > 0 && !isnan(r->cpu_hog))
        snprintf(hog, sizeof(hog), "  (busy child: %.2f cores)", r->cpu_hog / r->secs);
    printf("%-24s %-9s %11.0f %9.1f %8s %8s %8s %7s %7s %6" PRIu64 "%s%s\n", scenario,
           target_names[t], rate(r, (double)r->msgs), rate(r, (double)r->bytes / 1e6), p50, p99,
           p999, cb, ct, r->errors, hog, r->ok ? "" : "  (FAILED: see stderr)");
    fflush(stdout);
}

/* ---- disk limit ---- */

/* The data disk's durable write bandwidth, the ceiling of any acks=all produce: sequential
 * O_DIRECT writes of 8 MiB (the device's own rate, without page-cache writeback in the way)
 * with an fdatasync every 64 MiB, for up to `secs` or 2 GiB, into a scratch file in dir
 * (removed after). Returns MB/s, or NaN. */
static double disk_sync_write_mbps(const char *dir, double secs) {
    char path[1200];
    snprintf(path, sizeof(path), "%s/broker_bench-disk-limit.tmp", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
    if (fd < 0) {
        fprintf(stderr, "disk limit: %s: %s\n", path, strerror(errno));
        return NAN;
    }
    enum { CHUNK = 8 << 20, SYNC_EVERY = 8 };
    void *buf = NULL;
    if (posix_memalign(&buf, 4096, CHUNK)) {
        close(fd);
        return NAN;
    }
    memset(buf, 'd', CHUNK);
    double t0 = (double)now_ns() / 1e9, t = 0;
    int64_t pos = 0;
    bool ok = true;
    while (ok && t < secs && pos < (2LL << 30)) {
        for (int i = 0; i < SYNC_EVERY && ok; i++, pos += CHUNK)
            ok = pwrite(fd, buf, CHUNK, pos) == CHUNK;
        ok = ok && fdatasync(fd) == 0;
        t = (double)now_ns() / 1e9 - t0;
    }
    if (!ok) fprintf(stderr, "disk limit: writing %s: %s\n", path, strerror(errno));
    close(fd);
    unlink(path);
    free(buf);
    return ok && t > 0 ? (double)pos / t / 1e6 : NAN;
}

/* ---- produce ---- */

struct produce_state {
    struct hist *lat;
    uint64_t delivered, bytes, errors;
    uint64_t last_dr_ns;
    bool measuring;
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    struct produce_state *s = opaque;
    uint64_t now = now_ns();
    if (m->err) {
        if (s->errors++ < 3) fprintf(stderr, "  delivery failed: %s\n", rd_kafka_err2str(m->err));
        return;
    }
    if (!s->measuring) return;
    s->delivered++;
    s->bytes += m->len;
    s->last_dr_ns = now;
    if (s->lat) hist_add(s->lat, now - (uint64_t)(uintptr_t)m->_private);
}

static rd_kafka_t *producer_new(const struct target *t, const char *acks, bool low_latency,
                                struct produce_state *s) {
    rd_kafka_conf_t *conf = base_conf(t);
    conf_set(conf, "acks", acks);
    if (low_latency) conf_set(conf, "linger.ms", "0");
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, s);
    return client_new(RD_KAFKA_PRODUCER, conf);
}

/* Produces one message and waits for its delivery: connects, fetches metadata. */
static bool producer_warm_up(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const void *buf, size_t len,
                             struct produce_state *s) {
    uint64_t err0 = s->errors;
    if (rd_kafka_produce(rkt, 0, RD_KAFKA_MSG_F_COPY, (void *)buf, len, NULL, 0,
                         (void *)(uintptr_t)now_ns()) != 0)
        return false;
    return rd_kafka_flush(rk, 15000) == RD_KAFKA_RESP_ERR_NO_ERROR && s->errors == err0;
}

/*
 * Enqueues msg_size-byte messages to partition 0 for secs seconds (or max_bytes), then flushes.
 * r->msgs counts delivered messages, excluding the warm-up one.
 */
static void run_produce(const struct target *t, const char *topic, size_t msg_size,
                        const char *acks, double secs, uint64_t max_bytes, struct result *r) {
    memset(r, 0, sizeof(*r));
    r->ran = true;
    struct produce_state s = {.lat = &r->lat};
    rd_kafka_t *rk = producer_new(t, acks, false, &s);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    char *buf = malloc(msg_size);
    for (size_t i = 0; i < msg_size; i++)
        buf[i] = (char)('a' + i % 26);
    if (!producer_warm_up(rk, rkt, buf, msg_size, &s)) {
        fprintf(stderr, "  %s: warm-up message not delivered\n", target_names[t - targets]);
        r->errors = s.errors;
        goto out;
    }
    s.measuring = true;
    double c0, c1;
    cpu_begin(t, &c0, &c1);
    uint64_t start = now_ns(), end_enqueue = start + (uint64_t)(secs * 1e9), sent = 0;
    uint64_t max_msgs = max_bytes / msg_size;
    while (sent < max_msgs) {
        for (int i = 0; i < 1000 && sent < max_msgs; i++) {
            while (rd_kafka_produce(rkt, 0, RD_KAFKA_MSG_F_COPY, buf, msg_size, NULL, 0,
                                    (void *)(uintptr_t)now_ns()) != 0) {
                if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    fprintf(stderr, "  produce: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
                    goto flush;
                }
                rd_kafka_poll(rk, 1);
            }
            sent++;
        }
        rd_kafka_poll(rk, 0);
        if (now_ns() >= end_enqueue) break;
    }
flush:
    if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        fprintf(stderr, "  flush: %d messages still undelivered after 60 s\n",
                rd_kafka_outq_len(rk));
    r->secs = s.delivered ? (double)(s.last_dr_ns - start) / 1e9 : 0;
    cpu_end(t, r, c0, c1);
    r->msgs = s.delivered;
    r->bytes = s.bytes;
    r->errors = s.errors;
    r->ok = s.errors == 0 && s.delivered == sent;
out:
    free(buf);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

/* ---- consume ---- */

struct consume_state {
    uint64_t msgs, bytes, errors;
    uint64_t first_ns, last_ns;
};

static void consume_cb(rd_kafka_message_t *m, void *opaque) {
    struct consume_state *s = opaque;
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && s->errors++ < 3)
            fprintf(stderr, "  consume: %s\n", rd_kafka_message_errstr(m));
        return;
    }
    uint64_t now = now_ns();
    if (!s->msgs) s->first_ns = now;
    s->last_ns = now;
    s->msgs++;
    s->bytes += m->len;
}

/* Partition consumer (no group) with librdkafka's default fetch settings. */
static rd_kafka_t *consumer_new(const struct target *t) {
    rd_kafka_conf_t *conf = base_conf(t);
    conf_set(conf, "enable.partition.eof", "false");
    return client_new(RD_KAFKA_CONSUMER, conf);
}

/*
 * Writes per_partition msg_size-byte messages to each partition of topic, partition after
 * partition (full batches), with acks=1 and otherwise default settings; not measured. Returns
 * the number of messages delivered.
 */
static uint64_t fill_topic(const struct target *t, const char *topic, int partitions,
                           size_t msg_size, uint64_t per_partition) {
    struct produce_state s = {.lat = NULL, .measuring = true};
    rd_kafka_t *rk = producer_new(t, "1", false, &s);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    char *buf = malloc(msg_size);
    for (size_t i = 0; i < msg_size; i++)
        buf[i] = (char)('A' + i % 26);
    uint64_t queued = 0;
    for (int p = 0; p < partitions; p++) {
        for (uint64_t i = 0; i < per_partition; i++) {
            while (rd_kafka_produce(rkt, p, RD_KAFKA_MSG_F_COPY, buf, msg_size, NULL, 0, NULL)) {
                if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) goto flush;
                rd_kafka_poll(rk, 1);
            }
            queued++;
        }
        rd_kafka_poll(rk, 0);
    }
flush:
    rd_kafka_flush(rk, 60000);
    free(buf);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    if (s.errors) fprintf(stderr, "  fill %s: %" PRIu64 " delivery errors\n", topic, s.errors);
    if (s.delivered != queued)
        fprintf(stderr, "  fill %s: %" PRIu64 " of %" PRIu64 " messages delivered\n", topic,
                s.delivered, queued);
    return s.delivered;
}

/*
 * Reads every partition of topic from offset 0, through one queue, until expect messages
 * arrived (or 10 s without progress). Throughput counts from the first message to the last.
 */
static void run_consume(const struct target *t, const char *topic, int partitions, uint64_t expect,
                        struct result *r) {
    memset(r, 0, sizeof(*r));
    r->ran = true;
    struct consume_state s = {0};
    rd_kafka_t *rk = consumer_new(t);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    double c0 = 0, c1 = 0;
    bool cpu_started = false;
    int started = 0;
    for (; started < partitions; started++) {
        if (rd_kafka_consume_start_queue(rkt, started, RD_KAFKA_OFFSET_BEGINNING, q) != 0) {
            fprintf(stderr, "  consume_start: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
            goto stop;
        }
    }
    uint64_t last_progress = now_ns(), seen = 0;
    while (s.msgs < expect) {
        rd_kafka_consume_callback_queue(q, 100, consume_cb, &s);
        if (s.msgs && !cpu_started) {
            cpu_begin(t, &c0, &c1);
            cpu_started = true;
        }
        uint64_t now = now_ns();
        if (s.msgs != seen) {
            seen = s.msgs;
            last_progress = now;
        } else if (now - last_progress > 10000000000ull) {
            fprintf(stderr, "  consume: stalled at %" PRIu64 " of %" PRIu64 " messages\n", s.msgs,
                    expect);
            break;
        }
    }
stop:
    for (int p = 0; p < started; p++)
        rd_kafka_consume_stop(rkt, p);
    r->secs = s.msgs > 1 ? (double)(s.last_ns - s.first_ns) / 1e9 : 0;
    if (cpu_started) cpu_end(t, r, c0, c1);
    /* The first message starts the clock: count the ones after it. */
    r->msgs = s.msgs > 1 ? s.msgs - 1 : 0;
    r->bytes = s.msgs > 1 ? s.bytes - s.bytes / s.msgs : 0;
    r->errors = s.errors;
    r->ok = s.msgs == expect && s.errors == 0;
    rd_kafka_queue_destroy(q);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

/* ---- end to end ---- */

static const char
    *e2e_fetch_wait_ms; /* -w: fetch.wait.max.ms of the e2e consumer; NULL = default */

struct e2e_msg {
    uint64_t sent_ns;
    uint64_t seq; /* 0 = warm-up, not measured */
};

struct e2e_state {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    struct hist *lat;
    atomic_uint_fast64_t received, warm_received;
    atomic_bool stop;
    uint64_t errors;
};

static void e2e_consume_cb(rd_kafka_message_t *m, void *opaque) {
    struct e2e_state *s = opaque;
    uint64_t now = now_ns();
    if (!m->err && m->len >= sizeof(struct e2e_msg)) {
        struct e2e_msg e;
        memcpy(&e, m->payload, sizeof(e));
        if (e.seq) {
            hist_add(s->lat, now - e.sent_ns);
            atomic_fetch_add(&s->received, 1);
        } else {
            atomic_fetch_add(&s->warm_received, 1);
        }
    } else if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && s->errors++ < 3) {
        fprintf(stderr, "  e2e consume: %s\n", rd_kafka_message_errstr(m));
    }
}

/*
 * rd_kafka_consume_callback returns as soon as some messages are there (consume_batch would wait
 * for a full batch or the timeout, which would be measured as latency).
 */
static void *e2e_consumer_thread(void *arg) {
    struct e2e_state *s = arg;
    while (!atomic_load(&s->stop))
        rd_kafka_consume_callback(s->rkt, 0, 100, e2e_consume_cb, s);
    return NULL;
}

static bool wait_until(atomic_uint_fast64_t *v, uint64_t want, uint64_t timeout_ns,
                       rd_kafka_t *producer) {
    uint64_t deadline = now_ns() + timeout_ns;
    while (atomic_load(v) < want) {
        if (now_ns() > deadline) return false;
        rd_kafka_poll(producer, 1);
    }
    return true;
}

/*
 * A consumer thread waits on the topic while the main thread produces msgs_per_sec messages a
 * second (absolute schedule, so a late send does not shift the later ones) for secs seconds;
 * latency is the produce call to the consumer's receipt (same clock, same process). ack gets
 * the producer's side alone: the produce call to its delivery report (acks=1), which tells
 * whether a slow end-to-end time comes from the produce path or from the fetch path.
 */
static void run_e2e(const struct target *t, const char *topic, int msgs_per_sec, double secs,
                    struct result *r, struct result *ack) {
    memset(r, 0, sizeof(*r));
    memset(ack, 0, sizeof(*ack));
    r->ran = ack->ran = true;
    struct produce_state ps = {.lat = &ack->lat};
    struct e2e_state cs = {.lat = &r->lat};
    rd_kafka_t *prk = producer_new(t, "1", true, &ps);
    rd_kafka_topic_t *prkt = rd_kafka_topic_new(prk, topic, NULL);
    rd_kafka_conf_t *cconf = base_conf(t);
    conf_set(cconf, "enable.partition.eof", "false");
    if (e2e_fetch_wait_ms) conf_set(cconf, "fetch.wait.max.ms", e2e_fetch_wait_ms);
    cs.rk = client_new(RD_KAFKA_CONSUMER, cconf);
    cs.rkt = rd_kafka_topic_new(cs.rk, topic, NULL);
    pthread_t th;
    bool started = false;
    char buf[100];
    memset(buf, 'e', sizeof(buf));
    struct e2e_msg e = {0};

    if (rd_kafka_consume_start(cs.rkt, 0, RD_KAFKA_OFFSET_END) != 0) {
        fprintf(stderr, "  e2e consume_start: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
        goto out;
    }
    pthread_create(&th, NULL, e2e_consumer_thread, &cs);
    started = true;
    /* Warm-up: both clients connected and the consumer fetching at the end of the log. */
    for (int i = 0; i < 50 && atomic_load(&cs.warm_received) == 0; i++) {
        e.sent_ns = now_ns();
        memcpy(buf, &e, sizeof(e));
        rd_kafka_produce(prkt, 0, RD_KAFKA_MSG_F_COPY, buf, sizeof(buf), NULL, 0, NULL);
        rd_kafka_flush(prk, 5000);
        wait_until(&cs.warm_received, 1, 200000000ull, prk);
    }
    if (atomic_load(&cs.warm_received) == 0) {
        fprintf(stderr, "  e2e: warm-up messages never reached the consumer\n");
        goto out;
    }
    ps.measuring = true;
    double c0, c1;
    cpu_begin(t, &c0, &c1);
    uint64_t n = (uint64_t)(secs * msgs_per_sec), step = 1000000000ull / (uint64_t)msgs_per_sec;
    uint64_t start = now_ns();
    for (uint64_t i = 1; i <= n; i++) {
        uint64_t at = start + (i - 1) * step;
        struct timespec ts = {.tv_sec = (time_t)(at / 1000000000ull),
                              .tv_nsec = (long)(at % 1000000000ull)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
        e.seq = i;
        e.sent_ns = now_ns();
        memcpy(buf, &e, sizeof(e));
        if (rd_kafka_produce(prkt, 0, RD_KAFKA_MSG_F_COPY, buf, sizeof(buf), NULL, 0,
                             (void *)(uintptr_t)e.sent_ns))
            ps.errors++;
        rd_kafka_poll(prk, 0);
    }
    rd_kafka_flush(prk, 10000);
    if (!wait_until(&cs.received, n - ps.errors, 10000000000ull, prk))
        fprintf(stderr, "  e2e: %" PRIu64 " of %" PRIu64 " messages received\n",
                (uint64_t)atomic_load(&cs.received), n);
    r->secs = (double)(now_ns() - start) / 1e9;
    cpu_end(t, r, c0, c1);
    r->msgs = atomic_load(&cs.received);
    r->bytes = r->msgs * sizeof(buf);
    r->ok = r->msgs == n && ps.errors == 0;
    ack->secs = r->secs;
    ack->msgs = ps.delivered;
    ack->bytes = ps.bytes;
    ack->ok = ps.delivered == n;
    ack->cpu_bench = r->cpu_bench;
    ack->cpu_target = r->cpu_target;
    ack->cpu_hog = r->cpu_hog;
out:
    atomic_store(&cs.stop, true);
    if (started) pthread_join(th, NULL);
    r->errors = ps.errors + cs.errors;
    rd_kafka_consume_stop(cs.rkt, 0);
    rd_kafka_topic_destroy(cs.rkt);
    rd_kafka_destroy(cs.rk);
    rd_kafka_topic_destroy(prkt);
    rd_kafka_destroy(prk);
}

/* ---- main ---- */

static void usage(void) {
    fprintf(stderr,
            "usage: broker_bench [-b host:port] [-p broker_pid] [-s produce_secs] [-e e2e_secs]\n"
            "                    [-r e2e_msgs_per_sec] [-m max_MiB_per_produce] "
            "[-c consume_partitions]\n"
            "                    [-w e2e_fetch_wait_max_ms] [-M child|inproc]\n"
            "                    [-x scenarios: any of produce100,produce1k,consume,e2e]\n"
            "                    [-d broker_data_dir (measures the disk's sync-write limit)]\n"
            "                    [-n runs per scenario, 1..9 (3); ratios compare medians]\n"
            "                    [-X librdkafka.setting=value, for every client of both "
            "targets; repeatable]\n"
            "                    [-P client_cpus/target_cpus: pin the clients and the mock "
            "child, e.g. 1/0]\n"
            "                    [-R ms: delay every mock response by ms (diagnostic)]\n"
            "                    [-H fraction: a child process spins this fraction of each ms "
            "(diagnostic)]\n"
            "                    [-S file: append librdkafka statistics JSON of every client]\n"
            "  without -b only the mock baseline runs\n");
    exit(2);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of the values that are not NaN; NaN if none. */
static double median(const double *v, int n) {
    double tmp[MAX_REPS];
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) tmp[m++] = v[i];
    if (m == 0) return NAN;
    qsort(tmp, (size_t)m, sizeof(*tmp), cmp_double);
    return m % 2 ? tmp[m / 2] : (tmp[m / 2 - 1] + tmp[m / 2]) / 2;
}

static double median_of(struct result r[][T_COUNT], int n, int t, bool mbps) {
    double v[MAX_REPS];
    for (int k = 0; k < n; k++)
        v[k] = r[k][t].ran && r[k][t].secs > 0
                   ? rate(&r[k][t], mbps ? (double)r[k][t].bytes / 1e6 : (double)r[k][t].msgs)
                   : NAN;
    return median(v, n);
}

static double median_mbps(struct result r[][T_COUNT], int n, int t) {
    return median_of(r, n, t, true);
}

/* Median broker msgs/s over median mock msgs/s for one scenario; NaN when a side did not run. */
static double ratio(struct result r[][T_COUNT], int n) {
    return median_of(r, n, T_BROKER, false) / median_of(r, n, T_MOCK, false);
}

static double median_p99(struct result r[][T_COUNT], int n, int t) {
    double v[MAX_REPS];
    for (int k = 0; k < n; k++)
        v[k] = r[k][t].ran ? hist_quantile_ms(&r[k][t].lat, 0.99) : NAN;
    return median(v, n);
}

static const char *verdict(bool ok, double v) {
    if (isnan(v)) return "n/a";
    return ok ? "ok" : "BELOW TARGET";
}

int main(int argc, char **argv) {
    double produce_secs = 3, e2e_secs = 5;
    int e2e_rate = 1000;
    uint64_t max_mib = 2048;
    int consume_partitions = 64;
    const char *only = "produce100,produce1k,consume,e2e";
    bool inproc = false;
    const char *disk_dir = NULL;
    int reps = 3;
    int opt;
    while ((opt = getopt(argc, argv, "b:p:s:e:r:m:c:w:x:M:d:n:X:P:R:H:S:h")) != -1) {
        switch (opt) {
        case 'b':
            targets[T_BROKER].enabled = true;
            snprintf(targets[T_BROKER].bootstrap, sizeof(targets[T_BROKER].bootstrap), "%s",
                     optarg);
            break;
        case 'p':
            targets[T_BROKER].pid = (pid_t)atoi(optarg);
            break;
        case 's':
            produce_secs = atof(optarg);
            break;
        case 'e':
            e2e_secs = atof(optarg);
            break;
        case 'r':
            e2e_rate = atoi(optarg);
            break;
        case 'm':
            max_mib = strtoull(optarg, NULL, 10);
            break;
        case 'c':
            consume_partitions = atoi(optarg);
            break;
        case 'w':
            e2e_fetch_wait_ms = optarg;
            break;
        case 'x':
            only = optarg;
            break;
        case 'd':
            disk_dir = optarg;
            break;
        case 'n':
            reps = atoi(optarg);
            break;
        case 'X':
            if (!strchr(optarg, '=') || strchr(optarg, '=') == optarg ||
                n_extra_conf == MAX_EXTRA_CONF)
                usage();
            extra_conf[n_extra_conf++] = optarg;
            break;
        case 'H': {
            char *end;
            hog_fraction = strtod(optarg, &end);
            if (*end || !(hog_fraction > 0 && hog_fraction < 1)) usage();
            break;
        }
        case 'S':
            stats_path = optarg;
            break;
        case 'R':
            mock_rtt_ms = atoi(optarg);
            if (mock_rtt_ms < 0 || mock_rtt_ms > 10000) usage();
            break;
        case 'P': {
            char a[64], *slash;
            snprintf(a, sizeof(a), "%s", optarg);
            if (!(slash = strchr(a, '/'))) usage();
            *slash = '\0';
            if (!parse_cpus(a, &pin_clients) || !parse_cpus(slash + 1, &pin_target)) usage();
            pinned = true;
            break;
        }
        case 'M':
            if (strcmp(optarg, "child") && strcmp(optarg, "inproc")) usage();
            inproc = strcmp(optarg, "inproc") == 0;
            break;
        default:
            usage();
        }
    }
    if (produce_secs <= 0 || e2e_secs <= 0 || e2e_rate <= 0 || e2e_rate > 1000000 || !max_mib ||
        consume_partitions < 1 || consume_partitions > 10000 || reps < 1 || reps > MAX_REPS)
        usage();

    /* Fresh topic names per run, so a reused data directory does not skew the read-back. */
    unsigned tag = (unsigned)getpid() ^ (unsigned)time(NULL);
    static const char *const suffix[NTOPICS] = {"p100-acks1", "p1k-acksall", "e2e", "c100", "c1k"};
    for (int i = 0; i < NTOPICS; i++)
        snprintf(topics[i], sizeof(topics[i]), "bench-%08x-%s", tag, suffix[i]);
    topic_partitions[TP_C100] = topic_partitions[TP_C1K] = consume_partitions;

    targets[T_MOCK].enabled = true;
    int rc = inproc ? mock_create(&inproc_rk, &inproc_mock, targets[T_MOCK].bootstrap,
                                  sizeof(targets[T_MOCK].bootstrap))
                    : mock_spawn_child(targets[T_MOCK].bootstrap, sizeof(targets[T_MOCK].bootstrap),
                                       &mock_child);
    if (rc) {
        fprintf(stderr, "cannot start the mock cluster: %s\n", strerror(-rc));
        return 1;
    }
    targets[T_MOCK].pid = inproc ? 0 : mock_child;
    if (pinned && inproc) {
        fprintf(stderr, "-P needs the mock in a child process (-M child)\n");
        return 2;
    }
    if (hog_fraction > 0 && (rc = hog_spawn()) < 0) {
        fprintf(stderr, "cannot start the busy child (-H): %s\n", strerror(-rc));
        return 1;
    }
    if (pinned && sched_setaffinity(0, sizeof(pin_clients), &pin_clients)) {
        fprintf(stderr, "cannot pin the clients: %s\n", strerror(errno));
        return 1;
    }

    char cmd[1024] = "";
    for (int i = 0; i < argc; i++) {
        strncat(cmd, argv[i], sizeof(cmd) - strlen(cmd) - 2);
        strncat(cmd, " ", sizeof(cmd) - strlen(cmd) - 1);
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    printf("broker_bench: librdkafka %s, %ld CPUs; command: %s\n", rd_kafka_version_str(), ncpu,
           cmd);
    printf("mock: %s (%s, pid %d)", targets[T_MOCK].bootstrap,
           inproc ? "in the bench process" : "child process", inproc ? (int)getpid() : mock_child);
    if (targets[T_BROKER].enabled)
        printf("; ringletd: %s (pid %d)\n", targets[T_BROKER].bootstrap,
               (int)targets[T_BROKER].pid);
    else
        printf("; no -b: mock baseline only\n");
    if (hog_fraction > 0)
        printf("a child process (pid %d) spins %.0f%% of every millisecond (-H): not a baseline "
               "run\n",
               (int)hog_child, hog_fraction * 100);
    if (stats_path) printf("librdkafka statistics of every client go to %s (-S)\n", stats_path);
    if (mock_rtt_ms > 0)
        printf("the mock holds every response %d ms (-R): not a baseline run\n", mock_rtt_ms);
    if (pinned) {
        char a[256] = "", t[256] = "";
        for (int c = 0; c < CPU_SETSIZE; c++) {
            if (CPU_ISSET(c, &pin_clients))
                snprintf(a + strlen(a), sizeof(a) - strlen(a), " %d", c);
            if (CPU_ISSET(c, &pin_target)) snprintf(t + strlen(t), sizeof(t) - strlen(t), " %d", c);
        }
        printf("pinned (-P): clients on CPU%s, the mock on CPU%s (ringletd: pinned by its own "
               "settings)\n",
               a, t);
    }
    printf("produce: %.1f s per scenario (max %" PRIu64 " MiB), 1 partition; consume: %d "
           "partitions x %.1f MiB; end to end: %d msg/s for %.1f s, fetch.wait.max.ms=%s\n",
           produce_secs, max_mib, consume_partitions, CONSUME_BYTES_PER_PARTITION / 1048576.0,
           e2e_rate, e2e_secs, e2e_fetch_wait_ms ? e2e_fetch_wait_ms : "default (500)");
    printf("each scenario runs %d times, alternating mock and ringletd; ratios compare medians\n",
           reps);
    printf("cpu-bn / cpu-tg: cores used by the bench process / the target process\n\n");
    if (targets[T_BROKER].enabled) broker_create_topics(&targets[T_BROKER]);

    /* Every scenario runs `reps` times, alternating mock and ringletd; the ratios compare the
     * medians (the machine's noise moves single runs by tens of percent). */
    static struct result p100[MAX_REPS][T_COUNT], p1k[MAX_REPS][T_COUNT], c100[MAX_REPS][T_COUNT],
        c1k[MAX_REPS][T_COUNT], e2e[MAX_REPS][T_COUNT], e2e_ack[MAX_REPS][T_COUNT];
    double disk[MAX_REPS];
    uint64_t fill100[T_COUNT] = {0}, fill1k[T_COUNT] = {0};
    uint64_t max_bytes = max_mib << 20;
    bool do_p100 = strstr(only, "produce100") != NULL, do_p1k = strstr(only, "produce1k") != NULL;
    bool do_consume = strstr(only, "consume") != NULL, do_e2e = strstr(only, "e2e") != NULL;
    for (int t = 0; t < T_COUNT; t++) {
        if (!targets[t].enabled || !do_consume) continue;
        fill100[t] = fill_topic(&targets[t], topics[TP_C100], consume_partitions, 100,
                                CONSUME_BYTES_PER_PARTITION / 100);
        fill1k[t] = fill_topic(&targets[t], topics[TP_C1K], consume_partitions, 1024,
                               CONSUME_BYTES_PER_PARTITION / 1024);
    }
    print_header();
    for (int k = 0; k < reps; k++) {
        for (int t = 0; t < T_COUNT; t++) {
            if (!targets[t].enabled || !do_p100) continue;
            sync(); /* earlier scenarios' writeback must not slow this one */
            run_produce(&targets[t], topics[TP_P100], 100, "1", produce_secs, max_bytes,
                        &p100[k][t]);
            print_row("produce 100B acks=1", t, &p100[k][t], true);
        }
    }
    for (int k = 0; k < reps; k++) {
        for (int t = 0; t < T_COUNT; t++) {
            if (!targets[t].enabled || !do_p1k) continue;
            sync();
            run_produce(&targets[t], topics[TP_P1K], 1024, "all", produce_secs, max_bytes,
                        &p1k[k][t]);
            print_row("produce 1KiB acks=all", t, &p1k[k][t], true);
        }
        /* After the runs, so its burst cannot drain a throttled virtual disk before ringletd's. */
        disk[k] = NAN;
        if (disk_dir && do_p1k && targets[T_BROKER].enabled) {
            sync();
            disk[k] = disk_sync_write_mbps(disk_dir, 1.0);
            printf("%-24s %-9s %11s %9.1f   (O_DIRECT 8 MiB writes, fdatasync per 64 MiB, in %s)\n",
                   "disk sync-write limit", "disk", "-", disk[k], disk_dir);
        }
    }
    for (int k = 0; k < reps; k++) {
        for (int t = 0; t < T_COUNT; t++) {
            if (!targets[t].enabled || !fill100[t]) continue;
            run_consume(&targets[t], topics[TP_C100], consume_partitions, fill100[t], &c100[k][t]);
            print_row("consume 100B", t, &c100[k][t], false);
        }
    }
    for (int k = 0; k < reps; k++) {
        for (int t = 0; t < T_COUNT; t++) {
            if (!targets[t].enabled || !fill1k[t]) continue;
            run_consume(&targets[t], topics[TP_C1K], consume_partitions, fill1k[t], &c1k[k][t]);
            print_row("consume 1KiB", t, &c1k[k][t], false);
        }
    }
    for (int k = 0; k < reps; k++) {
        for (int t = 0; t < T_COUNT; t++) {
            if (!targets[t].enabled || !do_e2e) continue;
            sync();
            run_e2e(&targets[t], topics[TP_E2E], e2e_rate, e2e_secs, &e2e[k][t], &e2e_ack[k][t]);
            print_row("end-to-end", t, &e2e[k][t], true);
            print_row(" (its produce acks)", t, &e2e_ack[k][t], true);
        }
    }
    hog_stop();
    mock_stop();

    double r_p100 = ratio(p100, reps), r_p1k = ratio(p1k, reps), r_c100 = ratio(c100, reps),
           r_c1k = ratio(c1k, reps);
    double e2e_b = median_p99(e2e, reps, T_BROKER), e2e_m = median_p99(e2e, reps, T_MOCK);
    printf("\nratios ringletd/mock (msgs/s, medians of %d runs each; target in brackets):\n", reps);
    printf("  produce 100B acks=1      %6.2f  [>= 0.8]  %s\n", r_p100,
           verdict(r_p100 >= 0.8, r_p100));
    printf("  produce 1KiB acks=all    %6.2f  [>= 0.8]  %s\n", r_p1k, verdict(r_p1k >= 0.8, r_p1k));
    /* acks=all cannot go faster than the disk syncs; the mock keeps everything in memory. */
    double disk_mbps = median(disk, reps);
    double r_disk = median_mbps(p1k, reps, T_BROKER) / disk_mbps;
    double mock_disk = median_mbps(p1k, reps, T_MOCK) / disk_mbps;
    if (!isnan(r_disk))
        printf("    the same in MB/s over the disk's sync-write limit (median %.0f MB/s): "
               "ringletd %.2f, mock %.2f (a mock above 1 is faster than this disk can make data "
               "durable)\n",
               disk_mbps, r_disk, mock_disk);
    /* A durable broker cannot beat the disk: where 0.8 x the mock's MB/s is above the disk's own
     * sync-write limit, no broker that makes the data durable can meet the ratio in this run. */
    bool p1k_reachable = isnan(mock_disk) || 0.8 * mock_disk <= 1.0;
    if (!isnan(mock_disk))
        printf("    0.8 x the mock is %.2f x the disk's limit: the acks=all target is %s in this "
               "run\n",
               0.8 * mock_disk,
               p1k_reachable ? "within the disk's reach" : "beyond any durable broker");
    printf("  consume 100B             %6.2f  [>= 1.0]  %s\n", r_c100,
           verdict(r_c100 >= 1.0, r_c100));
    printf("  consume 1KiB             %6.2f  [>= 1.0]  %s\n", r_c1k, verdict(r_c1k >= 1.0, r_c1k));
    printf("  end-to-end p99 ringletd  %6.3f ms [<= 2 ms] %s (mock %.3f ms)\n", e2e_b,
           verdict(e2e_b <= 2.0, e2e_b), e2e_m);
    bool all = r_p100 >= 0.8 && r_p1k >= 0.8 && r_c100 >= 1.0 && r_c1k >= 1.0 && e2e_b <= 2.0;
    printf("SUMMARY ringletd/mock: produce100B_acks1=%.2f produce1KiB_acksall=%.2f "
           "consume100B=%.2f consume1KiB=%.2f e2e_p99_ms=%.3f (mock %.3f) "
           "produce1KiB_acksall/disk_limit=%.2f acksall_target_reachable=%s -> %s\n",
           r_p100, r_p1k, r_c100, r_c1k, e2e_b, e2e_m, r_disk, p1k_reachable ? "yes" : "no",
           targets[T_BROKER].enabled ? (all ? "all targets met" : "targets missed") : "mock only");
    return 0;
}
