/*
 * record.c — encoder and validating decoder of the topology record (docs/record-abi.md).
 *
 * Everything is read and written byte by byte in little-endian order, so the code neither
 * depends on the host's byte order nor on the buffer's alignment. The decoder checks, in
 * this order: header size, magic, ABI major, lengths, seqlock parity, CRC, the body's fixed
 * part, counts against the spec's bounds, every array inside the body, every index inside
 * its range. Nothing is read outside [buf, buf + len).
 */
#include "xpv/record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xpv/crc32c.h"

/* Header layout (offsets), ABI 1.0. */
enum {
    H_MAGIC = 0,
    H_MAJOR = 8,
    H_MINOR = 10,
    H_HEADER_LEN = 12,
    H_TOTAL_LEN = 16,
    H_SEQ = 20,
    H_GENERATION = 24,
    H_TIMESTAMP = 32,
    H_CRC = 40,
    H_FLAGS = 44,
};
/* Body fixed part (offsets from the body's start). */
enum {
    B_NR_PNODES = 0,
    B_NR_VNODES = 4,
    B_NR_CPUS = 8,
    B_NR_BACKING = 12,
    B_FIXED_LEN = 16,
    B_OFF_PNODE_IDS = 20,
    B_OFF_CPU_PNODE = 24,
    B_OFF_CPU_VNODE = 28,
    B_OFF_BACKING = 32,
    B_OFF_DISTANCE = 36,
    B_GENERATION = 40, /* copy of the header's generation, under the CRC */
};
#define BACKING_ENTRY 16u

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) | (uint32_t)get16(p + 2) << 16;
}
static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}
static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Array placement of ABI 1.0, shared by size() and encode(). */
struct layout {
    size_t pnode_ids, cpu_pnode, cpu_vnode, backing, distance, body_len;
};

static void place(const struct xpv_record_desc *d, struct layout *l)
{
    size_t off = XPV_RECORD_FIXED_SIZE;
    l->pnode_ids = off;
    off = align8(off + 4 * (size_t)d->nr_pnodes);
    l->cpu_pnode = off;
    off = align8(off + 2 * (size_t)d->nr_cpus);
    l->cpu_vnode = off;
    off = align8(off + 2 * (size_t)d->nr_cpus);
    l->backing = off;
    off = align8(off + BACKING_ENTRY * (size_t)d->nr_backing);
    l->distance = off;
    off = align8(off + 2 * (size_t)d->nr_pnodes * d->nr_pnodes);
    l->body_len = off;
}

size_t xpv_record_size(const struct xpv_record_desc *desc)
{
    struct layout l;
    place(desc, &l);
    return XPV_RECORD_HEADER_SIZE + l.body_len;
}

static int check_desc(const struct xpv_record_desc *d, struct xpv_error *err)
{
    if (d->nr_pnodes < 1 || d->nr_pnodes > XPV_RECORD_MAX_PNODES)
        return xpv_error_set(err, -EINVAL, "%u physical nodes (1..%u allowed)", d->nr_pnodes,
                             XPV_RECORD_MAX_PNODES);
    if (d->nr_vnodes > XPV_RECORD_MAX_VNODES)
        return xpv_error_set(err, -EINVAL, "%u virtual nodes (at most %u)", d->nr_vnodes,
                             XPV_RECORD_MAX_VNODES);
    if (d->nr_cpus > XPV_RECORD_MAX_CPUS)
        return xpv_error_set(err, -EINVAL, "%u CPUs (at most %u)", d->nr_cpus, XPV_RECORD_MAX_CPUS);
    if (d->nr_backing > XPV_RECORD_MAX_BACKING)
        return xpv_error_set(err, -EINVAL, "%u backing entries (at most %u)", d->nr_backing,
                             XPV_RECORD_MAX_BACKING);
    if (!d->pnode_ids || !d->distance || (d->nr_cpus && (!d->cpu_pnode || !d->cpu_vnode)) ||
        (d->nr_backing && !d->backing))
        return xpv_error_set(err, -EINVAL, "a non-empty array is NULL");
    for (unsigned i = 1; i < d->nr_pnodes; i++)
        if (d->pnode_ids[i] <= d->pnode_ids[i - 1])
            return xpv_error_set(err, -EINVAL, "physical node ids not strictly increasing at %u",
                                 i);
    if (d->pnode_ids[d->nr_pnodes - 1] > XPV_RECORD_MAX_NODE_ID)
        return xpv_error_set(err, -EINVAL, "physical node id %u (at most %u)",
                             d->pnode_ids[d->nr_pnodes - 1], XPV_RECORD_MAX_NODE_ID);
    for (unsigned c = 0; c < d->nr_cpus; c++) {
        if (d->cpu_pnode[c] != XPV_RECORD_NONE && d->cpu_pnode[c] >= d->nr_pnodes)
            return xpv_error_set(err, -EINVAL, "CPU %u on physical node index %u of %u", c,
                                 d->cpu_pnode[c], d->nr_pnodes);
        if (d->cpu_vnode[c] != XPV_RECORD_NONE && d->cpu_vnode[c] >= d->nr_vnodes)
            return xpv_error_set(err, -EINVAL, "CPU %u in virtual node %u of %u", c,
                                 d->cpu_vnode[c], d->nr_vnodes);
    }
    for (unsigned b = 0; b < d->nr_backing; b++)
        if (d->backing[b].vnode >= d->nr_vnodes || d->backing[b].pnode >= d->nr_pnodes)
            return xpv_error_set(err, -EINVAL, "backing entry %u names vnode %u / pnode %u", b,
                                 d->backing[b].vnode, d->backing[b].pnode);
    return 0;
}

long xpv_record_encode(const struct xpv_record_desc *d, uint64_t generation, uint64_t timestamp_ns,
                       void *out, size_t cap, struct xpv_error *err)
{
    int rc = check_desc(d, err);
    if (rc < 0)
        return rc;
    struct layout l;
    place(d, &l);
    size_t total = XPV_RECORD_HEADER_SIZE + l.body_len;
    if (total > cap)
        return xpv_error_set(err, -ENOSPC, "record needs %zu bytes, buffer has %zu", total, cap);
    uint8_t *h = out, *b = h + XPV_RECORD_HEADER_SIZE;
    memset(h, 0, total);
    put64(h + H_MAGIC, XPV_RECORD_MAGIC);
    put16(h + H_MAJOR, XPV_RECORD_ABI_MAJOR);
    put16(h + H_MINOR, XPV_RECORD_ABI_MINOR);
    put32(h + H_HEADER_LEN, XPV_RECORD_HEADER_SIZE);
    put32(h + H_TOTAL_LEN, (uint32_t)total);
    put64(h + H_GENERATION, generation);
    put64(h + H_TIMESTAMP, timestamp_ns);

    put32(b + B_NR_PNODES, d->nr_pnodes);
    put32(b + B_NR_VNODES, d->nr_vnodes);
    put32(b + B_NR_CPUS, d->nr_cpus);
    put32(b + B_NR_BACKING, d->nr_backing);
    put32(b + B_FIXED_LEN, XPV_RECORD_FIXED_SIZE);
    put32(b + B_OFF_PNODE_IDS, (uint32_t)l.pnode_ids);
    put32(b + B_OFF_CPU_PNODE, (uint32_t)l.cpu_pnode);
    put32(b + B_OFF_CPU_VNODE, (uint32_t)l.cpu_vnode);
    put32(b + B_OFF_BACKING, (uint32_t)l.backing);
    put32(b + B_OFF_DISTANCE, (uint32_t)l.distance);
    put64(b + B_GENERATION, generation);
    for (unsigned i = 0; i < d->nr_pnodes; i++)
        put32(b + l.pnode_ids + 4 * i, d->pnode_ids[i]);
    for (unsigned c = 0; c < d->nr_cpus; c++) {
        put16(b + l.cpu_pnode + 2 * c, d->cpu_pnode[c]);
        put16(b + l.cpu_vnode + 2 * c, d->cpu_vnode[c]);
    }
    for (unsigned i = 0; i < d->nr_backing; i++) {
        uint8_t *e = b + l.backing + BACKING_ENTRY * i;
        put16(e, d->backing[i].vnode);
        put16(e + 2, d->backing[i].pnode);
        put64(e + 8, d->backing[i].bytes);
    }
    for (size_t i = 0; i < (size_t)d->nr_pnodes * d->nr_pnodes; i++)
        put16(b + l.distance + 2 * i, d->distance[i]);
    put32(h + H_CRC, xpv_crc32c(b, l.body_len));
    return (long)total;
}

/* Array [off, off + count*size) must lie in the body after its fixed part. */
static int array_in(const uint8_t *body, uint32_t body_len, uint32_t fixed_len, unsigned off_field,
                    uint64_t count, uint64_t size, const uint8_t **out, const char *what,
                    struct xpv_error *err)
{
    uint32_t off = get32(body + off_field);
    uint64_t bytes = count * size;
    if (off < fixed_len || off > body_len || bytes > body_len - off)
        return xpv_error_set(err, -EBADMSG,
                             "%s array at body offset %u, %llu bytes, outside the %u-byte body",
                             what, off, (unsigned long long)bytes, body_len);
    *out = body + off;
    return 0;
}

int xpv_record_decode(const void *buf, size_t len, struct xpv_record_view *v, struct xpv_error *err)
{
    const uint8_t *h = buf;
    int rc;
    memset(v, 0, sizeof(*v));
    if (!buf || len < XPV_RECORD_HEADER_SIZE)
        return xpv_error_set(err, -EBADMSG, "%zu bytes: shorter than a record header", len);
    if (get64(h + H_MAGIC) != XPV_RECORD_MAGIC)
        return xpv_error_set(err, -EBADMSG, "not an xpv topology record (bad magic)");
    v->abi_major = get16(h + H_MAJOR);
    v->abi_minor = get16(h + H_MINOR);
    if (v->abi_major != XPV_RECORD_ABI_MAJOR)
        return xpv_error_set(err, -EPROTO, "record ABI %u.%u; this reader speaks %u.x",
                             v->abi_major, v->abi_minor, XPV_RECORD_ABI_MAJOR);
    uint32_t header_len = get32(h + H_HEADER_LEN);
    v->total_len = get32(h + H_TOTAL_LEN);
    if (header_len < XPV_RECORD_HEADER_SIZE || header_len % 8 || header_len > v->total_len)
        return xpv_error_set(err, -EBADMSG, "header length %u (total %u)", header_len,
                             v->total_len);
    if (v->total_len > len || v->total_len > XPV_RECORD_MAP_SIZE)
        return xpv_error_set(err, -EBADMSG, "record claims %u bytes, %zu available", v->total_len,
                             len);
    v->seq = get32(h + H_SEQ);
    if (v->seq & 1)
        return xpv_error_set(err, -EAGAIN, "record is being written (odd sequence %u)", v->seq);
    v->generation = get64(h + H_GENERATION);
    v->timestamp_ns = get64(h + H_TIMESTAMP);
    const uint8_t *b = h + header_len;
    uint32_t body_len = v->total_len - header_len;
    uint32_t crc = xpv_crc32c(b, body_len);
    if (crc != get32(h + H_CRC))
        return xpv_error_set(err, -EILSEQ, "body CRC-32C %08x, header says %08x", crc,
                             get32(h + H_CRC));
    if (body_len < XPV_RECORD_FIXED_SIZE)
        return xpv_error_set(err, -EBADMSG, "body of %u bytes, shorter than its fixed part",
                             body_len);
    uint32_t fixed_len = get32(b + B_FIXED_LEN);
    if (fixed_len < XPV_RECORD_FIXED_SIZE || fixed_len > body_len)
        return xpv_error_set(err, -EBADMSG, "body fixed part of %u bytes", fixed_len);
    /* The header's generation is outside the CRC (it is the readers' fast-path word); its copy
     * in the body is not. Unequal: header and body come from different records. */
    if (get64(b + B_GENERATION) != v->generation)
        return xpv_error_set(
                err, -EBADMSG, "header generation %llu, body generation %llu: mixed records",
                (unsigned long long)v->generation, (unsigned long long)get64(b + B_GENERATION));
    v->nr_pnodes = get32(b + B_NR_PNODES);
    v->nr_vnodes = get32(b + B_NR_VNODES);
    v->nr_cpus = get32(b + B_NR_CPUS);
    v->nr_backing = get32(b + B_NR_BACKING);
    if (v->nr_pnodes < 1 || v->nr_pnodes > XPV_RECORD_MAX_PNODES ||
        v->nr_vnodes > XPV_RECORD_MAX_VNODES || v->nr_cpus > XPV_RECORD_MAX_CPUS ||
        v->nr_backing > XPV_RECORD_MAX_BACKING)
        return xpv_error_set(err, -EBADMSG,
                             "counts out of range: %u pnodes, %u vnodes, %u CPUs, %u backing",
                             v->nr_pnodes, v->nr_vnodes, v->nr_cpus, v->nr_backing);
    if ((rc = array_in(b, body_len, fixed_len, B_OFF_PNODE_IDS, v->nr_pnodes, 4, &v->pnode_ids,
                       "pnode_ids", err)) < 0 ||
        (rc = array_in(b, body_len, fixed_len, B_OFF_CPU_PNODE, v->nr_cpus, 2, &v->cpu_pnode,
                       "cpu_pnode", err)) < 0 ||
        (rc = array_in(b, body_len, fixed_len, B_OFF_CPU_VNODE, v->nr_cpus, 2, &v->cpu_vnode,
                       "cpu_vnode", err)) < 0 ||
        (rc = array_in(b, body_len, fixed_len, B_OFF_BACKING, v->nr_backing, BACKING_ENTRY,
                       &v->backing, "backing", err)) < 0 ||
        (rc = array_in(b, body_len, fixed_len, B_OFF_DISTANCE,
                       (uint64_t)v->nr_pnodes * v->nr_pnodes, 2, &v->distance, "distance", err)) <
                0)
        return rc;
    for (unsigned i = 1; i < v->nr_pnodes; i++)
        if (get32(v->pnode_ids + 4 * i) <= get32(v->pnode_ids + 4 * (i - 1)))
            return xpv_error_set(err, -EBADMSG, "physical node ids not increasing at index %u", i);
    /* increasing: the last id is the largest */
    if (get32(v->pnode_ids + 4 * (v->nr_pnodes - 1)) > XPV_RECORD_MAX_NODE_ID)
        return xpv_error_set(err, -EBADMSG, "physical node id %u (at most %u)",
                             get32(v->pnode_ids + 4 * (v->nr_pnodes - 1)), XPV_RECORD_MAX_NODE_ID);
    for (unsigned c = 0; c < v->nr_cpus; c++) {
        uint16_t p = get16(v->cpu_pnode + 2 * c), vn = get16(v->cpu_vnode + 2 * c);
        if ((p != XPV_RECORD_NONE && p >= v->nr_pnodes) ||
            (vn != XPV_RECORD_NONE && vn >= v->nr_vnodes))
            return xpv_error_set(err, -EBADMSG, "CPU %u: pnode index %u, vnode %u out of range", c,
                                 p, vn);
    }
    for (unsigned i = 0; i < v->nr_backing; i++) {
        const uint8_t *e = v->backing + BACKING_ENTRY * i;
        if (get16(e) >= v->nr_vnodes || get16(e + 2) >= v->nr_pnodes)
            return xpv_error_set(err, -EBADMSG, "backing entry %u: vnode %u, pnode index %u", i,
                                 get16(e), get16(e + 2));
    }
    return 0;
}

uint32_t xpv_record_pnode_id(const struct xpv_record_view *v, unsigned i)
{
    return get32(v->pnode_ids + 4 * i);
}
uint16_t xpv_record_cpu_pnode(const struct xpv_record_view *v, unsigned cpu)
{
    return get16(v->cpu_pnode + 2 * cpu);
}
uint16_t xpv_record_cpu_vnode(const struct xpv_record_view *v, unsigned cpu)
{
    return get16(v->cpu_vnode + 2 * cpu);
}
struct xpv_record_backing xpv_record_backing_at(const struct xpv_record_view *v, unsigned i)
{
    const uint8_t *e = v->backing + BACKING_ENTRY * i;
    return (struct xpv_record_backing){
            .vnode = get16(e), .pnode = get16(e + 2), .bytes = get64(e + 8)};
}
uint16_t xpv_record_distance(const struct xpv_record_view *v, unsigned i, unsigned j)
{
    return get16(v->distance + 2 * ((size_t)i * v->nr_pnodes + j));
}

void xpv_record_desc_free(struct xpv_record_desc *d)
{
    free((void *)d->pnode_ids);
    free((void *)d->cpu_pnode);
    free((void *)d->cpu_vnode);
    free((void *)d->backing);
    free((void *)d->distance);
    memset(d, 0, sizeof(*d));
}
