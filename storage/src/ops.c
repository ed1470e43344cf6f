/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops.c - the storage I/O ops layer: every data write, zero pre-write, fdatasync, asynchronous
 * read, spare file open and sealing ftruncate of a segment goes through storage__op_submit, which
 * uses io_uring (one ring per engine,
 * completions signalled on an eventfd) or plain pwrite/fdatasync (fallback and tests). Fault points
 * sit here because LD_PRELOAD cannot intercept io_uring: the Nth write or fsync can fail with an
 * injected errno or be cut short. Completions of posix ops and injected faults are queued and
 * delivered by storage_engine_poll like CQEs, so callers see one asynchronous path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "storage_int.h"

struct fault_point {
    int countdown; /* 0 = disarmed */
    int err;
    bool short_write;
};
/* Process-wide (tests arm them before driving an engine). */
static struct fault_point faults[2];

void storage_fault_inject(enum storage_fault_op op, int nth, int err, bool short_write) {
    if ((unsigned)op > STORAGE_FAULT_FSYNC) return;
    faults[op].countdown = nth > 0 ? nth : 0;
    faults[op].err = err < 0 ? -err : err;
    faults[op].short_write = short_write;
}

int storage__fault_take(enum storage_fault_op op) {
    struct fault_point *f = &faults[op];
    if (f->countdown <= 0 || --f->countdown > 0) return 0;
    if (f->short_write) return 1;
    return -(f->err ? f->err : EIO);
}

/* Queues a completion that did not come from the ring and wakes the eventfd. */
static void fake_complete(struct storage_engine *e, struct storage_op *op, int res) {
    op->res = res;
    op->next = NULL;
    if (e->fake_tail)
        e->fake_tail->next = op;
    else
        e->fake_head = op;
    e->fake_tail = op;
    uint64_t one = 1;
    ssize_t n = write(e->efd, &one, sizeof(one));
    (void)n; /* counter saturation is impossible at these rates; EAGAIN means already readable */
}

static void uring_or_posix_submit(struct storage_engine *e, struct storage_op *op, uint32_t len);

/* Bytes left to write for the group led by op (or op alone); a direct I/O group writes its
 * staging buffer whole. */
static uint32_t group_len(const struct storage_op *op) {
    if (op->dbuf) return op->dlen;
    uint32_t len = op->len - op->done;
    for (const struct storage_op *o = op->gnext; o; o = o->gnext)
        len += o->len - o->done;
    return len;
}

/* Fills the log's iovec array with up to len bytes of the group led by op; returns the count. */
static int group_iov(struct storage_op *op, uint32_t len) {
    struct storage_log *log = op->log;
    if (!log->wiov) log->wiov = rl_malloc(sizeof(*log->wiov) * STORAGE_COALESCE_MAX_OPS);
    int n = 0;
    for (struct storage_op *o = op; o && len > 0 && n < STORAGE_COALESCE_MAX_OPS; o = o->gnext) {
        uint32_t l = RL_MIN(len, o->len - o->done);
        log->wiov[n].iov_base = (void *)(o->buf + o->done);
        log->wiov[n].iov_len = l;
        len -= l;
        n++;
    }
    return n;
}

void storage__op_submit(struct storage_engine *e, struct storage_op *op) {
    uint32_t len = group_len(op);
    if (op->kind == STORAGE_OP_APPEND || op->kind == STORAGE_OP_DWRITE) {
        int f = storage__fault_take(STORAGE_FAULT_WRITE);
        if (f < 0) {
            fake_complete(e, op, f);
            return;
        }
        if (f == 1) len = op->dbuf ? (len / 2) & ~(e->dio_align - 1) : len / 2;
    } else if (op->kind == STORAGE_OP_FSYNC) {
        int f = storage__fault_take(STORAGE_FAULT_FSYNC);
        if (f < 0) {
            fake_complete(e, op, f);
            return;
        }
    }
    uring_or_posix_submit(e, op, len);
}

static void uring_or_posix_submit(struct storage_engine *e, struct storage_op *op, uint32_t len) {
    if (!e->use_uring || (op->kind == STORAGE_OP_TRUNCATE && !e->uring_ftruncate)) {
        ssize_t rc;
        if (op->kind == STORAGE_OP_OPEN) { /* res: the new fd */
            rc = openat(op->fd, op->path, op->oflags, 0644);
            fake_complete(e, op, rc < 0 ? -errno : (int)rc);
            return;
        }
        if (op->kind == STORAGE_OP_TRUNCATE) {
            fake_complete(e, op, ftruncate(op->fd, op->pos) < 0 ? -errno : 0);
            return;
        }
        if (op->kind == STORAGE_OP_DROP) { /* returns an error number, not -1/errno */
            fake_complete(e, op, -posix_fadvise(op->fd, op->pos, op->len, POSIX_FADV_DONTNEED));
            return;
        }
        if (op->kind == STORAGE_OP_FSYNC)
            rc = op->sync_all ? fsync(op->fd) : fdatasync(op->fd);
        else if (op->kind == STORAGE_OP_READ)
            rc = pread(op->fd, op->rbuf + op->done, len, op->pos + op->done);
        else if (op->dbuf)
            rc = pwrite(op->fd, op->dbuf, len, op->dpos);
        else if (op->gnext)
            rc = pwritev(op->fd, op->log->wiov, group_iov(op, len), op->pos + op->done);
        else
            rc = pwrite(op->fd, op->buf + op->done, len, op->pos + op->done);
        fake_complete(e, op, rc < 0 ? -errno : (int)rc);
        return;
    }
    struct io_uring_sqe *sqe = NULL;
    if (e->uring_inflight < e->ring_entries) {
        sqe = io_uring_get_sqe(&e->ring);
        if (!sqe) {
            io_uring_submit(&e->ring);
            sqe = io_uring_get_sqe(&e->ring);
        }
    }
    if (!sqe) { /* ring full: resubmitted by storage_engine_poll after reaping */
        op->next = NULL;
        if (e->backlog_tail)
            e->backlog_tail->next = op;
        else
            e->backlog_head = op;
        e->backlog_tail = op;
        return;
    }
    if (op->kind == STORAGE_OP_FSYNC)
        io_uring_prep_fsync(sqe, op->fd, op->sync_all ? 0 : IORING_FSYNC_DATASYNC);
    else if (op->kind == STORAGE_OP_OPEN)
        io_uring_prep_openat(sqe, op->fd, op->path, op->oflags, 0644);
    else if (op->kind == STORAGE_OP_TRUNCATE) /* the new length in off, nothing else set */
        io_uring_prep_rw(STORAGE_IORING_OP_FTRUNCATE, sqe, op->fd, NULL, 0, (uint64_t)op->pos);
    else if (op->kind == STORAGE_OP_DROP)
        io_uring_prep_fadvise(sqe, op->fd, (uint64_t)op->pos, (off_t)op->len, POSIX_FADV_DONTNEED);
    else if (op->kind == STORAGE_OP_READ)
        io_uring_prep_read(sqe, op->fd, op->rbuf + op->done, len, (uint64_t)(op->pos + op->done));
    else if (op->dbuf)
        io_uring_prep_write(sqe, op->fd, op->dbuf, len, (uint64_t)op->dpos);
    else if (op->gnext)
        io_uring_prep_writev(sqe, op->fd, op->log->wiov, (unsigned)group_iov(op, len),
                             (uint64_t)(op->pos + op->done));
    else
        io_uring_prep_write(sqe, op->fd, op->buf + op->done, len, (uint64_t)(op->pos + op->done));
    io_uring_sqe_set_data(sqe, op);
    e->uring_inflight++;
    int rc = io_uring_submit(&e->ring);
    if (rc < 0) rl_warn(STORAGE_MOD, "io_uring_submit: %s", rl_strerror(rc));
}

struct storage_op *storage__op_get(struct storage_engine *e) {
    if (!e->free_ops) {
        enum { CHUNK = 256 };
        struct storage_op *chunk = rl_calloc(CHUNK, sizeof(*chunk));
        e->op_chunks =
            rl_realloc(e->op_chunks, sizeof(*e->op_chunks) * (size_t)(e->n_op_chunks + 1));
        e->op_chunks[e->n_op_chunks++] = chunk;
        for (int i = CHUNK - 1; i >= 0; i--) {
            chunk[i].next = e->free_ops;
            e->free_ops = &chunk[i];
        }
    }
    struct storage_op *op = e->free_ops;
    e->free_ops = op->next;
    memset(op, 0, sizeof(*op));
    op->fd = -1;
    return op;
}

void storage__op_put(struct storage_engine *e, struct storage_op *op) {
    op->next = e->free_ops;
    e->free_ops = op;
}

int storage_engine_poll(struct storage_engine *e) {
    uint64_t v;
    ssize_t rd = read(e->efd, &v, sizeof(v));
    (void)rd;
    int n = 0;
    for (;;) {
        int pass = 0;
        struct storage_op *list = e->fake_head;
        e->fake_head = e->fake_tail = NULL;
        while (list) {
            struct storage_op *op = list;
            list = op->next;
            op->next = NULL;
            pass++;
            storage__op_complete(e, op, op->res);
        }
        if (e->use_uring) {
            struct io_uring_cqe *cqe;
            while (io_uring_peek_cqe(&e->ring, &cqe) == 0) {
                struct storage_op *op = io_uring_cqe_get_data(cqe);
                int res = cqe->res;
                io_uring_cqe_seen(&e->ring, cqe);
                e->uring_inflight--;
                pass++;
                storage__op_complete(e, op, res);
            }
            while (e->backlog_head && e->uring_inflight < e->ring_entries) {
                struct storage_op *op = e->backlog_head;
                e->backlog_head = op->next;
                if (!e->backlog_head) e->backlog_tail = NULL;
                op->next = NULL;
                uring_or_posix_submit(e, op, group_len(op));
            }
        }
        n += pass;
        if (pass == 0) break;
    }
    return n;
}
