/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_produce.c - `ringlet produce TOPIC`: one record per stdin line through the library's
 * batching producer. stdin is read with read()+poll() (not stdio) so that batches waiting for
 * linger.ms are sent while the input is idle.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ringlet/common.h"

enum {
    O_KEY = 1,
    O_KEYSEP,
    O_HEADER,
    O_PARTITION,
    O_CODEC,
    O_ACKS,
    O_PRINT,
    O_LINGER,
    O_BATCH,
    O_NO_IDEMP
};

struct produce_opts {
    const char *key;
    const char *keysep;
    char **hbufs;
    struct proto_record_header *headers;
    int32_t n_headers;
    int32_t partition;
    struct ringlet_producer_conf pc;
    bool print;
    int input_fd;
};

static int produce_opt(struct cli *c, void *ctx, int id, const char *arg) {
    struct produce_opts *o = ctx;
    char err[160];
    int64_t v;
    switch (id) {
    case O_KEY:
        o->key = arg;
        return 0;
    case O_KEYSEP:
        if (arg[0] == '\0') return cli_usage(c, "-K: the separator may not be empty");
        o->keysep = arg;
        return 0;
    case O_HEADER: {
        char *buf;
        const char *k, *val;
        if (cli_parse_kv(arg, &buf, &k, &val, err, sizeof(err))) return cli_usage(c, "-H: %s", err);
        o->hbufs = rl_realloc(o->hbufs, sizeof(char *) * (size_t)(o->n_headers + 1));
        o->headers = rl_realloc(o->headers, sizeof(*o->headers) * (size_t)(o->n_headers + 1));
        o->hbufs[o->n_headers] = buf;
        o->headers[o->n_headers].key = (struct proto_bytes){(const uint8_t *)k, (int32_t)strlen(k)};
        o->headers[o->n_headers].value =
            (struct proto_bytes){(const uint8_t *)val, (int32_t)strlen(val)};
        o->n_headers++;
        return 0;
    }
    case O_PARTITION:
        if (cli_parse_int(arg, 0, INT32_MAX, &v, err, sizeof(err)))
            return cli_usage(c, "-p: %s", err);
        o->partition = (int32_t)v;
        return 0;
    case O_CODEC:
        if (cli_parse_codec(arg, &o->pc.codec, err, sizeof(err)))
            return cli_usage(c, "-z: %s", err);
        return 0;
    case O_ACKS:
        if (cli_parse_acks(arg, &o->pc.acks, err, sizeof(err)))
            return cli_usage(c, "--acks: %s", err);
        return 0;
    case O_PRINT:
        o->print = true;
        return 0;
    case O_LINGER:
        if (cli_parse_int(arg, 0, 600000, &v, err, sizeof(err)))
            return cli_usage(c, "--linger-ms: %s", err);
        o->pc.linger_ms = (int)v;
        return 0;
    case O_BATCH:
        if (cli_parse_int(arg, 1, 64 * 1024 * 1024, &v, err, sizeof(err)))
            return cli_usage(c, "--batch-size: %s", err);
        o->pc.batch_size = (int)v;
        return 0;
    case O_NO_IDEMP:
        o->pc.idempotence = false;
        return 0;
    default:
        return cli_usage(c, "unexpected option");
    }
}

static const struct cli_opt produce_optv[] = {
    {"key", 'k', true, O_KEY},
    {"key-separator", 'K', true, O_KEYSEP},
    {"header", 'H', true, O_HEADER},
    {"partition", 'p', true, O_PARTITION},
    {"compression", 'z', true, O_CODEC},
    {"acks", 0, true, O_ACKS},
    {"print-offsets", 'v', false, O_PRINT},
    {"linger-ms", 0, true, O_LINGER},
    {"batch-size", 0, true, O_BATCH},
    {"no-idempotence", 0, false, O_NO_IDEMP},
    {NULL, 0, false, 0},
};

struct produce_state {
    struct cli *c;
    bool print;
    int64_t delivered, failed;
};

static void on_delivery(void *opaque, const struct ringlet_delivery *d) {
    struct produce_state *st = opaque;
    bool ok = d->error == 0 && d->err == 0;
    if (ok)
        st->delivered++;
    else
        st->failed++;
    if (!st->print && ok) return;
    int64_t line = (int64_t)(intptr_t)d->opaque;
    const char *why = d->error ? proto_error_name(d->error) : d->err ? rl_strerror(d->err) : NULL;
    if (st->c->json) {
        struct out_json j;
        out_json_init(&j, st->c->out);
        out_json_obj_begin(&j);
        out_json_key(&j, "line");
        out_json_int(&j, line);
        out_json_key(&j, "topic");
        out_json_str(&j, d->topic);
        out_json_key(&j, "partition");
        out_json_int(&j, d->partition);
        out_json_key(&j, "offset");
        if (d->offset >= 0)
            out_json_int(&j, d->offset);
        else
            out_json_null(&j);
        out_json_key(&j, "error");
        out_json_str(&j, why);
        out_json_obj_end(&j);
        out_json_newline(&j);
    } else if (ok) {
        if (d->offset >= 0)
            fprintf(st->c->out, "%s/%" PRId32 "@%" PRId64 "\n", d->topic, d->partition, d->offset);
        else
            fprintf(st->c->out, "%s/%" PRId32 "@-\n", d->topic, d->partition);
    } else {
        fprintf(st->c->err, "ringlet: line %" PRId64 " to %s/%" PRId32 " failed: %s\n", line,
                d->topic, d->partition, why);
    }
}

/* Reads stdin in chunks and hands out complete lines; the last line may lack a newline. */
struct line_reader {
    int fd;
    char *buf;
    size_t len, cap, start;
    bool eof;
};

/* Returns 1 with a line, 0 at end of input, -EAGAIN if nothing arrived within timeout_ms, or a
 * negative errno. */
static int next_line(struct line_reader *lr, int timeout_ms, const char **line, size_t *len) {
    for (;;) {
        char *nl =
            lr->len > lr->start ? memchr(lr->buf + lr->start, '\n', lr->len - lr->start) : NULL;
        if (nl) {
            *line = lr->buf + lr->start;
            *len = (size_t)(nl - (lr->buf + lr->start));
            lr->start = (size_t)(nl - lr->buf) + 1;
            return 1;
        }
        if (lr->eof) {
            if (lr->start < lr->len) {
                *line = lr->buf + lr->start;
                *len = lr->len - lr->start;
                lr->start = lr->len;
                return 1;
            }
            return 0;
        }
        if (lr->start > 0) { /* keep the partial line at the front */
            memmove(lr->buf, lr->buf + lr->start, lr->len - lr->start);
            lr->len -= lr->start;
            lr->start = 0;
        }
        if (lr->cap - lr->len < 65536) {
            lr->cap = lr->cap ? lr->cap * 2 : 131072;
            lr->buf = rl_realloc(lr->buf, lr->cap);
        }
        struct pollfd pfd = {.fd = lr->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, timeout_ms);
        if (pr == 0) return -EAGAIN;
        if (pr < 0 && errno != EINTR) return -errno;
        if (pr < 0) continue;
        ssize_t n = read(lr->fd, lr->buf + lr->len, lr->cap - lr->len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return -errno;
        }
        if (n == 0)
            lr->eof = true;
        else
            lr->len += (size_t)n;
    }
}

static int run_produce(struct cli *c, int argc, char **argv) {
    struct produce_opts o = {.partition = -1, .input_fd = 0};
    ringlet_producer_conf_init(&o.pc);
    char **pos = NULL;
    int npos = 0;
    struct ringlet_producer *p = NULL;
    struct line_reader lr = {.fd = 0};
    int rc = cli_parse(c, argc, argv, produce_optv, produce_opt, &o, &pos, &npos);
    if (rc) goto out;
    if (npos != 1) {
        rc = cli_usage(c, "name exactly one topic");
        goto out;
    }
    if (o.key && o.keysep) {
        rc = cli_usage(c, "-k and -K exclude each other");
        goto out;
    }
    struct ringlet_client *cl = NULL;
    if (cli_client(c, &cl)) {
        rc = CLI_FAIL;
        goto out;
    }
    struct produce_state st = {.c = c, .print = o.print};
    char err[256] = "";
    int e = ringlet_producer_new(cl, &o.pc, on_delivery, &st, &p, err, sizeof(err));
    if (e) {
        cli_errorf(c, "%s", err[0] ? err : cli_strerror(e));
        rc = CLI_FAIL;
        goto out;
    }
    int64_t lineno = 0;
    lr.fd = o.input_fd;
    for (;;) {
        const char *line = NULL;
        size_t len = 0;
        int r = next_line(&lr, o.pc.linger_ms > 0 ? o.pc.linger_ms : 1, &line, &len);
        if (r == -EAGAIN) {
            ringlet_producer_poll(p);
            continue;
        }
        if (r < 0) {
            cli_errorf(c, "reading stdin: %s", rl_strerror(r));
            rc = CLI_FAIL;
            break;
        }
        if (r == 0) break;
        lineno++;
        if (len > INT32_MAX) {
            cli_errorf(c, "line %" PRId64 " is too long", lineno);
            rc = CLI_FAIL;
            continue;
        }
        const char *key = NULL, *value = line;
        int32_t key_len = -1, value_len = (int32_t)len;
        if (o.key) {
            key = o.key;
            key_len = (int32_t)strlen(o.key);
        } else if (o.keysep) {
            cli_split_key(line, len, o.keysep, &key, &key_len, &value, &value_len);
        }
        e = ringlet_producer_send(p, pos[0], o.partition, key, key_len, value, value_len, o.headers,
                                  o.n_headers, -1, (void *)(intptr_t)lineno);
        if (e) {
            cli_errorf(c, "%s",
                       ringlet_producer_last_error(p)[0] ? ringlet_producer_last_error(p)
                                                         : cli_strerror(e));
            rc = CLI_FAIL; /* e.g. a partition the topic lacks: the cluster said no */
            break;
        }
        ringlet_producer_poll(p);
    }
    if (ringlet_producer_flush(p) != 0 || st.failed > 0) {
        if (rc == CLI_OK) rc = CLI_FAIL;
        cli_errorf(c, "%" PRId64 " of %" PRId64 " records failed: %s", st.failed,
                   st.failed + st.delivered, ringlet_producer_last_error(p));
    }
out:
    ringlet_producer_destroy(p);
    rl_free(lr.buf);
    for (int32_t i = 0; i < o.n_headers; i++)
        rl_free(o.hbufs[i]);
    rl_free(o.hbufs);
    rl_free(o.headers);
    rl_free(pos);
    return rc;
}

const struct cli_cmd cli_cmd_produce = {
    NULL,
    "produce",
    "TOPIC [-k KEY | -K SEP] [-H K=V]... [-p N] [-z CODEC] [--acks 0|1|all] [-v]",
    "Produce stdin lines as records (one record per line).",
    "Keyed records go to the partition Kafka's Java client would pick (murmur2); unkeyed ones\n"
    "use the sticky partitioner. Idempotence is on (with acks=all), so retries never duplicate.\n\n"
    "Options:\n"
    "  -k, --key KEY            the same key for every record\n"
    "  -K, --key-separator SEP  split each line at the first SEP into key and value\n"
    "                           (lines without SEP get a null key)\n"
    "  -H, --header K=V         add a header to every record, repeatable\n"
    "  -p, --partition N        send everything to partition N\n"
    "  -z, --compression C      none (default), gzip, snappy, lz4 or zstd\n"
    "      --acks A             0, 1 or all (default all)\n"
    "  -v, --print-offsets      print topic/partition@offset per record\n"
    "                           (a JSON line per record with --format json)\n"
    "      --linger-ms MS       wait this long to fill batches (default 5)\n"
    "      --batch-size BYTES   per-partition batch size (default 16384)\n"
    "      --no-idempotence     plain producer (no InitProducerId, no sequences)\n\nExamples:\n"
    "  echo hello | ringlet produce greetings\n"
    "  printf 'user1:login\\nuser2:logout\\n' | ringlet produce events -K : -v\n"
    "  ringlet produce logs -z zstd -H source=nginx < access.log\n",
    produce_optv,
    run_produce};
