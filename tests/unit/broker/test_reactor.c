/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_reactor.c - broker/reactor.c, dispatch.c and api_apiversions.c: the timer heap, and a
 * real reactor on a free 127.0.0.1 port (in a thread) driven over TCP: ApiVersions v0/v3,
 * KIP-511 validation, the error-35 path, pipelining, in-order responses when requests complete
 * out of order, malformed requests, oversize and negative frame lengths, a disconnect with a
 * request pending, the connection cap and the idle timeout; the blocking-work thread.
 *
 * Two test-only API handlers are slipped in front of the table with the linker's
 * --wrap=broker_api_handler (see CMakeLists.txt): one completes 150 ms later from a timer, one
 * reports a malformed body.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "reactor_int.h"

// wrap: broker_api_handler

/* ---- test handlers ----------------------------------------------------------------------------
 */
#define DELAY_KEY 12 /* Heartbeat: known to the codec; its handler is replaced here */
#define BAD_KEY   13 /* LeaveGroup */
#define BIG_KEY   14 /* SyncGroup: answered with BIG_LEN bytes of pattern */
#define BIG_LEN   (3 << 20)

broker_handler_fn __real_broker_api_handler(int16_t api_key);

static atomic_int delayed_completed; /* written by the reactor thread */

static void delayed_fire(struct broker_timer *t) {
    struct broker_request *req = t->arg;
    struct proto_writer *w = broker_response_begin(req);
    proto_write_i16(w, 0);
    proto_write_i32(w, 0x5eed);
    broker_response_end(req);
    delayed_completed++;
    free(t);
}

static int delayed_handler(struct broker_request *req) {
    struct broker_timer *t = malloc(sizeof(*t));
    broker_timer_init(t, delayed_fire, req);
    broker_timer_arm(req->b, t, rl_mono_ms() + 150);
    return 0;
}

static int bad_handler(struct broker_request *req) {
    (void)req;
    return -EBADMSG;
}

static int big_handler(struct broker_request *req) {
    struct proto_writer *w = broker_response_begin(req);
    uint8_t *p = proto_writer_reserve(w, BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        p[i] = (uint8_t)(i % 251);
    w->len += BIG_LEN;
    broker_response_end(req);
    return 0;
}

broker_handler_fn __wrap_broker_api_handler(int16_t api_key);
broker_handler_fn __wrap_broker_api_handler(int16_t api_key) {
    if (api_key == DELAY_KEY) return delayed_handler;
    if (api_key == BAD_KEY) return bad_handler;
    if (api_key == BIG_KEY) return big_handler;
    return __real_broker_api_handler(api_key);
}

/* ---- timer heap -------------------------------------------------------------------------------
 */

static void nop_fn(struct broker_timer *t) {
    (void)t;
}

static void test_timer_heap(void **state) {
    (void)state;
    enum { N = 500 };
    static struct broker_timer t[N];
    struct broker_timer_heap h;
    broker__heap_init(&h);
    srand(42);
    for (int i = 0; i < N; i++) {
        broker_timer_init(&t[i], nop_fn, NULL);
        assert_false(broker_timer_armed(&t[i]));
        broker__heap_set(&h, &t[i], rand() % 1000);
    }
    /* re-arm some (earlier and later), cancel some */
    for (int i = 0; i < N; i += 7)
        broker__heap_set(&h, &t[i], rand() % 2000 - 500);
    for (int i = 3; i < N; i += 5)
        broker__heap_remove(&h, &t[i]);
    broker__heap_remove(&h, &t[3]); /* removing twice is harmless */
    int expected = 0;
    for (int i = 0; i < N; i++)
        expected += broker_timer_armed(&t[i]);
    assert_int_equal(expected, h.n);
    int64_t last = INT64_MIN;
    int popped = 0;
    struct broker_timer *top;
    while ((top = broker__heap_top(&h))) {
        assert_true(top->deadline_ms >= last);
        last = top->deadline_ms;
        broker__heap_remove(&h, top);
        assert_false(broker_timer_armed(top));
        popped++;
    }
    assert_int_equal(popped, expected);
    broker__heap_free(&h);
}

/* ---- a broker on a thread ---------------------------------------------------------------------
 */

struct tb {
    struct broker b;
    pthread_t thread;
    int port;
    int run_rc;
};

static void *run_thread(void *arg) {
    struct tb *tb = arg;
    tb->run_rc = broker_reactor_run(&tb->b, 2000);
    return NULL;
}

static struct tb *tb_start(const char *const *sets) {
    struct tb *tb = calloc(1, sizeof(*tb));
    char err[256];
    broker_config_defaults(&tb->b.cfg);
    assert_int_equal(broker_config_set(&tb->b.cfg, "listeners=127.0.0.1:0", err, sizeof(err)), 0);
    assert_int_equal(
        broker_config_set(&tb->b.cfg, "socket.request.max.bytes=1048576", err, sizeof(err)), 0);
    for (; sets && *sets; sets++)
        assert_int_equal(broker_config_set(&tb->b.cfg, *sets, err, sizeof(err)), 0);
    int rc = broker_reactor_create(&tb->b, false);
    if (rc == -EPERM || rc == -ENOSYS) {
        fprintf(stderr, "io_uring not available here (%s): skipping\n", rl_strerror(rc));
        exit(77);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(broker_reactor_listen(&tb->b), 0);
    tb->port = broker_reactor_port(&tb->b, 0);
    assert_true(tb->port > 0);
    const char *host;
    int32_t port;
    broker_advertised_listener(&tb->b, &host, &port);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, tb->port);
    tb->b.ready = true;
    assert_int_equal(pthread_create(&tb->thread, NULL, run_thread, tb), 0);
    return tb;
}

static void tb_stop(struct tb *tb) {
    broker_reactor_stop(&tb->b);
    assert_int_equal(pthread_join(tb->thread, NULL), 0);
    assert_int_equal(tb->run_rc, 0);
    assert_true(tb->b.stopping);
    broker_reactor_destroy(&tb->b);
    broker_config_free(&tb->b.cfg);
    free(tb);
}

static int tb_connect(struct tb *tb) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)tb->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void send_all(int fd, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        assert_true(k > 0);
        b += k;
        n -= (size_t)k;
    }
}

/* Reads exactly n bytes; returns 0, or -1 on EOF/error (connection closed). */
static int recv_all(int fd, void *p, size_t n) {
    uint8_t *b = p;
    while (n) {
        ssize_t k = recv(fd, b, n, 0);
        if (k <= 0) {
            if (k < 0 && errno == EINTR) continue; /* io_uring task work may interrupt us */
            return -1;
        }
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* True once the peer has closed the connection (EOF or reset), within the receive timeout. */
static bool closed_by_peer(int fd) {
    char c;
    ssize_t k;
    do {
        k = recv(fd, &c, 1, 0);
    } while (k > 0 || (k < 0 && errno == EINTR));
    return k == 0 || errno == ECONNRESET;
}

/* Appends one framed request: header + ApiVersions body at version v. */
static void add_apiversions(struct proto_writer *w, int16_t v, int32_t corr, const char *name,
                            const char *ver) {
    size_t start = proto_frame_begin(w);
    struct proto_request_header h = {18, v, corr, proto_str_c("test-client")};
    proto_request_header_encode(w, &h);
    if (v <= 4) {
        struct ApiVersionsRequest rq;
        proto_ApiVersionsRequest_init(&rq);
        rq.ClientSoftwareName = proto_str_c(name);
        rq.ClientSoftwareVersion = proto_str_c(ver);
        assert_int_equal(proto_ApiVersionsRequest_encode(w, v, &rq), 0);
    } else {
        proto_write_raw(w, "\x01\x02\x03", 3); /* a body this build cannot know */
    }
    proto_frame_end(w, start);
}

static void add_raw_request(struct proto_writer *w, int16_t key, int16_t v, int32_t corr) {
    size_t start = proto_frame_begin(w);
    struct proto_request_header h = {key, v, corr, proto_str_c("test-client")};
    proto_request_header_encode(w, &h);
    proto_frame_end(w, start);
}

/* Reads one response frame; returns its body reader (after the v0 header) in buf. */
static uint8_t *read_response(int fd, int32_t *corr, struct proto_reader *r) {
    uint8_t lenb[4];
    assert_int_equal(recv_all(fd, lenb, 4), 0);
    uint32_t len =
        (uint32_t)lenb[0] << 24 | (uint32_t)lenb[1] << 16 | (uint32_t)lenb[2] << 8 | lenb[3];
    assert_true(len >= 4 && len < 16 << 20);
    uint8_t *buf = malloc(len);
    assert_int_equal(recv_all(fd, buf, len), 0);
    proto_reader_init(r, buf, len);
    assert_int_equal(proto_response_header_decode(r, 0, corr), 0);
    return buf;
}

static void check_apiversions(int fd, int16_t v, int32_t want_corr, int16_t want_err) {
    struct proto_reader r;
    struct proto_arena a;
    struct ApiVersionsResponse rsp;
    int32_t corr;
    uint8_t *buf = read_response(fd, &corr, &r);
    assert_int_equal(corr, want_corr);
    proto_arena_init(&a);
    assert_int_equal(proto_ApiVersionsResponse_decode(&r, v, &a, &rsp), 0);
    assert_int_equal(rsp.ErrorCode, want_err);
    if (want_err == 0) {
        const struct proto_api_info *info = proto_api_lookup(18);
        bool found = false;
        for (int32_t i = 0; i < rsp.n_ApiKeys; i++) {
            int16_t min, max;
            assert_int_equal(broker_api_version_range(rsp.ApiKeys[i].ApiKey, &min, &max), 0);
            assert_int_equal(rsp.ApiKeys[i].MinVersion, min);
            assert_int_equal(rsp.ApiKeys[i].MaxVersion, max);
            if (rsp.ApiKeys[i].ApiKey == 18) {
                found = true;
                assert_int_equal(min, info->min_version);
                assert_int_equal(max, info->max_version);
            }
        }
        assert_true(found);
        if (v >= 1) assert_int_equal(rsp.ThrottleTimeMs, 0);
    } else if (want_err == PROTO_ERR_UNSUPPORTED_VERSION) {
        assert_int_equal(rsp.n_ApiKeys, 1);
        assert_int_equal(rsp.ApiKeys[0].ApiKey, 18);
        assert_int_equal(rsp.ApiKeys[0].MinVersion, 0);
        assert_int_equal(rsp.ApiKeys[0].MaxVersion, proto_api_lookup(18)->max_version);
    }
    proto_arena_destroy(&a);
    free(buf);
}

static void send_writer(int fd, struct proto_writer *w) {
    send_all(fd, w->buf, w->len);
    proto_writer_reset(w);
}

static void test_apiversions(void **state) {
    (void)state;
    struct tb *tb = tb_start(NULL);
    int fd = tb_connect(tb);
    struct proto_writer w;
    proto_writer_init(&w);

    add_apiversions(&w, 0, 1, NULL, NULL);
    send_writer(fd, &w);
    check_apiversions(fd, 0, 1, 0);

    add_apiversions(&w, 3, 2, "ringlet-test", "1.0.0");
    send_writer(fd, &w);
    check_apiversions(fd, 3, 2, 0);

    /* KIP-511 names: spaces and a trailing dash are invalid */
    add_apiversions(&w, 3, 3, "bad name", "1.0");
    send_writer(fd, &w);
    check_apiversions(fd, 3, 3, PROTO_ERR_INVALID_REQUEST);
    add_apiversions(&w, 4, 4, "librdkafka", "2.0-");
    send_writer(fd, &w);
    check_apiversions(fd, 4, 4, PROTO_ERR_INVALID_REQUEST);

    /* a version this build does not know: error 35 in v0 format */
    add_apiversions(&w, 127, 5, NULL, NULL);
    send_writer(fd, &w);
    check_apiversions(fd, 0, 5, PROTO_ERR_UNSUPPORTED_VERSION);

    /* pipelined, and one byte at a time: answered in order */
    add_apiversions(&w, 0, 10, NULL, NULL);
    add_apiversions(&w, 3, 11, "x", "1");
    add_apiversions(&w, 2, 12, NULL, NULL);
    for (size_t i = 0; i < w.len; i++)
        send_all(fd, w.buf + i, 1);
    proto_writer_reset(&w);
    check_apiversions(fd, 0, 10, 0);
    check_apiversions(fd, 3, 11, 0);
    check_apiversions(fd, 2, 12, 0);

    proto_writer_free(&w);
    close(fd);
    tb_stop(tb);
}

static void test_in_order_completion(void **state) {
    (void)state;
    struct tb *tb = tb_start(NULL);
    int fd = tb_connect(tb);
    struct proto_writer w;
    proto_writer_init(&w);
    int16_t dv = proto_api_lookup(DELAY_KEY)->min_version;
    delayed_completed = 0;

    /* the delayed request completes 150 ms after the ApiVersions behind it */
    add_raw_request(&w, DELAY_KEY, dv, 100);
    add_apiversions(&w, 0, 101, NULL, NULL);
    add_raw_request(&w, DELAY_KEY, dv, 102);
    add_apiversions(&w, 3, 103, "a", "b");
    send_writer(fd, &w);

    struct proto_reader r;
    int32_t corr;
    uint8_t *buf = read_response(fd, &corr, &r);
    assert_int_equal(corr, 100);
    assert_int_equal(proto_read_i16(&r), 0);
    assert_int_equal(proto_read_i32(&r), 0x5eed);
    free(buf);
    check_apiversions(fd, 0, 101, 0);
    buf = read_response(fd, &corr, &r);
    assert_int_equal(corr, 102);
    free(buf);
    check_apiversions(fd, 3, 103, 0);
    assert_int_equal(delayed_completed, 2);

    /* a disconnect with a request pending: it still completes, nothing breaks */
    add_raw_request(&w, DELAY_KEY, dv, 200);
    send_writer(fd, &w);
    close(fd);
    for (int i = 0; i < 100 && delayed_completed < 3; i++)
        usleep(10000);
    assert_int_equal(delayed_completed, 3);

    fd = tb_connect(tb);
    add_apiversions(&w, 0, 201, NULL, NULL);
    send_writer(fd, &w);
    check_apiversions(fd, 0, 201, 0);
    close(fd);
    proto_writer_free(&w);
    tb_stop(tb);
}

static void test_bad_input(void **state) {
    (void)state;
    struct tb *tb = tb_start(NULL);
    struct proto_writer w;
    proto_writer_init(&w);
    int good = tb_connect(tb);

    /* over socket.request.max.bytes: closed before anything is allocated */
    int fd = tb_connect(tb);
    send_all(fd, "\x00\x20\x00\x00", 4); /* 2 MiB */
    assert_true(closed_by_peer(fd));
    close(fd);

    fd = tb_connect(tb);
    send_all(fd, "\x7f\xff\xff\xff", 4);
    assert_true(closed_by_peer(fd));
    close(fd);

    /* negative length */
    fd = tb_connect(tb);
    send_all(fd, "\xff\xff\xff\xfe", 4);
    assert_true(closed_by_peer(fd));
    close(fd);

    /* shorter than a request header */
    fd = tb_connect(tb);
    send_all(fd, "\x00\x00\x00\x02\x00\x12", 6);
    assert_true(closed_by_peer(fd));
    close(fd);

    /* an empty frame */
    fd = tb_connect(tb);
    send_all(fd, "\x00\x00\x00\x00", 4);
    assert_true(closed_by_peer(fd));
    close(fd);

    /* unknown API key; unsupported version of a served API */
    fd = tb_connect(tb);
    add_raw_request(&w, 9999, 0, 1);
    send_writer(fd, &w);
    assert_true(closed_by_peer(fd));
    close(fd);
    fd = tb_connect(tb);
    add_raw_request(&w, DELAY_KEY, 999, 1);
    send_writer(fd, &w);
    assert_true(closed_by_peer(fd));
    close(fd);

    /* a handler reporting a malformed body: responses queued before it still arrive */
    fd = tb_connect(tb);
    add_apiversions(&w, 0, 1, NULL, NULL);
    add_raw_request(&w, BAD_KEY, proto_api_lookup(BAD_KEY)->min_version, 2);
    add_apiversions(&w, 0, 3, NULL, NULL);
    send_writer(fd, &w);
    check_apiversions(fd, 0, 1, 0);
    assert_true(closed_by_peer(fd));
    close(fd);

    /* a client that disconnects mid-frame */
    fd = tb_connect(tb);
    send_all(fd, "\x00\x00\x10\x00\x00\x12\x00", 7);
    close(fd);

    /* the first connection was never disturbed */
    add_apiversions(&w, 3, 42, "ringlet-test", "1");
    send_writer(good, &w);
    check_apiversions(good, 3, 42, 0);
    close(good);
    proto_writer_free(&w);
    tb_stop(tb);
}

static void test_big_frame(void **state) {
    (void)state;
    /* a frame larger than the receive buffers is received in place and still dispatched */
    struct tb *tb = tb_start(NULL);
    int fd = tb_connect(tb);
    struct proto_writer w;
    proto_writer_init(&w);
    size_t start = proto_frame_begin(&w);
    struct proto_request_header h = {18, 0, 77, proto_str_c("big")};
    proto_request_header_encode(&w, &h);
    uint8_t *pad = proto_writer_reserve(&w, 300000);
    memset(pad, 0xab, 300000);
    w.len += 300000; /* ApiVersions v0 ignores trailing bytes */
    proto_frame_end(&w, start);
    add_apiversions(&w, 0, 78, NULL, NULL);
    send_writer(fd, &w);
    check_apiversions(fd, 0, 77, 0);
    check_apiversions(fd, 0, 78, 0);
    close(fd);
    proto_writer_free(&w);
    tb_stop(tb);
}

static void test_big_responses(void **state) {
    (void)state;
    /* responses larger than the socket buffer go out in several partial sends, in order */
    struct tb *tb = tb_start(NULL);
    int fd = tb_connect(tb);
    struct proto_writer w;
    proto_writer_init(&w);
    int16_t bv = proto_api_lookup(BIG_KEY)->min_version;
    add_raw_request(&w, BIG_KEY, bv, 1);
    add_apiversions(&w, 0, 2, NULL, NULL);
    add_raw_request(&w, BIG_KEY, bv, 3);
    send_writer(fd, &w);
    usleep(200000); /* let the broker fill the socket buffers first */
    for (int32_t want = 1; want <= 3; want++) {
        if (want == 2) {
            check_apiversions(fd, 0, 2, 0);
            continue;
        }
        struct proto_reader r;
        int32_t corr;
        uint8_t *buf = read_response(fd, &corr, &r);
        assert_int_equal(corr, want);
        assert_int_equal(proto_reader_remaining(&r), BIG_LEN);
        const uint8_t *p = r.buf + r.pos;
        size_t bad = 0;
        for (size_t i = 0; i < BIG_LEN; i++)
            bad += p[i] != (uint8_t)(i % 251);
        assert_int_equal(bad, 0);
        free(buf);
    }
    close(fd);

    /* clients that disconnect mid-response (reset and plain close): the broker carries on */
    for (int i = 0; i < 2; i++) {
        fd = tb_connect(tb);
        add_raw_request(&w, BIG_KEY, bv, 1);
        add_raw_request(&w, BIG_KEY, bv, 2);
        send_writer(fd, &w);
        uint8_t part[1000];
        assert_int_equal(recv_all(fd, part, sizeof(part)), 0);
        if (i == 0) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        }
        close(fd);
    }
    fd = tb_connect(tb);
    add_apiversions(&w, 0, 9, NULL, NULL);
    send_writer(fd, &w);
    check_apiversions(fd, 0, 9, 0);
    close(fd);
    proto_writer_free(&w);
    tb_stop(tb);
}

static void test_listeners_and_drain(void **state) {
    (void)state;
    const char *sets[] = {"listeners=127.0.0.1:0, 127.0.0.1:0",
                          "advertised.listeners=kafka.example:9093", NULL};
    struct tb *tb = calloc(1, sizeof(*tb));
    char err[256];
    broker_config_defaults(&tb->b.cfg);
    for (const char *const *s = sets; *s; s++)
        assert_int_equal(broker_config_set(&tb->b.cfg, *s, err, sizeof(err)), 0);
    assert_int_equal(broker_reactor_create(&tb->b, false), 0);
    assert_int_equal(broker_reactor_listen(&tb->b), 0);
    int p0 = broker_reactor_port(&tb->b, 0), p1 = broker_reactor_port(&tb->b, 1);
    assert_true(p0 > 0 && p1 > 0 && p0 != p1);
    assert_int_equal(broker_reactor_port(&tb->b, 2), -1);
    const char *host;
    int32_t port;
    broker_advertised_listener(&tb->b, &host, &port);
    assert_string_equal(host, "kafka.example");
    assert_int_equal(port, 9093);
    assert_int_equal(pthread_create(&tb->thread, NULL, run_thread, tb), 0);

    struct proto_writer w;
    proto_writer_init(&w);
    tb->port = p1;
    int fd1 = tb_connect(tb);
    add_apiversions(&w, 0, 1, NULL, NULL);
    send_writer(fd1, &w);
    check_apiversions(fd1, 0, 1, 0);
    tb->port = p0;
    int fd0 = tb_connect(tb);
    add_apiversions(&w, 0, 2, NULL, NULL);
    send_writer(fd0, &w);
    check_apiversions(fd0, 0, 2, 0);

    /* shutdown while a request is in flight: it is still answered, then the connection closes */
    delayed_completed = 0;
    add_raw_request(&w, DELAY_KEY, proto_api_lookup(DELAY_KEY)->min_version, 3);
    send_writer(fd0, &w);
    for (int i = 0; i < 200 && !delayed_completed; i++) {
        if (i == 2) broker_reactor_stop(&tb->b);
        usleep(5000);
    }
    struct proto_reader r;
    int32_t corr;
    uint8_t *buf = read_response(fd0, &corr, &r);
    assert_int_equal(corr, 3);
    free(buf);
    assert_true(closed_by_peer(fd0));
    assert_true(closed_by_peer(fd1));
    assert_int_equal(pthread_join(tb->thread, NULL), 0);
    assert_int_equal(tb->run_rc, 0);
    assert_int_equal(delayed_completed, 1);
    /* the listeners are gone */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p0)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_not_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    close(fd);
    close(fd0);
    close(fd1);
    broker_reactor_destroy(&tb->b);
    broker_config_free(&tb->b.cfg);
    proto_writer_free(&w);
    free(tb);
}

static void test_limits(void **state) {
    (void)state;
    const char *sets[] = {"max.connections=1", "connections.max.idle.ms=1000", NULL};
    struct tb *tb = tb_start(sets);
    struct proto_writer w;
    proto_writer_init(&w);
    int first = tb_connect(tb);
    add_apiversions(&w, 0, 1, NULL, NULL);
    send_writer(first, &w);
    check_apiversions(first, 0, 1, 0);
    /* over max.connections: accepted and closed at once */
    int second = tb_connect(tb);
    assert_true(closed_by_peer(second));
    close(second);
    /* the idle connection is closed after connections.max.idle.ms (and the 1 s sweep) */
    assert_true(closed_by_peer(first));
    close(first);
    /* a slot is free again */
    int third = tb_connect(tb);
    add_apiversions(&w, 0, 2, NULL, NULL);
    send_writer(third, &w);
    check_apiversions(third, 0, 2, 0);
    close(third);
    proto_writer_free(&w);
    tb_stop(tb);
}

/* ---- the blocking-work thread (blocking.c) ----------------------------------------------------
 * Jobs run one at a time in order on a thread of their own; their done() runs on the reactor
 * thread, in the same order; at shutdown the queued jobs still run and their done() is called. */
struct tjob {
    struct broker_job job;
    int index;
    pthread_t run_thread, done_thread;
};
static atomic_int jobs_run, jobs_done;
static int done_order[16];

static void tjob_run(struct broker_job *job) {
    struct tjob *j = (struct tjob *)job;
    j->run_thread = pthread_self();
    if (j->index == 0) usleep(30000); /* the others queue behind it */
    jobs_run++;
}

static void tjob_done(struct broker_job *job) {
    struct tjob *j = (struct tjob *)job;
    j->done_thread = pthread_self();
    int k = atomic_load(&jobs_done); /* one done() at a time: counted after it is written */
    done_order[k] = j->index;
    atomic_store(&jobs_done, k + 1);
}

static void test_blocking_jobs(void **state) {
    (void)state;
    struct tb *tb = tb_start(NULL);
    assert_int_equal(broker_blocking_init(&tb->b), 0);
    struct tjob jobs[8];
    memset(jobs, 0, sizeof(jobs));
    jobs_run = jobs_done = 0;
    for (int i = 0; i < 8; i++) {
        jobs[i].job.run = tjob_run;
        jobs[i].job.done = tjob_done;
        jobs[i].index = i;
    }
    for (int i = 0; i < 5; i++)
        broker_blocking_submit(&tb->b, &jobs[i].job);
    for (int i = 0; i < 1000 && jobs_done < 5; i++)
        usleep(5000);
    assert_int_equal(jobs_done, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(done_order[i], i);
        assert_false(pthread_equal(jobs[i].run_thread, pthread_self()));
        assert_false(pthread_equal(jobs[i].run_thread, tb->thread));
        assert_true(pthread_equal(jobs[i].done_thread, tb->thread));
    }
    /* queued when the reactor stops: run by broker_blocking_shutdown, done() on its caller */
    for (int i = 5; i < 8; i++)
        broker_blocking_submit(&tb->b, &jobs[i].job);
    struct broker *b = &tb->b;
    broker_reactor_stop(b);
    assert_int_equal(pthread_join(tb->thread, NULL), 0);
    broker_blocking_shutdown(b);
    assert_null(b->blocking);
    assert_int_equal(jobs_run, 8);
    assert_int_equal(jobs_done, 8);
    for (int i = 5; i < 8; i++)
        assert_int_equal(done_order[i], i);
    broker_reactor_destroy(b);
    broker_config_free(&b->cfg);
    free(tb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_heap),          cmocka_unit_test(test_apiversions),
        cmocka_unit_test(test_in_order_completion), cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_big_frame),           cmocka_unit_test(test_big_responses),
        cmocka_unit_test(test_listeners_and_drain), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_blocking_jobs),
    };
    if (getenv("RINGLET_TEST_DEBUG")) rl_log_set_level(RL_LOG_DEBUG);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
