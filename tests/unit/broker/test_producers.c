/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_producers.c - idempotent producer state (broker/producers.c): duplicates of the last 5
 * batches, sequence gaps, stale and new epochs, sequence wrap, forgetting a failed append,
 * rebuilding the state from a real log after a restart, and producer ids that never repeat.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "topics.h"

static int16_t check(struct broker_pstate *s, int64_t pid, int16_t epoch, int32_t first,
                     int32_t last, bool *dup, int64_t *off) {
    return broker_pstate_check(s, pid, epoch, first, last, dup, off);
}

static void test_sequence_rules(void **state) {
    (void)state;
    struct broker_pstate *s = broker_pstate_new();
    bool dup;
    int64_t off;
    /* unknown producer: any sequence is accepted (no state left for it) */
    assert_int_equal(check(s, 7, 0, 42, 45, &dup, &off), PROTO_ERR_NONE);
    assert_false(dup);
    assert_int_equal(check(s, 7, 0, 0, 9, &dup, &off), PROTO_ERR_NONE);
    broker_pstate_record(s, 7, 0, 0, 9, 100, 1);
    /* in order */
    assert_int_equal(check(s, 7, 0, 10, 19, &dup, &off), PROTO_ERR_NONE);
    assert_false(dup);
    broker_pstate_record(s, 7, 0, 10, 19, 110, 1);
    /* duplicate of a cached batch: success with its original offset */
    assert_int_equal(check(s, 7, 0, 0, 9, &dup, &off), PROTO_ERR_NONE);
    assert_true(dup);
    assert_int_equal(off, 100);
    assert_int_equal(check(s, 7, 0, 10, 19, &dup, &off), PROTO_ERR_NONE);
    assert_true(dup);
    assert_int_equal(off, 110);
    /* gap */
    assert_int_equal(check(s, 7, 0, 21, 25, &dup, &off), PROTO_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    /* overlapping but not equal to a cached batch */
    assert_int_equal(check(s, 7, 0, 5, 12, &dup, &off), PROTO_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    /* new epoch must start at 0 */
    assert_int_equal(check(s, 7, 1, 20, 25, &dup, &off), PROTO_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_int_equal(check(s, 7, 1, 0, 0, &dup, &off), PROTO_ERR_NONE);
    broker_pstate_record(s, 7, 1, 0, 0, 200, 2);
    /* stale epoch is fenced */
    assert_int_equal(check(s, 7, 0, 20, 20, &dup, &off), PROTO_ERR_INVALID_PRODUCER_EPOCH);
    /* the old epoch's batches are no longer duplicates */
    assert_int_equal(check(s, 7, 1, 0, 9, &dup, &off), PROTO_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    /* other producers are independent */
    assert_int_equal(check(s, 8, 3, 0, 0, &dup, &off), PROTO_ERR_NONE);
    assert_int_equal(broker_pstate_count(s), 1);
    broker_pstate_free(s);
}

static void test_only_last_five_cached(void **state) {
    (void)state;
    struct broker_pstate *s = broker_pstate_new();
    bool dup;
    int64_t off;
    for (int i = 0; i < 7; i++)
        broker_pstate_record(s, 1, 0, i * 10, i * 10 + 9, i * 100, 1);
    /* batches 2..6 are cached */
    for (int i = 2; i < 7; i++) {
        assert_int_equal(check(s, 1, 0, i * 10, i * 10 + 9, &dup, &off), PROTO_ERR_NONE);
        assert_true(dup);
        assert_int_equal(off, i * 100);
    }
    /* batch 1 fell out: no longer recognised, and it is out of order */
    assert_int_equal(check(s, 1, 0, 10, 19, &dup, &off), PROTO_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_false(dup);
    assert_int_equal(check(s, 1, 0, 70, 70, &dup, &off), PROTO_ERR_NONE);
    broker_pstate_free(s);
}

static void test_wrap_forget_expire(void **state) {
    (void)state;
    assert_int_equal(broker_seq_add(INT32_MAX, 1), 0);
    assert_int_equal(broker_seq_add(INT32_MAX - 1, 3), 1);
    struct broker_pstate *s = broker_pstate_new();
    bool dup;
    int64_t off;
    broker_pstate_record(s, 5, 0, INT32_MAX - 4, INT32_MAX, 10, 1000);
    assert_int_equal(check(s, 5, 0, 0, 4, &dup, &off), PROTO_ERR_NONE);
    broker_pstate_record(s, 5, 0, 0, 4, 15, 1000);
    /* a failed append is forgotten, so the retry is appended again, not a duplicate */
    broker_pstate_forget(s, 5, 0, 0);
    assert_int_equal(check(s, 5, 0, 0, 4, &dup, &off), PROTO_ERR_NONE);
    assert_false(dup);
    broker_pstate_record(s, 9, 0, 0, 0, 20, 5000);
    assert_int_equal(broker_pstate_count(s), 2);
    broker_pstate_expire(s, 2000);
    assert_int_equal(broker_pstate_count(s), 1);
    assert_int_equal(check(s, 9, 0, 0, 0, &dup, &off), PROTO_ERR_NONE);
    assert_true(dup);
    broker_pstate_free(s);
}

/* ---- with a real log -------------------------------------------------------------------- */

static int appended;
static void on_done(struct broker_append_op *op, int err, int64_t base) {
    assert_int_equal(err, 0);
    appended++;
}

static void append_idem(struct broker *b, struct broker_partition *p, int64_t pid, int16_t epoch,
                        int32_t seq, int n) {
    struct proto_batch_builder bb;
    proto_batch_builder_init(&bb, 1700000000000LL);
    bb.producer_id = pid;
    bb.producer_epoch = epoch;
    bb.base_sequence = seq;
    for (int i = 0; i < n; i++)
        proto_batch_builder_add(&bb, 1700000000000LL + i, PROTO_BYTES_NULL,
                                (struct proto_bytes){(const uint8_t *)"v", 1}, NULL, 0);
    struct proto_writer w;
    proto_writer_init(&w);
    assert_int_equal(proto_batch_builder_finish(&bb, PROTO_COMPRESSION_NONE, &w), 0);
    proto_batch_builder_free(&bb);
    struct broker_append_op op = {.done = on_done};
    int64_t base;
    int before = appended;
    assert_int_equal(broker_partition_append(p, w.buf, w.len, false, &op, &base), 0);
    broker_pstate_record(p->pstate, pid, epoch, seq, seq + n - 1, base, rl_now_ms());
    for (int i = 0; i < 100 && appended == before; i++)
        storage_engine_wait(b->storage, 100);
    assert_int_equal(appended, before + 1);
    proto_writer_free(&w);
}

static void open_broker(struct broker *b) {
    struct storage_engine_config sc = {0};
    sc.data_dir = b->cfg.log_dir;
    sc.use_posix_io = true;
    assert_int_equal(storage_engine_open(&sc, &b->storage), 0);
    assert_int_equal(broker_topics_init(b), 0);
}

static void close_broker(struct broker *b) {
    broker_topics_shutdown(b);
    storage_engine_close(b->storage);
    b->storage = NULL;
}

static void test_rebuild_and_ids(void **state) {
    (void)state;
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/ringlet-producers-XXXXXX");
    assert_non_null(mkdtemp(dir));
    struct broker b;
    memset(&b, 0, sizeof(b));
    broker_config_defaults(&b.cfg);
    rl_free(b.cfg.log_dir);
    b.cfg.log_dir = rl_strdup(dir);
    open_broker(&b);

    int64_t id1 = broker_producers_next_id(&b);
    int64_t id2 = broker_producers_next_id(&b);
    assert_true(id2 > id1);
    char msg[256];
    struct broker_topic *t = NULL;
    assert_int_equal(broker_topic_create(&b, "idem", 1, NULL, NULL, 0, false, &t, msg, 256), 0);
    struct broker_partition *p = broker_partition_get(t, 0);
    append_idem(&b, p, id2, 0, 0, 3);
    append_idem(&b, p, id2, 0, 3, 2);
    close_broker(&b);

    open_broker(&b);
    t = broker_topic_find(&b, "idem", 4);
    p = broker_partition_get(t, 0);
    bool dup;
    int64_t off;
    /* the retry of the last batch is still recognised after a restart */
    assert_int_equal(check(p->pstate, id2, 0, 3, 4, &dup, &off), PROTO_ERR_NONE);
    assert_true(dup);
    assert_int_equal(off, 3);
    assert_int_equal(check(p->pstate, id2, 0, 6, 6, &dup, &off),
                     PROTO_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_int_equal(check(p->pstate, id2, 0, 5, 5, &dup, &off), PROTO_ERR_NONE);
    assert_false(dup);
    /* producer ids continue past everything handed out before */
    int64_t id3 = broker_producers_next_id(&b);
    assert_true(id3 > id2);
    /* the snapshot is used once */
    char snap[160];
    snprintf(snap, sizeof(snap), "%s/idem-0/producer-state.snapshot", dir);
    assert_int_not_equal(access(snap, F_OK), 0);
    append_idem(&b, p, id2, 0, 5, 1);
    close_broker(&b);
    assert_int_equal(access(snap, F_OK), 0);

    /* without the snapshot (as after a crash) the state comes from scanning the log */
    assert_int_equal(unlink(snap), 0);
    open_broker(&b);
    p = broker_partition_get(broker_topic_find(&b, "idem", 4), 0);
    assert_int_equal(check(p->pstate, id2, 0, 5, 5, &dup, &off), PROTO_ERR_NONE);
    assert_true(dup);
    assert_int_equal(off, 5);
    assert_int_equal(check(p->pstate, id2, 0, 0, 2, &dup, &off), PROTO_ERR_NONE);
    assert_true(dup);
    assert_int_equal(off, 0);
    assert_true(broker_producers_next_id(&b) > id3);
    close_broker(&b);
    broker_config_free(&b.cfg);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequence_rules),
        cmocka_unit_test(test_only_last_five_cached),
        cmocka_unit_test(test_wrap_forget_expire),
        cmocka_unit_test(test_rebuild_and_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
