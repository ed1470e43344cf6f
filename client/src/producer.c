/* SPDX-License-Identifier: Apache-2.0 */
/*
 * producer.c - the batching producer (see client.h section 10).
 *
 * Per topic: partition count, leaders, a sticky partition for unkeyed records, and one open
 * batch per partition (a proto_batch_builder plus the callers' opaques). A batch is closed
 * when it reaches batch_size, when linger.ms has passed (at poll), or at flush; closed batches
 * are encoded once (with the partition's next sequence number when idempotent) and the same
 * bytes are resent on retriable errors, so the broker's sequence check makes retries safe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"
#include "ringlet/common.h"

RINGLET_CODEC(Produce)
RINGLET_CODEC(InitProducerId)

struct pbatch {
    struct proto_batch_builder b;
    bool open;
    int64_t created_ms; /* monotonic */
    size_t bytes;
    void **opaques;
    int32_t n_opaques, cap_opaques;
};

struct ptopic {
    char *name;
    int32_t n_partitions;
    int32_t *leaders;
    int32_t *next_seq;
    int32_t sticky; /* -1 = pick one */
    struct pbatch *batches;
};

/* A closed batch on its way (kept for retries). */
struct sending {
    int topic;
    int32_t partition;
    struct proto_writer bytes;
    void **opaques;
    int32_t count;
    int64_t created_ms;  /* monotonic: when its first record arrived */
    int64_t deadline_ms; /* monotonic: delivery timeout */
    bool done;
};

struct ringlet_producer {
    struct ringlet_client *cl;
    struct ringlet_producer_conf conf;
    ringlet_delivery_fn cb;
    void *cb_opaque;
    struct ptopic *topics;
    int n_topics;
    int64_t producer_id;
    int16_t producer_epoch;
    bool failed_since_flush;
    struct sending *queue; /* closed batches not yet sent */
    int nq;
    char last_error[256];
    uint64_t rng;
};

void ringlet_producer_conf_init(struct ringlet_producer_conf *pc) {
    pc->acks = -1;
    pc->codec = PROTO_COMPRESSION_NONE;
    pc->linger_ms = 5;
    pc->batch_size = 16384;
    pc->idempotence = true;
    pc->delivery_timeout_ms = 120000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

static uint32_t rng_next(struct ringlet_producer *p) {
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return (uint32_t)(p->rng >> 11);
}

static int init_producer_id(struct ringlet_producer *p, char *errbuf, size_t errlen) {
    struct InitProducerIdRequest req;
    proto_InitProducerIdRequest_init(&req);
    req.TransactionalId = PROTO_STR_NULL;
    req.TransactionTimeoutMs = -1;
    req.ProducerId = -1;
    req.ProducerEpoch = -1;
    int err = -ENOTCONN;
    for (int attempt = 0; attempt <= p->cl->conf.retries + 2; attempt++) {
        if (attempt) sleep_ms(ringlet_backoff_ms(&p->cl->conf, attempt - 1));
        struct ringlet_conn *c;
        err = ringlet_client_any_conn(p->cl, &c, errbuf, errlen);
        if (err) return err;
        struct proto_arena a;
        proto_arena_init(&a);
        struct InitProducerIdResponse resp;
        struct ringlet_resp frame = {0};
        err =
            ringlet_call(c, PROTO_API_KEY_INIT_PRODUCER_ID, 0, 4, ringlet_enc_InitProducerIdRequest,
                         &req, ringlet_dec_InitProducerIdResponse, &resp, &a, &frame,
                         p->cl->conf.request_timeout_ms, NULL);
        int16_t ec = err ? 0 : resp.ErrorCode;
        if (err == 0 && ec == 0) {
            p->producer_id = resp.ProducerId;
            p->producer_epoch = resp.ProducerEpoch;
        }
        ringlet_resp_free(&frame);
        proto_arena_destroy(&a);
        if (err == -ENOTSUP) return err;
        if (err) continue;
        if (ec == 0) return 0;
        snprintf(errbuf, errlen, "InitProducerId: %s", proto_error_name(ec));
        err = -EPROTO;
        if (!ringlet_error_retriable(ec)) return err;
    }
    return err;
}

int ringlet_producer_new(struct ringlet_client *cl, const struct ringlet_producer_conf *pc,
                         ringlet_delivery_fn cb, void *cb_opaque, struct ringlet_producer **out,
                         char *errbuf, size_t errlen) {
    struct ringlet_producer *p = rl_calloc(1, sizeof(*p));
    p->cl = cl;
    if (pc)
        p->conf = *pc;
    else
        ringlet_producer_conf_init(&p->conf);
    if (p->conf.batch_size <= 0) p->conf.batch_size = 16384;
    if (p->conf.linger_ms < 0) p->conf.linger_ms = 0;
    if (p->conf.delivery_timeout_ms <= 0) p->conf.delivery_timeout_ms = 120000;
    if (p->conf.acks != -1 && p->conf.acks != 0 && p->conf.acks != 1) {
        snprintf(errbuf, errlen, "acks must be 0, 1 or -1");
        rl_free(p);
        return -EINVAL;
    }
    p->cb = cb;
    p->cb_opaque = cb_opaque;
    p->producer_id = -1;
    p->producer_epoch = -1;
    p->rng = (uint64_t)rl_mono_ns() | 1;
    if (p->conf.idempotence && p->conf.acks != -1) {
        rl_debug("client", "idempotence needs acks=all; disabled for acks=%d", p->conf.acks);
        p->conf.idempotence = false;
    }
    if (p->conf.idempotence) {
        int err = init_producer_id(p, errbuf, errlen);
        if (err == -ENOTSUP) {
            rl_warn("client", "broker lacks InitProducerId: producing without idempotence");
            p->conf.idempotence = false;
        } else if (err) {
            rl_free(p);
            return err;
        }
    }
    *out = p;
    return 0;
}

int64_t ringlet_producer_id(const struct ringlet_producer *p) {
    return p->producer_id;
}

const char *ringlet_producer_last_error(const struct ringlet_producer *p) {
    return p->last_error;
}

static void report(struct ringlet_producer *p, const char *topic, int32_t partition,
                   int64_t base_offset, int16_t error, int err, void **opaques, int32_t n) {
    if (error || err) p->failed_since_flush = true;
    if (p->cb == NULL) return;
    for (int32_t i = 0; i < n; i++) {
        struct ringlet_delivery d = {
            .topic = topic,
            .partition = partition,
            .offset = base_offset >= 0 && !error && !err ? base_offset + i : -1,
            .error = error,
            .err = err,
            .opaque = opaques ? opaques[i] : NULL,
        };
        p->cb(p->cb_opaque, &d);
    }
}

/* Refreshes one topic's partition count and leaders. Returns 0 or a negative errno. */
static int topic_refresh(struct ringlet_producer *p, struct ptopic *t) {
    int err = -ENOENT;
    for (int attempt = 0; attempt <= p->cl->conf.retries + 2; attempt++) {
        if (attempt) sleep_ms(ringlet_backoff_ms(&p->cl->conf, attempt - 1));
        struct ringlet_metadata *md = NULL;
        const char *name = t->name;
        err =
            ringlet_metadata_get(p->cl, &name, 1, true, &md, p->last_error, sizeof(p->last_error));
        if (err) return err;
        const struct ringlet_topic_md *tm = ringlet_metadata_topic(md, name);
        int16_t ec = tm ? tm->error : PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        if (ec == 0 && tm->n_partitions > 0) {
            /* Kafka numbers partitions 0..n-1; entries outside that range (a broken or hostile
             * answer) are ignored rather than trusted as array indexes. */
            int32_t n = tm->n_partitions;
            if (n > t->n_partitions) { /* grown (or first time) */
                t->leaders = rl_realloc(t->leaders, sizeof(int32_t) * (size_t)n);
                t->next_seq = rl_realloc(t->next_seq, sizeof(int32_t) * (size_t)n);
                t->batches = rl_realloc(t->batches, sizeof(struct pbatch) * (size_t)n);
                for (int32_t i = t->n_partitions; i < n; i++) {
                    t->next_seq[i] = 0;
                    memset(&t->batches[i], 0, sizeof(t->batches[i]));
                }
                t->n_partitions = n;
            }
            for (int32_t i = 0; i < t->n_partitions; i++)
                t->leaders[i] = -1;
            for (int32_t i = 0; i < tm->n_partitions; i++) {
                int32_t pi = tm->partitions[i].partition;
                if (pi >= 0 && pi < t->n_partitions) t->leaders[pi] = tm->partitions[i].leader;
            }
            ringlet_metadata_free(md);
            return 0;
        }
        snprintf(p->last_error, sizeof(p->last_error), "topic %s: %s", name,
                 proto_error_name(ec ? ec : PROTO_ERR_LEADER_NOT_AVAILABLE));
        ringlet_metadata_free(md);
        /* Auto-creation answers LEADER_NOT_AVAILABLE for a moment; anything else is final. */
        if (ec != PROTO_ERR_LEADER_NOT_AVAILABLE && ec != 0) return -ENOENT;
        err = -ENOENT;
    }
    return err;
}

static int topic_get(struct ringlet_producer *p, const char *name, struct ptopic **out) {
    for (int i = 0; i < p->n_topics; i++)
        if (!strcmp(p->topics[i].name, name)) {
            *out = &p->topics[i];
            return 0;
        }
    struct ptopic t = {.name = rl_strdup(name), .sticky = -1};
    int err = topic_refresh(p, &t);
    if (err) {
        rl_free(t.name);
        rl_free(t.leaders);
        rl_free(t.next_seq);
        rl_free(t.batches);
        return err;
    }
    p->topics = rl_realloc(p->topics, sizeof(*p->topics) * (size_t)(p->n_topics + 1));
    p->topics[p->n_topics] = t;
    *out = &p->topics[p->n_topics++];
    return 0;
}

static int32_t sticky_pick(struct ringlet_producer *p, struct ptopic *t, int32_t avoid) {
    int32_t avail = 0;
    for (int32_t i = 0; i < t->n_partitions; i++)
        if (t->leaders[i] >= 0 && (i != avoid || t->n_partitions == 1)) avail++;
    if (avail == 0) return (int32_t)(rng_next(p) % (uint32_t)t->n_partitions);
    uint32_t k = rng_next(p) % (uint32_t)avail;
    for (int32_t i = 0; i < t->n_partitions; i++) {
        if (t->leaders[i] < 0 || (i == avoid && t->n_partitions > 1)) continue;
        if (k-- == 0) return i;
    }
    return 0;
}

/* Sends closed batches s[0..n) (all for the same leader) in one Produce request and handles
 * the answers; retriable failures stay !done for another round. */
static void send_round(struct ringlet_producer *p, int32_t leader, struct sending *s, int n) {
    /* Group by topic. */
    struct ProduceRequest_TopicProduceData *td = rl_calloc((size_t)n, sizeof(*td));
    struct ProduceRequest_PartitionProduceData *pd = rl_calloc((size_t)n, sizeof(*pd));
    int nt = 0;
    int *order = rl_calloc((size_t)n, sizeof(int));
    int no = 0;
    for (int ti = 0; ti < p->n_topics; ti++) {
        int first = no;
        for (int i = 0; i < n; i++) {
            if (s[i].topic != ti) continue;
            proto_ProduceRequest_PartitionProduceData_init(&pd[no]);
            pd[no].Index = s[i].partition;
            pd[no].Records = (struct proto_bytes){s[i].bytes.buf, (int32_t)s[i].bytes.len};
            order[no++] = i;
        }
        if (no == first) continue;
        proto_ProduceRequest_TopicProduceData_init(&td[nt]);
        td[nt].Name = proto_str_c(p->topics[ti].name);
        td[nt].PartitionData = &pd[first];
        td[nt].n_PartitionData = no - first;
        nt++;
    }
    struct ProduceRequest req;
    proto_ProduceRequest_init(&req);
    req.TransactionalId = PROTO_STR_NULL;
    req.Acks = p->conf.acks;
    req.TimeoutMs = p->cl->conf.request_timeout_ms;
    req.TopicData = td;
    req.n_TopicData = nt;

    struct ringlet_conn *c = NULL;
    int err = ringlet_client_broker_conn(p->cl, leader, &c, p->last_error, sizeof(p->last_error));
    struct proto_arena a;
    proto_arena_init(&a);
    struct ringlet_resp frame = {0};
    struct ProduceResponse resp;
    bool have_resp = false;
    if (err == 0) {
        int16_t v = ringlet_conn_pick_version(c, PROTO_API_KEY_PRODUCE, 3, 9);
        if (v < 0) {
            err = -ENOTSUP;
            snprintf(p->last_error, sizeof(p->last_error),
                     "broker %d lacks Produce v3+ (record batch v2)", leader);
        } else if (p->conf.acks == 0) {
            err = ringlet_conn_request(c, PROTO_API_KEY_PRODUCE, v, ringlet_enc_ProduceRequest,
                                       &req, false, p->cl->conf.request_timeout_ms, NULL);
        } else {
            err = ringlet_call(c, PROTO_API_KEY_PRODUCE, 3, 9, ringlet_enc_ProduceRequest, &req,
                               ringlet_dec_ProduceResponse, &resp, &a, &frame,
                               p->cl->conf.request_timeout_ms, NULL);
            have_resp = err == 0;
        }
        if (err && err != -ENOTSUP)
            snprintf(p->last_error, sizeof(p->last_error), "Produce to broker %d: %s", leader,
                     rl_strerror(err));
    }
    int64_t now = rl_mono_ms();
    for (int k = 0; k < no; k++) {
        struct sending *x = &s[order[k]];
        struct ptopic *t = &p->topics[x->topic];
        if (err == 0 && !have_resp) { /* acks=0 */
            report(p, t->name, x->partition, -1, 0, 0, x->opaques, x->count);
            x->done = true;
            continue;
        }
        int16_t ec = PROTO_ERR_UNKNOWN_SERVER_ERROR;
        int64_t base = -1;
        if (have_resp) {
            for (int32_t ti = 0; ti < resp.n_Responses; ti++) {
                if (!proto_str_eq(resp.Responses[ti].Name, t->name)) continue;
                for (int32_t pi = 0; pi < resp.Responses[ti].n_PartitionResponses; pi++) {
                    const struct ProduceResponse_PartitionProduceResponse *pr =
                        &resp.Responses[ti].PartitionResponses[pi];
                    if (pr->Index != x->partition) continue;
                    ec = pr->ErrorCode;
                    base = pr->BaseOffset;
                }
            }
        }
        if (have_resp && ec == 0) {
            report(p, t->name, x->partition, base, 0, 0, x->opaques, x->count);
            x->done = true;
            continue;
        }
        if (have_resp && ec == PROTO_ERR_DUPLICATE_SEQUENCE_NUMBER) {
            report(p, t->name, x->partition, -1, 0, 0, x->opaques, x->count); /* already there */
            x->done = true;
            continue;
        }
        bool retriable = err ? (err != -ENOTSUP && err != -EINVAL) : ringlet_error_retriable(ec);
        if (retriable && now < x->deadline_ms) continue; /* next round */
        if (have_resp)
            snprintf(p->last_error, sizeof(p->last_error), "produce to %s/%d: %s", t->name,
                     x->partition, proto_error_name(ec));
        report(p, t->name, x->partition, -1, have_resp ? ec : 0, have_resp ? 0 : err, x->opaques,
               x->count);
        x->done = true;
    }
    ringlet_resp_free(&frame);
    proto_arena_destroy(&a);
    rl_free(order);
    rl_free(td);
    rl_free(pd);
}

/* Closed batches wait in p->queue so that one Produce request carries several partitions'
 * batches (a request may hold only one batch per partition). */
#define MAX_QUEUED_BATCHES 8

/* Closes the open batch of (ti, pi) into the queue (sequence numbers assigned now, so a retry
 * resends identical bytes). Returns the records reported (only on a compression failure). */
static int close_batch(struct ringlet_producer *p, int ti, int32_t pi) {
    struct ptopic *t = &p->topics[ti];
    struct pbatch *b = &t->batches[pi];
    p->queue = rl_realloc(p->queue, sizeof(*p->queue) * (size_t)(p->nq + 1));
    struct sending *x = &p->queue[p->nq++];
    memset(x, 0, sizeof(*x));
    x->topic = ti;
    x->partition = pi;
    x->count = b->b.count;
    x->opaques = b->opaques;
    x->created_ms = b->created_ms;
    x->deadline_ms = b->created_ms + p->conf.delivery_timeout_ms;
    if (p->conf.idempotence) {
        b->b.producer_id = p->producer_id;
        b->b.producer_epoch = p->producer_epoch;
        b->b.base_sequence = t->next_seq[pi];
        t->next_seq[pi] = (int32_t)(((int64_t)t->next_seq[pi] + b->b.count) & INT32_MAX);
    }
    proto_writer_init(&x->bytes);
    int err = proto_batch_builder_finish(&b->b, p->conf.codec, &x->bytes);
    proto_batch_builder_free(&b->b);
    b->open = false;
    b->opaques = NULL;
    b->n_opaques = b->cap_opaques = 0;
    b->bytes = 0;
    if (t->sticky == pi) t->sticky = sticky_pick(p, t, pi);
    if (err) {
        snprintf(p->last_error, sizeof(p->last_error), "compressing a batch: %s", rl_strerror(err));
        report(p, t->name, pi, -1, 0, err, x->opaques, x->count);
        x->done = true;
        return x->count;
    }
    return 0;
}

/* True if an earlier queue entry for the same partition is still unsent: a later batch must
 * wait for it (sequence order). */
static bool blocked(const struct sending *q, int k) {
    for (int j = 0; j < k; j++)
        if (!q[j].done && q[j].topic == q[k].topic && q[j].partition == q[k].partition) return true;
    return false;
}

/* Sends every queued batch, one request per leader per round, retrying retriable failures
 * until each batch is delivered or times out. Returns the number of records reported. */
static int send_queue(struct ringlet_producer *p) {
    struct sending *s = p->queue;
    int n = p->nq, reported = 0;
    for (int round = 0;; round++) {
        bool failed = false, pending = false;
        bool *tried = rl_calloc((size_t)n + 1, sizeof(bool));
        for (int i = 0; i < n; i++) {
            if (s[i].done || tried[i] || blocked(s, i)) continue;
            int32_t leader = p->topics[s[i].topic].leaders[s[i].partition];
            if (leader < 0) { /* no leader now: refresh and try next round */
                topic_refresh(p, &p->topics[s[i].topic]);
                leader = p->topics[s[i].topic].leaders[s[i].partition];
                if (leader < 0) {
                    tried[i] = true;
                    failed = true;
                    if (rl_mono_ms() >= s[i].deadline_ms) {
                        struct ptopic *t = &p->topics[s[i].topic];
                        report(p, t->name, s[i].partition, -1, PROTO_ERR_LEADER_NOT_AVAILABLE, 0,
                               s[i].opaques, s[i].count);
                        reported += s[i].count;
                        s[i].done = true;
                    }
                    continue;
                }
            }
            /* Everything sendable for this leader goes in the same request. */
            struct sending *group = rl_calloc((size_t)n, sizeof(*group));
            int *idx = rl_calloc((size_t)n, sizeof(int));
            int ng = 0;
            for (int k = i; k < n; k++) {
                if (s[k].done || tried[k] || blocked(s, k)) continue;
                if (p->topics[s[k].topic].leaders[s[k].partition] != leader) continue;
                bool dup = false;
                for (int g = 0; g < ng; g++)
                    if (group[g].topic == s[k].topic && group[g].partition == s[k].partition)
                        dup = true;
                if (dup) continue;
                group[ng] = s[k];
                idx[ng++] = k;
            }
            send_round(p, leader, group, ng);
            for (int k = 0; k < ng; k++) {
                tried[idx[k]] = true;
                if (group[k].done)
                    reported += group[k].count;
                else
                    failed = true;
                s[idx[k]].done = group[k].done;
            }
            rl_free(group);
            rl_free(idx);
        }
        rl_free(tried);
        for (int i = 0; i < n; i++)
            if (!s[i].done) pending = true;
        if (!pending) break;
        if (failed) { /* retriable failures: new leaders, then back off */
            for (int ti = 0; ti < p->n_topics; ti++)
                topic_refresh(p, &p->topics[ti]);
            sleep_ms(ringlet_backoff_ms(&p->cl->conf, round));
        }
    }
    for (int i = 0; i < n; i++) {
        proto_writer_free(&s[i].bytes);
        rl_free(s[i].opaques);
    }
    rl_free(s);
    p->queue = NULL;
    p->nq = 0;
    return reported;
}

/* Closes the selected open batches (all when force, else full or lingered ones) and sends the
 * queue when forced, when a lingered batch was closed, or when it is long enough. */
static int drain(struct ringlet_producer *p, bool force) {
    int64_t now = rl_mono_ms();
    int reported = 0;
    bool lingered = false;
    for (int ti = 0; ti < p->n_topics; ti++) {
        struct ptopic *t = &p->topics[ti];
        for (int32_t pi = 0; pi < t->n_partitions; pi++) {
            struct pbatch *b = &t->batches[pi];
            if (!b->open) continue;
            bool full = b->bytes >= (size_t)p->conf.batch_size;
            bool old = now - b->created_ms >= p->conf.linger_ms;
            if (!force && !full && !old) continue;
            if (old) lingered = true;
            reported += close_batch(p, ti, pi);
        }
    }
    if (p->nq > 0 && (force || lingered || p->nq >= MAX_QUEUED_BATCHES ||
                      now - p->queue[0].created_ms >= p->conf.linger_ms))
        reported += send_queue(p);
    return reported;
}

int ringlet_producer_send(struct ringlet_producer *p, const char *topic, int32_t partition,
                          const void *key, int32_t key_len, const void *value, int32_t value_len,
                          const struct proto_record_header *headers, int32_t n_headers,
                          int64_t timestamp_ms, void *msg_opaque) {
    struct ptopic *t;
    int err = topic_get(p, topic, &t);
    if (err) return err;
    if (partition >= t->n_partitions || partition < -1) {
        snprintf(p->last_error, sizeof(p->last_error),
                 "topic %s has %d partitions: there is no partition %d", topic, t->n_partitions,
                 partition);
        return -EINVAL;
    }
    bool unkeyed = partition < 0 && (key == NULL || key_len < 0);
    if (partition < 0) {
        if (key != NULL && key_len >= 0) {
            partition = ringlet_partition_for_key(key, (size_t)key_len, t->n_partitions);
        } else {
            if (t->sticky < 0) t->sticky = sticky_pick(p, t, -1);
            partition = t->sticky;
        }
    }
    size_t rec_bytes =
        (size_t)(key_len > 0 ? key_len : 0) + (size_t)(value_len > 0 ? value_len : 0) + 24;
    for (int32_t i = 0; i < n_headers; i++)
        rec_bytes +=
            (size_t)RL_MAX(headers[i].key.len, 0) + (size_t)RL_MAX(headers[i].value.len, 0) + 4;
    if (rec_bytes > 64u * 1024 * 1024) {
        snprintf(p->last_error, sizeof(p->last_error), "record of %zu bytes is too large",
                 rec_bytes);
        return -EMSGSIZE;
    }
    struct pbatch *b = &t->batches[partition];
    /* A record that would overflow a non-empty batch closes it first. */
    if (b->open && b->bytes + rec_bytes > (size_t)p->conf.batch_size) {
        close_batch(p, (int)(t - p->topics), partition);
        if (p->nq >= MAX_QUEUED_BATCHES) send_queue(p);
        b = &t->batches[partition]; /* a metadata refresh may have moved the array */
        if (unkeyed && t->sticky >= 0) partition = t->sticky; /* the sticky partition moved on */
        b = &t->batches[partition];
    }
    if (!b->open) {
        int64_t ts = timestamp_ms >= 0 ? timestamp_ms : rl_now_ms();
        proto_batch_builder_init(&b->b, ts);
        b->open = true;
        b->created_ms = rl_mono_ms();
        b->bytes = 0;
    }
    int64_t ts = timestamp_ms >= 0 ? timestamp_ms : rl_now_ms();
    struct proto_bytes k = key ? (struct proto_bytes){key, key_len} : PROTO_BYTES_NULL;
    struct proto_bytes v = value ? (struct proto_bytes){value, value_len} : PROTO_BYTES_NULL;
    proto_batch_builder_add(&b->b, ts, k, v, headers, n_headers);
    if (b->n_opaques == b->cap_opaques) {
        b->cap_opaques = b->cap_opaques ? b->cap_opaques * 2 : 16;
        b->opaques = rl_realloc(b->opaques, sizeof(void *) * (size_t)b->cap_opaques);
    }
    b->opaques[b->n_opaques++] = msg_opaque;
    b->bytes += rec_bytes;
    if (b->bytes >= (size_t)p->conf.batch_size) {
        close_batch(p, (int)(t - p->topics), partition);
        if (p->nq >= MAX_QUEUED_BATCHES) send_queue(p);
    }
    return 0;
}

int ringlet_producer_poll(struct ringlet_producer *p) {
    return drain(p, false);
}

int ringlet_producer_flush(struct ringlet_producer *p) {
    drain(p, true);
    bool failed = p->failed_since_flush;
    p->failed_since_flush = false;
    return failed ? -EIO : 0;
}

void ringlet_producer_destroy(struct ringlet_producer *p) {
    if (p == NULL) return;
    for (int i = 0; i < p->nq; i++) {
        if (!p->queue[i].done)
            report(p, p->topics[p->queue[i].topic].name, p->queue[i].partition, -1, 0, -ECANCELED,
                   p->queue[i].opaques, p->queue[i].count);
        proto_writer_free(&p->queue[i].bytes);
        rl_free(p->queue[i].opaques);
    }
    rl_free(p->queue);
    for (int ti = 0; ti < p->n_topics; ti++) {
        struct ptopic *t = &p->topics[ti];
        for (int32_t pi = 0; pi < t->n_partitions; pi++) {
            struct pbatch *b = &t->batches[pi];
            if (!b->open) continue;
            report(p, t->name, pi, -1, 0, -ECANCELED, b->opaques, b->n_opaques);
            proto_batch_builder_free(&b->b);
            rl_free(b->opaques);
        }
        rl_free(t->batches);
        rl_free(t->leaders);
        rl_free(t->next_seq);
        rl_free(t->name);
    }
    rl_free(p->topics);
    rl_free(p);
}
