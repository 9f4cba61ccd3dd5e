/*
 * cf_replay_run.c — Carrefour's engine over a recording (xpv/cf_replay.h): each round's
 * inputs from the replay, the metrics and the decisions, with what a round hands the next
 * (the interleaving gate, for the hold profile's hysteresis; the draws' generator) and the
 * engine's own time, measured around the whole round. Nothing moves and nothing is printed:
 * each round goes to the caller's callback (`xpv carrefour --replay`, `--perf-script`).
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "xpv/cf_replay.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int xpv_cf_replay_run(const struct xpv_cf_replay *r, const struct xpv_cf_params *p, uint64_t seed,
                      void (*on_round)(void *arg, size_t i, const struct xpv_cf_replay_report *rep),
                      void *arg, struct xpv_error *err)
{
    unsigned cap = p->page_budget * 4;
    struct xpv_cf_page *pages = malloc(cap * sizeof(*pages));
    struct xpv_cf_decision *dec = malloc(cap * sizeof(*dec));
    uint64_t rng = seed;
    bool interleaving = false; /* the previous round's gate (the hold profile's hysteresis) */
    int rc = 0;
    if (!pages || !dec)
        rc = xpv_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < r->nr_rounds; i++) {
        struct xpv_cf_counters ctr;
        struct xpv_cf_replay_report rep;
        double t0 = now_ns();
        int e = xpv_cf_replay_round_thp(r, i, p->thp, &ctr, pages, cap, &rep.pages);
        ctr.interleaving_before = interleaving;
        if (e < 0 || xpv_cf_metrics(p, &ctr, &rep.m) < 0 ||
            xpv_cf_decide(p, &rep.m, pages, rep.pages, &rng, dec, cap, &rep.rd) < 0) {
            rc = xpv_error_set(err, -EINVAL, "round %zu: the engine failed", i);
            break;
        }
        interleaving = rep.m.interleaving;
        rep.engine_ns = now_ns() - t0;
        rep.read_ratio = ctr.read_ratio;
        rep.round_ns = ctr.round_ns;
        if (on_round)
            on_round(arg, i, &rep);
    }
    free(pages);
    free(dec);
    return rc;
}
