/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_golden.c - golden request frames captured from real clients (kcat 1.7.1 / librdkafka
 * 2.0.2, kafka-python 2.0.2, kafkajs 2.2.4; see golden/README.md for how each was made) decoded
 * with the generated decoders and checked field by field against what the client was told to
 * send: header (key, version, client id), topics, partitions, acks, group ids, protocol type and
 * assignor names, member ids, session/rebalance timeouts, committed offsets and metadata, the
 * consumer-protocol subscription/assignment bytes inside JoinGroup/SyncGroup, and for Produce the
 * records of each compression codec (key, value, header). Every frame must also re-encode to
 * exactly the captured bytes, and every .bin file in golden/ must be listed here.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol_testfill.h"
#include "ringlet/common.h"
#include "ringlet/protocol.h"

#ifndef GOLDEN_DIR
#error "GOLDEN_DIR must point at tests/unit/protocol/golden"
#endif

#define MAX_DECOMPRESSED (1u << 20)

struct golden;
typedef void (*golden_check_fn)(const struct golden *g, const void *msg);

/* One fixture: file, expected header, and the body check. */
struct golden {
    const char *file;
    int16_t key;
    int16_t version;
    const char *client_id;
    golden_check_fn check;
    const char *arg; /* check-specific: codec name for Produce */
};

/* Which client made a fixture, from its file name prefix. */
static const char *client_of(const struct golden *g) {
    if (strncmp(g->file, "kcat-", 5) == 0) return "kcat";
    if (strncmp(g->file, "kpy-", 4) == 0) return "kpy";
    return "kjs";
}

/* Group ids / topics as the capture drivers set them (README.md). */
static const char *group_of(const struct golden *g) {
    const char *c = client_of(g);
    if (strcmp(c, "kcat") == 0) return "golden-kcat-group";
    if (strcmp(c, "kpy") == 0) return "golden-kpy-group";
    return "golden-kjs-group";
}
static const char *topic_of(const struct golden *g) {
    return strcmp(client_of(g), "kjs") == 0 ? "golden-kjs" : "golden";
}
/* ringletd assigns member ids as "<client id>-<uuid>". */
static const char *member_prefix_of(const struct golden *g) {
    const char *c = client_of(g);
    if (strcmp(c, "kcat") == 0) return "rdkafka-";
    if (strcmp(c, "kpy") == 0) return "kafka-python-2.0.2-";
    return "golden-kjs-";
}

static void assert_str(struct proto_str s, const char *want) {
    if (!proto_str_eq(s, want)) {
        if (s.len < 0)
            print_error("got null string, want \"%s\"\n", want);
        else
            print_error("got \"%.*s\", want \"%s\"\n", (int)s.len, s.ptr, want);
        fail();
    }
}

static void assert_bytes_str(struct proto_bytes b, const char *want) {
    assert_true(b.len >= 0);
    assert_int_equal((size_t)b.len, strlen(want));
    assert_memory_equal(b.ptr, want, (size_t)b.len);
}

/* Member id as the broker handed it out: prefix + 36-char UUID. */
static void assert_member_id(const struct golden *g, struct proto_str id) {
    const char *p = member_prefix_of(g);
    size_t n = strlen(p);
    assert_true(id.len >= 0);
    assert_int_equal((size_t)id.len, n + 36);
    assert_memory_equal(id.ptr, p, n);
    assert_int_equal(id.ptr[n + 8], '-');
}

static uint8_t *read_fixture(const char *file, size_t *len) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, file);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        print_error("cannot open %s\n", path);
        fail();
    }
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    /* Exact size so ASan catches any read past the frame. */
    uint8_t *buf = malloc((size_t)n);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* ---- consumer protocol (JoinGroup metadata / SyncGroup assignment) ----------------------------
 */

/* ConsumerProtocolSubscription: version, topics[], user data, (v1+) owned partitions... Checks
 * the single subscribed topic. */
static void check_subscription(struct proto_bytes meta, const char *topic) {
    struct proto_reader r;
    proto_reader_init(&r, meta.ptr, (size_t)meta.len);
    int16_t version = proto_read_i16(&r);
    assert_true(version >= 0 && version <= 3);
    assert_int_equal(proto_read_array_len(&r, false, 2), 1);
    assert_str(proto_read_string(&r, false), topic);
    assert_int_equal(r.err, 0);
}

/* ConsumerProtocolAssignment: version, [topic, partitions[]], user data. Checks that the one
 * member got partition 0 of the topic. */
static void check_assignment(struct proto_bytes asg, const char *topic) {
    struct proto_reader r;
    proto_reader_init(&r, asg.ptr, (size_t)asg.len);
    int16_t version = proto_read_i16(&r);
    assert_true(version >= 0 && version <= 3);
    assert_int_equal(proto_read_array_len(&r, false, 6), 1);
    assert_str(proto_read_string(&r, false), topic);
    assert_int_equal(proto_read_array_len(&r, false, 4), 1);
    assert_int_equal(proto_read_i32(&r), 0);
    (void)proto_read_bytes(&r, false); /* user data */
    assert_int_equal(r.err, 0);
    assert_int_equal(proto_reader_remaining(&r), 0);
}

/* ---- per-API checks -------------------------------------------------------------------------- */

static void check_api_versions(const struct golden *g, const void *msg) {
    const struct ApiVersionsRequest *m = msg;
    if (g->version >= 3) {
        assert_str(m->ClientSoftwareName, "librdkafka");
        assert_str(m->ClientSoftwareVersion, "2.0.2");
    }
}

static void check_metadata(const struct golden *g, const void *msg) {
    const struct MetadataRequest *m = msg;
    if (strcmp(client_of(g), "kpy") == 0) {
        /* kafka-python's first Metadata v1 asks for all topics (null array). */
        assert_int_equal(m->n_Topics, -1);
        return;
    }
    assert_int_equal(m->n_Topics, 1);
    assert_str(m->Topics[0].Name, topic_of(g));
    assert_true(m->AllowAutoTopicCreation);
}

/* Produce of one record {key "k-<codec>", value "v-<codec>-<client>-golden[-x*200]", header
 * codec=<codec>} to partition 0 with acks=all, compressed with g->arg. */
static void check_produce(const struct golden *g, const void *msg) {
    static const char *const codecs[] = {"none", "gzip", "snappy", "lz4", "zstd"};
    const struct ProduceRequest *m = msg;
    const char *codec = g->arg;
    int codec_id = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(codecs[i], codec) == 0) codec_id = i;
    assert_true(codec_id >= 0);

    assert_int_equal(m->TransactionalId.len, -1);
    assert_int_equal(m->Acks, -1);
    assert_int_equal(m->TimeoutMs, 30000);
    assert_int_equal(m->n_TopicData, 1);
    assert_str(m->TopicData[0].Name, topic_of(g));
    assert_int_equal(m->TopicData[0].n_PartitionData, 1);
    const struct ProduceRequest_PartitionProduceData *pd = &m->TopicData[0].PartitionData[0];
    assert_int_equal(pd->Index, 0);

    /* Exactly one valid v2 batch with the codec's attribute bits. */
    struct proto_batch_header h;
    assert_true(pd->Records.len > 0);
    assert_int_equal(proto_batch_validate(pd->Records.ptr, (size_t)pd->Records.len, &h), 0);
    assert_int_equal(h.BatchLength + PROTO_BATCH_OVERHEAD, pd->Records.len);
    assert_int_equal(h.Magic, 2);
    assert_int_equal(h.Attributes & PROTO_ATTR_COMPRESSION_MASK, codec_id);
    assert_int_equal(h.Attributes & (PROTO_ATTR_TRANSACTIONAL | PROTO_ATTR_CONTROL), 0);
    assert_int_equal(h.RecordCount, 1);
    assert_int_equal(h.LastOffsetDelta, 0);
    assert_true(h.BaseTimestamp > 1600000000000LL);
    assert_true(h.MaxTimestamp >= h.BaseTimestamp);

    struct proto_arena a;
    proto_arena_init(&a);
    assert_int_equal(proto_batch_validate_records(pd->Records.ptr, (size_t)pd->Records.len, &a,
                                                  MAX_DECOMPRESSED),
                     0);
    struct proto_record_iter it;
    assert_int_equal(
        proto_record_iter_init(&it, pd->Records.ptr, (size_t)pd->Records.len, &a, MAX_DECOMPRESSED),
        0);
    struct proto_record rec;
    assert_int_equal(proto_record_iter_next(&it, &rec), 1);
    char want[64];
    assert_int_equal(rec.OffsetDelta, 0);
    snprintf(want, sizeof(want), "k-%s", codec);
    assert_bytes_str(rec.Key, want);
    /* kcat and kafka-python skip compression that does not shrink the batch, so their values
     * carry 200 bytes of padding; kafkajs always compresses. */
    char value[512];
    int n = snprintf(value, sizeof(value), "v-%s-%s-golden", codec, client_of(g));
    if (strcmp(client_of(g), "kjs") != 0) {
        value[n++] = '-';
        memset(value + n, 'x', 200);
        value[n + 200] = '\0';
    }
    assert_bytes_str(rec.Value, value);
    assert_int_equal(rec.n_Headers, 1);
    assert_bytes_str(rec.Headers[0].key, "codec");
    assert_bytes_str(rec.Headers[0].value, codec);
    assert_int_equal(proto_record_iter_next(&it, &rec), 0);
    proto_arena_destroy(&a);
}

static void check_fetch(const struct golden *g, const void *msg) {
    const struct FetchRequest *m = msg;
    const char *c = client_of(g);
    assert_int_equal(m->ReplicaId, -1);
    assert_int_equal(m->MinBytes, 1);
    if (strcmp(c, "kjs") == 0) {
        assert_int_equal(m->MaxWaitMs, 5000);    /* kafkajs maxWaitTimeInMs default */
        assert_int_equal(m->MaxBytes, 10485760); /* kafkajs maxBytes default */
    } else {
        assert_int_equal(m->MaxWaitMs, 500);     /* fetch.wait.max.ms / fetch_max_wait_ms */
        assert_int_equal(m->MaxBytes, 52428800); /* fetch.max.bytes / fetch_max_bytes */
    }
    /* read_committed for librdkafka and kafkajs, read_uncommitted for kafka-python. */
    assert_int_equal(m->IsolationLevel, strcmp(c, "kpy") == 0 ? 0 : 1);
    if (g->version >= 7) {
        assert_int_equal(m->SessionId, 0);
        assert_int_equal(m->SessionEpoch, -1);
        assert_int_equal(m->n_ForgottenTopicsData, 0);
    }
    if (g->version >= 11) assert_str(m->RackId, "");
    assert_int_equal(m->n_Topics, 1);
    assert_str(m->Topics[0].Topic, topic_of(g));
    assert_int_equal(m->Topics[0].n_Partitions, 1);
    const struct FetchRequest_FetchPartition *p = &m->Topics[0].Partitions[0];
    assert_int_equal(p->Partition, 0);
    assert_true(p->FetchOffset == 0); /* first fetch from the beginning */
    if (g->version >= 9) assert_int_equal(p->CurrentLeaderEpoch, -1);
    if (g->version >= 5) assert_true(p->LogStartOffset == -1);
    assert_int_equal(p->PartitionMaxBytes, 1048576);
}

static void check_list_offsets(const struct golden *g, const void *msg) {
    const struct ListOffsetsRequest *m = msg;
    assert_int_equal(m->ReplicaId, -1);
    if (g->version >= 2) assert_int_equal(m->IsolationLevel, 1);
    assert_int_equal(m->n_Topics, 1);
    assert_str(m->Topics[0].Name, topic_of(g));
    assert_int_equal(m->Topics[0].n_Partitions, 1);
    assert_int_equal(m->Topics[0].Partitions[0].PartitionIndex, 0);
    assert_true(m->Topics[0].Partitions[0].Timestamp == -2); /* earliest */
}

static void check_find_coordinator(const struct golden *g, const void *msg) {
    const struct FindCoordinatorRequest *m = msg;
    assert_str(m->Key, group_of(g));
    assert_int_equal(m->KeyType, 0);
}

/* JoinGroup: session.timeout 10000 as configured; the first join has an empty member id (v4+
 * brokers answer MEMBER_ID_REQUIRED), the second (arg "rejoin") the broker-assigned one. */
static void check_join_group(const struct golden *g, const void *msg) {
    const struct JoinGroupRequest *m = msg;
    const char *c = client_of(g);
    assert_str(m->GroupId, group_of(g));
    assert_int_equal(m->SessionTimeoutMs, 10000);
    /* max.poll.interval.ms / max_poll_interval_ms default, kafkajs rebalanceTimeout default. */
    assert_int_equal(m->RebalanceTimeoutMs, strcmp(c, "kjs") == 0 ? 60000 : 300000);
    if (g->arg != NULL && strcmp(g->arg, "rejoin") == 0)
        assert_member_id(g, m->MemberId);
    else
        assert_str(m->MemberId, "");
    if (g->version >= 5) assert_int_equal(m->GroupInstanceId.len, -1);
    assert_str(m->ProtocolType, "consumer");
    if (strcmp(c, "kjs") == 0) {
        assert_int_equal(m->n_Protocols, 1);
        assert_str(m->Protocols[0].Name, "RoundRobinAssigner");
    } else {
        /* kcat: partition.assignment.strategy=range,roundrobin; kafka-python's default. */
        assert_int_equal(m->n_Protocols, 2);
        assert_str(m->Protocols[0].Name, "range");
        assert_str(m->Protocols[1].Name, "roundrobin");
    }
    for (int32_t i = 0; i < m->n_Protocols; i++)
        check_subscription(m->Protocols[i].Metadata, topic_of(g));
}

static void check_sync_group(const struct golden *g, const void *msg) {
    const struct SyncGroupRequest *m = msg;
    assert_str(m->GroupId, group_of(g));
    assert_true(m->GenerationId >= 1);
    assert_member_id(g, m->MemberId);
    if (g->version >= 3) assert_int_equal(m->GroupInstanceId.len, -1);
    /* The only member is the leader: it sends the one assignment, to itself. */
    assert_int_equal(m->n_Assignments, 1);
    assert_int_equal(m->Assignments[0].MemberId.len, m->MemberId.len);
    assert_memory_equal(m->Assignments[0].MemberId.ptr, m->MemberId.ptr, (size_t)m->MemberId.len);
    check_assignment(m->Assignments[0].Assignment, topic_of(g));
}

static void check_heartbeat(const struct golden *g, const void *msg) {
    const struct HeartbeatRequest *m = msg;
    assert_str(m->GroupId, group_of(g));
    assert_true(m->GenerationId >= 1);
    assert_member_id(g, m->MemberId);
    if (g->version >= 3) assert_int_equal(m->GroupInstanceId.len, -1);
}

/* Commits: kcat auto-commits offset 5 (after the 5 records), kafka-python commits 42 with
 * metadata "golden-meta", kafkajs commits 7. */
static void check_offset_commit(const struct golden *g, const void *msg) {
    const struct OffsetCommitRequest *m = msg;
    const char *c = client_of(g);
    assert_str(m->GroupId, group_of(g));
    assert_true(m->GenerationIdOrMemberEpoch >= 1);
    assert_member_id(g, m->MemberId);
    if (g->version >= 7) assert_int_equal(m->GroupInstanceId.len, -1);
    if (g->version >= 2 && g->version <= 4) assert_true(m->RetentionTimeMs == -1);
    assert_int_equal(m->n_Topics, 1);
    assert_str(m->Topics[0].Name, topic_of(g));
    assert_int_equal(m->Topics[0].n_Partitions, 1);
    const struct OffsetCommitRequest_OffsetCommitRequestPartition *p = &m->Topics[0].Partitions[0];
    assert_int_equal(p->PartitionIndex, 0);
    if (strcmp(c, "kcat") == 0) {
        assert_true(p->CommittedOffset == 5);
    } else if (strcmp(c, "kpy") == 0) {
        assert_true(p->CommittedOffset == 42);
        assert_str(p->CommittedMetadata, "golden-meta");
    } else {
        assert_true(p->CommittedOffset == 7);
    }
}

static void check_offset_fetch(const struct golden *g, const void *msg) {
    const struct OffsetFetchRequest *m = msg;
    assert_str(m->GroupId, group_of(g));
    assert_int_equal(m->n_Topics, 1);
    assert_str(m->Topics[0].Name, topic_of(g));
    assert_int_equal(m->Topics[0].n_PartitionIndexes, 1);
    assert_int_equal(m->Topics[0].PartitionIndexes[0], 0);
}

static void check_leave_group(const struct golden *g, const void *msg) {
    const struct LeaveGroupRequest *m = msg;
    assert_str(m->GroupId, group_of(g));
    if (g->version >= 3) {
        assert_int_equal(m->n_Members, 1);
        assert_member_id(g, m->Members[0].MemberId);
        assert_int_equal(m->Members[0].GroupInstanceId.len, -1);
    } else {
        assert_member_id(g, m->MemberId);
    }
}

/* ---- the fixtures ---------------------------------------------------------------------------- */

#define RDK "rdkafka"
#define KPY "kafka-python-2.0.2"
#define KJS "golden-kjs"

static const struct golden goldens[] = {
    /* kcat 1.7.1 / librdkafka 2.0.2 */
    {"kcat-ApiVersions-v3-1.bin", 18, 3, RDK, check_api_versions, NULL},
    {"kcat-Metadata-v4-1.bin", 3, 4, RDK, check_metadata, NULL},
    {"kcat-Produce-v7-1.bin", 0, 7, RDK, check_produce, "none"},
    {"kcat-Produce-v7-2.bin", 0, 7, RDK, check_produce, "gzip"},
    {"kcat-Produce-v7-3.bin", 0, 7, RDK, check_produce, "snappy"},
    {"kcat-Produce-v7-4.bin", 0, 7, RDK, check_produce, "lz4"},
    {"kcat-Produce-v7-5.bin", 0, 7, RDK, check_produce, "zstd"},
    {"kcat-ListOffsets-v2-1.bin", 2, 2, RDK, check_list_offsets, NULL},
    {"kcat-Fetch-v11-1.bin", 1, 11, RDK, check_fetch, NULL},
    {"kcat-FindCoordinator-v2-1.bin", 10, 2, RDK, check_find_coordinator, NULL},
    {"kcat-JoinGroup-v5-1.bin", 11, 5, RDK, check_join_group, NULL},
    {"kcat-JoinGroup-v5-2.bin", 11, 5, RDK, check_join_group, "rejoin"},
    {"kcat-SyncGroup-v3-1.bin", 14, 3, RDK, check_sync_group, NULL},
    {"kcat-Heartbeat-v3-1.bin", 12, 3, RDK, check_heartbeat, NULL},
    {"kcat-OffsetCommit-v7-1.bin", 8, 7, RDK, check_offset_commit, NULL},
    {"kcat-LeaveGroup-v1-1.bin", 13, 1, RDK, check_leave_group, NULL},
    /* kafka-python 2.0.2: producers are "kafka-python-producer-<n>", one per codec */
    {"kpy-ApiVersions-v0-1.bin", 18, 0, "kafka-python-producer-1", check_api_versions, NULL},
    {"kpy-Metadata-v1-1.bin", 3, 1, "kafka-python-producer-1", check_metadata, NULL},
    {"kpy-Produce-v7-1.bin", 0, 7, "kafka-python-producer-1", check_produce, "none"},
    {"kpy-Produce-v7-2.bin", 0, 7, "kafka-python-producer-2", check_produce, "gzip"},
    {"kpy-Produce-v7-3.bin", 0, 7, "kafka-python-producer-3", check_produce, "snappy"},
    {"kpy-Produce-v7-4.bin", 0, 7, "kafka-python-producer-4", check_produce, "lz4"},
    {"kpy-Produce-v7-5.bin", 0, 7, "kafka-python-producer-5", check_produce, "zstd"},
    {"kpy-ListOffsets-v1-1.bin", 2, 1, KPY, check_list_offsets, NULL},
    {"kpy-Fetch-v4-1.bin", 1, 4, KPY, check_fetch, NULL},
    {"kpy-FindCoordinator-v0-1.bin", 10, 0, KPY, check_find_coordinator, NULL},
    {"kpy-JoinGroup-v2-1.bin", 11, 2, KPY, check_join_group, NULL},
    {"kpy-SyncGroup-v1-1.bin", 14, 1, KPY, check_sync_group, NULL},
    {"kpy-Heartbeat-v1-1.bin", 12, 1, KPY, check_heartbeat, NULL},
    {"kpy-OffsetCommit-v2-1.bin", 8, 2, KPY, check_offset_commit, NULL},
    {"kpy-OffsetFetch-v1-1.bin", 9, 1, KPY, check_offset_fetch, NULL},
    {"kpy-LeaveGroup-v1-1.bin", 13, 1, KPY, check_leave_group, NULL},
    /* kafkajs 2.2.4 (clientId "golden-kjs"; no snappy/lz4/zstd without codec plugins) */
    {"kjs-ApiVersions-v2-1.bin", 18, 2, KJS, check_api_versions, NULL},
    {"kjs-Metadata-v6-1.bin", 3, 6, KJS, check_metadata, NULL},
    {"kjs-Produce-v7-1.bin", 0, 7, KJS, check_produce, "none"},
    {"kjs-Produce-v7-2.bin", 0, 7, KJS, check_produce, "gzip"},
    {"kjs-ListOffsets-v3-1.bin", 2, 3, KJS, check_list_offsets, NULL},
    {"kjs-Fetch-v11-1.bin", 1, 11, KJS, check_fetch, NULL},
    {"kjs-FindCoordinator-v2-1.bin", 10, 2, KJS, check_find_coordinator, NULL},
    {"kjs-JoinGroup-v5-1.bin", 11, 5, KJS, check_join_group, NULL},
    {"kjs-JoinGroup-v5-2.bin", 11, 5, KJS, check_join_group, "rejoin"},
    {"kjs-SyncGroup-v3-1.bin", 14, 3, KJS, check_sync_group, NULL},
    {"kjs-Heartbeat-v3-1.bin", 12, 3, KJS, check_heartbeat, NULL},
    {"kjs-OffsetCommit-v5-1.bin", 8, 5, KJS, check_offset_commit, NULL},
    {"kjs-OffsetFetch-v4-1.bin", 9, 4, KJS, check_offset_fetch, NULL},
    {"kjs-LeaveGroup-v3-1.bin", 13, 3, KJS, check_leave_group, NULL},
};
#define N_GOLDENS (sizeof(goldens) / sizeof(goldens[0]))

static const struct protogen_case *request_case(int16_t key) {
    for (size_t i = 0; i < protogen_n_cases; i++)
        if (protogen_cases[i].key == key && !protogen_cases[i].response) return &protogen_cases[i];
    return NULL;
}

/* Decodes one fixture, checks header and body, and re-encodes it byte for byte. */
static void test_fixture(void **state) {
    const struct golden *g = *state;
    size_t len;
    uint8_t *frame = read_fixture(g->file, &len);

    struct proto_reader r;
    proto_reader_init(&r, frame, len);
    struct proto_request_header h;
    assert_int_equal(proto_request_header_decode(&r, &h), 0);
    assert_int_equal(h.ApiKey, g->key);
    assert_int_equal(h.ApiVersion, g->version);
    assert_true(h.CorrelationId >= 0);
    assert_str(h.ClientId, g->client_id);

    const struct protogen_case *c = request_case(h.ApiKey);
    assert_non_null(c);
    assert_true(h.ApiVersion >= c->min_version && h.ApiVersion <= c->max_version);
    struct proto_arena a;
    proto_arena_init(&a);
    void *msg = proto_arena_alloc(&a, c->struct_size);
    assert_int_equal(c->decode(&r, h.ApiVersion, &a, msg), 0);
    assert_int_equal(r.err, 0);
    assert_int_equal(r.pos, len); /* nothing left over */

    g->check(g, msg);

    /* Byte-exact round trip: header + body, and size() agrees. */
    struct proto_writer w;
    proto_writer_init(&w);
    proto_request_header_encode(&w, &h);
    size_t hdr = w.len;
    assert_int_equal(c->encode(&w, h.ApiVersion, msg), 0);
    assert_int_equal(c->size(h.ApiVersion, msg), w.len - hdr);
    assert_int_equal(w.len, len);
    assert_memory_equal(w.buf, frame, len);

    /* The generic decoder accepts it too. */
    proto_arena_reset(&a);
    proto_reader_init(&r, frame + hdr, len - hdr);
    assert_int_equal(proto_request_decode_any(h.ApiKey, h.ApiVersion, &r, &a), 0);

    proto_writer_free(&w);
    proto_arena_destroy(&a);
    free(frame);
}

/* Every committed fixture is checked: no .bin file in golden/ may be missing from the table. */
static void test_all_fixtures_listed(void **state) {
    (void)state;
    DIR *d = opendir(GOLDEN_DIR);
    assert_non_null(d);
    size_t nbin = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".bin") != 0) continue;
        nbin++;
        bool found = false;
        for (size_t i = 0; i < N_GOLDENS; i++)
            if (strcmp(goldens[i].file, e->d_name) == 0) found = true;
        if (!found) {
            print_error("golden/%s is not checked by test_golden.c\n", e->d_name);
            fail();
        }
    }
    closedir(d);
    assert_int_equal(nbin, N_GOLDENS);
}

int main(void) {
    struct CMUnitTest tests[N_GOLDENS + 1];
    for (size_t i = 0; i < N_GOLDENS; i++) {
        tests[i] =
            (struct CMUnitTest){goldens[i].file, test_fixture, NULL, NULL, (void *)&goldens[i]};
    }
    tests[N_GOLDENS] =
        (struct CMUnitTest){"all_fixtures_listed", test_all_fixtures_listed, NULL, NULL, NULL};
    return _cmocka_run_group_tests("golden", tests, N_GOLDENS + 1, NULL, NULL);
}
