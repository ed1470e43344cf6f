/* SPDX-License-Identifier: Apache-2.0 */
/*
 * group.h - the consumer group coordinator's internal API (Kafka's classic group protocol).
 *
 *   group.c        the state machine: groups, members, generations, rebalances, timers, the
 *                  committed-offset cache. Pure logic: no sockets, no storage, no wire structs.
 *                  Time, timers and persistence come through struct group_coord_ops, so unit
 *                  tests drive it with a fake clock.
 *   group_store.c  __consumer_offsets: Kafka's key/value record formats, durable commits,
 *                  load at start-up, snapshots + truncation, offset expiry.
 *   api_group.c    the wire handlers (FindCoordinator ... OffsetDelete).
 *
 * States (Kafka's names):
 *
 *        +--------------------------------------------------------------+
 *        v                                                              |
 *     Empty --join--> PreparingRebalance --all joined / timeout--> CompletingRebalance
 *        ^                 ^      |                                     |
 *        |                 |      +--no member left--> Empty            | leader's SyncGroup
 *        |                 +--join/leave/expiry/new static protocol--- Stable <-+
 *        +--------------------------------------------------------------- (last member gone
 *                                                                       via rebalance)
 *     (CompletingRebalance becomes Stable once the leader's SyncGroup assignment is stored.)
 *     any --DeleteGroups / offsets expired--> Dead (freed)
 *
 * Responses that wait (JoinGroup until the rebalance completes, SyncGroup until the leader's
 * assignment) are callbacks stored on the member and invoked exactly once.
 *
 * Threading: everything runs on the reactor thread.
 */
#ifndef RINGLET_BROKER_GROUP_H
#define RINGLET_BROKER_GROUP_H

#include <stdbool.h>
#include <stdint.h>

#include "broker.h"

enum group_state {
    GROUP_EMPTY = 0,
    GROUP_PREPARING_REBALANCE = 1,
    GROUP_COMPLETING_REBALANCE = 2,
    GROUP_STABLE = 3,
    GROUP_DEAD = 4,
};
/* Kafka's spelling: "Empty", "PreparingRebalance", ... */
const char *group_state_name(enum group_state s);
/* Parses a state name (case-insensitive, as Kafka's ListGroups filter); -1 if unknown. */
int group_state_parse(const char *name, int32_t len);

/* A new member's JoinGroup is timed out after this long if the rebalance never completes. */
#define GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS 300000

struct group_protocol {
    char *name;
    uint8_t *metadata;
    int32_t metadata_len;
};

struct group_member;
struct group;
struct group_coord;

/* One member of a JoinGroup response's member list (sent to the leader only). */
struct group_join_member {
    const char *member_id;
    const char *instance_id; /* NULL for dynamic members */
    const uint8_t *metadata;
    int32_t metadata_len;
};
struct group_join_result {
    int16_t error;
    const char *member_id;
    int32_t generation_id;
    const char *protocol_type; /* NULL = none */
    const char *protocol_name; /* NULL = none */
    const char *leader_id;     /* "" when none */
    bool skip_assignment;
    const struct group_join_member *members; /* valid during the callback only */
    int32_t n_members;
};
typedef void (*group_join_cb)(void *ctx, const struct group_join_result *res);

struct group_sync_result {
    int16_t error;
    const char *protocol_type;
    const char *protocol_name;
    const uint8_t *assignment; /* valid during the callback only */
    int32_t assignment_len;
};
typedef void (*group_sync_cb)(void *ctx, const struct group_sync_result *res);

struct group_member {
    struct group *group;
    char *member_id;
    char *instance_id; /* NULL: dynamic member */
    char *client_id;
    char *client_host;
    int32_t rebalance_timeout_ms;
    int32_t session_timeout_ms;
    struct group_protocol *protocols;
    int32_t n_protocols;
    uint8_t *assignment;
    int32_t assignment_len;
    bool is_new;           /* joined during the current rebalance, no generation yet */
    bool pending_sync;     /* received a JoinGroup result, SyncGroup not seen yet */
    group_join_cb join_cb; /* non-NULL: awaiting join */
    void *join_ctx;
    group_sync_cb sync_cb; /* non-NULL: awaiting sync */
    void *sync_ctx;
    int64_t last_heartbeat_ms;
    struct broker_timer session_timer;
};

/* A member id handed out with MEMBER_ID_REQUIRED that has not joined yet. */
struct group_pending_member {
    struct group *group;
    char *member_id;
    struct broker_timer timer;
};

/* One committed offset. */
struct group_offset {
    struct group_offset *next; /* hash chain */
    char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    char *metadata;
    int64_t commit_ts_ms; /* wall clock */
};

struct group {
    struct group_coord *coord;
    struct group *hnext;
    char *group_id;
    int32_t partition; /* __consumer_offsets partition */
    enum group_state state;
    int32_t generation_id;
    char *protocol_type; /* NULL: none yet */
    char *protocol_name; /* NULL: none */
    struct group_member *leader;
    struct group_member **members;
    int32_t n_members, cap_members;
    int32_t n_awaiting_join;
    struct group_pending_member **pending;
    int32_t n_pending, cap_pending;
    bool new_member_added;
    /* the running rebalance: initial delayed join or delayed join */
    struct broker_timer join_timer;
    bool join_initial;
    int32_t join_initial_remaining_ms;
    struct broker_timer sync_timer; /* pending-sync expiry */
    int64_t state_ts_ms;            /* wall clock of the last state change */
    /* topics the consumer-protocol members subscribe to (subscribed_known = parsed) */
    char **subscribed;
    int32_t n_subscribed;
    bool subscribed_known;
    /* committed offsets */
    struct group_offset **obuckets;
    uint32_t n_obuckets;
    uint32_t n_offsets;
    int32_t inflight_commits; /* durable appends not completed yet */
    bool has_metadata_record; /* a group metadata record exists in the log */
    bool storing_assignment;  /* the leader's assignment is being persisted (CompletingRebalance) */
};

/* What the coordinator needs from its environment (the reactor, or a unit test). */
struct group_coord_ops {
    int64_t (*mono_ms)(void *ctx); /* the timers' clock */
    int64_t (*wall_ms)(void *ctx);
    void (*timer_arm)(void *ctx, struct broker_timer *t, int64_t deadline_ms);
    void (*timer_cancel)(void *ctx, struct broker_timer *t);
    /* The group's metadata changed (new generation, empty, static member id): persist it.
     * Optional. */
    void (*group_changed)(void *ctx, struct group *g);
    /* Kafka's storeGroup on the leader's SyncGroup: persist g's metadata with the new assignment
     * and call group_assignment_stored(g->group_id, generation, err) once it is durable (from
     * inside this call only on a synchronous failure). The group stays CompletingRebalance until
     * then, as in Kafka (a JoinGroup arriving meanwhile still restarts the rebalance). Optional:
     * when NULL the group becomes Stable at once (after group_changed). */
    void (*store_assignment)(void *ctx, struct group *g);
};

struct group_coord_config {
    int32_t initial_rebalance_delay_ms;
    int32_t min_session_timeout_ms;
    int32_t max_session_timeout_ms;
    int32_t max_size;
    int32_t num_partitions; /* of __consumer_offsets */
};

struct group_coord {
    const struct group_coord_ops *ops;
    void *ops_ctx;
    struct group_coord_config cfg;
    struct group **buckets;
    uint32_t n_buckets;
    uint32_t n_groups;
    uint64_t id_counter;
};

/* ---- coordinator --------------------------------------------------------------------------- */
struct group_coord *group_coord_create(const struct group_coord_config *cfg,
                                       const struct group_coord_ops *ops, void *ops_ctx);
/* Frees every group; pending callbacks are answered COORDINATOR_NOT_AVAILABLE. NULL is a no-op. */
void group_coord_destroy(struct group_coord *c);
/* Kafka's partitionFor: abs(javaStringHashCode(groupId)) % n (Utils.abs: x & 0x7fffffff). */
int32_t group_partition_for(const char *group_id, size_t len, int32_t n);

struct group *group_find(struct group_coord *c, const char *group_id);
/* Finds or creates (in Empty state) a group. */
struct group *group_get_or_create(struct group_coord *c, const char *group_id);
/* Removes and frees a group (no callbacks may be pending: only Empty/Dead groups). */
void group_remove(struct group_coord *c, struct group *g);
/* Calls fn for every group (fn must not remove groups other than g). */
void group_foreach(struct group_coord *c, void (*fn)(void *arg, struct group *g), void *arg);

struct group_member *group_member_find(const struct group *g, const char *member_id);
struct group_member *group_static_member(const struct group *g, const char *instance_id);
/* The member's metadata for a protocol name (NULL if it does not support it). */
const struct group_protocol *group_member_protocol(const struct group_member *m, const char *name);

/* ---- classic protocol operations -----------------------------------------------------------
 * Strings are NUL-terminated and copied as needed. instance_id NULL = dynamic member.
 * JoinGroup: cb is called exactly once, possibly before group_join returns. */
struct group_join_request {
    const char *group_id;
    const char *member_id; /* "" = unknown */
    const char *instance_id;
    const char *client_id;
    const char *client_host;
    const char *protocol_type;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms; /* < 0: session timeout */
    bool require_known_member_id; /* JoinGroup v4+ */
    const struct group_protocol *protocols;
    int32_t n_protocols;
};
void group_join(struct group_coord *c, const struct group_join_request *r, group_join_cb cb,
                void *ctx);

struct group_sync_assignment {
    const char *member_id;
    const uint8_t *assignment;
    int32_t assignment_len;
};
struct group_sync_request {
    const char *group_id;
    const char *member_id;
    const char *instance_id;
    int32_t generation_id;
    const char *protocol_type; /* NULL: not sent */
    const char *protocol_name; /* NULL: not sent */
    const struct group_sync_assignment *assignments;
    int32_t n_assignments;
};
void group_sync(struct group_coord *c, const struct group_sync_request *r, group_sync_cb cb,
                void *ctx);

/* The store_assignment write of generation of group_id completed with err (0 or a Kafka error
 * code): the group becomes Stable and every member waiting in SyncGroup gets its assignment, or
 * on error they get err and the group rebalances. Ignored when the group has moved on (another
 * generation or state), as Kafka's storeGroup callback is. */
void group_assignment_stored(struct group_coord *c, const char *group_id, int32_t generation,
                             int16_t err);

/* Returns a Kafka error code. */
int16_t group_heartbeat(struct group_coord *c, const char *group_id, const char *member_id,
                        const char *instance_id, int32_t generation_id);
/* One member of a LeaveGroup; member_id "" with an instance id leaves that static member.
 * Returns the member's error code; *group_error gets a group-level error (or 0). */
int16_t group_leave(struct group_coord *c, const char *group_id, const char *member_id,
                    const char *instance_id, int16_t *group_error);

/* Validates an OffsetCommit against the group; returns a Kafka error code. On success *gp is the
 * group (created for a simple commit). Resets the member's session timer as Kafka does. */
int16_t group_commit_check(struct group_coord *c, const char *group_id, const char *member_id,
                           const char *instance_id, int32_t generation_id, struct group **gp);

/* Deletes a group (DeleteGroups): GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP or 0 (the caller writes
 * the tombstones before calling group_remove). */
int16_t group_delete_check(struct group_coord *c, const char *group_id, struct group **gp);

/* Whether a consumer-protocol member of g subscribes to topic (true when unknown). */
bool group_subscribed_to(const struct group *g, const char *topic);

/* ---- committed offsets (cache) ---------------------------------------------------------- */
struct group_offset *group_offset_find(const struct group *g, const char *topic, int32_t part);
void group_offset_set(struct group *g, const char *topic, int32_t part, int64_t offset,
                      int32_t leader_epoch, const char *metadata, int64_t commit_ts_ms);
void group_offset_delete(struct group *g, const char *topic, int32_t part);
/* Calls fn for each offset (fn may delete the offset it is given). */
void group_offset_foreach(struct group *g, void (*fn)(void *arg, struct group_offset *o),
                          void *arg);

/* ---- loading (group_store.c) -------------------------------------------------------------
 * Restores a group's metadata from the log: generation, protocol, leader and members with their
 * assignments. A group with members comes back Stable with each session timer armed. */
struct group_load_member {
    const char *member_id;
    const char *instance_id;
    const char *client_id;
    const char *client_host;
    int32_t rebalance_timeout_ms;
    int32_t session_timeout_ms;
    const uint8_t *subscription;
    int32_t subscription_len;
    const uint8_t *assignment;
    int32_t assignment_len;
};
void group_load_metadata(struct group_coord *c, struct group *g, const char *protocol_type,
                         int32_t generation, const char *protocol_name, const char *leader_id,
                         int64_t state_ts_ms, const struct group_load_member *members,
                         int32_t n_members);
/* Resets a loaded group to Empty without members (a group metadata tombstone). */
void group_load_clear(struct group_coord *c, struct group *g);

/* ---- broker glue (group_store.c) ------------------------------------------------------- */
struct group_store;
struct broker_groups {
    struct broker *b;
    struct group_coord *coord;
    struct group_store *store;
    int64_t last_expiry_ms;
};

/* Committed offsets to persist. */
struct group_commit_offset {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int32_t leader_epoch;
    const char *metadata;
};
/* cb(ctx, err): err 0 or a Kafka error code. */
typedef void (*group_commit_cb)(void *ctx, int16_t err);

/* The store over the n partition logs of __consumer_offsets (owned by the caller, who keeps
 * them open until group_store_close). */
struct group_store *group_store_open(struct group_coord *c, struct storage_log **logs, int32_t n);
void group_store_close(struct group_store *s);
/* Loads every partition into the coordinator. */
int group_store_load(struct group_store *s);
void group_store_set_snapshot_threshold(struct group_store *s, int64_t records, int64_t bytes);
struct storage_log *group_store_log(struct group_store *s, int32_t partition);
/* Runs offset expiry and deleted-topic cleanup. topic_exists may be NULL. */
void group_store_expire(struct group_store *s, int64_t now_wall_ms, int64_t retention_ms,
                        bool (*topic_exists)(void *arg, const char *topic, int32_t partition),
                        void *arg);
/* Persists g's metadata now (the group_changed hook). */
void group_store_write_group(struct group_store *s, struct group *g);
/* The same, then group_assignment_stored(generation) once durable (the store_assignment hook);
 * on a synchronous failure that call happens inside this one. */
void group_store_write_assignment(struct group_store *s, struct group *g);
/* Appends n offsets of g durably, then applies them to the cache and calls cb. */
void group_store_commit(struct group_store *s, struct group *g,
                        const struct group_commit_offset *offs, int32_t n, group_commit_cb cb,
                        void *ctx);
/* Tombstones for n offsets of g, removed from the cache now (not waited for). */
void group_store_delete_offsets(struct group_store *s, struct group *g, const char **topics,
                                const int32_t *partitions, int32_t n);
/* Tombstones for every offset and the metadata of g, then removes g from the coordinator. */
void group_store_delete_group(struct group_store *s, struct group *g);

#endif /* RINGLET_BROKER_GROUP_H */
