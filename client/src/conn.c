/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conn.c - one TCP connection to one Kafka broker: connect with a deadline, framed
 * request/response over a non-blocking socket driven by poll(), correlation id checks, and
 * ApiVersions negotiation (the one message this layer encodes itself, with the codec's
 * primitives, because it must work before anything else is known about the broker).
 *
 * Any failure that could leave the byte stream out of step (timeout mid-frame, short read,
 * wrong correlation id, bad header) closes the socket: the next request fails with -ENOTCONN
 * and the client reconnects rather than reading someone else's response.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client_int.h"
#include "ringlet/common.h"

struct ringlet_conn {
    int fd; /* -1 once closed */
    char *host;
    int port;
    char *client_id;
    int32_t next_corr;
    bool negotiated;
    int16_t api_min[RINGLET_API_KEY_MAX + 1];
    int16_t api_max[RINGLET_API_KEY_MAX + 1]; /* -1 = not advertised */
    struct proto_writer wbuf;
    /* Requests sent with ringlet_conn_send_async whose responses are not read yet, oldest
     * first (Kafka answers in request order on a connection). */
    struct pending {
        int32_t corr;
        int16_t api_key, version;
        ringlet_async_fn fn;
        void *opaque;
    } * pending;
    int n_pending, cap_pending;
};

int64_t ringlet__deadline(int timeout_ms) {
    return rl_mono_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
}

int ringlet__remaining(int64_t deadline) {
    int64_t left = deadline - rl_mono_ms();
    if (left < 0) return 0;
    if (left > INT32_MAX) return INT32_MAX;
    return (int)left;
}

static void conn_drop(struct ringlet_conn *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    /* Responses that will never come: their owners learn it now. */
    while (c->n_pending > 0) {
        struct pending p = c->pending[0];
        memmove(c->pending, c->pending + 1, sizeof(*c->pending) * (size_t)--c->n_pending);
        p.fn(p.opaque, -ECONNRESET, NULL);
    }
}

/* Waits for `events` on fd until the deadline: 0 ready, -ETIMEDOUT, or -errno. */
static int wait_fd(int fd, short events, int64_t deadline) {
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, ringlet__remaining(deadline));
        if (n > 0) return 0; /* errors/hangups are reported by the following read/write */
        if (n == 0) return -ETIMEDOUT;
        if (errno != EINTR) return -errno;
    }
}

static int connect_one(const struct addrinfo *ai, int64_t deadline, int *fd_out) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) return -errno;
    int err = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        if (errno != EINPROGRESS) {
            err = -errno;
            goto out;
        }
        err = wait_fd(fd, POLLOUT, deadline);
        if (err) goto out;
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) {
            err = -errno;
            goto out;
        }
        if (soerr) {
            err = -soerr;
            goto out;
        }
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
out:
    if (err) {
        close(fd);
        return err;
    }
    *fd_out = fd;
    return 0;
}

int ringlet_conn_open(const char *host, int port, const char *client_id, int timeout_ms,
                      struct ringlet_conn **out) {
    if (host == NULL || port <= 0 || port > 65535) return -EINVAL;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) return gai == EAI_SYSTEM ? -errno : -ENOENT;

    int64_t deadline = ringlet__deadline(timeout_ms);
    int err = -ECONNREFUSED, fd = -1;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        err = connect_one(ai, deadline, &fd);
        if (err == 0 || err == -ETIMEDOUT) break;
    }
    freeaddrinfo(res);
    if (err) return err;

    struct ringlet_conn *c = rl_calloc(1, sizeof(*c));
    c->fd = fd;
    c->host = rl_strdup(host);
    c->port = port;
    c->client_id = rl_strdup(client_id ? client_id : "ringlet");
    c->next_corr = 1;
    for (int i = 0; i <= RINGLET_API_KEY_MAX; i++)
        c->api_min[i] = c->api_max[i] = -1;
    proto_writer_init(&c->wbuf);
    *out = c;
    return 0;
}

void ringlet_conn_close(struct ringlet_conn *c) {
    if (c == NULL) return;
    conn_drop(c);
    rl_free(c->pending);
    proto_writer_free(&c->wbuf);
    rl_free(c->host);
    rl_free(c->client_id);
    rl_free(c);
}

const char *ringlet_conn_host(const struct ringlet_conn *c) {
    return c->host;
}

int ringlet_conn_port(const struct ringlet_conn *c) {
    return c->port;
}

bool ringlet_conn_is_open(const struct ringlet_conn *c) {
    return c != NULL && c->fd >= 0;
}

void ringlet_resp_free(struct ringlet_resp *resp) {
    if (resp == NULL) return;
    rl_free(resp->frame);
    resp->frame = NULL;
    resp->len = 0;
}

static int write_all(int fd, const uint8_t *p, size_t len, int64_t deadline) {
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int err = wait_fd(fd, POLLOUT, deadline);
            if (err) return err;
            continue;
        }
        return n < 0 ? -errno : -EPIPE;
    }
    return 0;
}

static int read_full(int fd, uint8_t *p, size_t len, int64_t deadline) {
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n == 0) return -ECONNRESET; /* peer closed mid-conversation */
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int err = wait_fd(fd, POLLIN, deadline);
            if (err) return err;
            continue;
        }
        return -errno;
    }
    return 0;
}

/* Encodes and writes one request; its correlation id goes to *corr. On a write error the
 * connection is dropped. */
static int conn_send(struct ringlet_conn *c, int16_t api_key, int16_t version,
                     ringlet_encode_fn encode, const void *msg, int64_t deadline, int32_t *corr) {
    if (!ringlet_conn_is_open(c)) return -ENOTCONN;
    *corr = c->next_corr++;
    if (c->next_corr < 0) c->next_corr = 1;

    struct proto_writer *w = &c->wbuf;
    proto_writer_reset(w);
    size_t start = proto_frame_begin(w);
    struct proto_request_header h = {.ApiKey = api_key,
                                     .ApiVersion = version,
                                     .CorrelationId = *corr,
                                     .ClientId = proto_str_c(c->client_id)};
    proto_request_header_encode(w, &h);
    int err = encode(w, version, msg);
    if (err) return err < 0 ? err : -EINVAL; /* nothing sent: the stream is still in step */
    proto_frame_end(w, start);

    err = write_all(c->fd, w->buf, w->len, deadline);
    if (err) conn_drop(c);
    return err;
}

/* Reads the response to request corr (the next one on the stream). On any error the connection
 * is dropped. */
static int conn_recv(struct ringlet_conn *c, int16_t api_key, int16_t version, int32_t corr,
                     int64_t deadline, struct ringlet_resp *resp) {
    uint8_t szb[4];
    int err = read_full(c->fd, szb, 4, deadline);
    if (err) goto fail;
    uint32_t size =
        ((uint32_t)szb[0] << 24) | ((uint32_t)szb[1] << 16) | ((uint32_t)szb[2] << 8) | szb[3];
    if (size < 4 || size > RINGLET_MAX_FRAME) {
        err = size < 4 ? -EBADMSG : -EMSGSIZE;
        goto fail;
    }
    uint8_t *frame = rl_malloc(size);
    err = read_full(c->fd, frame, size, deadline);
    if (err) {
        rl_free(frame);
        goto fail;
    }
    struct proto_reader r;
    proto_reader_init(&r, frame, size);
    int32_t got_corr = 0;
    err = proto_response_header_decode(&r, proto_response_header_version(api_key, version),
                                       &got_corr);
    if (err == 0 && got_corr != corr) {
        rl_warn("client", "%s:%d answered correlation id %d, expected %d; reconnecting", c->host,
                c->port, got_corr, corr);
        err = -EBADMSG;
    }
    if (err) {
        rl_free(frame);
        goto fail;
    }
    resp->frame = frame;
    resp->len = size;
    resp->r = r;
    return 0;
fail:
    conn_drop(c);
    return err;
}

int ringlet_conn_drain(struct ringlet_conn *c, bool wait, int timeout_ms) {
    int64_t deadline = ringlet__deadline(timeout_ms);
    while (c->n_pending > 0 && ringlet_conn_is_open(c)) {
        if (!wait) {
            struct pollfd pf = {.fd = c->fd, .events = POLLIN};
            if (poll(&pf, 1, 0) <= 0) return 0;
        }
        struct pending p = c->pending[0];
        memmove(c->pending, c->pending + 1, sizeof(*c->pending) * (size_t)--c->n_pending);
        struct ringlet_resp resp = {0};
        int err = conn_recv(c, p.api_key, p.version, p.corr, deadline, &resp);
        p.fn(p.opaque, err, err ? NULL : &resp);
        ringlet_resp_free(&resp);
        if (err) return err; /* conn_recv dropped the connection and failed the others */
    }
    return ringlet_conn_is_open(c) ? 0 : -ENOTCONN;
}

int ringlet_conn_send_async(struct ringlet_conn *c, int16_t api_key, int16_t version,
                            ringlet_encode_fn encode, const void *msg, int timeout_ms,
                            ringlet_async_fn fn, void *opaque) {
    int32_t corr;
    int err = conn_send(c, api_key, version, encode, msg, ringlet__deadline(timeout_ms), &corr);
    if (err) return err;
    if (c->n_pending == c->cap_pending) {
        c->cap_pending = c->cap_pending ? c->cap_pending * 2 : 4;
        c->pending = rl_realloc(c->pending, sizeof(*c->pending) * (size_t)c->cap_pending);
    }
    c->pending[c->n_pending++] = (struct pending){corr, api_key, version, fn, opaque};
    return 0;
}

int ringlet_conn_request(struct ringlet_conn *c, int16_t api_key, int16_t version,
                         ringlet_encode_fn encode, const void *msg, bool expect_response,
                         int timeout_ms, struct ringlet_resp *resp) {
    if (!ringlet_conn_is_open(c)) return -ENOTCONN;
    int64_t deadline = ringlet__deadline(timeout_ms);
    if (c->n_pending > 0) {
        int err = ringlet_conn_drain(c, true, timeout_ms);
        if (err) return err;
    }
    int32_t corr;
    int err = conn_send(c, api_key, version, encode, msg, deadline, &corr);
    if (err || !expect_response) return err;
    return conn_recv(c, api_key, version, corr, deadline, resp);
}

/* ---- ApiVersions --------------------------------------------------------------------------- */

static int encode_apiversions(struct proto_writer *w, int16_t version, const void *msg) {
    (void)msg;
    if (version >= 3) {
        proto_write_string(w, proto_str_c("ringlet"), true);
        proto_write_string(w, proto_str_c(RINGLET_VERSION), true);
        proto_write_uvarint(w, 0); /* tagged fields */
    }
    return 0;
}

struct api_range {
    int16_t key, min, max;
};

/* Decodes an ApiVersionsResponse body. A broker that does not support the request version
 * answers in the v0 layout with error 35, so the error code is read first (same place in every
 * version) and then the rest in v0 layout if it is 35. On success the ranges are arena-free
 * heap memory (*ranges, caller frees). */
static int decode_apiversions(struct proto_reader *r, int16_t version, int16_t *error,
                              struct api_range **ranges, int32_t *n_ranges) {
    int16_t ec = proto_read_i16(r);
    if (ec == PROTO_ERR_UNSUPPORTED_VERSION) version = 0;
    bool flex = version >= 3;
    struct proto_reader start = *r;
    int32_t n = proto_read_array_len(r, flex, flex ? 7 : 6);
    if (r->err && ec == PROTO_ERR_UNSUPPORTED_VERSION && !start.err) {
        /* Some brokers (librdkafka's mock) answer an unsupported version in a layout that is
         * neither v0 nor the request's: the error code is enough to fall back to v0. */
        *error = ec;
        *ranges = rl_calloc(1, sizeof(**ranges));
        *n_ranges = 0;
        return 0;
    }
    if (r->err) return -EBADMSG;
    if (n < 0) n = 0;
    struct api_range *a = rl_calloc((size_t)n + 1, sizeof(*a));
    for (int32_t i = 0; i < n; i++) {
        a[i].key = proto_read_i16(r);
        a[i].min = proto_read_i16(r);
        a[i].max = proto_read_i16(r);
        if (flex) proto_skip_tagged_fields(r);
    }
    /* ThrottleTimeMs (v1+) and the trailing tags are not needed; an error-35 body may stop
     * right after the array, so they are not required either. */
    if (r->err && ec == PROTO_ERR_UNSUPPORTED_VERSION) {
        n = 0; /* unreadable ranges: the caller falls back to v0 */
    } else if (r->err) {
        rl_free(a);
        return -EBADMSG;
    }
    *error = ec;
    *ranges = a;
    *n_ranges = n;
    return 0;
}

int ringlet_conn_negotiate(struct ringlet_conn *c, int timeout_ms, int16_t *kafka_err) {
    int64_t deadline = ringlet__deadline(timeout_ms);
    int16_t version = RINGLET_APIVERSIONS_MAX;
    for (int attempt = 0; attempt < 3; attempt++) {
        struct ringlet_resp resp = {0};
        int err = ringlet_conn_request(c, RINGLET_API_API_VERSIONS, version, encode_apiversions,
                                       NULL, true, ringlet__remaining(deadline), &resp);
        if (err) return err;
        int16_t ec = 0;
        struct api_range *ranges = NULL;
        int32_t n = 0;
        err = decode_apiversions(&resp.r, version, &ec, &ranges, &n);
        ringlet_resp_free(&resp);
        if (err) {
            conn_drop(c);
            return err;
        }
        if (ec == PROTO_ERR_UNSUPPORTED_VERSION && version > 0) {
            int16_t next = 0;
            for (int32_t i = 0; i < n; i++)
                if (ranges[i].key == RINGLET_API_API_VERSIONS && ranges[i].max >= 0)
                    next = (int16_t)RL_MIN(ranges[i].max, version - 1);
            rl_free(ranges);
            version = next;
            continue;
        }
        if (ec != 0) {
            rl_free(ranges);
            if (kafka_err) *kafka_err = ec;
            return -EPROTO;
        }
        for (int i = 0; i <= RINGLET_API_KEY_MAX; i++)
            c->api_min[i] = c->api_max[i] = -1;
        for (int32_t i = 0; i < n; i++) {
            if (ranges[i].key < 0 || ranges[i].key > RINGLET_API_KEY_MAX) continue;
            if (ranges[i].min < 0 || ranges[i].max < ranges[i].min) continue;
            c->api_min[ranges[i].key] = ranges[i].min;
            c->api_max[ranges[i].key] = ranges[i].max;
        }
        rl_free(ranges);
        c->negotiated = true;
        return 0;
    }
    if (kafka_err) *kafka_err = PROTO_ERR_UNSUPPORTED_VERSION;
    return -EPROTO;
}

bool ringlet_conn_api_range(const struct ringlet_conn *c, int16_t key, int16_t *min, int16_t *max) {
    if (key < 0 || key > RINGLET_API_KEY_MAX || c->api_max[key] < 0) return false;
    *min = c->api_min[key];
    *max = c->api_max[key];
    return true;
}

int16_t ringlet_conn_pick_version(const struct ringlet_conn *c, int16_t key, int16_t client_min,
                                  int16_t client_max) {
    if (!c->negotiated) return client_min;
    int16_t bmin, bmax;
    if (!ringlet_conn_api_range(c, key, &bmin, &bmax)) return -1;
    int16_t v = RL_MIN(client_max, bmax);
    if (v < RL_MAX(client_min, bmin)) return -1;
    return v;
}
