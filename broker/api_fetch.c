/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_fetch.c - Fetch (key 1), with long polling: when fewer than MinBytes are available the
 * request parks a waiter on each partition it reads and arms a timer for MaxWaitMs. An append
 * to any of those partitions wakes it (broker_partition_notify from the append completion);
 * it answers as soon as MinBytes are there, or when the timer fires. No polling.
 *
 * Sizes: PartitionMaxBytes per partition and MaxBytes (capped by the broker's fetch.max.bytes,
 * as in Kafka) for the whole response, but always the whole first batch of the first partition
 * that has data (KIP-74), as storage_log_read does.
 * Records are copied into one reactor-owned scratch buffer (pages stay mapped between fetches)
 * and encoded straight into a response buffer sized once; the bytes are sent as stored. Copies
 * never wait for the disk (storage_log_read_copy_nowait): when some partition's bytes are in
 * neither the direct I/O cache nor the page cache, the request takes a buffer of its own and
 * reads them with storage_log_read_async, and answers when the last read completes. So a
 * consumer far behind does not stall the reactor, and its reads run in parallel. (A zero-copy
 * sendfile/splice path would need the reactor to send file slices.)
 *
 * Single broker, no transactions: LastStableOffset = HighWatermark, AbortedTransactions empty,
 * no fetch sessions (SessionId 0, which every client accepts as "sessionless").
 */
#include <errno.h>
#include <string.h>

#include "metrics.h"
#include "topics.h"
#include "reactor_int.h"

struct fetch_part {
    struct broker_waiter w;
    struct broker_partition *p; /* NULL: error already set in out */
    struct FetchRequest_FetchPartition *in;
    struct FetchResponse_PartitionData *out;
    int32_t rd_len; /* fetch_fill: bytes to read at in->FetchOffset (0 = none) */
    size_t at;      /* where they go in the records buffer */
    bool later;     /* they must come from the disk: read asynchronously */
    struct fetch_ctx *c;
};

struct fetch_ctx {
    struct broker_request *req;
    struct FetchRequest rq;
    struct FetchResponse rs;
    struct fetch_part *parts;
    int32_t n_parts;
    struct broker_topic **kept; /* topics referenced while waiting */
    int32_t n_kept;
    struct broker_timer timer;
    bool waiting;
    int reads;    /* asynchronous reads in flight: the response waits for them */
    uint8_t *own; /* their records buffer (broker__buf_get), own_len bytes long */
    size_t own_len;
};

static uint8_t empty_records[1];

/* Bytes available now across all partitions (capped per partition), or -1 if a partition
 * needs an immediate answer (error, deleted topic, offset out of range). */
static int64_t fetch_available(struct fetch_ctx *c) {
    int64_t total = 0;
    for (int32_t i = 0; i < c->n_parts; i++) {
        struct fetch_part *fp = &c->parts[i];
        if (!fp->p) return -1;
        if (fp->p->topic->deleted) return -1;
        int32_t maxb = fp->in->PartitionMaxBytes;
        if (maxb <= 0) continue;
        struct storage_slice s;
        int rc = storage_log_read(fp->p->log, fp->in->FetchOffset, maxb, &s);
        if (rc < 0) return -1;
        total += s.len;
    }
    return total;
}

/* A read of fp's bytes failed: the partition answers with an error and no records. */
static void fetch_read_failed(struct fetch_part *fp, int err) {
    fp->out->Records = (struct proto_bytes){empty_records, 0};
    if (err == -ERANGE) {
        fp->out->ErrorCode = PROTO_ERR_OFFSET_OUT_OF_RANGE;
        return;
    }
    rl_warn("fetch", "read of %s-%d at %lld failed: %s", fp->p->topic->name, fp->p->index,
            (long long)fp->in->FetchOffset, rl_strerror(err));
    fp->out->ErrorCode = PROTO_ERR_KAFKA_STORAGE_ERROR;
}

static void fetch_finish(struct fetch_ctx *c);

static void fetch_read_done(void *arg, int err) {
    struct fetch_part *fp = arg;
    struct fetch_ctx *c = fp->c;
    if (err < 0) fetch_read_failed(fp, err);
    if (--c->reads == 0) fetch_finish(c);
}

/* Some partitions' bytes are only on the disk: the request gets a records buffer of its own
 * (the scratch buffer serves the next request meanwhile; the records already copied into the
 * `size` bytes laid out in it move over, at the same places) and reads the rest asynchronously;
 * fetch_finish runs when the last read is done. */
static void fetch_read_later(struct fetch_ctx *c, uint8_t *buf, bool scratch, size_t size) {
    struct broker_request *req = c->req;
    uint8_t *own = buf;
    if (scratch) /* pooled, not from the arena: no zeroing of megabytes per fetch */
        own = c->own = broker__buf_get(req->b, size, &c->own_len);
    for (int32_t i = 0; i < c->n_parts; i++) {
        struct fetch_part *fp = &c->parts[i];
        if (fp->rd_len <= 0) continue;
        if (!fp->later) {
            if (fp->out->Records.len > 0) {
                if (own != buf) memcpy(own + fp->at, buf + fp->at, (size_t)fp->out->Records.len);
                fp->out->Records = (struct proto_bytes){own + fp->at, fp->out->Records.len};
            }
            continue;
        }
        size_t got = 0;
        fp->c = c;
        int rc = storage_log_read_async(fp->p->log, fp->in->FetchOffset, own + fp->at,
                                        (size_t)fp->rd_len, &got, fetch_read_done, fp);
        if (rc < 0) {
            fetch_read_failed(fp, rc);
            continue;
        }
        fp->out->Records = (struct proto_bytes){own + fp->at, (int32_t)got};
        if (rc == 1) {
            c->reads++;
            broker_metrics_disk_read(req->b, got);
        }
    }
}

/* Fills the response. The records may live in reactor scratch memory: unless reads are left in
 * flight (c->reads), encode the response before anything else can use it. */
static void fetch_fill(struct fetch_ctx *c) {
    struct broker_request *req = c->req;
    int64_t budget = req->hdr.ApiVersion >= 3
                         ? RL_MIN((int64_t)c->rq.MaxBytes, req->b->cfg.fetch_max_bytes)
                         : INT32_MAX;
    if (budget <= 0) budget = 0;
    bool any_data = false;
    int64_t total = 0;
    for (int32_t i = 0; i < c->n_parts; i++) {
        struct fetch_part *fp = &c->parts[i];
        struct FetchResponse_PartitionData *out = fp->out;
        out->Records = (struct proto_bytes){empty_records, 0};
        fp->rd_len = 0;
        if (!fp->p) continue;
        struct broker_partition *p = fp->p;
        if (p->topic->deleted) {
            out->ErrorCode = PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            continue;
        }
        struct storage_log *log = p->log;
        int64_t hwm = storage_log_high_watermark(log);
        out->HighWatermark = hwm;
        out->LastStableOffset = hwm;
        out->LogStartOffset = storage_log_start_offset(log);
        int64_t off = fp->in->FetchOffset;
        if (off < out->LogStartOffset || off > hwm) {
            out->ErrorCode = PROTO_ERR_OFFSET_OUT_OF_RANGE;
            continue;
        }
        int64_t limit = RL_MIN((int64_t)fp->in->PartitionMaxBytes, budget);
        if (off == hwm || fp->in->PartitionMaxBytes <= 0) continue;
        if (limit <= 0) {
            if (any_data) continue;
            limit = 1; /* KIP-74: the first batch goes out whole even past MaxBytes */
        }
        struct storage_slice s;
        int rc = storage_log_read(log, off, (int32_t)limit, &s);
        if (rc == -ERANGE) {
            out->ErrorCode = PROTO_ERR_OFFSET_OUT_OF_RANGE;
            continue;
        }
        if (rc < 0 || s.len <= 0) {
            if (rc < 0) out->ErrorCode = PROTO_ERR_KAFKA_STORAGE_ERROR;
            continue;
        }
        /* storage returns a first batch whole even past the limit; only the first partition
         * with data may go past it (Kafka's minOneMessage): the others are left empty so the
         * response stays within MaxBytes, and the client fetches them next time. */
        if (any_data && s.len > limit) continue;
        fp->rd_len = s.len;
        total += s.len;
        budget -= s.len;
        any_data = true;
    }
    if (total == 0) return;
    /* Second pass: copy every partition's bytes into one buffer, reused across requests (no
     * page faults or zeroing per fetch); the response is encoded from it in the same call,
     * unless some bytes must come from the disk (fetch_read_later). */
    uint8_t *buf = broker__scratch(req->b, (size_t)total);
    bool scratch = buf != NULL;
    if (!buf) buf = proto_arena_alloc(&req->arena, (size_t)total);
    size_t pos = 0;
    int later = 0;
    for (int32_t i = 0; i < c->n_parts; i++) {
        struct fetch_part *fp = &c->parts[i];
        if (fp->rd_len <= 0) continue;
        size_t got = 0;
        fp->at = pos;
        int rc = storage_log_read_copy_nowait(fp->p->log, fp->in->FetchOffset, buf + pos,
                                              (size_t)fp->rd_len, &got);
        if (rc == -EAGAIN) {
            fp->later = true;
            later++;
            pos += (size_t)fp->rd_len;
            continue;
        }
        if (rc < 0) {
            fetch_read_failed(fp, rc);
            continue;
        }
        fp->out->Records = (struct proto_bytes){buf + pos, (int32_t)got};
        pos += got;
    }
    if (later) fetch_read_later(c, buf, scratch, pos);
}

static void fetch_complete(struct fetch_ctx *c) {
    struct broker_request *req = c->req;
    if (c->waiting) {
        broker_timer_cancel(req->b, &c->timer);
        for (int32_t i = 0; i < c->n_parts; i++)
            broker_waiter_remove(&c->parts[i].w);
        c->waiting = false;
    }
    fetch_fill(c);
    if (c->reads == 0) fetch_finish(c);
}

/* Answers with the records in place (the topics stay kept until then). */
static void fetch_finish(struct fetch_ctx *c) {
    struct broker_request *req = c->req;
    size_t bytes = 0;
    for (int32_t i = 0; i < c->n_parts; i++)
        bytes += (size_t)RL_MAX(c->parts[i].out->Records.len, 0);
    broker_metrics_fetch_done(req->b, &c->rq, &c->rs);
    /* Size the response buffer once instead of doubling it (and copying) while encoding. */
    broker__response_reserve(req, bytes + 256 + (size_t)c->n_parts * 64);
    BROKER_RESPOND(req, FetchResponse, &c->rs); /* copies the records */
    if (c->own) {
        broker__buf_put(req->b, c->own, c->own_len);
        c->own = NULL;
    }
    if (!broker_topics_closing(req->b)) /* else freed already, or about to be */
        for (int32_t i = 0; i < c->n_kept; i++)
            broker_topic_release(c->kept[i]);
    c->n_kept = 0;
}

static void fetch_wake(void *arg) {
    struct fetch_ctx *c = arg;
    if (!c->waiting) return;
    int64_t avail = fetch_available(c);
    if (avail < 0 || avail >= c->rq.MinBytes) fetch_complete(c);
}

static void fetch_timeout(struct broker_timer *t) {
    struct fetch_ctx *c = t->arg;
    if (c->waiting) fetch_complete(c);
}

int broker_api_fetch(struct broker_request *req) {
    struct broker *b = req->b;
    int16_t v = req->hdr.ApiVersion;
    struct fetch_ctx *c = proto_arena_alloc(&req->arena, sizeof(*c));
    c->req = req;
    proto_FetchRequest_init(&c->rq);
    if (proto_FetchRequest_decode(&req->body, v, &req->arena, &c->rq) < 0) {
        broker_request_close_conn(req, "malformed Fetch request");
        return 0;
    }
    struct FetchRequest *rq = &c->rq;
    struct FetchResponse *rs = &c->rs;
    proto_FetchResponse_init(rs);
    rs->SessionId = 0;
    if (v >= 7 && rq->SessionId != 0) {
        /* we never hand out sessions, so a client cannot have one */
        rs->ErrorCode = PROTO_ERR_FETCH_SESSION_ID_NOT_FOUND;
        rs->n_Responses = 0;
        BROKER_RESPOND(req, FetchResponse, rs);
        return 0;
    }
    int32_t n_parts = 0;
    for (int32_t i = 0; i < rq->n_Topics; i++)
        n_parts += RL_MAX(rq->Topics[i].n_Partitions, 0);
    c->parts = proto_arena_alloc(&req->arena, (size_t)(n_parts ? n_parts : 1) * sizeof(*c->parts));
    c->kept = proto_arena_alloc(&req->arena,
                                (size_t)(rq->n_Topics > 0 ? rq->n_Topics : 1) * sizeof(*c->kept));
    rs->n_Responses = RL_MAX(rq->n_Topics, 0);
    rs->Responses = proto_arena_alloc(&req->arena, (size_t)(rs->n_Responses ? rs->n_Responses : 1) *
                                                       sizeof(*rs->Responses));
    bool immediate = rq->MaxWaitMs <= 0 || rq->MinBytes <= 0;
    for (int32_t i = 0; i < rs->n_Responses; i++) {
        struct FetchRequest_FetchTopic *ft = &rq->Topics[i];
        struct FetchResponse_FetchableTopicResponse *tr = &rs->Responses[i];
        proto_FetchResponse_FetchableTopicResponse_init(tr);
        tr->Topic = ft->Topic;
        tr->TopicId = ft->TopicId;
        struct broker_topic *t;
        int16_t terr;
        if (v >= 13) {
            t = broker_topic_find_id(b, ft->TopicId);
            terr = PROTO_ERR_UNKNOWN_TOPIC_ID;
        } else {
            t = broker_topic_find_str(b, ft->Topic);
            terr = PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        }
        tr->n_Partitions = RL_MAX(ft->n_Partitions, 0);
        tr->Partitions =
            proto_arena_alloc(&req->arena, (size_t)(tr->n_Partitions ? tr->n_Partitions : 1) *
                                               sizeof(*tr->Partitions));
        for (int32_t j = 0; j < tr->n_Partitions; j++) {
            struct fetch_part *fp = &c->parts[c->n_parts++];
            fp->in = &ft->Partitions[j];
            fp->out = &tr->Partitions[j];
            proto_FetchResponse_PartitionData_init(fp->out);
            fp->out->PartitionIndex = fp->in->Partition;
            fp->out->HighWatermark = -1;
            fp->out->LastStableOffset = -1;
            fp->out->LogStartOffset = -1;
            fp->out->n_AbortedTransactions = rq->IsolationLevel == 1 ? 0 : -1;
            fp->w.fn = fetch_wake;
            fp->w.arg = c;
            if (!t) {
                fp->out->ErrorCode = terr;
                immediate = true;
                continue;
            }
            if (v >= 9 && fp->in->CurrentLeaderEpoch > 0) {
                fp->out->ErrorCode = PROTO_ERR_UNKNOWN_LEADER_EPOCH;
                immediate = true;
                continue;
            }
            fp->p = broker_partition_get(t, fp->in->Partition);
            if (!fp->p) {
                fp->out->ErrorCode = PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                immediate = true;
            }
        }
        if (t) {
            broker_topic_keep(t);
            c->kept[c->n_kept++] = t;
        }
    }
    if (!immediate) {
        int64_t avail = fetch_available(c);
        if (avail < 0 || avail >= rq->MinBytes) immediate = true;
    }
    if (immediate || c->n_parts == 0) {
        fetch_complete(c);
        return 0;
    }
    c->waiting = true;
    for (int32_t i = 0; i < c->n_parts; i++)
        broker_partition_wait(c->parts[i].p, &c->parts[i].w);
    broker_timer_init(&c->timer, fetch_timeout, c);
    broker_timer_arm(b, &c->timer, rl_mono_ms() + rq->MaxWaitMs);
    return 0;
}
