/* SPDX-License-Identifier: Apache-2.0 */
/* config.c - storage defaults (Kafka's topic config defaults). */
#include "ringlet/storage.h"

void storage_log_config_default(struct storage_log_config *c) {
    c->segment_bytes = 1073741824;
    c->segment_ms = 7LL * 24 * 3600 * 1000;
    c->index_interval_bytes = 4096;
    c->retention_ms = 7LL * 24 * 3600 * 1000;
    c->retention_bytes = -1;
    c->flush_messages = INT64_MAX;
    c->flush_ms = INT64_MAX;
    c->max_message_bytes = 1048588;
}
