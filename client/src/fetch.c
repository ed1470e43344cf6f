/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fetch.c - Fetch requests and the walk over returned record batches (validation, control
 * batches, compression, the partial last batch a broker may return).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client_int.h"
#include "ringlet/common.h"

RINGLET_CODEC(Fetch)

int ringlet_fetch(struct ringlet_client *cl, int32_t leader, const char *topic,
                  const int32_t *partitions, const int64_t *offsets, int n, int32_t max_wait_ms,
                  int32_t partition_max_bytes, struct ringlet_fetch_part *out,
                  struct ringlet_resp *frame, struct proto_arena *a, char *errbuf, size_t errlen) {
    struct ringlet_conn *c = NULL;
    int err = ringlet_client_broker_conn(cl, leader, &c, errbuf, errlen);
    if (err) return err;
    struct FetchRequest_FetchPartition *fp = proto_arena_alloc(a, sizeof(*fp) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        proto_FetchRequest_FetchPartition_init(&fp[i]);
        fp[i].Partition = partitions[i];
        fp[i].FetchOffset = offsets[i];
        fp[i].PartitionMaxBytes = partition_max_bytes;
        out[i].partition = partitions[i];
        out[i].error = PROTO_ERR_UNKNOWN_SERVER_ERROR;
        out[i].high_watermark = -1;
        out[i].log_start_offset = -1;
        out[i].records = NULL;
        out[i].records_len = 0;
    }
    struct FetchRequest_FetchTopic ft;
    proto_FetchRequest_FetchTopic_init(&ft);
    ft.Topic = proto_str_c(topic);
    ft.Partitions = fp;
    ft.n_Partitions = n;
    struct FetchRequest req;
    proto_FetchRequest_init(&req);
    req.ReplicaId = -1;
    req.MaxWaitMs = max_wait_ms;
    req.MinBytes = 1;
    req.MaxBytes = 64 * 1024 * 1024;
    req.IsolationLevel = 0;
    req.SessionId = 0;
    req.SessionEpoch = -1;
    req.Topics = &ft;
    req.n_Topics = 1;
    struct FetchResponse resp;
    int timeout = cl->conf.request_timeout_ms + (max_wait_ms > 0 ? max_wait_ms : 0);
    err = ringlet_call(c, PROTO_API_KEY_FETCH, 4, 12, ringlet_enc_FetchRequest, &req,
                       ringlet_dec_FetchResponse, &resp, a, frame, timeout, NULL);
    if (err) {
        if (errbuf && errlen)
            snprintf(errbuf, errlen, "Fetch from broker %d: %s", leader,
                     err == -ENOTSUP ? "no common Fetch version (need 4..12)" : rl_strerror(err));
        return err;
    }
    if (resp.ErrorCode != 0) {
        for (int i = 0; i < n; i++)
            out[i].error = resp.ErrorCode;
        return 0;
    }
    for (int32_t t = 0; t < resp.n_Responses; t++) {
        if (!proto_str_eq(resp.Responses[t].Topic, topic)) continue;
        for (int32_t p = 0; p < resp.Responses[t].n_Partitions; p++) {
            const struct FetchResponse_PartitionData *pd = &resp.Responses[t].Partitions[p];
            for (int i = 0; i < n; i++) {
                if (out[i].partition != pd->PartitionIndex) continue;
                out[i].error = pd->ErrorCode;
                out[i].high_watermark = pd->HighWatermark;
                out[i].log_start_offset = pd->LogStartOffset;
                out[i].records = pd->Records.len > 0 ? pd->Records.ptr : NULL;
                out[i].records_len = pd->Records.len > 0 ? (size_t)pd->Records.len : 0;
            }
        }
    }
    return 0;
}

int ringlet_records_walk(const uint8_t *buf, size_t len, const char *topic, int32_t partition,
                         int64_t min_offset, struct proto_arena *a, ringlet_msg_fn fn, void *opaque,
                         int64_t *next_offset) {
    size_t pos = 0;
    int delivered = 0;
    int64_t next = min_offset;
    while (pos + PROTO_BATCH_OVERHEAD <= len) {
        struct proto_batch_header h;
        int rc = proto_batch_header_parse(buf + pos, len - pos, &h);
        if (rc == -EAGAIN) break;
        if (rc < 0) {
            /* Old magic (v0/v1 message sets) is not supported: treat as corrupt. */
            *next_offset = next;
            return -EBADMSG;
        }
        if (h.BatchLength < 0) break;
        size_t total = (size_t)h.BatchLength + PROTO_BATCH_OVERHEAD;
        if (total > len - pos) break; /* partial last batch: fetch again from `next` */
        rc = proto_batch_validate(buf + pos, total, &h);
        if (rc < 0) {
            *next_offset = next;
            return -EBADMSG;
        }
        int64_t last = h.BaseOffset + h.LastOffsetDelta;
        if (last < min_offset || (h.Attributes & PROTO_ATTR_CONTROL)) {
            if (last + 1 > next) next = last + 1;
            pos += total;
            continue;
        }
        struct proto_record_iter it;
        rc = proto_record_iter_init(&it, buf + pos, total, a, 256u * 1024 * 1024);
        if (rc < 0) {
            *next_offset = next;
            return -EBADMSG;
        }
        struct proto_record r;
        bool append_time = (h.Attributes & PROTO_ATTR_TIMESTAMP_TYPE) != 0;
        while ((rc = proto_record_iter_next(&it, &r)) == 1) {
            int64_t off = h.BaseOffset + r.OffsetDelta;
            if (off < min_offset) continue;
            struct ringlet_msg m = {
                .topic = topic,
                .partition = partition,
                .offset = off,
                .timestamp = append_time ? h.MaxTimestamp : h.BaseTimestamp + r.TimestampDelta,
                .log_append_time = append_time,
                .key = r.Key,
                .value = r.Value,
                .headers = r.Headers,
                .n_headers = r.n_Headers,
            };
            next = off + 1;
            delivered++;
            if (fn(opaque, &m)) {
                *next_offset = next;
                return delivered;
            }
        }
        if (rc < 0) {
            *next_offset = next;
            return -EBADMSG;
        }
        if (last + 1 > next) next = last + 1;
        pos += total;
    }
    *next_offset = next;
    return delivered;
}
