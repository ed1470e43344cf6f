/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin_http.c - the admin HTTP listener (admin.listener), served by libmicrohttpd in its own
 * thread so nothing here can block the reactor:
 *
 *   GET /metrics        Prometheus text exposition (metrics.c)
 *   GET /health/live    200 while the process runs
 *   GET /health/ready   200 once recovery finished and the listeners are open, else 503
 *   GET /log/level      the current log level
 *   PUT /log/level      body "debug", "info", "warn" or "error": changes the level at once
 *
 * The HTTP thread reads only immutable configuration, the ready flag, the metric counters and the
 * snapshot (see metrics.h); it never touches topics, partitions or groups.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "metrics_int.h"

#define BODY_MAX 64

/* ---- /proc readers (HTTP thread) ------------------------------------------------------------- */
int metrics__disk_space(const char *dir, uint64_t *free_bytes, uint64_t *total_bytes) {
    struct statvfs sv;
    if (statvfs(dir, &sv) != 0) return -errno;
    *free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
    *total_bytes = (uint64_t)sv.f_blocks * sv.f_frsize;
    return 0;
}

void metrics__process(struct metrics_process *out) {
    memset(out, 0, sizeof(*out));
    long page = sysconf(_SC_PAGESIZE), hz = sysconf(_SC_CLK_TCK);
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        unsigned long long size, rss;
        if (fscanf(f, "%llu %llu", &size, &rss) == 2) out->rss_bytes = rss * (uint64_t)page;
        fclose(f);
    }
    f = fopen("/proc/self/stat", "r");
    if (f) {
        char line[1024];
        if (fgets(line, sizeof(line), f)) {
            /* fields after the ")" of comm: state is field 3; utime 14, stime 15 */
            char *p = strrchr(line, ')');
            unsigned long long ut = 0, st = 0;
            if (p &&
                sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) ==
                    2 &&
                hz > 0)
                out->cpu_seconds = (double)(ut + st) / (double)hz;
        }
        fclose(f);
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') out->open_fds++;
        closedir(d);
        out->open_fds--; /* the directory stream's own fd */
    }
}

/* ---- HTTP ------------------------------------------------------------------------------------ */
struct upload {
    char body[BODY_MAX + 1];
    size_t len;
    bool too_long;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *text) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static const char *level_names[] = {"debug", "info", "warn", "error"};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    struct broker *b = cls;
    bool is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool is_put = strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0;
    if (is_put && strcmp(url, "/log/level") == 0) {
        struct upload *u = *con_cls;
        if (!u) { /* first call: headers only */
            u = rl_calloc(1, sizeof(*u));
            *con_cls = u;
            return MHD_YES;
        }
        if (*upload_data_size) {
            size_t n = *upload_data_size;
            if (u->len + n > BODY_MAX)
                u->too_long = true;
            else {
                memcpy(u->body + u->len, upload_data, n);
                u->len += n;
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
        while (u->len && (u->body[u->len - 1] == '\n' || u->body[u->len - 1] == '\r' ||
                          u->body[u->len - 1] == ' '))
            u->len--;
        u->body[u->len] = '\0';
        enum rl_log_level lvl;
        if (u->too_long || rl_log_level_parse(u->body, &lvl) < 0)
            return reply(conn, MHD_HTTP_BAD_REQUEST, "expected one of: debug, info, warn, error\n");
        int old = __atomic_load_n(&rl_log_level_current, __ATOMIC_RELAXED);
        __atomic_store_n(&rl_log_level_current, (int)lvl, __ATOMIC_RELAXED);
        rl_log_write(RL_LOG_INFO, "admin", "log level changed from %s to %s via the admin listener",
                     old >= 0 && old < 4 ? level_names[old] : "?", level_names[lvl]);
        char msg[32];
        snprintf(msg, sizeof(msg), "%s\n", level_names[lvl]);
        return reply(conn, MHD_HTTP_OK, msg);
    }
    if (!is_get) return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (strcmp(url, "/metrics") == 0) {
        struct metrics_buf mb = {0};
        metrics__render(b, &mb);
        struct MHD_Response *r =
            MHD_create_response_from_buffer(mb.len, mb.p, MHD_RESPMEM_MUST_FREE);
        MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(url, "/health/live") == 0) return reply(conn, MHD_HTTP_OK, "live\n");
    if (strcmp(url, "/health/ready") == 0) {
        if (__atomic_load_n(&b->metrics->ready, __ATOMIC_RELAXED))
            return reply(conn, MHD_HTTP_OK, "ready\n");
        return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
    }
    if (strcmp(url, "/log/level") == 0) {
        int lvl = __atomic_load_n(&rl_log_level_current, __ATOMIC_RELAXED);
        char msg[32];
        snprintf(msg, sizeof(msg), "%s\n", lvl >= 0 && lvl < 4 ? level_names[lvl] : "?");
        return reply(conn, MHD_HTTP_OK, msg);
    }
    return reply(conn, MHD_HTTP_NOT_FOUND,
                 "not found; try /metrics, /health/live, /health/ready, /log/level\n");
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    (void)toe;
    rl_free(*con_cls);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    rl_warn("admin", "libmicrohttpd: %s", msg);
}

/* Parses "host:port" / "[v6]:port" into ss. */
static int parse_addr(const char *spec, struct sockaddr_storage *ss, socklen_t *sl) {
    char host[256];
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec) return -EINVAL;
    size_t hl = (size_t)(colon - spec);
    if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
        spec++;
        hl -= 2;
    }
    if (hl >= sizeof(host)) return -EINVAL;
    memcpy(host, spec, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1) return -EINVAL;
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 ||
        inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        if (host[0] == '\0')
            a4->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (strcmp(host, "0.0.0.0") == 0)
            a4->sin_addr.s_addr = htonl(INADDR_ANY);
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *sl = sizeof(*a4);
        return 0;
    }
    if (strcmp(host, "localhost") == 0) {
        a4->sin_family = AF_INET;
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a4->sin_port = htons((uint16_t)port);
        *sl = sizeof(*a4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *sl = sizeof(*a6);
        return 0;
    }
    return -EINVAL;
}

int broker_admin_http_start(struct broker *b) {
    const char *spec = b->cfg.admin_listener;
    if (!spec || !spec[0]) {
        rl_info("admin", "admin.listener is empty: no admin listener, no metrics");
        return 0;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_addr(spec, &ss, &sl) < 0) {
        rl_error("admin", "admin.listener '%s' is not host:port (e.g. 127.0.0.1:9644)", spec);
        return -EINVAL;
    }
    struct broker_metrics *m = metrics__create();
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    b->metrics = m; /* before the thread starts: on_request reads it */
    /* libmicrohttpd wants the logger first, so it also covers the other options' errors */
    m->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, b, MHD_OPTION_EXTERNAL_LOGGER,
                              on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&ss,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!m->mhd) {
        rl_error("admin",
                 "cannot open the admin listener on %s (address in use?): running "
                 "without metrics and health endpoints; set admin.listener to a free "
                 "address or to \"\"",
                 spec);
        b->metrics = NULL;
        metrics__destroy(m);
        return 0;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info ? info->port : -1;
    (void)sl;
    rl_info("admin", "admin listener on %.*s:%d (/metrics, /health/live, /health/ready)",
            (int)(strrchr(spec, ':') - spec), spec, m->port);
    return 0;
}

void broker_admin_http_stop(struct broker *b) {
    struct broker_metrics *m = b->metrics;
    if (!m) return;
    if (m->mhd) MHD_stop_daemon(m->mhd);
    m->mhd = NULL;
    b->metrics = NULL;
    metrics__destroy(m);
}

int broker_admin_http_port(const struct broker *b) {
    return b->metrics ? b->metrics->port : -1;
}
