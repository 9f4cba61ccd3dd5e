/*
 * vm.c — the guest-memory side of the VM policies: where an allocation by a vCPU lands on the
 * host. Static vNUMA follows the guest's boot-time belief (the vNode's backing node); XPV
 * follows the record the hypervisor published (the effective node: where the vCPU runs, if
 * the VM has memory there, else the nearest node that has); hypervisor first-touch follows
 * where the vCPU runs now, whatever the guest believes; Xen's default spreads.
 */
#include "xpv/policy.h"

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

int xpv_vm_alloc_shares(enum xpv_vm_mode mode, const double *vnode_frames, int vnode_node,
                        unsigned run_node, int effective, const double *xpv_spread, int xpv_node,
                        const double **w)
{
    switch (mode) {
    case XPV_VM_XEN_DEFAULT:
        return -1;
    case XPV_VM_XPV:
    case XPV_VM_XPV_MIGRATE:
        if (xpv_spread) { /* the record's allocation rule */
            *w = xpv_spread;
            return xpv_node >= 0 ? xpv_node : -2;
        }
        if (effective >= 0)
            return effective;
        break; /* no record read: the guest's boot-time belief */
    case XPV_VM_HV_FIRST_TOUCH:
        return (int)run_node;
    case XPV_VM_HOTPLUG: /* the caller passes the vNode the guest now sees the vCPU in */
    case XPV_VM_VNUMA:
    case XPV_VM_PINNED:
    default:
        break;
    }
    /* the believed vNode's free list: its frames, wherever they are backed */
    *w = vnode_frames;
    return vnode_node >= 0 ? vnode_node : -2;
}
