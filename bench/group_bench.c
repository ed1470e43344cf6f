/* SPDX-License-Identifier: Apache-2.0 */
/*
 * group_bench.c - consumer-group coordinator figures for a running Kafka broker (ringletd),
 * measured with real librdkafka group consumers:
 *   1. failover: time from a member's death (SIGKILL of the process that holds it, so it never
 *      sends LeaveGroup) to the surviving members' rebalance callbacks reporting that they own
 *      every partition of the topic again, for groups of 3 and 100 members (-n); printed raw,
 *      minus session.timeout.ms (the coordinator's and the clients' own share), and split into
 *      "detection" (kill -> first survivor's revoke) and "rebalance" (first revoke -> all
 *      partitions assigned; of it "join + sync": last survivor's revoke -> all assigned), next
 *      to the coordinator's own view from DescribeGroups polled every 10 ms;
 *   2. OffsetCommit round trips per second with durable commits: synchronous rd_kafka_commit
 *      calls (async=0) back to back from one consumer, then from 8 consumers in 8 groups in
 *      parallel threads, once with the groups on 8 different __consumer_offsets partitions and
 *      once with all 8 on the same partition (so the broker's group commit can cover several
 *      commits with one fdatasync).
 * With -D DIR it first measures 4 KiB write + fdatasync round trips in a preallocated file on
 * DIR's filesystem, the disk's own bound on sequential durable commits.
 *
 *   group_bench -b host:port [-p broker_pid] [-n 3,100] [-r reps] [-s session_ms]
 *               [-H heartbeat_ms] [-k members_per_child] [-c commit_secs] [-w committers]
 *               [-O offsets_partitions] [-D data_dir] [-F disk] [-d debug]
 *               [-x failover|commit]
 *
 * Method (docs/benchmarks-groups.md):
 *   - Failover: every member is a librdkafka consumer (eager "range" assignment) polled by its
 *     own thread inside a child process; the victim (member 0) is alone in its child, the others
 *     share children of -k members. Each rebalance callback writes one line to a pipe with its
 *     CLOCK_MONOTONIC time (shared by all processes). The parent waits until the group owns
 *     every partition exactly once with every member assigned, lets two heartbeats pass, then
 *     SIGKILLs the victim's process: t0. The end is the first moment the live members own every
 *     partition exactly once, each having revoked and been assigned again after t0: t1 is the
 *     time of the last assign callback. The topic has 2 partitions per member.
 *   - Commits: each committer is a subscribed consumer (enable.auto.commit=false) of its own
 *     1-partition topic, in its own group, holding its assignment; after 20 warm-up commits
 *     the threads start together and commit offset 1, 2, 3... synchronously for -c seconds.
 *     Group ids are chosen with Kafka's mapping (Java String.hashCode & 0x7fffffff, modulo
 *     offsets.topic.num.partitions, -O, which must match the broker's).
 * With -p, the broker's CPU time during each scenario is printed (from /proc/<pid>/stat); with
 * -F DISK (e.g. vda), the flush requests block device DISK completed during each commit
 * scenario (/proc/diskstats; device-wide, so other writers on it count too), which shows how
 * many commits one fdatasync covered. -d sets librdkafka's "debug" (e.g. cgrp) on the failover
 * members, logged to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define MAX_MEMBERS    1000
#define WARMUP_COMMITS 20

static const char *brokers = "127.0.0.1:9092";
static int broker_pid = 0;
static int session_ms = 6000;
static int heartbeat_ms = 1000;
static int reps = 3;
static int per_child = 33;
static int commit_secs = 5;
static int committers = 8;
static int offsets_parts = 50;
static const char *probe_dir = NULL;
static const char *disk_dev = NULL;
static const char *member_debug = NULL;
static const char *only = NULL;
static char sizes_arg[256] = "3,100";

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double ms_of(uint64_t ns) {
    return (double)ns / 1e6;
}

static void die(const char *fmt, const char *arg) {
    fprintf(stderr, "group_bench: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

/* Flush requests completed by block device disk_dev (/proc/diskstats), or -1 without -F. */
static long long disk_flushes(void) {
    if (!disk_dev) return -1;
    FILE *f = fopen("/proc/diskstats", "r");
    if (!f) return -1;
    char line[512], name[64];
    long long v[17], res = -1;
    while (fgets(line, sizeof(line), f)) {
        int n = sscanf(line,
                       " %*u %*u %63s %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld "
                       "%lld %lld %lld %lld",
                       name, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9],
                       &v[10], &v[11], &v[12], &v[13], &v[14], &v[15]);
        if (n >= 17 && strcmp(name, disk_dev) == 0) res = v[15]; /* flushes completed */
    }
    fclose(f);
    return res;
}

/* Broker CPU seconds (utime + stime) from /proc/<pid>/stat, or -1 without -p. */
static double broker_cpu_s(void) {
    if (broker_pid <= 0) return -1;
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%d/stat", broker_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    unsigned long ut = 0, st = 0;
    /* fields after ")": state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void conf_set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[256];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) die("config: %s", err);
}

static rd_kafka_conf_t *base_conf(void) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "bootstrap.servers", brokers);
    conf_set(conf, "log_level", "3");
    return conf;
}

/* Creates topic with parts partitions (an existing topic is accepted). */
static void create_topic(const char *topic, int parts) {
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(), err, sizeof(err));
    if (!rk) die("rd_kafka_new: %s", err);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, parts, 1, err, sizeof(err));
    if (!nt) die("NewTopic: %s", err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    if (!ev) die("CreateTopics %s: no answer in 30 s", topic);
    if (rd_kafka_event_error(ev)) die("CreateTopics: %s", rd_kafka_event_error_string(ev));
    size_t cnt = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            die("CreateTopics: %s", rd_kafka_err2str(e));
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ================================ 1. failover ================================================ */

/* ---- child side: members polled by one thread each, events written to a pipe ---- */

struct member {
    int idx;
    int fd;
    const char *group;
    const char *topic;
    pthread_t thr;
    rd_kafka_t *rk;
};

static volatile sig_atomic_t child_stop;

static void on_term(int sig) {
    (void)sig;
    child_stop = 1;
}

/* One line per write(2), shorter than PIPE_BUF, so lines of different members never mix. */
static void emit(int fd, const char *line, size_t n) {
    while (write(fd, line, n) < 0 && errno == EINTR) {}
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    struct member *m = opaque;
    char line[3072];
    int n;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        n = snprintf(line, sizeof(line), "A %d %" PRIu64 " %d", m->idx, now_ns(), parts->cnt);
        for (int i = 0; i < parts->cnt && n < (int)sizeof(line) - 16; i++)
            n += snprintf(line + n, sizeof(line) - (size_t)n, "%c%d", i ? ',' : ' ',
                          (int)parts->elems[i].partition);
    } else {
        rd_kafka_assign(rk, NULL);
        n = snprintf(line, sizeof(line), "R %d %" PRIu64, m->idx, now_ns());
    }
    line[n++] = '\n';
    emit(m->fd, line, (size_t)n);
}

static void *member_main(void *arg) {
    struct member *m = arg;
    char err[256], v[32];
    rd_kafka_conf_t *conf = base_conf();
    conf_set(conf, "group.id", m->group);
    snprintf(v, sizeof(v), "%d", session_ms);
    conf_set(conf, "session.timeout.ms", v);
    snprintf(v, sizeof(v), "%d", heartbeat_ms);
    conf_set(conf, "heartbeat.interval.ms", v);
    conf_set(conf, "partition.assignment.strategy", "range");
    if (member_debug) conf_set(conf, "debug", member_debug);
    conf_set(conf, "enable.auto.commit", "false");
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, m);
    m->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!m->rk) {
        char line[400];
        int n = snprintf(line, sizeof(line), "X %d rd_kafka_new: %s\n", m->idx, err);
        emit(m->fd, line, (size_t)n);
        return NULL;
    }
    rd_kafka_poll_set_consumer(m->rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, m->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(m->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    while (!child_stop) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(m->rk, 100);
        if (msg) rd_kafka_message_destroy(msg);
    }
    rd_kafka_consumer_close(m->rk);
    rd_kafka_destroy(m->rk);
    return NULL;
}

/* Runs members [first, first + count) until SIGTERM, then closes them (LeaveGroup). */
static void child_run(int fd, int first, int count, const char *group, const char *topic) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    struct member *ms = calloc((size_t)count, sizeof(*ms));
    for (int i = 0; i < count; i++) {
        ms[i] = (struct member){.idx = first + i, .fd = fd, .group = group, .topic = topic};
        pthread_create(&ms[i].thr, NULL, member_main, &ms[i]);
    }
    for (int i = 0; i < count; i++)
        pthread_join(ms[i].thr, NULL);
    free(ms);
    _exit(0);
}

/* ---- parent side: the group's ownership as the callbacks report it ---- */

struct fo_state {
    int n, parts;
    bool alive[MAX_MEMBERS];
    bool revoked[MAX_MEMBERS]; /* revoked after t0 */
    bool fresh[MAX_MEMBERS];   /* assigned after its revoke after t0 */
    int owned[MAX_MEMBERS];
    unsigned char *own; /* n * parts */
    bool killed;
    uint64_t t_first_revoke, t_last_revoke, t_last_assign;
    char buf[65536];
    size_t len;
};

static void fo_event(struct fo_state *s, char *line) {
    int idx;
    uint64_t ts;
    if (line[0] == 'X') die("member failed: %s", line);
    if (sscanf(line + 2, "%d %" SCNu64, &idx, &ts) != 2 || idx < 0 || idx >= s->n) return;
    if (!s->alive[idx]) return;
    unsigned char *row = s->own + (size_t)idx * (size_t)s->parts;
    memset(row, 0, (size_t)s->parts);
    s->owned[idx] = 0;
    if (line[0] == 'R') {
        if (s->killed && !s->revoked[idx]) {
            s->revoked[idx] = true;
            if (!s->t_first_revoke || ts < s->t_first_revoke) s->t_first_revoke = ts;
            if (ts > s->t_last_revoke) s->t_last_revoke = ts;
        }
        return;
    }
    char *p = strchr(line + 2, ' ');
    p = p ? strchr(p + 1, ' ') : NULL; /* after the timestamp: count */
    p = p ? strchr(p + 1, ' ') : NULL; /* after the count: the list */
    while (p && *p) {
        int part = (int)strtol(p + 1, &p, 10);
        if (part >= 0 && part < s->parts && !row[part]) {
            row[part] = 1;
            s->owned[idx]++;
        }
        if (*p != ',') break;
    }
    if (s->killed && s->revoked[idx]) {
        s->fresh[idx] = true;
        if (ts > s->t_last_assign) s->t_last_assign = ts;
    }
}

/* Every partition owned by exactly one live member; every live member assigned (and, after
 * the kill, revoked and assigned again). */
static bool fo_complete(const struct fo_state *s) {
    for (int m = 0; m < s->n; m++) {
        if (!s->alive[m]) continue;
        if (s->killed ? !s->fresh[m] : s->owned[m] == 0) return false;
    }
    for (int p = 0; p < s->parts; p++) {
        int c = 0;
        for (int m = 0; m < s->n; m++)
            if (s->alive[m] && s->own[(size_t)m * (size_t)s->parts + (size_t)p]) c++;
        if (c != 1) return false;
    }
    return true;
}

/* Reads events for up to timeout_ms; stops early when stop_when_complete and the state is
 * complete. Returns whether it is complete. */
static bool fo_pump(struct fo_state *s, int fd, int timeout_ms, bool stop_when_complete) {
    uint64_t end = now_ns() + (uint64_t)timeout_ms * 1000000ull;
    for (;;) {
        if (stop_when_complete && fo_complete(s)) return true;
        uint64_t now = now_ns();
        if (now >= end) break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int left = (int)((end - now) / 1000000ull) + 1;
        if (poll(&pfd, 1, left) <= 0) continue;
        ssize_t r = read(fd, s->buf + s->len, sizeof(s->buf) - s->len - 1);
        if (r <= 0) die("%s", "all member processes exited");
        s->len += (size_t)r;
        char *start = s->buf, *nl;
        while ((nl = memchr(start, '\n', s->len - (size_t)(start - s->buf)))) {
            *nl = '\0';
            fo_event(s, start);
            start = nl + 1;
        }
        s->len -= (size_t)(start - s->buf);
        memmove(s->buf, start, s->len);
    }
    return fo_complete(s);
}

struct fo_result {
    uint64_t join_ns, raw_ns, detect_ns, rebalance_ns, spread_ns;
    uint64_t coord_left_ns, coord_stable_ns; /* 0 = not observed */
};

/*
 * The coordinator's view, polled with DescribeGroups every 10 ms from the kill on: when the
 * group leaves Stable (the coordinator has expired the dead member; not seen when the whole
 * rebalance fits between two polls) and when it is Stable again with one member fewer.
 */
struct watcher {
    pthread_t thr;
    rd_kafka_t *rk;
    const char *group;
    int members;
    atomic_bool stop;
    uint64_t t_left, t_stable;
};

static void *watcher_main(void *arg) {
    struct watcher *w = arg;
    rd_kafka_queue_t *q = rd_kafka_queue_new(w->rk);
    const char *groups[1] = {w->group};
    while (!atomic_load(&w->stop) && !w->t_stable) {
        rd_kafka_DescribeConsumerGroups(w->rk, groups, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 5000);
        uint64_t t = now_ns();
        if (ev && !rd_kafka_event_error(ev)) {
            size_t cnt = 0;
            const rd_kafka_ConsumerGroupDescription_t **d =
                rd_kafka_DescribeConsumerGroups_result_groups(
                    rd_kafka_event_DescribeConsumerGroups_result(ev), &cnt);
            if (cnt == 1 && !rd_kafka_ConsumerGroupDescription_error(d[0])) {
                rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupDescription_state(d[0]);
                int mc = (int)rd_kafka_ConsumerGroupDescription_member_count(d[0]);
                if (st != RD_KAFKA_CONSUMER_GROUP_STATE_STABLE && !w->t_left) w->t_left = t;
                /* A rebalance shorter than the poll interval shows as Stable -> Stable. */
                if (st == RD_KAFKA_CONSUMER_GROUP_STATE_STABLE && mc == w->members - 1)
                    w->t_stable = t;
            }
        }
        if (ev) rd_kafka_event_destroy(ev);
        usleep(10000);
    }
    rd_kafka_queue_destroy(q);
    return NULL;
}

static void stop_children(pid_t *kids, int nk) {
    for (int i = 0; i < nk; i++)
        if (kids[i] > 0) kill(kids[i], SIGTERM);
    uint64_t end = now_ns() + 30000000000ull;
    for (int i = 0; i < nk; i++) {
        if (kids[i] <= 0) continue;
        while (waitpid(kids[i], NULL, WNOHANG) == 0) {
            if (now_ns() > end) {
                kill(kids[i], SIGKILL);
                waitpid(kids[i], NULL, 0);
                break;
            }
            usleep(20000);
        }
        kids[i] = 0;
    }
}

static int failover_trial(int n, const char *topic, int rep, struct fo_result *res) {
    struct fo_state *s = calloc(1, sizeof(*s));
    s->n = n;
    s->parts = 2 * n;
    s->own = calloc((size_t)n * (size_t)s->parts, 1);
    char group[128];
    snprintf(group, sizeof(group), "gbench-failover-%d-%d-%d", n, rep, (int)getpid());
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) die("%s", "pipe");
    int rest = n - 1;
    int pc = rest <= 8 ? 1 : per_child;
    int nk = 1 + (rest + pc - 1) / pc;
    pid_t *kids = calloc((size_t)nk, sizeof(*kids));
    uint64_t t_spawn = now_ns();
    for (int k = 0; k < nk; k++) {
        int first = k == 0 ? 0 : 1 + (k - 1) * pc;
        int count = k == 0 ? 1 : (first + pc > n ? n - first : pc);
        pid_t pid = fork();
        if (pid < 0) die("%s", "fork");
        if (pid == 0) {
            close(pfd[0]);
            child_run(pfd[1], first, count, group, topic);
        }
        kids[k] = pid;
    }
    close(pfd[1]);
    for (int m = 0; m < n; m++)
        s->alive[m] = true;
    int rc = 0;
    if (!fo_pump(s, pfd[0], 180000, true)) {
        fprintf(stderr, "group_bench: %d members did not all get partitions within 180 s\n", n);
        rc = -1;
        goto out;
    }
    res->join_ns = now_ns() - t_spawn;
    /* Let the group settle: two heartbeats with no change expected. */
    fo_pump(s, pfd[0], 2 * heartbeat_ms, false);
    if (!fo_complete(s)) fo_pump(s, pfd[0], 60000, true);
    /* The admin client is created after the forks: no librdkafka threads exist at fork time. */
    char err[256];
    struct watcher w = {.group = group, .members = n};
    w.rk = rd_kafka_new(RD_KAFKA_PRODUCER, base_conf(), err, sizeof(err));
    if (!w.rk) die("rd_kafka_new: %s", err);
    s->killed = true;
    uint64_t t0 = now_ns();
    pthread_create(&w.thr, NULL, watcher_main, &w);
    kill(kids[0], SIGKILL);
    waitpid(kids[0], NULL, 0);
    kids[0] = 0;
    s->alive[0] = false;
    if (!fo_pump(s, pfd[0], 120000 + 3 * session_ms, true)) {
        fprintf(stderr, "group_bench: survivors did not own all partitions again within %d s\n",
                120 + 3 * session_ms / 1000);
        rc = -1;
    } else {
        res->raw_ns = s->t_last_assign - t0;
        res->detect_ns = s->t_first_revoke - t0;
        res->rebalance_ns = s->t_last_assign - s->t_first_revoke;
        res->spread_ns = s->t_last_revoke - s->t_first_revoke;
        /* The watcher may see Stable a little after the callbacks: give it 2 s. */
        for (int i = 0; i < 200 && !w.t_stable; i++)
            usleep(10000);
    }
    atomic_store(&w.stop, true);
    pthread_join(w.thr, NULL);
    rd_kafka_destroy(w.rk);
    if (w.t_left) res->coord_left_ns = w.t_left - t0;
    if (w.t_stable) res->coord_stable_ns = w.t_stable - t0;
out:
    stop_children(kids, nk);
    close(pfd[0]);
    free(kids);
    free(s->own);
    free(s);
    return rc;
}

static void run_failover(int n) {
    char topic[64];
    snprintf(topic, sizeof(topic), "gbench-failover-%d", n);
    create_topic(topic, 2 * n);
    printf("\n== failover, %d members (%d partitions, session.timeout.ms=%d, "
           "heartbeat.interval.ms=%d, range assignor, %d runs)\n",
           n, 2 * n, session_ms, heartbeat_ms, reps);
    uint64_t raw[64], rest[64], stable[64], js[64];
    int nst = 0;
    int ok = 0;
    double cpu0 = broker_cpu_s();
    for (int r = 0; r < reps && r < 64; r++) {
        struct fo_result res = {0};
        if (failover_trial(n, topic, r, &res) < 0) continue;
        printf("  run %d: initial join %.0f ms; kill -> all %d partitions reassigned %.0f ms "
               "(minus session timeout %+.0f ms) = detection %.0f ms (kill -> first revoke) + "
               "rebalance %.0f ms (first revoke -> last assign: %.0f ms until the last member's "
               "revoke, then %.0f ms of join + sync)",
               r + 1, ms_of(res.join_ns), 2 * n, ms_of(res.raw_ns), ms_of(res.raw_ns) - session_ms,
               ms_of(res.detect_ns), ms_of(res.rebalance_ns), ms_of(res.spread_ns),
               ms_of(res.rebalance_ns - res.spread_ns));
        if (res.coord_left_ns)
            printf("; DescribeGroups: left Stable at +%.0f ms", ms_of(res.coord_left_ns));
        if (res.coord_stable_ns)
            printf(", Stable with %d members at +%.0f ms", n - 1, ms_of(res.coord_stable_ns));
        printf("\n");
        fflush(stdout);
        raw[ok] = res.raw_ns;
        rest[ok] = res.rebalance_ns;
        js[ok] = res.rebalance_ns - res.spread_ns;
        if (res.coord_stable_ns) stable[nst++] = res.coord_stable_ns;
        ok++;
    }
    double cpu1 = broker_cpu_s();
    if (!ok) {
        printf("RESULT failover members=%d FAILED\n", n);
        return;
    }
    qsort(raw, (size_t)ok, sizeof(raw[0]), cmp_u64);
    qsort(rest, (size_t)ok, sizeof(rest[0]), cmp_u64);
    qsort(stable, (size_t)nst, sizeof(stable[0]), cmp_u64);
    qsort(js, (size_t)ok, sizeof(js[0]), cmp_u64);
    printf("RESULT failover members=%d runs=%d death_to_reassigned_ms median=%.0f min=%.0f "
           "max=%.0f minus_session_ms median=%.0f rebalance_ms median=%.0f "
           "join_sync_ms median=%.0f max=%.0f",
           n, ok, ms_of(raw[ok / 2]), ms_of(raw[0]), ms_of(raw[ok - 1]),
           ms_of(raw[ok / 2]) - session_ms, ms_of(rest[ok / 2]), ms_of(js[ok / 2]),
           ms_of(js[ok - 1]));
    if (nst) printf(" describegroups_stable_ms median=%.0f", ms_of(stable[nst / 2]));
    if (cpu0 >= 0 && cpu1 >= 0) printf(" broker_cpu_s=%.2f", cpu1 - cpu0);
    printf("\n");
    fflush(stdout);
}

/* ================================ 2. OffsetCommit rate ======================================= */

struct committer {
    int idx;
    char group[96];
    char topic[96];
    pthread_barrier_t *start;
    atomic_bool assigned;
    uint64_t count, errors;
    uint64_t *lat;
    size_t lat_cap;
    uint64_t t_begin, t_end;
    char err[256];
};

static void commit_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t *parts, void *opaque) {
    struct committer *c = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        atomic_store(&c->assigned, true);
    } else {
        rd_kafka_assign(rk, NULL);
        atomic_store(&c->assigned, false);
    }
}

static rd_kafka_resp_err_t commit_one(rd_kafka_t *rk, const char *topic, int64_t off) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0)->offset = off;
    rd_kafka_resp_err_t e = rd_kafka_commit(rk, l, 0);
    if (!e && l->elems[0].err) e = l->elems[0].err;
    rd_kafka_topic_partition_list_destroy(l);
    return e;
}

static void *committer_main(void *arg) {
    struct committer *c = arg;
    char err[256];
    rd_kafka_conf_t *conf = base_conf();
    conf_set(conf, "group.id", c->group);
    conf_set(conf, "enable.auto.commit", "false");
    conf_set(conf, "session.timeout.ms", "30000");
    rd_kafka_conf_set_rebalance_cb(conf, commit_rebalance_cb);
    rd_kafka_conf_set_opaque(conf, c);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) die("rd_kafka_new: %s", err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, c->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    uint64_t deadline = now_ns() + 60000000000ull;
    while (!atomic_load(&c->assigned) && now_ns() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m) rd_kafka_message_destroy(m);
    }
    if (!atomic_load(&c->assigned)) snprintf(c->err, sizeof(c->err), "no assignment within 60 s");
    int64_t off = 0;
    for (int i = 0; i < WARMUP_COMMITS && !c->err[0]; i++) {
        rd_kafka_resp_err_t e = commit_one(rk, c->topic, ++off);
        if (e) snprintf(c->err, sizeof(c->err), "warm-up commit: %s", rd_kafka_err2str(e));
    }
    pthread_barrier_wait(c->start);
    if (!c->err[0]) {
        c->t_begin = now_ns();
        uint64_t end = c->t_begin + (uint64_t)commit_secs * 1000000000ull;
        uint64_t t = c->t_begin;
        while (t < end) {
            rd_kafka_resp_err_t e = commit_one(rk, c->topic, ++off);
            uint64_t t2 = now_ns();
            if (e) {
                c->errors++;
                if (!c->err[0]) snprintf(c->err, sizeof(c->err), "commit: %s", rd_kafka_err2str(e));
            } else {
                if (c->count == c->lat_cap) {
                    c->lat_cap = c->lat_cap ? 2 * c->lat_cap : 4096;
                    c->lat = realloc(c->lat, c->lat_cap * sizeof(*c->lat));
                    if (!c->lat) die("%s", "out of memory");
                }
                c->lat[c->count++] = t2 - t;
            }
            t = t2;
            /* Serve the rebalance callback and heartbeat errors between commits. */
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 0);
            if (m) rd_kafka_message_destroy(m);
        }
        c->t_end = t;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return NULL;
}

/* Kafka's group -> __consumer_offsets partition for an ASCII group id. */
static int offsets_partition(const char *g) {
    uint32_t h = 0;
    for (const unsigned char *p = (const unsigned char *)g; *p; p++)
        h = h * 31u + *p;
    return (int)((h & 0x7fffffffu) % (uint32_t)offsets_parts);
}

/* same_part: all groups on one __consumer_offsets partition; else all on different ones. */
static void run_commits(int nc, bool same_part, const char *label) {
    if (!same_part && nc > offsets_parts) nc = offsets_parts;
    struct committer *cs = calloc((size_t)nc, sizeof(*cs));
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)nc + 1);
    bool used[1000] = {false};
    int want = -1, seq = 0;
    for (int i = 0; i < nc; i++) {
        struct committer *c = &cs[i];
        c->idx = i;
        c->start = &start;
        for (;; seq++) {
            snprintf(c->group, sizeof(c->group), "gbench-commit-%d-%d", (int)getpid(), seq);
            int p = offsets_partition(c->group);
            if (same_part ? (want < 0 || p == want) : !used[p]) {
                if (want < 0) want = p;
                used[p] = true;
                seq++;
                break;
            }
        }
        snprintf(c->topic, sizeof(c->topic), "gbench-commit-%d-%d", (int)getpid(), i);
        create_topic(c->topic, 1);
    }
    pthread_t *thr = calloc((size_t)nc, sizeof(*thr));
    for (int i = 0; i < nc; i++)
        pthread_create(&thr[i], NULL, committer_main, &cs[i]);
    pthread_barrier_wait(&start);
    double cpu0 = broker_cpu_s();
    long long fl0 = disk_flushes();
    for (int i = 0; i < nc; i++)
        pthread_join(thr[i], NULL);
    double cpu1 = broker_cpu_s();
    long long fl1 = disk_flushes();
    uint64_t total = 0, errors = 0, t_begin = UINT64_MAX, t_end = 0;
    size_t nlat = 0;
    for (int i = 0; i < nc; i++) {
        if (cs[i].err[0] && !cs[i].count) {
            printf("RESULT commits %s FAILED: %s\n", label, cs[i].err);
            goto out;
        }
        total += cs[i].count;
        errors += cs[i].errors;
        nlat += cs[i].count;
        if (cs[i].t_begin < t_begin) t_begin = cs[i].t_begin;
        if (cs[i].t_end > t_end) t_end = cs[i].t_end;
    }
    uint64_t *all = malloc((nlat ? nlat : 1) * sizeof(*all));
    size_t k = 0;
    for (int i = 0; i < nc; i++) {
        memcpy(all + k, cs[i].lat, cs[i].count * sizeof(*all));
        k += cs[i].count;
    }
    qsort(all, nlat, sizeof(*all), cmp_u64);
    double secs = (double)(t_end - t_begin) / 1e9;
    printf("  %s: %" PRIu64 " commits in %.2f s, latency p50 %.2f ms p99 %.2f ms max %.2f ms"
           "%s%" PRIu64 " errors\n",
           label, total, secs, nlat ? ms_of(all[nlat / 2]) : 0.0,
           nlat ? ms_of(all[nlat * 99 / 100]) : 0.0, nlat ? ms_of(all[nlat - 1]) : 0.0, ", ",
           errors);
    printf("RESULT commits %s committers=%d commits_per_s=%.0f p50_ms=%.2f p99_ms=%.2f", label, nc,
           (double)total / secs, nlat ? ms_of(all[nlat / 2]) : 0.0,
           nlat ? ms_of(all[nlat * 99 / 100]) : 0.0);
    if (cpu0 >= 0 && cpu1 >= 0) printf(" broker_cpu_s=%.2f", cpu1 - cpu0);
    if (fl0 >= 0 && fl1 >= 0 && total)
        printf(" %s_flushes=%lld per_commit=%.2f", disk_dev, fl1 - fl0,
               (double)(fl1 - fl0) / (double)total);
    printf("\n");
    fflush(stdout);
    free(all);
out:
    for (int i = 0; i < nc; i++)
        free(cs[i].lat);
    free(thr);
    free(cs);
    pthread_barrier_destroy(&start);
}

/*
 * 4 KiB write + fdatasync round trips in dir for 2 s, into a file preallocated with zeros (as
 * the broker's segments are), so fdatasync has no size change to commit: the disk's own bound
 * on one writer's sequential durable writes.
 */
static void fsync_probe(const char *dir) {
    enum { BLOCK = 4096, SPAN = 16 << 20 };
    char path[4096];
    snprintf(path, sizeof(path), "%s/gbench-fsync-probe", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        printf("fsync probe: cannot create %s: %s\n", path, strerror(errno));
        return;
    }
    static char block[BLOCK];
    for (off_t o = 0; o < SPAN; o += BLOCK)
        if (pwrite(fd, block, BLOCK, o) != BLOCK) break;
    fsync(fd);
    memset(block, 'x', sizeof(block));
    uint64_t t0 = now_ns(), t = t0;
    long n = 0;
    while (t - t0 < 2000000000ull) {
        off_t o = (off_t)(n % (SPAN / BLOCK)) * BLOCK;
        if (pwrite(fd, block, BLOCK, o) != BLOCK || fdatasync(fd) < 0) break;
        n++;
        t = now_ns();
    }
    close(fd);
    unlink(path);
    printf("RESULT fsync_probe dir=%s write4k_fdatasync_per_s=%.0f mean_ms=%.3f "
           "(preallocated file, one writer)\n",
           dir, (double)n / ((double)(t - t0) / 1e9), n ? ms_of((t - t0) / (uint64_t)n) : 0.0);
    fflush(stdout);
}

static void usage(void) {
    fprintf(stderr, "usage: group_bench -b host:port [-p broker_pid] [-n 3,100] [-r reps] "
                    "[-s session_ms] [-H heartbeat_ms] [-k members_per_child] [-c commit_secs] "
                    "[-w committers] [-O offsets_partitions] [-D data_dir] [-F disk] [-d debug] "
                    "[-x failover|commit]\n");
    exit(2);
}

int main(int argc, char **argv) {
    int opt;
    while ((opt = getopt(argc, argv, "b:p:n:r:s:H:k:c:w:O:D:F:d:x:h")) != -1) {
        switch (opt) {
        case 'b':
            brokers = optarg;
            break;
        case 'p':
            broker_pid = atoi(optarg);
            break;
        case 'n':
            snprintf(sizes_arg, sizeof(sizes_arg), "%s", optarg);
            break;
        case 'r':
            reps = atoi(optarg);
            break;
        case 's':
            session_ms = atoi(optarg);
            break;
        case 'H':
            heartbeat_ms = atoi(optarg);
            break;
        case 'k':
            per_child = atoi(optarg);
            break;
        case 'c':
            commit_secs = atoi(optarg);
            break;
        case 'w':
            committers = atoi(optarg);
            break;
        case 'O':
            offsets_parts = atoi(optarg);
            break;
        case 'D':
            probe_dir = optarg;
            break;
        case 'F':
            disk_dev = optarg;
            break;
        case 'd':
            member_debug = optarg;
            break;
        case 'x':
            only = optarg;
            break;
        default:
            usage();
        }
    }
    if (reps < 1 || per_child < 1 || commit_secs < 1 || committers < 1 || offsets_parts < 1 ||
        offsets_parts > 1000 || heartbeat_ms < 1 || session_ms < 1)
        usage();
    signal(SIGPIPE, SIG_IGN);
    printf("group_bench: broker %s%s, librdkafka %s\n", brokers, broker_pid ? "" : " (no -p)",
           rd_kafka_version_str());
    fflush(stdout);
    if (probe_dir) fsync_probe(probe_dir);
    if (!only || strcmp(only, "failover") == 0) {
        char *save = NULL;
        for (char *tok = strtok_r(sizes_arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            int n = atoi(tok);
            if (n < 2 || n > MAX_MEMBERS) die("-n: member counts are 2..1000, not %s", tok);
            run_failover(n);
        }
    }
    if (!only || strcmp(only, "commit") == 0) {
        printf("\n== OffsetCommit round trips (synchronous rd_kafka_commit, durable: "
               "log.flush.policy of the broker), %d s each\n",
               commit_secs);
        fflush(stdout);
        run_commits(1, false, "sequential-1");
        char label[64];
        snprintf(label, sizeof(label), "parallel-%d-groups-distinct-partitions", committers);
        run_commits(committers, false, label);
        snprintf(label, sizeof(label), "parallel-%d-groups-same-partition", committers);
        run_commits(committers, true, label);
    }
    return 0;
}
