/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_consume.c - `ringlet consume TOPIC`: the library consumer over the chosen partitions
 * (all, -p, or the group's assignment with -g), printing each record with a kcat-style format
 * string or as a JSON line. With -g the library joins the group (classic protocol, range and
 * roundrobin assignors), auto-commits every 5 s, and this command commits and leaves at exit.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ringlet/common.h"

enum { O_OFFSET = 1, O_COUNT, O_EXIT, O_FORMAT_STR, O_PARTITION, O_GROUP, O_ASSIGNOR };

struct consume_opts {
    struct cli_offset_spec start;
    bool have_start;
    int64_t count; /* -1 = unlimited */
    bool exit_at_end;
    const char *fmt;
    int32_t *parts;
    int nparts;
    const char *group;
    const char *assignor;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static int consume_opt(struct cli *c, void *ctx, int id, const char *arg) {
    struct consume_opts *o = ctx;
    char err[160];
    int64_t v;
    switch (id) {
    case O_OFFSET:
        if (cli_parse_offset_spec(arg, &o->start, err, sizeof(err)))
            return cli_usage(c, "-o: %s", err);
        o->have_start = true;
        return 0;
    case O_COUNT:
        if (cli_parse_int(arg, 0, INT64_MAX, &v, err, sizeof(err)))
            return cli_usage(c, "-n: %s", err);
        o->count = v;
        return 0;
    case O_EXIT:
        o->exit_at_end = true;
        return 0;
    case O_FORMAT_STR:
        if (out_format_check(arg, err, sizeof(err))) return cli_usage(c, "-f: %s", err);
        o->fmt = arg;
        return 0;
    case O_PARTITION:
        if (cli_parse_int(arg, 0, INT32_MAX, &v, err, sizeof(err)))
            return cli_usage(c, "-p: %s", err);
        o->parts = rl_realloc(o->parts, sizeof(int32_t) * (size_t)(o->nparts + 1));
        o->parts[o->nparts++] = (int32_t)v;
        return 0;
    case O_GROUP:
        if (arg[0] == '\0') return cli_usage(c, "-g: empty group id");
        o->group = arg;
        return 0;
    case O_ASSIGNOR:
        if (strcmp(arg, "range") != 0 && strcmp(arg, "roundrobin") != 0)
            return cli_usage(c, "--assignor must be range or roundrobin");
        o->assignor = arg;
        return 0;
    default:
        return cli_usage(c, "unexpected option");
    }
}

static const struct cli_opt consume_optv[] = {
    {"offset", 'o', true, O_OFFSET},       {"count", 'n', true, O_COUNT},
    {"exit", 'e', false, O_EXIT},          {"format-string", 'f', true, O_FORMAT_STR},
    {"partition", 'p', true, O_PARTITION}, {"group", 'g', true, O_GROUP},
    {"assignor", 0, true, O_ASSIGNOR},     {NULL, 0, false, 0},
};

struct printer {
    struct cli *c;
    const struct consume_opts *o;
    int64_t printed;
};

static int print_record(void *opaque, const struct ringlet_msg *m) {
    struct printer *pr = opaque;
    struct out_header hbuf[16];
    struct out_header *hs =
        m->n_headers <= 16 ? hbuf : rl_calloc((size_t)m->n_headers, sizeof(*hs));
    for (int32_t i = 0; i < m->n_headers; i++) {
        hs[i].key = m->headers[i].key.ptr;
        hs[i].key_len = m->headers[i].key.len;
        hs[i].value = m->headers[i].value.ptr;
        hs[i].value_len = m->headers[i].value.len;
    }
    static const uint8_t empty[1];
    struct out_record r = {
        .topic = m->topic,
        .partition = m->partition,
        .offset = m->offset,
        .timestamp = m->timestamp,
        .key = m->key.len > 0    ? m->key.ptr
               : m->key.len == 0 ? empty
                                 : NULL,
        .key_len = m->key.len,
        .value = m->value.len > 0    ? m->value.ptr
                 : m->value.len == 0 ? empty
                                     : NULL,
        .value_len = m->value.len,
        .headers = hs,
        .n_headers = m->n_headers,
    };
    if (pr->c->json && pr->o->fmt == NULL)
        out_json_record(pr->c->out, &r);
    else
        out_format_record(pr->c->out, pr->o->fmt ? pr->o->fmt : "%s\\n", &r);
    if (hs != hbuf) rl_free(hs);
    pr->printed++;
    return pr->o->count >= 0 && pr->printed >= pr->o->count;
}

static struct ringlet_start to_start(const struct cli_offset_spec *s) {
    static const enum ringlet_start_kind map[] = {
        [CLI_OFFSET_BEGINNING] = RINGLET_START_EARLIEST,
        [CLI_OFFSET_END] = RINGLET_START_LATEST,
        [CLI_OFFSET_ABSOLUTE] = RINGLET_START_OFFSET,
        [CLI_OFFSET_FROM_BEGINNING] = RINGLET_START_AFTER_EARLIEST,
        [CLI_OFFSET_FROM_END] = RINGLET_START_BEFORE_LATEST,
        [CLI_OFFSET_TIMESTAMP] = RINGLET_START_TIMESTAMP,
    };
    return (struct ringlet_start){map[s->kind], s->value};
}

static int run_consume(struct cli *c, int argc, char **argv) {
    struct consume_opts o = {.count = -1};
    char **pos = NULL;
    int npos = 0;
    struct ringlet_consumer *cons = NULL;
    int rc = cli_parse(c, argc, argv, consume_optv, consume_opt, &o, &pos, &npos);
    if (rc) goto out;
    if (npos != 1) {
        rc = cli_usage(c, "name exactly one topic");
        goto out;
    }
    if (o.group && o.nparts) {
        rc = cli_usage(c, "-p and -g exclude each other (the group assigns partitions)");
        goto out;
    }
    struct ringlet_client *cl = NULL;
    if (cli_client(c, &cl)) {
        rc = CLI_FAIL;
        goto out;
    }
    struct ringlet_consumer_conf cc;
    ringlet_consumer_conf_init(&cc);
    cc.group_id = o.group;
    cc.assignor = o.assignor;
    if (o.have_start) cc.start = to_start(&o.start);
    char err[256] = "";
    if (ringlet_consumer_new(cl, &cc, &cons, err, sizeof(err)) != 0) {
        cli_errorf(c, "%s", err);
        rc = CLI_FAIL;
        goto out;
    }
    if (o.count == 0) goto out;
    stop_requested = 0;
    struct sigaction sa = {.sa_handler = on_signal};
    struct sigaction old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int e = o.group ? ringlet_consumer_subscribe(cons, pos[0])
                    : ringlet_consumer_assign(cons, pos[0], o.parts, o.nparts ? o.nparts : -1);
    if (e != 0) {
        cli_errorf(c, "%s",
                   ringlet_consumer_last_error(cons)[0] ? ringlet_consumer_last_error(cons)
                                                        : cli_strerror(e));
        rc = e == -ENOENT && o.nparts ? CLI_USAGE : CLI_FAIL;
    }
    struct printer pr = {.c = c, .o = &o};
    while (rc == 0 && !stop_requested) {
        if (o.exit_at_end && ringlet_consumer_at_end(cons)) break;
        int got = ringlet_consumer_poll(cons, o.exit_at_end ? 0 : 500, print_record, &pr);
        fflush(c->out);
        if (got < 0) {
            cli_errorf(c, "%s", ringlet_consumer_last_error(cons));
            rc = CLI_FAIL;
            break;
        }
        if (o.count >= 0 && pr.printed >= o.count) break;
        if (!o.group && ringlet_consumer_assignment_size(cons) == 0) break;
    }
    if (o.group && ringlet_consumer_commit(cons) != 0) {
        cli_errorf(c, "%s", ringlet_consumer_last_error(cons));
        if (rc == 0) rc = CLI_FAIL;
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
out:
    ringlet_consumer_close(cons);
    rl_free(o.parts);
    rl_free(pos);
    return rc;
}

const struct cli_cmd cli_cmd_consume = {
    NULL,
    "consume",
    "TOPIC [-o OFFSET] [-n N] [-e] [-f FMT] [-p N]... [-g GROUP] [--format json]",
    "Print records of a topic (all partitions, some, or a group's share).",
    "Options:\n"
    "  -o, --offset WHERE     where to start: beginning (default), end, N (absolute),\n"
    "                         +N (N after the start), -N (N before the end),\n"
    "                         @TIMESTAMP_MS (first record at or after that time).\n"
    "                         With -g it applies only where the group has no commit.\n"
    "  -n, --count N          stop after N records\n"
    "  -e, --exit             stop at the end of every partition\n"
    "  -f, --format-string F  kcat-style: %t topic, %p partition, %o offset, %T timestamp,\n"
    "                         %k key, %K key length, %s value, %S value length,\n"
    "                         %h headers (k=v,...), %% and \\n \\t \\r (default '%s\\n')\n"
    "      --format json      one JSON object per record (key/value as strings, or\n"
    "                         key_base64/value_base64 when not UTF-8)\n"
    "  -p, --partition N      only this partition, repeatable\n"
    "  -g, --group GROUP      consume as a member of GROUP (commits every 5 s and at exit)\n"
    "      --assignor A       range or roundrobin (default: offer both, range first)\n\n"
    "Examples:\n"
    "  ringlet consume orders -o beginning -e\n"
    "  ringlet consume orders -o -10 -e -f '%p/%o %k=%s\\n'\n"
    "  ringlet consume orders -o @1700000000000 -n 5 --format json\n"
    "  ringlet consume orders -g billing\n",
    consume_optv,
    run_consume};
