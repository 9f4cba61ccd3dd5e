/*
 * cmd_carrefour.c — `xpv carrefour`: Carrefour's engine (the policy core) on access samples,
 * printing per round its metrics, gates, decisions and cost. The samples come from a
 * recording (--replay, --perf-script: docs/carrefour.md) or from a live process sampled by
 * libxpv-cfsampler.so (--pid PID, or -- CMD ARGS... which starts CMD with it preloaded) or by
 * the kernel's precise memory sampling (--sampler perf: IBS op, PEBS; xpv/cf_perf_event.h),
 * whose pages then really move (move_pages through the ops table) unless --dry-run. The
 * loops are the libraries': xpv_cf_replay_run() (xpv/cf_replay.h) and xpv_cf_run()
 * (xpv/cf_run.h: the target started or attached, rounds, its end); this file parses the
 * options, loads recordings, and prints each round, the totals and how the target ended.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "xpv/carrefour.h"
#include "xpv/cf_live.h"
#include "xpv/cf_perf_event.h"
#include "xpv/cf_perf_script.h"
#include "xpv/cf_replay.h"
#include "xpv/cf_run.h"
#include "xpv/gm_layout.h"
#include "xpv/topo.h"
#include "xpv_version.h"

#define CMD "carrefour"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xpv carrefour --replay FILE | --perf-script FILE [--cpu-nodes MAP] [OPTIONS]\n"
            "       xpv carrefour --pid PID [OPTIONS]\n"
            "       xpv carrefour [OPTIONS] -- CMD [ARGS...]\n"
            "       xpv carrefour --vm NAME|PID [--record FILE] [OPTIONS]\n\n"
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
            "  --sample-every N   accesses per perf sample (perf record -c N; default 1)\n\n"
            "A live process (pages moved by move_pages):\n"
            "  --vm NAME|PID      a QEMU VM (-name NAME, or QEMU's pid) started with\n"
            "                     libxpv-gmsampler.so preloaded: guest RAM sampled by\n"
            "                     userfaultfd minor faults per vCPU thread, guest pages moved\n"
            "                     among the host's nodes; profile hv (the Xen port's values)\n"
            "                     unless --profile says otherwise (docs/carrefour.md)\n"
            "  --record FILE      --vm: write each round's samples in the replay format\n"
            "                     (host CPU, guest-physical address, host node of the page;\n"
            "                     samples per vCPU as a comment), for --replay\n"
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
            "  --maptu-min X      MAPTU gate in sampled touches/us (live default 0: the\n"
            "                     sampler cannot measure DRAM accesses per us)\n"
            "  --min-samples N    samples a single-node page needs to migrate (default 2)\n"
            "  --sample-memory N  rounds a sample of a page left undecided is given to the\n"
            "                     engine again (default 2; 0: each round alone, as in the\n"
            "                     papers); lets a low-rate sampler reach --min-samples\n"
            "  --pages N          soft: pages protected per window (default 64)\n"
            "  --window DURATION  soft: the sampler's window (default 10ms; old spelling:\n"
            "                     --period-us N, in microseconds)\n\n"
            "Both:\n"
            "  --profile NAME     thresholds: asplos (default: the ASPLOS runtime, 4 KiB pages\n"
            "                     only), lp (Carrefour-LP: MAPTU_MIN 15, no replication,\n"
            "                     recorded 2 MiB pages moved whole, hot ones split), hv (the\n"
            "                     Xen port's: lp without hot-page splitting; --vm's default)\n"
            "                     or hold\n"
            "                     (xpv's: lp with hysteresis, interleaving once on stays on\n"
            "                     while the controller imbalance is above 5 %% and above\n"
            "                     twice its counting noise)\n"
            "  --period DURATION  round length (default 1s; 500ms, 2.5s: a bare number is\n"
            "                     seconds): a live round (10ms..3600s), or the slices of a\n"
            "                     --perf-script recording's clock (old spellings: --interval\n"
            "                     SEC, live; --round-ms N, --perf-script)\n"
            "  --json             one JSON object per round on stdout\n"
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

struct opts {
    const char *replay, *perf, *cpu_nodes, *page_nodes, *profile, *sampler;
    int json, dry_run, live_pid, have_maptu, have_min, perf_sampler, have_soft_opts, have_memory;
    const char *period_arg;  /* --period as given (its range depends on the source) */
    const char *vm, *record; /* --vm NAME|PID, --record FILE */
    int have_profile;
    uint64_t seed, rounds, min_samples, pages, sample_every, perf_period, memory;
    double period, window, maptu_min; /* seconds */
};

/* One replayed round: a line, or a JSON object. */
static void print_replay(void *arg, size_t i, const struct xpv_cf_replay_report *rep)
{
    const struct opts *o = arg;
    const struct xpv_cf_metrics *m = &rep->m;
    const struct xpv_cf_round *rd = &rep->rd;
    double pct = 100 * rep->engine_ns / rep->round_ns;
    if (o->json) {
        json_t *j = json_pack(
                "{s:I, s:f, s:f, s:f, s:f, s:f, s:b, s:b, s:b, s:b, s:I, s:I, s:I, s:I, "
                "s:I, s:I, s:I, s:I, s:f, s:b}",
                "round", (json_int_t)i, "maptu", m->maptu, "lar", m->lar, "imbalance", m->imbalance,
                "imbalance_noise", m->imbalance_noise, "read_ratio", rep->read_ratio, "enabled",
                m->enabled, "migration", m->migration, "interleaving", m->interleaving,
                "replication", m->replication, "pages", (json_int_t)rep->pages, "migrate",
                (json_int_t)rd->migrate, "interleave", (json_int_t)rd->interleave, "replicate",
                (json_int_t)rd->replicate, "over_budget", (json_int_t)rd->skipped_budget,
                "huge_pages", (json_int_t)rd->huge_pages, "split", (json_int_t)rd->split,
                "huge_moved_whole", (json_int_t)rd->huge_moved_whole, "engine_pct_of_round", pct,
                "cheap_sampling_next", rd->cheap_sampling_next);
        if (j) {
            json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
            fputc('\n', stdout);
            json_decref(j);
        }
    } else {
        char hs[96] = "";
        if (rd->huge_pages)
            snprintf(hs, sizeof(hs), " (%u of 2 MiB: %u split, %u moved whole)", rd->huge_pages,
                     rd->split, rd->huge_moved_whole);
        char g[64];
        printf("round %zu: MAPTU %.1f/us, LAR %.1f%%, imbalance %.1f%%, reads %.1f%% | %s"
               "| %u pages sampled%s: %u migrate, %u interleave, %u replicate, %u over budget "
               "| engine %.3f ms (%.3f%% of the round)%s\n",
               i, m->maptu, m->lar, m->imbalance, rep->read_ratio, gates(m, g, sizeof(g)),
               rep->pages, hs, rd->migrate, rd->interleave, rd->replicate, rd->skipped_budget,
               rep->engine_ns / 1e6, pct, rd->cheap_sampling_next ? ", cheap sampling next" : "");
    }
}

static int run_replay(const struct opts *o, const struct xpv_cf_params *params,
                      struct xpv_cf_replay *r)
{
    struct xpv_error err = {0};
    int rc = xpv_cf_replay_run(r, params, o->seed, print_replay, (void *)o, &err);
    if (rc < 0) {
        xpv_cli_err(CMD, "%s", xpv_error_str(&err, rc));
        return XPV_EXIT_FAIL;
    }
    return XPV_EXIT_OK;
}

static void vm_round(const struct opts *o, json_t *j, double round_ns);

static void print_live(void *arg, unsigned i, const struct xpv_cf_live_round *r)
{
    const struct opts *o = arg;
    double rn = r->round_ns > 0 ? r->round_ns : 1;
    const struct xpv_cf_metrics *m = &r->m;
    if (o->json) {
        json_t *j = json_pack(
                "{s:I, s:f, s:f, s:f, s:f, s:f, s:b, s:b, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:I, "
                "s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:b, s:s, s:I, s:f, s:f, s:f, s:f}",
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
                o->perf_sampler ? "perf"
                : o->vm         ? "guest-memory"
                                : "soft",
                "carried", (json_int_t)r->carried, "sampler_ms", r->sample_ns / 1e6,
                "sampler_us_per_sample", r->samples ? r->sample_ns / 1e3 / r->samples : 0.0,
                "handler_ms", r->handler_ns / 1e6, "target_cpu_ms",
                r->target_cpu_ns >= 0 ? r->target_cpu_ns / 1e6 : -1.0);
        if (o->vm)
            vm_round(o, j, r->round_ns);
        if (j) {
            json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
            fputc('\n', stdout);
            json_decref(j);
        }
    } else {
        /* the soft sampler's time in the target, against the target's own CPU time (what it
         * slows down) and per sample (what --pages and --window trade) */
        char sampling[96];
        if (o->perf_sampler)
            snprintf(sampling, sizeof(sampling), "in the kernel (not measured)");
        else if (r->target_cpu_ns > 0)
            snprintf(sampling, sizeof(sampling),
                     "%.1f ms (%.1f%% of the target's CPU time, %.0f us a sample)",
                     r->sample_ns / 1e6, 100 * r->sample_ns / r->target_cpu_ns,
                     r->samples ? r->sample_ns / 1e3 / r->samples : 0.0);
        else
            snprintf(sampling, sizeof(sampling), "%.1f ms (%.0f us a sample)", r->sample_ns / 1e6,
                     r->samples ? r->sample_ns / 1e3 / r->samples : 0.0);
        char g[64];
        printf("round %u: MAPTU %.2f/us (sampled), LAR %.1f%%, imbalance %.1f%%, reads %.1f%% | "
               "%s| %u samples (+%u carried, %llu dropped), %u pages: %s%u migrated, %u "
               "interleaved, "
               "%u replicate->interleave, %u failed | overhead: sampling %s, deciding "
               "%.2f%%, migrating %.2f%%\n",
               i, m->maptu, m->lar, m->imbalance, r->read_ratio, gates(m, g, sizeof(g)), r->samples,
               r->carried, (unsigned long long)r->dropped, r->pages, o->dry_run ? "(dry run) " : "",
               r->ex.migrated, r->ex.interleaved, r->ex.repl_interleaved, r->ex.failed, sampling,
               100 * r->decide_ns / rn, 100 * r->migrate_ns / rn);
        if (o->vm)
            vm_round(o, NULL, r->round_ns);
    }
    fflush(stdout);
}

/* The runner's notes and failures: "xpv carrefour: message" on stderr, as they happen. */
static void log_stderr(void *arg, enum xpv_cf_log_level lvl, const char *msg)
{
    (void)arg;
    (void)lvl;
    xpv_cli_err(CMD, "%s", msg);
}

/* --pid PID or -- CMD: the library's runner, then the totals and how the target ended. */

/* ---- --vm: a QEMU VM sampled by libxpv-gmsampler.so ---- */

static struct {
    struct xpv_gm_layout lay;
    unsigned per[XPV_CF_RING_MAX_VCPU < 256 ? XPV_CF_RING_MAX_VCPU : 256];
    unsigned nr_vcpus; /* highest vCPU seen + 1 */
    unsigned other, outside;
    FILE *rec;
    char *buf; /* the round's sample lines, written with its 'round' line */
    size_t len, cap;
} V;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t r = fread(b + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
        if (n + 1 >= cap) {
            char *nb = cap < (64u << 20) ? realloc(b, cap *= 2) : NULL;
            if (!nb) {
                free(b);
                b = NULL;
            }
            b = nb;
        }
    }
    fclose(f);
    if (b)
        b[n] = 0, *len = n;
    return b;
}

static int vm_layout_of(pid_t pid, struct xpv_gm_layout *lay, struct xpv_error *err);

/* NAME (QEMU's -name) or a pid: the QEMU process. A wrapper started with QEMU's arguments
 * (timeout, a shell's exec) has the same -name: among several, the one whose guest RAM is
 * mapped is QEMU. */
static int vm_pid(const char *vm, pid_t *pid)
{
    char *end;
    long v = strtol(vm, &end, 10);
    if (*vm && !*end) {
        if (v <= 0 || v > INT_MAX) {
            xpv_cli_err(CMD, "--vm %s: not a process id", vm);
            return -1;
        }
        *pid = (pid_t)v;
        return 0;
    }
    DIR *d = opendir("/proc");
    if (!d) {
        xpv_cli_err(CMD, "cannot read /proc: %s", strerror(errno));
        return -1;
    }
    pid_t cand[16];
    unsigned found = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        char path[sizeof("/proc//cmdline") + sizeof(e->d_name)], name[256];
        size_t len;
        snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
        char *c = slurp(path, &len);
        if (c && xpv_gm_vm_name(c, len, name, sizeof(name)) == 0 && !strcmp(name, vm) && found < 16)
            cand[found++] = (pid_t)atoi(e->d_name);
        free(c);
    }
    closedir(d);
    if (!found) {
        xpv_cli_err(CMD, "--vm %s: no process has -name %s (give QEMU -name %s, or its pid)", vm,
                    vm, vm);
        return -1;
    }
    unsigned mapped = 0;
    for (unsigned i = 0; i < found; i++) {
        struct xpv_error err = {0};
        if (found == 1 || vm_layout_of(cand[i], &V.lay, &err) != -EAGAIN) {
            if (!mapped++)
                *pid = cand[i];
            else {
                xpv_cli_err(CMD,
                            "--vm %s: processes %d and %d both have -name %s and guest "
                            "RAM; give the pid",
                            vm, (int)*pid, (int)cand[i], vm);
                return -1;
            }
        }
    }
    if (!mapped)
        xpv_cli_err(CMD,
                    "--vm %s: %u processes have -name %s, none has its guest RAM mapped "
                    "yet; give the pid",
                    vm, found, vm);
    return mapped == 1 ? 0 : -1;
}

static int vm_layout_of(pid_t pid, struct xpv_gm_layout *lay, struct xpv_error *err)
{
    char path[64];
    size_t cl = 0, ml = 0;
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    char *c = slurp(path, &cl);
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    char *m = slurp(path, &ml);
    const char *lm = getenv("XPV_GMSAMPLER_LOWMEM");
    int rc = c && m ? xpv_gm_layout_parse(c, cl, m, ml, lm ? strtoull(lm, NULL, 0) : 0, lay, err)
                    : xpv_error_set(err, -ESRCH, "cannot read /proc/%d: %s", (int)pid,
                                    strerror(errno));
    free(c);
    free(m);
    return rc;
}

/* The VM's guest RAM as the sampler in it sees it; a VM it cannot sample is refused here
 * with the same words. */
static int vm_layout(pid_t pid)
{
    struct xpv_error err = {0};
    if (vm_layout_of(pid, &V.lay, &err) < 0) {
        xpv_cli_err(CMD, "VM pid %d: %s", (int)pid, err.msg);
        return -1;
    }
    if (!V.lay.thread_names)
        xpv_cli_err(CMD,
                    "note: VM pid %d has no -name ...,debug-threads=on, so its vCPU threads "
                    "are unnamed and samples count as other threads (their host CPU and "
                    "node still count)",
                    (int)pid);
    return 0;
}

static void vm_sample(void *arg, const struct xpv_cf_ring_sample *s, int node)
{
    (void)arg;
    if (s->vcpu && s->vcpu <= sizeof(V.per) / sizeof(V.per[0])) {
        V.per[s->vcpu - 1]++;
        if (s->vcpu > V.nr_vcpus)
            V.nr_vcpus = s->vcpu;
    } else {
        V.other++;
    }
    uint64_t gpa = xpv_gm_gpa(&V.lay, s->addr, NULL);
    if (gpa == UINT64_MAX) {
        V.outside++;
        return;
    }
    if (!V.rec || node < 0)
        return;
    if (V.len + 64 > V.cap) {
        size_t nc = V.cap ? V.cap * 2 : 65536;
        char *nb = realloc(V.buf, nc);
        if (!nb)
            return;
        V.buf = nb, V.cap = nc;
    }
    V.len += (size_t)snprintf(V.buf + V.len, V.cap - V.len, "s %u %llx %c %d\n", s->cpu,
                              (unsigned long long)gpa, s->write ? 'w' : 'r', node);
}

/* The round's samples per vCPU, on the round's line (or in its JSON), and in the recording. */
static void vm_round(const struct opts *o, json_t *j, double round_ns)
{
    char per[512];
    size_t n = 0;
    per[0] = 0;
    for (unsigned k = 0; k < V.nr_vcpus && n + 24 < sizeof(per); k++)
        n += (size_t)snprintf(per + n, sizeof(per) - n, "%s%u:%u", k ? " " : "", k, V.per[k]);
    if (j) {
        json_t *a = json_array();
        for (unsigned k = 0; k < V.nr_vcpus; k++)
            json_array_append_new(a, json_integer(V.per[k]));
        json_object_set_new(j, "vcpu_samples", a);
        json_object_set_new(j, "other_thread_samples", json_integer(V.other));
    } else if (!o->json) {
        printf("  vCPU samples %s; other threads %u; outside guest RAM %u\n",
               V.nr_vcpus ? per : "none", V.other, V.outside);
    }
    if (V.rec) {
        fprintf(V.rec, "round %.0f\n# vCPU:samples %s; other threads %u\n",
                round_ns > 0 ? round_ns : 1, per, V.other);
        fwrite(V.buf, 1, V.len, V.rec);
        fflush(V.rec);
    }
    V.len = 0;
    memset(V.per, 0, sizeof(V.per));
    V.nr_vcpus = V.other = V.outside = 0;
}

/* The recording's header: nodes and this host's CPUs (the samples' CPUs are the host's). */
static int vm_record_open(const char *file)
{
    struct xpv_topo *t = NULL;
    struct xpv_error err = {0};
    int rc = xpv_topo_discover(NULL, &t, &err);
    if (rc < 0) {
        xpv_cli_err(CMD, "%s", xpv_error_str(&err, rc));
        return -1;
    }
    V.rec = fopen(file, "we");
    if (!V.rec) {
        xpv_cli_err(CMD, "--record %s: %s", file, strerror(errno));
        xpv_topo_free(t);
        return -1;
    }
    unsigned nodes = 0;
    for (unsigned i = 0; i < t->nr_nodes; i++)
        if ((unsigned)t->nodes[i].id + 1 > nodes)
            nodes = (unsigned)t->nodes[i].id + 1;
    fprintf(V.rec,
            "xpv-samples 1\n# xpv carrefour --vm: host CPU, guest-physical address, host "
            "node of the page\nnodes %u\ncpus",
            nodes);
    for (unsigned c = 0; c < XPV_CF_REPLAY_MAX_CPUS; c++) {
        int nd = xpv_topo_cpu_node(t, c);
        if (nd >= 0)
            fprintf(V.rec, " %u:%d", c, nd);
    }
    fputc('\n', V.rec);
    xpv_topo_free(t);
    return 0;
}

static int run_live(const struct opts *o, const struct xpv_cf_params *params, char **cmd)
{
    struct xpv_cf_run_opts ro = {
            .pid = (pid_t)o->live_pid,
            .cmd = cmd,
            .sampler = o->perf_sampler == 2   ? XPV_CF_SAMPLER_PERF_FAULTS
                       : o->perf_sampler == 1 ? XPV_CF_SAMPLER_PERF
                                              : XPV_CF_SAMPLER_SOFT,
            .sampler_lib = o->sampler,
            .sampler_installed = XPV_CFSAMPLER_INSTALLED,
            .sampler_pages = o->pages,
            .sampler_window_us = (uint64_t)llround(o->window * 1e6),
            .perf_period = o->perf_period,
            .params = params,
            .seed = o->seed,
            .period_s = o->period,
            .rounds = (unsigned)o->rounds,
            .dry_run = o->dry_run != 0,
            .sample_memory = o->have_memory ? (o->memory ? (int)o->memory : -1) : 0,
            .on_round = print_live,
            .arg = (void *)o,
            .on_sample = o->vm ? vm_sample : NULL,
            .sampler_label = o->vm ? "guest-memory (userfaultfd)" : NULL,
            .log = {log_stderr, NULL},
    };
    struct xpv_cf_run_result res;
    struct xpv_error err = {0};
    /* a failure was logged when it happened (the run then still waits for CMD) */
    int status = xpv_cf_run(&ro, &res, &err) < 0 ? XPV_EXIT_FAIL : XPV_EXIT_OK;
    if (res.attached && !o->json)
        printf("total: %u migrated, %u interleaved, %u replicate->interleave, %u failed\n",
               res.migrated, res.interleaved, res.repl_interleaved, res.failed);
    if (res.started) {
        int ws = res.wstatus;
        if (WIFEXITED(ws) && WEXITSTATUS(ws) != 0) {
            xpv_cli_err(CMD, "%s exited with status %d", cmd[0], WEXITSTATUS(ws));
            status = XPV_EXIT_FAIL;
        } else if (WIFSIGNALED(ws)) {
            xpv_cli_err(CMD, "%s was killed by signal %d (%s)", cmd[0], WTERMSIG(ws),
                        strsignal(WTERMSIG(ws)));
            status = XPV_EXIT_FAIL;
        } else if (!o->json) {
            printf("target %d exited with status 0\n", (int)res.pid);
        }
    } else if (res.gone && !o->json) {
        printf("target %d exited\n", (int)res.pid);
    }
    return status;
}

static int load_perf(const struct opts *o, struct xpv_cf_replay **r)
{
    struct xpv_error err = {0};
    struct xpv_cf_perf_opts po = {.round_ns = o->period * 1e9,
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
            {"period", required_argument, NULL, 'T'},
            {"round-ms", required_argument, NULL, 'M'}, /* old spellings of --period */
            {"interval", required_argument, NULL, 'i'},
            {"sample-every", required_argument, NULL, 'E'},
            {"profile", required_argument, NULL, 'p'},
            {"json", no_argument, NULL, 'j'},
            {"seed", required_argument, NULL, 's'},
            {"pid", required_argument, NULL, 'P'},
            {"dry-run", no_argument, NULL, 'd'},
            {"rounds", required_argument, NULL, 'n'},
            {"maptu-min", required_argument, NULL, 'm'},
            {"min-samples", required_argument, NULL, 'x'},
            {"sample-memory", required_argument, NULL, 'Y'},
            {"pages", required_argument, NULL, 'g'},
            {"window", required_argument, NULL, 'W'},
            {"period-us", required_argument, NULL, 'e'}, /* old spelling of --window, in us */
            {"sampler", required_argument, NULL, 'L'},
            {"perf-period", required_argument, NULL, 'R'},
            {"vm", required_argument, NULL, 'V'},
            {"record", required_argument, NULL, 'D'},
            {"help", no_argument, NULL, 'h'},
            {0},
    };
    struct opts o = {.profile = "asplos", .seed = 1, .period = 1, .pages = 64, .window = 0.01};
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
        case 'M': /* --round-ms N: milliseconds */
        case 'i': /* --interval SEC */
            xpv_cli_deprecated(CMD, c == 'M' ? "--round-ms N" : "--interval",
                               c == 'M' ? "--period Nms" : "--period");
            /* fall through */
        case 'T':
            /* the widest range (--perf-script's); a live run's is checked below */
            bad = xpv_cli_duration(CMD,
                                   c == 'M'   ? "--round-ms"
                                   : c == 'i' ? "--interval"
                                              : "--period",
                                   optarg, c == 'M' ? 1e-3 : 1, 1e-3, 86400, &o.period, NULL);
            o.period_arg = optarg;
            break;
        case 'E':
            bad = xpv_cli_u64(CMD, "--sample-every", optarg, 1, 1000000000000ull,
                              "a positive integer", &o.sample_every);
            break;
        case 'p':
            o.profile = optarg;
            o.have_profile = 1;
            break;
        case 'V':
            o.vm = optarg;
            break;
        case 'D':
            o.record = optarg;
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
        case 'Y':
            bad = xpv_cli_u64(CMD, "--sample-memory", optarg, 0, XPV_CF_LIVE_MEMORY_MAX,
                              "rounds (0..16)", &o.memory);
            o.have_memory = 1;
            break;
        case 'g':
            o.have_soft_opts = 1;
            bad = xpv_cli_u64(CMD, "--pages", optarg, 1, 1024, "pages per window (1..1024)",
                              &o.pages);
            break;
        case 'e': /* --period-us N: microseconds */
            xpv_cli_deprecated(CMD, "--period-us N", "--window Nus");
            /* fall through */
        case 'W':
            o.have_soft_opts = 1;
            bad = xpv_cli_duration(CMD, c == 'e' ? "--period-us" : "--window", optarg,
                                   c == 'e' ? 1e-6 : 1, 1e-4, 10, &o.window, NULL);
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
    int sources = !!o.replay + !!o.perf + !!o.live_pid + !!cmd + !!o.vm;
    if (sources != 1) {
        xpv_cli_err(CMD, sources ? "give only one of --replay, --perf-script, --pid, --vm, -- CMD"
                                 : "give --replay FILE, --perf-script FILE, --pid PID, --vm NAME "
                                   "or -- CMD (see --help)");
        return XPV_EXIT_USAGE;
    }
    if (o.record && !o.vm) {
        xpv_cli_err(CMD, "--record goes with --vm");
        return XPV_EXIT_USAGE;
    }
    if (o.vm && (o.sampler || o.perf_sampler || o.have_soft_opts)) {
        xpv_cli_err(CMD, "--sampler, --pages and --window do not go with --vm: the sampler in "
                         "QEMU reads XPV_GMSAMPLER_PAGES, XPV_GMSAMPLER_PERIOD_US and "
                         "XPV_GMSAMPLER_BUDGET from QEMU's environment");
        return XPV_EXIT_USAGE;
    }
    if (o.vm && !o.have_profile)
        o.profile = "hv";
    if ((o.cpu_nodes || o.page_nodes || o.sample_every) && !o.perf) {
        xpv_cli_err(CMD, "--cpu-nodes, --page-nodes and --sample-every go with --perf-script");
        return XPV_EXIT_USAGE;
    }
    if (o.perf_sampler && o.have_soft_opts) {
        xpv_cli_err(CMD, "--pages and --window go with --sampler soft");
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
    else if (!strcmp(o.profile, "hv"))
        xpv_cf_params_hv(&params);
    else {
        xpv_cli_err(CMD, "unknown profile '%s' (asplos, lp, hv or hold)", o.profile);
        return XPV_EXIT_USAGE;
    }
    int live = o.live_pid || cmd || o.vm;
    if (o.perf_sampler && !live) {
        xpv_cli_err(CMD, "--sampler goes with --pid or -- CMD");
        return XPV_EXIT_USAGE;
    }
    if (!live && (o.dry_run || o.rounds || o.have_soft_opts || o.have_memory)) {
        xpv_cli_err(CMD, "--dry-run, --rounds, --pages, --window and --sample-memory go with "
                         "--pid or -- CMD (recorded samples move nothing, and each round is "
                         "decided from its own samples)");
        return XPV_EXIT_USAGE;
    }
    if (live && (o.period < 0.01 * (1 - 1e-9) || o.period > 3600 * (1 + 1e-9))) {
        xpv_cli_err(CMD,
                    "--period wants a duration from 10ms to 3600s for a live process, got '%s'",
                    o.period_arg);
        return XPV_EXIT_USAGE;
    }
    if (live)
        params.maptu_min = 0; /* see --help: sampled touches are not DRAM accesses */
    if (o.have_maptu)
        params.maptu_min = o.maptu_min;
    if (o.have_min)
        params.min_samples_migr = (unsigned)o.min_samples;
    int status;
    if (o.vm) {
        pid_t pid = 0;
        if (vm_pid(o.vm, &pid) < 0 || vm_layout(pid) < 0)
            return XPV_EXIT_FAIL;
        if (o.record && vm_record_open(o.record) < 0)
            return XPV_EXIT_FAIL;
        o.live_pid = (int)pid;
    }
    if (live) {
        status = run_live(&o, &params, cmd);
        if (V.rec && fclose(V.rec) != 0) {
            xpv_cli_err(CMD, "--record %s: could not write it", o.record);
            status = XPV_EXIT_FAIL;
        }
        V.rec = NULL;
        free(V.buf);
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
