/* SPDX-License-Identifier: Apache-2.0 */
/*
 * producers.c - idempotent producers: producer id allocation (InitProducerId) and, per
 * partition, each producer's epoch and its last 5 batches, for Kafka's duplicate and sequence
 * checks.
 *
 * Rules (Kafka 3.x ProducerStateManager):
 *   - a batch from an epoch older than the one known: INVALID_PRODUCER_EPOCH;
 *   - a newer epoch must start at sequence 0, else OUT_OF_ORDER_SEQUENCE_NUMBER;
 *   - same epoch: a batch equal (first and last sequence) to one of the last 5 is a duplicate,
 *     answered with success and its original base offset; otherwise its first sequence must
 *     follow the last one (wrapping after INT32_MAX), else OUT_OF_ORDER_SEQUENCE_NUMBER;
 *   - a producer id with no state here (new, or expired) is accepted at any sequence, as Kafka
 *     does since KIP-360 when no state is left for it.
 *
 * On disk: <log.dir>/producer-id-block holds "next_producer_id: N": ids below N may have been
 * handed out. Ids are reserved in blocks of PID_BLOCK so the file is written rarely; a restart
 * continues at the block end, so an id is never given twice.
 *
 * Per partition, a clean stop writes <partition dir>/producer-state.snapshot (the state and the
 * log end offset it covers); start-up loads it, deletes it, and scans only the batches appended
 * after it. Without a usable snapshot (crash) the state is rebuilt from the last
 * PSTATE_SCAN_OFFSETS offsets of the log; producers last seen before that window are treated
 * as new (any sequence accepted, as Kafka does for producers whose state expired).
 *
 * Transactions are not served (no AddPartitionsToTxn/EndTxn in the API table). InitProducerId
 * with a transactional id still works the Kafka way for fencing (same id -> same producer id,
 * epoch bumped), kept in memory only; a transactional producer then fails at its first
 * transaction call because the broker does not advertise the transaction APIs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "topics.h"

#define PID_BLOCK           1000
#define PSTATE_CACHED       5
#define PSTATE_SCAN_OFFSETS 100000
#define PSTATE_SNAPSHOT     "producer-state.snapshot"

struct txn_entry {
    char *id;
    int64_t pid;
    int16_t epoch;
    struct txn_entry *next;
};

struct broker_producers {
    int64_t next_pid;
    int64_t block_end; /* ids < block_end are covered by the file */
    char *path;
    struct txn_entry *txns;
};

/* ---- producer id allocation ----------------------------------------------------------------- */

static int write_block(struct broker_producers *ps, int64_t end) {
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "next_producer_id: %lld\n", (long long)end);
    int rc = broker_write_file_atomic(ps->path, buf, (size_t)n);
    if (rc < 0) rl_error("producers", "cannot write %s: %s", ps->path, rl_strerror(rc));
    return rc;
}

int broker_producers_init(struct broker *b) {
    struct broker_producers *ps = rl_calloc(1, sizeof(*ps));
    size_t n = strlen(b->cfg.log_dir) + 32;
    ps->path = rl_malloc(n);
    snprintf(ps->path, n, "%s/producer-id-block", b->cfg.log_dir);
    FILE *f = fopen(ps->path, "re");
    if (f) {
        long long v = 0;
        if (fscanf(f, "next_producer_id: %lld", &v) == 1 && v >= 0) ps->next_pid = v;
        fclose(f);
    }
    ps->block_end = ps->next_pid;
    b->producers = ps;
    return 0;
}

void broker_producers_shutdown(struct broker *b) {
    struct broker_producers *ps = b->producers;
    if (!ps) return;
    while (ps->txns) {
        struct txn_entry *e = ps->txns;
        ps->txns = e->next;
        rl_free(e->id);
        rl_free(e);
    }
    rl_free(ps->path);
    rl_free(ps);
    b->producers = NULL;
}

int64_t broker_producers_next_id(struct broker *b) {
    struct broker_producers *ps = b->producers;
    if (ps->next_pid >= ps->block_end) {
        int64_t end = ps->next_pid + PID_BLOCK;
        if (write_block(ps, end) < 0) return -1;
        ps->block_end = end;
    }
    return ps->next_pid++;
}

void broker_producers_seen_id(struct broker *b, int64_t pid) {
    struct broker_producers *ps = b->producers;
    if (ps && pid >= ps->next_pid) ps->next_pid = pid + 1;
}

/* ---- per-partition state -------------------------------------------------------------------- */

struct pbatch {
    int32_t first_seq, last_seq;
    int64_t base_offset;
};

struct pentry {
    int64_t pid;
    int16_t epoch;
    int n; /* cached batches, oldest first */
    struct pbatch batches[PSTATE_CACHED];
    int64_t last_ms;
    struct pentry *next;
};

struct broker_pstate {
    struct pentry **buckets;
    size_t nbuckets;
    size_t count;
};

int32_t broker_seq_add(int32_t seq, int32_t delta) {
    int64_t v = (int64_t)seq + delta;
    if (v > INT32_MAX) v -= (int64_t)INT32_MAX + 1;
    return (int32_t)v;
}

struct broker_pstate *broker_pstate_new(void) {
    struct broker_pstate *s = rl_calloc(1, sizeof(*s));
    s->nbuckets = 8;
    s->buckets = rl_calloc(s->nbuckets, sizeof(*s->buckets));
    return s;
}

void broker_pstate_free(struct broker_pstate *s) {
    if (!s) return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        while (s->buckets[i]) {
            struct pentry *e = s->buckets[i];
            s->buckets[i] = e->next;
            rl_free(e);
        }
    }
    rl_free(s->buckets);
    rl_free(s);
}

size_t broker_pstate_count(const struct broker_pstate *s) {
    return s->count;
}

static size_t bucket(const struct broker_pstate *s, int64_t pid) {
    return (size_t)rl_hash64(&pid, sizeof(pid), 7) & (s->nbuckets - 1);
}

static struct pentry *find(const struct broker_pstate *s, int64_t pid) {
    for (struct pentry *e = s->buckets[bucket(s, pid)]; e; e = e->next)
        if (e->pid == pid) return e;
    return NULL;
}

static void grow(struct broker_pstate *s) {
    size_t nb = s->nbuckets * 2;
    struct pentry **nbk = rl_calloc(nb, sizeof(*nbk));
    for (size_t i = 0; i < s->nbuckets; i++) {
        while (s->buckets[i]) {
            struct pentry *e = s->buckets[i];
            s->buckets[i] = e->next;
            size_t h = (size_t)rl_hash64(&e->pid, sizeof(e->pid), 7) & (nb - 1);
            e->next = nbk[h];
            nbk[h] = e;
        }
    }
    rl_free(s->buckets);
    s->buckets = nbk;
    s->nbuckets = nb;
}

int16_t broker_pstate_check(struct broker_pstate *s, int64_t pid, int16_t epoch, int32_t first_seq,
                            int32_t last_seq, bool *dup, int64_t *dup_offset) {
    *dup = false;
    struct pentry *e = find(s, pid);
    if (!e) return PROTO_ERR_NONE;
    if (epoch < e->epoch) return PROTO_ERR_INVALID_PRODUCER_EPOCH;
    if (epoch > e->epoch)
        return first_seq == 0 ? PROTO_ERR_NONE : PROTO_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    for (int i = 0; i < e->n; i++) {
        if (e->batches[i].first_seq == first_seq && e->batches[i].last_seq == last_seq) {
            *dup = true;
            *dup_offset = e->batches[i].base_offset;
            return PROTO_ERR_NONE;
        }
    }
    if (e->n == 0) return PROTO_ERR_NONE;
    if (first_seq != broker_seq_add(e->batches[e->n - 1].last_seq, 1))
        return PROTO_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER;
    return PROTO_ERR_NONE;
}

void broker_pstate_record(struct broker_pstate *s, int64_t pid, int16_t epoch, int32_t first_seq,
                          int32_t last_seq, int64_t base_offset, int64_t now_ms) {
    struct pentry *e = find(s, pid);
    if (!e) {
        if (s->count >= s->nbuckets) grow(s);
        e = rl_calloc(1, sizeof(*e));
        e->pid = pid;
        e->epoch = epoch;
        size_t h = bucket(s, pid);
        e->next = s->buckets[h];
        s->buckets[h] = e;
        s->count++;
    }
    if (epoch != e->epoch) {
        e->epoch = epoch;
        e->n = 0;
    }
    if (e->n == PSTATE_CACHED) {
        memmove(&e->batches[0], &e->batches[1], (PSTATE_CACHED - 1) * sizeof(e->batches[0]));
        e->n--;
    }
    e->batches[e->n++] = (struct pbatch){first_seq, last_seq, base_offset};
    if (now_ms > e->last_ms) e->last_ms = now_ms;
}

void broker_pstate_forget(struct broker_pstate *s, int64_t pid, int16_t epoch, int32_t first_seq) {
    struct pentry *e = find(s, pid);
    if (!e || e->epoch != epoch) return;
    for (int i = 0; i < e->n; i++) {
        if (e->batches[i].first_seq == first_seq) {
            e->n = i;
            return;
        }
    }
}

void broker_pstate_expire(struct broker_pstate *s, int64_t cutoff_ms) {
    if (!s) return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct pentry **pp = &s->buckets[i];
        while (*pp) {
            struct pentry *e = *pp;
            if (e->last_ms < cutoff_ms) {
                *pp = e->next;
                rl_free(e);
                s->count--;
            } else {
                pp = &e->next;
            }
        }
    }
}

struct rebuild_ctx {
    struct broker *b;
    struct broker_pstate *s;
    int64_t batches;
};

static int rebuild_cb(void *arg, const uint8_t *batch, size_t len) {
    struct rebuild_ctx *c = arg;
    struct proto_batch_header h;
    if (proto_batch_header_parse(batch, len, &h) < 0) return 0;
    c->batches++;
    if (h.ProducerId < 0) return 0;
    if (c->b) broker_producers_seen_id(c->b, h.ProducerId);
    if (h.Attributes & PROTO_ATTR_CONTROL) return 0;
    if (h.BaseSequence < 0) return 0;
    broker_pstate_record(c->s, h.ProducerId, h.ProducerEpoch, h.BaseSequence,
                         broker_seq_add(h.BaseSequence, h.LastOffsetDelta), h.BaseOffset,
                         h.MaxTimestamp > 0 ? h.MaxTimestamp : rl_now_ms());
    return 0;
}

static char *snapshot_path(const struct broker *b, const char *topic, int32_t partition) {
    size_t n = strlen(b->cfg.log_dir) + strlen(topic) + 64;
    char *p = rl_malloc(n);
    snprintf(p, n, "%s/%s-%d/" PSTATE_SNAPSHOT, b->cfg.log_dir, topic, partition);
    return p;
}

int broker_pstate_save(struct broker *b, struct broker_pstate *s, const char *topic,
                       int32_t partition, int64_t end_offset) {
    char *path = snapshot_path(b, topic, partition);
    int rc = 0;
    if (s->count == 0) {
        unlink(path);
        rl_free(path);
        return 0;
    }
    struct proto_writer w;
    proto_writer_init(&w);
    char line[64 + PSTATE_CACHED * 64];
    int n = snprintf(line, sizeof(line), "ringlet-producer-state 1 %lld %zu\n",
                     (long long)end_offset, s->count);
    proto_write_raw(&w, line, (size_t)n);
    for (size_t i = 0; i < s->nbuckets; i++) {
        for (struct pentry *e = s->buckets[i]; e; e = e->next) {
            n = snprintf(line, sizeof(line), "%lld %d %lld %d", (long long)e->pid, e->epoch,
                         (long long)e->last_ms, e->n);
            for (int k = 0; k < e->n; k++)
                n += snprintf(line + n, sizeof(line) - (size_t)n, " %d %d %lld",
                              e->batches[k].first_seq, e->batches[k].last_seq,
                              (long long)e->batches[k].base_offset);
            line[n++] = '\n';
            proto_write_raw(&w, line, (size_t)n);
        }
    }
    rc = broker_write_file_atomic(path, w.buf, w.len);
    if (rc < 0) rl_warn("producers", "cannot write %s: %s", path, rl_strerror(rc));
    proto_writer_free(&w);
    rl_free(path);
    return rc;
}

/* Loads a snapshot written at the last clean stop; *offset = the log end offset it covers.
 * Returns 0, or -ENOENT / -EINVAL (then s is left empty). */
static int pstate_load(struct broker *b, struct broker_pstate *s, const char *path,
                       int64_t *offset) {
    FILE *f = fopen(path, "re");
    if (!f) return -ENOENT;
    long long off;
    size_t count;
    int rc = 0;
    if (fscanf(f, "ringlet-producer-state 1 %lld %zu", &off, &count) != 2) rc = -EINVAL;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        long long pid, last_ms;
        int epoch, nb;
        if (fscanf(f, "%lld %d %lld %d", &pid, &epoch, &last_ms, &nb) != 4 || nb < 0 ||
            nb > PSTATE_CACHED) {
            rc = -EINVAL;
            break;
        }
        for (int k = 0; k < nb; k++) {
            int first, last;
            long long base;
            if (fscanf(f, "%d %d %lld", &first, &last, &base) != 3) {
                rc = -EINVAL;
                break;
            }
            broker_pstate_record(s, pid, (int16_t)epoch, first, last, base, last_ms);
        }
        if (b) broker_producers_seen_id(b, pid);
    }
    fclose(f);
    if (rc < 0) {
        for (size_t i = 0; i < s->nbuckets; i++) {
            while (s->buckets[i]) {
                struct pentry *e = s->buckets[i];
                s->buckets[i] = e->next;
                rl_free(e);
            }
        }
        s->count = 0;
        return rc;
    }
    *offset = off;
    return 0;
}

int broker_pstate_rebuild(struct broker *b, struct broker_pstate *s, struct storage_log *log,
                          const char *topic, int32_t partition) {
    int64_t end = storage_log_end_offset(log);
    int64_t start = storage_log_start_offset(log);
    char *path = snapshot_path(b, topic, partition);
    int64_t snap = -1;
    int lrc = pstate_load(b, s, path, &snap);
    /* used once: a crash after new appends must not find a stale snapshot next time */
    if (lrc != -ENOENT) unlink(path);
    rl_free(path);
    if (lrc == 0 && snap > end) {
        /* the log lost a tail the snapshot had seen (recovery): rebuild from the log */
        broker_pstate_expire(s, INT64_MAX);
        lrc = -ESTALE;
    }
    int64_t from;
    if (lrc == 0)
        from = snap > start ? snap : start;
    else
        from = end - PSTATE_SCAN_OFFSETS > start ? end - PSTATE_SCAN_OFFSETS : start;
    if (end <= from) return 0;
    struct rebuild_ctx c = {b, s, 0};
    int rc = storage_log_scan(log, from, rebuild_cb, &c);
    if (rc < 0) rl_warn("producers", "producer state scan failed: %s", rl_strerror(rc));
    return rc;
}

/* ---- InitProducerId ------------------------------------------------------------------------- */

int broker_api_init_producer_id(struct broker_request *req) {
    struct broker *b = req->b;
    struct broker_producers *ps = b->producers;
    struct InitProducerIdRequest rq;
    proto_InitProducerIdRequest_init(&rq);
    if (proto_InitProducerIdRequest_decode(&req->body, req->hdr.ApiVersion, &req->arena, &rq) < 0) {
        broker_request_close_conn(req, "malformed InitProducerId request");
        return 0;
    }
    struct InitProducerIdResponse rs;
    proto_InitProducerIdResponse_init(&rs);
    rs.ProducerId = -1;
    rs.ProducerEpoch = -1;
    if (rq.TransactionalId.len < 0) {
        /* idempotent producer: always a fresh id at epoch 0, as Kafka does */
        int64_t pid = broker_producers_next_id(b);
        if (pid < 0) {
            rs.ErrorCode = PROTO_ERR_KAFKA_STORAGE_ERROR;
        } else {
            rs.ProducerId = pid;
            rs.ProducerEpoch = 0;
        }
    } else {
        struct txn_entry *e = ps->txns;
        while (e && !proto_str_eq(rq.TransactionalId, e->id))
            e = e->next;
        if (e && rq.ProducerId >= 0 && (rq.ProducerId != e->pid || rq.ProducerEpoch != e->epoch)) {
            /* KIP-360: a bump request from an instance that is no longer current */
            rs.ErrorCode = PROTO_ERR_PRODUCER_FENCED;
            if (req->hdr.ApiVersion < 4) rs.ErrorCode = PROTO_ERR_INVALID_PRODUCER_EPOCH;
        } else {
            if (!e) {
                e = rl_calloc(1, sizeof(*e));
                e->id = proto_str_dup(rq.TransactionalId);
                e->pid = -1;
                e->next = ps->txns;
                ps->txns = e;
            }
            if (e->pid < 0 || e->epoch >= INT16_MAX - 1) {
                e->pid = broker_producers_next_id(b);
                e->epoch = 0;
            } else {
                e->epoch++;
            }
            if (e->pid < 0) {
                rs.ErrorCode = PROTO_ERR_KAFKA_STORAGE_ERROR;
            } else {
                rs.ProducerId = e->pid;
                rs.ProducerEpoch = e->epoch;
            }
        }
    }
    BROKER_RESPOND(req, InitProducerIdResponse, &rs);
    return 0;
}
