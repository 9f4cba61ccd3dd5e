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

#include "effective_all.h"

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

int xpv_effective_spread(const struct xpv_effective_src *src, unsigned pnode, double *w)
{
    if (pnode == XPV_RECORD_NONE || pnode >= src->nr_pnodes)
        return -ENOENT;
    unsigned np = src->nr_pnodes;
    bool local = false;
    for (unsigned j = 0; j < np; j++)
        w[j] = 0;
    for (unsigned k = 0; k < src->nr_mem; k++) {
        struct xpv_record_backing e = src->mem(src->ctx, k);
        if (!e.bytes || e.pnode >= np)
            continue;
        local |= e.pnode == pnode;
        w[e.pnode] += (double)e.bytes; /* memory held per node, summed over vNodes */
    }
    double sum = 0;
    unsigned nz = 0;
    for (unsigned j = 0; j < np && !local; j++) {
        if (!(w[j] > 0))
            continue;
        uint32_t d = src->distance(src->ctx, pnode, j);
        w[j] /= d ? (double)d : 1;
        sum += w[j];
        nz++;
    }
    if (local || !(sum > 0)) { /* its own node, or no memory anywhere: the node itself */
        for (unsigned j = 0; j < np; j++)
            w[j] = 0;
        w[pnode] = 1;
        return 1;
    }
    for (unsigned j = 0; j < np; j++)
        w[j] /= sum;
    return (int)nz;
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

/*
 * Every CPU at once (effective_all.h). The rule's key (local?, distance, own vNode?, node
 * index, vNode index) only needs, per node j, whether any vNode has memory there and which
 * vNodes do; per CPU node p, the distance to the nearest other node with memory. Then:
 *   - memory on p: j = p; v = own if own has memory on p, else the lowest vNode there;
 *   - else among the nodes at p's nearest distance: the lowest holding own, else the lowest;
 *     v = own, resp. the lowest vNode on that node;
 *   - no memory anywhere: p itself.
 * The per-CPU scan is over nodes, never over backing entries.
 */
static bool has_mem(const struct xpv__effective_scratch *sc, unsigned v, unsigned j)
{
    return sc->has[v][j / 8] >> (j % 8) & 1;
}

uint64_t xpv__effective_cpus(const struct xpv_record_view *v, struct xpv__effective_scratch *sc,
                             uint16_t *eff)
{
    unsigned np = v->nr_pnodes, nv = v->nr_vnodes;
    uint64_t ops = 0;
    bool any = false;
    for (unsigned j = 0; j < np; j++, ops++)
        sc->min_v[j] = XPV_RECORD_NONE;
    for (unsigned x = 0; x < nv; x++, ops++)
        for (unsigned b = 0; b < (np + 7) / 8; b++)
            sc->has[x][b] = 0;
    for (unsigned k = 0; k < v->nr_backing; k++, ops++) {
        struct xpv_record_backing e = xpv_record_backing_at(v, k);
        if (!e.bytes || e.pnode >= np || e.vnode >= nv)
            continue;
        sc->has[e.vnode][e.pnode / 8] |= (uint8_t)(1u << (e.pnode % 8));
        if (e.vnode < sc->min_v[e.pnode])
            sc->min_v[e.pnode] = e.vnode;
        any = true;
    }
    for (unsigned p = 0; p < np; p++) {
        uint32_t d = UINT32_MAX;
        for (unsigned j = 0; j < np; j++, ops++)
            if (j != p && sc->min_v[j] != XPV_RECORD_NONE && xpv_record_distance(v, p, j) < d)
                d = xpv_record_distance(v, p, j);
        sc->dmin[p] = d;
    }
    for (unsigned c = 0; c < v->nr_cpus; c++, ops++) {
        unsigned p = xpv_record_cpu_pnode(v, c), own = xpv_record_cpu_vnode(v, c);
        if (own >= nv)
            own = XPV_RECORD_NONE;
        if (p >= np) {
            eff[c] = XPV_RECORD_NONE;
            continue;
        }
        if (!any || sc->min_v[p] != XPV_RECORD_NONE) {
            eff[c] = (uint16_t)p;
            continue;
        }
        unsigned first = XPV_RECORD_NONE, mine = XPV_RECORD_NONE;
        for (unsigned j = 0; j < np && mine == XPV_RECORD_NONE; j++, ops++) {
            if (j == p || sc->min_v[j] == XPV_RECORD_NONE ||
                xpv_record_distance(v, p, j) != sc->dmin[p])
                continue;
            if (first == XPV_RECORD_NONE)
                first = j;
            if (own != XPV_RECORD_NONE && has_mem(sc, own, j))
                mine = j;
            else if (own == XPV_RECORD_NONE)
                break;
        }
        eff[c] = (uint16_t)(mine != XPV_RECORD_NONE ? mine : first);
    }
    return ops;
}
