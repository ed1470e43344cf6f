/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compress.c - the record compression codecs Kafka uses (attributes bits 0-2 of a batch):
 *   gzip   - zlib with gzip framing (zlib framing and concatenated members are accepted too);
 *   snappy - Kafka's xerial framing as the Java client sends it: "\x82SNAPPY\0", version i32,
 *            compatible-version i32, then { compressed length i32, snappy block }*; raw snappy
 *            (what librdkafka sends) is accepted on input;
 *   lz4    - the LZ4 frame format (LZ4F), concatenated frames accepted;
 *   zstd   - zstd frames, decompressed as a stream.
 *
 * Decompression is capped: max_out bounds the bytes appended to the output, and a stream that
 * would go beyond it fails with -EMSGSIZE as soon as the output passes the cap (so a small
 * "bomb" never gets to allocate its claimed size). Malformed or truncated input gives -EBADMSG.
 * On failure the output writer is left at its original length.
 */
#include <errno.h>
#include <string.h>

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "ringlet/common.h"
#include "ringlet/protocol.h"

/* Output is produced in steps of at most this many bytes. */
#define OUT_STEP (256 * 1024)
/* Java's SnappyOutputStream block size, which Kafka uses. */
#define XERIAL_BLOCK    (32 * 1024)
#define XERIAL_HDR_SIZE 16
static const uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};

static inline uint32_t ld32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void st32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Room for the next output step: at most OUT_STEP, and at most one byte past the cap (a stream
 * that fills that byte is over the cap). `produced` is what this call appended so far. */
static size_t out_step(size_t produced, size_t max_out) {
    size_t left = max_out - produced; /* produced <= max_out here */
    return left < OUT_STEP ? left + 1 : OUT_STEP;
}

/* ---- gzip ------------------------------------------------------------------------------------ */

static int gzip_compress(const uint8_t *in, size_t len, struct proto_writer *out) {
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* windowBits 15 + 16: gzip framing; level 6 is gzip's (and Kafka's) default. */
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -ENOMEM;
    size_t start = out->len;
    int zr;
    do {
        size_t chunk = len > UINT32_MAX / 2 ? UINT32_MAX / 2 : len;
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = (uInt)chunk;
        in += chunk;
        len -= chunk;
        int flush = len == 0 ? Z_FINISH : Z_NO_FLUSH;
        do {
            size_t room = deflateBound(&zs, zs.avail_in) + 64;
            if (room > OUT_STEP) room = OUT_STEP;
            zs.next_out = proto_writer_reserve(out, room);
            zs.avail_out = (uInt)room;
            zr = deflate(&zs, flush);
            out->len += room - zs.avail_out;
            if (zr == Z_STREAM_ERROR) {
                deflateEnd(&zs);
                out->len = start;
                return -EINVAL;
            }
        } while (zs.avail_out == 0 || zs.avail_in > 0);
    } while (len > 0);
    deflateEnd(&zs);
    if (zr != Z_STREAM_END) {
        out->len = start;
        return -EINVAL;
    }
    return 0;
}

static int gzip_decompress(const uint8_t *in, size_t len, size_t max_out,
                           struct proto_writer *out) {
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* 15 + 32: detect gzip or zlib framing from the first bytes. */
    if (inflateInit2(&zs, 15 + 32) != Z_OK) return -ENOMEM;
    size_t start = out->len, produced = 0;
    int rc = -EBADMSG;
    const uint8_t *p = in;
    size_t left = len;

    for (;;) {
        /* One gzip member (Java's GZIPInputStream also reads concatenated members). */
        int zr = Z_OK;
        while (zr != Z_STREAM_END) {
            if (left == 0 && zs.avail_in == 0) goto out; /* truncated */
            if (zs.avail_in == 0) {
                size_t chunk = left > UINT32_MAX / 2 ? UINT32_MAX / 2 : left;
                zs.next_in = (Bytef *)(uintptr_t)p;
                zs.avail_in = (uInt)chunk;
                p += chunk;
                left -= chunk;
            }
            size_t room = out_step(produced, max_out);
            zs.next_out = proto_writer_reserve(out, room);
            zs.avail_out = (uInt)room;
            zr = inflate(&zs, Z_NO_FLUSH);
            size_t got = room - zs.avail_out;
            out->len += got;
            produced += got;
            if (produced > max_out) {
                rc = -EMSGSIZE;
                goto out;
            }
            if (zr == Z_BUF_ERROR && got == 0 && zs.avail_in == 0 && left == 0) goto out;
            if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) goto out;
        }
        if (zs.avail_in == 0 && left == 0) break;
        /* Another member must follow, with its own gzip header. */
        if (zs.avail_in < 2 || zs.next_in[0] != 0x1f || zs.next_in[1] != 0x8b) goto out;
        if (inflateReset(&zs) != Z_OK) goto out;
    }
    rc = 0;
out:
    inflateEnd(&zs);
    if (rc < 0) out->len = start;
    return rc;
}

/* ---- snappy ---------------------------------------------------------------------------------- */

static int snappy_block_compress(const uint8_t *in, size_t len, struct proto_writer *out) {
    size_t bound = snappy_max_compressed_length(len);
    uint8_t *dst = proto_writer_reserve(out, 4 + bound);
    size_t clen = bound;
    if (snappy_compress((const char *)in, len, (char *)dst + 4, &clen) != SNAPPY_OK) return -EINVAL;
    st32(dst, (uint32_t)clen);
    out->len += 4 + clen;
    return 0;
}

static int snappy_xerial_compress(const uint8_t *in, size_t len, struct proto_writer *out) {
    size_t start = out->len;
    uint8_t *hdr = proto_writer_reserve(out, XERIAL_HDR_SIZE);
    memcpy(hdr, xerial_magic, 8);
    st32(hdr + 8, 1);  /* version */
    st32(hdr + 12, 1); /* minimum compatible version */
    out->len += XERIAL_HDR_SIZE;
    while (len > 0) {
        size_t n = len < XERIAL_BLOCK ? len : XERIAL_BLOCK;
        int rc = snappy_block_compress(in, n, out);
        if (rc < 0) {
            out->len = start;
            return rc;
        }
        in += n;
        len -= n;
    }
    return 0;
}

/* One raw snappy block; checks the declared size against the cap before allocating. */
static int snappy_raw_decompress(const uint8_t *in, size_t len, size_t *produced, size_t max_out,
                                 struct proto_writer *out) {
    size_t ulen;
    if (snappy_uncompressed_length((const char *)in, len, &ulen) != SNAPPY_OK) return -EBADMSG;
    if (ulen > max_out - *produced) return -EMSGSIZE;
    uint8_t *dst = proto_writer_reserve(out, ulen ? ulen : 1);
    size_t got = ulen;
    if (snappy_uncompress((const char *)in, len, (char *)dst, &got) != SNAPPY_OK || got != ulen)
        return -EBADMSG;
    out->len += got;
    *produced += got;
    return 0;
}

static int snappy_decompress(const uint8_t *in, size_t len, size_t max_out,
                             struct proto_writer *out) {
    size_t start = out->len, produced = 0;
    int rc = 0;

    if (len < sizeof(xerial_magic) || memcmp(in, xerial_magic, sizeof(xerial_magic)) != 0) {
        rc = snappy_raw_decompress(in, len, &produced, max_out, out);
    } else {
        if (len < XERIAL_HDR_SIZE) {
            rc = -EBADMSG;
            goto out;
        }
        size_t pos = XERIAL_HDR_SIZE;
        while (pos < len) {
            if (len - pos < 4) {
                rc = -EBADMSG;
                goto out;
            }
            uint32_t clen = ld32(in + pos);
            pos += 4;
            if (clen > len - pos) {
                rc = -EBADMSG;
                goto out;
            }
            rc = snappy_raw_decompress(in + pos, clen, &produced, max_out, out);
            if (rc < 0) goto out;
            pos += clen;
        }
    }
out:
    if (rc < 0) out->len = start;
    return rc;
}

/* ---- lz4 ------------------------------------------------------------------------------------- */

static int lz4_compress(const uint8_t *in, size_t len, struct proto_writer *out) {
    LZ4F_preferences_t prefs;
    memset(&prefs, 0, sizeof(prefs));
    /* As Kafka's Java client: 64 KiB independent blocks, no checksums beyond the frame's. */
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    prefs.frameInfo.contentSize = len;
    size_t bound = LZ4F_compressFrameBound(len, &prefs);
    uint8_t *dst = proto_writer_reserve(out, bound);
    size_t n = LZ4F_compressFrame(dst, bound, in, len, &prefs);
    if (LZ4F_isError(n)) return -EINVAL;
    out->len += n;
    return 0;
}

static int lz4_decompress(const uint8_t *in, size_t len, size_t max_out, struct proto_writer *out) {
    LZ4F_dctx *dctx;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) return -ENOMEM;
    size_t start = out->len, produced = 0, pos = 0;
    size_t hint = 1;
    int rc = -EBADMSG;

    if (len == 0) goto out;
    while (pos < len) {
        size_t room = out_step(produced, max_out);
        uint8_t *dst = proto_writer_reserve(out, room);
        size_t dst_n = room, src_n = len - pos;
        hint = LZ4F_decompress(dctx, dst, &dst_n, in + pos, &src_n, NULL);
        if (LZ4F_isError(hint)) goto out;
        pos += src_n;
        out->len += dst_n;
        produced += dst_n;
        if (produced > max_out) {
            rc = -EMSGSIZE;
            goto out;
        }
        if (src_n == 0 && dst_n == 0) goto out; /* no progress: cannot happen on valid input */
    }
    /* All input consumed: flush what the context still holds, then the frame must be done. */
    while (hint != 0) {
        size_t room = out_step(produced, max_out);
        uint8_t *dst = proto_writer_reserve(out, room);
        size_t dst_n = room, src_n = 0;
        hint = LZ4F_decompress(dctx, dst, &dst_n, in + len, &src_n, NULL);
        if (LZ4F_isError(hint)) goto out;
        out->len += dst_n;
        produced += dst_n;
        if (produced > max_out) {
            rc = -EMSGSIZE;
            goto out;
        }
        if (dst_n == 0) goto out; /* truncated frame */
    }
    rc = 0;
out:
    LZ4F_freeDecompressionContext(dctx);
    if (rc < 0) out->len = start;
    return rc;
}

/* ---- zstd ------------------------------------------------------------------------------------ */

static int zstd_compress(const uint8_t *in, size_t len, struct proto_writer *out) {
    size_t bound = ZSTD_compressBound(len);
    uint8_t *dst = proto_writer_reserve(out, bound);
    size_t n = ZSTD_compress(dst, bound, in, len, ZSTD_CLEVEL_DEFAULT);
    if (ZSTD_isError(n)) return -EINVAL;
    out->len += n;
    return 0;
}

static int zstd_decompress(const uint8_t *in, size_t len, size_t max_out,
                           struct proto_writer *out) {
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    if (!dctx) return -ENOMEM;
    size_t start = out->len, produced = 0;
    size_t ret = 1;
    int rc = -EBADMSG;
    ZSTD_inBuffer ib = {in, len, 0};

    if (len == 0) goto out;
    /* Loop while input remains, and afterwards while the last frame is unfinished and the
     * decoder still produces output (it may hold decoded bytes it had no room for). */
    for (;;) {
        size_t room = out_step(produced, max_out);
        ZSTD_outBuffer ob = {proto_writer_reserve(out, room), room, 0};
        size_t in_before = ib.pos;
        ret = ZSTD_decompressStream(dctx, &ob, &ib);
        if (ZSTD_isError(ret)) goto out;
        out->len += ob.pos;
        produced += ob.pos;
        if (produced > max_out) {
            rc = -EMSGSIZE;
            goto out;
        }
        if (ib.pos == ib.size) {
            if (ret == 0) break;            /* frame complete */
            if (ob.pos < ob.size) goto out; /* no more output and no more input: truncated */
        } else if (ob.pos == 0 && ib.pos == in_before) {
            goto out;
        }
    }
    rc = 0;
out:
    ZSTD_freeDCtx(dctx);
    if (rc < 0) out->len = start;
    return rc;
}

/* ---- public ---------------------------------------------------------------------------------- */

int proto_compress(enum proto_compression codec, const void *in, size_t len,
                   struct proto_writer *out) {
    switch (codec) {
    case PROTO_COMPRESSION_NONE:
        if (len) proto_write_raw(out, in, len);
        return 0;
    case PROTO_COMPRESSION_GZIP:
        return gzip_compress(in, len, out);
    case PROTO_COMPRESSION_SNAPPY:
        return snappy_xerial_compress(in, len, out);
    case PROTO_COMPRESSION_LZ4:
        return lz4_compress(in, len, out);
    case PROTO_COMPRESSION_ZSTD:
        return zstd_compress(in, len, out);
    }
    return -EINVAL;
}

int proto_decompress(enum proto_compression codec, const void *in, size_t len, size_t max_out,
                     struct proto_writer *out) {
    switch (codec) {
    case PROTO_COMPRESSION_NONE:
        if (len > max_out) return -EMSGSIZE;
        if (len) proto_write_raw(out, in, len);
        return 0;
    case PROTO_COMPRESSION_GZIP:
        return gzip_decompress(in, len, max_out, out);
    case PROTO_COMPRESSION_SNAPPY:
        return snappy_decompress(in, len, max_out, out);
    case PROTO_COMPRESSION_LZ4:
        return lz4_decompress(in, len, max_out, out);
    case PROTO_COMPRESSION_ZSTD:
        return zstd_decompress(in, len, max_out, out);
    }
    return -EINVAL;
}
