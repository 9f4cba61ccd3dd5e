/*
 * cmd_carrefour.c — `xpv carrefour`: run Carrefour's engine (the policy core) on access
 * samples and print, per round, its metrics, gates and decisions, with its own cost. Today
 * the samples come from a recording (--replay, docs/carrefour.md); live sampling of a process
 * is the next step of the Carrefour issue and is refused with a message saying so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "xpv/carrefour.h"
#include "xpv/cf_replay.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: xpv carrefour --replay FILE [--profile asplos|lp] [--json] [--seed N]\n\n"
               "Run Carrefour's decision engine (ASPLOS 2013) on recorded access samples and\n"
               "print each round's metrics (MAPTU, local access ratio, controller imbalance),\n"
               "enabled mechanisms and page decisions (docs/carrefour.md).\n\n"
               "  --replay FILE    samples in the xpv-samples format\n"
               "  --profile NAME   thresholds: asplos (default: the ASPLOS runtime) or lp\n"
               "                   (Carrefour-LP and the Xen port: MAPTU_MIN 15, no replication)\n"
               "  --json           one JSON object per round\n"
               "  --seed N         seed of the interleave draws (default 1)\n"
               "  -h, --help       show this help\n");
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int xpv_cmd_carrefour(int argc, char **argv)
{
    static const struct option opts[] = {
            {"replay", required_argument, NULL, 'r'},
            {"profile", required_argument, NULL, 'p'},
            {"json", no_argument, NULL, 'j'},
            {"seed", required_argument, NULL, 's'},
            {"pid", required_argument, NULL, 'P'},
            {"help", no_argument, NULL, 'h'},
            {0},
    };
    const char *replay = NULL, *profile = "asplos";
    int json = 0, c, live = 0;
    uint64_t rng = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hr:p:js:", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            replay = optarg;
            break;
        case 'p':
            profile = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 's':
            if (xpv_cli_u64("carrefour", "--seed", optarg, 0, UINT64_MAX, "a non-negative integer",
                            &rng))
                return XPV_EXIT_USAGE;
            break;
        case 'P':
            live = 1;
            break;
        case 'h':
            usage(stdout);
            return XPV_EXIT_OK;
        default:
            usage(stderr);
            return XPV_EXIT_USAGE;
        }
    }
    if (live || optind < argc) {
        xpv_cli_err("carrefour",
                    "live sampling of a process is not implemented yet (this machine has no "
                    "precise memory-sampling PMU, and the software sampler is still to come); "
                    "run the engine on recorded samples with --replay FILE");
        return XPV_EXIT_FAIL;
    }
    if (!replay) {
        xpv_cli_err("carrefour", "give --replay FILE (see --help)");
        return XPV_EXIT_USAGE;
    }
    struct xpv_cf_params params;
    if (!strcmp(profile, "asplos"))
        xpv_cf_params_asplos(&params);
    else if (!strcmp(profile, "lp"))
        xpv_cf_params_lp(&params);
    else {
        xpv_cli_err("carrefour", "unknown profile '%s' (asplos or lp)", profile);
        return XPV_EXIT_USAGE;
    }
    struct xpv_error err = {0};
    struct xpv_cf_replay *r;
    int rc = xpv_cf_replay_load(replay, &r, &err);
    if (rc < 0) {
        xpv_cli_err("carrefour", "%s", xpv_error_str(&err, rc));
        return XPV_EXIT_FAIL;
    }
    unsigned cap = params.page_budget * 4;
    struct xpv_cf_page *pages = malloc(cap * sizeof(*pages));
    struct xpv_cf_decision *dec = malloc(cap * sizeof(*dec));
    int status = XPV_EXIT_OK;
    if (!pages || !dec) {
        xpv_cli_err("carrefour", "out of memory");
        status = XPV_EXIT_FAIL;
    }
    for (size_t i = 0; status == XPV_EXIT_OK && i < r->nr_rounds; i++) {
        struct xpv_cf_counters ctr;
        struct xpv_cf_metrics m;
        struct xpv_cf_round rd;
        unsigned np;
        double t0 = now_ns();
        if (xpv_cf_replay_round(r, i, &ctr, pages, cap, &np) < 0 ||
            xpv_cf_metrics(&params, &ctr, &m) < 0 ||
            xpv_cf_decide(&params, &m, pages, np, &rng, dec, cap, &rd) < 0) {
            xpv_cli_err("carrefour", "round %zu: the engine failed", i);
            status = XPV_EXIT_FAIL;
            break;
        }
        double cost = now_ns() - t0;
        double pct = 100 * cost / ctr.round_ns;
        if (json) {
            json_t *o = json_pack(
                    "{s:I, s:f, s:f, s:f, s:f, s:b, s:b, s:b, s:b, s:I, s:I, s:I, s:I, "
                    "s:I, s:f, s:b}",
                    "round", (json_int_t)i, "maptu", m.maptu, "lar", m.lar, "imbalance",
                    m.imbalance, "read_ratio", ctr.read_ratio, "enabled", m.enabled, "migration",
                    m.migration, "interleaving", m.interleaving, "replication", m.replication,
                    "pages", (json_int_t)np, "migrate", (json_int_t)rd.migrate, "interleave",
                    (json_int_t)rd.interleave, "replicate", (json_int_t)rd.replicate, "over_budget",
                    (json_int_t)rd.skipped_budget, "engine_pct_of_round", pct,
                    "cheap_sampling_next", rd.cheap_sampling_next);
            if (o) {
                json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
                fputc('\n', stdout);
                json_decref(o);
            }
        } else {
            printf("round %zu: MAPTU %.1f/us, LAR %.1f%%, imbalance %.1f%%, reads %.1f%% | %s%s%s%s"
                   "| %u pages sampled: %u migrate, %u interleave, %u replicate, %u over budget "
                   "| engine %.3f ms (%.3f%% of the round)%s\n",
                   i, m.maptu, m.lar, m.imbalance, ctr.read_ratio,
                   m.enabled ? "" : "off (MAPTU below the minimum) ",
                   m.migration ? "migration " : "", m.interleaving ? "interleaving " : "",
                   m.replication ? "replication " : "", np, rd.migrate, rd.interleave, rd.replicate,
                   rd.skipped_budget, cost / 1e6, pct,
                   rd.cheap_sampling_next ? ", cheap sampling next" : "");
        }
    }
    free(pages);
    free(dec);
    xpv_cf_replay_free(r);
    if (fflush(stdout) != 0) {
        xpv_cli_err("carrefour", "could not write the output");
        return XPV_EXIT_FAIL;
    }
    return status;
}
