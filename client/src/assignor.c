/* SPDX-License-Identifier: Apache-2.0 */
/*
 * assignor.c - the classic consumer group protocol's embedded formats (subscription and
 * assignment, version 0) and the range and round-robin assignors, matching the Java client's
 * RangeAssignor and RoundRobinAssignor so mixed groups agree.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"
#include "ringlet/common.h"

void ringlet_tps_free(struct ringlet_tp *tps, int n) {
    if (tps == NULL) return;
    for (int i = 0; i < n; i++)
        rl_free(tps[i].topic);
    rl_free(tps);
}

static void tp_push(struct ringlet_assign_member *m, const char *topic, int32_t partition) {
    m->assigned = rl_realloc(m->assigned, sizeof(*m->assigned) * (size_t)(m->n_assigned + 1));
    m->assigned[m->n_assigned].topic = rl_strdup(topic);
    m->assigned[m->n_assigned].partition = partition;
    m->n_assigned++;
}

static bool subscribed(const struct ringlet_assign_member *m, const char *topic) {
    for (int i = 0; i < m->n_topics; i++)
        if (!strcmp(m->topics[i], topic)) return true;
    return false;
}

static int cmp_member_ptr(const void *a, const void *b) {
    const struct ringlet_assign_member *x = *(struct ringlet_assign_member *const *)a;
    const struct ringlet_assign_member *y = *(struct ringlet_assign_member *const *)b;
    return strcmp(x->member_id, y->member_id);
}

static int cmp_topic_ptr(const void *a, const void *b) {
    const struct ringlet_assign_topic *x = *(struct ringlet_assign_topic *const *)a;
    const struct ringlet_assign_topic *y = *(struct ringlet_assign_topic *const *)b;
    return strcmp(x->name, y->name);
}

int ringlet_assign(const char *assignor, struct ringlet_assign_member *members, int n_members,
                   const struct ringlet_assign_topic *topics, int n_topics) {
    bool range = !strcmp(assignor, "range");
    if (!range && strcmp(assignor, "roundrobin") != 0) return -EINVAL;
    for (int i = 0; i < n_members; i++) {
        members[i].assigned = NULL;
        members[i].n_assigned = 0;
    }
    struct ringlet_assign_member **ms = rl_calloc((size_t)n_members + 1, sizeof(*ms));
    for (int i = 0; i < n_members; i++)
        ms[i] = &members[i];
    qsort(ms, (size_t)n_members, sizeof(*ms), cmp_member_ptr);
    const struct ringlet_assign_topic **ts = rl_calloc((size_t)n_topics + 1, sizeof(*ts));
    for (int i = 0; i < n_topics; i++)
        ts[i] = &topics[i];
    qsort(ts, (size_t)n_topics, sizeof(*ts), cmp_topic_ptr);

    if (range) {
        struct ringlet_assign_member **subs = rl_calloc((size_t)n_members + 1, sizeof(*subs));
        for (int t = 0; t < n_topics; t++) {
            int ns = 0;
            for (int i = 0; i < n_members; i++)
                if (subscribed(ms[i], ts[t]->name)) subs[ns++] = ms[i];
            if (ns == 0) continue;
            int32_t per = ts[t]->partitions / ns, extra = ts[t]->partitions % ns;
            int32_t next = 0;
            for (int i = 0; i < ns; i++) {
                int32_t cnt = per + (i < extra ? 1 : 0);
                for (int32_t k = 0; k < cnt; k++)
                    tp_push(subs[i], ts[t]->name, next++);
            }
        }
        rl_free(subs);
    } else {
        int cursor = 0;
        for (int t = 0; t < n_topics; t++) {
            for (int32_t p = 0; p < ts[t]->partitions; p++) {
                /* Next member (cyclically) subscribed to this topic. */
                for (int tries = 0; tries < n_members; tries++) {
                    struct ringlet_assign_member *m = ms[(cursor + tries) % n_members];
                    if (!subscribed(m, ts[t]->name)) continue;
                    tp_push(m, ts[t]->name, p);
                    cursor = (cursor + tries + 1) % n_members;
                    break;
                }
            }
        }
    }
    rl_free(ms);
    rl_free(ts);
    return 0;
}

void ringlet_subscription_encode(struct proto_writer *w, const char *const *topics, int n) {
    proto_write_i16(w, 0);
    proto_write_array_len(w, n, false);
    for (int i = 0; i < n; i++)
        proto_write_string(w, proto_str_c(topics[i]), false);
    proto_write_bytes(w, PROTO_BYTES_NULL, false); /* user data */
}

int ringlet_subscription_decode(const uint8_t *p, int32_t len, char ***topics, int *n) {
    if (p == NULL || len < 2) return -EBADMSG;
    struct proto_reader r;
    proto_reader_init(&r, p, (size_t)len);
    int16_t version = proto_read_i16(&r);
    int32_t nt = proto_read_array_len(&r, false, 2);
    if (r.err || version < 0) return -EBADMSG;
    if (nt < 0) nt = 0;
    char **out = rl_calloc((size_t)nt + 1, sizeof(char *));
    for (int32_t i = 0; i < nt; i++) {
        struct proto_str s = proto_read_string(&r, false);
        if (r.err || s.len < 0) {
            for (int32_t k = 0; k < i; k++)
                rl_free(out[k]);
            rl_free(out);
            return -EBADMSG;
        }
        out[i] = proto_str_dup(s);
    }
    *topics = out;
    *n = nt;
    return 0;
}

void ringlet_assignment_encode(struct proto_writer *w, const struct ringlet_tp *tps, int n) {
    /* Group consecutive entries of the same topic (callers pass them sorted by topic). */
    int ntopics = 0;
    for (int i = 0; i < n; i++)
        if (i == 0 || strcmp(tps[i].topic, tps[i - 1].topic) != 0) ntopics++;
    proto_write_i16(w, 0);
    proto_write_array_len(w, ntopics, false);
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && !strcmp(tps[j].topic, tps[i].topic))
            j++;
        proto_write_string(w, proto_str_c(tps[i].topic), false);
        proto_write_array_len(w, j - i, false);
        for (int k = i; k < j; k++)
            proto_write_i32(w, tps[k].partition);
        i = j;
    }
    proto_write_bytes(w, PROTO_BYTES_NULL, false);
}

int ringlet_assignment_decode(const uint8_t *p, int32_t len, struct ringlet_tp **tps, int *n) {
    *tps = NULL;
    *n = 0;
    if (p == NULL || len <= 0) return 0; /* empty assignment */
    struct proto_reader r;
    proto_reader_init(&r, p, (size_t)len);
    int16_t version = proto_read_i16(&r);
    int32_t nt = proto_read_array_len(&r, false, 6);
    if (r.err || version < 0) return -EBADMSG;
    struct ringlet_tp *out = NULL;
    int cnt = 0;
    for (int32_t t = 0; t < nt && !r.err; t++) {
        struct proto_str name = proto_read_string(&r, false);
        int32_t np = proto_read_array_len(&r, false, 4);
        if (r.err || name.len < 0) break;
        for (int32_t k = 0; k < np; k++) {
            int32_t part = proto_read_i32(&r);
            if (r.err) break;
            out = rl_realloc(out, sizeof(*out) * (size_t)(cnt + 1));
            out[cnt].topic = proto_str_dup(name);
            out[cnt].partition = part;
            cnt++;
        }
    }
    if (r.err) {
        ringlet_tps_free(out, cnt);
        return -EBADMSG;
    }
    *tps = out;
    *n = cnt;
    return 0;
}
