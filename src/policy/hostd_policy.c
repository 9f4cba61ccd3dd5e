/*
 * hostd_policy.c — the host daemon's placement as a simulator policy, `hostd`: every period
 * (the daemon's default period_s, 1 s) the daemon's round decides with the daemon's own code,
 * xpv_place_round() (placement.c, default parameters: hysteresis 15 %, 2 moves a round), on
 * what the daemon would read; the moves are applied as the daemon applies them:
 *   - a process domain (a native application): its threads bound to the new nodes — spread
 *     evenly over them, as the scheduler does within an affinity mask, threads already on one
 *     of them staying while their node is under its share — and all its memory moved off the
 *     other nodes, spread over the new ones;
 *   - a VM: vNode v on the (v mod k)-th node of the set (xpv_place_vnode, the daemon's vNode
 *     rule), its vCPUs and memory with it; the platform republishes the VM's record, which
 *     XPV guests follow (vm_mode XPV).
 *
 * What the daemon reads, from the view: a domain's threads (its running threads, vCPUs for a
 * VM), its memory per node (pages x page size), the node it is bound to (see below); per node,
 * its cores and free memory (its memory less every application's pages there); distances
 * from the latencies (xpv_pol_slit). Binding: a native application starts unbound (its
 * threads' affinity is the whole machine: the daemon reads no binding, so its first round is
 * an initial placement); a VM starts bound to the nodes its vNodes run on, as a VM pinned by
 * its configuration. A domain whose threads leave its binding behind the daemon's back (a
 * scripted re-placement) is read again, as a restarted daemon reads affinities.
 *
 * `hostd-vnuma` is the same daemon, the same decisions, over VMs whose guests are stock
 * (static vNUMA: they never read the record; each vNode's memory moves with it, so their
 * belief stays true but for the pages still in flight): the daemon's placement as operators
 * run it without XPV guests, against `hostd` with them.
 *
 * The policy places VMs itself (places_vms): the platform's hypervisor load balancer stays
 * off; a scenario's scripted re-placements still happen, as another tool's would.
 *
 * Not modelled: the daemon's migration budget (migrate_mb_s, migrate_max_ms): pages move at
 * the platform's migration throughput; operator placements (fixed nodes) — a scenario's
 * `placement: nodes` is only where an application starts; QEMU's threads other than vCPUs,
 * which the daemon counts among a VM's threads.
 */
#include <errno.h>
#include <stdlib.h>

#include "policies.h"
#include "xpv/placement.h"

#define PERIOD_S 1.0 /* the daemon's default period_s */

struct hd_state {
    unsigned nr;     /* groups known */
    uint64_t *bound; /* [nr]: node set each is bound to (0: unbound) */
    bool *seen;      /* [nr]: seen running before */
};

static int ensure(struct hd_state *s, unsigned groups)
{
    if (groups <= s->nr)
        return 0;
    uint64_t *b = realloc(s->bound, groups * sizeof(*b));
    if (!b)
        return -ENOMEM;
    s->bound = b;
    bool *seen = realloc(s->seen, groups * sizeof(*seen));
    if (!seen)
        return -ENOMEM;
    s->seen = seen;
    for (unsigned g = s->nr; g < groups; g++) {
        s->bound[g] = 0;
        s->seen[g] = false;
    }
    s->nr = groups;
    return 0;
}

static bool in_vm(const struct xpv_pol_view *v, unsigned g)
{
    return v->group_vm && v->group_vm[g] >= 0;
}

/* Bind group g's threads to `to` (native): even shares over its nodes, fewest moves. */
static int move_threads(const struct xpv_pol_view *v, unsigned g, uint64_t to,
                        struct xpv_pol_actions *out)
{
    unsigned list[XPV_PLACE_MAX_NODES], k = 0, total = 0;
    for (unsigned n = 0; n < v->nr_nodes && n < XPV_PLACE_MAX_NODES; n++)
        if (to >> n & 1)
            list[k++] = n;
    if (!k)
        return 0;
    for (unsigned t = 0; t < v->nr_threads; t++)
        total += v->thread_group[t] == g && v->thread_node[t] >= 0;
    unsigned quota[XPV_PLACE_MAX_NODES] = {0}, have[XPV_PLACE_MAX_NODES] = {0};
    for (unsigned i = 0; i < k; i++)
        quota[list[i]] = total / k + (i < total % k);
    bool *stays = calloc(v->nr_threads ? v->nr_threads : 1, sizeof(*stays));
    if (!stays)
        return -ENOMEM;
    for (unsigned t = 0; t < v->nr_threads; t++) {
        int n = v->thread_node[t];
        if (v->thread_group[t] == g && n >= 0 && n < XPV_PLACE_MAX_NODES && (to >> n & 1) &&
            have[n] < quota[n]) {
            have[n]++;
            stays[t] = true;
        }
    }
    int rc = 0;
    for (unsigned t = 0, i = 0; t < v->nr_threads && rc == 0; t++) {
        if (v->thread_group[t] != g || v->thread_node[t] < 0 || stays[t])
            continue;
        while (i + 1 < k && have[list[i]] >= quota[list[i]])
            i++;
        have[list[i]]++;
        rc = xpv_pol_actions_push(
                out,
                (struct xpv_pol_action){.kind = XPV_ACT_MOVE_THREAD, .thread = t, .node = list[i]});
    }
    free(stays);
    return rc;
}

/* The daemon's page mover, in pages: everything off the nodes outside `to`, spread evenly. */
static int move_memory(const struct xpv_pol_view *v, unsigned g, uint64_t to,
                       struct xpv_pol_actions *out)
{
    unsigned N = v->nr_nodes, k = (unsigned)__builtin_popcountll(to);
    for (unsigned r = 0; r < v->nr_regions; r++) {
        if (v->region_group[r] != g)
            continue;
        for (unsigned n = 0; n < N; n++) {
            double pages = v->region_pages[(size_t)r * N + n];
            if ((n < 64 && to >> n & 1) || pages <= 0)
                continue;
            for (unsigned m = 0; m < N && m < 64; m++) {
                if (!(to >> m & 1))
                    continue;
                int rc = xpv_pol_actions_push(out, (struct xpv_pol_action){.kind = XPV_ACT_MIGRATE,
                                                                           .region = r,
                                                                           .from = n,
                                                                           .to = m,
                                                                           .pages = pages / k});
                if (rc < 0)
                    return rc;
            }
        }
    }
    return 0;
}

/* A VM on `to`: each vNode where the daemon's vNode rule puts it. */
static int move_vnodes(const struct xpv_pol_view *v, unsigned g, uint64_t to,
                       struct xpv_pol_actions *out)
{
    for (unsigned k = 0; k < v->group_vnodes[g]; k++) {
        int pos = xpv_place_vnode(to, (int)k);
        if (pos < 0)
            continue;
        int rc = xpv_pol_actions_push(out, (struct xpv_pol_action){.kind = XPV_ACT_MOVE_VNODE,
                                                                   .group = g,
                                                                   .vnode = k,
                                                                   .node = (unsigned)pos});
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int decide(struct xpv_policy *p, const struct xpv_pol_view *v,
                  const struct xpv_pol_sample *smp, unsigned nr, struct xpv_pol_actions *out)
{
    (void)smp;
    (void)nr;
    struct hd_state *s = p->state;
    unsigned N = v->nr_nodes, G = v->nr_groups;
    if (N < 1 || N > XPV_PLACE_MAX_NODES)
        return -EINVAL;
    int rc = ensure(s, G);
    if (rc < 0)
        return rc;
    uint64_t all = N == 64 ? ~UINT64_C(0) : (UINT64_C(1) << N) - 1;
    struct xpv_place_domain *pd = calloc(G ? G : 1, sizeof(*pd));
    unsigned *map = calloc(G ? G : 1, sizeof(*map));
    struct xpv_place_decision dec[16];
    if (!pd || !map) {
        rc = -ENOMEM;
        goto out;
    }
    /* what the daemon reads: each domain's threads, memory per node and binding; free memory */
    double used[XPV_PLACE_MAX_NODES] = {0};
    unsigned np = 0;
    for (unsigned r = 0; r < v->nr_regions; r++)
        for (unsigned n = 0; n < N; n++)
            used[n] += v->region_pages[(size_t)r * N + n] * v->region_page_mb[r] * (1 << 20);
    for (unsigned g = 0; g < G; g++) {
        unsigned threads = 0;
        uint64_t on = 0;
        for (unsigned t = 0; t < v->nr_threads; t++)
            if (v->thread_group[t] == g && v->thread_node[t] >= 0) {
                threads++;
                on |= UINT64_C(1) << v->thread_node[t];
            }
        if (!threads)
            continue; /* gone, or not started: the daemon skips it */
        if (!s->seen[g] || (s->bound[g] && (on & ~s->bound[g]))) {
            /* first seen, or moved by someone else: read its binding (a VM is pinned where
             * its vNodes run; a native application is not bound) */
            s->bound[g] = in_vm(v, g) && on != all ? on : 0;
            s->seen[g] = true;
        }
        struct xpv_place_domain *d = &pd[np];
        *d = (struct xpv_place_domain){.threads = threads, .nodes = s->bound[g]};
        for (unsigned r = 0; r < v->nr_regions; r++)
            if (v->region_group[r] == g)
                for (unsigned n = 0; n < N; n++)
                    d->mem[n] += (uint64_t)(v->region_pages[(size_t)r * N + n] *
                                            v->region_page_mb[r] * (1 << 20));
        map[np++] = g;
    }
    struct xpv_place_node nodes[XPV_PLACE_MAX_NODES];
    uint32_t dist[XPV_PLACE_MAX_NODES * XPV_PLACE_MAX_NODES];
    for (unsigned n = 0; n < N; n++) {
        double mem = v->node_mem ? (double)v->node_mem[n] : 0;
        nodes[n] = (struct xpv_place_node){
                .cores = v->cores[n], .mem_free = mem > used[n] ? (uint64_t)(mem - used[n]) : 0};
        for (unsigned m = 0; m < N; m++)
            dist[n * N + m] = xpv_pol_slit(v->lat_ns, N, n, m);
    }
    struct xpv_place_params params;
    xpv_place_params_default(&params);
    int nd = np ? xpv_place_round(&params, nodes, N, dist, pd, np, dec, 16, NULL) : 0;
    if (nd < 0) {
        rc = nd;
        goto out;
    }
    for (int i = 0; i < nd && rc == 0; i++) {
        unsigned g = map[dec[i].domain];
        uint64_t to = dec[i].to;
        s->bound[g] = to;
        if (in_vm(v, g))
            rc = move_vnodes(v, g, to, out);
        else if ((rc = move_threads(v, g, to, out)) == 0)
            rc = move_memory(v, g, to, out);
    }
out:
    free(pd);
    free(map);
    return rc;
}

static void destroy(struct xpv_policy *p)
{
    struct hd_state *s = p->state;
    if (s) {
        free(s->bound);
        free(s->seen);
    }
    free(s);
}

static uint64_t group_nodes(const struct xpv_policy *p, unsigned g)
{
    const struct hd_state *s = p->state;
    return g < s->nr ? s->bound[g] : 0;
}

int xpv__hostd_make(struct xpv_policy *p)
{
    p->state = calloc(1, sizeof(struct hd_state));
    if (!p->state)
        return -ENOMEM;
    p->placement = XPV_PLACE_FIRST_TOUCH;
    p->vm_mode = XPV_VM_XPV;
    p->period_s = PERIOD_S;
    p->places_vms = true;
    p->decide = decide;
    p->destroy = destroy;
    p->group_nodes = group_nodes;
    return 0;
}

int xpv__hostd_vnuma_make(struct xpv_policy *p)
{
    int rc = xpv__hostd_make(p);
    p->vm_mode = XPV_VM_VNUMA;
    return rc;
}
