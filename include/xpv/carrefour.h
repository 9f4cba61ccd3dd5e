/*
 * xpv/carrefour.h — Carrefour's decision engine (Dashti et al., ASPLOS 2013; the public
 * runtime and kernel module, ../shared/background/papers.md §1), as a pure function of one
 * round's counters and page samples. A platform feeds it (the simulator today; a software
 * sampler on Linux later) and executes its decisions.
 *
 * Per round: global metrics (MAPTU, local access ratio, controller imbalance, read ratio,
 * memory use) decide which mechanisms are enabled; then each sampled page gets a fate:
 * replicate (seen from several nodes, never written, replication on), interleave (several
 * nodes; moved with probability = its node's share of the load, to a node drawn with weight
 * 100 - that node's share), migrate (one accessing node, at least min_samples samples, or
 * any page while interleaving is on), in that priority, up to a page budget per round.
 */
#ifndef XPV_CARREFOUR_H
#define XPV_CARREFOUR_H

#include <stdbool.h>
#include <stdint.h>

#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XPV_CF_MAX_NODES 64

struct xpv_cf_params {
    double maptu_min;          /* DRAM accesses per microsecond to enable at all (ASPLOS 50) */
    double mem_usage_max;      /* % memory used above which replication is off (25) */
    double read_ratio_min;     /* % reads needed for replication (95) */
    double max_locality;       /* interleave only if LAR < this % (100) */
    double min_imbalance;      /* interleave only if imbalance > this % (35) */
    double max_locality_migr;  /* migrate only if LAR < this % (80) */
    bool replication;          /* allowed at all (ASPLOS: yes; Carrefour-LP/Xen: no) */
    unsigned min_samples_migr; /* samples a single-node page needs to migrate (2) */
    unsigned page_budget;      /* decisions per round (MAX_PAGES_TO_WATCH_ACCURATE 30000) */
    unsigned adaptive_magic;   /* fewer orders than this: next round samples cheaply (10) */
    /* Sampled pages a cheap-rate round's table holds (MAX_PAGES_TO_WATCH_CHEAP 10000), for
     * platforms that model the module's table (the simulator). */
    unsigned page_budget_cheap;
    /* The platform cannot replicate (stock Linux): a page the rules would replicate gets the
     * fate it would have with replication off (interleave while interleaving is on, ...),
     * marked from_replicate and counted in the round's replicate_fallback. */
    bool replicate_fallback;
};

/* The ASPLOS runtime's values, or Carrefour-LP's / the Xen port's (MAPTU_MIN 15, no
 * replication). */
void xpv_cf_params_asplos(struct xpv_cf_params *p);
void xpv_cf_params_lp(struct xpv_cf_params *p);

/* One round's global counters. dram[i * nr_nodes + j]: DRAM accesses from CPUs of node i to
 * memory of node j during the round. */
struct xpv_cf_counters {
    unsigned nr_nodes;
    const double *dram;
    double round_ns;
    double read_ratio; /* % of accesses that read */
    double mem_usage;  /* % of memory in use */
};

struct xpv_cf_metrics {
    double maptu;     /* DRAM accesses per microsecond */
    double lar;       /* local access ratio, % */
    double imbalance; /* stddev / mean of the load each controller received, % (n-1 stddev) */
    double load[XPV_CF_MAX_NODES]; /* share of the load on each node, % */
    bool enabled, migration, interleaving, replication;
};

/* A sampled page: its home node, the samples taken by CPUs of each node, writes among them. */
struct xpv_cf_page {
    uint64_t key; /* the platform's name for the page */
    unsigned node;
    unsigned accesses[XPV_CF_MAX_NODES];
    unsigned writes;
};

enum xpv_cf_fate { XPV_CF_MIGRATE, XPV_CF_INTERLEAVE, XPV_CF_REPLICATE };
struct xpv_cf_decision {
    uint64_t key;
    unsigned from, to;
    enum xpv_cf_fate fate; /* for REPLICATE, `to` is unused: replicate on every accessing node */
    bool from_replicate;   /* replicate_fallback: the rules wanted this page replicated */
};

struct xpv_cf_round {
    struct xpv_cf_metrics m;
    unsigned nr_decisions;
    unsigned migrate, interleave, replicate; /* decisions by fate */
    unsigned skipped_budget;                 /* pages left undecided by the budget */
    unsigned replicate_fallback; /* pages the rules would replicate, decided without it */
    bool cheap_sampling_next;    /* adaptive sampling for the next round */
};

/* Global metrics and gates of a round. -EINVAL for more than XPV_CF_MAX_NODES nodes. */
int xpv_cf_metrics(const struct xpv_cf_params *p, const struct xpv_cf_counters *c,
                   struct xpv_cf_metrics *m);

/*
 * Decide the fate of the sampled pages (metrics from xpv_cf_metrics). Writes up to `cap`
 * decisions to out; rng is the caller's random state (the interleave draws), so a platform
 * reproduces a run from a seed.
 */
int xpv_cf_decide(const struct xpv_cf_params *p, const struct xpv_cf_metrics *m,
                  const struct xpv_cf_page *pages, unsigned nr_pages, uint64_t *rng,
                  struct xpv_cf_decision *out, unsigned cap, struct xpv_cf_round *round);

#ifdef __cplusplus
}
#endif
#endif
