/*
 * xpv/policy.h — the shared policy core: NUMA placement policies as pure decisions over plain
 * structs. A platform (the simulator) shows a policy a view of the domain — where threads
 * run, where each region's pages are, which accesses were sampled — and executes the actions
 * it returns (migrate pages, move a thread, re-place a VM's vNode). Policies make no syscalls
 * and keep their state in their own handle. The host daemon's own decisions
 * (xpv_place_round and xpv_place_vnode, xpv/placement.h) run in the simulator as the `hostd`
 * policy (policy/hostd_policy.c); `numad` models the external numad tool, not the daemon.
 */
#ifndef XPV_POLICY_H
#define XPV_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a new region's pages go. */
enum xpv_place {
    XPV_PLACE_FIRST_TOUCH, /* the node of the thread that touches it first (Linux default) */
    XPV_PLACE_INTERLEAVE,  /* round-robin over the allowed nodes */
};

/* What a policy sees at a decision point. Arrays are indexed as documented; read-only. */
struct xpv_pol_view {
    double now_s;
    unsigned nr_nodes;
    const double *lat_ns;  /* [nr_nodes * nr_nodes]: idle latency, [cpu node][mem node] */
    const unsigned *cores; /* [nr_nodes] */
    unsigned nr_threads;
    const int *thread_node;       /* [nr_threads]: current node, -1 when finished */
    const unsigned *thread_group; /* [nr_threads]: process (application) */
    unsigned nr_groups;
    unsigned nr_regions;
    const unsigned *region_group;  /* [nr_regions] */
    const double *region_pages;    /* [nr_regions * nr_nodes]: pages on each node */
    const double *region_page_mb;  /* [nr_regions]: page size in MiB */
    const uint64_t *group_allowed; /* [nr_groups]: nodes its memory may use (bitmask) */
    /* Counters of the period (hardware counters on a real machine): DRAM accesses from CPUs
     * of node i to memory of node j, [i * nr_nodes + j]; the period's length; % of accesses
     * that read; % of memory in use. */
    const double *dram;
    double period_ns, read_ratio, mem_usage;
    /* Memory of each node, bytes [nr_nodes] (NULL: unknown). */
    const uint64_t *node_mem;
    /* Virtual machines (NULL when the platform has none): for each group, the VM it runs in
     * (-1: native) and that VM's number of vNodes; for each thread in a VM, its vCPU's vNode.
     * A policy re-places a VM's vNodes with XPV_ACT_MOVE_VNODE. */
    const int *group_vm;          /* [nr_groups] */
    const unsigned *group_vnodes; /* [nr_groups] */
    const unsigned *thread_vnode; /* [nr_threads] */
};

/* Sampled accesses since the last decision (hinting faults on Linux): `count` faults taken
 * by `thread` on pages of `region` that sit on `node` (each fault is a distinct page). */
struct xpv_pol_sample {
    unsigned thread, region, node;
    double count;
};

enum xpv_act_kind { XPV_ACT_MIGRATE, XPV_ACT_MOVE_THREAD, XPV_ACT_MOVE_VNODE };
struct xpv_pol_action {
    enum xpv_act_kind kind;
    unsigned region, from, to; /* MIGRATE: `pages` pages of region from -> to */
    double pages;
    unsigned thread, node; /* MOVE_THREAD; MOVE_VNODE: the node */
    /* MOVE_VNODE: vNode `vnode` of the VM that group `group` runs in goes to `node`, its
     * vCPUs and its memory (the hypervisor's re-placement; the platform republishes the VM's
     * topology record) */
    unsigned group, vnode;
};
struct xpv_pol_actions {
    unsigned nr, cap;
    struct xpv_pol_action *v;
};
int xpv_pol_actions_push(struct xpv_pol_actions *a, struct xpv_pol_action act);
void xpv_pol_actions_clear(struct xpv_pol_actions *a);
void xpv_pol_actions_free(struct xpv_pol_actions *a);

/*
 * How a VM's memory is placed and how the guest learns the topology (XPV, EuroSys'19, and the
 * hypervisor policies of Voron et al., EuroSys'17). Native policies leave it XPV_VM_VNUMA.
 */
enum xpv_vm_mode {
    XPV_VM_VNUMA,          /* static vNUMA: guest allocates on the vNode it believes it is in */
    XPV_VM_PINNED,         /* static vNUMA, and the hypervisor never re-places the VM */
    XPV_VM_XEN_DEFAULT,    /* no vNUMA; memory in 1 GB chunks round-robin over the VM's nodes */
    XPV_VM_XPV,            /* the hypervisor publishes the topology; guest allocates on the
                              effective node of the vCPU it runs on now */
    XPV_VM_XPV_MIGRATE,    /* XPV, and the guest migrates its threads' pages after a move */
    XPV_VM_HOTPLUG,        /* static vNUMA guest, told of moves by vCPU unplug + plug: a moved
                              vCPU reappears in the vNode backed where it now runs (if any) */
    XPV_VM_HV_FIRST_TOUCH, /* the hypervisor backs a page where it is first touched after a
                              free (the guest reports frees), at a cost per page */
    XPV_VM_HOST_BALANCING, /* static vNUMA guest whose host runs Linux NUMA balancing on QEMU's
                              memory and vCPU threads (kvm-numa-balancing): the guest's frames
                              stay backed where the host put them */
};

/* Where guest memory for a vCPU goes, given the mode (pure; see policy/vm.c). vnode_node: the
 * host node backing the vCPU's vNode; run_node: where it runs now; effective: XPV's effective
 * node from the published record. Returns a host node, or -1 for "spread over the VM's
 * nodes" (Xen default). */
int xpv_vm_alloc_node(enum xpv_vm_mode mode, unsigned vnode_node, unsigned run_node, int effective);
/*
 * The same rule over guest memory as frames backed on host nodes (policy/vm.c): where an
 * allocation by a vCPU lands, as shares over host nodes 0..nr_nodes-1. vnode_frames[n]: the
 * share of the frames of the vNode the guest believes the vCPU is in backed on node n (a
 * static vNUMA guest allocates from that vNode's free list, wherever the hypervisor has
 * backed it); vnode_node: the node holding all of them, or -1 when they are split.
 * xpv_spread[n]: XPV's allocation rule read from the record (xpv_effective_spread: the
 * effective node, or a spread over the nearest nodes holding the VM's memory when the
 * vCPU's node holds none), NULL when the guest has read no record; xpv_node: the node
 * holding all of it, or -1. Returns a node n >= 0 (all of it there), -2 with *w set to the
 * shares (one of the two vectors: nothing is copied), or -1 for "spread over the VM's
 * nodes" (Xen's default).
 */
int xpv_vm_alloc_shares(enum xpv_vm_mode mode, const double *vnode_frames, int vnode_node,
                        unsigned run_node, int effective, const double *xpv_spread, int xpv_node,
                        const double **w);

/*
 * The hypervisor's load balancer (policy/vm_balance.c), at vNode granularity as Xen's and
 * KVM's schedulers move vCPUs between nodes: while a node runs more threads than it has cores
 * and another node has room for all of a vNode's vCPUs, move the smallest vNode of a movable
 * VM off the overloaded node to the nearest node with room; at most one move per VM per
 * round. load[n]: threads running on node n now (all domains, native ones included).
 */
/* vNodes per VM the balancer considers (the simulator's VMs; xpv/vmdesc.h's XPV_VM_MAX_VNODES is
 * what the daemon accepts from QEMU) */
#define XPV_BALANCE_MAX_VNODES 8
struct xpv_vm_place {
    bool movable; /* false: pinned, or not running */
    unsigned nr_vnodes;
    unsigned run[XPV_BALANCE_MAX_VNODES];   /* host node each vNode's vCPUs run on */
    unsigned vcpus[XPV_BALANCE_MAX_VNODES]; /* running vCPUs per vNode */
};
struct xpv_vm_move {
    unsigned vm, vnode, from, to;
};
/* Returns the number of moves written to out (at most cap). */
unsigned xpv_vm_balance(unsigned nr_nodes, const unsigned *cores, const unsigned *load,
                        const double *lat_ns, const struct xpv_vm_place *vms, unsigned nr_vms,
                        struct xpv_vm_move *out, unsigned cap);

/* SLIT-like distance from CPU node i to memory node j of a latency matrix [nr_nodes²]:
 * 10 × lat[i][j] / lat[i][i], rounded, at least 1 (a machine whose latencies are its SLIT
 * scaled gives that SLIT back). The simulator's machine topology (its VM records) and the
 * `hostd` policy convert latencies the same way, with this. */
uint32_t xpv_pol_slit(const double *lat_ns, unsigned nr_nodes, unsigned i, unsigned j);

struct xpv_policy {
    const char *name;
    enum xpv_place placement;
    enum xpv_vm_mode vm_mode;
    double period_s; /* decide() every period_s; 0: never */
    /* NUMA hinting-fault scanning the platform does for it: each period, scan_mb of every
     * process's memory is unmapped and the next access to each such page is a sample
     * (Linux: numa_balancing_scan_size_mb). 0: no samples. */
    double scan_mb;
    /* Precise access sampling (IBS / PEBS-like) the platform does for it: this share of memory
     * accesses becomes a sample, each costing the sampled thread sample_cost_ns. */
    double sample_rate, sample_cost_ns;
    /* Page migrations it orders run at this share of the platform's migration throughput
     * (0 or 1: full speed; the hypervisor's copy-based migration of guest pages: less). */
    double migrate_speed;
    /* It runs inside the guest (guest-side Carrefour): it may move a VM's pages only among
     * the host nodes backing the VM. */
    bool in_guest;
    /* It re-places VMs itself (XPV_ACT_MOVE_VNODE): the platform's own hypervisor load
     * balancer (xpv_vm_balance) stays off. */
    bool places_vms;
    /* An XPV mode whose guest kernel follows the record but whose runtimes are stock
     * (`xpv-os`): allocator arenas and a JVM's heap keep the layout they made at start
     * (the simulator's runtime layer, src/sim/guest.c). false: runtimes follow too. */
    bool stock_runtimes;
    void *state;
    int (*decide)(struct xpv_policy *p, const struct xpv_pol_view *v,
                  const struct xpv_pol_sample *samples, unsigned nr_samples,
                  struct xpv_pol_actions *out);
    void (*destroy)(struct xpv_policy *p);
    /* Optional (NULL: not reported): the node set (bit n: node n) the policy has bound group g
     * to, 0 when none. The `hostd` policy reports the daemon's binding (d->nodes). */
    uint64_t (*group_nodes)(const struct xpv_policy *p, unsigned g);
};

/* A policy by name (xpv_policy_names(): first-touch, interleave, autonuma, numad, hostd, the
 * Carrefour and VM policies). -ENOENT with the list in err. */
int xpv_policy_new(const char *name, struct xpv_policy **out, struct xpv_error *err);
const char *const *xpv_policy_names(void);
/*
 * Whether policy `name` applies to a scenario with VMs (vms) or without. Native policies
 * (first-touch, interleave, autonuma, numad, carrefour, carrefour-lp, carrefour-hold) say
 * nothing about a VM; VM policies (xen-default, vnuma, ..., kvm-numa-balancing) need one;
 * hostd places both. 0: it applies; -ENOENT: unknown (the list in err); -EINVAL: the other
 * kind, err naming the policies that apply (e.g. "policy 'autonuma' is a native policy and
 * the scenario runs VMs; VM policies: ...").
 */
int xpv_policy_check(const char *name, bool vms, struct xpv_error *err);
void xpv_policy_free(struct xpv_policy *p);

#ifdef __cplusplus
}
#endif
#endif
