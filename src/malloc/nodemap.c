/*
 * nodemap.c — which node's arena a CPU's threads use: the CPU → node maps of a heap.
 *
 * From a record: libxpv's effective node (the XPV rule, docs/record-abi.md) of every CPU the
 * record places. From the host topology: the same rule over the machine — a CPU's own node
 * when it has memory the process may use (nodes_allowed: mbind() to a node outside the
 * cpuset fails), else the nearest such node, ties to the lowest id. Entries stay -1 for CPUs
 * nobody places and for ids beyond XPV_MALLOC_MAX_NODES (no arena can exist for them).
 * Pure functions: no allocation, no system call.
 */
#include <stdint.h>

#include "heap_internal.h"

static int16_t usable(int node)
{
    return node >= 0 && node < XPV_MALLOC_MAX_NODES ? (int16_t)node : -1;
}

void xpv__nodemap_from_topo(const struct xpv_topo *t, int16_t *map)
{
    for (unsigned c = 0; c < XPV_MAX_CPUS; c++)
        map[c] = -1;
    for (unsigned i = 0; i < t->nr_nodes; i++) {
        const struct xpv_node *n = &t->nodes[i];
        int best = -1;
        uint32_t best_d = UINT32_MAX;
        for (unsigned j = 0; j < t->nr_nodes; j++) {
            const struct xpv_node *m = &t->nodes[j];
            if (m->mem_total == 0 || !xpv_bitmap_isset(&t->nodes_allowed, (unsigned)m->id))
                continue;
            /* own node first whatever the distance matrix says (SLIT local = smallest) */
            uint32_t d = j == i ? 0 : xpv_topo_dist(t, i, j) + 1;
            if (d < best_d) {
                best = m->id;
                best_d = d;
            }
        }
        for (int c = xpv_bitmap_next(&n->cpus, 0); c >= 0 && c < XPV_MAX_CPUS;
             c = xpv_bitmap_next(&n->cpus, (unsigned)c + 1))
            map[c] = usable(best);
    }
}

void xpv__nodemap_from_snapshot(const struct xpv_snapshot *s, int16_t *map)
{
    unsigned n = xpv_snapshot_nr_cpus(s);
    for (unsigned c = 0; c < XPV_MAX_CPUS; c++)
        map[c] = c < n ? usable(xpv_snapshot_effective_node(s, c)) : -1;
}
