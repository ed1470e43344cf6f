/* SPDX-License-Identifier: Apache-2.0 */
/*
 * murmur2.c - Java-compatible key partitioning: Kafka's Utils.murmur2 (MurmurHash2, seed
 * 0x9747b28c, little-endian 4-byte blocks, signed 32-bit result) and the default partitioner's
 * (hash & 0x7fffffff) % partitions. Unsigned arithmetic reproduces Java's wrapping int maths;
 * Java's `>>>` is a logical shift, which is what shifting a uint32_t does.
 */
#include "ringlet/client.h"

int32_t ringlet_murmur2(const void *data, size_t len) {
    const uint8_t *p = data;
    const uint32_t m = 0x5bd1e995u;
    const int r = 24;
    /* Java: int h = seed ^ length (the length is an int, so only its low 32 bits count). */
    uint32_t h = 0x9747b28cu ^ (uint32_t)len;
    size_t blocks = len / 4;

    for (size_t i = 0; i < blocks; i++) {
        const uint8_t *b = p + i * 4;
        uint32_t k = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
                     ((uint32_t)b[3] << 24);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }

    const uint8_t *tail = p + (len & ~(size_t)3);
    switch (len % 4) {
    case 3:
        h ^= (uint32_t)tail[2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)tail[1] << 8;
        /* fall through */
    case 1:
        h ^= (uint32_t)tail[0];
        h *= m;
        break;
    default:
        break;
    }

    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return (int32_t)h;
}

int32_t ringlet_partition_for_key(const void *key, size_t len, int32_t partition_cnt) {
    if (partition_cnt <= 0) return 0;
    uint32_t positive = (uint32_t)ringlet_murmur2(key, len) & 0x7fffffffu;
    return (int32_t)(positive % (uint32_t)partition_cnt);
}
