/*
 * vm.c — the guest-memory side of the VM policies: where an allocation by a vCPU lands on the
 * host. Static vNUMA follows the guest's boot-time belief (the vNode's backing node); XPV
 * follows the record the hypervisor published (the effective node: where the vCPU runs, if
 * the VM has memory there, else the nearest node that has); hypervisor first-touch follows
 * where the vCPU runs now, whatever the guest believes; Xen's default spreads.
 */
#include "xpv/policy.h"

#include <string.h>

int xpv_vm_alloc_node(enum xpv_vm_mode mode, unsigned vnode_node, unsigned run_node, int effective)
{
    switch (mode) {
    case XPV_VM_XEN_DEFAULT:
        return -1;
    case XPV_VM_XPV:
    case XPV_VM_XPV_MIGRATE:
        return effective >= 0 ? effective : (int)vnode_node;
    case XPV_VM_HV_FIRST_TOUCH:
        return (int)run_node;
    case XPV_VM_HOTPLUG: /* the simulator passes the vNode the guest now sees the vCPU in */
    case XPV_VM_VNUMA:
    case XPV_VM_PINNED:
    default:
        return (int)vnode_node;
    }
}

int xpv_vm_alloc_shares(enum xpv_vm_mode mode, unsigned nr_nodes, const double *vnode_frames,
                        unsigned run_node, int effective, const double *xpv_spread, double *w)
{
    switch (mode) {
    case XPV_VM_XEN_DEFAULT:
        return -1;
    case XPV_VM_XPV:
    case XPV_VM_XPV_MIGRATE:
        if (xpv_spread) {
            memcpy(w, xpv_spread, nr_nodes * sizeof(*w));
            return 0;
        }
        if (effective >= 0 && (unsigned)effective < nr_nodes) {
            memset(w, 0, nr_nodes * sizeof(*w));
            w[effective] = 1;
            return 0;
        }
        break; /* no record read: the guest's boot-time belief */
    case XPV_VM_HV_FIRST_TOUCH:
        if (run_node < nr_nodes) {
            memset(w, 0, nr_nodes * sizeof(*w));
            w[run_node] = 1;
            return 0;
        }
        break;
    case XPV_VM_HOTPLUG: /* the caller passes the vNode the guest now sees the vCPU in */
    case XPV_VM_VNUMA:
    case XPV_VM_PINNED:
    default:
        break;
    }
    /* the believed vNode's free list: its frames, wherever they are backed */
    memcpy(w, vnode_frames, nr_nodes * sizeof(*w));
    return 0;
}
