/*
 * xpv/record.h — the XPV topology record: the bytes that carry "where this domain runs now"
 * on every hop (hypervisor → guest, guest → runtime). docs/record-abi.md is the normative
 * spec; this header is its C encoder and validating decoder.
 *
 * A record describes one domain (a VM, or a group of processes): the physical nodes it may
 * use and their distances, for each of its CPUs (vCPUs) the physical node it runs on now and
 * the virtual node it belongs to, and which physical nodes back each virtual node's memory.
 *
 * The decoder never trusts its input: every count, offset and index is bounds-checked and the
 * body's CRC-32C verified before a view is returned. Views point into the caller's buffer.
 */
#ifndef XPV_RECORD_H
#define XPV_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XPV_RECORD_MAGIC       UINT64_C(0x004f504f54565058) /* bytes "XPVTOPO\0" */
#define XPV_RECORD_ABI_MAJOR   1
#define XPV_RECORD_ABI_MINOR   0
#define XPV_RECORD_HEADER_SIZE 64u /* header_len of ABI 1.0 */
#define XPV_RECORD_FIXED_SIZE  64u /* body_fixed_len of ABI 1.0 */

/* Upper bounds a reader enforces (the spec's limits). */
#define XPV_RECORD_MAX_PNODES  256u
#define XPV_RECORD_MAX_VNODES  256u
#define XPV_RECORD_MAX_CPUS    4096u
#define XPV_RECORD_MAX_BACKING 4096u
/* Largest OS node id a record may name (pnode_ids): Linux's node ids are below MAX_NUMNODES,
 * at most 1 << 10 on every architecture today; 2^16 - 1 leaves room, and keeps every id an
 * int that no caller can mistake for a negative errno. */
#define XPV_RECORD_MAX_NODE_ID 65535u
/* Largest record of ABI 1.0 with every count at its bound: 214 144 bytes (~209 KiB); a mapping that
 * holds a record is this size, so later minors can grow. */
#define XPV_RECORD_MAP_SIZE (512u * 1024u)

#define XPV_RECORD_NONE 0xffffu /* cpu_pnode / cpu_vnode: unknown, offline or absent */

/* Header field offsets (for the seqlock and the generation fast path). */
#define XPV_RECORD_OFF_SEQ        20u
#define XPV_RECORD_OFF_GENERATION 24u

/* One virtual node's memory on one physical node. */
struct xpv_record_backing {
    uint16_t vnode; /* virtual node index, < nr_vnodes */
    uint16_t pnode; /* physical node *index* (position in pnode_ids), < nr_pnodes */
    uint64_t bytes; /* how much of vnode's memory sits there */
};

/*
 * What a record says, as plain arrays: the encoder's input and the decoder's output shape.
 * Physical nodes are referred to by index 0..nr_pnodes-1; pnode_ids[i] is the OS id.
 */
struct xpv_record_desc {
    uint32_t nr_pnodes, nr_vnodes, nr_cpus, nr_backing;
    const uint32_t *pnode_ids;                /* [nr_pnodes], strictly increasing */
    const uint16_t *cpu_pnode;                /* [nr_cpus]: pnode index or XPV_RECORD_NONE */
    const uint16_t *cpu_vnode;                /* [nr_cpus]: vnode index or XPV_RECORD_NONE */
    const struct xpv_record_backing *backing; /* [nr_backing] */
    const uint16_t *distance;                 /* [nr_pnodes * nr_pnodes], row-major */
};

/* The size encode() needs for desc. */
size_t xpv_record_size(const struct xpv_record_desc *desc);

/*
 * Encode desc as a complete record (seq 0, the given generation and timestamp, body CRC) into
 * out[0..cap). Returns the length written, or -EINVAL (desc breaks a rule of the spec; err
 * says which) or -ENOSPC (cap too small).
 */
long xpv_record_encode(const struct xpv_record_desc *desc, uint64_t generation,
                       uint64_t timestamp_ns, void *out, size_t cap, struct xpv_error *err);

/* A validated record: header fields, and the arrays decoded in place (little-endian bytes). */
struct xpv_record_view {
    uint16_t abi_major, abi_minor;
    uint32_t total_len;
    uint32_t seq;
    uint64_t generation;
    uint64_t timestamp_ns;
    uint32_t nr_pnodes, nr_vnodes, nr_cpus, nr_backing;
    const uint8_t *pnode_ids; /* u32 LE [nr_pnodes] */
    const uint8_t *cpu_pnode; /* u16 LE [nr_cpus] */
    const uint8_t *cpu_vnode; /* u16 LE [nr_cpus] */
    const uint8_t *backing;   /* 16-byte entries [nr_backing] */
    const uint8_t *distance;  /* u16 LE [nr_pnodes²] */
};

/*
 * Validate buf[0..len) as a record and fill view (pointing into buf). Returns 0, or:
 * -EBADMSG  wrong magic, lengths, offsets, counts or indices (err says which);
 * -EPROTO   an ABI major this reader does not speak;
 * -EILSEQ   body CRC mismatch;
 * -EAGAIN   the seqlock word is odd (a writer was mid-update when buf was copied).
 */
int xpv_record_decode(const void *buf, size_t len, struct xpv_record_view *view,
                      struct xpv_error *err);

/* Accessors over a decoded view; indices must be in range (the view was validated). */
uint32_t xpv_record_pnode_id(const struct xpv_record_view *v, unsigned i);
uint16_t xpv_record_cpu_pnode(const struct xpv_record_view *v, unsigned cpu);
uint16_t xpv_record_cpu_vnode(const struct xpv_record_view *v, unsigned cpu);
struct xpv_record_backing xpv_record_backing_at(const struct xpv_record_view *v, unsigned i);
uint16_t xpv_record_distance(const struct xpv_record_view *v, unsigned i, unsigned j);

/* Release the arrays of a desc filled by a builder (xpv/record_build.h). */
void xpv_record_desc_free(struct xpv_record_desc *desc);

#ifdef __cplusplus
}
#endif
#endif
