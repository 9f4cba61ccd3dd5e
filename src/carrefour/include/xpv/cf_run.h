/*
 * xpv/cf_run.h — Carrefour's runner on a live Linux process (`xpv carrefour --pid PID` and
 * `xpv carrefour -- CMD`): start the command (with the software sampler preloaded, or
 * stopped until its perf events are open) or attach to a running process, run a round
 * (xpv/cf_live.h) every period until the target ends or N rounds are done, and say how the
 * target ended. The runner prints nothing: each round goes to a callback, notes and failures
 * to a log sink as they happen, the totals and the target's end into the result.
 */
#ifndef XPV_CF_RUN_H
#define XPV_CF_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "xpv/carrefour.h"
#include "xpv/cf_live.h"
#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

enum xpv_cf_sampler_kind {
    XPV_CF_SAMPLER_SOFT,        /* libxpv-cfsampler.so in the target (page protection faults) */
    XPV_CF_SAMPLER_PERF,        /* the kernel's precise memory sampling (IBS op, PEBS) */
    XPV_CF_SAMPLER_PERF_FAULTS, /* the perf path on the page-fault software event (checks) */
};

/* Where the runner's messages go: one line each, no newline. INFO: what is sampled, a target
 * that ended before its sampler started; ERR: a failure (also returned). */
enum xpv_cf_log_level { XPV_CF_LOG_ERR, XPV_CF_LOG_INFO };
struct xpv_cf_log_sink {
    void (*fn)(void *arg, enum xpv_cf_log_level lvl, const char *msg);
    void *arg;
};

struct xpv_cf_run_opts {
    pid_t pid;        /* attach to this process, or */
    char *const *cmd; /* start this command (NULL-terminated argv), and wait for it */
    enum xpv_cf_sampler_kind sampler;
    /* soft: the library a started command gets preloaded (NULL: $XPV_CFSAMPLER_LIB, else
     * ../lib/libxpv-cfsampler.so beside the running executable, else sampler_installed, the
     * installed plugin's path), and its pages per window and window (XPV_CFSAMPLER_PAGES,
     * XPV_CFSAMPLER_PERIOD_US in the command's environment) */
    const char *sampler_lib;
    const char *sampler_installed;
    uint64_t sampler_pages, sampler_window_us;
    uint64_t perf_period; /* perf: events between samples (0: the event's default) */
    const struct xpv_cf_params *params;
    uint64_t seed;   /* the engine's interleave draws */
    double period_s; /* round length */
    unsigned rounds; /* stop after this many (0: when the target ends) */
    bool dry_run;    /* decide, move nothing */
    /* rounds a sample of an undecided page is kept (xpv_cf_live_set_memory): 0 the default,
     * < 0 none */
    int sample_memory;
    /* each round, as it completes (i from 0) */
    void (*on_round)(void *arg, unsigned i, const struct xpv_cf_live_round *r);
    void *arg;
    /* the sampler's name in the attach note (NULL: "software" or "perf") */
    const char *sampler_label;
    /* each sample of a round before it is decided (xpv_cf_live_set_observer); NULL: none */
    xpv_cf_live_sample_fn on_sample;
    struct xpv_cf_log_sink log; /* none: nothing is logged */
};

struct xpv_cf_run_result {
    pid_t pid;     /* the target (0: a command that could not be started) */
    bool attached; /* rounds ran: the totals below count */
    bool gone;     /* the target ended while the runner watched it */
    bool started;  /* the runner started it and waited for it: wstatus is its wait status */
    int wstatus;
    unsigned rounds;                                          /* done */
    unsigned migrated, interleaved, repl_interleaved, failed; /* pages, over all rounds */
};

/*
 * Run. 0 when the rounds ran to their end (the target's own exit status is in the result);
 * a negative errno when the runner failed (no topology, no sampler library, no ring, perf
 * refused, a round that failed, a sampler that stopped), with err's message. A failure is
 * also logged when it happens, since the run goes on after it: a started command is always
 * waited for. A target killed before its destructor leaves its ring behind: the runner
 * removes it.
 */
int xpv_cf_run(const struct xpv_cf_run_opts *o, struct xpv_cf_run_result *res,
               struct xpv_error *err);

#ifdef __cplusplus
}
#endif
#endif
