/* SPDX-License-Identifier: Apache-2.0 */
/*
 * client_bench.c - producer and consumer throughput of ringlet's client library vs librdkafka
 * against the same running broker (ringletd or any Kafka), 100 B and 1 KiB records. Both sides
 * use acks=all, idempotence, no compression, linger 5 ms, 16 KiB batches (librdkafka's
 * batch.size default is 1 MB: it is set to 16 KiB too for a like-for-like comparison) and a
 * fresh 4-partition topic per run. Prints records/s, MB/s and the ringlet/librdkafka ratio.
 *
 *   client_bench -b 127.0.0.1:PORT [-n records_100B] [-N records_1KiB]
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "cli.h"
#include "ringlet/common.h"

static const char *brokers;

static void create_topic(const char *name) {
    char *argv[] = {"ringlet", "-b", (char *)brokers, "topic", "create", (char *)name, "-p",
                    "4",       NULL};
    FILE *devnull = fopen("/dev/null", "w");
    int rc = cli_main(8, argv, devnull, stderr);
    fclose(devnull);
    if (rc != 0) {
        fprintf(stderr, "cannot create topic %s\n", name);
        exit(1);
    }
}

static int64_t delivered_ok;

static void on_delivery(void *opaque, const struct ringlet_delivery *d) {
    (void)opaque;
    if (d->error == 0 && d->err == 0) delivered_ok++;
}

static double ringlet_produce(const char *topic, int64_t n, size_t size) {
    struct ringlet_conf conf;
    ringlet_conf_init(&conf);
    conf.brokers = brokers;
    struct ringlet_client *cl;
    char err[256];
    if (ringlet_client_new(&conf, &cl, err, sizeof(err))) exit(1);
    struct ringlet_producer *p;
    if (ringlet_producer_new(cl, NULL, on_delivery, NULL, &p, err, sizeof(err))) {
        fprintf(stderr, "producer: %s\n", err);
        exit(1);
    }
    char *val = malloc(size);
    memset(val, 'x', size);
    delivered_ok = 0;
    int64_t t0 = rl_mono_ns();
    for (int64_t i = 0; i < n; i++) {
        if (ringlet_producer_send(p, topic, -1, NULL, -1, val, (int32_t)size, NULL, 0, -1, NULL))
            exit(1);
        if ((i & 255) == 0) ringlet_producer_poll(p);
    }
    ringlet_producer_flush(p);
    int64_t t1 = rl_mono_ns();
    if (delivered_ok != n) fprintf(stderr, "ringlet: only %" PRId64 " delivered\n", delivered_ok);
    ringlet_producer_destroy(p);
    ringlet_client_destroy(cl);
    free(val);
    return (double)(t1 - t0) / 1e9;
}

static void rdk_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->err == 0) delivered_ok++;
}

static rd_kafka_conf_t *rdk_conf(void) {
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof(err));
    rd_kafka_conf_set(c, "log_level", "3", err, sizeof(err));
    return c;
}

static double rdk_produce(const char *topic, int64_t n, size_t size) {
    char err[256];
    rd_kafka_conf_t *c = rdk_conf();
    rd_kafka_conf_set(c, "acks", "all", err, sizeof(err));
    rd_kafka_conf_set(c, "enable.idempotence", "true", err, sizeof(err));
    rd_kafka_conf_set(c, "linger.ms", "5", err, sizeof(err));
    rd_kafka_conf_set(c, "batch.size", "16384", err, sizeof(err));
    rd_kafka_conf_set(c, "queue.buffering.max.messages", "1000000", err, sizeof(err));
    rd_kafka_conf_set_dr_msg_cb(c, rdk_dr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
    char *val = malloc(size);
    memset(val, 'x', size);
    delivered_ok = 0;
    int64_t t0 = rl_mono_ns();
    for (int64_t i = 0; i < n; i++) {
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(val, size),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    int64_t t1 = rl_mono_ns();
    if (delivered_ok != n)
        fprintf(stderr, "librdkafka: only %" PRId64 " delivered\n", delivered_ok);
    rd_kafka_destroy(rk);
    free(val);
    return (double)(t1 - t0) / 1e9;
}

static int64_t consumed;

static int count_msg(void *opaque, const struct ringlet_msg *m) {
    (void)opaque;
    (void)m;
    consumed++;
    return 0;
}

static double ringlet_consume(const char *topic, int64_t n) {
    struct ringlet_conf conf;
    ringlet_conf_init(&conf);
    conf.brokers = brokers;
    struct ringlet_client *cl;
    char err[256];
    if (ringlet_client_new(&conf, &cl, err, sizeof(err))) exit(1);
    struct ringlet_consumer *c;
    if (ringlet_consumer_new(cl, NULL, &c, err, sizeof(err))) exit(1);
    consumed = 0;
    int64_t t0 = rl_mono_ns();
    if (ringlet_consumer_assign(c, topic, NULL, -1)) exit(1);
    while (consumed < n)
        if (ringlet_consumer_poll(c, 100, count_msg, NULL) < 0) break;
    int64_t t1 = rl_mono_ns();
    ringlet_consumer_close(c);
    ringlet_client_destroy(cl);
    return (double)(t1 - t0) / 1e9;
}

static double rdk_consume(const char *topic, int64_t n) {
    char err[256];
    rd_kafka_conf_t *c = rdk_conf();
    rd_kafka_conf_set(c, "group.id", "client-bench", err, sizeof(err));
    rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    consumed = 0;
    int64_t t0 = rl_mono_ns();
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(4);
    for (int p = 0; p < 4; p++)
        rd_kafka_topic_partition_list_add(tl, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, tl);
    rd_kafka_topic_partition_list_destroy(tl);
    while (consumed < n) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL) continue;
        if (m->err == 0) consumed++;
        rd_kafka_message_destroy(m);
    }
    int64_t t1 = rl_mono_ns();
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return (double)(t1 - t0) / 1e9;
}

static void row(const char *what, size_t size, int64_t n, double ringlet_s, double rdk_s) {
    double mb = (double)n * (double)size / 1e6;
    printf("%-8s %6zu B %9" PRId64 "  ringlet %10.0f rec/s %7.1f MB/s   librdkafka %10.0f rec/s "
           "%7.1f MB/s   ratio %.2f\n",
           what, size, n, (double)n / ringlet_s, mb / ringlet_s, (double)n / rdk_s, mb / rdk_s,
           rdk_s / ringlet_s);
}

int main(int argc, char **argv) {
    int64_t n_small = 200000, n_large = 50000;
    int opt;
    while ((opt = getopt(argc, argv, "b:n:N:")) != -1) {
        if (opt == 'b')
            brokers = optarg;
        else if (opt == 'n')
            n_small = atoll(optarg);
        else if (opt == 'N')
            n_large = atoll(optarg);
        else
            return 2;
    }
    brokers = ringlet_brokers_pick(brokers);
    rl_log_set_level(RL_LOG_WARN);
    printf("client_bench against %s (acks=all, idempotent, no compression, 4 partitions)\n",
           brokers);
    const size_t sizes[2] = {100, 1024};
    const int64_t counts[2] = {n_small, n_large};
    for (int i = 0; i < 2; i++) {
        char t1[64], t2[64];
        snprintf(t1, sizeof(t1), "bench-ringlet-%zu-%d", sizes[i], (int)getpid());
        snprintf(t2, sizeof(t2), "bench-rdk-%zu-%d", sizes[i], (int)getpid());
        create_topic(t1);
        create_topic(t2);
        double rp = ringlet_produce(t1, counts[i], sizes[i]);
        double kp = rdk_produce(t2, counts[i], sizes[i]);
        row("produce", sizes[i], counts[i], rp, kp);
        double rc = ringlet_consume(t1, counts[i]);
        double kc = rdk_consume(t2, counts[i]);
        row("consume", sizes[i], counts[i], rc, kc);
    }
    return 0;
}
