/*
 * guest.c — the guest layers of a simulated VM, above the guest kernel's allocator (docs/sim.md,
 * "Inside the guest"):
 *
 *  - Runtimes (a workload's `runtime`). ARENAS: per-node allocator arenas bound when a thread
 *    starts; memory freed to an arena is reused by the next allocation from it, where it
 *    already is (it never goes back to the guest kernel's first touch). Under `xpv` (runtimes
 *    follow the record) the arenas are re-bound at once to the thread's effective node, so
 *    re-allocations land there. JVM: a generational heap; its eden (the workload's turned-over
 *    regions) is laid out per node when the runtime starts, on the node the guest believed each
 *    CPU in, refilled in place, and collected every 1 / churn_per_s seconds (the eden is full
 *    when its size has been allocated again). A collection empties the eden: a thread's eden
 *    then sits in the space of the node its CPU maps to in the runtime's CPU -> node map, which
 *    a stock runtime built at start and never rebuilds (upstream HotSpot's
 *    os::numa_topology_changed() is `false` on Linux) and which a runtime that checks the
 *    topology generation rebuilds from the record at the collection (the XPV HotSpot patch;
 *    MutableNUMASpace::update_layout()). The old generation (loaded regions) is not re-laid.
 *  - The guest scheduler: threads migrate among their VM's vCPUs (swaps: one thread per vCPU)
 *    at guest_sched_per_s, within the thread's scheduling domain or, guest_sched_cross of the
 *    time, across domains. Domains come from the topology the guest kernel has: the believed
 *    vNodes (static vNUMA), or the effective nodes (XPV: the prototype's DIE level groups vCPUs
 *    by vcpu_to_pnode, rewritten to the nearest node with the VM's memory).
 *  - Guest NUMA balancing (a VM's `numa_balancing`): every scan period the guest migrates its
 *    threads' own pages toward the node it thinks each thread runs on — the node backing the
 *    believed vNode (static vNUMA) or the effective node (XPV).
 *
 * Nothing here runs unless a scenario asks for it: runtime none, scheduler rate 0 and no
 * balancing leave every result as it was (one branch per epoch).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_engine.h"
#include "xpv/rng.h"

/* Guest NUMA balancing: Linux's defaults, as the `autonuma` policy (src/policy/autonuma.c). */
#define NB_PERIOD_S  1.0
#define NB_SCAN_MB   256.0 /* numa_balancing_scan_size_mb */
#define NB_RATE_MBPS 256.0 /* migrations into a node, per second */
#define LABEL_HOST   1000  /* a space label >= this names a host node, below it a vNode */

struct guest {
    /* per thread */
    int *jvm_map; /* the host node its CPU maps to after the runtime's last re-layout, -1:
                   * the start-time map (its vCPU's boot vNode); travels with the vCPU */
    int *eden;    /* the space its eden is in (a label), -1 before the app starts */
    int *arena;   /* ARENAS under xpv: the node of the arena it is bound to, -1: none yet */
    /* per app */
    bool seen[XPV_SIM_MAX_WORKLOADS];
    double gc_ns[XPV_SIM_MAX_WORKLOADS], next_gc[XPV_SIM_MAX_WORKLOADS];
    unsigned long moves[XPV_SIM_MAX_WORKLOADS], node_moves[XPV_SIM_MAX_WORKLOADS],
            relayouts[XPV_SIM_MAX_WORKLOADS];
    unsigned *live; /* scratch: live threads of an app */
    int *dom;       /* scratch: their domains */
    double next_nb;
    uint64_t rng; /* its own stream: the scheduler's draws change nobody else's */
};

/* Runtimes follow the record: an XPV mode whose runtimes are not stock (`xpv`, not `xpv-os`). */
static bool runtimes_follow(const struct engine *e)
{
    return (e->pol->vm_mode == XPV_VM_XPV || e->pol->vm_mode == XPV_VM_XPV_MIGRATE) &&
           !e->pol->stock_runtimes;
}

/* The guest kernel has the effective topology (XPV), not the believed one. */
static bool kernel_follows(const struct engine *e)
{
    return e->pol->vm_mode == XPV_VM_XPV || e->pol->vm_mode == XPV_VM_XPV_MIGRATE;
}

int xpv__sim_guest_setup(struct engine *e, struct xpv_error *err)
{
    unsigned T = e->nr_threads ? e->nr_threads : 1;
    struct guest *g = calloc(1, sizeof(*g));
    if (!g)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    e->guest = g;
    g->jvm_map = malloc(T * sizeof(int));
    g->eden = malloc(T * sizeof(int));
    g->arena = malloc(T * sizeof(int));
    g->live = malloc(T * sizeof(unsigned));
    g->dom = malloc(T * sizeof(int));
    if (!g->jvm_map || !g->eden || !g->arena || !g->live || !g->dom)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    for (unsigned t = 0; t < T; t++)
        g->jvm_map[t] = g->eden[t] = g->arena[t] = -1;
    for (unsigned a = 0; a < e->nr_apps; a++) {
        const struct xpv_sim_workload_spec *w = e->apps[a].w;
        double churn = 0; /* the eden is collected when it has been allocated again */
        for (unsigned r = 0; r < w->nr_regions; r++)
            if (w->regions[r].lifetime == XPV_SIM_TURNOVER)
                churn = fmax(churn, w->regions[r].churn_per_s);
        g->gc_ns[a] = churn > 0 ? 1e9 / churn : INFINITY;
    }
    g->next_nb = NB_PERIOD_S * 1e9;
    g->rng = e->s->seed * 0x9E3779B97F4A7C15u + 17;
    return 0;
}

void xpv__sim_guest_free(struct engine *e)
{
    struct guest *g = e->guest;
    if (!g)
        return;
    free(g->jvm_map);
    free(g->eden);
    free(g->arena);
    free(g->live);
    free(g->dom);
    free(g);
    e->guest = NULL;
}

/* A label's host node; a vNode's is where most of its frames are backed (hv.c): a runtime's
 * arena or eden on a vNode whose frames the hypervisor spread is placed on that node alone. */
static unsigned label_host(const struct engine *e, const struct app *a, int label)
{
    return label >= LABEL_HOST ? (unsigned)(label - LABEL_HOST)
                               : xpv__sim_hv_home(&e->vms[a->vm], e->N, (unsigned)label);
}

/* The space a thread's eden goes to at a collection: its CPU's node in the runtime's map. */
static int jvm_target(const struct engine *e, unsigned t)
{
    int m = e->guest->jvm_map[t];
    return m >= 0 ? LABEL_HOST + m : (int)e->th[t].vnode;
}

bool xpv__sim_runtime_realloc(struct engine *e, struct region *r, unsigned t, double pages)
{
    const struct app *a = &e->apps[r->app];
    struct guest *g = e->guest;
    if (!a->in_vm || a->w->runtime == XPV_SIM_RT_NONE)
        return false;
    if (a->w->runtime == XPV_SIM_RT_ARENAS && runtimes_follow(e)) {
        /* re-bound at once to the arena of the thread's effective node: the guest kernel puts
         * the arena's new memory there (alloc_into) */
        int eff = e->th[t].effective;
        if (eff >= 0 && eff != g->arena[t]) {
            if (g->arena[t] >= 0)
                g->relayouts[r->app]++;
            g->arena[t] = eff;
        }
        return false;
    }
    /* reused in place: the freed frames, where they are (the arena's, or the eden's) */
    double held = 0;
    for (unsigned n = 0; n < e->N; n++)
        held += r->pages[n];
    if (!(held > 0)) {
        r->pages[label_host(e, a, (int)e->th[t].vnode)] += pages;
        return true;
    }
    for (unsigned n = 0; n < e->N; n++)
        r->pages[n] += pages * r->pages[n] / held;
    return true;
}

/* A collection of app a's JVM: each live thread's eden goes to the space its CPU maps to,
 * after a runtime that follows the record has rebuilt its map (the eden is empty: no copy,
 * its pages are touched again on the new node). */
static void collect(struct engine *e, unsigned a)
{
    struct guest *g = e->guest;
    const struct app *ap = &e->apps[a];
    bool follow = runtimes_follow(e);
    for (unsigned i = 0; i < ap->nr_threads; i++) {
        unsigned t = ap->first_thread + i;
        const struct thread *th = &e->th[t];
        if (th->node < 0)
            continue;
        if (follow && th->effective >= 0) /* os::numa_topology_changed(): the map rebuilt */
            g->jvm_map[t] = th->effective;
        int to = jvm_target(e, t);
        if (to == g->eden[t])
            continue;
        unsigned from_host = label_host(e, ap, g->eden[t]), to_host = label_host(e, ap, to);
        g->eden[t] = to;
        if (from_host == to_host)
            continue;
        g->relayouts[a]++;
        for (unsigned sp = 0; sp < ap->w->nr_regions; sp++) {
            if (ap->w->regions[sp].lifetime != XPV_SIM_TURNOVER ||
                ap->w->regions[sp].kind == XPV_SIM_SHARED)
                continue;
            struct region *r = &e->rg[th->region[sp]];
            double total = 0;
            for (unsigned n = 0; n < e->N; n++) {
                total += r->pages[n];
                r->pages[n] = 0;
            }
            r->pages[to_host] = total;
            e->dist_stale = true;
        }
    }
}

/* The scheduling domain of thread t as its guest kernel builds them. */
static int domain(const struct engine *e, unsigned t)
{
    const struct thread *th = &e->th[t];
    if (e->pol->vm_mode == XPV_VM_XEN_DEFAULT)
        return 0; /* one node */
    if (kernel_follows(e) && th->effective >= 0)
        return LABEL_HOST + th->effective;
    return (int)th->seen_vnode;
}

/* Threads t and u exchange vCPUs. */
static void swap_vcpus(struct engine *e, unsigned a, unsigned t, unsigned u)
{
    struct thread *x = &e->th[t], *y = &e->th[u];
    struct guest *g = e->guest;
    if (x->node != y->node) {
        g->node_moves[a] += 2;
        e->dist_stale = true;
    }
    g->moves[a] += 2;
#define SWAP(type, f)                                                                              \
    do {                                                                                           \
        type tmp_ = x->f;                                                                          \
        x->f = y->f;                                                                               \
        y->f = tmp_;                                                                               \
    } while (0)
    SWAP(int, node);
    SWAP(unsigned, vnode);
    SWAP(unsigned, seen_vnode);
    SWAP(int, effective);
#undef SWAP
    int m = g->jvm_map[t];
    g->jvm_map[t] = g->jvm_map[u];
    g->jvm_map[u] = m;
}

/* The guest scheduler's migrations of app a's threads this epoch: O(live threads) per
 * migration (each thread's domain computed once per epoch, swapped along). */
static void schedule(struct engine *e, unsigned a, double dt_ns)
{
    struct guest *g = e->guest;
    const struct app *ap = &e->apps[a];
    unsigned nl = 0;
    for (unsigned i = 0; i < ap->nr_threads; i++)
        if (e->th[ap->first_thread + i].node >= 0)
            g->live[nl++] = ap->first_thread + i;
    if (nl < 2)
        return;
    double k = xpv_rng_poisson(&g->rng, e->s->guest_sched_per_s * nl * dt_ns / 1e9);
    if (!(k > 0))
        return;
    for (unsigned i = 0; i < nl; i++)
        g->dom[i] = domain(e, g->live[i]);
    for (double m = 0; m < k; m++) {
        unsigned x = (unsigned)(xpv_rng_uniform(&g->rng) * nl) % nl;
        bool cross = xpv_rng_uniform(&g->rng) < e->s->guest_sched_cross;
        unsigned cand = 0;
        for (unsigned i = 0; i < nl; i++)
            cand += i != x && (g->dom[i] != g->dom[x]) == cross;
        if (!cand)
            continue;
        unsigned pick = (unsigned)(xpv_rng_uniform(&g->rng) * cand) % cand;
        for (unsigned i = 0; i < nl; i++)
            if (i != x && (g->dom[i] != g->dom[x]) == cross && !pick--) {
                swap_vcpus(e, a, g->live[x], g->live[i]);
                int d = g->dom[x]; /* the domain is the vCPU's: it moves with it */
                g->dom[x] = g->dom[i];
                g->dom[i] = d;
                break;
            }
    }
}

/* The node the guest thinks thread t runs on, as a host node. */
static unsigned believed_node(const struct engine *e, unsigned t)
{
    const struct thread *th = &e->th[t];
    if (kernel_follows(e) && th->effective >= 0)
        return (unsigned)th->effective;
    return xpv__sim_hv_home(&e->vms[e->apps[th->app].vm], e->N, th->seen_vnode);
}

/*
 * Guest NUMA balancing of app a, one scan period: its scanner covers NB_SCAN_MB of the app's
 * memory; a scanned page of a thread's own data (its private regions, its slice) not on the
 * node the guest thinks the thread runs on migrates there when two consecutive hinting faults
 * came from that node (probability share², share: the thread's part of the page's accesses:
 * 1 for private data, own_frac for a slice); shared regions are left (their faults come from
 * every node). At most NB_RATE_MBPS per destination node.
 */
static int numa_balance(struct engine *e, unsigned a, struct xpv_error *err)
{
    const struct app *ap = &e->apps[a];
    unsigned N = e->N;
    double mb = 0, budget[XPV_SIM_MAX_NODES];
    for (unsigned r = 0; r < e->nr_regions; r++)
        if (e->rg[r].app == a)
            mb += e->rg[r].total * e->rg[r].page_mb;
    double cover = mb > 0 ? fmin(1, NB_SCAN_MB / mb) : 0;
    for (unsigned n = 0; n < N; n++)
        budget[n] = NB_RATE_MBPS * NB_PERIOD_S;
    for (unsigned i = 0; i < ap->nr_threads; i++) {
        unsigned t = ap->first_thread + i;
        if (e->th[t].node < 0)
            continue;
        unsigned to = believed_node(e, t);
        for (unsigned sp = 0; sp < ap->w->nr_regions; sp++) {
            const struct xpv_sim_region_spec *rs = &ap->w->regions[sp];
            if (rs->kind == XPV_SIM_SHARED)
                continue;
            double share = rs->kind == XPV_SIM_SLICED ? rs->own_frac : 1;
            unsigned ri = e->th[t].region[sp];
            const struct region *r = &e->rg[ri];
            for (unsigned n = 0; n < N; n++) {
                if (n == to || r->pages[n] <= 0)
                    continue;
                double move = r->pages[n] * cover * share * share;
                move = fmin(move, budget[to] / r->page_mb);
                if (move < 1)
                    continue;
                budget[to] -= move * r->page_mb;
                int rc = xpv__sim_push_migration(e, (struct migration){ri, n, to, move});
                if (rc < 0)
                    return xpv_error_set(err, rc, "out of memory");
            }
        }
    }
    return 0;
}

int xpv__sim_guest_epoch(struct engine *e, double dt_ns, struct xpv_error *err)
{
    struct guest *g = e->guest;
    const struct xpv_sim_scenario *s = e->s;
    bool nb = e->now_ns >= g->next_nb;
    if (nb)
        g->next_nb += NB_PERIOD_S * 1e9;
    for (unsigned a = 0; a < e->nr_apps; a++) {
        const struct app *ap = &e->apps[a];
        if (!ap->in_vm || !ap->started)
            continue;
        if (!g->seen[a]) { /* started: its runtime lays its heap out where the guest believes */
            g->seen[a] = true;
            g->next_gc[a] = e->now_ns + g->gc_ns[a];
            for (unsigned i = 0; i < ap->nr_threads; i++)
                g->eden[ap->first_thread + i] = (int)e->th[ap->first_thread + i].vnode;
        }
        if (s->guest_sched_per_s > 0)
            schedule(e, a, dt_ns);
        if (ap->w->runtime == XPV_SIM_RT_JVM && e->now_ns >= g->next_gc[a]) {
            collect(e, a);
            g->next_gc[a] += g->gc_ns[a];
        }
        int rc;
        if (nb && s->vms[ap->vm].numa_balancing && (rc = numa_balance(e, a, err)) < 0)
            return rc;
    }
    return 0;
}

void xpv__sim_guest_results(const struct engine *e, struct xpv_sim_result *out)
{
    for (unsigned a = 0; a < e->nr_apps; a++) {
        out->apps[a].guest_moves = e->guest->moves[a];
        out->apps[a].guest_node_moves = e->guest->node_moves[a];
        out->apps[a].relayouts = e->guest->relayouts[a];
    }
}
