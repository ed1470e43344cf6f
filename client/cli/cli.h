/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.h - shared pieces of the `ringlet` CLI: the context every command gets, the option
 * parser (GNU-style: options and operands in any order, --opt=value, -oVALUE, "--" ends
 * options), error helpers and the command table. Exit codes: 0 success, 1 any failed
 * operation (a single failed row included), 2 usage error.
 */
#ifndef RINGLET_CLI_H
#define RINGLET_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "out.h"
#include "parse.h"
#include "ringlet/client.h"

#define CLI_OK    0
#define CLI_FAIL  1
#define CLI_USAGE 2

struct cli_cmd;

struct cli {
    FILE *out;
    FILE *err;
    const char *brokers; /* -b; NULL = RINGLET_BROKERS or the default */
    bool json;           /* --format json */
    int timeout_ms;      /* --timeout: per request */
    bool verbose;
    const struct cli_cmd *cmd;
    struct ringlet_client *cl; /* created on first use */
};

struct cli_opt {
    const char *lng; /* long name without "--" */
    char shrt;       /* 0 = none */
    bool has_arg;
    int id;
};

/* Called once per command option (common options are handled by the parser). Returns 0 or
 * CLI_USAGE (after printing the problem with cli_usage). */
typedef int (*cli_opt_fn)(struct cli *c, void *ctx, int id, const char *arg);

struct cli_cmd {
    const char *group; /* "topic", "group", "cluster", or NULL for produce/consume */
    const char *name;
    const char *synopsis;       /* operands and options, one line */
    const char *summary;        /* one line */
    const char *help;           /* options and examples */
    const struct cli_opt *opts; /* terminated by {NULL} */
    int (*run)(struct cli *c, int argc, char **argv);
};

/* Parses argv (after the command words) with the command's options plus the common ones
 * (-b/--brokers, --format table|json, --timeout MS, --debug, -h/--help). Operands go to
 * pos/npos (pointers into argv; pos is heap, caller frees). Returns 0, CLI_USAGE after
 * printing a message, or -1 when --help was printed (the caller exits 0). */
int cli_parse(struct cli *c, int argc, char **argv, const struct cli_opt *opts, cli_opt_fn fn,
              void *ctx, char ***pos, int *npos);

/* Prints "ringlet <cmd>: <msg>" and the hint to --help; returns CLI_USAGE. */
int cli_usage(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "ringlet: <msg>" to the error stream. */
void cli_errorf(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The client (created on first use from -b / RINGLET_BROKERS / default). Returns 0 or
 * CLI_FAIL after printing why. */
int cli_client(struct cli *c, struct ringlet_client **out);
/* rl_strerror, except -ENOTSUP which reads "not supported by the broker". */
const char *cli_strerror(int neg_errno);
/* "NONE" for 0, else Kafka's error name. */
const char *cli_err_name(int16_t code);

/* The option table and handler of a command without options of its own. */
extern const struct cli_opt cli_none_opts[];
int cli_no_opts(struct cli *c, void *ctx, int id, const char *arg);
/* Start of a command without options or operands: parses argv and gets the client. Returns 0,
 * or the code to return (as cli_parse, or CLI_USAGE / CLI_FAIL after printing why). */
int cli_start(struct cli *c, int argc, char **argv, struct ringlet_client **cl);
/* Likewise for a command that takes one or more names of kind what ("topic") and no options:
 * on 0 the names are in pos/npos (caller frees pos); otherwise pos is already freed. */
int cli_start_names(struct cli *c, int argc, char **argv, const char *what, char ***pos, int *npos,
                    struct ringlet_client **cl);

/* One result row per named object (topic, group; rows as the library's admin calls return
 * them, freed with ringlet_admin_results_free): prints a NAME/STATUS/MESSAGE table or
 * {"results":[{"name","error","message"}]}; returns CLI_FAIL if any row failed. kind is the
 * column title ("TOPIC"). */
int cli_print_results(struct cli *c, const char *kind, struct ringlet_admin_result *r, int n);
/* Ends an admin call that returned call_rc (its message in err): CLI_FAIL after printing err if
 * it failed, else cli_print_results' code, and frees the rows. */
int cli_admin_results(struct cli *c, int call_rc, const char *err, const char *kind,
                      struct ringlet_admin_result *r, int n);

/* Command implementations (cmd_*.c). */
extern const struct cli_cmd cli_cmd_cluster_info, cli_cmd_cluster_api_versions,
    cli_cmd_cluster_metrics;
extern const struct cli_cmd cli_cmd_topic_list, cli_cmd_topic_describe, cli_cmd_topic_create,
    cli_cmd_topic_delete, cli_cmd_topic_alter_config, cli_cmd_topic_add_partitions;
extern const struct cli_cmd cli_cmd_group_list, cli_cmd_group_describe, cli_cmd_group_delete,
    cli_cmd_group_offset_delete, cli_cmd_group_seek;
extern const struct cli_cmd cli_cmd_produce, cli_cmd_consume;

/* Prometheus text format (cmd_metrics.c): one sample with its labels (escapes decoded). */
struct cli_prom_sample {
    char *name;
    int nlabels;
    char **lname, **lval;
    double value; /* NaN, +Inf and -Inf allowed */
};
struct cli_prom_set {
    struct cli_prom_sample *s;
    int n, cap;
};
/* Parses an exposition (comments, HELP/TYPE lines and blank lines skipped; optional timestamps
 * ignored). Returns 0 with *out filled (free with cli_prom_set_free), or -EINVAL with the line
 * and reason in errbuf. */
int cli_prom_parse(const char *text, size_t len, struct cli_prom_set *out, char *errbuf,
                   size_t errlen);
void cli_prom_set_free(struct cli_prom_set *set);
/* The value of label name, or NULL. */
const char *cli_prom_label(const struct cli_prom_sample *s, const char *name);
/* Quantile q of a histogram given as n cumulative buckets (upper bounds le ascending, the last
 * +Inf; cum the cumulative counts), interpolated linearly inside the bucket as Prometheus's
 * histogram_quantile. NaN if there are no observations or the buckets lack +Inf. */
double cli_prom_quantile(double q, const double *le, const double *cum, int n);

/* The CLI entry point: returns the process exit code. */
int cli_main(int argc, char **argv, FILE *out, FILE *err);

#endif /* RINGLET_CLI_H */
