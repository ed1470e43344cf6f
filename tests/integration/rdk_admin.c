/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rdk_admin.c - librdkafka Admin API against a running ringletd, used by test_librdkafka.py:
 *   rdk_admin HOST:PORT
 * CreateTopics (with a config, and a duplicate that must fail), CreatePartitions,
 * DescribeConfigs (topic and broker), AlterConfigs, DeleteTopics, each checked through
 * Metadata or DescribeConfigs. Prints "FAIL: ..." and exits 1 on the first violation.
 */
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static rd_kafka_event_t *wait_result(rd_kafka_queue_t *q, rd_kafka_event_type_t type,
                                     const char *what) {
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
    if (!ev) die("%s: no result within 60 s", what);
    if (rd_kafka_event_type(ev) != type)
        die("%s: unexpected event %s", what, rd_kafka_event_name(ev));
    if (rd_kafka_event_error(ev))
        die("%s: request failed: %s", what, rd_kafka_event_error_string(ev));
    return ev;
}

static void check_topic_results(const rd_kafka_topic_result_t **res, size_t n,
                                rd_kafka_resp_err_t want, const char *what) {
    if (n == 0) die("%s: no topic results", what);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        if (e != want)
            die("%s: topic %s: %s (%d), expected %s", what, rd_kafka_topic_result_name(res[i]),
                rd_kafka_err2name(e), e, rd_kafka_err2name(want));
    }
}

/* Partition count of topic in Metadata, or -1 if the topic is absent/unknown. */
static int md_partitions(rd_kafka_t *rk, const char *topic) {
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 10000);
    if (err) die("metadata: %s", rd_kafka_err2str(err));
    int n = -1;
    for (int i = 0; i < md->topic_cnt; i++) {
        if (strcmp(md->topics[i].topic, topic) == 0 && md->topics[i].err == 0)
            n = md->topics[i].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    return n;
}

static void wait_partitions(rd_kafka_t *rk, const char *topic, int want) {
    int got = -2;
    for (int i = 0; i < 100; i++) {
        got = md_partitions(rk, topic);
        if (got == want) return;
        usleep(100000);
    }
    die("topic %s: %d partitions in metadata, expected %d", topic, got, want);
}

static void create_topics(rd_kafka_t *rk, rd_kafka_queue_t *q) {
    char err[512];
    rd_kafka_NewTopic_t *nt[2];
    nt[0] = rd_kafka_NewTopic_new("rdk-admin-a", 3, 1, err, sizeof(err));
    nt[1] = rd_kafka_NewTopic_new("rdk-admin-b", 1, -1, err, sizeof(err));
    if (!nt[0] || !nt[1]) die("NewTopic: %s", err);
    rd_kafka_NewTopic_set_config(nt[0], "retention.ms", "3600000");
    rd_kafka_NewTopic_set_config(nt[0], "cleanup.policy", "delete");
    rd_kafka_CreateTopics(rk, nt, 2, NULL, q);
    rd_kafka_event_t *ev = wait_result(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, "CreateTopics");
    size_t n;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    check_topic_results(res, n, RD_KAFKA_RESP_ERR_NO_ERROR, "CreateTopics");
    rd_kafka_event_destroy(ev);
    wait_partitions(rk, "rdk-admin-a", 3);
    wait_partitions(rk, "rdk-admin-b", 1);

    /* Again: TOPIC_ALREADY_EXISTS. */
    rd_kafka_CreateTopics(rk, nt, 1, NULL, q);
    ev = wait_result(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, "CreateTopics (duplicate)");
    res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    check_topic_results(res, n, RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, "duplicate CreateTopics");
    rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy_array(nt, 2);

    /* Replication factor 3 on a single broker: INVALID_REPLICATION_FACTOR. */
    rd_kafka_NewTopic_t *bad = rd_kafka_NewTopic_new("rdk-admin-rf3", 1, 3, err, sizeof(err));
    rd_kafka_CreateTopics(rk, &bad, 1, NULL, q);
    ev = wait_result(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, "CreateTopics (rf 3)");
    res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    check_topic_results(res, n, RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR,
                        "CreateTopics with replication factor 3");
    rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(bad);
    if (md_partitions(rk, "rdk-admin-rf3") != -1) die("rejected topic rdk-admin-rf3 exists anyway");
    printf("CreateTopics ok\n");
}

static void create_partitions(rd_kafka_t *rk, rd_kafka_queue_t *q) {
    char err[512];
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new("rdk-admin-b", 4, err, sizeof(err));
    rd_kafka_CreatePartitions(rk, &np, 1, NULL, q);
    rd_kafka_event_t *ev =
        wait_result(q, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT, "CreatePartitions");
    size_t n;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
    check_topic_results(res, n, RD_KAFKA_RESP_ERR_NO_ERROR, "CreatePartitions");
    rd_kafka_event_destroy(ev);
    rd_kafka_NewPartitions_destroy(np);
    wait_partitions(rk, "rdk-admin-b", 4);
    /* Shrinking is refused (INVALID_PARTITIONS). */
    np = rd_kafka_NewPartitions_new("rdk-admin-b", 2, err, sizeof(err));
    rd_kafka_CreatePartitions(rk, &np, 1, NULL, q);
    ev = wait_result(q, RD_KAFKA_EVENT_CREATEPARTITIONS_RESULT, "CreatePartitions (shrink)");
    res = rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
    check_topic_results(res, n, RD_KAFKA_RESP_ERR_INVALID_PARTITIONS, "CreatePartitions to 2");
    rd_kafka_event_destroy(ev);
    rd_kafka_NewPartitions_destroy(np);
    wait_partitions(rk, "rdk-admin-b", 4);
    printf("CreatePartitions ok\n");
}

/* DescribeConfigs of one resource; returns the value of name (copied) or NULL if absent. */
static char *describe_value(rd_kafka_t *rk, rd_kafka_queue_t *q, rd_kafka_ResourceType_t type,
                            const char *rname, const char *name, int *n_entries) {
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(type, rname);
    rd_kafka_DescribeConfigs(rk, &cr, 1, NULL, q);
    rd_kafka_event_t *ev = wait_result(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, "DescribeConfigs");
    size_t n;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
    if (n != 1) die("DescribeConfigs %s: %zu resources", rname, n);
    if (rd_kafka_ConfigResource_error(rs[0]))
        die("DescribeConfigs %s: %s", rname, rd_kafka_ConfigResource_error_string(rs[0]));
    size_t ne;
    const rd_kafka_ConfigEntry_t **es = rd_kafka_ConfigResource_configs(rs[0], &ne);
    char *val = NULL;
    for (size_t i = 0; i < ne; i++) {
        if (strcmp(rd_kafka_ConfigEntry_name(es[i]), name) == 0) {
            const char *v = rd_kafka_ConfigEntry_value(es[i]);
            val = strdup(v ? v : "(null)");
        }
    }
    *n_entries = (int)ne;
    rd_kafka_event_destroy(ev);
    rd_kafka_ConfigResource_destroy(cr);
    return val;
}

static void configs(rd_kafka_t *rk, rd_kafka_queue_t *q) {
    int ne;
    char *v = describe_value(rk, q, RD_KAFKA_RESOURCE_TOPIC, "rdk-admin-a", "retention.ms", &ne);
    if (!v || strcmp(v, "3600000") != 0)
        die("rdk-admin-a retention.ms = %s, expected 3600000", v ? v : "(absent)");
    free(v);
    v = describe_value(rk, q, RD_KAFKA_RESOURCE_TOPIC, "rdk-admin-a", "max.message.bytes", &ne);
    if (!v) die("rdk-admin-a: max.message.bytes not described (%d entries)", ne);
    free(v);
    v = describe_value(rk, q, RD_KAFKA_RESOURCE_BROKER, "1", "num.partitions", &ne);
    if (!v) die("broker 1: num.partitions not described (%d entries)", ne);
    free(v);

    /* AlterConfigs (replaces the topic's dynamic configs with the given set). */
    rd_kafka_ConfigResource_t *cr =
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, "rdk-admin-a");
    rd_kafka_ConfigResource_set_config(cr, "retention.ms", "7200000");
    rd_kafka_ConfigResource_set_config(cr, "max.message.bytes", "500000");
    rd_kafka_AlterConfigs(rk, &cr, 1, NULL, q);
    rd_kafka_event_t *ev = wait_result(q, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, "AlterConfigs");
    size_t n;
    const rd_kafka_ConfigResource_t **rs =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
    if (n != 1 || rd_kafka_ConfigResource_error(rs[0]))
        die("AlterConfigs: %s",
            n == 1 ? rd_kafka_ConfigResource_error_string(rs[0]) : "no resource result");
    rd_kafka_event_destroy(ev);
    rd_kafka_ConfigResource_destroy(cr);
    v = describe_value(rk, q, RD_KAFKA_RESOURCE_TOPIC, "rdk-admin-a", "retention.ms", &ne);
    if (!v || strcmp(v, "7200000") != 0)
        die("after AlterConfigs retention.ms = %s, expected 7200000", v ? v : "(absent)");
    free(v);
    v = describe_value(rk, q, RD_KAFKA_RESOURCE_TOPIC, "rdk-admin-a", "max.message.bytes", &ne);
    if (!v || strcmp(v, "500000") != 0)
        die("after AlterConfigs max.message.bytes = %s, expected 500000", v ? v : "(absent)");
    free(v);

    /* An invalid value is rejected and changes nothing. */
    cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, "rdk-admin-a");
    rd_kafka_ConfigResource_set_config(cr, "retention.ms", "not-a-number");
    rd_kafka_AlterConfigs(rk, &cr, 1, NULL, q);
    ev = wait_result(q, RD_KAFKA_EVENT_ALTERCONFIGS_RESULT, "AlterConfigs (invalid)");
    rs = rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
    if (n != 1 || rd_kafka_ConfigResource_error(rs[0]) != RD_KAFKA_RESP_ERR_INVALID_CONFIG)
        die("AlterConfigs retention.ms=not-a-number: %s, expected INVALID_CONFIG",
            n == 1 ? rd_kafka_err2name(rd_kafka_ConfigResource_error(rs[0])) : "no result");
    rd_kafka_event_destroy(ev);
    rd_kafka_ConfigResource_destroy(cr);
    v = describe_value(rk, q, RD_KAFKA_RESOURCE_TOPIC, "rdk-admin-a", "retention.ms", &ne);
    if (!v || strcmp(v, "7200000") != 0)
        die("after a rejected AlterConfigs retention.ms = %s, expected 7200000",
            v ? v : "(absent)");
    free(v);
    printf("DescribeConfigs/AlterConfigs ok\n");
}

static void delete_topics(rd_kafka_t *rk, rd_kafka_queue_t *q) {
    rd_kafka_DeleteTopic_t *dt[2] = {rd_kafka_DeleteTopic_new("rdk-admin-a"),
                                     rd_kafka_DeleteTopic_new("rdk-admin-b")};
    rd_kafka_DeleteTopics(rk, dt, 2, NULL, q);
    rd_kafka_event_t *ev = wait_result(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT, "DeleteTopics");
    size_t n;
    const rd_kafka_topic_result_t **res =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    check_topic_results(res, n, RD_KAFKA_RESP_ERR_NO_ERROR, "DeleteTopics");
    rd_kafka_event_destroy(ev);
    for (int i = 0; i < 100 && (md_partitions(rk, "rdk-admin-a") != -1 ||
                                md_partitions(rk, "rdk-admin-b") != -1);
         i++)
        usleep(100000);
    if (md_partitions(rk, "rdk-admin-a") != -1 || md_partitions(rk, "rdk-admin-b") != -1)
        die("deleted topics still in metadata");
    /* Deleting again: UNKNOWN_TOPIC_OR_PART. */
    rd_kafka_DeleteTopics(rk, dt, 1, NULL, q);
    ev = wait_result(q, RD_KAFKA_EVENT_DELETETOPICS_RESULT, "DeleteTopics (again)");
    res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    check_topic_results(res, n, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "second DeleteTopics");
    rd_kafka_event_destroy(ev);
    rd_kafka_DeleteTopic_destroy_array(dt, 2);
    printf("DeleteTopics ok\n");
}

int main(int argc, char **argv) {
    char err[512];
    if (argc != 2) die("usage: rdk_admin HOST:PORT");
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof(err))) die("%s", err);
    /* Explicit metadata requests must not create topics behind the test's back. */
    if (rd_kafka_conf_set(conf, "allow.auto.create.topics", "false", err, sizeof(err)))
        die("%s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) die("rd_kafka_new: %s", err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    create_topics(rk, q);
    create_partitions(rk, q);
    configs(rk, q);
    delete_topics(rk, q);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    printf("OK\n");
    return 0;
}
