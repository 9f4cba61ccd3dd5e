/*
 * xpv/cf_replay.h — recorded access samples for Carrefour (docs/carrefour.md, "Replay
 * format"): a text file of rounds, each with optional DRAM counters and the samples taken
 * during it, so samples captured on a machine with IBS/PEBS (or by any sampler) drive the
 * engine anywhere. The parser treats the file as untrusted: every line is checked, errors say
 * "NAME:LINE: what was expected".
 *
 *   xpv-samples 1                      first line: format and version
 *   nodes 4                            node count (<= XPV_CF_MAX_NODES)
 *   cpus 0-7:0 8-15:1 ...              CPU ranges and their node
 *   sample_every 65536                 accesses per sample (scales counters estimated
 *                                      from samples when a round has no dram lines)
 *   round 1000000000                   a round of that many ns; following lines belong to it
 *   dram 0 1 123456                    DRAM accesses from CPUs of node 0 to memory of node 1
 *   s 3 7f12345678 r 0                 a sample: CPU 3, data address (hex), r|w, page's node
 *   s 3 7f12345678 r 0 2m              ... and the size of the page holding the address:
 *                                      4k (the default) or 2m (a transparent huge page)
 *
 * Blank lines and lines starting with '#' are ignored. The page size is optional in version 1
 * (a file without it reads as before: every page 4 KiB).
 */
#ifndef XPV_CF_REPLAY_H
#define XPV_CF_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xpv/carrefour.h"
#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XPV_CF_REPLAY_MAX_CPUS 4096
/* Rounds a replay may hold (2 h 16 min of 1 s rounds; split longer recordings). Each round
 * carries a DRAM counter matrix of nodes x nodes doubles, and the matrices of one replay
 * take at most XPV_CF_REPLAY_MAX_COUNTERS bytes: all 8192 rounds up to 16 nodes, 512 at 64.
 * Without that bound a 66 KB file ("nodes 64" and 8192 "round 1" lines) took 557 MB. With
 * it a replay's memory is at most about 5 x its text (samples) + 16 MiB (counters). */
#define XPV_CF_REPLAY_MAX_ROUNDS   8192
#define XPV_CF_REPLAY_MAX_COUNTERS (16u << 20)

struct xpv_cf_sample {
    unsigned cpu;
    uint64_t addr;
    unsigned write; /* 0 or 1 */
    unsigned node;  /* node holding the page */
};

struct xpv_cf_replay_round {
    double round_ns;
    double *dram; /* nodes x nodes, as given, or estimated (into the replay's own array) */
    int dram_given;
    size_t first, count; /* its samples in the replay's sample array */
};

struct xpv_cf_replay {
    unsigned nr_nodes;
    double sample_every;
    int cpu_node[XPV_CF_REPLAY_MAX_CPUS]; /* -1: not listed */
    size_t nr_samples, nr_rounds;
    struct xpv_cf_sample *samples;
    /* huge[k] != 0: sample k's address was on a 2 MiB page (its line said 2m). NULL: every
     * sample on a 4 KiB page (a replay without samples; live runs, which build their own). */
    unsigned char *huge;
    struct xpv_cf_replay_round *rounds;
    double *dram; /* the rounds' matrices, nr_nodes^2 each, one allocation */
};

/* Parse text[0..len). -EINVAL with err "NAME:LINE: ..." for bad input, -ENOMEM. */
int xpv_cf_replay_parse(const char *text, size_t len, const char *name, struct xpv_cf_replay **out,
                        struct xpv_error *err);
int xpv_cf_replay_load(const char *path, struct xpv_cf_replay **out, struct xpv_error *err);
void xpv_cf_replay_free(struct xpv_cf_replay *r);

/*
 * Round i as the engine's inputs: counters (pointing into r) and the sampled pages (one per
 * distinct 4 KiB page; written to pages[0..cap) sorted by key, count returned in *nr; the page
 * size of the samples is ignored, as the ASPLOS module knows 4 KiB pages only).
 */
int xpv_cf_replay_round(const struct xpv_cf_replay *r, size_t i, struct xpv_cf_counters *c,
                        struct xpv_cf_page *pages, unsigned cap, unsigned *nr);

/*
 * The same with thp (the engine params' thp, Carrefour-LP's 2 MB rules): a 2 MiB range
 * (address & ~(2 MiB - 1)) holding at least one 2m sample of the round is one page, huge,
 * key = its first 4 KiB page (address >> 12), with every sample of the range, 4k ones
 * included (the THP was split or collapsed during the round: the module merges its 4 KB
 * entries into the 2 MB page that holds them), its node the first 2m sample's (in address
 * order); other samples are grouped by 4 KiB page. thp false: xpv_cf_replay_round().
 */
int xpv_cf_replay_round_thp(const struct xpv_cf_replay *r, size_t i, bool thp,
                            struct xpv_cf_counters *c, struct xpv_cf_page *pages, unsigned cap,
                            unsigned *nr);

/* One replayed round as the engine saw it (xpv_cf_replay_run). */
struct xpv_cf_replay_report {
    struct xpv_cf_metrics m;
    struct xpv_cf_round rd;
    double read_ratio; /* % of the round's samples that were reads */
    unsigned pages;    /* sampled pages given to the engine */
    double round_ns;   /* the recorded round's length */
    double engine_ns;  /* the engine's own time on it (building its inputs and deciding) */
};

/*
 * Every round of r through the engine, in order (cf_replay_run.c), as a live run would: the
 * hold profile's gate carries from one round to the next, the interleave draws come from seed.
 * Each round goes to on_round (i from 0) as it is decided. -ENOMEM; -EINVAL with err "round N:
 * the engine failed".
 */
int xpv_cf_replay_run(const struct xpv_cf_replay *r, const struct xpv_cf_params *p, uint64_t seed,
                      void (*on_round)(void *arg, size_t i, const struct xpv_cf_replay_report *rep),
                      void *arg, struct xpv_error *err);

#ifdef __cplusplus
}
#endif
#endif
