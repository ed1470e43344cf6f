/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_metrics.c - `ringlet cluster metrics`: fetches ringletd's Prometheus exposition from
 * the admin listener with a small HTTP/1.1 GET over a plain socket, parses the text format
 * (cli_prom_parse) and prints a readable summary (uptime, memory, connections, records per
 * topic, latency quantiles per API estimated from the histogram buckets, disk, groups' lag).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ringlet/common.h"

#define ADMIN_DEFAULT_PORT 9644
#define HTTP_MAX_BYTES     (64u << 20) /* a larger exposition is not ringletd's */

/* ---- Prometheus text format ------------------------------------------------------------------ */

static bool name_start(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || ch == ':';
}

static bool name_char(char ch) {
    return name_start(ch) || (ch >= '0' && ch <= '9');
}

static void skip_blank(const char **p, const char *end) {
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
}

static void sample_free(struct cli_prom_sample *s) {
    rl_free(s->name);
    for (int i = 0; i < s->nlabels; i++) {
        rl_free(s->lname[i]);
        rl_free(s->lval[i]);
    }
    rl_free(s->lname);
    rl_free(s->lval);
    memset(s, 0, sizeof(*s));
}

/* Parses one sample line [p, end) into s. Returns 0 or -EINVAL with the reason in why. */
static int parse_line(const char *p, const char *end, struct cli_prom_sample *s, const char **why) {
    int rc = -EINVAL;
    const char *q = p;
    memset(s, 0, sizeof(*s));
    if (q >= end || !name_start(*q)) {
        *why = "bad metric name";
        goto out;
    }
    while (q < end && name_char(*q))
        q++;
    s->name = rl_strndup(p, (size_t)(q - p));
    skip_blank(&q, end);
    if (q < end && *q == '{') {
        q++;
        for (;;) {
            skip_blank(&q, end);
            if (q < end && *q == '}') {
                q++;
                break;
            }
            const char *ln = q;
            if (q >= end || !name_start(*q)) {
                *why = "bad label name";
                goto out;
            }
            while (q < end && name_char(*q))
                q++;
            size_t lnlen = (size_t)(q - ln);
            skip_blank(&q, end);
            if (q >= end || *q != '=') {
                *why = "'=' expected after a label name";
                goto out;
            }
            q++;
            skip_blank(&q, end);
            if (q >= end || *q != '"') {
                *why = "'\"' expected to open a label value";
                goto out;
            }
            q++;
            char *val = rl_malloc((size_t)(end - q) + 1);
            size_t vl = 0;
            bool closed = false;
            while (q < end) {
                char ch = *q++;
                if (ch == '"') {
                    closed = true;
                    break;
                }
                if (ch == '\\' && q < end) {
                    char e = *q++;
                    ch = e == 'n' ? '\n' : e; /* \\ and \" stand for themselves */
                }
                val[vl++] = ch;
            }
            val[vl] = '\0';
            if (!closed) {
                rl_free(val);
                *why = "unterminated label value";
                goto out;
            }
            s->lname = rl_realloc(s->lname, sizeof(char *) * (size_t)(s->nlabels + 1));
            s->lval = rl_realloc(s->lval, sizeof(char *) * (size_t)(s->nlabels + 1));
            s->lname[s->nlabels] = rl_strndup(ln, lnlen);
            s->lval[s->nlabels] = val;
            s->nlabels++;
            skip_blank(&q, end);
            if (q < end && *q == ',') {
                q++;
                continue;
            }
            if (q < end && *q == '}') {
                q++;
                break;
            }
            *why = "',' or '}' expected after a label";
            goto out;
        }
    }
    skip_blank(&q, end);
    const char *vs = q;
    while (q < end && *q != ' ' && *q != '\t')
        q++;
    if (q == vs) {
        *why = "value missing";
        goto out;
    }
    char num[64];
    size_t nl = (size_t)(q - vs);
    if (nl >= sizeof(num)) {
        *why = "value too long";
        goto out;
    }
    memcpy(num, vs, nl);
    num[nl] = '\0';
    char *e;
    errno = 0;
    s->value = strtod(num, &e);
    if (*e != '\0') {
        *why = "bad value";
        goto out;
    }
    skip_blank(&q, end);
    if (q < end) { /* optional timestamp (ms): must be an integer */
        const char *ts = q;
        if (*q == '-') q++;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
        skip_blank(&q, end);
        if (q != end || ts == q) {
            *why = "garbage after the value";
            goto out;
        }
    }
    rc = 0;
out:
    if (rc) sample_free(s);
    return rc;
}

int cli_prom_parse(const char *text, size_t len, struct cli_prom_set *out, char *errbuf,
                   size_t errlen) {
    struct cli_prom_set set = {0};
    const char *p = text, *end = text + len;
    int lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        const char *a = p, *b = le;
        if (b > a && b[-1] == '\r') b--;
        skip_blank(&a, b);
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        p = nl ? nl + 1 : end;
        if (a == b || *a == '#') continue; /* blank, HELP, TYPE or a comment */
        struct cli_prom_sample s;
        const char *why = "";
        if (parse_line(a, b, &s, &why) != 0) {
            snprintf(errbuf, errlen, "line %d: %s: %.*s", lineno, why,
                     (int)(b - a > 80 ? 80 : b - a), a);
            cli_prom_set_free(&set);
            return -EINVAL;
        }
        if (set.n == set.cap) {
            set.cap = set.cap ? set.cap * 2 : 64;
            set.s = rl_realloc(set.s, sizeof(*set.s) * (size_t)set.cap);
        }
        set.s[set.n++] = s;
    }
    *out = set;
    return 0;
}

void cli_prom_set_free(struct cli_prom_set *set) {
    for (int i = 0; i < set->n; i++)
        sample_free(&set->s[i]);
    rl_free(set->s);
    memset(set, 0, sizeof(*set));
}

const char *cli_prom_label(const struct cli_prom_sample *s, const char *name) {
    for (int i = 0; i < s->nlabels; i++)
        if (!strcmp(s->lname[i], name)) return s->lval[i];
    return NULL;
}

/* The same estimate as Prometheus's histogram_quantile(): find the bucket the rank q * count
 * falls in and interpolate linearly inside it (the first bucket starts at 0; a rank in the
 * +Inf bucket gives the largest finite bound). */
double cli_prom_quantile(double q, const double *le, const double *cum, int n) {
    if (n < 1 || isnan(q) || q < 0 || q > 1 || !isinf(le[n - 1])) return NAN;
    double total = cum[n - 1];
    if (!(total > 0)) return NAN;
    double rank = q * total;
    int i = 0;
    while (i < n - 1 && cum[i] < rank)
        i++;
    if (isinf(le[i])) return n >= 2 ? le[n - 2] : NAN;
    double lo = i == 0 ? 0 : le[i - 1];
    double below = i == 0 ? 0 : cum[i - 1];
    if (i == 0 && le[0] <= 0) return le[0];
    double inb = cum[i] - below;
    if (inb <= 0) return le[i];
    return lo + (le[i] - lo) * ((rank - below) / inb);
}

/* ---- HTTP ------------------------------------------------------------------------------------ */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline. Returns 0 or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, int64_t deadline) {
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) return -ETIMEDOUT;
        struct pollfd pfd = {.fd = fd, .events = events};
        int r = poll(&pfd, 1, (int)left);
        if (r > 0) return 0;
        if (r == 0) return -ETIMEDOUT;
        if (errno != EINTR) return -errno;
    }
}

static int connect_to(const char *host, const char *port, int64_t deadline, int *fdp, char *err,
                      size_t errlen) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gr = getaddrinfo(host, port, &hints, &ai);
    if (gr != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(gr));
        return -EHOSTUNREACH;
    }
    int rc = -ECONNREFUSED;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
            rc = wait_fd(fd, POLLOUT, deadline);
            if (rc == 0) {
                int soerr = 0;
                socklen_t sl = sizeof(soerr);
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                if (soerr == 0) {
                    *fdp = fd;
                    freeaddrinfo(ai);
                    return 0;
                }
                rc = -soerr;
            }
        } else {
            rc = -errno;
        }
        close(fd);
    }
    freeaddrinfo(ai);
    snprintf(err, errlen, "cannot connect to %s:%s: %s", host, port, rl_strerror(rc));
    return rc;
}

/* Decodes a chunked body in place. Returns the decoded length or -EPROTO. */
static int64_t dechunk(char *b, size_t len) {
    size_t r = 0, w = 0;
    for (;;) {
        char *e;
        if (r >= len) return -EPROTO;
        unsigned long long n = strtoull(b + r, &e, 16);
        if (e == b + r) return -EPROTO;
        char *crlf = memmem(e, len - (size_t)(e - b), "\r\n", 2);
        if (!crlf) return -EPROTO;
        r = (size_t)(crlf - b) + 2;
        if (n == 0) return (int64_t)w;
        if (n > len - r) return -EPROTO;
        memmove(b + w, b + r, n);
        w += n;
        r += n;
        if (r + 2 > len || b[r] != '\r' || b[r + 1] != '\n') return -EPROTO;
        r += 2;
    }
}

/* GET http://host:port/metrics. On success *body (heap, NUL-terminated; caller frees) and
 * *blen. Returns 0, or a negative errno with the reason in err. */
static int http_get_metrics(const char *host, const char *port, int timeout_ms, char **body,
                            size_t *blen, char *err, size_t errlen) {
    int64_t deadline = now_ms() + timeout_ms;
    int fd = -1, rc;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    rc = connect_to(host, port, deadline, &fd, err, errlen);
    if (rc) goto out;
    bool v6 = strchr(host, ':') != NULL;
    char req[600];
    int rl = snprintf(req, sizeof(req),
                      "GET /metrics HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: ringlet-cli\r\n"
                      "Accept: text/plain\r\nConnection: close\r\n\r\n",
                      v6 ? "[" : "", host, v6 ? "]" : "", port);
    for (int off = 0; off < rl;) {
        ssize_t w = send(fd, req + off, (size_t)(rl - off), MSG_NOSIGNAL);
        if (w > 0) {
            off += (int)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if ((rc = wait_fd(fd, POLLOUT, deadline))) goto io_err;
        } else {
            rc = -errno;
            goto io_err;
        }
    }
    for (;;) {
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 131072;
            buf = rl_realloc(buf, cap + 1);
        }
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r > 0) {
            len += (size_t)r;
            if (len > HTTP_MAX_BYTES) {
                rc = -EFBIG;
                goto io_err;
            }
        } else if (r == 0) {
            break;
        } else if (errno == EAGAIN || errno == EINTR) {
            if ((rc = wait_fd(fd, POLLIN, deadline))) goto io_err;
        } else {
            rc = -errno;
            goto io_err;
        }
    }
    buf[len] = '\0';
    char *hend = strstr(buf, "\r\n\r\n");
    int status = 0;
    if (!hend || sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1) {
        rc = -EPROTO;
        snprintf(err, errlen, "http://%s:%s/metrics: not an HTTP response", host, port);
        goto out;
    }
    if (status != 200) {
        rc = -EPROTO;
        char *eol = strstr(buf, "\r\n");
        snprintf(err, errlen, "http://%s:%s/metrics answered '%.*s'", host, port,
                 (int)(eol - buf > 100 ? 100 : eol - buf), buf);
        goto out;
    }
    /* Headers we act on: Transfer-Encoding: chunked; Content-Length (else: until close). */
    bool chunked = false;
    int64_t clen = -1;
    for (char *h = strstr(buf, "\r\n") + 2; h < hend;) {
        char *eol = strstr(h, "\r\n");
        if (!strncasecmp(h, "transfer-encoding:", 18) && memmem(h, (size_t)(eol - h), "chunked", 7))
            chunked = true;
        if (!strncasecmp(h, "content-length:", 15)) clen = strtoll(h + 15, NULL, 10);
        h = eol + 2;
    }
    size_t off = (size_t)(hend + 4 - buf);
    size_t bl = len - off;
    memmove(buf, buf + off, bl);
    if (chunked) {
        int64_t d = dechunk(buf, bl);
        if (d < 0) {
            rc = -EPROTO;
            snprintf(err, errlen, "http://%s:%s/metrics: bad chunked encoding", host, port);
            goto out;
        }
        bl = (size_t)d;
    } else if (clen >= 0) {
        if ((size_t)clen > bl) {
            rc = -EPROTO;
            snprintf(err, errlen, "http://%s:%s/metrics: body cut short (%zu of %" PRId64 " bytes)",
                     host, port, bl, clen);
            goto out;
        }
        bl = (size_t)clen;
    }
    buf[bl] = '\0';
    *body = buf;
    *blen = bl;
    buf = NULL;
    rc = 0;
    goto out;
io_err:
    snprintf(err, errlen, "http://%s:%s/metrics: %s", host, port,
             rc == -ETIMEDOUT ? "timed out" : rl_strerror(rc));
out:
    if (fd >= 0) close(fd);
    rl_free(buf);
    return rc;
}

/* ---- the summary ----------------------------------------------------------------------------- */

struct topic_row {
    const char *topic;
    double in, out, in0, out0;
};
struct api_row {
    const char *api;
    double count;
    int nb;
    double *le, *cum;
};
struct group_row {
    const char *group;
    const char *state;
    double members, lag_records, max_lag_s;
};
struct summary {
    double uptime, rss, conns, offline, disk_free, disk_total, alert;
    const char *version, *commit;
    struct topic_row *topics;
    int nt;
    struct api_row *apis;
    int na;
    struct group_row *groups;
    int ng;
};

static void summary_free(struct summary *s) {
    for (int i = 0; i < s->na; i++) {
        rl_free(s->apis[i].le);
        rl_free(s->apis[i].cum);
    }
    rl_free(s->topics);
    rl_free(s->apis);
    rl_free(s->groups);
    memset(s, 0, sizeof(*s));
}

static struct topic_row *topic_get(struct summary *s, const char *t) {
    for (int i = 0; i < s->nt; i++)
        if (!strcmp(s->topics[i].topic, t)) return &s->topics[i];
    s->topics = rl_realloc(s->topics, sizeof(*s->topics) * (size_t)(s->nt + 1));
    s->topics[s->nt] = (struct topic_row){t, NAN, NAN, NAN, NAN};
    return &s->topics[s->nt++];
}

static struct api_row *api_get(struct summary *s, const char *a) {
    for (int i = 0; i < s->na; i++)
        if (!strcmp(s->apis[i].api, a)) return &s->apis[i];
    s->apis = rl_realloc(s->apis, sizeof(*s->apis) * (size_t)(s->na + 1));
    s->apis[s->na] = (struct api_row){a, NAN, 0, NULL, NULL};
    return &s->apis[s->na++];
}

static struct group_row *group_get(struct summary *s, const char *g) {
    for (int i = 0; i < s->ng; i++)
        if (!strcmp(s->groups[i].group, g)) return &s->groups[i];
    s->groups = rl_realloc(s->groups, sizeof(*s->groups) * (size_t)(s->ng + 1));
    s->groups[s->ng] = (struct group_row){g, NULL, NAN, NAN, NAN};
    return &s->groups[s->ng++];
}

static int cmp_bucket(const void *a, const void *b) {
    const double *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Builds the summary from a parsed exposition (strings point into set). */
static void summarize(const struct cli_prom_set *set, struct summary *s) {
    memset(s, 0, sizeof(*s));
    s->uptime = s->rss = s->conns = s->offline = NAN;
    s->disk_free = s->disk_total = s->alert = NAN;
    for (int i = 0; i < set->n; i++) {
        const struct cli_prom_sample *m = &set->s[i];
        const char *n = m->name;
        double v = m->value;
        const char *t = cli_prom_label(m, "topic");
        const char *g = cli_prom_label(m, "group");
        const char *api = cli_prom_label(m, "api");
        if (!strcmp(n, "ringlet_uptime_seconds"))
            s->uptime = v;
        else if (!strcmp(n, "ringlet_process_resident_memory_bytes"))
            s->rss = v;
        else if (!strcmp(n, "ringlet_connections_open"))
            s->conns = v;
        else if (!strcmp(n, "ringlet_storage_partitions_offline"))
            s->offline = v;
        else if (!strcmp(n, "ringlet_storage_disk_free_bytes"))
            s->disk_free = v;
        else if (!strcmp(n, "ringlet_storage_disk_total_bytes"))
            s->disk_total = v;
        else if (!strcmp(n, "ringlet_storage_disk_alert_level"))
            s->alert = v;
        else if (!strcmp(n, "ringlet_build_info")) {
            s->version = cli_prom_label(m, "version");
            s->commit = cli_prom_label(m, "commit");
        } else if (t && !strcmp(n, "ringlet_topic_records_in_total"))
            topic_get(s, t)->in = v;
        else if (t && !strcmp(n, "ringlet_topic_records_out_total"))
            topic_get(s, t)->out = v;
        else if (api && !strcmp(n, "ringlet_api_request_duration_seconds_count"))
            api_get(s, api)->count = v;
        else if (api && !strcmp(n, "ringlet_api_request_duration_seconds_bucket")) {
            const char *le = cli_prom_label(m, "le");
            char *e;
            double bound = le ? strtod(le, &e) : NAN;
            if (!le || *e != '\0' || isnan(bound)) continue;
            struct api_row *a = api_get(s, api);
            a->le = rl_realloc(a->le, sizeof(double) * (size_t)(a->nb + 1));
            a->cum = rl_realloc(a->cum, sizeof(double) * (size_t)(a->nb + 1));
            a->le[a->nb] = bound;
            a->cum[a->nb] = v;
            a->nb++;
        } else if (g && !strcmp(n, "ringlet_group_state")) {
            if (v == 1)
                group_get(s, g)->state = cli_prom_label(m, "state");
            else
                group_get(s, g);
        } else if (g && !strcmp(n, "ringlet_group_members"))
            group_get(s, g)->members = v;
        else if (g && !strcmp(n, "ringlet_group_total_lag_records"))
            group_get(s, g)->lag_records = v;
        else if (g && !strcmp(n, "ringlet_group_max_lag_seconds"))
            group_get(s, g)->max_lag_s = v;
    }
    /* Buckets may come in any order: sort each API's by bound. */
    for (int i = 0; i < s->na; i++) {
        struct api_row *a = &s->apis[i];
        double *pairs = rl_malloc(sizeof(double) * 2 * (size_t)(a->nb ? a->nb : 1));
        for (int k = 0; k < a->nb; k++) {
            pairs[2 * k] = a->le[k];
            pairs[2 * k + 1] = a->cum[k];
        }
        qsort(pairs, (size_t)a->nb, sizeof(double) * 2, cmp_bucket);
        for (int k = 0; k < a->nb; k++) {
            a->le[k] = pairs[2 * k];
            a->cum[k] = pairs[2 * k + 1];
        }
        rl_free(pairs);
    }
}

static double api_quantile(const struct api_row *a, double q) {
    return a->nb ? cli_prom_quantile(q, a->le, a->cum, a->nb) : NAN;
}

/* A number in JSON (null when not finite). out_json has integers only, so this writes the
 * separator the same way out.c does (the writer's state is public in out.h). */
static void json_num(struct out_json *j, double v) {
    if (!isfinite(v)) {
        out_json_null(j);
        return;
    }
    if (v == floor(v) && fabs(v) < 9e15) {
        out_json_int(j, (int64_t)v);
        return;
    }
    if (j->after_key) {
        j->after_key = false;
    } else {
        if (!j->first[j->depth]) fputc(',', j->f);
        j->first[j->depth] = false;
    }
    fprintf(j->f, "%.9g", v);
}

static void fmt_num(char *buf, size_t len, double v, const char *fmt) {
    if (isfinite(v))
        snprintf(buf, len, fmt, v);
    else
        snprintf(buf, len, "-");
}

static void fmt_bytes(char *buf, size_t len, double v) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    if (!isfinite(v)) {
        snprintf(buf, len, "-");
        return;
    }
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void fmt_duration(char *buf, size_t len, double v) {
    if (!isfinite(v) || v < 0) {
        snprintf(buf, len, "-");
        return;
    }
    int64_t s = (int64_t)v;
    if (s >= 86400)
        snprintf(buf, len, "%" PRId64 "d %" PRId64 "h %" PRId64 "m", s / 86400, s / 3600 % 24,
                 s / 60 % 60);
    else if (s >= 3600)
        snprintf(buf, len, "%" PRId64 "h %" PRId64 "m %" PRId64 "s", s / 3600, s / 60 % 60, s % 60);
    else if (s >= 60)
        snprintf(buf, len, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
    else
        snprintf(buf, len, "%.1fs", v);
}

static const char *alert_name(double level) {
    if (level == 0) return "ok";
    if (level == 1) return "low";
    if (level == 2) return "critical";
    return "unknown";
}

static double rate(double now, double before, double secs) {
    return isfinite(now) && isfinite(before) && secs > 0 ? (now - before) / secs : NAN;
}

static void print_json(struct cli *c, const char *admin, const struct summary *s, int interval_ms,
                       double secs) {
    struct out_json j;
    out_json_init(&j, c->out);
    out_json_obj_begin(&j);
    out_json_key(&j, "admin");
    out_json_str(&j, admin);
    out_json_key(&j, "version");
    out_json_str(&j, s->version);
    out_json_key(&j, "commit");
    out_json_str(&j, s->commit);
    out_json_key(&j, "uptime_seconds");
    json_num(&j, s->uptime);
    out_json_key(&j, "resident_memory_bytes");
    json_num(&j, s->rss);
    out_json_key(&j, "connections_open");
    json_num(&j, s->conns);
    out_json_key(&j, "partitions_offline");
    json_num(&j, s->offline);
    out_json_key(&j, "disk");
    out_json_obj_begin(&j);
    out_json_key(&j, "free_bytes");
    json_num(&j, s->disk_free);
    out_json_key(&j, "total_bytes");
    json_num(&j, s->disk_total);
    out_json_key(&j, "alert_level");
    json_num(&j, s->alert);
    out_json_key(&j, "alert");
    if (isfinite(s->alert))
        out_json_str(&j, alert_name(s->alert));
    else
        out_json_null(&j);
    out_json_obj_end(&j);
    out_json_key(&j, "interval_ms");
    if (interval_ms > 0)
        out_json_int(&j, interval_ms);
    else
        out_json_null(&j);
    out_json_key(&j, "sample_seconds"); /* measured time between the two scrapes */
    json_num(&j, interval_ms > 0 ? secs : NAN);
    out_json_key(&j, "topics");
    out_json_arr_begin(&j);
    for (int i = 0; i < s->nt; i++) {
        const struct topic_row *t = &s->topics[i];
        out_json_obj_begin(&j);
        out_json_key(&j, "topic");
        out_json_str(&j, t->topic);
        out_json_key(&j, "records_in");
        json_num(&j, t->in);
        out_json_key(&j, "records_out");
        json_num(&j, t->out);
        out_json_key(&j, "records_in_per_second");
        json_num(&j, rate(t->in, t->in0, secs));
        out_json_key(&j, "records_out_per_second");
        json_num(&j, rate(t->out, t->out0, secs));
        out_json_obj_end(&j);
    }
    out_json_arr_end(&j);
    out_json_key(&j, "apis");
    out_json_arr_begin(&j);
    for (int i = 0; i < s->na; i++) {
        const struct api_row *a = &s->apis[i];
        if (!(a->count > 0)) continue;
        out_json_obj_begin(&j);
        out_json_key(&j, "api");
        out_json_str(&j, a->api);
        out_json_key(&j, "requests");
        json_num(&j, a->count);
        out_json_key(&j, "p50_seconds");
        json_num(&j, api_quantile(a, 0.5));
        out_json_key(&j, "p99_seconds");
        json_num(&j, api_quantile(a, 0.99));
        out_json_obj_end(&j);
    }
    out_json_arr_end(&j);
    out_json_key(&j, "groups");
    out_json_arr_begin(&j);
    for (int i = 0; i < s->ng; i++) {
        const struct group_row *g = &s->groups[i];
        out_json_obj_begin(&j);
        out_json_key(&j, "group");
        out_json_str(&j, g->group);
        out_json_key(&j, "state");
        out_json_str(&j, g->state);
        out_json_key(&j, "members");
        json_num(&j, g->members);
        out_json_key(&j, "total_lag_records");
        json_num(&j, g->lag_records);
        out_json_key(&j, "max_lag_seconds");
        json_num(&j, g->max_lag_s);
        out_json_obj_end(&j);
    }
    out_json_list_end(&j);
}

static void print_table(struct cli *c, const char *admin, const struct summary *s, int interval_ms,
                        double secs) {
    FILE *f = c->out;
    char a[64], b[64], d[64], e[64], g[64];
    fprintf(f, "Admin endpoint:      http://%s/metrics\n", admin);
    if (s->version)
        fprintf(f, "Version:             %s (commit %s)\n", s->version,
                s->commit ? s->commit : "-");
    fmt_duration(a, sizeof(a), s->uptime);
    fprintf(f, "Uptime:              %s\n", a);
    fmt_bytes(a, sizeof(a), s->rss);
    fprintf(f, "Resident memory:     %s\n", a);
    fmt_num(a, sizeof(a), s->conns, "%.0f");
    fprintf(f, "Connections open:    %s\n", a);
    fmt_num(a, sizeof(a), s->offline, "%.0f");
    fprintf(f, "Partitions offline:  %s\n", a);
    fmt_bytes(a, sizeof(a), s->disk_free);
    fmt_bytes(b, sizeof(b), s->disk_total);
    if (isfinite(s->disk_free) && s->disk_total > 0)
        snprintf(d, sizeof(d), " (%.1f%% free)", 100.0 * s->disk_free / s->disk_total);
    else
        d[0] = '\0';
    fmt_num(e, sizeof(e), s->alert, "%.0f");
    fprintf(f, "Disk free:           %s of %s%s, alert level %s (%s)\n", a, b, d, e,
            isfinite(s->alert) ? alert_name(s->alert) : "-");

    fputc('\n', f);
    bool rates = interval_ms > 0;
    const char *th[] = {"TOPIC", "RECORDS_IN", "RECORDS_OUT", "IN/S", "OUT/S"};
    struct out_table t;
    out_table_init(&t, rates ? 5 : 3, th);
    for (int k = 1; k < (rates ? 5 : 3); k++)
        out_table_align_right(&t, k);
    for (int i = 0; i < s->nt; i++) {
        const struct topic_row *r = &s->topics[i];
        fmt_num(a, sizeof(a), r->in, "%.0f");
        fmt_num(b, sizeof(b), r->out, "%.0f");
        fmt_num(d, sizeof(d), rate(r->in, r->in0, secs), "%.1f");
        fmt_num(e, sizeof(e), rate(r->out, r->out0, secs), "%.1f");
        const char *row[] = {r->topic, a, b, d, e};
        out_table_add(&t, row);
    }
    if (s->nt)
        out_table_print(f, &t);
    else
        fprintf(f, "(no topics)\n");
    out_table_free(&t);
    if (rates) fprintf(f, "Rates over %.3f s.\n", secs);

    fputc('\n', f);
    const char *ah[] = {"API", "REQUESTS", "P50_MS", "P99_MS"};
    out_table_init(&t, 4, ah);
    for (int k = 1; k < 4; k++)
        out_table_align_right(&t, k);
    int na = 0;
    for (int i = 0; i < s->na; i++) {
        const struct api_row *r = &s->apis[i];
        if (!(r->count > 0)) continue;
        fmt_num(a, sizeof(a), r->count, "%.0f");
        fmt_num(b, sizeof(b), api_quantile(r, 0.5) * 1000, "%.3f");
        fmt_num(d, sizeof(d), api_quantile(r, 0.99) * 1000, "%.3f");
        const char *row[] = {r->api, a, b, d};
        out_table_add(&t, row);
        na++;
    }
    if (na)
        out_table_print(f, &t);
    else
        fprintf(f, "(no requests yet)\n");
    out_table_free(&t);

    fputc('\n', f);
    const char *gh[] = {"GROUP", "STATE", "MEMBERS", "LAG_RECORDS", "MAX_LAG_S"};
    out_table_init(&t, 5, gh);
    for (int k = 2; k < 5; k++)
        out_table_align_right(&t, k);
    for (int i = 0; i < s->ng; i++) {
        const struct group_row *r = &s->groups[i];
        fmt_num(a, sizeof(a), r->members, "%.0f");
        fmt_num(b, sizeof(b), r->lag_records, "%.0f");
        fmt_num(g, sizeof(g), r->max_lag_s, "%.1f");
        const char *row[] = {r->group, r->state, a, b, g};
        out_table_add(&t, row);
    }
    if (s->ng)
        out_table_print(f, &t);
    else
        fprintf(f, "(no consumer groups)\n");
    out_table_free(&t);
}

/* ---- command --------------------------------------------------------------------------------- */

enum { OPT_ADMIN = 1, OPT_INTERVAL };

struct metrics_opts {
    const char *admin;
    int interval_ms;
};

static const struct cli_opt metrics_opts[] = {
    {"admin", 0, true, OPT_ADMIN}, {"interval", 0, true, OPT_INTERVAL}, {NULL, 0, false, 0}};

static int metrics_opt(struct cli *c, void *ctx, int id, const char *arg) {
    struct metrics_opts *o = ctx;
    int64_t v;
    char err[128];
    if (id == OPT_ADMIN) {
        o->admin = arg;
        return 0;
    }
    if (cli_parse_int(arg, 1, 3600000, &v, err, sizeof(err)) != 0)
        return cli_usage(c, "--interval: %s", err);
    o->interval_ms = (int)v;
    return 0;
}

/* Splits "host:port", "[v6]:port" or "host" (port 9644) into host and port. Returns 0 or
 * -EINVAL. */
static int split_hostport(const char *s, char *host, size_t hl, char *port, size_t pl) {
    const char *colon;
    size_t n;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb) return -EINVAL;
        n = (size_t)(rb - s - 1);
        if (n == 0 || n >= hl) return -EINVAL;
        memcpy(host, s + 1, n);
        host[n] = '\0';
        if (rb[1] == '\0') {
            snprintf(port, pl, "%d", ADMIN_DEFAULT_PORT);
            return 0;
        }
        if (rb[1] != ':') return -EINVAL;
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon && strchr(s, ':') != colon) return -EINVAL; /* bare IPv6: use [..] */
        n = colon ? (size_t)(colon - s) : strlen(s);
        if (n == 0 || n >= hl) return -EINVAL;
        memcpy(host, s, n);
        host[n] = '\0';
        if (!colon) {
            snprintf(port, pl, "%d", ADMIN_DEFAULT_PORT);
            return 0;
        }
    }
    char *e;
    long p = strtol(colon + 1, &e, 10);
    if (colon[1] == '\0' || *e != '\0' || p < 1 || p > 65535) return -EINVAL;
    snprintf(port, pl, "%ld", p);
    return 0;
}

static int scrape(struct cli *c, const char *host, const char *port, struct cli_prom_set *set) {
    char err[512];
    char *body = NULL;
    size_t blen = 0;
    int timeout = c->timeout_ms > 0 ? c->timeout_ms : 10000;
    if (http_get_metrics(host, port, timeout, &body, &blen, err, sizeof(err)) != 0) {
        cli_errorf(c, "%s", err);
        return CLI_FAIL;
    }
    int rc = cli_prom_parse(body, blen, set, err, sizeof(err));
    rl_free(body);
    if (rc) {
        cli_errorf(c, "http://%s:%s/metrics is not valid Prometheus text: %s", host, port, err);
        return CLI_FAIL;
    }
    return 0;
}

static int run_cluster_metrics(struct cli *c, int argc, char **argv) {
    struct metrics_opts o = {0};
    char **pos;
    int npos;
    int rc = cli_parse(c, argc, argv, metrics_opts, metrics_opt, &o, &pos, &npos);
    if (rc) return rc;
    rl_free(pos);
    if (npos) return cli_usage(c, "takes no operands");

    char host[256], port[16], admin[300];
    const char *spec = o.admin;
    if (!spec || !spec[0]) spec = getenv("RINGLET_ADMIN");
    if (spec && spec[0]) {
        if (split_hostport(spec, host, sizeof(host), port, sizeof(port)) != 0)
            return cli_usage(c, "--admin must be HOST:PORT, not '%s'", spec);
    } else {
        /* The first bootstrap broker's host, on the admin listener's default port. */
        const char *bl = ringlet_brokers_pick(c->brokers);
        char first[300];
        size_t n = strcspn(bl, ",");
        if (n >= sizeof(first) - 1) return cli_usage(c, "broker address too long");
        memcpy(first, bl, n);
        first[n] = '\0';
        char bport[16];
        if (split_hostport(first, host, sizeof(host), bport, sizeof(bport)) != 0)
            return cli_usage(c, "cannot take a host from broker '%s'; use --admin", first);
        snprintf(port, sizeof(port), "%d", ADMIN_DEFAULT_PORT);
    }
    snprintf(admin, sizeof(admin), "%s%s%s:%s", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", port);

    struct cli_prom_set first = {0}, second = {0};
    struct summary s0 = {0}, s = {0};
    double secs = 0;
    if ((rc = scrape(c, host, port, &first))) return rc;
    if (o.interval_ms > 0) {
        int64_t t0 = now_ms();
        struct timespec ts = {o.interval_ms / 1000, (long)(o.interval_ms % 1000) * 1000000};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
        if ((rc = scrape(c, host, port, &second))) goto out;
        secs = (double)(now_ms() - t0) / 1000.0;
        summarize(&first, &s0);
        summarize(&second, &s);
        for (int i = 0; i < s.nt; i++)
            for (int k = 0; k < s0.nt; k++)
                if (!strcmp(s.topics[i].topic, s0.topics[k].topic)) {
                    s.topics[i].in0 = s0.topics[k].in;
                    s.topics[i].out0 = s0.topics[k].out;
                }
        for (int i = 0; i < s.nt; i++) /* a topic created during the interval started at 0 */
            if (isnan(s.topics[i].in0)) s.topics[i].in0 = s.topics[i].out0 = 0;
    } else {
        summarize(&first, &s);
    }
    if (c->json)
        print_json(c, admin, &s, o.interval_ms, secs);
    else
        print_table(c, admin, &s, o.interval_ms, secs);
    rc = CLI_OK;
out:
    summary_free(&s0);
    summary_free(&s);
    cli_prom_set_free(&first);
    cli_prom_set_free(&second);
    return rc;
}

const struct cli_cmd cli_cmd_cluster_metrics = {
    "cluster",
    "metrics",
    "[--admin HOST:PORT] [--interval MS]",
    "Summarize ringletd's metrics: traffic, latency, disk, group lag.",
    "Fetches http://HOST:PORT/metrics from ringletd's admin listener and prints: uptime,\n"
    "resident memory, open connections, partitions offline, disk free and alert level,\n"
    "records in/out per topic, request latency p50/p99 per API (estimated from the\n"
    "histogram buckets since start, as Prometheus's histogram_quantile does) and per\n"
    "consumer group its state, members, total lag in records and max lag in seconds.\n\n"
    "Options:\n"
    "      --admin HOST:PORT  admin listener (default: $RINGLET_ADMIN, else the first\n"
    "                         broker's host on port 9644)\n"
    "      --interval MS      scrape twice, MS apart, and add records/s per topic\n\n"
    "Exit status 1 if the endpoint cannot be reached or does not answer 200.\n\n"
    "Examples:\n"
    "  ringlet cluster metrics\n"
    "  ringlet cluster metrics --admin 10.0.0.5:9644 --interval 5000\n"
    "  ringlet cluster metrics --format json\n",
    metrics_opts,
    run_cluster_metrics};
