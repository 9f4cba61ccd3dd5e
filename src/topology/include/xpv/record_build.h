/*
 * xpv/record_build.h — topology records built from a machine's model (xpv/topo.h): a process
 * domain's, and a VM's. The codec (xpv/record.h) knows bytes only; these builders know the
 * machine, so libxpv stays free of the topology library. Each fills a struct xpv_record_desc
 * with allocated arrays that xpv_record_desc_free() releases.
 */
#ifndef XPV_RECORD_BUILD_H
#define XPV_RECORD_BUILD_H

#include "xpv/bitmap.h"
#include "xpv/error.h"
#include "xpv/record.h"
#include "xpv/topo.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A desc for a process domain on this machine: every node of t is both a physical and a
 * virtual node (identity), each online CPU sits on its node, each node backs itself with its
 * memory.
 */
int xpv_record_desc_from_topo(const struct xpv_topo *t, struct xpv_record_desc *desc,
                              struct xpv_error *err);
/*
 * The same for a process domain confined to some nodes (node_ids: OS ids; NULL = all): only
 * those nodes are physical (and virtual) nodes of the record, only their CPUs have a node;
 * the others read XPV_RECORD_NONE. -EINVAL when no node of t is in the set.
 */
int xpv_record_desc_from_nodes(const struct xpv_topo *t, const struct xpv_bitmap *node_ids,
                               struct xpv_record_desc *desc, struct xpv_error *err);

/*
 * A VM's record, as a host publishes it for its guest: the one builder of the host daemon
 * (src/hostd/hostd_vm.c, for a QEMU VM) and of the simulator (src/sim/vm.c), so both publish
 * the same bytes for the same VM state. Each side fills this from its own state:
 */
struct xpv_vm_record_in {
    const struct xpv_topo *host; /* the host machine: node ids and distances */
    /* host node positions the VM may use, listed in the record even when none of its vCPUs
     * or memory is there (positions < 64; 0: only the nodes named below) */
    uint64_t nodes;
    unsigned nr_vnodes, nr_vcpus;
    const int *vcpu_vnode;     /* [nr_vcpus]: its vNode; -1 or >= nr_vnodes: none */
    const int *vcpu_node;      /* [nr_vcpus]: host node position it runs on; -1: not placed */
    const uint64_t *vnode_mem; /* [nr_vnodes * host->nr_nodes]: bytes of vNode v on host node
                                  position n, at [v * host->nr_nodes + n]; NULL: none known */
};
/*
 * The record's physical nodes are the host nodes in `nodes`, those a vCPU runs on and those
 * holding memory, in host order (ids increasing); vCPU c runs on vcpu_node[c] and belongs to
 * vcpu_vnode[c]; one backing entry per (vNode, node) with memory, by vNode then node;
 * distances are the host's. -EINVAL (err says which) for counts beyond the record's limits or
 * a node position the host does not have.
 */
int xpv_record_desc_from_vm(const struct xpv_vm_record_in *in, struct xpv_record_desc *desc,
                            struct xpv_error *err);

#ifdef __cplusplus
}
#endif
#endif
