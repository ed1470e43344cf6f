/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_produce.c - Produce (key 0): per-partition validation, idempotent producer checks, and
 * the asynchronous append of the batches exactly as received (storage stamps base offsets in
 * place in the request frame, which stays alive until the request completes).
 *
 * acks=1: answered once every partition's write completed; acks=-1: once an fdatasync covering
 * it completed (group commit); acks=0: the batches are submitted and no response is sent.
 * The response goes out when the last partition's callback has come back (ctx->pending).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"
#include "topics.h"

struct produce_ctx;

struct produce_part {
    struct broker_append_op op; /* first: the callback gets &op */
    struct produce_ctx *ctx;
    struct ProduceResponse_PartitionProduceResponse *out;
    bool idem;
    int64_t pid;
    int16_t epoch;
    int32_t first_seq;
};

struct produce_ctx {
    struct broker_request *req;
    struct ProduceResponse rs;
    int pending;
    int16_t acks;
};

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static struct proto_str arena_msg(struct broker_request *req, const char *msg) {
    size_t n = strlen(msg);
    char *p = proto_arena_alloc(&req->arena, n + 1);
    memcpy(p, msg, n + 1);
    return (struct proto_str){p, (int32_t)n};
}

static int16_t storage_err_code(int err) {
    switch (err) {
    case -EBADMSG:
        return PROTO_ERR_CORRUPT_MESSAGE;
    case -ENOSPC:
    case -EIO:
    case -EROFS:
    case -EDQUOT:
        return PROTO_ERR_KAFKA_STORAGE_ERROR;
    case -EMSGSIZE:
        return PROTO_ERR_MESSAGE_TOO_LARGE;
    default:
        return PROTO_ERR_KAFKA_STORAGE_ERROR;
    }
}

static void produce_finish(struct produce_ctx *c) {
    struct broker_request *req = c->req;
    broker_metrics_produce_done(req->b, &c->rs);
    if (c->acks == 0) {
        broker_request_drop(req);
        return;
    }
    BROKER_RESPOND(req, ProduceResponse, &c->rs);
}

static void produce_part_done(struct broker_append_op *op, int err, int64_t base_offset) {
    struct produce_part *pp = (struct produce_part *)op;
    struct produce_ctx *c = pp->ctx;
    if (err < 0) {
        pp->out->ErrorCode = storage_err_code(err);
        pp->out->BaseOffset = -1;
        pp->out->LogAppendTimeMs = -1;
        char msg[128];
        snprintf(msg, sizeof(msg), "append failed: %s", rl_strerror(err));
        pp->out->ErrorMessage = arena_msg(c->req, msg);
        if (pp->idem) broker_pstate_forget(op->p->pstate, pp->pid, pp->epoch, pp->first_seq);
        rl_warn("produce", "append to %s-%d failed: %s", op->p->topic->name, op->p->index,
                rl_strerror(err));
    }
    pp->out->LogStartOffset = storage_log_start_offset(op->p->log);
    if (--c->pending == 0) produce_finish(c);
}

/* Validates and submits one partition's records. Fills out on an immediate result. */
static void produce_partition(struct produce_ctx *c, struct broker_topic *t,
                              struct ProduceRequest_PartitionProduceData *pd,
                              struct ProduceResponse_PartitionProduceResponse *out) {
    struct broker_request *req = c->req;
    char msg[256];
    struct broker_partition *p = broker_partition_get(t, pd->Index);
    if (!p) {
        out->ErrorCode = PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        return;
    }
    out->LogStartOffset = storage_log_start_offset(p->log);
    if (pd->Records.len <= 0) {
        out->ErrorCode = PROTO_ERR_CORRUPT_MESSAGE;
        out->ErrorMessage = arena_msg(req, "empty record set");
        return;
    }
    uint8_t *buf = (uint8_t *)pd->Records.ptr;
    size_t len = (size_t)pd->Records.len;
    int64_t max_bytes = t->cfg[TCFG_MAX_MESSAGE_BYTES];

    /* walk the batches: format, size, producer ids */
    int nbatches = 0;
    struct proto_batch_header h0 = {0};
    bool any_pid = false;
    for (size_t pos = 0; pos < len;) {
        if (len - pos < 17) {
            out->ErrorCode = PROTO_ERR_CORRUPT_MESSAGE;
            out->ErrorMessage = arena_msg(req, "truncated record batch");
            return;
        }
        int8_t magic = (int8_t)buf[pos + PROTO_BATCH_OFF_MAGIC];
        if (magic != 2) {
            out->ErrorCode = magic == 0 || magic == 1 ? PROTO_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT
                                                      : PROTO_ERR_CORRUPT_MESSAGE;
            snprintf(msg, sizeof(msg),
                     "record batch magic %d is not supported (only RecordBatch v2, magic 2)",
                     magic);
            out->ErrorMessage = arena_msg(req, msg);
            return;
        }
        uint32_t blen = be32(buf + pos + PROTO_BATCH_OFF_LENGTH);
        size_t size = (size_t)blen + PROTO_BATCH_OVERHEAD;
        if (blen > INT32_MAX || size > len - pos) {
            out->ErrorCode = PROTO_ERR_CORRUPT_MESSAGE;
            out->ErrorMessage = arena_msg(req, "record batch length exceeds the request");
            return;
        }
        if ((int64_t)size > max_bytes) {
            out->ErrorCode = PROTO_ERR_MESSAGE_TOO_LARGE;
            snprintf(msg, sizeof(msg),
                     "record batch of %zu bytes is larger than max.message.bytes (%lld)", size,
                     (long long)max_bytes);
            out->ErrorMessage = arena_msg(req, msg);
            return;
        }
        struct proto_batch_header h;
        if (proto_batch_header_parse(buf + pos, size, &h) < 0) {
            out->ErrorCode = PROTO_ERR_CORRUPT_MESSAGE;
            out->ErrorMessage = arena_msg(req, "malformed record batch header");
            return;
        }
        if (h.Attributes & (PROTO_ATTR_TRANSACTIONAL | PROTO_ATTR_CONTROL)) {
            out->ErrorCode = PROTO_ERR_INVALID_TXN_STATE;
            out->ErrorMessage =
                arena_msg(req, "transactional and control batches are not supported by ringlet");
            return;
        }
        if (nbatches == 0) h0 = h;
        if (h.ProducerId >= 0) any_pid = true;
        nbatches++;
        pos += size;
    }
    if (any_pid && nbatches != 1) {
        out->ErrorCode = PROTO_ERR_INVALID_RECORD;
        out->ErrorMessage = arena_msg(req, "an idempotent produce must hold exactly one batch");
        return;
    }
    if (c->acks == -1 && t->cfg[TCFG_MIN_INSYNC_REPLICAS] > 1) {
        out->ErrorCode = PROTO_ERR_NOT_ENOUGH_REPLICAS;
        snprintf(msg, sizeof(msg),
                 "min.insync.replicas is %lld but this single broker is the only replica",
                 (long long)t->cfg[TCFG_MIN_INSYNC_REPLICAS]);
        out->ErrorMessage = arena_msg(req, msg);
        return;
    }
    /* A partition in the failed state (full or failing disk) is not refused here:
     * storage_log_append cuts back to the last good offset and retries the write, so produce
     * works again as soon as space is freed; if the disk is still full it fails again with
     * KAFKA_STORAGE_ERROR. */

    struct produce_part *pp = proto_arena_alloc(&req->arena, sizeof(*pp));
    pp->ctx = c;
    pp->out = out;
    pp->op.done = produce_part_done;
    if (any_pid) {
        if (h0.BaseSequence < 0) {
            out->ErrorCode = PROTO_ERR_INVALID_RECORD;
            out->ErrorMessage = arena_msg(req, "idempotent batch without a base sequence");
            return;
        }
        int32_t last_seq = broker_seq_add(h0.BaseSequence, h0.LastOffsetDelta);
        bool dup = false;
        int64_t dup_offset = -1;
        int16_t e = broker_pstate_check(p->pstate, h0.ProducerId, h0.ProducerEpoch, h0.BaseSequence,
                                        last_seq, &dup, &dup_offset);
        if (e != PROTO_ERR_NONE) {
            out->ErrorCode = e;
            snprintf(msg, sizeof(msg), "%s: producer %lld epoch %d sequence %d",
                     proto_error_name(e), (long long)h0.ProducerId, h0.ProducerEpoch,
                     h0.BaseSequence);
            out->ErrorMessage = arena_msg(req, msg);
            return;
        }
        if (dup) {
            out->BaseOffset = dup_offset;
            return;
        }
        pp->idem = true;
        pp->pid = h0.ProducerId;
        pp->epoch = h0.ProducerEpoch;
        pp->first_seq = h0.BaseSequence;
    }
    int64_t now = rl_now_ms();
    if (t->cfg[TCFG_MESSAGE_TIMESTAMP_TYPE] == BROKER_TS_LOG_APPEND_TIME) {
        for (size_t pos = 0; pos < len;) {
            size_t size = (size_t)be32(buf + pos + PROTO_BATCH_OFF_LENGTH) + PROTO_BATCH_OVERHEAD;
            proto_batch_set_log_append_time(buf + pos, now);
            pos += size;
        }
        out->LogAppendTimeMs = now;
    }
    int64_t base = -1;
    int rc = broker_partition_append(p, buf, len, c->acks == -1, &pp->op, &base);
    if (rc < 0) {
        out->ErrorCode = storage_err_code(rc);
        out->LogAppendTimeMs = -1;
        snprintf(msg, sizeof(msg), "%s",
                 rc == -EBADMSG ? "record batch failed validation (CRC, "
                                  "length or record count)"
                                : rl_strerror(rc));
        out->ErrorMessage = arena_msg(req, msg);
        return;
    }
    out->BaseOffset = base;
    broker_metrics_produced(req->b, t->name, buf, len);
    if (pp->idem)
        broker_pstate_record(p->pstate, pp->pid, pp->epoch, pp->first_seq,
                             broker_seq_add(h0.BaseSequence, h0.LastOffsetDelta), base, now);
    c->pending++;
}

int broker_api_produce(struct broker_request *req) {
    struct broker *b = req->b;
    int16_t v = req->hdr.ApiVersion;
    struct ProduceRequest rq;
    proto_ProduceRequest_init(&rq);
    if (proto_ProduceRequest_decode(&req->body, v, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed Produce request");
        return 0;
    }
    struct produce_ctx *c = proto_arena_alloc(&req->arena, sizeof(*c));
    c->req = req;
    c->acks = rq.Acks;
    proto_ProduceResponse_init(&c->rs);
    c->rs.n_Responses = rq.n_TopicData;
    c->rs.Responses = proto_arena_alloc(
        &req->arena, (size_t)(rq.n_TopicData > 0 ? rq.n_TopicData : 1) * sizeof(*c->rs.Responses));
    bool bad_acks = rq.Acks != 0 && rq.Acks != 1 && rq.Acks != -1;
    bool txn = rq.TransactionalId.len >= 0;
    c->pending = 1; /* held by this function until every partition is submitted */
    for (int32_t i = 0; i < rq.n_TopicData; i++) {
        struct ProduceRequest_TopicProduceData *td = &rq.TopicData[i];
        struct ProduceResponse_TopicProduceResponse *tr = &c->rs.Responses[i];
        proto_ProduceResponse_TopicProduceResponse_init(tr);
        tr->Name = td->Name;
        tr->n_PartitionResponses = td->n_PartitionData;
        tr->PartitionResponses = proto_arena_alloc(
            &req->arena, (size_t)(td->n_PartitionData > 0 ? td->n_PartitionData : 1) *
                             sizeof(*tr->PartitionResponses));
        int16_t terr = PROTO_ERR_NONE;
        struct broker_topic *t = NULL;
        if (bad_acks)
            terr = PROTO_ERR_INVALID_REQUIRED_ACKS;
        else if (txn)
            terr = PROTO_ERR_INVALID_TXN_STATE;
        else
            t = broker_topic_get_or_create(b, td->Name, true, &terr);
        if (t && t->internal) {
            t = NULL;
            terr = PROTO_ERR_INVALID_TOPIC_EXCEPTION;
        }
        for (int32_t j = 0; j < td->n_PartitionData; j++) {
            struct ProduceResponse_PartitionProduceResponse *out = &tr->PartitionResponses[j];
            proto_ProduceResponse_PartitionProduceResponse_init(out);
            out->Index = td->PartitionData[j].Index;
            out->BaseOffset = -1;
            if (!t) {
                out->ErrorCode = terr;
                if (txn)
                    out->ErrorMessage =
                        arena_msg(req, "transactions are not supported by this broker");
                continue;
            }
            produce_partition(c, t, &td->PartitionData[j], out);
        }
    }
    if (--c->pending == 0) produce_finish(c);
    return 0;
}
