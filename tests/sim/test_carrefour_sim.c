/*
 * test_carrefour_sim.c — Carrefour (the policy core's engine, driven by the simulator's
 * access sampler) on workload presets, 48 threads on the 4-socket Opteron preset.
 *
 * Asserted: where first-touch leaves controllers imbalanced (> 35 %, Carrefour's gate), it
 * beats first-touch clearly and lowers the imbalance; where traffic is already local and
 * balanced it stays within 2 % of first-touch, moving next to nothing. Printed, not asserted:
 * the target, "never more than 5 % worse than the better of first-touch and
 * interleave" — not met by this model yet (see the log and docs/sim.md).
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

static void run3(const char *preset, double scale, struct xpv_sim_result out[3])
{
    char text[512];
    snprintf(text, sizeof(text),
             "machine: opteron-8n\nmax_seconds: 400\n"
             "workloads: [{preset: %s, threads: 48, work_scale: %g}]\n",
             preset, scale);
    struct xpv_error err = {0};
    if (xpv_sim_scenario_parse(text, strlen(text), "t.yaml", &sc, &err) < 0)
        fail_msg("%s", err.msg);
    static const char *const pols[] = {"first-touch", "interleave", "carrefour"};
    for (int i = 0; i < 3; i++)
        if (xpv_sim_run(&sc, pols[i], &out[i], NULL, NULL, &err) < 0)
            fail_msg("%s", err.msg);
    double best = fmin(out[0].apps[0].completion_s, out[1].apps[0].completion_s);
    print_message("%-14s first-touch %7.2f s (imbalance %5.1f%%)  interleave %7.2f s  "
                  "carrefour %7.2f s (imbalance %5.1f%%, %6.0f MB moved): %+.1f%% vs the "
                  "better of the two\n",
                  preset, out[0].apps[0].completion_s, out[0].mc_imbalance * 100,
                  out[1].apps[0].completion_s, out[2].apps[0].completion_s,
                  out[2].mc_imbalance * 100, out[2].apps[0].migrated_mb,
                  100 * (out[2].apps[0].completion_s / best - 1));
}

static void test_imbalanced(void **state)
{
    (void)state;
    static const char *const presets[] = {"streamcluster", "nas-cg", "wc"};
    for (int i = 0; i < 3; i++) {
        struct xpv_sim_result r[3];
        run3(presets[i], 5, r);
        assert_true(r[0].mc_imbalance > 0.35);
        assert_true(r[2].apps[0].completion_s < 0.8 * r[0].apps[0].completion_s);
        assert_true(r[2].mc_imbalance < r[0].mc_imbalance);
        assert_true(r[2].apps[0].migrated_mb > 0);
    }
}

static void test_balanced(void **state)
{
    (void)state;
    static const char *const presets[] = {"nas-lu", "memcached"};
    for (int i = 0; i < 2; i++) {
        struct xpv_sim_result r[3];
        run3(presets[i], 3, r);
        assert_true(r[0].mc_imbalance < 0.35);
        assert_true(r[2].apps[0].completion_s < 1.02 * r[0].apps[0].completion_s);
        assert_true(r[2].apps[0].migrated_mb < 50);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_imbalanced),
            cmocka_unit_test(test_balanced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
