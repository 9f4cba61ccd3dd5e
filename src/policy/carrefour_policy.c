/*
 * carrefour_policy.c — Carrefour as a policy of the shared core: each round (1 s) it takes
 * the platform's counters and access samples, runs the engine (carrefour.c) and turns its
 * page decisions into migrations.
 *
 * Samples arrive aggregated as (thread, region, node holding the pages, count); the engine
 * wants pages. For each (region, home node) bucket holding P pages and hit by S samples, the
 * number of distinct pages sampled is P (1 - exp(-S/P)) (samples fall on pages uniformly);
 * up to REPS representative pages stand for them, each drawing its samples' accessing nodes
 * from the bucket's mix. A decision on a representative page moves the real pages it stands
 * for. The module keeps the pages sampled in a round in a table of page_budget entries
 * (page_budget_cheap after a round that asked for cheap sampling), filled in the order pages
 * are first sampled; samples of pages beyond it are missed. A page sampled lambda times per
 * round on average (Poisson) is first sampled before a fraction tau of the round with
 * probability 1 - exp(-lambda tau); tau is when the table fills (1 if it never does). So hot
 * pages are nearly always in the table and cold ones in proportion to their rate.
 * Replication is not modelled * Replication is not modelled by the simulator: its gate stays off
 * here (as on stock Linux, where the engine's replication decisions would fall back to
 * interleaving).
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
    bool cheap; /* the last round asked for cheap sampling: the smaller table */
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

/* Distinct pages sampled by time tau of the round (fraction), over every (region, node)
 * bucket of the mix. */
static double sampled_by(const struct xpv_pol_view *v, const double *mix, double tau)
{
    unsigned N = v->nr_nodes;
    double d = 0;
    for (size_t b = 0; b < (size_t)v->nr_regions * N; b++) {
        double S = 0, P = v->region_pages[b];
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

static int decide(struct xpv_policy *p, const struct xpv_pol_view *v,
                  const struct xpv_pol_sample *smp, unsigned nr, struct xpv_pol_actions *out)
{
    struct cf_state *s = p->state;
    unsigned N = v->nr_nodes;
    if (N > XPV_CF_MAX_NODES || !v->dram)
        return 0;
    struct xpv_cf_counters c = {N, v->dram, v->period_ns, v->read_ratio, v->mem_usage};
    struct xpv_cf_metrics m;
    int rc = xpv_cf_metrics(&s->params, &c, &m);
    if (rc < 0)
        return rc;
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
    for (unsigned r = 0; r < v->nr_regions; r++)
        for (unsigned n = 0; n < N; n++) {
            const double *mx = &mix[((size_t)r * N + n) * N];
            double S = 0, P = v->region_pages[(size_t)r * N + n];
            for (unsigned x = 0; x < N; x++)
                S += mx[x];
            if (S <= 0 || P < 1)
                continue;
            /* pages in the table; each has the samples of a page sampled at least once */
            double distinct = P * -expm1(-S * tau / P), per_page = S / (P * -expm1(-S / P));
            if (distinct < 0.5)
                continue;
            unsigned reps = distinct < REPS ? (unsigned)ceil(distinct) : REPS;
            if ((rc = ensure(s, np + reps)) < 0)
                goto out;
            for (unsigned k = 0; k < reps; k++) {
                struct xpv_cf_page *pg = &s->pages[np];
                memset(pg, 0, sizeof(*pg));
                pg->key = np; /* decisions name pages by their index here */
                s->region[np] = r;
                pg->node = n;
                unsigned samples = (unsigned)fmax(1, xpv_rng_poisson(&s->rng, per_page));
                for (unsigned j = 0; j < samples; j++)
                    pg->accesses[draw_node(&s->rng, mx, N, S)]++;
                s->weight[np++] = distinct / reps;
            }
        }
    struct xpv_cf_round round;
    if ((rc = xpv_cf_decide(&s->params, &m, s->pages, np, &s->rng, s->dec, np ? np : 0, &round)) <
        0)
        goto out;
    for (unsigned i = 0; i < round.nr_decisions; i++) {
        const struct xpv_cf_decision *d = &s->dec[i];
        unsigned g = v->region_group[s->region[d->key]];
        if (d->to >= 64 || !(v->group_allowed[g] >> d->to & 1))
            continue; /* a node this domain may not use */
        double w = s->weight[d->key];
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

static int make(struct xpv_policy *p, enum xpv_vm_mode mode, double sample_ns, double speed,
                bool in_guest)
{
    struct cf_state *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    xpv_cf_params_asplos(&s->params);
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
    return make(p, XPV_VM_VNUMA, SAMPLE_NS, 1, false);
}

/*
 * Carrefour run by the hypervisor on guest memory (Voron et al., EuroSys'17): it sees the true
 * nodes, but each sample goes through the hypervisor (the NMI lands in it and walks the
 * guest's page table: HV_SAMPLE_NS, assumed) and a guest page moves by copy and p2m remap
 * (HV_MIGRATE_SPEED of native migration throughput, assumed). Guests allocate as static vNUMA.
 */
#define HV_SAMPLE_NS     3000.0
#define HV_MIGRATE_SPEED 0.5
int xpv__carrefour_hv_make(struct xpv_policy *p)
{
    return make(p, XPV_VM_VNUMA, HV_SAMPLE_NS, HV_MIGRATE_SPEED, false);
}

/* Carrefour in a guest that knows the true topology through XPV: native costs, but it can
 * only move pages among the nodes backing its VM. */
int xpv__carrefour_xpv_make(struct xpv_policy *p)
{
    return make(p, XPV_VM_XPV, SAMPLE_NS, 1, true);
}
