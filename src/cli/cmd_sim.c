/*
 * cmd_sim.c — `xpv sim [SCENARIO]`: run a scenario under each of its policies and report
 * (table, or --json on stdout; --json-out FILE; --out DIR with CSV and gnuplot plots). Without
 * a scenario it runs the built-in default, sim/default.yaml (compiled in): labelled cases, one
 * per class of VM re-placement, under the eleven VM policies; per case a headline line (headline.c)
 * before its table, and a summary line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "xpv/policy.h"
#include "xpv/sim.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: xpv sim [SCENARIO.yaml|.json] [--json] [--json-out FILE] [--out DIR]\n"
            "               [--policy NAME]... [--seed N] [--quiet] [--list]\n"
            "       xpv sim --characterize [MACHINE] [--json] [--json-out FILE]\n\n"
            "Simulate NUMA policies on a machine model with memory-controller and interconnect\n"
            "congestion (docs/sim.md). Without SCENARIO: sim/default.yaml, one case per class\n"
            "of VM re-placement on the 4-socket Opteron, under Xen's default, static vNUMA,\n"
            "pinned vNUMA, XPV, XPV with page migration, vCPU hotplug, hypervisor\n"
            "first-touch, Carrefour in the hypervisor and in XPV guests, and Linux NUMA\n"
            "balancing on a KVM host. Each case prints a headline (what the move cost static\n"
            "vNUMA against pinned placement, the share of it each xpv* policy recovered), then\n"
            "its table; a summary line ends the run.\n\n"
            "  --json           print the results as JSON on stdout instead of the table\n"
            "  --json-out FILE  also write the results as JSON into FILE (- for stdout; the\n"
            "                   old spelling --json FILE still works, with a warning)\n"
            "  --out DIR        also write CSV files and gnuplot plots (PNG) into DIR: per case\n"
            "                   the local-access ratio around its moves, and a case's\n"
            "                   churn x residency sweep (re-runs: slower)\n"
            "  --policy NAME    run only this policy (repeatable; replaces the scenario's):\n"
            "                   a VM policy when the scenario runs VMs, a native one when\n"
            "                   not (hostd: both; the other kind exits 2)\n"
            "  --seed N         override the scenario's seed\n"
            "  --quiet          no progress bar (on a terminal), no line per finished case\n"
            "                   (otherwise)\n"
            "  --characterize [MACHINE]\n"
            "                   characterise a machine preset (default opteron-8n) with every\n"
            "                   workload preset, on the engine: one thread's slowdown with all\n"
            "                   its memory 1 and 2 hops away, one node's cores loading their\n"
            "                   own controller (latency / idle, bandwidth / peak), and\n"
            "                   first-touch against interleave with a thread per core\n"
            "  --list           list machine presets, workload presets and policies (hostd\n"
            "                   is the host daemon's own placement code, numad a model of\n"
            "                   numad(8))\n"
            "  -h, --help       show this help\n");
}

static void list_all(void)
{
    printf("machines:");
    for (const char *const *p = xpv_sim_machine_presets(); *p; p++)
        printf(" %s", *p);
    printf("\nworkloads:");
    for (const char *const *p = xpv_sim_workload_presets(); *p; p++)
        printf(" %s", *p);
    printf("\npolicies:");
    for (const char *const *p = xpv_policy_names(); *p; p++)
        printf(" %s", *p);
    printf("\n");
}

struct bar {
    const char *policy;
    unsigned index, total;
    int last;
    const char *label; /* the case's, in a file with cases (else NULL) */
    unsigned ci, cn;
};

static void progress(void *arg, double done)
{
    struct bar *b = arg;
    int pct = (int)(done * 100);
    if (pct == b->last)
        return;
    b->last = pct;
    int width = 30, fill = (int)(done * width);
    if (b->label)
        fprintf(stderr, "\rcase %u/%u %-.24s ", b->ci + 1, b->cn, b->label);
    else
        fputc('\r', stderr);
    fprintf(stderr, "[%u/%u] %-12s [%.*s%*s] %3d%%", b->index + 1, b->total, b->policy, fill,
            "##############################", width - fill, "", pct);
    if (done >= 1)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

/* The old `--json FILE` (before --json became the switch of every subcommand): the table on
 * stdout and the JSON into FILE, as --json-out FILE does. */
static void old_json(const char *file, const char **json_out)
{
    xpv_cli_deprecated("sim", "--json FILE", "--json-out FILE (--json: JSON on stdout)");
    *json_out = file;
}

/* The word after --json: a scenario (the switch, then SCENARIO), or the old form's FILE? A
 * scenario when it is named .yaml or .yml, or is an existing file that is not results xpv sim
 * wrote (JSON with "runs"), so that a scenario is never overwritten; a file that does not
 * exist yet is the old form's output. */
static bool scenario_word(const char *w)
{
    size_t n = strlen(w);
    if ((n > 5 && !strcmp(w + n - 5, ".yaml")) || (n > 4 && !strcmp(w + n - 4, ".yml")))
        return true;
    if (access(w, F_OK) != 0)
        return false;
    json_t *j = json_load_file(w, 0, NULL);
    bool results = json_is_object(j) && json_object_get(j, "runs");
    json_decref(j);
    return !results;
}

/* A machine preset's name (--characterize MACHINE after --json is the switch, then MACHINE). */
static bool machine_word(const char *w)
{
    for (const char *const *p = xpv_sim_machine_presets(); *p; p++)
        if (!strcmp(*p, w))
            return true;
    return false;
}

/* sim/default.yaml, compiled in (see src/CMakeLists.txt). */
#include "default_scenario.h"

static int default_suite(struct xpv_sim_suite *s, struct xpv_error *err)
{
    return xpv_sim_suite_parse(default_scenario_yaml, sizeof(default_scenario_yaml) - 1,
                               "sim/default.yaml", s, err);
}

/* --characterize: scenarios built here and run on the engine (docs/sim-calibration.md). */
struct charac {
    char workload[64];
    unsigned full_threads;
    double local_s, hop1_s, hop2_s; /* one thread on node 0; hop*: < 0 when no such node */
    bool hop_finished;
    double ctl_lat_ratio, ctl_bw_frac;
    double ft_s, il_s;
    bool ft_finished, il_finished;
};

static int char_run(struct xpv_sim_scenario *s, const char *w, unsigned threads, uint64_t nodes,
                    uint64_t membind, const char *policy, struct xpv_sim_result *r,
                    struct xpv_error *err)
{
    int rc = xpv_sim_workload_preset(w, threads, &s->workloads[0], err);
    if (rc < 0)
        return rc;
    s->nr_workloads = 1;
    if (nodes) {
        s->workloads[0].placement = XPV_SIM_NODES;
        s->workloads[0].nodes_mask = nodes;
    } else {
        s->workloads[0].placement = XPV_SIM_SPREAD;
    }
    s->workloads[0].membind_mask = membind;
    return xpv_sim_run(s, policy, r, NULL, NULL, err);
}

/* The first node at `hops` link hops from node 0, or -1. */
static int node_at_hops(const struct xpv_sim_machine *m, unsigned hops)
{
    for (unsigned n = 1; n < m->nr_nodes; n++)
        if (m->route_len[0 * m->nr_nodes + n] == hops)
            return (int)n;
    return -1;
}

static json_t *char_json(const struct xpv_sim_machine *m, const struct charac *c, unsigned nr,
                         int h1, int h2)
{
    json_t *ws = json_array();
    for (unsigned i = 0; i < nr; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "workload", json_string(c[i].workload));
        json_object_set_new(o, "local_s", json_real(c[i].local_s));
        json_object_set_new(o, "remote_1hop_slowdown",
                            h1 >= 0 ? json_real(c[i].hop1_s / c[i].local_s) : json_null());
        json_object_set_new(o, "remote_2hop_slowdown",
                            h2 >= 0 ? json_real(c[i].hop2_s / c[i].local_s) : json_null());
        json_object_set_new(o, "single_thread_finished", json_boolean(c[i].hop_finished));
        json_object_set_new(o, "controller_latency_ratio", json_real(c[i].ctl_lat_ratio));
        json_object_set_new(o, "controller_bandwidth_fraction", json_real(c[i].ctl_bw_frac));
        json_object_set_new(o, "full_threads", json_integer(c[i].full_threads));
        json_object_set_new(o, "first_touch_s", json_real(c[i].ft_s));
        json_object_set_new(o, "interleave_s", json_real(c[i].il_s));
        json_object_set_new(o, "interleave_speedup", json_real(c[i].ft_s / c[i].il_s));
        json_object_set_new(o, "finished", json_boolean(c[i].ft_finished && c[i].il_finished));
        json_array_append_new(ws, o);
    }
    json_t *j = json_object();
    json_object_set_new(j, "machine", json_string(m->name));
    json_object_set_new(j, "local_ns", json_real(m->lat_ns[0]));
    json_object_set_new(j, "hop1_node", h1 >= 0 ? json_integer(h1) : json_null());
    json_object_set_new(j, "hop2_node", h2 >= 0 ? json_integer(h2) : json_null());
    json_object_set_new(j, "workloads", ws);
    return j;
}

static int characterize(const char *machine, int json, const char *json_out)
{
    static struct xpv_sim_scenario s;
    static struct xpv_sim_result r;
    static struct charac c[32];
    struct xpv_error err = {0};
    xpv_sim_scenario_defaults(&s);
    s.max_seconds = 2000;
    int rc = xpv_sim_machine_preset(machine, &s.machine, &err);
    if (rc < 0) {
        xpv_cli_err("sim", "%s", xpv_error_str(&err, rc));
        return XPV_EXIT_FAIL;
    }
    const struct xpv_sim_machine *m = &s.machine;
    unsigned cores = 0, nr = 0;
    for (unsigned n = 0; n < m->nr_nodes; n++)
        cores += m->cores[n];
    int h1 = node_at_hops(m, 1), h2 = node_at_hops(m, 2);
    for (const char *const *w = xpv_sim_workload_presets(); *w && nr < 32; w++, nr++) {
        struct charac *x = &c[nr];
        memset(x, 0, sizeof(*x));
        snprintf(x->workload, sizeof(x->workload), "%s", *w);
        x->full_threads = cores;
        x->hop1_s = x->hop2_s = -1;
        /* one thread on node 0, all its memory on node 0, then 1 and 2 hops away */
        if ((rc = char_run(&s, *w, 1, 1, 1, "first-touch", &r, &err)) < 0)
            goto fail;
        x->local_s = r.apps[0].completion_s;
        x->hop_finished = r.apps[0].finished;
        for (int k = 0; k < 2; k++) {
            int at = k ? h2 : h1;
            if (at < 0)
                continue;
            if ((rc = char_run(&s, *w, 1, 1, UINT64_C(1) << at, "first-touch", &r, &err)) < 0)
                goto fail;
            *(k ? &x->hop2_s : &x->hop1_s) = r.apps[0].completion_s;
            x->hop_finished &= r.apps[0].finished;
        }
        /* node 0's cores, all memory on node 0: its controller under the program's load */
        if ((rc = char_run(&s, *w, m->cores[0], 1, 1, "first-touch", &r, &err)) < 0)
            goto fail;
        x->ctl_lat_ratio = r.apps[0].avg_latency_ns / m->lat_ns[0];
        x->ctl_bw_frac =
                r.sim_seconds > 0 ? r.mc_bytes[0] / (r.sim_seconds * 1e9) / m->mc_gbps[0] : 0;
        /* a thread per core, spread: first-touch against interleave */
        if ((rc = char_run(&s, *w, cores, 0, 0, "first-touch", &r, &err)) < 0)
            goto fail;
        x->ft_s = r.apps[0].completion_s;
        x->ft_finished = r.apps[0].finished;
        if ((rc = char_run(&s, *w, cores, 0, 0, "interleave", &r, &err)) < 0)
            goto fail;
        x->il_s = r.apps[0].completion_s;
        x->il_finished = r.apps[0].finished;
    }
    if (!json) {
        printf("machine %s: %u cores; local %.0f ns", m->name, cores, m->lat_ns[0]);
        for (int k = 0; k < 2; k++) {
            int at = k ? h2 : h1;
            if (at >= 0)
                printf("; %d hop%s: node %d, %.0f ns", k + 1, k ? "s" : "", at,
                       m->lat_ns[(unsigned)at]);
            else
                printf("; no node %d hop%s away", k + 1, k ? "s" : "");
        }
        printf("\n");
        printf("%-14s %8s %8s %13s %12s %16s %15s %8s\n", "workload", "1-hop", "2-hop",
               "ctl lat/idle", "ctl bw/peak", "first-touch (s)", "interleave (s)", "ft/il");
        for (unsigned i = 0; i < nr; i++) {
            char a[32] = "-", b[32] = "-";
            if (h1 >= 0)
                snprintf(a, sizeof(a), "%s%.2fx", c[i].hop_finished ? "" : ">",
                         c[i].hop1_s / c[i].local_s);
            if (h2 >= 0)
                snprintf(b, sizeof(b), "%s%.2fx", c[i].hop_finished ? "" : ">",
                         c[i].hop2_s / c[i].local_s);
            printf("%-14s %8s %8s %12.2fx %11.0f%% %s%15.3f %s%14.3f %7.2fx\n", c[i].workload, a, b,
                   c[i].ctl_lat_ratio, c[i].ctl_bw_frac * 100, c[i].ft_finished ? " " : ">",
                   c[i].ft_s, c[i].il_finished ? " " : ">", c[i].il_s, c[i].ft_s / c[i].il_s);
        }
    }
    json_t *j = char_json(m, c, nr, h1, h2);
    int out_rc = 0;
    if (json && json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) == 0)
        putchar('\n');
    if (json_out) {
        FILE *f = strcmp(json_out, "-") ? fopen(json_out, "w") : stdout;
        if (!f || json_dumpf(j, f, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) < 0) {
            xpv_cli_err("sim", "%s: cannot write it", json_out);
            out_rc = -1;
        } else {
            fputc('\n', f);
        }
        if (f && f != stdout && fclose(f) != 0 && !out_rc) {
            xpv_cli_err("sim", "%s: cannot write it", json_out);
            out_rc = -1;
        }
    }
    json_decref(j);
    if (out_rc < 0 || fflush(stdout) != 0)
        return XPV_EXIT_FAIL;
    return XPV_EXIT_OK;
fail:
    xpv_cli_err("sim", "characterize %s: %s", machine, xpv_error_str(&err, rc));
    return XPV_EXIT_FAIL;
}

/* ---- a suite: its cases, each under its policies ---------------------------------------- */

/* The headline policies of case c that ran (xpv_sim_headline_of's choice), into names. */
static unsigned headline_policies(const struct xpv_sim_suite *su, const struct xpv_sim_case *c,
                                  const struct xpv_sim_result *r, const char **names)
{
    struct xpv_sim_headline_in h;
    xpv_sim_headline_of(su, c, r, c->s.nr_policies, &h);
    for (unsigned i = 0; i < h.nr; i++)
        names[i] = h.names[i];
    return h.nr;
}

/* The app of VM vm in r, or NULL. */
static const struct xpv_sim_app_result *vm_app(const struct xpv_sim_result *r, const char *vm)
{
    for (unsigned j = 0; j < r->nr_apps && j < XPV_SIM_MAX_WORKLOADS; j++)
        if (!strcmp(r->apps[j].vm, vm))
            return &r->apps[j];
    return NULL;
}

#define SERIES_POINTS 40

/*
 * The local-access ratio of case c's VM over time under vnuma, vnuma-pinned and the headline
 * policies, per window of the run up to a few seconds past its last event. The engine keeps
 * totals only, so each point is a run of the case stopped at the window's end (the engine is
 * deterministic: a run stopped at T has done exactly what the full run did by T); a window's
 * ratio is the difference of two such runs' local and total accesses.
 */
static int write_local_series(const char *dir, const char *stem, const struct xpv_sim_suite *su,
                              const struct xpv_sim_case *c, const struct xpv_sim_result *r,
                              struct xpv_error *err)
{
    static struct xpv_sim_scenario s;
    static struct xpv_sim_result part;
    const char *names[XPV_SIM_MAX_POLICIES + 2];
    unsigned nr = 0;
    const char *vm = c->s.vms[c->vm].name;
    for (unsigned i = 0; i < c->s.nr_policies; i++)
        if (!strcmp(r[i].policy, "vnuma") || !strcmp(r[i].policy, "vnuma-pinned"))
            names[nr++] = r[i].policy;
    nr += headline_policies(su, c, r, names + nr);
    double marks[XPV_SIM_MAX_EVENTS], last = 0, end = 0;
    unsigned nmarks = 0;
    for (unsigned i = 0; i < c->s.nr_events; i++)
        if (c->s.events[i].vm == c->vm) {
            marks[nmarks++] = c->s.events[i].at_s;
            last = c->s.events[i].at_s;
        }
    for (unsigned i = 0; i < c->s.nr_policies; i++) {
        const struct xpv_sim_app_result *a = vm_app(&r[i], vm);
        if (a)
            end = fmax(end, a->completion_s);
    }
    end = fmin(end, last + 5);
    if (!nmarks || !(end > 0) || !nr)
        return 0;
    double x[SERIES_POINTS], *y = calloc((size_t)nr * SERIES_POINTS, sizeof(double));
    if (!y)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    double step = end / SERIES_POINTS;
    int rc = 0;
    for (unsigned p = 0; !rc && p < nr; p++) {
        double acc0 = 0, loc0 = 0;
        for (unsigned k = 0; !rc && k < SERIES_POINTS; k++) {
            s = c->s;
            s.max_seconds = step * (k + 1);
            x[k] = step * (k + 0.5);
            if ((rc = xpv_sim_run(&s, names[p], &part, NULL, NULL, err)) < 0)
                break;
            const struct xpv_sim_app_result *a = vm_app(&part, vm);
            double acc = a ? a->accesses : 0, loc = a ? a->local_ratio * a->accesses : 0;
            y[(size_t)p * SERIES_POINTS + k] = acc > acc0 ? (loc - loc0) / (acc - acc0) : NAN;
            acc0 = acc;
            loc0 = loc;
        }
    }
    char title[256];
    snprintf(title, sizeof(title), "%s%s%s: local-access ratio over time (dashed: its moves)", vm,
             c->name[0] ? ", " : "", c->name);
    if (!rc)
        rc = xpv_sim_write_series(dir, stem, title, "time (s)", "local accesses / all", x,
                                  SERIES_POINTS, names, y, nr, marks, nmarks, err);
    free(y);
    return rc;
}

/* The sweep of case c: its headline policies' recovery against residency, a line per churn
 * rate, one plot per policy (sweep-POLICY). */
static int write_sweep(const char *dir, const struct xpv_sim_suite *su,
                       const struct xpv_sim_case *c, const struct xpv_sim_result *r, bool show,
                       struct xpv_error *err)
{
    static struct xpv_sim_scenario s;
    static struct xpv_sim_result run;
    const struct xpv_sim_sweep *w = &c->sweep;
    const char *pol[XPV_SIM_MAX_POLICIES];
    unsigned np = headline_policies(su, c, r, pol);
    const char *vm = c->s.vms[c->vm].name;
    if (!np)
        return 0;
    unsigned nc = w->nr_churn, nrs = w->nr_residency;
    /* [policy][churn][residency] recovered %; the last "policy": vnuma / vnuma-pinned */
    double *y = calloc((size_t)(np + 1) * nc * nrs, sizeof(double));
    if (!y)
        return xpv_error_set(err, -ENOMEM, "out of memory");
    int rc = 0;
    for (unsigned ci = 0; !rc && ci < nc; ci++)
        for (unsigned ri = 0; !rc && ri < nrs; ri++) {
            if (show)
                fprintf(stderr, "\rsweep: churn %g/s, residency %g s   ", w->churn_per_s[ci],
                        w->residency_s[ri]);
            if ((rc = xpv_sim_sweep_scenario(c, w->churn_per_s[ci], w->residency_s[ri], &s, err)) <
                0)
                break;
            double t[XPV_SIM_MAX_POLICIES + 2];
            const char *runs[XPV_SIM_MAX_POLICIES + 2] = {"vnuma", "vnuma-pinned"};
            for (unsigned p = 0; p < np; p++)
                runs[2 + p] = pol[p];
            for (unsigned p = 0; !rc && p < np + 2; p++) {
                if ((rc = xpv_sim_run(&s, runs[p], &run, NULL, NULL, err)) < 0)
                    break;
                const struct xpv_sim_app_result *a = vm_app(&run, vm);
                t[p] = a && a->finished ? a->completion_s : NAN;
            }
            for (unsigned p = 0; !rc && p < np; p++) {
                double rec = NAN;
                if (xpv_sim_recovery(t[0], t[1], t[2 + p], &rec) != XPV_SIM_COST ||
                    !isfinite(t[2 + p]))
                    rec = NAN;
                y[((size_t)p * nc + ci) * nrs + ri] = rec * 100;
            }
            y[((size_t)np * nc + ci) * nrs + ri] = t[0] / t[1];
        }
    if (show)
        fputs("\r\033[K", stderr);
    for (unsigned p = 0; !rc && p <= np; p++) {
        char stem[64], title[256], cname[XPV_SIM_MAX_SWEEP][32];
        const char *names[XPV_SIM_MAX_SWEEP];
        for (unsigned ci = 0; ci < nc; ci++) {
            snprintf(cname[ci], sizeof(cname[ci]), "churn %g/s", w->churn_per_s[ci]);
            names[ci] = cname[ci];
        }
        if (p == np) {
            snprintf(stem, sizeof(stem), "sweep-cost");
            snprintf(title, sizeof(title),
                     "%s, %s: what the moves cost static vNUMA, vnuma / vnuma-pinned (moved "
                     "every residency s)",
                     vm, c->name);
        } else {
            snprintf(stem, sizeof(stem), "sweep-%s", pol[p]);
            snprintf(title, sizeof(title),
                     "%s, %s: share of the re-placement's cost %s recovers (moved every "
                     "residency s; no point: nothing to recover)",
                     vm, c->name, pol[p]);
        }
        rc = xpv_sim_write_series(dir, stem, title, "residency (s)",
                                  p == np ? "completion time ratio" : "recovered (%)",
                                  w->residency_s, nrs, names, y + (size_t)p * nc * nrs, nc, NULL, 0,
                                  err);
    }
    free(y);
    return rc;
}

static int run_suite(struct xpv_sim_suite *su, const char *const *only, unsigned nr_only,
                     int seed_set, uint64_t seed, int quiet, int json, const char *json_out,
                     const char *out)
{
    struct xpv_error err = {0};
    int rc;
    for (unsigned k = 0; k < su->nr_cases; k++) {
        struct xpv_sim_scenario *s = &su->cases[k].s;
        if (seed_set)
            s->seed = seed;
        if (nr_only) {
            s->nr_policies = nr_only;
            for (unsigned i = 0; i < nr_only; i++)
                snprintf(s->policies[i], sizeof(s->policies[i]), "%s", only[i]);
        }
        /* Check every policy name before spending time on the first run; one for the other
         * kind of scenario (a native policy on VMs, a VM policy on native applications) is a
         * usage error naming the policies that apply. */
        bool vms = false;
        for (unsigned i = 0; i < s->nr_workloads; i++)
            vms |= s->workloads[i].in_vm;
        for (unsigned i = 0; i < s->nr_policies; i++) {
            struct xpv_policy *p;
            if ((rc = xpv_policy_new(s->policies[i], &p, &err)) < 0) {
                xpv_cli_err("sim", "%s", xpv_error_str(&err, rc));
                return XPV_EXIT_FAIL;
            }
            xpv_policy_free(p);
            if ((rc = xpv_policy_check(s->policies[i], vms, &err)) < 0) {
                xpv_cli_err("sim", "%s", xpv_error_str(&err, rc));
                return XPV_EXIT_USAGE;
            }
        }
    }
    struct xpv_sim_result **res = calloc(su->nr_cases, sizeof(*res));
    struct xpv_sim_headline_in *h = calloc(su->nr_cases, sizeof(*h));
    int exit_rc = XPV_EXIT_FAIL;
    if (!res || !h) {
        xpv_cli_err("sim", "out of memory");
        goto done;
    }
    int show = !quiet && isatty(STDERR_FILENO);
    for (unsigned k = 0; k < su->nr_cases; k++) {
        const struct xpv_sim_case *c = &su->cases[k];
        const struct xpv_sim_scenario *s = &c->s;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (!(res[k] = calloc(s->nr_policies, sizeof(**res)))) {
            xpv_cli_err("sim", "out of memory");
            goto done;
        }
        for (unsigned i = 0; i < s->nr_policies; i++) {
            struct bar b = {s->policies[i], i, s->nr_policies, -1, su->labelled ? c->name : NULL, k,
                            su->nr_cases};
            rc = xpv_sim_run(s, s->policies[i], &res[k][i], show ? progress : NULL, &b, &err);
            if (rc < 0) {
                if (su->labelled)
                    xpv_cli_err("sim", "case %s, policy %s: %s", c->name, s->policies[i],
                                xpv_error_str(&err, rc));
                else
                    xpv_cli_err("sim", "policy %s: %s", s->policies[i], xpv_error_str(&err, rc));
                goto done;
            }
        }
        xpv_sim_headline_of(su, c, res[k], s->nr_policies, &h[k]);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (su->labelled && !quiet && !show) /* not a terminal: a line per finished case */
            fprintf(stderr, "xpv sim: case %u/%u done: %s (%u policies, %.1f s)\n", k + 1,
                    su->nr_cases, c->name, s->nr_policies,
                    (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    }
    char line[512];
    if (!json)
        for (unsigned k = 0; k < su->nr_cases; k++) {
            const struct xpv_sim_case *c = &su->cases[k];
            if (su->labelled || (c->has_vm && h[k].have_base))
                printf("%s%s\n", k ? "\n" : "", xpv_sim_headline(line, sizeof(line), &h[k]));
            xpv_sim_print_table(stdout, &c->s, res[k], c->s.nr_policies);
        }
    if (!json && su->labelled)
        printf("\n%s\n", xpv_sim_headline_summary(line, sizeof(line), h, su->nr_cases));
    const struct xpv_sim_result *const *cres = (const struct xpv_sim_result *const *)res;
    if (json_out && (rc = xpv_sim_write_json_suite(json_out, su, cres, &err)) < 0) {
        xpv_cli_err("sim", "%s", xpv_error_str(&err, rc));
        goto done;
    }
    if (json && (rc = xpv_sim_write_json_suite("-", su, cres, &err)) < 0) {
        xpv_cli_err("sim", "%s", xpv_error_str(&err, rc));
        goto done;
    }
    for (unsigned k = 0; out && k < su->nr_cases; k++) {
        const struct xpv_sim_case *c = &su->cases[k];
        char sub[4096], stem[96];
        if (su->labelled)
            snprintf(sub, sizeof(sub), "%s/case%u", out, k + 1);
        else
            snprintf(sub, sizeof(sub), "%s", out);
        if ((rc = xpv_sim_write_dir(sub, &c->s, res[k], c->s.nr_policies, &err)) < 0)
            goto out_fail;
        snprintf(stem, sizeof(stem), "local-%s", c->has_vm ? c->s.vms[c->vm].name : "");
        if (c->has_vm && h[k].have_base &&
            (rc = write_local_series(sub, stem, su, c, res[k], &err)) < 0)
            goto out_fail;
        if (c->has_sweep && (rc = write_sweep(sub, su, c, res[k], show, &err)) < 0)
            goto out_fail;
    }
    if (fflush(stdout) != 0) {
        xpv_cli_err("sim", "could not write the output");
        goto done;
    }
    exit_rc = XPV_EXIT_OK;
    goto done;
out_fail:
    xpv_cli_err("sim", "%s", xpv_error_str(&err, rc));
done:
    for (unsigned k = 0; res && k < su->nr_cases; k++)
        free(res[k]);
    free(res);
    free(h);
    return exit_rc;
}

int xpv_cmd_sim(int argc, char **argv)
{
    static const struct option opts[] = {
            {"json", optional_argument, NULL, 'j'}, {"json-out", required_argument, NULL, 'J'},
            {"out", required_argument, NULL, 'o'},  {"policy", required_argument, NULL, 'p'},
            {"seed", required_argument, NULL, 's'}, {"quiet", no_argument, NULL, 'q'},
            {"list", no_argument, NULL, 'l'},       {"characterize", no_argument, NULL, 'C'},
            {"help", no_argument, NULL, 'h'},       {0},
    };
    const char *json_out = NULL, *out = NULL, *after_json = NULL;
    int json = 0;
    const char *only[XPV_SIM_MAX_POLICIES];
    unsigned nr_only = 0;
    int quiet = 0, c, seed_set = 0, charac = 0;
    uint64_t seed = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hj::o:p:s:ql", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            if (optarg) { /* --json=FILE: the old form */
                old_json(optarg, &json_out);
                break;
            }
            json = 1;
            /* the word after it: the old form's FILE, or a scenario (decided below) */
            if (optind < argc && (argv[optind][0] != '-' || !strcmp(argv[optind], "-")))
                after_json = argv[optind];
            break;
        case 'J':
            json_out = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'p':
            if (nr_only == XPV_SIM_MAX_POLICIES) {
                xpv_cli_err("sim", "at most %d --policy options", XPV_SIM_MAX_POLICIES);
                return XPV_EXIT_USAGE;
            }
            only[nr_only++] = optarg;
            break;
        case 's':
            if (xpv_cli_u64("sim", "--seed", optarg, 0, UINT64_MAX, "a non-negative integer",
                            &seed))
                return XPV_EXIT_USAGE;
            seed_set = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'C':
            charac = 1;
            break;
        case 'l':
            list_all();
            return XPV_EXIT_OK;
        case 'h':
            usage(stdout);
            return XPV_EXIT_OK;
        default:
            usage(stderr);
            return XPV_EXIT_USAGE;
        }
    }
    if (after_json && !(charac && machine_word(after_json)) &&
        (!strcmp(after_json, "-") || !scenario_word(after_json))) {
        /* --json FILE: take FILE out of the positionals (getopt moved them to the end) */
        for (int i = optind; i < argc; i++)
            if (argv[i] == after_json) {
                memmove(argv + i, argv + i + 1, (size_t)(argc - i - 1) * sizeof(*argv));
                argc--;
                break;
            }
        json = 0;
        old_json(after_json, &json_out);
    }
    if (argc - optind > 1) {
        xpv_cli_err("sim", "one scenario at a time (got '%s' and '%s')", argv[optind],
                    argv[optind + 1]);
        return XPV_EXIT_USAGE;
    }
    if (charac) {
        if (out || nr_only || seed_set) {
            xpv_cli_err("sim", "--characterize takes only MACHINE, --json and --json-out");
            return XPV_EXIT_USAGE;
        }
        return characterize(optind < argc ? argv[optind] : "opteron-8n", json, json_out);
    }
    static struct xpv_sim_suite su;
    struct xpv_error err = {0};
    int rc = optind < argc ? xpv_sim_suite_load(argv[optind], &su, &err) : default_suite(&su, &err);
    if (rc < 0) {
        xpv_cli_err("sim", "%s", xpv_error_str(&err, rc));
        return XPV_EXIT_FAIL;
    }
    rc = run_suite(&su, only, nr_only, seed_set, seed, quiet, json, json_out, out);
    xpv_sim_suite_free(&su);
    return rc;
}
