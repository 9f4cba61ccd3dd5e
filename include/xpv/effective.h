/*
 * xpv/effective.h — the XPV effective-node rule: for a CPU, the node (and the virtual node)
 * its new memory should come from. One rule, one implementation (src/channel/effective.c),
 * part of libxpv so that runtimes reading a record use it directly. Its users:
 *   - libxpv's reader, xpv_snapshot_effective_node() (xpv/channel.h), and so the simulator's
 *     XPV guests, which read their VM's record through libxpv (src/sim/vm.c);
 *   - the guest agent, each vCPU's effective vNode (src/guestd/guestd_topo.c);
 *   - xpv-malloc, its CPU -> arena maps, from a record and from the machine when no record
 *     is published (src/malloc/nodemap.c).
 * Plain arrays and callbacks only: no topology type, nothing but libc.
 *
 * The rule (also docs/record-abi.md, "The effective node"). A CPU runs on physical node p and
 * belongs to virtual node `own` (or to none). The candidates are the domain's memory entries:
 * "vNode v has memory on physical node j", with more than 0 bytes. With no candidate at all,
 * the effective node is p and the effective vNode is `own`. Otherwise the best candidate
 * wins, compared in this order:
 *   1. nearer: j == p first (whatever the distance matrix says), then smaller distance[p][j];
 *   2. the CPU's own vNode (v == own): among equally near nodes, vCPUs of different vNodes
 *      then spread over them instead of all landing on the lowest, and a vCPU stays in its
 *      own vNode when several vNodes have memory on its node;
 *   3. the lower physical node index j (node ids increase with the index);
 *   4. the lower vNode index v.
 * The effective node is the winner's j, the effective vNode its v. A vNode counts as having
 * memory on every node that holds any of it (a record may split a vNode over nodes).
 */
#ifndef XPV_EFFECTIVE_H
#define XPV_EFFECTIVE_H

#include <stdint.h>

#include "xpv/record.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the rule reads: nodes by index, their distances and the memory entries. */
struct xpv_effective_src {
    unsigned nr_pnodes; /* physical nodes 0..nr_pnodes-1 */
    unsigned nr_mem;    /* memory entries 0..nr_mem-1 */
    const void *ctx;
    /* distance from physical node index i to j (SLIT-like: smaller is nearer) */
    uint32_t (*distance)(const void *ctx, unsigned i, unsigned j);
    /* entry k: vNode, physical node index (< nr_pnodes), bytes (0: not a candidate) */
    struct xpv_record_backing (*mem)(const void *ctx, unsigned k);
};

struct xpv_effective {
    uint16_t pnode; /* physical node index */
    uint16_t vnode; /* vNode index, XPV_RECORD_NONE when the CPU has none and no entry won */
};

/*
 * The rule for a CPU on physical node index pnode whose own vNode is own_vnode
 * (XPV_RECORD_NONE: none). Returns 1 when a memory entry won, 0 when there was no candidate
 * (out: pnode, own_vnode), -ENOENT when pnode is XPV_RECORD_NONE or not below nr_pnodes.
 */
int xpv_effective_pick(const struct xpv_effective_src *src, unsigned pnode, unsigned own_vnode,
                       struct xpv_effective *out);

/*
 * Where a CPU's new memory is spread (the allocation rule XPV's guest follows; docs/sim.md,
 * "XPV's fallback"). When physical node pnode holds some of the domain's memory, all of it
 * goes there (w[pnode] = 1, the effective node). Otherwise, rather than funnelling every
 * allocation onto the one nearest node (which then serves all of the domain's new memory
 * from one controller), it is spread over every node j holding memory, in proportion to
 *     bytes(j) / distance[pnode][j]
 * the guest's free memory there (its per-node free lists drain at the same rate) over the
 * cost of an access there (distances are latency-like): nearest first, never all on one
 * node while another holds memory. With no memory entry at all, w[pnode] = 1.
 * w[nr_pnodes] (by physical node index) is written whole and sums to 1. Returns the number
 * of nodes with a nonzero share, -ENOENT when pnode is XPV_RECORD_NONE or not below
 * nr_pnodes (w untouched).
 */
int xpv_effective_spread(const struct xpv_effective_src *src, unsigned pnode, double *w);

/* A source over a decoded record: its distances and its backing entries (ctx = v). */
void xpv_effective_src_record(const struct xpv_record_view *v, struct xpv_effective_src *out);

/* The rule for CPU cpu of a decoded record (its cpu_pnode and cpu_vnode); -ENOENT when the
 * record has no such CPU or does not place it. */
int xpv_effective_record(const struct xpv_record_view *v, unsigned cpu, struct xpv_effective *out);

#ifdef __cplusplus
}
#endif
#endif
