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
