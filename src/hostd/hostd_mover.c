/*
 * hostd_mover.c — move a domain's pages onto its nodes, a bounded amount per round.
 *
 * A pass walks the domain's ranges in batches: ask where each page is (move_pages query),
 * then move the pages that sit off the target nodes in one move_pages call, spreading them
 * round-robin over the targets by 2 MiB chunk (so a domain on two nodes ends with its memory
 * interleaved over both, like the threads that are spread over both, without splitting
 * transparent huge pages). The counts are of base pages found on their target after a call
 * (a huge page asked for by one of its base pages moves whole). The budget counts bytes
 * moved, the deadline bounds the time (the daemon is single-threaded: its control socket
 * waits while pages move); the pass's cursor lets the next round resume where this one
 * stopped. A process that exits ends its ranges' part of the pass.
 *
 * The kernel stops a move_pages call at the first batch it fails to migrate (pages busy or
 * pinned for the moment), returns how many pages it did not move, and leaves the status of
 * the pages after that batch unwritten; so after such a call the mover asks where the pages
 * are, counts those left behind as failed, and follows a pass that left pages behind while
 * moving others with another, until a pass moves nothing more. Pages that never move (shared
 * with another process, which MPOL_MF_MOVE does not touch) stay where they are.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hostd.h"

#define BATCH 128 /* pages per move_pages call: the deadline is checked between calls */

/* A call that failed: the process is gone (the rest of its ranges is skipped) or the call
 * failed (logged, counted; the pass goes on). */
static void call_failed(struct hostd *h, long rc, pid_t pid, const char *what, pid_t *dead)
{
    if (rc == -ESRCH) {
        h->stats.vanished++;
        *dead = pid;
        return;
    }
    h->stats.errors++;
    hostd_log(h, HOSTD_LOG_WARN, NULL, "pid %d: %s: %s", (int)pid, what, strerror((int)-rc));
}

uint64_t hostd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

long hostd_move_pages(struct hostd *h, const struct hostd_range *r, unsigned nr, uint64_t nodes,
                      uint64_t budget, uint64_t deadline_ns, struct hostd_pass *pass, bool *done)
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
    const uint64_t start = pass->cursor;
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
                pass->cursor = base + i;
                pass->moved += (uint64_t)moved;
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
            if (rc < 0) {
                call_failed(h, rc, r[k].pid, "querying pages", &dead);
                break;
            }
            unsigned m = 0;
            for (unsigned j = 0; j < n; j++) {
                if (status[j] < 0)
                    continue; /* not present (never touched, or swapped): nothing to move */
                /* by 2 MiB chunk: a transparent huge page moves whole, and asking for its
                 * base pages on different nodes only gets EACCES/EBUSY */
                int want = targets[((uintptr_t)pages[j] >> 21) % (uint64_t)nt];
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
                if (rc < 0) {
                    call_failed(h, rc, r[k].pid, "moving pages", &dead);
                    if (dead == r[k].pid)
                        break;
                } else {
                    /* pages left behind: the kernel may not have written their status */
                    if (rc > 0 &&
                        h->ops->move_pages(h->ops->ctx, r[k].pid, m, mv, NULL, status, 0) < 0)
                        for (unsigned j = 0; j < m; j++)
                            status[j] = -EAGAIN;
                    unsigned ok = 0, first_bad = m;
                    for (unsigned j = 0; j < m; j++) {
                        if (status[j] == to[j]) {
                            ok++;
                        } else {
                            h->stats.pages_failed++;
                            pass->failed++;
                            first_bad = first_bad < m ? first_bad : j;
                        }
                    }
                    moved += ok;
                    if (first_bad < m)
                        hostd_log(h, HOSTD_LOG_DEBUG, NULL,
                                  "pid %d: %u of %u pages moved (call returned %ld; page %#lx "
                                  "wanted node %d, status %d)",
                                  (int)r[k].pid, ok, m, rc, (unsigned long)(uintptr_t)mv[first_bad],
                                  to[first_bad], status[first_bad]);
                    moved_bytes += (uint64_t)m * ps;
                }
            }
            i += n;
        }
        base += npages;
    }
    pass->moved += (uint64_t)moved;
    /* the end of a pass: another if this one left pages behind but could still move some */
    *done = !(pass->failed && pass->moved);
    *pass = (struct hostd_pass){0};
    return moved;
}
