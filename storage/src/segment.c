/* SPDX-License-Identifier: Apache-2.0 */
/*
 * segment.c - one segment of a partition log: the `<20-digit base offset>.log` file of stored
 * record batches, its sparse `.index` (entries of 8 bytes: relative offset u32 BE, position u32 BE;
 * the offset is the last offset of the batch starting at that position, as Kafka writes it) and
 * its `.timeindex` (entries of 12 bytes: max timestamp so far i64 BE, relative offset u32 BE).
 * Also the batch scanner used by recovery, index rebuilds and reads.
 *
 * Index entries are added when more than index_interval_bytes were written since the previous
 * entry (storage__seg_index_note). The active segment's entries live in memory and reach the files
 * at checkpoints, rolls and close; sealed segments load theirs on first use and rebuild them by
 * scanning the .log when they are missing or do not match it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringlet/protocol.h"
#include "segment.h"

void storage__seg_name(char *buf, size_t cap, int64_t base, const char *ext) {
    snprintf(buf, cap, "%020lld%s", (long long)base, ext);
}

struct storage_segment *storage__seg_alloc(int64_t base) {
    struct storage_segment *s = rl_calloc(1, sizeof(*s));
    s->base_offset = base;
    s->next_offset = base;
    s->fd = -1;
    s->dfd = -1;
    s->max_ts = -1;
    s->max_ts_offset = -1;
    return s;
}

void storage__seg_free(struct storage_segment *s) {
    if (!s) return;
    if (s->fd >= 0) close(s->fd);
    if (s->dfd >= 0) close(s->dfd);
    rl_free(s->idx);
    rl_free(s->tidx);
    rl_free(s);
}

int storage__seg_fd(struct storage_log *log, struct storage_segment *s) {
    if (s->fd >= 0) return s->fd;
    char name[48];
    storage__seg_name(name, sizeof(name), s->base_offset, ".log");
    int fd = openat(log->dirfd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0) return -errno;
    s->fd = fd;
    return fd;
}

int storage__seg_dfd(struct storage_log *log, struct storage_segment *s) {
    if (s->dfd >= 0) return s->dfd;
    char name[48];
    storage__seg_name(name, sizeof(name), s->base_offset, ".log");
    int fd = openat(log->dirfd, name, O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) return -errno;
    s->dfd = fd;
    return fd;
}

const char *const storage__seg_exts[3] = {".log", ".index", ".timeindex"};

int storage__seg_files_create(int dirfd, int64_t base, int flags, bool sync_dir, int *log_fd) {
    int fds[3], rc = 0;
    for (int i = 0; i < 3; i++) {
        char name[48];
        storage__seg_name(name, sizeof(name), base, storage__seg_exts[i]);
        fds[i] = openat(dirfd, name, O_RDWR | O_CREAT | flags | O_CLOEXEC, 0644);
        if (fds[i] < 0) {
            rc = -errno;
            for (int j = 0; j < i; j++)
                close(fds[j]);
            return rc;
        }
    }
    close(fds[1]);
    close(fds[2]);
    /* The new names must survive a crash before an fsync covers data in them: here, or (a roll)
     * in the log's next flush, which syncs the directory too (storage_log.dir_unsynced). */
    if (sync_dir && fsync(dirfd) < 0) rc = -errno;
    if (rc < 0 || !log_fd)
        close(fds[0]);
    else
        *log_fd = fds[0];
    return rc;
}

int storage__seg_create(struct storage_log *log, int64_t base, bool sync_dir,
                        struct storage_segment **out) {
    int fd;
    int rc = storage__seg_files_create(log->dirfd, base, O_TRUNC, sync_dir, &fd);
    if (rc < 0) return rc;
    struct storage_segment *s = storage__seg_alloc(base);
    s->fd = fd;
    s->idx_loaded = true;
    s->created_ms = rl_now_ms();
    *out = s;
    return 0;
}

void storage__seg_unlink(struct storage_log *log, struct storage_segment *s) {
    char name[48];
    for (int i = 0; i < 3; i++) {
        storage__seg_name(name, sizeof(name), s->base_offset, storage__seg_exts[i]);
        unlinkat(log->dirfd, name, 0);
    }
}

static void idx_push(struct storage_segment *s, uint32_t rel, uint32_t pos) {
    if (s->n_idx == s->cap_idx) {
        s->cap_idx = s->cap_idx ? s->cap_idx * 2 : 64;
        s->idx = rl_realloc(s->idx, sizeof(*s->idx) * (size_t)s->cap_idx);
    }
    s->idx[s->n_idx++] = (struct storage_index_entry){rel, pos};
}

static void tidx_push(struct storage_segment *s, int64_t ts, uint32_t rel) {
    if (s->n_tidx == s->cap_tidx) {
        s->cap_tidx = s->cap_tidx ? s->cap_tidx * 2 : 64;
        s->tidx = rl_realloc(s->tidx, sizeof(*s->tidx) * (size_t)s->cap_tidx);
    }
    s->tidx[s->n_tidx++] = (struct storage_time_entry){ts, rel};
}

void storage__seg_index_note(struct storage_segment *s, int32_t interval, int64_t pos, int64_t size,
                             int64_t last_offset, int64_t max_ts) {
    if (max_ts > s->max_ts) {
        s->max_ts = max_ts;
        s->max_ts_offset = last_offset;
    }
    if (s->bytes_since_index > interval) {
        idx_push(s, (uint32_t)(last_offset - s->base_offset), (uint32_t)pos);
        if (s->max_ts >= 0 && (s->n_tidx == 0 || s->max_ts > s->tidx[s->n_tidx - 1].ts))
            tidx_push(s, s->max_ts, (uint32_t)(s->max_ts_offset - s->base_offset));
        s->bytes_since_index = 0;
        s->idx_dirty = true;
    }
    s->bytes_since_index += size;
}

void storage__seg_seal_timeindex(struct storage_segment *s) {
    if (s->max_ts >= 0 && (s->n_tidx == 0 || s->max_ts > s->tidx[s->n_tidx - 1].ts)) {
        tidx_push(s, s->max_ts, (uint32_t)(s->max_ts_offset - s->base_offset));
        s->idx_dirty = true;
    }
}

/* ---- scanner -------------------------------------------------------------------------------- */

/* Makes [pos, pos+need) available in the window, reading at least `want` bytes when possible.
 * Returns 0, 1 if the file ends first, or -errno. */
static int scan_fill(struct storage_scan *sc, int fd, int64_t pos, size_t need, size_t want) {
    if (pos >= sc->win_pos && pos + (int64_t)need <= sc->win_pos + (int64_t)sc->win_len) return 0;
    if (want < need) want = need;
    if ((int64_t)want > sc->limit - pos) want = (size_t)(sc->limit - pos);
    if (want < need) want = need;
    if (want > *sc->capp) {
        size_t cap = *sc->capp;
        while (cap < want)
            cap *= 2;
        rl_free(*sc->bufp);
        *sc->bufp = rl_malloc(cap);
        *sc->capp = cap;
    }
    size_t got = storage__dcache_read(sc->log, sc->seg, pos, want, *sc->bufp);
    while (got < want) {
        ssize_t n = pread(fd, *sc->bufp + got, want - got, pos + (int64_t)got);
        if (n < 0) {
            if (errno == EINTR) continue;
            sc->win_len = 0;
            return -errno;
        }
        if (n == 0) break;
        got += (size_t)n;
    }
    sc->win_pos = pos;
    sc->win_len = got;
    return got >= need ? 0 : 1;
}

void storage__scan_init(struct storage_scan *sc, uint8_t **bufp, size_t *capp, int64_t pos,
                        int64_t limit, bool validate, bool body) {
    memset(sc, 0, sizeof(*sc));
    sc->bufp = bufp;
    sc->capp = capp;
    sc->pos = pos;
    sc->limit = limit;
    sc->validate = validate;
    sc->body = body;
    sc->win_pos = -1;
}

int storage__scan_next(struct storage_scan *sc, int fd) {
    if (sc->pos + PROTO_BATCH_HEADER_SIZE > sc->limit) {
        sc->bad = sc->pos < sc->limit;
        return 0;
    }
    size_t want = (sc->body || sc->validate) ? *sc->capp : 4096;
    int rc = scan_fill(sc, fd, sc->pos, PROTO_BATCH_HEADER_SIZE, want);
    if (rc < 0) return rc;
    if (rc > 0) {
        sc->bad = true;
        return 0;
    }
    const uint8_t *p = *sc->bufp + (sc->pos - sc->win_pos);
    if (proto_batch_header_parse(p, PROTO_BATCH_HEADER_SIZE, &sc->h) != 0 ||
        sc->h.BatchLength < PROTO_BATCH_HEADER_SIZE - PROTO_BATCH_OVERHEAD ||
        sc->pos + PROTO_BATCH_OVERHEAD + sc->h.BatchLength > sc->limit) {
        sc->bad = true;
        return 0;
    }
    size_t total = (size_t)PROTO_BATCH_OVERHEAD + (size_t)sc->h.BatchLength;
    if (sc->body || sc->validate) {
        rc = scan_fill(sc, fd, sc->pos, total, want);
        if (rc < 0) return rc;
        if (rc > 0) {
            sc->bad = true;
            return 0;
        }
        p = *sc->bufp + (sc->pos - sc->win_pos);
        if (sc->validate && proto_batch_validate(p, total, &sc->h) != 0) {
            sc->bad = true;
            return 0;
        }
        sc->batch = p;
    } else {
        sc->batch = NULL;
    }
    sc->batch_pos = sc->pos;
    sc->batch_len = total;
    sc->pos += (int64_t)total;
    return 1;
}

/* ---- index files ---------------------------------------------------------------------------- */

static int write_all(int fd, const uint8_t *buf, size_t len, int64_t pos) {
    while (len) {
        ssize_t n = pwrite(fd, buf, len, pos);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        buf += n;
        len -= (size_t)n;
        pos += n;
    }
    return 0;
}

int storage__seg_index_write(struct storage_log *log, struct storage_segment *s, bool full,
                             bool sync) {
    if (!s->idx_loaded) return 0;
    if (!full && !s->idx_dirty && !sync) return 0;
    char name[48];
    int rc = 0;
    for (int which = 0; which < 2 && !rc; which++) {
        storage__seg_name(name, sizeof(name), s->base_offset, which ? ".timeindex" : ".index");
        int fd = openat(log->dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            rc = -errno;
            break;
        }
        int n = which ? s->n_tidx : s->n_idx;
        int from = full ? 0 : (which ? s->n_tidx_flushed : s->n_idx_flushed);
        if (from > n) from = 0, full = true;
        size_t esz = which ? STORAGE_TIME_ENTRY_SIZE : STORAGE_INDEX_ENTRY_SIZE;
        if (full && ftruncate(fd, (off_t)((size_t)n * esz)) < 0) rc = -errno;
        if (!rc && n > from) {
            uint8_t *buf = rl_malloc((size_t)(n - from) * esz);
            for (int i = from; i < n; i++) {
                uint8_t *p = buf + (size_t)(i - from) * esz;
                if (which) {
                    storage__put_be64(p, (uint64_t)s->tidx[i].ts);
                    storage__put_be32(p + 8, s->tidx[i].rel_offset);
                } else {
                    storage__put_be32(p, s->idx[i].rel_offset);
                    storage__put_be32(p + 4, s->idx[i].pos);
                }
            }
            rc = write_all(fd, buf, (size_t)(n - from) * esz, (int64_t)((size_t)from * esz));
            rl_free(buf);
        }
        if (!rc && sync && fdatasync(fd) < 0) rc = -errno;
        close(fd);
        if (!rc) {
            if (which)
                s->n_tidx_flushed = n;
            else
                s->n_idx_flushed = n;
        }
    }
    if (!rc) s->idx_dirty = false;
    return rc;
}

/* Reads one index file into memory; returns the number of entries or -errno. */
static int read_index_file(struct storage_log *log, struct storage_segment *s, bool time) {
    char name[48];
    storage__seg_name(name, sizeof(name), s->base_offset, time ? ".timeindex" : ".index");
    int fd = openat(log->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat st;
    size_t esz = time ? STORAGE_TIME_ENTRY_SIZE : STORAGE_INDEX_ENTRY_SIZE;
    if (fstat(fd, &st) < 0 || st.st_size % (off_t)esz != 0 || st.st_size > (1LL << 31)) {
        close(fd);
        return -EBADMSG;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = rl_malloc(len ? len : 1);
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (got != len) {
        rl_free(buf);
        return -EIO;
    }
    int n = (int)(len / esz);
    for (int i = 0; i < n; i++) {
        const uint8_t *p = buf + (size_t)i * esz;
        if (time)
            tidx_push(s, (int64_t)storage__be64(p), storage__be32(p + 8));
        else
            idx_push(s, storage__be32(p), storage__be32(p + 4));
    }
    rl_free(buf);
    return n;
}

int storage__seg_index_read_raw(struct storage_log *log, struct storage_segment *s) {
    s->n_idx = s->n_tidx = 0;
    int a = read_index_file(log, s, false);
    if (a < 0) return a;
    int b = read_index_file(log, s, true);
    if (b < 0) {
        s->n_idx = 0;
        return b;
    }
    return 0;
}

/* Checks loaded entries against the segment: increasing, inside the written bytes, and the last
 * offset entry names the batch that really starts there. */
static bool index_consistent(struct storage_log *log, struct storage_segment *s, int64_t next) {
    for (int i = 0; i < s->n_idx; i++) {
        if (s->idx[i].pos >= s->size || s->base_offset + s->idx[i].rel_offset >= next) return false;
        if (i && (s->idx[i].pos <= s->idx[i - 1].pos ||
                  s->idx[i].rel_offset <= s->idx[i - 1].rel_offset))
            return false;
    }
    for (int i = 0; i < s->n_tidx; i++) {
        if (s->base_offset + s->tidx[i].rel_offset >= next) return false;
        if (i && s->tidx[i].ts < s->tidx[i - 1].ts) return false;
    }
    if (s->n_idx) {
        const struct storage_index_entry *last = &s->idx[s->n_idx - 1];
        uint8_t hdr[PROTO_BATCH_HEADER_SIZE];
        struct proto_batch_header h;
        int fd = storage__seg_fd(log, s);
        if (fd < 0 || pread(fd, hdr, sizeof(hdr), last->pos) != (ssize_t)sizeof(hdr) ||
            proto_batch_header_parse(hdr, sizeof(hdr), &h) != 0 ||
            h.BaseOffset + h.LastOffsetDelta != s->base_offset + last->rel_offset)
            return false;
    }
    return true;
}

int storage__seg_index_rebuild(struct storage_log *log, struct storage_segment *s) {
    int fd = storage__seg_fd(log, s);
    if (fd < 0) return fd;
    s->n_idx = s->n_tidx = 0;
    s->n_idx_flushed = s->n_tidx_flushed = 0;
    s->bytes_since_index = 0;
    s->max_ts = -1;
    s->max_ts_offset = -1;
    struct storage_scan sc;
    struct storage_engine *e = log->engine;
    storage__scan_init(&sc, &e->scratch, &e->scratch_cap, 0, s->size, false, false);
    int rc;
    while ((rc = storage__scan_next(&sc, fd)) > 0)
        storage__seg_index_note(s, log->cfg.index_interval_bytes, sc.batch_pos,
                                (int64_t)sc.batch_len, sc.h.BaseOffset + sc.h.LastOffsetDelta,
                                sc.h.MaxTimestamp);
    if (rc < 0) return rc;
    if (s->sealed) storage__seg_seal_timeindex(s);
    s->idx_loaded = true;
    rl_info(STORAGE_MOD, "%s: rebuilt index of segment %lld (%d entries)", log->dir,
            (long long)s->base_offset, s->n_idx);
    return storage__seg_index_write(log, s, true, false);
}

int storage__seg_index_load(struct storage_log *log, struct storage_segment *s, int64_t next) {
    if (s->idx_loaded) return 0;
    s->n_idx = s->n_tidx = 0;
    int a = read_index_file(log, s, false);
    int b = a >= 0 ? read_index_file(log, s, true) : a;
    if (a >= 0 && b >= 0 && index_consistent(log, s, next)) {
        s->idx_loaded = true;
        s->n_idx_flushed = s->n_idx;
        s->n_tidx_flushed = s->n_tidx;
        if (s->n_tidx) {
            const struct storage_time_entry *t = &s->tidx[s->n_tidx - 1];
            if (t->ts > s->max_ts) {
                s->max_ts = t->ts;
                s->max_ts_offset = s->base_offset + t->rel_offset;
            }
        }
        return 0;
    }
    rl_warn(STORAGE_MOD, "%s: index of segment %lld %s; rebuilding it", log->dir,
            (long long)s->base_offset, a == -ENOENT || b == -ENOENT ? "missing" : "inconsistent");
    return storage__seg_index_rebuild(log, s);
}

int64_t storage__seg_lookup(const struct storage_segment *s, int64_t offset) {
    int lo = 0, hi = s->n_idx - 1, found = -1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (s->base_offset + s->idx[mid].rel_offset <= offset) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found < 0 ? 0 : s->idx[found].pos;
}

int64_t storage__seg_lookup_pos(const struct storage_segment *s, int64_t limit_pos) {
    int lo = 0, hi = s->n_idx - 1, found = -1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (s->idx[mid].pos <= limit_pos) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found < 0 ? 0 : s->idx[found].pos;
}

int64_t storage__seg_time_lookup(const struct storage_segment *s, int64_t ts, int64_t below) {
    int lo = 0, hi = s->n_tidx - 1, found = -1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (s->tidx[mid].ts < ts) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    while (found >= 0 && s->base_offset + s->tidx[found].rel_offset >= below)
        found--;
    return found < 0 ? -1 : s->base_offset + s->tidx[found].rel_offset;
}

void storage__seg_index_cut(struct storage_segment *s, int64_t pos, int64_t next_offset) {
    while (s->n_idx && (s->idx[s->n_idx - 1].pos >= pos ||
                        s->base_offset + s->idx[s->n_idx - 1].rel_offset >= next_offset))
        s->n_idx--;
    while (s->n_tidx && s->base_offset + s->tidx[s->n_tidx - 1].rel_offset >= next_offset)
        s->n_tidx--;
    if (s->n_idx_flushed > s->n_idx) s->n_idx_flushed = s->n_idx;
    if (s->n_tidx_flushed > s->n_tidx) s->n_tidx_flushed = s->n_tidx;
    s->idx_dirty = true;
}
