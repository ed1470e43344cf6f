/* SPDX-License-Identifier: Apache-2.0 */
/*
 * segment.h - internal interface of segment.c: segment files, their indexes and the batch
 * scanner. Owner thread of the engine only.
 */
#ifndef RINGLET_STORAGE_SEGMENT_H
#define RINGLET_STORAGE_SEGMENT_H

#include "ringlet/protocol.h"
#include "storage_int.h"

/* Walks the batches of one segment file through a read window (pread, no mmap). */
struct storage_scan {
    uint8_t **bufp; /* window buffer, grown when a batch is larger */
    size_t *capp;
    int64_t pos;   /* next batch position; after the scan, end of the last good batch */
    int64_t limit; /* never read at or past this position */
    bool validate; /* full check of every batch (length, magic, CRC-32C, counts) */
    bool body;     /* `batch` points at the whole batch */
    bool bad;      /* stopped on bytes that are not a batch (torn, zeros, corrupt) */
    int64_t win_pos;
    size_t win_len;
    /* set for reads of a live log (storage_log_read): windows come from its direct I/O cache
     * when it holds them */
    struct storage_log *log;
    struct storage_segment *seg;
    /* the batch just returned */
    struct proto_batch_header h;
    const uint8_t *batch;
    int64_t batch_pos;
    size_t batch_len;
};
void storage__scan_init(struct storage_scan *sc, uint8_t **bufp, size_t *capp, int64_t pos,
                        int64_t limit, bool validate, bool body);
/* 1: next batch in sc->h (and sc->batch); 0: end or first invalid batch (sc->bad); -errno. */
int storage__scan_next(struct storage_scan *sc, int fd);

void storage__seg_name(char *buf, size_t cap, int64_t base, const char *ext);
/* A segment's files: ".log", ".index", ".timeindex" (the .log first). */
extern const char *const storage__seg_exts[3];
struct storage_segment *storage__seg_alloc(int64_t base);
void storage__seg_free(struct storage_segment *s);
/* Creates the three files of a new, empty segment; fsyncs the directory when sync_dir (else the
 * caller must, before data in the segment counts as durable). */
int storage__seg_create(struct storage_log *log, int64_t base, bool sync_dir,
                        struct storage_segment **out);
/* Creates the .log, .index and .timeindex files of segment base in dirfd (flags: O_TRUNC, or 0
 * to leave existing ones as they are) and syncs dirfd when sync_dir. The .log's fd goes to
 * *log_fd, or is closed when log_fd is NULL. Needs no log or engine. */
int storage__seg_files_create(int dirfd, int64_t base, int flags, bool sync_dir, int *log_fd);
/* The .log fd, opened on first use. */
int storage__seg_fd(struct storage_log *log, struct storage_segment *s);
/* The .log opened for O_DIRECT writes, on first use. */
int storage__seg_dfd(struct storage_log *log, struct storage_segment *s);
void storage__seg_unlink(struct storage_log *log, struct storage_segment *s);

/* Index bookkeeping for one batch of `size` bytes at `pos` (append, recovery and rebuild). */
void storage__seg_index_note(struct storage_segment *s, int32_t interval, int64_t pos, int64_t size,
                             int64_t last_offset, int64_t max_ts);
/* Adds the final time index entry of a sealed segment (its max timestamp). */
void storage__seg_seal_timeindex(struct storage_segment *s);
/* Writes the index files: only new entries, or everything (full), optionally fdatasync'd. */
int storage__seg_index_write(struct storage_log *log, struct storage_segment *s, bool full,
                             bool sync);
/* Loads a segment's index files (next = one past its last offset), rebuilding them if they are
 * missing or do not match the .log. s->size must be set. */
int storage__seg_index_load(struct storage_log *log, struct storage_segment *s, int64_t next);
/* Reads both index files into memory without checking them (recovery verifies what it uses). */
int storage__seg_index_read_raw(struct storage_log *log, struct storage_segment *s);
int storage__seg_index_rebuild(struct storage_log *log, struct storage_segment *s);
/* Position to start scanning for offset (largest entry <= offset; 0 if none). */
int64_t storage__seg_lookup(const struct storage_segment *s, int64_t offset);
/* Largest indexed batch position <= limit_pos (0 if none). */
int64_t storage__seg_lookup_pos(const struct storage_segment *s, int64_t limit_pos);
/* Offset of the last time index entry with ts < target and offset < below, or -1. */
int64_t storage__seg_time_lookup(const struct storage_segment *s, int64_t ts, int64_t below);
/* Drops entries at or past pos / next_offset (truncation, recovery). */
void storage__seg_index_cut(struct storage_segment *s, int64_t pos, int64_t next_offset);

#endif /* RINGLET_STORAGE_SEGMENT_H */
