/*
 * test_carrefour_sim.c — Carrefour (the policy core's engine, driven by the simulator's
 * access sampler) on every workload preset, 48 threads on the 8-node Opteron preset
 * (opteron-8n), against first-touch and interleave. The log gets one table row per preset
 * (docs/carrefour.md records them). Two programs in one: `test-carrefour_sim` (ctest
 * sim.carrefour_sim) runs the papers' profiles at work_scale 5, `test-carrefour_sim target`
 * (sim.carrefour_target) the target with xpv's hold profile at work_scale 20.
 *
 * The papers' profiles, work_scale 5 (runs of 8-60 s). Asserted, because it is true in this
 * model:
 *   - Carrefour never costs more than 2 % against first-touch (the paper's "never hurts");
 *   - where first-touch leaves controllers imbalanced (> 35 %, Carrefour's gate) it wins
 *     clearly over first-touch (>= 20 % less time; kmeans >= 10 %: its imbalance is one small
 *     hot region, the 1 MB of means, just over the gate), lowers the imbalance, moves pages;
 *   - where traffic is already local and balanced (first-touch is the better of the two) it is
 *     within 5 % of it, moving next to nothing: the target holds there.
 * Printed, not asserted: the target where interleave is the better policy. It is
 * missed there (by 14-140 % at these run lengths), for the reasons measured in
 * docs/carrefour.md: the module's 30 000-page table bounds what one round can move, and the
 * 35 % imbalance gate stops interleaving while one of 8 nodes still serves about twice the
 * others' load. The "start" column: what the first second alone costs when it runs at
 * first-touch's pace and the rest at the better policy's - a policy that starts from
 * first-touch and acts after 1 s wins it back only by beating the better policy's pace.
 *
 * A second table: the same presets on memory backed by 2 MiB pages (`page: 2m`, THP), every
 * policy in that setting, Carrefour as Carrefour-LP (`carrefour-lp`: the module's 2 MB rules,
 * hot pages split). Asserted there: never more than 2 % against first-touch; a clear win
 * (>= 20 %), less imbalance and moved pages where first-touch is imbalanced; the target
 * on every preset (met on all of them since the calibrated presets of issue 16; before, on
 * nas-lu, nas-ua, kmeans and memcached only).
 *
 * The target (`target`): 2 MiB pages, `carrefour-hold` (Carrefour-LP with hysteresis on the
 * interleaving gate, xpv's departure from the papers), work_scale 20 (runs of 33-240 s, where
 * the first-touch second costs at most 2 %). Asserted on every preset: within 5 % of the better
 * of first-touch and interleave; where first-touch is imbalanced, >= 20 % less time than it,
 * less imbalance, pages moved. The scenario's default seed: docs/carrefour.md gives the
 * spread over seeds 1-5 and with a coarser simulator step (all within 5 %, measured).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "xpv/sim.h"

static struct xpv_sim_scenario sc;

struct row {
    const char *preset;
    double ft, il, cf;     /* completion, s */
    double ft_imb, cf_imb; /* controller imbalance over the run */
    double cf_mb;          /* migrated */
};

/* first-touch, interleave and `carrefour` on the preset, its memory in `page` pages */
static struct row run3(const char *preset, const char *page, const char *carrefour, int scale)
{
    char text[512];
    snprintf(text, sizeof(text),
             "machine: opteron-8n\nmax_seconds: %d\n"
             "workloads: [{preset: %s, threads: 48, work_scale: %d, page: %s}]\n",
             100 * scale, preset, scale, page);
    struct xpv_error err = {0};
    if (xpv_sim_scenario_parse(text, strlen(text), "t.yaml", &sc, &err) < 0)
        fail_msg("%s", err.msg);
    const char *const pols[] = {"first-touch", "interleave", carrefour};
    struct xpv_sim_result out[3];
    for (int i = 0; i < 3; i++) {
        if (xpv_sim_run(&sc, pols[i], &out[i], NULL, NULL, &err) < 0)
            fail_msg("%s", err.msg);
        assert_true(out[i].apps[0].finished);
    }
    return (struct row){preset,
                        out[0].apps[0].completion_s,
                        out[1].apps[0].completion_s,
                        out[2].apps[0].completion_s,
                        out[0].mc_imbalance,
                        out[2].mc_imbalance,
                        out[2].apps[0].migrated_mb};
}

static void print_row(const struct row *r)
{
    double best = fmin(r->ft, r->il), gap = 100 * (r->cf / best - 1);
    /* 1 s at first-touch pace, then the better policy's pace for the rest */
    double start = 100 * ((1 + (1 - 1 / r->ft) * best) / best - 1);
    print_message("%-14s %8.2f (%5.1f%%) %8.2f %8.2f (%5.1f%%, %6.0f MB) %+7.1f%% %+6.1f%%  %s\n",
                  r->preset, r->ft, 100 * r->ft_imb, r->il, r->cf, 100 * r->cf_imb, r->cf_mb, gap,
                  start, gap <= 5 ? "met" : "MISSED");
}

static const char *const presets[] = {"nas-cg", "nas-lu", "nas-ua", "streamcluster", "wc",
                                      "wr",     "wrmem",  "kmeans", "memcached"};
#define NR_PRESETS (sizeof(presets) / sizeof(presets[0]))

static void header(void)
{
    print_message("%-14s %8s %9s %8s %8s %20s %8s %7s\n", "preset", "1st-touch", "(imb)", "interlv",
                  "carrefour", "(imb, moved)", "vs best", "start");
}

/* Where first-touch leaves the controllers imbalanced: Carrefour takes time off (below
 * `clearly` x first-touch's), lowers the imbalance, moves pages. */
static void assert_clear_win(const struct row *r, double clearly)
{
    assert_true(r->cf < clearly * r->ft);
    assert_true(r->cf_imb < r->ft_imb);
    assert_true(r->cf_mb > 0);
}

static void test_presets(void **state)
{
    (void)state;
    print_message("opteron-8n, 48 threads, work_scale 5; completion (s), controller imbalance; "
                  "target: carrefour <= 1.05 x the better of first-touch and interleave\n");
    header();
    for (size_t i = 0; i < NR_PRESETS; i++) {
        struct row r = run3(presets[i], "4k", "carrefour", 5);
        print_row(&r);
        assert_true(r.cf <= 1.02 * r.ft);
        if (r.ft_imb > 0.35) {
            assert_clear_win(&r, strcmp(r.preset, "kmeans") ? 0.8 : 0.9);
        } else {
            assert_true(r.ft <= r.il);
            assert_true(r.cf <= 1.05 * r.ft);
            assert_true(r.cf_mb < 50);
        }
    }
}

/* Memory backed by 2 MiB pages (THP), Carrefour-LP: the module's 2 MB rules. */
static void test_presets_thp(void **state)
{
    (void)state;
    print_message(
            "2 MiB pages (page: 2m) for every policy, carrefour = carrefour-lp (Carrefour-LP: "
            "2 MB pages decided whole, hot pages split); opteron-8n, 48 threads, "
            "work_scale 5\n");
    header();
    for (size_t i = 0; i < NR_PRESETS; i++) {
        struct row r = run3(presets[i], "2m", "carrefour-lp", 5);
        print_row(&r);
        assert_true(r.cf <= 1.02 * r.ft);
        if (r.ft_imb > 0.35) {
            /* kmeans, when just past the gate, gains less (its imbalance is one small hot
             * region): as on 4 KiB pages */
            assert_clear_win(&r, strcmp(r.preset, "kmeans") ? 0.8 : 0.9);
        } else {
            assert_true(r.ft <= r.il);
            assert_true(r.cf <= 1.05 * r.ft);
        }
        assert_true(r.cf <= 1.05 * fmin(r.ft, r.il));
    }
}

/* The target with xpv's hold profile: 2 MiB pages, work_scale 20. */
static void test_target_hold(void **state)
{
    (void)state;
    print_message(
            "2 MiB pages (page: 2m) for every policy, carrefour = carrefour-hold (Carrefour-LP "
            "with interleaving held until the imbalance is <= 5 %%); opteron-8n, 48 "
            "threads, work_scale 20\n");
    header();
    for (size_t i = 0; i < NR_PRESETS; i++) {
        struct row r = run3(presets[i], "2m", "carrefour-hold", 20);
        print_row(&r);
        assert_true(r.cf <= 1.05 * fmin(r.ft, r.il));
        if (r.ft_imb > 0.35) /* kmeans just past the gate: as above */
            assert_clear_win(&r, strcmp(r.preset, "kmeans") ? 0.8 : 0.9);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest papers[] = {
            cmocka_unit_test(test_presets),
            cmocka_unit_test(test_presets_thp),
    };
    const struct CMUnitTest target[] = {
            cmocka_unit_test(test_target_hold),
    };
    if (argc > 1 && !strcmp(argv[1], "target"))
        return cmocka_run_group_tests(target, NULL, NULL);
    if (argc > 1) {
        fprintf(stderr, "usage: %s [target]\n", argv[0]);
        return 2;
    }
    return cmocka_run_group_tests(papers, NULL, NULL);
}
