/* SPDX-License-Identifier: Apache-2.0 */
/*
 * parse.h - parsers for the CLI's option values (offset specs, codecs, acks, k=v pairs,
 * bounded integers). Pure functions: they never print; errors go to errbuf.
 */
#ifndef RINGLET_CLI_PARSE_H
#define RINGLET_CLI_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringlet/protocol.h"

/* Where consume starts (-o). */
enum cli_offset_kind {
    CLI_OFFSET_BEGINNING,      /* "beginning", "start", "earliest" */
    CLI_OFFSET_END,            /* "end", "latest" */
    CLI_OFFSET_ABSOLUTE,       /* "123" */
    CLI_OFFSET_FROM_BEGINNING, /* "+N": N records after the log start */
    CLI_OFFSET_FROM_END,       /* "-N": N records before the log end */
    CLI_OFFSET_TIMESTAMP,      /* "@1700000000000": first record with timestamp >= ms */
};
struct cli_offset_spec {
    enum cli_offset_kind kind;
    int64_t value;
};
int cli_parse_offset_spec(const char *s, struct cli_offset_spec *out, char *errbuf, size_t errlen);
/* The offset within [log_start, log_end] a non-timestamp spec resolves to (clamped). */
int64_t cli_offset_resolve(const struct cli_offset_spec *spec, int64_t log_start, int64_t log_end);

/* "none", "gzip", "snappy", "lz4", "zstd". */
int cli_parse_codec(const char *s, enum proto_compression *out, char *errbuf, size_t errlen);
const char *cli_codec_name(enum proto_compression c);
/* "0", "1", "all" or "-1" (all) -> 0, 1, -1. */
int cli_parse_acks(const char *s, int16_t *out, char *errbuf, size_t errlen);
/* A decimal integer in [min, max], nothing else in the string. */
int cli_parse_int(const char *s, int64_t min, int64_t max, int64_t *out, char *errbuf,
                  size_t errlen);
/* "k=v" (the first '=' splits; v may be empty; k may not). Pointers into a heap copy *buf the
 * caller frees with free(). */
int cli_parse_kv(const char *s, char **buf, const char **k, const char **v, char *errbuf,
                 size_t errlen);

/* Splits a stdin line into key and value at the first occurrence of sep (-K). A line without
 * the separator has a null key (key_len -1) and the whole line as value. */
void cli_split_key(const char *line, size_t len, const char *sep, const char **key,
                   int32_t *key_len, const char **value, int32_t *value_len);

#endif /* RINGLET_CLI_PARSE_H */
