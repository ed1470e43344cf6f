/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_client_mock.c - the `ringlet` CLI against a different Kafka implementation: librdkafka's
 * in-memory mock cluster (public API rd_kafka_mock_cluster_new), 3 brokers. Runs cli_main
 * in-process with captured output and proves: metadata commands, produce (keys, headers, every
 * codec, murmur2 partitions equal librdkafka's), consume (formats, JSON, offsets, -e/-n),
 * group consume + commit + describe with lag, records produced by ringlet read back byte-exact
 * by a librdkafka consumer and the reverse, exit codes 0/1/2.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "cli.h"
#include "ringlet/common.h"

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;
static char bootstraps[512];

struct run {
    int rc;
    char *out;
    char *err;
};

/* Runs the CLI with argv (NULL-terminated) and optional stdin text. */
static struct run cli(const char *input, ...) {
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"ringlet";
    argv[argc++] = (char *)"-b";
    argv[argc++] = bootstraps;
    va_list ap;
    va_start(ap, input);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 63;)
        argv[argc++] = (char *)a;
    va_end(ap);
    argv[argc] = NULL;
    int saved = -1;
    if (input) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        size_t len = strlen(input);
        assert_int_equal(write(p[1], input, len), (ssize_t)len);
        close(p[1]);
        saved = dup(0);
        dup2(p[0], 0);
        close(p[0]);
    }
    struct run r = {0};
    size_t ol, el;
    FILE *out = open_memstream(&r.out, &ol);
    FILE *err = open_memstream(&r.err, &el);
    r.rc = cli_main(argc, argv, out, err);
    fclose(out);
    fclose(err);
    if (saved >= 0) {
        dup2(saved, 0);
        close(saved);
    }
    return r;
}

static void run_free(struct run *r) {
    free(r->out);
    free(r->err);
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++)
        if (*s == '\n') n++;
    return n;
}

static int setup(void **state) {
    (void)state;
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (mock_rk == NULL) return -1;
    mock = rd_kafka_mock_cluster_new(mock_rk, 3);
    if (mock == NULL) return -1;
    snprintf(bootstraps, sizeof(bootstraps), "%s", rd_kafka_mock_cluster_bootstraps(mock));
    rd_kafka_mock_topic_create(mock, "keyed", 4, 1);
    rd_kafka_mock_topic_create(mock, "codecs", 2, 1);
    rd_kafka_mock_topic_create(mock, "interop", 3, 1);
    rd_kafka_mock_topic_create(mock, "grouped", 2, 1);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
    return 0;
}

static void test_cluster_and_topics(void **state) {
    (void)state;
    struct run r = cli(NULL, "cluster", "info", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "CLUSTER ID"));
    assert_int_equal(count_lines(r.out), 3 + 1 + 3); /* id, controller, blank, header, 3 */
    run_free(&r);
    r = cli(NULL, "cluster", "info", "--format", "json", NULL);
    assert_int_equal(r.rc, 0);
    assert_true(r.out[0] == '{');
    assert_non_null(strstr(r.out, "\"brokers\":[{\"id\":"));
    /* The mock cluster lacks DescribeCluster: the answer comes from Metadata. */
    assert_non_null(strstr(r.out, "{\"source\":\"Metadata\","));
    run_free(&r);
    r = cli(NULL, "topic", "list", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "keyed "));
    run_free(&r);
    r = cli(NULL, "topic", "describe", "keyed", "--format", "json", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "\"name\":\"keyed\""));
    assert_non_null(strstr(r.out, "{\"partition\":3,"));
    assert_non_null(strstr(r.out, "\"log_end_offset\":0"));
    run_free(&r);
    /* A failed row: exit 1. Usage errors: exit 2. */
    rd_kafka_mock_topic_set_error(mock, "forbidden", RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    r = cli(NULL, "topic", "describe", "keyed", "forbidden", NULL);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.out, "TOPIC forbidden: TOPIC_AUTHORIZATION_FAILED"));
    assert_non_null(strstr(r.out, "TOPIC keyed (4 partitions)"));
    run_free(&r);
    r = cli(NULL, "topic", "describe", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = cli(NULL, "consume", "keyed", "-o", "sideways", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = cli(NULL, "topic", "explode", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = cli(NULL, "help", "group", "seek", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "--execute"));
    run_free(&r);
}

static void test_produce_keyed_partitions(void **state) {
    (void)state;
    char input[4096] = "";
    for (int i = 0; i < 40; i++) {
        char line[64];
        snprintf(line, sizeof(line), "user-%d:value-%d\n", i, i);
        strcat(input, line);
    }
    struct run r =
        cli(input, "produce", "keyed", "-K", ":", "-H", "h1=x", "-v", "--format", "json", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out), 40);
    /* Every record on the partition librdkafka's murmur2 partitioner picks. */
    for (const char *l = r.out; *l;) {
        long line = 0, partition = -1;
        assert_int_equal(
            sscanf(l, "{\"line\":%ld,\"topic\":\"keyed\",\"partition\":%ld", &line, &partition), 2);
        char key[32];
        snprintf(key, sizeof(key), "user-%ld", line - 1);
        assert_int_equal(partition,
                         rd_kafka_msg_partitioner_murmur2(NULL, key, strlen(key), 4, NULL, NULL));
        assert_null(strstr(l, "\"offset\":null"));
        l = strchr(l, '\n') + 1;
    }
    run_free(&r);
    r = cli(NULL, "consume", "keyed", "-e", "-f", "%k=%s %h\\n", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out), 40);
    assert_non_null(strstr(r.out, "user-7=value-7 h1=x\n"));
    run_free(&r);
    r = cli(NULL, "consume", "keyed", "-p", "0", "-o", "-1", "-e", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out), 1);
    run_free(&r);
    r = cli(NULL, "consume", "keyed", "-n", "5", "--format", "json", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out), 5);
    assert_non_null(strstr(r.out, "\"headers\":[{\"key\":\"h1\",\"value\":\"x\"}]"));
    run_free(&r);
}

/* librdkafka consumer: reads n messages of topic (all partitions from the start). */
static int rdk_consume(const char *topic, int nparts, int want, char **values, char **keys,
                       char **hdr, int64_t *ts) {
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", "rdk-reader", err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(tl, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, tl), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(tl);
    int got = 0;
    for (int spins = 0; spins < 100 && got < want; spins++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m == NULL) continue;
        if (m->err == 0) {
            values[got] = strndup(m->payload ? (const char *)m->payload : "", m->len);
            keys[got] = m->key ? strndup(m->key, m->key_len) : NULL;
            hdr[got] = NULL;
            rd_kafka_headers_t *h = NULL;
            const void *hv;
            size_t hl;
            if (rd_kafka_message_headers(m, &h) == 0 &&
                rd_kafka_header_get_last(h, "src", &hv, &hl) == 0)
                hdr[got] = strndup(hv, hl);
            ts[got] = rd_kafka_message_timestamp(m, NULL);
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got;
}

static void test_every_codec_to_librdkafka(void **state) {
    (void)state;
    static const char *const codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    int64_t before = rl_now_ms();
    for (size_t i = 0; i < 5; i++) {
        char input[512] = "", hdr[32];
        for (int k = 0; k < 3; k++) {
            char line[64];
            snprintf(line, sizeof(line), "k%zu%d\t%s-payload-%d-%s\n", i, k, codecs[i], k,
                     "compressible compressible compressible");
            strcat(input, line);
        }
        snprintf(hdr, sizeof(hdr), "src=%s", codecs[i]);
        struct run r =
            cli(input, "produce", "codecs", "-z", codecs[i], "-K", "\t", "-H", hdr, NULL);
        assert_int_equal(r.rc, 0);
        run_free(&r);
    }
    char *values[32], *keys[32], *hdrs[32];
    int64_t ts[32];
    int got = rdk_consume("codecs", 2, 15, values, keys, hdrs, ts);
    assert_int_equal(got, 15);
    int per_codec[5] = {0};
    for (int i = 0; i < got; i++) {
        for (size_t c = 0; c < 5; c++) {
            char prefix[32];
            snprintf(prefix, sizeof(prefix), "%s-payload-", codecs[c]);
            if (strncmp(values[i], prefix, strlen(prefix)) != 0) continue;
            per_codec[c]++;
            assert_non_null(hdrs[i]);
            assert_string_equal(hdrs[i], codecs[c]); /* headers survive byte-exact */
            assert_non_null(keys[i]);
            assert_int_equal(keys[i][0], 'k');
        }
        assert_true(ts[i] >= before - 1000 && ts[i] <= rl_now_ms() + 1000);
        free(values[i]);
        free(keys[i]);
        free(hdrs[i]);
    }
    for (size_t c = 0; c < 5; c++)
        assert_int_equal(per_codec[c], 3);
}

static void test_librdkafka_to_ringlet(void **state) {
    (void)state;
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err));
    rd_kafka_conf_set(conf, "partitioner", "murmur2_random", err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    assert_non_null(rk);
    for (int i = 0; i < 12; i++) {
        char key[16], val[32];
        snprintf(key, sizeof(key), "rk-%d", i);
        snprintf(val, sizeof(val), "from-librdkafka-%d", i);
        assert_int_equal(
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("interop"), RD_KAFKA_V_KEY(key, strlen(key)),
                              RD_KAFKA_V_VALUE(val, strlen(val)),
                              RD_KAFKA_V_HEADER("trace", "abc", 3),
                              RD_KAFKA_V_TIMESTAMP(1700000000000LL + i),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
            RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    assert_int_equal(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
    struct run r = cli(NULL, "consume", "interop", "-e", "-f", "%p %k %s %T %h\\n", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out), 12);
    for (int i = 0; i < 12; i++) {
        char key[16], want[128];
        snprintf(key, sizeof(key), "rk-%d", i);
        int32_t p = ringlet_partition_for_key(key, strlen(key), 3);
        snprintf(want, sizeof(want), "%d rk-%d from-librdkafka-%d %lld trace=abc\n", p, i, i,
                 1700000000000LL + i);
        assert_non_null(strstr(r.out, want));
    }
    run_free(&r);
    /* -o +N: N records after the log start of each partition. */
    r = cli(NULL, "consume", "interop", "-o", "+1", "-e", "-f", "%o\n", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out), 12 - 3);
    assert_true(strncmp(r.out, "0\n", 2) != 0); /* no partition printed offset 0 */
    assert_null(strstr(r.out, "\n0\n"));
    run_free(&r);
}

static void test_group_consume_and_lag(void **state) {
    (void)state;
    struct run r = cli("a\nb\nc\nd\n", "produce", "grouped", "-p", "0", NULL);
    assert_int_equal(r.rc, 0);
    run_free(&r);
    r = cli("e\nf\n", "produce", "grouped", "-p", "1", NULL);
    assert_int_equal(r.rc, 0);
    run_free(&r);
    r = cli(NULL, "consume", "grouped", "-g", "readers", "-e", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out), 6);
    run_free(&r);
    /* A second run of the group starts at the commits: nothing new. */
    r = cli(NULL, "consume", "grouped", "-g", "readers", "-e", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(count_lines(r.out), 0);
    run_free(&r);
    r = cli("g\nh\ni\n", "produce", "grouped", "-p", "1", NULL);
    assert_int_equal(r.rc, 0);
    run_free(&r);
    usleep(20000);
    r = cli(NULL, "group", "describe", "readers", "-t", "grouped", "--format", "json", NULL);
    assert_int_equal(r.rc, 0); /* the mock lacks DescribeGroups: a note, not a failure */
    assert_non_null(strstr(r.out, "{\"topic\":\"grouped\",\"partition\":0,\"committed_offset\":4,"
                                  "\"log_end_offset\":4,\"lag\":0,\"lag_ms\":0"));
    const char *p1 = strstr(r.out, "{\"topic\":\"grouped\",\"partition\":1,\"committed_offset\":2,"
                                   "\"log_end_offset\":5,\"lag\":3,\"lag_ms\":");
    assert_non_null(p1);
    long lag_ms = strtol(strstr(p1, "\"lag_ms\":") + 9, NULL, 10);
    assert_true(lag_ms >= 20 && lag_ms < 60000); /* age of record "g" */
    run_free(&r);
    /* Offset resets refuse when membership cannot be checked (no DescribeGroups). */
    r = cli(NULL, "group", "seek", "readers", "--to", "earliest", "-t", "grouped", NULL);
    assert_int_equal(r.rc, 1);
    run_free(&r);
}

struct async_state {
    int done, failed, records;
};

static void on_commit(void *opaque, int err) {
    struct async_state *st = opaque;
    st->done++;
    if (err) st->failed++;
}

static int count_record(void *opaque, const struct ringlet_msg *m) {
    (void)m;
    ((struct async_state *)opaque)->records++;
    return 0;
}

/* Asynchronous commits: sent without waiting, completed by later polls (the callback runs),
 * pipelined with a synchronous commit, and visible to the group's next reader. */
static void test_commit_async(void **state) {
    (void)state;
    struct run r = cli("a\nb\nc\nd\ne\n", "produce", "asynct", "-p", "0", NULL);
    assert_int_equal(r.rc, 0);
    run_free(&r);
    struct ringlet_conf conf;
    ringlet_conf_init(&conf);
    conf.brokers = bootstraps;
    struct ringlet_client *cl = NULL;
    char err[256];
    assert_int_equal(ringlet_client_new(&conf, &cl, err, sizeof(err)), 0);
    struct async_state st = {0};
    struct ringlet_consumer_conf cc;
    ringlet_consumer_conf_init(&cc);
    cc.group_id = "asyncg";
    cc.auto_commit_interval_ms = 0;
    cc.commit_cb = on_commit;
    cc.commit_opaque = &st;
    struct ringlet_consumer *cons = NULL;
    assert_int_equal(ringlet_consumer_new(cl, &cc, &cons, err, sizeof(err)), 0);
    assert_int_equal(ringlet_consumer_subscribe(cons, "asynct"), 0);
    for (int i = 0; i < 100 && st.records < 5; i++)
        assert_true(ringlet_consumer_poll(cons, 100, count_record, &st) >= 0);
    assert_int_equal(st.records, 5);
    assert_int_equal(ringlet_consumer_commit_async(cons), 0);
    assert_int_equal(ringlet_consumer_commits_in_flight(cons), 1);
    for (int i = 0; i < 100 && ringlet_consumer_commits_in_flight(cons) > 0; i++)
        assert_true(ringlet_consumer_poll(cons, 50, count_record, &st) >= 0);
    assert_int_equal(ringlet_consumer_commits_in_flight(cons), 0);
    assert_int_equal(st.done, 1);
    assert_int_equal(st.failed, 0);
    /* Nothing moved: nothing to send. */
    assert_int_equal(ringlet_consumer_commit_async(cons), 0);
    assert_int_equal(ringlet_consumer_commits_in_flight(cons), 0);
    /* Two more records, an async commit, then a sync one: the async answer is read first. */
    r = cli("f\ng\n", "produce", "asynct", "-p", "0", NULL);
    assert_int_equal(r.rc, 0);
    run_free(&r);
    for (int i = 0; i < 100 && st.records < 7; i++)
        assert_true(ringlet_consumer_poll(cons, 100, count_record, &st) >= 0);
    assert_int_equal(st.records, 7);
    assert_int_equal(ringlet_consumer_commit_async(cons), 0);
    assert_int_equal(ringlet_consumer_commit(cons), 0);
    assert_int_equal(ringlet_consumer_commits_in_flight(cons), 0);
    assert_int_equal(st.done, 2);
    assert_int_equal(st.failed, 0);
    ringlet_consumer_close(cons);
    ringlet_client_destroy(cl);
    r = cli(NULL, "group", "describe", "asyncg", "-t", "asynct", "--format", "json", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "\"partition\":0,\"committed_offset\":7,"));
    run_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_and_topics),
        cmocka_unit_test(test_produce_keyed_partitions),
        cmocka_unit_test(test_every_codec_to_librdkafka),
        cmocka_unit_test(test_librdkafka_to_ringlet),
        cmocka_unit_test(test_group_consume_and_lag),
        cmocka_unit_test(test_commit_async),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
