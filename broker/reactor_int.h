/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reactor_int.h - reactor internals shared by reactor.c, dispatch.c and the unit tests: the
 * connection object, the request states and the timer heap. Not for API handlers (they use
 * broker.h only).
 */
#ifndef RINGLET_BROKER_REACTOR_INT_H
#define RINGLET_BROKER_REACTOR_INT_H

#include "broker.h"

/* ---- timer heap: a binary min-heap on deadline_ms; each timer knows its index ---------------- */
struct broker_timer_heap {
    struct broker_timer **v;
    int32_t n, cap;
};
void broker__heap_init(struct broker_timer_heap *h);
void broker__heap_free(struct broker_timer_heap *h);
/* Inserts t, or moves it if already in the heap. */
void broker__heap_set(struct broker_timer_heap *h, struct broker_timer *t, int64_t deadline_ms);
void broker__heap_remove(struct broker_timer_heap *h, struct broker_timer *t);
static inline struct broker_timer *broker__heap_top(const struct broker_timer_heap *h) {
    return h->n ? h->v[0] : NULL;
}

/* ---- requests -------------------------------------------------------------------------------- */
enum {
    BROKER_RQ_DONE = 1,  /* completed: out holds the response frame (len 0 = no response) */
    BROKER_RQ_CLOSE = 2, /* the connection closes once everything before this is sent */
};

/* ---- scratch memory -------------------------------------------------------------------------- */
/* A buffer of at least n bytes owned by the reactor, valid until the next call (single-threaded
 * use inside one handler call; kept between calls so its pages stay mapped, freed after a while
 * unused). NULL when b has no reactor. For Fetch, which reads records into it and encodes the
 * response from it in the same call. */
uint8_t *broker__scratch(struct broker *b, size_t n);
/* A buffer of at least n bytes (*cap: its size) that the caller owns until
 * broker__buf_put(b, p, *cap): from the reactor's pool of freed request frames (pages already
 * mapped) when n is in its size range. */
uint8_t *broker__buf_get(struct broker *b, size_t n, size_t *cap);
void broker__buf_put(struct broker *b, uint8_t *p, size_t cap);
/* Makes req->out hold at least n bytes, taking over the reactor's spare response buffer (the
 * largest big one freed lately, pages already mapped) when it is big enough. */
void broker__response_reserve(struct broker_request *req, size_t n);

/* ---- dispatch (dispatch.c) ------------------------------------------------------------------- */
/* Decodes req's header and runs its handler, or answers/closes for unknown APIs and versions.
 * req->frame/frame_len hold the frame (without the length prefix). */
void broker__dispatch(struct broker_request *req);
/* Encodes the v0-format ApiVersions response with error 35 (UNSUPPORTED_VERSION) listing only
 * ApiVersions' own range (KIP-511), as Kafka does for versions it does not know. */
void broker__apiversions_unsupported(struct broker_request *req);

#endif /* RINGLET_BROKER_REACTOR_INT_H */
