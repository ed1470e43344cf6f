/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_group.c - `ringlet group list|describe|delete|offset-delete|seek`. describe joins
 * DescribeGroups (state, members, assignments), OffsetFetch (committed offsets), ListOffsets
 * (log end) and one small Fetch per lagging partition: the timestamp of the record at the
 * committed offset gives the lag in time (the age of the oldest unconsumed record).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ringlet/common.h"

static int req_timeout(const struct cli *c) {
    return c->timeout_ms > 0 ? c->timeout_ms : 30000;
}

/* ---- group list ------------------------------------------------------------------------------ */

static int run_list(struct cli *c, int argc, char **argv) {
    struct ringlet_client *cl = NULL;
    int rc = cli_start(c, argc, argv, &cl);
    if (rc) return rc;
    char err[256];
    struct ringlet_group_listing *rows = NULL;
    int nrows = 0, failed = 0;
    if (ringlet_admin_list_groups(cl, &rows, &nrows, &failed, err, sizeof(err)) != 0) {
        cli_errorf(c, "%s", err);
        return CLI_FAIL;
    }
    rc = CLI_OK;
    if (failed > 0) {
        cli_errorf(c, "%d broker(s) did not list their groups: %s", failed, err);
        rc = CLI_FAIL;
    }
    if (c->json) {
        struct out_json j;
        out_json_list_begin(&j, c->out, "groups");
        for (int i = 0; i < nrows; i++) {
            out_json_obj_begin(&j);
            out_json_key(&j, "group");
            out_json_str(&j, rows[i].group);
            out_json_key(&j, "protocol_type");
            out_json_str(&j, rows[i].protocol_type);
            out_json_key(&j, "state");
            out_json_str(&j, rows[i].state);
            out_json_obj_end(&j);
        }
        out_json_list_end(&j);
    } else {
        struct out_table t;
        const char *h[] = {"GROUP", "PROTOCOL-TYPE", "STATE"};
        out_table_init(&t, 3, h);
        for (int i = 0; i < nrows; i++) {
            const char *row[] = {rows[i].group, rows[i].protocol_type, rows[i].state};
            out_table_add(&t, row);
        }
        out_table_print(c->out, &t);
        out_table_free(&t);
    }
    ringlet_group_listings_free(rows, nrows);
    return rc;
}

const struct cli_cmd cli_cmd_group_list = {
    "group",
    "list",
    "[options]",
    "List consumer groups (ListGroups on every broker).",
    "Examples:\n  ringlet group list\n  ringlet group list --format json\n",
    cli_none_opts,
    run_list};

/* ---- committed offsets and lag --------------------------------------------------------------- */

struct tp_row {
    char *topic;
    int32_t partition;
    int64_t committed; /* -1 = none */
    int64_t log_end;   /* -1 = unknown */
    int64_t log_start;
    int64_t lag;    /* -1 = unknown */
    int64_t lag_ms; /* -1 = unknown or no lag */
    int16_t error;
    char *member; /* member id assigned this partition, NULL = none */
};

struct tp_set {
    struct tp_row *v;
    int n;
};

static struct tp_row *tp_get(struct tp_set *s, const char *topic, int32_t partition) {
    for (int i = 0; i < s->n; i++)
        if (s->v[i].partition == partition && !strcmp(s->v[i].topic, topic)) return &s->v[i];
    s->v = rl_realloc(s->v, sizeof(*s->v) * (size_t)(s->n + 1));
    struct tp_row *r = &s->v[s->n++];
    memset(r, 0, sizeof(*r));
    r->topic = rl_strdup(topic);
    r->partition = partition;
    r->committed = r->log_end = r->log_start = r->lag = r->lag_ms = -1;
    return r;
}

static void tp_free(struct tp_set *s) {
    for (int i = 0; i < s->n; i++) {
        rl_free(s->v[i].topic);
        rl_free(s->v[i].member);
    }
    rl_free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int cmp_tp(const void *a, const void *b) {
    const struct tp_row *x = a, *y = b;
    int r = strcmp(x->topic, y->topic);
    if (r) return r;
    return (x->partition > y->partition) - (x->partition < y->partition);
}

/* The group's committed offsets into s: for the rows already in s, or every committed
 * partition when s is empty. Returns 0, or CLI_FAIL after printing. */
static int fetch_committed(struct cli *c, struct ringlet_client *cl, const char *group,
                           struct tp_set *s) {
    struct ringlet_group_offset *which = rl_calloc((size_t)s->n + 1, sizeof(*which));
    for (int i = 0; i < s->n; i++) {
        which[i].topic = s->v[i].topic;
        which[i].partition = s->v[i].partition;
    }
    struct ringlet_group_offset *got = NULL;
    int n = 0, rc = 0;
    int16_t gerr = 0;
    char err[256];
    if (ringlet_admin_group_offsets(cl, group, which, s->n, &got, &n, &gerr, err, sizeof(err)) !=
        0) {
        cli_errorf(c, "%s", err);
        rc = CLI_FAIL;
    } else {
        if (gerr) {
            cli_errorf(c, "OffsetFetch: %s", proto_error_name(gerr));
            rc = CLI_FAIL;
        }
        for (int i = 0; i < n; i++) {
            struct tp_row *r = tp_get(s, got[i].topic, got[i].partition);
            r->committed = got[i].offset;
            if (got[i].error) r->error = got[i].error;
        }
        ringlet_group_offsets_free(got, n);
    }
    rl_free(which);
    return rc;
}

/* Adds a row for every partition of each named topic. Returns 0 or CLI_FAIL after printing. */
static int add_topic_rows(struct cli *c, struct ringlet_client *cl, char **topics, int n,
                          struct tp_set *s) {
    char err[256];
    for (int t = 0; t < n; t++) {
        const char *name = topics[t];
        struct ringlet_metadata *md = NULL;
        if (ringlet_metadata_get(cl, &name, 1, false, &md, err, sizeof(err)) != 0) {
            cli_errorf(c, "%s", err);
            return CLI_FAIL;
        }
        const struct ringlet_topic_md *tm = ringlet_metadata_topic(md, name);
        if (tm == NULL || tm->error) {
            cli_errorf(c, "topic %s: %s", name,
                       proto_error_name(tm ? tm->error : PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION));
            ringlet_metadata_free(md);
            return CLI_FAIL;
        }
        for (int32_t p = 0; p < tm->n_partitions; p++)
            tp_get(s, name, tm->partitions[p].partition);
        ringlet_metadata_free(md);
    }
    if (s->n > 1) qsort(s->v, (size_t)s->n, sizeof(*s->v), cmp_tp);
    return 0;
}

struct first_ts {
    int64_t ts;
};

static int take_first(void *opaque, const struct ringlet_msg *m) {
    ((struct first_ts *)opaque)->ts = m->timestamp;
    return 1;
}

/* Fills log_end / log_start / lag / lag_ms for every row. Returns CLI_FAIL if something could
 * not be determined (the row carries the error). */
static int fill_lag(struct cli *c, struct ringlet_client *cl, struct tp_set *s) {
    int rc = 0;
    char err[256];
    for (int i = 0; i < s->n; i++) {
        struct tp_row *r = &s->v[i];
        bool first = true;
        for (int k = 0; k < i; k++)
            if (!strcmp(s->v[k].topic, r->topic)) first = false;
        if (!first) continue;
        const char *name = r->topic;
        struct ringlet_metadata *md = NULL;
        if (ringlet_metadata_get(cl, &name, 1, false, &md, err, sizeof(err)) != 0) {
            cli_errorf(c, "%s", err);
            rc = CLI_FAIL;
            continue;
        }
        const struct ringlet_topic_md *t = ringlet_metadata_topic(md, name);
        int np = 0;
        int32_t *parts = rl_calloc((size_t)s->n + 1, sizeof(int32_t));
        int *idx = rl_calloc((size_t)s->n + 1, sizeof(int));
        for (int k = i; k < s->n; k++)
            if (!strcmp(s->v[k].topic, name)) {
                idx[np] = k;
                parts[np++] = s->v[k].partition;
            }
        if (t == NULL || t->error) {
            for (int q = 0; q < np; q++)
                s->v[idx[q]].error = t ? t->error : PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            rc = CLI_FAIL;
        } else {
            int64_t *ends = rl_calloc((size_t)np + 1, sizeof(int64_t));
            int64_t *starts = rl_calloc((size_t)np + 1, sizeof(int64_t));
            int16_t *e1 = rl_calloc((size_t)np + 1, sizeof(int16_t));
            int16_t *e2 = rl_calloc((size_t)np + 1, sizeof(int16_t));
            ringlet_list_offsets(cl, t, parts, np, RINGLET_OFFSET_LATEST, ends, e1, err,
                                 sizeof(err));
            ringlet_list_offsets(cl, t, parts, np, RINGLET_OFFSET_EARLIEST, starts, e2, err,
                                 sizeof(err));
            for (int q = 0; q < np; q++) {
                struct tp_row *row = &s->v[idx[q]];
                if (e1[q]) {
                    row->error = e1[q];
                    rc = CLI_FAIL;
                    continue;
                }
                row->log_end = ends[q];
                row->log_start = e2[q] ? -1 : starts[q];
                if (row->committed >= 0) {
                    row->lag = row->log_end > row->committed ? row->log_end - row->committed : 0;
                } else if (row->log_start >= 0) {
                    row->lag = row->log_end - row->log_start; /* nothing committed yet */
                }
                if (row->lag <= 0) {
                    if (row->lag == 0) row->lag_ms = 0;
                    continue;
                }
                /* Lag in time: the timestamp of the first unconsumed record. */
                int64_t from = row->committed >= 0 ? row->committed : row->log_start;
                if (row->log_start > from) from = row->log_start;
                int32_t leader = -1;
                for (int32_t pi = 0; pi < t->n_partitions; pi++)
                    if (t->partitions[pi].partition == row->partition)
                        leader = t->partitions[pi].leader;
                if (leader < 0) continue;
                struct proto_arena a;
                proto_arena_init(&a);
                struct ringlet_resp frame = {0};
                struct ringlet_fetch_part fp;
                struct first_ts ft = {-1};
                if (ringlet_fetch(cl, leader, name, &row->partition, &from, 1, 0, 64 * 1024, &fp,
                                  &frame, &a, err, sizeof(err)) == 0 &&
                    fp.error == 0) {
                    int64_t next;
                    ringlet_records_walk(fp.records, fp.records_len, name, row->partition, from, &a,
                                         take_first, &ft, &next);
                }
                if (ft.ts >= 0) {
                    int64_t age = rl_now_ms() - ft.ts;
                    row->lag_ms = age > 0 ? age : 0;
                }
                ringlet_resp_free(&frame);
                proto_arena_destroy(&a);
            }
            rl_free(ends);
            rl_free(starts);
            rl_free(e1);
            rl_free(e2);
        }
        rl_free(parts);
        rl_free(idx);
        ringlet_metadata_free(md);
    }
    return rc;
}

/* Parses a consumer-protocol assignment (version, [topic, [partition]], user data) and marks
 * the member on each partition in s. Returns false if the bytes are malformed. */
static bool parse_assignment(struct proto_bytes b, const char *member, struct tp_set *s,
                             bool add_rows) {
    if (b.len <= 0) return true;
    struct proto_reader r;
    proto_reader_init(&r, b.ptr, (size_t)b.len);
    (void)proto_read_i16(&r);
    int32_t nt = proto_read_array_len(&r, false, 6);
    for (int32_t t = 0; t < nt && !r.err; t++) {
        struct proto_str name = proto_read_string(&r, false);
        int32_t np = proto_read_array_len(&r, false, 4);
        char *tn = proto_str_dup(name);
        for (int32_t p = 0; p < np && !r.err; p++) {
            int32_t part = proto_read_i32(&r);
            if (r.err || tn == NULL) break;
            if (!add_rows) {
                bool known = false;
                for (int i = 0; i < s->n; i++)
                    if (s->v[i].partition == part && !strcmp(s->v[i].topic, tn)) known = true;
                if (!known) continue;
            }
            struct tp_row *row = tp_get(s, tn, part);
            rl_free(row->member);
            row->member = rl_strdup(member);
        }
        rl_free(tn);
    }
    return r.err == 0;
}

static void fmt_opt(char *buf, size_t len, int64_t v) {
    if (v < 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%" PRId64, v);
}

static void fmt_age(char *buf, size_t len, int64_t ms) {
    if (ms < 0)
        snprintf(buf, len, "-");
    else if (ms < 1000)
        snprintf(buf, len, "%" PRId64 "ms", ms);
    else if (ms < 120000)
        snprintf(buf, len, "%.1fs", (double)ms / 1000.0);
    else if (ms < 7200000)
        snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", ms / 60000, (ms / 1000) % 60);
    else
        snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", ms / 3600000, (ms / 60000) % 60);
}

static void json_opt(struct out_json *j, const char *k, int64_t v) {
    out_json_key(j, k);
    if (v < 0)
        out_json_null(j);
    else
        out_json_int(j, v);
}

/* ---- group describe -------------------------------------------------------------------------- */

static int describe_one(struct cli *c, struct ringlet_client *cl, const char *group, char **topics,
                        int ntopics, struct out_json *j, bool first) {
    char err[256];
    struct ringlet_group_description *g = NULL;
    int e = ringlet_admin_describe_group(cl, group, &g, err, sizeof(err));
    if (e == -ENOTSUP) {
        /* Offsets and lag still work without DescribeGroups (librdkafka's mock lacks it). */
        fprintf(c->err, "ringlet: note: the broker does not support DescribeGroups; "
                        "state and members are unknown\n");
        g = rl_calloc(1, sizeof(*g));
        g->state = rl_strdup("unknown");
    } else if (e != 0) {
        cli_errorf(c, "%s", err);
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (g->error) {
        cli_errorf(c, "group %s: %s", group, proto_error_name(g->error));
        rc = CLI_FAIL;
    }
    struct tp_set s = {0};
    if (add_topic_rows(c, cl, topics, ntopics, &s) || fetch_committed(c, cl, group, &s))
        rc = CLI_FAIL;
    bool consumer = g->protocol_type && !strcmp(g->protocol_type, "consumer");
    for (int m = 0; m < g->n_members && consumer; m++) {
        const struct ringlet_group_member *mb = &g->members[m];
        struct proto_bytes ab = {mb->assignment, mb->assignment_len};
        if (!parse_assignment(ab, mb->member_id, &s, true))
            rl_debug("cli", "member %s: undecodable assignment", mb->member_id);
    }
    if (s.n > 1) qsort(s.v, (size_t)s.n, sizeof(*s.v), cmp_tp);
    if (fill_lag(c, cl, &s)) rc = CLI_FAIL;
    for (int i = 0; i < s.n; i++)
        if (s.v[i].error) rc = CLI_FAIL;

    const char *state = g->state, *ptype = g->protocol_type, *proto = g->protocol;
    if (c->json) {
        out_json_obj_begin(j);
        out_json_key(j, "group");
        out_json_str(j, group);
        out_json_key(j, "error");
        if (g->error)
            out_json_str(j, proto_error_name(g->error));
        else
            out_json_null(j);
        out_json_key(j, "state");
        out_json_str(j, state);
        out_json_key(j, "protocol_type");
        out_json_str(j, ptype);
        out_json_key(j, "protocol");
        out_json_str(j, proto);
        out_json_key(j, "members");
        out_json_arr_begin(j);
        for (int m = 0; m < g->n_members; m++) {
            const struct ringlet_group_member *mb = &g->members[m];
            out_json_obj_begin(j);
            out_json_key(j, "member_id");
            out_json_str(j, mb->member_id);
            out_json_key(j, "group_instance_id");
            out_json_str(j, mb->group_instance_id);
            out_json_key(j, "client_id");
            out_json_str(j, mb->client_id);
            out_json_key(j, "host");
            out_json_str(j, mb->host);
            out_json_obj_end(j);
        }
        out_json_arr_end(j);
        out_json_key(j, "offsets");
        out_json_arr_begin(j);
        for (int i = 0; i < s.n; i++) {
            const struct tp_row *r = &s.v[i];
            out_json_obj_begin(j);
            out_json_key(j, "topic");
            out_json_str(j, r->topic);
            out_json_key(j, "partition");
            out_json_int(j, r->partition);
            json_opt(j, "committed_offset", r->committed);
            json_opt(j, "log_end_offset", r->log_end);
            json_opt(j, "lag", r->lag);
            json_opt(j, "lag_ms", r->lag_ms);
            out_json_key(j, "member_id");
            out_json_str(j, r->member);
            out_json_key(j, "error");
            if (r->error)
                out_json_str(j, proto_error_name(r->error));
            else
                out_json_null(j);
            out_json_obj_end(j);
        }
        out_json_arr_end(j);
        out_json_obj_end(j);
    } else {
        fprintf(c->out, "%sGROUP     %s\nSTATE     %s\nPROTOCOL  %s%s%s\nMEMBERS   %" PRId32 "\n",
                first ? "" : "\n", group, state ? state : "-", ptype ? ptype : "-",
                proto && proto[0] ? "/" : "", proto ? proto : "", (int32_t)g->n_members);
        if (g->n_members > 0) {
            struct out_table t;
            const char *h[] = {"MEMBER", "CLIENT-ID", "HOST"};
            out_table_init(&t, 3, h);
            for (int m = 0; m < g->n_members; m++) {
                const char *row[] = {g->members[m].member_id, g->members[m].client_id,
                                     g->members[m].host};
                out_table_add(&t, row);
            }
            fputc('\n', c->out);
            out_table_print(c->out, &t);
            out_table_free(&t);
        }
        if (s.n > 0) {
            struct out_table t;
            const char *h[] = {"TOPIC", "PARTITION", "COMMITTED", "LOG-END",
                               "LAG",   "LAG-TIME",  "MEMBER",    "ERROR"};
            out_table_init(&t, 8, h);
            for (int col = 1; col <= 5; col++)
                out_table_align_right(&t, col);
            for (int i = 0; i < s.n; i++) {
                const struct tp_row *r = &s.v[i];
                char p[16], co[24], le[24], lg[24], lt[32];
                snprintf(p, sizeof(p), "%" PRId32, r->partition);
                fmt_opt(co, sizeof(co), r->committed);
                fmt_opt(le, sizeof(le), r->log_end);
                fmt_opt(lg, sizeof(lg), r->lag);
                fmt_age(lt, sizeof(lt), r->lag_ms);
                const char *row[] = {
                    r->topic, p,  co,        le,
                    lg,       lt, r->member, r->error ? proto_error_name(r->error) : ""};
                out_table_add(&t, row);
            }
            fputc('\n', c->out);
            out_table_print(c->out, &t);
            out_table_free(&t);
        }
    }
    tp_free(&s);
    ringlet_group_description_free(g);
    return rc;
}

struct describe_opts {
    char **topics;
    int ntopics;
};

static void push_topics(char ***topics, int *n, const char *arg) {
    char *copy = rl_strdup(arg);
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        *topics = rl_realloc(*topics, sizeof(char *) * (size_t)(*n + 1));
        (*topics)[(*n)++] = rl_strdup(t);
    }
    rl_free(copy);
}

static int describe_opt(struct cli *c, void *ctx, int id, const char *arg) {
    struct describe_opts *o = ctx;
    if (id != 1) return cli_usage(c, "unexpected option");
    push_topics(&o->topics, &o->ntopics, arg);
    return 0;
}

static const struct cli_opt describe_optv[] = {
    {"topics", 't', true, 1},
    {NULL, 0, false, 0},
};

static int run_describe(struct cli *c, int argc, char **argv) {
    struct describe_opts o = {0};
    char **pos = NULL;
    int npos = 0;
    struct ringlet_client *cl = NULL;
    int rc = cli_parse(c, argc, argv, describe_optv, describe_opt, &o, &pos, &npos);
    if (rc) goto out;
    if (npos == 0) {
        rc = cli_usage(c, "name at least one group");
        goto out;
    }
    if (cli_client(c, &cl)) {
        rc = CLI_FAIL;
        goto out;
    }
    struct out_json j;
    if (c->json) out_json_list_begin(&j, c->out, "groups");
    rc = CLI_OK;
    for (int i = 0; i < npos; i++)
        if (describe_one(c, cl, pos[i], o.topics, o.ntopics, &j, i == 0)) rc = CLI_FAIL;
    if (c->json) out_json_list_end(&j);
out:
    for (int i = 0; i < o.ntopics; i++)
        rl_free(o.topics[i]);
    rl_free(o.topics);
    rl_free(pos);
    return rc;
}

const struct cli_cmd cli_cmd_group_describe = {
    "group",
    "describe",
    "GROUP... [options]",
    "Show a group's state, members and per-partition committed offset, lag and lag in time.",
    "LAG is log end offset minus committed offset. LAG-TIME is the age of the oldest\n"
    "unconsumed record (now minus the timestamp of the record at the committed offset).\n\n"
    "Options:\n  -t, --topics LIST   also show these topics' partitions (comma-separated), and "
    "ask\n"
    "                      for exactly them (for brokers that cannot list all commits)\n\n"
    "Examples:\n  ringlet group describe billing\n  ringlet group describe billing --format json\n"
    "  ringlet group describe billing --topics orders,refunds\n",
    describe_optv,
    run_describe};

/* ---- group delete ---------------------------------------------------------------------------- */

static int run_delete(struct cli *c, int argc, char **argv) {
    char **pos;
    int npos;
    struct ringlet_client *cl = NULL;
    int rc = cli_start_names(c, argc, argv, "group", &pos, &npos, &cl);
    if (rc) return rc;
    struct ringlet_admin_result *r = NULL;
    char err[256];
    rc = ringlet_admin_delete_groups(cl, (const char *const *)pos, npos, req_timeout(c), &r, err,
                                     sizeof(err));
    rc = cli_admin_results(c, rc, err, "GROUP", r, npos);
    rl_free(pos);
    return rc;
}

const struct cli_cmd cli_cmd_group_delete = {"group",
                                             "delete",
                                             "GROUP... [options]",
                                             "Delete groups (they must have no active members).",
                                             "Examples:\n  ringlet group delete old-billing\n",
                                             cli_none_opts,
                                             run_delete};

/* ---- group offset-delete --------------------------------------------------------------------- */

enum { O_PARTITION = 1, O_TO, O_SHIFT, O_TOPICS, O_EXECUTE };

struct od_opts {
    int32_t *parts;
    int nparts;
};

static int od_opt(struct cli *c, void *ctx, int id, const char *arg) {
    struct od_opts *o = ctx;
    int64_t v;
    char err[128];
    if (id != O_PARTITION) return cli_usage(c, "unexpected option");
    if (cli_parse_int(arg, 0, INT32_MAX, &v, err, sizeof(err))) return cli_usage(c, "-p: %s", err);
    o->parts = rl_realloc(o->parts, sizeof(int32_t) * (size_t)(o->nparts + 1));
    o->parts[o->nparts++] = (int32_t)v;
    return 0;
}

static const struct cli_opt od_optv[] = {
    {"partition", 'p', true, O_PARTITION},
    {NULL, 0, false, 0},
};

static int run_offset_delete(struct cli *c, int argc, char **argv) {
    struct od_opts o = {0};
    char **pos = NULL;
    int npos = 0;
    int rc = cli_parse(c, argc, argv, od_optv, od_opt, &o, &pos, &npos);
    if (rc) goto out;
    if (npos != 2) {
        rc = cli_usage(c, "want GROUP TOPIC");
        goto out;
    }
    struct ringlet_client *cl = NULL;
    if (cli_client(c, &cl)) {
        rc = CLI_FAIL;
        goto out;
    }
    char err[256];
    if (o.nparts == 0) { /* every partition of the topic */
        const char *name = pos[1];
        struct ringlet_metadata *md = NULL;
        if (ringlet_metadata_get(cl, &name, 1, false, &md, err, sizeof(err)) != 0) {
            cli_errorf(c, "%s", err);
            rc = CLI_FAIL;
            goto out;
        }
        const struct ringlet_topic_md *t = ringlet_metadata_topic(md, name);
        if (t == NULL || t->error) {
            cli_errorf(c, "topic %s: %s", name,
                       proto_error_name(t ? t->error : PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION));
            ringlet_metadata_free(md);
            rc = CLI_FAIL;
            goto out;
        }
        o.parts = rl_calloc((size_t)t->n_partitions + 1, sizeof(int32_t));
        for (int32_t i = 0; i < t->n_partitions; i++)
            o.parts[i] = t->partitions[i].partition;
        o.nparts = t->n_partitions;
        ringlet_metadata_free(md);
    }
    struct ringlet_admin_result *r = NULL;
    rc = ringlet_admin_delete_group_offsets(cl, pos[0], pos[1], o.parts, o.nparts, &r, err,
                                            sizeof(err));
    rc = cli_admin_results(c, rc, err, "PARTITION", r, o.nparts);
out:
    rl_free(o.parts);
    rl_free(pos);
    return rc;
}

const struct cli_cmd cli_cmd_group_offset_delete = {
    "group",
    "offset-delete",
    "GROUP TOPIC [-p PARTITION]...",
    "Delete a group's committed offsets for a topic (OffsetDelete).",
    "Options:\n  -p, --partition N   only this partition, repeatable (default: all)\n\n"
    "Examples:\n  ringlet group offset-delete billing orders\n"
    "  ringlet group offset-delete billing orders -p 0 -p 3\n",
    od_optv,
    run_offset_delete};

/* ---- group seek ------------------------------------------------------------------------------ */

struct seek_opts {
    const char *to; /* earliest | latest | <offset> | @<timestamp_ms> */
    bool have_shift;
    int64_t shift;
    char **topics;
    int ntopics;
    bool execute;
};

static int seek_opt(struct cli *c, void *ctx, int id, const char *arg) {
    struct seek_opts *o = ctx;
    char err[128];
    switch (id) {
    case O_TO:
        o->to = arg;
        return 0;
    case O_SHIFT:
        if (cli_parse_int(arg, INT64_MIN / 2, INT64_MAX / 2, &o->shift, err, sizeof(err)))
            return cli_usage(c, "--shift-by: %s", err);
        o->have_shift = true;
        return 0;
    case O_TOPICS:
        push_topics(&o->topics, &o->ntopics, arg);
        return 0;
    case O_EXECUTE:
        o->execute = true;
        return 0;
    default:
        return cli_usage(c, "unexpected option");
    }
}

static const struct cli_opt seek_optv[] = {
    {"to", 0, true, O_TO},        {"shift-by", 0, true, O_SHIFT},   {"topics", 't', true, O_TOPICS},
    {"topic", 0, true, O_TOPICS}, {"execute", 0, false, O_EXECUTE}, {NULL, 0, false, 0},
};

/* Active members of the group (-1 on failure, after printing). */
static int32_t group_members(struct cli *c, struct ringlet_client *cl, const char *group,
                             char *state, size_t statelen) {
    struct ringlet_group_description *g = NULL;
    char err[256];
    if (ringlet_admin_describe_group(cl, group, &g, err, sizeof(err)) != 0) {
        cli_errorf(c, "%s", err);
        return -1;
    }
    int32_t n = -1;
    if (g->error)
        cli_errorf(c, "DescribeGroups %s: %s", group, proto_error_name(g->error));
    else
        n = g->n_members;
    snprintf(state, statelen, "%s", g->state);
    ringlet_group_description_free(g);
    return n;
}

static int run_seek(struct cli *c, int argc, char **argv) {
    struct seek_opts o = {0};
    char **pos = NULL;
    int npos = 0;
    struct tp_set s = {0};
    int rc = cli_parse(c, argc, argv, seek_optv, seek_opt, &o, &pos, &npos);
    if (rc) goto out;
    if (npos != 1) {
        rc = cli_usage(c, "name exactly one group");
        goto out;
    }
    if ((o.to != NULL) == o.have_shift) {
        rc = cli_usage(c, "give exactly one of --to and --shift-by");
        goto out;
    }
    struct cli_offset_spec spec = {0};
    bool by_time = false;
    if (o.to) {
        char err[160];
        if (!strcmp(o.to, "earliest") || !strcmp(o.to, "latest") || o.to[0] == '@' ||
            (o.to[0] >= '0' && o.to[0] <= '9')) {
            if (cli_parse_offset_spec(o.to, &spec, err, sizeof(err))) {
                rc = cli_usage(c, "--to: %s", err);
                goto out;
            }
            by_time = spec.kind == CLI_OFFSET_TIMESTAMP;
        } else {
            rc = cli_usage(c, "--to must be earliest, latest, an offset or @timestamp_ms");
            goto out;
        }
    }
    struct ringlet_client *cl = NULL;
    if (cli_client(c, &cl)) {
        rc = CLI_FAIL;
        goto out;
    }
    const char *group = pos[0];
    char err[256];
    char state[64] = "";
    int32_t members = group_members(c, cl, group, state, sizeof(state));
    if (members < 0) {
        rc = CLI_FAIL;
        goto out;
    }
    if (members > 0) {
        cli_errorf(c, "group %s has %d active member(s) (state %s): stop its consumers first",
                   group, members, state);
        rc = CLI_FAIL;
        goto out;
    }
    /* Explicit --topics name every partition of those topics (even never committed ones) and
     * restrict the reset to them. */
    if (add_topic_rows(c, cl, o.topics, o.ntopics, &s) || fetch_committed(c, cl, group, &s)) {
        rc = CLI_FAIL;
        goto out;
    }
    if (o.ntopics > 0) {
        int k = 0;
        for (int i = 0; i < s.n; i++) {
            bool keep = false;
            for (int t = 0; t < o.ntopics; t++)
                if (!strcmp(s.v[i].topic, o.topics[t])) keep = true;
            if (keep) {
                s.v[k++] = s.v[i];
            } else {
                rl_free(s.v[i].topic);
                rl_free(s.v[i].member);
            }
        }
        s.n = k;
    }
    if (s.n == 0) {
        cli_errorf(c, "group %s has no committed offsets; name topics with --topics", group);
        rc = CLI_FAIL;
        goto out;
    }
    if (s.n > 1) qsort(s.v, (size_t)s.n, sizeof(*s.v), cmp_tp);
    if (fill_lag(c, cl, &s)) rc = CLI_FAIL;
    /* The offset each partition moves to (-1 = cannot tell). */
    int64_t *target = rl_calloc((size_t)s.n + 1, sizeof(int64_t));
    for (int i = 0; i < s.n; i++) {
        struct tp_row *r = &s.v[i];
        target[i] = -1;
        if (r->log_end < 0) continue;
        int64_t start = r->log_start >= 0 ? r->log_start : 0;
        if (o.have_shift) {
            int64_t base = r->committed >= 0 ? r->committed : start;
            int64_t t = base + o.shift;
            target[i] = t < start ? start : t > r->log_end ? r->log_end : t;
        } else if (!by_time) {
            target[i] = cli_offset_resolve(&spec, start, r->log_end);
        }
    }
    if (by_time) {
        for (int i = 0; i < s.n; i++) {
            if (s.v[i].log_end < 0) continue;
            const char *name = s.v[i].topic;
            struct ringlet_metadata *md = NULL;
            if (ringlet_metadata_get(cl, &name, 1, false, &md, err, sizeof(err)) != 0) continue;
            const struct ringlet_topic_md *tm = ringlet_metadata_topic(md, name);
            int64_t off = -1;
            int16_t perr = 0;
            if (tm &&
                ringlet_list_offsets(cl, tm, &s.v[i].partition, 1, spec.value, &off, &perr, err,
                                     sizeof(err)) == 0 &&
                perr == 0)
                target[i] = off < 0 ? s.v[i].log_end : off; /* no record that late: the end */
            else
                s.v[i].error = perr ? perr : PROTO_ERR_UNKNOWN_SERVER_ERROR;
            ringlet_metadata_free(md);
        }
    }
    for (int i = 0; i < s.n; i++)
        if (target[i] < 0 && s.v[i].error == 0) s.v[i].error = PROTO_ERR_UNKNOWN_SERVER_ERROR;

    if (o.execute) {
        struct ringlet_group_offset *offs = rl_calloc((size_t)s.n + 1, sizeof(*offs));
        int *row = rl_calloc((size_t)s.n + 1, sizeof(int));
        int n = 0;
        for (int i = 0; i < s.n; i++) {
            if (target[i] < 0) continue;
            offs[n] = (struct ringlet_group_offset){s.v[i].topic, s.v[i].partition, target[i], 0};
            row[n++] = i;
        }
        if (n > 0 &&
            ringlet_admin_commit_group_offsets(cl, group, offs, n, err, sizeof(err)) != 0) {
            cli_errorf(c, "%s", err);
            rc = CLI_FAIL;
        } else {
            for (int k = 0; k < n; k++)
                s.v[row[k]].error = offs[k].error;
        }
        rl_free(offs);
        rl_free(row);
    }
    for (int i = 0; i < s.n; i++)
        if (s.v[i].error) rc = CLI_FAIL;
    if (c->json) {
        struct out_json j;
        out_json_init(&j, c->out);
        out_json_obj_begin(&j);
        out_json_key(&j, "group");
        out_json_str(&j, group);
        out_json_key(&j, "executed");
        out_json_bool(&j, o.execute);
        out_json_key(&j, "offsets");
        out_json_arr_begin(&j);
        for (int i = 0; i < s.n; i++) {
            out_json_obj_begin(&j);
            out_json_key(&j, "topic");
            out_json_str(&j, s.v[i].topic);
            out_json_key(&j, "partition");
            out_json_int(&j, s.v[i].partition);
            json_opt(&j, "current_offset", s.v[i].committed);
            json_opt(&j, "new_offset", target[i]);
            out_json_key(&j, "error");
            if (s.v[i].error)
                out_json_str(&j, proto_error_name(s.v[i].error));
            else
                out_json_null(&j);
            out_json_obj_end(&j);
        }
        out_json_list_end(&j);
    } else {
        struct out_table t;
        const char *h[] = {"TOPIC", "PARTITION", "CURRENT", "NEW", "ERROR"};
        out_table_init(&t, 5, h);
        for (int col = 1; col <= 3; col++)
            out_table_align_right(&t, col);
        for (int i = 0; i < s.n; i++) {
            char p[16], cur[24], nw[24];
            snprintf(p, sizeof(p), "%" PRId32, s.v[i].partition);
            fmt_opt(cur, sizeof(cur), s.v[i].committed);
            fmt_opt(nw, sizeof(nw), target[i]);
            const char *row[] = {s.v[i].topic, p, cur, nw,
                                 s.v[i].error ? proto_error_name(s.v[i].error) : ""};
            out_table_add(&t, row);
        }
        out_table_print(c->out, &t);
        out_table_free(&t);
        if (!o.execute)
            fprintf(c->out, "\nDry run: nothing changed. Add --execute to commit these offsets.\n");
    }
    rl_free(target);
out:
    tp_free(&s);
    for (int i = 0; i < o.ntopics; i++)
        rl_free(o.topics[i]);
    rl_free(o.topics);
    rl_free(pos);
    return rc;
}

const struct cli_cmd cli_cmd_group_seek = {
    "group",
    "seek",
    "GROUP (--to earliest|latest|OFFSET|@TIMESTAMP_MS | --shift-by N) [--topics T,..] "
    "[--execute]",
    "Reset a group's committed offsets (a dry run unless --execute).",
    "Refuses when the group has active members. Without --topics it resets every partition\n"
    "the group has committed; with --topics it resets all partitions of those topics.\n\n"
    "Options:\n"
    "      --to WHERE      earliest, latest, an offset, or @TIMESTAMP_MS (first record at or\n"
    "                      after that time)\n"
    "      --shift-by N    move each committed offset by N (negative = back)\n"
    "  -t, --topics LIST   comma-separated topics to reset\n"
    "      --execute       commit the new offsets (default: only show them)\n\nExamples:\n"
    "  ringlet group seek billing --to earliest --topics orders\n"
    "  ringlet group seek billing --shift-by -100 --execute\n"
    "  ringlet group seek billing --to @1700000000000 --execute\n",
    seek_optv,
    run_seek};
