/*
 * fuzz_frame.c — libFuzzer target for the frame stream decoder (docs/frames.md, "Fuzzing").
 *
 * Input: byte 0 picks how the stream is cut into feed() calls, byte 1 the decoder's max
 * payload, whether the callback stops the feed every k frames, and whether the rest is the
 * stream itself (raw) or a program that synthesizes one from valid frames, corrupted frames,
 * fake headers and raw bytes (so that valid CRCs are reachable). Byte 1's bit 6 is the
 * CRC-repairing mode: every complete candidate frame of the raw stream (magic, version 1, a
 * type, a length within the max and in the stream) gets its CRC recomputed before decoding,
 * right to left, so whatever the mutator did to a frame's header or payload still passes the
 * checksum and reaches delivery (and a frame at offset 0 must be delivered first, whole).
 * The stream is decoded with
 * the chosen cutting and, as a reference, in one feed() call; abort() on any violation:
 *   - a delivered payload is longer than the max payload, or its type is 0;
 *   - a delivered frame does not re-encode to bytes whose CRC verifies;
 *   - the stats do not add up: bytes_in == delivered frame bytes + skipped + buffered,
 *     buffered <= header + max payload, frames == frames seen by the callback;
 *   - the cutting (or stopping and resuming) changes what is delivered or any counter;
 *   - a synthesized stream of only valid frames is not delivered exactly.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/crc32c.h"
#include "xpv/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

#define SYNTH_MAX (1u << 20) /* bytes of a synthesized stream */

static unsigned char scratch[XPV_FRAME_HEADER + XPV_FRAME_MAX_PAYLOAD];
static unsigned char synth_buf[SYNTH_MAX];
static unsigned char repair_buf[SYNTH_MAX];

struct run {
    size_t max;          /* the decoder's max payload */
    uint64_t stop_every; /* the callback stops the feed every k frames; 0: never */
    uint64_t frames;
    uint64_t framed_bytes; /* sum of delivered frames' encoded sizes */
    uint32_t digest;       /* CRC-32C over the re-encoded frames, in order */
    unsigned first_type;   /* of the first frame delivered */
    size_t first_len;
};

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int on_frame(void *arg, unsigned type, const void *payload, size_t len)
{
    struct run *r = arg;
    CHECK(len <= r->max);
    CHECK(type >= 1 && type <= 255);
    long n = xpv_frame_encode(type, payload, len, scratch, sizeof(scratch));
    CHECK(n == (long)(XPV_FRAME_HEADER + len));
    CHECK(get32(scratch) == XPV_FRAME_MAGIC && scratch[4] == XPV_FRAME_VERSION);
    CHECK(scratch[5] == type && get32(scratch + 8) == len);
    uint32_t crc = xpv_crc32c_update(xpv_crc32c(scratch, 12), scratch + XPV_FRAME_HEADER, len);
    CHECK(get32(scratch + 12) == crc);
    CHECK(len == 0 || memcmp(scratch + XPV_FRAME_HEADER, payload, len) == 0);
    if (r->frames == 0) {
        r->first_type = type;
        r->first_len = len;
    }
    r->frames++;
    r->framed_bytes += (uint64_t)n;
    r->digest = xpv_crc32c_update(r->digest, scratch, (size_t)n);
    if (r->stop_every && r->frames % r->stop_every == 0)
        return -ECANCELED;
    return 0;
}

static void check_stats(const struct xpv_frame_decoder *d, const struct run *r, uint64_t fed)
{
    struct xpv_frame_stats st;
    xpv_frame_stats(d, &st);
    size_t buffered = xpv_frame_buffered(d);
    CHECK(buffered <= XPV_FRAME_HEADER + r->max);
    CHECK(st.frames == r->frames);
    CHECK(st.bytes_in == fed);
    CHECK(st.bytes_in == r->framed_bytes + st.bytes_skipped + buffered);
}

/* Feed p[0..n), resuming after every stop; *fed counts the bytes consumed. */
static void feed_all(struct xpv_frame_decoder *d, const uint8_t *p, size_t n, struct run *r,
                     uint64_t *fed)
{
    for (;;) {
        struct xpv_frame_stats before, after;
        xpv_frame_stats(d, &before);
        long rc = xpv_frame_feed(d, n ? p : NULL, n, on_frame, r);
        xpv_frame_stats(d, &after);
        uint64_t used = after.bytes_in - before.bytes_in;
        CHECK(used <= n);
        *fed += used;
        check_stats(d, r, *fed);
        if (rc == -ECANCELED) {
            p += used;
            n -= used;
            continue;
        }
        CHECK(rc >= 0 && (uint64_t)rc == after.frames - before.frames);
        CHECK(used == n);
        return;
    }
}

/* Decode s[0..n) cut by `mode`; r gets what was delivered, *st and *buffered the end state. */
static void decode(const uint8_t *s, size_t n, unsigned mode, struct run *r,
                   struct xpv_frame_stats *st, size_t *buffered)
{
    struct xpv_frame_decoder *d = xpv_frame_decoder_new(r->max);
    CHECK(d);
    uint64_t fed = 0;
    uint32_t rng = 0x9e3779b9u ^ mode;
    for (size_t off = 0; off < n;) {
        size_t chunk;
        switch (mode & 3) {
        case 0: /* whole */
            chunk = n;
            break;
        case 1: /* byte by byte */
            chunk = 1;
            break;
        case 2: /* fixed */
            chunk = 1 + (mode >> 2) * 7;
            break;
        default: /* pseudo-random, including empty feeds */
            rng = rng * 1103515245u + 12345u;
            chunk = (rng >> 16) % (2 + (mode >> 2) * 64);
            break;
        }
        if (chunk > n - off)
            chunk = n - off;
        feed_all(d, s + off, chunk, r, &fed);
        off += chunk;
    }
    feed_all(d, NULL, 0, r, &fed); /* frames left buffered by a final stop */
    xpv_frame_stats(d, st);
    *buffered = xpv_frame_buffered(d);
    /* Nothing is left that another empty feed would deliver. */
    uint64_t frames = r->frames;
    CHECK(xpv_frame_feed(d, NULL, 0, on_frame, r) == 0 && r->frames == frames);
    xpv_frame_decoder_free(d);
}

struct synth {
    unsigned char *s;
    size_t n;
    int pure;        /* only valid frames within the max payload so far */
    uint64_t frames; /* valid frames written */
    uint32_t digest; /* over the valid frames written */
};

/* Append a frame whose payload comes from the input (zero-padded); corrupt one byte if
 * `corrupt`. */
static void synth_frame(struct synth *y, const uint8_t **p, const uint8_t *end, unsigned op,
                        size_t max, int corrupt)
{
    unsigned type = *p < end ? *(*p)++ : 1;
    size_t len = *p < end ? *(*p)++ : 0;
    len |= (size_t)(op >> 2) << 8; /* up to 16383 */
    if (type == 0)
        type = 1;
    if (y->n + XPV_FRAME_HEADER + len > SYNTH_MAX)
        return;
    unsigned char *f = y->s + y->n;
    size_t have = (size_t)(end - *p) < len ? (size_t)(end - *p) : len;
    memcpy(f + XPV_FRAME_HEADER, *p, have);
    memset(f + XPV_FRAME_HEADER + have, 0, len - have);
    *p += have;
    long w = xpv_frame_encode(type, f + XPV_FRAME_HEADER, len, f, SYNTH_MAX - y->n);
    CHECK(w == (long)(XPV_FRAME_HEADER + len));
    if (corrupt) {
        size_t at = *p < end ? *(*p)++ : 0;
        f[at % (size_t)w] ^= 0xa5;
        y->pure = 0;
    } else if (len > max) {
        y->pure = 0;
    } else {
        y->frames++;
        y->digest = xpv_crc32c_update(y->digest, f, (size_t)w);
    }
    y->n += (size_t)w;
}

static void synthesize(struct synth *y, const uint8_t *p, const uint8_t *end, size_t max)
{
    while (p < end && y->n + XPV_FRAME_HEADER < SYNTH_MAX) {
        unsigned op = *p++;
        switch (op & 3) {
        case 0: { /* raw bytes */
            size_t k = op >> 2;
            if (k > (size_t)(end - p))
                k = (size_t)(end - p);
            if (y->n + k > SYNTH_MAX)
                return;
            memcpy(y->s + y->n, p, k);
            p += k;
            y->n += k;
            y->pure = 0;
            break;
        }
        case 1:
            synth_frame(y, &p, end, op, max, 0);
            break;
        case 2:
            synth_frame(y, &p, end, op, max, 1);
            break;
        default: { /* a header: magic, then fields from the input */
            unsigned char *h = y->s + y->n;
            memcpy(h, "XPVF", 4);
            for (int i = 4; i < 16; i++)
                h[i] = p < end ? *p++ : 0;
            if (op & 4)
                h[4] = XPV_FRAME_VERSION;
            if (op & 8) /* a small length, so it may be completed */
                h[8 + 1] = h[8 + 2] = h[8 + 3] = 0;
            y->n += 16;
            y->pure = 0;
            break;
        }
        }
    }
}

/* The CRC-repairing mode: recompute the CRC of every complete candidate frame in s[0..n),
 * from the right: a repair writes only its own CRC field, and the candidates still to be
 * repaired start left of it, so their CRCs, computed later, cover the final bytes (a valid
 * candidate can still be spoiled by the CRC of one that starts inside its header, which the
 * decoder then rejects as it should). Returns whether a candidate at offset 0 was
 * repaired: that one is valid in the end. */
static int repair_crcs(unsigned char *s, size_t n, size_t max)
{
    int at0 = 0;
    for (size_t i = n >= XPV_FRAME_HEADER ? n - XPV_FRAME_HEADER + 1 : 0; i-- > 0;) {
        unsigned char *f = s + i;
        if (get32(f) != XPV_FRAME_MAGIC || f[4] != XPV_FRAME_VERSION || f[5] == 0)
            continue;
        size_t len = get32(f + 8);
        if (len > max || len > n - i - XPV_FRAME_HEADER)
            continue;
        uint32_t crc = xpv_crc32c_update(xpv_crc32c(f, 12), f + XPV_FRAME_HEADER, len);
        for (int b = 0; b < 4; b++)
            f[12 + b] = (unsigned char)(crc >> (8 * b));
        at0 = i == 0;
    }
    return at0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t maxes[4] = {XPV_FRAME_MAX_PAYLOAD, 16, 300, 4096};
    if (size < 2)
        return 0;
    unsigned mode = data[0];
    size_t max = maxes[data[1] & 3];
    int synth_mode = data[1] & 4;
    uint64_t stop_every = (data[1] >> 3) & 7;
    const uint8_t *s = data + 2;
    size_t n = size - 2;

    struct synth y = {.pure = 1};
    int repaired0 = 0;
    if (synth_mode) {
        y.s = synth_buf;
        synthesize(&y, s, data + size, max);
        s = y.s;
        n = y.n;
    } else if ((data[1] & 0x40) && n <= SYNTH_MAX) {
        memcpy(repair_buf, s, n);
        repaired0 = repair_crcs(repair_buf, n, max);
        s = repair_buf;
    }

    struct run cut = {.max = max, .stop_every = stop_every};
    struct run ref = {.max = max};
    struct xpv_frame_stats st_cut, st_ref;
    size_t buf_cut, buf_ref;
    decode(s, n, mode, &cut, &st_cut, &buf_cut);
    decode(s, n, 0, &ref, &st_ref, &buf_ref);

    /* How the stream is cut, and stopping, change nothing. */
    CHECK(cut.frames == ref.frames && cut.framed_bytes == ref.framed_bytes);
    CHECK(cut.digest == ref.digest);
    CHECK(memcmp(&st_cut, &st_ref, sizeof(st_cut)) == 0);
    CHECK(buf_cut == buf_ref);
    CHECK(st_ref.bytes_in == n);

    if (repaired0) { /* a valid frame at the start is the first delivered */
        CHECK(ref.frames >= 1 && ref.first_type == s[5] && ref.first_len == get32(s + 8));
    }
    if (synth_mode && y.pure) {
        CHECK(ref.frames == y.frames && ref.digest == y.digest);
        CHECK(st_ref.bytes_skipped == 0 && st_ref.bad_crc == 0 && st_ref.bad_header == 0);
        CHECK(buf_ref == 0);
    }
    return 0;
}
