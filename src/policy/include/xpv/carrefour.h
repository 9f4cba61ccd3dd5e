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
 *
 * Huge pages (Carrefour-LP, ATC'14, and the Xen port: papers.md §1.8, §2.5), with `thp` on: a
 * page the platform marks huge (2 MiB, from IBS's TLB bits) is decided whole by the module's
 * 2 MB rules: never replicated; seen from several nodes, it is split if hot (more than
 * hot_page_pct % of the round's samples, when hot_page_pct > 0: Carrefour-LP's hybrid mode,
 * not the Xen port) and its 512 sub-pages interleaved round-robin, else
 * interleaved whole by the same weighted draw while interleaving is on
 * (INTERLEAVE_SHARED_THP); seen from one node that is not its home, it migrates whole while
 * migration or interleaving is on, whatever its sample count (MIGRATE_MISPLACED_THP).
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
    /* Decide pages marked huge by the 2 MB rules (INTERLEAVE_SHARED_THP, MIGRATE_MISPLACED_THP:
     * Carrefour-LP and the Xen port, papers.md §1.8, §2.5); off: `huge` is ignored (the ASPLOS
     * module knows 4 KiB pages only). */
    bool thp;
    /* A shared huge page receiving more than this % of the round's samples is hot: split, its
     * sub-pages interleaved (ENABLE_HOT_PAGE_TRACKING, "> 6 %", papers.md §1.8; the module
     * compares the integer percentage). 0: off. */
    unsigned hot_page_pct;
    /* Hysteresis on the interleaving gate (not in the papers: xpv's `hold` profile). > 0: once
     * a round has interleaving on, the next keeps it on while the imbalance stays above this %
     * and above twice the counting noise (xpv_cf_metrics.imbalance_noise), even below
     * min_imbalance; the previous round's gate comes in xpv_cf_counters.interleaving_before.
     * 0: off, the papers' plain gate. */
    double hold_imbalance;
};

/* The ASPLOS runtime's values, or Carrefour-LP's (MAPTU_MIN 15, no replication, the 2 MB
 * rules and hot-page splitting at 6 %). The Xen port keeps the LP values but lists no
 * hot-page tracking among its options (papers.md §1.4, §2.5): it is these with
 * hot_page_pct 0 (the simulator's carrefour-hv).
 * `hold` is xpv's own profile, a departure from the papers: the LP values with hysteresis on
 * the interleaving gate (on above min_imbalance 35 %, off only at or below hold_imbalance
 * 5 % or within twice the counting noise). The plain gate stops interleaving while one of 8 nodes
 * still serves about twice the others' load (docs/carrefour.md, "In the simulator"). */
void xpv_cf_params_asplos(struct xpv_cf_params *p);
void xpv_cf_params_lp(struct xpv_cf_params *p);
/* The Xen port's: LP with hot_page_pct 0 (carrefour-hv's, `xpv carrefour --profile hv`). */
void xpv_cf_params_hv(struct xpv_cf_params *p);
void xpv_cf_params_hold(struct xpv_cf_params *p);

/* One round's global counters. dram[i * nr_nodes + j]: DRAM accesses from CPUs of node i to
 * memory of node j during the round. */
struct xpv_cf_counters {
    unsigned nr_nodes;
    const double *dram;
    double round_ns;
    double read_ratio; /* % of accesses that read */
    double mem_usage;  /* % of memory in use */
    /* Samples taken in the round, the hot-page test's denominator (the module's
     * total_accesses_ibs: every sample, also those the table missed); 0: the sum over the
     * pages given to xpv_cf_decide. */
    double samples;
    /* The previous round's interleaving gate (xpv_cf_metrics.interleaving), for the params'
     * hold_imbalance; false for a first round. Ignored when hold_imbalance is 0. */
    bool interleaving_before;
};

struct xpv_cf_metrics {
    double maptu;     /* DRAM accesses per microsecond */
    double lar;       /* local access ratio, % */
    double imbalance; /* stddev / mean of the load each controller received, % (n-1 stddev) */
    /* The imbalance an even load shows from counting alone, 100 sqrt(nodes / counts) %: the
     * DRAM counters taken as counts of events (a few hundred samples: ~16 % on 8 nodes;
     * hardware counters: ~0). Counters scaled up from samples understate it. */
    double imbalance_noise;
    double load[XPV_CF_MAX_NODES]; /* share of the load on each node, % */
    double samples;                /* the counters' samples (0: count the pages') */
    bool enabled, migration, interleaving, replication;
};

/* A sampled page: its home node, the samples taken by CPUs of each node, writes among them. */
struct xpv_cf_page {
    uint64_t key; /* the platform's name for the page */
    unsigned node;
    unsigned accesses[XPV_CF_MAX_NODES];
    unsigned writes;
    bool huge; /* a 2 MiB page (decided by the 2 MB rules when the params' thp is on) */
};

/* XPV_CF_SPLIT (huge pages only): split the page; its sub-page k goes to node k mod the node
 * count (`to` unused), as the module interleaves a hot page's 512 sub-pages. */
enum xpv_cf_fate { XPV_CF_MIGRATE, XPV_CF_INTERLEAVE, XPV_CF_REPLICATE, XPV_CF_SPLIT };
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
    unsigned split;                          /* hot huge pages split (XPV_CF_SPLIT) */
    unsigned huge_pages;         /* pages decided by the 2 MB rules (thp on, marked huge) */
    unsigned huge_moved_whole;   /* of the migrate and interleave decisions, those on them */
    unsigned skipped_budget;     /* pages left undecided by the budget */
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
