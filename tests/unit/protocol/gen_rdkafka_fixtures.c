/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gen_rdkafka_fixtures.c - writes the test fixtures data/rdkafka_<codec>.bin: record batches
 * exactly as librdkafka produces them, one file per compression codec.
 *
 * How: start a librdkafka mock cluster (it stores produced batches verbatim, only stamping the
 * base offset), produce 200 messages ("key-<i>", "value-<i> " + filler text, header
 * "seq") as an idempotent producer in batches of at most 80 with compression.codec=<codec>, then
 * send the mock broker a hand-encoded Fetch v4 and save the Records bytes of partition 0. Not a
 * test: run by hand when the fixtures need regenerating:
 *   build/tests/unit/protocol/gen_rdkafka_fixtures tests/unit/protocol/data
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ringlet/protocol.h"

#define NMSG  200
#define TOPIC "fixtures"

static int read_full(int fd, void *buf, size_t n) {
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Fetch v4 of TOPIC/0 from `offset`; returns the Records bytes (malloc'd) or NULL. */
static uint8_t *fetch_records(const char *bootstrap, int64_t offset, size_t *len) {
    char host[64];
    int port = 0;
    if (sscanf(bootstrap, "%63[^:]:%d", host, &port) != 2) return NULL;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("connect");
        close(fd);
        return NULL;
    }

    struct proto_writer w;
    proto_writer_init(&w);
    size_t fs = proto_frame_begin(&w);
    proto_write_i16(&w, 1); /* Fetch */
    proto_write_i16(&w, 4);
    proto_write_i32(&w, 7); /* correlation id */
    proto_write_string(&w, proto_str_c("fixtures-gen"), false);
    proto_write_i32(&w, -1);       /* ReplicaId */
    proto_write_i32(&w, 500);      /* MaxWaitMs */
    proto_write_i32(&w, 1);        /* MinBytes */
    proto_write_i32(&w, 64 << 20); /* MaxBytes */
    proto_write_i8(&w, 0);         /* IsolationLevel */
    proto_write_i32(&w, 1);
    proto_write_string(&w, proto_str_c(TOPIC), false);
    proto_write_i32(&w, 1);
    proto_write_i32(&w, 0);        /* Partition */
    proto_write_i64(&w, offset);   /* FetchOffset */
    proto_write_i32(&w, 64 << 20); /* PartitionMaxBytes */
    proto_frame_end(&w, fs);
    if (write(fd, w.buf, w.len) != (ssize_t)w.len) {
        close(fd);
        proto_writer_free(&w);
        return NULL;
    }
    proto_writer_free(&w);

    uint8_t szb[4];
    if (read_full(fd, szb, 4) < 0) {
        close(fd);
        return NULL;
    }
    size_t sz = (size_t)szb[0] << 24 | (size_t)szb[1] << 16 | (size_t)szb[2] << 8 | szb[3];
    uint8_t *resp = malloc(sz);
    if (read_full(fd, resp, sz) < 0) {
        close(fd);
        free(resp);
        return NULL;
    }
    close(fd);

    struct proto_reader r;
    proto_reader_init(&r, resp, sz);
    proto_read_i32(&r); /* correlation id */
    proto_read_i32(&r); /* ThrottleTimeMs */
    int32_t ntopics = proto_read_i32(&r);
    uint8_t *out = NULL;
    for (int32_t t = 0; t < ntopics && !r.err; t++) {
        proto_read_string(&r, false);
        int32_t nparts = proto_read_i32(&r);
        for (int32_t p = 0; p < nparts && !r.err; p++) {
            proto_read_i32(&r);              /* PartitionIndex */
            int16_t ec = proto_read_i16(&r); /* ErrorCode */
            proto_read_i64(&r);              /* HighWatermark */
            proto_read_i64(&r);              /* LastStableOffset */
            int32_t naborted = proto_read_i32(&r);
            for (int32_t i = 0; i < naborted; i++) {
                proto_read_i64(&r);
                proto_read_i64(&r);
            }
            struct proto_bytes recs = proto_read_bytes(&r, false);
            if (ec != 0) fprintf(stderr, "fetch error %d\n", ec);
            if (!r.err && ec == 0 && recs.len > 0 && !out) {
                out = malloc((size_t)recs.len);
                memcpy(out, recs.ptr, (size_t)recs.len);
                *len = (size_t)recs.len;
            }
        }
    }
    free(resp);
    return out;
}

static int gen_one(const char *dir, const char *codec) {
    char err[512];
    /* A throwaway handle hosts the mock cluster. */
    rd_kafka_conf_t *mconf = rd_kafka_conf_new();
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, err, sizeof(err));
    if (!mrk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        return -1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 1);
    const char *bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
    rd_kafka_mock_topic_create(mc, TOPIC, 1, 1);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "compression.codec", codec, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "linger.ms", "200", err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "batch.num.messages", "80", err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err))) {
        fprintf(stderr, "conf: %s\n", err);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        return -1;
    }
    for (int i = 0; i < NMSG; i++) {
        char key[32], value[128];
        int kl = snprintf(key, sizeof(key), "key-%d", i);
        int vl = snprintf(value, sizeof(value),
                          "value-%d the quick brown fox jumps over the lazy dog", i);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(key, (size_t)kl),
            RD_KAFKA_V_VALUE(value, (size_t)vl), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADER("seq", key + 4, (ssize_t)strlen(key + 4)), RD_KAFKA_V_END);
        if (e) {
            fprintf(stderr, "produce: %s\n", rd_kafka_err2str(e));
            return -1;
        }
    }
    if (rd_kafka_flush(rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "flush timed out\n");
        return -1;
    }
    rd_kafka_destroy(rk);

    /* The mock broker returns one batch per Fetch: fetch until every message is back. */
    size_t len = 0;
    uint8_t *recs = NULL;
    int64_t next = 0;
    while (next < NMSG) {
        size_t n = 0;
        uint8_t *part = fetch_records(bootstrap, next, &n);
        struct proto_batch_header h;
        if (!part || proto_batch_header_parse(part, n, &h) != 0) {
            fprintf(stderr, "fetch failed for %s at %lld\n", codec, (long long)next);
            free(part);
            free(recs);
            return -1;
        }
        /* Keep whole batches only (a fetch may end with a partial one). */
        size_t pos = 0;
        while (pos < n && proto_batch_header_parse(part + pos, n - pos, &h) == 0 &&
               pos + (size_t)h.BatchLength + PROTO_BATCH_OVERHEAD <= n) {
            pos += (size_t)h.BatchLength + PROTO_BATCH_OVERHEAD;
            next = h.BaseOffset + h.LastOffsetDelta + 1;
        }
        if (pos == 0) {
            fprintf(stderr, "no whole batch in fetch for %s at %lld\n", codec, (long long)next);
            free(part);
            free(recs);
            return -1;
        }
        recs = realloc(recs, len + pos);
        memcpy(recs + len, part, pos);
        len += pos;
        free(part);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
    int nb = 0;
    int64_t nr = 0;
    int rc = proto_batches_validate(recs, len, &nb, &nr);
    printf("%s: %zu bytes, %d batches, %lld records, validate %d\n", codec, len, nb, (long long)nr,
           rc);
    char path[512];
    snprintf(path, sizeof(path), "%s/rdkafka_%s.bin", dir, codec);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(recs, 1, len, f) != len) {
        perror(path);
        free(recs);
        return -1;
    }
    fclose(f);
    free(recs);
    return rc;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    static const char *codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    int fail = 0;
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
        if (gen_one(dir, codecs[i]) != 0) fail = 1;
    return fail;
}
