/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_topic.c - `ringlet topic list|describe|create|delete|alter-config|add-partitions`:
 * Metadata, ListOffsets, DescribeLogDirs, CreateTopics, DeleteTopics, IncrementalAlterConfigs
 * and CreatePartitions through the generated codec.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ringlet/common.h"

static void fmt_nodes(char *buf, size_t len, const int32_t *ids, int32_t n) {
    size_t o = 0;
    buf[0] = '\0';
    for (int32_t i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%" PRId32, i ? "," : "", ids[i]);
}

/* ---- topic list ------------------------------------------------------------------------------ */

static int run_list(struct cli *c, int argc, char **argv) {
    struct ringlet_client *cl = NULL;
    int rc = cli_start(c, argc, argv, &cl);
    if (rc) return rc;
    struct ringlet_metadata *md = NULL;
    char err[256];
    if (ringlet_metadata_get(cl, NULL, -1, false, &md, err, sizeof(err)) != 0) {
        cli_errorf(c, "%s", err);
        return CLI_FAIL;
    }
    rc = CLI_OK;
    struct out_json j;
    struct out_table t;
    if (c->json) {
        out_json_list_begin(&j, c->out, "topics");
    } else {
        const char *h[] = {"NAME", "PARTITIONS", "REPLICAS", "INTERNAL", "ERROR"};
        out_table_init(&t, 5, h);
        out_table_align_right(&t, 1);
        out_table_align_right(&t, 2);
    }
    for (int32_t i = 0; i < md->n_topics; i++) {
        const struct ringlet_topic_md *tp = &md->topics[i];
        int32_t rf = tp->n_partitions ? tp->partitions[0].n_replicas : 0;
        if (tp->error) rc = CLI_FAIL;
        if (c->json) {
            out_json_obj_begin(&j);
            out_json_key(&j, "name");
            out_json_str(&j, tp->name);
            out_json_key(&j, "partitions");
            out_json_int(&j, tp->n_partitions);
            out_json_key(&j, "replication_factor");
            out_json_int(&j, rf);
            out_json_key(&j, "internal");
            out_json_bool(&j, tp->internal);
            out_json_key(&j, "error");
            if (tp->error)
                out_json_str(&j, proto_error_name(tp->error));
            else
                out_json_null(&j);
            out_json_obj_end(&j);
        } else {
            char np[16], r[16];
            snprintf(np, sizeof(np), "%" PRId32, tp->n_partitions);
            snprintf(r, sizeof(r), "%" PRId32, rf);
            const char *row[] = {tp->name, np, r, tp->internal ? "yes" : "no",
                                 tp->error ? proto_error_name(tp->error) : ""};
            out_table_add(&t, row);
        }
    }
    if (c->json) {
        out_json_list_end(&j);
    } else {
        out_table_print(c->out, &t);
        out_table_free(&t);
    }
    ringlet_metadata_free(md);
    return rc;
}

const struct cli_cmd cli_cmd_topic_list = {
    "topic",
    "list",
    "[options]",
    "List topics with partition and replica counts.",
    "Examples:\n  ringlet topic list\n  ringlet topic list --format json\n",
    cli_none_opts,
    run_list};

/* ---- topic describe -------------------------------------------------------------------------- */

static void fmt_i64(char *buf, size_t len, int64_t v) {
    if (v < 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%" PRId64, v);
}

static void json_i64_or_null(struct out_json *j, const char *key, int64_t v) {
    out_json_key(j, key);
    if (v < 0)
        out_json_null(j);
    else
        out_json_int(j, v);
}

static void json_ids(struct out_json *j, const char *key, const int32_t *ids, int32_t n) {
    out_json_key(j, key);
    out_json_arr_begin(j);
    for (int32_t i = 0; i < n; i++)
        out_json_int(j, ids[i]);
    out_json_arr_end(j);
}

/* The topic's config overrides (DescribeConfigs). Writes a "configs" member (JSON) or a
 * CONFIGS section (table); brokers without DescribeConfigs get null / nothing. Returns
 * CLI_FAIL if the broker answered with an error. */
static int print_configs(struct cli *c, struct ringlet_client *cl, const char *topic,
                         struct out_json *j) {
    struct ringlet_config_entry *ce = NULL;
    int n = 0, rc = 0;
    int16_t kerr = 0;
    char err[256];
    int e = ringlet_admin_describe_topic_configs(cl, topic, &ce, &n, &kerr, err, sizeof(err));
    if (c->json) {
        out_json_key(j, "configs");
        if (e != 0 || kerr != 0) {
            out_json_null(j);
        } else {
            out_json_obj_begin(j);
            for (int i = 0; i < n; i++) {
                if (!ce[i].is_override) continue;
                out_json_key(j, ce[i].name ? ce[i].name : "");
                out_json_str(j, ce[i].value); /* null when sensitive */
            }
            out_json_obj_end(j);
        }
    }
    if (e == 0 && kerr != 0) {
        cli_errorf(c, "DescribeConfigs %s: %s", topic, proto_error_name(kerr));
        rc = CLI_FAIL;
    } else if (e != 0 && e != -ENOTSUP) {
        cli_errorf(c, "%s", err);
        rc = CLI_FAIL;
    } else if (e == 0 && !c->json) {
        bool any = false;
        for (int i = 0; i < n; i++) {
            if (!ce[i].is_override) continue;
            if (!any) fputs("CONFIGS (overrides)\n", c->out);
            any = true;
            fprintf(c->out, "  %s=%s\n", ce[i].name ? ce[i].name : "",
                    ce[i].sensitive ? "(sensitive)"
                    : ce[i].value   ? ce[i].value
                                    : "");
        }
        if (!any) fputs("CONFIGS (overrides): none\n", c->out);
    }
    ringlet_config_entries_free(ce, n);
    return rc;
}

static int run_describe(struct cli *c, int argc, char **argv) {
    char **pos;
    int npos;
    struct ringlet_client *cl = NULL;
    int rc = cli_start_names(c, argc, argv, "topic", &pos, &npos, &cl);
    if (rc) return rc;
    struct ringlet_metadata *md = NULL;
    char err[256];
    if (ringlet_metadata_get(cl, (const char *const *)pos, npos, false, &md, err, sizeof(err))) {
        cli_errorf(c, "%s", err);
        rl_free(pos);
        return CLI_FAIL;
    }
    rc = CLI_OK;
    struct out_json j;
    if (c->json) {
        out_json_list_begin(&j, c->out, "topics");
    }
    for (int ti = 0; ti < npos; ti++) {
        const struct ringlet_topic_md *t = ringlet_metadata_topic(md, pos[ti]);
        int16_t terr = t ? t->error : PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        if (terr) {
            rc = CLI_FAIL;
            if (c->json) {
                out_json_obj_begin(&j);
                out_json_key(&j, "name");
                out_json_str(&j, pos[ti]);
                out_json_key(&j, "error");
                out_json_str(&j, proto_error_name(terr));
                out_json_obj_end(&j);
            } else {
                fprintf(c->out, "%sTOPIC %s: %s\n", ti ? "\n" : "", pos[ti],
                        proto_error_name(terr));
            }
            continue;
        }
        int32_t n = t->n_partitions;
        int32_t *ids = rl_calloc((size_t)n + 1, sizeof(int32_t));
        int64_t *start = rl_calloc((size_t)n + 1, sizeof(int64_t));
        int64_t *end = rl_calloc((size_t)n + 1, sizeof(int64_t));
        int64_t *size = rl_calloc((size_t)n + 1, sizeof(int64_t));
        int16_t *e1 = rl_calloc((size_t)n + 1, sizeof(int16_t));
        int16_t *e2 = rl_calloc((size_t)n + 1, sizeof(int16_t));
        for (int32_t i = 0; i < n; i++)
            ids[i] = t->partitions[i].partition;
        if (ringlet_list_offsets(cl, t, ids, n, RINGLET_OFFSET_EARLIEST, start, e1, err,
                                 sizeof(err)) != 0 ||
            ringlet_list_offsets(cl, t, ids, n, RINGLET_OFFSET_LATEST, end, e2, err, sizeof(err)) !=
                0) {
            cli_errorf(c, "%s", err);
            rc = CLI_FAIL;
        }
        ringlet_admin_log_dir_sizes(cl, t, size); /* unknown sizes print as - */
        if (c->json) {
            out_json_obj_begin(&j);
            out_json_key(&j, "name");
            out_json_str(&j, t->name);
            out_json_key(&j, "error");
            out_json_null(&j);
            out_json_key(&j, "internal");
            out_json_bool(&j, t->internal);
            out_json_key(&j, "partitions");
            out_json_arr_begin(&j);
        } else {
            fprintf(c->out, "%sTOPIC %s (%" PRId32 " partitions)\n", ti ? "\n" : "", t->name, n);
        }
        struct out_table tb;
        if (!c->json) {
            const char *h[] = {"PARTITION", "LEADER",  "REPLICAS", "ISR",  "LOG-START",
                               "LOG-END",   "RECORDS", "SIZE",     "ERROR"};
            out_table_init(&tb, 9, h);
            for (int col = 0; col < 8; col++)
                if (col != 2 && col != 3) out_table_align_right(&tb, col);
        }
        for (int32_t i = 0; i < n; i++) {
            const struct ringlet_partition_md *p = &t->partitions[i];
            int16_t perr = p->error ? p->error : (e1[i] ? e1[i] : e2[i]);
            if (perr) rc = CLI_FAIL;
            int64_t s = e1[i] ? -1 : start[i], e = e2[i] ? -1 : end[i];
            int64_t records = s >= 0 && e >= s ? e - s : -1;
            if (c->json) {
                out_json_obj_begin(&j);
                out_json_key(&j, "partition");
                out_json_int(&j, p->partition);
                out_json_key(&j, "leader");
                out_json_int(&j, p->leader);
                json_ids(&j, "replicas", p->replicas, p->n_replicas);
                json_ids(&j, "isr", p->isr, p->n_isr);
                json_i64_or_null(&j, "log_start_offset", s);
                json_i64_or_null(&j, "log_end_offset", e);
                json_i64_or_null(&j, "records", records);
                json_i64_or_null(&j, "size_bytes", size[i]);
                out_json_key(&j, "error");
                if (perr)
                    out_json_str(&j, proto_error_name(perr));
                else
                    out_json_null(&j);
                out_json_obj_end(&j);
            } else {
                char pid[16], ld[16], reps[128], isr[128], sb[24], eb[24], rb[24], zb[24];
                snprintf(pid, sizeof(pid), "%" PRId32, p->partition);
                snprintf(ld, sizeof(ld), "%" PRId32, p->leader);
                fmt_nodes(reps, sizeof(reps), p->replicas, p->n_replicas);
                fmt_nodes(isr, sizeof(isr), p->isr, p->n_isr);
                fmt_i64(sb, sizeof(sb), s);
                fmt_i64(eb, sizeof(eb), e);
                fmt_i64(rb, sizeof(rb), records);
                fmt_i64(zb, sizeof(zb), size[i]);
                const char *row[] = {
                    pid, ld, reps, isr, sb, eb, rb, zb, perr ? proto_error_name(perr) : ""};
                out_table_add(&tb, row);
            }
        }
        if (c->json) {
            out_json_arr_end(&j);
            if (print_configs(c, cl, t->name, &j)) rc = CLI_FAIL;
            out_json_obj_end(&j);
        } else {
            out_table_print(c->out, &tb);
            out_table_free(&tb);
            if (print_configs(c, cl, t->name, NULL)) rc = CLI_FAIL;
        }
        rl_free(ids);
        rl_free(start);
        rl_free(end);
        rl_free(size);
        rl_free(e1);
        rl_free(e2);
    }
    if (c->json) {
        out_json_list_end(&j);
    }
    ringlet_metadata_free(md);
    rl_free(pos);
    return rc;
}

const struct cli_cmd cli_cmd_topic_describe = {
    "topic",
    "describe",
    "TOPIC... [options]",
    "Show partitions (leader, replicas, ISR, log start/end, records, size) and config overrides.",
    "Sizes come from DescribeLogDirs (\"-\" if the broker does not support it); offsets from\n"
    "ListOffsets (earliest and latest).\n\nExamples:\n  ringlet topic describe orders\n"
    "  ringlet topic describe orders payments --format json\n",
    cli_none_opts,
    run_describe};

/* ---- topic create ---------------------------------------------------------------------------- */

struct create_opts {
    int32_t partitions;
    int16_t replicas;
    bool if_not_exists;
    char **kv_bufs;
    const char **keys, **vals;
    int n_kv;
};

enum { O_PARTITIONS = 1, O_REPLICAS, O_CONFIG, O_IF_NOT_EXISTS, O_SET, O_DELETE, O_COUNT };

static int push_kv(struct cli *c, struct create_opts *o, const char *arg, bool need_value) {
    char err[128];
    char *buf;
    const char *k, *v;
    if (need_value) {
        if (cli_parse_kv(arg, &buf, &k, &v, err, sizeof(err)) != 0) return cli_usage(c, "%s", err);
    } else {
        if (arg[0] == '\0') return cli_usage(c, "empty config name");
        buf = rl_strdup(arg);
        k = buf;
        v = NULL;
    }
    o->kv_bufs = rl_realloc(o->kv_bufs, sizeof(char *) * (size_t)(o->n_kv + 1));
    o->keys = rl_realloc(o->keys, sizeof(char *) * (size_t)(o->n_kv + 1));
    o->vals = rl_realloc(o->vals, sizeof(char *) * (size_t)(o->n_kv + 1));
    o->kv_bufs[o->n_kv] = buf;
    o->keys[o->n_kv] = k;
    o->vals[o->n_kv] = v;
    o->n_kv++;
    return 0;
}

static void free_kv(struct create_opts *o) {
    for (int i = 0; i < o->n_kv; i++)
        rl_free(o->kv_bufs[i]);
    rl_free(o->kv_bufs);
    rl_free(o->keys);
    rl_free(o->vals);
}

static int create_opt(struct cli *c, void *ctx, int id, const char *arg) {
    struct create_opts *o = ctx;
    int64_t v;
    char err[128];
    switch (id) {
    case O_PARTITIONS:
        if (cli_parse_int(arg, 1, 1000000, &v, err, sizeof(err)))
            return cli_usage(c, "-p: %s", err);
        o->partitions = (int32_t)v;
        return 0;
    case O_REPLICAS:
        if (cli_parse_int(arg, 1, 32767, &v, err, sizeof(err))) return cli_usage(c, "-r: %s", err);
        o->replicas = (int16_t)v;
        return 0;
    case O_CONFIG:
        return push_kv(c, o, arg, true);
    case O_IF_NOT_EXISTS:
        o->if_not_exists = true;
        return 0;
    default:
        return cli_usage(c, "unexpected option");
    }
}

static const struct cli_opt create_optv[] = {
    {"partitions", 'p', true, O_PARTITIONS},
    {"replicas", 'r', true, O_REPLICAS},
    {"config", 'c', true, O_CONFIG},
    {"if-not-exists", 0, false, O_IF_NOT_EXISTS},
    {NULL, 0, false, 0},
};

static int run_create(struct cli *c, int argc, char **argv) {
    struct create_opts o = {.partitions = -1, .replicas = -1};
    char **pos = NULL;
    int npos = 0;
    int rc = cli_parse(c, argc, argv, create_optv, create_opt, &o, &pos, &npos);
    if (rc) goto out;
    if (npos == 0) {
        rc = cli_usage(c, "name at least one topic");
        goto out;
    }
    struct ringlet_client *cl = NULL;
    if (cli_client(c, &cl)) {
        rc = CLI_FAIL;
        goto out;
    }
    struct ringlet_new_topic *tops = rl_calloc((size_t)npos, sizeof(*tops));
    for (int i = 0; i < npos; i++)
        tops[i] = (struct ringlet_new_topic){pos[i],
                                             o.partitions,
                                             o.replicas,
                                             (const char *const *)o.keys,
                                             (const char *const *)o.vals,
                                             o.n_kv};
    struct ringlet_admin_result *r = NULL;
    char err[256];
    rc = ringlet_admin_create_topics(cl, tops, npos, c->timeout_ms, &r, err, sizeof(err));
    for (int i = 0; rc == 0 && i < npos; i++) {
        if (r[i].error == PROTO_ERR_TOPIC_ALREADY_EXISTS && o.if_not_exists) {
            r[i].error = 0;
            rl_free(r[i].message);
            r[i].message = rl_strdup("already exists");
        }
    }
    rc = cli_admin_results(c, rc, err, "TOPIC", r, npos);
    rl_free(tops);
out:
    free_kv(&o);
    rl_free(pos);
    return rc;
}

const struct cli_cmd cli_cmd_topic_create = {
    "topic",
    "create",
    "TOPIC... [-p N] [-r N] [-c key=value]... [--if-not-exists]",
    "Create topics.",
    "Options:\n"
    "  -p, --partitions N    partition count (default: the broker's num.partitions)\n"
    "  -r, --replicas N      replication factor (default: the broker's default)\n"
    "  -c, --config K=V      topic config, repeatable (retention.ms, cleanup.policy, ...)\n"
    "      --if-not-exists   an existing topic is not an error\n\nExamples:\n"
    "  ringlet topic create orders -p 6\n"
    "  ringlet topic create audit -p 1 -c retention.ms=604800000 -c cleanup.policy=compact\n",
    create_optv,
    run_create};

/* ---- topic delete ---------------------------------------------------------------------------- */

static int run_delete(struct cli *c, int argc, char **argv) {
    char **pos;
    int npos;
    struct ringlet_client *cl = NULL;
    int rc = cli_start_names(c, argc, argv, "topic", &pos, &npos, &cl);
    if (rc) return rc;
    struct ringlet_admin_result *r = NULL;
    char err[256];
    rc = ringlet_admin_delete_topics(cl, (const char *const *)pos, npos, c->timeout_ms, &r, err,
                                     sizeof(err));
    rc = cli_admin_results(c, rc, err, "TOPIC", r, npos);
    rl_free(pos);
    return rc;
}

const struct cli_cmd cli_cmd_topic_delete = {
    "topic",
    "delete",
    "TOPIC... [options]",
    "Delete topics.",
    "Examples:\n  ringlet topic delete orders\n  ringlet topic delete a b c --format json\n",
    cli_none_opts,
    run_delete};

/* ---- topic alter-config ---------------------------------------------------------------------- */

static int alter_opt(struct cli *c, void *ctx, int id, const char *arg) {
    struct create_opts *o = ctx;
    if (id == O_SET) return push_kv(c, o, arg, true);
    if (id == O_DELETE) return push_kv(c, o, arg, false);
    return cli_usage(c, "unexpected option");
}

static const struct cli_opt alter_optv[] = {
    {"set", 's', true, O_SET},
    {"delete", 'd', true, O_DELETE},
    {NULL, 0, false, 0},
};

static int run_alter(struct cli *c, int argc, char **argv) {
    struct create_opts o = {0};
    char **pos = NULL;
    int npos = 0;
    int rc = cli_parse(c, argc, argv, alter_optv, alter_opt, &o, &pos, &npos);
    if (rc) goto out;
    if (npos == 0 || o.n_kv == 0) {
        rc = cli_usage(c, "name at least one topic and one --set or --delete");
        goto out;
    }
    struct ringlet_client *cl = NULL;
    if (cli_client(c, &cl)) {
        rc = CLI_FAIL;
        goto out;
    }
    struct ringlet_admin_result *r = NULL;
    char err[256];
    rc = ringlet_admin_alter_topic_configs(cl, (const char *const *)pos, npos, o.keys, o.vals,
                                           o.n_kv, c->timeout_ms, &r, err, sizeof(err));
    rc = cli_admin_results(c, rc, err, "TOPIC", r, npos);
out:
    free_kv(&o);
    rl_free(pos);
    return rc;
}

const struct cli_cmd cli_cmd_topic_alter_config = {
    "topic",
    "alter-config",
    "TOPIC... [--set K=V]... [--delete K]...",
    "Change topic configs (IncrementalAlterConfigs).",
    "Options:\n"
    "  -s, --set K=V      set a config, repeatable\n"
    "  -d, --delete K     reset a config to the broker default, repeatable\n\nExamples:\n"
    "  ringlet topic alter-config orders --set retention.ms=3600000\n"
    "  ringlet topic alter-config orders --delete retention.ms\n",
    alter_optv,
    run_alter};

/* ---- topic add-partitions -------------------------------------------------------------------- */

static int addp_opt(struct cli *c, void *ctx, int id, const char *arg) {
    int32_t *count = ctx;
    int64_t v;
    char err[128];
    if (id != O_COUNT) return cli_usage(c, "unexpected option");
    if (cli_parse_int(arg, 1, 1000000, &v, err, sizeof(err))) return cli_usage(c, "-n: %s", err);
    *count = (int32_t)v;
    return 0;
}

static const struct cli_opt addp_optv[] = {
    {"count", 'n', true, O_COUNT},
    {NULL, 0, false, 0},
};

static int run_add_partitions(struct cli *c, int argc, char **argv) {
    int32_t count = -1;
    char **pos;
    int npos;
    int rc = cli_parse(c, argc, argv, addp_optv, addp_opt, &count, &pos, &npos);
    if (rc) return rc;
    if (npos == 0 || count < 0) {
        rl_free(pos);
        return cli_usage(c, "name at least one topic and the new total with -n N");
    }
    struct ringlet_client *cl = NULL;
    if (cli_client(c, &cl)) {
        rl_free(pos);
        return CLI_FAIL;
    }
    struct ringlet_admin_result *r = NULL;
    char err[256];
    rc = ringlet_admin_create_partitions(cl, (const char *const *)pos, npos, count, c->timeout_ms,
                                         &r, err, sizeof(err));
    rc = cli_admin_results(c, rc, err, "TOPIC", r, npos);
    rl_free(pos);
    return rc;
}

const struct cli_cmd cli_cmd_topic_add_partitions = {
    "topic",
    "add-partitions",
    "TOPIC... -n TOTAL",
    "Grow topics to TOTAL partitions (CreatePartitions).",
    "Options:\n  -n, --count N   the new total partition count (not the number to add)\n\n"
    "Examples:\n  ringlet topic add-partitions orders -n 12\n",
    addp_optv,
    run_add_partitions};
