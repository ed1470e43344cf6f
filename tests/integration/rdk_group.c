/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rdk_group.c - librdkafka group consumer(s) for the consumer-group tests (test_groups.py).
 *
 *   rdk_group -b HOST:PORT -t TOPIC -g GROUP [-m MEMBERS] [-I INSTANCE_ID] [-S STRATEGY]
 *             [-s SESSION_MS] [-c auto|manual] [-x MAX_MSGS] [-T SECONDS] [-q]
 *
 * Runs MEMBERS consumers (default 1) in this process and reports events on stdout, one line
 * each, flushed at once, for the test to parse:
 *   ASSIGN <m> <p,p,...>       full assignment of member m after each rebalance ("-" = none)
 *   REVOKE <m> <p,p,...>       partitions revoked from member m
 *   MSG <m> <p> <offset> <value>   (not with -q)
 *   ALLASSIGNED <seconds>      every member has an assignment and together they own every
 *                              partition exactly once (printed once)
 *   COMMITTED <m> <p>=<off>,...    after the final synchronous commit (-c manual -x N)
 *   FATAL <m> <error name>     fatal error (e.g. FENCED_INSTANCE_ID)
 *   CLOSED <m>
 * -c manual -x N: after N messages in total, commit the positions synchronously and close.
 * Without -x it runs for -T seconds (default 600) or until SIGTERM, then closes.
 * Static membership: -I gives member m the instance id "<INSTANCE_ID>-<m>".
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PARTS 1024

struct member {
    int idx;
    rd_kafka_t *rk;
    bool assigned_once;
    bool fatal;
    bool cooperative;
    unsigned char owns[MAX_PARTS];
};

static volatile sig_atomic_t stop;
static struct member *members;
static int n_members = 1;

static void on_term(int sig) {
    stop = 1;
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void print_list(const char *what, int m, const rd_kafka_topic_partition_list_t *l) {
    char buf[8192];
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; l && i < l->cnt && off < sizeof(buf) - 16; i++)
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%d", i ? "," : "",
                                l->elems[i].partition);
    printf("%s %d %s\n", what, m, off ? buf : "-");
    fflush(stdout);
}

static void print_assignment(struct member *mb) {
    rd_kafka_topic_partition_list_t *cur = NULL;
    if (rd_kafka_assignment(mb->rk, &cur) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        memset(mb->owns, 0, sizeof(mb->owns));
        for (int i = 0; i < cur->cnt; i++)
            if (cur->elems[i].partition >= 0 && cur->elems[i].partition < MAX_PARTS)
                mb->owns[cur->elems[i].partition] = 1;
        print_list("ASSIGN", mb->idx, cur);
        rd_kafka_topic_partition_list_destroy(cur);
    }
    mb->assigned_once = true;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    struct member *mb = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (coop)
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
        print_assignment(mb);
    } else {
        print_list("REVOKE", mb->idx, parts);
        if (coop)
            rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
        else
            rd_kafka_assign(rk, NULL);
        if (!coop)
            memset(mb->owns, 0, sizeof(mb->owns));
        else
            for (int i = 0; i < parts->cnt; i++)
                if (parts->elems[i].partition >= 0 && parts->elems[i].partition < MAX_PARTS)
                    mb->owns[parts->elems[i].partition] = 0;
    }
}

/* A fatal error arrives either through error_cb or as a consumer error message. */
static void report_fatal(struct member *mb) {
    if (mb->fatal) return;
    char buf[256];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(mb->rk, buf, sizeof(buf));
    printf("FATAL %d %s %s\n", mb->idx, rd_kafka_err2name(orig), buf);
    fflush(stdout);
    mb->fatal = true;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    struct member *mb = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        report_fatal(mb);
    } else {
        fprintf(stderr, "member %d: error %s: %s\n", mb->idx, rd_kafka_err2name(err), reason);
    }
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "config %s=%s: %s\n", k, v, err);
        exit(2);
    }
}

static int topic_partitions(rd_kafka_t *rk, const char *topic) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    int n = -1;
    for (int i = 0; i < 50 && n < 0; i++) {
        if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1 && md->topics[0].err == 0) n = md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
        }
        if (n < 0) usleep(200000);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* Every member assigned at least once, and every partition owned by exactly one member. */
static bool all_assigned(int nparts) {
    for (int m = 0; m < n_members; m++)
        if (!members[m].assigned_once) return false;
    for (int p = 0; p < nparts && p < MAX_PARTS; p++) {
        int owners = 0;
        for (int m = 0; m < n_members; m++)
            owners += members[m].owns[p];
        if (owners != 1) return false;
    }
    return true;
}

int main(int argc, char **argv) {
    const char *bootstrap = NULL, *topic = NULL, *group = NULL, *instance = NULL;
    const char *strategy = "range,roundrobin", *commit = "auto", *session = "6000";
    long max_msgs = -1, max_secs = 600;
    bool quiet = false;
    int c;
    while ((c = getopt(argc, argv, "b:t:g:m:I:S:s:c:x:T:q")) != -1) {
        switch (c) {
        case 'b':
            bootstrap = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 'g':
            group = optarg;
            break;
        case 'm':
            n_members = atoi(optarg);
            break;
        case 'I':
            instance = optarg;
            break;
        case 'S':
            strategy = optarg;
            break;
        case 's':
            session = optarg;
            break;
        case 'c':
            commit = optarg;
            break;
        case 'x':
            max_msgs = atol(optarg);
            break;
        case 'T':
            max_secs = atol(optarg);
            break;
        case 'q':
            quiet = true;
            break;
        default:
            fprintf(stderr, "bad option\n");
            return 2;
        }
    }
    if (!bootstrap || !topic || !group || n_members < 1) {
        fprintf(stderr, "need -b, -t, -g\n");
        return 2;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    members = calloc((size_t)n_members, sizeof(*members));
    int nparts = -1;
    for (int m = 0; m < n_members; m++) {
        char err[512], buf[256];
        struct member *mb = &members[m];
        mb->idx = m;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        set(conf, "bootstrap.servers", bootstrap);
        set(conf, "group.id", group);
        set(conf, "partition.assignment.strategy", strategy);
        set(conf, "session.timeout.ms", session);
        set(conf, "heartbeat.interval.ms", "500");
        set(conf, "auto.offset.reset", "earliest");
        set(conf, "enable.auto.commit", strcmp(commit, "auto") == 0 ? "true" : "false");
        set(conf, "auto.commit.interval.ms", "500");
        set(conf, "enable.auto.offset.store", "true");
        if (instance) {
            snprintf(buf, sizeof(buf), "%s-%d", instance, m);
            set(conf, "group.instance.id", buf);
        }
        rd_kafka_conf_set_opaque(conf, mb);
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
        rd_kafka_conf_set_error_cb(conf, error_cb);
        mb->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
        if (!mb->rk) {
            fprintf(stderr, "rd_kafka_new: %s\n", err);
            return 2;
        }
        rd_kafka_poll_set_consumer(mb->rk);
        if (nparts < 0) nparts = topic_partitions(mb->rk, topic);
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(mb->rk, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        if (e) {
            fprintf(stderr, "subscribe: %s\n", rd_kafka_err2str(e));
            return 2;
        }
    }
    printf("STARTED %d members, topic has %d partitions\n", n_members, nparts);
    fflush(stdout);
    double t0 = mono_s();
    bool reported_all = false;
    long consumed = 0;
    while (!stop && mono_s() - t0 < (double)max_secs) {
        bool any = false;
        for (int m = 0; m < n_members; m++) {
            rd_kafka_message_t *msg =
                rd_kafka_consumer_poll(members[m].rk, n_members == 1 ? 100 : 0);
            if (!msg) continue;
            any = true;
            if (msg->err) {
                if (msg->err == RD_KAFKA_RESP_ERR__FATAL)
                    report_fatal(&members[m]);
                else if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    fprintf(stderr, "member %d: %s\n", m, rd_kafka_message_errstr(msg));
            } else {
                consumed++;
                if (!quiet) {
                    printf("MSG %d %d %" PRId64 " %.*s\n", m, msg->partition, msg->offset,
                           (int)msg->len, (const char *)msg->payload);
                    fflush(stdout);
                }
            }
            rd_kafka_message_destroy(msg);
            if (max_msgs > 0 && consumed >= max_msgs) stop = 1;
            if (stop) break;
        }
        if (!reported_all && nparts > 0 && all_assigned(nparts)) {
            reported_all = true;
            printf("ALLASSIGNED %.2f\n", mono_s() - t0);
            fflush(stdout);
        }
        if (!any && n_members > 1) usleep(2000);
    }
    for (int m = 0; m < n_members; m++) {
        struct member *mb = &members[m];
        if (strcmp(commit, "manual") == 0 && !mb->fatal) {
            rd_kafka_resp_err_t e = rd_kafka_commit(mb->rk, NULL, 0);
            rd_kafka_topic_partition_list_t *pos = NULL;
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR &&
                rd_kafka_assignment(mb->rk, &pos) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                rd_kafka_position(mb->rk, pos);
                char buf[8192];
                size_t off = 0;
                buf[0] = '\0';
                for (int i = 0; i < pos->cnt && off < sizeof(buf) - 32; i++)
                    off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%d=%" PRId64,
                                            i ? "," : "", pos->elems[i].partition,
                                            pos->elems[i].offset);
                printf("COMMITTED %d %s\n", m, off ? buf : "-");
                rd_kafka_topic_partition_list_destroy(pos);
            } else if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
                printf("COMMITFAILED %d %s\n", m, rd_kafka_err2name(e));
            } else {
                printf("COMMITTED %d -\n", m);
            }
            fflush(stdout);
        }
        rd_kafka_consumer_close(mb->rk);
        rd_kafka_destroy(mb->rk);
        printf("CLOSED %d\n", m);
        fflush(stdout);
    }
    free(members);
    return 0;
}
