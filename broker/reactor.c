/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reactor.c - ringletd's io_uring reactor: listeners, connections, request framing, in-order
 * responses, timers, signals, the storage engine's completions, and graceful shutdown.
 *
 * One ring, one thread. Every submission carries a pointer to a `struct rop` (embedded in the
 * listener, connection or reactor) as user_data; one dispatcher switches on rop->kind.
 *
 * Receiving. Idle connections hold no receive buffer: a recv selects one of a shared pool of
 * provided buffers (an io_uring buffer ring) only when data arrives. Complete frames are copied
 * out into their request's own allocation (request and frame are one block) and the buffer goes
 * straight back to the pool. A frame longer than what arrived gets its request allocated at the
 * exact frame size once the 4-byte length is known (checked against socket.request.max.bytes
 * first) and the rest is received directly into it. Without buffer rings (old kernels) each
 * connection gets a small private buffer instead.
 *
 * Sending. Requests of a connection form a FIFO in arrival order. A request completes whenever
 * its handler is done (BROKER_RESPOND / broker_request_drop); completed responses leave with
 * sendmsg from the head of the FIFO only, so a slow request holds back later ones and responses
 * always go out in request order. Partial sends resume where they stopped.
 *
 * Lifetime of a connection:
 *   open ──(peer EOF / error / idle / malformed / shutdown)──► dead: socket shut down
 *   dead ──(no recv/send in flight)──► fd closed ──(last request freed)──► memory freed
 * Requests of a dead connection still complete; their responses are discarded.
 */
#include "reactor_int.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define RING_ENTRIES         1024
#define CQ_ENTRIES           16384
#define BUF_GROUP            0
#define BUF_COUNT            256 /* provided receive buffers shared by every connection */
#define BUF_SIZE             16384
#define PRIVATE_BUF_SIZE     4096 /* per-connection buffer when buffer rings are unavailable */
#define DIRECT_RECV_MIN      4096 /* a frame remainder this large is received in place */
#define MAX_IOV              16
#define MAX_PENDING_REQS     128 /* per connection: stop reading beyond this many unanswered */
#define MAX_PENDING_BYTES    ((uint64_t)32 << 20) /* ... or this many request bytes */
#define TICK_MS              1000
#define SCRATCH_IDLE_MS      10000
#define SPARE_MIN            ((size_t)1 << 18) /* response buffers kept for reuse from this size */
#define FRAME_POOL_MIN_SHIFT 16 /* request frames from 64 KiB come from the frame pool */
#define FRAME_POOL_MAX_SHIFT 24 /* ... up to 16 MiB; larger ones are malloc'd and freed */
#define FRAME_POOL_CAP       ((size_t)64 << 20) /* bytes the pool may hold while idle */

enum rop_kind {
    ROP_ACCEPT = 1,
    ROP_RECV,
    ROP_SEND,
    ROP_SIGNAL,
    ROP_STORAGE,
    ROP_WAKE,
};

struct rop {
    uint8_t kind;
};

struct listener {
    struct rop op;
    struct broker_reactor *r;
    int fd;
    int port;
    bool multishot;
    bool armed;
    char addr[96];
};

struct broker_conn {
    struct rop recv_op;
    struct rop send_op;
    struct broker_reactor *r;
    int fd;
    bool recv_armed, send_armed;
    bool recv_direct; /* the armed recv writes into partial's frame */
    bool dead;        /* socket shut down: no more input, output discarded */
    bool closing;     /* a close is pending after queued responses (no more input) */
    bool paused;      /* too many unanswered requests: recv not re-armed */
    bool dirty;       /* on the reactor's flush list */
    uint8_t hdr_len;  /* bytes of the next length prefix received so far */
    uint8_t hdr[4];
    struct broker_request *partial; /* the request whose frame is being received */
    size_t partial_have;
    uint8_t *rbuf; /* private receive buffer (no buffer ring only) */
    struct broker_request *head, *tail;
    uint32_t n_reqs;
    uint64_t pending_bytes; /* frame bytes of the requests in n_reqs */
    size_t head_sent;       /* bytes of head->out already sent */
    int64_t last_active_ms;
    struct broker_conn *prev, *next; /* every connection of the reactor */
    struct broker_conn *dirty_next;
    struct msghdr msg;
    struct iovec iov[MAX_IOV];
    char peer[64];
};

struct broker_reactor {
    struct broker *b;
    struct io_uring ring;
    bool ring_ok;
    struct io_uring_buf_ring *br; /* NULL: per-connection buffers */
    uint8_t *bufs;
    struct listener *listeners;
    int n_listeners;
    struct broker_conn *conns;
    struct broker_conn *dirty;
    uint32_t n_open; /* connections not yet dead */
    uint64_t n_reqs; /* requests alive (not yet freed) */
    struct broker_timer_heap timers;
    struct broker_timer tick_timer;
    struct broker_timer accept_retry;
    int sig_fd;
    struct rop sig_op;
    struct signalfd_siginfo siginfo;
    int wake_fd;
    struct rop wake_op;
    uint64_t wake_buf;
    int storage_fd;
    struct rop storage_op;
    atomic_bool stop_requested;
    bool accepting;
    bool draining;
    bool running;
    int64_t drain_deadline_ms;
    int64_t last_refuse_log_ms;
    uint64_t refused;
    char adv_host[256];
    int32_t adv_port;
    char *addresses;  /* "host:port,..." with the bound ports */
    uint8_t *scratch; /* broker__scratch(): reused by Fetch to read records without faulting */
    size_t scratch_cap;
    int64_t scratch_used_ms;       /* freed by the tick after SCRATCH_IDLE_MS unused */
    struct proto_writer spare_out; /* the largest big response buffer freed, for reuse */
    /* Freed request frames of 64 KiB .. 16 MiB (power-of-two classes). Large Produce frames
     * come and go at hundreds per second; from malloc, each would be fresh pages to fault in
     * and zero (glibc returns big blocks to the kernel), which cost more CPU than receiving
     * the bytes. */
    struct rl_bufpool frames;
};

static void conn_close(struct broker_conn *c, const char *why);
static void conn_flush(struct broker_conn *c);
static void conn_maybe_free(struct broker_conn *c);
static void conn_arm_recv(struct broker_conn *c);
static void begin_stop(struct broker_reactor *r);

/* ---- timer heap ------------------------------------------------------------------------------ */

void broker__heap_init(struct broker_timer_heap *h) {
    memset(h, 0, sizeof(*h));
}

void broker__heap_free(struct broker_timer_heap *h) {
    for (int32_t i = 0; i < h->n; i++)
        h->v[i]->heap_index = -1;
    rl_free(h->v);
    memset(h, 0, sizeof(*h));
}

static void heap_place(struct broker_timer_heap *h, int32_t i, struct broker_timer *t) {
    h->v[i] = t;
    t->heap_index = i;
}

static void heap_up(struct broker_timer_heap *h, int32_t i) {
    struct broker_timer *t = h->v[i];
    while (i > 0) {
        int32_t p = (i - 1) / 2;
        if (h->v[p]->deadline_ms <= t->deadline_ms) break;
        heap_place(h, i, h->v[p]);
        i = p;
    }
    heap_place(h, i, t);
}

static void heap_down(struct broker_timer_heap *h, int32_t i) {
    struct broker_timer *t = h->v[i];
    for (;;) {
        int32_t l = 2 * i + 1, m = i;
        int64_t best = t->deadline_ms;
        if (l < h->n && h->v[l]->deadline_ms < best) {
            m = l;
            best = h->v[l]->deadline_ms;
        }
        if (l + 1 < h->n && h->v[l + 1]->deadline_ms < best) m = l + 1;
        if (m == i) break;
        heap_place(h, i, h->v[m]);
        i = m;
    }
    heap_place(h, i, t);
}

void broker__heap_set(struct broker_timer_heap *h, struct broker_timer *t, int64_t deadline_ms) {
    if (t->heap_index >= 0) {
        RL_BUG_ON(t->heap_index >= h->n || h->v[t->heap_index] != t);
        int64_t old = t->deadline_ms;
        t->deadline_ms = deadline_ms;
        if (deadline_ms < old)
            heap_up(h, t->heap_index);
        else
            heap_down(h, t->heap_index);
        return;
    }
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = rl_realloc(h->v, (size_t)h->cap * sizeof(*h->v));
    }
    t->deadline_ms = deadline_ms;
    heap_place(h, h->n++, t);
    heap_up(h, h->n - 1);
}

void broker__heap_remove(struct broker_timer_heap *h, struct broker_timer *t) {
    int32_t i = t->heap_index;
    if (i < 0) return;
    RL_BUG_ON(i >= h->n || h->v[i] != t);
    t->heap_index = -1;
    struct broker_timer *last = h->v[--h->n];
    if (i == h->n) return;
    heap_place(h, i, last);
    if (i > 0 && h->v[(i - 1) / 2]->deadline_ms > last->deadline_ms)
        heap_up(h, i);
    else
        heap_down(h, i);
}

void broker_timer_init(struct broker_timer *t, broker_timer_fn fn, void *arg) {
    t->deadline_ms = 0;
    t->fn = fn;
    t->arg = arg;
    t->heap_index = -1;
}

void broker_timer_arm(struct broker *b, struct broker_timer *t, int64_t deadline_ms) {
    broker__heap_set(&b->reactor->timers, t, deadline_ms);
}

void broker_timer_cancel(struct broker *b, struct broker_timer *t) {
    if (b->reactor) broker__heap_remove(&b->reactor->timers, t);
}

/* Runs every timer due at now; a timer may re-arm itself or others. */
static void run_timers(struct broker_reactor *r) {
    int64_t now = rl_mono_ms();
    struct broker_timer *t;
    while ((t = broker__heap_top(&r->timers)) && t->deadline_ms <= now) {
        broker__heap_remove(&r->timers, t);
        t->fn(t);
    }
}

/* ---- ring helpers ---------------------------------------------------------------------------- */

static struct io_uring_sqe *get_sqe(struct broker_reactor *r) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    while (!sqe) {
        int rc = io_uring_submit(&r->ring);
        if (rc < 0 && rc != -EBUSY && rc != -EAGAIN && rc != -EINTR) {
            rl_error("reactor", "io_uring_submit: %s", rl_strerror(rc));
            abort();
        }
        sqe = io_uring_get_sqe(&r->ring);
    }
    return sqe;
}

static void set_data(struct io_uring_sqe *sqe, struct rop *op) {
    io_uring_sqe_set_data(sqe, op);
}

static void buf_recycle(struct broker_reactor *r, unsigned bid) {
    io_uring_buf_ring_add(r->br, r->bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(BUF_COUNT), 0);
    io_uring_buf_ring_advance(r->br, 1);
}

static int setup_buf_ring(struct broker_reactor *r) {
    struct io_uring_buf_reg reg;
    void *mem;
    size_t ring_bytes = BUF_COUNT * sizeof(struct io_uring_buf);
    if (posix_memalign(&mem, (size_t)sysconf(_SC_PAGESIZE), ring_bytes) != 0) return -ENOMEM;
    memset(mem, 0, ring_bytes);
    memset(&reg, 0, sizeof(reg));
    reg.ring_addr = (uint64_t)(uintptr_t)mem;
    reg.ring_entries = BUF_COUNT;
    reg.bgid = BUF_GROUP;
    int rc = io_uring_register_buf_ring(&r->ring, &reg, 0);
    if (rc < 0) {
        free(mem);
        return rc;
    }
    r->br = mem;
    r->bufs = rl_malloc((size_t)BUF_COUNT * BUF_SIZE);
    io_uring_buf_ring_init(r->br);
    for (unsigned i = 0; i < BUF_COUNT; i++)
        io_uring_buf_ring_add(r->br, r->bufs + (size_t)i * BUF_SIZE, BUF_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(BUF_COUNT), (int)i);
    io_uring_buf_ring_advance(r->br, BUF_COUNT);
    return 0;
}

/* ---- requests and responses ------------------------------------------------------------------ */

/* Whether a frame of n bytes comes from the frame pool (else it is allocated with its request). */
static bool frame_pooled(size_t n) {
    return n >= ((size_t)1 << FRAME_POOL_MIN_SHIFT) && n <= ((size_t)1 << FRAME_POOL_MAX_SHIFT);
}

static struct broker_request *request_new(struct broker_conn *c, size_t frame_len) {
    bool pooled = frame_pooled(frame_len);
    struct broker_request *req = rl_malloc(sizeof(*req) + (pooled ? 0 : frame_len));
    memset(req, 0, sizeof(*req));
    req->b = c->r->b;
    req->conn = c;
    req->frame =
        pooled ? rl_bufpool_get(&c->r->frames, frame_len, &req->frame_cap) : (uint8_t *)(req + 1);
    req->frame_len = frame_len;
    proto_arena_init(&req->arena);
    proto_writer_init(&req->out);
    c->r->n_reqs++;
    return req;
}

static void request_free(struct broker_request *req) {
    struct broker_reactor *r = req->conn->r;
    proto_arena_destroy(&req->arena);
    if (req->out.cap >= SPARE_MIN && req->out.cap > r->spare_out.cap) {
        proto_writer_free(&r->spare_out);
        r->spare_out = req->out;
        proto_writer_init(&req->out);
    }
    proto_writer_free(&req->out);
    if (req->frame_cap) {
        rl_bufpool_put(&r->frames, req->frame, req->frame_cap);
        r->scratch_used_ms = rl_mono_ms();
    }
    rl_free(req);
    r->n_reqs--;
}

static void mark_dirty(struct broker_conn *c) {
    if (c->dirty) return;
    c->dirty = true;
    c->dirty_next = c->r->dirty;
    c->r->dirty = c;
}

/* Marks req complete. Its response (if any) waits in req->out for the requests before it; the
 * request and its arena are freed only once the response is sent or discarded, which happens
 * from the loop (never inside the handler's call), so a handler may still touch its arena
 * after BROKER_RESPOND returns. */
static void request_complete(struct broker_request *req) {
    RL_BUG_ON(req->state & BROKER_RQ_DONE); /* completed twice */
    req->state |= BROKER_RQ_DONE;
    if (req->b->metrics) {
        if (req->state & BROKER_RQ_CLOSE)
            broker_metrics_request_closed(req);
        else
            broker_metrics_request_done(req);
    }
    mark_dirty(req->conn);
}

struct proto_writer *broker_response_begin(struct broker_request *req) {
    proto_writer_reset(&req->out);
    size_t start = proto_frame_begin(&req->out);
    RL_BUG_ON(start != 0);
    proto_response_header_encode(
        &req->out, proto_response_header_version(req->hdr.ApiKey, req->hdr.ApiVersion),
        req->hdr.CorrelationId);
    return &req->out;
}

void broker_response_end(struct broker_request *req) {
    proto_frame_end(&req->out, 0);
    request_complete(req);
}

void broker_request_drop(struct broker_request *req) {
    proto_writer_reset(&req->out);
    request_complete(req);
}

void broker_request_close_conn(struct broker_request *req, const char *why) {
    struct broker_conn *c = req->conn;
    if (!c->dead && !c->closing)
        rl_info("reactor", "%s: closing connection: %s", c->peer, why ? why : "requested");
    c->closing = true;
    req->state |= BROKER_RQ_CLOSE;
    if (!(req->state & BROKER_RQ_DONE)) {
        proto_writer_reset(&req->out);
        request_complete(req);
    } else {
        mark_dirty(c);
    }
}

const char *broker_request_peer(const struct broker_request *req) {
    return req->conn->peer;
}

/* ---- connections ----------------------------------------------------------------------------- */

static void conn_unlink(struct broker_conn *c) {
    struct broker_reactor *r = c->r;
    if (c->prev)
        c->prev->next = c->next;
    else
        r->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

/* Frees a dead connection once the ring no longer uses it and its last request is gone. */
static void conn_maybe_free(struct broker_conn *c) {
    if (!c->dead || c->recv_armed || c->send_armed) return;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (c->partial) {
        request_free(c->partial);
        c->partial = NULL;
    }
    if (c->head || c->dirty) return;
    conn_unlink(c);
    rl_free(c->rbuf);
    rl_free(c);
}

/* Frees completed requests at the head whose response is fully sent (or to be discarded). */
static void conn_reap(struct broker_conn *c) {
    if (c->dead && c->send_armed) return; /* the ring may still read those responses */
    while (c->head && (c->head->state & BROKER_RQ_DONE) &&
           (c->dead || c->head_sent == c->head->out.len)) {
        struct broker_request *req = c->head;
        bool close_after = req->state & BROKER_RQ_CLOSE;
        c->head = req->next;
        if (!c->head) c->tail = NULL;
        c->head_sent = 0;
        c->n_reqs--;
        c->pending_bytes -= req->frame_len;
        request_free(req);
        if (close_after && !c->dead) conn_close(c, NULL);
    }
    if (c->paused && !c->dead && !c->closing && c->n_reqs < MAX_PENDING_REQS / 2 &&
        c->pending_bytes < MAX_PENDING_BYTES / 2) {
        c->paused = false;
        if (!c->recv_armed) conn_arm_recv(c);
    }
    if (c->r->draining && !c->dead && !c->head && !c->send_armed) conn_close(c, NULL);
}

/* Sends whatever completed responses are at the head of the queue, one sendmsg at a time. */
static void conn_flush(struct broker_conn *c) {
    conn_reap(c);
    if (c->dead) {
        conn_maybe_free(c);
        return;
    }
    if (c->send_armed || !c->head || !(c->head->state & BROKER_RQ_DONE)) return;
    int n = 0;
    size_t skip = c->head_sent;
    for (struct broker_request *q = c->head; q && n < MAX_IOV; q = q->next) {
        if (!(q->state & BROKER_RQ_DONE)) break;
        if (q->out.len > skip) {
            c->iov[n].iov_base = q->out.buf + skip;
            c->iov[n].iov_len = q->out.len - skip;
            n++;
        }
        skip = 0;
        if (q->state & BROKER_RQ_CLOSE) break;
    }
    if (n == 0) return;
    memset(&c->msg, 0, sizeof(c->msg));
    c->msg.msg_iov = c->iov;
    c->msg.msg_iovlen = (size_t)n;
    struct io_uring_sqe *sqe = get_sqe(c->r);
    io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
    set_data(sqe, &c->send_op);
    c->send_armed = true;
}

static void on_send(struct broker_conn *c, int res) {
    c->send_armed = false;
    if (!c->dead && res < 0 && res != -EINTR && res != -EAGAIN)
        conn_close(c, res == -EPIPE || res == -ECONNRESET ? NULL : "send failed");
    if (!c->dead && res > 0) {
        broker_metrics_bytes_sent(c->r->b, (size_t)res);
        c->last_active_ms = rl_mono_ms();
        size_t left = (size_t)res;
        while (left && c->head && !c->dead) {
            struct broker_request *h = c->head;
            size_t take = RL_MIN(h->out.len - c->head_sent, left);
            c->head_sent += take;
            left -= take;
            if (c->head_sent < h->out.len) {
                rl_debug("reactor", "%s: partial send, %zu of %zu bytes of a response left",
                         c->peer, h->out.len - c->head_sent, h->out.len);
                break;
            }
            conn_reap(c);
        }
    }
    conn_flush(c);
}

/* Shuts the connection down: no more input, queued output discarded, fd closed once the ring
 * has given back every operation on it. why == NULL: a normal close, logged at debug only. */
static void conn_close(struct broker_conn *c, const char *why) {
    if (c->dead) return;
    if (why)
        rl_info("reactor", "%s: closing connection: %s", c->peer, why);
    else
        rl_debug("reactor", "%s: connection closed", c->peer);
    c->dead = true;
    c->closing = true;
    c->r->n_open--;
    broker_metrics_conn_closed(c->r->b);
    shutdown(c->fd, SHUT_RDWR); /* completes the armed recv/send promptly */
    if (c->r->running) mark_dirty(c);
}

static void conn_arm_recv(struct broker_conn *c) {
    struct broker_reactor *r = c->r;
    if (c->dead || c->closing || c->recv_armed || r->draining) return;
    struct io_uring_sqe *sqe = get_sqe(r);
    size_t need = c->partial ? c->partial->frame_len - c->partial_have : 0;
    if (c->partial && need >= DIRECT_RECV_MIN) {
        io_uring_prep_recv(sqe, c->fd, c->partial->frame + c->partial_have, need, 0);
        c->recv_direct = true;
    } else if (r->br) {
        io_uring_prep_recv(sqe, c->fd, NULL, BUF_SIZE, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = BUF_GROUP;
        c->recv_direct = false;
    } else {
        if (!c->rbuf) c->rbuf = rl_malloc(PRIVATE_BUF_SIZE);
        io_uring_prep_recv(sqe, c->fd, c->rbuf, PRIVATE_BUF_SIZE, 0);
        c->recv_direct = false;
    }
    set_data(sqe, &c->recv_op);
    c->recv_armed = true;
}

/* A complete frame: queue its request in arrival order and run its handler. */
static void conn_frame_done(struct broker_conn *c) {
    struct broker_request *req = c->partial;
    c->partial = NULL;
    c->partial_have = 0;
    req->received_ns = rl_mono_ns();
    if (c->tail)
        c->tail->next = req;
    else
        c->head = req;
    c->tail = req;
    c->n_reqs++;
    c->pending_bytes += req->frame_len;
    if (c->r->draining) {
        /* Shutting down: requests already received are answered, new ones are not run. */
        broker_request_close_conn(req, "broker shutting down");
        return;
    }
    broker__dispatch(req);
    if (c->n_reqs >= MAX_PENDING_REQS || c->pending_bytes >= MAX_PENDING_BYTES) c->paused = true;
}

/* Consumes n received bytes: length prefixes, frame bodies, complete frames. */
static void conn_input(struct broker_conn *c, const uint8_t *p, size_t n) {
    struct broker_reactor *r = c->r;
    while (n > 0 && !c->closing) {
        if (c->partial) {
            size_t take = RL_MIN(n, c->partial->frame_len - c->partial_have);
            memcpy(c->partial->frame + c->partial_have, p, take);
            c->partial_have += take;
            p += take;
            n -= take;
            if (c->partial_have == c->partial->frame_len) conn_frame_done(c);
            continue;
        }
        size_t take = RL_MIN(n, (size_t)(4 - c->hdr_len));
        memcpy(c->hdr + c->hdr_len, p, take);
        c->hdr_len = (uint8_t)(c->hdr_len + take);
        p += take;
        n -= take;
        if (c->hdr_len < 4) break;
        c->hdr_len = 0;
        int32_t len = (int32_t)((uint32_t)c->hdr[0] << 24 | (uint32_t)c->hdr[1] << 16 |
                                (uint32_t)c->hdr[2] << 8 | (uint32_t)c->hdr[3]);
        if (len < 0) {
            char why[96];
            snprintf(why, sizeof(why), "negative frame length %d", len);
            conn_close(c, why);
            return;
        }
        if ((int64_t)len > r->b->cfg.socket_request_max_bytes) {
            char why[160];
            snprintf(why, sizeof(why), "frame of %d bytes exceeds socket.request.max.bytes (%lld)",
                     len, (long long)r->b->cfg.socket_request_max_bytes);
            conn_close(c, why);
            return;
        }
        c->partial = request_new(c, (size_t)len);
        c->partial_have = 0;
        if (len == 0) conn_frame_done(c);
    }
}

static void on_recv(struct broker_conn *c, struct io_uring_cqe *cqe) {
    struct broker_reactor *r = c->r;
    int res = cqe->res;
    c->recv_armed = false;
    bool has_buf = !c->recv_direct && r->br && (cqe->flags & IORING_CQE_F_BUFFER);
    unsigned bid = has_buf ? cqe->flags >> IORING_CQE_BUFFER_SHIFT : 0;
    if (res > 0 && !c->dead) {
        broker_metrics_bytes_received(r->b, (size_t)res);
        c->last_active_ms = rl_mono_ms();
        if (c->recv_direct) {
            c->partial_have += (size_t)res;
            if (c->partial_have == c->partial->frame_len) conn_frame_done(c);
        } else {
            const uint8_t *data = has_buf ? r->bufs + (size_t)bid * BUF_SIZE : c->rbuf;
            conn_input(c, data, (size_t)res);
        }
    }
    if (has_buf) buf_recycle(r, bid);
    c->recv_direct = false;
    if (c->dead) {
        conn_maybe_free(c);
        return;
    }
    if (res == 0) {
        conn_close(c, NULL); /* peer closed */
        return;
    }
    if (res < 0 && res != -ENOBUFS && res != -EINTR && res != -EAGAIN) {
        conn_close(c, res == -ECONNRESET ? NULL : "receive failed");
        return;
    }
    if (res == -ENOBUFS) rl_debug("reactor", "%s: receive buffers exhausted, retrying", c->peer);
    if (!c->paused) conn_arm_recv(c);
}

static void format_peer(const struct sockaddr_storage *ss, char *buf, size_t cap) {
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
        snprintf(buf, cap, "%s:%d", host, port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
        snprintf(buf, cap, "[%s]:%d", host, port);
    } else {
        snprintf(buf, cap, "unknown");
    }
}

static void conn_new(struct broker_reactor *r, int fd) {
    int64_t now = rl_mono_ms();
    if (r->draining || (int64_t)r->n_open >= r->b->cfg.max_connections) {
        close(fd);
        r->refused++;
        broker_metrics_conn_rejected(r->b);
        if (now - r->last_refuse_log_ms >= 1000) {
            rl_warn("reactor", "refused %llu connection(s): max.connections (%lld) reached%s",
                    (unsigned long long)r->refused, (long long)r->b->cfg.max_connections,
                    r->draining ? " or shutting down" : "");
            r->last_refuse_log_ms = now;
            r->refused = 0;
        }
        return;
    }
    struct broker_conn *c = rl_calloc(1, sizeof(*c));
    c->recv_op.kind = ROP_RECV;
    c->send_op.kind = ROP_SEND;
    c->r = r;
    c->fd = fd;
    c->last_active_ms = now;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
        format_peer(&ss, c->peer, sizeof(c->peer));
    else
        snprintf(c->peer, sizeof(c->peer), "fd %d", fd);
    c->next = r->conns;
    if (r->conns) r->conns->prev = c;
    r->conns = c;
    r->n_open++;
    broker_metrics_conn_accepted(r->b);
    rl_debug("reactor", "%s: connection accepted", c->peer);
    conn_arm_recv(c);
}

/* ---- listeners ------------------------------------------------------------------------------- */

static void listener_arm(struct listener *l) {
    if (l->armed || l->fd < 0 || !l->r->accepting) return;
    struct io_uring_sqe *sqe = get_sqe(l->r);
    if (l->multishot)
        io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
    else
        io_uring_prep_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
    set_data(sqe, &l->op);
    l->armed = true;
}

static void accept_retry_fn(struct broker_timer *t) {
    struct broker_reactor *r = t->arg;
    for (int i = 0; i < r->n_listeners; i++)
        listener_arm(&r->listeners[i]);
}

static void on_accept(struct listener *l, struct io_uring_cqe *cqe) {
    struct broker_reactor *r = l->r;
    bool more = l->multishot && (cqe->flags & IORING_CQE_F_MORE);
    if (!more) l->armed = false;
    if (cqe->res >= 0) {
        conn_new(r, cqe->res);
    } else if (cqe->res == -EINVAL && l->multishot) {
        l->multishot = false; /* kernel without multishot accept */
    } else if (cqe->res == -EMFILE || cqe->res == -ENFILE || cqe->res == -ENOBUFS ||
               cqe->res == -ENOMEM) {
        int64_t now = rl_mono_ms();
        if (now - r->last_refuse_log_ms >= 1000) {
            rl_warn("reactor", "accept on %s: %s; retrying shortly", l->addr,
                    rl_strerror(cqe->res));
            r->last_refuse_log_ms = now;
        }
        if (l->fd >= 0 && r->accepting)
            broker_timer_arm(r->b, &r->accept_retry, rl_mono_ms() + 100);
        return;
    } else if (cqe->res != -ECANCELED && cqe->res != -EINTR && cqe->res != -ECONNABORTED &&
               cqe->res != -EAGAIN) {
        rl_warn("reactor", "accept on %s: %s", l->addr, rl_strerror(cqe->res));
    }
    if (!l->armed) listener_arm(l);
}

/* Splits "host:port" (host may be "[v6]" or empty). */
static int split_host_port(const char *s, char *host, size_t hcap, int *port) {
    const char *colon = strrchr(s, ':');
    if (!colon) return -EINVAL;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= hcap) return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end || p < 0 || p > 65535) return -EINVAL;
    *port = (int)p;
    return 0;
}

static int listener_open(struct listener *l, const char *spec) {
    char host[256];
    int port;
    snprintf(l->addr, sizeof(l->addr), "%s", spec);
    if (split_host_port(spec, host, sizeof(host), &port) < 0) {
        rl_error("reactor", "listeners: '%s' is not host:port", spec);
        return -EINVAL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    int grc = getaddrinfo(host[0] ? host : NULL, ps, &hints, &ai);
    if (grc != 0) {
        rl_error("reactor", "listeners: cannot resolve '%s': %s", spec, gai_strerror(grc));
        return -EINVAL;
    }
    int rc = -EADDRNOTAVAIL;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
            rc = -errno;
            close(fd);
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        l->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        l->fd = fd;
        rc = 0;
        break;
    }
    freeaddrinfo(ai);
    if (rc < 0) rl_error("reactor", "cannot listen on %s: %s", spec, rl_strerror(rc));
    return rc;
}

int broker_reactor_listen(struct broker *b) {
    struct broker_reactor *r = b->reactor;
    const char *spec = b->cfg.listeners ? b->cfg.listeners : "";
    char *copy = rl_strdup(spec), *save = NULL;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t tl = strlen(tok);
        while (tl && tok[tl - 1] == ' ')
            tok[--tl] = '\0';
        if (!tl) continue;
        r->listeners =
            rl_realloc(r->listeners, (size_t)(r->n_listeners + 1) * sizeof(*r->listeners));
        struct listener *l = &r->listeners[r->n_listeners];
        memset(l, 0, sizeof(*l));
        l->op.kind = ROP_ACCEPT;
        l->r = r;
        l->fd = -1;
        l->multishot = true;
        if ((rc = listener_open(l, tok)) < 0) break;
        r->n_listeners++;
    }
    rl_free(copy);
    if (rc == 0 && r->n_listeners == 0) {
        rl_error("reactor", "listeners: no address to listen on");
        rc = -EINVAL;
    }
    if (rc < 0) return rc;
    size_t cap = 0;
    for (int i = 0; i < r->n_listeners; i++)
        cap += strlen(r->listeners[i].addr) + 16;
    r->addresses = rl_malloc(cap + 1);
    r->addresses[0] = '\0';
    for (int i = 0, len = 0; i < r->n_listeners; i++) {
        const char *la = r->listeners[i].addr, *colon = strrchr(la, ':');
        len += snprintf(r->addresses + len, cap + 1 - (size_t)len, "%s%.*s:%d", i ? "," : "",
                        (int)(colon - la), la, r->listeners[i].port);
    }
    r->accepting = true;
    for (int i = 0; i < r->n_listeners; i++)
        listener_arm(&r->listeners[i]);
    /* Advertised address: first of advertised.listeners, else the first listener. */
    const char *adv = b->cfg.advertised_listeners;
    int port = r->listeners[0].port;
    char host[256];
    snprintf(host, sizeof(host), "%s", "");
    if (adv && adv[0]) {
        char first[300];
        snprintf(first, sizeof(first), "%s", adv);
        char *comma = strchr(first, ',');
        if (comma) *comma = '\0';
        if (split_host_port(first, host, sizeof(host), &port) < 0) {
            rl_error("reactor", "advertised.listeners: '%s' is not host:port", first);
            return -EINVAL;
        }
    } else {
        int p;
        split_host_port(r->listeners[0].addr, host, sizeof(host), &p);
        if (!host[0] || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
            if (gethostname(host, sizeof(host)) != 0) snprintf(host, sizeof(host), "localhost");
            host[sizeof(host) - 1] = '\0';
        }
    }
    snprintf(r->adv_host, sizeof(r->adv_host), "%s", host);
    r->adv_port = port;
    return 0;
}

const char *broker_reactor_addresses(struct broker *b) {
    return b->reactor && b->reactor->addresses ? b->reactor->addresses : "";
}

int broker_reactor_port(struct broker *b, int i) {
    struct broker_reactor *r = b->reactor;
    if (!r || i < 0 || i >= r->n_listeners) return -1;
    return r->listeners[i].port;
}

void broker_advertised_listener(struct broker *b, const char **host, int32_t *port) {
    struct broker_reactor *r = b->reactor;
    if (!r || !r->adv_host[0]) {
        *host = "localhost";
        *port = 9092;
        return;
    }
    *host = r->adv_host;
    *port = r->adv_port;
}

/* ---- signals, wake-ups, storage ---------------------------------------------------------------
 */

static void arm_read(struct broker_reactor *r, int fd, struct rop *op, void *buf, size_t len) {
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_read(sqe, fd, buf, (unsigned)len, 0);
    set_data(sqe, op);
}

static void arm_storage(struct broker_reactor *r) {
    struct io_uring_sqe *sqe = get_sqe(r);
    io_uring_prep_poll_add(sqe, r->storage_fd, POLLIN);
    set_data(sqe, &r->storage_op);
}

/* The storage engine's eventfd became readable: storage_engine_poll() clears it, then reaps (a
 * completion landing in between raises it again, so nothing is missed). */
static void on_storage(struct broker_reactor *r) {
    storage_engine_poll(r->b->storage);
    arm_storage(r);
}

static void on_signal(struct broker_reactor *r, int res) {
    if (res == (int)sizeof(r->siginfo)) {
        int sig = (int)r->siginfo.ssi_signo;
        if (r->draining) {
            rl_warn("reactor", "%s again: stopping without waiting for in-flight requests",
                    strsignal(sig));
            r->drain_deadline_ms = rl_mono_ms();
        } else {
            rl_info("reactor", "%s: shutting down", strsignal(sig));
            begin_stop(r);
        }
    }
    arm_read(r, r->sig_fd, &r->sig_op, &r->siginfo, sizeof(r->siginfo));
}

static void tick_fn(struct broker_timer *t) {
    struct broker_reactor *r = t->arg;
    struct broker *b = r->b;
    int64_t now = rl_mono_ms(), wall = rl_now_ms();
    if (b->topics) broker_topics_tick(b, wall);
    if (b->groups) broker_groups_tick(b, wall);
    if (b->metrics) broker_metrics_tick(b, wall);
    /* Idle connections: nothing pending, nothing partly received, quiet for too long. */
    int64_t idle = b->cfg.connections_max_idle_ms;
    for (struct broker_conn *c = r->conns, *next; c; c = next) {
        next = c->next;
        if (c->dead || c->head || c->partial || c->hdr_len) continue;
        if (now - c->last_active_ms >= idle) conn_close(c, "idle for connections.max.idle.ms");
    }
    if (r->scratch && now - r->scratch_used_ms >= SCRATCH_IDLE_MS) {
        rl_free(r->scratch);
        r->scratch = NULL;
        r->scratch_cap = 0;
    }
    if (r->spare_out.cap && now - r->scratch_used_ms >= SCRATCH_IDLE_MS) {
        proto_writer_free(&r->spare_out);
        proto_writer_init(&r->spare_out);
    }
    if (r->frames.idle_bytes && now - r->scratch_used_ms >= SCRATCH_IDLE_MS)
        rl_bufpool_clear(&r->frames);
    broker_timer_arm(b, t, now + TICK_MS);
}

uint8_t *broker__buf_get(struct broker *b, size_t n, size_t *cap) {
    uint8_t *p = b->reactor && frame_pooled(n) ? rl_bufpool_get(&b->reactor->frames, n, cap) : NULL;
    if (!p) {
        *cap = n;
        p = rl_malloc(n ? n : 1);
    }
    return p;
}

void broker__buf_put(struct broker *b, uint8_t *p, size_t cap) {
    if (b->reactor)
        rl_bufpool_put(&b->reactor->frames, p, cap); /* frees what it does not keep */
    else
        rl_free(p);
}

uint8_t *broker__scratch(struct broker *b, size_t n) {
    struct broker_reactor *r = b->reactor;
    if (!r) return NULL;
    if (r->scratch_cap < n) {
        rl_free(r->scratch);
        r->scratch_cap = RL_MAX(n, (size_t)1 << 16);
        r->scratch = rl_malloc(r->scratch_cap);
    }
    r->scratch_used_ms = rl_mono_ms();
    return r->scratch;
}

void broker__response_reserve(struct broker_request *req, size_t n) {
    struct broker_reactor *r = req->b->reactor;
    if (r && req->out.cap < n && r->spare_out.cap >= n) {
        proto_writer_free(&req->out);
        req->out = r->spare_out;
        req->out.len = 0;
        proto_writer_init(&r->spare_out);
        r->scratch_used_ms = rl_mono_ms();
    }
    proto_writer_reserve(&req->out, n);
}

/* Stop accepting, refuse new requests, and close connections once their queue is empty. */
static void begin_stop(struct broker_reactor *r) {
    if (r->draining) return;
    r->b->stopping = true;
    r->draining = true;
    r->accepting = false;
    for (int i = 0; i < r->n_listeners; i++) {
        struct listener *l = &r->listeners[i];
        if (l->armed) {
            struct io_uring_sqe *sqe = get_sqe(r);
            io_uring_prep_cancel(sqe, &l->op, 0);
            io_uring_sqe_set_data64(sqe, 0);
        }
        if (l->fd >= 0) close(l->fd);
        l->fd = -1;
    }
    broker_timer_cancel(r->b, &r->accept_retry);
    for (struct broker_conn *c = r->conns, *next; c; c = next) {
        next = c->next;
        if (!c->dead && !c->head && !c->send_armed) conn_close(c, NULL);
    }
}

void broker_reactor_wake(struct broker *b) {
    uint64_t one = 1;
    ssize_t n = write(b->reactor->wake_fd, &one, sizeof(one));
    (void)n;
}

void broker_reactor_stop(struct broker *b) {
    atomic_store(&b->reactor->stop_requested, true);
    broker_reactor_wake(b);
}

/* ---- the loop -------------------------------------------------------------------------------- */

static void handle_cqe(struct broker_reactor *r, struct io_uring_cqe *cqe) {
    struct rop *op = io_uring_cqe_get_data(cqe);
    if (!op) return;
    switch (op->kind) {
    case ROP_ACCEPT:
        on_accept((struct listener *)op, cqe);
        break;
    case ROP_RECV:
        on_recv((struct broker_conn *)((char *)op - offsetof(struct broker_conn, recv_op)), cqe);
        break;
    case ROP_SEND:
        on_send((struct broker_conn *)((char *)op - offsetof(struct broker_conn, send_op)),
                cqe->res);
        break;
    case ROP_SIGNAL:
        on_signal(r, cqe->res);
        break;
    case ROP_STORAGE:
        on_storage(r);
        break;
    case ROP_WAKE:
        broker_blocking_reap(r->b);
        if (atomic_load(&r->stop_requested)) {
            rl_info("reactor", "stop requested: shutting down");
            begin_stop(r);
        }
        arm_read(r, r->wake_fd, &r->wake_op, &r->wake_buf, sizeof(r->wake_buf));
        break;
    default:
        RL_BUG_ON(1);
    }
}

static void flush_dirty(struct broker_reactor *r) {
    while (r->dirty) {
        struct broker_conn *c = r->dirty;
        r->dirty = c->dirty_next;
        c->dirty_next = NULL;
        c->dirty = false;
        conn_flush(c);
    }
}

int broker_reactor_run(struct broker *b, int64_t drain_ms) {
    struct broker_reactor *r = b->reactor;
    r->running = true;
    r->drain_deadline_ms = INT64_MAX;
    for (;;) {
        flush_dirty(r);
        if (b->storage) storage_engine_poll(b->storage);
        flush_dirty(r);
        if (r->draining) {
            if (r->drain_deadline_ms == INT64_MAX) r->drain_deadline_ms = rl_mono_ms() + drain_ms;
            if (r->n_reqs == 0) break;
            if (rl_mono_ms() >= r->drain_deadline_ms) {
                rl_warn("reactor", "shutdown: %llu request(s) still in flight after %lld ms",
                        (unsigned long long)r->n_reqs, (long long)drain_ms);
                break;
            }
        }
        struct __kernel_timespec ts, *tsp = NULL;
        struct broker_timer *t = broker__heap_top(&r->timers);
        int64_t wait = -1;
        if (t) wait = RL_MAX(t->deadline_ms - rl_mono_ms(), 0);
        if (r->draining) {
            int64_t dl = RL_MAX(r->drain_deadline_ms - rl_mono_ms(), 0);
            wait = wait < 0 ? dl : RL_MIN(wait, dl);
        }
        if (wait >= 0) {
            ts.tv_sec = wait / 1000;
            ts.tv_nsec = (wait % 1000) * 1000000;
            tsp = &ts;
        }
        struct io_uring_cqe *cqe = NULL;
        int rc = io_uring_submit_and_wait_timeout(&r->ring, &cqe, 1, tsp, NULL);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            rl_error("reactor", "io_uring wait: %s", rl_strerror(rc));
            r->running = false;
            return rc;
        }
        unsigned head, n = 0;
        io_uring_for_each_cqe(&r->ring, head, cqe) {
            handle_cqe(r, cqe);
            n++;
        }
        io_uring_cq_advance(&r->ring, n);
        run_timers(r);
    }
    /* Close what is left; requests still pending complete later with nothing sent. */
    for (struct broker_conn *c = r->conns, *next; c; c = next) {
        next = c->next;
        conn_close(c, NULL);
    }
    flush_dirty(r);
    io_uring_submit(&r->ring);
    r->running = false;
    return 0;
}

int broker_reactor_create(struct broker *b, bool handle_signals) {
    struct broker_reactor *r = rl_calloc(1, sizeof(*r));
    rl_bufpool_init(&r->frames, FRAME_POOL_MIN_SHIFT, FRAME_POOL_MAX_SHIFT, 1, 0, FRAME_POOL_CAP);
    r->b = b;
    r->sig_fd = r->wake_fd = r->storage_fd = -1;
    r->sig_op.kind = ROP_SIGNAL;
    r->wake_op.kind = ROP_WAKE;
    r->storage_op.kind = ROP_STORAGE;
    broker__heap_init(&r->timers);
    broker_timer_init(&r->tick_timer, tick_fn, r);
    broker_timer_init(&r->accept_retry, accept_retry_fn, r);
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL;
    p.cq_entries = CQ_ENTRIES;
    int rc = io_uring_queue_init_params(RING_ENTRIES, &r->ring, &p);
    if (rc == -EINVAL) {
        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_CQSIZE;
        p.cq_entries = CQ_ENTRIES;
        rc = io_uring_queue_init_params(RING_ENTRIES, &r->ring, &p);
    }
    if (rc < 0) {
        rl_error("reactor", "io_uring_queue_init: %s", rl_strerror(rc));
        goto fail;
    }
    r->ring_ok = true;
    b->reactor = r;
    if ((rc = setup_buf_ring(r)) < 0) {
        rl_warn("reactor", "no io_uring buffer rings (%s): using a buffer per connection",
                rl_strerror(rc));
        r->br = NULL;
    }
    r->wake_fd = eventfd(0, EFD_CLOEXEC);
    if (r->wake_fd < 0) {
        rc = -errno;
        goto fail;
    }
    arm_read(r, r->wake_fd, &r->wake_op, &r->wake_buf, sizeof(r->wake_buf));
    if (handle_signals) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        r->sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
        if (r->sig_fd < 0) {
            rc = -errno;
            rl_error("reactor", "signalfd: %s", rl_strerror(rc));
            goto fail;
        }
        arm_read(r, r->sig_fd, &r->sig_op, &r->siginfo, sizeof(r->siginfo));
    }
    if (b->storage) {
        r->storage_fd = storage_engine_eventfd(b->storage);
        if (r->storage_fd >= 0) arm_storage(r);
    }
    broker_timer_arm(b, &r->tick_timer, rl_mono_ms() + TICK_MS);
    return 0;
fail:
    b->reactor = r;
    broker_reactor_destroy(b);
    return rc;
}

void broker_reactor_destroy(struct broker *b) {
    struct broker_reactor *r = b ? b->reactor : NULL;
    if (!r) return;
    for (int i = 0; i < r->n_listeners; i++)
        if (r->listeners[i].fd >= 0) close(r->listeners[i].fd);
    rl_free(r->listeners);
    rl_free(r->addresses);
    if (r->ring_ok) io_uring_queue_exit(&r->ring); /* cancels whatever is still in flight */
    r->running = false;
    flush_dirty(r); /* requests completed after run returned: discard their responses */
    uint64_t leftover = 0;
    while (r->conns) {
        struct broker_conn *c = r->conns;
        if (!c->dead) r->n_open--;
        c->dead = true;
        c->recv_armed = c->send_armed = false;
        while (c->head) {
            struct broker_request *q = c->head;
            c->head = q->next;
            if (!(q->state & BROKER_RQ_DONE)) leftover++;
            request_free(q);
        }
        c->tail = NULL;
        c->dirty = false;
        conn_maybe_free(c);
    }
    if (leftover)
        rl_warn("reactor", "%llu request(s) never completed before shutdown",
                (unsigned long long)leftover);
    rl_free(r->scratch);
    proto_writer_free(&r->spare_out);
    rl_bufpool_clear(&r->frames);
    broker__heap_free(&r->timers);
    if (r->sig_fd >= 0) close(r->sig_fd);
    if (r->wake_fd >= 0) close(r->wake_fd);
    free(r->br);
    rl_free(r->bufs);
    rl_free(r);
    b->reactor = NULL;
}
