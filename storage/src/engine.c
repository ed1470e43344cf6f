/* SPDX-License-Identifier: Apache-2.0 */
/*
 * engine.c - the storage engine: data directory, io_uring ring + eventfd, completion waiting,
 * periodic work, and the files at the data directory root:
 *
 *   recovery-point-offset-checkpoint   Kafka's text format: "0\n<count>\n" then one
 *   log-start-offset-checkpoint        "<topic> <partition> <offset>\n" per log
 *   .kafka_cleanshutdown               present only after storage_engine_close()
 *
 * Checkpoints are written to "<name>.tmp", fsynced, renamed over the old file and the directory
 * fsynced, so a crash leaves either the old or the new file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage_int.h"

#define CLEAN_MARKER        ".kafka_cleanshutdown"
#define RP_CHECKPOINT       "recovery-point-offset-checkpoint"
#define LS_CHECKPOINT       "log-start-offset-checkpoint"
#define CHECKPOINT_EVERY_MS 10000

static int mkdir_p(const char *path) {
    char *p = rl_strdup(path);
    int rc = 0;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = 0;
        if (mkdir(p, 0755) < 0 && errno != EEXIST) rc = -errno;
        *s = '/';
        if (rc) break;
    }
    if (!rc && mkdir(p, 0755) < 0 && errno != EEXIST) rc = -errno;
    rl_free(p);
    return rc;
}

static void ckpt_free(struct storage_ckpt_entry *v, int n) {
    for (int i = 0; i < n; i++)
        rl_free(v[i].topic);
    rl_free(v);
}

/* Reads a checkpoint file; a missing file is an empty one, a malformed one is ignored (logged):
 * the checkpoints only shorten recovery and keep DeleteRecords' start offsets. */
static void ckpt_read(struct storage_engine *e, const char *name, struct storage_ckpt_entry **out,
                      int *n_out) {
    *out = NULL;
    *n_out = 0;
    int fd = openat(e->data_dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return;
    }
    int version = -1, count = -1;
    struct storage_ckpt_entry *v = NULL;
    int n = 0;
    char topic[256];
    if (fscanf(f, "%d %d", &version, &count) != 2 || version != 0 || count < 0) goto bad;
    v = rl_calloc((size_t)count + 1, sizeof(*v));
    for (int i = 0; i < count; i++) {
        int32_t part;
        long long off;
        if (fscanf(f, "%255s %d %lld", topic, &part, &off) != 3) goto bad;
        v[n].topic = rl_strdup(topic);
        v[n].partition = part;
        v[n].offset = off;
        n++;
    }
    fclose(f);
    *out = v;
    *n_out = n;
    return;
bad:
    rl_warn(STORAGE_MOD, "%s/%s is malformed; ignoring it (recovery scans more)", e->data_dir,
            name);
    ckpt_free(v, n);
    fclose(f);
}

int64_t storage__ckpt_lookup(const struct storage_ckpt_entry *v, int n, const char *topic,
                             int32_t partition, int64_t dflt) {
    for (int i = 0; i < n; i++)
        if (v[i].partition == partition && strcmp(v[i].topic, topic) == 0) return v[i].offset;
    return dflt;
}

static void ckpt_set(struct storage_ckpt_entry **v, int *n, const char *topic, int32_t partition,
                     int64_t offset) {
    for (int i = 0; i < *n; i++)
        if ((*v)[i].partition == partition && strcmp((*v)[i].topic, topic) == 0) {
            (*v)[i].offset = offset;
            return;
        }
    *v = rl_realloc(*v, sizeof(**v) * (size_t)(*n + 1));
    (*v)[*n].topic = rl_strdup(topic);
    (*v)[*n].partition = partition;
    (*v)[*n].offset = offset;
    (*n)++;
}

/* Forgets a deleted log. */
void storage__ckpt_forget(struct storage_engine *e, const char *topic, int32_t partition) {
    struct storage_ckpt_entry *vs[2] = {e->rp, e->ls};
    int *ns[2] = {&e->n_rp, &e->n_ls};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < *ns[k]; i++)
            if (vs[k][i].partition == partition && strcmp(vs[k][i].topic, topic) == 0) {
                rl_free(vs[k][i].topic);
                vs[k][i] = vs[k][*ns[k] - 1];
                (*ns[k])--;
                break;
            }
}

/* Records a log's current offsets in the engine's tables (written by the next checkpoint). */
void storage__ckpt_note(struct storage_engine *e, const char *topic, int32_t partition,
                        int64_t recovery_point, int64_t start_offset) {
    ckpt_set(&e->rp, &e->n_rp, topic, partition, recovery_point);
    ckpt_set(&e->ls, &e->n_ls, topic, partition, start_offset);
}

static int ckpt_write_file(struct storage_engine *e, const char *name,
                           const struct storage_ckpt_entry *v, int n) {
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%s.tmp", name);
    int fd = openat(e->data_dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -errno;
    size_t cap = 64 + (size_t)n * 300, len = 0;
    char *buf = rl_malloc(cap);
    len += (size_t)snprintf(buf + len, cap - len, "0\n%d\n", n);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s %d %lld\n", v[i].topic, v[i].partition,
                                (long long)v[i].offset);
    int rc = 0;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            rc = -errno;
            break;
        }
        off += (size_t)w;
    }
    rl_free(buf);
    if (!rc && fdatasync(fd) < 0) rc = -errno;
    close(fd);
    if (!rc && renameat(e->data_dirfd, tmp, e->data_dirfd, name) < 0) rc = -errno;
    if (!rc && fsync(e->data_dirfd) < 0) rc = -errno;
    if (rc) {
        unlinkat(e->data_dirfd, tmp, 0);
        rl_warn(STORAGE_MOD, "cannot write %s/%s: %s", e->data_dir, name, rl_strerror(rc));
    }
    return rc;
}

int storage__checkpoints_write(struct storage_engine *e) {
    for (struct storage_log *l = e->logs; l; l = l->next)
        storage__ckpt_note(e, l->topic, l->partition, storage__log_recovery_point(l),
                           l->start_offset);
    int rc = ckpt_write_file(e, RP_CHECKPOINT, e->rp, e->n_rp);
    int rc2 = ckpt_write_file(e, LS_CHECKPOINT, e->ls, e->n_ls);
    return rc ? rc : rc2;
}

/* "<topic>-<partition>" with a non-empty topic and a decimal partition. */
static bool parse_dir_name(const char *name, char *topic, size_t cap, int32_t *partition) {
    const char *dash = strrchr(name, '-');
    if (!dash || dash == name || !dash[1] || (size_t)(dash - name) >= cap) return false;
    long long p = 0;
    for (const char *s = dash + 1; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        p = p * 10 + (*s - '0');
        if (p > INT32_MAX) return false;
    }
    memcpy(topic, name, (size_t)(dash - name));
    topic[dash - name] = 0;
    *partition = (int32_t)p;
    return true;
}

/* Buffered writes to most filesystems (ext4 among them) cannot be issued without blocking, so
 * io_uring hands them to its io-wq worker threads. A worker on another CPU than the submitter
 * costs two cross-CPU wake-ups per write (measured on a 2-vCPU VM: a 256 KiB write takes about
 * 2x as long as a pwrite, a 16 KiB one about 10x) and copies from another core's cache. When
 * the engine's thread is pinned (the broker's reactor.cpu), its io-wq workers get the same CPUs,
 * which brings a 256 KiB write through io_uring within 10% of pwrite. An unpinned thread leaves
 * io-wq to the scheduler. */
static void follow_thread_affinity(struct storage_engine *e) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) < 0) return;
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online <= 0 || CPU_COUNT(&set) >= online) return;
    int rc = io_uring_register_iowq_aff(&e->ring, sizeof(set), &set);
    if (rc < 0)
        rl_warn(STORAGE_MOD, "cannot give io_uring workers the thread's CPU affinity: %s",
                rl_strerror(rc));
    else
        e->iowq_pinned = true;
}

/* Direct I/O needs a file system that accepts O_DIRECT and reports its alignment (statx
 * STATX_DIOALIGN, Linux 6.1+): file offsets, lengths and memory of a direct write must be
 * multiples of it. A probe file in the data directory answers both; without either, buffered.
 * Writes are aligned to the file system block as well (stx_blksize, when larger): ext4 runs a
 * direct write that is not block aligned under the inode lock, after waiting for every other
 * direct write of the file, and zeroes the rest of each partial block it allocates with writes
 * of its own. */
static void direct_io_setup(struct storage_engine *e) {
    static const char probe[] = ".direct-io-probe";
    int fd = openat(e->data_dirfd, probe, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rl_info(STORAGE_MOD, "%s: O_DIRECT refused (%s); appends use buffered writes", e->data_dir,
                strerror(errno));
        return;
    }
    struct statx sx;
    uint32_t align = 0;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN) &&
        sx.stx_dio_offset_align > 0) {
        align = RL_MAX(sx.stx_dio_mem_align, sx.stx_dio_offset_align);
        uint32_t bs = sx.stx_blksize;
        if (bs > align && bs <= (1u << 16) && !(bs & (bs - 1)) && bs % align == 0) align = bs;
    }
    close(fd);
    unlinkat(e->data_dirfd, probe, 0);
    if (align == 0 || align > (1u << 16) || (align & (align - 1))) {
        rl_info(STORAGE_MOD,
                "%s: the file system reports no usable direct I/O alignment (%u); appends use "
                "buffered writes",
                e->data_dir, align);
        return;
    }
    e->direct = true;
    e->dio_align = RL_MAX(align, (uint32_t)sizeof(void *));
}

int storage_engine_open(const struct storage_engine_config *cfg, struct storage_engine **out) {
    if (!cfg || !cfg->data_dir || !cfg->data_dir[0]) return -EINVAL;
    int rc = mkdir_p(cfg->data_dir);
    if (rc) return rc;
    struct storage_engine *e = rl_calloc(1, sizeof(*e));
    e->data_dir = rl_strdup(cfg->data_dir);
    e->policy = cfg->flush_policy;
    /* Zeros ahead of the tail pay off when fdatasync is on the acknowledgement path (group
     * commit); under none/interval they would only double the page-cache write traffic. */
    e->prealloc = cfg->segment_preallocate_bytes > 0 && e->policy == STORAGE_FLUSH_GROUP_COMMIT
                      ? cfg->segment_preallocate_bytes
                      : 0;
    if (e->prealloc > (1 << 30)) e->prealloc = 1 << 30;
    e->cache_tail = cfg->cache_tail_bytes > 0 ? cfg->cache_tail_bytes : 0;
    e->ring_entries = cfg->ring_entries ? cfg->ring_entries : 256;
    e->efd = -1;
    e->data_dirfd = open(cfg->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (e->data_dirfd < 0) {
        rc = -errno;
        goto fail;
    }
    e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (e->efd < 0) {
        rc = -errno;
        goto fail;
    }
    if (!cfg->use_posix_io) {
        rc = io_uring_queue_init(e->ring_entries, &e->ring, 0);
        if (rc == 0) {
            rc = io_uring_register_eventfd(&e->ring, e->efd);
            if (rc < 0) {
                io_uring_queue_exit(&e->ring);
            } else {
                e->use_uring = true;
                follow_thread_affinity(e);
                struct io_uring_probe *pr = io_uring_get_probe_ring(&e->ring);
                e->uring_ftruncate =
                    pr && io_uring_opcode_supported(pr, STORAGE_IORING_OP_FTRUNCATE);
                if (pr) io_uring_free_probe(pr);
            }
        }
        if (!e->use_uring)
            rl_warn(STORAGE_MOD, "io_uring unavailable (%s); using plain pwrite/fdatasync",
                    rl_strerror(rc));
        rc = 0;
    }
    if (cfg->direct_io) direct_io_setup(e);
    rl_bufpool_init(&e->dbuf, STORAGE_DBUF_MIN_SHIFT, STORAGE_DBUF_MAX_SHIFT, 4,
                    RL_MAX(e->dio_align, 4096u), STORAGE_DBUF_POOL_BYTES);
    e->dcache_limit = e->direct && cfg->direct_cache_bytes > 0 ? cfg->direct_cache_bytes : 0;
    e->direct_min =
        cfg->direct_min_bytes > 0 ? (uint32_t)cfg->direct_min_bytes : STORAGE_DIRECT_MIN_BYTES;
    if (e->prealloc) {
        void *z = mmap(NULL, (size_t)e->prealloc, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (z == MAP_FAILED) {
            rl_warn(STORAGE_MOD, "cannot map %lld bytes of zeros (%s); no zero pre-writing",
                    (long long)e->prealloc, strerror(errno));
            e->prealloc = 0;
        } else {
            e->zeros = z;
        }
    }
    e->scratch_cap = 1 << 16;
    e->scratch = rl_malloc(e->scratch_cap);

    /* Clean-shutdown marker: remembered, then removed so a crash from now on is seen. */
    e->clean = faccessat(e->data_dirfd, CLEAN_MARKER, F_OK, 0) == 0;
    if (e->clean) {
        if (unlinkat(e->data_dirfd, CLEAN_MARKER, 0) < 0 || fsync(e->data_dirfd) < 0) {
            rc = -errno;
            goto fail;
        }
    }
    ckpt_read(e, RP_CHECKPOINT, &e->rp, &e->n_rp);
    ckpt_read(e, LS_CHECKPOINT, &e->ls, &e->n_ls);

    DIR *d = opendir(cfg->data_dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            char topic[256];
            int32_t part;
            if (de->d_name[0] == '.') continue;
            if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) continue;
            if (!parse_dir_name(de->d_name, topic, sizeof(topic), &part)) continue;
            struct stat st;
            if (fstatat(e->data_dirfd, de->d_name, &st, 0) < 0 || !S_ISDIR(st.st_mode)) continue;
            e->dirs = rl_realloc(e->dirs, sizeof(*e->dirs) * (size_t)(e->n_dirs + 1));
            e->dirs[e->n_dirs++] = rl_strdup(de->d_name);
        }
        closedir(d);
    }
    e->last_ckpt_ms = rl_mono_ms();
    char how[64] = "";
    if (e->direct) snprintf(how, sizeof(how), ", direct I/O writes (%u-byte blocks)", e->dio_align);
    rl_info(STORAGE_MOD, "data dir %s: %d partition logs, previous stop %s, %s%s%s", e->data_dir,
            e->n_dirs,
            e->clean    ? "clean"
            : e->n_dirs ? "unclean (logs recover on open)"
                        : "none recorded",
            e->use_uring ? "io_uring" : "posix I/O",
            e->iowq_pinned ? " (workers pinned with the engine thread)" : "", how);
    *out = e;
    return 0;
fail:
    if (e->use_uring) io_uring_queue_exit(&e->ring);
    if (e->zeros) munmap(e->zeros, (size_t)e->prealloc);
    rl_free(e->scratch);
    if (e->efd >= 0) close(e->efd);
    if (e->data_dirfd >= 0) close(e->data_dirfd);
    rl_free(e->data_dir);
    rl_free(e);
    return rc;
}

void storage_engine_close(struct storage_engine *e) {
    if (!e) return;
    while (e->logs)
        storage_log_close(e->logs);
    int rc = storage__checkpoints_write(e);
    if (rc == 0) {
        int fd =
            openat(e->data_dirfd, CLEAN_MARKER, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            fdatasync(fd);
            close(fd);
            fsync(e->data_dirfd);
        }
    }
    if (e->use_uring) io_uring_queue_exit(&e->ring);
    close(e->efd);
    close(e->data_dirfd);
    for (int i = 0; i < e->n_op_chunks; i++)
        rl_free(e->op_chunks[i]);
    rl_free(e->op_chunks);
    for (int i = 0; i < e->n_dirs; i++)
        rl_free(e->dirs[i]);
    rl_free(e->dirs);
    ckpt_free(e->rp, e->n_rp);
    ckpt_free(e->ls, e->n_ls);
    rl_bufpool_clear(&e->dbuf);
    if (e->zeros) munmap(e->zeros, (size_t)e->prealloc);
    rl_free(e->scratch);
    rl_free(e->data_dir);
    rl_free(e);
}

int storage_engine_eventfd(const struct storage_engine *e) {
    return e->efd;
}

bool storage_engine_direct_io(const struct storage_engine *e) {
    return e->direct;
}

void storage_engine_stats(const struct storage_engine *e, struct storage_engine_stats *out) {
    out->read_cache_bytes = e->dcache_bytes;
    out->staging_idle_bytes = (int64_t)e->dbuf.idle_bytes;
    out->staging_allocs = e->dbuf.allocs;
    out->segment_rolls = e->rolls;
    out->segment_rolls_made = e->rolls_made;
}

bool storage_engine_was_clean(const struct storage_engine *e) {
    return e->clean;
}

void storage_engine_set_fsync_observer(struct storage_engine *e, storage_fsync_observer_fn fn,
                                       void *arg) {
    e->fsync_obs = fn;
    e->fsync_obs_arg = arg;
}

int storage_engine_wait(struct storage_engine *e, int timeout_ms) {
    bool ready = e->fake_head != NULL || (e->use_uring && io_uring_cq_ready(&e->ring) > 0);
    if (!ready) {
        struct pollfd p = {.fd = e->efd, .events = POLLIN};
        int rc = poll(&p, 1, timeout_ms);
        if (rc < 0 && errno != EINTR) return -errno;
    }
    return storage_engine_poll(e);
}

void storage_engine_tick(struct storage_engine *e, int64_t now_ms) {
    for (struct storage_log *l = e->logs, *next; l; l = next) {
        next = l->next;
        storage__log_tick(l, now_ms);
    }
    int64_t mono = rl_mono_ms();
    if (mono - e->last_ckpt_ms >= CHECKPOINT_EVERY_MS) {
        e->last_ckpt_ms = mono;
        bool changed = false;
        for (struct storage_log *l = e->logs; l && !changed; l = l->next)
            changed = l->durable_offset != l->ckpt_recovery || l->start_offset != l->ckpt_start;
        if (changed) storage__checkpoints_write(e);
    }
}

void storage_engine_foreach_dir(struct storage_engine *e,
                                void (*cb)(void *arg, const char *topic, int32_t partition),
                                void *arg) {
    for (int i = 0; i < e->n_dirs; i++) {
        char topic[256];
        int32_t part;
        if (parse_dir_name(e->dirs[i], topic, sizeof(topic), &part)) cb(arg, topic, part);
    }
}
