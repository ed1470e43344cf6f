/* SPDX-License-Identifier: Apache-2.0 */
/*
 * codec.c - the primitive layer of ringlet's Kafka wire codec: the per-request arena, the bounded
 * reader, the growable writer, integer/varint/string/bytes/UUID encodings, tagged-field
 * skipping, request/response headers and frame length patching. The per-API message code is
 * generated from protocol/schema/ and built on top of these functions.
 *
 * Reader invariant: the first failed read sets r->err = -EBADMSG and from then on every read
 * returns a zero value without touching the buffer, so generated decoders check err once per
 * element. No read ever looks past r->len, and lengths are checked against what is left before
 * anything is allocated.
 */
#include <errno.h>
#include <string.h>

#include "ringlet/common.h"
#include "ringlet/protocol.h"

/* ---- arena ----------------------------------------------------------------------------------- */

#define ARENA_CHUNK_MIN 4096u

struct proto_arena_chunk {
    struct proto_arena_chunk *next;
    size_t size; /* usable bytes in data */
    size_t used;
    _Alignas(16) uint8_t data[];
};

void proto_arena_init(struct proto_arena *a) {
    a->head = NULL;
    a->total = 0;
}

static struct proto_arena_chunk *arena_chunk_new(struct proto_arena *a, size_t want) {
    size_t size = want < ARENA_CHUNK_MIN ? ARENA_CHUNK_MIN : want;
    /* Grow chunk sizes with the arena so big requests need few chunks. */
    if (a->total > size && a->total < ((size_t)1 << 26)) size = a->total;
    struct proto_arena_chunk *c = rl_malloc(sizeof(*c) + size);
    c->size = size;
    c->used = 0;
    c->next = a->head;
    a->head = c;
    a->total += size;
    return c;
}

void *proto_arena_alloc(struct proto_arena *a, size_t size) {
    size_t need = (size + 15u) & ~(size_t)15u;
    RL_BUG_ON(need < size);
    struct proto_arena_chunk *c = a->head;
    if (c == NULL || c->size - c->used < need) c = arena_chunk_new(a, need);
    void *p = c->data + c->used;
    c->used += need;
    memset(p, 0, size);
    return p;
}

void proto_arena_reset(struct proto_arena *a) {
    struct proto_arena_chunk *c = a->head;
    if (c == NULL) return;
    /* Keep the oldest chunk (the last in the list); free the rest. */
    while (c->next != NULL) {
        struct proto_arena_chunk *next = c->next;
        a->total -= c->size;
        rl_free(c);
        c = next;
    }
    c->used = 0;
    a->head = c;
}

void proto_arena_destroy(struct proto_arena *a) {
    struct proto_arena_chunk *c = a->head;
    while (c != NULL) {
        struct proto_arena_chunk *next = c->next;
        rl_free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

/* ---- reader ---------------------------------------------------------------------------------- */

void proto_reader_init(struct proto_reader *r, const void *buf, size_t len) {
    r->buf = buf;
    r->len = len;
    r->pos = 0;
    r->err = 0;
}

/* Returns a pointer to the next n bytes and advances, or NULL (err set) if they are not there. */
static const uint8_t *rd_take(struct proto_reader *r, size_t n) {
    if (r->err) return NULL;
    if (n > r->len - r->pos) {
        r->err = -EBADMSG;
        return NULL;
    }
    const uint8_t *p = r->buf + r->pos;
    r->pos += n;
    return p;
}

static void rd_fail(struct proto_reader *r) {
    if (!r->err) r->err = -EBADMSG;
}

int8_t proto_read_i8(struct proto_reader *r) {
    const uint8_t *p = rd_take(r, 1);
    return p ? (int8_t)p[0] : 0;
}

uint16_t proto_read_u16(struct proto_reader *r) {
    const uint8_t *p = rd_take(r, 2);
    return p ? (uint16_t)((uint16_t)p[0] << 8 | p[1]) : 0;
}

int16_t proto_read_i16(struct proto_reader *r) {
    return (int16_t)proto_read_u16(r);
}

uint32_t proto_read_u32(struct proto_reader *r) {
    const uint8_t *p = rd_take(r, 4);
    if (p == NULL) return 0;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int32_t proto_read_i32(struct proto_reader *r) {
    return (int32_t)proto_read_u32(r);
}

static uint64_t rd_u64(struct proto_reader *r) {
    const uint8_t *p = rd_take(r, 8);
    if (p == NULL) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

int64_t proto_read_i64(struct proto_reader *r) {
    return (int64_t)rd_u64(r);
}

double proto_read_f64(struct proto_reader *r) {
    uint64_t u = rd_u64(r);
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

bool proto_read_bool(struct proto_reader *r) {
    return proto_read_i8(r) != 0;
}

uint32_t proto_read_uvarint(struct proto_reader *r) {
    uint32_t v = 0;
    for (int i = 0; i < 5; i++) {
        const uint8_t *p = rd_take(r, 1);
        if (p == NULL) return 0;
        uint8_t b = *p;
        if (i == 4 && b > 0x0f) break; /* continuation or bits beyond 32: over-long */
        v |= (uint32_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) return v;
    }
    rd_fail(r);
    return 0;
}

int32_t proto_read_varint(struct proto_reader *r) {
    uint32_t u = proto_read_uvarint(r);
    return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

int64_t proto_read_varlong(struct proto_reader *r) {
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        const uint8_t *p = rd_take(r, 1);
        if (p == NULL) return 0;
        uint8_t b = *p;
        if (i == 9 && b > 0x01) break;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) return (int64_t)((v >> 1) ^ (~(v & 1) + 1));
    }
    rd_fail(r);
    return 0;
}

struct proto_uuid proto_read_uuid(struct proto_reader *r) {
    struct proto_uuid u;
    const uint8_t *p = rd_take(r, 16);
    if (p)
        memcpy(u.b, p, 16);
    else
        memset(u.b, 0, 16);
    return u;
}

/* Reads a length prefix: int16/int32 (-1 = null) or, compact, uvarint N+1 (0 = null). Returns
 * -1 for null, -2 on error (err set). */
static int64_t rd_len(struct proto_reader *r, bool compact, bool wide) {
    int64_t n;
    if (compact)
        n = (int64_t)proto_read_uvarint(r) - 1;
    else
        n = wide ? proto_read_i32(r) : proto_read_i16(r);
    if (r->err) return -2;
    if (n < -1) {
        rd_fail(r);
        return -2;
    }
    return n;
}

struct proto_str proto_read_string(struct proto_reader *r, bool compact) {
    int64_t n = rd_len(r, compact, false);
    if (n == -1) return PROTO_STR_NULL;
    if (n < 0 || n > INT32_MAX) {
        rd_fail(r);
        return (struct proto_str){"", 0};
    }
    const uint8_t *p = rd_take(r, (size_t)n);
    if (p == NULL) return (struct proto_str){"", 0};
    return (struct proto_str){(const char *)p, (int32_t)n};
}

struct proto_bytes proto_read_bytes(struct proto_reader *r, bool compact) {
    int64_t n = rd_len(r, compact, true);
    if (n == -1) return PROTO_BYTES_NULL;
    if (n < 0 || n > INT32_MAX) {
        rd_fail(r);
        return (struct proto_bytes){NULL, 0};
    }
    const uint8_t *p = rd_take(r, (size_t)n);
    if (p == NULL) return (struct proto_bytes){NULL, 0};
    return (struct proto_bytes){p, (int32_t)n};
}

int32_t proto_read_array_len(struct proto_reader *r, bool compact, size_t min_elem_size) {
    int64_t n = rd_len(r, compact, true);
    if (n == -1) return -1;
    if (n < 0 || n > INT32_MAX) {
        rd_fail(r);
        return 0;
    }
    if (min_elem_size == 0) min_elem_size = 1;
    if ((uint64_t)n > (r->len - r->pos) / min_elem_size) {
        rd_fail(r);
        return 0;
    }
    return (int32_t)n;
}

void proto_skip_tagged_fields(struct proto_reader *r) {
    uint32_t count = proto_read_uvarint(r);
    for (uint32_t i = 0; i < count && !r->err; i++) {
        (void)proto_read_uvarint(r); /* tag */
        uint32_t size = proto_read_uvarint(r);
        (void)rd_take(r, size);
    }
}

/* ---- writer ---------------------------------------------------------------------------------- */

void proto_writer_init(struct proto_writer *w) {
    w->buf = NULL;
    w->len = 0;
    w->cap = 0;
}

void proto_writer_reset(struct proto_writer *w) {
    w->len = 0;
}

void proto_writer_free(struct proto_writer *w) {
    rl_free(w->buf);
    w->buf = NULL;
    w->len = 0;
    w->cap = 0;
}

uint8_t *proto_writer_reserve(struct proto_writer *w, size_t n) {
    RL_BUG_ON(n > SIZE_MAX - w->len);
    if (w->cap - w->len < n) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap - w->len < n) {
            RL_BUG_ON(cap > SIZE_MAX / 2);
            cap *= 2;
        }
        w->buf = rl_realloc(w->buf, cap);
        w->cap = cap;
    }
    return w->buf + w->len;
}

void proto_write_raw(struct proto_writer *w, const void *p, size_t n) {
    if (n == 0) return;
    uint8_t *d = proto_writer_reserve(w, n);
    memcpy(d, p, n);
    w->len += n;
}

void proto_write_i8(struct proto_writer *w, int8_t v) {
    uint8_t *d = proto_writer_reserve(w, 1);
    d[0] = (uint8_t)v;
    w->len += 1;
}

void proto_write_u16(struct proto_writer *w, uint16_t v) {
    uint8_t *d = proto_writer_reserve(w, 2);
    d[0] = (uint8_t)(v >> 8);
    d[1] = (uint8_t)v;
    w->len += 2;
}

void proto_write_i16(struct proto_writer *w, int16_t v) {
    proto_write_u16(w, (uint16_t)v);
}

void proto_write_u32(struct proto_writer *w, uint32_t v) {
    uint8_t *d = proto_writer_reserve(w, 4);
    d[0] = (uint8_t)(v >> 24);
    d[1] = (uint8_t)(v >> 16);
    d[2] = (uint8_t)(v >> 8);
    d[3] = (uint8_t)v;
    w->len += 4;
}

void proto_write_i32(struct proto_writer *w, int32_t v) {
    proto_write_u32(w, (uint32_t)v);
}

static void wr_u64(struct proto_writer *w, uint64_t v) {
    uint8_t *d = proto_writer_reserve(w, 8);
    for (int i = 0; i < 8; i++)
        d[i] = (uint8_t)(v >> (56 - 8 * i));
    w->len += 8;
}

void proto_write_i64(struct proto_writer *w, int64_t v) {
    wr_u64(w, (uint64_t)v);
}

void proto_write_f64(struct proto_writer *w, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof(u));
    wr_u64(w, u);
}

void proto_write_bool(struct proto_writer *w, bool v) {
    proto_write_i8(w, v ? 1 : 0);
}

void proto_write_uvarint(struct proto_writer *w, uint32_t v) {
    uint8_t *d = proto_writer_reserve(w, 5);
    size_t n = 0;
    while (v >= 0x80) {
        d[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    d[n++] = (uint8_t)v;
    w->len += n;
}

void proto_write_varint(struct proto_writer *w, int32_t v) {
    proto_write_uvarint(w, ((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

void proto_write_varlong(struct proto_writer *w, int64_t v) {
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    uint8_t *d = proto_writer_reserve(w, 10);
    size_t n = 0;
    while (u >= 0x80) {
        d[n++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    d[n++] = (uint8_t)u;
    w->len += n;
}

void proto_write_uuid(struct proto_writer *w, struct proto_uuid v) {
    proto_write_raw(w, v.b, 16);
}

void proto_write_string(struct proto_writer *w, struct proto_str s, bool compact) {
    if (s.len < 0) {
        if (compact)
            proto_write_uvarint(w, 0);
        else
            proto_write_i16(w, -1);
        return;
    }
    if (compact)
        proto_write_uvarint(w, (uint32_t)s.len + 1);
    else
        proto_write_i16(w, (int16_t)s.len);
    proto_write_raw(w, s.ptr, (size_t)s.len);
}

void proto_write_bytes(struct proto_writer *w, struct proto_bytes b, bool compact) {
    if (b.len < 0) {
        if (compact)
            proto_write_uvarint(w, 0);
        else
            proto_write_i32(w, -1);
        return;
    }
    if (compact)
        proto_write_uvarint(w, (uint32_t)b.len + 1);
    else
        proto_write_i32(w, b.len);
    proto_write_raw(w, b.ptr, (size_t)b.len);
}

void proto_write_array_len(struct proto_writer *w, int32_t n, bool compact) {
    if (compact)
        proto_write_uvarint(w, n < 0 ? 0 : (uint32_t)n + 1);
    else
        proto_write_i32(w, n < 0 ? -1 : n);
}

size_t proto_uvarint_size(uint32_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t proto_varint_size(int32_t v) {
    return proto_uvarint_size(((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

size_t proto_varlong_size(int64_t v) {
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (u >= 0x80) {
        u >>= 7;
        n++;
    }
    return n;
}

/* ---- strings --------------------------------------------------------------------------------- */

struct proto_str proto_str_c(const char *s) {
    if (s == NULL) return PROTO_STR_NULL;
    size_t n = strlen(s);
    RL_BUG_ON(n > INT32_MAX);
    return (struct proto_str){s, (int32_t)n};
}

bool proto_str_eq(struct proto_str s, const char *c) {
    if (s.len < 0 || c == NULL) return false;
    size_t n = strlen(c);
    return n == (size_t)s.len && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

char *proto_str_dup(struct proto_str s) {
    if (s.len < 0) return NULL;
    return rl_strndup(s.len ? s.ptr : "", (size_t)s.len);
}

/* ---- headers --------------------------------------------------------------------------------- */

int16_t proto_request_header_version(int16_t api_key, int16_t api_version) {
    const struct proto_api_info *api = proto_api_lookup(api_key);
    if (api == NULL || api_version < api->min_version || api_version > api->max_version) return 1;
    if (api->flexible_min >= 0 && api_version >= api->flexible_min) return 2;
    return 1;
}

int16_t proto_response_header_version(int16_t api_key, int16_t api_version) {
    if (api_key == PROTO_API_KEY_API_VERSIONS) return 0; /* clients parse it before they know */
    const struct proto_api_info *api = proto_api_lookup(api_key);
    if (api == NULL || api_version < api->min_version || api_version > api->max_version) return 0;
    if (api->flexible_min >= 0 && api_version >= api->flexible_min) return 1;
    return 0;
}

int proto_request_header_decode(struct proto_reader *r, struct proto_request_header *h) {
    struct proto_request_header tmp;
    tmp.ApiKey = proto_read_i16(r);
    tmp.ApiVersion = proto_read_i16(r);
    tmp.CorrelationId = proto_read_i32(r);
    /* v1 and v2 both carry ClientId as a classic nullable INT16 string. */
    tmp.ClientId = proto_read_string(r, false);
    if (!r->err && proto_request_header_version(tmp.ApiKey, tmp.ApiVersion) >= 2)
        proto_skip_tagged_fields(r);
    if (r->err) return -EBADMSG;
    *h = tmp;
    return 0;
}

void proto_request_header_encode(struct proto_writer *w, const struct proto_request_header *h) {
    int16_t hv = proto_request_header_version(h->ApiKey, h->ApiVersion);
    proto_write_i16(w, h->ApiKey);
    proto_write_i16(w, h->ApiVersion);
    proto_write_i32(w, h->CorrelationId);
    struct proto_str cid = h->ClientId;
    if (cid.len > INT16_MAX) cid.len = INT16_MAX;
    proto_write_string(w, cid, false);
    if (hv >= 2) proto_write_uvarint(w, 0);
}

void proto_response_header_encode(struct proto_writer *w, int16_t header_version,
                                  int32_t correlation_id) {
    proto_write_i32(w, correlation_id);
    if (header_version >= 1) proto_write_uvarint(w, 0);
}

int proto_response_header_decode(struct proto_reader *r, int16_t header_version,
                                 int32_t *correlation_id) {
    int32_t cid = proto_read_i32(r);
    if (header_version >= 1) proto_skip_tagged_fields(r);
    if (r->err) return -EBADMSG;
    *correlation_id = cid;
    return 0;
}

/* ---- frames ---------------------------------------------------------------------------------- */

size_t proto_frame_begin(struct proto_writer *w) {
    size_t start = w->len;
    proto_write_i32(w, 0);
    return start;
}

void proto_frame_end(struct proto_writer *w, size_t frame_start) {
    size_t body = w->len - frame_start - 4;
    RL_BUG_ON(body > INT32_MAX);
    uint8_t *d = w->buf + frame_start;
    d[0] = (uint8_t)(body >> 24);
    d[1] = (uint8_t)(body >> 16);
    d[2] = (uint8_t)(body >> 8);
    d[3] = (uint8_t)body;
}
