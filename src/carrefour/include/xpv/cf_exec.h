/*
 * xpv/cf_exec.h — Carrefour's decisions executed on a Linux process through the ops table
 * (xpv/ops.h): migrate and interleave become batched move_pages(2) calls naming each page's
 * destination; replication, which stock Linux cannot do from user space, falls back to
 * interleaving (the page moves to one of the nodes that accessed it, taken in turn) and is
 * counted as "replicate->interleave".
 */
#ifndef XPV_CF_EXEC_H
#define XPV_CF_EXEC_H

#include <stdbool.h>
#include <sys/types.h>

#include "xpv/carrefour.h"
#include "xpv/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XPV_CF_EXEC_BATCH 512 /* pages per move_pages call */

struct xpv_cf_exec_stats {
    unsigned migrated, interleaved, repl_interleaved; /* pages now on their destination */
    unsigned failed; /* pages move_pages did not move (status != destination) */
    unsigned calls;  /* move_pages calls made */
    int last_error;  /* negative errno of the last page or call that failed, or 0 */
};

/*
 * Execute decisions d[0..n) on process pid (page address = key << page_shift). pages[0..np)
 * are the round's sampled pages sorted by key (as xpv_cf_replay_round returns them): a
 * replicate decision moves its page to the next of the nodes that accessed it (*rr carries
 * the turn across calls); a decision marked from_replicate (the engine's replicate_fallback,
 * which live runs use) moves where the engine said and counts as replicate->interleave. dry_run:
 * count what would move, call nothing. Returns 0, or the negative errno of a call that failed as a
 * whole (-ESRCH: the process is gone).
 */
int xpv_cf_exec(struct xpv_ops *ops, pid_t pid, const struct xpv_cf_decision *d, unsigned n,
                const struct xpv_cf_page *pages, unsigned np, unsigned page_shift, bool dry_run,
                unsigned *rr, struct xpv_cf_exec_stats *st);

#ifdef __cplusplus
}
#endif
#endif
