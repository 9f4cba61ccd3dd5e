/*
 * carrefour_policy.c — Carrefour as a policy of the shared core: each round (1 s) it takes
 * the platform's counters and access samples, runs the engine (carrefour.c) and turns its
 * page decisions into migrations.
 *
 * Samples arrive aggregated as (thread, region, node holding the pages, count); the engine
 * wants pages. The module keeps the 4 KiB pages sampled in a round in a table of page_budget
 * entries (page_budget_cheap after a round that asked for cheap sampling), filled in the order
 * pages are first sampled; samples of pages beyond it are missed. A (region, home node) bucket
 * of P4 4 KiB pages hit by S samples (each page a Poisson rate of S/P4 per round) has
 * P4 (1 - exp(-S tau / P4)) pages in the table, tau the fraction of the round at which the
 * table fills (1 if it never does): hot pages are nearly always in it, cold ones in
 * proportion to their rate. A page in the table was first sampled at a time t < tau (an
 * exponential truncated to [0, tau]) and then counts every later sample: 1 + Poisson of its
 * rate times (1 - t).
 *
 * The decision unit is a 4 KiB page, or with the 2 MB rules (params.thp: carrefour-lp, and
 * carrefour-hv with the Xen port's values) a 2 MiB page of a region backed by them (papers.md
 * §1.8: the module merges its 4 KB table into 2 MB pages, each with the samples of its
 * sub-pages in the table, and decides those whole).
 * A 2 MiB page is decided if one of its sub-pages is in the table (a sample on it before tau);
 * it counts its samples before tau and, after tau, those on its sub-pages already in the table.
 * Up to REPS representative pages stand for a bucket's decided pages, each drawing its
 * samples' accessing nodes from the bucket's mix; a decision on one moves the pages it stands
 * for. A hot 2 MiB page split by the engine sends 512/N of its sub-pages to each node (k mod
 * N); the region stays 2 MiB-grained here, so later rounds see those parts as fractions of a
 * page (buckets under one page are not sampled: the split sub-pages are then left alone).
 * Replication is not modelled by the simulator: its gate stays off here (as on stock Linux,
 * where the engine's replication decisions would fall back to interleaving).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "policies.h"
#include "xpv/carrefour.h"
#include "xpv/rng.h"

#define ROUND_S     1.0
#define SAMPLE_RATE (1.0 / 4096) /* of DRAM accesses: ~5 000 samples/s for a busy thread */
#define SAMPLE_NS   1000.0       /* an NMI and a tree update per sample (assumed) */
#define REPS        32

struct cf_state {
    struct xpv_cf_params params;
    uint64_t rng;
    bool cheap;        /* the last round asked for cheap sampling: the smaller table */
    bool interleaving; /* the last round's interleaving gate (the hold profile's hysteresis) */
    struct xpv_cf_page *pages;
    double *weight;
    unsigned *region; /* of each representative page */
    struct xpv_cf_decision *dec;
    unsigned cap;
};

static unsigned draw_node(uint64_t *rng, const double *mix, unsigned n, double total)
{
    double r = xpv_rng_uniform(rng) * total;
    for (unsigned i = 0; i < n; i++) {
        if (r < mix[i])
            return i;
        r -= mix[i];
    }
    return n - 1;
}

static int ensure(struct cf_state *s, unsigned need)
{
    if (need <= s->cap)
        return 0;
    void *a = realloc(s->pages, need * sizeof(*s->pages));
    if (a)
        s->pages = a;
    void *b = realloc(s->weight, need * sizeof(*s->weight));
    if (b)
        s->weight = b;
    void *c = realloc(s->dec, need * sizeof(*s->dec));
    if (c)
        s->dec = c;
    void *d = realloc(s->region, need * sizeof(*s->region));
    if (d)
        s->region = d;
    if (!a || !b || !c || !d)
        return -ENOMEM;
    s->cap = need;
    return 0;
}

/* 4 KiB pages per page of region r. */
static double sub_pages(const struct xpv_pol_view *v, unsigned r)
{
    double k = v->region_page_mb ? v->region_page_mb[r] * 256 : 1;
    return k >= 1 ? k : 1;
}

/* Distinct 4 KiB pages sampled by time tau of the round (fraction), over every (region, node)
 * bucket of the mix. */
static double sampled_by(const struct xpv_pol_view *v, const double *mix, double tau)
{
    unsigned N = v->nr_nodes;
    double d = 0;
    for (size_t b = 0; b < (size_t)v->nr_regions * N; b++) {
        double S = 0, P = v->region_pages[b] * sub_pages(v, (unsigned)(b / N));
        for (unsigned x = 0; x < N; x++)
            S += mix[b * N + x];
        if (S > 0 && P >= 1)
            d += P * -expm1(-S * tau / P);
    }
    return d;
}

/* When the module's table fills, as a fraction of the round (1: it does not). */
static double table_fill(const struct cf_state *s, const struct xpv_pol_view *v, const double *mix)
{
    double table = s->cheap ? s->params.page_budget_cheap : s->params.page_budget;
    if (sampled_by(v, mix, 1) <= table)
        return 1;
    double lo = 0, hi = 1;
    for (int i = 0; i < 40; i++) {
        double mid = (lo + hi) / 2;
        if (sampled_by(v, mix, mid) > table)
            hi = mid;
        else
            lo = mid;
    }
    return lo;
}

/*
 * Samples the table holds for one decided page of rate lam (samples per round) made of `sub`
 * 4 KiB pages, the table full at tau: first sampled at t < tau (truncated exponential), every
 * sample up to tau, and after tau the share f of its sub-pages already in the table.
 */
static unsigned page_samples(uint64_t *rng, double lam, double sub, double tau)
{
    double u = xpv_rng_uniform(rng);
    double t = -log1p(u * expm1(-lam * tau)) / lam;
    if (!(t >= 0))
        t = 0;
    if (t > tau)
        t = tau;
    double f = sub > 1 ? fmax(-expm1(-lam * tau / sub), 1 / sub) : 1;
    double n = 1 + xpv_rng_poisson(rng, lam * (tau - t) + lam * (1 - tau) * f);
    return n < 1e9 ? (unsigned)n : 1000000000u;
}

/* A hot huge page split by the engine: sub-page k to node k mod N (the module's loop). */
static int push_split(struct xpv_pol_actions *out, const struct xpv_pol_view *v, unsigned g,
                      unsigned region, unsigned from, double pages)
{
    unsigned N = v->nr_nodes;
    for (unsigned n = 0; n < N && n < 64; n++) {
        double share = (double)(512 / N + (n < 512 % N)) / 512;
        if (n == from || !(v->group_allowed[g] >> n & 1))
            continue;
        int rc = xpv_pol_actions_push(out, (struct xpv_pol_action){.kind = XPV_ACT_MIGRATE,
                                                                   .region = region,
                                                                   .from = from,
                                                                   .to = n,
                                                                   .pages = pages * share});
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int decide(struct xpv_policy *p, const struct xpv_pol_view *v,
                  const struct xpv_pol_sample *smp, unsigned nr, struct xpv_pol_actions *out)
{
    struct cf_state *s = p->state;
    unsigned N = v->nr_nodes;
    if (N > XPV_CF_MAX_NODES || !v->dram)
        return 0;
    double all = 0;
    for (unsigned i = 0; i < nr; i++)
        all += smp[i].count;
    struct xpv_cf_counters c = {N,   v->dram,        v->period_ns, v->read_ratio, v->mem_usage,
                                all, s->interleaving};
    struct xpv_cf_metrics m;
    int rc = xpv_cf_metrics(&s->params, &c, &m);
    if (rc < 0)
        return rc;
    s->interleaving = m.interleaving;
    /* samples per (region, home node, accessing node) */
    double *mix = calloc((size_t)v->nr_regions * N * N, sizeof(double));
    if (!mix)
        return -ENOMEM;
    for (unsigned i = 0; i < nr; i++) {
        int tn = v->thread_node[smp[i].thread];
        if (tn >= 0)
            mix[((size_t)smp[i].region * N + smp[i].node) * N + (unsigned)tn] += smp[i].count;
    }
    double tau = table_fill(s, v, mix);
    unsigned np = 0;
    for (unsigned r = 0; r < v->nr_regions; r++) {
        /* the decision unit: the region's page (2 MiB rules) or a 4 KiB page */
        double sub = sub_pages(v, r);
        bool huge = s->params.thp && sub > 1;
        double unit = huge ? 1 : sub;     /* decision units per region page */
        double per_unit = huge ? sub : 1; /* 4 KiB pages per decision unit */
        for (unsigned n = 0; n < N; n++) {
            const double *mx = &mix[((size_t)r * N + n) * N];
            double S = 0, P = v->region_pages[(size_t)r * N + n] * unit;
            for (unsigned x = 0; x < N; x++)
                S += mx[x];
            if (S <= 0 || P < 1)
                continue;
            double lam = S / P, distinct = P * -expm1(-lam * tau);
            if (distinct < 0.5)
                continue;
            unsigned reps = distinct < REPS ? (unsigned)ceil(distinct) : REPS;
            if ((rc = ensure(s, np + reps)) < 0)
                goto out;
            for (unsigned k = 0; k < reps; k++) {
                struct xpv_cf_page *pg = &s->pages[np];
                memset(pg, 0, sizeof(*pg));
                pg->key = np; /* decisions name pages by their index here */
                pg->huge = huge;
                s->region[np] = r;
                pg->node = n;
                unsigned samples = page_samples(&s->rng, lam, per_unit, tau);
                for (unsigned j = 0; j < samples; j++)
                    pg->accesses[draw_node(&s->rng, mx, N, S)]++;
                s->weight[np++] = distinct / reps / unit; /* in region pages */
            }
        }
    }
    struct xpv_cf_round round;
    if ((rc = xpv_cf_decide(&s->params, &m, s->pages, np, &s->rng, s->dec, np ? np : 0, &round)) <
        0)
        goto out;
    for (unsigned i = 0; i < round.nr_decisions; i++) {
        const struct xpv_cf_decision *d = &s->dec[i];
        unsigned g = v->region_group[s->region[d->key]];
        double w = s->weight[d->key];
        if (d->fate == XPV_CF_SPLIT) {
            if ((rc = push_split(out, v, g, s->region[d->key], d->from, w)) < 0)
                goto out;
            continue;
        }
        if (d->to >= 64 || !(v->group_allowed[g] >> d->to & 1))
            continue; /* a node this domain may not use */
        rc = xpv_pol_actions_push(out, (struct xpv_pol_action){.kind = XPV_ACT_MIGRATE,
                                                               .region = s->region[d->key],
                                                               .from = d->from,
                                                               .to = d->to,
                                                               .pages = w});
        if (rc < 0)
            goto out;
    }
    s->cheap = round.cheap_sampling_next;
    p->sample_rate = s->cheap ? SAMPLE_RATE / 4 : SAMPLE_RATE;
out:
    free(mix);
    return rc;
}

static void destroy(struct xpv_policy *p)
{
    struct cf_state *s = p->state;
    free(s->pages);
    free(s->weight);
    free(s->dec);
    free(s->region);
    free(s);
}

/*
 * Voron's Xen port (papers.md §2.5): its decide_page_fate() runs with replication 0,
 * interleave 1, migration 1, INTERLEAVE_SHARED_THP 1 and MIGRATE_MISPLACED_THP 1 (2 MB vs 4 KB
 * inferred from IBS TLB bits); neither SPLIT_SHARED_THP nor ENABLE_HOT_PAGE_TRACKING is among
 * its options (§1.8: those are the usenix module's hybrid mode), and its one move primitive,
 * memory_move(d, gfn, node), remaps a gfn without splitting anything. So no hot-page
 * splitting: a shared 2 MB page is only interleaved whole. Its runtime keeps the usenix values
 * (MAPTU_MIN 15, MIN_IMBALANCE 35, MAX_LOCALITY_MIGRATION 80; §1.4), which
 * xpv_cf_params_lp has.
 */
static void params_xen(struct xpv_cf_params *p)
{
    xpv_cf_params_hv(p); /* the same values as `xpv carrefour --vm` */
}

/* `profile` sets the runtime's values the policy runs with (xpv_cf_params_asplos, ...). */
static int make(struct xpv_policy *p, void (*profile)(struct xpv_cf_params *),
                enum xpv_vm_mode mode, double sample_ns, double speed, bool in_guest)
{
    struct cf_state *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    profile(&s->params);
    s->params.replication = false; /* not modelled by the simulator (see above) */
    s->rng = 0x5eed;
    p->state = s;
    p->placement = XPV_PLACE_FIRST_TOUCH;
    p->period_s = ROUND_S;
    p->sample_rate = SAMPLE_RATE;
    p->sample_cost_ns = sample_ns;
    p->vm_mode = mode;
    p->migrate_speed = speed;
    p->in_guest = in_guest;
    p->decide = decide;
    p->destroy = destroy;
    return 0;
}

int xpv__carrefour_make(struct xpv_policy *p)
{
    return make(p, xpv_cf_params_asplos, XPV_VM_VNUMA, SAMPLE_NS, 1, false);
}

/*
 * Carrefour-LP (Gaud et al., ATC'14; papers.md §1.4, §1.8): the usenix module and runtime's
 * values (xpv_cf_params_lp: MAPTU_MIN 15, no replication, INTERLEAVE_SHARED_THP and
 * MIGRATE_MISPLACED_THP, hot 2 MB pages above 6 % of the samples split and interleaved), so
 * memory backed by 2 MiB pages is decided in 2 MiB pages. On 4 KiB memory it differs from
 * `carrefour` only by the MAPTU gate. Native costs.
 */
int xpv__carrefour_lp_make(struct xpv_policy *p)
{
    return make(p, xpv_cf_params_lp, XPV_VM_VNUMA, SAMPLE_NS, 1, false);
}

/*
 * xpv's `hold` profile (xpv_cf_params_hold), natively: Carrefour-LP's values and rules with
 * hysteresis on the interleaving gate, which turns on above 35 % imbalance and, once on, stays
 * on until the imbalance is at or below 5 %. Not from the papers (docs/carrefour.md, "In the
 * simulator": the plain gate stops interleaving on 8 nodes with one node still serving about
 * twice the others' load).
 */
int xpv__carrefour_hold_make(struct xpv_policy *p)
{
    return make(p, xpv_cf_params_hold, XPV_VM_VNUMA, SAMPLE_NS, 1, false);
}

/*
 * Carrefour run by the hypervisor on guest memory (Voron et al., EuroSys'17; papers.md §2.5):
 * it sees the true nodes, but each sample goes through the hypervisor (the NMI lands in it and
 * walks the guest's page table: HV_SAMPLE_NS, assumed) and a guest page moves by copy and p2m
 * remap (HV_MIGRATE_SPEED of native migration throughput, assumed). Guests allocate as static
 * vNUMA. Decisions with the Xen port's values (params_xen above: the LP runtime's
 * MAPTU_MIN 15 and no replication, §1.4; the 2 MB rules on memory backed by 2 MiB pages and
 * no hot-page splitting, §2.5).
 */
#define HV_SAMPLE_NS     3000.0
#define HV_MIGRATE_SPEED 0.5
int xpv__carrefour_hv_make(struct xpv_policy *p)
{
    return make(p, params_xen, XPV_VM_VNUMA, HV_SAMPLE_NS, HV_MIGRATE_SPEED, false);
}

/*
 * Carrefour in a guest that knows the true topology through XPV: native costs, but it can
 * only move pages among the nodes backing its VM. The ASPLOS profile: papers.md says nothing
 * of Carrefour in an XPV guest (§3's topology-aware runtimes are Hotspot, TCMalloc and
 * jemalloc), so the guest is taken to run the public Carrefour on its Linux kernel, whose
 * defaults are the ASPLOS values (§1.4); Carrefour-LP needs the usenix module and a patched
 * kernel (the nathp debugfs knobs, §1.8).
 */
int xpv__carrefour_xpv_make(struct xpv_policy *p)
{
    return make(p, xpv_cf_params_asplos, XPV_VM_XPV, SAMPLE_NS, 1, true);
}
