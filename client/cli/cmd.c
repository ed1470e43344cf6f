/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd.c - the CLI framework: command table, dispatch, help, the option parser and the
 * `cluster` commands.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ringlet/common.h"

static const struct cli_cmd *const cmds[] = {
    &cli_cmd_cluster_info,
    &cli_cmd_cluster_api_versions,
    &cli_cmd_cluster_metrics,
    &cli_cmd_topic_list,
    &cli_cmd_topic_describe,
    &cli_cmd_topic_create,
    &cli_cmd_topic_delete,
    &cli_cmd_topic_alter_config,
    &cli_cmd_topic_add_partitions,
    &cli_cmd_group_list,
    &cli_cmd_group_describe,
    &cli_cmd_group_delete,
    &cli_cmd_group_offset_delete,
    &cli_cmd_group_seek,
    &cli_cmd_produce,
    &cli_cmd_consume,
};

static const char common_help[] =
    "Common options (every command):\n"
    "  -b, --brokers LIST   bootstrap brokers host:port[,host:port...]\n"
    "                       (default: $RINGLET_BROKERS, else 127.0.0.1:9092)\n"
    "      --format FMT     table (default) or json\n"
    "      --timeout MS     per-request timeout (default 30000)\n"
    "      --debug          log protocol details to stderr\n"
    "  -h, --help           show help\n";

static void cmd_fullname(const struct cli_cmd *cmd, char *buf, size_t len) {
    if (cmd->group)
        snprintf(buf, len, "%s %s", cmd->group, cmd->name);
    else
        snprintf(buf, len, "%s", cmd->name);
}

static void print_cmd_help(FILE *f, const struct cli_cmd *cmd) {
    char name[64];
    cmd_fullname(cmd, name, sizeof(name));
    fprintf(f, "Usage: ringlet %s %s\n\n%s\n\n%s\n%s", name, cmd->synopsis, cmd->summary, cmd->help,
            common_help);
}

static void print_overview(FILE *f) {
    fprintf(f,
            "ringlet %s - admin and data CLI for ringletd and any Kafka-compatible cluster\n\n"
            "Usage: ringlet [-b BROKERS] [--format table|json] COMMAND [ARGS]\n\nCommands:\n",
            ringlet_version());
    for (size_t i = 0; i < RL_ARRAY_SIZE(cmds); i++) {
        char name[64];
        cmd_fullname(cmds[i], name, sizeof(name));
        fprintf(f, "  %-22s %s\n", name, cmds[i]->summary);
    }
    fprintf(f,
            "\nRun 'ringlet help COMMAND' or 'ringlet COMMAND --help' for details.\n\n"
            "Examples:\n"
            "  ringlet topic create orders -p 6 -c retention.ms=86400000\n"
            "  seq 10 | ringlet produce orders -K :\n"
            "  ringlet consume orders -o beginning -e -f '%%p/%%o %%k=%%s\\n'\n"
            "  ringlet group describe billing --format json\n\n%s"
            "\nExit status: 0 success, 1 a failed operation (even one row), 2 usage error.\n",
            common_help);
}

void cli_errorf(struct cli *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("ringlet: ", c->err);
    vfprintf(c->err, fmt, ap);
    fputc('\n', c->err);
    va_end(ap);
}

int cli_usage(struct cli *c, const char *fmt, ...) {
    char name[64] = "";
    if (c->cmd) cmd_fullname(c->cmd, name, sizeof(name));
    va_list ap;
    va_start(ap, fmt);
    fprintf(c->err, "ringlet%s%s: ", name[0] ? " " : "", name);
    vfprintf(c->err, fmt, ap);
    fprintf(c->err, "\nTry 'ringlet %s%s--help'.\n", name, name[0] ? " " : "");
    va_end(ap);
    return CLI_USAGE;
}

const char *cli_strerror(int neg_errno) {
    if (neg_errno == -ENOTSUP) return "not supported by the broker (no common API version)";
    return rl_strerror(neg_errno);
}

const char *cli_err_name(int16_t code) {
    return code == 0 ? "NONE" : proto_error_name(code);
}

int cli_client(struct cli *c, struct ringlet_client **out) {
    if (c->cl == NULL) {
        struct ringlet_conf conf;
        ringlet_conf_init(&conf);
        conf.brokers = ringlet_brokers_pick(c->brokers);
        conf.client_id = "ringlet-cli";
        if (c->timeout_ms > 0) conf.request_timeout_ms = c->timeout_ms;
        char err[256];
        if (ringlet_client_new(&conf, &c->cl, err, sizeof(err)) != 0) {
            cli_errorf(c, "%s", err);
            return CLI_FAIL;
        }
    }
    *out = c->cl;
    return 0;
}

enum { OPT_BROKERS = -100, OPT_FORMAT, OPT_TIMEOUT, OPT_VERBOSE, OPT_HELP };

static const struct cli_opt common_opts[] = {
    {"brokers", 'b', true, OPT_BROKERS}, {"format", 0, true, OPT_FORMAT},
    {"timeout", 0, true, OPT_TIMEOUT},   {"debug", 0, false, OPT_VERBOSE},
    {"help", 'h', false, OPT_HELP},      {NULL, 0, false, 0},
};

static int common_opt(struct cli *c, int id, const char *arg) {
    int64_t v;
    char err[128];
    switch (id) {
    case OPT_BROKERS:
        c->brokers = arg;
        return 0;
    case OPT_FORMAT:
        if (!strcmp(arg, "json")) {
            c->json = true;
        } else if (!strcmp(arg, "table")) {
            c->json = false;
        } else {
            return cli_usage(c, "--format must be table or json, not '%s'", arg);
        }
        return 0;
    case OPT_TIMEOUT:
        if (cli_parse_int(arg, 1, 3600000, &v, err, sizeof(err)) != 0)
            return cli_usage(c, "--timeout: %s", err);
        c->timeout_ms = (int)v;
        return 0;
    case OPT_VERBOSE:
        c->verbose = true;
        rl_log_set_level(RL_LOG_DEBUG);
        return 0;
    default:
        return 0;
    }
}

static const struct cli_opt *find_opt(const struct cli_opt *opts, const char *lng, size_t lnglen,
                                      char shrt) {
    for (int set = 0; set < 2; set++) {
        const struct cli_opt *o = set == 0 ? opts : common_opts;
        for (; o && o->lng; o++) {
            if (lng && strlen(o->lng) == lnglen && !strncmp(o->lng, lng, lnglen)) return o;
            if (!lng && shrt && o->shrt == shrt) return o;
        }
    }
    return NULL;
}

int cli_parse(struct cli *c, int argc, char **argv, const struct cli_opt *opts, cli_opt_fn fn,
              void *ctx, char ***pos, int *npos) {
    char **p = rl_calloc((size_t)argc + 1, sizeof(char *));
    int n = 0, rc = 0;
    bool only_operands = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (only_operands || a[0] != '-' || a[1] == '\0') {
            p[n++] = argv[i];
            continue;
        }
        if (!strcmp(a, "--")) {
            only_operands = true;
            continue;
        }
        const struct cli_opt *o;
        const char *val = NULL;
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
            o = find_opt(opts, a + 2, len, 0);
            if (o == NULL) {
                rc = cli_usage(c, "unknown option '%.*s'", (int)(len + 2), a);
                goto out;
            }
            if (eq && !o->has_arg) {
                rc = cli_usage(c, "option '--%s' takes no value", o->lng);
                goto out;
            }
            if (eq) val = eq + 1;
        } else {
            o = find_opt(opts, NULL, 0, a[1]);
            if (o == NULL) {
                rc = cli_usage(c, "unknown option '-%c'", a[1]);
                goto out;
            }
            if (a[2] != '\0') {
                if (!o->has_arg) {
                    rc = cli_usage(c, "option '-%c' takes no value (write flags separately)", a[1]);
                    goto out;
                }
                val = a + 2;
            }
        }
        if (o->has_arg && val == NULL) {
            if (i + 1 >= argc) {
                rc = cli_usage(c, "option '%s' needs a value", a);
                goto out;
            }
            val = argv[++i];
        }
        if (o->id == OPT_HELP) {
            print_cmd_help(c->out, c->cmd);
            rc = -1;
            goto out;
        }
        rc = o->id >= OPT_BROKERS && o->id <= OPT_HELP ? common_opt(c, o->id, val)
                                                       : fn(c, ctx, o->id, val);
        if (rc) goto out;
    }
out:
    if (rc) {
        rl_free(p);
        return rc;
    }
    *pos = p;
    *npos = n;
    return 0;
}

static const struct cli_cmd *lookup(const char *group, const char *name) {
    for (size_t i = 0; i < RL_ARRAY_SIZE(cmds); i++) {
        const struct cli_cmd *cmd = cmds[i];
        if (cmd->group == NULL && group && !strcmp(cmd->name, group) && name == NULL) return cmd;
        if (cmd->group && group && name && !strcmp(cmd->group, group) && !strcmp(cmd->name, name))
            return cmd;
    }
    return NULL;
}

static bool is_group(const char *s) {
    for (size_t i = 0; i < RL_ARRAY_SIZE(cmds); i++)
        if (cmds[i]->group && !strcmp(cmds[i]->group, s)) return true;
    return false;
}

static void print_group_help(FILE *f, const char *group) {
    fprintf(f, "Usage: ringlet %s SUBCOMMAND [ARGS]\n\nSubcommands:\n", group);
    for (size_t i = 0; i < RL_ARRAY_SIZE(cmds); i++)
        if (cmds[i]->group && !strcmp(cmds[i]->group, group))
            fprintf(f, "  %-16s %s\n", cmds[i]->name, cmds[i]->summary);
    fprintf(f, "\nRun 'ringlet %s SUBCOMMAND --help' for details.\n", group);
}

/* Resolves argv[0..] to a command; *used gets how many words named it. */
static const struct cli_cmd *resolve(int argc, char **argv, int *used) {
    if (argc >= 1 && !is_group(argv[0])) {
        *used = 1;
        return lookup(argv[0], NULL);
    }
    if (argc >= 2) {
        *used = 2;
        return lookup(argv[0], argv[1]);
    }
    return NULL;
}

int cli_main(int argc, char **argv, FILE *out, FILE *err) {
    struct cli c = {.out = out, .err = err};
    rl_log_set_level(RL_LOG_WARN);
    /* Common options may come before the command words. */
    int i = 1;
    while (i < argc && argv[i][0] == '-' && argv[i][1] != '\0') {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            print_overview(out);
            return CLI_OK;
        }
        if (!strcmp(a, "--version")) {
            fprintf(out, "ringlet %s (%s)\n", ringlet_version(), RINGLET_GIT_COMMIT);
            return CLI_OK;
        }
        const char *eq = strchr(a, '=');
        size_t len = a[1] == '-' ? (eq ? (size_t)(eq - a - 2) : strlen(a + 2)) : 0;
        const struct cli_opt *o =
            a[1] == '-' ? find_opt(NULL, a + 2, len, 0) : find_opt(NULL, NULL, 0, a[1]);
        if (o == NULL) return cli_usage(&c, "unknown option '%s'", a);
        const char *val = NULL;
        if (o->has_arg) {
            if (a[1] == '-' && eq)
                val = eq + 1;
            else if (a[1] != '-' && a[2])
                val = a + 2;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return cli_usage(&c, "option '%s' needs a value", a);
        }
        int rc = common_opt(&c, o->id, val);
        if (rc) return rc;
        i++;
    }
    if (i >= argc) {
        print_overview(err);
        return CLI_USAGE;
    }
    if (!strcmp(argv[i], "help")) {
        if (i + 1 >= argc) {
            print_overview(out);
            return CLI_OK;
        }
        int used = 0;
        const struct cli_cmd *cmd = resolve(argc - i - 1, argv + i + 1, &used);
        if (cmd) {
            print_cmd_help(out, cmd);
            return CLI_OK;
        }
        if (is_group(argv[i + 1])) {
            print_group_help(out, argv[i + 1]);
            return CLI_OK;
        }
        return cli_usage(&c, "no such command '%s'", argv[i + 1]);
    }
    if (!strcmp(argv[i], "version")) {
        fprintf(out, "ringlet %s (%s)\n", ringlet_version(), RINGLET_GIT_COMMIT);
        return CLI_OK;
    }
    int used = 0;
    const struct cli_cmd *cmd = resolve(argc - i, argv + i, &used);
    if (cmd == NULL) {
        if (is_group(argv[i])) {
            if (i + 1 < argc && (!strcmp(argv[i + 1], "--help") || !strcmp(argv[i + 1], "-h"))) {
                print_group_help(out, argv[i]);
                return CLI_OK;
            }
            print_group_help(err, argv[i]);
            if (i + 1 < argc)
                fprintf(err, "\nringlet: no such command '%s %s'\n", argv[i], argv[i + 1]);
            return CLI_USAGE;
        }
        return cli_usage(&c, "no such command '%s'", argv[i]);
    }
    c.cmd = cmd;
    int rc = cmd->run(&c, argc - i - used, argv + i + used);
    if (rc < 0) rc = CLI_OK; /* --help */
    ringlet_client_destroy(c.cl);
    return rc;
}

/* ---- cluster info ---------------------------------------------------------------------------- */

int cli_no_opts(struct cli *c, void *ctx, int id, const char *arg) {
    (void)ctx;
    (void)id;
    (void)arg;
    return cli_usage(c, "unexpected option");
}

const struct cli_opt cli_none_opts[] = {{NULL, 0, false, 0}};

int cli_start(struct cli *c, int argc, char **argv, struct ringlet_client **cl) {
    char **pos;
    int npos;
    int rc = cli_parse(c, argc, argv, cli_none_opts, cli_no_opts, NULL, &pos, &npos);
    if (rc) return rc;
    rl_free(pos);
    if (npos) return cli_usage(c, "takes no operands");
    return cli_client(c, cl) ? CLI_FAIL : 0;
}

int cli_start_names(struct cli *c, int argc, char **argv, const char *what, char ***pos, int *npos,
                    struct ringlet_client **cl) {
    int rc = cli_parse(c, argc, argv, cli_none_opts, cli_no_opts, NULL, pos, npos);
    if (rc) return rc;
    if (*npos == 0)
        rc = cli_usage(c, "name at least one %s", what);
    else if (cli_client(c, cl))
        rc = CLI_FAIL;
    if (rc) {
        rl_free(*pos);
        *pos = NULL;
    }
    return rc;
}

int cli_admin_results(struct cli *c, int call_rc, const char *err, const char *kind,
                      struct ringlet_admin_result *r, int n) {
    if (call_rc != 0) {
        cli_errorf(c, "%s", err);
        return CLI_FAIL;
    }
    int rc = cli_print_results(c, kind, r, n);
    ringlet_admin_results_free(r, n);
    return rc;
}

static int run_cluster_info(struct cli *c, int argc, char **argv) {
    struct ringlet_client *cl = NULL;
    int rc = cli_start(c, argc, argv, &cl);
    if (rc) return rc;
    struct ringlet_metadata *md = NULL;
    char err[256];
    bool dc = false;
    if (ringlet_cluster_describe(cl, &md, &dc, err, sizeof(err)) != 0) {
        cli_errorf(c, "%s", err);
        return CLI_FAIL;
    }
    if (c->json) {
        struct out_json j;
        out_json_init(&j, c->out);
        out_json_obj_begin(&j);
        out_json_key(&j, "source");
        out_json_str(&j, dc ? "DescribeCluster" : "Metadata");
        out_json_key(&j, "cluster_id");
        out_json_str(&j, md->cluster_id);
        out_json_key(&j, "controller_id");
        out_json_int(&j, md->controller_id);
        out_json_key(&j, "brokers");
        out_json_arr_begin(&j);
        for (int32_t i = 0; i < md->n_brokers; i++) {
            out_json_obj_begin(&j);
            out_json_key(&j, "id");
            out_json_int(&j, md->brokers[i].id);
            out_json_key(&j, "host");
            out_json_str(&j, md->brokers[i].host);
            out_json_key(&j, "port");
            out_json_int(&j, md->brokers[i].port);
            out_json_key(&j, "rack");
            out_json_str(&j, md->brokers[i].rack);
            out_json_key(&j, "controller");
            out_json_bool(&j, md->brokers[i].id == md->controller_id);
            out_json_obj_end(&j);
        }
        out_json_list_end(&j);
    } else {
        fprintf(c->out, "CLUSTER ID  %s\nCONTROLLER  %" PRId32 "\n\n",
                md->cluster_id ? md->cluster_id : "-", md->controller_id);
        struct out_table t;
        const char *h[] = {"ID", "HOST", "PORT", "RACK", "CONTROLLER"};
        out_table_init(&t, 5, h);
        out_table_align_right(&t, 0);
        out_table_align_right(&t, 2);
        for (int32_t i = 0; i < md->n_brokers; i++) {
            char id[16], port[16];
            snprintf(id, sizeof(id), "%" PRId32, md->brokers[i].id);
            snprintf(port, sizeof(port), "%d", md->brokers[i].port);
            const char *row[] = {id, md->brokers[i].host, port, md->brokers[i].rack,
                                 md->brokers[i].id == md->controller_id ? "yes" : "no"};
            out_table_add(&t, row);
        }
        out_table_print(c->out, &t);
        out_table_free(&t);
    }
    ringlet_metadata_free(md);
    return CLI_OK;
}

const struct cli_cmd cli_cmd_cluster_info = {
    "cluster",
    "info",
    "[options]",
    "Show the cluster id, controller and brokers.",
    "Sends DescribeCluster to a bootstrap broker (Metadata if the broker lacks it).\n\n"
    "Examples:\n"
    "  ringlet cluster info\n"
    "  ringlet -b kafka1:9092,kafka2:9092 cluster info --format json\n",
    cli_none_opts,
    run_cluster_info};

/* ---- cluster api-versions -------------------------------------------------------------------- */

static int run_api_versions(struct cli *c, int argc, char **argv) {
    struct ringlet_client *cl = NULL;
    int rc = cli_start(c, argc, argv, &cl);
    if (rc) return rc;
    struct ringlet_conn *conn = NULL;
    char err[256];
    if (ringlet_client_any_conn(cl, &conn, err, sizeof(err)) != 0) {
        cli_errorf(c, "%s", err);
        return CLI_FAIL;
    }
    struct out_json j;
    struct out_table t;
    const char *h[] = {"KEY", "API", "BROKER MIN", "BROKER MAX", "RINGLET MAX", "USED"};
    if (c->json) {
        out_json_init(&j, c->out);
        out_json_obj_begin(&j);
        out_json_key(&j, "broker");
        char addr[300];
        snprintf(addr, sizeof(addr), "%s:%d", ringlet_conn_host(conn), ringlet_conn_port(conn));
        out_json_str(&j, addr);
        out_json_key(&j, "apis");
        out_json_arr_begin(&j);
    } else {
        out_table_init(&t, 6, h);
        for (int col = 0; col < 6; col++)
            if (col != 1) out_table_align_right(&t, col);
    }
    for (int16_t key = 0; key <= RINGLET_API_KEY_MAX; key++) {
        int16_t mn, mx;
        if (!ringlet_conn_api_range(conn, key, &mn, &mx)) continue;
        const struct proto_api_info *api = proto_api_lookup(key);
        int16_t used =
            api ? ringlet_conn_pick_version(conn, key, api->min_version, api->max_version) : -1;
        if (c->json) {
            out_json_obj_begin(&j);
            out_json_key(&j, "key");
            out_json_int(&j, key);
            out_json_key(&j, "name");
            out_json_str(&j, api ? api->name : NULL);
            out_json_key(&j, "min");
            out_json_int(&j, mn);
            out_json_key(&j, "max");
            out_json_int(&j, mx);
            out_json_key(&j, "ringlet_max");
            if (api)
                out_json_int(&j, api->max_version);
            else
                out_json_null(&j);
            out_json_obj_end(&j);
        } else {
            char k[8], a[8], b[8], r[8], u[8];
            snprintf(k, sizeof(k), "%d", key);
            snprintf(a, sizeof(a), "%d", mn);
            snprintf(b, sizeof(b), "%d", mx);
            snprintf(r, sizeof(r), "%d", api ? api->max_version : -1);
            snprintf(u, sizeof(u), "%d", used);
            const char *row[] = {k, api ? api->name : "?", a,
                                 b, api ? r : NULL,        used >= 0 ? u : NULL};
            out_table_add(&t, row);
        }
    }
    if (c->json) {
        out_json_list_end(&j);
    } else {
        out_table_print(c->out, &t);
        out_table_free(&t);
    }
    return CLI_OK;
}

const struct cli_cmd cli_cmd_cluster_api_versions = {
    "cluster",
    "api-versions",
    "[options]",
    "Show the API versions a broker supports and the ones ringlet would use.",
    "Sends ApiVersions (v3, falling back on UNSUPPORTED_VERSION) to a bootstrap broker.\n\n"
    "Examples:\n  ringlet cluster api-versions\n  ringlet cluster api-versions --format json\n",
    cli_none_opts,
    run_api_versions};

/* ---- shared result rows ---------------------------------------------------------------------- */

int cli_print_results(struct cli *c, const char *kind, struct ringlet_admin_result *r, int n) {
    int rc = CLI_OK;
    for (int i = 0; i < n; i++)
        if (r[i].error != 0) rc = CLI_FAIL;
    if (c->json) {
        struct out_json j;
        out_json_list_begin(&j, c->out, "results");
        for (int i = 0; i < n; i++) {
            out_json_obj_begin(&j);
            out_json_key(&j, "name");
            out_json_str(&j, r[i].name);
            out_json_key(&j, "error");
            if (r[i].error)
                out_json_str(&j, proto_error_name(r[i].error));
            else
                out_json_null(&j);
            out_json_key(&j, "message");
            out_json_str(&j, r[i].message);
            out_json_obj_end(&j);
        }
        out_json_list_end(&j);
        return rc;
    }
    struct out_table t;
    const char *h[] = {kind, "STATUS", "MESSAGE"};
    out_table_init(&t, 3, h);
    for (int i = 0; i < n; i++) {
        const char *row[] = {r[i].name, r[i].error ? proto_error_name(r[i].error) : "OK",
                             r[i].message ? r[i].message : ""};
        out_table_add(&t, row);
    }
    out_table_print(c->out, &t);
    out_table_free(&t);
    return rc;
}
