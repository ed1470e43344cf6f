/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - a partition log: an ordered array of segments (oldest first, the last one active),
 * offsets, appends with group commit, reads, time lookups, roll, retention, delete-records,
 * truncation and crash recovery.
 *
 * Invariants (owner thread of the engine):
 *  1. start_offset <= durable_offset <= end_offset <= next_offset, except that start_offset may
 *     pass durable_offset after DeleteRecords. Readers see [start_offset, end_offset).
 *  2. Appends are written in the order they were assigned offsets; end_offset advances over an
 *     append only when its write and every earlier append's write completed (log_advance).
 *  3. A durable append completes when a flush submitted after its write completed finishes
 *     (group commit). One flush = one fdatasync per dirty segment; one flush in flight per log.
 *  4. After a failed write or fsync the log is failed (err != 0): every queued append and waiter
 *     fails with err; the next append, once nothing is in flight, cuts the files back to
 *     recover_offset (last written / last durable offset) and clears err.
 *  5. Bytes beyond a segment's `end` (pre-written zeros, failed writes) are never batches:
 *     sealing, closing and recovery cut the file to `end`.
 *
 * State of a log:
 *   healthy --write/fsync error (log_fail)--> failed --append with nothing in flight
 *   (log_recover_error: log_cut)--> healthy;  any --storage_log_close/_delete--> gone.
 * State of a segment:
 *   active --log_roll--> sealed --in-flight ops drained (seg_finish_seal: ftruncate op)-->
 *   cutting --op done (seg_cut_done)--> truncated --fsync of a later flush (op_complete)-->
 *   finalized;  any --retention/delete/cut--> unlinked.
 * Spare segment of a log (the next roll's files, made ahead off the owner thread):
 *   none --active segment half full (spare_start)--> opening --all opened (spare_opened)-->
 *   ready --log_roll (spare_take: renamed)--> none;  a failed open, close --> none
 *   (spare_discard: files closed and removed).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ringlet/protocol.h"
#include "segment.h"

static void log_maybe_flush(struct storage_log *log);
static void dcache_drop_seg(struct storage_log *log, const struct storage_segment *seg);
static void log_trim_cache(struct storage_log *log);
static void seg_finish_seal(struct storage_log *log, struct storage_segment *s);
static void seg_cut_done(struct storage_log *log, struct storage_segment *s, int res);
static void spare_opened(struct storage_log *log, int slot, int res);

static struct storage_segment *active_seg(const struct storage_log *log) {
    return log->segs[log->n_segs - 1];
}

/* One past the last offset stored in segment i. */
static int64_t seg_next(const struct storage_log *log, int i) {
    return i + 1 < log->n_segs ? log->segs[i + 1]->base_offset : log->next_offset;
}

static void sanitize_config(struct storage_log_config *c) {
    if (c->segment_bytes <= 0) c->segment_bytes = 1073741824;
    if (c->segment_bytes > INT32_MAX) c->segment_bytes = INT32_MAX;
    if (c->segment_ms <= 0) c->segment_ms = INT64_MAX;
    if (c->index_interval_bytes < 0) c->index_interval_bytes = 4096;
    if (c->flush_messages <= 0) c->flush_messages = INT64_MAX;
    if (c->flush_ms < 0) c->flush_ms = INT64_MAX;
}

static void seg_push(struct storage_log *log, struct storage_segment *s) {
    if (log->n_segs == log->cap_segs) {
        log->cap_segs = log->cap_segs ? log->cap_segs * 2 : 8;
        log->segs = rl_realloc(log->segs, sizeof(*log->segs) * (size_t)log->cap_segs);
    }
    log->segs[log->n_segs++] = s;
}

/* Unlinks and frees segment i (nothing may be in flight on it). */
static void seg_remove(struct storage_log *log, int i) {
    struct storage_segment *s = log->segs[i];
    RL_BUG_ON(s->inflight != 0 || s->unwritten != 0);
    if (log->dtail_seg == s) log->dtail_seg = NULL;
    dcache_drop_seg(log, s);
    storage__seg_unlink(log, s);
    storage__seg_free(s);
    memmove(&log->segs[i], &log->segs[i + 1], sizeof(*log->segs) * (size_t)(log->n_segs - i - 1));
    log->n_segs--;
}

/* Opens segment i's fd and index. */
static int seg_ready(struct storage_log *log, int i) {
    struct storage_segment *s = log->segs[i];
    int fd = storage__seg_fd(log, s);
    if (fd < 0) return fd;
    if (!s->idx_loaded) return storage__seg_index_load(log, s, seg_next(log, i));
    return 0;
}

static int find_seg(const struct storage_log *log, int64_t offset) {
    int lo = 0, hi = log->n_segs - 1, found = 0;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (log->segs[mid]->base_offset <= offset) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

/* A pooled op of `kind` on segment s of log: fd, buf[0..len) at file position pos (an fsync
 * keeps its submission time in pos); everything else zero. */
static struct storage_op *seg_op(struct storage_log *log, struct storage_segment *s,
                                 enum storage_op_kind kind, int fd, const uint8_t *buf,
                                 uint32_t len, int64_t pos) {
    struct storage_op *op = storage__op_get(log->engine);
    op->kind = (uint8_t)kind;
    op->log = log;
    op->seg = s;
    op->fd = fd;
    op->buf = buf;
    op->len = len;
    op->pos = pos;
    return op;
}

/* Counts op as in flight on its segment and log, and submits it. */
static void seg_submit(struct storage_log *log, struct storage_op *op) {
    op->seg->inflight++;
    log->inflight++;
    storage__op_submit(log->engine, op);
}

/* ---- completions ----------------------------------------------------------------------------- */

/* An append's bytes are written (res 0) or will never be (res < 0). */
static void append_written(struct storage_op *op, int res) {
    op->completed = true;
    op->res = res;
    op->seg->unwritten--;
}

static void op_finish(struct storage_log *log, struct storage_op *op, int err) {
    storage_append_cb cb = op->cb;
    void *arg = op->arg;
    int64_t base = op->base_offset;
    storage__op_put(log->engine, op);
    if (cb) cb(arg, err, base);
}

/* Enters the failed state (invariant 4) and fails every waiter. */
static void log_fail(struct storage_log *log, int err, int64_t recover_offset) {
    if (!log->err) {
        log->err = err;
        log->recover_offset = recover_offset;
        rl_error(STORAGE_MOD,
                 "%s: %s; partition stops accepting writes until the next append "
                 "succeeds after cutting back to offset %lld",
                 log->dir, rl_strerror(err), (long long)recover_offset);
    } else if (recover_offset < log->recover_offset) {
        log->recover_offset = recover_offset;
    }
    struct storage_op *op;
    while ((op = log->waiters_head)) {
        log->waiters_head = op->lnext;
        if (!log->waiters_head) log->waiters_tail = NULL;
        op_finish(log, op, log->err);
    }
}

/* Makes completed writes visible in order (invariant 2) and hands durable ones to the flush. */
static void log_advance(struct storage_log *log) {
    struct storage_engine *e = log->engine;
    struct storage_op *op;
    while ((op = log->appends_head) && op->completed) {
        log->appends_head = op->lnext;
        if (!log->appends_head) log->appends_tail = NULL;
        op->lnext = NULL;
        if (op->res < 0 && !log->err) log_fail(log, op->res, log->end_offset);
        if (log->err) {
            op_finish(log, op, log->err);
            continue;
        }
        log->end_offset = op->end_offset;
        op->seg->size = op->pos + op->len;
        log->bytes_since_trim += op->len;
        op->seg->dirty = true;
        log->unflushed_msgs += op->end_offset - op->base_offset;
        if (op->durable && e->policy == STORAGE_FLUSH_GROUP_COMMIT) {
            if (log->waiters_tail) {
                log->waiters_tail->lnext = op;
            } else {
                log->waiters_head = op;
                log->waiters_since_ns = rl_mono_ns();
            }
            log->waiters_tail = op;
        } else {
            op_finish(log, op, 0);
        }
    }
    if (e->policy == STORAGE_FLUSH_INTERVAL && log->unflushed_msgs >= log->cfg.flush_messages)
        log->flush_requested = true;
    if (e->cache_tail && log->bytes_since_trim >= STORAGE_TRIM_EVERY_BYTES) log_trim_cache(log);
    log_maybe_flush(log);
}

static void flush_done(struct storage_log *log) {
    if (log->flush_err) {
        int err = log->flush_err;
        log->flush_err = 0;
        /* What the failed fsync covered may be lost (the kernel may have dropped dirty pages):
         * only what an earlier fsync made durable is trusted. */
        log_fail(log, err, log->durable_offset);
        return;
    }
    if (log->flush_target > log->durable_offset) log->durable_offset = log->flush_target;
    struct storage_op *op;
    while ((op = log->waiters_head) && op->end_offset <= log->durable_offset) {
        log->waiters_head = op->lnext;
        if (!log->waiters_head) log->waiters_tail = NULL;
        op_finish(log, op, 0);
    }
    log_maybe_flush(log);
}

/* Starts a flush if one is needed and none is in flight (invariant 3). */
static void log_maybe_flush(struct storage_log *log) {
    struct storage_engine *e = log->engine;
    if (log->flush_inflight || log->err) return;
    bool need =
        log->flush_requested || (log->waiters_head && e->policy == STORAGE_FLUSH_GROUP_COMMIT);
    if (!need) return;
    /* Writes still in flight complete within microseconds, an fdatasync takes far longer: let
     * them join this flush rather than the next one, unless the first waiter has waited long. */
    if (!log->flush_requested && log->appends_head &&
        rl_mono_ns() - log->waiters_since_ns < STORAGE_GROUP_COMMIT_MAX_DEFER_NS)
        return;
    log->flush_requested = false;
    log->flush_target = log->end_offset;
    log->unflushed_msgs = 0;
    log->last_flush_ms = rl_mono_ms();
    struct storage_op *list = NULL;
    for (int i = log->n_segs - 1; i >= 0; i--) {
        struct storage_segment *s = log->segs[i];
        if (!s->dirty) {
            if (s->sealed && s->finalized) break; /* older ones cannot be dirty */
            continue;
        }
        s->dirty = false;
        struct storage_op *op = seg_op(log, s, STORAGE_OP_FSYNC, s->fd, NULL, 0, rl_mono_ns());
        op->covers_truncate = s->truncated;
        s->inflight++;
        log->inflight++;
        log->flush_inflight++;
        op->next = list;
        list = op;
    }
    if (log->dir_unsynced) {
        /* a roll's new file names: synced with this flush's data, so a durable append in the new
         * segment completes only once its name is durable too */
        struct storage_segment *s = active_seg(log);
        struct storage_op *op = seg_op(log, s, STORAGE_OP_FSYNC, log->dirfd, NULL, 0, rl_mono_ns());
        op->sync_all = true; /* fdatasync need not commit a directory's new entries */
        log->dir_unsynced = false;
        s->inflight++;
        log->inflight++;
        log->flush_inflight++;
        op->next = list;
        list = op;
    }
    if (!list) {
        flush_done(log);
        return;
    }
    while (list) {
        struct storage_op *op = list;
        list = op->next;
        op->next = NULL;
        storage__op_submit(e, op);
    }
}

/* ---- direct I/O ------------------------------------------------------------------------------
 * With the engine's direct I/O on, appends are written with O_DIRECT from staging buffers instead
 * of from the callers' buffers: direct writes need block-aligned file offsets, lengths and
 * memory, and batches in request frames are none of these. Copying here replaces the kernel's
 * copy into the page cache, which also allocates, tracks and writes back every page (measured on
 * this project's VMs: 0.15-0.35 CPU seconds per GB written instead of 0.36-0.43).
 *
 * A write covers [dpos, dpos + dlen): first the partial block left by the previous write
 * (log->dtail), then a group of queued appends. Under load (appends had to wait, or other writes
 * are in flight) it ends at the last whole block and keeps the rest in dtail for the next write,
 * so up to STORAGE_DIRECT_MAX_INFLIGHT writes of one log never overlap and run in parallel. A
 * write that ends in a partial block pads it with zeros and is a barrier: the next write starts
 * by rewriting that block, so it waits. That happens when the log goes quiet (nothing queued,
 * nothing in flight: the held-back bytes go out alone) or when a group has no whole block.
 * Rewriting a block writes the bytes already in it again, unchanged, so data already durable is
 * never at risk; the zeros after the log's end are never batches (invariant 5).
 *
 * An append completes when the writes covering its last byte and everything before it have
 * completed: writes are reaped in file order (dw_head), whatever order the disk finishes them. */

/* A staging buffer of at least len bytes; *cap gets its size (to the block for small ones, else
 * its pool class or a larger one), since it may stay in the read cache and counts against it.
 * Buffers from STORAGE_DBUF_STEP come from the engine's pool when it has one: under load each
 * write takes one and each write the read cache drops gives one back, so the memory is touched
 * once. */
static uint8_t *dbuf_get(struct storage_engine *e, size_t len, size_t *cap) {
    size_t small = (len + e->dio_align - 1) & ~((size_t)e->dio_align - 1);
    if (small < STORAGE_DBUF_STEP) {
        *cap = small;
        return rl_aligned_alloc(e->dio_align, small);
    }
    uint8_t *b = rl_bufpool_get(&e->dbuf, len, cap);
    if (b) return b;
    *cap = (len + e->dbuf.align - 1) / e->dbuf.align * e->dbuf.align; /* beyond the classes */
    return rl_aligned_alloc(e->dbuf.align, *cap);
}

/* Gives back a staging buffer of cap bytes (from dbuf_get): kept for reuse while the pool has
 * room, else freed. */
static void dbuf_put(struct storage_engine *e, uint8_t *buf, size_t cap) {
    rl_bufpool_put(&e->dbuf, buf, cap);
}

/* ---- direct I/O read cache ---------------------------------------------------------------------
 * Completed direct writes keep their staging buffers as a cache of the newest data, so consumers
 * at the tail read memory instead of the disk (the writes bypass the page cache). Entries are
 * added in file order as writes are reaped; the engine drops the oldest beyond
 * direct_cache_bytes, and a log keeps at most STORAGE_DCACHE_MAX_ENTRIES. Entries go with their
 * segment (retention, truncation) and their log. */

static void dcache_drop(struct storage_engine *e, struct storage_dcache *c) {
    struct storage_log *log = c->log;
    if (c->lprev)
        c->lprev->lnext = c->lnext;
    else
        log->dc_first = c->lnext;
    if (c->lnext)
        c->lnext->lprev = c->lprev;
    else
        log->dc_last = c->lprev;
    if (c->eprev)
        c->eprev->enext = c->enext;
    else
        e->dc_oldest = c->enext;
    if (c->enext)
        c->enext->eprev = c->eprev;
    else
        e->dc_newest = c->eprev;
    e->dcache_bytes -= (int64_t)c->cap;
    log->n_dc--;
    dbuf_put(e, c->buf, c->cap);
    rl_free(c);
}

/* Drops the entries of one segment (seg NULL: of the whole log). */
static void dcache_drop_seg(struct storage_log *log, const struct storage_segment *seg) {
    for (struct storage_dcache *c = log->dc_first, *next; c; c = next) {
        next = c->lnext;
        if (!seg || c->seg == seg) dcache_drop(log->engine, c);
    }
}

/* Takes a reaped direct write's buffer: cached when it holds written data, else released. */
static void dcache_add(struct storage_log *log, struct storage_op *w) {
    struct storage_engine *e = log->engine;
    if (!e->dcache_limit || w->res < 0 || w->pos <= w->dpos) {
        dbuf_put(e, w->dbuf, w->len);
        w->dbuf = NULL;
        return;
    }
    struct storage_dcache *c = rl_malloc(sizeof(*c));
    *c = (struct storage_dcache){.lprev = log->dc_last,
                                 .eprev = e->dc_newest,
                                 .log = log,
                                 .seg = w->seg,
                                 .lo = w->dpos,
                                 .hi = w->pos,
                                 .buf = w->dbuf,
                                 .cap = w->len};
    w->dbuf = NULL;
    if (log->dc_last)
        log->dc_last->lnext = c;
    else
        log->dc_first = c;
    log->dc_last = c;
    if (e->dc_newest)
        e->dc_newest->enext = c;
    else
        e->dc_oldest = c;
    e->dc_newest = c;
    e->dcache_bytes += (int64_t)c->cap;
    log->n_dc++;
    while (log->n_dc > STORAGE_DCACHE_MAX_ENTRIES)
        dcache_drop(e, log->dc_first);
    while (e->dcache_bytes > e->dcache_limit && e->dc_oldest)
        dcache_drop(e, e->dc_oldest);
}

size_t storage__dcache_read(struct storage_log *log, struct storage_segment *seg, int64_t pos,
                            size_t len, uint8_t *dst) {
    if (!log || !seg) return 0;
    struct storage_dcache *c = log->dc_last;
    while (c && !(c->seg == seg && c->lo <= pos && pos < c->hi)) {
        if (c->seg == seg && c->hi <= pos) return 0; /* past everything cached */
        c = c->lprev;
    }
    size_t got = 0;
    while (c && got < len && c->seg == seg && c->lo <= pos + (int64_t)got &&
           pos + (int64_t)got < c->hi) {
        int64_t at = pos + (int64_t)got;
        size_t n = RL_MIN(len - got, (size_t)(c->hi - at));
        memcpy(dst + got, c->buf + (at - c->lo), n);
        got += n;
        c = c->lnext;
    }
    return got;
}

/* Submits a direct write of buf[0..len) at dpos on s (buf holds cap bytes: op->len); the log's
 * data is written up to data_end once it (and every earlier write) completes. */
static void dwrite_submit(struct storage_log *log, struct storage_segment *s, int fd, uint8_t *buf,
                          size_t cap, size_t len, int64_t dpos, int64_t data_end, bool barrier) {
    struct storage_op *w = seg_op(log, s, STORAGE_OP_DWRITE, fd, NULL, (uint32_t)cap, data_end);
    w->dbuf = buf;
    w->dlen = (uint32_t)len;
    w->dpos = dpos;
    w->dbarrier = barrier;
    log->dbarrier = barrier;
    if (log->dw_tail)
        log->dw_tail->lnext = w;
    else
        log->dw_head = w;
    log->dw_tail = w;
    log->n_dw++;
    seg_submit(log, w);
}

/* Fails every append not yet written (a direct write failed): queued and held ones included. */
static void direct_fail(struct storage_log *log, int err) {
    log->queued_head = log->queued_tail = NULL;
    log->held_head = log->held_tail = NULL;
    log->dtail_seg = NULL;
    log->dpending = false;
    for (struct storage_op *op = log->appends_head; op; op = op->lnext)
        if (!op->completed) append_written(op, err);
}

/* Writes dtail alone, padded to its block (the log went quiet, or its segment is done). */
static int direct_flush_tail(struct storage_log *log) {
    struct storage_engine *e = log->engine;
    struct storage_segment *s = log->dtail_seg;
    int fd = storage__seg_dfd(log, s);
    if (fd < 0) return fd;
    size_t cap;
    uint8_t *buf = dbuf_get(e, e->dio_align, &cap);
    memcpy(buf, log->dtail, log->dtail_len);
    memset(buf + log->dtail_len, 0, e->dio_align - log->dtail_len);
    log->dpending = false;
    log->dloaded = false;
    dwrite_submit(log, s, fd, buf, cap, e->dio_align, log->dtail_pos,
                  log->dtail_pos + log->dtail_len, true);
    return 0;
}

/* Whether the appends at the head of the queue add up to less than the engine's direct_min. */
static bool small_group(const struct storage_engine *e, const struct storage_op *lead) {
    size_t bytes = 0;
    for (const struct storage_op *o = lead; o && bytes < e->direct_min; o = o->next) {
        if (o != lead && o->seg != lead->seg) break;
        bytes += o->len;
    }
    return bytes < e->direct_min;
}

static void buffered_issue(struct storage_log *log);

/* Writes what can be written now: queued appends in groups, or the held-back tail. */
static void direct_issue(struct storage_log *log) {
    struct storage_engine *e = log->engine;
    const int64_t mask = (int64_t)e->dio_align - 1;
    for (;;) {
        struct storage_op *lead = log->queued_head;
        int rc = 0;
        if (log->dbarrier || log->n_dw >= STORAGE_DIRECT_MAX_INFLIGHT) {
            if (lead) log->dloaded = true;
            return;
        }
        /* Zeros are pre-written through the page cache; a direct write must never run while
         * they are in flight (the kernel cannot invalidate pages being dirtied meanwhile, and
         * fails the file with EIO), so direct writes wait for them (maybe_zero waits too). */
        const struct storage_segment *act = active_seg(log);
        bool zeroing = act->zero_hi > act->zero_lo;
        if (!lead || (log->dpending && log->dtail_seg != lead->seg)) {
            if (zeroing) return;
            if (log->dpending && (lead || log->n_dw == 0)) rc = direct_flush_tail(log);
            if (rc < 0) direct_fail(log, rc);
            if (rc < 0 || !lead || log->dbarrier) return;
            continue;
        }
        if (log->write_inflight) return; /* a buffered write: the next group waits for it */
        if (small_group(e, lead) && rl_mono_ns() - log->dlast_ns > STORAGE_DIRECT_STICKY_NS) {
            /* A small write is faster through the page cache (it need not reach the disk before
             * readers see it), so a quiet log writes buffered, once its direct writes are done
             * and their held-back bytes written. Not right after direct writes: the first
             * buffered write into the page they last wrote reads it back from the disk, and
             * bursty logs would switch back and forth. */
            if (log->n_dw > 0) return;
            if (log->dpending) {
                rc = direct_flush_tail(log);
                if (rc < 0) direct_fail(log, rc);
                return;
            }
            log->dtail_seg = NULL; /* the partial block changes through the page cache */
            buffered_issue(log);
            return;
        }
        if (zeroing) return;
        struct storage_segment *s = lead->seg;
        int fd = storage__seg_dfd(log, s);
        if (fd < 0) {
            direct_fail(log, fd);
            return;
        }
        if (!log->dtail) log->dtail = rl_aligned_alloc(e->dio_align, e->dio_align);
        if (log->dtail_seg != s || log->dtail_pos + log->dtail_len != lead->pos) {
            /* first write since open, truncation or an error: the block comes from the file */
            RL_BUG_ON(log->dpending);
            int64_t at = lead->pos & ~mask;
            size_t n = (size_t)(lead->pos - at);
            if (n && pread(s->fd, log->dtail, n, at) != (ssize_t)n) {
                direct_fail(log, errno ? -errno : -EIO);
                return;
            }
            log->dtail_seg = s;
            log->dtail_pos = at;
            log->dtail_len = (uint32_t)n;
        }
        /* the group: queued appends contiguous in s, within the coalescing limits */
        struct storage_op *last = lead;
        size_t valid = log->dtail_len + lead->len;
        int n = 1;
        while (last->next && last->next->seg == s && last->next->pos == last->pos + last->len &&
               n < STORAGE_COALESCE_MAX_OPS &&
               valid + last->next->len <= STORAGE_COALESCE_MAX_BYTES) {
            last = last->next;
            valid += last->len;
            n++;
        }
        if (valid + (size_t)mask > INT32_MAX) {
            direct_fail(log, -EFBIG);
            return;
        }
        log->queued_head = last->next;
        if (!log->queued_head) log->queued_tail = NULL;
        int64_t data_end = last->pos + last->len, whole_end = data_end & ~mask;
        bool hold =
            (log->queued_head || log->n_dw > 0 || log->dloaded) && whole_end > log->dtail_pos;
        size_t alen =
            hold ? (size_t)(whole_end - log->dtail_pos) : (valid + (size_t)mask) & ~(size_t)mask;
        size_t cap;
        uint8_t *buf = dbuf_get(e, RL_MAX(alen, valid), &cap), *p = buf;
        memcpy(p, log->dtail, log->dtail_len);
        p += log->dtail_len;
        for (struct storage_op *o = lead, *stop = last->next; o != stop;) {
            struct storage_op *next = o->next; /* leaves the queue */
            memcpy(p, o->buf, o->len);
            p += o->len;
            o->next = NULL;
            o = next;
        }
        log->dlast_ns = rl_mono_ns();
        int64_t dpos = log->dtail_pos;
        uint32_t keep = (uint32_t)(data_end - whole_end);
        memcpy(log->dtail, buf + (whole_end - dpos), keep);
        if (!hold) memset(buf + valid, 0, alen - valid);
        log->dtail_pos = whole_end;
        log->dtail_len = keep;
        log->dpending = hold && keep > 0;
        dwrite_submit(log, s, fd, buf, cap, alen, dpos, hold ? whole_end : data_end,
                      !hold && keep > 0);
    }
}

/* A direct write completed: reap the writes done in file order, completing the appends whose
 * bytes they cover. */
static void direct_reap(struct storage_log *log) {
    struct storage_op *w;
    while ((w = log->dw_head) && w->completed) {
        log->dw_head = w->lnext;
        if (!log->dw_head) log->dw_tail = NULL;
        log->n_dw--;
        if (w->res < 0) {
            direct_fail(log, w->res);
        } else {
            for (struct storage_op *op = log->appends_head; op; op = op->lnext) {
                if (op->completed) continue;
                if (op->seg != w->seg || op->pos + op->len > w->pos) break;
                append_written(op, 0);
            }
        }
        dcache_add(log, w);
        storage__op_put(log->engine, w);
    }
}

/* Sends the queued appends at the head of the queue that are contiguous in one segment (up to
 * the coalescing limits) as one write; the first op leads the group. */
static void buffered_issue(struct storage_log *log) {
    struct storage_op *lead = log->queued_head;
    if (!lead || log->write_inflight) return;
    struct storage_op *last = lead;
    int n = 1;
    uint64_t bytes = lead->len - lead->done;
    for (struct storage_op *o = lead->next; o; o = o->next) {
        if (o->seg != lead->seg || o->pos != last->pos + last->len ||
            n >= STORAGE_COALESCE_MAX_OPS || bytes + o->len > STORAGE_COALESCE_MAX_BYTES)
            break;
        last->gnext = o;
        last = o;
        bytes += o->len;
        n++;
    }
    log->queued_head = last->next;
    if (!log->queued_head) log->queued_tail = NULL;
    for (struct storage_op *o = lead; o; o = o->gnext)
        o->next = NULL;
    last->gnext = NULL;
    log->write_inflight = true;
    seg_submit(log, lead);
}

static void issue_queued(struct storage_log *log) {
    if (log->engine->direct)
        direct_issue(log);
    else
        buffered_issue(log);
}

/* Appends are written in order, one write in flight per log: io_uring runs buffered writes to
 * one file one after another on a worker anyway, so appends that arrive meanwhile lose
 * nothing by waiting and then go out together (one worker hand-off for many batches). */
static void submit_append(struct storage_log *log, struct storage_op *op) {
    struct storage_segment *s = op->seg;
    op->next = NULL;
    if (log->held_head || (op->pos < s->zero_hi && op->pos + op->len > s->zero_lo)) {
        if (log->held_tail)
            log->held_tail->next = op;
        else
            log->held_head = op;
        log->held_tail = op;
        return;
    }
    if (log->queued_tail)
        log->queued_tail->next = op;
    else
        log->queued_head = op;
    log->queued_tail = op;
    issue_queued(log);
}

/* Keeps zeros written ahead of the tail, so appends overwrite allocated, written blocks. */
static void maybe_zero(struct storage_log *log, struct storage_segment *s) {
    struct storage_engine *e = log->engine;
    int64_t p = e->prealloc;
    if (!p || s->sealed || s->zero_hi > s->zero_lo || s->end + p / 2 <= s->zeroed_end) return;
    if (log->n_dw > 0 || log->dpending) return; /* not beside direct writes (direct_issue) */
    /* Zeros save fdatasync its metadata commit, which dominates small appends; with large
     * appends the data transfer dominates and the zeros would double the bytes synced. */
    if (log->avg_append > STORAGE_PREALLOC_MAX_AVG_APPEND) return;
    int64_t start = RL_MAX(s->zeroed_end, s->end);
    int64_t stop = RL_MIN(start + p, log->cfg.segment_bytes);
    if (stop <= start) return;
    /* Buffered even with direct I/O: zeros are written only while appends are small, and small
     * appends go through the page cache, which would otherwise first read every page they
     * touch back from the disk. A direct write over them has the kernel write them first. */
    struct storage_op *op =
        seg_op(log, s, STORAGE_OP_ZERO, s->fd, e->zeros, (uint32_t)(stop - start), start);
    s->zero_lo = start;
    s->zero_hi = stop;
    s->zeroed_end = stop;
    seg_submit(log, op);
}

static void release_held(struct storage_log *log) {
    struct storage_op *list = log->held_head;
    log->held_head = log->held_tail = NULL;
    while (list) {
        struct storage_op *op = list;
        list = op->next;
        op->next = NULL;
        submit_append(log, op);
    }
}

void storage__op_complete(struct storage_engine *e, struct storage_op *op, int res) {
    struct storage_log *log = op->log;
    struct storage_segment *s = op->seg;
    switch (op->kind) {
    case STORAGE_OP_APPEND: {
        /* res covers the group led by op: the ops it wrote completely complete now. */
        struct storage_op *o = op;
        if (res >= 0) {
            uint32_t left = (uint32_t)res;
            while (o) {
                uint32_t take = RL_MIN(left, o->len - o->done);
                o->done += take;
                left -= take;
                if (o->done < o->len) break;
                struct storage_op *next = o->gnext;
                o->gnext = NULL;
                append_written(o, 0);
                o = next;
            }
            if (!o) {
                res = 0;
            } else if (res > 0) { /* short write: the rest of the group continues from o */
                storage__op_submit(e, o);
                return;
            } else {
                res = -EIO; /* no progress at all */
            }
        }
        while (o) { /* failed: every op not yet written fails */
            struct storage_op *next = o->gnext;
            o->gnext = NULL;
            append_written(o, res);
            o = next;
        }
        s->inflight--;
        log->inflight--;
        log->write_inflight = false;
        issue_queued(log);       /* before sealing: queued appends may still target s */
        seg_finish_seal(log, s); /* before callbacks run: they may delete records (and s) */
        log_advance(log);
        break;
    }
    case STORAGE_OP_DWRITE:
        if (res >= 0 && (uint32_t)res < op->dlen) { /* short: the whole buffer again */
            if (++op->dretries <= STORAGE_DIRECT_MAX_RETRIES) {
                storage__op_submit(e, op);
                return;
            }
            res = -EIO;
        }
        s->inflight--;
        log->inflight--;
        op->completed = true;
        op->res = res < 0 ? res : 0;
        if (op->dbarrier) log->dbarrier = false;
        direct_reap(log); /* may put op */
        direct_issue(log);
        seg_finish_seal(log, s);
        log_advance(log);
        break;
    case STORAGE_OP_ZERO:
        s->inflight--;
        log->inflight--;
        if (res < 0) {
            rl_warn(STORAGE_MOD,
                    "%s: pre-writing zeros failed (%s); segment %lld continues "
                    "without",
                    log->dir, rl_strerror(res), (long long)s->base_offset);
            s->zeroed_end = INT64_MAX / 2;
        }
        s->zero_lo = s->zero_hi = 0;
        storage__op_put(e, op);
        release_held(log);
        if (e->direct) issue_queued(log); /* direct writes waited for the zeros */
        seg_finish_seal(log, s);
        break;
    case STORAGE_OP_DROP: /* advisory: a failure only leaves pages cached */
        s->inflight--;
        log->inflight--;
        storage__op_put(e, op);
        seg_finish_seal(log, s);
        break;
    case STORAGE_OP_READ: {
        if (res > 0 && (uint32_t)res < op->len - op->done) { /* short: read the rest */
            op->done += (uint32_t)res;
            storage__op_submit(e, op);
            return;
        }
        s->inflight--;
        log->inflight--;
        storage_read_cb cb = op->rcb;
        void *arg = op->arg;
        storage__op_put(e, op);
        seg_finish_seal(log, s);
        cb(arg, res < 0 ? res : res == 0 ? -EIO : 0);
        break;
    }
    case STORAGE_OP_OPEN: {
        int slot = op->slot;
        log->inflight--;
        log->spare_pending--;
        storage__op_put(e, op);
        spare_opened(log, slot, res);
        break;
    }
    case STORAGE_OP_TRUNCATE:
        s->inflight--;
        log->inflight--;
        storage__op_put(e, op);
        seg_cut_done(log, s, res);
        break;
    case STORAGE_OP_FSYNC:
        if (e->fsync_obs) e->fsync_obs(e->fsync_obs_arg, rl_mono_ns() - op->pos);
        s->inflight--;
        log->inflight--;
        if (res < 0) {
            if (!log->flush_err) log->flush_err = res;
        } else if (op->covers_truncate) {
            s->finalized = true;
        }
        storage__op_put(e, op);
        seg_finish_seal(log, s); /* a seal waiting for this fsync to leave the file */
        if (--log->flush_inflight == 0) flush_done(log);
        break;
    default:
        RL_BUG_ON(1);
    }
}

/* ---- roll / seal ----------------------------------------------------------------------------- */

/* Cuts a sealed segment whose appends are all written and whose ops drained to `end`, through
 * the ring (ftruncate frees the blocks of pre-written zeros: 0.4-2.3 ms on a busy ext4, which the
 * owner thread used to wait for); seg_cut_done completes the seal. The op counts as in flight on
 * s, so nothing seals s twice, and retention, cuts and close wait for it. */
static void seg_finish_seal(struct storage_log *log, struct storage_segment *s) {
    if (!s->sealed || s->truncated || s->inflight || s->unwritten) return;
    if (log->dpending && log->dtail_seg == s) return; /* its last bytes are not written yet */
    if (s->fd < 0) {
        seg_cut_done(log, s, 0);
        return;
    }
    struct storage_op *op = seg_op(log, s, STORAGE_OP_TRUNCATE, s->fd, NULL, 0, s->end);
    s->inflight++;
    log->inflight++;
    storage__op_submit(log->engine, op);
}

static void seg_cut_done(struct storage_log *log, struct storage_segment *s, int res) {
    if (res < 0)
        rl_warn(STORAGE_MOD, "%s: cutting segment %lld to %lld bytes: %s", log->dir,
                (long long)s->base_offset, (long long)s->end, rl_strerror(res));
    if (s->dfd >= 0) { /* no more writes to a sealed segment */
        close(s->dfd);
        s->dfd = -1;
    }
    s->truncated = true;
    s->zeroed_end = s->end;
    s->dirty = true;
    log->flush_requested = true;
    log_maybe_flush(log);
}

/* ---- spare segment -------------------------------------------------------------------------
 * Creating a segment's three files allocates inodes: 0.5 ms per openat on this project's busy
 * ext4, 11 ms now and then, all of it on the owner thread, which every connection of the reactor
 * waits for. So once the active segment is half full (or half its segment.ms old), the log opens
 * the next roll's files ahead through the ring (io-wq does the openat) under fixed spare names in
 * its directory; the roll then only renames them to the new base offset (no inode allocation),
 * and makes them itself when no spare is ready. The spare names need no fsync: the roll's new
 * names are synced by the log's next flush (dir_unsynced), as files the roll makes itself are.
 * Spare files left by a crash are removed when the log opens; a clean close removes them too. */
static const char *const spare_names[STORAGE_SPARE_FILES] = {"spare.log", "spare.index",
                                                             "spare.timeindex"};
_Static_assert(STORAGE_SPARE_FILES == 3, "a spare file for each of storage__seg_exts");

static void spare_start(struct storage_log *log) {
    if (log->spare_ready || log->spare_pending || log->closing || log->err) return;
    if (log->spare_retry_ms && rl_mono_ms() < log->spare_retry_ms) return;
    for (int i = 0; i < STORAGE_SPARE_FILES; i++) {
        struct storage_op *op = seg_op(log, NULL, STORAGE_OP_OPEN, log->dirfd, NULL, 0, 0);
        op->path = spare_names[i];
        op->oflags = O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC;
        op->slot = i;
        log->spare_pending++;
        log->inflight++;
        storage__op_submit(log->engine, op);
    }
}

/* Closes the spare's files and (unlink) removes their names. */
static void spare_discard(struct storage_log *log, bool unlink) {
    for (int i = 0; i < STORAGE_SPARE_FILES; i++) {
        if (log->spare_fd[i] >= 0) close(log->spare_fd[i]);
        log->spare_fd[i] = -1;
        if (unlink && log->dirfd >= 0) unlinkat(log->dirfd, spare_names[i], 0);
    }
    log->spare_ready = false;
}

static void spare_opened(struct storage_log *log, int slot, int res) {
    if (res >= 0)
        log->spare_fd[slot] = res;
    else if (!log->spare_err)
        log->spare_err = res;
    if (log->spare_pending) return;
    if (log->spare_err) {
        rl_warn(STORAGE_MOD,
                "%s: cannot make the next segment's files ahead (%s); the roll makes them",
                log->dir, rl_strerror(log->spare_err));
        log->spare_err = 0;
        spare_discard(log, true);
        log->spare_retry_ms = rl_mono_ms() + 1000;
        return;
    }
    for (int i = 1; i < STORAGE_SPARE_FILES; i++) { /* index files are written by name */
        close(log->spare_fd[i]);
        log->spare_fd[i] = -1;
    }
    log->spare_ready = true; /* close and delete drain the opens before they start */
}

/* The roll's new segment at base from the spare's files: 0, or -errno (no spare ready, or a
 * rename failed: the spare is gone and the caller makes the files itself). */
static int spare_take(struct storage_log *log, int64_t base, struct storage_segment **out) {
    if (!log->spare_ready) return -ENOENT;
    for (int i = 0; i < STORAGE_SPARE_FILES; i++) {
        char name[48];
        storage__seg_name(name, sizeof(name), base, storage__seg_exts[i]);
        if (renameat(log->dirfd, spare_names[i], log->dirfd, name) < 0) {
            int rc = -errno;
            rl_warn(STORAGE_MOD, "%s: renaming %s to %s: %s", log->dir, spare_names[i], name,
                    strerror(errno));
            spare_discard(log, true);
            return rc;
        }
    }
    struct storage_segment *s = storage__seg_alloc(base);
    s->fd = log->spare_fd[0];
    log->spare_fd[0] = -1;
    log->spare_ready = false;
    s->idx_loaded = true;
    s->created_ms = rl_now_ms();
    *out = s;
    return 0;
}

static int log_roll(struct storage_log *log) {
    struct storage_segment *old = active_seg(log), *s;
    /* No directory fsync here (up to 2 ms on the reactor): the next flush does it, before any
     * durable append in the new segment completes. */
    int rc = spare_take(log, log->next_offset, &s);
    if (rc) {
        log->engine->rolls_made++;
        rc = storage__seg_create(log, log->next_offset, false, &s);
    }
    if (rc) {
        rl_error(STORAGE_MOD, "%s: cannot create segment %lld: %s", log->dir,
                 (long long)log->next_offset, rl_strerror(rc));
        return rc;
    }
    log->engine->rolls++;
    log->dir_unsynced = true;
    old->sealed = true;
    old->next_offset = log->next_offset;
    storage__seg_seal_timeindex(old);
    storage__seg_index_write(log, old, false, false);
    seg_push(log, s);
    seg_finish_seal(log, old);
    return 0;
}

/* ---- cut (truncate / error recovery) ------------------------------------------------------ */

/* Removes everything at or after offset (whole batches: a batch holding offset goes too).
 * Nothing may be in flight. */
static int log_cut(struct storage_log *log, int64_t offset) {
    struct storage_engine *e = log->engine;
    if (offset > log->end_offset) offset = log->end_offset;
    log->dtail_seg = NULL; /* direct I/O: read the new tail's partial block from the file */
    dcache_drop_seg(log, NULL);
    int k = find_seg(log, offset);
    while (log->n_segs > k + 1)
        seg_remove(log, log->n_segs - 1);
    struct storage_segment *s = log->segs[k];
    int64_t pos = 0, new_next = offset;
    if (offset < s->base_offset) { /* below the first segment: start over at offset */
        struct storage_segment *ns;
        seg_remove(log, k);
        int rc = storage__seg_create(log, offset, true, &ns);
        if (rc) return rc;
        seg_push(log, ns);
        log->start_offset = offset;
        s = ns;
    } else {
        int rc = seg_ready(log, k);
        if (rc) return rc;
        new_next = s->base_offset;
        if (offset > s->base_offset) {
            struct storage_scan sc;
            storage__scan_init(&sc, &e->scratch, &e->scratch_cap, storage__seg_lookup(s, offset),
                               s->size, false, false);
            pos = s->size;
            new_next = offset;
            while ((rc = storage__scan_next(&sc, s->fd)) > 0) {
                if (sc.h.BaseOffset + sc.h.LastOffsetDelta >= offset) {
                    pos = sc.batch_pos;
                    new_next = sc.h.BaseOffset;
                    break;
                }
            }
            if (rc < 0) return rc;
        }
        if (ftruncate(s->fd, pos) < 0) return -errno;
    }
    s->size = s->end = s->zeroed_end = pos;
    s->zero_lo = s->zero_hi = 0;
    s->next_offset = new_next;
    storage__seg_index_cut(s, pos, new_next);
    /* max timestamp of what is left: last time entry, then the batches after the last index
     * entry */
    s->max_ts = -1;
    s->max_ts_offset = -1;
    if (s->n_tidx) {
        s->max_ts = s->tidx[s->n_tidx - 1].ts;
        s->max_ts_offset = s->base_offset + s->tidx[s->n_tidx - 1].rel_offset;
    }
    int64_t from = s->n_idx ? s->idx[s->n_idx - 1].pos : 0;
    struct storage_scan sc;
    storage__scan_init(&sc, &e->scratch, &e->scratch_cap, from, pos, false, false);
    while (storage__scan_next(&sc, s->fd) > 0)
        if (sc.h.MaxTimestamp > s->max_ts) {
            s->max_ts = sc.h.MaxTimestamp;
            s->max_ts_offset = sc.h.BaseOffset + sc.h.LastOffsetDelta;
        }
    s->bytes_since_index = pos - from;
    storage__seg_index_write(log, s, true, false);
    s->sealed = s->truncated = s->finalized = false;
    s->dirty = true;
    log->next_offset = log->end_offset = new_next;
    if (log->durable_offset > new_next) log->durable_offset = new_next;
    if (log->start_offset > new_next) log->start_offset = new_next;
    log->flush_requested = true;
    return 0;
}

static int log_recover_error(struct storage_log *log) {
    rl_info(STORAGE_MOD, "%s: retrying after %s; cutting back to offset %lld", log->dir,
            rl_strerror(log->err), (long long)log->recover_offset);
    int rc = log_cut(log, log->recover_offset);
    if (rc) return rc;
    log->err = 0;
    log_maybe_flush(log);
    return 0;
}

/* ---- open / recovery ---------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int load_segments(struct storage_log *log) {
    int dfd = dup(log->dirfd);
    if (dfd < 0) return -errno;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -errno;
    }
    rewinddir(d); /* the duplicate shares the directory offset */
    int64_t *bases = NULL;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        for (int i = 0; i < STORAGE_SPARE_FILES; i++) /* a spare a crash left behind */
            if (strcmp(nm, spare_names[i]) == 0) unlinkat(log->dirfd, nm, 0);
        if (strlen(nm) != 24 || strcmp(nm + 20, ".log") != 0) continue;
        int64_t b = 0;
        bool ok = true;
        for (int i = 0; i < 20 && ok; i++) {
            if (nm[i] < '0' || nm[i] > '9' || b > (INT64_MAX - 9) / 10)
                ok = false;
            else
                b = b * 10 + (nm[i] - '0');
        }
        if (!ok) continue;
        bases = rl_realloc(bases, sizeof(*bases) * (size_t)(n + 1));
        bases[n++] = b;
    }
    closedir(d);
    if (n) qsort(bases, (size_t)n, sizeof(*bases), cmp_i64);
    for (int i = 0; i < n; i++) {
        char name[48];
        struct stat st;
        storage__seg_name(name, sizeof(name), bases[i], ".log");
        if (fstatat(log->dirfd, name, &st, 0) < 0) continue;
        struct storage_segment *s = storage__seg_alloc(bases[i]);
        s->size = s->end = s->zeroed_end = st.st_size;
        s->created_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        s->sealed = s->truncated = s->finalized = true;
        seg_push(log, s);
    }
    rl_free(bases);
    if (log->n_segs) { /* the active one is open for appends: its seal must cut it again */
        struct storage_segment *act = active_seg(log);
        act->sealed = act->truncated = act->finalized = false;
    }
    return 0;
}

/* Clean start: every file was cut and synced at close; only the tail after the active segment's
 * last index entry is read (and checked) to find the log end offset. */
static int open_clean(struct storage_log *log) {
    struct storage_engine *e = log->engine;
    struct storage_segment *s = active_seg(log);
    int rc = storage__seg_fd(log, s);
    if (rc < 0) return rc;
    rc = storage__seg_index_load(log, s, INT64_MAX);
    if (rc) return rc;
    int64_t from = s->n_idx ? s->idx[s->n_idx - 1].pos : 0;
    int64_t next = s->base_offset;
    struct storage_scan sc;
    storage__scan_init(&sc, &e->scratch, &e->scratch_cap, from, s->size, true, false);
    while ((rc = storage__scan_next(&sc, s->fd)) > 0) {
        next = sc.h.BaseOffset + sc.h.LastOffsetDelta + 1;
        if (sc.h.MaxTimestamp > s->max_ts) {
            s->max_ts = sc.h.MaxTimestamp;
            s->max_ts_offset = next - 1;
        }
    }
    if (rc < 0) return rc;
    s->bytes_since_index = sc.pos - from;
    if (sc.pos < s->size) {
        rl_warn(STORAGE_MOD,
                "%s: %lld bytes after the last valid batch of segment %lld; cutting "
                "them",
                log->dir, (long long)(s->size - sc.pos), (long long)s->base_offset);
        if (ftruncate(s->fd, sc.pos) < 0) return -errno;
        s->size = s->end = s->zeroed_end = sc.pos;
        storage__seg_index_cut(s, sc.pos, next);
        storage__seg_index_write(log, s, true, false);
    }
    s->next_offset = next;
    log->next_offset = next;
    return 0;
}

/* Unclean start: scan forward from the recovery point, validating every batch (length, CRC,
 * contiguous offsets); cut a torn or corrupt tail, drop segments after it, rebuild indexes of
 * every scanned segment. Segments wholly below the recovery point are not read. */
static int recover(struct storage_log *log, int64_t rp) {
    struct storage_engine *e = log->engine;
    int k = rp >= 0 ? find_seg(log, rp) : 0;
    int64_t start_pos = 0, expect = log->segs[k]->base_offset;
    struct storage_segment *s = log->segs[k];
    int rc = storage__seg_fd(log, s);
    if (rc < 0) return rc;
    if (rp > s->base_offset && storage__seg_index_read_raw(log, s) == 0) {
        /* start at the last indexed batch below the recovery point, if the .log confirms it */
        int j = s->n_idx - 1;
        while (j >= 0 && s->base_offset + s->idx[j].rel_offset >= rp)
            j--;
        uint8_t hdr[PROTO_BATCH_HEADER_SIZE];
        struct proto_batch_header h;
        if (j >= 0 && s->idx[j].pos < s->size &&
            pread(s->fd, hdr, sizeof(hdr), s->idx[j].pos) == (ssize_t)sizeof(hdr) &&
            proto_batch_header_parse(hdr, sizeof(hdr), &h) == 0 &&
            h.BaseOffset + h.LastOffsetDelta == s->base_offset + s->idx[j].rel_offset) {
            start_pos = s->idx[j].pos;
            expect = h.BaseOffset;
            s->n_idx = j + 1; /* the scan adds entries after start_pos */
            while (s->n_tidx && s->base_offset + s->tidx[s->n_tidx - 1].rel_offset >
                                    h.BaseOffset + h.LastOffsetDelta)
                s->n_tidx--;
            if (s->n_tidx) {
                s->max_ts = s->tidx[s->n_tidx - 1].ts;
                s->max_ts_offset = s->base_offset + s->tidx[s->n_tidx - 1].rel_offset;
            }
        }
    }
    int64_t scanned = 0;
    for (int i = k; i < log->n_segs; i++) {
        s = log->segs[i];
        if (i > k || start_pos == 0) {
            s->n_idx = s->n_tidx = 0;
            s->max_ts = s->max_ts_offset = -1;
        }
        s->bytes_since_index = 0;
        if (i > k && s->base_offset != expect) {
            rl_warn(STORAGE_MOD,
                    "%s: segment %lld does not continue offset %lld; dropping it and "
                    "the %d after it",
                    log->dir, (long long)s->base_offset, (long long)expect, log->n_segs - i - 1);
            while (log->n_segs > i)
                seg_remove(log, log->n_segs - 1);
            break;
        }
        rc = storage__seg_fd(log, s);
        if (rc < 0) return rc;
        struct storage_scan sc;
        storage__scan_init(&sc, &e->scratch, &e->scratch_cap, i == k ? start_pos : 0, s->size, true,
                           false);
        int64_t good = sc.pos;
        while ((rc = storage__scan_next(&sc, s->fd)) > 0) {
            if (sc.h.BaseOffset != expect) {
                sc.bad = true;
                break;
            }
            storage__seg_index_note(s, log->cfg.index_interval_bytes, sc.batch_pos,
                                    (int64_t)sc.batch_len, sc.h.BaseOffset + sc.h.LastOffsetDelta,
                                    sc.h.MaxTimestamp);
            expect = sc.h.BaseOffset + sc.h.LastOffsetDelta + 1;
            good = sc.pos;
        }
        if (rc < 0) return rc;
        scanned += good - (i == k ? start_pos : 0);
        if (good < s->size) {
            rl_warn(STORAGE_MOD,
                    "%s: segment %lld: %lld bytes after offset %lld are not valid "
                    "batches (torn write, zeros or corruption); cutting them",
                    log->dir, (long long)s->base_offset, (long long)(s->size - good),
                    (long long)expect);
            if (ftruncate(s->fd, good) < 0) return -errno;
        }
        s->size = s->end = s->zeroed_end = good;
        s->next_offset = expect;
        s->idx_loaded = true;
        s->n_idx_flushed = s->n_tidx_flushed = 0;
        s->sealed = i < log->n_segs - 1;
        if (s->sealed) storage__seg_seal_timeindex(s);
        s->truncated = true;
        s->finalized = false;
        s->dirty = true;
        rc = storage__seg_index_write(log, s, true, false);
        if (rc) return rc;
    }
    s = active_seg(log);
    s->sealed = s->truncated = false;
    log->next_offset = s->next_offset;
    log->flush_requested = true;
    rl_info(STORAGE_MOD, "%s: recovered from offset %lld: scanned %lld bytes, log end offset %lld",
            log->dir, (long long)rp, (long long)scanned, (long long)log->next_offset);
    return 0;
}

static void log_free(struct storage_log *log) {
    spare_discard(log, false);
    dcache_drop_seg(log, NULL);
    rl_free(log->wiov);
    rl_free(log->dtail);
    for (int i = 0; i < log->n_segs; i++)
        storage__seg_free(log->segs[i]);
    rl_free(log->segs);
    if (log->dirfd >= 0) close(log->dirfd);
    rl_free(log->dir);
    rl_free(log->topic);
    rl_free(log);
}

static bool log_name_valid(const char *topic, int32_t partition) {
    return topic && topic[0] && strlen(topic) <= 249 && !strchr(topic, '/') && partition >= 0 &&
           strcmp(topic, ".") != 0 && strcmp(topic, "..") != 0;
}

int storage_log_prepare(const char *data_dir, const char *topic, int32_t partition) {
    if (!data_dir || !log_name_valid(topic, partition)) return -EINVAL;
    char name[300];
    snprintf(name, sizeof(name), "%s-%d", topic, partition);
    int rc = 0, dfd = -1, pfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) return -errno;
    if (mkdirat(pfd, name, 0755) == 0) {
        if (fsync(pfd) < 0) rc = -errno;
    } else if (errno != EEXIST) {
        rc = -errno;
    }
    if (rc == 0 && (dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) rc = -errno;
    if (rc == 0) rc = storage__seg_files_create(dfd, 0, 0, true, NULL);
    if (dfd >= 0) close(dfd);
    close(pfd);
    return rc;
}

int storage_log_open(struct storage_engine *e, const char *topic, int32_t partition,
                     const struct storage_log_config *cfg, struct storage_log **out) {
    if (!log_name_valid(topic, partition)) return -EINVAL;
    for (struct storage_log *l = e->logs; l; l = l->next)
        if (l->partition == partition && strcmp(l->topic, topic) == 0) return -EBUSY;
    struct storage_log *log = rl_calloc(1, sizeof(*log));
    log->engine = e;
    log->topic = rl_strdup(topic);
    log->partition = partition;
    log->dirfd = -1;
    for (int i = 0; i < STORAGE_SPARE_FILES; i++)
        log->spare_fd[i] = -1;
    if (cfg)
        log->cfg = *cfg;
    else
        storage_log_config_default(&log->cfg);
    sanitize_config(&log->cfg);
    char name[300];
    snprintf(name, sizeof(name), "%s-%d", topic, partition);
    size_t dl = strlen(e->data_dir) + strlen(name) + 2;
    log->dir = rl_malloc(dl);
    snprintf(log->dir, dl, "%s/%s", e->data_dir, name);
    int rc = 0;
    bool known = false; /* found at engine open, or made by storage_log_prepare since */
    if (mkdirat(e->data_dirfd, name, 0755) == 0) {
        if (fsync(e->data_dirfd) < 0) {
            rc = -errno;
            goto fail;
        }
    } else if (errno != EEXIST) {
        rc = -errno;
        goto fail;
    } else {
        for (int i = 0; i < e->n_dirs && !known; i++)
            known = strcmp(e->dirs[i], name) == 0;
    }
    if (!known) {
        e->dirs = rl_realloc(e->dirs, sizeof(*e->dirs) * (size_t)(e->n_dirs + 1));
        e->dirs[e->n_dirs++] = rl_strdup(name);
    }
    log->dirfd = openat(e->data_dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (log->dirfd < 0) {
        rc = -errno;
        goto fail;
    }
    rc = load_segments(log);
    if (rc) goto fail;
    int64_t ls = storage__ckpt_lookup(e->ls, e->n_ls, topic, partition, -1);
    if (log->n_segs == 0) {
        struct storage_segment *s;
        int64_t base = ls > 0 ? ls : 0;
        rc = storage__seg_create(log, base, true, &s);
        if (rc) goto fail;
        seg_push(log, s);
        log->next_offset = base;
    } else if (e->clean) {
        rc = open_clean(log);
    } else {
        rc = recover(log, storage__ckpt_lookup(e->rp, e->n_rp, topic, partition, -1));
    }
    if (rc) goto fail;
    struct storage_segment *act = active_seg(log);
    act->created_ms = rl_now_ms();
    act->idx_loaded = act->idx_loaded || storage__seg_index_load(log, act, INT64_MAX) == 0;
    rc = storage__seg_fd(log, act);
    if (rc < 0) goto fail;
    rc = 0;
    log->start_offset = RL_MAX(log->segs[0]->base_offset, ls);
    if (log->start_offset > log->next_offset) log->start_offset = log->next_offset;
    log->end_offset = log->durable_offset = log->next_offset;
    log->ckpt_recovery = log->durable_offset;
    log->ckpt_start = log->start_offset;
    log->last_flush_ms = rl_mono_ms();
    log->next = e->logs;
    if (e->logs) e->logs->prev = log;
    e->logs = log;
    log_maybe_flush(log);
    *out = log;
    return 0;
fail:
    rl_error(STORAGE_MOD, "cannot open log %s: %s", log->dir, rl_strerror(rc));
    log_free(log);
    return rc;
}

void storage_log_set_config(struct storage_log *log, const struct storage_log_config *cfg) {
    log->cfg = *cfg;
    sanitize_config(&log->cfg);
}

void storage__log_drain(struct storage_log *log) {
    while (log->inflight > 0)
        storage_engine_wait(log->engine, 100);
}

void storage__log_sync_indexes(struct storage_log *log, bool sync) {
    for (int i = log->n_segs - 1; i >= 0; i--) {
        struct storage_segment *s = log->segs[i];
        if (!s->idx_loaded) continue;
        bool pending = s->idx_dirty || s->n_idx_flushed < s->n_idx || s->n_tidx_flushed < s->n_tidx;
        if (!pending && s->sealed && s->finalized) break;
        if (pending || (sync && i == log->n_segs - 1))
            storage__seg_index_write(log, s, false, sync);
    }
}

int64_t storage__log_recovery_point(struct storage_log *log) {
    /* Index entries reach the files but are not fsynced: recovery checks the entry it starts
     * from against the .log (a lost entry only makes it scan from further back). */
    storage__log_sync_indexes(log, false);
    int64_t rp = log->durable_offset;
    for (int i = 0; i + 1 < log->n_segs; i++)
        if (!log->segs[i]->finalized) {
            rp = RL_MIN(rp, log->segs[i]->base_offset);
            break;
        }
    log->ckpt_recovery = log->durable_offset;
    log->ckpt_start = log->start_offset;
    return rp;
}

static void log_unlink_from_engine(struct storage_log *log) {
    struct storage_engine *e = log->engine;
    if (log->prev)
        log->prev->next = log->next;
    else if (e->logs == log)
        e->logs = log->next;
    if (log->next) log->next->prev = log->prev;
    log->prev = log->next = NULL;
}

void storage_log_close(struct storage_log *log) {
    if (!log) return;
    struct storage_engine *e = log->engine;
    storage__log_drain(log);
    if (log->err && log_cut(log, log->recover_offset) == 0) log->err = 0;
    log->closing = true;
    if (log->spare_ready) spare_discard(log, true); /* nothing in flight: no other spare files */
    bool ok = !log->err;
    for (int i = 0; i < log->n_segs; i++) { /* the active one, and seals still pending */
        struct storage_segment *t = log->segs[i];
        if ((i == log->n_segs - 1 || (t->sealed && !t->truncated)) && t->fd >= 0) {
            if (ftruncate(t->fd, t->end) < 0) ok = false;
            if (t->sealed) t->truncated = true;
        }
    }
    struct storage_segment *s;
    for (int i = log->n_segs - 1; i >= 0; i--) {
        s = log->segs[i];
        if (s->sealed && s->finalized && !s->dirty && !s->idx_dirty) break;
        if (s->fd >= 0 && fdatasync(s->fd) < 0) ok = false;
        s->dirty = false;
        s->finalized = s->truncated = true;
    }
    if (log->dir_unsynced && fsync(log->dirfd) < 0) ok = false;
    log->dir_unsynced = false;
    storage__log_sync_indexes(log, true);
    if (ok) log->durable_offset = log->end_offset;
    /* a log closed in a failed state leaves no clean promise behind */
    storage__ckpt_note(e, log->topic, log->partition, ok ? log->end_offset : log->durable_offset,
                       log->start_offset);
    struct storage_op *op;
    while ((op = log->waiters_head)) {
        log->waiters_head = op->lnext;
        op_finish(log, op, ok ? 0 : log->err);
    }
    log_unlink_from_engine(log);
    log_free(log);
}

int storage_log_delete(struct storage_log *log) {
    struct storage_engine *e = log->engine;
    storage__log_drain(log);
    log->closing = true;
    struct storage_op *op;
    while ((op = log->waiters_head)) {
        log->waiters_head = op->lnext;
        op_finish(log, op, -ECANCELED);
    }
    char name[300];
    snprintf(name, sizeof(name), "%s-%d", log->topic, log->partition);
    int rc = 0;
    int dfd = dup(log->dirfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (d) {
        struct dirent *de;
        rewinddir(d);
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                unlinkat(log->dirfd, de->d_name, 0);
        closedir(d);
    } else if (dfd >= 0) {
        close(dfd);
    }
    if (unlinkat(e->data_dirfd, name, AT_REMOVEDIR) < 0) rc = -errno;
    fsync(e->data_dirfd);
    storage__ckpt_forget(e, log->topic, log->partition);
    for (int i = 0; i < e->n_dirs; i++)
        if (strcmp(e->dirs[i], name) == 0) {
            rl_free(e->dirs[i]);
            e->dirs[i] = e->dirs[--e->n_dirs];
            break;
        }
    log_unlink_from_engine(log);
    log_free(log);
    return rc;
}

/* ---- append ------------------------------------------------------------------------------- */

int storage_log_append(struct storage_log *log, uint8_t *buf, size_t len, int32_t leader_epoch,
                       bool durable, storage_append_cb cb, void *arg, int64_t *base_offset) {
    if (log->closing) return -EROFS;
    if (log->err) {
        if (log->inflight || log->appends_head) return log->err;
        int rc = log_recover_error(log);
        if (rc) return rc;
    }
    int nb;
    int64_t nrec;
    if (len < PROTO_BATCH_HEADER_SIZE || len > INT32_MAX ||
        proto_batches_validate(buf, len, &nb, &nrec) != 0)
        return -EBADMSG;
    struct storage_segment *s = active_seg(log);
    if (s->end > 0) {
        bool roll = s->end + (int64_t)len > log->cfg.segment_bytes ||
                    log->next_offset - s->base_offset + nrec + (int64_t)nb > INT32_MAX;
        if (!roll && log->cfg.segment_ms != INT64_MAX)
            roll = rl_now_ms() - s->created_ms >= log->cfg.segment_ms;
        if (roll) {
            int rc = log_roll(log);
            if (rc) return rc;
            s = active_seg(log);
        } else if (s->end + (int64_t)len > log->cfg.segment_bytes / 2) {
            spare_start(log);
        }
    }
    int fd = storage__seg_fd(log, s);
    if (fd < 0) return fd;
    log->avg_append += ((int64_t)len - log->avg_append) / 8;
    int64_t base = log->next_offset, off = base;
    for (size_t p = 0; p < len;) {
        struct proto_batch_header h;
        int rc = proto_batch_header_parse(buf + p, len - p, &h);
        RL_BUG_ON(rc != 0); /* validated above */
        size_t total = (size_t)PROTO_BATCH_OVERHEAD + (size_t)h.BatchLength;
        proto_batch_set_base_offset(buf + p, off);
        proto_batch_set_leader_epoch(buf + p, leader_epoch);
        int64_t last = off + h.LastOffsetDelta;
        storage__seg_index_note(s, log->cfg.index_interval_bytes, s->end + (int64_t)p,
                                (int64_t)total, last, h.MaxTimestamp);
        off = last + 1;
        p += total;
    }
    struct storage_op *op = seg_op(log, s, STORAGE_OP_APPEND, fd, buf, (uint32_t)len, s->end);
    op->base_offset = base;
    op->end_offset = off;
    op->cb = cb;
    op->arg = arg;
    op->durable = durable;
    s->end += (int64_t)len;
    s->unwritten++;
    s->next_offset = off;
    log->next_offset = off;
    if (log->appends_tail)
        log->appends_tail->lnext = op;
    else
        log->appends_head = op;
    log->appends_tail = op;
    submit_append(log, op);
    maybe_zero(log, s);
    *base_offset = base;
    return 0;
}

/* ---- offsets ------------------------------------------------------------------------------ */

int64_t storage_log_start_offset(const struct storage_log *log) {
    return log->start_offset;
}
int64_t storage_log_end_offset(const struct storage_log *log) {
    return log->end_offset;
}
int64_t storage_log_high_watermark(const struct storage_log *log) {
    return log->end_offset;
}
int64_t storage_log_size_bytes(const struct storage_log *log) {
    int64_t n = 0;
    for (int i = 0; i < log->n_segs; i++)
        n += log->segs[i]->end;
    return n;
}
int storage_log_segment_count(const struct storage_log *log) {
    return log->n_segs;
}
int storage_log_error(const struct storage_log *log) {
    return log->err;
}

/* ---- reads -------------------------------------------------------------------------------- */

/* A header scan of a live segment from pos: windows come from the direct I/O cache when it
 * holds them. */
static void scan_live(struct storage_scan *sc, struct storage_log *log, struct storage_segment *s,
                      int64_t pos) {
    struct storage_engine *e = log->engine;
    storage__scan_init(sc, &e->scratch, &e->scratch_cap, pos, s->size, false, false);
    sc->log = log;
    sc->seg = s;
}

/* storage_log_read, also giving the slice's segment. */
static int log_read(struct storage_log *log, int64_t offset, int32_t max_bytes,
                    struct storage_slice *out, struct storage_segment **seg) {
    if (offset < log->start_offset || offset > log->end_offset) return -ERANGE;
    if (offset == log->end_offset) {
        struct storage_segment *s = active_seg(log);
        int fd = storage__seg_fd(log, s);
        if (fd < 0) return fd;
        *out = (struct storage_slice){fd, s->size, 0};
        *seg = s;
        return 0;
    }
    for (int i = find_seg(log, offset); i < log->n_segs; i++) {
        struct storage_segment *s = log->segs[i];
        int rc = seg_ready(log, i);
        if (rc) return rc;
        struct storage_scan sc;
        scan_live(&sc, log, s, storage__seg_lookup(s, offset));
        while ((rc = storage__scan_next(&sc, s->fd)) > 0)
            if (sc.h.BaseOffset + sc.h.LastOffsetDelta >= offset) break;
        if (rc < 0) return rc;
        if (rc == 0) continue;
        int64_t start = sc.batch_pos, end = sc.batch_pos + (int64_t)sc.batch_len;
        int64_t target = start + (max_bytes > 0 ? max_bytes : 0);
        if (end < target) {
            if (target >= s->size) {
                end = s->size;
            } else {
                /* batches before an indexed position <= target are whole and inside it */
                int64_t p = RL_MAX(storage__seg_lookup_pos(s, target), end);
                end = p;
                scan_live(&sc, log, s, p);
                while ((rc = storage__scan_next(&sc, s->fd)) > 0 &&
                       sc.batch_pos + (int64_t)sc.batch_len <= target)
                    end = sc.batch_pos + (int64_t)sc.batch_len;
                if (rc < 0) return rc;
            }
        }
        *out = (struct storage_slice){s->fd, start, (int32_t)(end - start)};
        *seg = s;
        return 0;
    }
    return -ERANGE;
}

int storage_log_read(struct storage_log *log, int64_t offset, int32_t max_bytes,
                     struct storage_slice *out) {
    struct storage_segment *seg;
    return log_read(log, offset, max_bytes, out, &seg);
}

/* The slice a copy of up to cap bytes at offset reads, with the bytes the direct I/O cache holds
 * from its start already copied into buf (*got). */
static int copy_begin(struct storage_log *log, int64_t offset, void *buf, size_t cap,
                      struct storage_slice *sl, struct storage_segment **seg, size_t *got) {
    int rc = log_read(log, offset, cap > INT32_MAX ? INT32_MAX : (int32_t)cap, sl, seg);
    if (rc) return rc;
    if ((size_t)sl->len > cap) return -ENOBUFS;
    *got = storage__dcache_read(log, *seg, sl->file_pos, (size_t)sl->len, buf);
    return 0;
}

/* Reads the rest of the slice after got bytes with preadv2 (flags: 0 or RWF_NOWAIT). */
static int copy_rest(const struct storage_slice *sl, void *buf, size_t got, int flags) {
    while (got < (size_t)sl->len) {
        struct iovec iov = {(uint8_t *)buf + got, (size_t)sl->len - got};
        ssize_t n = preadv2(sl->fd, &iov, 1, sl->file_pos + (int64_t)got, flags);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && flags && (errno == EAGAIN || errno == EOPNOTSUPP)) return -EAGAIN;
        if (n < 0) return -errno;
        if (n == 0) return -EIO;
        got += (size_t)n;
    }
    return 0;
}

static int read_copy(struct storage_log *log, int64_t offset, void *buf, size_t cap,
                     size_t *out_len, int flags) {
    struct storage_slice sl;
    struct storage_segment *seg;
    size_t got;
    int rc = copy_begin(log, offset, buf, cap, &sl, &seg, &got);
    if (!rc) rc = copy_rest(&sl, buf, got, flags);
    if (!rc) *out_len = (size_t)sl.len;
    return rc;
}

int storage_log_read_copy(struct storage_log *log, int64_t offset, void *buf, size_t cap,
                          size_t *out_len) {
    return read_copy(log, offset, buf, cap, out_len, 0);
}

int storage_log_read_copy_nowait(struct storage_log *log, int64_t offset, void *buf, size_t cap,
                                 size_t *out_len) {
    return read_copy(log, offset, buf, cap, out_len, RWF_NOWAIT);
}

int storage_log_read_async(struct storage_log *log, int64_t offset, void *buf, size_t cap,
                           size_t *out_len, storage_read_cb cb, void *arg) {
    struct storage_slice sl;
    struct storage_segment *seg;
    size_t got;
    int rc = copy_begin(log, offset, buf, cap, &sl, &seg, &got);
    if (rc) return rc;
    *out_len = (size_t)sl.len;
    if (got == (size_t)sl.len) return 0;
    /* the segment counts the read in flight: retention, cuts and close wait for it */
    struct storage_op *op = seg_op(log, seg, STORAGE_OP_READ, sl.fd, NULL,
                                   (uint32_t)((size_t)sl.len - got), sl.file_pos + (int64_t)got);
    op->rbuf = (uint8_t *)buf + got;
    op->rcb = cb;
    op->arg = arg;
    seg_submit(log, op);
    return 1;
}

int storage_log_find_timestamp(struct storage_log *log, int64_t ts, int64_t *offset,
                               int64_t *batch_ts) {
    struct storage_engine *e = log->engine;
    for (int i = find_seg(log, log->start_offset); i < log->n_segs; i++) {
        struct storage_segment *s = log->segs[i];
        int rc = seg_ready(log, i);
        if (rc) return rc;
        if (s->max_ts < ts) continue;
        int64_t o = storage__seg_time_lookup(s, ts, log->end_offset);
        int64_t from = o >= 0 ? storage__seg_lookup(s, o) : 0;
        struct storage_scan sc;
        storage__scan_init(&sc, &e->scratch, &e->scratch_cap, from, s->size, false, false);
        while ((rc = storage__scan_next(&sc, s->fd)) > 0) {
            if (sc.h.MaxTimestamp >= ts &&
                sc.h.BaseOffset + sc.h.LastOffsetDelta >= log->start_offset) {
                *offset = RL_MAX(sc.h.BaseOffset, log->start_offset);
                *batch_ts = sc.h.MaxTimestamp;
                return 0;
            }
        }
        if (rc < 0) return rc;
    }
    *offset = log->end_offset;
    *batch_ts = -1;
    return 0;
}

int storage_log_max_timestamp(struct storage_log *log, int64_t *ts, int64_t *offset) {
    int64_t best = -1, best_off = -1;
    for (int i = find_seg(log, log->start_offset); i < log->n_segs; i++) {
        struct storage_segment *s = log->segs[i];
        int rc = seg_ready(log, i);
        if (rc) return rc;
        if (s->max_ts > best && s->max_ts_offset < log->end_offset &&
            s->max_ts_offset >= log->start_offset) {
            best = s->max_ts;
            best_off = s->max_ts_offset;
        }
    }
    *ts = best;
    *offset = best_off;
    return 0;
}

int storage_log_scan(struct storage_log *log, int64_t from_offset,
                     int (*cb)(void *arg, const uint8_t *batch, size_t len), void *arg) {
    if (from_offset < log->start_offset) from_offset = log->start_offset;
    if (from_offset >= log->end_offset) return 0;
    size_t cap = 1 << 16;
    uint8_t *buf = rl_malloc(cap);
    int rc = 0;
    int64_t end = log->end_offset;
    for (int i = find_seg(log, from_offset); i < log->n_segs && !rc; i++) {
        struct storage_segment *s = log->segs[i];
        rc = seg_ready(log, i);
        if (rc) break;
        struct storage_scan sc;
        storage__scan_init(&sc, &buf, &cap, storage__seg_lookup(s, from_offset), s->size, false,
                           true);
        int r;
        while ((r = storage__scan_next(&sc, s->fd)) > 0) {
            if (sc.h.BaseOffset >= end) break;
            if (sc.h.BaseOffset + sc.h.LastOffsetDelta < from_offset) continue;
            if (cb(arg, sc.batch, sc.batch_len)) {
                rc = 1;
                break;
            }
        }
        if (r < 0) rc = r;
    }
    rl_free(buf);
    return rc < 0 ? rc : 0;
}

/* ---- records deletion, truncation, retention ---------------------------------------------- */

static void delete_first(struct storage_log *log) {
    if (log->segs[1]->base_offset > log->start_offset)
        log->start_offset = log->segs[1]->base_offset;
    seg_remove(log, 0);
}

int storage_log_delete_records(struct storage_log *log, int64_t offset) {
    if (offset > log->end_offset) return -ERANGE;
    if (offset <= log->start_offset) return 0;
    log->start_offset = offset;
    while (log->n_segs > 1 && log->segs[1]->base_offset <= offset && log->segs[0]->inflight == 0 &&
           log->segs[0]->unwritten == 0)
        delete_first(log);
    return 0;
}

int storage_log_truncate(struct storage_log *log, int64_t offset) {
    if (log->closing) return -EROFS;
    storage__log_drain(log);
    if (offset >= log->end_offset && log->next_offset == log->end_offset) return 0;
    int rc = log_cut(log, offset);
    if (rc) return rc;
    if (log->err && log->recover_offset > log->end_offset) log->recover_offset = log->end_offset;
    log_maybe_flush(log);
    return 0;
}

/* Keeps the log's page-cache footprint near the engine's cache_tail bytes (the newest data,
 * which consumers mostly read). On some hosts (this project's 2-vCPU VMs) writes get several
 * times more expensive once a few GB of page cache are held, and a broker's cache would
 * otherwise only grow. Every tick, and every STORAGE_TRIM_EVERY_BYTES appended, it asks the
 * kernel to drop [cache_asked, limit) of every segment older than the tail: POSIX_FADV_DONTNEED
 * starts writeback of dirty pages and drops clean ones, so a range is asked twice, the second time
 * once its writeback is done (data made durable by group commit is clean, and goes at the first).
 * Through io_uring (fadvise runs on a worker), so the owner thread never waits for the disk. */
static void log_trim_cache(struct storage_log *log) {
    struct storage_engine *e = log->engine;
    if (!e->cache_tail) return;
    log->bytes_since_trim = 0;
    int64_t cut = storage_log_size_bytes(log) - e->cache_tail, seg_start = 0;
    for (int i = 0; i < log->n_segs && seg_start < cut; i++) {
        struct storage_segment *s = log->segs[i];
        int64_t limit = RL_MIN(s->size, cut - seg_start) & ~(int64_t)((1 << 20) - 1);
        seg_start += s->end;
        if (limit <= s->cache_dropped && s->cache_asked <= s->cache_dropped) continue;
        int fd = storage__seg_fd(log, s);
        if (fd < 0) continue;
        int64_t lo = s->cache_dropped, hi = RL_MAX(limit, s->cache_asked);
        while (lo < hi) {
            int64_t n = RL_MIN(hi - lo, (int64_t)1 << 30);
            seg_submit(log, seg_op(log, s, STORAGE_OP_DROP, fd, NULL, (uint32_t)n, lo));
            lo += n;
        }
        s->cache_dropped = s->cache_asked;
        s->cache_asked = hi;
    }
}

void storage__log_tick(struct storage_log *log, int64_t now_ms) {
    struct storage_engine *e = log->engine;
    if (log->err || log->closing) return;
    if (e->policy == STORAGE_FLUSH_INTERVAL && log->unflushed_msgs > 0 &&
        log->cfg.flush_ms != INT64_MAX && rl_mono_ms() - log->last_flush_ms >= log->cfg.flush_ms)
        log->flush_requested = true;
    struct storage_segment *s = active_seg(log);
    if (s->end > 0 && log->cfg.segment_ms != INT64_MAX) {
        if (now_ms - s->created_ms >= log->cfg.segment_ms)
            log_roll(log);
        else if (now_ms - s->created_ms >= log->cfg.segment_ms / 2)
            spare_start(log);
    }
    int64_t total = storage_log_size_bytes(log);
    while (log->n_segs > 1) {
        struct storage_segment *s0 = log->segs[0];
        if (s0->inflight || s0->unwritten) break;
        bool del = log->segs[1]->base_offset <= log->start_offset;
        if (!del && log->cfg.retention_ms >= 0) {
            if (seg_ready(log, 0) != 0) break;
            int64_t t = s0->max_ts >= 0 ? s0->max_ts : s0->created_ms;
            del = now_ms - t > log->cfg.retention_ms;
        }
        if (!del && log->cfg.retention_bytes >= 0)
            del = total - s0->end >= log->cfg.retention_bytes;
        if (!del) break;
        total -= s0->end;
        rl_info(STORAGE_MOD, "%s: deleting segment %lld (retention)", log->dir,
                (long long)s0->base_offset);
        delete_first(log);
    }
    log_trim_cache(log);
    log_maybe_flush(log);
}
