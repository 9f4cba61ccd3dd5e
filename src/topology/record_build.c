/*
 * record_build.c — records of a machine's topology (xpv/record_build.h): the desc of a
 * process domain from a discovered topology and a node set, and the desc of a VM (the host
 * daemon's and the simulator's one builder). Separate from the codec (channel/record.c) so
 * that libxpv, which only reads and writes records, needs no topology library: this file is
 * the one place that knows both the machine model and the record.
 */
#include "xpv/record_build.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The writable arrays of a desc being built (the desc's own pointers are const). */
struct desc_arrays {
    uint32_t *ids;
    uint16_t *cpu_p, *cpu_v, *dist;
    struct xpv_record_backing *bk;
};

/* Zeroed arrays for np physical nodes, nc CPUs and up to nb backing entries, hung on d (so
 * xpv_record_desc_free releases them); -ENOMEM with d empty. */
static int desc_alloc(struct xpv_record_desc *d, unsigned np, unsigned nc, unsigned nb,
                      struct desc_arrays *a, struct xpv_error *err)
{
    size_t p = np ? np : 1, c = nc ? nc : 1, b = nb ? nb : 1;
    *a = (struct desc_arrays){.ids = calloc(p, sizeof(*a->ids)),
                              .cpu_p = calloc(c, sizeof(*a->cpu_p)),
                              .cpu_v = calloc(c, sizeof(*a->cpu_v)),
                              .dist = calloc(p * p, sizeof(*a->dist)),
                              .bk = calloc(b, sizeof(*a->bk))};
    d->pnode_ids = a->ids;
    d->cpu_pnode = a->cpu_p;
    d->cpu_vnode = a->cpu_v;
    d->backing = a->bk;
    d->distance = a->dist;
    if (!a->ids || !a->cpu_p || !a->cpu_v || !a->bk || !a->dist) {
        xpv_record_desc_free(d);
        return xpv_error_set(err, -ENOMEM, "out of memory");
    }
    return 0;
}

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
    struct desc_arrays a;
    int rc = desc_alloc(d, n, nr_cpus, n, &a, err);
    if (rc < 0)
        return rc;
    uint32_t *ids = a.ids;
    uint16_t *cpu_p = a.cpu_p, *cpu_v = a.cpu_v, *dist = a.dist;
    struct xpv_record_backing *bk = a.bk;
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

static uint16_t dist16(const struct xpv_topo *t, unsigned i, unsigned j)
{
    uint32_t v = xpv_topo_dist(t, i, j);
    return (uint16_t)(v > 0xfffe ? 0xfffe : v);
}

int xpv_record_desc_from_vm(const struct xpv_vm_record_in *in, struct xpv_record_desc *d,
                            struct xpv_error *err)
{
    memset(d, 0, sizeof(*d));
    const struct xpv_topo *t = in->host;
    unsigned nh = t->nr_nodes, nv = in->nr_vnodes, nc = in->nr_vcpus;
    if (nh > XPV_RECORD_MAX_PNODES || nv > XPV_RECORD_MAX_VNODES || nc > XPV_RECORD_MAX_CPUS)
        return xpv_error_set(err, -EINVAL,
                             "%u host nodes, %u vNodes, %u vCPUs (at most %u, %u, %u)", nh, nv, nc,
                             XPV_RECORD_MAX_PNODES, XPV_RECORD_MAX_VNODES, XPV_RECORD_MAX_CPUS);
    /* the listed nodes: index_of[position], -1 when not listed */
    int index_of[XPV_RECORD_MAX_PNODES];
    bool listed[XPV_RECORD_MAX_PNODES] = {false};
    for (unsigned n = 0; n < nh && n < 64; n++)
        listed[n] = in->nodes >> n & 1;
    if (nh < 64 && in->nodes >> nh)
        return xpv_error_set(err, -EINVAL, "node mask beyond the host's %u nodes", nh);
    unsigned nb = 0;
    for (unsigned c = 0; c < nc; c++) {
        int n = in->vcpu_node[c];
        if (n >= (int)nh)
            return xpv_error_set(err, -EINVAL, "vCPU %u on node position %d: the host has %u", c, n,
                                 nh);
        if (n >= 0)
            listed[n] = true;
    }
    for (unsigned v = 0; in->vnode_mem && v < nv; v++)
        for (unsigned n = 0; n < nh; n++)
            if (in->vnode_mem[(size_t)v * nh + n]) {
                listed[n] = true;
                nb++;
            }
    if (nb > XPV_RECORD_MAX_BACKING)
        return xpv_error_set(err, -EINVAL, "%u backing entries (at most %u)", nb,
                             XPV_RECORD_MAX_BACKING);
    unsigned np = 0;
    for (unsigned n = 0; n < nh; n++)
        index_of[n] = listed[n] ? (int)np++ : -1;
    struct desc_arrays a;
    int rc = desc_alloc(d, np, nc, nb, &a, err);
    if (rc < 0)
        return rc;
    uint32_t *ids = a.ids;
    uint16_t *cpu_p = a.cpu_p, *cpu_v = a.cpu_v, *dist = a.dist;
    struct xpv_record_backing *bk = a.bk;
    d->nr_pnodes = np;
    d->nr_vnodes = nv;
    d->nr_cpus = nc;
    d->nr_backing = nb;
    for (unsigned i = 0; i < nh; i++) {
        if (index_of[i] < 0)
            continue;
        ids[index_of[i]] = (uint32_t)t->nodes[i].id;
        for (unsigned j = 0; j < nh; j++)
            if (index_of[j] >= 0)
                dist[(size_t)index_of[i] * np + (unsigned)index_of[j]] = dist16(t, i, j);
    }
    for (unsigned c = 0; c < nc; c++) {
        int v = in->vcpu_vnode[c], n = in->vcpu_node[c];
        cpu_v[c] = v >= 0 && (unsigned)v < nv ? (uint16_t)v : XPV_RECORD_NONE;
        cpu_p[c] = n >= 0 ? (uint16_t)index_of[n] : XPV_RECORD_NONE;
    }
    nb = 0;
    for (unsigned v = 0; in->vnode_mem && v < nv; v++)
        for (unsigned n = 0; n < nh; n++) {
            uint64_t bytes = in->vnode_mem[(size_t)v * nh + n];
            if (bytes)
                bk[nb++] = (struct xpv_record_backing){
                        .vnode = (uint16_t)v, .pnode = (uint16_t)index_of[n], .bytes = bytes};
        }
    return 0;
}
