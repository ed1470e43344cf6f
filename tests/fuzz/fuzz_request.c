/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_request.c - libFuzzer target for the Kafka message codec. The input is one request frame
 * without its 4-byte size (what the broker hands to the decoder): the request header selects
 * the API key and version, then the body is decoded with proto_request_decode_any. The same
 * body bytes are also decoded as that API's response, to reach the response decoders (used by
 * the client). Checks: no crash or over-read (ASan), results are only 0/-EBADMSG/-ENOTSUP,
 * arena memory stays proportional to the input (lengths are checked before allocating), and
 * whatever decodes re-encodes: encode(decode(x)) succeeds, its size() is exact, and it decodes
 * and re-encodes to the same bytes (the generated test table gives per-message functions).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol_testfill.h"
#include "ringlet/common.h"
#include "ringlet/protocol.h"

/* Decoded structs may be larger than their wire form (a 1-byte compact string becomes a
 * 16-byte proto_str), but never by more than this factor. */
#define ARENA_FACTOR 64u
#define ARENA_SLACK  (64u * 1024u)

static void check_rc(int rc) {
    if (rc != 0 && rc != -EBADMSG && rc != -ENOTSUP) abort();
}

static const struct protogen_case *find_case(int16_t key, bool response) {
    for (size_t i = 0; i < protogen_n_cases; i++)
        if (protogen_cases[i].key == key && protogen_cases[i].response == response)
            return &protogen_cases[i];
    return NULL;
}

/* Decodes body as c's message; if that works, checks the encode/decode round trip. */
static void roundtrip(const struct protogen_case *c, int16_t v, const uint8_t *body, size_t n) {
    if (c == NULL || v < c->min_version || v > c->max_version) return;
    struct proto_arena a;
    proto_arena_init(&a);
    void *m1 = proto_arena_alloc(&a, c->struct_size);
    void *m2 = proto_arena_alloc(&a, c->struct_size);
    struct proto_reader r;
    proto_reader_init(&r, body, n);
    if (c->decode(&r, v, &a, m1) == 0) {
        struct proto_writer w1, w2;
        proto_writer_init(&w1);
        proto_writer_init(&w2);
        if (c->encode(&w1, v, m1) != 0) abort();
        if (c->size(v, m1) != w1.len) abort();
        proto_reader_init(&r, w1.buf, w1.len);
        if (c->decode(&r, v, &a, m2) != 0 || r.pos != w1.len) abort();
        if (c->encode(&w2, v, m2) != 0) abort();
        if (w1.len != w2.len || (w1.len && memcmp(w1.buf, w2.buf, w1.len) != 0)) abort();
        proto_writer_free(&w1);
        proto_writer_free(&w2);
    }
    proto_arena_destroy(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* Exact-size copy so that any read past the end is caught. */
    uint8_t *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);

    struct proto_reader r;
    proto_reader_init(&r, buf, size);
    struct proto_request_header h;
    if (proto_request_header_decode(&r, &h) == 0) {
        size_t body = r.pos;
        struct proto_arena a;
        proto_arena_init(&a);
        check_rc(proto_request_decode_any(h.ApiKey, h.ApiVersion, &r, &a));
        if (r.pos > size) abort();
        if (a.total > (size_t)ARENA_FACTOR * size + ARENA_SLACK) abort();
        proto_arena_reset(&a);

        proto_reader_init(&r, buf + body, size - body);
        check_rc(proto_response_decode_any(h.ApiKey, h.ApiVersion, &r, &a));
        if (a.total > (size_t)ARENA_FACTOR * size + ARENA_SLACK) abort();
        proto_arena_destroy(&a);

        roundtrip(find_case(h.ApiKey, false), h.ApiVersion, buf + body, size - body);
        roundtrip(find_case(h.ApiKey, true), h.ApiVersion, buf + body, size - body);
    }
    free(buf);
    return 0;
}
