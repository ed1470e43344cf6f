/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage_int.h - internal structures of the storage library: the engine, partition logs,
 * segments, their in-memory indexes, and the I/O ops layer (io_uring or plain posix calls, with
 * fault points). Everything here belongs to the engine's owner thread.
 */
#ifndef RINGLET_STORAGE_INT_H
#define RINGLET_STORAGE_INT_H

#include <liburing.h>
#include <sys/uio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringlet/common.h"
#include "ringlet/storage.h"

#define STORAGE_MOD "storage"

/* Zeros are pre-written only while the average append is at most this large (see maybe_zero). */
#define STORAGE_PREALLOC_MAX_AVG_APPEND (128 << 10)
/* Group commit waits at most this long for in-flight writes to join the next fdatasync. */
#define STORAGE_GROUP_COMMIT_MAX_DEFER_NS 200000
/* Appends queued behind a log's write in flight go out together as one writev of at most this
 * many batches and bytes. */
#define STORAGE_COALESCE_MAX_OPS   64
#define STORAGE_COALESCE_MAX_BYTES (4u << 20)
/* With a cache tail set, a log trims its page cache every tick and every this many bytes. */
#define STORAGE_TRIM_EVERY_BYTES (64 << 20)
/* Direct I/O: appends are written with O_DIRECT when at least this many bytes are queued
 * (default of storage_engine_config.direct_min_bytes); smaller writes go through the page cache
 * (a quiet log's writes, latency-sensitive). */
#define STORAGE_DIRECT_MIN_BYTES (64 << 10)
/* ... and for this long after its last direct write, whatever is queued. */
#define STORAGE_DIRECT_STICKY_NS (200 * 1000000LL)
/* Direct I/O staging buffers from this size on are page aligned (below it: block aligned). */
#define STORAGE_DBUF_STEP (64 << 10)
/* Direct I/O staging buffers from STORAGE_DBUF_STEP up to STORAGE_COALESCE_MAX_BYTES come from
 * a pool (rl_bufpool: four size classes per doubling) that keeps freed ones for reuse up to this
 * many bytes: a fresh buffer costs a page fault and a zeroed page per 4 KiB, more than the copy
 * into it. */
#define STORAGE_DBUF_MIN_SHIFT  16 /* log2(STORAGE_DBUF_STEP) */
#define STORAGE_DBUF_MAX_SHIFT  22 /* log2(STORAGE_COALESCE_MAX_BYTES) */
#define STORAGE_DBUF_POOL_BYTES (64 << 20)
_Static_assert(STORAGE_DBUF_STEP == 1 << STORAGE_DBUF_MIN_SHIFT &&
                   STORAGE_COALESCE_MAX_BYTES == 1u << STORAGE_DBUF_MAX_SHIFT,
               "the staging pool's classes span STORAGE_DBUF_STEP .. STORAGE_COALESCE_MAX_BYTES");
/* Direct I/O read cache: entries kept per log at most (bounds a lookup's walk). */
#define STORAGE_DCACHE_MAX_ENTRIES 1024
/* Direct I/O: a write that stays short this many times in a row fails with EIO. */
#define STORAGE_DIRECT_MAX_RETRIES 8
/* Direct I/O: writes in flight per log (each up to STORAGE_COALESCE_MAX_BYTES). */
#define STORAGE_DIRECT_MAX_INFLIGHT 4

/* ---- ops layer --------------------------------------------------------------------------------
 * An op is one write, fdatasync or read. Ops are pooled by the engine (no allocation per append);
 * the same struct is the append request, so an append costs one pooled object. */
enum storage_op_kind {
    STORAGE_OP_APPEND = 0,   /* data write of an append */
    STORAGE_OP_ZERO = 1,     /* zeros written ahead of a segment tail */
    STORAGE_OP_FSYNC = 2,    /* fdatasync of one segment file (or fsync of the log's directory,
                                sync_all), part of a log flush */
    STORAGE_OP_DROP = 3,     /* fadvise DONTNEED of [pos, pos + len) of a segment file */
    STORAGE_OP_DWRITE = 4,   /* direct I/O: dbuf[0..dlen) at dpos; data up to pos once written */
    STORAGE_OP_READ = 5,     /* read of [pos, pos + len) into rbuf (storage_log_read_async) */
    STORAGE_OP_OPEN = 6,     /* openat(fd, path, oflags) of a spare segment file (log_spare_*) */
    STORAGE_OP_TRUNCATE = 7, /* ftruncate of a sealed segment to pos (seg_finish_seal) */
};

/* Linux 6.9's ftruncate op; liburing 2.3's headers predate it (the engine probes the kernel). */
#define STORAGE_IORING_OP_FTRUNCATE 55

/* A roll's segment files, made ahead under these names in the partition directory and renamed
 * when the roll comes (log.c, "spare segment"); load_segments never takes them for segments. */
#define STORAGE_SPARE_FILES 3

struct storage_segment;
struct storage_log;

struct storage_op {
    struct storage_op *next;  /* free list, held/queued lists, engine backlog, fake completions */
    struct storage_op *lnext; /* the log's appends / waiters FIFO */
    struct storage_op *gnext; /* append: the next op of the same writev (the first one leads) */
    uint8_t kind;
    bool completed;
    bool durable;
    bool covers_truncate; /* fsync issued after the segment was cut to its real size */
    bool sync_all;        /* fsync, not fdatasync: the log's directory (new segment names) */
    int res;              /* 0 or -errno once completed */
    int fd;
    struct storage_log *log;
    struct storage_segment *seg;
    const uint8_t *buf;
    uint32_t len;  /* total bytes */
    uint32_t done; /* bytes already written (short writes resume here) */
    int64_t pos;   /* file position of buf[0]; fsync: rl_mono_ns() at submission */
    /* direct I/O write: dbuf[0..dlen) at dpos, all block aligned */
    uint8_t *dbuf;
    uint32_t dlen;
    uint8_t dretries;
    bool dbarrier; /* it ends in a partial block: the next write of the log waits for it */
    int64_t dpos;
    /* append */
    int64_t base_offset;
    int64_t end_offset; /* one past the last offset */
    storage_append_cb cb;
    void *arg;
    /* read */
    uint8_t *rbuf;
    storage_read_cb rcb;
    /* open: path relative to fd (a constant string), open flags; the spare slot it fills */
    const char *path;
    int oflags;
    int slot;
};

/* Submits op (write of buf[done..len) at pos+done, or fdatasync of fd). An append op leading
 * a group (gnext != NULL) writes every op of the group, contiguous in the file, with one writev;
 * its completion reports the bytes written for the whole group. Completion arrives via
 * storage__op_complete from storage_engine_poll(). */
void storage__op_submit(struct storage_engine *e, struct storage_op *op);
/* Consumes a fault point for that op kind: returns -errno to fail, 1 for a short write, 0. */
int storage__fault_take(enum storage_fault_op op);

/* ---- indexes (kept in memory in host order; on disk big-endian, Kafka's entry layout) ---- */
struct storage_index_entry {
    uint32_t rel_offset; /* last offset of the batch at position, minus segment base */
    uint32_t pos;
};
struct storage_time_entry {
    int64_t ts;          /* max timestamp so far in the segment */
    uint32_t rel_offset; /* offset of the batch carrying it, minus segment base */
};
#define STORAGE_INDEX_ENTRY_SIZE 8
#define STORAGE_TIME_ENTRY_SIZE  12

/* ---- segment -----------------------------------------------------------------------------
 * Invariants:
 *  1. `size` is the number of bytes of whole batches whose writes completed, in order; readers
 *     never look past it. `end` >= size is the tail where the next append is written.
 *  2. Index entries are appended as `end` crosses index_interval_bytes; entries beyond `size`
 *     are never returned to readers because lookups are bounded by the log end offset.
 *  3. A sealed segment receives no more appends; once every append assigned to it is written
 *     and its in-flight ops drain, its file is cut to `end` (removing pre-written zeros and
 *     direct I/O padding) and marked dirty so the next flush syncs that. Until then it is
 *     neither truncated nor finalized, so flushes keep looking at it.
 */
struct storage_segment {
    int64_t base_offset;
    int64_t next_offset; /* one past the last assigned offset in this segment */
    int fd;              /* .log, -1 until opened */
    int dfd;             /* the .log opened with O_DIRECT (direct I/O writes), -1 until used */
    int64_t size;
    int64_t end;
    int64_t zeroed_end;       /* zeros submitted up to here */
    int64_t zero_lo, zero_hi; /* range of the zero write in flight (lo == hi: none) */
    int64_t bytes_since_index;
    int64_t created_ms;
    int64_t max_ts;        /* -1 if none */
    int64_t max_ts_offset; /* offset of the batch with max_ts */
    int inflight;          /* ops in flight on fd */
    int unwritten;         /* appends assigned to it whose bytes are not written yet */
    bool sealed;
    bool truncated;        /* file cut to end after sealing */
    bool finalized;        /* ...and an fdatasync after that completed */
    bool dirty;            /* completed writes not yet covered by a submitted fsync */
    bool idx_loaded;       /* in-memory index valid */
    bool idx_dirty;        /* in-memory index has entries not yet in the files */
    int64_t cache_dropped; /* page cache of [0, cache_dropped) was dropped (twice) */
    int64_t cache_asked;   /* ... and [cache_dropped, cache_asked) once (writeback started) */
    struct storage_index_entry *idx;
    int n_idx, cap_idx, n_idx_flushed;
    struct storage_time_entry *tidx;
    int n_tidx, cap_tidx, n_tidx_flushed;
};

/* ---- direct I/O read cache: completed direct writes kept for readers ------------------------- */
struct storage_dcache {
    struct storage_dcache *lprev, *lnext; /* the log's entries, in file order */
    struct storage_dcache *eprev, *enext; /* the engine's entries, oldest first */
    struct storage_log *log;
    struct storage_segment *seg;
    int64_t lo, hi; /* buf[0] holds file position lo; [lo, hi) is written data */
    uint8_t *buf;
    size_t cap; /* bytes allocated (what the entry costs) */
};
/* Copies the longest prefix of [pos, pos + len) of seg that the cache holds into dst; returns its
 * length (0: not cached). log NULL: 0. */
size_t storage__dcache_read(struct storage_log *log, struct storage_segment *seg, int64_t pos,
                            size_t len, uint8_t *dst);

/* ---- log ------------------------------------------------------------------------------------ */
struct storage_log {
    struct storage_engine *engine;
    struct storage_log *prev, *next; /* engine's open logs */
    char *topic;
    int32_t partition;
    char *dir; /* <data_dir>/<topic>-<partition> */
    int dirfd;
    struct storage_log_config cfg;

    struct storage_segment **segs; /* oldest first; the last is active */
    int n_segs, cap_segs;

    int64_t start_offset;
    int64_t next_offset;    /* assigned */
    int64_t end_offset;     /* written (visible) */
    int64_t durable_offset; /* covered by a completed fsync */
    int64_t flush_target;   /* end_offset when the flush in flight was submitted */
    int flush_inflight;     /* fsync ops of the current flush still running */
    int flush_err;
    bool flush_requested; /* a flush without waiters (roll, interval, seal) */
    bool dir_unsynced;    /* a roll created segment files: the next flush also syncs dirfd */
    int64_t unflushed_msgs;
    int64_t avg_append;       /* moving average of append sizes (bytes) */
    int64_t bytes_since_trim; /* appended since the last log_trim_cache */
    int64_t waiters_since_ns; /* when the oldest durable waiter arrived */
    int64_t last_flush_ms;

    /* appends in offset order, from submission until their write completes */
    struct storage_op *appends_head, *appends_tail;
    /* durable appends whose write completed, waiting for a flush */
    struct storage_op *waiters_head, *waiters_tail;
    /* append writes held until the zero write they overlap completes */
    struct storage_op *held_head, *held_tail;
    /* append writes queued behind the one in flight, sent as one writev when it completes */
    struct storage_op *queued_head, *queued_tail;
    bool write_inflight; /* an append write (group) of this log is in flight */
    /* direct I/O (see log.c): the partial block after the last whole block written, which the
     * next write starts with (engine dio_align bytes, aligned); it holds [dtail_pos, dtail_pos +
     * dtail_len) of dtail_seg, dtail_pos block aligned. dtail_seg NULL: read it from the file. */
    uint8_t *dtail;
    struct storage_segment *dtail_seg;
    int64_t dtail_pos;
    uint32_t dtail_len;
    bool dpending;    /* dtail holds appended bytes not written yet */
    bool dbarrier;    /* a write ending in a partial block is in flight: the next one waits */
    bool dloaded;     /* appends had to wait for a write: keep writing whole blocks only */
    int64_t dlast_ns; /* rl_mono_ns() of the last direct write of a group */
    struct storage_op *dw_head, *dw_tail; /* direct writes in flight, in file order (lnext) */
    int n_dw;
    struct storage_dcache *dc_first, *dc_last; /* cached direct writes, in file order */
    int n_dc;
    struct iovec *wiov; /* the writev of the group in flight (STORAGE_COALESCE_MAX_OPS) */
    /* spare segment: the next roll's files, opened ahead through the ring (.log, .index,
     * .timeindex; -1: not open); spare_pending opens in flight; spare_ready once all succeeded */
    int spare_fd[STORAGE_SPARE_FILES];
    int spare_pending;
    int spare_err; /* the first failed open of the attempt in flight */
    bool spare_ready;
    int64_t spare_retry_ms; /* a failed attempt: no new one before this (rl_mono_ms) */
    int inflight;           /* every op of this log in flight */

    int err;                /* 0, or -errno: failed, not accepting writes */
    int64_t recover_offset; /* where to cut back to before accepting writes again */
    int64_t ckpt_recovery;  /* last recovery point written */
    int64_t ckpt_start;     /* last log start offset written */
    bool closing;
};

/* ---- engine --------------------------------------------------------------------------------- */
struct storage_ckpt_entry {
    char *topic;
    int32_t partition;
    int64_t offset;
};

struct storage_engine {
    char *data_dir;
    int data_dirfd;
    enum storage_flush_policy policy;
    int64_t prealloc;
    int64_t cache_tail; /* storage_engine_config.cache_tail_bytes */
    bool clean;
    bool use_uring;
    bool iowq_pinned;     /* io-wq workers share the engine thread's CPU affinity */
    bool uring_ftruncate; /* the kernel has IORING_OP_FTRUNCATE (6.9+) */
    bool direct;          /* appends written with O_DIRECT (storage_engine_config.direct_io) */
    uint32_t dio_align;   /* direct I/O block: file offsets, lengths and buffers align to it */
    uint32_t direct_min;  /* storage_engine_config.direct_min_bytes */
    int64_t dcache_limit, dcache_bytes;           /* direct_cache_bytes, bytes cached now */
    struct storage_dcache *dc_oldest, *dc_newest; /* every cached write, oldest first */
    struct rl_bufpool dbuf;                       /* idle staging buffers */
    uint64_t rolls, rolls_made; /* segment rolls; those that made their files (no spare) */
    struct io_uring ring;
    unsigned ring_entries;
    unsigned uring_inflight;
    int efd;
    uint8_t *zeros; /* prealloc bytes of zeros (a read-only anonymous mapping: page aligned,
                       the shared zero page, usable for O_DIRECT writes) */

    struct storage_op *free_ops;
    struct storage_op **op_chunks;
    int n_op_chunks;
    struct storage_op *backlog_head, *backlog_tail; /* waiting for ring space */
    struct storage_op *fake_head, *fake_tail;       /* posix and injected completions */

    struct storage_log *logs;
    char **dirs; /* "<topic>-<partition>" names found at open */
    int n_dirs;
    struct storage_ckpt_entry *rp, *ls; /* recovery points, log start offsets */
    int n_rp, n_ls;
    int64_t last_ckpt_ms;

    uint8_t *scratch; /* scan buffer */
    size_t scratch_cap;
    storage_fsync_observer_fn fsync_obs; /* storage_engine_set_fsync_observer */
    void *fsync_obs_arg;
};

struct storage_op *storage__op_get(struct storage_engine *e);
void storage__op_put(struct storage_engine *e, struct storage_op *op);
/* Dispatches one completed op (called by storage_engine_poll). */
void storage__op_complete(struct storage_engine *e, struct storage_op *op, int res);
/* Writes both checkpoint files now (close, tick). */
int storage__checkpoints_write(struct storage_engine *e);
/* Writes a log's new index entries to its files and returns the offset below which recovery
 * need not look: the durable offset, or the base of the oldest sealed segment whose final cut
 * is not yet synced. */
int64_t storage__log_recovery_point(struct storage_log *log);
/* Writes pending index entries (sync: and fdatasyncs the files, as at close). */
void storage__log_sync_indexes(struct storage_log *log, bool sync);
void storage__log_tick(struct storage_log *log, int64_t now_ms);
/* Runs completions until the log has nothing in flight. */
void storage__log_drain(struct storage_log *log);
void storage__ckpt_note(struct storage_engine *e, const char *topic, int32_t partition,
                        int64_t recovery_point, int64_t start_offset);
void storage__ckpt_forget(struct storage_engine *e, const char *topic, int32_t partition);
int64_t storage__ckpt_lookup(const struct storage_ckpt_entry *v, int n, const char *topic,
                             int32_t partition, int64_t dflt);

/* Big-endian helpers. */
static inline uint32_t storage__be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t storage__be64(const uint8_t *p) {
    return (uint64_t)storage__be32(p) << 32 | storage__be32(p + 4);
}
static inline void storage__put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void storage__put_be64(uint8_t *p, uint64_t v) {
    storage__put_be32(p, (uint32_t)(v >> 32));
    storage__put_be32(p + 4, (uint32_t)v);
}

#endif /* RINGLET_STORAGE_INT_H */
