/*
 * placement.c — numad-class placement of domains over nodes (xpv/placement.h).
 *
 * Score of a node set S for a domain d (each term in [0, 1], weighted):
 *   cpu   share of d's threads that get a core when spread evenly over S (free cores, d's
 *         own use excluded);
 *   mem   share of d's memory that S can hold (free memory plus what d already has there);
 *   near  how close S is to d's memory: Σ_m share(m) · 10 / min_{s∈S} dist(s, m).
 * Candidates: for every seed node, grow a set greedily (next: the node nearest to the set,
 * then with most free cores) until it has cores for all threads or holds the whole machine;
 * the best-scoring candidate wins. Domains are visited worst-placed first; a move is proposed
 * when it beats the current placement by the hysteresis margin, up to max_moves per round,
 * and later domains see the loads it leaves.
 *
 * A VM's vNodes on its node set (xpv_place_vnode): vNode v on the (v mod k)-th node, so the
 * vNodes cover the set in order and wrap when it has fewer nodes than the VM has vNodes.
 */
#include "xpv/placement.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void xpv_place_params_default(struct xpv_place_params *p)
{
    *p = (struct xpv_place_params){
            .hysteresis = 0.15, .max_moves = 2, .w_cpu = 1, .w_mem = 1, .w_near = 1};
}

struct state {
    unsigned n;
    const struct xpv_place_node *nodes;
    const uint32_t *dist;
    double used[XPV_PLACE_MAX_NODES]; /* threads on each node, all domains */
};

static unsigned popcount(uint64_t x)
{
    return (unsigned)__builtin_popcountll(x);
}

/* d's threads spread evenly over its nodes (how a daemon binds them) */
static void account(struct state *st, const struct xpv_place_domain *d, uint64_t nodes, double sign)
{
    unsigned k = popcount(nodes);
    for (unsigned i = 0; k && i < st->n; i++)
        if (nodes >> i & 1)
            st->used[i] += sign * (double)d->threads / k;
}

static double score(const struct state *st, const struct xpv_place_params *p,
                    const struct xpv_place_domain *d, uint64_t set, double *cpu_out)
{
    if (!set)
        return 0;
    /* threads are spread evenly over the set: each node runs threads/k of them, and those
     * beyond its free cores wait */
    double with_core = 0, mem_total = 0, mem_fit = 0, near = 0,
           per = (double)d->threads / popcount(set);
    for (unsigned i = 0; i < st->n; i++) {
        mem_total += (double)d->mem[i];
        if (!(set >> i & 1))
            continue;
        double f = st->nodes[i].cores - st->used[i];
        with_core += fmin(per, f > 0 ? f : 0);
        mem_fit += (double)st->nodes[i].mem_free + (double)d->mem[i];
    }
    double cpu = d->threads ? fmin(1, with_core / d->threads) : 1;
    double mem = mem_total > 0 ? fmin(1, mem_fit / mem_total) : 1;
    if (mem_total > 0) {
        for (unsigned m = 0; m < st->n; m++) {
            if (!d->mem[m])
                continue;
            uint32_t best = UINT32_MAX;
            for (unsigned s = 0; s < st->n; s++)
                if (set >> s & 1 && st->dist[s * st->n + m] < best)
                    best = st->dist[s * st->n + m];
            near += (double)d->mem[m] / mem_total * (best ? 10.0 / best : 1);
        }
    } else {
        near = 1;
    }
    if (cpu_out)
        *cpu_out = cpu;
    return (p->w_cpu * cpu + p->w_mem * mem + p->w_near * fmin(1, near)) /
           (p->w_cpu + p->w_mem + p->w_near);
}

static uint64_t grow(const struct state *st, const struct xpv_place_domain *d, unsigned seed)
{
    uint64_t set = UINT64_C(1) << seed;
    double cores = st->nodes[seed].cores - st->used[seed];
    while (cores < d->threads && popcount(set) < st->n) {
        int best = -1;
        uint32_t best_d = UINT32_MAX;
        double best_free = -INFINITY;
        for (unsigned i = 0; i < st->n; i++) {
            if (set >> i & 1)
                continue;
            uint32_t dmin = UINT32_MAX;
            for (unsigned s = 0; s < st->n; s++)
                if (set >> s & 1 && st->dist[s * st->n + i] < dmin)
                    dmin = st->dist[s * st->n + i];
            double f = st->nodes[i].cores - st->used[i];
            if (dmin < best_d || (dmin == best_d && f > best_free)) {
                best = (int)i;
                best_d = dmin;
                best_free = f;
            }
        }
        set |= UINT64_C(1) << best;
        cores += best_free > 0 ? best_free : 0;
    }
    return set;
}

struct cand {
    double cur; /* score of its current placement (-1: none) */
    unsigned index;
};

static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->cur != y->cur)
        return x->cur < y->cur ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void list(uint64_t set, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < 64 && o < len; i++)
        if (set >> i & 1)
            o += (size_t)snprintf(buf + o, len - o, "%s%u", o ? "," : "", i);
    if (!o)
        snprintf(buf, len, "none");
}

int xpv_place_round(const struct xpv_place_params *p, const struct xpv_place_node *nodes,
                    unsigned nr_nodes, const uint32_t *dist, const struct xpv_place_domain *domains,
                    unsigned nr, struct xpv_place_decision *out, unsigned cap,
                    struct xpv_error *err)
{
    if (nr_nodes < 1 || nr_nodes > XPV_PLACE_MAX_NODES || !nodes || !dist)
        return xpv_error_set(err, -EINVAL, "placement: %u nodes (1..%d) and a distance matrix",
                             nr_nodes, XPV_PLACE_MAX_NODES);
    uint64_t all = nr_nodes == 64 ? ~UINT64_C(0) : (UINT64_C(1) << nr_nodes) - 1;
    struct state st = {.n = nr_nodes, .nodes = nodes, .dist = dist};
    for (unsigned d = 0; d < nr; d++) {
        if (domains[d].nodes & ~all)
            return xpv_error_set(err, -EINVAL,
                                 "placement: domain %s is bound to a node the "
                                 "machine does not have",
                                 domains[d].name ? domains[d].name : "?");
        account(&st, &domains[d], domains[d].nodes, +1);
    }
    /* visit the candidates, worst-placed first (ties: in input order) */
    unsigned n = 0;
    struct cand *cand = malloc((nr ? nr : 1) * sizeof(*cand));
    if (!cand)
        return xpv_error_set(err, -ENOMEM, "placement: out of memory for %u domains", nr);
    for (unsigned d = 0; d < nr; d++) {
        if (domains[d].settled)
            continue;
        account(&st, &domains[d], domains[d].nodes, -1);
        cand[n].cur = domains[d].nodes ? score(&st, p, &domains[d], domains[d].nodes, NULL) : -1;
        cand[n++].index = d;
        account(&st, &domains[d], domains[d].nodes, +1);
    }
    qsort(cand, n, sizeof(*cand), cand_cmp);
    unsigned moves = 0, outn = 0;
    for (unsigned k = 0; k < n && moves < p->max_moves && outn < cap; k++) {
        const struct xpv_place_domain *d = &domains[cand[k].index];
        account(&st, d, d->nodes, -1);
        double now_cpu = 1, now = d->nodes ? score(&st, p, d, d->nodes, &now_cpu) : -1;
        uint64_t best = 0;
        double best_s = -1, best_cpu = 0;
        for (unsigned seed = 0; seed < nr_nodes; seed++) {
            uint64_t set = grow(&st, d, seed);
            double c, sc = score(&st, p, d, set, &c);
            if (sc > best_s + 1e-12 ||
                (fabs(sc - best_s) <= 1e-12 && popcount(set) < popcount(best))) {
                best = set;
                best_s = sc;
                best_cpu = c;
            }
        }
        bool initial = d->nodes == 0;
        if (best != d->nodes && (initial || best_s > now * (1 + p->hysteresis))) {
            struct xpv_place_decision *o = &out[outn++];
            char from[128], to[128];
            list(d->nodes, from, sizeof(from));
            list(best, to, sizeof(to));
            o->domain = cand[k].index;
            o->from = d->nodes;
            o->to = best;
            o->score_from = now;
            o->score_to = best_s;
            if (initial)
                snprintf(o->reason, sizeof(o->reason),
                         "%.32s: initial placement on nodes %.48s (score %.2f; %u threads, %.0f%% "
                         "get "
                         "a core)",
                         d->name ? d->name : "?", to, best_s, d->threads, 100 * best_cpu);
            else
                snprintf(o->reason, sizeof(o->reason),
                         "%.32s: nodes %.40s -> %.40s, score %.2f -> %.2f (threads with a core "
                         "%.0f%% -> "
                         "%.0f%%; moves when better by more than %.0f%%)",
                         d->name ? d->name : "?", from, to, now, best_s, 100 * now_cpu,
                         100 * best_cpu, 100 * p->hysteresis);
            account(&st, d, best, +1);
            moves++;
        } else {
            account(&st, d, d->nodes, +1);
        }
    }
    free(cand);
    return (int)outn;
}

int xpv_place_vnode(uint64_t nodes, int vnode)
{
    unsigned k = popcount(nodes);
    if (!k)
        return -1;
    unsigned want = (unsigned)(vnode < 0 ? 0 : vnode) % k, seen = 0;
    for (unsigned i = 0; i < 64; i++)
        if (nodes >> i & 1 && seen++ == want)
            return (int)i;
    return -1;
}
