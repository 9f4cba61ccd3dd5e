/*
 * frame.c — the framed message stream (docs/frames.md): frame encoding and the stream
 * decoder with its resync rules. The decoder owns one buffer of XPV_FRAME_HEADER + max
 * payload bytes; whole frames that arrive inside one feed() are checked and delivered
 * straight from the caller's bytes, only a frame split across calls is copied.
 */
#include "xpv/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/crc32c.h"

struct xpv_frame_decoder {
    size_t max;  /* largest payload accepted */
    size_t cap;  /* XPV_FRAME_HEADER + max: the size of buf */
    size_t head; /* buffered bytes are buf[head .. head + len) */
    size_t len;
    int in_cb; /* inside the callback: feed() is refused */
    struct xpv_frame_stats st;
    unsigned char buf[];
};

static const unsigned char magic[4] = {'X', 'P', 'V', 'F'};

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* CRC of a frame: header bytes 0..11, then the payload. */
static uint32_t frame_crc(const unsigned char *hdr, const unsigned char *payload, size_t len)
{
    return xpv_crc32c_update(xpv_crc32c(hdr, 12), payload, len);
}

size_t xpv_frame_size(size_t payload_len)
{
    return payload_len > SIZE_MAX - XPV_FRAME_HEADER ? SIZE_MAX : XPV_FRAME_HEADER + payload_len;
}

long xpv_frame_encode(unsigned type, const void *payload, size_t len, void *out, size_t cap)
{
    if (type == 0 || type > 255 || !out || (!payload && len))
        return -EINVAL;
    if (len > XPV_FRAME_MAX_PAYLOAD)
        return -EMSGSIZE;
    if (cap < XPV_FRAME_HEADER + len)
        return -ENOSPC;
    unsigned char *o = out;
    if (len) /* first: the payload may overlap the header's bytes */
        memmove(o + XPV_FRAME_HEADER, payload, len);
    put32(o, XPV_FRAME_MAGIC);
    o[4] = XPV_FRAME_VERSION;
    o[5] = (unsigned char)type;
    o[6] = 0;
    o[7] = 0;
    put32(o + 8, (uint32_t)len);
    put32(o + 12, frame_crc(o, o + XPV_FRAME_HEADER, len));
    return (long)(XPV_FRAME_HEADER + len);
}

struct xpv_frame_decoder *xpv_frame_decoder_new(size_t max_payload)
{
    if (max_payload == 0)
        max_payload = XPV_FRAME_MAX_PAYLOAD;
    if (max_payload > XPV_FRAME_MAX_PAYLOAD) {
        errno = EINVAL;
        return NULL;
    }
    /* malloc, not calloc: buf is only ever read after being written. */
    struct xpv_frame_decoder *d = malloc(sizeof(*d) + XPV_FRAME_HEADER + max_payload);
    if (!d) {
        errno = ENOMEM;
        return NULL;
    }
    *d = (struct xpv_frame_decoder){.max = max_payload, .cap = XPV_FRAME_HEADER + max_payload};
    return d;
}

void xpv_frame_decoder_free(struct xpv_frame_decoder *d)
{
    free(d);
}

/* Discard the first k buffered bytes as skipped. */
static void drop(struct xpv_frame_decoder *d, size_t k)
{
    d->head += k;
    d->len -= k;
    d->st.bytes_skipped += k;
    if (d->len == 0)
        d->head = 0;
}

void xpv_frame_decoder_reset(struct xpv_frame_decoder *d)
{
    if (d)
        drop(d, d->len);
}

/* First offset i in [0, n] at which p[i .. min(i + 4, n)) is a prefix of the magic: the
 * start of the next candidate frame, or n when p holds none. */
static size_t sync_off(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const unsigned char *x = memchr(p + i, magic[0], n - i);
        if (!x)
            return n;
        i = (size_t)(x - p);
        size_t k = n - i < sizeof(magic) ? n - i : sizeof(magic);
        if (memcmp(x, magic, k) == 0)
            return i;
        i++;
    }
    return n;
}

enum verdict { V_MORE, V_BAD_HEADER, V_BAD_CRC, V_OK };

/* The candidate frame p[0..n), which starts with the whole magic (n >= 4). *total is set to
 * the frame's size once its header is complete and valid. */
static enum verdict examine(const unsigned char *p, size_t n, size_t max, size_t *total)
{
    if (n < XPV_FRAME_HEADER)
        return V_MORE;
    if (p[4] != XPV_FRAME_VERSION || p[5] == 0)
        return V_BAD_HEADER;
    uint32_t plen = get32(p + 8);
    if (plen > max)
        return V_BAD_HEADER;
    *total = XPV_FRAME_HEADER + (size_t)plen;
    if (n < *total)
        return V_MORE;
    return frame_crc(p, p + XPV_FRAME_HEADER, plen) == get32(p + 12) ? V_OK : V_BAD_CRC;
}

static void count_bad(struct xpv_frame_decoder *d, enum verdict v)
{
    if (v == V_BAD_CRC)
        d->st.bad_crc++;
    else
        d->st.bad_header++;
}

long xpv_frame_feed(struct xpv_frame_decoder *d, const void *bytes, size_t n, xpv_frame_cb cb,
                    void *arg)
{
    if (!d || !cb || (!bytes && n))
        return -EINVAL;
    if (d->in_cb)
        return -EBUSY;
    const unsigned char *in = bytes;
    long count = 0;
    for (;;) {
        const unsigned char *frame;
        size_t total = 0;
        enum verdict v;
        if (d->len == 0) {
            /* Nothing buffered: work on the caller's bytes directly. */
            if (n == 0)
                return count;
            size_t s = sync_off(in, n);
            in += s;
            n -= s;
            d->st.bytes_in += s;
            d->st.bytes_skipped += s;
            v = n < sizeof(magic) ? V_MORE : examine(in, n, d->max, &total);
            if (v == V_MORE) {
                /* n < total <= cap (or n < XPV_FRAME_HEADER): it fits. */
                memcpy(d->buf, in, n);
                d->head = 0;
                d->len = n;
                d->st.bytes_in += n;
                return count;
            }
            if (v != V_OK) {
                count_bad(d, v);
                in++;
                n--;
                d->st.bytes_in++;
                d->st.bytes_skipped++;
                continue;
            }
            frame = in;
            in += total;
            n -= total;
            d->st.bytes_in += total;
        } else {
            /* A candidate frame is buffered: complete it from the input. */
            drop(d, sync_off(d->buf + d->head, d->len));
            if (d->len == 0)
                continue;
            unsigned char *b = d->buf + d->head;
            v = d->len < sizeof(magic) ? V_MORE : examine(b, d->len, d->max, &total);
            if (v == V_MORE) {
                size_t want = d->len < XPV_FRAME_HEADER ? XPV_FRAME_HEADER : total;
                size_t take = want - d->len < n ? want - d->len : n;
                if (take == 0)
                    return count;
                if (d->head + want > d->cap) {
                    memmove(d->buf, b, d->len);
                    d->head = 0;
                }
                memcpy(d->buf + d->head + d->len, in, take);
                in += take;
                n -= take;
                d->len += take;
                d->st.bytes_in += take;
                continue;
            }
            if (v != V_OK) {
                count_bad(d, v);
                drop(d, 1);
                continue;
            }
            /* Consumed now; the bytes stay in place until the next copy into buf. */
            frame = b;
            d->head += total;
            d->len -= total;
        }
        d->st.frames++;
        count++;
        d->in_cb = 1;
        int rc = cb(arg, frame[5], frame + XPV_FRAME_HEADER, total - XPV_FRAME_HEADER);
        d->in_cb = 0;
        if (rc)
            return rc;
    }
}

void xpv_frame_stats(const struct xpv_frame_decoder *d, struct xpv_frame_stats *out)
{
    if (!out)
        return;
    if (!d) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = d->st;
}

size_t xpv_frame_buffered(const struct xpv_frame_decoder *d)
{
    return d ? d->len : 0;
}
