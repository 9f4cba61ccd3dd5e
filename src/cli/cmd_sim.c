/*
 * cmd_sim.c — `xpv sim [SCENARIO]`: run a scenario under each of its policies and report
 * (table; --json FILE; --out DIR with CSV and gnuplot plots). Without a scenario it runs the
 * built-in default, sim/default.yaml (compiled in): five VMs re-placed while they run, under
 * the nine VM policies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "xpv/policy.h"
#include "xpv/sim.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: xpv sim [SCENARIO.yaml|.json] [--json FILE] [--out DIR] [--policy NAME]...\n"
               "               [--seed N] [--quiet] [--list]\n\n"
               "Simulate NUMA policies on a machine model with memory-controller and interconnect\n"
               "congestion (docs/sim.md). Without SCENARIO: sim/default.yaml, five VMs on the\n"
               "4-socket Opteron re-placed by the hypervisor while they run, under Xen's default,\n"
               "static vNUMA, pinned vNUMA, XPV, XPV with page migration, vCPU hotplug,\n"
               "hypervisor first-touch, and Carrefour in the hypervisor and in XPV guests.\n\n"
               "  --json FILE    also write the results as JSON (- for stdout)\n"
               "  --out DIR      also write CSV files and gnuplot plots (PNG) into DIR\n"
               "  --policy NAME  run only this policy (repeatable; overrides the scenario's list)\n"
               "  --seed N       override the scenario's seed\n"
               "  --quiet        no progress bar (it is shown only on a terminal anyway)\n"
               "  --list         list machine presets, workload presets and policies (hostd is\n"
               "                 the host daemon's own placement code, numad a model of numad(8))\n"
               "  -h, --help     show this help\n");
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
};

static void progress(void *arg, double done)
{
    struct bar *b = arg;
    int pct = (int)(done * 100);
    if (pct == b->last)
        return;
    b->last = pct;
    int width = 30, fill = (int)(done * width);
    fprintf(stderr, "\r[%u/%u] %-12s [%.*s%*s] %3d%%", b->index + 1, b->total, b->policy, fill,
            "##############################", width - fill, "", pct);
    if (done >= 1)
        fputs("\r\033[K", stderr);
    fflush(stderr);
}

/* sim/default.yaml, compiled in (see src/CMakeLists.txt). */
#include "default_scenario.h"

static int default_scenario(struct xpv_sim_scenario *s, struct xpv_error *err)
{
    return xpv_sim_scenario_parse(default_scenario_yaml, sizeof(default_scenario_yaml) - 1,
                                  "sim/default.yaml", s, err);
}

int xpv_cmd_sim(int argc, char **argv)
{
    static const struct option opts[] = {
            {"json", required_argument, NULL, 'j'},   {"out", required_argument, NULL, 'o'},
            {"policy", required_argument, NULL, 'p'}, {"seed", required_argument, NULL, 's'},
            {"quiet", no_argument, NULL, 'q'},        {"list", no_argument, NULL, 'l'},
            {"help", no_argument, NULL, 'h'},         {0},
    };
    const char *json = NULL, *out = NULL;
    const char *only[XPV_SIM_MAX_POLICIES];
    unsigned nr_only = 0;
    int quiet = 0, c, seed_set = 0;
    uint64_t seed = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hj:o:p:s:ql", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = optarg;
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
    if (argc - optind > 1) {
        xpv_cli_err("sim", "one scenario at a time (got '%s' and '%s')", argv[optind],
                    argv[optind + 1]);
        return XPV_EXIT_USAGE;
    }
    static struct xpv_sim_scenario s;
    struct xpv_error err = {0};
    int rc = optind < argc ? xpv_sim_scenario_load(argv[optind], &s, &err)
                           : default_scenario(&s, &err);
    if (rc < 0) {
        xpv_cli_err("sim", "%s", xpv_error_str(&err, rc));
        return XPV_EXIT_FAIL;
    }
    if (seed_set)
        s.seed = seed;
    if (nr_only) {
        s.nr_policies = nr_only;
        for (unsigned i = 0; i < nr_only; i++)
            snprintf(s.policies[i], sizeof(s.policies[i]), "%s", only[i]);
    }
    /* Check every policy name before spending time on the first run. */
    for (unsigned i = 0; i < s.nr_policies; i++) {
        struct xpv_policy *p;
        if ((rc = xpv_policy_new(s.policies[i], &p, &err)) < 0) {
            xpv_cli_err("sim", "%s", xpv_error_str(&err, rc));
            return XPV_EXIT_FAIL;
        }
        xpv_policy_free(p);
    }
    static struct xpv_sim_result res[XPV_SIM_MAX_POLICIES];
    int show = !quiet && isatty(STDERR_FILENO);
    for (unsigned i = 0; i < s.nr_policies; i++) {
        struct bar b = {s.policies[i], i, s.nr_policies, -1};
        rc = xpv_sim_run(&s, s.policies[i], &res[i], show ? progress : NULL, &b, &err);
        if (rc < 0) {
            xpv_cli_err("sim", "policy %s: %s", s.policies[i], xpv_error_str(&err, rc));
            return XPV_EXIT_FAIL;
        }
    }
    xpv_sim_print_table(stdout, &s, res, s.nr_policies);
    if (json && (rc = xpv_sim_write_json(json, &s, res, s.nr_policies, &err)) < 0) {
        xpv_cli_err("sim", "%s", xpv_error_str(&err, rc));
        return XPV_EXIT_FAIL;
    }
    if (out && (rc = xpv_sim_write_dir(out, &s, res, s.nr_policies, &err)) < 0) {
        xpv_cli_err("sim", "%s", xpv_error_str(&err, rc));
        return XPV_EXIT_FAIL;
    }
    if (fflush(stdout) != 0) {
        xpv_cli_err("sim", "could not write the output");
        return XPV_EXIT_FAIL;
    }
    return XPV_EXIT_OK;
}
