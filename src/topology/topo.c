/*
 * topo.c — allocation, copying, lookups and the invariant check of struct xpv_topo.
 * The struct and its distance matrix live in one allocation so a copy is one memcpy plus
 * re-pointing dist; see xpv/topo.h for the invariants.
 */
#include "xpv/topo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t topo_size(unsigned nr_nodes)
{
    return sizeof(struct xpv_topo) + (size_t)nr_nodes * sizeof(struct xpv_node) +
           (size_t)nr_nodes * nr_nodes * sizeof(uint32_t);
}

static void topo_link(struct xpv_topo *t)
{
    t->dist = (uint32_t *)(void *)&t->nodes[t->nr_nodes];
}

struct xpv_topo *xpv_topo_alloc(unsigned nr_nodes)
{
    if (nr_nodes == 0 || nr_nodes > XPV_MAX_NODES)
        return NULL;
    struct xpv_topo *t = calloc(1, topo_size(nr_nodes));
    if (!t)
        return NULL;
    t->nr_nodes = nr_nodes;
    topo_link(t);
    for (unsigned i = 0; i < nr_nodes; i++)
        for (unsigned j = 0; j < nr_nodes; j++)
            xpv_topo_set_dist(t, i, j, i == j ? XPV_DISTANCE_LOCAL : XPV_DISTANCE_REMOTE);
    return t;
}

struct xpv_topo *xpv_topo_dup(const struct xpv_topo *t)
{
    struct xpv_topo *c = malloc(topo_size(t->nr_nodes));
    if (!c)
        return NULL;
    memcpy(c, t, topo_size(t->nr_nodes));
    topo_link(c);
    return c;
}

void xpv_topo_free(struct xpv_topo *t)
{
    free(t);
}

int xpv_topo_node_index(const struct xpv_topo *t, int id)
{
    /* nodes[] is sorted by id: binary search. */
    unsigned lo = 0, hi = t->nr_nodes;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (t->nodes[mid].id == id)
            return (int)mid;
        if (t->nodes[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -ENODEV;
}

int xpv_topo_cpu_node(const struct xpv_topo *t, unsigned cpu)
{
    for (unsigned i = 0; i < t->nr_nodes; i++)
        if (xpv_bitmap_isset(&t->nodes[i].cpus, cpu))
            return t->nodes[i].id;
    return -ENOENT;
}

void xpv_topo_nodeset(const struct xpv_topo *t, struct xpv_bitmap *out)
{
    xpv_bitmap_zero(out);
    for (unsigned i = 0; i < t->nr_nodes; i++)
        xpv_bitmap_set(out, (unsigned)t->nodes[i].id);
}

uint64_t xpv_topo_mem_total(const struct xpv_topo *t)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < t->nr_nodes; i++)
        sum += t->nodes[i].mem_total;
    return sum;
}

int xpv_topo_check(const struct xpv_topo *t, struct xpv_error *err)
{
    if (t->nr_nodes == 0 || t->nr_nodes > XPV_MAX_NODES)
        return xpv_error_set(err, -ERANGE, "node count %u outside 1..%d", t->nr_nodes,
                             XPV_MAX_NODES);
    struct xpv_bitmap seen;
    xpv_bitmap_zero(&seen);
    for (unsigned i = 0; i < t->nr_nodes; i++) {
        const struct xpv_node *n = &t->nodes[i];
        if (n->id < 0 || n->id >= XPV_MAX_NODES)
            return xpv_error_set(err, -ERANGE, "node id %d outside 0..%d", n->id,
                                 XPV_MAX_NODES - 1);
        if (i > 0 && n->id <= t->nodes[i - 1].id)
            return xpv_error_set(err, -EINVAL, "node ids not strictly increasing at node %d",
                                 n->id);
        if (xpv_bitmap_intersects(&seen, &n->cpus))
            return xpv_error_set(err, -EINVAL, "node %d shares CPUs with another node", n->id);
        if (!xpv_bitmap_subset(&n->cpus, &t->cpus_online))
            return xpv_error_set(err, -EINVAL, "node %d has CPUs that are not online", n->id);
        if (n->mem_free > n->mem_total)
            return xpv_error_set(err, -EINVAL, "node %d: free memory exceeds total", n->id);
        xpv_bitmap_or(&seen, &seen, &n->cpus);
    }
    if (!xpv_bitmap_subset(&t->cpus_allowed, &t->cpus_online))
        return xpv_error_set(err, -EINVAL, "allowed CPUs are not all online");
    if (xpv_bitmap_intersects(&t->cpus_online, &t->cpus_offline))
        return xpv_error_set(err, -EINVAL, "a CPU is both online and offline");
    struct xpv_bitmap ids;
    xpv_topo_nodeset(t, &ids);
    if (!xpv_bitmap_subset(&t->nodes_allowed, &ids))
        return xpv_error_set(err, -EINVAL, "allowed nodes name a node the machine lacks");
    for (unsigned i = 0; i < t->nr_nodes; i++)
        for (unsigned j = 0; j < t->nr_nodes; j++)
            if (xpv_topo_dist(t, i, j) < xpv_topo_dist(t, i, i))
                return xpv_error_set(err, -EINVAL,
                                     "distance %d->%d is below the local distance of node %d",
                                     t->nodes[i].id, t->nodes[j].id, t->nodes[i].id);
    return 0;
}
