/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rdk_roundtrip.c - librdkafka producer/consumer round trip against a running ringletd, used
 * by test_librdkafka.py.
 *
 *   rdk_roundtrip roundtrip -b HOST:PORT -t TOPIC -n COUNT [-s SIZE] [-z CODEC] [-i] [-a ACKS]
 *       Produces COUNT keyed messages with headers and explicit timestamps (idempotent with -i),
 *       records each delivery report, then consumes every partition from the beginning and
 *       checks that each message arrives exactly once, at its reported partition and offset,
 *       with key, value, headers and timestamp intact.
 *   rdk_roundtrip too-large -b HOST:PORT -t TOPIC -s SIZE
 *       Produces one SIZE-byte message that the broker must reject with MESSAGE_TOO_LARGE,
 *       then a small message that must succeed and be readable.
 *   rdk_roundtrip version
 *
 * Prints "FAIL: ..." and exits 1 on the first violated expectation; exits 0 when all hold.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct dr_slot {
    int32_t partition;
    int64_t offset;
    int err;
    bool done;
};

struct opts {
    const char *bootstrap;
    const char *topic;
    const char *codec;
    const char *acks;
    long count;
    long size;
    bool idempotent;
};

static struct dr_slot *slots;
static long dr_count;
static int64_t base_ts;

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stdout);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
    exit(1);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void conf_set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
        die("config %s=%s: %s", k, v, err);
}

/* The value of message i: its index, then a deterministic byte pattern up to size bytes. */
static void fill_value(char *buf, long size, long i) {
    int n = snprintf(buf, (size_t)size + 1, "v%09ld:", i);
    for (long j = n; j < size; j++)
        buf[j] = (char)((i * 31 + j * 7) & 0xff);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    long i = (long)(intptr_t)m->_private;
    if (i < 0) return;
    slots[i].partition = m->partition;
    slots[i].offset = m->offset;
    slots[i].err = m->err;
    slots[i].done = true;
    dr_count++;
}

static rd_kafka_t *make_producer(const struct opts *o, long max_msg) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512], buf[32];
    conf_set(conf, "bootstrap.servers", o->bootstrap);
    conf_set(conf, "acks", o->acks);
    conf_set(conf, "compression.codec", o->codec);
    conf_set(conf, "enable.idempotence", o->idempotent ? "true" : "false");
    conf_set(conf, "message.timeout.ms", "120000");
    conf_set(conf, "linger.ms", "5");
    snprintf(buf, sizeof(buf), "%ld", max_msg);
    conf_set(conf, "message.max.bytes", buf);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) die("producer: %s", err);
    return rk;
}

static rd_kafka_t *make_consumer(const struct opts *o, long max_msg) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512], buf[32];
    conf_set(conf, "bootstrap.servers", o->bootstrap);
    conf_set(conf, "enable.auto.commit", "false");
    conf_set(conf, "enable.partition.eof", "false");
    conf_set(conf, "queued.max.messages.kbytes", "65536");
    conf_set(conf, "check.crcs", "true");
    snprintf(buf, sizeof(buf), "%ld", max_msg + 100000);
    conf_set(conf, "fetch.message.max.bytes", buf);
    conf_set(conf, "receive.message.max.bytes", "100000000");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) die("consumer: %s", err);
    return rk;
}

/* Start the legacy (group-less) consumer on partitions [first, first + nparts) of topic from
 * offset; all messages go to the returned queue. No group coordinator is involved. */
static rd_kafka_queue_t *start_partitions(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int first,
                                          int nparts, int64_t offset) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    for (int p = first; p < first + nparts; p++)
        if (rd_kafka_consume_start_queue(rkt, p, offset, q) == -1)
            die("consume_start partition %d: %s", p, rd_kafka_err2str(rd_kafka_last_error()));
    return q;
}

static void stop_partitions(rd_kafka_topic_t *rkt, rd_kafka_queue_t *q, int first, int nparts) {
    for (int p = first; p < first + nparts; p++)
        rd_kafka_consume_stop(rkt, p);
    rd_kafka_queue_destroy(q);
}

/* Next message or error from q, skipping partition-EOF events; NULL on timeout. */
static rd_kafka_message_t *next_message(rd_kafka_queue_t *q, int timeout_ms) {
    rd_kafka_message_t *m = rd_kafka_consume_queue(q, timeout_ms);
    if (m && m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        rd_kafka_message_destroy(m);
        return NULL;
    }
    return m;
}

static int partition_count(rd_kafka_t *rk, const char *topic) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    int n = -1;
    for (int attempt = 0; attempt < 20 && n < 0; attempt++) {
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
        if (err) die("metadata for %s: %s", topic, rd_kafka_err2str(err));
        if (md->topic_cnt == 1 && md->topics[0].err == 0 && md->topics[0].partition_cnt > 0)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
        if (n < 0) usleep(200000);
    }
    rd_kafka_topic_destroy(rkt);
    if (n < 0) die("topic %s has no partitions in metadata", topic);
    return n;
}

static void produce_all(rd_kafka_t *rk, const struct opts *o) {
    char *val = malloc((size_t)o->size + 1);
    char key[32], idx[32];
    const unsigned char bin[8] = {0, 1, 2, 0xfe, 0xff, '\n', 0, 7};
    double t0 = mono_s();
    for (long i = 0; i < o->count; i++) {
        fill_value(val, o->size, i);
        snprintf(key, sizeof(key), "key-%ld", i % 1009);
        snprintf(idx, sizeof(idx), "%ld", i);
        rd_kafka_resp_err_t err;
        for (;;) {
            err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_KEY(key, strlen(key)),
                RD_KAFKA_V_VALUE(val, (size_t)o->size), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_TIMESTAMP(base_ts + i), RD_KAFKA_V_HEADER("idx", idx, -1),
                RD_KAFKA_V_HEADER("bin", bin, sizeof(bin)), RD_KAFKA_V_HEADER("nul", NULL, 0),
                RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
            rd_kafka_poll(rk, 50);
        }
        if (err) die("producev %ld: %s", i, rd_kafka_err2str(err));
        rd_kafka_poll(rk, 0);
    }
    free(val);
    while (rd_kafka_outq_len(rk) > 0 && mono_s() - t0 < 600)
        rd_kafka_poll(rk, 100);
    if (rd_kafka_outq_len(rk) > 0)
        die("%d messages still queued after 600 s", rd_kafka_outq_len(rk));
    for (long i = 0; i < o->count; i++) {
        if (!slots[i].done) die("no delivery report for message %ld", i);
        if (slots[i].err)
            die("delivery of message %ld failed: %s", i, rd_kafka_err2str(slots[i].err));
    }
    printf("produced %ld messages in %.1f s\n", o->count, mono_s() - t0);
    fflush(stdout);
}

static void check_message(const rd_kafka_message_t *m, const struct opts *o, char *expect,
                          unsigned char *seen) {
    if (!m->key || m->key_len < 5)
        die("message at %d@%" PRId64 " has no key", m->partition, m->offset);
    if (m->len < 11 || ((const char *)m->payload)[0] != 'v')
        die("message at %d@%" PRId64 " has an unexpected value (len %zu)", m->partition, m->offset,
            m->len);
    long i = strtol((const char *)m->payload + 1, NULL, 10);
    if (i < 0 || i >= o->count)
        die("message at %d@%" PRId64 " has index %ld out of range", m->partition, m->offset, i);
    if (seen[i])
        die("message %ld consumed twice (again at %d@%" PRId64 ")", i, m->partition, m->offset);
    seen[i] = 1;
    if (m->partition != slots[i].partition || m->offset != slots[i].offset)
        die("message %ld consumed at %d@%" PRId64 " but acknowledged at %d@%" PRId64, i,
            m->partition, m->offset, slots[i].partition, slots[i].offset);
    char key[32];
    snprintf(key, sizeof(key), "key-%ld", i % 1009);
    if (m->key_len != strlen(key) || memcmp(m->key, key, m->key_len) != 0)
        die("message %ld: key mismatch", i);
    fill_value(expect, o->size, i);
    if ((long)m->len != o->size || memcmp(m->payload, expect, (size_t)o->size) != 0)
        die("message %ld: value differs (len %zu, expected %ld)", i, m->len, o->size);
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    if (tstype != RD_KAFKA_TIMESTAMP_CREATE_TIME || ts != base_ts + i)
        die("message %ld: timestamp %" PRId64 " type %d, expected %" PRId64 " CreateTime", i, ts,
            (int)tstype, base_ts + i);
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs)
        die("message %ld: no headers", i);
    if (rd_kafka_header_cnt(hdrs) != 3)
        die("message %ld: %zu headers, expected 3", i, rd_kafka_header_cnt(hdrs));
    const void *hv;
    size_t hl;
    char idx[32];
    snprintf(idx, sizeof(idx), "%ld", i);
    if (rd_kafka_header_get_last(hdrs, "idx", &hv, &hl) || hl != strlen(idx) ||
        memcmp(hv, idx, hl) != 0)
        die("message %ld: header idx wrong", i);
    const unsigned char bin[8] = {0, 1, 2, 0xfe, 0xff, '\n', 0, 7};
    if (rd_kafka_header_get_last(hdrs, "bin", &hv, &hl) || hl != sizeof(bin) ||
        memcmp(hv, bin, hl) != 0)
        die("message %ld: header bin wrong", i);
    if (rd_kafka_header_get_last(hdrs, "nul", &hv, &hl) || hv != NULL)
        die("message %ld: header nul is not a null value", i);
}

static void consume_all(const struct opts *o) {
    rd_kafka_t *rk = make_consumer(o, o->size);
    int nparts = partition_count(rk, o->topic);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    rd_kafka_queue_t *q = start_partitions(rk, rkt, 0, nparts, RD_KAFKA_OFFSET_BEGINNING);
    unsigned char *seen = calloc((size_t)o->count, 1);
    char *expect = malloc((size_t)o->size + 1);
    long got = 0;
    double t0 = mono_s(), limit = 120 + (double)o->count / 500;
    while (got < o->count && mono_s() - t0 < limit) {
        rd_kafka_message_t *m = next_message(q, 500);
        if (!m) continue;
        if (m->err) die("consumer error: %s", rd_kafka_message_errstr(m));
        check_message(m, o, expect, seen);
        got++;
        rd_kafka_message_destroy(m);
    }
    if (got < o->count) die("consumed %ld of %ld messages within %.0f s", got, o->count, limit);
    /* Nothing beyond: poll briefly for stragglers (duplicates would fail check_message). */
    double t1 = mono_s();
    while (mono_s() - t1 < 1.0) {
        rd_kafka_message_t *m = next_message(q, 200);
        if (!m) continue;
        if (!m->err)
            die("extra message at %d@%" PRId64 " after all %ld were consumed", m->partition,
                m->offset, o->count);
        rd_kafka_message_destroy(m);
    }
    printf("consumed %ld messages exactly once from %d partitions in %.1f s\n", got, nparts,
           mono_s() - t0);
    free(seen);
    free(expect);
    stop_partitions(rkt, q, 0, nparts);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

static void roundtrip(const struct opts *o) {
    slots = calloc((size_t)o->count, sizeof(*slots));
    base_ts = now_ms() - o->count - 1000;
    rd_kafka_t *rk = make_producer(o, o->size + 10000 > 1000000 ? o->size + 10000 : 1000000);
    produce_all(rk, o);
    rd_kafka_destroy(rk);
    if (dr_count != o->count) die("%ld delivery reports for %ld messages", dr_count, o->count);
    consume_all(o);
    free(slots);
}

static void too_large(const struct opts *o) {
    struct opts small = *o;
    slots = calloc(2, sizeof(*slots));
    base_ts = now_ms();
    rd_kafka_t *rk = make_producer(o, o->size + 100000);
    char *val = malloc((size_t)o->size + 1);
    fill_value(val, o->size, 0);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_VALUE(val, (size_t)o->size), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE((void *)(intptr_t)0), RD_KAFKA_V_END);
    free(val);
    if (err) die("producev (large): %s", rd_kafka_err2str(err));
    rd_kafka_flush(rk, 60000);
    if (!slots[0].done) die("no delivery report for the large message");
    if (slots[0].err != RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
        die("large message: delivery error %s (%d), expected MSG_SIZE_TOO_LARGE (10)",
            rd_kafka_err2str(slots[0].err), slots[0].err);
    printf("large message rejected with %s\n", rd_kafka_err2name(slots[0].err));
    /* The broker keeps serving: a small message on the same producer goes through. */
    char small_val[64];
    snprintf(small_val, sizeof(small_val), "after-too-large-%" PRId64, base_ts);
    err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_PARTITION(0),
                            RD_KAFKA_V_VALUE(small_val, strlen(small_val)),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_OPAQUE((void *)(intptr_t)1), RD_KAFKA_V_END);
    if (err) die("producev (small): %s", rd_kafka_err2str(err));
    rd_kafka_flush(rk, 60000);
    if (!slots[1].done || slots[1].err)
        die("small message after the rejected one: %s",
            slots[1].done ? rd_kafka_err2str(slots[1].err) : "no delivery report");
    rd_kafka_destroy(rk);
    /* And it is readable at its offset. */
    small.size = 64;
    rd_kafka_t *c = make_consumer(&small, 1000);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c, o->topic, NULL);
    rd_kafka_queue_t *q = start_partitions(c, rkt, 0, 1, slots[1].offset);
    double t0 = mono_s();
    bool found = false;
    while (!found && mono_s() - t0 < 30) {
        rd_kafka_message_t *m = next_message(q, 500);
        if (!m) continue;
        if (m->err) die("consumer error: %s", rd_kafka_message_errstr(m));
        if (m->offset != slots[1].offset || m->len != strlen(small_val) ||
            memcmp(m->payload, small_val, m->len) != 0)
            die("read back at %" PRId64 ": unexpected message", m->offset);
        found = true;
        rd_kafka_message_destroy(m);
    }
    if (!found) die("the small message at offset %" PRId64 " was not readable", slots[1].offset);
    printf("small message after the rejected one delivered and read back at offset %" PRId64 "\n",
           slots[1].offset);
    stop_partitions(rkt, q, 0, 1);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(c);
    free(slots);
}

int main(int argc, char **argv) {
    struct opts o = {.codec = "none", .acks = "all", .count = 1000, .size = 100};
    if (argc < 2) die("usage: rdk_roundtrip roundtrip|too-large|version [options]");
    const char *mode = argv[1];
    if (strcmp(mode, "version") == 0) {
        printf("%s\n", rd_kafka_version_str());
        return 0;
    }
    int c;
    optind = 2;
    while ((c = getopt(argc, argv, "b:t:n:s:z:ia:")) != -1) {
        switch (c) {
        case 'b':
            o.bootstrap = optarg;
            break;
        case 't':
            o.topic = optarg;
            break;
        case 'n':
            o.count = atol(optarg);
            break;
        case 's':
            o.size = atol(optarg);
            break;
        case 'z':
            o.codec = optarg;
            break;
        case 'i':
            o.idempotent = true;
            break;
        case 'a':
            o.acks = optarg;
            break;
        default:
            die("bad option");
        }
    }
    if (!o.bootstrap || !o.topic || o.count <= 0 || o.size < 16)
        die("need -b, -t, -n > 0 and -s >= 16");
    if (strcmp(mode, "roundtrip") == 0)
        roundtrip(&o);
    else if (strcmp(mode, "too-large") == 0)
        too_large(&o);
    else
        die("unknown mode %s", mode);
    printf("OK\n");
    return 0;
}
