/* SPDX-License-Identifier: Apache-2.0 */
/* alloc.c - allocation wrappers (an allocation failure aborts, so callers never check for NULL)
 * and the buffer pool. */
#include "ringlet/common.h"

#include <stdlib.h>
#include <string.h>

static void oom(size_t size) __attribute__((noreturn));
static void oom(size_t size) {
    rl_log_write(RL_LOG_ERROR, "alloc", "out of memory allocating %zu bytes -- aborting", size);
    abort();
}

void *rl_malloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) oom(size);
    return p;
}

void *rl_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *rl_aligned_alloc(size_t align, size_t size) {
    void *p = NULL;
    if (posix_memalign(&p, align, size ? size : 1) != 0) oom(size);
    return p;
}

void *rl_realloc(void *ptr, size_t size) {
    void *p = realloc(ptr, size ? size : 1);
    if (!p) oom(size);
    return p;
}

char *rl_strdup(const char *s) {
    size_t n = strlen(s);
    char *p = rl_malloc(n + 1);
    memcpy(p, s, n + 1);
    return p;
}

char *rl_strndup(const char *s, size_t n) {
    char *p = rl_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void rl_free(void *ptr) {
    free(ptr);
}

/* ---- buffer pool ------------------------------------------------------------------------------
 */

void rl_bufpool_init(struct rl_bufpool *p, int min_shift, int max_shift, int steps, size_t align,
                     size_t cap_bytes) {
    RL_BUG_ON(steps != 1 && steps != 2 && steps != 4);
    RL_BUG_ON(min_shift < 4 || max_shift < min_shift || max_shift > 40);
    RL_BUG_ON((max_shift - min_shift) * steps + 1 > RL_BUFPOOL_MAX_CLASSES);
    memset(p, 0, sizeof(*p));
    p->min_shift = min_shift;
    p->steps = steps;
    p->n_classes = (max_shift - min_shift) * steps + 1;
    p->align = align;
    p->cap_bytes = cap_bytes;
}

static size_t class_size(const struct rl_bufpool *p, int c) {
    size_t base = (size_t)1 << (p->min_shift + c / p->steps);
    return base + (size_t)(c % p->steps) * (base / (size_t)p->steps);
}

/* The class of a len-byte buffer (the smallest class size >= len), or -1 above the largest. */
static int class_of(const struct rl_bufpool *p, size_t len) {
    if (len <= ((size_t)1 << p->min_shift)) return 0;
    int k = p->min_shift;
    while (((size_t)1 << (k + 1)) < len)
        k++;
    size_t step = ((size_t)1 << k) / (size_t)p->steps;
    int c = (k - p->min_shift) * p->steps + (int)((len - ((size_t)1 << k) + step - 1) / step);
    return c < p->n_classes ? c : -1;
}

static void *idle_pop(struct rl_bufpool *p, int c) {
    void *b = p->idle[c];
    memcpy(&p->idle[c], b, sizeof(void *));
    p->idle_bytes -= class_size(p, c);
    return b;
}

void *rl_bufpool_get(struct rl_bufpool *p, size_t len, size_t *cap) {
    int cls = class_of(p, len);
    if (cls < 0) return NULL;
    for (int c = cls; c < p->n_classes; c++)
        if (p->idle[c]) {
            *cap = class_size(p, c);
            return idle_pop(p, c);
        }
    *cap = class_size(p, cls);
    p->allocs++;
    return p->align ? rl_aligned_alloc(p->align, *cap) : rl_malloc(*cap);
}

void rl_bufpool_put(struct rl_bufpool *p, void *buf, size_t cap) {
    int cls = class_of(p, cap);
    if (cls < 0 || class_size(p, cls) != cap) {
        rl_free(buf);
        return;
    }
    for (int c = 0; c < cls && p->idle_bytes + cap > p->cap_bytes; c++)
        while (p->idle[c] && p->idle_bytes + cap > p->cap_bytes)
            rl_free(idle_pop(p, c));
    if (p->idle_bytes + cap > p->cap_bytes) {
        rl_free(buf);
        return;
    }
    memcpy(buf, &p->idle[cls], sizeof(void *));
    p->idle[cls] = buf;
    p->idle_bytes += cap;
}

void rl_bufpool_clear(struct rl_bufpool *p) {
    for (int c = 0; c < p->n_classes; c++)
        while (p->idle[c])
            rl_free(idle_pop(p, c));
}
