/*
 * hv.c — the hypervisor side of the simulator's VM model (docs/sim.md, "Guest memory as
 * frames", "Per-vCPU placement", "XPV's fallback").
 *
 * Guest memory is frames backed on host nodes, independent of vNodes: vm->frames[k][n] is the
 * share of vNode k's frames the hypervisor backs on host node n. A static vNUMA guest
 * allocates from the free list of the vNode it believes its vCPU is in, so its new pages land
 * over that vNode's frames wherever they are backed; an XPV guest keeps free memory per
 * physical node (the record lists it) and allocates by the record's rule
 * (xpv_effective_spread). The hypervisor re-backs frames — a vNode's memory migrated along
 * its vCPUs, part of a vNode re-backed elsewhere (migration, ballooning), all of a VM's
 * memory on one node, or a preallocation that ignores vNodes — without telling a static
 * guest: its belief stays, its memory's real place moves.
 *
 * Pages are not labelled by vNode: re-backing share f of vNode k's frames on node n moves
 * that share of the VM's pages on n that vNode k holds there, counted as k's share of the
 * frames on n (exact when one vNode is backed on n, as in every scenario before frames).
 *
 * Per-vCPU placement: a credit-like scheduler moves single vCPUs, each at
 * vcpu_moves_per_s, to the least loaded other node of the VM's soft affinity (ties at
 * random, the scenario's seed); consolidation packs a VM's vCPUs onto fewer nodes. Moves of
 * vCPUs under XPV republish the record (one per VM and epoch).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim_engine.h"
#include "xpv/effective.h"
#include "xpv/placement.h"
#include "xpv/rng.h"

/* The node holding all of row w[N], or -1 when it is split. */
static int one_node(const double *w, unsigned N)
{
    int one = -1;
    for (unsigned n = 0; n < N; n++)
        if (w[n] > 0) {
            if (one >= 0)
                return -1;
            one = (int)n;
        }
    return one;
}

int xpv__sim_hv_setup(struct engine *e, struct xpv_error *err)
{
    unsigned N = e->N;
    for (unsigned v = 0; v < e->s->nr_vms; v++) {
        const struct xpv_sim_vm_spec *vs = &e->s->vms[v];
        struct vm *vm = &e->vms[v];
        memset(vm->frames, 0, sizeof(vm->frames));
        uint64_t mem = 0;
        for (unsigned k = 0; k < vs->nr_vnodes; k++) {
            unsigned n = vs->has_memory_node ? vs->memory_node[k] : vs->host_node[k];
            if (n >= N)
                return xpv_error_set(err, -EINVAL, "VM %s: memory node %u of %u", vs->name, n, N);
            vm->frames[k][n] = 1;
            vm->frames_one[k] = (int)n;
            mem |= UINT64_C(1) << n;
        }
        if (vs->has_memory_node) /* Xen's default populates where the memory is */
            vm->initial = mem;
        if (vs->soft_affinity && (N < 64 && vs->soft_affinity >> N))
            return xpv_error_set(err, -EINVAL, "VM %s: soft affinity beyond node %u", vs->name,
                                 N - 1);
    }
    e->hv_xpv_w = calloc((size_t)(e->nr_threads ? e->nr_threads : 1) * N, sizeof(double));
    e->hv_xpv_one = calloc(e->nr_threads ? e->nr_threads : 1, sizeof(int));
    if (!e->hv_xpv_w || !e->hv_xpv_one)
        return xpv_error_set(err, -ENOMEM, "out of memory for %u threads", e->nr_threads);
    return 0;
}

void xpv__sim_hv_teardown(struct engine *e)
{
    free(e->hv_xpv_w);
    free(e->hv_xpv_one);
    e->hv_xpv_w = NULL;
    e->hv_xpv_one = NULL;
}

uint64_t xpv__sim_hv_mem_nodes(const struct engine *e, unsigned v)
{
    uint64_t m = 0;
    for (unsigned k = 0; k < e->s->vms[v].nr_vnodes; k++)
        for (unsigned n = 0; n < e->N; n++)
            if (e->vms[v].frames[k][n] > 0)
                m |= UINT64_C(1) << n;
    return m;
}

unsigned xpv__sim_hv_home(const struct vm *vm, unsigned N, unsigned k)
{
    unsigned best = 0;
    for (unsigned n = 1; n < N; n++)
        if (vm->frames[k][n] > vm->frames[k][best])
            best = n;
    return best;
}

unsigned xpv__sim_vm_app(const struct engine *e, unsigned v)
{
    for (unsigned a = 0; a < e->nr_apps; a++)
        if (e->apps[a].in_vm && e->apps[a].vm == v && e->apps[a].started)
            return a;
    return XPV_SIM_MAX_WORKLOADS;
}

void xpv__sim_hv_alloc(struct engine *e, struct region *r, unsigned t, double pages)
{
    const struct app *a = &e->apps[r->app];
    const struct thread *th = &e->th[t];
    const struct vm *vm = &e->vms[a->vm];
    unsigned N = e->N;
    unsigned vn = e->pol->vm_mode == XPV_VM_HOTPLUG ? th->seen_vnode : th->vnode;
    const double *xw = th->effective >= 0 ? &e->hv_xpv_w[(size_t)t * N] : NULL, *w = NULL;
    enum xpv_vm_mode mode = e->pol->vm_mode;
    if (mode == XPV_VM_HV_FIRST_TOUCH && e->s->vms[a->vm].has_memory_node)
        mode = XPV_VM_VNUMA; /* preallocated: its frames are backed already, a first touch
                              * faults nothing (re-allocations are re-backed: engine.c) */
    int node = xpv_vm_alloc_shares(mode, vm->frames[vn], vm->frames_one[vn], (unsigned)th->node,
                                   th->effective, xw, xw ? e->hv_xpv_one[t] : -1, &w);
    if (node >= 0) { /* one node: O(1), as churn calls this per region and epoch */
        r->pages[node] += pages;
    } else if (node == -2) {
        for (unsigned n = 0; n < N; n++)
            r->pages[n] += pages * w[n];
    } else {
        unsigned k = (unsigned)__builtin_popcountll(vm->initial);
        for (unsigned n = 0; n < N; n++)
            if (vm->initial >> n & 1)
                r->pages[n] += pages / k;
    }
}

/* XPV's allocation rule for every vCPU of app, from the snapshot its guest just read
 * (vm.c's publication): xpv_effective_spread over the record's nodes, by host node. */
void xpv__sim_hv_read_spread(struct engine *e, unsigned app, const struct xpv_snapshot *snap)
{
    const struct xpv_record_view *view = xpv_snapshot_view(snap);
    const struct app *ap = &e->apps[app];
    struct xpv_effective_src src;
    xpv_effective_src_record(view, &src);
    double w[XPV_SIM_MAX_NODES];
    unsigned N = e->N;
    for (unsigned i = 0; i < ap->nr_threads; i++) {
        double *out = &e->hv_xpv_w[(size_t)(ap->first_thread + i) * N];
        memset(out, 0, N * sizeof(double));
        if (view->nr_pnodes > XPV_SIM_MAX_NODES || i >= view->nr_cpus ||
            xpv_effective_spread(&src, xpv_record_cpu_pnode(view, i), w) < 0) {
            int eff = e->th[ap->first_thread + i].effective;
            if (eff >= 0 && (unsigned)eff < N)
                out[eff] = 1;
        } else {
            for (unsigned j = 0; j < view->nr_pnodes; j++) {
                uint32_t id = xpv_record_pnode_id(view, j);
                if (id < N)
                    out[id] += w[j];
            }
        }
        e->hv_xpv_one[ap->first_thread + i] = one_node(out, N);
    }
}

int xpv__sim_hv_reback(struct engine *e, unsigned v, unsigned k, unsigned to, double f,
                       struct xpv_error *err)
{
    struct vm *vm = &e->vms[v];
    unsigned N = e->N, nv = e->s->vms[v].nr_vnodes, app = xpv__sim_vm_app(e, v);
    if (!(f > 0) || k >= nv || to >= N)
        return 0;
    f = fmin(f, 1);
    for (unsigned n = 0; n < N; n++) {
        if (n == to || !(vm->frames[k][n] > 0))
            continue;
        double moved = vm->frames[k][n] * f, held = 0;
        for (unsigned j = 0; j < nv; j++)
            held += vm->frames[j][n];
        double share = moved / held; /* of the VM's pages on n: vNode k's, re-backed */
        vm->frames[k][n] -= moved;
        vm->frames[k][to] += moved;
        if (vm->frames[k][n] < 1e-12) {
            vm->frames[k][to] += vm->frames[k][n];
            vm->frames[k][n] = 0;
        }
        for (unsigned r = 0; app < XPV_SIM_MAX_WORKLOADS && r < e->nr_regions; r++)
            if (e->rg[r].app == app && e->rg[r].pages[n] > 0) {
                int rc = xpv__sim_push_migration(
                        e, (struct migration){r, n, to, e->rg[r].pages[n] * share});
                if (rc < 0)
                    return xpv_error_set(err, rc, "out of memory");
            }
    }
    vm->frames_one[k] = one_node(vm->frames[k], N);
    e->dist_stale = true;
    return 0;
}

void xpv__sim_hv_move_vcpu(struct engine *e, unsigned t, unsigned to)
{
    struct thread *th = &e->th[t];
    if (th->node < 0 || (unsigned)th->node == to)
        return;
    e->on_node[th->node]--;
    th->node = (int)to;
    e->on_node[to]++;
    e->dist_stale = true;
    if (e->pol->vm_mode == XPV_VM_HOTPLUG) {
        /* unplugged, and plugged again into the vNode backed where it now runs */
        const struct app *a = &e->apps[th->app];
        const struct vm *vm = &e->vms[a->vm];
        for (unsigned k = 0; k < e->s->vms[a->vm].nr_vnodes; k++)
            if (xpv__sim_hv_home(vm, e->N, k) == to && k != th->seen_vnode) {
                th->seen_vnode = k;
                th->stall_ns += e->s->hotplug_ms * 1e6;
                break;
            }
    }
}

/* The re-backings and consolidation (xpv__sim_apply_event hands them here). */
int xpv__sim_hv_event(struct engine *e, const struct xpv_sim_event *ev, struct xpv_error *err)
{
    struct vm *vm = &e->vms[ev->vm];
    const struct xpv_sim_vm_spec *vs = &e->s->vms[ev->vm];
    double f = ev->memory_frac > 0 ? ev->memory_frac : 1;
    int rc = 0;
    switch (ev->kind) {
    case XPV_SIM_EV_REBACK:
        rc = xpv__sim_hv_reback(e, ev->vm, ev->vnode, ev->node, f, err);
        break;
    case XPV_SIM_EV_FUNNEL:
        for (unsigned k = 0; k < vs->nr_vnodes && rc == 0; k++)
            rc = xpv__sim_hv_reback(e, ev->vm, k, ev->node, 1, err);
        break;
    case XPV_SIM_EV_CONSOLIDATE: {
        unsigned nodes[XPV_SIM_MAX_NODES], m = 0;
        for (unsigned n = 0; n < e->N; n++)
            if (ev->nodes >> n & 1)
                nodes[m++] = n;
        if (!m)
            return 0;
        for (unsigned k = 0; k < vs->nr_vnodes; k++) {
            int pos = xpv_place_vnode(ev->nodes, (int)k);
            vm->run[k] = pos >= 0 ? (unsigned)pos : vm->run[k];
        }
        unsigned app = xpv__sim_vm_app(e, ev->vm);
        if (app < XPV_SIM_MAX_WORKLOADS) {
            const struct app *ap = &e->apps[app];
            for (unsigned i = 0; i < ap->nr_threads; i++)
                xpv__sim_hv_move_vcpu(e, ap->first_thread + i, nodes[i % m]);
        }
        for (unsigned k = 0; k < vs->nr_vnodes && ev->move_memory && rc == 0; k++)
            rc = xpv__sim_hv_reback(e, ev->vm, k, vm->run[k], f, err);
        break;
    }
    case XPV_SIM_EV_MOVE:
    default:
        return 0;
    }
    if (rc == 0 && xpv__sim_vm_app(e, ev->vm) < XPV_SIM_MAX_WORKLOADS &&
        (e->pol->vm_mode == XPV_VM_XPV || e->pol->vm_mode == XPV_VM_XPV_MIGRATE))
        xpv__sim_publish_vm(e, ev->vm, true);
    e->dist_stale = true;
    return rc;
}

int xpv__sim_hv_vcpu_sched(struct engine *e, double dt_ns, struct xpv_error *err)
{
    (void)err;
    if (e->pol->vm_mode == XPV_VM_PINNED)
        return 0;
    for (unsigned v = 0; v < e->s->nr_vms; v++) {
        const struct xpv_sim_vm_spec *vs = &e->s->vms[v];
        if (!(vs->vcpu_moves_per_s > 0))
            continue;
        unsigned app = xpv__sim_vm_app(e, v);
        if (app == XPV_SIM_MAX_WORKLOADS)
            continue;
        uint64_t aff = vs->soft_affinity; /* default: the nodes its vNodes run on */
        for (unsigned k = 0; k < vs->nr_vnodes && !vs->soft_affinity; k++)
            aff |= UINT64_C(1) << e->vms[v].run[k];
        double p = -expm1(-vs->vcpu_moves_per_s * dt_ns / 1e9);
        struct app *ap = &e->apps[app];
        bool moved = false;
        for (unsigned i = 0; i < ap->nr_threads; i++) {
            unsigned t = ap->first_thread + i;
            if (e->th[t].node < 0 || xpv_rng_uniform(&e->rng) >= p)
                continue;
            /* credit-like: the least loaded other node of the soft affinity (load per core,
             * this vCPU counted there), ties at random */
            unsigned best[XPV_SIM_MAX_NODES], nb = 0;
            double bl = INFINITY;
            for (unsigned n = 0; n < e->N; n++) {
                if (!(aff >> n & 1) || n == (unsigned)e->th[t].node)
                    continue;
                double l = (e->on_node[n] + 1.0) / (e->m->cores[n] ? e->m->cores[n] : 1);
                if (l < bl - 1e-12) {
                    bl = l;
                    nb = 0;
                }
                if (l < bl + 1e-12)
                    best[nb++] = n;
            }
            if (!nb)
                continue;
            unsigned pick = nb > 1 ? (unsigned)(xpv_rng_uniform(&e->rng) * nb) : 0;
            xpv__sim_hv_move_vcpu(e, t, best[pick < nb ? pick : nb - 1]);
            ap->hv_vcpu_moves++;
            moved = true;
        }
        if (moved && (e->pol->vm_mode == XPV_VM_XPV || e->pol->vm_mode == XPV_VM_XPV_MIGRATE))
            xpv__sim_publish_vm(e, v, true);
    }
    return 0;
}
