/*
 * xpv/frame.h — the framed message stream of the XPV channel over a byte-stream transport
 * (virtio-serial): the frame encoder and the resynchronising, bounded-memory decoder.
 * The wire format and the resync rules are specified in docs/frames.md.
 *
 * A frame is a 16-byte little-endian header (magic "XPVF", version 1, type, flags, payload
 * length, CRC-32C of header bytes 0..11 followed by the payload) and then the payload.
 * Payloads are opaque to this codec. Errors are negative errno values.
 */
#ifndef XPV_FRAME_H
#define XPV_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define XPV_FRAME_MAGIC       0x46565058u /* the bytes 'X','P','V','F' as a u32 LE */
#define XPV_FRAME_VERSION     1u
#define XPV_FRAME_HEADER      16u
#define XPV_FRAME_MAX_PAYLOAD 262144u /* default and hard cap of a decoder's max payload */

/* Frame types. 0 is invalid; unknown nonzero types are delivered (the consumer decides). */
enum xpv_frame_type {
    XPV_FRAME_HELLO = 1,  /* payload: free-form, opaque */
    XPV_FRAME_RECORD = 2, /* payload: one topology record, opaque to this codec */
    XPV_FRAME_ACK = 3,    /* payload: u64 LE generation */
    XPV_FRAME_PING = 4,   /* payload: opaque, usually empty */
};

/* Encoded size of a frame with a payload of `payload_len` bytes (saturates at SIZE_MAX). */
size_t xpv_frame_size(size_t payload_len);

/* Encode one frame into out[0..cap). `payload` may be NULL when `len` is 0, and may already
 * sit at out + XPV_FRAME_HEADER (encoding in place). Returns the bytes written
 * (xpv_frame_size(len)); -EINVAL for type 0 or > 255 or a NULL buffer, -EMSGSIZE when
 * len > XPV_FRAME_MAX_PAYLOAD, -ENOSPC when cap is too small. */
long xpv_frame_encode(unsigned type, const void *payload, size_t len, void *out, size_t cap);

/* Stream decoder: opaque; holds at most XPV_FRAME_HEADER + max_payload bytes. */
struct xpv_frame_decoder;

/* New decoder accepting payloads of up to `max_payload` bytes (0: XPV_FRAME_MAX_PAYLOAD).
 * NULL with errno EINVAL when max_payload > XPV_FRAME_MAX_PAYLOAD, ENOMEM when out of memory. */
struct xpv_frame_decoder *xpv_frame_decoder_new(size_t max_payload);

/* Free a decoder (NULL is a no-op). */
void xpv_frame_decoder_free(struct xpv_frame_decoder *d);

/* Discard buffered bytes (counted as skipped), e.g. when the transport reconnects.
 * Statistics are kept. */
void xpv_frame_decoder_reset(struct xpv_frame_decoder *d);

/* Called once per complete, valid frame. `payload` is valid only during the call. A nonzero
 * return stops feed(), which returns that value (return a negative value, e.g. -ECANCELED,
 * to tell it apart from a frame count). The callback must not feed the same decoder. */
typedef int (*xpv_frame_cb)(void *arg, unsigned type, const void *payload, size_t len);

/* Feed n bytes of the stream (bytes may be NULL when n is 0; feeding 0 bytes delivers any
 * complete frames already buffered). Frames split across calls are delivered once complete.
 * Returns the number of frames delivered (>= 0); the callback's nonzero value when it stops
 * the feed; -EINVAL for a NULL decoder, callback or buffer; -EBUSY when called from within
 * this decoder's callback. After a stop, the input consumed is exactly up to the end of the
 * stopping frame (and is the increase of xpv_frame_stats().bytes_in): feed the rest again. */
long xpv_frame_feed(struct xpv_frame_decoder *d, const void *bytes, size_t n, xpv_frame_cb cb,
                    void *arg);

/* Decoder counters. bytes_in == (bytes of delivered frames) + bytes_skipped + buffered. */
struct xpv_frame_stats {
    uint64_t frames;        /* frames delivered */
    uint64_t bytes_in;      /* bytes consumed from feed() input */
    uint64_t bytes_skipped; /* bytes discarded while searching for a frame */
    uint64_t bad_crc;       /* candidate frames dropped for a CRC mismatch */
    uint64_t bad_header;    /* candidate headers dropped: version, type 0, length > max */
};

void xpv_frame_stats(const struct xpv_frame_decoder *d, struct xpv_frame_stats *out);

/* Bytes currently held by the decoder (an incomplete candidate frame). */
size_t xpv_frame_buffered(const struct xpv_frame_decoder *d);

#ifdef __cplusplus
}
#endif
#endif
