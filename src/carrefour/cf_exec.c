/*
 * cf_exec.c — Carrefour's decisions as page moves on Linux (xpv/cf_exec.h). Each decision
 * becomes one entry of a move_pages(2) batch with its own destination node, so one call moves
 * pages to several nodes (migrate: the accessing node; interleave: the engine's weighted
 * draw; replicate: no user-space mechanism, so the next accessing node in turn). A page the
 * kernel reports on its destination after the call counts as moved; anything else (busy,
 * gone, no memory on the node) counts as failed with its status kept in last_error.
 */
#include "xpv/cf_exec.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static const struct xpv_cf_page *find_page(const struct xpv_cf_page *pages, unsigned np,
                                           uint64_t key)
{
    unsigned lo = 0, hi = np;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (pages[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < np && pages[lo].key == key ? &pages[lo] : NULL;
}

/* The destination of a replicate decision: the next accessing node after *rr that is not
 * the page's home, or -1. */
static int replicate_target(const struct xpv_cf_page *pg, unsigned from, unsigned *rr)
{
    if (!pg)
        return -1;
    for (unsigned k = 0; k < XPV_CF_MAX_NODES; k++) {
        unsigned n = (*rr + k) % XPV_CF_MAX_NODES;
        if (pg->accesses[n] && n != from) {
            *rr = n + 1;
            return (int)n;
        }
    }
    return -1;
}

/* A moved page in the statistics: replicate decisions, and decisions the engine made for
 * pages it would have replicated (replicate_fallback), count as replicate->interleave. */
static void count(struct xpv_cf_exec_stats *st, enum xpv_cf_fate fate)
{
    if (fate == XPV_CF_MIGRATE)
        st->migrated++;
    else if (fate == XPV_CF_INTERLEAVE)
        st->interleaved++;
    else
        st->repl_interleaved++;
}

static int flush(struct xpv_ops *ops, pid_t pid, void **addr, const int *node,
                 const enum xpv_cf_fate *fate, unsigned n, int *status,
                 struct xpv_cf_exec_stats *st)
{
    if (!n)
        return 0;
    for (unsigned i = 0; i < n; i++)
        status[i] = -EBUSY;
    st->calls++;
    long rc = ops->move_pages(ops->ctx, pid, n, addr, node, status, XPV_MPOL_MF_MOVE);
    if (rc < 0) {
        st->last_error = (int)rc;
        st->failed += n;
        return (int)rc;
    }
    for (unsigned i = 0; i < n; i++) {
        if (status[i] != node[i]) {
            st->failed++;
            st->last_error = status[i] < 0 ? status[i] : -EAGAIN;
        } else {
            count(st, fate[i]);
        }
    }
    return 0;
}

int xpv_cf_exec(struct xpv_ops *ops, pid_t pid, const struct xpv_cf_decision *d, unsigned n,
                const struct xpv_cf_page *pages, unsigned np, unsigned page_shift, bool dry_run,
                unsigned *rr, struct xpv_cf_exec_stats *st)
{
    void *addr[XPV_CF_EXEC_BATCH];
    int node[XPV_CF_EXEC_BATCH], status[XPV_CF_EXEC_BATCH];
    enum xpv_cf_fate fate[XPV_CF_EXEC_BATCH];
    unsigned b = 0;
    memset(st, 0, sizeof(*st));
    if (page_shift < 12 || page_shift > 30)
        return -EINVAL;
    for (unsigned i = 0; i < n; i++) {
        if (d[i].fate == XPV_CF_SPLIT)
            continue; /* huge pages only: live runs never mark one (replays do, but only
                         print their decisions) */
        int to = (int)d[i].to;
        if (d[i].fate == XPV_CF_REPLICATE)
            to = replicate_target(find_page(pages, np, d[i].key), d[i].from, rr);
        if (to < 0 || (unsigned)to == d[i].from)
            continue;
        enum xpv_cf_fate f = d[i].from_replicate ? XPV_CF_REPLICATE : d[i].fate;
        if (dry_run) {
            count(st, f);
            continue;
        }
        addr[b] = (void *)(uintptr_t)(d[i].key << page_shift);
        node[b] = to;
        fate[b] = f;
        if (++b == XPV_CF_EXEC_BATCH) {
            int rc = flush(ops, pid, addr, node, fate, b, status, st);
            b = 0;
            if (rc < 0)
                return rc;
        }
    }
    return flush(ops, pid, addr, node, fate, b, status, st);
}
