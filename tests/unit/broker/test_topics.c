/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_topics.c - the topic/partition registry (broker/topics.c) over a real storage engine in
 * a temporary directory: create, invalid names, config validation, restart keeps topic ids and
 * config overrides, partitions added, topics deleted, fetch waiters woken by appends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "topics.h"

struct env {
    char dir[64];
    struct broker b;
};

static void env_open(struct env *e) {
    struct storage_engine_config sc = {0};
    sc.data_dir = e->dir;
    sc.flush_policy = STORAGE_FLUSH_GROUP_COMMIT;
    sc.use_posix_io = true;
    assert_int_equal(storage_engine_open(&sc, &e->b.storage), 0);
    assert_int_equal(broker_topics_init(&e->b), 0);
}

static void env_close(struct env *e) {
    broker_topics_shutdown(&e->b);
    storage_engine_close(e->b.storage);
    e->b.storage = NULL;
}

static int setup(void **state) {
    struct env *e = calloc(1, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/ringlet-topics-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    broker_config_defaults(&e->b.cfg);
    rl_free(e->b.cfg.log_dir);
    e->b.cfg.log_dir = rl_strdup(e->dir);
    e->b.node_id = 1;
    env_open(e);
    *state = e;
    return 0;
}

static int teardown(void **state) {
    struct env *e = *state;
    env_close(e);
    broker_config_free(&e->b.cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
    assert_int_equal(system(cmd), 0);
    free(e);
    return 0;
}

static int create(struct env *e, const char *name, int32_t n, const char *const *names,
                  const char *const *values, int32_t nc, char *msg) {
    struct broker_topic *t = NULL;
    return broker_topic_create(&e->b, name, n, names, values, nc, false, &t, msg, 256);
}

static void test_create_and_find(void **state) {
    struct env *e = *state;
    char msg[256];
    const char *names[] = {"retention.ms", "cleanup.policy"};
    const char *values[] = {"1000", "compact"};
    assert_int_equal(create(e, "orders", 3, names, values, 2, msg), PROTO_ERR_NONE);
    struct broker_topic *t = broker_topic_find(&e->b, "orders", 6);
    assert_non_null(t);
    assert_int_equal(broker_topic_partition_count(t), 3);
    assert_false(broker_uuid_is_zero(&t->id));
    assert_ptr_equal(broker_topic_find_id(&e->b, t->id), t);
    assert_int_equal(t->cfg[TCFG_RETENTION_MS], 1000);
    assert_int_equal(t->cfg[TCFG_CLEANUP_POLICY], 1);
    assert_non_null(broker_partition_log(broker_partition_get(t, 2)));
    assert_null(broker_partition_get(t, 3));
    /* -1 partitions = num.partitions */
    assert_int_equal(create(e, "defaulted", -1, NULL, NULL, 0, msg), PROTO_ERR_NONE);
    assert_int_equal(broker_topic_partition_count(broker_topic_find(&e->b, "defaulted", 9)),
                     (int32_t)e->b.cfg.num_partitions);
    assert_int_equal(create(e, "orders", 1, NULL, NULL, 0, msg), PROTO_ERR_TOPIC_ALREADY_EXISTS);
    assert_int_equal(create(e, "zero", 0, NULL, NULL, 0, msg), PROTO_ERR_INVALID_PARTITIONS);
    assert_int_equal(broker_topics_count(&e->b), 2);
}

static void test_invalid_names(void **state) {
    struct env *e = *state;
    char msg[256];
    char longname[300];
    memset(longname, 'a', sizeof(longname));
    longname[250] = 0;
    const char *bad[] = {"", ".", "..", "a b", "a/b", "ü", "x:y", longname};
    for (size_t i = 0; i < RL_ARRAY_SIZE(bad); i++) {
        assert_int_equal(create(e, bad[i], 1, NULL, NULL, 0, msg),
                         PROTO_ERR_INVALID_TOPIC_EXCEPTION);
        assert_true(strlen(msg) > 0);
    }
    longname[249] = 0;
    assert_int_equal(create(e, longname, 1, NULL, NULL, 0, msg), PROTO_ERR_NONE);
    assert_int_equal(create(e, "a.b_c-D9", 1, NULL, NULL, 0, msg), PROTO_ERR_NONE);
    int16_t err = 0;
    e->b.cfg.auto_create_topics_enable = false;
    assert_null(broker_topic_get_or_create(&e->b, proto_str_c("nope"), true, &err));
    assert_int_equal(err, PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    e->b.cfg.auto_create_topics_enable = true;
    assert_null(broker_topic_get_or_create(&e->b, proto_str_c("bad name"), true, &err));
    assert_int_equal(err, PROTO_ERR_INVALID_TOPIC_EXCEPTION);
    assert_non_null(broker_topic_get_or_create(&e->b, proto_str_c("auto"), true, &err));
}

static void test_config_validation(void **state) {
    struct env *e = *state;
    char msg[256];
    struct {
        const char *name, *value;
        int expect;
    } cases[] = {
        {"retention.ms", "abc", PROTO_ERR_INVALID_CONFIG},
        {"retention.ms", "-2", PROTO_ERR_INVALID_CONFIG},
        {"retention.ms", "-1", PROTO_ERR_NONE},
        {"segment.bytes", "10", PROTO_ERR_INVALID_CONFIG},
        {"segment.bytes", "99999999999", PROTO_ERR_INVALID_CONFIG},
        {"segment.bytes", "1048576", PROTO_ERR_NONE},
        {"max.message.bytes", "2000000", PROTO_ERR_NONE},
        {"message.timestamp.type", "LogAppendTime", PROTO_ERR_NONE},
        {"message.timestamp.type", "Wallclock", PROTO_ERR_INVALID_CONFIG},
        {"cleanup.policy", "compact,delete", PROTO_ERR_NONE},
        {"cleanup.policy", "shred", PROTO_ERR_INVALID_CONFIG},
        {"compression.type", "gzip", PROTO_ERR_NONE},
        {"compression.type", "lz4", PROTO_ERR_NONE},
        {"compression.type", "brotli", PROTO_ERR_INVALID_CONFIG},
        {"compression.type", "producer", PROTO_ERR_NONE},
        /* accepted for compatibility (librdkafka's tests 0081 and 0092 set these) */
        {"message.format.version", "0.10.0.0", PROTO_ERR_NONE},
        {"delete.retention.ms", "900", PROTO_ERR_NONE},
        {"delete.retention.ms", "soon", PROTO_ERR_INVALID_CONFIG},
        {"min.cleanable.dirty.ratio", "0.25", PROTO_ERR_NONE},
        {"min.cleanable.dirty.ratio", "1.5", PROTO_ERR_INVALID_CONFIG},
        {"preallocate", "true", PROTO_ERR_NONE},
        {"preallocate", "maybe", PROTO_ERR_INVALID_CONFIG},
        {"min.insync.replicas", "0", PROTO_ERR_INVALID_CONFIG},
        {"no.such.config", "1", PROTO_ERR_INVALID_CONFIG},
        {"retention.ms", NULL, PROTO_ERR_INVALID_CONFIG},
    };
    for (size_t i = 0; i < RL_ARRAY_SIZE(cases); i++) {
        char name[32];
        snprintf(name, sizeof(name), "cfg%zu", i);
        msg[0] = 0;
        int rc = create(e, name, 1, &cases[i].name, &cases[i].value, 1, msg);
        if (rc != cases[i].expect)
            fail_msg("%s=%s: got %d want %d (%s)", cases[i].name,
                     cases[i].value ? cases[i].value : "(null)", rc, cases[i].expect, msg);
        if (rc) assert_true(strlen(msg) > 0);
    }
    /* validate_only creates nothing */
    assert_int_equal(
        broker_topic_create_ex(&e->b, "dry", 2, NULL, NULL, 0, false, true, NULL, msg, sizeof(msg)),
        PROTO_ERR_NONE);
    assert_null(broker_topic_find(&e->b, "dry", 3));
    int64_t v;
    assert_int_equal(broker_tcfg_parse(TCFG_CLEANUP_POLICY, "delete, compact", &v, msg, 256), 0);
    assert_int_equal(v, 2);
}

static void test_restart_keeps_ids_and_configs(void **state) {
    struct env *e = *state;
    char msg[256];
    const char *names[] = {"retention.ms", "message.timestamp.type"};
    const char *values[] = {"5000", "LogAppendTime"};
    assert_int_equal(create(e, "keep", 2, names, values, 2, msg), PROTO_ERR_NONE);
    assert_int_equal(create(e, "plain", 1, NULL, NULL, 0, msg), PROTO_ERR_NONE);
    struct proto_uuid id_keep = broker_topic_find(&e->b, "keep", 4)->id;
    struct proto_uuid id_plain = broker_topic_find(&e->b, "plain", 5)->id;
    assert_memory_not_equal(id_keep.b, id_plain.b, 16);

    env_close(e);
    env_open(e);
    struct broker_topic *t = broker_topic_find(&e->b, "keep", 4);
    assert_non_null(t);
    assert_memory_equal(t->id.b, id_keep.b, 16);
    assert_int_equal(broker_topic_partition_count(t), 2);
    assert_int_equal(t->cfg[TCFG_RETENTION_MS], 5000);
    assert_int_equal(t->cfg[TCFG_MESSAGE_TIMESTAMP_TYPE], BROKER_TS_LOG_APPEND_TIME);
    assert_int_equal(t->n_ov, 2);
    struct broker_topic *p = broker_topic_find(&e->b, "plain", 5);
    assert_non_null(p);
    assert_memory_equal(p->id.b, id_plain.b, 16);
    assert_int_equal(p->n_ov, 0);

    /* alter, grow, delete; all persisted */
    const char *n2[] = {"retention.bytes"};
    const char *v2[] = {"123456"};
    assert_int_equal(broker_topic_set_configs(&e->b, t, n2, v2, 1, false, msg, sizeof(msg)),
                     PROTO_ERR_NONE);
    const char *bad[] = {"retention.bytes"};
    const char *badv[] = {"lots"};
    assert_int_equal(broker_topic_set_configs(&e->b, t, bad, badv, 1, false, msg, sizeof(msg)),
                     PROTO_ERR_INVALID_CONFIG);
    assert_int_equal(t->cfg[TCFG_RETENTION_BYTES], 123456);
    /* Re-submitting the topic's own override strings (what IncrementalAlterConfigs does) must
     * not read them after they are freed (ASan caught this use-after-free once). */
    assert_int_equal(broker_topic_set_configs(&e->b, t, (const char *const *)t->ov_names,
                                              (const char *const *)t->ov_values, t->n_ov, false,
                                              msg, sizeof(msg)),
                     PROTO_ERR_NONE);
    assert_int_equal(t->cfg[TCFG_RETENTION_BYTES], 123456);
    assert_int_equal(broker_topic_add_partitions(&e->b, t, 2, false, msg, sizeof(msg)),
                     PROTO_ERR_INVALID_PARTITIONS);
    assert_int_equal(broker_topic_add_partitions(&e->b, t, 4, false, msg, sizeof(msg)),
                     PROTO_ERR_NONE);
    assert_int_equal(broker_topic_delete(&e->b, p), PROTO_ERR_NONE);
    assert_null(broker_topic_find(&e->b, "plain", 5));
    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "%s/plain-0", e->dir);
    assert_int_not_equal(stat(path, &st), 0);

    env_close(e);
    env_open(e);
    t = broker_topic_find(&e->b, "keep", 4);
    assert_non_null(t);
    assert_memory_equal(t->id.b, id_keep.b, 16);
    assert_int_equal(broker_topic_partition_count(t), 4);
    assert_int_equal(t->cfg[TCFG_RETENTION_BYTES], 123456);
    assert_int_equal(t->cfg[TCFG_RETENTION_MS], e->b.cfg.log_retention_ms);
    assert_null(broker_topic_find(&e->b, "plain", 5));
    /* the partition.metadata format Kafka uses */
    snprintf(path, sizeof(path), "%s/keep-3/partition.metadata", e->dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line1[64], line2[64];
    assert_non_null(fgets(line1, sizeof(line1), f));
    assert_non_null(fgets(line2, sizeof(line2), f));
    fclose(f);
    assert_string_equal(line1, "version: 0\n");
    char b64[23];
    broker_uuid_base64(&id_keep, b64);
    char expect[64];
    snprintf(expect, sizeof(expect), "topic_id: %s\n", b64);
    assert_string_equal(line2, expect);
}

static void test_uuid_base64(void **state) {
    (void)state;
    for (int i = 0; i < 100; i++) {
        struct proto_uuid u, back;
        broker_uuid_random(&u);
        char s[23];
        broker_uuid_base64(&u, s);
        assert_int_equal(strlen(s), 22);
        assert_int_equal(broker_uuid_parse_base64(s, &back), 0);
        assert_memory_equal(u.b, back.b, 16);
    }
    struct proto_uuid u;
    assert_int_not_equal(broker_uuid_parse_base64("short", &u), 0);
    assert_int_not_equal(broker_uuid_parse_base64("AAAAAAAAAAAAAAAAAAAAAA", &u), 0); /* zero */
}

static int woken;
static void on_wake(void *arg) {
    woken++;
    broker_waiter_remove(arg);
}
static int appended;
static int64_t appended_base;
static void on_done(struct broker_append_op *op, int err, int64_t base) {
    assert_int_equal(err, 0);
    appended++;
    appended_base = base;
}

static void test_append_wakes_waiters(void **state) {
    struct env *e = *state;
    char msg[256];
    assert_int_equal(create(e, "wake", 1, NULL, NULL, 0, msg), PROTO_ERR_NONE);
    struct broker_topic *t = broker_topic_find(&e->b, "wake", 4);
    struct broker_partition *p = broker_partition_get(t, 0);
    struct broker_waiter w1 = {0}, w2 = {0};
    w1.fn = on_wake;
    w1.arg = &w1;
    w2.fn = on_wake;
    w2.arg = &w2;
    broker_partition_wait(p, &w1);
    broker_partition_wait(p, &w2);

    struct proto_batch_builder bb;
    proto_batch_builder_init(&bb, 1700000000000LL);
    const char *val = "hello";
    proto_batch_builder_add(&bb, 1700000000000LL, PROTO_BYTES_NULL,
                            (struct proto_bytes){(const uint8_t *)val, 5}, NULL, 0);
    struct proto_writer w;
    proto_writer_init(&w);
    assert_int_equal(proto_batch_builder_finish(&bb, PROTO_COMPRESSION_NONE, &w), 0);
    proto_batch_builder_free(&bb);

    struct broker_append_op op = {.done = on_done};
    int64_t base = -1;
    assert_int_equal(broker_partition_append(p, w.buf, w.len, true, &op, &base), 0);
    assert_int_equal(base, 0);
    for (int i = 0; i < 100 && !appended; i++)
        storage_engine_wait(e->b.storage, 100);
    assert_int_equal(appended, 1);
    assert_int_equal(woken, 2);
    assert_null(p->waiters);
    assert_int_equal(storage_log_high_watermark(p->log), 1);
    proto_writer_free(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_find, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_keeps_ids_and_configs, setup, teardown),
        cmocka_unit_test(test_uuid_base64),
        cmocka_unit_test_setup_teardown(test_append_wakes_waiters, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
