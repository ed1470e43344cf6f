/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_metrics.c - unit tests of broker/metrics.c without a running broker: request latency
 * histograms and error codes from response frames, connection and fsync counters, the
 * exposition's shape, and that every family it writes is in the metric table (docs/metrics.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics_int.h"

struct fixture {
    struct broker b;
};

static int setup(void **state) {
    struct fixture *f = rl_calloc(1, sizeof(*f));
    broker_config_defaults(&f->b.cfg);
    f->b.metrics = metrics__create();
    *state = f;
    return 0;
}

static int teardown(void **state) {
    struct fixture *f = *state;
    metrics__destroy(f->b.metrics);
    broker_config_free(&f->b.cfg);
    rl_free(f);
    return 0;
}

static char *render(struct broker *b) {
    struct metrics_buf mb = {0};
    metrics__render(b, &mb);
    metrics__buf_printf(&mb, "%s", ""); /* NUL-terminated even when empty */
    return mb.p;
}

/* The value of the sample line that starts with prefix ("name{labels} "), or -1. */
static double sample(const char *text, const char *prefix) {
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, prefix, n) == 0) return strtod(p + n, NULL);
        p = strchr(p, '\n');
        if (p) p++;
    }
    return -1;
}

// wrap: rl_mono_ns
/* The clock the metrics read: pinned while complete() records a request, so a request's
 * duration is exactly its age however the test thread is scheduled (it was flaky under load). */
int64_t __real_rl_mono_ns(void);
int64_t __wrap_rl_mono_ns(void);
static int64_t pinned_ns;
int64_t __wrap_rl_mono_ns(void) {
    return pinned_ns ? pinned_ns : __real_rl_mono_ns();
}

/* A completed request whose response frame is [length][correlation id][ThrottleTimeMs if
 * throttle][ErrorCode]. */
static void complete(struct broker *b, int16_t key, int16_t ver, bool throttle, int16_t err,
                     int64_t age_ns) {
    struct broker_request req;
    memset(&req, 0, sizeof(req));
    req.b = b;
    req.hdr.ApiKey = key;
    req.hdr.ApiVersion = ver;
    pinned_ns = __real_rl_mono_ns();
    req.received_ns = pinned_ns - age_ns;
    proto_writer_init(&req.out);
    uint8_t frame[14] = {0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0};
    size_t at = throttle ? 12 : 8;
    frame[3] = (uint8_t)(at + 2 - 4);
    frame[at] = (uint8_t)((uint16_t)err >> 8);
    frame[at + 1] = (uint8_t)err;
    memcpy(proto_writer_reserve(&req.out, at + 2), frame, at + 2);
    req.out.len = at + 2;
    broker_metrics_request_done(&req);
    pinned_ns = 0;
    proto_writer_free(&req.out);
}

static void test_request_latency_and_errors(void **state) {
    struct fixture *f = *state;
    complete(&f->b, 18, 0, false, 0, 3000000); /* ApiVersions, 3 ms, no error */
    complete(&f->b, 18, 0, false, 35, 50000);  /* 50 us, UNSUPPORTED_VERSION */
    char *t = render(&f->b);
    assert_int_equal((int)sample(t, "ringlet_api_requests_total{api=\"ApiVersions\"} "), 2);
    assert_int_equal((int)sample(t,
                                 "ringlet_api_request_duration_seconds_bucket{api=\"ApiVersions\","
                                 "le=\"0.0001\"} "),
                     1);
    assert_int_equal((int)sample(t,
                                 "ringlet_api_request_duration_seconds_bucket{api=\"ApiVersions\","
                                 "le=\"0.0025\"} "),
                     1);
    assert_int_equal((int)sample(t,
                                 "ringlet_api_request_duration_seconds_bucket{api=\"ApiVersions\","
                                 "le=\"0.005\"} "),
                     2);
    assert_int_equal((int)sample(t,
                                 "ringlet_api_request_duration_seconds_bucket{api=\"ApiVersions\","
                                 "le=\"+Inf\"} "),
                     2);
    assert_int_equal(
        (int)sample(t, "ringlet_api_request_duration_seconds_count{api=\"ApiVersions\"} "), 2);
    double sum = sample(t, "ringlet_api_request_duration_seconds_sum{api=\"ApiVersions\"} ");
    assert_true(sum >= 0.00305 && sum < 1.0);
    assert_int_equal((int)sample(t, "ringlet_api_errors_total{api=\"ApiVersions\","
                                    "code=\"UNSUPPORTED_VERSION\"} "),
                     1);
    free(t);
}

static void test_connections_and_fsync(void **state) {
    struct fixture *f = *state;
    for (int i = 0; i < 5; i++)
        broker_metrics_conn_accepted(&f->b);
    broker_metrics_conn_closed(&f->b);
    broker_metrics_conn_closed(&f->b);
    broker_metrics_conn_rejected(&f->b);
    broker_metrics_bytes_received(&f->b, 1000);
    broker_metrics_bytes_sent(&f->b, 250);
    broker_metrics_fsync_observe(f->b.metrics, 2000000);       /* 2 ms */
    broker_metrics_fsync_observe(f->b.metrics, 20000000000LL); /* 20 s: +Inf only */
    char *t = render(&f->b);
    assert_int_equal((int)sample(t, "ringlet_connections_open "), 3);
    assert_int_equal((int)sample(t, "ringlet_connections_accepted_total "), 5);
    assert_int_equal((int)sample(t, "ringlet_connections_closed_total "), 2);
    assert_int_equal((int)sample(t, "ringlet_connections_rejected_total "), 1);
    assert_int_equal((int)sample(t, "ringlet_network_received_bytes_total "), 1000);
    assert_int_equal((int)sample(t, "ringlet_network_sent_bytes_total "), 250);
    assert_int_equal((int)sample(t, "ringlet_storage_fsync_duration_seconds_bucket{le=\"0.001\"} "),
                     0);
    assert_int_equal(
        (int)sample(t, "ringlet_storage_fsync_duration_seconds_bucket{le=\"0.0025\"} "), 1);
    assert_int_equal((int)sample(t, "ringlet_storage_fsync_duration_seconds_bucket{le=\"10\"} "),
                     1);
    assert_int_equal((int)sample(t, "ringlet_storage_fsync_duration_seconds_bucket{le=\"+Inf\"} "),
                     2);
    assert_int_equal((int)sample(t, "ringlet_ready "), 0); /* no tick has seen b->ready yet */
    assert_true(sample(t, "ringlet_process_resident_memory_bytes ") > 0);
    assert_true(sample(t, "ringlet_process_open_fds ") > 0);
    free(t);
}

/* Every family in the exposition has HELP and TYPE lines and is listed by --help-metrics. */
static void test_exposition_matches_table(void **state) {
    struct fixture *f = *state;
    complete(&f->b, 12, 1, true, 25, 1000); /* Heartbeat v1: ThrottleTimeMs, then ErrorCode */
    char *t = render(&f->b);
    assert_int_equal(
        (int)sample(t, "ringlet_api_errors_total{api=\"Heartbeat\",code=\"UNKNOWN_MEMBER_ID\"} "),
        1);
    char *help = NULL;
    size_t help_len = 0;
    FILE *mf = open_memstream(&help, &help_len);
    broker_metrics_print_help(mf, true);
    fclose(mf);
    int families = 0;
    for (char *p = t; (p = strstr(p, "# TYPE ")); p++) {
        char name[128];
        assert_int_equal(sscanf(p, "# TYPE %127s", name), 1);
        char quoted[140];
        snprintf(quoted, sizeof(quoted), "| `%s` |", name);
        if (!strstr(help, quoted)) fail_msg("%s is not in the metric table", name);
        char helpline[140];
        snprintf(helpline, sizeof(helpline), "# HELP %s ", name);
        assert_non_null(strstr(t, helpline));
        families++;
    }
    assert_true(families >= 15); /* the disk series need log.dir to exist */
    /* no sample line without a family header before it */
    assert_null(strstr(t, "\n\n"));
    free(help);
    free(t);
}

static void test_hooks_without_metrics(void **state) {
    (void)state;
    struct broker b;
    memset(&b, 0, sizeof(b));
    broker_metrics_conn_accepted(&b);
    broker_metrics_bytes_sent(&b, 10);
    broker_metrics_fsync_observe(NULL, 5);
    broker_metrics_tick(&b, 0);
    uint8_t batch[80] = {0};
    broker_metrics_produced(&b, "t", batch, sizeof(batch));
    assert_null(b.metrics);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_latency_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connections_and_fsync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exposition_matches_table, setup, teardown),
        cmocka_unit_test(test_hooks_without_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
