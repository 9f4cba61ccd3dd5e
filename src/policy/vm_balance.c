/*
 * vm_balance.c — the hypervisor's load balancer over VMs' vNodes (xpv/policy.h), a model of a
 * hypervisor scheduler's vCPU balancing. Pure: placements in, moves out; the simulator applies
 * them as re-placements. No daemon of this project runs it: `xpv hostd` places VMs with
 * xpv_place_round and xpv_place_vnode (xpv/placement.h), the simulator's `hostd` policy.
 */
#include <math.h>
#include <string.h>

#include "xpv/policy.h"

#define MAX_NODES 64

unsigned xpv_vm_balance(unsigned nr_nodes, const unsigned *cores, const unsigned *load,
                        const double *lat_ns, const struct xpv_vm_place *vms, unsigned nr_vms,
                        struct xpv_vm_move *out, unsigned cap)
{
    if (nr_nodes > MAX_NODES)
        return 0;
    unsigned l[MAX_NODES], n_out = 0;
    memcpy(l, load, nr_nodes * sizeof(unsigned));
    bool moved[64] = {false};
    for (unsigned a = 0; a < nr_nodes && n_out < cap; a++) {
        while (l[a] > cores[a] && n_out < cap) {
            /* the smallest vNode of a movable VM that has not moved this round */
            unsigned best_vm = nr_vms, best_vn = 0, best_k = ~0u;
            for (unsigned v = 0; v < nr_vms && v < 64; v++) {
                if (!vms[v].movable || moved[v])
                    continue;
                for (unsigned k = 0; k < vms[v].nr_vnodes && k < XPV_BALANCE_MAX_VNODES; k++)
                    if (vms[v].run[k] == a && vms[v].vcpus[k] && vms[v].vcpus[k] < best_k) {
                        best_vm = v;
                        best_vn = k;
                        best_k = vms[v].vcpus[k];
                    }
            }
            if (best_vm == nr_vms)
                break;
            /* the nearest node with room for all of it */
            unsigned to = nr_nodes;
            double best_lat = INFINITY;
            for (unsigned b = 0; b < nr_nodes; b++)
                if (b != a && l[b] + best_k <= cores[b] && lat_ns[a * nr_nodes + b] < best_lat) {
                    best_lat = lat_ns[a * nr_nodes + b];
                    to = b;
                }
            if (to == nr_nodes)
                break; /* nowhere to go: stay overloaded */
            out[n_out++] = (struct xpv_vm_move){best_vm, best_vn, a, to};
            l[a] -= best_k;
            l[to] += best_k;
            moved[best_vm] = true;
        }
    }
    return n_out;
}
