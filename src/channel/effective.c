/*
 * effective.c — the XPV effective-node rule (xpv/effective.h states it; docs/record-abi.md
 * too): the one implementation that libxpv's reader, the guest agent, xpv-malloc and, through
 * libxpv, the simulator use. Pure: no allocation, no system call, no state.
 *
 * Invariant: the candidates are compared by the key (local?, distance, own vNode?, node
 * index, vNode index), smallest first; a change to that order is a change of the rule, which
 * tests/channel/test_effective.c pins case by case.
 */
#include "xpv/effective.h"

#include <errno.h>
#include <stdbool.h>

/* Is candidate (j, v) at distance d better than the best so far? */
static bool better(unsigned p, unsigned own, unsigned j, unsigned v, uint32_t d,
                   const struct xpv_effective *best, uint32_t best_d)
{
    bool local = j == p, best_local = best->pnode == p;
    if (local != best_local)
        return local;
    if (!local && d != best_d)
        return d < best_d;
    bool mine = own != XPV_RECORD_NONE && v == own,
         best_mine = own != XPV_RECORD_NONE && best->vnode == own;
    if (mine != best_mine)
        return mine;
    if (j != best->pnode)
        return j < best->pnode;
    return v < best->vnode;
}

int xpv_effective_pick(const struct xpv_effective_src *src, unsigned pnode, unsigned own_vnode,
                       struct xpv_effective *out)
{
    if (pnode == XPV_RECORD_NONE || pnode >= src->nr_pnodes)
        return -ENOENT;
    bool any = false;
    uint32_t best_d = 0;
    for (unsigned k = 0; k < src->nr_mem; k++) {
        struct xpv_record_backing e = src->mem(src->ctx, k);
        if (!e.bytes || e.pnode >= src->nr_pnodes)
            continue;
        uint32_t d = e.pnode == pnode ? 0 : src->distance(src->ctx, pnode, e.pnode);
        if (!any || better(pnode, own_vnode, e.pnode, e.vnode, d, out, best_d)) {
            *out = (struct xpv_effective){.pnode = e.pnode, .vnode = e.vnode};
            best_d = d;
            any = true;
        }
    }
    if (!any)
        *out = (struct xpv_effective){.pnode = (uint16_t)pnode, .vnode = (uint16_t)own_vnode};
    return any;
}

static uint32_t record_distance(const void *ctx, unsigned i, unsigned j)
{
    return xpv_record_distance(ctx, i, j);
}

static struct xpv_record_backing record_mem(const void *ctx, unsigned k)
{
    return xpv_record_backing_at(ctx, k);
}

void xpv_effective_src_record(const struct xpv_record_view *v, struct xpv_effective_src *out)
{
    *out = (struct xpv_effective_src){.nr_pnodes = v->nr_pnodes,
                                      .nr_mem = v->nr_backing,
                                      .ctx = v,
                                      .distance = record_distance,
                                      .mem = record_mem};
}

int xpv_effective_record(const struct xpv_record_view *v, unsigned cpu, struct xpv_effective *out)
{
    if (cpu >= v->nr_cpus)
        return -ENOENT;
    struct xpv_effective_src src;
    xpv_effective_src_record(v, &src);
    return xpv_effective_pick(&src, xpv_record_cpu_pnode(v, cpu), xpv_record_cpu_vnode(v, cpu),
                              out);
}
