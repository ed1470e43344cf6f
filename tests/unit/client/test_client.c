/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_client.c - unit tests for the client library and CLI helpers that need no broker:
 * murmur2 against Kafka's Java vectors and librdkafka's murmur2 partitioner, broker list
 * parsing, option parsers, output formatting (tables, JSON, record formats), batch building
 * through every codec, and the connection layer against a scripted fake broker that sends
 * malformed responses (each must be an error for that request, never a crash).
 */
#include <errno.h>
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
#include <librdkafka/rdkafka.h>

#include "out.h"
#include "parse.h"
#include "ringlet/client.h"
#include "ringlet/common.h"

/* ---- murmur2 ------------------------------------------------------------------------------- */

/* Kafka's UtilsTest.testMurmur2 vectors (signed Java ints). */
static void test_murmur2_java_vectors(void **state) {
    (void)state;
    static const struct {
        const char *key;
        int32_t want;
    } v[] = {
        {"21", -973932308},
        {"foobar", -790332482},
        {"a-little-bit-long-string", -985981536},
        {"a-little-bit-longer-string", -1486304829},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
        {"abc", 479470107},
    };
    for (size_t i = 0; i < RL_ARRAY_SIZE(v); i++)
        assert_int_equal(ringlet_murmur2(v[i].key, strlen(v[i].key)), v[i].want);
    /* Positive-ised mod: Java's toPositive(murmur2("21")) % 7. */
    assert_int_equal(ringlet_partition_for_key("21", 2, 7),
                     (int32_t)(((uint32_t)-973932308 & 0x7fffffffu) % 7u));
}

/* Many keys of every length 0..64 (and some long ones) and partition counts: must agree with
 * librdkafka's public murmur2 partitioner, which is Java-compatible. */
static void test_murmur2_vs_librdkafka(void **state) {
    (void)state;
    uint8_t key[300];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int checked = 0;
    for (int round = 0; round < 4000; round++) {
        size_t len = round < 3000 ? (size_t)(round % 65) : (size_t)(round % 300);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            key[i] = (uint8_t)x;
        }
        int32_t parts = 1 + round % 97;
        int32_t want = rd_kafka_msg_partitioner_murmur2(NULL, key, len, parts, NULL, NULL);
        if (len == 0) continue; /* librdkafka treats an empty key like NULL (random) */
        assert_int_equal(ringlet_partition_for_key(key, len, parts), want);
        checked++;
    }
    assert_true(checked > 3900);
}

/* ---- broker lists and parsers ---------------------------------------------------------------- */

static void test_brokers_parse(void **state) {
    (void)state;
    struct ringlet_broker_addr *a = NULL;
    int n = 0;
    char err[128];
    assert_int_equal(
        ringlet_brokers_parse(" h1:1, h2 ,[::1]:9093,,10.0.0.1:65535", &a, &n, err, sizeof(err)),
        0);
    assert_int_equal(n, 4);
    assert_string_equal(a[0].host, "h1");
    assert_int_equal(a[0].port, 1);
    assert_string_equal(a[1].host, "h2");
    assert_int_equal(a[1].port, 9092);
    assert_string_equal(a[2].host, "::1");
    assert_int_equal(a[2].port, 9093);
    assert_int_equal(a[3].port, 65535);
    free(a);
    assert_int_equal(ringlet_brokers_parse("h:0", &a, &n, err, sizeof(err)), -EINVAL);
    assert_int_equal(ringlet_brokers_parse("h:70000", &a, &n, err, sizeof(err)), -EINVAL);
    assert_int_equal(ringlet_brokers_parse("h:12x", &a, &n, err, sizeof(err)), -EINVAL);
    assert_int_equal(ringlet_brokers_parse(" , ", &a, &n, err, sizeof(err)), -EINVAL);
    assert_int_equal(ringlet_brokers_parse("[::1", &a, &n, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "[::1"));
}

static void test_brokers_pick(void **state) {
    (void)state;
    unsetenv("RINGLET_BROKERS");
    assert_string_equal(ringlet_brokers_pick(NULL), "127.0.0.1:9092");
    setenv("RINGLET_BROKERS", "envhost:1", 1);
    assert_string_equal(ringlet_brokers_pick(NULL), "envhost:1");
    assert_string_equal(ringlet_brokers_pick(""), "envhost:1");
    assert_string_equal(ringlet_brokers_pick("cli:2"), "cli:2");
    unsetenv("RINGLET_BROKERS");
}

static void test_parse_offsets(void **state) {
    (void)state;
    struct cli_offset_spec s;
    char err[128];
    assert_int_equal(cli_parse_offset_spec("beginning", &s, err, sizeof(err)), 0);
    assert_int_equal(s.kind, CLI_OFFSET_BEGINNING);
    assert_int_equal(cli_offset_resolve(&s, 5, 10), 5);
    assert_int_equal(cli_parse_offset_spec("end", &s, err, sizeof(err)), 0);
    assert_int_equal(cli_offset_resolve(&s, 5, 10), 10);
    assert_int_equal(cli_parse_offset_spec("-3", &s, err, sizeof(err)), 0);
    assert_int_equal(s.kind, CLI_OFFSET_FROM_END);
    assert_int_equal(cli_offset_resolve(&s, 5, 10), 7);
    assert_int_equal(cli_offset_resolve(&s, 9, 10), 9); /* clamped to the log start */
    assert_int_equal(cli_parse_offset_spec("+2", &s, err, sizeof(err)), 0);
    assert_int_equal(cli_offset_resolve(&s, 5, 10), 7);
    assert_int_equal(cli_parse_offset_spec("42", &s, err, sizeof(err)), 0);
    assert_int_equal(s.kind, CLI_OFFSET_ABSOLUTE);
    assert_int_equal(cli_offset_resolve(&s, 5, 10), 10);
    assert_int_equal(cli_parse_offset_spec("@1700000000000", &s, err, sizeof(err)), 0);
    assert_int_equal(s.kind, CLI_OFFSET_TIMESTAMP);
    assert_int_equal(s.value, 1700000000000LL);
    assert_int_equal(cli_parse_offset_spec("@", &s, err, sizeof(err)), -EINVAL);
    assert_int_equal(cli_parse_offset_spec("--1", &s, err, sizeof(err)), -EINVAL);
    assert_int_equal(cli_parse_offset_spec("soon", &s, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "soon"));
}

static void test_parse_misc(void **state) {
    (void)state;
    char err[128];
    enum proto_compression c;
    assert_int_equal(cli_parse_codec("zstd", &c, err, sizeof(err)), 0);
    assert_int_equal(c, PROTO_COMPRESSION_ZSTD);
    assert_string_equal(cli_codec_name(PROTO_COMPRESSION_LZ4), "lz4");
    assert_int_equal(cli_parse_codec("brotli", &c, err, sizeof(err)), -EINVAL);
    int16_t acks;
    assert_int_equal(cli_parse_acks("all", &acks, err, sizeof(err)), 0);
    assert_int_equal(acks, -1);
    assert_int_equal(cli_parse_acks("1", &acks, err, sizeof(err)), 0);
    assert_int_equal(acks, 1);
    assert_int_equal(cli_parse_acks("2", &acks, err, sizeof(err)), -EINVAL);
    int64_t v;
    assert_int_equal(cli_parse_int("12", 1, 100, &v, err, sizeof(err)), 0);
    assert_int_equal(v, 12);
    assert_int_equal(cli_parse_int("0", 1, 100, &v, err, sizeof(err)), -ERANGE);
    assert_int_equal(cli_parse_int("1x", 1, 100, &v, err, sizeof(err)), -EINVAL);
    char *buf;
    const char *k, *val;
    assert_int_equal(cli_parse_kv("retention.ms=1000=x", &buf, &k, &val, err, sizeof(err)), 0);
    assert_string_equal(k, "retention.ms");
    assert_string_equal(val, "1000=x");
    free(buf);
    assert_int_equal(cli_parse_kv("=v", &buf, &k, &val, err, sizeof(err)), -EINVAL);
    const char *key, *value;
    int32_t kl, vl;
    cli_split_key("k1::v::x", 8, "::", &key, &kl, &value, &vl);
    assert_int_equal(kl, 2);
    assert_memory_equal(key, "k1", 2);
    assert_int_equal(vl, 4);
    assert_memory_equal(value, "v::x", 4);
    cli_split_key("novalue", 7, "::", &key, &kl, &value, &vl);
    assert_null(key);
    assert_int_equal(kl, -1);
    assert_int_equal(vl, 7);
}

/* ---- output ---------------------------------------------------------------------------------- */

static char *capture_begin(FILE **f, size_t *len, char **buf) {
    *buf = NULL;
    *f = open_memstream(buf, len);
    assert_non_null(*f);
    return NULL;
}

static void test_table(void **state) {
    (void)state;
    FILE *f;
    size_t len;
    char *buf;
    capture_begin(&f, &len, &buf);
    struct out_table t;
    const char *h[] = {"TOPIC", "PARTITIONS", "NOTE"};
    out_table_init(&t, 3, h);
    out_table_align_right(&t, 1);
    const char *r1[] = {"a", "3", "héllo"};
    const char *r2[] = {"longer-name", "12", NULL};
    out_table_add(&t, r1);
    out_table_add(&t, r2);
    out_table_print(f, &t);
    out_table_free(&t);
    fclose(f);
    assert_string_equal(buf, "TOPIC        PARTITIONS  NOTE\n"
                             "a                     3  héllo\n"
                             "longer-name          12  -\n");
    free(buf);
}

static void test_json(void **state) {
    (void)state;
    FILE *f;
    size_t len;
    char *buf;
    capture_begin(&f, &len, &buf);
    struct out_json j;
    out_json_init(&j, f);
    out_json_obj_begin(&j);
    out_json_key(&j, "s");
    out_json_str(&j, "q\"\\\n\x01é");
    out_json_key(&j, "n");
    out_json_int(&j, -5);
    out_json_key(&j, "a");
    out_json_arr_begin(&j);
    out_json_bool(&j, true);
    out_json_null(&j);
    out_json_obj_begin(&j);
    out_json_obj_end(&j);
    out_json_arr_end(&j);
    out_json_key(&j, "bad");
    out_json_strn(&j,
                  "\xff"
                  "a",
                  2);
    out_json_obj_end(&j);
    out_json_newline(&j);
    fclose(f);
    assert_string_equal(buf, "{\"s\":\"q\\\"\\\\\\n\\u0001é\",\"n\":-5,\"a\":[true,null,{}],"
                             "\"bad\":\"\xEF\xBF\xBD"
                             "a\"}\n");
    free(buf);
    char *b = out_base64((const uint8_t *)"hello", 5);
    assert_string_equal(b, "aGVsbG8=");
    free(b);
    b = out_base64((const uint8_t *)"hi!", 3);
    assert_string_equal(b, "aGkh");
    free(b);
    assert_true(out_utf8_valid((const uint8_t *)"héllo", 6));
    assert_false(out_utf8_valid((const uint8_t *)"\xc0\x80", 2));     /* overlong */
    assert_false(out_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3)); /* surrogate */
}

static void test_record_format(void **state) {
    (void)state;
    struct out_header hd[2] = {{(const uint8_t *)"h1", 2, (const uint8_t *)"v1", 2},
                               {(const uint8_t *)"h2", 2, NULL, -1}};
    struct out_record r = {.topic = "t",
                           .partition = 2,
                           .offset = 41,
                           .timestamp = 1700000000123LL,
                           .key = (const uint8_t *)"k",
                           .key_len = 1,
                           .value = (const uint8_t *)"\xff\x00",
                           .value_len = 2,
                           .headers = hd,
                           .n_headers = 2};
    char err[64];
    assert_int_equal(out_format_check("%t %p %o %T %k %K %s %S %h %%\\n", err, sizeof(err)), 0);
    assert_int_equal(out_format_check("%q", err, sizeof(err)), -EINVAL);
    FILE *f;
    size_t len;
    char *buf;
    capture_begin(&f, &len, &buf);
    out_format_record(f, "%t/%p@%o ts=%T k=%k(%K) %S [%h] 100%%\\n", &r);
    fclose(f);
    assert_string_equal(buf, "t/2@41 ts=1700000000123 k=k(1) 2 [h1=v1,h2=] 100%\n");
    free(buf);
    capture_begin(&f, &len, &buf);
    out_json_record(f, &r);
    fclose(f);
    assert_string_equal(buf, "{\"topic\":\"t\",\"partition\":2,\"offset\":41,"
                             "\"timestamp\":1700000000123,\"key\":\"k\",\"value\":null,"
                             "\"value_base64\":\"/wA=\",\"headers\":[{\"key\":\"h1\","
                             "\"value\":\"v1\"},{\"key\":\"h2\",\"value\":null}]}\n");
    free(buf);
}

/* ---- batches through every codec --------------------------------------------------------- */

static void test_batch_every_codec(void **state) {
    (void)state;
    for (int codec = PROTO_COMPRESSION_NONE; codec <= PROTO_COMPRESSION_ZSTD; codec++) {
        struct proto_batch_builder b;
        proto_batch_builder_init(&b, 1000);
        struct proto_record_header h = {{(const uint8_t *)"hk", 2}, {(const uint8_t *)"hv", 2}};
        char val[64];
        for (int i = 0; i < 50; i++) {
            int n = snprintf(val, sizeof(val), "value-%d-%s", i, "xxxxxxxxxxxxxxxxxxxxxxxxx");
            struct proto_bytes key =
                i % 3 ? (struct proto_bytes){(const uint8_t *)"key", 3} : PROTO_BYTES_NULL;
            proto_batch_builder_add(&b, 1000 + i, key,
                                    (struct proto_bytes){(const uint8_t *)val, n}, &h, i % 2);
        }
        b.producer_id = 7;
        b.producer_epoch = 1;
        b.base_sequence = 100;
        struct proto_writer w;
        proto_writer_init(&w);
        assert_int_equal(proto_batch_builder_finish(&b, (enum proto_compression)codec, &w), 0);
        struct proto_batch_header bh;
        assert_int_equal(proto_batch_validate(w.buf, w.len, &bh), 0);
        assert_int_equal(bh.Attributes & PROTO_ATTR_COMPRESSION_MASK, codec);
        assert_int_equal(bh.RecordCount, 50);
        assert_int_equal(bh.ProducerId, 7);
        assert_int_equal(bh.BaseSequence, 100);
        assert_int_equal(bh.MaxTimestamp, 1049);
        struct proto_arena a;
        proto_arena_init(&a);
        struct proto_record_iter it;
        assert_int_equal(proto_record_iter_init(&it, w.buf, w.len, &a, 1 << 20), 0);
        struct proto_record rec;
        int i = 0;
        while (proto_record_iter_next(&it, &rec) == 1) {
            int n = snprintf(val, sizeof(val), "value-%d-%s", i, "xxxxxxxxxxxxxxxxxxxxxxxxx");
            assert_int_equal(rec.OffsetDelta, i);
            assert_int_equal(rec.TimestampDelta, i);
            assert_int_equal(rec.Value.len, n);
            assert_memory_equal(rec.Value.ptr, val, (size_t)n);
            assert_int_equal(rec.Key.len, i % 3 ? 3 : -1);
            assert_int_equal(rec.n_Headers, i % 2);
            i++;
        }
        assert_int_equal(i, 50);
        proto_arena_destroy(&a);
        proto_writer_free(&w);
        proto_batch_builder_free(&b);
    }
}

/* ---- connection layer vs a scripted fake broker ------------------------------------------- */

enum fake_mode {
    FAKE_GOOD,      /* answers ApiVersions v3 properly */
    FAKE_ERR35,     /* first answer: error 35 in v0 layout advertising ApiVersions 0-2 */
    FAKE_BAD_CORR,  /* wrong correlation id */
    FAKE_TRUNCATED, /* body shorter than the ApiKeys array claims */
    FAKE_HUGE,      /* frame size over the limit */
    FAKE_SILENT,    /* never answers (timeout) */
    FAKE_CLOSE,     /* closes mid-response */
    FAKE_GARBAGE,   /* ApiVersions fine, every other API answered with random bytes */
};

struct fake {
    int lfd;
    int port;
    enum fake_mode mode;
    uint32_t seed;
    int16_t versions_seen[4];
    int n_seen;
    pthread_t th;
};

static int read_n(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static void put16(uint8_t *p, int16_t v) {
    p[0] = (uint8_t)((uint16_t)v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, int32_t v) {
    p[0] = (uint8_t)((uint32_t)v >> 24);
    p[1] = (uint8_t)((uint32_t)v >> 16);
    p[2] = (uint8_t)((uint32_t)v >> 8);
    p[3] = (uint8_t)v;
}

static void *fake_main(void *arg) {
    struct fake *fk = arg;
    int fd = accept(fk->lfd, NULL, NULL);
    if (fd < 0) return NULL;
    for (int req = 0; req < 4; req++) {
        uint8_t hdr[4];
        if (read_n(fd, hdr, 4)) break;
        int32_t size =
            (int32_t)(((uint32_t)hdr[0] << 24) | (hdr[1] << 16) | (hdr[2] << 8) | hdr[3]);
        if (size < 8 || size > 65536) break;
        uint8_t *body = malloc((size_t)size);
        if (read_n(fd, body, (size_t)size)) {
            free(body);
            break;
        }
        int16_t key = (int16_t)((body[0] << 8) | body[1]);
        int16_t ver = (int16_t)((body[2] << 8) | body[3]);
        int32_t corr =
            (int32_t)(((uint32_t)body[4] << 24) | (body[5] << 16) | (body[6] << 8) | body[7]);
        free(body);
        if (fk->n_seen < 4) fk->versions_seen[fk->n_seen++] = ver;
        uint8_t out[300];
        size_t n = 4;
        if (fk->mode == FAKE_GARBAGE && key != 18) {
            put32(out + 4, corr);
            size_t glen = 4 + fk->seed % 200;
            for (size_t i = 8; i < glen + 4; i++) {
                fk->seed = fk->seed * 1103515245u + 12345u;
                out[i] = (uint8_t)(fk->seed >> 16);
            }
            put32(out, (int32_t)glen);
            if (write(fd, out, glen + 4) != (ssize_t)(glen + 4)) break;
            continue;
        }
        if (fk->mode == FAKE_SILENT) {
            sleep(1);
            break;
        }
        if (fk->mode == FAKE_HUGE) {
            put32(out, 200 * 1024 * 1024);
            (void)!write(fd, out, 4);
            break;
        }
        put32(out + n, fk->mode == FAKE_BAD_CORR ? corr + 1 : corr);
        n += 4;
        if (fk->mode == FAKE_ERR35 && req == 0) {
            put16(out + n, 35); /* v0 layout: error, int32 array of {key,min,max} */
            n += 2;
            put32(out + n, 1);
            n += 4;
            put16(out + n, 18);
            put16(out + n + 2, 0);
            put16(out + n + 4, 2);
            n += 6;
        } else if (fk->mode == FAKE_TRUNCATED) {
            put16(out + n, 0);
            n += 2;
            out[n++] = 10; /* compact array of 9 entries, but nothing follows */
        } else {
            bool flex = ver >= 3;
            put16(out + n, 0);
            n += 2;
            if (flex)
                out[n++] = 3; /* 2 entries */
            else {
                put32(out + n, 2);
                n += 4;
            }
            int16_t ent[2][3] = {{3, 0, 12}, {18, 0, 3}};
            for (int i = 0; i < 2; i++) {
                put16(out + n, ent[i][0]);
                put16(out + n + 2, ent[i][1]);
                put16(out + n + 4, ent[i][2]);
                n += 6;
                if (flex) out[n++] = 0;
            }
            if (ver >= 1) {
                put32(out + n, 0);
                n += 4;
            }
            if (flex) out[n++] = 0;
        }
        put32(out, (int32_t)(n - 4));
        if (fk->mode == FAKE_CLOSE) {
            (void)!write(fd, out, n / 2);
            break;
        }
        if (write(fd, out, n) != (ssize_t)n) break;
    }
    close(fd);
    return NULL;
}

static void fake_start(struct fake *fk, enum fake_mode mode) {
    memset(fk, 0, sizeof(*fk));
    fk->mode = mode;
    fk->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fk->lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fk->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fk->lfd, 4), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(fk->lfd, (struct sockaddr *)&sa, &sl), 0);
    fk->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&fk->th, NULL, fake_main, fk), 0);
}

static void fake_stop(struct fake *fk) {
    shutdown(fk->lfd, SHUT_RDWR);
    pthread_join(fk->th, NULL);
    close(fk->lfd);
}

static int negotiate_with(enum fake_mode mode, struct fake *fk, struct ringlet_conn **cout) {
    fake_start(fk, mode);
    struct ringlet_conn *c = NULL;
    assert_int_equal(ringlet_conn_open("127.0.0.1", fk->port, "test", 2000, &c), 0);
    int16_t kerr = 0;
    int err = ringlet_conn_negotiate(c, 300, &kerr);
    *cout = c;
    return err;
}

static void test_conn_negotiate_good(void **state) {
    (void)state;
    struct fake fk;
    struct ringlet_conn *c;
    assert_int_equal(negotiate_with(FAKE_GOOD, &fk, &c), 0);
    int16_t mn, mx;
    assert_true(ringlet_conn_api_range(c, 3, &mn, &mx));
    assert_int_equal(mx, 12);
    assert_false(ringlet_conn_api_range(c, 0, &mn, &mx));
    assert_int_equal(ringlet_conn_pick_version(c, 3, 1, 8), 8);
    assert_int_equal(ringlet_conn_pick_version(c, 3, 13, 14), -1);
    assert_int_equal(ringlet_conn_pick_version(c, 0, 3, 9), -1);
    ringlet_conn_close(c);
    fake_stop(&fk);
    assert_int_equal(fk.versions_seen[0], 3);
}

static void test_conn_negotiate_fallback(void **state) {
    (void)state;
    struct fake fk;
    struct ringlet_conn *c;
    assert_int_equal(negotiate_with(FAKE_ERR35, &fk, &c), 0);
    ringlet_conn_close(c);
    fake_stop(&fk);
    assert_int_equal(fk.n_seen, 2);
    assert_int_equal(fk.versions_seen[0], 3);
    assert_int_equal(fk.versions_seen[1], 2); /* min(3 - 1, advertised max 2) */
}

static void test_conn_malformed(void **state) {
    (void)state;
    static const struct {
        enum fake_mode mode;
        int want;
    } cases[] = {
        {FAKE_BAD_CORR, -EBADMSG}, {FAKE_TRUNCATED, -EBADMSG}, {FAKE_HUGE, -EMSGSIZE},
        {FAKE_SILENT, -ETIMEDOUT}, {FAKE_CLOSE, -ECONNRESET},
    };
    for (size_t i = 0; i < RL_ARRAY_SIZE(cases); i++) {
        struct fake fk;
        struct ringlet_conn *c;
        assert_int_equal(negotiate_with(cases[i].mode, &fk, &c), cases[i].want);
        assert_false(ringlet_conn_is_open(c)); /* out of step: closed, never reused */
        ringlet_conn_close(c);
        fake_stop(&fk);
    }
}

static void test_conn_refused(void **state) {
    (void)state;
    struct fake fk;
    fake_start(&fk, FAKE_GOOD);
    int port = fk.port;
    fake_stop(&fk); /* nothing listens there any more */
    struct ringlet_conn *c = NULL;
    assert_int_equal(ringlet_conn_open("127.0.0.1", port, "t", 1000, &c), -ECONNREFUSED);
    assert_null(c);
    assert_int_equal(ringlet_conn_open("no-such-host.invalid", 1, "t", 1000, &c), -ENOENT);
}

static void test_client_bootstrap_skips_dead(void **state) {
    (void)state;
    struct fake dead, live;
    fake_start(&dead, FAKE_GOOD);
    int dead_port = dead.port;
    fake_stop(&dead);
    fake_start(&live, FAKE_GOOD);
    char brokers[128];
    snprintf(brokers, sizeof(brokers), "127.0.0.1:%d,127.0.0.1:%d", dead_port, live.port);
    struct ringlet_conf conf;
    ringlet_conf_init(&conf);
    conf.brokers = brokers;
    conf.retries = 0;
    struct ringlet_client *cl = NULL;
    char err[256];
    assert_int_equal(ringlet_client_new(&conf, &cl, err, sizeof(err)), 0);
    struct ringlet_conn *c = NULL;
    assert_int_equal(ringlet_client_any_conn(cl, &c, err, sizeof(err)), 0);
    assert_int_equal(ringlet_conn_port(c), live.port);
    ringlet_client_destroy(cl);
    fake_stop(&live);
    conf.brokers = "bad:port:x";
    assert_int_equal(ringlet_client_new(&conf, &cl, err, sizeof(err)), -EINVAL);
}

/* Random Metadata answers: each is an error for that request (never a crash, never a hang). */
static void test_client_garbage_responses(void **state) {
    (void)state;
    int errors = 0;
    for (uint32_t seed = 1; seed <= 40; seed++) {
        struct fake fk;
        fake_start(&fk, FAKE_GARBAGE);
        fk.seed = seed * 7919u;
        char brokers[64];
        snprintf(brokers, sizeof(brokers), "127.0.0.1:%d", fk.port);
        struct ringlet_conf conf;
        ringlet_conf_init(&conf);
        conf.brokers = brokers;
        conf.retries = 0;
        conf.request_timeout_ms = 2000;
        struct ringlet_client *cl = NULL;
        char err[256];
        assert_int_equal(ringlet_client_new(&conf, &cl, err, sizeof(err)), 0);
        struct ringlet_metadata *md = NULL;
        int rc = ringlet_metadata_get(cl, NULL, -1, false, &md, err, sizeof(err));
        if (rc == 0)
            ringlet_metadata_free(md); /* random bytes that happen to decode are fine */
        else
            errors++;
        ringlet_client_destroy(cl);
        fake_stop(&fk);
    }
    assert_true(errors > 30);
}

/* Admin calls: bad input is -EINVAL, an unreachable cluster a negative errno with a message and
 * no rows, except DeleteGroups, whose per-group coordinator failures land in the rows. */
static void test_admin_errors(void **state) {
    (void)state;
    struct fake dead;
    fake_start(&dead, FAKE_GOOD);
    int dead_port = dead.port;
    fake_stop(&dead);
    char brokers[64];
    snprintf(brokers, sizeof(brokers), "127.0.0.1:%d", dead_port);
    struct ringlet_conf conf;
    ringlet_conf_init(&conf);
    conf.brokers = brokers;
    conf.retries = 0;
    conf.connect_timeout_ms = 1000;
    struct ringlet_client *cl = NULL;
    char err[256] = "";
    assert_int_equal(ringlet_client_new(&conf, &cl, err, sizeof(err)), 0);
    struct ringlet_admin_result *r = NULL;
    const char *names[] = {"a", "b"};
    assert_int_equal(ringlet_admin_delete_topics(cl, names, 0, 0, &r, err, sizeof(err)), -EINVAL);
    assert_int_equal(ringlet_admin_create_partitions(cl, names, 1, 0, 0, &r, err, sizeof(err)),
                     -EINVAL);
    err[0] = '\0';
    assert_true(ringlet_admin_delete_topics(cl, names, 2, 1000, &r, err, sizeof(err)) < 0);
    assert_null(r);
    assert_true(err[0] != '\0');
    struct ringlet_new_topic t = {"a", 3, -1, NULL, NULL, 0};
    assert_true(ringlet_admin_create_topics(cl, &t, 1, 1000, &r, err, sizeof(err)) < 0);
    assert_null(r);
    assert_int_equal(ringlet_admin_delete_groups(cl, names, 2, 1000, &r, err, sizeof(err)), 0);
    assert_non_null(r);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(r[i].name, names[i]);
        assert_int_equal(r[i].error, PROTO_ERR_UNKNOWN_SERVER_ERROR);
        assert_non_null(r[i].message);
    }
    ringlet_admin_results_free(r, 2);
    ringlet_admin_results_free(NULL, 0);
    ringlet_client_destroy(cl);
}

static void test_backoff(void **state) {
    (void)state;
    struct ringlet_conf conf;
    ringlet_conf_init(&conf);
    assert_int_equal(ringlet_backoff_ms(&conf, 0), 100);
    assert_int_equal(ringlet_backoff_ms(&conf, 2), 400);
    assert_int_equal(ringlet_backoff_ms(&conf, 10), 1000);
    assert_true(ringlet_error_retriable(PROTO_ERR_NOT_LEADER_OR_FOLLOWER));
    assert_false(ringlet_error_retriable(PROTO_ERR_TOPIC_ALREADY_EXISTS));
    assert_true(ringlet_error_coordinator(PROTO_ERR_NOT_COORDINATOR));
}

/* ---- assignors and the consumer protocol ------------------------------------------------- */

static char *t_orders[] = {"orders"};
static char *t_both[] = {"orders", "refunds"};

static void expect_tps(const struct ringlet_assign_member *m, const char *want) {
    char buf[512] = "";
    for (int i = 0; i < m->n_assigned; i++) {
        char one[64];
        snprintf(one, sizeof(one), "%s%s/%d", i ? " " : "", m->assigned[i].topic,
                 m->assigned[i].partition);
        strcat(buf, one);
    }
    assert_string_equal(buf, want);
}

static void test_assign_range(void **state) {
    (void)state;
    /* Java RangeAssignor: members sorted by id; 7 partitions over 3 = 3,2,2. */
    struct ringlet_assign_member m[3] = {
        {"c", t_orders, 1, NULL, 0}, {"a", t_both, 2, NULL, 0}, {"b", t_orders, 1, NULL, 0}};
    struct ringlet_assign_topic t[2] = {{"refunds", 2}, {"orders", 7}};
    assert_int_equal(ringlet_assign("range", m, 3, t, 2), 0);
    expect_tps(&m[1], "orders/0 orders/1 orders/2 refunds/0 refunds/1");
    expect_tps(&m[2], "orders/3 orders/4");
    expect_tps(&m[0], "orders/5 orders/6");
    for (int i = 0; i < 3; i++)
        ringlet_tps_free(m[i].assigned, m[i].n_assigned);
    assert_int_equal(ringlet_assign("sticky-ish", m, 3, t, 2), -EINVAL);
}

static void test_assign_roundrobin(void **state) {
    (void)state;
    struct ringlet_assign_member m[2] = {{"m2", t_both, 2, NULL, 0}, {"m1", t_orders, 1, NULL, 0}};
    struct ringlet_assign_topic t[2] = {{"orders", 3}, {"refunds", 2}};
    assert_int_equal(ringlet_assign("roundrobin", m, 2, t, 2), 0);
    /* orders/0 m1, orders/1 m2, orders/2 m1; only m2 subscribes to refunds. */
    expect_tps(&m[1], "orders/0 orders/2");
    expect_tps(&m[0], "orders/1 refunds/0 refunds/1");
    for (int i = 0; i < 2; i++)
        ringlet_tps_free(m[i].assigned, m[i].n_assigned);
}

static void test_consumer_protocol_roundtrip(void **state) {
    (void)state;
    struct proto_writer w;
    proto_writer_init(&w);
    const char *subs[] = {"a", "bb"};
    ringlet_subscription_encode(&w, subs, 2);
    /* version 0, [2]{"a","bb"}, null user data */
    static const uint8_t want[] = {0, 0, 0,   0,   0,    2,    0,    1,   'a',
                                   0, 2, 'b', 'b', 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(w.len, sizeof(want));
    assert_memory_equal(w.buf, want, sizeof(want));
    char **topics;
    int n;
    assert_int_equal(ringlet_subscription_decode(w.buf, (int32_t)w.len, &topics, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(topics[1], "bb");
    for (int i = 0; i < n; i++)
        free(topics[i]);
    free(topics);
    assert_int_equal(ringlet_subscription_decode(w.buf, 7, &topics, &n), -EBADMSG);
    proto_writer_reset(&w);
    struct ringlet_tp tps[3] = {{"a", 0}, {"a", 2}, {"bb", 1}};
    ringlet_assignment_encode(&w, tps, 3);
    struct ringlet_tp *got;
    assert_int_equal(ringlet_assignment_decode(w.buf, (int32_t)w.len, &got, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(got[2].topic, "bb");
    assert_int_equal(got[1].partition, 2);
    ringlet_tps_free(got, n);
    /* Every truncation is an error, never a crash. */
    for (size_t cut = 1; cut + 4 < w.len; cut++) {
        int rc = ringlet_assignment_decode(w.buf, (int32_t)cut, &got, &n);
        if (rc == 0) ringlet_tps_free(got, n);
        assert_true(rc == 0 || rc == -EBADMSG);
    }
    assert_int_equal(ringlet_assignment_decode(NULL, 0, &got, &n), 0);
    assert_int_equal(n, 0);
    proto_writer_free(&w);
}

/* ---- walking fetched batches ------------------------------------------------------------- */

struct walk_seen {
    int64_t offsets[64];
    int n;
    int stop_after;
};

static int walk_cb(void *opaque, const struct ringlet_msg *m) {
    struct walk_seen *s = opaque;
    s->offsets[s->n++] = m->offset;
    return s->stop_after && s->n >= s->stop_after;
}

static void add_batch(struct proto_writer *w, int64_t base, int n, int16_t attrs, int codec) {
    struct proto_batch_builder b;
    proto_batch_builder_init(&b, 5000);
    b.attributes = attrs;
    for (int i = 0; i < n; i++)
        proto_batch_builder_add(&b, 5000 + i, PROTO_BYTES_NULL,
                                (struct proto_bytes){(const uint8_t *)"v", 1}, NULL, 0);
    size_t start = w->len;
    assert_int_equal(proto_batch_builder_finish(&b, (enum proto_compression)codec, w), 0);
    proto_batch_set_base_offset(w->buf + start, base);
    proto_batch_builder_free(&b);
}

static void test_records_walk(void **state) {
    (void)state;
    struct proto_writer w;
    proto_writer_init(&w);
    add_batch(&w, 10, 3, 0, PROTO_COMPRESSION_NONE);                  /* 10..12 */
    add_batch(&w, 13, 1, PROTO_ATTR_CONTROL, PROTO_COMPRESSION_NONE); /* a commit marker */
    add_batch(&w, 14, 4, 0, PROTO_COMPRESSION_LZ4);                   /* 14..17 */
    size_t full = w.len;
    add_batch(&w, 18, 2, 0, PROTO_COMPRESSION_NONE);
    struct proto_arena a;
    proto_arena_init(&a);
    struct walk_seen s = {0};
    int64_t next = -1;
    /* The last batch cut short (as Fetch may return it): walked up to it, no error. */
    assert_int_equal(ringlet_records_walk(w.buf, full + 20, "t", 0, 11, &a, walk_cb, &s, &next), 6);
    assert_int_equal(s.offsets[0], 11); /* below min_offset skipped */
    assert_int_equal(s.offsets[2], 14); /* control batch skipped */
    assert_int_equal(next, 18);
    /* Stop early: next is right after the last record delivered. */
    struct walk_seen s2 = {.stop_after = 2};
    assert_int_equal(ringlet_records_walk(w.buf, w.len, "t", 0, 0, &a, walk_cb, &s2, &next), 2);
    assert_int_equal(next, 12);
    /* A flipped byte inside the first batch: CRC mismatch, an error, no records. */
    w.buf[PROTO_BATCH_HEADER_SIZE + 2] ^= 0x40;
    struct walk_seen s3 = {0};
    assert_int_equal(ringlet_records_walk(w.buf, w.len, "t", 0, 0, &a, walk_cb, &s3, &next),
                     -EBADMSG);
    assert_int_equal(s3.n, 0);
    proto_arena_destroy(&a);
    proto_writer_free(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_murmur2_java_vectors),
        cmocka_unit_test(test_murmur2_vs_librdkafka),
        cmocka_unit_test(test_brokers_parse),
        cmocka_unit_test(test_brokers_pick),
        cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test(test_parse_misc),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_record_format),
        cmocka_unit_test(test_batch_every_codec),
        cmocka_unit_test(test_conn_negotiate_good),
        cmocka_unit_test(test_conn_negotiate_fallback),
        cmocka_unit_test(test_conn_malformed),
        cmocka_unit_test(test_conn_refused),
        cmocka_unit_test(test_client_bootstrap_skips_dead),
        cmocka_unit_test(test_client_garbage_responses),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_admin_errors),
        cmocka_unit_test(test_assign_range),
        cmocka_unit_test(test_assign_roundrobin),
        cmocka_unit_test(test_consumer_protocol_roundtrip),
        cmocka_unit_test(test_records_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
