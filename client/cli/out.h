/* SPDX-License-Identifier: Apache-2.0 */
/*
 * out.h - the CLI's output: aligned text tables, a streaming JSON writer, kcat-style record
 * format strings (-f) and JSON record lines, all writing to a FILE * so tests can capture them.
 */
#ifndef RINGLET_CLI_OUT_H
#define RINGLET_CLI_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- tables: every cell is copied; columns are padded to the widest cell (UTF-8 aware) ---- */
struct out_table {
    int ncols;
    int nrows;
    int cap;
    char **cells; /* (nrows + 1) * ncols, row 0 = headers */
    bool *right;  /* per column: right-align (numbers) */
};
void out_table_init(struct out_table *t, int ncols, const char *const *headers);
/* Right-aligns column col (numbers read better that way). */
void out_table_align_right(struct out_table *t, int col);
/* Adds a row of ncols cells; a NULL cell prints as "-". */
void out_table_add(struct out_table *t, const char *const *cells);
void out_table_print(FILE *f, const struct out_table *t);
void out_table_free(struct out_table *t);

/* ---- JSON: commas and nesting handled by the writer ---------------------------------------- */
#define OUT_JSON_MAX_DEPTH 32
struct out_json {
    FILE *f;
    int depth;
    bool first[OUT_JSON_MAX_DEPTH]; /* no element written yet at this depth */
    bool after_key;
};
void out_json_init(struct out_json *j, FILE *f);
void out_json_obj_begin(struct out_json *j);
void out_json_obj_end(struct out_json *j);
void out_json_arr_begin(struct out_json *j);
void out_json_arr_end(struct out_json *j);
void out_json_key(struct out_json *j, const char *key);
/* A string from len bytes (escaped; invalid UTF-8 bytes become U+FFFD). NULL ptr or len < 0
 * writes null. */
void out_json_strn(struct out_json *j, const void *ptr, int64_t len);
void out_json_str(struct out_json *j, const char *s);
void out_json_int(struct out_json *j, int64_t v);
void out_json_bool(struct out_json *j, bool v);
void out_json_null(struct out_json *j);
/* Ends a top-level value with a newline (JSON lines). */
void out_json_newline(struct out_json *j);
/* out_json_list_begin starts a document {"key":[ on f; out_json_list_end closes an array and
 * the top-level object around it and ends the line. */
void out_json_list_begin(struct out_json *j, FILE *f, const char *key);
void out_json_list_end(struct out_json *j);

/* True if the len bytes are valid UTF-8 (no overlongs, no surrogates). */
bool out_utf8_valid(const uint8_t *p, size_t len);
/* Base64 (RFC 4648, padded) of len bytes into a heap string (caller frees with free()). */
char *out_base64(const uint8_t *p, size_t len);

/* ---- records ------------------------------------------------------------------------------- */
struct out_header {
    const uint8_t *key;
    int32_t key_len;
    const uint8_t *value;
    int32_t value_len; /* -1 = null */
};
struct out_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    const uint8_t *key;
    int32_t key_len; /* -1 = null */
    const uint8_t *value;
    int32_t value_len; /* -1 = null */
    const struct out_header *headers;
    int32_t n_headers;
};

/* Checks a kcat-style format string: %t topic, %p partition, %o offset, %T timestamp (ms),
 * %k key, %K key length, %s value, %S value length, %h headers (k=v,k=v), %% percent, and the
 * escapes \n \t \r \\. Returns 0 or -EINVAL with the bad directive in errbuf. */
int out_format_check(const char *fmt, char *errbuf, size_t errlen);
/* Writes one record with a (checked) format string. Null keys/values print as nothing and
 * their lengths as -1, like kcat. */
void out_format_record(FILE *f, const char *fmt, const struct out_record *r);
/* Writes one record as a JSON line: topic, partition, offset, timestamp, key, value (strings,
 * null when null; bytes that are not UTF-8 go to key_base64 / value_base64 instead) and headers
 * as [{"key":..,"value":..}]. */
void out_json_record(FILE *f, const struct out_record *r);

#endif /* RINGLET_CLI_OUT_H */
