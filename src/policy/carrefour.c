/*
 * carrefour.c — Carrefour's metrics, gates and per-page rules (xpv/carrefour.h), following
 * the public runtime (carrefour.c: metrics and gates) and kernel module (decide_pages_fate):
 *
 *   enabled      = MAPTU >= maptu_min
 *   replication  = enabled && replication allowed && mem_usage <= mem_usage_max
 *                  && read_ratio >= read_ratio_min
 *   interleaving = enabled && LAR < max_locality && imbalance > min_imbalance
 *   migration    = enabled && LAR < max_locality_migr
 *
 *   per page: nodes_seen = nodes with samples; dest = the last such node
 *     replicate  = replication && nodes_seen > 1 && no write
 *     interleave = interleaving && nodes_seen > 1
 *     migrate    = ((migration && nodes_seen == 1 && samples >= min_samples) || interleaving)
 *                  && home != dest
 *   interleave: with probability load[home] %, move to a node drawn with weight 100 - load[n]
 *   (lighter nodes more likely; the draw may pick home: no move).
 *   A platform that cannot replicate (replicate_fallback) gives a page the rules would
 *   replicate the fate it would have with replication off, and counts it.
 */
#include "xpv/carrefour.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "xpv/rng.h"

void xpv_cf_params_asplos(struct xpv_cf_params *p)
{
    *p = (struct xpv_cf_params){
            .maptu_min = 50,
            .mem_usage_max = 25,
            .read_ratio_min = 95,
            .max_locality = 100,
            .min_imbalance = 35,
            .max_locality_migr = 80,
            .replication = true,
            .min_samples_migr = 2,
            .page_budget = 30000,
            .page_budget_cheap = 10000,
            .adaptive_magic = 10,
    };
}

void xpv_cf_params_lp(struct xpv_cf_params *p)
{
    xpv_cf_params_asplos(p);
    p->maptu_min = 15;
    p->replication = false;
}

int xpv_cf_metrics(const struct xpv_cf_params *p, const struct xpv_cf_counters *c,
                   struct xpv_cf_metrics *m)
{
    unsigned n = c->nr_nodes;
    memset(m, 0, sizeof(*m));
    if (n < 1 || n > XPV_CF_MAX_NODES)
        return -EINVAL;
    double total = 0, local = 0, recv[XPV_CF_MAX_NODES] = {0};
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < n; j++) {
            double v = c->dram[i * n + j];
            total += v;
            recv[j] += v;
            if (i == j)
                local += v;
        }
    m->maptu = c->round_ns > 0 ? total / (c->round_ns / 1000) : 0;
    m->lar = total > 0 ? 100 * local / total : 100;
    double mean = total / n, ss = 0;
    for (unsigned j = 0; j < n; j++) {
        ss += (recv[j] - mean) * (recv[j] - mean);
        m->load[j] = total > 0 ? 100 * recv[j] / total : 100;
    }
    /* GSL's gsl_stats_sd_m: the sample standard deviation (n - 1) */
    m->imbalance = n > 1 && mean > 0 ? 100 * sqrt(ss / (n - 1)) / mean : 0;
    m->enabled = m->maptu >= p->maptu_min;
    m->replication = m->enabled && p->replication && c->mem_usage <= p->mem_usage_max &&
                     c->read_ratio >= p->read_ratio_min;
    m->interleaving = m->enabled && m->lar < p->max_locality && m->imbalance > p->min_imbalance;
    m->migration = m->enabled && m->lar < p->max_locality_migr;
    return 0;
}

int xpv_cf_decide(const struct xpv_cf_params *p, const struct xpv_cf_metrics *m,
                  const struct xpv_cf_page *pages, unsigned nr_pages, uint64_t *rng,
                  struct xpv_cf_decision *out, unsigned cap, struct xpv_cf_round *round)
{
    memset(round, 0, sizeof(*round));
    round->m = *m;
    if (!m->enabled || !(m->migration || m->interleaving || m->replication)) {
        round->cheap_sampling_next = true;
        return 0;
    }
    /* Interleave weights: cumulative (100 - load[n]), lighter nodes weigh more. */
    double distrib[XPV_CF_MAX_NODES], dmax = 0;
    unsigned nn = 0;
    for (unsigned i = 0; i < nr_pages; i++)
        for (unsigned n = 0; n < XPV_CF_MAX_NODES; n++)
            if (pages[i].accesses[n] && n + 1 > nn)
                nn = n + 1;
    for (unsigned n = 0; n < XPV_CF_MAX_NODES; n++) {
        if (m->load[n] > 0 && n + 1 > nn)
            nn = n + 1;
    }
    for (unsigned n = 0; n < nn; n++) {
        dmax += 100 - m->load[n];
        distrib[n] = dmax;
    }
    unsigned budget = p->page_budget < cap ? p->page_budget : cap;
    for (unsigned i = 0; i < nr_pages; i++) {
        const struct xpv_cf_page *pg = &pages[i];
        unsigned seen = 0, total = 0, dest = pg->node;
        for (unsigned n = 0; n < XPV_CF_MAX_NODES; n++)
            if (pg->accesses[n]) {
                seen++;
                total += pg->accesses[n];
                dest = n;
            }
        if (!seen)
            continue;
        bool replicate = m->replication && seen > 1 && pg->writes == 0;
        bool fallback = replicate && p->replicate_fallback;
        if (fallback) {
            round->replicate_fallback++;
            replicate = false;
        }
        bool interleave = m->interleaving && seen > 1;
        bool migrate =
                ((m->migration && seen == 1 && total >= p->min_samples_migr) || m->interleaving) &&
                pg->node != dest;
        struct xpv_cf_decision d = {pg->key, pg->node, dest, XPV_CF_MIGRATE, fallback};
        if (replicate) {
            d.fate = XPV_CF_REPLICATE;
        } else if (interleave) {
            double load = pg->node < XPV_CF_MAX_NODES ? m->load[pg->node] : 0;
            if ((double)(xpv_rng_next(rng) % 10000) >= load * 100 || dmax <= 0)
                continue; /* moved with probability load[home] % */
            double r = (double)(xpv_rng_next(rng) % 1000000) / 1000000 * dmax;
            unsigned to = 0;
            while (to + 1 < nn && distrib[to] < r)
                to++;
            if (to == pg->node)
                continue;
            d.to = to;
            d.fate = XPV_CF_INTERLEAVE;
        } else if (!migrate) {
            continue;
        }
        if (round->nr_decisions == budget) {
            round->skipped_budget++;
            continue;
        }
        out[round->nr_decisions++] = d;
        if (d.fate == XPV_CF_MIGRATE)
            round->migrate++;
        else if (d.fate == XPV_CF_INTERLEAVE)
            round->interleave++;
        else
            round->replicate++;
    }
    /* orders actually executed: every page move and replication */
    round->cheap_sampling_next =
            round->migrate + round->interleave + round->replicate < p->adaptive_magic;
    return 0;
}
