/* SPDX-License-Identifier: Apache-2.0 */
/* parse.c - the CLI's option value parsers (see parse.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "ringlet/client.h"
#include "ringlet/common.h"

#define ERR(...)                                                                                   \
    do {                                                                                           \
        if (errbuf && errlen) snprintf(errbuf, errlen, __VA_ARGS__);                               \
    } while (0)

int cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out, char *errbuf,
                  size_t errlen) {
    if (s == NULL || *s == '\0') {
        ERR("empty number");
        return -EINVAL;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        ERR("'%s' is not a number", s);
        return -EINVAL;
    }
    if (v < min || v > max) {
        ERR("%s is out of range [%lld, %lld]", s, (long long)min, (long long)max);
        return -ERANGE;
    }
    *out = v;
    return 0;
}

int cli_parse_offset_spec(const char *s, struct cli_offset_spec *out, char *errbuf, size_t errlen) {
    struct cli_offset_spec r = {0};
    int64_t v = 0;
    if (s == NULL) s = "";
    if (!strcmp(s, "beginning") || !strcmp(s, "start") || !strcmp(s, "earliest")) {
        r.kind = CLI_OFFSET_BEGINNING;
    } else if (!strcmp(s, "end") || !strcmp(s, "latest")) {
        r.kind = CLI_OFFSET_END;
    } else if (s[0] == '+' || s[0] == '-' || s[0] == '@') {
        if (cli_parse_int(s + 1, 0, INT64_MAX, &v, NULL, 0) != 0 || s[1] == '-' || s[1] == '+') {
            ERR("bad offset '%s' (want beginning, end, N, +N, -N or @timestamp_ms)", s);
            return -EINVAL;
        }
        r.kind = s[0] == '+'   ? CLI_OFFSET_FROM_BEGINNING
                 : s[0] == '-' ? CLI_OFFSET_FROM_END
                               : CLI_OFFSET_TIMESTAMP;
        r.value = v;
    } else {
        if (cli_parse_int(s, 0, INT64_MAX, &v, NULL, 0) != 0) {
            ERR("bad offset '%s' (want beginning, end, N, +N, -N or @timestamp_ms)", s);
            return -EINVAL;
        }
        r.kind = CLI_OFFSET_ABSOLUTE;
        r.value = v;
    }
    *out = r;
    return 0;
}

/* The spec kinds are declared in the order of the library's start kinds. */
_Static_assert((int)CLI_OFFSET_BEGINNING == (int)RINGLET_START_EARLIEST &&
                   (int)CLI_OFFSET_END == (int)RINGLET_START_LATEST &&
                   (int)CLI_OFFSET_ABSOLUTE == (int)RINGLET_START_OFFSET &&
                   (int)CLI_OFFSET_FROM_BEGINNING == (int)RINGLET_START_AFTER_EARLIEST &&
                   (int)CLI_OFFSET_FROM_END == (int)RINGLET_START_BEFORE_LATEST &&
                   (int)CLI_OFFSET_TIMESTAMP == (int)RINGLET_START_TIMESTAMP,
               "cli_offset_kind and ringlet_start_kind differ");

int64_t cli_offset_resolve(const struct cli_offset_spec *spec, int64_t log_start, int64_t log_end) {
    struct ringlet_start s = {(enum ringlet_start_kind)spec->kind, spec->value};
    return ringlet_start_resolve(&s, log_start, log_end);
}

static const char *const codec_names[] = {"none", "gzip", "snappy", "lz4", "zstd"};

int cli_parse_codec(const char *s, enum proto_compression *out, char *errbuf, size_t errlen) {
    for (size_t i = 0; i < RL_ARRAY_SIZE(codec_names); i++) {
        if (s != NULL && !strcmp(s, codec_names[i])) {
            *out = (enum proto_compression)i;
            return 0;
        }
    }
    ERR("unknown compression '%s' (want none, gzip, snappy, lz4 or zstd)", s ? s : "");
    return -EINVAL;
}

const char *cli_codec_name(enum proto_compression c) {
    if ((unsigned)c < RL_ARRAY_SIZE(codec_names)) return codec_names[c];
    return "unknown";
}

int cli_parse_acks(const char *s, int16_t *out, char *errbuf, size_t errlen) {
    if (s != NULL && (!strcmp(s, "all") || !strcmp(s, "-1"))) {
        *out = -1;
        return 0;
    }
    if (s != NULL && (!strcmp(s, "0") || !strcmp(s, "1"))) {
        *out = (int16_t)(s[0] - '0');
        return 0;
    }
    ERR("bad acks '%s' (want 0, 1 or all)", s ? s : "");
    return -EINVAL;
}

int cli_parse_kv(const char *s, char **buf, const char **k, const char **v, char *errbuf,
                 size_t errlen) {
    const char *eq = s ? strchr(s, '=') : NULL;
    if (eq == NULL || eq == s) {
        ERR("bad '%s' (want key=value)", s ? s : "");
        return -EINVAL;
    }
    char *copy = rl_strdup(s);
    copy[eq - s] = '\0';
    *buf = copy;
    *k = copy;
    *v = copy + (eq - s) + 1;
    return 0;
}

void cli_split_key(const char *line, size_t len, const char *sep, const char **key,
                   int32_t *key_len, const char **value, int32_t *value_len) {
    size_t sl = sep ? strlen(sep) : 0;
    if (sl > 0 && len >= sl) {
        for (size_t i = 0; i + sl <= len; i++) {
            if (memcmp(line + i, sep, sl) == 0) {
                *key = line;
                *key_len = (int32_t)i;
                *value = line + i + sl;
                *value_len = (int32_t)(len - i - sl);
                return;
            }
        }
    }
    *key = NULL;
    *key_len = -1;
    *value = line;
    *value_len = (int32_t)len;
}
