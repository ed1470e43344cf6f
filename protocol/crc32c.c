/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka's
 * RecordBatch v2 (over attributes..end of batch).
 *
 * Three implementations with one convention (like zlib's crc32(): pass 0 to start, pass the
 * previous result to continue):
 *   - proto_crc32c_portable: slicing-by-8 tables, built once at load time.
 *   - an SSE4.2 path using the crc32 instruction 8 bytes at a time, compiled with a target
 *     attribute so the rest of the library needs no -msse4.2, and picked at run time with
 *     __builtin_cpu_supports. proto_crc32c uses it when the CPU has it.
 *   - an AVX-512 + VPCLMULQDQ path (carry-less multiply folding, see below), same target
 *     attribute / run-time pick; proto_crc32c uses it for buffers of FOLD_MIN bytes or more.
 *
 * The crc32 instruction has a latency of about 3 cycles but a throughput of one per cycle, so on
 * long buffers the SSE4.2 path runs three independent streams over three consecutive blocks of
 * STRIPE bytes and then merges them. The merge uses linearity: with reg(x, M) the raw CRC
 * register after feeding M from state x, reg(x, A||B) = Z(reg(x, A)) ^ reg(0, B), where Z is
 * "feed STRIPE zero bytes", a linear map on 32 bits applied with four 256-entry tables.
 *
 * Folding (the technique of Intel's "Fast CRC Computation for Generic Polynomials Using
 * PCLMULQDQ" white paper). Bit-reflected convention: a 16-byte block loaded little-endian into a
 * 128-bit register has its bit i as the coefficient of x^(127-i), so the low qword H holds the
 * high-degree half: A = H*x^64 + L. The raw CRC register after a message M from state 0 is
 * M*x^32 mod P, so any A' == A (mod P) of at most 128 bits can stand for everything folded so
 * far. Moving A forward over D bits of later data: A*x^D == H*(x^(D+64) mod P) + L*(x^D mod P),
 * two 64x32-bit carry-less products that fit in 128 bits and are XORed into the block D bits
 * later. A carry-less product of two reflected 64-bit operands lands one bit short in the
 * reflected 128-bit result (it is the product times x), so the constants are x^(D+63) mod P
 * (multiplies H) and x^(D-1) mod P (multiplies L). The loop keeps four 512-bit accumulators
 * (16 independent 128-bit lanes, 256 bytes per step, D = 2048), folds them into one, the four
 * lanes into one, then 16 bytes at a time; the last 128 bits go through the crc32 instruction
 * from state 0, which gives the register for the whole prefix. The previous CRC enters by
 * XORing it into the first 4 bytes (feeding M from state c == feeding M ^ c from state 0).
 */
#include <stdint.h>
#include <string.h>

#include "ringlet/protocol.h"

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define CRC32C_HAVE_X86 1
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#define CRC32C_HAVE_FOLD 1
#define FOLD_TARGET      __attribute__((target("avx512f,avx512vl,vpclmulqdq,pclmul,sse4.2")))
#endif

/* Testing hooks (not in the public header): each implementation the CPU can run, fastest first,
 * for the unit test and the benchmark. */
int proto_crc32c_impl_count(void);
const char *proto_crc32c_impl_name(int i);
uint32_t proto_crc32c_impl(int i, uint32_t crc, const void *data, size_t len);

#define CRC32C_POLY 0x82F63B78u

#define STRIPE   2048 /* bytes per stream in the 3-way SSE4.2 loop; a multiple of 8 */
#define FOLD_MIN 128  /* from here on the folding path beats the SSE4.2 one (measured on Zen 4) */

static uint32_t crc32c_table[8][256];
static uint32_t crc32c_zeros[4][256]; /* Z: the register after STRIPE zero bytes, per byte */
static bool crc32c_hw;
static bool crc32c_fold;

typedef uint32_t (*crc32c_fn)(uint32_t crc, const void *data, size_t len);
static struct {
    const char *name;
    crc32c_fn fn;
} crc32c_impls[3];
static int crc32c_nimpls;

#ifdef CRC32C_HAVE_FOLD
/* Folding constants, one 128-bit lane {x^(D+63) mod P, x^(D-1) mod P} per fold distance D (see
 * the top comment), each a reflected 32-bit remainder in the upper half of its qword. */
static uint64_t fold_2048[8] __attribute__((aligned(64)));  /* main loop, 4 x 64 B ahead */
static uint64_t fold_1536[8] __attribute__((aligned(64)));  /* accumulator 0 onto 3 */
static uint64_t fold_1024[8] __attribute__((aligned(64)));  /* accumulator 1 onto 3 */
static uint64_t fold_512[8] __attribute__((aligned(64)));   /* accumulator 2 onto 3; 64 B steps */
static uint64_t fold_lanes[8] __attribute__((aligned(64))); /* lanes 0,1,2 onto 3: 384, 256,
                                                               128; lane 3 multiplied by 0 */
static uint64_t fold_128[2] __attribute__((aligned(16)));   /* 16-byte steps */
#endif

/* Feeds n zero bytes to a raw register (no pre/post inversion). */
static uint32_t crc32c_feed_zeros(uint32_t c, size_t n) {
    while (n-- > 0)
        c = crc32c_table[0][c & 0xff] ^ (c >> 8);
    return c;
}

#ifdef CRC32C_HAVE_FOLD
/* x^n mod P as a reflected 32-bit value (bit i is the coefficient of x^(31-i)). */
static uint32_t crc32c_xpow(unsigned n) {
    uint32_t v = 0x80000000u; /* x^0 */
    while (n-- > 0)
        v = (v & 1) ? (v >> 1) ^ CRC32C_POLY : v >> 1; /* times x; x^32 == P - x^32 */
    return v;
}

/* The constants for a fold over d bits into one 128-bit lane. A reflected 32-bit remainder in a
 * 64-bit clmul operand sits in the upper half (bit i + 32 is the coefficient of x^(31-i)). */
static void fold_consts(uint64_t lane[2], unsigned d) {
    lane[0] = (uint64_t)crc32c_xpow(d + 63) << 32; /* x^(d+63) mod P: multiplies the low qword */
    lane[1] = (uint64_t)crc32c_xpow(d - 1) << 32;  /* x^(d-1) mod P: multiplies the high one */
}
#endif

#ifdef CRC32C_HAVE_X86
static uint32_t crc32c_sse42(uint32_t crc, const void *data, size_t len);
#endif
#ifdef CRC32C_HAVE_FOLD
static uint32_t crc32c_avx512(uint32_t crc, const void *data, size_t len);
#endif

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
#ifdef CRC32C_HAVE_FOLD
    for (int lane = 0; lane < 4; lane++) {
        fold_consts(&fold_2048[2 * lane], 2048);
        fold_consts(&fold_1536[2 * lane], 1536);
        fold_consts(&fold_1024[2 * lane], 1024);
        fold_consts(&fold_512[2 * lane], 512);
    }
    fold_consts(&fold_lanes[0], 384);
    fold_consts(&fold_lanes[2], 256);
    fold_consts(&fold_lanes[4], 128);
    fold_lanes[6] = fold_lanes[7] = 0;
    fold_consts(fold_128, 128);
#endif
#ifdef CRC32C_HAVE_X86
    __builtin_cpu_init();
    crc32c_hw = __builtin_cpu_supports("sse4.2");
#endif
#ifdef CRC32C_HAVE_FOLD
    /* libgcc reports avx512f only when the OS saves the ZMM state (XCR0). */
    crc32c_fold = crc32c_hw && __builtin_cpu_supports("avx512f") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("vpclmulqdq") &&
                  __builtin_cpu_supports("pclmul");
    if (crc32c_fold) {
        crc32c_impls[crc32c_nimpls].name = "AVX-512 folding";
        crc32c_impls[crc32c_nimpls++].fn = crc32c_avx512;
    }
#endif
#ifdef CRC32C_HAVE_X86
    if (crc32c_hw) {
        crc32c_impls[crc32c_nimpls].name = "SSE4.2 3-way";
        crc32c_impls[crc32c_nimpls++].fn = crc32c_sse42;
    }
#endif
    crc32c_impls[crc32c_nimpls].name = "slicing-by-8";
    crc32c_impls[crc32c_nimpls++].fn = proto_crc32c_portable;
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

#ifdef CRC32C_HAVE_FOLD
/* Each 128-bit lane of x moved forward by the distance of k's lane, XORed with data. */
FOLD_TARGET static inline __m512i fold512(__m512i x, __m512i k, __m512i data) {
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                     _mm512_clmulepi64_epi128(x, k, 0x11), data, 0x96);
}

FOLD_TARGET static inline __m128i fold128(__m128i x, __m128i k, __m128i data) {
    return _mm_ternarylogic_epi64(_mm_clmulepi64_si128(x, k, 0x00),
                                  _mm_clmulepi64_si128(x, k, 0x11), data, 0x96);
}

FOLD_TARGET static uint32_t crc32c_avx512(uint32_t crc, const void *data, size_t len) {
    const uint8_t *p = data;

    /* Unaligned loads throughout: on Zen 4, first aligning the start with crc32 instructions
     * made no measurable difference on long buffers and cost up to 63 bytes' worth on short. */
    if (len < 64) return crc32c_sse42(crc, data, len);

    __m512i init = _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)~crc));
    __m512i x = _mm512_xor_si512(_mm512_loadu_si512(p), init);
    __m512i k;
    if (len >= 256) {
        __m512i x0 = x;
        __m512i x1 = _mm512_loadu_si512(p + 64);
        __m512i x2 = _mm512_loadu_si512(p + 128);
        __m512i x3 = _mm512_loadu_si512(p + 192);
        p += 256;
        len -= 256;
        k = _mm512_load_si512(fold_2048);
        while (len >= 256) {
            x0 = fold512(x0, k, _mm512_loadu_si512(p));
            x1 = fold512(x1, k, _mm512_loadu_si512(p + 64));
            x2 = fold512(x2, k, _mm512_loadu_si512(p + 128));
            x3 = fold512(x3, k, _mm512_loadu_si512(p + 192));
            p += 256;
            len -= 256;
        }
        /* Four accumulators into one (x3 is the latest). */
        x = fold512(x0, _mm512_load_si512(fold_1536), x3);
        x = fold512(x1, _mm512_load_si512(fold_1024), x);
        x = fold512(x2, _mm512_load_si512(fold_512), x);
    } else {
        p += 64;
        len -= 64;
    }
    k = _mm512_load_si512(fold_512);
    while (len >= 64) {
        x = fold512(x, k, _mm512_loadu_si512(p));
        p += 64;
        len -= 64;
    }
    /* Four lanes into one: lanes 0..2 moved onto lane 3 and XORed with it (the constants of
     * lane 3 are 0, so y's lane 3 is 0 and unused). */
    __m512i y = fold512(x, _mm512_load_si512(fold_lanes), _mm512_setzero_si512());
    __m128i a = _mm_ternarylogic_epi64(_mm512_castsi512_si128(y), _mm512_extracti32x4_epi32(y, 1),
                                       _mm512_extracti32x4_epi32(y, 2), 0x96);
    a = _mm_xor_si128(a, _mm512_extracti32x4_epi32(x, 3));
    __m128i k128 = _mm_load_si128((const __m128i *)fold_128);
    while (len >= 16) {
        a = fold128(a, k128, _mm_loadu_si128((const __m128i *)p));
        p += 16;
        len -= 16;
    }
    /* The register for everything so far: the 16 bytes of a fed from state 0. */
    uint64_t c = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(a));
    c = _mm_crc32_u64(c, (uint64_t)_mm_extract_epi64(a, 1));
    return crc32c_sse42(~(uint32_t)c, p, len);
}
#endif

bool proto_crc32c_hw_available(void) {
    return crc32c_hw;
}

uint32_t proto_crc32c(uint32_t crc, const void *data, size_t len) {
#ifdef CRC32C_HAVE_FOLD
    if (crc32c_fold && len >= FOLD_MIN) return crc32c_avx512(crc, data, len);
#endif
#ifdef CRC32C_HAVE_X86
    if (crc32c_hw) return crc32c_sse42(crc, data, len);
#endif
    return proto_crc32c_portable(crc, data, len);
}

int proto_crc32c_impl_count(void) {
    return crc32c_nimpls;
}

const char *proto_crc32c_impl_name(int i) {
    return i >= 0 && i < crc32c_nimpls ? crc32c_impls[i].name : NULL;
}

uint32_t proto_crc32c_impl(int i, uint32_t crc, const void *data, size_t len) {
    return crc32c_impls[i].fn(crc, data, len);
}
