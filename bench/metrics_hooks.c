/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics_hooks.c - what the metrics cost the reactor, measured without the noise of a loaded
 * machine: nanoseconds per Produce request for the hooks a Produce runs through
 * (broker_metrics_produced, broker_metrics_produce_done, broker_metrics_request_done), and
 * the time the HTTP thread needs to render /metrics. Compare the per-request figure with the
 * broker's per-request cost from bench/broker_bench (1 / requests per second per core).
 *
 *   metrics_hooks [iterations]      (default 5,000,000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_int.h"

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 5000000;
    if (iters <= 0) iters = 5000000;
    static struct broker b;
    broker_config_defaults(&b.cfg);
    b.metrics = metrics__create();

    /* one 16 KiB record batch of 100 records (header fields the hooks read) */
    size_t len = 16384;
    uint8_t *batch = rl_calloc(1, len);
    put32(batch + 8, (uint32_t)(len - 12)); /* BatchLength */
    batch[16] = 2;                          /* Magic */
    put32(batch + 23, 99);                  /* LastOffsetDelta */
    put32(batch + 57, 100);                 /* RecordCount */

    struct ProduceResponse_PartitionProduceResponse pr;
    proto_ProduceResponse_PartitionProduceResponse_init(&pr);
    struct ProduceResponse_TopicProduceResponse tr;
    proto_ProduceResponse_TopicProduceResponse_init(&tr);
    tr.Name = (struct proto_str){"bench-topic", 11};
    tr.PartitionResponses = &pr;
    tr.n_PartitionResponses = 1;
    struct ProduceResponse rs;
    proto_ProduceResponse_init(&rs);
    rs.Responses = &tr;
    rs.n_Responses = 1;

    struct broker_request req;
    memset(&req, 0, sizeof(req));
    req.b = &b;
    req.hdr.ApiKey = 0;
    req.hdr.ApiVersion = 9;
    proto_writer_init(&req.out);

    int64_t t0 = rl_mono_ns();
    for (long i = 0; i < iters; i++) {
        req.received_ns = t0;
        broker_metrics_produced(&b, "bench-topic", batch, len);
        broker_metrics_produce_done(&b, &rs);
        broker_metrics_request_done(&req);
        broker_metrics_bytes_received(&b, len + 100);
        broker_metrics_bytes_sent(&b, 60);
    }
    int64_t t1 = rl_mono_ns();
    double per_req = (double)(t1 - t0) / (double)iters;

    int renders = 200;
    size_t bytes = 0;
    int64_t r0 = rl_mono_ns();
    for (int i = 0; i < renders; i++) {
        struct metrics_buf mb = {0};
        metrics__render(&b, &mb);
        bytes = mb.len;
        rl_free(mb.p);
    }
    int64_t r1 = rl_mono_ns();

    printf("metrics hooks per Produce request (1 topic, 1 partition, 16 KiB batch): %.1f ns "
           "(%ld requests)\n",
           per_req, iters);
    printf("render /metrics without a snapshot: %.1f us for %zu bytes (HTTP thread)\n",
           (double)(r1 - r0) / renders / 1000.0, bytes);
    printf("at 100,000 Produce requests/s the hooks use %.2f%% of one core\n",
           per_req * 100000 / 1e9 * 100);
    proto_writer_free(&req.out);
    rl_free(batch);
    metrics__destroy(b.metrics);
    broker_config_free(&b.cfg);
    return 0;
}
