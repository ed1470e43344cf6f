/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cli_metrics.c - unit tests for `ringlet cluster metrics`: the Prometheus text parser
 * (comments, labels with escapes, +Inf/NaN, timestamps, CRLF, errors with line numbers), the
 * histogram quantile estimate, and the whole command against a one-shot fake HTTP server
 * (chunked body, Content-Length body, non-200 answer, nothing listening).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "cli.h"
#include "ringlet/common.h"

static struct cli_prom_set parse_ok(const char *text) {
    struct cli_prom_set set;
    char err[256] = "";
    int rc = cli_prom_parse(text, strlen(text), &set, err, sizeof(err));
    if (rc != 0) fprintf(stderr, "parse error: %s\n", err);
    assert_int_equal(rc, 0);
    return set;
}

static void test_parse_basic(void **state) {
    (void)state;
    const char *text = "# HELP ringlet_up Up.\n"
                       "# TYPE ringlet_up gauge\n"
                       "ringlet_up 1\n"
                       "\n"
                       "   # indented comment\n"
                       "ringlet_x{topic=\"a\",partition=\"3\"} 42 1700000000000\r\n"
                       "ringlet_y{ a = \"sp\" , } -1.5e3\n"
                       "ringlet_nan NaN\n"
                       "ringlet_pinf +Inf\n"
                       "ringlet_minf -Inf\n"
                       "ringlet_empty{} 7";
    struct cli_prom_set set = parse_ok(text);
    assert_int_equal(set.n, 7);
    assert_string_equal(set.s[0].name, "ringlet_up");
    assert_int_equal(set.s[0].nlabels, 0);
    assert_true(set.s[0].value == 1.0);
    assert_string_equal(set.s[1].name, "ringlet_x");
    assert_int_equal(set.s[1].nlabels, 2);
    assert_string_equal(cli_prom_label(&set.s[1], "topic"), "a");
    assert_string_equal(cli_prom_label(&set.s[1], "partition"), "3");
    assert_null(cli_prom_label(&set.s[1], "group"));
    assert_true(set.s[1].value == 42.0);
    assert_string_equal(cli_prom_label(&set.s[2], "a"), "sp");
    assert_true(set.s[2].value == -1500.0);
    assert_true(isnan(set.s[3].value));
    assert_true(isinf(set.s[4].value) && set.s[4].value > 0);
    assert_true(isinf(set.s[5].value) && set.s[5].value < 0);
    assert_int_equal(set.s[6].nlabels, 0);
    assert_true(set.s[6].value == 7.0);
    cli_prom_set_free(&set);
    assert_null(set.s);
}

static void test_parse_escapes(void **state) {
    (void)state;
    const char *text = "m{q=\"say \\\"hi\\\"\",b=\"back\\\\slash\",n=\"two\\nlines\","
                       "c=\"a,b}c=d\"} 3\n";
    struct cli_prom_set set = parse_ok(text);
    assert_int_equal(set.n, 1);
    assert_int_equal(set.s[0].nlabels, 4);
    assert_string_equal(cli_prom_label(&set.s[0], "q"), "say \"hi\"");
    assert_string_equal(cli_prom_label(&set.s[0], "b"), "back\\slash");
    assert_string_equal(cli_prom_label(&set.s[0], "n"), "two\nlines");
    assert_string_equal(cli_prom_label(&set.s[0], "c"), "a,b}c=d");
    assert_true(set.s[0].value == 3.0);
    cli_prom_set_free(&set);
}

static void test_parse_errors(void **state) {
    (void)state;
    static const char *const bad[] = {
        "ok 1\n9bad 1\n", "m{a=\"x} 1\n", "m{a=x} 1\n", "m{a=\"x\" b=\"y\"} 1\n",
        "m{=\"x\"} 1\n",  "m\n",          "m one\n",    "m 1 2 3\n",
        "m{a=\"x\"}\n",   "m 1 12ab\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cli_prom_set set = {0};
        char err[256] = "";
        int rc = cli_prom_parse(bad[i], strlen(bad[i]), &set, err, sizeof(err));
        if (rc != -EINVAL) fprintf(stderr, "accepted: %s", bad[i]);
        assert_int_equal(rc, -EINVAL);
        assert_true(strncmp(err, "line ", 5) == 0);
    }
    char err[256];
    struct cli_prom_set set;
    assert_int_equal(cli_prom_parse("a 1\nb 2\nc{\n", 11, &set, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "line 3"));
    /* empty input and comments only: no samples, no error */
    assert_int_equal(cli_prom_parse("", 0, &set, err, sizeof(err)), 0);
    assert_int_equal(set.n, 0);
    cli_prom_set_free(&set);
    assert_int_equal(cli_prom_parse("# x\n#\n", 6, &set, err, sizeof(err)), 0);
    assert_int_equal(set.n, 0);
    cli_prom_set_free(&set);
}

static void test_quantile(void **state) {
    (void)state;
    const double inf = INFINITY;
    /* 10 observations <= 1, 10 more in (1, 2], none above */
    double le[] = {1, 2, 4, inf};
    double cum[] = {10, 20, 20, 20};
    assert_true(fabs(cli_prom_quantile(0.5, le, cum, 4) - 1.0) < 1e-12);
    assert_true(fabs(cli_prom_quantile(0.25, le, cum, 4) - 0.5) < 1e-12);
    assert_true(fabs(cli_prom_quantile(0.75, le, cum, 4) - 1.5) < 1e-12);
    assert_true(fabs(cli_prom_quantile(0.99, le, cum, 4) - 1.98) < 1e-12);
    assert_true(fabs(cli_prom_quantile(1.0, le, cum, 4) - 2.0) < 1e-12);
    assert_true(cli_prom_quantile(0.0, le, cum, 4) == 0.0);
    /* rank in the +Inf bucket: the largest finite bound */
    double cum2[] = {1, 1, 1, 10};
    assert_true(cli_prom_quantile(0.5, le, cum2, 4) == 4.0);
    /* no observations, no +Inf bucket, bad q: NaN */
    double zero[] = {0, 0, 0, 0};
    assert_true(isnan(cli_prom_quantile(0.5, le, zero, 4)));
    double le3[] = {1, 2, 4};
    assert_true(isnan(cli_prom_quantile(0.5, le3, cum, 3)));
    assert_true(isnan(cli_prom_quantile(1.5, le, cum, 4)));
    assert_true(isnan(cli_prom_quantile(0.5, le, cum, 0)));
    /* ringletd's shape: 100 us .. 10 s; 100 fast requests and one slow one */
    double rl_le[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                      0.1,    0.25,    0.5,    1,     2.5,    5,     10,   inf};
    double rl_cum[17];
    for (int i = 0; i < 17; i++)
        rl_cum[i] = i < 13 ? 100 : 101; /* slow one in (1, 2.5] */
    double p50 = cli_prom_quantile(0.5, rl_le, rl_cum, 17);
    assert_true(fabs(p50 - 0.0001 * 50.5 / 100) < 1e-15); /* rank 50.5 of 101 */
    double p999 = cli_prom_quantile(0.999, rl_le, rl_cum, 17);
    assert_true(p999 > 1 && p999 <= 2.5);
}

/* ---- the command against a fake admin listener ---------------------------------------------- */

struct fake_http {
    int lfd;
    int port;
    const char *response;
    pthread_t thr;
};

static void *fake_http_main(void *arg) {
    struct fake_http *h = arg;
    int fd = accept(h->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    char req[4096];
    size_t got = 0;
    while (got < sizeof(req) - 1) { /* read the request head */
        ssize_t r = recv(fd, req + got, sizeof(req) - 1 - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n")) break;
    }
    size_t len = strlen(h->response), off = 0;
    while (off < len) { /* in small pieces, to exercise reassembly */
        size_t n = len - off < 37 ? len - off : 37;
        ssize_t w = send(fd, h->response + off, n, MSG_NOSIGNAL);
        if (w <= 0) break;
        off += (size_t)w;
    }
    close(fd);
    return NULL;
}

static void fake_http_start(struct fake_http *h, const char *response) {
    h->response = response;
    h->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(h->lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(h->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(h->lfd, 4), 0);
    socklen_t sl = sizeof(a);
    assert_int_equal(getsockname(h->lfd, (struct sockaddr *)&a, &sl), 0);
    h->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&h->thr, NULL, fake_http_main, h), 0);
}

static void fake_http_stop(struct fake_http *h) {
    pthread_join(h->thr, NULL);
    close(h->lfd);
}

/* Runs `ringlet cluster metrics --admin 127.0.0.1:port extra...`; returns the exit code and
 * the output (heap). */
static int run_cli(int port, const char *extra1, const char *extra2, char **out, char **err) {
    char admin[64];
    snprintf(admin, sizeof(admin), "127.0.0.1:%d", port);
    char *argv[8];
    int argc = 0;
    argv[argc++] = "ringlet";
    argv[argc++] = "cluster";
    argv[argc++] = "metrics";
    argv[argc++] = "--admin";
    argv[argc++] = admin;
    if (extra1) argv[argc++] = (char *)extra1;
    if (extra2) argv[argc++] = (char *)extra2;
    argv[argc] = NULL;
    size_t ol, el;
    FILE *fo = open_memstream(out, &ol), *fe = open_memstream(err, &el);
    int rc = cli_main(argc, argv, fo, fe);
    fclose(fo);
    fclose(fe);
    return rc;
}

#define EXPOSITION                                                                                 \
    "# TYPE ringlet_uptime_seconds gauge\n"                                                        \
    "ringlet_uptime_seconds 3725.5\n"                                                              \
    "ringlet_process_resident_memory_bytes 10485760\n"                                             \
    "ringlet_connections_open 3\n"                                                                 \
    "ringlet_storage_partitions_offline 1\n"                                                       \
    "ringlet_storage_disk_free_bytes 2000\n"                                                       \
    "ringlet_storage_disk_total_bytes 8000\n"                                                      \
    "ringlet_storage_disk_alert_level 1\n"                                                         \
    "ringlet_build_info{version=\"9.9\",commit=\"abc\"} 1\n"                                       \
    "ringlet_topic_records_in_total{topic=\"t\\\"q\"} 120\n"                                       \
    "ringlet_topic_records_out_total{topic=\"t\\\"q\"} 80\n"                                       \
    "ringlet_api_request_duration_seconds_bucket{api=\"Produce\",le=\"+Inf\"} 20\n"                \
    "ringlet_api_request_duration_seconds_bucket{api=\"Produce\",le=\"1\"} 10\n"                   \
    "ringlet_api_request_duration_seconds_bucket{api=\"Produce\",le=\"2\"} 20\n"                   \
    "ringlet_api_request_duration_seconds_count{api=\"Produce\"} 20\n"                             \
    "ringlet_api_request_duration_seconds_bucket{api=\"Fetch\",le=\"+Inf\"} 0\n"                   \
    "ringlet_api_request_duration_seconds_count{api=\"Fetch\"} 0\n"                                \
    "ringlet_group_state{group=\"g\",state=\"Empty\"} 0\n"                                         \
    "ringlet_group_state{group=\"g\",state=\"Stable\"} 1\n"                                        \
    "ringlet_group_members{group=\"g\"} 2\n"                                                       \
    "ringlet_group_total_lag_records{group=\"g\"} 17\n"                                            \
    "ringlet_group_max_lag_seconds{group=\"g\"} 4.5\n"

static void test_cmd_json_chunked(void **state) {
    (void)state;
    static char resp[8192];
    const char *body = EXPOSITION;
    size_t bl = strlen(body), half = bl / 2;
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
             "%zx\r\n%.*s\r\n%zx;ext=1\r\n%s\r\n0\r\n\r\n",
             half, (int)half, body, bl - half, body + half);
    struct fake_http h;
    fake_http_start(&h, resp);
    char *out = NULL, *err = NULL;
    int rc = run_cli(h.port, "--format", "json", &out, &err);
    fake_http_stop(&h);
    if (rc) fprintf(stderr, "%s", err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"uptime_seconds\":3725.5"));
    assert_non_null(strstr(out, "\"resident_memory_bytes\":10485760"));
    assert_non_null(strstr(out, "\"connections_open\":3"));
    assert_non_null(strstr(out, "\"partitions_offline\":1"));
    assert_non_null(strstr(out, "\"free_bytes\":2000,\"total_bytes\":8000,\"alert_level\":1,"
                                "\"alert\":\"low\""));
    assert_non_null(strstr(out, "{\"topic\":\"t\\\"q\",\"records_in\":120,\"records_out\":80,"
                                "\"records_in_per_second\":null"));
    assert_non_null(strstr(out, "{\"api\":\"Produce\",\"requests\":20,\"p50_seconds\":1,"
                                "\"p99_seconds\":1.98}"));
    assert_null(strstr(out, "\"Fetch\"")); /* no requests: left out */
    assert_non_null(strstr(out, "{\"group\":\"g\",\"state\":\"Stable\",\"members\":2,"
                                "\"total_lag_records\":17,\"max_lag_seconds\":4.5}"));
    free(out);
    free(err);
}

static void test_cmd_table_content_length(void **state) {
    (void)state;
    static char resp[8192];
    snprintf(resp, sizeof(resp), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(EXPOSITION), EXPOSITION);
    struct fake_http h;
    fake_http_start(&h, resp);
    char *out = NULL, *err = NULL;
    int rc = run_cli(h.port, NULL, NULL, &out, &err);
    fake_http_stop(&h);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "Uptime:              1h 2m 5s"));
    assert_non_null(strstr(out, "Resident memory:     10.0 MiB"));
    assert_non_null(strstr(out, "alert level 1 (low)"));
    assert_non_null(strstr(out, "Stable"));
    assert_non_null(strstr(out, "1000.000")); /* Produce p50 in ms */
    free(out);
    free(err);
}

static void test_cmd_errors(void **state) {
    (void)state;
    struct fake_http h;
    fake_http_start(&h, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    char *out = NULL, *err = NULL;
    assert_int_equal(run_cli(h.port, NULL, NULL, &out, &err), 1);
    fake_http_stop(&h);
    assert_non_null(strstr(err, "503"));
    free(out);
    free(err);

    fake_http_start(&h, "HTTP/1.1 200 OK\r\n\r\nnot { prometheus\n");
    assert_int_equal(run_cli(h.port, NULL, NULL, &out, &err), 1);
    fake_http_stop(&h);
    assert_non_null(strstr(err, "not valid Prometheus text"));
    free(out);
    free(err);

    /* a port nobody listens on: bind one, close it */
    fake_http_start(&h, "");
    int port = h.port;
    int c = socket(AF_INET, SOCK_STREAM, 0); /* unblock the accept */
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    close(c);
    fake_http_stop(&h);
    assert_int_equal(run_cli(port, NULL, NULL, &out, &err), 1);
    assert_non_null(strstr(err, "cannot connect"));
    free(out);
    free(err);

    assert_int_equal(run_cli(port, "--interval", "0", &out, &err), 2);
    free(out);
    free(err);
    assert_int_equal(run_cli(port, "extra-operand", NULL, &out, &err), 2);
    free(out);
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_basic),      cmocka_unit_test(test_parse_escapes),
        cmocka_unit_test(test_parse_errors),     cmocka_unit_test(test_quantile),
        cmocka_unit_test(test_cmd_json_chunked), cmocka_unit_test(test_cmd_table_content_length),
        cmocka_unit_test(test_cmd_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
