/*
 * numad.c — a numad-like process placer (numad(8): a user-space daemon that, every interval,
 * finds processes that would fit in fewer nodes than they span and binds each to the nodes
 * with the most free resources, migrating its memory there with migrate_pages).
 *
 * Here, every PERIOD_S: for each process (thread group) compute the nodes it needs,
 * k = ceil(threads / cores per node); if it spans more than k nodes (or its memory is mostly
 * elsewhere), pick the k nodes with the most idle cores (ties: those already holding most of
 * its memory, then the lowest id), move its threads there round-robin and migrate all its
 * pages from other nodes to them. A process already placed is left alone; numad does not
 * place a process that needs the whole machine.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policies.h"

#define PERIOD_S 5.0

struct nd_state {
    uint64_t placed[64]; /* per group: the nodes it was bound to (0: not yet) */
};

static unsigned popcount64(uint64_t x)
{
    return (unsigned)__builtin_popcountll(x);
}

static int place_group(const struct xpv_pol_view *v, struct nd_state *s, unsigned g,
                       struct xpv_pol_actions *out)
{
    unsigned N = v->nr_nodes, threads = 0, cores = v->cores[0] ? v->cores[0] : 1;
    uint64_t span = 0;
    double mem[64] = {0}, total = 0;
    unsigned idle[64];
    for (unsigned n = 0; n < N; n++)
        idle[n] = v->cores[n];
    for (unsigned t = 0; t < v->nr_threads; t++) {
        int n = v->thread_node[t];
        if (n < 0)
            continue;
        if (v->thread_group[t] == g) {
            threads++;
            span |= UINT64_C(1) << n;
        } else if (idle[n] > 0) {
            idle[n]--;
        }
    }
    if (!threads)
        return 0;
    for (unsigned r = 0; r < v->nr_regions; r++)
        if (v->region_group[r] == g)
            for (unsigned n = 0; n < N; n++) {
                mem[n] += v->region_pages[(size_t)r * N + n];
                total += v->region_pages[(size_t)r * N + n];
            }
    unsigned k = (threads + cores - 1) / cores;
    if (k >= N)
        return 0; /* needs the whole machine: nothing to consolidate */
    if (s->placed[g]) {
        /* placed before: redo only if threads left the placement */
        if ((span & ~s->placed[g]) == 0)
            return 0;
    } else {
        double on = 0;
        for (unsigned n = 0; n < N; n++)
            if (span >> n & 1)
                on += mem[n];
        if (popcount64(span) <= k && on >= 0.9 * total)
            return 0; /* already compact */
    }
    /* choose k nodes: most idle cores, then most of our memory, then lowest id */
    uint64_t chosen = 0;
    for (unsigned i = 0; i < k; i++) {
        int best = -1;
        for (unsigned n = 0; n < N; n++) {
            if (chosen >> n & 1 || !(v->group_allowed[g] >> n & 1))
                continue;
            if (best < 0 || idle[n] > idle[best] || (idle[n] == idle[best] && mem[n] > mem[best]))
                best = (int)n;
        }
        if (best < 0)
            return 0;
        chosen |= UINT64_C(1) << best;
    }
    s->placed[g] = chosen;
    unsigned list[64], nl = 0, rr = 0;
    for (unsigned n = 0; n < N; n++)
        if (chosen >> n & 1)
            list[nl++] = n;
    int rc;
    for (unsigned t = 0; t < v->nr_threads; t++) {
        if (v->thread_group[t] != g || v->thread_node[t] < 0)
            continue;
        unsigned to = list[rr++ % nl];
        if ((unsigned)v->thread_node[t] != to &&
            (rc = xpv_pol_actions_push(out, (struct xpv_pol_action){.kind = XPV_ACT_MOVE_THREAD,
                                                                    .thread = t,
                                                                    .node = to})) < 0)
            return rc;
    }
    /* memory: everything off the chosen nodes, spread over them */
    for (unsigned r = 0; r < v->nr_regions; r++) {
        if (v->region_group[r] != g)
            continue;
        for (unsigned n = 0; n < N; n++) {
            double pages = v->region_pages[(size_t)r * N + n];
            if (chosen >> n & 1 || pages <= 0)
                continue;
            for (unsigned i = 0; i < nl; i++)
                if ((rc = xpv_pol_actions_push(out, (struct xpv_pol_action){.kind = XPV_ACT_MIGRATE,
                                                                            .region = r,
                                                                            .from = n,
                                                                            .to = list[i],
                                                                            .pages = pages / nl})) <
                    0)
                    return rc;
        }
    }
    return 0;
}

static int decide(struct xpv_policy *p, const struct xpv_pol_view *v,
                  const struct xpv_pol_sample *smp, unsigned nr, struct xpv_pol_actions *out)
{
    (void)smp;
    (void)nr;
    for (unsigned g = 0; g < v->nr_groups && g < 64; g++) {
        int rc = place_group(v, p->state, g, out);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void destroy(struct xpv_policy *p)
{
    free(p->state);
}

int xpv__numad_make(struct xpv_policy *p)
{
    p->state = calloc(1, sizeof(struct nd_state));
    if (!p->state)
        return -ENOMEM;
    p->placement = XPV_PLACE_FIRST_TOUCH;
    p->period_s = PERIOD_S;
    p->scan_mb = 0;
    p->decide = decide;
    p->destroy = destroy;
    return 0;
}
