/* tu_topo.h — build small topologies by hand for unit tests (no discovery involved). */
#ifndef XPV_TU_TOPO_H
#define XPV_TU_TOPO_H

#include "xpv/topo.h"

/* n nodes with the given ids (NULL: 0..n-1), cpus_per_node consecutive CPUs each, `mem`
 * bytes each (half free), distance 10 local / 20 remote, nothing restricted. */
static inline struct xpv_topo *tu_topo(unsigned n, const int *ids, unsigned cpus_per_node,
                                       uint64_t mem)
{
    struct xpv_topo *t = xpv_topo_alloc(n);
    for (unsigned i = 0; t && i < n; i++) {
        struct xpv_node *node = &t->nodes[i];
        node->id = ids ? ids[i] : (int)i;
        node->mem_total = mem;
        node->mem_free = mem / 2;
        for (unsigned c = 0; c < cpus_per_node; c++)
            xpv_bitmap_set(&node->cpus, i * cpus_per_node + c);
        node->local_cpus = node->cpus;
        xpv_bitmap_or(&t->cpus_online, &t->cpus_online, &node->cpus);
        xpv_bitmap_set(&t->nodes_allowed, (unsigned)node->id);
    }
    if (t)
        t->cpus_allowed = t->cpus_online;
    return t;
}

#endif
