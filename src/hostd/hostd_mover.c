/*
 * hostd_mover.c — move a domain's pages onto its nodes, a bounded amount per round.
 *
 * A pass walks the domain's ranges in batches: ask where each page is (move_pages query),
 * then move the pages that sit off the target nodes in one move_pages call, spreading them
 * round-robin over the targets by page index (so a domain on two nodes ends with its memory
 * interleaved over both, like the threads that are spread over both). The budget counts bytes
 * moved; the cursor lets the next round resume where this one stopped. Pages the kernel will
 * not move (pinned, shared, under I/O) are counted as failed and left where they are; a
 * process that exits ends its ranges' part of the pass.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hostd.h"

#define BATCH 128 /* pages per move_pages call: the deadline is checked between calls */

uint64_t hostd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

long hostd_move_pages(struct hostd *h, const struct hostd_range *r, unsigned nr, uint64_t nodes,
                      uint64_t budget, uint64_t deadline_ns, uint64_t *cursor, bool *done)
{
    const uint64_t ps = h->page_size;
    *done = true;
    void *pages[BATCH], *mv[BATCH];
    int status[BATCH], to[BATCH];
    uint64_t base = 0, moved_bytes = 0;
    /* Examine at most 64× the budget per round: a pass over a large, already-placed domain
     * must not stall the daemon. */
    uint64_t examine = budget / ps * 64 + BATCH, examined = 0;
    long moved = 0;
    pid_t dead = 0;
    const uint64_t start = *cursor;
    for (unsigned k = 0; k < nr; k++) {
        uint64_t npages = (r[k].end - r[k].start) / ps;
        if (start >= base + npages || r[k].pid == dead) {
            base += npages;
            continue;
        }
        int targets[XPV_PLACE_MAX_NODES], nt = 0;
        uint64_t want_nodes = r[k].nodes ? r[k].nodes : nodes;
        for (unsigned i = 0; i < h->topo->nr_nodes && i < XPV_PLACE_MAX_NODES; i++)
            if (want_nodes >> i & 1)
                targets[nt++] = h->topo->nodes[i].id;
        for (uint64_t i = start > base ? start - base : 0; nt && i < npages;) {
            if (moved_bytes >= budget || examined >= examine ||
                (deadline_ns && hostd_now_ns() >= deadline_ns)) {
                *cursor = base + i;
                *done = false;
                return moved;
            }
            uint64_t left = (budget - moved_bytes + ps - 1) / ps; /* >= 1 here */
            unsigned n = (unsigned)(npages - i < BATCH ? npages - i : BATCH);
            if (n > left)
                n = (unsigned)left;
            for (unsigned j = 0; j < n; j++)
                pages[j] = (void *)(uintptr_t)(r[k].start + (i + j) * ps);
            long rc = h->ops->move_pages(h->ops->ctx, r[k].pid, n, pages, NULL, status, 0);
            examined += n;
            if (rc == -ESRCH) {
                h->stats.vanished++;
                dead = r[k].pid;
                break;
            }
            if (rc < 0) {
                h->stats.errors++;
                hostd_log(h, HOSTD_LOG_WARN, NULL, "pid %d: querying pages: %s", (int)r[k].pid,
                          strerror((int)-rc));
                break;
            }
            unsigned m = 0;
            for (unsigned j = 0; j < n; j++) {
                if (status[j] < 0)
                    continue; /* not present (never touched, or swapped): nothing to move */
                int want = targets[(base + i + j) % (uint64_t)nt];
                bool on_target = false;
                for (int t = 0; t < nt; t++)
                    on_target |= status[j] == targets[t];
                if (on_target)
                    continue;
                mv[m] = pages[j];
                to[m++] = want;
            }
            if (m) {
                rc = h->ops->move_pages(h->ops->ctx, r[k].pid, m, mv, to, status, XPV_MPOL_MF_MOVE);
                if (rc == -ESRCH) {
                    h->stats.vanished++;
                    dead = r[k].pid;
                    break;
                }
                if (rc < 0) {
                    h->stats.errors++;
                    hostd_log(h, HOSTD_LOG_WARN, NULL, "pid %d: moving %u pages: %s", (int)r[k].pid,
                              m, strerror((int)-rc));
                } else {
                    for (unsigned j = 0; j < m; j++) {
                        if (status[j] == to[j])
                            moved++;
                        else
                            h->stats.pages_failed++;
                    }
                    moved_bytes += (uint64_t)m * ps;
                }
            }
            i += n;
        }
        base += npages;
    }
    *cursor = 0;
    return moved;
}
