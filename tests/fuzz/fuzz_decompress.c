/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_decompress.c - libFuzzer target for the compression codecs. Input: byte 0 picks the codec
 * (mod 5), byte 1 the output cap (2^(b % 24) bytes), the rest is the compressed data. Checks:
 * only 0 / -EBADMSG / -EMSGSIZE come back, the output never exceeds the cap, a failure leaves the
 * output untouched, and whatever decompresses re-compresses and decompresses to the same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ringlet/protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    enum proto_compression codec = (enum proto_compression)(data[0] % 5);
    size_t cap = (size_t)1 << (data[1] % 24);
    const uint8_t *in = data + 2;
    size_t len = size - 2;

    struct proto_writer out;
    proto_writer_init(&out);
    proto_write_raw(&out, "P", 1); /* output is appended after what is there */
    int rc = proto_decompress(codec, in, len, cap, &out);
    if (rc != 0 && rc != -EBADMSG && rc != -EMSGSIZE) abort();
    if (rc != 0 && out.len != 1) abort();
    if (rc == 0) {
        if (out.len - 1 > cap) abort();
        struct proto_writer z, back;
        proto_writer_init(&z);
        proto_writer_init(&back);
        if (proto_compress(codec, out.buf + 1, out.len - 1, &z) != 0) abort();
        if (proto_decompress(codec, z.buf, z.len, out.len - 1, &back) != 0) abort();
        if (back.len != out.len - 1 || (back.len && memcmp(back.buf, out.buf + 1, back.len) != 0))
            abort();
        proto_writer_free(&z);
        proto_writer_free(&back);
    }
    proto_writer_free(&out);
    return 0;
}
