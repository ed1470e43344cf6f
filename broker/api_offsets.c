/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_offsets.c - ListOffsets (key 2), OffsetForLeaderEpoch (key 23), DeleteRecords (key 21).
 *
 * Every stored batch carries leader epoch 0 (the only epoch this single broker has), so
 * OffsetForLeaderEpoch answers epoch 0 with the log end offset, and a client epoch above 0 is
 * UNKNOWN_LEADER_EPOCH.
 */
#include <errno.h>
#include <string.h>

#include "topics.h"

#define TS_LATEST         (-1)
#define TS_EARLIEST       (-2)
#define TS_MAX_TIMESTAMP  (-3)
#define TS_EARLIEST_LOCAL (-4)
#define TS_EARLIEST_TIER  (-5)

/* Arena room for the response array of n (>= 0) elements of size bytes (never zero bytes). */
static void *arena_array(struct broker_request *req, int32_t n, size_t size) {
    return proto_arena_alloc(&req->arena, (size_t)(n ? n : 1) * size);
}

/* Refines a batch-level timestamp lookup to the first record with timestamp >= ts. */
static void refine_by_record(struct broker_request *req, struct storage_log *log, int64_t ts,
                             int64_t *offset, int64_t *rec_ts) {
    struct storage_slice s;
    if (storage_log_read(log, *offset, 1, &s) < 0 || s.len <= 0) return;
    uint8_t *buf = proto_arena_alloc(&req->arena, (size_t)s.len);
    size_t got = 0;
    if (storage_log_read_copy(log, *offset, buf, (size_t)s.len, &got) < 0 || got == 0) return;
    struct proto_batch_header h;
    if (proto_batch_header_parse(buf, got, &h) < 0) return;
    if (h.Attributes & PROTO_ATTR_TIMESTAMP_TYPE) {
        *offset = h.BaseOffset;
        *rec_ts = h.MaxTimestamp;
        return;
    }
    struct proto_record_iter it;
    if (proto_record_iter_init(&it, buf, got, &req->arena, 64u << 20) < 0) return;
    struct proto_record rec;
    while (proto_record_iter_next(&it, &rec) == 1) {
        int64_t rts = h.BaseTimestamp + rec.TimestampDelta;
        if (rts >= ts && h.BaseOffset + rec.OffsetDelta >= *offset) {
            *offset = h.BaseOffset + rec.OffsetDelta;
            *rec_ts = rts;
            return;
        }
    }
}

static void list_partition(struct broker_request *req, struct broker_topic *t,
                           struct ListOffsetsRequest_ListOffsetsPartition *in,
                           struct ListOffsetsResponse_ListOffsetsPartitionResponse *out) {
    int16_t v = req->hdr.ApiVersion;
    struct broker_partition *p = broker_partition_get(t, in->PartitionIndex);
    if (!p) {
        out->ErrorCode = PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    if (v >= 4 && in->CurrentLeaderEpoch > 0) {
        out->ErrorCode = PROTO_ERR_UNKNOWN_LEADER_EPOCH;
        return;
    }
    struct storage_log *log = p->log;
    int64_t off = -1, ts = -1;
    switch (in->Timestamp) {
    case TS_LATEST:
        off = storage_log_high_watermark(log);
        break;
    case TS_EARLIEST:
    case TS_EARLIEST_LOCAL:
    case TS_EARLIEST_TIER:
        off = storage_log_start_offset(log);
        break;
    case TS_MAX_TIMESTAMP:
        if (storage_log_max_timestamp(log, &ts, &off) < 0) {
            off = -1;
            ts = -1;
        }
        break;
    default:
        if (in->Timestamp < 0) {
            out->ErrorCode = PROTO_ERR_INVALID_REQUEST;
            return;
        } else {
            int64_t bts = -1;
            if (storage_log_find_timestamp(log, in->Timestamp, &off, &bts) < 0 ||
                off >= storage_log_end_offset(log)) {
                off = -1;
                ts = -1;
            } else {
                ts = bts;
                refine_by_record(req, log, in->Timestamp, &off, &ts);
            }
        }
        break;
    }
    out->ErrorCode = PROTO_ERR_NONE;
    if (v == 0) {
        out->n_OldStyleOffsets = off >= 0 && in->MaxNumOffsets != 0 ? 1 : 0;
        out->OldStyleOffsets = proto_arena_alloc(&req->arena, sizeof(int64_t));
        out->OldStyleOffsets[0] = off;
    }
    out->Offset = off;
    out->Timestamp = ts;
    out->LeaderEpoch = off >= 0 ? 0 : -1;
}

int broker_api_list_offsets(struct broker_request *req) {
    struct broker *b = req->b;
    int16_t v = req->hdr.ApiVersion;
    struct ListOffsetsRequest rq;
    proto_ListOffsetsRequest_init(&rq);
    if (proto_ListOffsetsRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed ListOffsets request");
        return 0;
    }
    struct ListOffsetsResponse rs;
    proto_ListOffsetsResponse_init(&rs);
    rs.n_Topics = RL_MAX(rq.n_Topics, 0);
    rs.Topics = arena_array(req, rs.n_Topics, sizeof(*rs.Topics));
    for (int32_t i = 0; i < rs.n_Topics; i++) {
        struct ListOffsetsRequest_ListOffsetsTopic *tq = &rq.Topics[i];
        struct ListOffsetsResponse_ListOffsetsTopicResponse *tr = &rs.Topics[i];
        proto_ListOffsetsResponse_ListOffsetsTopicResponse_init(tr);
        tr->Name = tq->Name;
        tr->n_Partitions = RL_MAX(tq->n_Partitions, 0);
        tr->Partitions = arena_array(req, tr->n_Partitions, sizeof(*tr->Partitions));
        struct broker_topic *t = broker_topic_find_str(b, tq->Name);
        for (int32_t j = 0; j < tr->n_Partitions; j++) {
            struct ListOffsetsResponse_ListOffsetsPartitionResponse *out = &tr->Partitions[j];
            proto_ListOffsetsResponse_ListOffsetsPartitionResponse_init(out);
            out->PartitionIndex = tq->Partitions[j].PartitionIndex;
            out->Offset = -1;
            out->Timestamp = -1;
            if (!t) {
                out->ErrorCode = PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            list_partition(req, t, &tq->Partitions[j], out);
        }
    }
    BROKER_RESPOND(req, ListOffsetsResponse, &rs);
    return 0;
}

int broker_api_offset_for_leader_epoch(struct broker_request *req) {
    struct broker *b = req->b;
    int16_t v = req->hdr.ApiVersion;
    struct OffsetForLeaderEpochRequest rq;
    proto_OffsetForLeaderEpochRequest_init(&rq);
    if (proto_OffsetForLeaderEpochRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed OffsetForLeaderEpoch request");
        return 0;
    }
    struct OffsetForLeaderEpochResponse rs;
    proto_OffsetForLeaderEpochResponse_init(&rs);
    rs.n_Topics = RL_MAX(rq.n_Topics, 0);
    rs.Topics = arena_array(req, rs.n_Topics, sizeof(*rs.Topics));
    for (int32_t i = 0; i < rs.n_Topics; i++) {
        struct OffsetForLeaderEpochRequest_OffsetForLeaderTopic *tq = &rq.Topics[i];
        struct OffsetForLeaderEpochResponse_OffsetForLeaderTopicResult *tr = &rs.Topics[i];
        proto_OffsetForLeaderEpochResponse_OffsetForLeaderTopicResult_init(tr);
        tr->Topic = tq->Topic;
        tr->n_Partitions = RL_MAX(tq->n_Partitions, 0);
        tr->Partitions = arena_array(req, tr->n_Partitions, sizeof(*tr->Partitions));
        struct broker_topic *t = broker_topic_find_str(b, tq->Topic);
        for (int32_t j = 0; j < tr->n_Partitions; j++) {
            struct OffsetForLeaderEpochRequest_OffsetForLeaderPartition *in = &tq->Partitions[j];
            struct OffsetForLeaderEpochResponse_EpochEndOffset *out = &tr->Partitions[j];
            proto_OffsetForLeaderEpochResponse_EpochEndOffset_init(out);
            out->Partition = in->Partition;
            out->LeaderEpoch = -1;
            out->EndOffset = -1;
            struct broker_partition *p = t ? broker_partition_get(t, in->Partition) : NULL;
            if (!p) {
                out->ErrorCode = PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            if (v >= 2 && in->CurrentLeaderEpoch > 0) {
                out->ErrorCode = PROTO_ERR_UNKNOWN_LEADER_EPOCH;
                continue;
            }
            if (in->LeaderEpoch == 0) {
                out->LeaderEpoch = 0;
                out->EndOffset = storage_log_end_offset(p->log);
            }
            /* any other epoch never existed here: UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET */
        }
    }
    BROKER_RESPOND(req, OffsetForLeaderEpochResponse, &rs);
    return 0;
}

int broker_api_delete_records(struct broker_request *req) {
    struct broker *b = req->b;
    int16_t v = req->hdr.ApiVersion;
    struct DeleteRecordsRequest rq;
    proto_DeleteRecordsRequest_init(&rq);
    if (proto_DeleteRecordsRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed DeleteRecords request");
        return 0;
    }
    struct DeleteRecordsResponse rs;
    proto_DeleteRecordsResponse_init(&rs);
    rs.n_Topics = RL_MAX(rq.n_Topics, 0);
    rs.Topics = arena_array(req, rs.n_Topics, sizeof(*rs.Topics));
    for (int32_t i = 0; i < rs.n_Topics; i++) {
        struct DeleteRecordsRequest_DeleteRecordsTopic *tq = &rq.Topics[i];
        struct DeleteRecordsResponse_DeleteRecordsTopicResult *tr = &rs.Topics[i];
        proto_DeleteRecordsResponse_DeleteRecordsTopicResult_init(tr);
        tr->Name = tq->Name;
        tr->n_Partitions = RL_MAX(tq->n_Partitions, 0);
        tr->Partitions = arena_array(req, tr->n_Partitions, sizeof(*tr->Partitions));
        struct broker_topic *t = broker_topic_find_str(b, tq->Name);
        for (int32_t j = 0; j < tr->n_Partitions; j++) {
            struct DeleteRecordsRequest_DeleteRecordsPartition *in = &tq->Partitions[j];
            struct DeleteRecordsResponse_DeleteRecordsPartitionResult *out = &tr->Partitions[j];
            proto_DeleteRecordsResponse_DeleteRecordsPartitionResult_init(out);
            out->PartitionIndex = in->PartitionIndex;
            out->LowWatermark = -1;
            struct broker_partition *p = t ? broker_partition_get(t, in->PartitionIndex) : NULL;
            if (!p) {
                out->ErrorCode = PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            int64_t off = in->Offset == -1 ? storage_log_high_watermark(p->log) : in->Offset;
            int rc = off < 0 ? -ERANGE : storage_log_delete_records(p->log, off);
            if (rc == -ERANGE) {
                out->ErrorCode = PROTO_ERR_OFFSET_OUT_OF_RANGE;
            } else if (rc < 0) {
                out->ErrorCode = PROTO_ERR_KAFKA_STORAGE_ERROR;
            }
            out->LowWatermark = storage_log_start_offset(p->log);
        }
    }
    BROKER_RESPOND(req, DeleteRecordsResponse, &rs);
    return 0;
}
