/* SPDX-License-Identifier: Apache-2.0 */
/*
 * topics.c - ringletd's topic/partition registry over storage/ partition logs.
 *
 * On disk (owned by this file, next to storage's own files):
 *   <log.dir>/<topic>-<n>/partition.metadata   "version: 0\ntopic_id: <base64url uuid>\n", as
 *                                               Kafka writes it; the topic id is stable across
 *                                               restarts.
 *   <log.dir>/.ringlet-topics/<topic>.cfg       the topic's config overrides, name=value lines.
 *
 * Invariants:
 *   1. Every file above is written atomically (tmp + fsync + rename + fsync of the directory),
 *      so a crash leaves either the old or the new version.
 *   2. A topic exists iff at least one of its partition directories exists. Its partition count
 *      is the highest partition index found + 1; missing partitions are (re)created at load.
 *   3. All partitions of a topic carry the same topic id. A partition without partition.metadata
 *      (crash between storage_log_open and the metadata write) gets the id of its siblings, or a
 *      new one if none has any.
 *
 * Transitions: broker_topics_init (load) -> broker_topic_create / _add_partitions /
 * _set_configs / _delete -> broker_topics_shutdown (close every log).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "topics.h"

#define TOPICS_META_DIR "/.ringlet-topics"

struct broker_topics {
    struct broker_topic **all; /* live topics */
    size_t n_all, cap_all;
    struct broker_topic **by_name; /* chained hash tables, nbuckets a power of two */
    struct broker_topic **by_id;
    size_t nbuckets;
    struct broker_topic **dying; /* deleted, still referenced */
    size_t n_dying, cap_dying;
    struct create_job **creating; /* broker_topic_create_async: files being made */
    size_t n_creating, cap_creating;
    int64_t last_expiry_ms; /* producer state expiry, once a minute */
    bool shutting_down;     /* broker_topics_shutdown frees every topic, referenced or not */
};

/* ---- small utilities ------------------------------------------------------------------------ */

char *broker_arena_strdup(struct proto_arena *a, struct proto_str s) {
    size_t n = s.len > 0 ? (size_t)s.len : 0;
    char *p = proto_arena_alloc(a, n + 1);
    if (n) memcpy(p, s.ptr, n);
    p[n] = 0;
    return p;
}

bool broker_uuid_is_zero(const struct proto_uuid *u) {
    for (int i = 0; i < 16; i++)
        if (u->b[i]) return false;
    return true;
}

void broker_uuid_random(struct proto_uuid *u) {
    do {
        size_t got = 0;
        while (got < sizeof(u->b)) {
            ssize_t r = getrandom(u->b + got, sizeof(u->b) - got, 0);
            if (r > 0) got += (size_t)r;
        }
        u->b[6] = (uint8_t)((u->b[6] & 0x0f) | 0x40); /* version 4 */
        u->b[8] = (uint8_t)((u->b[8] & 0x3f) | 0x80); /* variant */
    } while (broker_uuid_is_zero(u));
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void broker_uuid_base64(const struct proto_uuid *u, char out[23]) {
    int o = 0;
    for (int i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)u->b[i] << 16;
        int n = 16 - i >= 3 ? 3 : 16 - i;
        if (n > 1) v |= (uint32_t)u->b[i + 1] << 8;
        if (n > 2) v |= u->b[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        if (n > 1) out[o++] = b64url[(v >> 6) & 63];
        if (n > 2) out[o++] = b64url[v & 63];
    }
    out[o] = 0;
}

int broker_uuid_parse_base64(const char *s, struct proto_uuid *u) {
    uint8_t tmp[18] = {0};
    int nbits = 0, o = 0;
    uint32_t acc = 0;
    size_t len = strlen(s);
    while (len && (s[len - 1] == '=' || s[len - 1] == '\n' || s[len - 1] == ' '))
        len--;
    if (len != 22) return -EINVAL;
    for (size_t i = 0; i < len; i++) {
        const char *p = strchr(b64url, s[i]);
        if (!p || !s[i]) return -EINVAL;
        acc = (acc << 6) | (uint32_t)(p - b64url);
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            if (o < 18) tmp[o++] = (uint8_t)(acc >> nbits);
        }
    }
    if (o != 16) return -EINVAL;
    memcpy(u->b, tmp, 16);
    return broker_uuid_is_zero(u) ? -EINVAL : 0;
}

static int fsync_dir_of(const char *path) {
    char *dir = rl_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = 0;
    else if (slash)
        slash[1] = 0;
    else
        strcpy(dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rl_free(dir);
    if (fd < 0) return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int broker_write_file_atomic(const char *path, const void *data, size_t len) {
    /* the temporary name must not grow the final one: a 249-character topic name plus a suffix
     * already comes close to NAME_MAX */
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) + 1 : 0;
    char *tmp = rl_malloc(dlen + 16);
    memcpy(tmp, path, dlen);
    memcpy(tmp + dlen, ".tmp.XXXXXX", 12);
    int rc = 0;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    fchmod(fd, 0644);
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            rc = -errno;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (!rc && fsync(fd) < 0) rc = -errno;
    close(fd);
    if (!rc && rename(tmp, path) < 0) rc = -errno;
    if (!rc) rc = fsync_dir_of(path);
    if (rc) unlink(tmp);
out:
    rl_free(tmp);
    return rc;
}

/* Reads a whole small file into a NUL-terminated heap buffer. */
static int read_small_file(const char *path, char **out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    size_t cap = 4096, len = 0;
    char *buf = rl_malloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= (1u << 20)) break;
            cap *= 2;
            buf = rl_realloc(buf, cap);
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = 0;
    *out = buf;
    return 0;
}

static char *path_join3(const char *a, const char *b, const char *c) {
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *p = rl_malloc(la + lb + lc + 1);
    memcpy(p, a, la);
    memcpy(p + la, b, lb);
    memcpy(p + la + lb, c, lc + 1);
    return p;
}

static char *partition_meta_path(const char *log_dir, const char *topic, int32_t part) {
    size_t n = strlen(log_dir) + strlen(topic) + 64;
    char *p = rl_malloc(n);
    snprintf(p, n, "%s/%s-%d/partition.metadata", log_dir, topic, part);
    return p;
}

/* Writes <log_dir>/<topic>-<part>/partition.metadata naming the topic id (any thread). */
static int partition_meta_write(const char *log_dir, const char *topic, int32_t part,
                                const struct proto_uuid *id) {
    char ids[23], buf[64];
    broker_uuid_base64(id, ids);
    int n = snprintf(buf, sizeof(buf), "version: 0\ntopic_id: %s\n", ids);
    char *path = partition_meta_path(log_dir, topic, part);
    int rc = broker_write_file_atomic(path, buf, (size_t)n);
    if (rc < 0) rl_error("topics", "cannot write %s: %s", path, rl_strerror(rc));
    rl_free(path);
    return rc;
}

static char *topic_conf_path(const struct broker *b, const char *topic) {
    size_t n = strlen(b->cfg.log_dir) + strlen(topic) + 64;
    char *p = rl_malloc(n);
    snprintf(p, n, "%s" TOPICS_META_DIR "/%s.cfg", b->cfg.log_dir, topic);
    return p;
}

/* ---- topic name rules (Kafka's) ------------------------------------------------------------ */

bool broker_topic_name_valid(const char *name, size_t len, char *errmsg, size_t errlen) {
    if (len == 0) {
        snprintf(errmsg, errlen, "Topic name is illegal, it can't be empty");
        return false;
    }
    if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.')) {
        snprintf(errmsg, errlen, "Topic name cannot be \".\" or \"..\"");
        return false;
    }
    if (len > 249) {
        snprintf(errmsg, errlen, "Topic name is illegal, it can't be longer than 249 characters");
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            snprintf(errmsg, errlen,
                     "Topic name \"%.*s\" is illegal, it contains a character other than ASCII "
                     "alphanumerics, '.', '_' and '-'",
                     (int)RL_MIN(len, 249), name);
            return false;
        }
    }
    return true;
}

static bool topic_is_internal_name(const char *name) {
    return strcmp(name, "__consumer_offsets") == 0 || strcmp(name, "__transaction_state") == 0;
}

/* ---- the topic config table ----------------------------------------------------------------- */

/* TK_STR: a free-form string (TK_RATIO: a number in [0, 1]) kept only as an override; its
 * effective int64 value is unused and its default is def_str. */
enum tcfg_kind { TK_LONG, TK_INT, TK_ENUM, TK_STR, TK_RATIO };

struct tcfg_def {
    const char *name;
    enum tcfg_kind kind;
    int64_t lo, hi;
    const char *const *choices; /* TK_ENUM, NULL-terminated; index = value */
    const char *def_str;        /* TK_STR / TK_RATIO default */
    int64_t def;                /* default of the no-effect configs (TK_LONG/TK_INT/TK_ENUM) */
};

static const char *const cleanup_choices[] = {"delete", "compact", "compact,delete", NULL};
static const char *const compression_choices[] = {"producer", "uncompressed", "gzip", "snappy",
                                                  "lz4",      "zstd",         NULL};
static const char *const false_true[] = {"false", "true", NULL};
static const char *const true_false[] = {"true", "false", NULL};
static const char *const ts_choices[] = {"CreateTime", "LogAppendTime", NULL};

static const struct tcfg_def tcfg_defs[TCFG_COUNT] = {
    [TCFG_CLEANUP_POLICY] = {"cleanup.policy", TK_ENUM, 0, 0, cleanup_choices},
    [TCFG_COMPRESSION_TYPE] = {"compression.type", TK_ENUM, 0, 0, compression_choices},
    [TCFG_FLUSH_MESSAGES] = {"flush.messages", TK_LONG, 1, INT64_MAX, NULL},
    [TCFG_FLUSH_MS] = {"flush.ms", TK_LONG, 0, INT64_MAX, NULL},
    [TCFG_INDEX_INTERVAL_BYTES] = {"index.interval.bytes", TK_INT, 0, INT32_MAX, NULL},
    [TCFG_MAX_MESSAGE_BYTES] = {"max.message.bytes", TK_INT, 0, INT32_MAX, NULL},
    [TCFG_MESSAGE_TIMESTAMP_TYPE] = {"message.timestamp.type", TK_ENUM, 0, 0, ts_choices},
    [TCFG_MIN_INSYNC_REPLICAS] = {"min.insync.replicas", TK_INT, 1, INT32_MAX, NULL},
    [TCFG_RETENTION_BYTES] = {"retention.bytes", TK_LONG, -1, INT64_MAX, NULL},
    [TCFG_RETENTION_MS] = {"retention.ms", TK_LONG, -1, INT64_MAX, NULL},
    [TCFG_SEGMENT_BYTES] = {"segment.bytes", TK_INT, 14, INT32_MAX, NULL},
    [TCFG_SEGMENT_MS] = {"segment.ms", TK_LONG, 1, INT64_MAX, NULL},
    [TCFG_DELETE_RETENTION_MS] = {"delete.retention.ms", TK_LONG, 0, INT64_MAX, NULL, NULL,
                                  86400000},
    [TCFG_FILE_DELETE_DELAY_MS] = {"file.delete.delay.ms", TK_LONG, 0, INT64_MAX, NULL, NULL,
                                   60000},
    [TCFG_MAX_COMPACTION_LAG_MS] = {"max.compaction.lag.ms", TK_LONG, 1, INT64_MAX, NULL, NULL,
                                    INT64_MAX},
    [TCFG_MESSAGE_DOWNCONVERSION_ENABLE] = {"message.downconversion.enable", TK_ENUM, 0, 0,
                                            true_false, NULL, 0},
    [TCFG_MESSAGE_FORMAT_VERSION] = {"message.format.version", TK_STR, 0, 0, NULL, "3.0-IV1", 0},
    [TCFG_MESSAGE_TIMESTAMP_DIFFERENCE_MAX_MS] = {"message.timestamp.difference.max.ms", TK_LONG, 0,
                                                  INT64_MAX, NULL, NULL, INT64_MAX},
    [TCFG_MIN_CLEANABLE_DIRTY_RATIO] = {"min.cleanable.dirty.ratio", TK_RATIO, 0, 0, NULL, "0.5",
                                        0},
    [TCFG_MIN_COMPACTION_LAG_MS] = {"min.compaction.lag.ms", TK_LONG, 0, INT64_MAX, NULL, NULL, 0},
    [TCFG_PREALLOCATE] = {"preallocate", TK_ENUM, 0, 0, false_true, NULL, 0},
    [TCFG_SEGMENT_INDEX_BYTES] = {"segment.index.bytes", TK_INT, 4, INT32_MAX, NULL, NULL,
                                  10485760},
    [TCFG_SEGMENT_JITTER_MS] = {"segment.jitter.ms", TK_LONG, 0, INT64_MAX, NULL, NULL, 0},
    [TCFG_UNCLEAN_LEADER_ELECTION_ENABLE] = {"unclean.leader.election.enable", TK_ENUM, 0, 0,
                                             false_true, NULL, 0},
};

bool broker_tcfg_has_effect(int i) {
    return i < TCFG_DELETE_RETENTION_MS;
}

const char *broker_tcfg_name(int i) {
    return i >= 0 && i < TCFG_COUNT ? tcfg_defs[i].name : NULL;
}

int broker_tcfg_find(const char *name, size_t len) {
    for (int i = 0; i < TCFG_COUNT; i++)
        if (strlen(tcfg_defs[i].name) == len && memcmp(tcfg_defs[i].name, name, len) == 0) return i;
    return -1;
}

int broker_tcfg_parse(int i, const char *value, int64_t *out, char *errmsg, size_t errlen) {
    const struct tcfg_def *d = &tcfg_defs[i];
    if (!value) {
        snprintf(errmsg, errlen, "Null value not supported for topic config %s", d->name);
        return -EINVAL;
    }
    if (d->kind == TK_STR) {
        *out = 0;
        return 0;
    }
    if (d->kind == TK_RATIO) {
        char *e = NULL;
        errno = 0;
        double r = strtod(value, &e);
        if (errno || e == value || *e || !(r >= 0.0 && r <= 1.0)) {
            snprintf(errmsg, errlen,
                     "Invalid value %s for configuration %s: Value must be a number between 0 "
                     "and 1",
                     value, d->name);
            return -EINVAL;
        }
        *out = 0;
        return 0;
    }
    if (d->kind == TK_ENUM) {
        /* cleanup.policy is a list: accept "delete,compact" in any order and spacing */
        if (i == TCFG_CLEANUP_POLICY) {
            bool del = false, comp = false, bad = false;
            const char *p = value;
            while (*p) {
                while (*p == ' ' || *p == ',')
                    p++;
                const char *s = p;
                while (*p && *p != ',' && *p != ' ')
                    p++;
                size_t n = (size_t)(p - s);
                if (n == 0) continue;
                if (n == 6 && memcmp(s, "delete", 6) == 0)
                    del = true;
                else if (n == 7 && memcmp(s, "compact", 7) == 0)
                    comp = true;
                else
                    bad = true;
            }
            if (bad || (!del && !comp)) goto bad_enum;
            *out = comp ? (del ? 2 : 1) : 0;
            return 0;
        }
        for (int k = 0; d->choices[k]; k++) {
            if (strcmp(d->choices[k], value) == 0) {
                *out = k;
                return 0;
            }
        }
    bad_enum:
        snprintf(errmsg, errlen,
                 "Invalid value %s for configuration %s: String must be one of: ", value, d->name);
        for (int k = 0; d->choices[k]; k++) {
            size_t l = strlen(errmsg);
            snprintf(errmsg + l, errlen - l, "%s%s", k ? ", " : "", d->choices[k]);
        }
        return -EINVAL;
    }
    char *end = NULL;
    errno = 0;
    while (*value == ' ')
        value++;
    long long v = strtoll(value, &end, 10);
    while (end && *end == ' ')
        end++;
    if (errno || end == value || *end) {
        snprintf(errmsg, errlen, "Invalid value %s for configuration %s: Not a number of type %s",
                 value, d->name, d->kind == TK_INT ? "INT" : "LONG");
        return -EINVAL;
    }
    if (v < d->lo || v > d->hi) {
        snprintf(errmsg, errlen,
                 "Invalid value %s for configuration %s: Value must be at least %lld%s", value,
                 d->name, (long long)d->lo,
                 d->kind == TK_INT && v > d->hi ? " and fit in a 32-bit int" : "");
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int64_t tcfg_default_value(const struct broker *b, int i) {
    const struct broker_config *c = &b->cfg;
    switch (i) {
    case TCFG_CLEANUP_POLICY:
        return 0;
    case TCFG_COMPRESSION_TYPE:
        return 0;
    case TCFG_FLUSH_MESSAGES:
        return c->log_flush_interval_messages;
    case TCFG_FLUSH_MS:
        return c->log_flush_interval_ms;
    case TCFG_INDEX_INTERVAL_BYTES:
        return c->log_index_interval_bytes;
    case TCFG_MAX_MESSAGE_BYTES:
        return c->message_max_bytes;
    case TCFG_MESSAGE_TIMESTAMP_TYPE:
        return c->log_message_timestamp_type;
    case TCFG_MIN_INSYNC_REPLICAS:
        return 1;
    case TCFG_RETENTION_BYTES:
        return c->log_retention_bytes;
    case TCFG_RETENTION_MS:
        return c->log_retention_ms;
    case TCFG_SEGMENT_BYTES:
        return c->log_segment_bytes;
    case TCFG_SEGMENT_MS:
        return c->log_roll_ms;
    default:
        return tcfg_defs[i].def;
    }
}

static const char *tcfg_format(int i, int64_t v, char *buf, size_t len) {
    const struct tcfg_def *d = &tcfg_defs[i];
    if (d->kind == TK_STR || d->kind == TK_RATIO) {
        snprintf(buf, len, "%s", d->def_str);
    } else if (d->kind == TK_ENUM) {
        snprintf(buf, len, "%s", d->choices[v]);
    } else {
        snprintf(buf, len, "%lld", (long long)v);
    }
    return buf;
}

const char *broker_tcfg_default(const struct broker *b, int i, char *buf, size_t len) {
    return tcfg_format(i, tcfg_default_value(b, i), buf, len);
}

/* Validates overrides into cfg (defaults first). Duplicate names: the last one wins. */
static int tcfg_compute(const struct broker *b, const char *const *names, const char *const *values,
                        int32_t n, int64_t cfg[TCFG_COUNT], char *errmsg, size_t errlen) {
    for (int i = 0; i < TCFG_COUNT; i++)
        cfg[i] = tcfg_default_value(b, i);
    for (int32_t k = 0; k < n; k++) {
        int i = broker_tcfg_find(names[k], strlen(names[k]));
        if (i < 0) {
            snprintf(errmsg, errlen, "Unknown topic config name: %s", names[k]);
            return -EINVAL;
        }
        if (broker_tcfg_parse(i, values[k], &cfg[i], errmsg, errlen) < 0) return -EINVAL;
    }
    return 0;
}

void broker_topic_log_config(const struct broker_topic *t, struct storage_log_config *out) {
    memset(out, 0, sizeof(*out));
    storage_log_config_default(out);
    out->segment_bytes = t->cfg[TCFG_SEGMENT_BYTES];
    out->segment_ms = t->cfg[TCFG_SEGMENT_MS];
    out->index_interval_bytes = (int32_t)t->cfg[TCFG_INDEX_INTERVAL_BYTES];
    out->retention_ms = t->cfg[TCFG_RETENTION_MS];
    out->retention_bytes = t->cfg[TCFG_RETENTION_BYTES];
    out->flush_messages = t->cfg[TCFG_FLUSH_MESSAGES];
    out->flush_ms = t->cfg[TCFG_FLUSH_MS];
    out->max_message_bytes = (int32_t)t->cfg[TCFG_MAX_MESSAGE_BYTES];
}

/* ---- registry hash tables ------------------------------------------------------------------- */

static struct broker_topics *reg(const struct broker *b) {
    return b->topics;
}

static size_t name_bucket(const struct broker_topics *r, const char *name, size_t len) {
    return (size_t)rl_hash64(name, len, 0) & (r->nbuckets - 1);
}

static size_t id_bucket(const struct broker_topics *r, const struct proto_uuid *id) {
    return (size_t)rl_hash64(id->b, 16, 1) & (r->nbuckets - 1);
}

static void reg_rehash(struct broker_topics *r, size_t nb) {
    rl_free(r->by_name);
    rl_free(r->by_id);
    r->nbuckets = nb;
    r->by_name = rl_calloc(nb, sizeof(*r->by_name));
    r->by_id = rl_calloc(nb, sizeof(*r->by_id));
    for (size_t i = 0; i < r->n_all; i++) {
        struct broker_topic *t = r->all[i];
        size_t h = name_bucket(r, t->name, t->name_len);
        t->hnext_name = r->by_name[h];
        r->by_name[h] = t;
        h = id_bucket(r, &t->id);
        t->hnext_id = r->by_id[h];
        r->by_id[h] = t;
    }
}

static void reg_insert(struct broker_topics *r, struct broker_topic *t) {
    if (r->n_all == r->cap_all) {
        r->cap_all = r->cap_all ? r->cap_all * 2 : 16;
        r->all = rl_realloc(r->all, r->cap_all * sizeof(*r->all));
    }
    r->all[r->n_all++] = t;
    if (r->n_all > r->nbuckets) {
        reg_rehash(r, r->nbuckets * 2);
        return;
    }
    size_t h = name_bucket(r, t->name, t->name_len);
    t->hnext_name = r->by_name[h];
    r->by_name[h] = t;
    h = id_bucket(r, &t->id);
    t->hnext_id = r->by_id[h];
    r->by_id[h] = t;
}

static void reg_remove(struct broker_topics *r, struct broker_topic *t) {
    for (size_t i = 0; i < r->n_all; i++) {
        if (r->all[i] == t) {
            r->all[i] = r->all[--r->n_all];
            break;
        }
    }
    struct broker_topic **pp = &r->by_name[name_bucket(r, t->name, t->name_len)];
    while (*pp && *pp != t)
        pp = &(*pp)->hnext_name;
    if (*pp) *pp = t->hnext_name;
    pp = &r->by_id[id_bucket(r, &t->id)];
    while (*pp && *pp != t)
        pp = &(*pp)->hnext_id;
    if (*pp) *pp = t->hnext_id;
    t->hnext_name = t->hnext_id = NULL;
}

size_t broker_topics_count(const struct broker *b) {
    return reg(b) ? reg(b)->n_all : 0;
}

struct broker_topic *broker_topics_at(const struct broker *b, size_t i) {
    return reg(b) && i < reg(b)->n_all ? reg(b)->all[i] : NULL;
}

struct broker_topic *broker_topic_find(struct broker *b, const char *name, size_t len) {
    struct broker_topics *r = reg(b);
    if (!r || !name) return NULL;
    for (struct broker_topic *t = r->by_name[name_bucket(r, name, len)]; t; t = t->hnext_name)
        if (t->name_len == len && memcmp(t->name, name, len) == 0) return t;
    return NULL;
}

struct broker_topic *broker_topic_find_str(struct broker *b, struct proto_str name) {
    if (name.len < 0) return NULL;
    return broker_topic_find(b, name.ptr, (size_t)name.len);
}

struct broker_topic *broker_topic_find_id(struct broker *b, struct proto_uuid id) {
    struct broker_topics *r = reg(b);
    if (!r) return NULL;
    for (struct broker_topic *t = r->by_id[id_bucket(r, &id)]; t; t = t->hnext_id)
        if (memcmp(t->id.b, id.b, 16) == 0) return t;
    return NULL;
}

static bool name_is_dying(const struct broker_topics *r, const char *name, size_t len) {
    for (size_t i = 0; i < r->n_dying; i++)
        if (r->dying[i]->name_len == len && memcmp(r->dying[i]->name, name, len) == 0) return true;
    return false;
}

struct broker_partition *broker_partition_get(struct broker_topic *t, int32_t partition) {
    if (!t || partition < 0 || partition >= t->n_partitions) return NULL;
    return t->partitions[partition];
}

int32_t broker_topic_partition_count(const struct broker_topic *t) {
    return t->n_partitions;
}

struct storage_log *broker_partition_log(struct broker_partition *p) {
    return p->log;
}

/* ---- topic objects -------------------------------------------------------------------------- */

/* Replaces the topic's overrides. names/values may point into the current overrides (an
 * incremental alter re-submits them), so the new arrays are built before the old ones are freed. */
static void topic_set_overrides(struct broker_topic *t, const char *const *names,
                                const char *const *values, int32_t n) {
    char **new_names = n ? rl_calloc((size_t)n, sizeof(char *)) : NULL;
    char **new_values = n ? rl_calloc((size_t)n, sizeof(char *)) : NULL;
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        /* keep the last value of a duplicated name only */
        bool later = false;
        for (int32_t j = i + 1; j < n; j++)
            if (strcmp(names[i], names[j]) == 0) later = true;
        if (later) continue;
        new_names[k] = rl_strdup(names[i]);
        new_values[k] = rl_strdup(values[i]);
        k++;
    }
    for (int32_t i = 0; i < t->n_ov; i++) {
        rl_free(t->ov_names[i]);
        rl_free(t->ov_values[i]);
    }
    rl_free(t->ov_names);
    rl_free(t->ov_values);
    t->ov_names = new_names;
    t->ov_values = new_values;
    t->n_ov = k;
}

static struct broker_topic *topic_new(struct broker *b, const char *name, bool internal) {
    struct broker_topic *t = rl_calloc(1, sizeof(*t));
    t->name = rl_strdup(name);
    t->name_len = strlen(name);
    t->internal = internal || topic_is_internal_name(name);
    t->refs = 1;
    t->b = b;
    for (int i = 0; i < TCFG_COUNT; i++)
        t->cfg[i] = tcfg_default_value(b, i);
    return t;
}

static void partition_close(struct broker_partition *p, bool remove) {
    if (!p) return;
    if (p->log) {
        if (remove)
            storage_log_delete(p->log);
        else
            storage_log_close(p->log);
    }
    broker_pstate_free(p->pstate);
    rl_free(p);
}

static void topic_free(struct broker_topic *t, bool remove_logs) {
    for (int32_t i = 0; i < t->n_partitions; i++)
        partition_close(t->partitions[i], remove_logs);
    rl_free(t->partitions);
    topic_set_overrides(t, NULL, NULL, 0);
    rl_free(t->name);
    rl_free(t);
}

bool broker_topics_closing(const struct broker *b) {
    return !reg(b) || reg(b)->shutting_down;
}

void broker_topic_keep(struct broker_topic *t) {
    t->refs++;
}

void broker_topic_release(struct broker_topic *t) {
    RL_BUG_ON(t->refs <= 0);
    if (--t->refs > 0) return;
    struct broker_topics *r = reg(t->b);
    if (r) {
        for (size_t i = 0; i < r->n_dying; i++) {
            if (r->dying[i] == t) {
                r->dying[i] = r->dying[--r->n_dying];
                break;
            }
        }
    }
    rl_info("topics", "topic %s deleted", t->name);
    topic_free(t, true);
}

static int write_partition_meta(struct broker *b, struct broker_topic *t, int32_t part) {
    return partition_meta_write(b->cfg.log_dir, t->name, part, &t->id);
}

static int read_partition_meta(struct broker *b, const char *topic, int32_t part,
                               struct proto_uuid *id) {
    char *path = partition_meta_path(b->cfg.log_dir, topic, part);
    char *text = NULL;
    int rc = read_small_file(path, &text);
    rl_free(path);
    if (rc < 0) return rc;
    rc = -EINVAL;
    char *p = strstr(text, "topic_id:");
    if (p) {
        p += strlen("topic_id:");
        while (*p == ' ')
            p++;
        char *e = p;
        while (*e && *e != '\n' && *e != '\r' && *e != ' ')
            e++;
        *e = 0;
        rc = broker_uuid_parse_base64(p, id);
    }
    rl_free(text);
    return rc;
}

static int write_topic_conf(struct broker *b, struct broker_topic *t) {
    char *path = topic_conf_path(b, t->name);
    int rc = 0;
    if (t->n_ov == 0) {
        if (unlink(path) < 0 && errno != ENOENT) rc = -errno;
        if (!rc) fsync_dir_of(path);
        rl_free(path);
        return rc;
    }
    struct proto_writer w;
    proto_writer_init(&w);
    const char *hdr = "# ringlet topic config overrides (name=value)\n";
    proto_write_raw(&w, hdr, strlen(hdr));
    for (int32_t i = 0; i < t->n_ov; i++) {
        proto_write_raw(&w, t->ov_names[i], strlen(t->ov_names[i]));
        proto_write_raw(&w, "=", 1);
        proto_write_raw(&w, t->ov_values[i], strlen(t->ov_values[i]));
        proto_write_raw(&w, "\n", 1);
    }
    rc = broker_write_file_atomic(path, w.buf, w.len);
    if (rc < 0) rl_error("topics", "cannot write %s: %s", path, rl_strerror(rc));
    proto_writer_free(&w);
    rl_free(path);
    return rc;
}

/* Loads <topic>.cfg into the topic's overrides; unknown or invalid lines are logged
 * and skipped so a hand edit cannot keep the broker from starting. */
static void load_topic_conf(struct broker *b, struct broker_topic *t) {
    char *path = topic_conf_path(b, t->name);
    char *text = NULL;
    if (read_small_file(path, &text) < 0) {
        rl_free(path);
        return;
    }
    const char *names[TCFG_COUNT * 4];
    const char *values[TCFG_COUNT * 4];
    int32_t n = 0;
    int lineno = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        lineno++;
        if (*line == '#' || *line == 0) continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            rl_warn("topics", "%s:%d: expected name=value, line ignored", path, lineno);
            continue;
        }
        *eq = 0;
        int i = broker_tcfg_find(line, strlen(line));
        int64_t v;
        char err[256];
        if (i < 0 || broker_tcfg_parse(i, eq + 1, &v, err, sizeof(err)) < 0) {
            rl_warn("topics", "%s:%d: invalid topic config %s=%s, ignored", path, lineno, line,
                    eq + 1);
            continue;
        }
        if (n < (int32_t)RL_ARRAY_SIZE(names)) {
            names[n] = line;
            values[n] = eq + 1;
            n++;
        }
    }
    char err[256];
    topic_set_overrides(t, names, values, n);
    tcfg_compute(b, (const char *const *)t->ov_names, (const char *const *)t->ov_values, t->n_ov,
                 t->cfg, err, sizeof(err));
    rl_free(text);
    rl_free(path);
}

static int partition_open(struct broker *b, struct broker_topic *t, int32_t idx,
                          struct broker_partition **out) {
    struct storage_log_config lc;
    broker_topic_log_config(t, &lc);
    struct storage_log *log = NULL;
    int rc = storage_log_open(b->storage, t->name, idx, &lc, &log);
    if (rc < 0) {
        rl_error("topics", "cannot open partition %s-%d: %s", t->name, idx, rl_strerror(rc));
        return rc;
    }
    struct broker_partition *p = rl_calloc(1, sizeof(*p));
    p->topic = t;
    p->index = idx;
    p->log = log;
    p->pstate = broker_pstate_new();
    *out = p;
    return 0;
}

/* ---- start-up ------------------------------------------------------------------------------- */

struct found_dir {
    char *topic;
    int32_t partition;
};
struct found_dirs {
    struct found_dir *v;
    size_t n, cap;
};

static void collect_dir(void *arg, const char *topic, int32_t partition) {
    struct found_dirs *f = arg;
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->v = rl_realloc(f->v, f->cap * sizeof(*f->v));
    }
    f->v[f->n].topic = rl_strdup(topic);
    f->v[f->n].partition = partition;
    f->n++;
}

static int cmp_found(const void *a, const void *b) {
    const struct found_dir *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (c) return c;
    return x->partition < y->partition ? -1 : x->partition > y->partition;
}

/* Opens every partition of one topic found on disk (found[0..n) sorted by partition). */
static int load_topic(struct broker *b, struct found_dir *found, size_t n) {
    const char *name = found[0].topic;
    char err[256];
    if (!broker_topic_name_valid(name, strlen(name), err, sizeof(err))) {
        rl_warn("topics", "ignoring directories of topic \"%s\": %s", name, err);
        return 0;
    }
    struct broker_topic *t = topic_new(b, name, false);
    load_topic_conf(b, t);
    int32_t count = found[n - 1].partition + 1;
    t->partitions = rl_calloc((size_t)count, sizeof(*t->partitions));
    /* topic id: the first partition that has one */
    bool have_id = false;
    for (size_t i = 0; i < n && !have_id; i++)
        have_id = read_partition_meta(b, name, found[i].partition, &t->id) == 0;
    if (!have_id) {
        broker_uuid_random(&t->id);
        rl_warn("topics", "topic %s had no partition.metadata: new topic id assigned", name);
    }
    for (int32_t i = 0; i < count; i++) {
        int rc = partition_open(b, t, i, &t->partitions[i]);
        if (rc < 0) {
            t->n_partitions = i;
            topic_free(t, false);
            return rc;
        }
        t->n_partitions = i + 1;
        struct proto_uuid pid;
        int mrc = read_partition_meta(b, name, i, &pid);
        if (mrc < 0 || memcmp(pid.b, t->id.b, 16) != 0) {
            if (mrc == 0)
                rl_warn("topics", "partition %s-%d had another topic id: rewritten", name, i);
            write_partition_meta(b, t, i);
        }
        broker_pstate_rebuild(b, t->partitions[i]->pstate, t->partitions[i]->log, name, i);
    }
    if (broker_topic_find_id(b, t->id)) {
        rl_warn("topics", "topic %s shares its id with another topic: new id assigned", name);
        broker_uuid_random(&t->id);
        for (int32_t i = 0; i < count; i++)
            write_partition_meta(b, t, i);
    }
    reg_insert(reg(b), t);
    rl_info("topics", "loaded topic %s (%d partitions)", name, count);
    return 0;
}

int broker_topics_init(struct broker *b) {
    struct broker_topics *r = rl_calloc(1, sizeof(*r));
    r->nbuckets = 64;
    r->by_name = rl_calloc(r->nbuckets, sizeof(*r->by_name));
    r->by_id = rl_calloc(r->nbuckets, sizeof(*r->by_id));
    b->topics = r;
    int rc = broker_producers_init(b);
    if (rc < 0) return rc;
    char *meta = path_join3(b->cfg.log_dir, TOPICS_META_DIR, "");
    if (mkdir(meta, 0755) < 0 && errno != EEXIST) {
        rc = -errno;
        rl_error("topics", "cannot create %s: %s", meta, rl_strerror(rc));
        rl_free(meta);
        return rc;
    }
    rl_free(meta);
    struct found_dirs f = {0};
    storage_engine_foreach_dir(b->storage, collect_dir, &f);
    if (f.n) qsort(f.v, f.n, sizeof(*f.v), cmp_found);
    for (size_t i = 0; i < f.n && rc == 0;) {
        size_t j = i + 1;
        while (j < f.n && strcmp(f.v[j].topic, f.v[i].topic) == 0)
            j++;
        rc = load_topic(b, &f.v[i], j - i);
        i = j;
    }
    for (size_t i = 0; i < f.n; i++)
        rl_free(f.v[i].topic);
    rl_free(f.v);
    return rc;
}

void broker_topics_shutdown(struct broker *b) {
    struct broker_topics *r = reg(b);
    if (!r) return;
    r->shutting_down = true; /* see broker_topics_closing */
    for (size_t i = 0; i < r->n_all; i++) {
        struct broker_topic *t = r->all[i];
        for (int32_t p = 0; p < t->n_partitions; p++)
            broker_pstate_save(b, t->partitions[p]->pstate, t->name, p,
                               storage_log_end_offset(t->partitions[p]->log));
        topic_free(t, false);
    }
    for (size_t i = 0; i < r->n_dying; i++)
        topic_free(r->dying[i], true);
    rl_free(r->all);
    rl_free(r->dying);
    RL_BUG_ON(r->n_creating); /* broker_blocking_shutdown ran their jobs */
    rl_free(r->creating);
    rl_free(r->by_name);
    rl_free(r->by_id);
    rl_free(r);
    b->topics = NULL;
    broker_producers_shutdown(b);
}

void broker_topics_tick(struct broker *b, int64_t now_ms) {
    if (b->storage) storage_engine_tick(b->storage, now_ms);
    /* producer ids idle for a week lose their dedup state (Kafka: producer.id.expiration.ms
     * defaults to a day; a week is kinder to rarely-writing producers) */
    struct broker_topics *r = reg(b);
    if (!r || now_ms - r->last_expiry_ms < 60000) return;
    r->last_expiry_ms = now_ms;
    int64_t cutoff = rl_now_ms() - 7LL * 24 * 3600 * 1000;
    for (size_t i = 0; i < r->n_all; i++)
        for (int32_t p = 0; p < r->all[i]->n_partitions; p++)
            broker_pstate_expire(r->all[i]->partitions[p]->pstate, cutoff);
}

/* ---- create / delete / alter ---------------------------------------------------------------- */

#define BROKER_MAX_PARTITIONS 100000

struct create_job;
static bool name_is_creating(const struct broker_topics *r, const char *name);
static bool id_is_creating(const struct broker_topics *r, struct proto_uuid id);
static void remove_partition_dir(const char *log_dir, const char *topic, int32_t part);

/* Opens partitions n_partitions..count-1 of t, writing their partition.metadata if meta (else
 * a create_job made every file already). Returns 0 or a negative errno; t->n_partitions counts
 * the ones opened (one whose metadata write failed stays: its id is rewritten at next start). */
static int open_new_partitions(struct broker *b, struct broker_topic *t, int32_t count, bool meta) {
    t->partitions = rl_realloc(t->partitions, (size_t)count * sizeof(*t->partitions));
    for (int32_t i = t->n_partitions; i < count; i++) {
        t->partitions[i] = NULL;
        int rc = partition_open(b, t, i, &t->partitions[i]);
        if (rc == 0) t->n_partitions = i + 1;
        if (rc == 0 && meta) rc = write_partition_meta(b, t, i);
        if (rc < 0) return rc;
    }
    return 0;
}

/* Removes the directories a create_job made for partitions n_partitions..count-1 of t, which
 * were never opened. */
static void remove_unopened(struct broker *b, struct broker_topic *t, int32_t count) {
    for (int32_t i = t->n_partitions; i < count; i++)
        remove_partition_dir(b->cfg.log_dir, t->name, i);
}

/* Grows t to count partitions, their files made already (made: by a create_job) or not. */
static int grow_open(struct broker *b, struct broker_topic *t, int32_t count, bool made,
                     char *errmsg, size_t errlen) {
    int32_t from = t->n_partitions;
    int rc = open_new_partitions(b, t, count, !made);
    if (rc < 0) {
        if (made) remove_unopened(b, t, count);
        snprintf(errmsg, errlen, "Cannot create partitions %d..%d: %s", from, count - 1,
                 rl_strerror(rc));
        return PROTO_ERR_KAFKA_STORAGE_ERROR;
    }
    rl_info("topics", "topic %s now has %d partitions", t->name, count);
    return PROTO_ERR_NONE;
}

/* What every creation checks first. Returns a Kafka error (and errmsg), or PROTO_ERR_NONE with
 * the partition count resolved in *n and the topic's configuration in cfg. */
static int create_check(struct broker *b, const char *name, int32_t *n,
                        const char *const *cfg_names, const char *const *cfg_values, int32_t n_cfgs,
                        int64_t cfg[TCFG_COUNT], char *errmsg, size_t errlen) {
    struct broker_topics *r = reg(b);
    size_t len = strlen(name);
    if (errlen) errmsg[0] = 0;
    if (!broker_topic_name_valid(name, len, errmsg, errlen))
        return PROTO_ERR_INVALID_TOPIC_EXCEPTION;
    if (broker_topic_find(b, name, len)) {
        snprintf(errmsg, errlen, "Topic '%s' already exists.", name);
        return PROTO_ERR_TOPIC_ALREADY_EXISTS;
    }
    if (name_is_dying(r, name, len)) {
        snprintf(errmsg, errlen, "Topic '%s' is marked for deletion.", name);
        return PROTO_ERR_TOPIC_ALREADY_EXISTS;
    }
    if (name_is_creating(r, name)) {
        snprintf(errmsg, errlen, "Topic '%s' is being created.", name);
        return PROTO_ERR_TOPIC_ALREADY_EXISTS;
    }
    if (*n == -1) *n = (int32_t)b->cfg.num_partitions;
    if (*n < 1 || *n > BROKER_MAX_PARTITIONS) {
        snprintf(errmsg, errlen, "Number of partitions must be between 1 and %d (got %d).",
                 BROKER_MAX_PARTITIONS, *n);
        return PROTO_ERR_INVALID_PARTITIONS;
    }
    if (tcfg_compute(b, cfg_names, cfg_values, n_cfgs, cfg, errmsg, errlen) < 0)
        return PROTO_ERR_INVALID_CONFIG;
    return PROTO_ERR_NONE;
}

/* Builds, opens and registers a checked topic. With id, its partitions were made by a
 * create_job (directories, first segments, partition.metadata) and are only opened here. */
static int create_build(struct broker *b, const char *name, int32_t n, const char *const *cfg_names,
                        const char *const *cfg_values, int32_t n_cfgs,
                        const int64_t cfg[TCFG_COUNT], bool internal, const struct proto_uuid *id,
                        struct broker_topic **out, char *errmsg, size_t errlen) {
    struct broker_topics *r = reg(b);
    struct broker_topic *t = topic_new(b, name, internal);
    topic_set_overrides(t, cfg_names, cfg_values, n_cfgs);
    memcpy(t->cfg, cfg, sizeof(t->cfg));
    if (id) {
        t->id = *id;
    } else {
        do {
            broker_uuid_random(&t->id);
        } while (broker_topic_find_id(b, t->id) || id_is_creating(r, t->id));
    }
    int rc = write_topic_conf(b, t);
    if (rc == 0) rc = open_new_partitions(b, t, n, !id);
    if (rc < 0) {
        snprintf(errmsg, errlen, "Cannot create topic '%s' in %s: %s", name, b->cfg.log_dir,
                 rl_strerror(rc));
        if (id) remove_unopened(b, t, n);
        topic_set_overrides(t, NULL, NULL, 0);
        write_topic_conf(b, t);
        topic_free(t, true);
        return PROTO_ERR_KAFKA_STORAGE_ERROR;
    }
    reg_insert(r, t);
    rl_info("topics", "created topic %s with %d partition(s)", name, n);
    if (out) *out = t;
    return PROTO_ERR_NONE;
}

int broker_topic_create_ex(struct broker *b, const char *name, int32_t n,
                           const char *const *cfg_names, const char *const *cfg_values,
                           int32_t n_cfgs, bool internal, bool validate_only,
                           struct broker_topic **out, char *errmsg, size_t errlen) {
    int64_t cfg[TCFG_COUNT];
    int err = create_check(b, name, &n, cfg_names, cfg_values, n_cfgs, cfg, errmsg, errlen);
    if (err || validate_only) return err;
    return create_build(b, name, n, cfg_names, cfg_values, n_cfgs, cfg, internal, NULL, out, errmsg,
                        errlen);
}

/* ---- creation off the reactor ----------------------------------------------------------------
 * A topic's partition directories, first segments and partition.metadata files are made by a
 * job on the blocking thread (create_job_run: storage_log_prepare and a file write per
 * partition, nothing shared); the reactor then opens them and registers the topic
 * (create_job_done). Meanwhile the job is listed in the registry, so the name and id count as
 * taken. A job that fails removes what it made. */
struct create_job {
    struct broker_job job;
    struct broker *b;
    struct broker_topic *t; /* growing it (kept); NULL: creating a topic */
    char *name, *log_dir;
    int32_t from, n; /* partitions made: [from, n) */
    char **cfg_names, **cfg_values;
    int32_t n_cfgs;
    int64_t cfg[TCFG_COUNT];
    struct proto_uuid id;
    int rc; /* of the file-system work */
    broker_topic_created_fn done;
    void *arg;
};

static bool name_is_creating(const struct broker_topics *r, const char *name) {
    for (size_t i = 0; i < r->n_creating; i++)
        if (strcmp(r->creating[i]->name, name) == 0) return true;
    return false;
}

static bool id_is_creating(const struct broker_topics *r, struct proto_uuid id) {
    for (size_t i = 0; i < r->n_creating; i++)
        if (memcmp(&r->creating[i]->id, &id, sizeof(id)) == 0) return true;
    return false;
}

/* Removes <log_dir>/<topic>-<part> and the files in it (a partition made but never opened). */
static void remove_partition_dir(const char *log_dir, const char *topic, int32_t part) {
    char *dir = rl_malloc(strlen(log_dir) + strlen(topic) + 16);
    sprintf(dir, "%s/%s-%d", log_dir, topic, part);
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
    }
    rmdir(dir);
    rl_free(dir);
}

static void create_job_run(struct broker_job *job) {
    struct create_job *j = (struct create_job *)job;
    int32_t made = j->from;
    for (; made < j->n && j->rc == 0; made++) {
        j->rc = storage_log_prepare(j->log_dir, j->name, made);
        if (j->rc == 0) j->rc = partition_meta_write(j->log_dir, j->name, made, &j->id);
    }
    if (j->rc < 0)
        for (int32_t i = j->from; i < made; i++)
            remove_partition_dir(j->log_dir, j->name, i);
}

static void create_job_free(struct create_job *j) {
    for (int32_t i = 0; i < j->n_cfgs; i++) {
        rl_free(j->cfg_names[i]);
        rl_free(j->cfg_values[i]);
    }
    rl_free(j->cfg_names);
    rl_free(j->cfg_values);
    rl_free(j->name);
    rl_free(j->log_dir);
    rl_free(j);
}

/* A growth's job ran: open the new partitions, unless the topic was deleted meanwhile. */
static int grow_done(struct create_job *j, char *msg, size_t cap) {
    struct broker_topic *t = j->t;
    int err = PROTO_ERR_NONE;
    t->growing = false;
    if (j->rc < 0) {
        snprintf(msg, cap, "Cannot create partitions %d..%d: %s", j->from, j->n - 1,
                 rl_strerror(j->rc));
        err = PROTO_ERR_KAFKA_STORAGE_ERROR;
    } else if (t->deleted) {
        remove_unopened(j->b, t, j->n);
        snprintf(msg, cap, "The topic was deleted.");
        err = PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    } else {
        err = grow_open(j->b, t, j->n, true, msg, cap);
    }
    return err;
}

static void create_job_done(struct broker_job *job) {
    struct create_job *j = (struct create_job *)job;
    struct broker_topics *r = reg(j->b);
    for (size_t i = 0; i < r->n_creating; i++)
        if (r->creating[i] == j) {
            r->creating[i] = r->creating[--r->n_creating];
            break;
        }
    char msg[512] = "";
    struct broker_topic *t = j->t;
    int err;
    if (t) {
        err = grow_done(j, msg, sizeof(msg));
    } else if (j->rc < 0) {
        snprintf(msg, sizeof(msg), "Cannot create topic '%s' in %s: %s", j->name, j->log_dir,
                 rl_strerror(j->rc));
        err = PROTO_ERR_KAFKA_STORAGE_ERROR;
    } else {
        err = create_build(j->b, j->name, j->n, (const char *const *)j->cfg_names,
                           (const char *const *)j->cfg_values, j->n_cfgs, j->cfg, false, &j->id, &t,
                           msg, sizeof(msg));
    }
    if (err) rl_error("topics", "%s", msg);
    j->done(j->arg, (int16_t)err, t, msg);
    if (j->t) broker_topic_release(j->t); /* kept by broker_topic_add_partitions_async */
    create_job_free(j);
}

int broker_topic_create_async(struct broker *b, const char *name, int32_t n,
                              const char *const *cfg_names, const char *const *cfg_values,
                              int32_t n_cfgs, broker_topic_created_fn done, void *arg, char *errmsg,
                              size_t errlen) {
    struct broker_topics *r = reg(b);
    int64_t cfg[TCFG_COUNT];
    int err = create_check(b, name, &n, cfg_names, cfg_values, n_cfgs, cfg, errmsg, errlen);
    if (err) return err;
    struct create_job *j = rl_calloc(1, sizeof(*j));
    j->job.run = create_job_run;
    j->job.done = create_job_done;
    j->b = b;
    j->name = rl_strdup(name);
    j->log_dir = rl_strdup(b->cfg.log_dir);
    j->n = n;
    j->n_cfgs = n_cfgs;
    j->cfg_names = rl_calloc((size_t)RL_MAX(n_cfgs, 1), sizeof(char *));
    j->cfg_values = rl_calloc((size_t)RL_MAX(n_cfgs, 1), sizeof(char *));
    for (int32_t i = 0; i < n_cfgs; i++) {
        j->cfg_names[i] = rl_strdup(cfg_names[i]);
        j->cfg_values[i] = rl_strdup(cfg_values[i]);
    }
    memcpy(j->cfg, cfg, sizeof(cfg));
    do {
        broker_uuid_random(&j->id);
    } while (broker_topic_find_id(b, j->id) || id_is_creating(r, j->id));
    j->done = done;
    j->arg = arg;
    if (r->n_creating == r->cap_creating) {
        r->cap_creating = r->cap_creating ? r->cap_creating * 2 : 8;
        r->creating = rl_realloc(r->creating, r->cap_creating * sizeof(*r->creating));
    }
    r->creating[r->n_creating++] = j;
    broker_blocking_submit(b, &j->job);
    return PROTO_ERR_NONE;
}

int broker_topic_add_partitions_async(struct broker *b, struct broker_topic *t, int32_t count,
                                      broker_topic_created_fn done, void *arg, char *errmsg,
                                      size_t errlen) {
    if (t->growing) {
        snprintf(errmsg, errlen, "Partitions are being added to %s already.", t->name);
        return PROTO_ERR_INVALID_PARTITIONS;
    }
    int err = broker_topic_add_partitions(b, t, count, true, errmsg, errlen);
    if (err) return err;
    struct create_job *j = rl_calloc(1, sizeof(*j));
    j->job.run = create_job_run;
    j->job.done = create_job_done;
    j->b = b;
    j->t = t;
    j->name = rl_strdup(t->name);
    j->log_dir = rl_strdup(b->cfg.log_dir);
    j->from = t->n_partitions;
    j->n = count;
    j->id = t->id;
    j->done = done;
    j->arg = arg;
    t->growing = true;
    broker_topic_keep(t);
    broker_blocking_submit(b, &j->job);
    return PROTO_ERR_NONE;
}

int broker_topic_create(struct broker *b, const char *name, int32_t n, const char *const *cfg_names,
                        const char *const *cfg_values, int32_t n_cfgs, bool internal,
                        struct broker_topic **out, char *errmsg, size_t errlen) {
    return broker_topic_create_ex(b, name, n, cfg_names, cfg_values, n_cfgs, internal, false, out,
                                  errmsg, errlen);
}

struct broker_topic *broker_topic_get_or_create(struct broker *b, struct proto_str name,
                                                bool allow_create, int16_t *err) {
    struct broker_topic *t = broker_topic_find_str(b, name);
    if (t) return t;
    char msg[256];
    size_t len = name.len > 0 ? (size_t)name.len : 0;
    if (!broker_topic_name_valid(name.ptr, len, msg, sizeof(msg))) {
        *err = PROTO_ERR_INVALID_TOPIC_EXCEPTION;
        return NULL;
    }
    if (!allow_create || !b->cfg.auto_create_topics_enable) {
        *err = PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        return NULL;
    }
    char *cname = rl_strndup(name.ptr, len);
    int rc = broker_topic_create(b, cname, -1, NULL, NULL, 0, false, &t, msg, sizeof(msg));
    rl_free(cname);
    if (rc != PROTO_ERR_NONE) {
        /* "marked for deletion" shows as not available yet: clients retry */
        *err = rc == PROTO_ERR_TOPIC_ALREADY_EXISTS ? PROTO_ERR_LEADER_NOT_AVAILABLE : (int16_t)rc;
        return NULL;
    }
    return t;
}

int broker_topic_delete(struct broker *b, struct broker_topic *t) {
    struct broker_topics *r = reg(b);
    if (t->deleted) return PROTO_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    reg_remove(r, t);
    t->deleted = true;
    topic_set_overrides(t, NULL, NULL, 0);
    write_topic_conf(b, t);
    broker_groups_topic_deleted(b, t->name);
    if (r->n_dying == r->cap_dying) {
        r->cap_dying = r->cap_dying ? r->cap_dying * 2 : 8;
        r->dying = rl_realloc(r->dying, r->cap_dying * sizeof(*r->dying));
    }
    r->dying[r->n_dying++] = t;
    /* waiting fetches re-check and answer UNKNOWN_TOPIC_OR_PARTITION */
    for (int32_t i = 0; i < t->n_partitions; i++)
        broker_partition_notify(t->partitions[i]);
    broker_topic_release(t);
    return PROTO_ERR_NONE;
}

int broker_topic_add_partitions(struct broker *b, struct broker_topic *t, int32_t count,
                                bool validate_only, char *errmsg, size_t errlen) {
    if (count <= t->n_partitions) {
        snprintf(errmsg, errlen,
                 "Topic currently has %d partitions, which is higher than or equal to the "
                 "requested %d.",
                 t->n_partitions, count);
        return PROTO_ERR_INVALID_PARTITIONS;
    }
    if (count > BROKER_MAX_PARTITIONS) {
        snprintf(errmsg, errlen, "Number of partitions must be at most %d.", BROKER_MAX_PARTITIONS);
        return PROTO_ERR_INVALID_PARTITIONS;
    }
    if (validate_only) return PROTO_ERR_NONE;
    return grow_open(b, t, count, false, errmsg, errlen);
}

int broker_topic_set_configs(struct broker *b, struct broker_topic *t, const char *const *names,
                             const char *const *values, int32_t n, bool validate_only, char *errmsg,
                             size_t errlen) {
    int64_t cfg[TCFG_COUNT];
    if (tcfg_compute(b, names, values, n, cfg, errmsg, errlen) < 0) return PROTO_ERR_INVALID_CONFIG;
    if (validate_only) return PROTO_ERR_NONE;
    topic_set_overrides(t, names, values, n);
    memcpy(t->cfg, cfg, sizeof(cfg));
    int rc = write_topic_conf(b, t);
    struct storage_log_config lc;
    broker_topic_log_config(t, &lc);
    for (int32_t i = 0; i < t->n_partitions; i++)
        storage_log_set_config(t->partitions[i]->log, &lc);
    if (rc < 0) {
        snprintf(errmsg, errlen, "Config applied but not persisted: %s", rl_strerror(rc));
        return PROTO_ERR_KAFKA_STORAGE_ERROR;
    }
    rl_info("topics", "topic %s configs updated (%d override(s))", t->name, t->n_ov);
    return PROTO_ERR_NONE;
}

/* ---- appends and waiters -------------------------------------------------------------------- */

static void append_done(void *arg, int err, int64_t base_offset) {
    struct broker_append_op *op = arg;
    struct broker_partition *p = op->p;
    struct broker_topic *t = p->topic;
    if (err == 0) broker_partition_notify(p);
    op->done(op, err, base_offset);
    broker_topic_release(t);
}

int broker_partition_append(struct broker_partition *p, uint8_t *buf, size_t len, bool durable,
                            struct broker_append_op *op, int64_t *base_offset) {
    op->p = p;
    int rc = storage_log_append(p->log, buf, len, 0, durable, append_done, op, base_offset);
    if (rc == 0) broker_topic_keep(p->topic);
    return rc;
}

void broker_partition_wait(struct broker_partition *p, struct broker_waiter *w) {
    w->next = p->waiters;
    if (w->next) w->next->pprev = &w->next;
    w->pprev = &p->waiters;
    p->waiters = w;
}

void broker_waiter_remove(struct broker_waiter *w) {
    if (!w->pprev) return;
    *w->pprev = w->next;
    if (w->next) w->next->pprev = w->pprev;
    w->next = NULL;
    w->pprev = NULL;
}

void broker_partition_notify(struct broker_partition *p) {
    if (!p->waiters) return;
    /* Move the list aside; each waiter goes back on p's list before its callback runs, so a
     * callback may remove any waiter (its own on any partition) safely. */
    struct broker_waiter *local = p->waiters;
    local->pprev = &local;
    p->waiters = NULL;
    while (local) {
        struct broker_waiter *w = local;
        broker_waiter_remove(w);
        broker_partition_wait(p, w);
        w->fn(w->arg);
    }
}
