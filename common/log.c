/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - one line per event on stderr, plain or JSON lines. Each line is formatted into a stack
 * buffer and written with a single write(2), so lines from several threads never interleave.
 */
#include "ringlet/common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int rl_log_level_current = RL_LOG_INFO;
static enum rl_log_format log_format = RL_LOG_PLAIN;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

void rl_log_set_level(enum rl_log_level level) {
    __atomic_store_n(&rl_log_level_current, (int)level, __ATOMIC_RELAXED);
}

void rl_log_set_format(enum rl_log_format format) {
    log_format = format;
}

int rl_log_level_parse(const char *name, enum rl_log_level *out) {
    static const char *const lower[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < RL_ARRAY_SIZE(lower); i++) {
        if (strcmp(name, lower[i]) == 0) {
            *out = (enum rl_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* Appends s to buf as the inside of a JSON string. Returns the new length. */
static size_t json_escape(char *buf, size_t len, size_t cap, const char *s) {
    for (; *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        } else if (c < 0x20) {
            len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
        } else {
            buf[len++] = (char)c;
        }
    }
    return len;
}

void rl_log_write(enum rl_log_level level, const char *module, const char *fmt, ...) {
    char msg[2048], line[4096 + 64];
    struct timespec ts;
    struct tm tm;
    char when[32];
    va_list ap;
    size_t len;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    if ((unsigned)level > RL_LOG_ERROR) level = RL_LOG_ERROR;

    if (log_format == RL_LOG_JSON) {
        len =
            (size_t)snprintf(line, sizeof(line),
                             "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"module\":\"%s\",\"msg\":\"",
                             when, ts.tv_nsec / 1000000, level_names[level], module);
        len = json_escape(line, len, sizeof(line) - 3, msg);
        line[len++] = '"';
        line[len++] = '}';
        line[len++] = '\n';
    } else {
        int n = snprintf(line, sizeof(line), "%s.%03ldZ %-5s %s: %s\n", when, ts.tv_nsec / 1000000,
                         level_names[level], module, msg);
        len = n < 0 ? 0 : RL_MIN((size_t)n, sizeof(line) - 1);
        line[len - 1] = '\n';
    }
    ssize_t rc = write(STDERR_FILENO, line, len);
    (void)rc;
}

void rl_bug(const char *file, int line, const char *expr) {
    rl_log_write(RL_LOG_ERROR, "bug", "%s:%d: BUG_ON(%s) -- aborting", file, line, expr);
    abort();
}

const char *rl_strerror(int neg_errno) {
    return strerror(neg_errno < 0 ? -neg_errno : neg_errno);
}
