/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rdk_crash.c - an idempotent acks=all librdkafka producer for the crash test
 * (test_crash.py): rdk_crash HOST:PORT TOPIC ROUND ACKFILE [CODEC]
 * Produces "r<ROUND>-<seq>" values (keyed by seq) as fast as the broker takes them and appends
 * one line "<partition> <offset> <value>" to ACKFILE for every successful delivery report,
 * flushed at once, so the file lists exactly the acknowledged messages when the test kills the
 * broker and then this process. Runs until killed (or 10 minutes).
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static FILE *ackf;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    if (m->err) return;
    fprintf(ackf, "%" PRId32 " %" PRId64 " %.*s\n", m->partition, m->offset, (int)m->len,
            (const char *)m->payload);
    fflush(ackf);
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "config %s: %s\n", k, err);
        exit(2);
    }
}

int main(int argc, char **argv) {
    char err[512];
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: rdk_crash HOST:PORT TOPIC ROUND ACKFILE [CODEC]\n");
        return 2;
    }
    ackf = fopen(argv[4], "a");
    if (!ackf) {
        perror(argv[4]);
        return 2;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", argv[1]);
    set(conf, "acks", "all");
    set(conf, "enable.idempotence", "true");
    set(conf, "linger.ms", "1");
    set(conf, "compression.codec", argc == 6 ? argv[5] : "none");
    set(conf, "message.timeout.ms", "60000");
    set(conf, "queue.buffering.max.messages", "20000");
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "rd_kafka_new: %s\n", err);
        return 2;
    }
    time_t start = time(NULL);
    char val[64], key[32];
    for (long seq = 0; time(NULL) - start < 600; seq++) {
        snprintf(val, sizeof(val), "r%s-%ld", argv[3], seq);
        snprintf(key, sizeof(key), "%ld", seq);
        for (;;) {
            rd_kafka_resp_err_t e =
                rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_KEY(key, strlen(key)),
                                  RD_KAFKA_V_VALUE(val, strlen(val)),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "producev: %s\n", rd_kafka_err2str(e));
                return 1;
            }
            rd_kafka_poll(rk, 20);
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 10000);
    rd_kafka_destroy(rk);
    fclose(ackf);
    return 0;
}
