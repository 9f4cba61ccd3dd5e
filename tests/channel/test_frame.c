/* test_frame.c — the framed message stream: encoding, decoding across feeds, the resync
 * rules on garbled input, statistics, and a seeded random mix of frames and garbage. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xpv/crc32c.h"
#include "xpv/frame.h"

/* ---- helpers ---- */

#define GOT_MAX 4096

/* What the callback saw: every frame's type, length and payload (copied). */
struct got {
    size_t n;
    unsigned type[GOT_MAX];
    size_t len[GOT_MAX];
    unsigned char *data[GOT_MAX];
    size_t stop_at; /* return stop_rc when frame number stop_at (1-based) arrives; 0: never */
    int stop_rc;
    struct xpv_frame_decoder *self; /* when set, the callback tries to feed it */
    long reenter_rc;
};

static int collect(void *arg, unsigned type, const void *payload, size_t len)
{
    struct got *g = arg;
    assert_true(g->n < GOT_MAX);
    g->type[g->n] = type;
    g->len[g->n] = len;
    g->data[g->n] = malloc(len ? len : 1);
    assert_non_null(g->data[g->n]);
    if (len)
        memcpy(g->data[g->n], payload, len);
    g->n++;
    if (g->self)
        g->reenter_rc = xpv_frame_feed(g->self, "X", 1, collect, g);
    if (g->stop_at && g->n == g->stop_at)
        return g->stop_rc;
    return 0;
}

static struct got *got_new(void)
{
    struct got *g = calloc(1, sizeof(*g));
    assert_non_null(g);
    return g;
}

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->data[i]);
    free(g);
}

/* Encode into a fresh allocation; *size gets the frame's size. */
static unsigned char *enc(unsigned type, const void *payload, size_t len, size_t *size)
{
    size_t cap = xpv_frame_size(len);
    unsigned char *f = malloc(cap);
    assert_non_null(f);
    long r = xpv_frame_encode(type, payload, len, f, cap);
    assert_int_equal(r, (long)cap);
    *size = cap;
    return f;
}

/* Append src[0..n) to a growing buffer. */
struct buf {
    unsigned char *p;
    size_t len, cap;
};

static void buf_add(struct buf *b, const void *src, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n)
        memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void buf_frame(struct buf *b, unsigned type, const void *payload, size_t len)
{
    size_t size;
    unsigned char *f = enc(type, payload, len, &size);
    buf_add(b, f, size);
    free(f);
}

static void check_stats_add_up(const struct xpv_frame_decoder *d, const struct got *g)
{
    struct xpv_frame_stats st;
    xpv_frame_stats(d, &st);
    uint64_t framed = 0;
    for (size_t i = 0; i < g->n; i++)
        framed += XPV_FRAME_HEADER + g->len[i];
    assert_int_equal(st.frames, g->n);
    assert_int_equal(st.bytes_in, framed + st.bytes_skipped + xpv_frame_buffered(d));
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A 16-byte header with a valid magic and the given fields; CRC over the header only. */
static void fake_header(unsigned char h[16], unsigned version, unsigned type, uint32_t len)
{
    memcpy(h, "XPVF", 4);
    h[4] = (unsigned char)version;
    h[5] = (unsigned char)type;
    h[6] = h[7] = 0;
    put_le32(h + 8, len);
    put_le32(h + 12, xpv_crc32c(h, 12));
}

/* ---- encoding ---- */

static void test_frame_size(void **state)
{
    (void)state;
    assert_int_equal(xpv_frame_size(0), 16);
    assert_int_equal(xpv_frame_size(100), 116);
    assert_int_equal(xpv_frame_size(XPV_FRAME_MAX_PAYLOAD), 16 + 262144);
    assert_true(xpv_frame_size(SIZE_MAX - 3) == SIZE_MAX);
}

/* Known-answer vectors (also in docs/frames.md). */
static void test_encode_layout(void **state)
{
    (void)state;
    unsigned char f[32];
    static const unsigned char ping[16] = {0x58, 0x50, 0x56, 0x46, 0x01, 0x04, 0x00, 0x00,
                                           0x00, 0x00, 0x00, 0x00, 0xd4, 0xea, 0x65, 0xf8};
    assert_int_equal(xpv_frame_encode(XPV_FRAME_PING, NULL, 0, f, sizeof(f)), 16);
    assert_memory_equal(f, ping, 16);

    static const unsigned char ack[24] = {0x58, 0x50, 0x56, 0x46, 0x01, 0x03, 0x00, 0x00,
                                          0x08, 0x00, 0x00, 0x00, 0x90, 0xf2, 0xa5, 0x95,
                                          0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    const unsigned char gen[8] = {42, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(xpv_frame_encode(XPV_FRAME_ACK, gen, 8, f, sizeof(f)), 24);
    assert_memory_equal(f, ack, 24);

    /* The CRC field is CRC-32C of bytes 0..11 then the payload. */
    uint32_t crc = xpv_crc32c_update(xpv_crc32c(f, 12), f + 16, 8);
    assert_int_equal(f[12] | f[13] << 8 | f[14] << 16 | (uint32_t)f[15] << 24, crc);

    /* Encoding in place: the payload already at out + 16. */
    unsigned char g[24];
    memcpy(g + 16, gen, 8);
    assert_int_equal(xpv_frame_encode(XPV_FRAME_ACK, g + 16, 8, g, sizeof(g)), 24);
    assert_memory_equal(g, ack, 24);
}

static void test_encode_errors(void **state)
{
    (void)state;
    unsigned char f[64];
    assert_int_equal(xpv_frame_encode(0, "x", 1, f, sizeof(f)), -EINVAL);
    assert_int_equal(xpv_frame_encode(256, "x", 1, f, sizeof(f)), -EINVAL);
    assert_int_equal(xpv_frame_encode(1, NULL, 1, f, sizeof(f)), -EINVAL);
    assert_int_equal(xpv_frame_encode(1, "x", 1, NULL, sizeof(f)), -EINVAL);
    assert_int_equal(xpv_frame_encode(1, f, XPV_FRAME_MAX_PAYLOAD + 1, f, sizeof(f)), -EMSGSIZE);
    assert_int_equal(xpv_frame_encode(1, "x", 1, f, 16), -ENOSPC);
    assert_int_equal(xpv_frame_encode(1, NULL, 0, f, 15), -ENOSPC);
    assert_int_equal(xpv_frame_encode(1, "x", 1, f, 17), 17);
    assert_int_equal(xpv_frame_encode(255, NULL, 0, f, 16), 16);
}

static void test_decoder_new_limits(void **state)
{
    (void)state;
    errno = 0;
    assert_null(xpv_frame_decoder_new(XPV_FRAME_MAX_PAYLOAD + 1));
    assert_int_equal(errno, EINVAL);
    struct xpv_frame_decoder *d = xpv_frame_decoder_new(XPV_FRAME_MAX_PAYLOAD);
    assert_non_null(d);
    xpv_frame_decoder_free(d);
    d = xpv_frame_decoder_new(1);
    assert_non_null(d);
    xpv_frame_decoder_free(d);
    xpv_frame_decoder_free(NULL);
}

/* ---- decoding ---- */

static void test_roundtrip_types(void **state)
{
    (void)state;
    static const char hello[] = "xpv-guest 1.0";
    static const unsigned char record[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0xff};
    const unsigned char gen[8] = {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
    struct {
        unsigned type;
        const void *p;
        size_t len;
    } in[] = {
            {XPV_FRAME_HELLO, hello, sizeof(hello) - 1},
            {XPV_FRAME_RECORD, record, sizeof(record)},
            {XPV_FRAME_ACK, gen, sizeof(gen)},
            {XPV_FRAME_PING, NULL, 0},
            {200, "future", 6}, /* unknown types are delivered */
            {255, NULL, 0},
    };
    struct xpv_frame_decoder *d = xpv_frame_decoder_new(0);
    assert_non_null(d);
    struct got *g = got_new();
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        size_t size;
        unsigned char *f = enc(in[i].type, in[i].p, in[i].len, &size);
        assert_int_equal(xpv_frame_feed(d, f, size, collect, g), 1);
        free(f);
        assert_int_equal(g->n, i + 1);
        assert_int_equal(g->type[i], in[i].type);
        assert_int_equal(g->len[i], in[i].len);
        if (in[i].len)
            assert_memory_equal(g->data[i], in[i].p, in[i].len);
        assert_int_equal(xpv_frame_buffered(d), 0);
    }
    uint64_t generation = 0;
    for (int i = 7; i >= 0; i--)
        generation = generation << 8 | g->data[2][i];
    assert_true(generation == 0x1122334455667788ull);
    struct xpv_frame_stats st;
    xpv_frame_stats(d, &st);
    assert_int_equal(st.bytes_skipped, 0);
    assert_int_equal(st.bad_crc, 0);
    assert_int_equal(st.bad_header, 0);
    check_stats_add_up(d, g);
    got_free(g);
    xpv_frame_decoder_free(d);
}

static void test_roundtrip_max_payload(void **state)
{
    (void)state;
    size_t len = XPV_FRAME_MAX_PAYLOAD, size;
    unsigned char *p = malloc(len);
    assert_non_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(i * 31 + (i >> 9));
    unsigned char *f = enc(XPV_FRAME_RECORD, p, len, &size);
    struct xpv_frame_decoder *d = xpv_frame_decoder_new(0);
    struct got *g = got_new();
    /* Whole, then split in three uneven feeds. */
    assert_int_equal(xpv_frame_feed(d, f, size, collect, g), 1);
    assert_int_equal(xpv_frame_feed(d, f, 7, collect, g), 0);
    assert_int_equal(xpv_frame_feed(d, f + 7, 100000, collect, g), 0);
    assert_int_equal(xpv_frame_buffered(d), 100007);
    assert_int_equal(xpv_frame_feed(d, f + 100007, size - 100007, collect, g), 1);
    assert_int_equal(g->n, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(g->len[i], len);
        assert_memory_equal(g->data[i], p, len);
    }
    check_stats_add_up(d, g);
    got_free(g);
    xpv_frame_decoder_free(d);
    free(f);
    free(p);
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    struct buf s = {0};
    buf_frame(&s, XPV_FRAME_HELLO, "hello", 5);
    buf_frame(&s, XPV_FRAME_PING, NULL, 0);
    buf_frame(&s, XPV_FRAME_RECORD, "0123456789abcdef0123", 20);
    struct xpv_frame_decoder *d = xpv_frame_decoder_new(0);
    struct got *g = got_new();
    long total = 0;
    for (size_t i = 0; i < s.len; i++) {
        long r = xpv_frame_feed(d, s.p + i, 1, collect, g);
        assert_true(r == 0 || r == 1);
        total += r;
        assert_int_equal(xpv_frame_feed(d, NULL, 0, collect, g), 0);
    }
    assert_int_equal(total, 3);
    assert_int_equal(g->n, 3);
    assert_int_equal(g->type[0], XPV_FRAME_HELLO);
    assert_memory_equal(g->data[0], "hello", 5);
    assert_int_equal(g->type[1], XPV_FRAME_PING);
    assert_int_equal(g->len[1], 0);
    assert_int_equal(g->type[2], XPV_FRAME_RECORD);
    assert_memory_equal(g->data[2], "0123456789abcdef0123", 20);
    assert_int_equal(xpv_frame_buffered(d), 0);
    check_stats_add_up(d, g);
    got_free(g);
    xpv_frame_decoder_free(d);
    free(s.p);
}

static void test_garbage_prefix_suffix(void **state)
{
    (void)state;
    static const char pre[] = "garbage XP XPV XPVX \x00\xff before";
    static const char post[] = "XPVF? no: after XPV";
    struct buf s = {0};
    buf_add(&s, pre, sizeof(pre) - 1);
    buf_frame(&s, XPV_FRAME_HELLO, "hi", 2);
    buf_add(&s, post, sizeof(post) - 1);
    struct xpv_frame_decoder *d = xpv_frame_decoder_new(0);
    struct got *g = got_new();
    assert_int_equal(xpv_frame_feed(d, s.p, s.len, collect, g), 1);
    assert_int_equal(g->n, 1);
    assert_memory_equal(g->data[0], "hi", 2);
    struct xpv_frame_stats st;
    xpv_frame_stats(d, &st);
    /* The trailing "XPV" may start a frame: kept; the rest is skipped. */
    assert_int_equal(xpv_frame_buffered(d), 3);
    assert_int_equal(st.bytes_skipped, sizeof(pre) - 1 + sizeof(post) - 1 - 3);
    assert_int_equal(st.bytes_in, s.len);
    check_stats_add_up(d, g);
    /* The same stream byte by byte gives the same result. */
    xpv_frame_decoder_reset(d);
    xpv_frame_decoder_free(d);
    d = xpv_frame_decoder_new(0);
    for (size_t i = 0; i < s.len; i++)
        xpv_frame_feed(d, s.p + i, 1, collect, g);
    assert_int_equal(g->n, 2);
    struct xpv_frame_stats st2;
    xpv_frame_stats(d, &st2);
    assert_memory_equal(&st, &st2, sizeof(st));
    assert_int_equal(xpv_frame_buffered(d), 3);
    got_free(g);
    xpv_frame_decoder_free(d);
    free(s.p);
}

static void test_bad_crc_then_good(void **state)
{
    (void)state;
    size_t n1, n2;
    unsigned char *bad = enc(XPV_FRAME_RECORD, "corrupted payload", 17, &n1);
    unsigned char *good = enc(XPV_FRAME_RECORD, "good", 4, &n2);
    bad[20] ^= 0x40; /* a payload bit */
    struct buf s = {0};
    buf_add(&s, bad, n1);
    buf_add(&s, good, n2);
    struct xpv_frame_decoder *d = xpv_frame_decoder_new(0);
    struct got *g = got_new();
    assert_int_equal(xpv_frame_feed(d, s.p, s.len, collect, g), 1);
    assert_int_equal(g->n, 1);
    assert_int_equal(g->len[0], 4);
    assert_memory_equal(g->data[0], "good", 4);
    struct xpv_frame_stats st;
    xpv_frame_stats(d, &st);
    assert_int_equal(st.bad_crc, 1);
    assert_int_equal(st.bad_header, 0);
    assert_int_equal(st.bytes_skipped, n1);
    check_stats_add_up(d, g);

    /* A corrupted CRC field, split across feeds so the buffered path decides. */
    bad[20] ^= 0x40;
    bad[13] ^= 0x01;
    unsigned char both[128];
    memcpy(both, bad, n1);
    memcpy(both + n1, good, n2);
    assert_int_equal(xpv_frame_feed(d, both, 10, collect, g), 0);
    assert_int_equal(xpv_frame_feed(d, both + 10, n1 + n2 - 10, collect, g), 1);
    assert_int_equal(g->n, 2);
    assert_memory_equal(g->data[1], "good", 4);
    xpv_frame_stats(d, &st);
    assert_int_equal(st.bad_crc, 2);
    check_stats_add_up(d, g);
    got_free(g);
    xpv_frame_decoder_free(d);
    free(s.p);
    free(bad);
    free(good);
}

/* A good frame hidden inside a corrupted frame's claimed payload is still found: on a CRC
 * mismatch the length is not trusted. */
static void test_frame_inside_bad_frame(void **state)
{
    (void)state;
    size_t ni, no;
    unsigned char *inner = enc(XPV_FRAME_ACK, "\1\0\0\0\0\0\0\0", 8, &ni);
    unsigned char payload[64];
    memset(payload, 'z', sizeof(payload));
    memcpy(payload + 10, inner, ni);
    unsigned char *outer = enc(XPV_FRAME_RECORD, payload, sizeof(payload), &no);
    outer[12] ^= 0xff;
    for (size_t chunk = 1; chunk <= no; chunk += 13) {
        struct xpv_frame_decoder *d = xpv_frame_decoder_new(0);
        struct got *g = got_new();
        for (size_t i = 0; i < no; i += chunk)
            xpv_frame_feed(d, outer + i, no - i < chunk ? no - i : chunk, collect, g);
        assert_int_equal(g->n, 1);
        assert_int_equal(g->type[0], XPV_FRAME_ACK);
        assert_memory_equal(g->data[0], inner + 16, 8);
        struct xpv_frame_stats st;
        xpv_frame_stats(d, &st);
        assert_int_equal(st.bad_crc, 1);
        assert_int_equal(xpv_frame_buffered(d), 0);
        check_stats_add_up(d, g);
        got_free(g);
        xpv_frame_decoder_free(d);
    }
    free(inner);
    free(outer);
}

static void test_fake_magic_in_garbage(void **state)
{
    (void)state;
    struct buf s = {0};
    unsigned char h[16];
    buf_add(&s, "noise XPVF", 10);         /* a bare magic, then noise as the header */
    buf_add(&s, "\x01\x02..........", 12); /* version 1, type 2, length "..." (huge) */
    fake_header(h, 1, 2, 40);              /* a plausible header whose CRC will not match */
    buf_add(&s, h, 16);
    buf_add(&s, "XPVFXPVF", 8);
    buf_frame(&s, XPV_FRAME_HELLO, "real", 4);
    buf_add(&s, "0123456789012345678901234567890123456789", 40);
    buf_frame(&s, XPV_FRAME_PING, NULL, 0);
    struct xpv_frame_decoder *d = xpv_frame_decoder_new(0);
    struct got *g = got_new();
    assert_int_equal(xpv_frame_feed(d, s.p, s.len, collect, g), 2);
    assert_int_equal(g->n, 2);
    assert_int_equal(g->type[0], XPV_FRAME_HELLO);
    assert_memory_equal(g->data[0], "real", 4);
    assert_int_equal(g->type[1], XPV_FRAME_PING);
    struct xpv_frame_stats st;
    xpv_frame_stats(d, &st);
    assert_true(st.bad_header >= 1);
    assert_true(st.bad_crc >= 1);
    assert_int_equal(xpv_frame_buffered(d), 0);
    check_stats_add_up(d, g);
    got_free(g);
    xpv_frame_decoder_free(d);
    free(s.p);
}

static void test_oversize_length_then_good(void **state)
{
    (void)state;
    unsigned char h[16];
    struct buf s = {0};
    fake_header(h, 1, XPV_FRAME_RECORD, 0xffffffffu);
    buf_add(&s, h, 16);
    fake_header(h, 1, XPV_FRAME_RECORD, XPV_FRAME_MAX_PAYLOAD + 1);
    buf_add(&s, h, 16);
    buf_frame(&s, XPV_FRAME_RECORD, "after", 5);
    struct xpv_frame_decoder *d = xpv_frame_decoder_new(0);
    struct got *g = got_new();
    assert_int_equal(xpv_frame_feed(d, s.p, s.len, collect, g), 1);
    assert_memory_equal(g->data[0], "after", 5);
    struct xpv_frame_stats st;
    xpv_frame_stats(d, &st);
    assert_int_equal(st.bad_header, 2);
    assert_int_equal(st.bad_crc, 0);
    assert_int_equal(st.bytes_skipped, 32);
    check_stats_add_up(d, g);
    xpv_frame_decoder_free(d);

    /* A decoder with a small max rejects a frame that is valid but too long. */
    d = xpv_frame_decoder_new(4);
    struct buf t = {0};
    buf_frame(&t, XPV_FRAME_RECORD, "12345", 5);
    buf_frame(&t, XPV_FRAME_RECORD, "1234", 4);
    for (size_t i = 0; i < t.len; i += 3)
        xpv_frame_feed(d, t.p + i, t.len - i < 3 ? t.len - i : 3, collect, g);
    assert_int_equal(g->n, 2);
    assert_int_equal(g->len[1], 4);
    xpv_frame_stats(d, &st);
    assert_int_equal(st.bad_header, 1);
    assert_int_equal(st.bytes_skipped, 21);
    got_free(g);
    xpv_frame_decoder_free(d);
    free(s.p);
    free(t.p);
}

static void test_bad_version_and_type0(void **state)
{
    (void)state;
    size_t n;
    unsigned char *f = enc(XPV_FRAME_HELLO, "v", 1, &n);
    unsigned char v2[17], t0[17], fl[17];
    memcpy(v2, f, n);
    v2[4] = 2;
    put_le32(v2 + 12, xpv_crc32c_update(xpv_crc32c(v2, 12), v2 + 16, 1));
    memcpy(t0, f, n);
    t0[5] = 0;
    put_le32(t0 + 12, xpv_crc32c_update(xpv_crc32c(t0, 12), t0 + 16, 1));
    memcpy(fl, f, n); /* nonzero flags are ignored (but covered by the CRC) */
    fl[6] = 0xa5;
    fl[7] = 0x5a;
    put_le32(fl + 12, xpv_crc32c_update(xpv_crc32c(fl, 12), fl + 16, 1));
    struct xpv_frame_decoder *d = xpv_frame_decoder_new(0);
    struct got *g = got_new();
    assert_int_equal(xpv_frame_feed(d, v2, n, collect, g), 0);
    assert_int_equal(xpv_frame_feed(d, t0, n, collect, g), 0);
    assert_int_equal(xpv_frame_feed(d, fl, n, collect, g), 1);
    assert_int_equal(xpv_frame_feed(d, f, n, collect, g), 1);
    assert_int_equal(g->n, 2);
    struct xpv_frame_stats st;
    xpv_frame_stats(d, &st);
    assert_int_equal(st.bad_header, 2);
    assert_int_equal(st.bytes_skipped, 2 * n);
    check_stats_add_up(d, g);
    got_free(g);
    xpv_frame_decoder_free(d);
    free(f);
}

static void test_truncated_stream(void **state)
{
    (void)state;
    size_t n;
    unsigned char *f = enc(XPV_FRAME_RECORD, "truncated record", 16, &n);
    struct xpv_frame_decoder *d = xpv_frame_decoder_new(0);
    struct got *g = got_new();
    assert_int_equal(xpv_frame_feed(d, f, n - 1, collect, g), 0);
    assert_int_equal(g->n, 0);
    assert_int_equal(xpv_frame_buffered(d), n - 1);
    struct xpv_frame_stats st;
    xpv_frame_stats(d, &st);
    assert_int_equal(st.bytes_in, n - 1);
    assert_int_equal(st.bytes_skipped, 0);
    assert_int_equal(xpv_frame_feed(d, NULL, 0, collect, g), 0);
    /* Completing it delivers it. */
    assert_int_equal(xpv_frame_feed(d, f + n - 1, 1, collect, g), 1);
    assert_int_equal(xpv_frame_buffered(d), 0);
    /* A header alone, then reset (a reconnect) drops it as skipped. */
    assert_int_equal(xpv_frame_feed(d, f, 12, collect, g), 0);
    assert_int_equal(xpv_frame_buffered(d), 12);
    xpv_frame_decoder_reset(d);
    assert_int_equal(xpv_frame_buffered(d), 0);
    xpv_frame_stats(d, &st);
    assert_int_equal(st.bytes_skipped, 12);
    check_stats_add_up(d, g);
    got_free(g);
    xpv_frame_decoder_free(d);
    free(f);
}

static void test_callback_stop(void **state)
{
    (void)state;
    struct buf s = {0};
    buf_frame(&s, XPV_FRAME_HELLO, "one", 3);
    buf_frame(&s, XPV_FRAME_HELLO, "two", 3);
    buf_frame(&s, XPV_FRAME_HELLO, "three", 5);
    struct xpv_frame_decoder *d = xpv_frame_decoder_new(0);
    struct got *g = got_new();
    g->stop_at = 1;
    g->stop_rc = -ECANCELED;
    assert_int_equal(xpv_frame_feed(d, s.p, s.len, collect, g), -ECANCELED);
    assert_int_equal(g->n, 1);
    struct xpv_frame_stats st;
    xpv_frame_stats(d, &st);
    assert_int_equal(st.bytes_in, 19); /* up to the end of the stopping frame */
    assert_int_equal(xpv_frame_buffered(d), 0);
    /* Feed the rest: a positive stop value is returned as is. */
    g->stop_at = 3;
    g->stop_rc = 99;
    assert_int_equal(xpv_frame_feed(d, s.p + 19, s.len - 19, collect, g), 99);
    assert_int_equal(g->n, 3);
    assert_memory_equal(g->data[2], "three", 5);
    check_stats_add_up(d, g);

    /* Stopping on a frame found in the buffer keeps the buffered rest for the next feed. */
    size_t ni, no;
    unsigned char *inner = enc(XPV_FRAME_PING, NULL, 0, &ni);
    unsigned char payload[40] = {0};
    memcpy(payload, inner, ni);
    memcpy(payload + ni, inner, ni);
    unsigned char *outer = enc(XPV_FRAME_RECORD, payload, sizeof(payload), &no);
    outer[16 + 39] ^= 1; /* bad CRC: the two PINGs inside are the frames */
    g->stop_at = 4;
    g->stop_rc = -ECANCELED;
    assert_int_equal(xpv_frame_feed(d, outer, 20, collect, g), 0);
    assert_int_equal(xpv_frame_feed(d, outer + 20, no - 20, collect, g), -ECANCELED);
    assert_int_equal(g->n, 4);
    assert_true(xpv_frame_buffered(d) > 0);
    assert_int_equal(xpv_frame_feed(d, NULL, 0, collect, g), 1);
    assert_int_equal(g->n, 5);
    assert_int_equal(g->type[4], XPV_FRAME_PING);
    assert_int_equal(xpv_frame_buffered(d), 0);
    check_stats_add_up(d, g);
    got_free(g);
    xpv_frame_decoder_free(d);
    free(s.p);
    free(inner);
    free(outer);
}

static void test_feed_errors(void **state)
{
    (void)state;
    struct xpv_frame_decoder *d = xpv_frame_decoder_new(0);
    struct got *g = got_new();
    assert_int_equal(xpv_frame_feed(NULL, "x", 1, collect, g), -EINVAL);
    assert_int_equal(xpv_frame_feed(d, NULL, 1, collect, g), -EINVAL);
    assert_int_equal(xpv_frame_feed(d, "x", 1, NULL, g), -EINVAL);
    assert_int_equal(xpv_frame_feed(d, NULL, 0, collect, g), 0);
    /* Feeding the decoder from its own callback is refused. */
    size_t n;
    unsigned char *f = enc(XPV_FRAME_PING, NULL, 0, &n);
    g->self = d;
    assert_int_equal(xpv_frame_feed(d, f, n, collect, g), 1);
    assert_int_equal(g->reenter_rc, -EBUSY);
    struct xpv_frame_stats st;
    xpv_frame_stats(NULL, &st);
    assert_int_equal(st.frames, 0);
    xpv_frame_stats(d, &st);
    assert_int_equal(st.frames, 1);
    assert_int_equal(st.bytes_in, 16);
    assert_int_equal(xpv_frame_buffered(NULL), 0);
    xpv_frame_decoder_reset(NULL);
    got_free(g);
    xpv_frame_decoder_free(d);
    free(f);
}

/* ---- randomized: good frames, garbage and corrupted frames, fixed seed ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

static size_t rnd_below(size_t n)
{
    return (size_t)(rnd() % n);
}

static void random_garbage(struct buf *s)
{
    unsigned char g[80], h[16];
    size_t n = 1 + rnd_below(sizeof(g));
    for (size_t i = 0; i < n; i++)
        g[i] = (unsigned char)rnd();
    if (n >= 4 && rnd_below(3) == 0) /* a bare magic somewhere */
        memcpy(g + rnd_below(n - 3), "XPVF", 4);
    buf_add(s, g, n);
    switch (rnd_below(6)) {
    case 0: /* a header with a plausible length and a wrong CRC */
        fake_header(h, 1, 1 + (unsigned)rnd_below(255), (uint32_t)rnd_below(5000));
        h[12] ^= 0x5a;
        buf_add(s, h, 16);
        break;
    case 1: /* a long claimed length */
        fake_header(h, 1, 2, (uint32_t)rnd_below(XPV_FRAME_MAX_PAYLOAD + 1));
        buf_add(s, h, 16);
        break;
    case 2: /* an oversize length */
        fake_header(h, 1, 2, XPV_FRAME_MAX_PAYLOAD + 1 + (uint32_t)rnd_below(1u << 30));
        buf_add(s, h, 16);
        break;
    case 3: /* a bad version */
        fake_header(h, 2 + (unsigned)rnd_below(254), 2, 8);
        buf_add(s, h, 16);
        break;
    case 4: /* a partial magic */
        buf_add(s, "XPV", 1 + rnd_below(3));
        break;
    default:
        break;
    }
}

static void test_random_stream(void **state)
{
    (void)state;
    enum { ITEMS = 600 };
    rng_state = 0x9e3779b97f4a7c15ull;
    struct buf s = {0};
    /* The frames expected, in order: type, len, CRC-32C of the payload. */
    static unsigned ex_type[ITEMS];
    static size_t ex_len[ITEMS];
    static uint32_t ex_crc[ITEMS];
    size_t nex = 0;
    unsigned char p[5000];
    for (int item = 0; item < ITEMS; item++) {
        unsigned kind = (unsigned)rnd_below(10);
        if (kind < 4) {
            random_garbage(&s);
            continue;
        }
        unsigned type = 1 + (unsigned)rnd_below(255);
        size_t len = rnd_below(8) == 0 ? rnd_below(sizeof(p) + 1) : rnd_below(64);
        for (size_t i = 0; i < len; i++)
            p[i] = (unsigned char)rnd();
        size_t size;
        unsigned char *f = enc(type, p, len, &size);
        if (kind < 6) { /* overlapped by garbage: one byte changed */
            size_t at = rnd_below(size);
            f[at] ^= (unsigned char)(1 + rnd_below(255));
        } else {
            ex_type[nex] = type;
            ex_len[nex] = len;
            ex_crc[nex] = xpv_crc32c(p, len);
            nex++;
        }
        buf_add(&s, f, size);
        free(f);
    }
    /* Zeros past the longest claimed length settle every pending candidate. */
    size_t body = s.len;
    unsigned char *zeros = calloc(1, XPV_FRAME_HEADER + XPV_FRAME_MAX_PAYLOAD);
    buf_add(&s, zeros, XPV_FRAME_HEADER + XPV_FRAME_MAX_PAYLOAD);
    free(zeros);
    assert_true(nex > 100);

    static const size_t maxes[] = {0, 5000, 64};
    for (int pass = 0; pass < 6; pass++) {
        size_t max = maxes[pass % 3];
        struct xpv_frame_decoder *d = xpv_frame_decoder_new(max);
        struct got *g = got_new();
        size_t stream = pass < 3 ? s.len : body; /* later passes: no trailer, check order */
        for (size_t off = 0; off < stream;) {
            size_t chunk = pass % 2 ? 1 + rnd_below(3) : rnd_below(4000);
            if (chunk > stream - off)
                chunk = stream - off;
            long r = xpv_frame_feed(d, s.p + off, chunk, collect, g);
            assert_true(r >= 0);
            off += chunk;
        }
        /* Every expected frame within the max is delivered, in order, and nothing else
         * (with the trailer); without it, a prefix of them (a candidate may still wait). */
        size_t j = 0;
        for (size_t i = 0; i < nex; i++) {
            if (max && ex_len[i] > max)
                continue;
            if (j == g->n)
                break;
            assert_int_equal(g->type[j], ex_type[i]);
            assert_int_equal(g->len[j], ex_len[i]);
            assert_int_equal(xpv_crc32c(g->data[j], g->len[j]), ex_crc[i]);
            j++;
        }
        assert_int_equal(j, g->n);
        if (pass < 3) {
            size_t want = 0;
            for (size_t i = 0; i < nex; i++)
                want += !max || ex_len[i] <= max;
            assert_int_equal(g->n, want);
            assert_int_equal(xpv_frame_buffered(d), 0);
        }
        struct xpv_frame_stats st;
        xpv_frame_stats(d, &st);
        assert_int_equal(st.bytes_in, stream);
        assert_true(st.bad_crc + st.bad_header > 0);
        check_stats_add_up(d, g);
        got_free(g);
        xpv_frame_decoder_free(d);
    }
    free(s.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_frame_size),
            cmocka_unit_test(test_encode_layout),
            cmocka_unit_test(test_encode_errors),
            cmocka_unit_test(test_decoder_new_limits),
            cmocka_unit_test(test_roundtrip_types),
            cmocka_unit_test(test_roundtrip_max_payload),
            cmocka_unit_test(test_byte_by_byte),
            cmocka_unit_test(test_garbage_prefix_suffix),
            cmocka_unit_test(test_bad_crc_then_good),
            cmocka_unit_test(test_frame_inside_bad_frame),
            cmocka_unit_test(test_fake_magic_in_garbage),
            cmocka_unit_test(test_oversize_length_then_good),
            cmocka_unit_test(test_bad_version_and_type0),
            cmocka_unit_test(test_truncated_stream),
            cmocka_unit_test(test_callback_stop),
            cmocka_unit_test(test_feed_errors),
            cmocka_unit_test(test_random_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
