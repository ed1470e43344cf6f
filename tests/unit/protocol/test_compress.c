/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_compress.c - the compression codecs: round trips of several shapes of input, the
 * decompressed-size cap (exact fit, one byte over, a 1 GiB bomb against a 1 MiB cap), snappy's
 * xerial framing and raw blocks, concatenated gzip members / lz4 and zstd frames, and corrupt or
 * truncated input.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "ringlet/common.h"
#include "ringlet/protocol.h"

static const enum proto_compression codecs[] = {PROTO_COMPRESSION_GZIP, PROTO_COMPRESSION_SNAPPY,
                                                PROTO_COMPRESSION_LZ4, PROTO_COMPRESSION_ZSTD};

static uint8_t *make_input(int kind, size_t n) {
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        switch (kind) {
        case 0:
            p[i] = (uint8_t)x;
            break; /* incompressible */
        case 1:
            p[i] = (uint8_t) "the quick brown fox "[i % 20];
            break; /* repetitive */
        default:
            p[i] = (uint8_t)('a' + (x % 4));
            break; /* low entropy */
        }
    }
    return p;
}

static void test_roundtrip(void **state) {
    (void)state;
    static const size_t sizes[] = {0, 1, 100, 32768, 32769, 100000, 1 << 20};
    for (size_t c = 0; c < RL_ARRAY_SIZE(codecs); c++) {
        for (size_t s = 0; s < RL_ARRAY_SIZE(sizes); s++) {
            for (int kind = 0; kind < 3; kind++) {
                size_t n = sizes[s];
                uint8_t *in = make_input(kind, n);
                struct proto_writer z, out;
                proto_writer_init(&z);
                proto_writer_init(&out);
                proto_write_raw(&z, "pre", 3); /* output is appended */
                assert_int_equal(proto_compress(codecs[c], in, n, &z), 0);
                if (kind == 1 && n >= 100000) assert_true(z.len < n / 4);
                proto_write_raw(&out, "xy", 2);
                assert_int_equal(proto_decompress(codecs[c], z.buf + 3, z.len - 3, n, &out), 0);
                assert_int_equal(out.len, n + 2);
                assert_memory_equal(out.buf, "xy", 2);
                if (n) assert_memory_equal(out.buf + 2, in, n);
                /* One byte less of room: refused, and the output is left as it was. */
                if (n > 0) {
                    assert_int_equal(proto_decompress(codecs[c], z.buf + 3, z.len - 3, n - 1, &out),
                                     -EMSGSIZE);
                    assert_int_equal(out.len, n + 2);
                }
                proto_writer_free(&z);
                proto_writer_free(&out);
                free(in);
            }
        }
    }
}

static void test_none_codec(void **state) {
    (void)state;
    struct proto_writer w;
    proto_writer_init(&w);
    assert_int_equal(proto_compress(PROTO_COMPRESSION_NONE, "abc", 3, &w), 0);
    assert_int_equal(proto_decompress(PROTO_COMPRESSION_NONE, "abc", 3, 3, &w), 0);
    assert_int_equal(w.len, 6);
    assert_int_equal(proto_decompress(PROTO_COMPRESSION_NONE, "abc", 3, 2, &w), -EMSGSIZE);
    assert_int_equal(proto_compress((enum proto_compression)7, "abc", 3, &w), -EINVAL);
    assert_int_equal(proto_decompress((enum proto_compression)7, "abc", 3, 10, &w), -EINVAL);
    assert_int_equal(w.len, 6);
    proto_writer_free(&w);
}

static void test_snappy_framing(void **state) {
    (void)state;
    size_t n = 100000;
    uint8_t *in = make_input(2, n);
    struct proto_writer z, out;
    proto_writer_init(&z);
    proto_writer_init(&out);
    assert_int_equal(proto_compress(PROTO_COMPRESSION_SNAPPY, in, n, &z), 0);
    /* Xerial header as Java writes it, then 32 KiB blocks: 4 of them for 100000 bytes. */
    static const uint8_t hdr[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
    assert_memory_equal(z.buf, hdr, 16);
    size_t pos = 16;
    int blocks = 0;
    while (pos < z.len) {
        uint32_t bl = (uint32_t)z.buf[pos] << 24 | (uint32_t)z.buf[pos + 1] << 16 |
                      (uint32_t)z.buf[pos + 2] << 8 | z.buf[pos + 3];
        size_t ulen = 0;
        assert_int_equal(snappy_uncompressed_length((const char *)z.buf + pos + 4, bl, &ulen),
                         SNAPPY_OK);
        assert_true(ulen <= 32768);
        pos += 4 + bl;
        blocks++;
    }
    assert_int_equal(pos, z.len);
    assert_int_equal(blocks, 4);

    /* Raw snappy (what librdkafka sends) is accepted too. */
    size_t rawcap = snappy_max_compressed_length(n), rawlen = rawcap;
    char *raw = malloc(rawcap);
    assert_non_null(raw);
    assert_int_equal(snappy_compress((const char *)in, n, raw, &rawlen), SNAPPY_OK);
    assert_int_equal(proto_decompress(PROTO_COMPRESSION_SNAPPY, raw, rawlen, n, &out), 0);
    assert_int_equal(out.len, n);
    assert_memory_equal(out.buf, in, n);
    assert_int_equal(proto_decompress(PROTO_COMPRESSION_SNAPPY, raw, rawlen, n - 1, &out),
                     -EMSGSIZE);
    /* Truncated header, truncated block length, block longer than the input. */
    assert_int_equal(proto_decompress(PROTO_COMPRESSION_SNAPPY, z.buf, 12, n, &out), -EBADMSG);
    assert_int_equal(proto_decompress(PROTO_COMPRESSION_SNAPPY, z.buf, 18, n, &out), -EBADMSG);
    assert_int_equal(proto_decompress(PROTO_COMPRESSION_SNAPPY, z.buf, z.len - 1, n, &out),
                     -EBADMSG);
    /* Header only: no blocks, no data. */
    assert_int_equal(proto_decompress(PROTO_COMPRESSION_SNAPPY, z.buf, 16, n, &out), 0);
    assert_int_equal(out.len, n);
    free(raw);
    free(in);
    proto_writer_free(&z);
    proto_writer_free(&out);
}

/* 1 GiB of zeros compressed with each codec's own streaming API from a small buffer, so the test
 * never holds the uncompressed data. */
#define BOMB_SIZE (1ull << 30)
#define BOMB_STEP (1u << 20)

static void bomb_gzip(struct proto_writer *w) {
    static uint8_t zero[BOMB_STEP];
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
    for (uint64_t done = 0; done < BOMB_SIZE; done += BOMB_STEP) {
        zs.next_in = zero;
        zs.avail_in = BOMB_STEP;
        int flush = done + BOMB_STEP >= BOMB_SIZE ? Z_FINISH : Z_NO_FLUSH;
        do {
            zs.next_out = proto_writer_reserve(w, 65536);
            zs.avail_out = 65536;
            deflate(&zs, flush);
            w->len += 65536 - zs.avail_out;
        } while (zs.avail_out == 0 || zs.avail_in > 0);
    }
    deflateEnd(&zs);
}

static void bomb_lz4(struct proto_writer *w) {
    static uint8_t zero[BOMB_STEP];
    LZ4F_cctx *c;
    assert_false(LZ4F_isError(LZ4F_createCompressionContext(&c, LZ4F_VERSION)));
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = LZ4F_max4MB;
    prefs.frameInfo.blockMode = LZ4F_blockLinked;
    size_t bound = LZ4F_compressBound(BOMB_STEP, &prefs);
    w->len += LZ4F_compressBegin(c, proto_writer_reserve(w, LZ4F_HEADER_SIZE_MAX),
                                 LZ4F_HEADER_SIZE_MAX, &prefs);
    for (uint64_t done = 0; done < BOMB_SIZE; done += BOMB_STEP) {
        size_t n =
            LZ4F_compressUpdate(c, proto_writer_reserve(w, bound), bound, zero, BOMB_STEP, NULL);
        assert_false(LZ4F_isError(n));
        w->len += n;
    }
    w->len += LZ4F_compressEnd(c, proto_writer_reserve(w, bound), bound, NULL);
    LZ4F_freeCompressionContext(c);
}

static void bomb_zstd(struct proto_writer *w) {
    static uint8_t zero[BOMB_STEP];
    ZSTD_CCtx *c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
    ZSTD_CCtx_setPledgedSrcSize(c, BOMB_SIZE);
    for (uint64_t done = 0; done < BOMB_SIZE; done += BOMB_STEP) {
        ZSTD_inBuffer ib = {zero, BOMB_STEP, 0};
        ZSTD_EndDirective end = done + BOMB_STEP >= BOMB_SIZE ? ZSTD_e_end : ZSTD_e_continue;
        size_t left;
        do {
            ZSTD_outBuffer ob = {proto_writer_reserve(w, 65536), 65536, 0};
            left = ZSTD_compressStream2(c, &ob, &ib, end);
            assert_false(ZSTD_isError(left));
            w->len += ob.pos;
        } while (ib.pos < ib.size || (end == ZSTD_e_end && left != 0));
    }
    ZSTD_freeCCtx(c);
}

/* Raw snappy whose header claims 1 GiB: a varint length and a few literal bytes. */
static void bomb_snappy(struct proto_writer *w) {
    static const uint8_t claim[] = {0x80, 0x80, 0x80, 0x80, 0x04, 0x00, 'x'};
    proto_write_raw(w, claim, sizeof(claim));
}

static void test_bomb_1gib(void **state) {
    (void)state;
    void (*makers[])(struct proto_writer *) = {bomb_gzip, bomb_snappy, bomb_lz4, bomb_zstd};
    for (size_t c = 0; c < RL_ARRAY_SIZE(codecs); c++) {
        struct proto_writer z, out;
        proto_writer_init(&z);
        proto_writer_init(&out);
        makers[c](&z);
        assert_true(z.len < (16u << 20));
        assert_int_equal(proto_decompress(codecs[c], z.buf, z.len, 1u << 20, &out), -EMSGSIZE);
        assert_int_equal(out.len, 0);
        /* It stopped near the cap instead of allocating the claimed gigabyte. */
        assert_true(out.cap <= (4u << 20));
        proto_writer_free(&z);
        proto_writer_free(&out);
    }
}

static void test_corrupt_and_truncated(void **state) {
    (void)state;
    size_t n = 200000;
    uint8_t *in = make_input(2, n);
    uint8_t *junk = make_input(0, 4096);
    for (size_t c = 0; c < RL_ARRAY_SIZE(codecs); c++) {
        struct proto_writer z, out;
        proto_writer_init(&z);
        proto_writer_init(&out);
        assert_int_equal(proto_compress(codecs[c], in, n, &z), 0);
        /* Truncation at many points: an error, never a crash. Xerial snappy has no end
         * marker, so a cut at a block boundary decodes the blocks before it (the batch CRC is
         * what catches that). */
        for (size_t cut = 0; cut < z.len; cut += 1 + z.len / 97) {
            int rc = proto_decompress(codecs[c], z.buf, cut, n, &out);
            if (codecs[c] == PROTO_COMPRESSION_SNAPPY && rc == 0) {
                assert_true(out.len < n);
                proto_writer_reset(&out);
                continue;
            }
            assert_int_equal(rc, -EBADMSG);
            assert_int_equal(out.len, 0);
        }
        /* Garbage. */
        assert_int_equal(proto_decompress(codecs[c], junk, 4096, n, &out), -EBADMSG);
        assert_int_equal(proto_decompress(codecs[c], junk, 0, n, &out), -EBADMSG);
        /* Flipped bytes in the body: an error (or, for codecs without checksums, data that is
         * not the original); always within the cap. */
        for (size_t i = 20; i < z.len; i += 1 + z.len / 31) {
            z.buf[i] ^= 0x55;
            int rc = proto_decompress(codecs[c], z.buf, z.len, n, &out);
            assert_true(rc == 0 || rc == -EBADMSG || rc == -EMSGSIZE);
            if (rc == 0) assert_true(out.len <= n);
            if (rc != 0) assert_int_equal(out.len, 0);
            proto_writer_reset(&out);
            z.buf[i] ^= 0x55;
        }
        proto_writer_free(&z);
        proto_writer_free(&out);
    }
    free(junk);
    free(in);
}

static void test_concatenated(void **state) {
    (void)state;
    /* Two compressed streams back to back decode to both inputs (gzip members, lz4 and zstd
     * frames). */
    enum proto_compression cc[] = {PROTO_COMPRESSION_GZIP, PROTO_COMPRESSION_LZ4,
                                   PROTO_COMPRESSION_ZSTD};
    for (size_t c = 0; c < RL_ARRAY_SIZE(cc); c++) {
        struct proto_writer z, out;
        proto_writer_init(&z);
        proto_writer_init(&out);
        assert_int_equal(proto_compress(cc[c], "hello ", 6, &z), 0);
        assert_int_equal(proto_compress(cc[c], "world", 5, &z), 0);
        assert_int_equal(proto_decompress(cc[c], z.buf, z.len, 100, &out), 0);
        assert_int_equal(out.len, 11);
        assert_memory_equal(out.buf, "hello world", 11);
        /* Trailing garbage is not another stream. */
        proto_write_raw(&z, "\x01\x02\x03", 3);
        proto_writer_reset(&out);
        assert_int_equal(proto_decompress(cc[c], z.buf, z.len, 100, &out), -EBADMSG);
        proto_writer_free(&z);
        proto_writer_free(&out);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_none_codec),
        cmocka_unit_test(test_snappy_framing),
        cmocka_unit_test(test_bomb_1gib),
        cmocka_unit_test(test_corrupt_and_truncated),
        cmocka_unit_test(test_concatenated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
