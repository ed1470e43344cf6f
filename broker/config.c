/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - struct broker_config: defaults, the YAML file (libyaml), "name=value" overrides from
 * the command line, and the generated option reference (`ringletd --help-config[=markdown]`,
 * docs/configuration.md). Every option comes from the one X-macro table in config_options.h.
 *
 * YAML accepted: a mapping of "name: value" pairs; nested mappings join their keys with dots
 * (`log: {dir: x}` is `log.dir: x`); a sequence of scalars is joined with commas (handy for
 * listeners). Errors name the file and line: "ringlet.yaml:7: log.level: expected one of ...".
 */
#include "broker.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

enum opt_type { OPT_T_INT, OPT_T_BOOL, OPT_T_STR, OPT_T_ENUM };

struct opt {
    const char *name;
    enum opt_type type;
    size_t off;
    int64_t def_i, lo, hi;
    bool def_b;
    const char *def_s; /* string default, or the enum's default choice */
    const char *choices;
    const char *help;
};

static const struct opt opts[] = {
#define OPT_INT(f, n, d, l, h_, hp)                                                                \
    {n, OPT_T_INT, offsetof(struct broker_config, f), d, l, h_, false, NULL, NULL, hp},
#define OPT_BOOL(f, n, d, hp)                                                                      \
    {n, OPT_T_BOOL, offsetof(struct broker_config, f), 0, 0, 0, d, NULL, NULL, hp},
#define OPT_STR(f, n, d, hp)                                                                       \
    {n, OPT_T_STR, offsetof(struct broker_config, f), 0, 0, 0, false, d, NULL, hp},
#define OPT_ENUM(f, n, d, ch, hp)                                                                  \
    {n, OPT_T_ENUM, offsetof(struct broker_config, f), 0, 0, 0, false, d, ch, hp},
#include "config_options.h"
#undef OPT_INT
#undef OPT_BOOL
#undef OPT_STR
#undef OPT_ENUM
};

static const struct opt *opt_find(const char *name, size_t len) {
    for (size_t i = 0; i < RL_ARRAY_SIZE(opts); i++)
        if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0) return &opts[i];
    return NULL;
}

#define FIELD(c, o, T) ((T *)((char *)(c) + (o)->off))

/* The index of choice `val` (length len) in "a|b|c", case-insensitive; -1 if absent. */
static int enum_index(const char *choices, const char *val, size_t len) {
    int idx = 0;
    const char *p = choices;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncasecmp(p, val, n) == 0) return idx;
        idx++;
        if (!bar) break;
        p = bar + 1;
    }
    return -1;
}

/* Copies choice number idx of "a|b|c" into buf. */
static const char *enum_name(const char *choices, int idx, char *buf, size_t cap) {
    const char *p = choices;
    for (int i = 0; i < idx && p; i++) {
        p = strchr(p, '|');
        if (p) p++;
    }
    if (!p) {
        snprintf(buf, cap, "%d", idx);
        return buf;
    }
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n >= cap) n = cap - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

void broker_config_defaults(struct broker_config *c) {
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < RL_ARRAY_SIZE(opts); i++) {
        const struct opt *o = &opts[i];
        switch (o->type) {
        case OPT_T_INT:
            *FIELD(c, o, int64_t) = o->def_i;
            break;
        case OPT_T_BOOL:
            *FIELD(c, o, bool) = o->def_b;
            break;
        case OPT_T_STR:
            *FIELD(c, o, char *) = rl_strdup(o->def_s);
            break;
        case OPT_T_ENUM: {
            int idx = enum_index(o->choices, o->def_s, strlen(o->def_s));
            RL_BUG_ON(idx < 0); /* a default that is not among its choices */
            *FIELD(c, o, int) = idx;
            break;
        }
        }
    }
}

void broker_config_free(struct broker_config *c) {
    if (!c) return;
    for (size_t i = 0; i < RL_ARRAY_SIZE(opts); i++) {
        if (opts[i].type != OPT_T_STR) continue;
        char **p = FIELD(c, &opts[i], char *);
        rl_free(*p);
        *p = NULL;
    }
}

static bool parse_bool(const char *v, bool *out) {
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < RL_ARRAY_SIZE(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Sets option o from text v. On error writes "name: what is wrong" into err. */
static int opt_set(struct broker_config *c, const struct opt *o, const char *v, char *err,
                   size_t errlen) {
    switch (o->type) {
    case OPT_T_INT: {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (end == v || *end != '\0' || isspace((unsigned char)*v)) {
            snprintf(err, errlen, "%s: expected an integer, got '%s'", o->name, v);
            return -EINVAL;
        }
        if (errno == ERANGE || x < o->lo || x > o->hi) {
            snprintf(err, errlen, "%s: %s is out of range [%lld, %lld]", o->name, v,
                     (long long)o->lo, (long long)o->hi);
            return -EINVAL;
        }
        *FIELD(c, o, int64_t) = x;
        return 0;
    }
    case OPT_T_BOOL:
        if (!parse_bool(v, FIELD(c, o, bool))) {
            snprintf(err, errlen, "%s: expected true or false, got '%s'", o->name, v);
            return -EINVAL;
        }
        return 0;
    case OPT_T_STR: {
        char **p = FIELD(c, o, char *);
        rl_free(*p);
        *p = rl_strdup(v);
        return 0;
    }
    case OPT_T_ENUM: {
        int idx = enum_index(o->choices, v, strlen(v));
        if (idx < 0) {
            snprintf(err, errlen, "%s: expected one of %s, got '%s'", o->name, o->choices, v);
            return -EINVAL;
        }
        *FIELD(c, o, int) = idx;
        return 0;
    }
    }
    return -EINVAL;
}

int broker_config_set(struct broker_config *c, const char *name_eq_value, char *errbuf,
                      size_t errlen) {
    const char *eq = strchr(name_eq_value, '=');
    if (!eq) {
        snprintf(errbuf, errlen, "'%s': expected name=value", name_eq_value);
        return -EINVAL;
    }
    const struct opt *o = opt_find(name_eq_value, (size_t)(eq - name_eq_value));
    if (!o) {
        snprintf(errbuf, errlen, "unknown setting '%.*s' (see ringletd --help-config)",
                 (int)(eq - name_eq_value), name_eq_value);
        return -EINVAL;
    }
    return opt_set(c, o, eq + 1, errbuf, errlen);
}

/* ---- YAML ------------------------------------------------------------------------------------ */

struct yctx {
    yaml_parser_t parser;
    struct broker_config *c;
    const char *path;
    char *err;
    size_t errlen;
};

static int y_next(struct yctx *y, yaml_event_t *ev) {
    if (!yaml_parser_parse(&y->parser, ev)) {
        /* "while scanning X": point at where X started, not where the scan gave up. */
        size_t line = y->parser.context ? y->parser.context_mark.line : y->parser.problem_mark.line;
        snprintf(y->err, y->errlen, "%s:%zu: YAML syntax error: %s%s%s", y->path, line + 1,
                 y->parser.problem ? y->parser.problem : "malformed", y->parser.context ? " " : "",
                 y->parser.context ? y->parser.context : "");
        return -EINVAL;
    }
    return 0;
}

static int y_fail(struct yctx *y, const yaml_event_t *ev, const char *what) {
    snprintf(y->err, y->errlen, "%s:%zu: %s", y->path, (size_t)ev->start_mark.line + 1, what);
    return -EINVAL;
}

/* Applies value v (from the event at line) to the option named key. */
static int y_apply(struct yctx *y, const char *key, const char *v, size_t line) {
    char msg[512];
    const struct opt *o = opt_find(key, strlen(key));
    if (!o) {
        snprintf(y->err, y->errlen, "%s:%zu: unknown setting '%s' (see ringletd --help-config)",
                 y->path, line, key);
        return -EINVAL;
    }
    if (opt_set(y->c, o, v, msg, sizeof(msg)) < 0) {
        snprintf(y->err, y->errlen, "%s:%zu: %s", y->path, line, msg);
        return -EINVAL;
    }
    return 0;
}

static bool y_is_null(const yaml_event_t *ev) {
    const char *v = (const char *)ev->data.scalar.value;
    return ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0);
}

static int y_mapping(struct yctx *y, const char *prefix, int depth);

/* Parses the value of key (its first event already read into ev). Takes ownership of ev. */
static int y_value(struct yctx *y, const char *key, yaml_event_t *ev, int depth) {
    int rc = 0;
    size_t line = (size_t)ev->start_mark.line + 1;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        rc = y_apply(y, key, y_is_null(ev) ? "" : (const char *)ev->data.scalar.value, line);
        break;
    case YAML_MAPPING_START_EVENT:
        rc = y_mapping(y, key, depth + 1);
        break;
    case YAML_SEQUENCE_START_EVENT: {
        /* A list of scalars becomes one comma-separated value. */
        size_t cap = 256, len = 0;
        char *joined = rl_malloc(cap);
        joined[0] = '\0';
        for (;;) {
            yaml_event_t item;
            if ((rc = y_next(y, &item)) < 0) break;
            if (item.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&item);
                break;
            }
            if (item.type != YAML_SCALAR_EVENT) {
                char what[256];
                snprintf(what, sizeof(what), "%s: a list may only hold plain values", key);
                rc = y_fail(y, &item, what);
                yaml_event_delete(&item);
                break;
            }
            size_t n = item.data.scalar.length;
            if (len + n + 2 > cap) {
                cap = (len + n + 2) * 2;
                joined = rl_realloc(joined, cap);
            }
            if (len) joined[len++] = ',';
            memcpy(joined + len, item.data.scalar.value, n);
            len += n;
            joined[len] = '\0';
            yaml_event_delete(&item);
        }
        if (rc == 0) rc = y_apply(y, key, joined, line);
        rl_free(joined);
        break;
    }
    case YAML_ALIAS_EVENT:
        rc = y_fail(y, ev, "YAML aliases are not supported in the configuration");
        break;
    default:
        rc = y_fail(y, ev, "expected a value");
        break;
    }
    yaml_event_delete(ev);
    return rc;
}

/* Parses mapping entries until its end; keys are joined to prefix with a dot. */
static int y_mapping(struct yctx *y, const char *prefix, int depth) {
    if (depth > 16) {
        snprintf(y->err, y->errlen, "%s:%zu: settings nested too deeply", y->path,
                 (size_t)y->parser.mark.line + 1);
        return -EINVAL;
    }
    for (;;) {
        yaml_event_t kev, vev;
        int rc = y_next(y, &kev);
        if (rc < 0) return rc;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return 0;
        }
        if (kev.type != YAML_SCALAR_EVENT) {
            rc = y_fail(y, &kev, "expected a setting name");
            yaml_event_delete(&kev);
            return rc;
        }
        size_t plen = prefix ? strlen(prefix) : 0;
        size_t klen = kev.data.scalar.length;
        char *key = rl_malloc(plen + klen + 2);
        if (plen) {
            memcpy(key, prefix, plen);
            key[plen] = '.';
            memcpy(key + plen + 1, kev.data.scalar.value, klen);
            key[plen + 1 + klen] = '\0';
        } else {
            memcpy(key, kev.data.scalar.value, klen);
            key[klen] = '\0';
        }
        yaml_event_delete(&kev);
        rc = y_next(y, &vev);
        if (rc == 0) rc = y_value(y, key, &vev, depth);
        rl_free(key);
        if (rc < 0) return rc;
    }
}

int broker_config_load_yaml(struct broker_config *c, const char *path, char *errbuf,
                            size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        int err = errno;
        snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(err));
        return -EINVAL;
    }
    struct yctx y = {.c = c, .path = path, .err = errbuf, .errlen = errlen};
    yaml_parser_initialize(&y.parser);
    yaml_parser_set_input_file(&y.parser, f);
    int rc = 0;
    bool done = false, seen_doc = false;
    while (!done && rc == 0) {
        yaml_event_t ev;
        if ((rc = y_next(&y, &ev)) < 0) break;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (seen_doc) rc = y_fail(&y, &ev, "only one YAML document is allowed");
            seen_doc = true;
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_MAPPING_START_EVENT:
            rc = y_mapping(&y, NULL, 0);
            break;
        case YAML_SCALAR_EVENT:
            if (y_is_null(&ev)) break; /* an empty document */
            rc = y_fail(&y, &ev, "expected a mapping of settings (name: value)");
            break;
        default:
            rc = y_fail(&y, &ev, "expected a mapping of settings (name: value)");
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&y.parser);
    fclose(f);
    return rc < 0 ? -EINVAL : 0;
}

/* ---- reference and introspection ------------------------------------------------------------- */

static const char *type_name(enum opt_type t) {
    switch (t) {
    case OPT_T_INT:
        return "integer";
    case OPT_T_BOOL:
        return "boolean";
    case OPT_T_STR:
        return "string";
    case OPT_T_ENUM:
        return "enum";
    }
    return "?";
}

/* Formats the value of o in c (or its default when c is NULL) into buf. */
static const char *opt_text(const struct broker_config *c, const struct opt *o, char *buf,
                            size_t cap) {
    switch (o->type) {
    case OPT_T_INT:
        snprintf(buf, cap, "%lld", (long long)(c ? *FIELD(c, o, const int64_t) : o->def_i));
        return buf;
    case OPT_T_BOOL:
        return (c ? *FIELD(c, o, const bool) : o->def_b) ? "true" : "false";
    case OPT_T_STR: {
        const char *s = c ? *FIELD(c, o, char *const) : o->def_s;
        return s ? s : "";
    }
    case OPT_T_ENUM:
        if (!c) return o->def_s;
        return enum_name(o->choices, *FIELD(c, o, const int), buf, cap);
    }
    return "";
}

static void range_text(const struct opt *o, char *buf, size_t cap) {
    switch (o->type) {
    case OPT_T_INT:
        snprintf(buf, cap, "%lld .. %lld", (long long)o->lo, (long long)o->hi);
        break;
    case OPT_T_BOOL:
        snprintf(buf, cap, "true, false");
        break;
    case OPT_T_ENUM: {
        size_t j = 0;
        for (const char *p = o->choices; *p && j + 3 < cap; p++) {
            if (*p == '|') {
                buf[j++] = ',';
                buf[j++] = ' ';
            } else {
                buf[j++] = *p;
            }
        }
        buf[j] = '\0';
        break;
    }
    case OPT_T_STR:
        snprintf(buf, cap, "any");
        break;
    }
}

void broker_config_print_help(FILE *f, bool markdown) {
    char val[64], range[256];
    if (markdown) {
        fprintf(f, "# ringletd configuration\n\n"
                   "<!-- Generated by `ringletd --help-config=markdown` from "
                   "broker/config_options.h (CMake target `config_docs`); do not edit. -->\n\n"
                   "Settings come from a YAML file (`ringletd --config ringlet.yaml`) and the "
                   "command line (`--set name=value` or `--name=value`), which overrides the "
                   "file. In YAML, write `name: value`, or nest the dotted parts "
                   "(`log: {dir: /var/lib/ringlet}` is `log.dir`); a list of values is joined "
                   "with commas. A bad setting stops the broker with `file:line: what is wrong` "
                   "and exit code 2.\n\n"
                   "| Name | Type | Default | Allowed | Description |\n"
                   "|---|---|---|---|---|\n");
    }
    for (size_t i = 0; i < RL_ARRAY_SIZE(opts); i++) {
        const struct opt *o = &opts[i];
        const char *def = opt_text(NULL, o, val, sizeof(val));
        range_text(o, range, sizeof(range));
        if (markdown) {
            if (def[0])
                fprintf(f, "| `%s` | %s | `%s` | %s | ", o->name, type_name(o->type), def, range);
            else
                fprintf(f, "| `%s` | %s | *(empty)* | %s | ", o->name, type_name(o->type), range);
            for (const char *p = o->help; *p; p++) {
                if (*p == '|') fputc('\\', f);
                fputc(*p, f);
            }
            fputs(" |\n", f);
        } else {
            fprintf(f, "%s (%s, default \"%s\"; %s)\n    %s\n", o->name, type_name(o->type), def,
                    range, o->help);
        }
    }
}

int broker_config_foreach(const struct broker_config *c,
                          int (*cb)(void *arg, const char *name, const char *value,
                                    bool is_default),
                          void *arg) {
    char cur[64], def[64];
    for (size_t i = 0; i < RL_ARRAY_SIZE(opts); i++) {
        const struct opt *o = &opts[i];
        const char *v = opt_text(c, o, cur, sizeof(cur));
        const char *d = opt_text(NULL, o, def, sizeof(def));
        int rc = cb(arg, o->name, v, strcmp(v, d) == 0);
        if (rc) return rc;
    }
    return 0;
}
