/*
 * engine.c — the epoch engine of `xpv sim` (model: docs/sim.md, "Model").
 *
 * State: threads (node, phase, work done), regions (pages per node), resources (one memory
 * controller per node, two directions per link). Each epoch:
 *   1. every running thread's access distribution over memory nodes, from its phase's
 *      region weights and where those regions' pages are;
 *   2. the fixed point: latency_t = Σ_n p_tn (idle[s][n] + Q_mc(n) + Σ_route Q_link) (each Q
 *      times the share of its load that is not the arriving request), rate_t =
 *      share / (compute + latency_t / mlp), utilisation u_r = demand_r / capacity_r,
 *      Q_r = the published loaded-latency curve scaled to the resource's delay at peak
 *      bandwidth (bounded), iterated with damping from the previous epoch's queues until they
 *      move less than 0.01 ns; then any resource still above its bandwidth is throttled (the
 *      threads using it slowed in proportion), so no controller or link ever carries more
 *      than its bandwidth;
 *   3. progress, statistics, page migrations in flight (their traffic is part of the load);
 *   4. at the policy's period: samples and a decision through the shared policy core.
 * Cost per epoch: threads × (region specs + nodes × hops) per fixed-point iteration at most:
 * a thread's loops visit only the nodes its distribution reaches (nz), and a thread whose
 * twin (the previous thread on its node, same phase and distribution, same rate) was just
 * solved takes its results; the threads' loads gathered per route (CPU node, memory node)
 * and put on the resources once per iteration (routes taken × hops); the access
 * distributions recomputed only when pages, phases or thread placements changed. Linear in
 * threads (no per-thread loop over all threads or all regions), never growing with the
 * number of accesses (docs/sim.md, "Speed"). None of this changes a result bit
 * (xpv__sim_set_dense: the test that checks it). VMs'
 * hypervisor events and XPV publication live in vm.c, guest frames, re-backings and per-vCPU
 * placement in hv.c (an in-VM allocation: xpv__sim_hv_alloc); the shared state in
 * sim_engine.h.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_engine.h"
#include "sim_internal.h"
#include "xpv/rng.h"

#define MAX_ITERS 200
#define TOL_NS    0.01
#define TOL_REL   1e-4

/* The engine's state: sim_engine.h. */

/* sim_internal.h: the shortcuts off, for the test that they change no result bit. */
static bool dense;
void xpv__sim_set_dense(bool on)
{
    dense = on;
}

/*
 * The loaded-latency curve (docs/sim-calibration.md, "Loaded latency"): the queueing delay a
 * resource adds at utilisation u, as a share of its delay at peak bandwidth. Points of a
 * published Intel MLC --loaded_latency run (Xeon Silver 4110, 2 sockets, 12 x DDR4-2666,
 * read-only traffic; Intel community forum, "Intel Memory Latency Checker v3.5 test"):
 * (bandwidth / peak bandwidth, (latency - idle) / (latency at peak - idle)), idle 81.96 ns,
 * peak 135.7 GB/s at 130.31 ns. Linear between these 7 of the run's 16 points (the other 9
 * lie within 1.2% of it in latency: sim.calibration checks); 1 at and above peak.
 */
static const double curve_u[] = {0, 0.045, 0.135, 0.315, 0.504, 0.968, 1};
static const double curve_q[] = {0, 0.095, 0.170, 0.261, 0.351, 0.863, 1};

/* The queueing delay (ns) at utilisation u of a resource whose delay at peak bandwidth is
 * sat_ns: bounded, sat_ns at u >= 1 (sim_internal.h: the validation tests probe it). */
double xpv__sim_queue_delay(double sat_ns, double u)
{
    if (!(u > 0))
        return 0;
    if (u >= 1)
        return sat_ns;
    unsigned i = 1;
    while (curve_u[i] < u)
        i++;
    double f = (u - curve_u[i - 1]) / (curve_u[i] - curve_u[i - 1]);
    return sat_ns * (curve_q[i - 1] + f * (curve_q[i] - curve_q[i - 1]));
}

static unsigned res_mc(unsigned n)
{
    return n;
}
static unsigned res_link(const struct engine *e, unsigned l, int dir)
{
    return e->N + 2 * l + (unsigned)dir;
}

static void build_paths(struct engine *e)
{
    const struct xpv_sim_machine *m = e->m;
    unsigned N = e->N;
    for (unsigned c = 0; c < N; c++)
        for (unsigned n = 0; n < N; n++) {
            unsigned idx = c * N + n, k = 0;
            uint16_t *rd = &e->rd_res[idx * (1 + XPV_SIM_MAX_HOPS)];
            uint16_t *wr = &e->wr_res[idx * (1 + XPV_SIM_MAX_HOPS)];
            rd[k] = wr[k] = (uint16_t)res_mc(n);
            k++;
            /* route[] lists the links from the CPU node back towards the memory node */
            unsigned cur = c;
            for (unsigned h = 0; h < m->route_len[idx]; h++) {
                const struct xpv_sim_link *l = &m->links[m->route[idx][h]];
                unsigned next = l->a == cur ? l->b : l->a;
                /* reads flow next -> cur; dir 0 means a -> b */
                int rdir = next == l->a ? 0 : 1;
                rd[k] = (uint16_t)res_link(e, m->route[idx][h], rdir);
                wr[k] = (uint16_t)res_link(e, m->route[idx][h], !rdir);
                k++;
                cur = next;
            }
            e->nres_path[idx] = (uint8_t)k;
        }
}

/* Memory nodes a region may use, nearest first from node `from`. */
static unsigned nearest_allowed(const struct engine *e, unsigned from, uint64_t allowed)
{
    unsigned best = from;
    double bl = INFINITY;
    for (unsigned n = 0; n < e->N; n++)
        if (allowed >> n & 1 && e->m->lat_ns[from * e->N + n] < bl) {
            bl = e->m->lat_ns[from * e->N + n];
            best = n;
        }
    return best;
}

/* Add `pages` to region r in proportion to where its pages are now: the guest reuses the
 * frames it freed (LIFO free lists), still backed where they were. */
static void reuse_frames(struct engine *e, struct region *r, double pages, unsigned fallback)
{
    double held = 0;
    for (unsigned n = 0; n < e->N; n++)
        held += r->pages[n];
    if (!(held > 0)) {
        r->pages[fallback] += pages;
        return;
    }
    for (unsigned n = 0; n < e->N; n++)
        r->pages[n] += pages * r->pages[n] / held;
}

/*
 * Add `pages` pages to region r where an allocation by thread t lands under the policy.
 * realloc: pages the guest freed and allocates again (churn); under hypervisor first-touch
 * each is re-backed where the vCPU runs at the cost of a fault, within the vCPU's fault budget
 * (hv_fault_budget of its time): past it the hypervisor leaves reported frees mapped, and
 * the guest reuses those frames where they are.
 */
static void alloc_into(struct engine *e, struct region *r, unsigned t, double pages, bool realloc)
{
    const struct app *a = &e->apps[r->app];
    struct thread *th = &e->th[t];
    unsigned N = e->N;
    int node;
    uint64_t spread = 0;
    e->dist_stale = true; /* pages change place */
    if (a->in_vm && e->pol->vm_mode == XPV_VM_XEN_DEFAULT) {
        for (unsigned n = 0; n < N; n++) /* its guest-physical range's extents */
            r->pages[n] += pages * r->gpa[n];
        return;
    }
    /* the runtime's arenas or heap reuse freed memory in place (guest.c) */
    if (realloc && xpv__sim_runtime_realloc(e, r, t, pages))
        return;
    if (a->in_vm && realloc && e->pol->vm_mode == XPV_VM_HV_FIRST_TOUCH) {
        double fault_ns = e->s->hv_fault_us * 1e3;
        double re = fault_ns > 0 ? fmin(pages, fmax(0, th->ft_budget_ns) / fault_ns) : pages;
        th->ft_budget_ns -= re * fault_ns;
        th->stall_ns += re * fault_ns;
        reuse_frames(e, r, pages - re, (unsigned)th->node);
        r->pages[th->node] += re;
        return;
    }
    if (a->in_vm) { /* the guest's frames, as the hypervisor backs them (hv.c) */
        xpv__sim_hv_alloc(e, r, t, pages);
        return;
    }
    node = e->pol->placement == XPV_PLACE_INTERLEAVE
                   ? -1
                   : (int)nearest_allowed(e, (unsigned)th->node, a->allowed);
    spread = a->allowed;
    if (node >= 0) {
        r->pages[node] += pages;
        return;
    }
    unsigned k = (unsigned)__builtin_popcountll(spread);
    for (unsigned n = 0; n < N; n++)
        if (spread >> n & 1)
            r->pages[n] += pages / k;
}

/* Allocate `pages` of region r as its spec says: the master thread, or every live thread its
 * share (a private region: its owner); realloc: pages freed and allocated again (alloc_into).
 * Returns the thread count that allocated. */
static unsigned allocate(struct engine *e, unsigned ri, double pages, double *per_thread,
                         bool realloc)
{
    struct region *r = &e->rg[ri];
    const struct app *a = &e->apps[r->app];
    const struct xpv_sim_region_spec *sp = &a->w->regions[r->spec];
    unsigned who[XPV_SIM_MAX_THREADS], n = 0;
    if (sp->init == XPV_SIM_INIT_MASTER) { /* the first live thread */
        for (unsigned i = 0; i < a->nr_threads && !n; i++)
            if (e->th[a->first_thread + i].node >= 0)
                who[n++] = a->first_thread + i;
    } else if (sp->kind == XPV_SIM_SHARED) { /* every live thread */
        for (unsigned i = 0; i < a->nr_threads; i++)
            if (e->th[a->first_thread + i].node >= 0)
                who[n++] = a->first_thread + i;
    } else if (e->th[r->owner].node >= 0) { /* its owner: O(1), as churn calls this per
                                             * region and epoch */
        who[n++] = r->owner;
    }
    for (unsigned i = 0; i < n; i++)
        alloc_into(e, r, who[i], pages / n, realloc);
    if (per_thread)
        *per_thread = n ? pages / n : 0;
    return n;
}

/* Initial thread placement of an app: a VM's vCPUs on their vNodes' host nodes; native
 * threads spread round-robin over their nodes, or packed. */
static void place_threads(struct engine *e, struct app *a)
{
    const struct xpv_sim_workload_spec *w = a->w;
    unsigned nodes[XPV_SIM_MAX_NODES], nn = 0;
    for (unsigned n = 0; n < e->N; n++)
        if (w->placement != XPV_SIM_NODES || (w->nodes_mask >> n & 1))
            nodes[nn++] = n;
    if (!nn)
        nodes[nn++] = 0;
    for (unsigned i = 0; i < a->nr_threads; i++) {
        struct thread *t = &e->th[a->first_thread + i];
        if (a->in_vm) {
            const struct xpv_sim_vm_spec *v = &e->s->vms[a->vm];
            t->vnode = t->seen_vnode = i * v->nr_vnodes / a->nr_threads;
            t->node = (int)e->vms[a->vm].run[t->vnode];
        } else if (w->placement == XPV_SIM_PACK) {
            unsigned k = 0, filled = i;
            while (k + 1 < nn && filled >= e->m->cores[nodes[k]]) {
                filled -= e->m->cores[nodes[k]];
                k++;
            }
            t->node = (int)nodes[k];
        } else {
            t->node = (int)nodes[i % nn];
        }
        e->on_node[t->node]++;
    }
}

static void start_app(struct engine *e, struct app *a)
{
    a->started = true;
    place_threads(e, a);
    if (a->in_vm)
        xpv__sim_publish_vm(e, a->vm, false); /* the guest reads its topology at boot */
    for (unsigned r = 0; r < e->nr_regions; r++) {
        struct region *rg = &e->rg[r];
        if (&e->apps[rg->app] != a)
            continue;
        memset(rg->pages, 0, e->N * sizeof(double));
        allocate(e, r, rg->total, NULL, false);
    }
}

/*
 * Where Xen's default puts app a's guest memory (xen-default; docs/sim.md, "Virtual
 * machines"). Xen populates a guest without vNUMA in 1 GiB extents, each from the next node of
 * the domain's node affinity (get_free_buddy: cycle_node(d->last_alloc_node)), i.e.
 * round-robin over the VM's nodes in node order. The guest lays its data out in
 * guest-physical memory in the order it allocates it, each region a contiguous range, from an
 * extent boundary on the VM's lowest node; the regions of one private spec touched by every
 * thread at once (init parallel) share one range, as concurrent faults interleave their
 * frames finely against 1 GiB. A region's gpa[n] is the share of its range in node n's
 * extents, in closed form (O(nodes) per region, whatever its size).
 */
/* Bytes of guest-physical [0, x) in the 1 GiB extents j, j + k, j + 2k, ... */
static double in_extents(double x, unsigned j, unsigned k)
{
    const double extent = (double)(UINT64_C(1) << 30), cycle = k * extent;
    double cycles = floor(x / cycle), rest = x - cycles * cycle;
    return cycles * extent + fmin(extent, fmax(0, rest - j * extent));
}

static void xen_extents(struct engine *e, unsigned a)
{
    const struct app *ap = &e->apps[a];
    const struct vm *vm = &e->vms[ap->vm];
    unsigned nodes[XPV_SIM_MAX_NODES], k = 0;
    for (unsigned n = 0; n < e->N; n++)
        if (vm->initial >> n & 1)
            nodes[k++] = n;
    double base = 0;
    unsigned ri = 0;
    while (ri < e->nr_regions && e->rg[ri].app != a)
        ri++;
    for (unsigned sp = 0; sp < ap->w->nr_regions; sp++) {
        const struct xpv_sim_region_spec *rs = &ap->w->regions[sp];
        /* a private spec is a region per thread, a sliced one a slice per thread; touched in
         * parallel, the threads' frames interleave finely within one range */
        unsigned copies = rs->kind == XPV_SIM_SHARED ? 1 : ap->nr_threads;
        bool together = rs->kind != XPV_SIM_SHARED && rs->init == XPV_SIM_INIT_PARALLEL;
        for (unsigned c = 0; c < copies; c++, ri++) {
            struct region *r = &e->rg[ri];
            double bytes = r->total * r->page_mb * (1 << 20);
            double len = together ? bytes * copies : bytes;
            if (together && c > 0) /* the range of copy 0 */
                memcpy(r->gpa, e->rg[ri - 1].gpa, e->N * sizeof(double));
            else
                for (unsigned j = 0; j < k; j++)
                    r->gpa[nodes[j]] =
                            (in_extents(base + len, j, k) - in_extents(base, j, k)) / len;
            if (!together || c + 1 == copies)
                base += len;
        }
    }
}

static int setup(struct engine *e, const struct xpv_sim_scenario *s, struct xpv_error *err)
{
    e->s = s;
    e->m = &s->machine;
    e->dist_stale = true;
    e->N = s->machine.nr_nodes;
    e->nres = e->N + 2 * s->machine.nr_links;
    e->nr_apps = s->nr_workloads;
    e->rng = s->seed * 0x2545F4914F6CDD1Du + 1;
    for (unsigned i = 0; i < s->nr_workloads; i++) {
        const struct xpv_sim_workload_spec *w = &s->workloads[i];
        e->apps[i].w = w;
        e->apps[i].first_thread = e->nr_threads;
        e->apps[i].nr_threads = w->nr_threads;
        e->apps[i].allowed = w->membind_mask ? w->membind_mask : ~UINT64_C(0);
        e->apps[i].in_vm = w->in_vm;
        e->apps[i].vm = w->vm;
        if (w->in_vm && w->vm >= s->nr_vms)
            return xpv_error_set(err, -EINVAL, "workload %s: VM %u not defined", w->name, w->vm);
        if (e->N < 64)
            e->apps[i].allowed &= (UINT64_C(1) << e->N) - 1;
        if (!e->apps[i].allowed)
            return xpv_error_set(err, -EINVAL, "workload %s: membind names no node of %s", w->name,
                                 e->m->name);
        e->nr_threads += w->nr_threads;
        for (unsigned r = 0; r < w->nr_regions; r++)
            e->nr_regions += w->regions[r].kind == XPV_SIM_SHARED ? 1 : w->nr_threads;
        if (!w->nr_phases || !w->nr_regions)
            return xpv_error_set(err, -EINVAL, "workload %s has no %s", w->name,
                                 w->nr_phases ? "region" : "phase");
    }
    unsigned N = e->N, T = e->nr_threads, R = e->nr_regions;
    e->th = calloc(T ? T : 1, sizeof(*e->th));
    e->rg = calloc(R ? R : 1, sizeof(*e->rg));
    e->p = calloc((size_t)(T ? T : 1) * N, sizeof(double));
    e->nz = calloc((size_t)(T ? T : 1) * N, 1);
    e->nz_count = calloc(T ? T : 1, sizeof(unsigned));
    e->node_share = calloc(N, sizeof(double));
    e->rnz = calloc((size_t)(R ? R : 1) * N, 1);
    e->rnz_count = calloc(R ? R : 1, sizeof(unsigned));
    e->cap = calloc(e->nres, sizeof(double));
    e->sat = calloc(e->nres, sizeof(double));
    e->q = calloc(e->nres, sizeof(double));
    e->demand = calloc(e->nres, sizeof(double));
    e->inv_demand = calloc(e->nres, sizeof(double));
    e->bg = calloc(e->nres, sizeof(double));
    e->step = calloc(e->nres, sizeof(double));
    e->last_delta = calloc(e->nres, sizeof(double));
    e->rd_res = calloc((size_t)N * N * (1 + XPV_SIM_MAX_HOPS), sizeof(uint16_t));
    e->wr_res = calloc((size_t)N * N * (1 + XPV_SIM_MAX_HOPS), sizeof(uint16_t));
    e->nres_path = calloc((size_t)N * N, 1);
    e->route_f = calloc((size_t)N * N, sizeof(double));
    e->routes = calloc((size_t)N * N, sizeof(unsigned));
    e->route_used = calloc((size_t)N * N, 1);
    e->twin = calloc(T ? T : 1, sizeof(int));
    e->route_rd = calloc((size_t)N * N, sizeof(double));
    e->route_q = calloc((size_t)N * N * (1 + XPV_SIM_MAX_HOPS), sizeof(double));
    e->route_inv = calloc((size_t)N * N * (1 + XPV_SIM_MAX_HOPS), sizeof(double));
    e->route_wr = calloc((size_t)N * N, sizeof(double));
    e->on_node = calloc(N, sizeof(unsigned));
    e->acc = calloc((size_t)(T ? T : 1) * XPV_SIM_MAX_REGIONS * N, sizeof(double));
    e->acc_spread = calloc((size_t)(T ? T : 1) * XPV_SIM_MAX_REGIONS * N, sizeof(double));
    e->agg = calloc((size_t)(R ? R : 1) * N, sizeof(double));
    e->period_dram = calloc((size_t)N * N, sizeof(double));
    double *pages = calloc((size_t)(R ? R : 1) * N, sizeof(double));
    unsigned RV = 0; /* regions in VMs (a private or sliced spec: one per thread) */
    for (unsigned i = 0; i < s->nr_workloads; i++)
        for (unsigned r = 0; r < s->workloads[i].nr_regions && s->workloads[i].in_vm; r++)
            RV += s->workloads[i].regions[r].kind == XPV_SIM_SHARED ? 1
                                                                    : s->workloads[i].nr_threads;
    e->gpa = calloc((size_t)(RV ? RV : 1) * N, sizeof(double));
    if (!e->th || !e->rg || !e->p || !e->nz || !e->nz_count || !e->node_share || !e->rnz ||
        !e->rnz_count || !e->cap || !e->sat || !e->q || !e->demand || !e->inv_demand || !e->bg ||
        !e->step || !e->last_delta || !e->rd_res || !e->wr_res || !e->nres_path || !e->route_f ||
        !e->routes || !e->route_used || !e->twin || !e->route_rd || !e->route_wr || !e->route_q ||
        !e->route_inv || !e->on_node || !e->acc || !e->acc_spread || !e->agg || !pages ||
        !e->period_dram || !e->gpa) {
        free(pages);
        return xpv_error_set(err, -ENOMEM, "out of memory for %u threads", T);
    }
    int rc = xpv_sim_machine_topo(e->m, &e->host, err);
    if (rc < 0)
        return rc;
    for (unsigned v = 0; v < s->nr_vms; v++) {
        const struct xpv_sim_vm_spec *vs = &s->vms[v];
        struct vm *vm = &e->vms[v];
        if (vs->nr_vnodes < 1 || vs->nr_vnodes > XPV_SIM_MAX_VNODES)
            return xpv_error_set(err, -EINVAL, "VM %s: %u vNodes", vs->name, vs->nr_vnodes);
        for (unsigned k = 0; k < vs->nr_vnodes; k++) {
            if (vs->host_node[k] >= N)
                return xpv_error_set(err, -EINVAL, "VM %s: host node %u of %u", vs->name,
                                     vs->host_node[k], N);
            vm->run[k] = vs->host_node[k];
            vm->initial |= UINT64_C(1) << vs->host_node[k];
        }
        vm->record = calloc(XPV_RECORD_MAP_SIZE / 8, 8);
        if (!vm->record ||
            xpv_publisher_open_mem(vm->record, XPV_RECORD_MAP_SIZE, &vm->pub, err) < 0 ||
            xpv_channel_open_mem(vm->record, XPV_RECORD_MAP_SIZE, &vm->ch, err) < 0)
            return xpv_error_set(err, -ENOMEM, "VM %s: cannot set up its topology record",
                                 vs->name);
    }
    for (unsigned n = 0; n < N; n++)
        e->cap[res_mc(n)] = e->m->mc_gbps[n];
    for (unsigned l = 0; l < e->m->nr_links; l++)
        e->cap[res_link(e, l, 0)] = e->cap[res_link(e, l, 1)] = e->m->links[l].gbps;
    /* Delay at peak bandwidth: (loaded/idle ratio - 1) x the local idle latency of the node
     * (a controller) or of the link's two ends (a link: assumed, docs/sim-calibration.md). */
    double ratio = e->m->sat_ratio > 1 ? e->m->sat_ratio : XPV_SIM_SAT_RATIO;
    for (unsigned n = 0; n < N; n++)
        e->sat[res_mc(n)] = (ratio - 1) * e->m->lat_ns[n * N + n];
    for (unsigned l = 0; l < e->m->nr_links; l++) {
        const struct xpv_sim_link *k = &e->m->links[l];
        e->sat[res_link(e, l, 0)] = e->sat[res_link(e, l, 1)] =
                (ratio - 1) * (e->m->lat_ns[k->a * N + k->a] + e->m->lat_ns[k->b * N + k->b]) / 2;
    }
    for (unsigned r = 0; r < e->nres; r++)
        e->step[r] = 0.5;
    build_paths(e);

    unsigned ri = 0, ti = 0, rv = 0;
    for (unsigned a = 0; a < e->nr_apps; a++) {
        const struct xpv_sim_workload_spec *w = e->apps[a].w;
        for (unsigned i = 0; i < w->nr_threads; i++) {
            e->th[ti + i].app = a;
            e->th[ti + i].node = -1;
            e->th[ti + i].effective = -1;
            e->th[ti + i].ft_budget_ns = s->hv_fault_budget * 1e9;
        }
        for (unsigned sp = 0; sp < w->nr_regions; sp++) {
            const struct xpv_sim_region_spec *rs = &w->regions[sp];
            e->churns |= rs->lifetime == XPV_SIM_TURNOVER && rs->churn_per_s > 0;
            double page = (double)(UINT64_C(1) << (rs->page_shift ? rs->page_shift : 12));
            /* private: a region of `bytes` per thread; sliced: `bytes` cut in one slice per
             * thread; shared: one region */
            unsigned copies = rs->kind == XPV_SIM_SHARED ? 1 : w->nr_threads, first = ri;
            for (unsigned c = 0; c < copies; c++) {
                struct region *r = &e->rg[ri];
                r->app = a;
                r->spec = sp;
                r->page_mb = page / (1 << 20);
                r->pages = pages + (size_t)ri * N;
                if (w->in_vm)
                    r->gpa = e->gpa + (size_t)(rv++) * N;
                r->total = ceil((double)rs->bytes / page);
                if (rs->kind == XPV_SIM_SLICED)
                    r->total /= copies;
                r->first = rs->kind == XPV_SIM_SLICED ? first : ri;
                r->count = rs->kind == XPV_SIM_SLICED ? copies : 1;
                r->sliced = rs->kind == XPV_SIM_SLICED;
                r->owner = ti + c;
                if (rs->kind == XPV_SIM_SHARED) /* every thread's; else thread c's alone */
                    for (unsigned i = 0; i < w->nr_threads; i++)
                        e->th[ti + i].region[sp] = ri;
                else
                    e->th[ti + c].region[sp] = ri;
                ri++;
            }
        }
        ti += w->nr_threads;
    }
    if ((rc = xpv__sim_hv_setup(e, err)) < 0)
        return rc;
    for (unsigned a = 0; a < e->nr_apps; a++)
        if (e->apps[a].in_vm)
            xen_extents(e, a);
    return xpv__sim_guest_setup(e, err);
}

static void teardown(struct engine *e)
{
    for (unsigned v = 0; v < XPV_SIM_MAX_VMS; v++) {
        xpv_channel_close(e->vms[v].ch);
        xpv_publisher_close(e->vms[v].pub);
        free(e->vms[v].record);
    }
    xpv_topo_free(e->host);
    xpv__sim_guest_free(e);
    xpv__sim_hv_teardown(e);
    if (e->rg && e->nr_regions)
        free(e->rg[0].pages);
    free(e->gpa);
    free(e->th);
    free(e->rg);
    free(e->p);
    free(e->nz);
    free(e->nz_count);
    free(e->node_share);
    free(e->rnz);
    free(e->rnz_count);
    free(e->cap);
    free(e->sat);
    free(e->q);
    free(e->demand);
    free(e->inv_demand);
    free(e->bg);
    free(e->step);
    free(e->last_delta);
    free(e->rd_res);
    free(e->wr_res);
    free(e->nres_path);
    free(e->route_f);
    free(e->routes);
    free(e->route_used);
    free(e->twin);
    free(e->route_rd);
    free(e->route_q);
    free(e->route_inv);
    free(e->route_wr);
    free(e->on_node);
    free(e->acc);
    free(e->acc_spread);
    free(e->agg);
    free(e->period_dram);
    free(e->mig);
}

/* A sliced spec: the share of a thread's accesses that goes to its own slice (the rest is
 * spread over every slice in proportion to its pages). */
static double own_share(const struct engine *e, const struct region *r)
{
    return r->sliced ? e->apps[r->app].w->regions[r->spec].own_frac : 1;
}

/* Step 1: p[t][n] for every running thread. A sliced spec's group sums first (agg at its
 * first slice): cost slices x N per epoch, the same as private regions. */
static void distributions(struct engine *e)
{
    unsigned N = e->N;
    if (!e->dist_stale) /* no page, phase or thread placement changed since the last epoch */
        return;
    e->dist_stale = false;
    for (unsigned ri = 0; ri < e->nr_regions; ri++) {
        const struct region *r = &e->rg[ri];
        uint8_t *rnz = &e->rnz[(size_t)ri * N];
        unsigned k = 0;
        for (unsigned n = 0; n < N; n++)
            if (r->pages[n] != 0 || dense)
                rnz[k++] = (uint8_t)n;
        e->rnz_count[ri] = k;
        if (!r->sliced)
            continue;
        double *agg = &e->agg[(size_t)r->first * N];
        if (r->first == ri)
            memset(agg, 0, N * sizeof(double));
        for (unsigned n = 0; n < N; n++)
            agg[n] += r->pages[n];
    }
    for (unsigned t = 0; t < e->nr_threads; t++) {
        struct thread *th = &e->th[t];
        double *p = &e->p[(size_t)t * N];
        memset(p, 0, N * sizeof(double));
        e->nz_count[t] = 0;
        if (th->node < 0)
            continue;
        const struct xpv_sim_workload_spec *w = e->apps[th->app].w;
        const struct xpv_sim_phase_spec *ph = &w->phases[th->phase];
        for (unsigned sp = 0; sp < w->nr_regions; sp++) {
            const struct region *r = &e->rg[th->region[sp]];
            if (ph->weight[sp] <= 0 || r->total <= 0)
                continue;
            double own = own_share(e, r), k = ph->weight[sp] * own / r->total;
            for (unsigned n = 0; n < N; n++)
                p[n] += k * r->pages[n];
            if (own < 1) {
                const double *agg = &e->agg[(size_t)r->first * N];
                double all = r->total * r->count, ks = ph->weight[sp] * (1 - own) / all;
                for (unsigned n = 0; n < N; n++)
                    p[n] += ks * agg[n];
            }
        }
        uint8_t *nz = &e->nz[(size_t)t * N];
        unsigned k = 0;
        for (unsigned n = 0; n < N; n++)
            if (p[n] != 0 || dense)
                nz[k++] = (uint8_t)n;
        e->nz_count[t] = k;
    }
}

/*
 * Latency of thread t given the current queues. A request does not queue behind itself: of
 * the load the thread puts on a resource, one request in mlp is the one arriving (the
 * arrival theorem of closed queueing networks: an arrival sees the system without itself),
 * so the delay it sees is the resource's delay times the share of the resource's load that
 * is not that request, 1 - own / (demand x mlp). A lone pointer chase (mlp 1) sees the idle
 * latency, as the published idle latencies were measured (docs/sim.md, "Model").
 */
static double thread_latency(const struct engine *e, unsigned t)
{
    const struct thread *th = &e->th[t];
    const struct xpv_sim_phase_spec *ph = &e->apps[th->app].w->phases[th->phase];
    unsigned N = e->N, s = (unsigned)th->node;
    const double *p = &e->p[(size_t)t * N];
    const uint8_t *nz = &e->nz[(size_t)t * N];
    double rd_b = th->rate * XPV_SIM_LINE / ph->mlp, mc_b = rd_b * (1 + ph->write_frac);
    double L = 0;
    for (unsigned i = 0, nn = e->nz_count[t]; i < nn; i++) {
        unsigned n = nz[i];
        if (p[n] <= 0)
            continue;
        unsigned idx = s * N + n;
        /* the route's queues and inverse loads, gathered by gather_routes() */
        const double *rq = &e->route_q[idx * (1 + XPV_SIM_MAX_HOPS)];
        const double *ri = &e->route_inv[idx * (1 + XPV_SIM_MAX_HOPS)];
        double l = e->m->lat_ns[idx];
        for (unsigned k = 0; k < e->nres_path[idx]; k++) {
            double others = 1 - p[n] * (k ? rd_b : mc_b) * ri[k];
            if (others > 0)
                l += rq[k] * others;
        }
        L += p[n] * l;
    }
    return L;
}

/* Threads t and u run the same phase spec with the same access distribution. */
static bool same_load(const struct engine *e, unsigned t, unsigned u)
{
    const struct thread *a = &e->th[t], *b = &e->th[u];
    unsigned N = e->N, nn = e->nz_count[t];
    if (a->app != b->app || a->phase != b->phase || nn != e->nz_count[u])
        return false;
    const uint8_t *za = &e->nz[(size_t)t * N], *zb = &e->nz[(size_t)u * N];
    const double *pa = &e->p[(size_t)t * N], *pb = &e->p[(size_t)u * N];
    for (unsigned i = 0; i < nn; i++)
        if (za[i] != zb[i] || pa[za[i]] != pb[zb[i]]) /* nonzero: == is bit for bit */
            return false;
    return true;
}

/* The routes the running threads take (e->routes), from their nodes and distributions, and
 * the threads' twins (e->twin). */
static void used_routes(struct engine *e)
{
    unsigned N = e->N, nr = 0;
    int last[XPV_SIM_MAX_NODES];
    memset(e->route_used, 0, (size_t)N * N);
    for (unsigned n = 0; n < N; n++)
        last[n] = -1;
    for (unsigned t = 0; t < e->nr_threads; t++) {
        e->twin[t] = -1;
        int s = e->th[t].node;
        if (s < 0)
            continue;
        if (last[s] >= 0 && !dense && same_load(e, t, (unsigned)last[s]))
            e->twin[t] = last[s];
        last[s] = (int)t;
        uint8_t *row = &e->route_used[(size_t)s * N];
        const uint8_t *nz = &e->nz[(size_t)t * N];
        for (unsigned i = 0, nn = e->nz_count[t]; i < nn; i++)
            row[nz[i]] = 1;
    }
    for (unsigned idx = 0; idx < N * N; idx++)
        if (e->route_used[idx] || dense)
            e->routes[nr++] = idx;
    e->nr_routes = nr;
}

/* Each used route's resources' queues and inverse loads, contiguous for thread_latency(). */
static void gather_routes(struct engine *e)
{
    for (unsigned i = 0; i < e->nr_routes; i++) {
        unsigned idx = e->routes[i];
        const uint16_t *rd = &e->rd_res[idx * (1 + XPV_SIM_MAX_HOPS)];
        double *rq = &e->route_q[idx * (1 + XPV_SIM_MAX_HOPS)];
        double *ri = &e->route_inv[idx * (1 + XPV_SIM_MAX_HOPS)];
        for (unsigned k = 0; k < e->nres_path[idx]; k++) {
            rq[k] = e->q[rd[k]];
            ri[k] = e->inv_demand[rd[k]];
        }
    }
}

/*
 * A thread's load, gathered per route (CPU node, memory node): reads and writes in bytes/ns
 * (route_rd, route_wr; O(nodes) per thread, contiguous). flush_demand() then puts each
 * route's load on its controller and links once per solver pass, O(nodes^2 x hops) whatever
 * the thread count (it was threads x nodes x hops scattered additions).
 */
static void add_demand(struct engine *e, unsigned t)
{
    unsigned N = e->N, s = (unsigned)e->th[t].node;
    const struct xpv_sim_phase_spec *ph = &e->apps[e->th[t].app].w->phases[e->th[t].phase];
    const double *p = &e->p[(size_t)t * N];
    const uint8_t *nz = &e->nz[(size_t)t * N];
    double rd_b = e->th[t].rate * XPV_SIM_LINE, wr_b = rd_b * ph->write_frac;
    double *restrict rd = &e->route_rd[(size_t)s * N], *restrict wr = &e->route_wr[(size_t)s * N];
    for (unsigned i = 0, nn = e->nz_count[t]; i < nn; i++) {
        unsigned n = nz[i];
        rd[n] += p[n] * rd_b;
        wr[n] += p[n] * wr_b;
    }
}

/* demand = background + every route's load (add_demand), in route order; clears the routes'
 * load (only used routes carry any). */
static void flush_demand(struct engine *e)
{
    memcpy(e->demand, e->bg, e->nres * sizeof(double));
    for (unsigned i = 0; i < e->nr_routes; i++) {
        unsigned idx = e->routes[i];
        double rd_b = e->route_rd[idx], wr_b = e->route_wr[idx];
        e->route_rd[idx] = e->route_wr[idx] = 0;
        if (!(rd_b > 0 || wr_b > 0))
            continue;
        const uint16_t *rd = &e->rd_res[idx * (1 + XPV_SIM_MAX_HOPS)];
        const uint16_t *wr = &e->wr_res[idx * (1 + XPV_SIM_MAX_HOPS)];
        e->demand[rd[0]] += rd_b + wr_b; /* the controller serves both */
        for (unsigned k = 1; k < e->nres_path[idx]; k++) {
            e->demand[rd[k]] += rd_b;
            e->demand[wr[k]] += wr_b;
        }
    }
}

/* A thread's CPU share on node n: < 1 when the node has more running threads than cores. */
static double cpu_share(const struct engine *e, unsigned n)
{
    return e->on_node[n] > e->m->cores[n] ? (double)e->m->cores[n] / e->on_node[n] : 1.0;
}

/* Step 2: the fixed point between rates and queues, then the capacity guarantee. */
static void solve(struct engine *e)
{
    for (unsigned n = 0; n < e->N; n++) /* no thread moves during a solve */
        e->node_share[n] = cpu_share(e, n);
    used_routes(e);
    for (int it = 0; it < MAX_ITERS; it++) {
        e->iterations++;
        /* the load the threads' latencies see is the previous iteration's */
        for (unsigned r = 0; r < e->nres; r++)
            e->inv_demand[r] = e->demand[r] > 0 ? 1 / e->demand[r] : 0;
        gather_routes(e);
        /* per node, the last thread computed there: its rate before and after, its latency */
        double in_rate[XPV_SIM_MAX_NODES], out_rate[XPV_SIM_MAX_NODES], out_lat[XPV_SIM_MAX_NODES];
        for (unsigned t = 0; t < e->nr_threads; t++) {
            struct thread *th = &e->th[t];
            if (th->node < 0)
                continue;
            unsigned s = (unsigned)th->node;
            double r0 = th->rate;
            if (e->twin[t] >= 0 && r0 == in_rate[s]) { /* its twin's inputs: its results */
                th->lat = out_lat[s];
                th->rate = out_rate[s];
            } else {
                const struct xpv_sim_phase_spec *ph = &e->apps[th->app].w->phases[th->phase];
                th->lat = thread_latency(e, t);
                th->rate = e->node_share[s] / (ph->compute_ns + th->lat / ph->mlp);
            }
            in_rate[s] = r0;
            out_rate[s] = th->rate;
            out_lat[s] = th->lat;
            add_demand(e, t);
        }
        flush_demand(e);
        /* The map queues -> rates -> queues is decreasing, so plain iteration oscillates
         * near saturation: damp each resource, halving its step whenever it overshoots. */
        bool moving = false;
        for (unsigned r = 0; r < e->nres; r++) {
            double delta = xpv__sim_queue_delay(e->sat[r], e->demand[r] / e->cap[r]) - e->q[r];
            if (delta * e->last_delta[r] < 0)
                e->step[r] *= 0.5;
            else if (e->step[r] < 0.5)
                e->step[r] = fmin(0.5, e->step[r] * 1.5);
            e->last_delta[r] = delta;
            e->q[r] += e->step[r] * delta;
            if (fabs(delta) > TOL_NS + TOL_REL * e->q[r])
                moving = true;
        }
        if (!moving)
            break;
    }
    /* No resource carries more than its bandwidth: the loaded-latency curve is bounded, so
     * demand beyond the peak is not absorbed by the queue; the threads using an over-demanded
     * resource are slowed in proportion (their latency then includes the wait to get in). */
    double f[XPV_SIM_MAX_NODES + 2 * XPV_SIM_MAX_LINKS];
    bool any = false;
    for (unsigned r = 0; r < e->nres; r++) {
        f[r] = e->demand[r] > e->cap[r] ? e->cap[r] / e->demand[r] : 1;
        any |= f[r] < 1;
    }
    if (!any)
        return;
    unsigned N = e->N;
    /* the factor of each used route (CPU node, memory node): the smallest on its resources,
     * once per route rather than per thread (a min: the same value in any order) */
    for (unsigned i = 0; i < e->nr_routes; i++) {
        unsigned idx = e->routes[i];
        double fr = 1;
        for (unsigned k = 0; k < e->nres_path[idx]; k++)
            fr = fmin(fr, fmin(f[e->rd_res[idx * (1 + XPV_SIM_MAX_HOPS) + k]],
                               f[e->wr_res[idx * (1 + XPV_SIM_MAX_HOPS) + k]]));
        e->route_f[idx] = fr;
    }
    /* per node, the last thread throttled there: its rate and latency before and after */
    double in_rate[XPV_SIM_MAX_NODES], in_lat[XPV_SIM_MAX_NODES], out_rate[XPV_SIM_MAX_NODES],
            out_lat[XPV_SIM_MAX_NODES];
    for (unsigned t = 0; t < e->nr_threads; t++) {
        struct thread *th = &e->th[t];
        if (th->node < 0)
            continue;
        unsigned s = (unsigned)th->node;
        double r0 = th->rate, l0 = th->lat;
        if (e->twin[t] >= 0 && r0 == in_rate[s] && l0 == in_lat[s]) {
            th->rate = out_rate[s];
            th->lat = out_lat[s];
        } else {
            double ft = 1;
            const double *p = &e->p[(size_t)t * N];
            const uint8_t *nz = &e->nz[(size_t)t * N];
            const double *rf = &e->route_f[(size_t)s * N];
            for (unsigned i = 0, nn = e->nz_count[t]; i < nn; i++)
                if (p[nz[i]] > 0)
                    ft = fmin(ft, rf[nz[i]]);
            if (ft < 1) {
                const struct xpv_sim_phase_spec *ph = &e->apps[th->app].w->phases[th->phase];
                th->rate *= ft;
                /* the latency a thread sees is what its slower rate implies */
                th->lat = ph->mlp * (e->node_share[s] / th->rate - ph->compute_ns);
            }
        }
        in_rate[s] = r0;
        in_lat[s] = l0;
        out_rate[s] = th->rate;
        out_lat[s] = th->lat;
        add_demand(e, t);
    }
    flush_demand(e);
}

/* Pages in flight: this epoch's share of the migration queue (FIFO), as background load. */
static void migrate(struct engine *e, double dt_ns, struct xpv_sim_result *out)
{
    memset(e->bg, 0, e->nres * sizeof(double));
    double speed = e->pol->migrate_speed > 0 ? e->pol->migrate_speed : 1;
    double budget = e->s->migrate_gbps * speed * dt_ns; /* bytes */
    unsigned N = e->N, done = 0;
    for (unsigned i = 0; i < e->nr_mig && budget > 0; i++) {
        struct migration *mg = &e->mig[i];
        struct region *r = &e->rg[mg->region];
        double page_b = r->page_mb * (1 << 20);
        double avail = r->pages[mg->from];
        double pages = fmin(fmin(mg->pages, avail), budget / page_b);
        if (pages > 0) {
            e->dist_stale = true;
            r->pages[mg->from] -= pages;
            r->pages[mg->to] += pages;
            mg->pages -= pages;
            budget -= pages * page_b;
            double bytes = pages * page_b, rate = bytes / dt_ns;
            e->apps[r->app].migrated_mb += bytes / (1 << 20);
            /* read at the source, written at the destination, carried by the links between */
            unsigned idx = mg->to * N + mg->from;
            const uint16_t *rd = &e->rd_res[idx * (1 + XPV_SIM_MAX_HOPS)];
            e->bg[res_mc(mg->from)] += rate;
            e->bg[res_mc(mg->to)] += rate;
            for (unsigned k = 1; k < e->nres_path[idx]; k++)
                e->bg[rd[k]] += rate;
            out->mc_bytes[mg->from] += bytes;
            out->mc_bytes[mg->to] += bytes;
        }
        if (mg->pages < 1e-9 || avail - pages < 1e-9)
            done = i + 1;
        else
            break;
    }
    if (done) {
        memmove(e->mig, e->mig + done, (e->nr_mig - done) * sizeof(*e->mig));
        e->nr_mig -= done;
    }
}

int xpv__sim_push_migration(struct engine *e, struct migration m)
{
    if (e->nr_mig == e->cap_mig) {
        unsigned cap = e->cap_mig ? 2 * e->cap_mig : 256;
        struct migration *v = realloc(e->mig, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        e->mig = v;
        e->cap_mig = cap;
    }
    e->mig[e->nr_mig++] = m;
    return 0;
}

/*
 * The kernel's NUMA hinting faults of one scan period, from the accesses of the period:
 * each process's scanner covers scan_mb of its memory (spread over its regions in proportion
 * to their size, as the scan walks them in turn); a scanned page faults once if it is
 * touched before the next scan, with probability 1 - exp(-accesses to it); a fault is taken
 * by one of the threads touching the page, in proportion to their accesses. Poisson noise
 * from the scenario's seed.
 */
/* A slice of sliced group `first` with pages on node n, drawn in proportion to them. */
static unsigned pick_slice(struct engine *e, unsigned first, unsigned n)
{
    const struct region *g = &e->rg[first];
    double x = xpv_rng_uniform(&e->rng) * e->agg[(size_t)first * e->N + n];
    for (unsigned i = 0; i + 1 < g->count; i++) {
        x -= e->rg[first + i].pages[n];
        if (x < 0)
            return first + i;
    }
    return first + g->count - 1;
}

/* A thread of app a, drawn in proportion to its spread accesses of spec sp on node n. */
static unsigned pick_spreader(struct engine *e, const struct app *a, unsigned sp, unsigned n,
                              double total)
{
    double x = xpv_rng_uniform(&e->rng) * total;
    for (unsigned i = 0; i + 1 < a->nr_threads; i++) {
        x -= e->acc_spread[((size_t)(a->first_thread + i) * XPV_SIM_MAX_REGIONS + sp) * e->N + n];
        if (x < 0)
            return a->first_thread + i;
    }
    return a->first_thread + a->nr_threads - 1;
}

static unsigned hinting_faults(struct engine *e, struct xpv_pol_sample *smp)
{
    unsigned N = e->N, ns = 0;
    double *touch = calloc((size_t)e->nr_regions * N, sizeof(double));
    /* sliced groups, at their first slice: the threads' spread accesses per node */
    double *spread = calloc((size_t)e->nr_regions * N, sizeof(double));
    if (!touch || !spread) {
        free(touch);
        free(spread);
        return 0;
    }
    for (unsigned t = 0; t < e->nr_threads; t++) {
        const struct xpv_sim_workload_spec *w = e->apps[e->th[t].app].w;
        for (unsigned sp = 0; sp < w->nr_regions; sp++) {
            const struct region *r = &e->rg[e->th[t].region[sp]];
            for (unsigned n = 0; n < N; n++) {
                size_t at = ((size_t)t * XPV_SIM_MAX_REGIONS + sp) * N + n;
                touch[(size_t)e->th[t].region[sp] * N + n] += e->acc[at];
                if (r->sliced)
                    spread[(size_t)r->first * N + n] += e->acc_spread[at];
            }
        }
    }
    for (unsigned ri = 0; ri < e->nr_regions; ri++) { /* spread accesses land by pages */
        const struct region *r = &e->rg[ri];
        for (unsigned n = 0; r->sliced && n < N; n++) {
            double agg = e->agg[(size_t)r->first * N + n];
            if (agg > 0)
                touch[(size_t)ri * N + n] += spread[(size_t)r->first * N + n] * r->pages[n] / agg;
        }
    }
    double cover[XPV_SIM_MAX_WORKLOADS];
    for (unsigned a = 0; a < e->nr_apps; a++) {
        double mb = 0;
        for (unsigned r = 0; r < e->nr_regions; r++)
            if (e->rg[r].app == a)
                mb += e->rg[r].total * e->rg[r].page_mb;
        cover[a] = mb > 0 ? fmin(1, e->pol->scan_mb / mb) : 0;
    }
    for (unsigned t = 0; t < e->nr_threads; t++) {
        const struct xpv_sim_workload_spec *w = e->apps[e->th[t].app].w;
        for (unsigned sp = 0; sp < w->nr_regions; sp++) {
            unsigned ri = e->th[t].region[sp];
            const struct region *r = &e->rg[ri];
            for (unsigned n = 0; n < N; n++) {
                double mine = e->acc[((size_t)t * XPV_SIM_MAX_REGIONS + sp) * N + n];
                double all = touch[(size_t)ri * N + n], pages = r->pages[n];
                if (mine <= 0 || all <= 0 || pages <= 0)
                    continue;
                double faults = pages * cover[r->app] * (1 - exp(-all / pages)) * (mine / all);
                double c = xpv_rng_poisson(&e->rng, faults);
                if (c > 0)
                    smp[ns++] = (struct xpv_pol_sample){t, ri, n, c};
            }
        }
    }
    /* a sliced slice's faults from the spread accesses, each taken by a thread drawn in
     * proportion to its spread accesses on that node */
    for (unsigned ri = 0; ri < e->nr_regions; ri++) {
        const struct region *r = &e->rg[ri];
        for (unsigned n = 0; r->sliced && n < N; n++) {
            double agg = e->agg[(size_t)r->first * N + n], pages = r->pages[n];
            double all = touch[(size_t)ri * N + n], sum = spread[(size_t)r->first * N + n];
            if (agg <= 0 || pages <= 0 || all <= 0 || sum <= 0)
                continue;
            double theirs = sum * pages / agg;
            double faults = pages * cover[r->app] * (1 - exp(-all / pages)) * (theirs / all);
            double c = xpv_rng_poisson(&e->rng, faults);
            if (c > 0)
                smp[ns++] = (struct xpv_pol_sample){
                        pick_spreader(e, &e->apps[r->app], r->spec, n, sum), ri, n, c};
        }
    }
    free(touch);
    free(spread);
    return ns;
}

/*
 * Precise access sampling (IBS op / PEBS-like): each access of the period is a sample with
 * probability sample_rate; each sample costs the sampled thread sample_cost_ns (an NMI).
 */
static unsigned access_samples(struct engine *e, struct xpv_pol_sample *smp)
{
    unsigned N = e->N, ns = 0;
    for (unsigned t = 0; t < e->nr_threads; t++) {
        const struct xpv_sim_workload_spec *w = e->apps[e->th[t].app].w;
        double taken = 0;
        for (unsigned sp = 0; sp < w->nr_regions; sp++)
            for (unsigned n = 0; n < N; n++) {
                size_t at = ((size_t)t * XPV_SIM_MAX_REGIONS + sp) * N + n;
                double c = xpv_rng_poisson(&e->rng, e->acc[at] * e->pol->sample_rate);
                if (c > 0) {
                    smp[ns++] = (struct xpv_pol_sample){t, e->th[t].region[sp], n, c};
                    taken += c;
                }
                const struct region *r = &e->rg[e->th[t].region[sp]];
                if (!r->sliced || e->acc_spread[at] <= 0 || e->agg[(size_t)r->first * N + n] <= 0)
                    continue;
                /* a sliced spec's spread accesses: each sample names a slice holding pages
                 * on that node, drawn in proportion to them */
                c = xpv_rng_poisson(&e->rng, e->acc_spread[at] * e->pol->sample_rate);
                if (c > 0) {
                    smp[ns++] = (struct xpv_pol_sample){t, pick_slice(e, r->first, n), n, c};
                    taken += c;
                }
            }
        if (e->th[t].node >= 0)
            e->th[t].stall_ns += taken * e->pol->sample_cost_ns;
    }
    return ns;
}

static double mem_usage(const struct engine *e)
{
    double used = 0, total = 0;
    for (unsigned r = 0; r < e->nr_regions; r++)
        used += e->rg[r].total * e->rg[r].page_mb * (1 << 20);
    for (unsigned n = 0; n < e->N; n++)
        total += (double)e->m->mem_bytes[n];
    return total > 0 ? 100 * used / total : 0;
}

static int decide(struct engine *e, struct xpv_pol_actions *acts, struct xpv_error *err)
{
    unsigned N = e->N, T = e->nr_threads;
    int *tnode = malloc(T * sizeof(int));
    unsigned *tgroup = malloc(T * sizeof(unsigned)),
             *rgroup = malloc(e->nr_regions * sizeof(unsigned));
    double *rpages = malloc((size_t)e->nr_regions * N * sizeof(double));
    double *rmb = malloc(e->nr_regions * sizeof(double));
    uint64_t allowed[XPV_SIM_MAX_WORKLOADS];
    int gvm[XPV_SIM_MAX_WORKLOADS];
    unsigned gvnodes[XPV_SIM_MAX_WORKLOADS];
    unsigned *tvnode = malloc((T ? T : 1) * sizeof(unsigned));
    /* samples: per (thread, spec, node) one, and one more for a sliced spec's spread part */
    struct xpv_pol_sample *smp = malloc((size_t)T * XPV_SIM_MAX_REGIONS * N * 2 * sizeof(*smp));
    int rc = 0;
    if (!tnode || !tgroup || !rgroup || !rpages || !rmb || !smp || !tvnode) {
        rc = xpv_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    for (unsigned t = 0; t < T; t++) {
        tnode[t] = e->th[t].node;
        tgroup[t] = e->th[t].app;
        tvnode[t] = e->th[t].vnode;
    }
    for (unsigned r = 0; r < e->nr_regions; r++) {
        rgroup[r] = e->rg[r].app;
        rmb[r] = e->rg[r].page_mb;
        memcpy(&rpages[(size_t)r * N], e->rg[r].pages, N * sizeof(double));
    }
    for (unsigned a = 0; a < e->nr_apps; a++) {
        gvm[a] = e->apps[a].in_vm ? (int)e->apps[a].vm : -1;
        gvnodes[a] = e->apps[a].in_vm ? e->s->vms[e->apps[a].vm].nr_vnodes : 0;
        allowed[a] = e->apps[a].allowed;
        if (e->apps[a].in_vm && e->pol->in_guest) { /* a guest moves pages within its VM */
            const struct vm *vm = &e->vms[e->apps[a].vm];
            allowed[a] = vm->initial | xpv__sim_hv_mem_nodes(e, e->apps[a].vm);
        }
    }
    unsigned ns = 0;
    if (e->pol->scan_mb > 0)
        ns = hinting_faults(e, smp);
    else if (e->pol->sample_rate > 0)
        ns = access_samples(e, smp);
    memset(e->acc, 0, (size_t)T * XPV_SIM_MAX_REGIONS * N * sizeof(double));
    memset(e->acc_spread, 0, (size_t)T * XPV_SIM_MAX_REGIONS * N * sizeof(double));
    struct xpv_pol_view v = {
            .now_s = e->now_ns / 1e9,
            .nr_nodes = N,
            .lat_ns = e->m->lat_ns,
            .cores = e->m->cores,
            .nr_threads = T,
            .thread_node = tnode,
            .thread_group = tgroup,
            .nr_groups = e->nr_apps,
            .nr_regions = e->nr_regions,
            .region_group = rgroup,
            .region_pages = rpages,
            .region_page_mb = rmb,
            .group_allowed = allowed,
            .dram = e->period_dram,
            .period_ns = e->pol->period_s * 1e9,
            .read_ratio = e->period_reads + e->period_writes > 0
                                  ? 100 * e->period_reads / (e->period_reads + e->period_writes)
                                  : 100,
            .mem_usage = mem_usage(e),
            .node_mem = e->m->mem_bytes,
            .group_vm = gvm,
            .group_vnodes = gvnodes,
            .thread_vnode = tvnode,
    };
    xpv_pol_actions_clear(acts);
    rc = e->pol->decide(e->pol, &v, smp, ns, acts);
    memset(e->period_dram, 0, (size_t)N * N * sizeof(double));
    e->period_reads = e->period_writes = 0;
    if (rc < 0) {
        xpv_error_set(err, rc, "policy %s failed", e->pol->name);
        goto out;
    }
    /* re-placed vNodes: one hypervisor re-placement per VM, memory moved along */
    struct xpv_sim_event ev[XPV_SIM_MAX_VMS];
    bool moved[XPV_SIM_MAX_VMS] = {false};
    for (unsigned i = 0; i < acts->nr; i++) {
        const struct xpv_pol_action *a = &acts->v[i];
        if (a->kind == XPV_ACT_MOVE_VNODE) {
            if (a->group >= e->nr_apps || !e->apps[a->group].in_vm || a->node >= N)
                continue; /* a policy bug must not corrupt the platform */
            unsigned vm = e->apps[a->group].vm;
            if (a->vnode >= e->s->vms[vm].nr_vnodes)
                continue;
            if (!moved[vm]) {
                ev[vm] = (struct xpv_sim_event){
                        .at_s = e->now_ns / 1e9, .vm = vm, .move_memory = true};
                for (unsigned k = 0; k < e->s->vms[vm].nr_vnodes; k++)
                    ev[vm].to[k] = e->vms[vm].run[k];
                moved[vm] = true;
            }
            ev[vm].to[a->vnode] = a->node;
        } else if (a->kind == XPV_ACT_MOVE_THREAD) {
            if (a->thread >= T || a->node >= N || e->th[a->thread].node < 0)
                continue; /* a policy bug must not corrupt the platform */
            e->on_node[e->th[a->thread].node]--;
            e->th[a->thread].node = (int)a->node;
            e->on_node[a->node]++;
            e->apps[e->th[a->thread].app].thread_moves++;
        } else if (a->region < e->nr_regions && a->from < N && a->to < N && a->from != a->to &&
                   a->pages > 0 && (allowed[e->rg[a->region].app] >> a->to & 1)) {
            if ((rc = xpv__sim_push_migration(
                         e, (struct migration){a->region, a->from, a->to, a->pages})) < 0) {
                xpv_error_set(err, rc, "out of memory");
                goto out;
            }
        }
    }
    for (unsigned vm = 0; vm < XPV_SIM_MAX_VMS; vm++)
        if (moved[vm] && (rc = xpv__sim_apply_event(e, &ev[vm], err)) < 0)
            goto out;
out:
    free(tvnode);
    free(tnode);
    free(tgroup);
    free(rgroup);
    free(rpages);
    free(rmb);
    free(smp);
    return rc;
}

/* Step 3: progress and statistics for one epoch of dt_ns. */
static void advance(struct engine *e, double dt_ns, struct xpv_sim_result *out)
{
    unsigned N = e->N;
    /* the period's sums in registers (the same additions in the same order) */
    double reads = e->period_reads, writes = e->period_writes;
    for (unsigned t = 0; t < e->nr_threads; t++) {
        struct thread *th = &e->th[t];
        if (th->node < 0)
            continue;
        struct app *a = &e->apps[th->app];
        const struct xpv_sim_workload_spec *w = a->w;
        const struct xpv_sim_phase_spec *ph = &w->phases[th->phase];
        double avail = dt_ns;
        if (th->stall_ns > 0) { /* overheads take the thread's time first */
            double st = fmin(th->stall_ns, dt_ns);
            th->stall_ns -= st;
            avail -= st;
        }
        double left = ph->work - th->done, n_acc = th->rate * avail, used_ns = dt_ns;
        if (n_acc >= left) {
            n_acc = left;
            used_ns = dt_ns - avail + left / th->rate;
        }
        const double *p = &e->p[(size_t)t * N];
        const uint8_t *nz = &e->nz[(size_t)t * N];
        unsigned nn = e->nz_count[t];
        double bytes = n_acc * XPV_SIM_LINE * (1 + ph->write_frac);
        double *restrict traffic = &out->traffic[(unsigned)th->node * N];
        double *restrict mc = out->mc_bytes;
        for (unsigned i = 0; i < nn; i++) { /* the nodes it reaches: p's zeros add +0 */
            unsigned n = nz[i];
            traffic[n] += p[n] * bytes;
            mc[n] += p[n] * bytes;
        }
        if (e->pol->period_s > 0) { /* the period's traffic, for decide() only */
            double *restrict dram = &e->period_dram[(unsigned)th->node * N];
            for (unsigned i = 0; i < nn; i++)
                dram[nz[i]] += p[nz[i]] * n_acc;
        }
        reads += n_acc * (1 - ph->write_frac);
        writes += n_acc * ph->write_frac;
        a->accesses += n_acc;
        a->local += n_acc * p[th->node];
        a->lat_sum += n_acc * th->lat;
        if (e->pol->period_s > 0)
            for (unsigned sp = 0; sp < w->nr_regions; sp++) {
                const struct region *r = &e->rg[th->region[sp]];
                if (ph->weight[sp] <= 0 || r->total <= 0)
                    continue;
                double own = own_share(e, r), k = n_acc * ph->weight[sp] * own / r->total;
                size_t at = ((size_t)t * XPV_SIM_MAX_REGIONS + sp) * N;
                const uint8_t *rnz = &e->rnz[(size_t)th->region[sp] * N];
                for (unsigned i = 0, rn = e->rnz_count[th->region[sp]]; i < rn; i++)
                    e->acc[at + rnz[i]] += k * r->pages[rnz[i]];
                if (own < 1) {
                    const double *agg = &e->agg[(size_t)r->first * N];
                    double ks = n_acc * ph->weight[sp] * (1 - own) / (r->total * r->count);
                    for (unsigned n = 0; n < N; n++)
                        e->acc_spread[at + n] += ks * agg[n];
                }
            }
        th->done += n_acc;
        if (th->done >= ph->work * (1 - 1e-12)) {
            e->dist_stale = true;
            th->phase++;
            th->done = 0;
            if (th->phase == w->nr_phases) {
                th->finish_s = (e->now_ns + used_ns) / 1e9;
                e->on_node[th->node]--;
                th->node = -1;
                th->phase = w->nr_phases - 1;
            }
        }
    }
    e->period_reads = reads;
    e->period_writes = writes;
}

static double progress_of(const struct engine *e)
{
    double done = 0, total = 0;
    for (unsigned t = 0; t < e->nr_threads; t++) {
        const struct thread *th = &e->th[t];
        const struct xpv_sim_workload_spec *w = e->apps[th->app].w;
        for (unsigned ph = 0; ph < w->nr_phases; ph++) {
            total += w->phases[ph].work;
            if (th->node < 0 && e->apps[th->app].started)
                done += w->phases[ph].work;
            else if (ph < th->phase)
                done += w->phases[ph].work;
            else if (ph == th->phase)
                done += th->done;
        }
    }
    return total > 0 ? done / total : 1;
}

/*
 * Memory churn: each epoch a share 1 - exp(-churn dt) of every turned-over region (its spec's
 * churn_per_s; loaded-once regions never churn) is freed and allocated again, landing where
 * the policy puts new allocations now. Under hypervisor first-touch each re-allocated page
 * re-backed costs the allocating thread a fault (hv_fault_us, within its budget:
 * alloc_into). A guest whose frames nothing re-backs or re-chooses by node (xen-default: one
 * guest node; kvm-numa-balancing: the host moves frames, the guest does not see it) reuses
 * the frames it freed: nothing changes place.
 */
static void churn(struct engine *e, double dt_ns)
{
    unsigned N = e->N;
    if (!e->churns) /* no region is turned over: the loop below would skip them all */
        return;
    for (unsigned ri = 0; ri < e->nr_regions; ri++) {
        struct region *r = &e->rg[ri];
        const struct app *a = &e->apps[r->app];
        const struct xpv_sim_region_spec *rs = &a->w->regions[r->spec];
        if (!a->started || rs->lifetime != XPV_SIM_TURNOVER || rs->churn_per_s <= 0)
            continue;
        if (a->in_vm &&
            (e->pol->vm_mode == XPV_VM_XEN_DEFAULT || e->pol->vm_mode == XPV_VM_HOST_BALANCING))
            continue;
        double f = -expm1(-rs->churn_per_s * dt_ns / 1e9), freed = 0;
        e->dist_stale = true;
        for (unsigned n = 0; n < N; n++) {
            freed += r->pages[n] * f;
            r->pages[n] -= r->pages[n] * f;
        }
        unsigned who = allocate(e, ri, freed, NULL, true);
        if (!who) { /* nobody left to allocate: put the pages back */
            for (unsigned n = 0; n < N; n++)
                r->pages[n] /= (1 - f);
            continue;
        }
    }
}

/* Hypervisor first-touch: every running vCPU earns hv_fault_budget of the epoch as fault
 * time, up to a second's worth. */
static void fault_budget(struct engine *e, double dt_ns)
{
    double share = e->s->hv_fault_budget, depth = share * 1e9;
    for (unsigned t = 0; t < e->nr_threads; t++) {
        struct thread *th = &e->th[t];
        if (th->node >= 0 && e->apps[th->app].in_vm)
            th->ft_budget_ns = fmin(depth, th->ft_budget_ns + share * dt_ns);
    }
}

int xpv_sim_run(const struct xpv_sim_scenario *s, const char *policy, struct xpv_sim_result *out,
                xpv_sim_progress progress, void *arg, struct xpv_error *err)
{
    struct engine e;
    memset(&e, 0, sizeof(e));
    memset(out, 0, sizeof(*out));
    if (!(s->epoch_ms > 0) || !(s->max_seconds * 1e3 / s->epoch_ms <= XPV_SIM_MAX_EPOCHS))
        return xpv_error_set(err, -EINVAL, "max_seconds %g at epoch_ms %g: more than %.0f epochs",
                             s->max_seconds, s->epoch_ms, XPV_SIM_MAX_EPOCHS);
    snprintf(out->policy, sizeof(out->policy), "%s", policy);
    bool vms = false; /* VM policies for VMs, native ones for native applications */
    for (unsigned i = 0; i < s->nr_workloads; i++)
        vms |= s->workloads[i].in_vm;
    int rc = xpv_policy_check(policy, vms, err);
    if (rc < 0)
        return rc;
    if ((rc = xpv_policy_new(policy, &e.pol, err)) < 0)
        return rc;
    struct xpv_pol_actions acts = {0};
    if ((rc = setup(&e, s, err)) < 0)
        goto out;
    out->nr_nodes = e.N;
    out->nr_apps = e.nr_apps;
    double dt = s->epoch_ms * 1e6, limit = s->max_seconds * 1e9;
    double next_decision = e.pol->period_s > 0 ? e.pol->period_s * 1e9 : INFINITY;
    double next_report = 0;
    double next_balance = s->balance_s > 0 ? s->balance_s * 1e9 : INFINITY;
    unsigned running;
    do {
        for (unsigned a = 0; a < e.nr_apps; a++)
            if (!e.apps[a].started && e.apps[a].w->start_s * 1e9 <= e.now_ns) {
                start_app(&e, &e.apps[a]);
                e.dist_stale = true;
            }
        while (e.next_event < s->nr_events && s->events[e.next_event].at_s * 1e9 <= e.now_ns) {
            e.dist_stale = true;
            if ((rc = xpv__sim_apply_event(&e, &s->events[e.next_event++], err)) < 0)
                goto out;
        }
        if (e.now_ns >= next_balance) { /* unless the policy places the VMs itself */
            if (!e.pol->places_vms && (rc = xpv__sim_balance(&e, err)) < 0)
                goto out;
            e.dist_stale = true;
            next_balance += s->balance_s * 1e9;
        }
        if (s->nr_vms && (rc = xpv__sim_hv_vcpu_sched(&e, dt, err)) < 0)
            goto out;
        if (e.pol->vm_mode == XPV_VM_HV_FIRST_TOUCH)
            fault_budget(&e, dt);
        if ((rc = xpv__sim_guest_epoch(&e, dt, err)) < 0)
            goto out;
        churn(&e, dt);
        migrate(&e, dt, out);
        distributions(&e);
        solve(&e);
        advance(&e, dt, out);
        e.now_ns += dt;
        out->epochs++;
        if (e.now_ns >= next_decision) {
            if ((rc = decide(&e, &acts, err)) < 0)
                goto out;
            e.dist_stale = true; /* threads or vNodes moved */
            next_decision += e.pol->period_s * 1e9;
        }
        running = 0;
        for (unsigned a = 0; a < e.nr_apps; a++) {
            struct app *ap = &e.apps[a];
            bool live = !ap->started;
            for (unsigned i = 0; i < ap->nr_threads && !live; i++)
                live = e.th[ap->first_thread + i].node >= 0;
            running += live;
        }
        if (progress && e.now_ns >= next_report) {
            double f = fmax(progress_of(&e), e.now_ns / limit);
            progress(arg, f > 1 ? 1 : f);
            next_report = e.now_ns + limit / 200;
        }
    } while (running && e.now_ns < limit);
    out->sim_seconds = e.now_ns / 1e9;
    out->solver_iterations = e.iterations;
    for (unsigned a = 0; a < e.nr_apps; a++) {
        struct app *ap = &e.apps[a];
        struct xpv_sim_app_result *r = &out->apps[a];
        snprintf(r->name, sizeof(r->name), "%s", ap->w->name);
        if (ap->in_vm)
            snprintf(r->vm, sizeof(r->vm), "%s", s->vms[ap->vm].name);
        r->finished = ap->started;
        double end = 0;
        for (unsigned i = 0; i < ap->nr_threads; i++) {
            const struct thread *th = &e.th[ap->first_thread + i];
            if (th->node >= 0 || !ap->started)
                r->finished = false;
            end = fmax(end, th->node >= 0 ? out->sim_seconds : th->finish_s);
        }
        r->completion_s = ap->started ? end - ap->w->start_s : 0;
        r->local_ratio = ap->accesses > 0 ? ap->local / ap->accesses : 0;
        r->avg_latency_ns = ap->accesses > 0 ? ap->lat_sum / ap->accesses : 0;
        r->migrated_mb = ap->migrated_mb;
        r->thread_moves = ap->thread_moves;
        r->vcpu_moves = ap->hv_vcpu_moves;
        r->accesses = ap->accesses;
    }
    double mean = 0, var = 0;
    for (unsigned n = 0; n < e.N; n++)
        mean += out->mc_bytes[n] / e.N;
    for (unsigned n = 0; n < e.N; n++)
        var += (out->mc_bytes[n] - mean) * (out->mc_bytes[n] - mean) / e.N;
    out->mc_imbalance = mean > 0 ? sqrt(var) / mean : 0;
    xpv__sim_guest_results(&e, out);
    if (progress)
        progress(arg, 1);
out:
    xpv_pol_actions_free(&acts);
    teardown(&e);
    xpv_policy_free(e.pol);
    return rc;
}
