/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka's
 * RecordBatch v2 (over attributes..end of batch).
 *
 * Two implementations with one convention (like zlib's crc32(): pass 0 to start, pass the
 * previous result to continue):
 *   - proto_crc32c_portable: slicing-by-8 tables, built once at load time.
 *   - an SSE4.2 path using the crc32 instruction 8 bytes at a time, compiled with a target
 *     attribute so the rest of the library needs no -msse4.2, and picked at run time with
 *     __builtin_cpu_supports. proto_crc32c uses it when the CPU has it.
 *
 * The crc32 instruction has a latency of about 3 cycles but a throughput of one per cycle, so on
 * long buffers the SSE4.2 path runs three independent streams over three consecutive blocks of
 * STRIPE bytes and then merges them. The merge uses linearity: with reg(x, M) the raw CRC
 * register after feeding M from state x, reg(x, A||B) = Z(reg(x, A)) ^ reg(0, B), where Z is
 * "feed STRIPE zero bytes", a linear map on 32 bits applied with four 256-entry tables.
 */
#include <stdint.h>
#include <string.h>

#include "ringlet/protocol.h"

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define CRC32C_HAVE_X86 1
#endif

#define CRC32C_POLY 0x82F63B78u

#define STRIPE 2048 /* bytes per stream in the 3-way SSE4.2 loop; a multiple of 8 */

static uint32_t crc32c_table[8][256];
static uint32_t crc32c_zeros[4][256]; /* Z: the register after STRIPE zero bytes, per byte */
static bool crc32c_hw;

/* Feeds n zero bytes to a raw register (no pre/post inversion). */
static uint32_t crc32c_feed_zeros(uint32_t c, size_t n) {
    while (n-- > 0)
        c = crc32c_table[0][c & 0xff] ^ (c >> 8);
    return c;
}

/* Runs before main (and before any caller can reach proto_crc32c), so no locking is needed. */
__attribute__((constructor)) static void crc32c_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        crc32c_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = crc32c_table[0][i];
        for (int t = 1; t < 8; t++) {
            c = crc32c_table[0][c & 0xff] ^ (c >> 8);
            crc32c_table[t][i] = c;
        }
    }
    /* Z is linear: its value on each of the 32 single-bit registers gives every table entry. */
    uint32_t basis[32];
    for (int bit = 0; bit < 32; bit++)
        basis[bit] = crc32c_feed_zeros(1u << bit, STRIPE);
    for (int k = 0; k < 4; k++) {
        for (uint32_t b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (int bit = 0; bit < 8; bit++)
                if (b & (1u << bit)) v ^= basis[8 * k + bit];
            crc32c_zeros[k][b] = v;
        }
    }
#ifdef CRC32C_HAVE_X86
    __builtin_cpu_init();
    crc32c_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static inline uint64_t load_le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

uint32_t proto_crc32c_portable(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = data;
    uint32_t c = ~crc;

    /* Byte at a time up to 8-byte alignment, then 8 bytes per step, then the tail. */
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        c = crc32c_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        len--;
    }
    while (len >= 8) {
        uint64_t v = load_le64(p) ^ c;
        c = crc32c_table[7][v & 0xff] ^ crc32c_table[6][(v >> 8) & 0xff] ^
            crc32c_table[5][(v >> 16) & 0xff] ^ crc32c_table[4][(v >> 24) & 0xff] ^
            crc32c_table[3][(v >> 32) & 0xff] ^ crc32c_table[2][(v >> 40) & 0xff] ^
            crc32c_table[1][(v >> 48) & 0xff] ^ crc32c_table[0][v >> 56];
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        c = crc32c_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        len--;
    }
    return ~c;
}

#ifdef CRC32C_HAVE_X86
/* Z applied to a raw register: the register after STRIPE more zero bytes. */
static inline uint32_t crc32c_shift(uint32_t c) {
    return crc32c_zeros[0][c & 0xff] ^ crc32c_zeros[1][(c >> 8) & 0xff] ^
           crc32c_zeros[2][(c >> 16) & 0xff] ^ crc32c_zeros[3][c >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const void *data,
                                                               size_t len) {
    const uint8_t *p = data;
    uint32_t c = ~crc;

    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        c = _mm_crc32_u8(c, *p++);
        len--;
    }
#if defined(__x86_64__)
    uint64_t c64 = c;
    while (len >= 3 * STRIPE) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < STRIPE; i += 8) {
            uint64_t v0, v1, v2;
            memcpy(&v0, p + i, 8);
            memcpy(&v1, p + STRIPE + i, 8);
            memcpy(&v2, p + 2 * STRIPE + i, 8);
            c64 = _mm_crc32_u64(c64, v0);
            c1 = _mm_crc32_u64(c1, v1);
            c2 = _mm_crc32_u64(c2, v2);
        }
        c64 = crc32c_shift((uint32_t)c64) ^ (uint32_t)c1;
        c64 = crc32c_shift((uint32_t)c64) ^ (uint32_t)c2;
        p += 3 * STRIPE;
        len -= 3 * STRIPE;
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = _mm_crc32_u64(c64, v);
        p += 8;
        len -= 8;
    }
    c = (uint32_t)c64;
#endif
    while (len >= 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        c = _mm_crc32_u32(c, v);
        p += 4;
        len -= 4;
    }
    while (len > 0) {
        c = _mm_crc32_u8(c, *p++);
        len--;
    }
    return ~c;
}
#endif

bool proto_crc32c_hw_available(void) {
    return crc32c_hw;
}

uint32_t proto_crc32c(uint32_t crc, const void *data, size_t len) {
#ifdef CRC32C_HAVE_X86
    if (crc32c_hw) return crc32c_sse42(crc, data, len);
#endif
    return proto_crc32c_portable(crc, data, len);
}
