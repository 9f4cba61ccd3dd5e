/*
 * autonuma.c — an AutoNUMA-like balancer (Linux's NUMA balancing, kernel/sched/fair.c and
 * mm/mempolicy.c), as a policy over sampled accesses:
 *
 *  - Sampling: Linux unmaps a window of each task's address space every scan period
 *    (numa_balancing_scan_size_mb = 256, period >= 1 s) and the next access to each page
 *    takes a NUMA hinting fault. The platform gives us those faults as samples.
 *  - Two-stage filter (should_numa_migrate_memory): a page migrates to the faulting node
 *    only if its previous fault came from that node too (last_cpupid). For pages shared by
 *    several nodes with fault shares s_X, the chance two consecutive faults both come from X
 *    is s_X^2: private pages move after two faults, pages shared evenly rarely move.
 *  - Rate limit: migrations into a node are capped (numa_balancing_rate_limit_mbps;
 *    256 MB/s here).
 *  - Task placement (task_numa_find_cpu): a thread moves to the node where most of its
 *    faulted memory is, if that node has an idle core, or swaps with a thread there that
 *    prefers our node; with hysteresis (the target must hold clearly more of its faults).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policies.h"

#define SCAN_PERIOD_S   1.0
#define SCAN_MB         256.0 /* numa_balancing_scan_size_mb */
#define RATE_LIMIT_MBPS 256.0
#define PREFER_MARGIN   1.25 /* preferred node needs 25% more faults than the current one */

struct an_state {
    unsigned nodes, threads, regions;
    double *faults;  /* [regions][nodes(page)][nodes(thread)] */
    double *tfaults; /* [threads][nodes(page)] */
};

static int ensure(struct an_state *s, const struct xpv_pol_view *v)
{
    if (s->nodes == v->nr_nodes && s->threads == v->nr_threads && s->regions == v->nr_regions)
        return 0;
    free(s->faults);
    free(s->tfaults);
    s->nodes = v->nr_nodes;
    s->threads = v->nr_threads;
    s->regions = v->nr_regions;
    s->faults = calloc((size_t)s->regions * s->nodes * s->nodes, sizeof(double));
    s->tfaults = calloc((size_t)s->threads * s->nodes, sizeof(double));
    return s->faults && s->tfaults ? 0 : -ENOMEM;
}

static int decide(struct xpv_policy *p, const struct xpv_pol_view *v,
                  const struct xpv_pol_sample *smp, unsigned nr, struct xpv_pol_actions *out)
{
    struct an_state *s = p->state;
    int rc = ensure(s, v);
    if (rc < 0)
        return rc;
    unsigned N = v->nr_nodes;
    memset(s->faults, 0, (size_t)s->regions * N * N * sizeof(double));
    memset(s->tfaults, 0, (size_t)s->threads * N * sizeof(double));
    for (unsigned i = 0; i < nr; i++) {
        int tn = v->thread_node[smp[i].thread];
        if (tn < 0)
            continue;
        s->faults[((size_t)smp[i].region * N + smp[i].node) * N + (unsigned)tn] += smp[i].count;
        s->tfaults[(size_t)smp[i].thread * N + smp[i].node] += smp[i].count;
    }

    /* Memory follows the threads: two-stage filter, rate-limited per destination node. */
    double budget[64];
    for (unsigned n = 0; n < N && n < 64; n++)
        budget[n] = RATE_LIMIT_MBPS * p->period_s;
    for (unsigned r = 0; r < v->nr_regions; r++) {
        uint64_t allowed = v->group_allowed[v->region_group[r]];
        for (unsigned n = 0; n < N; n++) {
            const double *f = &s->faults[((size_t)r * N + n) * N];
            double total = 0;
            for (unsigned x = 0; x < N; x++)
                total += f[x];
            double pages = v->region_pages[(size_t)r * N + n];
            if (total <= 0 || pages <= 0)
                continue;
            /* each fault is on a distinct page of the scanned window (at most all of them) */
            double scanned = total < pages ? total : pages;
            for (unsigned x = 0; x < N; x++) {
                if (x == n || f[x] <= 0 || !(allowed >> x & 1) || x >= 64)
                    continue;
                double share = f[x] / total;
                double move = scanned * share * share;
                double mb = move * v->region_page_mb[r];
                if (mb > budget[x])
                    move = budget[x] / v->region_page_mb[r], mb = budget[x];
                if (move < 1)
                    continue;
                budget[x] -= mb;
                rc = xpv_pol_actions_push(out, (struct xpv_pol_action){.kind = XPV_ACT_MIGRATE,
                                                                       .region = r,
                                                                       .from = n,
                                                                       .to = x,
                                                                       .pages = move});
                if (rc < 0)
                    return rc;
            }
        }
    }

    /* Threads follow their memory: move to an idle core of the preferred node, or swap. */
    unsigned load[64] = {0};
    unsigned T = v->nr_threads;
    int *pref = malloc((T ? T : 1) * sizeof(*pref));
    if (!pref)
        return -ENOMEM;
    for (unsigned t = 0; t < v->nr_threads; t++)
        if (v->thread_node[t] >= 0 && v->thread_node[t] < 64)
            load[v->thread_node[t]]++;
    for (unsigned t = 0; t < T; t++) {
        pref[t] = -1;
        int cur = v->thread_node[t];
        if (cur < 0)
            continue;
        const double *g = &s->tfaults[(size_t)t * N];
        unsigned best = (unsigned)cur;
        for (unsigned n = 0; n < N; n++)
            if (g[n] > g[best])
                best = n;
        if (best != (unsigned)cur && g[best] > PREFER_MARGIN * g[cur] && g[best] >= 8)
            pref[t] = (int)best;
    }
    for (unsigned t = 0; t < T; t++) {
        if (pref[t] < 0)
            continue;
        unsigned to = (unsigned)pref[t], from = (unsigned)v->thread_node[t];
        if (load[to] < v->cores[to]) {
            load[to]++;
            load[from]--;
        } else {
            /* a thread on `to` that prefers `from`: swap the two */
            unsigned u;
            for (u = 0; u < T; u++)
                if (u != t && v->thread_node[u] == (int)to && pref[u] == (int)from)
                    break;
            if (u == T)
                continue;
            pref[u] = -1;
            rc = xpv_pol_actions_push(out, (struct xpv_pol_action){.kind = XPV_ACT_MOVE_THREAD,
                                                                   .thread = u,
                                                                   .node = from});
            if (rc < 0)
                break;
        }
        pref[t] = -1;
        rc = xpv_pol_actions_push(
                out, (struct xpv_pol_action){.kind = XPV_ACT_MOVE_THREAD, .thread = t, .node = to});
        if (rc < 0)
            break;
    }
    free(pref);
    return rc < 0 ? rc : 0;
}

static void destroy(struct xpv_policy *p)
{
    struct an_state *s = p->state;
    free(s->faults);
    free(s->tfaults);
    free(s);
}

int xpv__autonuma_make(struct xpv_policy *p)
{
    p->state = calloc(1, sizeof(struct an_state));
    if (!p->state)
        return -ENOMEM;
    p->placement = XPV_PLACE_FIRST_TOUCH;
    p->period_s = SCAN_PERIOD_S;
    p->scan_mb = SCAN_MB;
    p->decide = decide;
    p->destroy = destroy;
    return 0;
}
