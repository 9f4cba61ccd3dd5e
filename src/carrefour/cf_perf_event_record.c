/*
 * cf_perf_event_record.c — perf ring records as bytes (xpv/cf_perf_event.h): decoding a
 * PERF_RECORD_SAMPLE by its sample_type and walking a ring's data area between tail and head.
 * Pure functions of their arguments: no system call, no state.
 *
 * The ring is the kernel's, but its bytes are treated as untrusted: a record is copied out
 * (handling the wrap at the end of the area) before it is read, every size is checked against
 * the header's minimum, 8-byte alignment and the bytes between tail and head, and anything
 * inconsistent skips to head (a stream cannot be resynchronised) and is counted. Only the
 * fixed-size sample fields are decoded (XPV_CF_PE_SAMPLE_KNOWN), so a sample has one size.
 */
#include <errno.h>
#include <linux/perf_event.h>
#include <string.h>

#include "xpv/cf_perf_event.h"

_Static_assert(XPV_CF_PE_SAMPLE_KNOWN ==
                       (PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID |
                        PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR | PERF_SAMPLE_ID |
                        PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD |
                        PERF_SAMPLE_WEIGHT | PERF_SAMPLE_DATA_SRC | PERF_SAMPLE_TRANSACTION |
                        PERF_SAMPLE_PHYS_ADDR | PERF_SAMPLE_DATA_PAGE_SIZE |
                        PERF_SAMPLE_CODE_PAGE_SIZE | PERF_SAMPLE_WEIGHT_STRUCT),
               "the known sample fields");
_Static_assert(sizeof(struct perf_event_header) == 8, "perf record header");

int xpv_cf_pe_sample_size(uint64_t st)
{
    if (st & ~XPV_CF_PE_SAMPLE_KNOWN)
        return -ENOTSUP;
    /* every known field is 8 bytes (TID and CPU are two u32s); WEIGHT and WEIGHT_STRUCT
     * are one union */
    uint64_t f = st & ~(uint64_t)PERF_SAMPLE_WEIGHT_STRUCT;
    if (st & PERF_SAMPLE_WEIGHT_TYPE)
        f |= PERF_SAMPLE_WEIGHT;
    return (int)(sizeof(struct perf_event_header) + 8 * (unsigned)__builtin_popcountll(f));
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

int xpv_cf_pe_decode(const void *rec, size_t len, uint64_t st, struct xpv_cf_pe_sample *out)
{
    int need = xpv_cf_pe_sample_size(st);
    if (need < 0)
        return need;
    if (len < (size_t)need)
        return -EINVAL;
    const uint8_t *p = rec;
    memset(out, 0, sizeof(*out));
    uint16_t misc;
    memcpy(&misc, p + 4, 2);
    out->misc = misc;
    p += sizeof(struct perf_event_header);
    /* the order of include/uapi/linux/perf_event.h, PERF_RECORD_SAMPLE */
    if (st & PERF_SAMPLE_IDENTIFIER)
        p += 8;
    if (st & PERF_SAMPLE_IP)
        out->ip = rd64(p), p += 8;
    if (st & PERF_SAMPLE_TID)
        out->pid = rd32(p), out->tid = rd32(p + 4), p += 8;
    if (st & PERF_SAMPLE_TIME)
        out->time = rd64(p), p += 8;
    if (st & PERF_SAMPLE_ADDR)
        out->addr = rd64(p), p += 8;
    if (st & PERF_SAMPLE_ID)
        p += 8;
    if (st & PERF_SAMPLE_STREAM_ID)
        p += 8;
    if (st & PERF_SAMPLE_CPU)
        out->cpu = rd32(p), p += 8;
    if (st & PERF_SAMPLE_PERIOD)
        out->period = rd64(p), p += 8;
    if (st & PERF_SAMPLE_WEIGHT_TYPE)
        p += 8;
    if (st & PERF_SAMPLE_DATA_SRC)
        out->data_src = rd64(p), p += 8;
    if (st & PERF_SAMPLE_TRANSACTION)
        p += 8;
    if (st & PERF_SAMPLE_PHYS_ADDR)
        out->phys_addr = rd64(p), p += 8;
    /* DATA_PAGE_SIZE and CODE_PAGE_SIZE follow; nothing of them is needed */
    return 0;
}

int xpv_cf_pe_mem_op(uint64_t data_src)
{
    uint64_t op = (data_src >> PERF_MEM_OP_SHIFT) & 0x1f;
    if (op & PERF_MEM_OP_STORE)
        return 1;
    if (op & PERF_MEM_OP_LOAD)
        return 0;
    return -1;
}

/* Copy n bytes at free-running position pos of the ring (wrapping). */
static void ring_copy(const uint8_t *data, uint64_t size, uint64_t pos, void *dst, size_t n)
{
    uint64_t off = pos & (size - 1);
    size_t first = size - off < n ? (size_t)(size - off) : n;
    memcpy(dst, data + off, first);
    memcpy((uint8_t *)dst + first, data, n - first);
}

/* A sample record as the engine's sample; 1 kept, 0 skipped (counted). */
static int keep_sample(const uint8_t *rec, size_t len, uint64_t st, int ring_cpu,
                       struct xpv_cf_ring_sample *out, struct xpv_cf_pe_stats *s)
{
    struct xpv_cf_pe_sample ps;
    if (xpv_cf_pe_decode(rec, len, st, &ps) < 0) {
        s->bad++;
        return 0;
    }
    unsigned mode = ps.misc & PERF_RECORD_MISC_CPUMODE_MASK;
    if (!(st & PERF_SAMPLE_ADDR) || ps.addr == 0 || (ps.addr >> 63) ||
        mode == PERF_RECORD_MISC_KERNEL || mode == PERF_RECORD_MISC_GUEST_KERNEL) {
        s->no_addr++;
        return 0;
    }
    uint64_t cpu =
            (st & PERF_SAMPLE_CPU) ? ps.cpu : (ring_cpu < 0 ? UINT64_MAX : (uint64_t)ring_cpu);
    if (cpu >= XPV_CF_RING_MAX_CPU) {
        s->bad++;
        return 0;
    }
    int op = (st & PERF_SAMPLE_DATA_SRC) ? xpv_cf_pe_mem_op(ps.data_src) : -1;
    if (op < 0)
        s->op_unknown++;
    *out = (struct xpv_cf_ring_sample){
            .addr = ps.addr, .cpu = (uint32_t)cpu, .tid = ps.tid, .write = op == 1};
    s->kept++;
    return 1;
}

size_t xpv_cf_pe_parse(const uint8_t *data, uint64_t size, uint64_t head, uint64_t *tail,
                       uint64_t st, int ring_cpu, struct xpv_cf_ring_sample *out, size_t cap,
                       struct xpv_cf_pe_stats *s)
{
    size_t n = 0;
    uint64_t t = *tail;
    /* a sample is at most this long; other records are only read this far */
    uint8_t rec[256];
    if (size < 8 || (size & (size - 1)) || head - t > size || xpv_cf_pe_sample_size(st) < 0) {
        if (head != t)
            s->bad++;
        *tail = head;
        return 0;
    }
    while (head - t >= sizeof(struct perf_event_header) && n < cap) {
        struct perf_event_header h;
        ring_copy(data, size, t, &h, sizeof(h));
        if (h.size < sizeof(h) || (h.size & 7) || h.size > head - t) {
            s->bad++;
            t = head;
            break;
        }
        size_t got = h.size < sizeof(rec) ? h.size : sizeof(rec);
        ring_copy(data, size, t, rec, got);
        s->records++;
        switch (h.type) {
        case PERF_RECORD_SAMPLE:
            s->samples++;
            n += (size_t)keep_sample(rec, got, st, ring_cpu, &out[n], s);
            break;
        case PERF_RECORD_LOST: /* u64 id, u64 lost */
            s->lost_records++;
            if (got >= 24)
                s->lost += rd64(rec + 16);
            else
                s->bad++;
            break;
        case PERF_RECORD_LOST_SAMPLES: /* u64 lost */
            s->lost_records++;
            if (got >= 16)
                s->lost += rd64(rec + 8);
            else
                s->bad++;
            break;
        case PERF_RECORD_THROTTLE:
            s->throttled++;
            break;
        default:
            s->other++;
            break;
        }
        t += h.size;
    }
    if (t != head && head - t < sizeof(struct perf_event_header)) {
        s->bad++; /* a few bytes, less than a header: never written by a kernel */
        t = head;
    }
    *tail = t;
    return n;
}
