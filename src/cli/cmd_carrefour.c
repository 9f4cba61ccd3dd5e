/*
 * cmd_carrefour.c — `xpv carrefour`: Carrefour's engine (the policy core) on access samples,
 * printing per round its metrics, gates, decisions and cost. The samples come from a
 * recording (--replay, --perf-script: docs/carrefour.md) or from a live process sampled by
 * libxpv-cfsampler.so (--pid PID, or -- CMD ARGS... which starts CMD with it preloaded) or by
 * the kernel's precise memory sampling (--sampler perf: IBS op, PEBS; xpv/cf_perf_event.h),
 * whose pages then really move (move_pages through the ops table) unless --dry-run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <linux/perf_event.h>

#include "cli.h"
#include "xpv/carrefour.h"
#include "xpv/cf_live.h"
#include "xpv/cf_perf.h"
#include "xpv/cf_perf_event.h"
#include "xpv/cf_replay.h"
#include "xpv/file.h"
#include "xpv/ops.h"
#include "xpv/topo.h"
#include "xpv_version.h"

#define CMD "carrefour"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xpv carrefour --replay FILE | --perf-script FILE [--cpu-nodes MAP] [OPTIONS]\n"
            "       xpv carrefour --pid PID [OPTIONS]\n"
            "       xpv carrefour [OPTIONS] -- CMD [ARGS...]\n\n"
            "Run Carrefour's decision engine (ASPLOS 2013) and print each round's metrics\n"
            "(MAPTU, local access ratio, controller imbalance), enabled mechanisms, page\n"
            "decisions and own cost (docs/carrefour.md).\n\n"
            "Recorded samples (the engine decides, nothing moves):\n"
            "  --replay FILE      samples in the xpv-samples format (a sample may say its\n"
            "                     page is 2m: --profile lp decides 2 MiB pages whole)\n"
            "  --perf-script FILE text of `perf script -F cpu,time,event,addr,data_src,\n"
            "                     data_page_size` (the last two optional) of a precise memory\n"
            "                     sampling run (IBS op, PEBS mem-loads/stores); a sample on\n"
            "                     a 2M page is a 2 MiB page, 4K and N/A are 4 KiB\n"
            "  --cpu-nodes MAP    CPU ranges and nodes for --perf-script, e.g. 0-7:0,8-15:1\n"
            "                     (default: this machine's topology)\n"
            "  --page-nodes FILE  lines 'HEXADDR NODE' for --perf-script; a page not listed\n"
            "                     is where it was first sampled (first touch)\n"
            "  --round-ms N       --perf-script round length (default 1000)\n"
            "  --sample-every N   accesses per perf sample (perf record -c N; default 1)\n\n"
            "A live process (pages moved by move_pages):\n"
            "  --pid PID          a running process (with --sampler soft: started with the\n"
            "                     sampler library preloaded)\n"
            "  -- CMD ARGS...     start CMD sampled; ends when it exits\n"
            "  --sampler soft|perf|PATH\n"
            "                     soft (default): libxpv-cfsampler.so in the target, page\n"
            "                     protection faults (any machine); perf: the kernel's precise\n"
            "                     memory sampling through perf_event_open (AMD IBS op, Intel\n"
            "                     PEBS mem-loads/mem-stores), refused with the reason where\n"
            "                     the machine has neither; perf-faults: the same perf path on\n"
            "                     the page-fault software event (first touches only, not\n"
            "                     accesses: for checking the backend without such a PMU);\n"
            "                     PATH (with a '/'): soft, with that\n"
            "                     library (default: ../lib/libxpv-cfsampler.so next to this\n"
            "                     xpv, else the installed LIBDIR/xpv/libxpv-cfsampler.so, or\n"
            "                     $XPV_CFSAMPLER_LIB)\n"
            "  --perf-period N    perf: events between samples (default: 65536 cycles for\n"
            "                     IBS, the ASPLOS module's rate; 10007 for PEBS)\n"
            "  --dry-run          decide but move nothing\n"
            "  --rounds N         stop after N rounds (default: until the target exits)\n"
            "  --interval SEC     round length (default 1)\n"
            "  --maptu-min X      MAPTU gate in sampled touches/us (live default 0: the\n"
            "                     sampler cannot measure DRAM accesses per us)\n"
            "  --min-samples N    samples a single-node page needs to migrate (default 2)\n"
            "  --pages N          soft: pages protected per window (default 64)\n"
            "  --period-us N      soft: sampler window (default 10000)\n\n"
            "Both:\n"
            "  --profile NAME     thresholds: asplos (default: the ASPLOS runtime, 4 KiB pages\n"
            "                     only), lp (Carrefour-LP: MAPTU_MIN 15, no replication,\n"
            "                     recorded 2 MiB pages moved whole, hot ones split) or hold\n"
            "                     (xpv's: lp with hysteresis, interleaving once on stays on\n"
            "                     while the controller imbalance is above 5 %% and above\n"
            "                     twice its counting noise)\n"
            "  --json             one JSON object per round\n"
            "  --seed N           seed of the interleave draws (default 1)\n"
            "  -h, --help         show this help\n");
}

/* The round's mechanisms, as the per-round line names them (each followed by a space). */
static const char *gates(const struct xpv_cf_metrics *m, char *buf, size_t n)
{
    if (!m->enabled)
        return "off (MAPTU below the minimum) ";
    snprintf(buf, n, "%s%s%s", m->migration ? "migration " : "",
             m->interleaving ? "interleaving " : "", m->replication ? "replication " : "");
    return *buf ? buf : "no mechanism (locality and balance gates) ";
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

struct opts {
    const char *replay, *perf, *cpu_nodes, *page_nodes, *profile, *sampler;
    int json, dry_run, live_pid, have_maptu, have_min, perf_sampler, have_soft_opts;
    uint64_t seed, rounds, min_samples, pages, period_us, round_ms, sample_every, perf_period;
    double interval, maptu_min;
};

static int run_replay(const struct opts *o, const struct xpv_cf_params *params,
                      struct xpv_cf_replay *r)
{
    unsigned cap = params->page_budget * 4;
    struct xpv_cf_page *pages = malloc(cap * sizeof(*pages));
    struct xpv_cf_decision *dec = malloc(cap * sizeof(*dec));
    uint64_t rng = o->seed;
    bool interleaving = false; /* the previous round's gate (the hold profile's hysteresis) */
    int status = XPV_EXIT_OK;
    if (!pages || !dec) {
        xpv_cli_err(CMD, "out of memory");
        status = XPV_EXIT_FAIL;
    }
    for (size_t i = 0; status == XPV_EXIT_OK && i < r->nr_rounds; i++) {
        struct xpv_cf_counters ctr;
        struct xpv_cf_metrics m;
        struct xpv_cf_round rd;
        unsigned np;
        double t0 = now_ns();
        int rc = xpv_cf_replay_round_thp(r, i, params->thp, &ctr, pages, cap, &np);
        ctr.interleaving_before = interleaving;
        if (rc < 0 || xpv_cf_metrics(params, &ctr, &m) < 0 ||
            xpv_cf_decide(params, &m, pages, np, &rng, dec, cap, &rd) < 0) {
            xpv_cli_err(CMD, "round %zu: the engine failed", i);
            status = XPV_EXIT_FAIL;
            break;
        }
        interleaving = m.interleaving;
        double cost = now_ns() - t0;
        double pct = 100 * cost / ctr.round_ns;
        if (o->json) {
            json_t *j = json_pack(
                    "{s:I, s:f, s:f, s:f, s:f, s:f, s:b, s:b, s:b, s:b, s:I, s:I, s:I, s:I, "
                    "s:I, s:I, s:I, s:I, s:f, s:b}",
                    "round", (json_int_t)i, "maptu", m.maptu, "lar", m.lar, "imbalance",
                    m.imbalance, "imbalance_noise", m.imbalance_noise, "read_ratio", ctr.read_ratio,
                    "enabled", m.enabled, "migration", m.migration, "interleaving", m.interleaving,
                    "replication", m.replication, "pages", (json_int_t)np, "migrate",
                    (json_int_t)rd.migrate, "interleave", (json_int_t)rd.interleave, "replicate",
                    (json_int_t)rd.replicate, "over_budget", (json_int_t)rd.skipped_budget,
                    "huge_pages", (json_int_t)rd.huge_pages, "split", (json_int_t)rd.split,
                    "huge_moved_whole", (json_int_t)rd.huge_moved_whole, "engine_pct_of_round", pct,
                    "cheap_sampling_next", rd.cheap_sampling_next);
            if (j) {
                json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
                fputc('\n', stdout);
                json_decref(j);
            }
        } else {
            char hs[96] = "";
            if (rd.huge_pages)
                snprintf(hs, sizeof(hs), " (%u of 2 MiB: %u split, %u moved whole)", rd.huge_pages,
                         rd.split, rd.huge_moved_whole);
            char g[64];
            printf("round %zu: MAPTU %.1f/us, LAR %.1f%%, imbalance %.1f%%, reads %.1f%% | %s"
                   "| %u pages sampled%s: %u migrate, %u interleave, %u replicate, %u over budget "
                   "| engine %.3f ms (%.3f%% of the round)%s\n",
                   i, m.maptu, m.lar, m.imbalance, ctr.read_ratio, gates(&m, g, sizeof(g)), np, hs,
                   rd.migrate, rd.interleave, rd.replicate, rd.skipped_budget, cost / 1e6, pct,
                   rd.cheap_sampling_next ? ", cheap sampling next" : "");
        }
    }
    free(pages);
    free(dec);
    return status;
}

static void print_live(const struct opts *o, unsigned i, const struct xpv_cf_live_round *r)
{
    double rn = r->round_ns > 0 ? r->round_ns : 1;
    const struct xpv_cf_metrics *m = &r->m;
    if (o->json) {
        json_t *j = json_pack(
                "{s:I, s:f, s:f, s:f, s:f, s:f, s:b, s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, "
                "s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:b, s:s}",
                "round", (json_int_t)i, "maptu", m->maptu, "lar", m->lar, "imbalance", m->imbalance,
                "imbalance_noise", m->imbalance_noise, "read_ratio", r->read_ratio, "enabled",
                m->enabled, "migration", m->migration, "interleaving", m->interleaving,
                "replication", m->replication, "samples", (json_int_t)r->samples, "dropped",
                (json_int_t)r->dropped, "gone", (json_int_t)r->gone, "pages", (json_int_t)r->pages,
                "migrate", (json_int_t)r->rd.migrate, "interleave", (json_int_t)r->rd.interleave,
                "replicate", (json_int_t)r->rd.replicate, "migrated", (json_int_t)r->ex.migrated,
                "interleaved", (json_int_t)r->ex.interleaved, "replicate_interleaved",
                (json_int_t)r->ex.repl_interleaved, "failed", (json_int_t)r->ex.failed,
                "over_budget", (json_int_t)r->rd.skipped_budget, "sampling_pct",
                100 * r->sample_ns / rn, "deciding_pct", 100 * r->decide_ns / rn, "migrating_pct",
                100 * r->migrate_ns / rn, "dry_run", o->dry_run != 0, "sampler",
                o->perf_sampler ? "perf" : "soft");
        if (j) {
            json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
            fputc('\n', stdout);
            json_decref(j);
        }
    } else {
        char sampling[48];
        if (o->perf_sampler)
            snprintf(sampling, sizeof(sampling), "in the kernel (not measured)");
        else
            snprintf(sampling, sizeof(sampling), "%.2f%%", 100 * r->sample_ns / rn);
        char g[64];
        printf("round %u: MAPTU %.2f/us (sampled), LAR %.1f%%, imbalance %.1f%%, reads %.1f%% | "
               "%s| %u samples (%llu dropped), %u pages: %s%u migrated, %u interleaved, "
               "%u replicate->interleave, %u failed | overhead: sampling %s, deciding "
               "%.2f%%, migrating %.2f%%\n",
               i, m->maptu, m->lar, m->imbalance, r->read_ratio, gates(m, g, sizeof(g)), r->samples,
               (unsigned long long)r->dropped, r->pages, o->dry_run ? "(dry run) " : "",
               r->ex.migrated, r->ex.interleaved, r->ex.repl_interleaved, r->ex.failed, sampling,
               100 * r->decide_ns / rn, 100 * r->migrate_ns / rn);
    }
    fflush(stdout);
}

/* The sampler library: --sampler, $XPV_CFSAMPLER_LIB, ../lib next to this executable (the
 * build tree's build/lib), else the installed plugin (LIBDIR/xpv/, xpv_version.h). */
static int sampler_path(const struct opts *o, char *buf, size_t len)
{
    const char *p = o->sampler ? o->sampler : getenv("XPV_CFSAMPLER_LIB");
    if (p) {
        snprintf(buf, len, "%s", p);
    } else {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n < 0)
            return -errno;
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = 0;
        if ((size_t)snprintf(buf, len, "%.*s/../lib/libxpv-cfsampler.so", (int)(len / 2), exe) >=
            len)
            return -ENAMETOOLONG;
        if (access(buf, R_OK) == 0)
            return 0;
        snprintf(buf, len, "%s", XPV_CFSAMPLER_INSTALLED);
    }
    return access(buf, R_OK) == 0 ? 0 : -errno;
}

static pid_t launch(const struct opts *o, const char *lib, char **argv)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    char buf[PATH_MAX * 2], num[32];
    const char *old = getenv("LD_PRELOAD");
    snprintf(buf, sizeof(buf), "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
    setenv("LD_PRELOAD", buf, 1);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)o->pages);
    setenv("XPV_CFSAMPLER_PAGES", num, 1);
    snprintf(num, sizeof(num), "%llu", (unsigned long long)o->period_us);
    setenv("XPV_CFSAMPLER_PERIOD_US", num, 1);
    execvp(argv[0], argv);
    fprintf(stderr, "xpv carrefour: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* --sampler perf: CMD waits on a pipe until its events are open (they start at its execve);
 * *go is the pipe's write end: a byte lets it run, closing it makes it exit 127. */
static pid_t launch_stopped(char **argv, int *go)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid != 0) {
        close(p[0]);
        if (pid < 0)
            close(p[1]);
        *go = p[1];
        return pid;
    }
    close(p[1]);
    char c;
    if (read(p[0], &c, 1) != 1)
        _exit(127);
    execvp(argv[0], argv);
    fprintf(stderr, "xpv carrefour: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* --sampler perf: the probed events on pid, and the live handle over them. */
static int attach_perf(const struct opts *o, const struct xpv_cf_pe_spec *spec, pid_t pid,
                       bool on_exec, const struct xpv_topo *t, struct xpv_ops *ops,
                       const struct xpv_cf_params *params, struct xpv_cf_live **l,
                       struct xpv_error *err)
{
    struct xpv_cf_pe *pe = NULL;
    int rc = xpv_cf_pe_open(pid, spec, 64, on_exec, &pe, err);
    if (rc < 0)
        return rc;
    unsigned rings, events;
    xpv_cf_pe_counts(pe, &rings, &events);
    fprintf(stderr, "xpv carrefour: perf sampler %s, period %llu: %u events, %u rings\n",
            xpv_cf_pe_name(pe), (unsigned long long)spec->ev[0].period, events, rings);
    return xpv_cf_live_attach_perf(pid, pe, t, ops, params, o->seed, l, err);
}

/* Has the target ended? Reaps our own child and keeps its status; another process counts as
 * ended once it is a zombie. */
static int target_gone(pid_t pid, int child, int *wstatus)
{
    if (child) {
        pid_t w = waitpid(pid, wstatus, WNOHANG);
        return w == pid || (w < 0 && errno == ECHILD);
    }
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return 1;
    char path[64], *text = NULL;
    size_t len;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (xpv_read_file(path, 4096, &text, &len, NULL) < 0)
        return 1;
    const char *st = strrchr(text, ')'); /* "pid (comm) S ...": comm may hold anything */
    int gone = st && st[1] == ' ' && (st[2] == 'Z' || st[2] == 'X');
    free(text);
    return gone;
}

/* After a failed round: is the target ending? A process that is exiting has already lost its
 * memory (move_pages then fails with EINVAL, not ESRCH) a moment before it becomes a zombie,
 * so look for up to a second before calling the failure an error. */
static int target_ending(pid_t pid, int child, int *wstatus)
{
    for (int i = 0; i < 100; i++) {
        if (target_gone(pid, child, wstatus))
            return 1;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return 0;
}

/* Sleep up to sec seconds, waking early when the target ends. */
static int nap(double sec, pid_t pid, int child, int *wstatus)
{
    double end = now_ns() + sec * 1e9;
    for (;;) {
        if (target_gone(pid, child, wstatus))
            return 1;
        double left = end - now_ns();
        if (left <= 0)
            return 0;
        if (left > 20e6)
            left = 20e6;
        struct timespec ts = {0, (long)left};
        nanosleep(&ts, NULL);
    }
}

static int run_live(const struct opts *o, const struct xpv_cf_params *params, char **cmd)
{
    struct xpv_error err = {0};
    struct xpv_topo *t = NULL;
    struct xpv_ops *ops = NULL;
    struct xpv_cf_live *l = NULL;
    int child = cmd != NULL, wstatus = 0, gone = 0, status = XPV_EXIT_OK, rc;
    pid_t pid = (pid_t)o->live_pid;
    char name[64];
    if ((rc = xpv_topo_discover(NULL, &t, &err)) < 0 || !(ops = xpv_ops_linux_new(t, &err))) {
        xpv_cli_err(CMD, "%s", xpv_error_str(&err, rc < 0 ? rc : -ENOMEM));
        xpv_topo_free(t);
        return XPV_EXIT_FAIL;
    }
    struct xpv_cf_pe_spec spec = {0};
    if (o->perf_sampler == 2) {
        spec.nr = 1;
        snprintf(spec.ev[0].name, sizeof(spec.ev[0].name), "page-faults");
        spec.ev[0].type = PERF_TYPE_SOFTWARE;
        spec.ev[0].config = PERF_COUNT_SW_PAGE_FAULTS;
        spec.ev[0].period = o->perf_period ? o->perf_period : 1;
        spec.ev[0].sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_ADDR | PERF_SAMPLE_CPU;
        spec.ev[0].exclude_kernel = true;
    } else if (o->perf_sampler && (rc = xpv_cf_pe_probe(NULL, o->perf_period, &spec, &err)) < 0) {
        xpv_cli_err(CMD, "%s", xpv_error_str(&err, rc));
        status = XPV_EXIT_FAIL;
        goto out;
    }
    if (child && o->perf_sampler) {
        int go = -1;
        pid = launch_stopped(cmd, &go);
        if (pid < 0) {
            xpv_cli_err(CMD, "fork: %s", strerror(errno));
            status = XPV_EXIT_FAIL;
            goto out;
        }
        rc = attach_perf(o, &spec, pid, true, t, ops, params, &l, &err);
        if (rc < 0) {
            close(go); /* the child exits without running CMD */
            while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
                ;
            xpv_cli_err(CMD, "%s", xpv_error_str(&err, rc));
            status = XPV_EXIT_FAIL;
            goto out;
        }
        if (write(go, "g", 1) != 1)
            rc = -errno;
        close(go);
    } else if (child) {
        char lib[PATH_MAX];
        if ((rc = sampler_path(o, lib, sizeof(lib))) < 0) {
            xpv_cli_err(CMD,
                        "sampler library %s: %s (build target xpv-cfsampler, or give --sampler)",
                        lib, strerror(-rc));
            status = XPV_EXIT_FAIL;
            goto out;
        }
        pid = launch(o, lib, cmd);
        if (pid < 0) {
            xpv_cli_err(CMD, "fork: %s", strerror(errno));
            status = XPV_EXIT_FAIL;
            goto out;
        }
        /* the library creates the ring in the target's constructor, before main */
        for (int i = 0;; i++) {
            rc = xpv_cf_live_attach(pid, t, ops, params, o->seed, &l, &err);
            if ((rc != -ENOENT && rc != -EAGAIN) || i >= 500)
                break;
            if (target_gone(pid, 1, &wstatus)) {
                gone = 1;
                break;
            }
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        if (gone) {
            fprintf(stderr, "xpv carrefour: %s ended before its sampler started\n", cmd[0]);
            goto reap;
        }
    } else if (o->perf_sampler) {
        rc = attach_perf(o, &spec, pid, false, t, ops, params, &l, &err);
    } else {
        for (int i = 0; i < 100; i++) {
            rc = xpv_cf_live_attach(pid, t, ops, params, o->seed, &l, &err);
            if (rc != -EAGAIN)
                break;
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
    }
    if (rc < 0) {
        xpv_cli_err(CMD, "%s", xpv_error_str(&err, rc));
        status = XPV_EXIT_FAIL;
        if (child)
            goto reap;
        goto out;
    }
    fprintf(stderr, "xpv carrefour: pid %d, rounds of %.3g s, %s sampler%s\n", (int)pid,
            o->interval, o->perf_sampler ? "perf" : "software", o->dry_run ? ", dry run" : "");
    unsigned totals[4] = {0};
    for (unsigned i = 0; !o->rounds || i < o->rounds; i++) {
        gone = nap(o->interval, pid, child, &wstatus);
        struct xpv_cf_live_round r;
        rc = xpv_cf_live_round(l, o->dry_run, &r, &err);
        if (rc == -ESRCH || (rc < 0 && target_ending(pid, child, &wstatus))) {
            gone = 1;
            break;
        }
        if (rc < 0) {
            xpv_cli_err(CMD, "round %u: %s", i, xpv_error_str(&err, rc));
            status = XPV_EXIT_FAIL;
            break;
        }
        print_live(o, i, &r);
        totals[0] += r.ex.migrated;
        totals[1] += r.ex.interleaved;
        totals[2] += r.ex.repl_interleaved;
        totals[3] += r.ex.failed;
        if (!o->perf_sampler && r.sampler_state == XPV_CF_RING_STOPPED && r.samples == 0) {
            xpv_cli_err(CMD, "the sampler in pid %d stopped: %s", (int)pid,
                        r.stop_reason == XPV_CF_STOP_HANDLER
                                ? "the program installed its own SIGSEGV handler"
                                : "it could not read /proc/self/maps or start its thread");
            status = XPV_EXIT_FAIL;
            break;
        }
        if (gone)
            break;
    }
    if (!o->json)
        printf("total: %u migrated, %u interleaved, %u replicate->interleave, %u failed\n",
               totals[0], totals[1], totals[2], totals[3]);
reap:
    if (child) {
        if (!gone)
            while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
                ;
        if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0) {
            xpv_cli_err(CMD, "%s exited with status %d", cmd[0], WEXITSTATUS(wstatus));
            status = XPV_EXIT_FAIL;
        } else if (WIFSIGNALED(wstatus)) {
            xpv_cli_err(CMD, "%s was killed by signal %d (%s)", cmd[0], WTERMSIG(wstatus),
                        strsignal(WTERMSIG(wstatus)));
            status = XPV_EXIT_FAIL;
        } else if (!o->json) {
            printf("target %d exited with status 0\n", (int)pid);
        }
    } else if (gone && !o->json) {
        printf("target %d exited\n", (int)pid);
    }
    /* a target killed before its destructor leaves its ring behind */
    snprintf(name, sizeof(name), XPV_CF_RING_NAME_FMT, (int)pid);
    if (gone || child)
        shm_unlink(name);
out:
    xpv_cf_live_free(l);
    xpv_ops_free(ops);
    xpv_topo_free(t);
    return status;
}

static int load_perf(const struct opts *o, struct xpv_cf_replay **r)
{
    struct xpv_error err = {0};
    struct xpv_cf_perf_opts po = {.round_ns = (double)o->round_ms * 1e6,
                                  .sample_every = (double)o->sample_every};
    struct xpv_topo *t = NULL;
    int rc = 0;
    if (o->cpu_nodes) {
        rc = xpv_cf_perf_cpu_map(o->cpu_nodes, &po, &err);
    } else if ((rc = xpv_topo_discover(NULL, &t, &err)) == 0) {
        for (unsigned c = 0; c < XPV_CF_REPLAY_MAX_CPUS; c++)
            po.cpu_node[c] = xpv_topo_cpu_node(t, c);
        po.nr_nodes = 0;
        for (unsigned i = 0; i < t->nr_nodes; i++)
            if ((unsigned)t->nodes[i].id + 1 > po.nr_nodes)
                po.nr_nodes = (unsigned)t->nodes[i].id + 1;
        xpv_topo_free(t);
    }
    if (rc == 0 && o->page_nodes)
        rc = xpv_cf_perf_page_nodes_load(o->page_nodes, &po, &err);
    if (rc == 0)
        rc = xpv_cf_perf_load(o->perf, &po, r, &err);
    free(po.page_nodes);
    if (rc < 0) {
        xpv_cli_err(CMD, "%s", xpv_error_str(&err, rc));
        return XPV_EXIT_FAIL;
    }
    return 0;
}

int xpv_cmd_carrefour(int argc, char **argv)
{
    static const struct option lopts[] = {
            {"replay", required_argument, NULL, 'r'},
            {"perf-script", required_argument, NULL, 'S'},
            {"cpu-nodes", required_argument, NULL, 'C'},
            {"page-nodes", required_argument, NULL, 'N'},
            {"round-ms", required_argument, NULL, 'M'},
            {"sample-every", required_argument, NULL, 'E'},
            {"profile", required_argument, NULL, 'p'},
            {"json", no_argument, NULL, 'j'},
            {"seed", required_argument, NULL, 's'},
            {"pid", required_argument, NULL, 'P'},
            {"dry-run", no_argument, NULL, 'd'},
            {"rounds", required_argument, NULL, 'n'},
            {"interval", required_argument, NULL, 'i'},
            {"maptu-min", required_argument, NULL, 'm'},
            {"min-samples", required_argument, NULL, 'x'},
            {"pages", required_argument, NULL, 'g'},
            {"period-us", required_argument, NULL, 'e'},
            {"sampler", required_argument, NULL, 'L'},
            {"perf-period", required_argument, NULL, 'R'},
            {"help", no_argument, NULL, 'h'},
            {0},
    };
    struct opts o = {.profile = "asplos",
                     .seed = 1,
                     .interval = 1,
                     .pages = 64,
                     .period_us = 10000,
                     .round_ms = 1000};
    uint64_t v;
    int c;
    optind = 1;
    /* '+': stop at the first non-option, so `-- CMD -x` keeps CMD's options */
    while ((c = getopt_long(argc, argv, "+hr:p:js:", lopts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'r':
            o.replay = optarg;
            break;
        case 'S':
            o.perf = optarg;
            break;
        case 'C':
            o.cpu_nodes = optarg;
            break;
        case 'N':
            o.page_nodes = optarg;
            break;
        case 'M':
            bad = xpv_cli_u64(CMD, "--round-ms", optarg, 1, 86400000, "milliseconds (1..86400000)",
                              &o.round_ms);
            break;
        case 'E':
            bad = xpv_cli_u64(CMD, "--sample-every", optarg, 1, 1000000000000ull,
                              "a positive integer", &o.sample_every);
            break;
        case 'p':
            o.profile = optarg;
            break;
        case 'j':
            o.json = 1;
            break;
        case 's':
            bad = xpv_cli_u64(CMD, "--seed", optarg, 0, UINT64_MAX, "a non-negative integer",
                              &o.seed);
            break;
        case 'P':
            bad = xpv_cli_u64(CMD, "--pid", optarg, 1, INT_MAX, "a process id", &v);
            o.live_pid = (int)v;
            break;
        case 'd':
            o.dry_run = 1;
            break;
        case 'n':
            bad = xpv_cli_u64(CMD, "--rounds", optarg, 1, UINT32_MAX, "a positive integer",
                              &o.rounds);
            break;
        case 'i':
            bad = xpv_cli_num(CMD, "--interval", optarg, 0.01, 3600, "seconds (0.01..3600)",
                              &o.interval);
            break;
        case 'm':
            bad = xpv_cli_num(CMD, "--maptu-min", optarg, 0, 1e9, "a non-negative number",
                              &o.maptu_min);
            o.have_maptu = 1;
            break;
        case 'x':
            bad = xpv_cli_u64(CMD, "--min-samples", optarg, 1, 1000000, "a positive integer",
                              &o.min_samples);
            o.have_min = 1;
            break;
        case 'g':
            o.have_soft_opts = 1;
            bad = xpv_cli_u64(CMD, "--pages", optarg, 1, 1024, "pages per window (1..1024)",
                              &o.pages);
            break;
        case 'e':
            o.have_soft_opts = 1;
            bad = xpv_cli_u64(CMD, "--period-us", optarg, 100, 10000000,
                              "microseconds (100..10000000)", &o.period_us);
            break;
        case 'L':
            if (!strcmp(optarg, "perf") || !strcmp(optarg, "perf-faults")) {
                o.perf_sampler = optarg[4] ? 2 : 1;
                o.sampler = NULL;
            } else if (!strcmp(optarg, "soft")) {
                o.perf_sampler = 0;
                o.sampler = NULL;
            } else if (strchr(optarg, '/')) {
                o.perf_sampler = 0;
                o.sampler = optarg;
            } else {
                xpv_cli_err(CMD,
                            "--sampler: '%s' is not soft, perf or a library path (with a "
                            "'/')",
                            optarg);
                bad = 1;
            }
            break;
        case 'R':
            bad = xpv_cli_u64(CMD, "--perf-period", optarg, 1, 1ull << 40, "a positive integer",
                              &o.perf_period);
            break;
        case 'h':
            usage(stdout);
            return XPV_EXIT_OK;
        default:
            usage(stderr);
            return XPV_EXIT_USAGE;
        }
        if (bad)
            return XPV_EXIT_USAGE;
    }
    char **cmd = optind < argc ? argv + optind : NULL;
    int sources = !!o.replay + !!o.perf + !!o.live_pid + !!cmd;
    if (sources != 1) {
        xpv_cli_err(CMD, sources ? "give only one of --replay, --perf-script, --pid, -- CMD"
                                 : "give --replay FILE, --perf-script FILE, --pid PID or -- CMD "
                                   "(see --help)");
        return XPV_EXIT_USAGE;
    }
    if ((o.cpu_nodes || o.page_nodes || o.sample_every) && !o.perf) {
        xpv_cli_err(CMD, "--cpu-nodes, --page-nodes and --sample-every go with --perf-script");
        return XPV_EXIT_USAGE;
    }
    if (o.perf_sampler && o.have_soft_opts) {
        xpv_cli_err(CMD, "--pages and --period-us go with --sampler soft");
        return XPV_EXIT_USAGE;
    }
    if (o.perf_period && !o.perf_sampler) {
        xpv_cli_err(CMD, "--perf-period goes with --sampler perf");
        return XPV_EXIT_USAGE;
    }
    struct xpv_cf_params params;
    if (!strcmp(o.profile, "asplos"))
        xpv_cf_params_asplos(&params);
    else if (!strcmp(o.profile, "lp"))
        xpv_cf_params_lp(&params);
    else if (!strcmp(o.profile, "hold"))
        xpv_cf_params_hold(&params);
    else {
        xpv_cli_err(CMD, "unknown profile '%s' (asplos, lp or hold)", o.profile);
        return XPV_EXIT_USAGE;
    }
    int live = o.live_pid || cmd;
    if (o.perf_sampler && !live) {
        xpv_cli_err(CMD, "--sampler goes with --pid or -- CMD");
        return XPV_EXIT_USAGE;
    }
    if (live)
        params.maptu_min = 0; /* see --help: sampled touches are not DRAM accesses */
    if (o.have_maptu)
        params.maptu_min = o.maptu_min;
    if (o.have_min)
        params.min_samples_migr = (unsigned)o.min_samples;
    int status;
    if (live) {
        status = run_live(&o, &params, cmd);
    } else {
        struct xpv_error err = {0};
        struct xpv_cf_replay *r = NULL;
        if (o.perf) {
            if ((status = load_perf(&o, &r)) != 0)
                return status;
        } else {
            int rc = xpv_cf_replay_load(o.replay, &r, &err);
            if (rc < 0) {
                xpv_cli_err(CMD, "%s", xpv_error_str(&err, rc));
                return XPV_EXIT_FAIL;
            }
        }
        status = run_replay(&o, &params, r);
        xpv_cf_replay_free(r);
    }
    if (fflush(stdout) != 0) {
        xpv_cli_err(CMD, "could not write the output");
        return XPV_EXIT_FAIL;
    }
    return status;
}
