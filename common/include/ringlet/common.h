/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common.h - the few basics every ringlet module needs: logging, allocation wrappers that abort
 * on exhaustion, clocks, hashing (xxHash) and always-on assertions. Nothing Kafka-specific.
 */
#ifndef RINGLET_COMMON_H
#define RINGLET_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- logging -------------------------------------------------------------------------------
 * rl_log(level, module, fmt, ...) tests the level before formatting anything. One line per event,
 * plain text ("2026-11-27T00:00:00.000Z INFO  storage: ...") or JSON lines. */
enum rl_log_level { RL_LOG_DEBUG = 0, RL_LOG_INFO = 1, RL_LOG_WARN = 2, RL_LOG_ERROR = 3 };
enum rl_log_format { RL_LOG_PLAIN = 0, RL_LOG_JSON = 1 };

/* Read and written with relaxed atomics: the admin listener's thread may change it at runtime. */
extern int rl_log_level_current;

void rl_log_set_level(enum rl_log_level level);
void rl_log_set_format(enum rl_log_format format);
/* Parses "debug", "info", "warn", "error"; returns -EINVAL on anything else. */
int rl_log_level_parse(const char *name, enum rl_log_level *out);
void rl_log_write(enum rl_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define rl_log(level, module, ...)                                                                 \
    do {                                                                                           \
        if ((int)(level) >= __atomic_load_n(&rl_log_level_current, __ATOMIC_RELAXED))              \
            rl_log_write((level), (module), __VA_ARGS__);                                          \
    } while (0)
#define rl_debug(module, ...) rl_log(RL_LOG_DEBUG, module, __VA_ARGS__)
#define rl_info(module, ...)  rl_log(RL_LOG_INFO, module, __VA_ARGS__)
#define rl_warn(module, ...)  rl_log(RL_LOG_WARN, module, __VA_ARGS__)
#define rl_error(module, ...) rl_log(RL_LOG_ERROR, module, __VA_ARGS__)

/* ---- allocation: failure aborts the process (a broker cannot continue without memory) ------- */
void *rl_malloc(size_t size);
void *rl_calloc(size_t n, size_t size);
void *rl_realloc(void *ptr, size_t size);
/* size bytes at an address that is a multiple of align (a power of two >= sizeof(void *));
 * freed with rl_free. */
void *rl_aligned_alloc(size_t align, size_t size);
char *rl_strdup(const char *s);
char *rl_strndup(const char *s, size_t n);
void rl_free(void *ptr);

/* ---- buffer pool: idle buffers by size class, kept for reuse -------------------------------
 * For large buffers that a hot path frees and needs again (request frames, direct I/O staging):
 * a fresh one costs page faults and zeroing on first touch, an idle one nothing. Classes run
 * from 1 << min_shift to 1 << max_shift with `steps` sizes per doubling (1, 2 or 4: 64 KiB,
 * 80 KiB, 96 KiB, 112 KiB, 128 KiB, ... with 4). Not thread-safe. */
#define RL_BUFPOOL_MAX_CLASSES 64
struct rl_bufpool {
    void *idle[RL_BUFPOOL_MAX_CLASSES]; /* per class, a list linked through the first bytes */
    int min_shift, steps, n_classes;
    size_t align;      /* buffer alignment (0: rl_malloc's) */
    size_t cap_bytes;  /* idle bytes kept at most */
    size_t idle_bytes; /* idle bytes now */
    uint64_t allocs;   /* fresh buffers allocated by rl_bufpool_get */
};
void rl_bufpool_init(struct rl_bufpool *p, int min_shift, int max_shift, int steps, size_t align,
                     size_t cap_bytes);
/* A buffer of at least len bytes (len <= 1 << max_shift, else NULL): the smallest idle one that
 * is large enough, else a fresh one of len's class. *cap gets its size. */
void *rl_bufpool_get(struct rl_bufpool *p, size_t len, size_t *cap);
/* Gives back a buffer of cap bytes. Kept if cap is a class size and the idle bytes stay within
 * cap_bytes, after freeing smaller idle buffers if that makes room (a larger buffer serves any
 * request); freed otherwise, so buffers from elsewhere (rl_malloc / rl_aligned_alloc with the
 * pool's alignment) may be given too. */
void rl_bufpool_put(struct rl_bufpool *p, void *buf, size_t cap);
/* Frees every idle buffer. */
void rl_bufpool_clear(struct rl_bufpool *p);

/* ---- assertions ----------------------------------------------------------------------------
 * RL_BUG_ON(cond): always on; going on would corrupt data, so abort with file:line. */
void rl_bug(const char *file, int line, const char *expr) __attribute__((noreturn));
#define RL_BUG_ON(cond)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(!!(cond), 0)) rl_bug(__FILE__, __LINE__, #cond);                      \
    } while (0)

#define RL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define RL_MIN(a, b)     ((a) < (b) ? (a) : (b))
#define RL_MAX(a, b)     ((a) > (b) ? (a) : (b))

/* ---- clocks --------------------------------------------------------------------------------- */
int64_t rl_now_ms(void);  /* wall clock, ms since the Unix epoch (record timestamps) */
int64_t rl_mono_ms(void); /* monotonic ms (timeouts) */
int64_t rl_mono_ns(void); /* monotonic ns (latency measurement) */

/* ---- hashing (xxHash XXH3 64-bit) ----------------------------------------------------------- */
uint64_t rl_hash64(const void *data, size_t len, uint64_t seed);

/* ---- errors --------------------------------------------------------------------------------
 * Functions return 0 or a negative errno. rl_strerror(-err) is strerror for those. */
const char *rl_strerror(int neg_errno);

#endif /* RINGLET_COMMON_H */
