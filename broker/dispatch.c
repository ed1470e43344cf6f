/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dispatch.c - from a complete request frame to its handler: decodes the request header, checks
 * the API key and version against what ApiVersions advertises, and runs the handler from the
 * table in api_table.c.
 *
 * What happens to requests that cannot be served (as Kafka does):
 *   - malformed header, unknown API key, or a version outside the advertised range: the
 *     connection is closed (after the responses already queued on it);
 *   - except ApiVersions with a version this build does not know: a v0-format response with
 *     error 35 (UNSUPPORTED_VERSION) listing ApiVersions' own range, so the client retries with
 *     a version it finds there (KIP-511);
 *   - a handler that returns a negative errno (malformed body): the connection is closed.
 * Runs on the reactor thread.
 */
#include "reactor_int.h"

#include <errno.h>
#include <stdio.h>

int broker_api_version_range(int16_t api_key, int16_t *min_version, int16_t *max_version) {
    if (!broker_api_handler(api_key)) return -ENOENT;
    const struct proto_api_info *info = proto_api_lookup(api_key);
    if (!info) return -ENOENT;
    int16_t max = info->max_version;
    int16_t table_max = broker_api_max_version(api_key);
    if (table_max >= 0 && table_max < max) max = table_max;
    if (max < info->min_version) return -ENOENT;
    *min_version = info->min_version;
    *max_version = max;
    return 0;
}

static const char *api_name(int16_t key) {
    const struct proto_api_info *info = proto_api_lookup(key);
    return info ? info->name : "unknown API";
}

void broker__dispatch(struct broker_request *req) {
    char why[160];
    proto_reader_init(&req->body, req->frame, req->frame_len);
    if (proto_request_header_decode(&req->body, &req->hdr) < 0) {
        snprintf(why, sizeof(why), "malformed request header (%zu-byte frame)", req->frame_len);
        broker_request_close_conn(req, why);
        return;
    }
    int16_t key = req->hdr.ApiKey, ver = req->hdr.ApiVersion;
    int16_t min, max;
    broker_handler_fn fn = broker_api_handler(key);
    if (!fn || broker_api_version_range(key, &min, &max) < 0) {
        snprintf(why, sizeof(why), "unsupported API key %d (version %d)", key, ver);
        broker_request_close_conn(req, why);
        return;
    }
    if (ver < min || ver > max) {
        if (key == 18) {
            rl_debug("dispatch", "%s: ApiVersions v%d not supported: answering with error 35",
                     broker_request_peer(req), ver);
            broker__apiversions_unsupported(req);
            return;
        }
        snprintf(why, sizeof(why), "unsupported API version: %s (key %d) v%d, supported %d-%d",
                 api_name(key), key, ver, min, max);
        broker_request_close_conn(req, why);
        return;
    }
    rl_debug("dispatch", "%s: %s v%d correlation id %d", broker_request_peer(req), api_name(key),
             ver, req->hdr.CorrelationId);
    int rc = fn(req);
    if (rc < 0) {
        snprintf(why, sizeof(why), "malformed %s v%d request: %s", api_name(key), ver,
                 rl_strerror(rc));
        broker_request_close_conn(req, why);
    }
}
