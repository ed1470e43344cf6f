/* SPDX-License-Identifier: Apache-2.0 */
/*
 * out.c - the CLI's output formatting: aligned tables, JSON writer, record format strings.
 * Nothing here talks to the network, so all of it is unit-tested on memory streams.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"
#include "ringlet/common.h"

/* ---- tables ---------------------------------------------------------------------------------- */

void out_table_init(struct out_table *t, int ncols, const char *const *headers) {
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    t->cap = 8;
    t->cells = rl_calloc((size_t)t->cap * (size_t)ncols, sizeof(char *));
    t->right = rl_calloc((size_t)ncols, sizeof(bool));
    for (int c = 0; c < ncols; c++)
        t->cells[c] = rl_strdup(headers[c]);
}

void out_table_align_right(struct out_table *t, int col) {
    if (col >= 0 && col < t->ncols) t->right[col] = true;
}

void out_table_add(struct out_table *t, const char *const *cells) {
    int row = t->nrows + 1;
    if (row >= t->cap) {
        t->cap *= 2;
        t->cells = rl_realloc(t->cells, sizeof(char *) * (size_t)t->cap * (size_t)t->ncols);
    }
    for (int c = 0; c < t->ncols; c++)
        t->cells[row * t->ncols + c] = rl_strdup(cells[c] ? cells[c] : "-");
    t->nrows++;
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t text_width(const char *s) {
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) w++;
    return w;
}

void out_table_print(FILE *f, const struct out_table *t) {
    size_t *w = rl_calloc((size_t)t->ncols, sizeof(size_t));
    for (int r = 0; r <= t->nrows; r++)
        for (int c = 0; c < t->ncols; c++)
            w[c] = RL_MAX(w[c], text_width(t->cells[r * t->ncols + c]));
    for (int r = 0; r <= t->nrows; r++) {
        /* Trailing empty cells are left out, so no line ends in spaces. */
        int end = t->ncols;
        while (end > 1 && t->cells[r * t->ncols + end - 1][0] == '\0')
            end--;
        for (int c = 0; c < end; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t pad = w[c] - text_width(s);
            bool last = c == end - 1;
            if (t->right[c] && r > 0) {
                fprintf(f, "%*s%s", (int)pad, "", s);
            } else {
                fputs(s, f);
                if (!last) fprintf(f, "%*s", (int)pad, "");
            }
            if (!last) fputs("  ", f);
        }
        fputc('\n', f);
    }
    rl_free(w);
}

void out_table_free(struct out_table *t) {
    if (t->cells != NULL)
        for (int i = 0; i < (t->nrows + 1) * t->ncols; i++)
            rl_free(t->cells[i]);
    rl_free(t->cells);
    rl_free(t->right);
    memset(t, 0, sizeof(*t));
}

/* ---- JSON ------------------------------------------------------------------------------------ */

void out_json_init(struct out_json *j, FILE *f) {
    memset(j, 0, sizeof(*j));
    j->f = f;
    j->first[0] = true;
}

/* Writes the separator a new value needs. */
static void json_sep(struct out_json *j) {
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (!j->first[j->depth]) fputc(',', j->f);
    j->first[j->depth] = false;
}

static void json_open(struct out_json *j, char ch) {
    json_sep(j);
    fputc(ch, j->f);
    RL_BUG_ON(j->depth + 1 >= OUT_JSON_MAX_DEPTH);
    j->depth++;
    j->first[j->depth] = true;
}

static void json_close(struct out_json *j, char ch) {
    fputc(ch, j->f);
    if (j->depth > 0) j->depth--;
}

void out_json_obj_begin(struct out_json *j) {
    json_open(j, '{');
}
void out_json_obj_end(struct out_json *j) {
    json_close(j, '}');
}
void out_json_arr_begin(struct out_json *j) {
    json_open(j, '[');
}
void out_json_arr_end(struct out_json *j) {
    json_close(j, ']');
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if invalid. */
static size_t utf8_seq(const uint8_t *p, size_t left) {
    uint8_t c = p[0];
    if (c < 0x80) return 1;
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (left < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    return n;
}

bool out_utf8_valid(const uint8_t *p, size_t len) {
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_seq(p + i, len - i);
        if (n == 0) return false;
        i += n;
    }
    return true;
}

static void json_escape(FILE *f, const uint8_t *p, size_t len) {
    fputc('"', f);
    size_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        size_t n = utf8_seq(p + i, len - i);
        if (n == 0) {
            fputs("\xEF\xBF\xBD", f); /* U+FFFD for a byte that is not UTF-8 */
            i++;
            continue;
        }
        if (n > 1) {
            fwrite(p + i, 1, n, f);
            i += n;
            continue;
        }
        switch (c) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (c < 0x20 || c == 0x7F)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
        i++;
    }
    fputc('"', f);
}

void out_json_key(struct out_json *j, const char *key) {
    json_sep(j);
    json_escape(j->f, (const uint8_t *)key, strlen(key));
    fputc(':', j->f);
    j->after_key = true;
}

void out_json_strn(struct out_json *j, const void *ptr, int64_t len) {
    if (ptr == NULL || len < 0) {
        out_json_null(j);
        return;
    }
    json_sep(j);
    json_escape(j->f, ptr, (size_t)len);
}

void out_json_str(struct out_json *j, const char *s) {
    out_json_strn(j, s, s ? (int64_t)strlen(s) : -1);
}

void out_json_int(struct out_json *j, int64_t v) {
    json_sep(j);
    fprintf(j->f, "%" PRId64, v);
}

void out_json_bool(struct out_json *j, bool v) {
    json_sep(j);
    fputs(v ? "true" : "false", j->f);
}

void out_json_null(struct out_json *j) {
    json_sep(j);
    fputs("null", j->f);
}

void out_json_newline(struct out_json *j) {
    fputc('\n', j->f);
    j->first[0] = true;
}

void out_json_list_begin(struct out_json *j, FILE *f, const char *key) {
    out_json_init(j, f);
    out_json_obj_begin(j);
    out_json_key(j, key);
    out_json_arr_begin(j);
}

void out_json_list_end(struct out_json *j) {
    out_json_arr_end(j);
    out_json_obj_end(j);
    out_json_newline(j);
}

char *out_base64(const uint8_t *p, size_t len) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = rl_malloc((len + 2) / 3 * 4 + 1);
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8) | p[i + 2];
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = tbl[(v >> 6) & 63];
        out[o++] = tbl[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len) v |= (uint32_t)p[i + 1] << 8;
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

/* ---- records --------------------------------------------------------------------------------- */

int out_format_check(const char *fmt, char *errbuf, size_t errlen) {
    for (const char *p = fmt; *p; p++) {
        if (*p == '%') {
            if (p[1] == '\0' || strchr("tpoTkKsSh%", p[1]) == NULL) {
                if (errbuf && errlen)
                    snprintf(errbuf, errlen, "unknown format directive '%%%c'", p[1] ? p[1] : ' ');
                return -EINVAL;
            }
            p++;
        } else if (*p == '\\' && p[1] != '\0') {
            p++;
        }
    }
    return 0;
}

static void put_bytes(FILE *f, const uint8_t *p, int32_t len) {
    if (p != NULL && len > 0) fwrite(p, 1, (size_t)len, f);
}

void out_format_record(FILE *f, const char *fmt, const struct out_record *r) {
    for (const char *p = fmt; *p; p++) {
        if (*p == '\\' && p[1] != '\0') {
            p++;
            switch (*p) {
            case 'n':
                fputc('\n', f);
                break;
            case 't':
                fputc('\t', f);
                break;
            case 'r':
                fputc('\r', f);
                break;
            default:
                fputc(*p, f);
            }
            continue;
        }
        if (*p != '%' || p[1] == '\0') {
            fputc(*p, f);
            continue;
        }
        p++;
        switch (*p) {
        case 't':
            fputs(r->topic ? r->topic : "", f);
            break;
        case 'p':
            fprintf(f, "%" PRId32, r->partition);
            break;
        case 'o':
            fprintf(f, "%" PRId64, r->offset);
            break;
        case 'T':
            fprintf(f, "%" PRId64, r->timestamp);
            break;
        case 'k':
            put_bytes(f, r->key, r->key_len);
            break;
        case 'K':
            fprintf(f, "%" PRId32, r->key ? r->key_len : -1);
            break;
        case 's':
            put_bytes(f, r->value, r->value_len);
            break;
        case 'S':
            fprintf(f, "%" PRId32, r->value ? r->value_len : -1);
            break;
        case 'h':
            for (int32_t i = 0; i < r->n_headers; i++) {
                if (i) fputc(',', f);
                put_bytes(f, r->headers[i].key, r->headers[i].key_len);
                fputc('=', f);
                put_bytes(f, r->headers[i].value, r->headers[i].value_len);
            }
            break;
        case '%':
            fputc('%', f);
            break;
        default:
            fputc('%', f);
            fputc(*p, f);
        }
    }
}

/* Writes "name": string, or "name": null plus "name_base64": ... for bytes that are not UTF-8. */
static void json_bytes_field(struct out_json *j, const char *name, const uint8_t *p, int32_t len) {
    out_json_key(j, name);
    if (p == NULL || len < 0) {
        out_json_null(j);
        return;
    }
    if (out_utf8_valid(p, (size_t)len)) {
        out_json_strn(j, p, len);
        return;
    }
    out_json_null(j);
    char key[64];
    snprintf(key, sizeof(key), "%s_base64", name);
    char *b = out_base64(p, (size_t)len);
    out_json_key(j, key);
    out_json_str(j, b);
    free(b);
}

void out_json_record(FILE *f, const struct out_record *r) {
    struct out_json j;
    out_json_init(&j, f);
    out_json_obj_begin(&j);
    out_json_key(&j, "topic");
    out_json_str(&j, r->topic);
    out_json_key(&j, "partition");
    out_json_int(&j, r->partition);
    out_json_key(&j, "offset");
    out_json_int(&j, r->offset);
    out_json_key(&j, "timestamp");
    out_json_int(&j, r->timestamp);
    json_bytes_field(&j, "key", r->key, r->key_len);
    json_bytes_field(&j, "value", r->value, r->value_len);
    out_json_key(&j, "headers");
    out_json_arr_begin(&j);
    for (int32_t i = 0; i < r->n_headers; i++) {
        out_json_obj_begin(&j);
        json_bytes_field(&j, "key", r->headers[i].key, r->headers[i].key_len);
        json_bytes_field(&j, "value", r->headers[i].value, r->headers[i].value_len);
        out_json_obj_end(&j);
    }
    out_json_arr_end(&j);
    out_json_obj_end(&j);
    out_json_newline(&j);
}
