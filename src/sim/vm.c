/*
 * vm.c — the VM layer of the simulator: the hypervisor's re-placements of a VM (scripted
 * events, the load balancer, or the `hostd` policy's vNode moves: vCPUs moved, memory
 * optionally migrated along) and what the guest learns of them under XPV (a topology record
 * built by the host daemon's builder, published with the channel's own publisher, read back
 * through libxpv). Where guest memory then lands is the policy core's xpv_vm_alloc_shares()
 * over the VM's frames (hv.c: frames, re-backings, per-vCPU placement).
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "sim_engine.h"
#include "xpv/record_build.h"

/* The balancer's placements carry a VM's vNodes. */
_Static_assert(XPV_BALANCE_MAX_VNODES >= XPV_SIM_MAX_VNODES, "vNode limits of policy.h and sim.h");

int xpv_sim_vm_record(const struct xpv_topo *host, const struct xpv_sim_vm_state *st,
                      struct xpv_record_desc *desc, struct xpv_error *err)
{
    unsigned nh = host->nr_nodes, nv = st->nr_vnodes;
    if (nv > XPV_SIM_MAX_VNODES || st->nr_vcpus > XPV_SIM_MAX_THREADS || nh > XPV_SIM_MAX_NODES)
        return xpv_error_set(
                err, -EINVAL, "VM of %u vNodes, %u vCPUs on %u nodes (at most %d, %d, %d)", nv,
                st->nr_vcpus, nh, XPV_SIM_MAX_VNODES, XPV_SIM_MAX_THREADS, XPV_SIM_MAX_NODES);
    uint64_t mem[XPV_SIM_MAX_VNODES * XPV_SIM_MAX_NODES] = {0};
    int vnode[XPV_SIM_MAX_THREADS];
    for (unsigned k = 0; k < nv; k++) {
        if (st->frames) { /* frames per host node (hv.c) */
            for (unsigned n = 0; n < nh; n++)
                mem[(size_t)k * nh + n] += (uint64_t)llround(
                        st->frames[(size_t)k * XPV_SIM_MAX_NODES + n] * (double)st->vnode_bytes);
            continue;
        }
        if (st->back[k] >= nh)
            return xpv_error_set(err, -EINVAL, "vNode %u backed on node %u of %u", k, st->back[k],
                                 nh);
        mem[(size_t)k * nh + st->back[k]] += st->vnode_bytes;
    }
    for (unsigned c = 0; c < st->nr_vcpus; c++)
        vnode[c] = (int)st->vcpu_vnode[c];
    struct xpv_vm_record_in in = {.host = host,
                                  .nr_vnodes = nv,
                                  .nr_vcpus = st->nr_vcpus,
                                  .vcpu_vnode = vnode,
                                  .vcpu_node = st->vcpu_node,
                                  .vnode_mem = mem};
    return xpv_record_desc_from_vm(&in, desc, err);
}

/*
 * Publish VM vm's topology record (xpv_sim_vm_record: the host daemon's builder) with the
 * channel's own publisher, into the record memory the guest maps (as over ivshmem), and let the
 * guest read it back through libxpv: every vCPU's effective node comes from a validated
 * snapshot (xpv_snapshot_effective_node, the one effective-node rule), as it would in a real
 * guest. charge: the guest pays xpv_update_us per vCPU (interrupt, snapshot, re-binding its
 * arenas).
 */
void xpv__sim_publish_vm(struct engine *e, unsigned v, bool charge)
{
    struct vm *vm = &e->vms[v];
    const struct xpv_sim_vm_spec *vs = &e->s->vms[v];
    unsigned app = 0;
    for (unsigned a = 0; a < e->nr_apps; a++)
        if (e->apps[a].in_vm && e->apps[a].vm == v)
            app = a;
    const struct app *ap = &e->apps[app];
    int node[XPV_SIM_MAX_THREADS];
    unsigned vnode[XPV_SIM_MAX_THREADS], ncpu = 0;
    double bytes = 0; /* the VM's memory: its workload's regions */
    for (unsigned r = 0; r < e->nr_regions; r++)
        if (e->rg[r].app == app)
            bytes += e->rg[r].total * e->rg[r].page_mb * (1 << 20);
    for (unsigned i = 0; i < ap->nr_threads && i < XPV_SIM_MAX_THREADS; i++, ncpu++) {
        const struct thread *th = &e->th[ap->first_thread + i];
        node[i] = th->node;
        vnode[i] = th->vnode;
    }
    struct xpv_sim_vm_state st = {
            .nr_vnodes = vs->nr_vnodes,
            .frames = &vm->frames[0][0],
            .vnode_bytes = bytes / vs->nr_vnodes >= 1 ? (uint64_t)(bytes / vs->nr_vnodes) : 1,
            .nr_vcpus = ncpu,
            .vcpu_node = node,
            .vcpu_vnode = vnode};
    struct xpv_record_desc d;
    struct xpv_snapshot *snap = NULL;
    int rc = xpv_sim_vm_record(e->host, &st, &d, NULL);
    if (rc == 0) {
        rc = xpv_publisher_publish(vm->pub, &d, NULL, NULL);
        xpv_record_desc_free(&d);
    }
    if (rc < 0 || xpv_channel_snapshot(vm->ch, &snap, NULL) < 0) {
        xpv_snapshot_put(snap);
        return; /* cannot happen with a valid state; the guest keeps what it knew */
    }
    for (unsigned i = 0; i < ap->nr_threads; i++) {
        struct thread *th = &e->th[ap->first_thread + i];
        th->effective = xpv_snapshot_effective_node(snap, i);
        if (charge && th->node >= 0)
            th->stall_ns += e->s->xpv_update_us * 1e3;
    }
    xpv__sim_hv_read_spread(e, app, snap); /* where its allocations go (hv.c) */
    xpv_snapshot_put(snap);
}

int xpv__sim_apply_event(struct engine *e, const struct xpv_sim_event *ev, struct xpv_error *err)
{
    enum xpv_vm_mode mode = e->pol->vm_mode;
    if (mode == XPV_VM_PINNED || ev->vm >= e->s->nr_vms)
        return 0; /* pinned VMs stay where they are */
    if (ev->kind != XPV_SIM_EV_MOVE)
        return xpv__sim_hv_event(e, ev, err); /* re-backings, consolidation */
    struct vm *vm = &e->vms[ev->vm];
    const struct xpv_sim_vm_spec *vs = &e->s->vms[ev->vm];
    unsigned app = XPV_SIM_MAX_WORKLOADS;
    for (unsigned a = 0; a < e->nr_apps; a++) {
        const struct app *ap = &e->apps[a];
        bool live = false;
        for (unsigned i = 0; i < ap->nr_threads && !live; i++)
            live = e->th[ap->first_thread + i].node >= 0;
        if (ap->in_vm && ap->vm == ev->vm && ap->started && live)
            app = a;
    }
    /* the vCPUs of the vNodes it re-places move; the others stay where they run (under
     * kvm-numa-balancing the host's NUMA balancing may have moved some vCPU threads alone) */
    bool changed[XPV_SIM_MAX_VNODES] = {false};
    for (unsigned k = 0; k < vs->nr_vnodes; k++) {
        unsigned to = ev->to[k] < e->N ? ev->to[k] : vm->run[k];
        changed[k] = to != vm->run[k];
        vm->run[k] = to;
    }
    if (app == XPV_SIM_MAX_WORKLOADS)
        return 0; /* not running yet: it will start where it now is */
    const struct app *ap = &e->apps[app];
    for (unsigned i = 0; i < ap->nr_threads; i++) {
        struct thread *th = &e->th[ap->first_thread + i];
        if (th->node < 0 || !changed[th->vnode] || (unsigned)th->node == vm->run[th->vnode])
            continue;
        e->on_node[th->node]--;
        th->node = (int)vm->run[th->vnode];
        e->on_node[th->node]++;
        if (mode == XPV_VM_HOTPLUG) {
            /* unplugged, and plugged again into the vNode backed where it now runs: the
             * unmodified guest learns the move through hotplug, at hotplug_ms of its time */
            for (unsigned k = 0; k < vs->nr_vnodes; k++)
                if (xpv__sim_hv_home(vm, e->N, k) == (unsigned)th->node && k != th->seen_vnode) {
                    th->seen_vnode = k;
                    th->stall_ns += e->s->hotplug_ms * 1e6;
                    break;
                }
        }
    }
    if (ev->move_memory) {
        /* the hypervisor re-backs each vNode's frames (memory_frac of them) where its vCPUs
         * now run, the pages migrated along (hv.c) */
        double f = ev->memory_frac > 0 ? ev->memory_frac : 1;
        for (unsigned k = 0; k < vs->nr_vnodes; k++) {
            int rc = xpv__sim_hv_reback(e, ev->vm, k, vm->run[k], f, err);
            if (rc < 0)
                return rc;
        }
    }
    if (mode == XPV_VM_XPV || mode == XPV_VM_XPV_MIGRATE)
        xpv__sim_publish_vm(e, ev->vm, true);
    if (mode == XPV_VM_XPV_MIGRATE) {
        /* the guest moves each thread's private pages to its effective node; not when its
         * node holds none of the VM's memory and its allocations are spread (hv.c): the
         * pages are on nodes holding memory already, and moving them all to the nearest
         * would funnel them onto one controller */
        for (unsigned i = 0; i < ap->nr_threads; i++) {
            const struct thread *th = &e->th[ap->first_thread + i];
            if (th->node < 0 || th->effective < 0 || e->hv_xpv_one[ap->first_thread + i] < 0)
                continue;
            for (unsigned sp = 0; sp < ap->w->nr_regions; sp++) {
                if (ap->w->regions[sp].kind != XPV_SIM_PRIVATE)
                    continue;
                const struct region *r = &e->rg[th->region[sp]];
                for (unsigned n = 0; n < e->N; n++)
                    if (n != (unsigned)th->effective && r->pages[n] > 0) {
                        int rc = xpv__sim_push_migration(
                                e, (struct migration){th->region[sp], n, (unsigned)th->effective,
                                                      r->pages[n]});
                        if (rc < 0)
                            return xpv_error_set(err, rc, "out of memory");
                    }
            }
        }
    }
    return 0;
}

int xpv__sim_balance(struct engine *e, struct xpv_error *err)
{
    struct xpv_vm_place places[XPV_SIM_MAX_VMS];
    struct xpv_vm_move moves[XPV_SIM_MAX_VMS];
    memset(places, 0, sizeof(places));
    for (unsigned a = 0; a < e->nr_apps; a++) {
        const struct app *ap = &e->apps[a];
        if (!ap->in_vm || !ap->started)
            continue;
        struct xpv_vm_place *pl = &places[ap->vm];
        const struct xpv_sim_vm_spec *vs = &e->s->vms[ap->vm];
        pl->nr_vnodes = vs->nr_vnodes;
        for (unsigned k = 0; k < vs->nr_vnodes; k++)
            pl->run[k] = e->vms[ap->vm].run[k];
        for (unsigned i = 0; i < ap->nr_threads; i++) {
            const struct thread *th = &e->th[ap->first_thread + i];
            if (th->node >= 0) {
                pl->vcpus[th->vnode]++;
                pl->movable = e->pol->vm_mode != XPV_VM_PINNED;
            }
        }
    }
    unsigned n = xpv_vm_balance(e->N, e->m->cores, e->on_node, e->m->lat_ns, places, e->s->nr_vms,
                                moves, XPV_SIM_MAX_VMS);
    for (unsigned i = 0; i < n; i++) {
        struct xpv_sim_event ev = {.at_s = e->now_ns / 1e9, .vm = moves[i].vm};
        for (unsigned k = 0; k < places[moves[i].vm].nr_vnodes; k++)
            ev.to[k] = k == moves[i].vnode ? moves[i].to : places[moves[i].vm].run[k];
        int rc = xpv__sim_apply_event(e, &ev, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}
