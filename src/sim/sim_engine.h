/*
 * sim_engine.h — internal: the state of one simulation run, shared by the epoch engine
 * (engine.c) and the VM layer (vm.c: hypervisor re-placements, XPV publication).
 */
#ifndef XPV_SIM_ENGINE_H
#define XPV_SIM_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "xpv/channel.h"
#include "xpv/policy.h"
#include "xpv/publisher.h"
#include "xpv/sim.h"
#include "xpv/topo.h"

struct thread {
    unsigned app, phase;
    int node;    /* -1 once finished */
    double done; /* accesses done in the current phase */
    double rate; /* accesses per ns, this epoch */
    double lat;  /* effective latency per access, ns */
    double finish_s;
    double stall_ns;     /* time owed to overheads (topology updates, hypervisor faults) */
    unsigned vnode;      /* in a VM: the vNode of its vCPU */
    unsigned seen_vnode; /* the vNode the guest sees it in (changes only by hotplug) */
    int effective;       /* in a VM under XPV: the effective node the guest read, -1: none */
    double ft_budget_ns; /* hypervisor first-touch: fault time it may still take (a token
                          * bucket, hv_fault_budget of its time, a second deep) */
    unsigned region[XPV_SIM_MAX_REGIONS]; /* region index per region spec */
};

struct region {
    unsigned app, spec;
    double page_mb;
    double *pages; /* [N] */
    double total;
    /* A slice of a SLICED region spec: the group's slices are regions first .. first+count-1
     * (private and shared regions: first = itself, count = 1). */
    unsigned first, count;
    bool sliced;
    /* A private region or a slice: the thread it belongs to (allocate(): its only allocator
     * when its spec is initialised in parallel) */
    unsigned owner;
    /* In a VM: the share of its guest-physical range in each host node's 1 GiB extents as
     * Xen's default populates them (xen-default), [N] */
    double *gpa;
};

struct migration {
    unsigned region, from, to;
    double pages;
};

struct app {
    const struct xpv_sim_workload_spec *w;
    unsigned first_thread, nr_threads;
    bool started;
    double accesses, local, lat_sum, migrated_mb;
    unsigned long thread_moves;
    unsigned long hv_vcpu_moves; /* single vCPUs moved by the per-vCPU scheduler (hv.c) */
    uint64_t allowed;
    bool in_vm;
    unsigned vm;
};

/* A VM's placement: where each vNode's vCPUs run and where its memory is backed, and the
 * shared memory its topology record is published into (XPV). */
struct vm {
    unsigned run[XPV_SIM_MAX_VNODES];
    /* Guest memory as frames backed on host nodes, independent of vNodes (hv.c): the share
     * of vNode k's frames on host node n (each row sums to 1). The guest's belief (static
     * vNUMA: vNode k) and where its memory really is can diverge in every way. */
    double frames[XPV_SIM_MAX_VNODES][XPV_SIM_MAX_NODES];
    int frames_one[XPV_SIM_MAX_VNODES]; /* the node holding all of vNode k's frames, or -1 */
    uint64_t initial; /* host nodes it was created on (Xen default spreads over them) */
    uint64_t *record; /* XPV_RECORD_MAP_SIZE bytes */
    struct xpv_publisher *pub;
    struct xpv_channel *ch;
};

struct engine {
    const struct xpv_sim_scenario *s;
    const struct xpv_sim_machine *m;
    struct xpv_topo *host; /* the machine as a topology (its VMs' records are built on it) */
    struct xpv_policy *pol;
    unsigned N, nres;
    unsigned nr_threads, nr_regions, nr_apps;
    struct thread *th;
    struct region *rg;
    double *gpa; /* the regions' gpa arrays (VMs' regions only) */
    struct app apps[XPV_SIM_MAX_WORKLOADS];
    double *p; /* [threads][N] access distribution */
    /* [threads][N] the nodes n with p[t][n] != 0, ascending, and how many (nz_count[t]):
     * the loops over a thread's distribution skip its zeros (an access distribution names a
     * few of a large machine's nodes; adding p x = +0 changes no sum, so results are bit for
     * bit those of the loops over all N) */
    uint8_t *nz;
    unsigned *nz_count;
    double *node_share; /* [N] cpu_share() of a thread on each node, this solve() */
    /* [regions][N] the nodes n with pages[n] != 0, ascending, and how many (rnz_count[r]),
     * as of the last distributions() (pages change only where dist_stale is set): advance()'s
     * per-region access counts visit these alone (a zero page count adds +0) */
    uint8_t *rnz;
    unsigned *rnz_count;
    double *cap;               /* [nres] bytes per ns */
    double *sat;               /* [nres] queueing delay at peak bandwidth, ns */
    double *q;                 /* [nres] queueing delay, ns */
    double *demand;            /* [nres] bytes per ns */
    double *inv_demand;        /* [nres] 1 / the previous fixed-point iteration's demand */
    double *bg;                /* [nres] background (migration) demand this epoch */
    double *step, *last_delta; /* [nres] the solver's damping per resource */
    /* per (cpu node, mem node): resources crossed by reads (mem -> cpu) and writes */
    uint16_t *rd_res, *wr_res; /* [N*N][1 + XPV_SIM_MAX_HOPS] */
    uint8_t *nres_path;        /* [N*N] */
    /* Something distributions() reads changed (pages, a thread's phase or node): p and agg
     * are recomputed; otherwise they are the previous epoch's, unchanged */
    bool dist_stale;
    /* The routes (idx = CPU node x N + memory node) some running thread's distribution
     * reaches, ascending (nr_routes of them), recomputed at each solve(): its per-route loops
     * visit these alone; a route no thread takes carries no thread load, and no thread reads
     * its queues or its throttle factor */
    unsigned *routes, nr_routes;
    uint8_t *route_used; /* [N*N] scratch of used_routes() */
    /* [threads] the previous running thread on the same node if it has the same phase spec
     * and the same distribution (nodes and values), else -1; recomputed at each solve():
     * such twins given the same rate get the same latency and rate (thread_latency() and the
     * throttle are functions of these alone), computed once (the threads of a spread
     * application on one node usually are twins) */
    int *twin;
    bool churns;                 /* some region spec is turned over (churn() has work) */
    double *route_f;             /* [N*N]: solve()'s throttle factor of each route */
    double *route_rd, *route_wr; /* [N*N]: the threads' load per route (add_demand) */
    double *route_q, *route_inv; /* [N*N][1 + XPV_SIM_MAX_HOPS]: q, inv_demand along rd_res */
    unsigned *on_node;           /* [N] running threads per node */
    struct migration *mig;
    unsigned nr_mig, cap_mig;
    double *acc;        /* [threads][specs][N] accesses since the last decision (a sliced spec: to
                         * the thread's own slice) */
    double *acc_spread; /* [threads][specs][N] a sliced spec's accesses spread over all its
                         * slices, since the last decision */
    double *agg;        /* [regions][N] at a sliced group's first slice: the group's pages per
                         * node, this epoch */
    uint64_t rng;
    double now_ns;
    struct vm vms[XPV_SIM_MAX_VMS];
    /* hv.c: per vCPU thread, where XPV's guest allocates ([T][N] shares: the record's spread
     * rule, xpv_effective_spread), and the per-vCPU scheduler's next move time */
    double *hv_xpv_w;
    int *hv_xpv_one; /* [T]: the node holding all of hv_xpv_w's share, or -1 */
    double next_vcpu_sched_ns;
    unsigned next_event;
    double *period_dram; /* [N*N] DRAM accesses since the last decision */
    double period_reads, period_writes;
    unsigned long iterations; /* of the fixed point, over the run */
    struct guest *guest;      /* the guest layers: runtimes, scheduler (guest.c) */
};

/* Queue a page migration (executed at migrate_gbps, its traffic part of the load). */
int xpv__sim_push_migration(struct engine *e, struct migration m);
/* Publish VM v's topology record and let its guest read it (vm.c). */
void xpv__sim_publish_vm(struct engine *e, unsigned v, bool charge);
/* Apply a hypervisor re-placement (vm.c). */
int xpv__sim_apply_event(struct engine *e, const struct xpv_sim_event *ev, struct xpv_error *err);
/* One round of the hypervisor's load balancer (vm.c). */
int xpv__sim_balance(struct engine *e, struct xpv_error *err);

/* The guest layers (guest.c): runtimes (arenas, a JVM's heap), the guest scheduler, guest
 * NUMA balancing. */
int xpv__sim_guest_setup(struct engine *e, struct xpv_error *err);
void xpv__sim_guest_free(struct engine *e);
/* A re-allocation of `pages` of region r by thread t through its runtime: true when the
 * runtime placed them (reused in place), false to let the guest kernel place them. */
bool xpv__sim_runtime_realloc(struct engine *e, struct region *r, unsigned t, double pages);
/* One epoch of the guest layers: collections, the scheduler's migrations, NUMA balancing. */
int xpv__sim_guest_epoch(struct engine *e, double dt_ns, struct xpv_error *err);
void xpv__sim_guest_results(const struct engine *e, struct xpv_sim_result *out);
/* The hypervisor side (hv.c): frames per host node, re-backings, per-vCPU placement. */
int xpv__sim_hv_setup(struct engine *e, struct xpv_error *err);
void xpv__sim_hv_teardown(struct engine *e);
/* Add `pages` to region r where an allocation by vCPU thread t lands (its VM's mode:
 * the believed vNode's frames, XPV's record, the vCPU's node). */
void xpv__sim_hv_alloc(struct engine *e, struct region *r, unsigned t, double pages);
/* The host nodes backing any of VM v's frames. */
uint64_t xpv__sim_hv_mem_nodes(const struct engine *e, unsigned v);
/* The host node backing most of vNode k's frames (lowest on ties). */
unsigned xpv__sim_hv_home(const struct vm *vm, unsigned N, unsigned k);
/* Re-back share f of vNode k's frames of VM v on node `to` (pages migrated along). */
int xpv__sim_hv_reback(struct engine *e, unsigned v, unsigned k, unsigned to, double f,
                       struct xpv_error *err);
/* Move vCPU thread t alone to node `to` (hotplug guests re-plugged as on a vNode move). */
void xpv__sim_hv_move_vcpu(struct engine *e, unsigned t, unsigned to);
/* The per-vCPU scheduler, once per epoch of dt_ns. */
int xpv__sim_hv_vcpu_sched(struct engine *e, double dt_ns, struct xpv_error *err);
/* XPV's allocation shares of app's vCPUs from the snapshot its guest read (vm.c). */
void xpv__sim_hv_read_spread(struct engine *e, unsigned app, const struct xpv_snapshot *snap);
/* Apply a re-backing or consolidation event (kind other than XPV_SIM_EV_MOVE). */
int xpv__sim_hv_event(struct engine *e, const struct xpv_sim_event *ev, struct xpv_error *err);
/* The started app running in VM v, or XPV_SIM_MAX_WORKLOADS. */
unsigned xpv__sim_vm_app(const struct engine *e, unsigned v);

#endif
