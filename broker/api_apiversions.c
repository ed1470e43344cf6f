/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api_apiversions.c - the ApiVersions handler (key 18, every version the codec knows).
 *
 * Advertises every API of api_table.c with min = the codec's minimum and max = the codec's
 * maximum clamped by the table, so clients never pick a version ringletd cannot serve.
 * v3+ (KIP-511) checks ClientSoftwareName/Version against
 * [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])? and answers INVALID_REQUEST (42) otherwise.
 * The response header is always v0 (the codec's header rules take care of it).
 */
#include "reactor_int.h"

#include <ctype.h>

int broker_api_apiversions(struct broker_request *req);

static bool kip511_valid(struct proto_str s) {
    if (s.len <= 0 || !s.ptr) return false;
    for (int32_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        bool edge = i == 0 || i == s.len - 1;
        if (isalnum(ch) && ch < 0x80) continue;
        if (!edge && (ch == '-' || ch == '.')) continue;
        return false;
    }
    return true;
}

struct collect {
    struct ApiVersionsResponse_ApiVersion *v;
    int32_t n;
};

static void collect_api(void *arg, int16_t key) {
    struct collect *c = arg;
    int16_t min, max;
    if (broker_api_version_range(key, &min, &max) < 0) return;
    struct ApiVersionsResponse_ApiVersion *e = &c->v[c->n++];
    proto_ApiVersionsResponse_ApiVersion_init(e);
    e->ApiKey = key;
    e->MinVersion = min;
    e->MaxVersion = max;
}

static void count_api(void *arg, int16_t key) {
    (void)key;
    (*(int32_t *)arg)++;
}

int broker_api_apiversions(struct broker_request *req) {
    struct ApiVersionsRequest rq;
    struct ApiVersionsResponse rsp;
    proto_ApiVersionsRequest_init(&rq);
    int rc = proto_ApiVersionsRequest_decode(&req->body, req->hdr.ApiVersion, &req->arena, &rq);
    if (rc < 0) return rc;
    proto_ApiVersionsResponse_init(&rsp);
    rsp.ThrottleTimeMs = 0;
    if (req->hdr.ApiVersion >= 3 &&
        (!kip511_valid(rq.ClientSoftwareName) || !kip511_valid(rq.ClientSoftwareVersion))) {
        rl_info("apiversions", "%s: invalid client software name/version '%.*s' '%.*s'",
                broker_request_peer(req), RL_MAX(rq.ClientSoftwareName.len, 0),
                rq.ClientSoftwareName.ptr ? rq.ClientSoftwareName.ptr : "",
                RL_MAX(rq.ClientSoftwareVersion.len, 0),
                rq.ClientSoftwareVersion.ptr ? rq.ClientSoftwareVersion.ptr : "");
        rsp.ErrorCode = PROTO_ERR_INVALID_REQUEST;
        BROKER_RESPOND(req, ApiVersionsResponse, &rsp);
        return 0;
    }
    int32_t n_apis = 0;
    broker_api_foreach(count_api, &n_apis);
    struct collect c = {proto_arena_alloc(&req->arena, sizeof(*c.v) * (size_t)(n_apis + 1)), 0};
    broker_api_foreach(collect_api, &c);
    rsp.ErrorCode = PROTO_ERR_NONE;
    rsp.ApiKeys = c.v;
    rsp.n_ApiKeys = c.n;
    BROKER_RESPOND(req, ApiVersionsResponse, &rsp);
    return 0;
}

void broker__apiversions_unsupported(struct broker_request *req) {
    struct ApiVersionsResponse rsp;
    struct ApiVersionsResponse_ApiVersion self;
    const struct proto_api_info *info = proto_api_lookup(18);
    proto_ApiVersionsResponse_init(&rsp);
    proto_ApiVersionsResponse_ApiVersion_init(&self);
    self.ApiKey = 18;
    self.MinVersion = 0;
    self.MaxVersion = 0;
    if (broker_api_version_range(18, &self.MinVersion, &self.MaxVersion) < 0 && info) {
        self.MinVersion = info->min_version;
        self.MaxVersion = info->max_version;
    }
    rsp.ErrorCode = PROTO_ERR_UNSUPPORTED_VERSION;
    rsp.ApiKeys = &self;
    rsp.n_ApiKeys = 1;
    /* The response header of ApiVersions is v0 at every version; the body is v0 here. */
    struct proto_writer *w = broker_response_begin(req);
    proto_ApiVersionsResponse_encode(w, 0, &rsp);
    broker_response_end(req);
}
