/* SPDX-License-Identifier: Apache-2.0 */
/* alloc.c - allocation wrappers: an allocation failure aborts, so callers never check for NULL. */
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
