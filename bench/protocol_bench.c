/* SPDX-License-Identifier: Apache-2.0 */
/*
 * protocol_bench.c - throughput of the record-batch path a Produce request takes through the
 * broker, on a Produce-like 1 MiB records payload (64 batches of ~16 KiB, 100-byte values with
 * keys and a header, as librdkafka would send them):
 *   - a whole Produce request frame: header + generated decoder + batch validation, GB/s;
 *   - proto_batches_validate (sizes + CRC-32C: what the append path runs), GB/s of payload;
 *   - full decode: validate + iterate every record, GB/s of payload;
 *   - the same with lz4 and zstd batches (decompression included), GB/s of uncompressed data;
 *   - CRC-32C alone, each implementation the CPU can run (AVX-512 folding, SSE4.2 3-way,
 *     slicing-by-8) on a 1 MiB and a 256 KiB buffer, GB/s.
 * Prints the figures and the command line. Build type matters: use a release build
 * (scripts/build.sh release) for numbers worth quoting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringlet/common.h"
#include "ringlet/protocol.h"

#define PAYLOAD     (1u << 20)
#define BATCH_BYTES (16u << 10)
#define MIN_NS      500000000LL /* run each measurement at least 0.5 s */

static volatile uint64_t sink;

/* Builds about PAYLOAD bytes of uncompressed record data as batches of ~BATCH_BYTES. */
static void make_payload(struct proto_writer *out, enum proto_compression codec,
                         size_t *records_bytes) {
    char value[100];
    int64_t ts = 1764200000000LL;
    size_t raw = 0;
    uint32_t x = 1;
    while (raw < PAYLOAD) {
        struct proto_batch_builder b;
        proto_batch_builder_init(&b, ts);
        while (b.records.len < BATCH_BYTES) {
            char key[16];
            int kl = snprintf(key, sizeof(key), "user-%u", x % 1000);
            for (size_t i = 0; i < sizeof(value); i++) {
                x = x * 1103515245u + 12345u;
                value[i] = (char)('a' + (x >> 16) % 16);
            }
            struct proto_record_header h = {{(const uint8_t *)"source", 6},
                                            {(const uint8_t *)"bench", 5}};
            proto_batch_builder_add(&b, ts++, (struct proto_bytes){(const uint8_t *)key, kl},
                                    (struct proto_bytes){(const uint8_t *)value, sizeof(value)}, &h,
                                    1);
        }
        raw += b.records.len + PROTO_BATCH_HEADER_SIZE;
        if (proto_batch_builder_finish(&b, codec, out) != 0) abort();
        proto_batch_builder_free(&b);
    }
    *records_bytes = raw;
}

static int decode_all(const uint8_t *buf, size_t len, struct proto_arena *a) {
    size_t pos = 0;
    uint64_t acc = 0;
    while (pos < len) {
        struct proto_batch_header h;
        if (proto_batch_validate(buf + pos, len - pos, &h) != 0) return -1;
        struct proto_record_iter it;
        struct proto_record rec;
        if (proto_record_iter_init(&it, buf + pos, len - pos, a, 64u << 20) != 0) return -1;
        int rc;
        while ((rc = proto_record_iter_next(&it, &rec)) == 1)
            acc += (uint64_t)rec.Value.len;
        if (rc != 0) return -1;
        pos += (size_t)h.BatchLength + PROTO_BATCH_OVERHEAD;
        proto_arena_reset(a);
    }
    sink += acc;
    return 0;
}

static double gbps(size_t bytes, long iters, int64_t ns) {
    return (double)bytes * (double)iters / (double)ns;
}

static void bench_decode(const char *label, enum proto_compression codec) {
    struct proto_writer w;
    proto_writer_init(&w);
    size_t raw = 0;
    make_payload(&w, codec, &raw);
    struct proto_arena a;
    proto_arena_init(&a);
    int nb = 0;
    int64_t nr = 0;
    if (proto_batches_validate(w.buf, w.len, &nb, &nr) != 0) abort();

    long iters = 0;
    int64_t t0 = rl_mono_ns(), t;
    do {
        if (proto_batches_validate(w.buf, w.len, &nb, &nr) != 0) abort();
        iters++;
    } while ((t = rl_mono_ns() - t0) < MIN_NS);
    double v = gbps(w.len, iters, t);

    iters = 0;
    t0 = rl_mono_ns();
    do {
        if (decode_all(w.buf, w.len, &a) != 0) abort();
        iters++;
    } while ((t = rl_mono_ns() - t0) < MIN_NS);
    double d = gbps(raw, iters, t);
    double per_rec = (double)t / (double)iters / (double)nr;
    printf("%-6s %8zu B wire, %3d batches, %5lld records | validate %6.2f GB/s wire | "
           "decode %5.2f GB/s uncompressed, %6.1f ns/record\n",
           label, w.len, nb, (long long)nr, v, d, per_rec);
    proto_arena_destroy(&a);
    proto_writer_free(&w);
}

/* The whole request path of a Produce v9 (flexible) frame carrying ~1 MiB of records: request
 * header decode, generated ProduceRequest decode, then proto_batches_validate on each partition's
 * records -- what ringletd does before an append. GB/s of frame bytes. */
static void bench_produce_request(void) {
    struct proto_writer payload;
    proto_writer_init(&payload);
    size_t raw = 0;
    make_payload(&payload, PROTO_COMPRESSION_NONE, &raw);

    struct ProduceRequest_PartitionProduceData part = {
        .Index = 0, .Records = {payload.buf, (int32_t)payload.len}};
    struct ProduceRequest_TopicProduceData topic;
    proto_ProduceRequest_TopicProduceData_init(&topic);
    topic.Name = proto_str_c("orders");
    topic.PartitionData = &part;
    topic.n_PartitionData = 1;
    struct ProduceRequest rq;
    proto_ProduceRequest_init(&rq);
    rq.Acks = -1;
    rq.TimeoutMs = 30000;
    rq.TopicData = &topic;
    rq.n_TopicData = 1;
    const int16_t version = 9;
    struct proto_request_header hdr = {
        .ApiKey = 0, .ApiVersion = version, .CorrelationId = 7, .ClientId = proto_str_c("bench")};
    struct proto_writer frame;
    proto_writer_init(&frame);
    proto_request_header_encode(&frame, &hdr);
    if (proto_ProduceRequest_encode(&frame, version, &rq) != 0) abort();

    struct proto_arena a;
    proto_arena_init(&a);
    long iters = 0;
    int64_t t0 = rl_mono_ns(), t;
    do {
        struct proto_reader r;
        struct proto_request_header h;
        struct ProduceRequest d;
        proto_reader_init(&r, frame.buf, frame.len);
        if (proto_request_header_decode(&r, &h) != 0) abort();
        if (proto_ProduceRequest_decode(&r, h.ApiVersion, &a, &d) != 0) abort();
        for (int32_t i = 0; i < d.n_TopicData; i++) {
            for (int32_t j = 0; j < d.TopicData[i].n_PartitionData; j++) {
                struct proto_bytes rec = d.TopicData[i].PartitionData[j].Records;
                int nb;
                int64_t nr;
                if (proto_batches_validate(rec.ptr, (size_t)rec.len, &nb, &nr) != 0) abort();
                sink += (uint64_t)nr;
            }
        }
        proto_arena_reset(&a);
        iters++;
    } while ((t = rl_mono_ns() - t0) < MIN_NS);
    printf("produce request v%d, %zu B frame: header + ProduceRequest decode + batch validation "
           "%6.2f GB/s\n",
           version, frame.len, gbps(frame.len, iters, t));
    proto_arena_destroy(&a);
    proto_writer_free(&frame);
    proto_writer_free(&payload);
}

/* Testing hooks of protocol/crc32c.c (not in the public header): each implementation the CPU
 * can run, fastest first. */
extern int proto_crc32c_impl_count(void);
extern const char *proto_crc32c_impl_name(int i);
extern uint32_t proto_crc32c_impl(int i, uint32_t crc, const void *data, size_t len);

#define CRC_NS 200000000LL /* 0.2 s per CRC figure */

static void bench_crc(void) {
    uint8_t *buf = malloc(PAYLOAD);
    for (size_t i = 0; i < PAYLOAD; i++)
        buf[i] = (uint8_t)(i * 2654435761u >> 13);
    static const size_t sizes[2] = {PAYLOAD, 256u << 10};
    for (int f = 0; f < proto_crc32c_impl_count(); f++) {
        for (int s = 0; s < 2; s++) {
            long iters = 0;
            int64_t t0 = rl_mono_ns(), t;
            do {
                sink += proto_crc32c_impl(f, 0, buf, sizes[s]);
                iters++;
            } while ((t = rl_mono_ns() - t0) < CRC_NS);
            printf("crc32c %-18s %6.2f GB/s (%zu KiB buffer)\n", proto_crc32c_impl_name(f),
                   gbps(sizes[s], iters, t), sizes[s] >> 10);
        }
    }
    free(buf);
}

int main(int argc, char **argv) {
    printf("command:");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\nbuild: ringlet %s (%s)\n", RINGLET_VERSION, RINGLET_GIT_COMMIT);
    printf("payload: ~1 MiB of records per Produce, batches of ~16 KiB, 100-byte values\n");
    bench_produce_request();
    bench_decode("none", PROTO_COMPRESSION_NONE);
    bench_decode("lz4", PROTO_COMPRESSION_LZ4);
    bench_decode("zstd", PROTO_COMPRESSION_ZSTD);
    bench_decode("snappy", PROTO_COMPRESSION_SNAPPY);
    bench_decode("gzip", PROTO_COMPRESSION_GZIP);
    bench_crc();
    return 0;
}
