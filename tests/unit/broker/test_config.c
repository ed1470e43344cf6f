/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_config.c - broker/config.c: defaults, YAML files (flat, nested, lists), every kind of
 * error with its file:line, command-line overrides, bounds, and the generated reference.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker.h"

static char tmpdir[64];

static const char *write_file(const char *name, const char *text) {
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int setup(void **state) {
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ringlet-test-config-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_defaults(void **state) {
    (void)state;
    struct broker_config c;
    broker_config_defaults(&c);
    assert_string_equal(c.listeners, "127.0.0.1:9092");
    assert_string_equal(c.log_dir, "./data");
    assert_string_equal(c.cluster_id, "");
    assert_int_equal(c.node_id, 1);
    assert_int_equal(c.socket_request_max_bytes, 104857600);
    assert_int_equal(c.log_level, RL_LOG_INFO);
    assert_int_equal(c.log_flush_policy, BROKER_FLUSH_GROUP_COMMIT);
    assert_int_equal(c.log_message_timestamp_type, BROKER_TS_CREATE_TIME);
    assert_true(c.auto_create_topics_enable);
    assert_int_equal(c.log_flush_interval_messages, INT64_MAX);
    broker_config_free(&c);
}

static void test_good_file(void **state) {
    (void)state;
    const char *path = write_file("good.yaml", "# a comment\n"
                                               "node.id: 7\n"
                                               "listeners: [127.0.0.1:1, '[::1]:2']\n"
                                               "log:\n"
                                               "  dir: /var/lib/ringlet\n"
                                               "  level: DEBUG\n"
                                               "  flush:\n"
                                               "    policy: interval\n"
                                               "auto.create.topics.enable: no\n"
                                               "log.message.timestamp.type: LogAppendTime\n"
                                               "cluster.id:\n");
    struct broker_config c;
    char err[512] = "";
    broker_config_defaults(&c);
    assert_int_equal(broker_config_load_yaml(&c, path, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(c.node_id, 7);
    assert_string_equal(c.listeners, "127.0.0.1:1,[::1]:2");
    assert_string_equal(c.log_dir, "/var/lib/ringlet");
    assert_int_equal(c.log_level, RL_LOG_DEBUG);
    assert_int_equal(c.log_flush_policy, BROKER_FLUSH_INTERVAL);
    assert_false(c.auto_create_topics_enable);
    assert_int_equal(c.log_message_timestamp_type, BROKER_TS_LOG_APPEND_TIME);
    assert_string_equal(c.cluster_id, "");
    /* untouched settings keep their defaults */
    assert_int_equal(c.num_partitions, 1);
    broker_config_free(&c);

    /* an empty file is a valid (empty) configuration */
    path = write_file("empty.yaml", "");
    broker_config_defaults(&c);
    assert_int_equal(broker_config_load_yaml(&c, path, err, sizeof(err)), 0);
    assert_int_equal(c.node_id, 1);
    broker_config_free(&c);
}

/* Loads text and expects an error message that starts with "<path>:<line>: " and contains
 * what. */
static void expect_error(const char *text, int line, const char *what) {
    const char *path = write_file("bad.yaml", text);
    struct broker_config c;
    char err[512] = "", prefix[256];
    broker_config_defaults(&c);
    assert_int_equal(broker_config_load_yaml(&c, path, err, sizeof(err)), -EINVAL);
    snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
    if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, what))
        fail_msg("got '%s', expected '%s...%s'", err, prefix, what);
    broker_config_free(&c);
}

static void test_file_errors(void **state) {
    (void)state;
    expect_error("node.id: 1\nno.such.setting: 3\n", 2, "unknown setting 'no.such.setting'");
    expect_error("log:\n  dir: x\n  nope: 1\n", 3, "unknown setting 'log.nope'");
    expect_error("node.id: 1\n\nnode.id: abc\n", 3, "node.id: expected an integer, got 'abc'");
    expect_error("num.partitions: 0\n", 1, "num.partitions: 0 is out of range [1, 100000]");
    expect_error("node.id: 99999999999999999999\n", 1, "out of range");
    expect_error("auto.create.topics.enable: maybe\n", 1, "expected true or false");
    expect_error("log.level: loud\n", 1, "expected one of debug|info|warn|error");
    expect_error("log.dir: x\nnode.id: 1: 2\n", 2, "YAML syntax error");
    expect_error("log.dir: x\nnode.id: \"abc\n\n", 2, "YAML syntax error");
    expect_error("- a\n- b\n", 1, "expected a mapping");
    expect_error("listeners: [a, {b: c}]\n", 1, "a list may only hold plain values");
    expect_error("node.id:\n  - 1\n  - 2\n", 2, "expected an integer");

    struct broker_config c;
    char err[512];
    broker_config_defaults(&c);
    assert_int_equal(broker_config_load_yaml(&c, "/nonexistent/ringlet.yaml", err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "/nonexistent/ringlet.yaml: cannot open"));
    broker_config_free(&c);
}

static void test_overrides_and_bounds(void **state) {
    (void)state;
    const char *path = write_file("o.yaml", "node.id: 5\nlog.dir: /a\n");
    struct broker_config c;
    char err[512];
    broker_config_defaults(&c);
    assert_int_equal(broker_config_load_yaml(&c, path, err, sizeof(err)), 0);
    assert_int_equal(broker_config_set(&c, "node.id=9", err, sizeof(err)), 0);
    assert_int_equal(broker_config_set(&c, "log.dir=/b=c", err, sizeof(err)), 0);
    assert_int_equal(c.node_id, 9);
    assert_string_equal(c.log_dir, "/b=c");

    /* exact bounds are accepted, one past them is not */
    assert_int_equal(broker_config_set(&c, "num.partitions=1", err, sizeof(err)), 0);
    assert_int_equal(broker_config_set(&c, "num.partitions=100000", err, sizeof(err)), 0);
    assert_int_equal(broker_config_set(&c, "num.partitions=100001", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "out of range [1, 100000]"));
    assert_int_equal(c.num_partitions, 100000);
    assert_int_equal(broker_config_set(&c, "log.retention.ms=-1", err, sizeof(err)), 0);
    assert_int_equal(c.log_retention_ms, -1);
    assert_int_equal(broker_config_set(&c, "log.retention.ms=-2", err, sizeof(err)), -EINVAL);
    assert_int_equal(
        broker_config_set(&c, "log.flush.interval.messages=9223372036854775807", err, sizeof(err)),
        0);
    assert_int_equal(
        broker_config_set(&c, "log.flush.interval.messages=9223372036854775808", err, sizeof(err)),
        -EINVAL);
    assert_int_equal(broker_config_set(&c, "node.id=12abc", err, sizeof(err)), -EINVAL);
    assert_int_equal(broker_config_set(&c, "node.id=", err, sizeof(err)), -EINVAL);
    assert_int_equal(broker_config_set(&c, "bogus=1", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "unknown setting 'bogus'"));
    assert_int_equal(broker_config_set(&c, "node.id", err, sizeof(err)), -EINVAL);
    assert_int_equal(broker_config_set(&c, "log.flush.policy=none", err, sizeof(err)), 0);
    assert_int_equal(c.log_flush_policy, BROKER_FLUSH_NONE);
    assert_int_equal(broker_config_set(&c, "auto.create.topics.enable=false", err, sizeof(err)), 0);
    assert_false(c.auto_create_topics_enable);
    assert_int_equal(c.node_id, 9); /* failed sets changed nothing */
    broker_config_free(&c);
}

struct seen {
    int n, n_default;
    char level[32];
};

static int visit(void *arg, const char *name, const char *value, bool is_default) {
    struct seen *s = arg;
    s->n++;
    s->n_default += is_default;
    if (strcmp(name, "log.level") == 0) snprintf(s->level, sizeof(s->level), "%s", value);
    return 0;
}

static void test_foreach_and_help(void **state) {
    (void)state;
    struct broker_config c;
    char err[256];
    broker_config_defaults(&c);
    struct seen s = {0};
    assert_int_equal(broker_config_foreach(&c, visit, &s), 0);
    assert_true(s.n > 20);
    assert_int_equal(s.n_default, s.n);
    assert_string_equal(s.level, "info");
    assert_int_equal(broker_config_set(&c, "log.level=warn", err, sizeof(err)), 0);
    assert_int_equal(broker_config_set(&c, "node.id=3", err, sizeof(err)), 0);
    memset(&s, 0, sizeof(s));
    broker_config_foreach(&c, visit, &s);
    assert_int_equal(s.n_default, s.n - 2);
    assert_string_equal(s.level, "warn");
    broker_config_free(&c);

    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    broker_config_print_help(f, true);
    fclose(f);
    assert_non_null(strstr(buf, "| Name | Type | Default | Allowed | Description |"));
    assert_non_null(strstr(buf, "| `log.dir` | string | `./data` |"));
    assert_non_null(strstr(buf, "| `log.level` | enum | `info` | debug, info, warn, error |"));
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),         cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_file_errors),      cmocka_unit_test(test_overrides_and_bounds),
        cmocka_unit_test(test_foreach_and_help),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
