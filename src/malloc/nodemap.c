/*
 * nodemap.c — which node's arena a CPU's threads use: the CPU → node maps of a heap.
 *
 * Both maps apply the XPV effective-node rule (xpv/effective.h, the one implementation):
 * from a record, libxpv's effective node of every CPU the record places; from the host
 * topology, the rule over the machine seen as a process domain — each node its own vNode,
 * holding its memory if the process may use it (nodes_allowed: mbind() to a node outside the
 * cpuset fails) — so a CPU's own node when it has such memory, else the nearest node that
 * has, ties to the lowest id. Entries stay -1 for CPUs nobody places, for CPUs of a machine
 * with no usable memory at all, and for ids beyond XPV_MALLOC_MAX_NODES (no arena can exist
 * for them). Pure functions: no allocation, no system call.
 */
#include <stdint.h>

#include "heap_internal.h"
#include "xpv/effective.h"

static int16_t usable(int node)
{
    return node >= 0 && node < XPV_MALLOC_MAX_NODES ? (int16_t)node : -1;
}

static uint32_t topo_distance(const void *ctx, unsigned i, unsigned j)
{
    return xpv_topo_dist(ctx, i, j);
}

/* node i of the machine as a memory entry: vNode i on node i, its memory if allowed */
static struct xpv_record_backing topo_mem(const void *ctx, unsigned i)
{
    const struct xpv_topo *t = ctx;
    const struct xpv_node *n = &t->nodes[i];
    bool ok = xpv_bitmap_isset(&t->nodes_allowed, (unsigned)n->id);
    return (struct xpv_record_backing){
            .vnode = (uint16_t)i, .pnode = (uint16_t)i, .bytes = ok ? n->mem_total : 0};
}

void xpv__nodemap_from_topo(const struct xpv_topo *t, int16_t *map)
{
    for (unsigned c = 0; c < XPV_MAX_CPUS; c++)
        map[c] = -1;
    const struct xpv_effective_src src = {.nr_pnodes = t->nr_nodes,
                                          .nr_mem = t->nr_nodes,
                                          .ctx = t,
                                          .distance = topo_distance,
                                          .mem = topo_mem};
    for (unsigned i = 0; i < t->nr_nodes; i++) {
        struct xpv_effective e;
        int best = xpv_effective_pick(&src, i, i, &e) > 0 ? t->nodes[e.pnode].id : -1;
        const struct xpv_node *n = &t->nodes[i];
        for (int c = xpv_bitmap_next(&n->cpus, 0); c >= 0 && c < XPV_MAX_CPUS;
             c = xpv_bitmap_next(&n->cpus, (unsigned)c + 1))
            map[c] = usable(best);
    }
}

/* O(XPV_MAX_CPUS) whatever the record says: libxpv computed every CPU's effective node when
 * it took the snapshot (bounded: docs/channel.md), so each call below is a lookup. */
void xpv__nodemap_from_snapshot(const struct xpv_snapshot *s, int16_t *map)
{
    unsigned n = xpv_snapshot_nr_cpus(s);
    for (unsigned c = 0; c < XPV_MAX_CPUS; c++)
        map[c] = c < n ? usable(xpv_snapshot_effective_node(s, c)) : -1;
}
