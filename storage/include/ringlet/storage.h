/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storage.h - ringlet's partition logs: the one public header of the storage library.
 *
 * An engine owns a data directory and one io_uring ring. A partition log is a directory
 * `<data_dir>/<topic>-<partition>/` of segments `<20-digit base offset>.log` with a sparse
 * `.index` and a `.timeindex`, exactly Kafka's layout; the .log holds the stored record batches.
 *
 * Threading: an engine and all its logs belong to one thread (the broker's reactor). Completions
 * are delivered by storage_engine_poll(), which the owner calls when storage_engine_eventfd()
 * becomes readable (or storage_engine_wait() in tests and tools).
 *
 * Errors: 0 or a negative errno. -ENOSPC / -EIO mean the partition hit a full or failing disk
 * (the broker answers KAFKA_STORAGE_ERROR); -EBADMSG means a batch failed validation.
 */
#ifndef RINGLET_STORAGE_H
#define RINGLET_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum storage_flush_policy {
    STORAGE_FLUSH_GROUP_COMMIT = 0, /* one fdatasync covers every append since the previous one */
    STORAGE_FLUSH_INTERVAL = 1,     /* Kafka's flush.messages / flush.ms (durable appends complete
                                       once written, as acks=all does in Kafka) */
    STORAGE_FLUSH_NONE = 2,         /* never fsync on the append path (page cache only) */
};

/* Per-log settings (topic configs). Zero-initialise, then storage_log_config_default(). */
struct storage_log_config {
    int64_t segment_bytes;        /* segment.bytes, default 1 GiB */
    int64_t segment_ms;           /* segment.ms, default 7 days */
    int32_t index_interval_bytes; /* index.interval.bytes, default 4096 */
    int64_t retention_ms;         /* retention.ms, default 7 days, -1 = forever */
    int64_t retention_bytes;      /* retention.bytes, default -1 = unlimited */
    int64_t flush_messages;       /* flush.messages (STORAGE_FLUSH_INTERVAL) */
    int64_t flush_ms;             /* flush.ms (STORAGE_FLUSH_INTERVAL) */
    int32_t max_message_bytes;    /* max.message.bytes, default 1048588 (checked by the caller) */
};
void storage_log_config_default(struct storage_log_config *c);

struct storage_engine_config {
    const char *data_dir; /* created if missing */
    enum storage_flush_policy flush_policy;
    int64_t segment_preallocate_bytes; /* pre-write zeros ahead of the tail, 0 = off (used
                                          with group commit only) */
    int64_t cache_tail_bytes;          /* page cache kept per log: older data is dropped from
                                          the cache (fadvise DONTNEED) once written back; 0 =
                                          leave it all to the kernel */
    bool direct_io;                    /* write appends with O_DIRECT (see below); falls back to
                                          buffered writes where the file system cannot */
    int64_t direct_cache_bytes;        /* direct I/O: recently written data kept in memory for
                                          readers, for all logs together (0 = none) */
    int32_t direct_min_bytes;          /* direct I/O: appends go through the page cache while
                                          less than this is queued (a quiet log: readers see
                                          small writes sooner); 0 = 64 KiB, 1 = always direct */
    unsigned ring_entries;             /* io_uring SQ size, default 256 */
    bool use_posix_io; /* plain pwrite/fdatasync instead of io_uring (tests; also the automatic
                          fallback when io_uring cannot be set up) */
};

struct storage_engine;
struct storage_log;

/* Opens (creating if needed) the data directory. An unclean previous stop (no clean-shutdown
 * marker) makes each log recover on open. The marker is removed on open and written by
 * storage_engine_close(). */
int storage_engine_open(const struct storage_engine_config *cfg, struct storage_engine **out);
/* Flushes every log, writes checkpoints and the clean-shutdown marker, frees everything. */
void storage_engine_close(struct storage_engine *e);
/* An eventfd that becomes readable when completions are ready for storage_engine_poll(). */
int storage_engine_eventfd(const struct storage_engine *e);
/* Reaps completions and runs callbacks. Never blocks. Returns the number of completions. */
int storage_engine_poll(struct storage_engine *e);
/* Blocks until at least one completion (or timeout_ms), then polls. For tests and tools. */
int storage_engine_wait(struct storage_engine *e, int timeout_ms);
/* Periodic work: flush.ms timers, segment.ms rolls, retention. Call about once a second. */
void storage_engine_tick(struct storage_engine *e, int64_t now_ms);
/* Whether appends are written with O_DIRECT. With direct_io, a log's appends are copied into an
 * aligned staging buffer (the partial last block of the previous write first, zeros after the
 * last batch up to the block size) and written with O_DIRECT, instead of being copied into the
 * page cache by the kernel: the same one copy, without page-cache allocation and writeback.
 * Reads of the newest data are served from the staging buffers of completed writes, kept up to
 * direct_cache_bytes for the whole engine (oldest dropped first); older data is read from the
 * file (buffered reads, not cached by the writes). Off when the file system reports no direct I/O
 * alignment (statx STATX_DIOALIGN) or refuses O_DIRECT. */
bool storage_engine_direct_io(const struct storage_engine *e);
/* Figures for metrics. The memory the direct I/O write path holds: the read cache of completed
 * writes' staging buffers, idle staging buffers kept for reuse, and how many staging buffers were
 * allocated fresh (each costs its page faults; under steady load the pool should serve them).
 * Segment rolls since open, and how many of them had to create their files on the calling thread
 * because no spare made ahead was ready (each allocates inodes while the caller waits). */
struct storage_engine_stats {
    int64_t read_cache_bytes;
    int64_t staging_idle_bytes;
    uint64_t staging_allocs;
    uint64_t segment_rolls;
    uint64_t segment_rolls_made;
};
void storage_engine_stats(const struct storage_engine *e, struct storage_engine_stats *out);
/* Whether the previous stop was clean (read at open). */
bool storage_engine_was_clean(const struct storage_engine *e);
/* fn(arg, latency_ns) is called (on the thread that polls the engine) after every completed
 * fdatasync of a log flush, for metrics. fn NULL: none. */
typedef void (*storage_fsync_observer_fn)(void *arg, int64_t latency_ns);
void storage_engine_set_fsync_observer(struct storage_engine *e, storage_fsync_observer_fn fn,
                                       void *arg);
/* Names of the partition directories found at open, as (topic, partition) pairs, via callback. */
void storage_engine_foreach_dir(struct storage_engine *e,
                                void (*cb)(void *arg, const char *topic, int32_t partition),
                                void *arg);

/* Opens or creates the log of topic/partition. Recovers it if the engine stop was unclean. */
int storage_log_open(struct storage_engine *e, const char *topic, int32_t partition,
                     const struct storage_log_config *cfg, struct storage_log **out);
/* Creates, under data_dir, the directory and the empty first segment (base offset 0) of a new
 * topic/partition log, synced, for storage_log_open to open later; files already there are left
 * as they are. Needs no engine and is safe on any thread: creating a partition costs several
 * inode allocations and fsyncs, milliseconds on a busy ext4, which a caller can so keep off the
 * thread that runs the engine. */
int storage_log_prepare(const char *data_dir, const char *topic, int32_t partition);
/* Applies new topic settings (retention, segment size ...) to an open log. */
void storage_log_set_config(struct storage_log *log, const struct storage_log_config *cfg);
/* Closes a log (flushing it). */
void storage_log_close(struct storage_log *log);
/* Closes the log and removes its directory. */
int storage_log_delete(struct storage_log *log);

/* Append completion. err is 0 or a negative errno. Called from storage_engine_poll() (or from
 * a call that waits for in-flight I/O: storage_log_truncate/close/delete). A callback may append
 * again but must not close or delete the log. Completions of one log run in offset order. */
typedef void (*storage_append_cb)(void *arg, int err, int64_t base_offset);

/*
 * Appends one or more RecordBatch v2 buffers (concatenated, as in a Produce request). Validates
 * every batch (length, magic, CRC-32C, count vs last offset delta) and returns -EBADMSG without
 * writing anything if one fails. Assigns offsets now: stamps base offsets and leader_epoch into
 * buf in place and returns the first offset in *base_offset. The write is submitted through
 * io_uring; buf belongs to the ring until cb runs, so the caller keeps it alive until then.
 * cb runs once the bytes are written (durable = false) or once an fdatasync covering them has
 * completed (durable = true; with STORAGE_FLUSH_NONE, as soon as written). On error no later
 * append of this log completes successfully until the tail is consistent again.
 * Returns 0, -EBADMSG, -ENOSPC/-EIO (the partition is failed and not accepting writes), -EROFS.
 */
int storage_log_append(struct storage_log *log, uint8_t *buf, size_t len, int32_t leader_epoch,
                       bool durable, storage_append_cb cb, void *arg, int64_t *base_offset);

/* Offsets. The log end offset and high watermark count only appended bytes that are written. */
int64_t storage_log_start_offset(const struct storage_log *log);
int64_t storage_log_end_offset(const struct storage_log *log);
int64_t storage_log_high_watermark(const struct storage_log *log);
/* Bytes on disk (all segments) and segment count. */
int64_t storage_log_size_bytes(const struct storage_log *log);
int storage_log_segment_count(const struct storage_log *log);
/* The partition stopped accepting writes after an I/O error (0 if healthy, else -errno). */
int storage_log_error(const struct storage_log *log);

/* A zero-copy slice of one segment file: whole batches starting with the one that holds the
 * requested offset. fd stays valid until the next call that mutates the log (append may roll,
 * storage_engine_tick runs retention); dup() it to hold it across such calls. */
struct storage_slice {
    int fd;
    int64_t file_pos;
    int32_t len;
};
/*
 * Finds the batch containing offset (never starts mid-batch) and returns up to max_bytes of
 * whole batches from that segment, but always the whole first batch even if larger (KIP-74).
 * Returns 0 (len 0 when offset == end offset), or -ERANGE when offset is below the log start
 * or above the end offset.
 */
int storage_log_read(struct storage_log *log, int64_t offset, int32_t max_bytes,
                     struct storage_slice *out);
/* Like storage_log_read but copies into buf (up to cap bytes, whole first batch permitting):
 * *out_len gets the number of bytes copied; -ENOBUFS if the first batch alone exceeds cap. */
int storage_log_read_copy(struct storage_log *log, int64_t offset, void *buf, size_t cap,
                          size_t *out_len);
/* Like storage_log_read_copy, but never waits for the disk: returns -EAGAIN when some of the
 * bytes are neither in the direct I/O cache nor in the page cache (buf then holds nothing
 * useful); storage_log_read_async reads them without blocking the thread. Best effort: a miss
 * starts the kernel's readahead, which may bring the bytes in before the call gives up, and then
 * they are returned. */
int storage_log_read_copy_nowait(struct storage_log *log, int64_t offset, void *buf, size_t cap,
                                 size_t *out_len);
/* Completion of storage_log_read_async: err 0 (the bytes are in the buffer) or -errno. */
typedef void (*storage_read_cb)(void *arg, int err);
/*
 * Like storage_log_read_copy, asynchronously: finds the slice now (*out_len gets its length),
 * copies what the direct I/O cache holds and reads the rest through io_uring, so reads of old
 * data run in parallel and never stall the calling thread. Returns 1 when cb will run, once buf
 * holds the bytes, from storage_engine_poll() (or from storage_log_truncate/close/delete, which
 * wait for reads in flight); 0 when every byte was copied at once; or -errno as
 * storage_log_read_copy. cb runs only when 1 is returned. buf must stay valid until then; the
 * segment read is not deleted or cut meanwhile (retention waits for it). With posix I/O (no
 * io_uring) the read itself is a blocking pread at submission; cb still runs from the poll.
 */
int storage_log_read_async(struct storage_log *log, int64_t offset, void *buf, size_t cap,
                           size_t *out_len, storage_read_cb cb, void *arg);
/* First offset whose batch max timestamp >= ts; *offset = end offset if none. Also returns
 * that batch's max timestamp (or -1). */
int storage_log_find_timestamp(struct storage_log *log, int64_t ts, int64_t *offset,
                               int64_t *batch_ts);
/* The largest timestamp in the log and the offset of the batch carrying it (-1/-1 if empty). */
int storage_log_max_timestamp(struct storage_log *log, int64_t *ts, int64_t *offset);

/* Advances the log start offset (DeleteRecords); deletes segments wholly below it, or, for
 * segments with a read in flight (storage_log_read_async), at the first storage_engine_tick after
 * the read completed. -ERANGE if offset > end offset. */
int storage_log_delete_records(struct storage_log *log, int64_t offset);
/* Removes every batch at or after offset (recovery, later replication); a batch holding offset
 * goes entirely, so the end offset becomes that batch's base offset. Waits for in-flight I/O. */
int storage_log_truncate(struct storage_log *log, int64_t offset);

/* Iterates every stored batch from offset to the end (broker start-up: producer state,
 * __consumer_offsets). cb gets each whole batch; returning non-zero stops the scan. */
int storage_log_scan(struct storage_log *log, int64_t from_offset,
                     int (*cb)(void *arg, const uint8_t *batch, size_t len), void *arg);

/* ---- fault injection (tests): the ops layer fails the Nth matching operation ----------------- */
enum storage_fault_op { STORAGE_FAULT_WRITE = 0, STORAGE_FAULT_FSYNC = 1 };
/* Fails the nth (1-based, counted from now) op of that kind with -err (EIO/ENOSPC), or makes it
 * short (err = 0, short_write = true). nth = 0 clears. */
void storage_fault_inject(enum storage_fault_op op, int nth, int err, bool short_write);

#endif /* RINGLET_STORAGE_H */
