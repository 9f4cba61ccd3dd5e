/*
 * record_build.c — records of this machine's topology (xpv/record_build.h): the desc of a
 * process domain from a discovered topology and a node set. Separate from the codec
 * (channel/record.c) so that libxpv, which only reads and writes records, needs no topology
 * library: this file is the one place that knows both the machine model and the record.
 */
#include "xpv/record_build.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int xpv_record_desc_from_topo(const struct xpv_topo *t, struct xpv_record_desc *d,
                              struct xpv_error *err)
{
    return xpv_record_desc_from_nodes(t, NULL, d, err);
}

int xpv_record_desc_from_nodes(const struct xpv_topo *t, const struct xpv_bitmap *node_ids,
                               struct xpv_record_desc *d, struct xpv_error *err)
{
    memset(d, 0, sizeof(*d));
    if (t->nr_nodes > XPV_RECORD_MAX_PNODES)
        return xpv_error_set(err, -EINVAL, "%u nodes (at most %u)", t->nr_nodes,
                             XPV_RECORD_MAX_PNODES);
    int last = xpv_bitmap_last(&t->cpus_online);
    unsigned nr_cpus = last < 0 ? 0 : (unsigned)last + 1;
    if (nr_cpus > XPV_RECORD_MAX_CPUS)
        return xpv_error_set(err, -EINVAL, "CPU %d beyond the record's %u", last,
                             XPV_RECORD_MAX_CPUS);
    unsigned pos[XPV_MAX_NODES], n = 0; /* the chosen nodes' positions in t */
    for (unsigned i = 0; i < t->nr_nodes; i++)
        if (!node_ids || xpv_bitmap_isset(node_ids, (unsigned)t->nodes[i].id))
            pos[n++] = i;
    if (n == 0)
        return xpv_error_set(err, -EINVAL, "no node of the topology is in the node set");
    uint32_t *ids = calloc(n, sizeof(*ids));
    uint16_t *cpu_p = calloc(nr_cpus ? nr_cpus : 1, sizeof(*cpu_p));
    uint16_t *cpu_v = calloc(nr_cpus ? nr_cpus : 1, sizeof(*cpu_v));
    struct xpv_record_backing *bk = calloc(n, sizeof(*bk));
    uint16_t *dist = calloc((size_t)n * n, sizeof(*dist));
    d->pnode_ids = ids;
    d->cpu_pnode = cpu_p;
    d->cpu_vnode = cpu_v;
    d->backing = bk;
    d->distance = dist;
    if (!ids || !cpu_p || !cpu_v || !bk || !dist) {
        xpv_record_desc_free(d);
        return xpv_error_set(err, -ENOMEM, "out of memory");
    }
    d->nr_pnodes = d->nr_vnodes = n;
    d->nr_cpus = nr_cpus;
    for (unsigned c = 0; c < nr_cpus; c++)
        cpu_p[c] = cpu_v[c] = XPV_RECORD_NONE;
    for (unsigned i = 0; i < n; i++) {
        const struct xpv_node *node = &t->nodes[pos[i]];
        ids[i] = (uint32_t)node->id;
        for (int c = xpv_bitmap_next(&node->cpus, 0); c >= 0 && (unsigned)c < nr_cpus;
             c = xpv_bitmap_next(&node->cpus, (unsigned)c + 1))
            cpu_p[c] = cpu_v[c] = (uint16_t)i;
        if (node->mem_total)
            bk[d->nr_backing++] = (struct xpv_record_backing){
                    .vnode = (uint16_t)i, .pnode = (uint16_t)i, .bytes = node->mem_total};
        for (unsigned j = 0; j < n; j++) {
            uint32_t v = xpv_topo_dist(t, pos[i], pos[j]);
            dist[i * n + j] = (uint16_t)(v > 0xfffe ? 0xfffe : v);
        }
    }
    return 0;
}
