/* SPDX-License-Identifier: Apache-2.0 */
/* errors.c - Kafka error code names. */
#include <stdint.h>

const char *proto_error_name(int16_t code);

const char *proto_error_name(int16_t code) {
    switch (code) {
    case -1: return "UNKNOWN_SERVER_ERROR";
    case 0: return "NONE";
    default: return "UNKNOWN";
    }
}
