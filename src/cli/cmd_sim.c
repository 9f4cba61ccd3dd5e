/*
 * cmd_sim.c — `xpv sim [SCENARIO]`: run a scenario under each of its policies and report
 * (table, or --json on stdout; --json-out FILE; --out DIR with CSV and gnuplot plots). Without
 * a scenario it runs the built-in default, sim/default.yaml (compiled in): five VMs re-placed
 * while they run, under the ten VM policies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "xpv/policy.h"
#include "xpv/sim.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: xpv sim [SCENARIO.yaml|.json] [--json] [--json-out FILE] [--out DIR]\n"
               "               [--policy NAME]... [--seed N] [--quiet] [--list]\n\n"
               "Simulate NUMA policies on a machine model with memory-controller and interconnect\n"
               "congestion (docs/sim.md). Without SCENARIO: sim/default.yaml, five VMs on the\n"
               "4-socket Opteron re-placed by the hypervisor while they run, under Xen's default,\n"
               "static vNUMA, pinned vNUMA, XPV, XPV with page migration, vCPU hotplug,\n"
               "hypervisor first-touch, Carrefour in the hypervisor and in XPV guests, and\n"
               "Linux NUMA balancing on a KVM host.\n\n"
               "  --json           print the results as JSON on stdout instead of the table\n"
               "  --json-out FILE  also write the results as JSON into FILE (- for stdout; the\n"
               "                   old spelling --json FILE still works, with a warning)\n"
               "  --out DIR        also write CSV files and gnuplot plots (PNG) into DIR\n"
               "  --policy NAME    run only this policy (repeatable; replaces the scenario's):\n"
               "                   a VM policy when the scenario runs VMs, a native one when\n"
               "                   not (hostd: both; the other kind exits 2)\n"
               "  --seed N         override the scenario's seed\n"
               "  --quiet          no progress bar (it is shown only on a terminal anyway)\n"
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
            {"json", optional_argument, NULL, 'j'},
            {"json-out", required_argument, NULL, 'J'},
            {"out", required_argument, NULL, 'o'},
            {"policy", required_argument, NULL, 'p'},
            {"seed", required_argument, NULL, 's'},
            {"quiet", no_argument, NULL, 'q'},
            {"list", no_argument, NULL, 'l'},
            {"help", no_argument, NULL, 'h'},
            {0},
    };
    const char *json_out = NULL, *out = NULL, *after_json = NULL;
    int json = 0;
    const char *only[XPV_SIM_MAX_POLICIES];
    unsigned nr_only = 0;
    int quiet = 0, c, seed_set = 0;
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
    if (after_json && (!strcmp(after_json, "-") || !scenario_word(after_json))) {
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
    /* Check every policy name before spending time on the first run; one for the other kind
     * of scenario (a native policy on VMs, a VM policy on native applications) is a usage
     * error naming the policies that apply. */
    bool vms = false;
    for (unsigned i = 0; i < s.nr_workloads; i++)
        vms |= s.workloads[i].in_vm;
    for (unsigned i = 0; i < s.nr_policies; i++) {
        struct xpv_policy *p;
        if ((rc = xpv_policy_new(s.policies[i], &p, &err)) < 0) {
            xpv_cli_err("sim", "%s", xpv_error_str(&err, rc));
            return XPV_EXIT_FAIL;
        }
        xpv_policy_free(p);
        if ((rc = xpv_policy_check(s.policies[i], vms, &err)) < 0) {
            xpv_cli_err("sim", "%s", xpv_error_str(&err, rc));
            return XPV_EXIT_USAGE;
        }
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
    if (!json)
        xpv_sim_print_table(stdout, &s, res, s.nr_policies);
    if (json_out && (rc = xpv_sim_write_json(json_out, &s, res, s.nr_policies, &err)) < 0) {
        xpv_cli_err("sim", "%s", xpv_error_str(&err, rc));
        return XPV_EXIT_FAIL;
    }
    if (json && (rc = xpv_sim_write_json("-", &s, res, s.nr_policies, &err)) < 0) {
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
