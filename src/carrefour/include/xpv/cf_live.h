/*
 * xpv/cf_live.h — Carrefour on a live Linux process: each round drains the samples the
 * software sampler (libxpv-cfsampler.so, preloaded into the target) published in its ring
 * (or the perf_event backend read from the kernel's rings),
 * asks the kernel where each sampled page lives (move_pages query on the target), builds the
 * engine's counters (one access per sample, from the sampling CPU's node to the page's node)
 * and pages, runs the engine (xpv/carrefour.h) and executes its decisions through the ops
 * table (xpv/cf_exec.h). The caller owns the loop, the clock and the printing.
 */
#ifndef XPV_CF_LIVE_H
#define XPV_CF_LIVE_H

#include <stdbool.h>
#include <sys/types.h>

#include "xpv/carrefour.h"
#include "xpv/cf_exec.h"
#include "xpv/cf_ring.h"
#include "xpv/error.h"
#include "xpv/ops.h"
#include "xpv/topo.h"

#ifdef __cplusplus
extern "C" {
#endif

struct xpv_cf_live;

struct xpv_cf_live_round {
    struct xpv_cf_metrics m;
    struct xpv_cf_round rd;
    struct xpv_cf_exec_stats ex;
    double read_ratio;     /* % of this round's samples that were reads */
    unsigned samples;      /* samples drained from the ring */
    unsigned carried;      /* earlier rounds' samples of undecided pages given again */
    unsigned pages;        /* distinct sampled pages given to the engine */
    unsigned gone;         /* samples whose page the kernel no longer has (or no node) */
    uint64_t dropped, bad; /* ring overflow (sampler side) and refused slots, this round */
    double round_ns;       /* since the previous round (or attach) */
    /* the software sampler's time in the target since the previous round: its thread's
     * (protecting, restoring, scanning) plus every fault handler's, summed over threads and
     * measured as elapsed time (a handler's thread may be descheduled inside it), so it can
     * exceed the round's length on a machine with more threads than CPUs */
    double sample_ns;
    double handler_ns;      /* of which in the fault handlers */
    double target_cpu_ns;   /* the target's CPU time (user + system) in the round, -1 unknown */
    double decide_ns;       /* draining, page-node queries and the engine */
    double migrate_ns;      /* executing the decisions */
    uint32_t sampler_state; /* enum xpv_cf_ring_state */
    uint32_t stop_reason;   /* enum xpv_cf_ring_stop */
    char stop_msg[96];      /* the sampler's words for its stop ("" if none) */
    unsigned vcpu_samples;  /* of `samples`, those a QEMU vCPU thread took (gmsampler) */
};

/*
 * Attach to the sampler ring of pid (/dev/shm/xpv-cfsampler.<pid>.<random>, found and opened
 * by xpv_cf_ring_file_open for the owner of /proc/<pid>). -ENOENT when there is none (the
 * message says how to start the target with the sampler), -EPERM when the only candidates
 * were refused (another user's file, a symlink, group/other access), -EINVAL for a ring that
 * fails its checks, -EAGAIN while the target's sampler is still creating it (retry).
 * t gives each CPU's node; ops executes the moves (and the page-node
 * queries); both must outlive the handle. seed drives the engine's interleave draws.
 */
int xpv_cf_live_attach(pid_t pid, const struct xpv_topo *t, struct xpv_ops *ops,
                       const struct xpv_cf_params *p, uint64_t seed, struct xpv_cf_live **out,
                       struct xpv_error *err);
/*
 * The same rounds with the perf_event backend's samples (xpv/cf_perf_event.h) instead of the
 * software sampler's ring: pe (opened on pid) is owned by the handle from now on, freed with
 * it even when this fails. A round's `dropped` is then the samples the kernel lost, `bad` the
 * malformed records, and `sample_ns` 0 (the kernel's sampling cost is not visible).
 */
struct xpv_cf_pe;
int xpv_cf_live_attach_perf(pid_t pid, struct xpv_cf_pe *pe, const struct xpv_topo *t,
                            struct xpv_ops *ops, const struct xpv_cf_params *p, uint64_t seed,
                            struct xpv_cf_live **out, struct xpv_error *err);
/* One round. -ESRCH: the target is gone. */
int xpv_cf_live_round(struct xpv_cf_live *l, bool dry_run, struct xpv_cf_live_round *out,
                      struct xpv_error *err);
/*
 * Sample memory: a sample whose page the engine left undecided is given to the engine again
 * in the next `rounds` rounds (for that page's fate only; the round's counters, and so its
 * metrics and gates, are its own samples'). Carrefour decides each round from that round's
 * samples alone, with thousands of IBS samples per page set; a low-rate sampler (the software
 * one: a few hundred samples a round over thousands of pages) rarely sees a page twice in one
 * round, and a private page needs two samples to migrate (docs/carrefour.md, "Sample
 * memory"). A departure from the papers; 0 turns it off. Default XPV_CF_LIVE_MEMORY_DEFAULT,
 * at most XPV_CF_LIVE_MEMORY_MAX.
 */
#define XPV_CF_LIVE_MEMORY_DEFAULT 2
#define XPV_CF_LIVE_MEMORY_MAX     16
void xpv_cf_live_set_memory(struct xpv_cf_live *l, unsigned rounds);
/* Called for each of a round's own samples (not the carried ones) with the node of its page
 * (-1: the kernel has none for it), before the engine decides: `xpv carrefour --vm` counts
 * them per vCPU and records them with guest-physical addresses. NULL: none. */
typedef void (*xpv_cf_live_sample_fn)(void *arg, const struct xpv_cf_ring_sample *s, int node);
void xpv_cf_live_set_observer(struct xpv_cf_live *l, xpv_cf_live_sample_fn fn, void *arg);
/* The ring's statistics as the sampler last wrote them. */
void xpv_cf_live_ring_stats(const struct xpv_cf_live *l, struct xpv_cf_ring_hdr *out);
void xpv_cf_live_free(struct xpv_cf_live *l);

#ifdef __cplusplus
}
#endif
#endif
