/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_options.h - ringletd's option table: every setting with its name, type, default,
 * bounds and help. This X-macro list is the only place a setting is defined: it becomes the
 * fields of struct broker_config, the YAML/command-line parser's table, `ringletd --help-config`
 * and docs/configuration.md (generated, so it cannot drift).
 *
 *   OPT_INT(field, "name", default, min, max, "help")
 *   OPT_BOOL(field, "name", default, "help")
 *   OPT_STR(field, "name", "default", "help")
 *   OPT_ENUM(field, "name", "default", "choice1|choice2|...", "help")   (value = choice index)
 *
 * Add new settings at the end of the section they belong to.
 */

/* ---- server ---- */
OPT_STR(listeners, "listeners", "127.0.0.1:9092",
        "Comma-separated host:port addresses to listen on.")
OPT_STR(advertised_listeners, "advertised.listeners", "",
        "Comma-separated host:port addresses given to clients in Metadata; empty = listeners.")
OPT_INT(node_id, "node.id", 1, 0, 2147483647, "This broker's id.")
OPT_STR(cluster_id, "cluster.id", "",
        "Cluster id; empty = generated on first start and kept in the data directory.")
OPT_STR(log_dir, "log.dir", "./data", "Data directory holding every partition log.")
OPT_INT(socket_request_max_bytes, "socket.request.max.bytes", 104857600, 1024, 2147483647,
        "Largest request frame accepted; larger frames close the connection.")
OPT_INT(connections_max_idle_ms, "connections.max.idle.ms", 600000, 1000, 2147483647,
        "Idle connections are closed after this many milliseconds.")
OPT_INT(max_connections, "max.connections", 15000, 1, 1000000,
        "Connections beyond this many are refused (accepted and closed at once).")
OPT_INT(reactor_cpu, "reactor.cpu", -1, -1, 4095,
        "Pin the broker's reactor thread, and the io_uring workers that write its logs, to this "
        "CPU (-1 = no pinning). On a dedicated machine this keeps page-cache writes on the "
        "reactor's core instead of paying two cross-CPU wake-ups per write.")

/* ---- logging ---- */
OPT_ENUM(log_level, "log.level", "info", "debug|info|warn|error", "Least severe level logged.")
OPT_ENUM(log_format, "log.format", "plain", "plain|json",
         "Log line format: plain text or one JSON object per line.")

/* ---- topics and storage ---- */
OPT_BOOL(auto_create_topics_enable, "auto.create.topics.enable", true,
         "Create a topic on first use by Metadata or Produce.")
OPT_INT(num_partitions, "num.partitions", 1, 1, 100000,
        "Partitions of an auto-created topic, and of CreateTopics with -1.")
OPT_ENUM(log_flush_policy, "log.flush.policy", "group_commit", "group_commit|interval|none",
         "group_commit: one fdatasync covers all appends since the previous one, and acks=all "
         "is answered once durable; interval: Kafka's flush.messages/flush.ms; none: never "
         "fsync on the append path.")
OPT_INT(log_flush_interval_messages, "log.flush.interval.messages", 9223372036854775807LL, 1,
        9223372036854775807LL, "With log.flush.policy=interval: fsync after this many messages.")
OPT_INT(log_flush_interval_ms, "log.flush.interval.ms", 9223372036854775807LL, 0,
        9223372036854775807LL, "With log.flush.policy=interval: fsync after this many ms.")
OPT_INT(log_segment_bytes, "log.segment.bytes", 1073741824, 4096, 2147483647,
        "Default segment.bytes: a segment rolls when it would grow past this size.")
OPT_INT(log_roll_ms, "log.roll.ms", 604800000, 1000, 9223372036854775807LL,
        "Default segment.ms: a segment rolls once it is this old.")
OPT_INT(log_retention_ms, "log.retention.ms", 604800000, -1, 9223372036854775807LL,
        "Default retention.ms: segments older than this are deleted (-1 = keep forever).")
OPT_INT(log_retention_bytes, "log.retention.bytes", -1, -1, 9223372036854775807LL,
        "Default retention.bytes per partition (-1 = unlimited).")
OPT_INT(log_index_interval_bytes, "log.index.interval.bytes", 4096, 0, 2147483647,
        "Default index.interval.bytes: bytes between two sparse index entries.")
OPT_INT(log_segment_preallocate_bytes, "log.segment.preallocate.bytes", 8388608, 0, 1073741824,
        "Zeros written ahead of a segment's tail so appends overwrite allocated blocks.")
OPT_INT(fetch_max_bytes, "fetch.max.bytes", 16777216, 1024, 2147483647,
        "Largest Fetch response (v3+) the broker returns, whatever MaxBytes the client asks "
        "(Kafka's fetch.max.bytes; the first batch still goes out whole, KIP-74). Kafka's default "
        "is 55 MiB; 16 MiB keeps librdkafka consumers (64 MiB of queued messages by default) "
        "from pausing up to a second after a response that fills most of their queue.")
OPT_INT(log_cache_tail_bytes, "log.cache.tail.bytes", 268435456, 0, 9223372036854775807LL,
        "Page cache kept per partition: older log data is dropped from the cache once written "
        "back, so the broker's cache footprint stays bounded (0 = leave it to the kernel).")
OPT_BOOL(log_direct_io, "log.direct.io", true,
         "Write partition logs with O_DIRECT: while log.direct.min.bytes or more are queued on a "
         "partition (bulk produce), appends are copied into aligned staging buffers and written "
         "past the page cache (one copy in user space instead of the kernel's page-cache copy "
         "and writeback); smaller writes go through the page cache, where readers see them "
         "sooner. Buffered writes only where the file system has no direct I/O (tmpfs, for one).")
OPT_INT(log_direct_min_bytes, "log.direct.min.bytes", 65536, 1, 1073741824,
        "With log.direct.io: bytes queued on a partition from which its appends are written "
        "with O_DIRECT (1 = always).")
OPT_INT(log_direct_cache_bytes, "log.direct.cache.bytes", 268435456, 0, 9223372036854775807LL,
        "With log.direct.io: the newest log data kept in memory (the staging buffers of "
        "completed writes, for all partitions together) so consumers at the tail do not read "
        "the disk (0 = none).")
OPT_INT(message_max_bytes, "message.max.bytes", 1048588, 0, 2147483647,
        "Default max.message.bytes: largest record batch accepted.")
OPT_ENUM(log_message_timestamp_type, "log.message.timestamp.type", "CreateTime",
         "CreateTime|LogAppendTime", "Default message.timestamp.type.")
OPT_INT(log_retention_check_interval_ms, "log.retention.check.interval.ms", 300000, 100, 2147483647,
        "How often retention runs.")

/* ---- consumer groups ---- */
OPT_INT(group_initial_rebalance_delay_ms, "group.initial.rebalance.delay.ms", 3000, 0, 2147483647,
        "Delay before the first rebalance of an empty group, to let members join.")
OPT_INT(group_min_session_timeout_ms, "group.min.session.timeout.ms", 6000, 1, 2147483647,
        "Smallest session timeout a member may ask for.")
OPT_INT(group_max_session_timeout_ms, "group.max.session.timeout.ms", 1800000, 1, 2147483647,
        "Largest session timeout a member may ask for.")
OPT_INT(group_max_size, "group.max.size", 2147483647, 1, 2147483647,
        "Most members a group may have.")
OPT_INT(offsets_topic_num_partitions, "offsets.topic.num.partitions", 50, 1, 1000,
        "Partitions of the internal __consumer_offsets topic (fixed once created).")
OPT_INT(offsets_retention_minutes, "offsets.retention.minutes", 10080, 1, 2147483647,
        "Committed offsets of an empty group expire after this many minutes.")
OPT_INT(offsets_retention_check_interval_ms, "offsets.retention.check.interval.ms", 600000, 100,
        2147483647, "How often expired offsets are removed.")

/* ---- admin / metrics ---- */
OPT_STR(admin_listener, "admin.listener", "127.0.0.1:9644",
        "host:port of the admin HTTP listener (/metrics, /health/live, /health/ready, "
        "/log/level); empty = disabled (and no metrics are kept).")
OPT_INT(log_slow_request_ms, "log.slow.request.ms", 0, 0, 2147483647,
        "Requests taking at least this many milliseconds are logged at warn level (0 = off).")
OPT_BOOL(metrics_partition_detail, "metrics.partition.detail", true,
         "Export per-partition series; false = per-topic aggregates only.")
OPT_INT(metrics_partition_detail_max, "metrics.partition.detail.max", 1000, 0, 2147483647,
        "Above this many partitions in the broker, per-partition series become per-topic "
        "aggregates.")
OPT_INT(disk_alert_low_percent, "disk.alert.low.percent", 10, 0, 100,
        "ringlet_storage_disk_alert_level is 1 (low) below this percentage of free space on "
        "the data directory's filesystem.")
OPT_INT(disk_alert_critical_percent, "disk.alert.critical.percent", 5, 0, 100,
        "ringlet_storage_disk_alert_level is 2 (critical) below this percentage of free space.")
