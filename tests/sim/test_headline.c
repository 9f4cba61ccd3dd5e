/*
 * test_headline.c — the main job's headline arithmetic (src/sim/headline.c): what a
 * re-placement cost static vNUMA against pinned placement, the share of it each XPV policy
 * recovered, the words for the degenerate cases (costs nothing, gains, loses, beats pinned,
 * missing runs), the summary over cases, and the headline inputs picked from runs
 * (xpv_sim_headline_of: the case's VM, xpv* policies or the suite's `headline:` list).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "tu_cmocka.h"
#include "xpv/sim.h"

static void test_recovery(void **state)
{
    (void)state;
    double r = -99;
    /* 16 s under vnuma, 10 s pinned: cost 6 s; xpv at 11 s recovered 5 of 6 */
    assert_int_equal(xpv_sim_recovery(16, 10, 11, &r), XPV_SIM_COST);
    assert_true(fabs(r - 5.0 / 6) < 1e-12);
    assert_int_equal(xpv_sim_recovery(16, 10, 16, &r), XPV_SIM_COST);
    assert_true(fabs(r) < 1e-12); /* as slow as static vNUMA */
    assert_int_equal(xpv_sim_recovery(16, 10, 10, &r), XPV_SIM_COST);
    assert_true(fabs(r - 1) < 1e-12); /* as fast as pinned */
    assert_int_equal(xpv_sim_recovery(16, 10, 17.5, &r), XPV_SIM_COST);
    assert_true(fabs(r + 0.25) < 1e-12); /* slower than static vNUMA: negative */
    assert_int_equal(xpv_sim_recovery(16, 10, 8.5, &r), XPV_SIM_COST);
    assert_true(fabs(r - 1.25) < 1e-12); /* faster than pinned: above 1 */
    /* degenerate: no cost (within 1 %), a gain, missing times; r untouched */
    r = -99;
    assert_int_equal(xpv_sim_recovery(10.05, 10, 9, &r), XPV_SIM_NO_COST);
    assert_int_equal(xpv_sim_recovery(9.96, 10, 9, &r), XPV_SIM_NO_COST);
    assert_int_equal(xpv_sim_recovery(9, 10, 9, &r), XPV_SIM_GAIN);
    assert_int_equal(xpv_sim_recovery(0, 10, 9, &r), XPV_SIM_NO_DATA);
    assert_int_equal(xpv_sim_recovery(10, 0, 9, &r), XPV_SIM_NO_DATA);
    assert_int_equal(xpv_sim_recovery(NAN, 10, 9, &r), XPV_SIM_NO_DATA);
    assert_int_equal(xpv_sim_recovery(INFINITY, 10, 9, &r), XPV_SIM_NO_DATA);
    assert_true(r == -99);
    /* just past the threshold: a cost, and recovery defined */
    assert_int_equal(xpv_sim_recovery(10.2, 10, 10.1, &r), XPV_SIM_COST);
    assert_true(fabs(r - 0.5) < 1e-9);
    assert_int_equal(xpv_sim_recovery(10.2, 10, 10.1, NULL), XPV_SIM_COST);
}

static struct xpv_sim_headline_in hl(const char *label, double v, double p, unsigned nr, ...)
{
    struct xpv_sim_headline_in h = {
            .vm = "vm-a", .label = label, .have_base = true, .t_vnuma = v, .t_pinned = p, .nr = nr};
    va_list ap;
    va_start(ap, nr);
    for (unsigned i = 0; i < nr; i++) {
        h.names[i] = va_arg(ap, const char *);
        h.t[i] = va_arg(ap, double);
    }
    va_end(ap);
    return h;
}

static void test_headline(void **state)
{
    (void)state;
    char b[512];
    struct xpv_sim_headline_in h;
    /* the example: 1.6x, xpv-os 40 %, xpv 86 % (16 / 10; 13.6, 10.84) */
    h = hl("swap across sockets", 16, 10, 2, "xpv-os", 13.6, "xpv", 10.84);
    assert_string_equal(xpv_sim_headline(b, sizeof(b), &h),
                        "vm-a, swap across sockets: re-placement costs 1.60x; xpv-os recovers "
                        "40 %, xpv 86 %");
    /* a loss, first and later in the list */
    h = hl("consolidation", 16, 10, 2, "xpv-os", 17.2, "xpv", 16.6);
    assert_string_equal(xpv_sim_headline(b, sizeof(b), &h),
                        "vm-a, consolidation: re-placement costs 1.60x; xpv-os loses 20 %, xpv "
                        "loses 10 %");
    /* beating pinned */
    h = hl("x", 16, 10, 1, "xpv", 8.5);
    assert_string_equal(xpv_sim_headline(b, sizeof(b), &h),
                        "vm-a, x: re-placement costs 1.60x; xpv recovers 125 %");
    /* costs nothing: nothing to recover, and the XPV policies that differ said so */
    h = hl("moved with its memory", 10.02, 10, 2, "xpv-os", 10.01, "xpv", 10.5);
    assert_string_equal(xpv_sim_headline(b, sizeof(b), &h),
                        "vm-a, moved with its memory: re-placement costs nothing (1.00x); "
                        "nothing to recover; xpv takes 1.05x static vNUMA's time");
    h = hl("g", 9, 10, 1, "xpv", 9.0);
    assert_string_equal(xpv_sim_headline(b, sizeof(b), &h),
                        "vm-a, g: re-placement gains 1.11x (static vNUMA beats pinned); nothing "
                        "to recover");
    /* no XPV policy; no vnuma / pinned; a run at the time limit; no label */
    h = hl(NULL, 16, 10, 0);
    assert_string_equal(xpv_sim_headline(b, sizeof(b), &h),
                        "vm-a: re-placement costs 1.60x; no XPV policy ran");
    h.have_base = false;
    assert_string_equal(xpv_sim_headline(b, sizeof(b), &h),
                        "vm-a: no headline (it needs vnuma and vnuma-pinned among the policies)");
    h = hl("", 16, 10, 1, "xpv", 13.0);
    h.capped = true;
    assert_string_equal(xpv_sim_headline(b, sizeof(b), &h),
                        "vm-a: re-placement costs 1.60x; xpv recovers 50 % (a run stopped at the "
                        "time limit: its time is a lower bound)");
    /* a small buffer: truncated, terminated */
    h = hl("swap across sockets", 16, 10, 2, "xpv-os", 13.6, "xpv", 10.84);
    char small[12];
    xpv_sim_headline(small, sizeof(small), &h);
    assert_string_equal(small, "vm-a, swap ");
}

static void test_summary(void **state)
{
    (void)state;
    char b[512];
    struct xpv_sim_headline_in h[4];
    h[0] = hl("a", 16, 10, 2, "xpv-os", 13.0, "xpv", 10.0); /* cost 6: xpv-os 3, xpv 6 */
    h[1] = hl("b", 12, 10, 2, "xpv-os", 13.0, "xpv", 11.0); /* cost 2: xpv-os -1, xpv 1 */
    h[2] = hl("c", 10, 10, 2, "xpv-os", 10.0, "xpv", 10.5); /* nothing; xpv slower */
    h[3] = hl("d", 16, 10, 0);                              /* no policy ran */
    h[3].have_base = false;
    /* xpv-os: (3 - 1) / 8 = 25 %; xpv: 7 / 8 = 88 % (87.5 rounds away from zero) */
    assert_string_equal(xpv_sim_headline_summary(b, sizeof(b), h, 4),
                        "summary over 4 cases: re-placement costs static vNUMA 1.20x-1.60x in 2, "
                        "nothing in 1; xpv-os recovers 25 % of the total cost, slower than "
                        "static vNUMA in 1 of 3; xpv recovers 88 %, slower than static vNUMA "
                        "in 1 of 3");
    h[0] = hl("a", 10, 10.5, 1, "xpv", 10.0);
    assert_string_equal(xpv_sim_headline_summary(b, sizeof(b), h, 1),
                        "summary over 1 case: re-placement costs static vNUMA nothing in any "
                        "case, gains in 1; xpv has nothing to recover, slower than static "
                        "vNUMA in 0 of 1");
    /* no case ran vnuma and vnuma-pinned: no figures at all, not "costs nothing" */
    h[0].have_base = h[1].have_base = false;
    assert_string_equal(xpv_sim_headline_summary(b, sizeof(b), h, 2),
                        "summary over 2 cases: no headline (it needs vnuma and vnuma-pinned "
                        "among the policies)");
    h[0] = hl("a", 16, 10, 1, "xpv", 17.0);
    assert_string_equal(xpv_sim_headline_summary(b, sizeof(b), h, 1),
                        "summary over 1 case: re-placement costs static vNUMA 1.60x in 1; xpv "
                        "loses 17 % of the total cost, slower than static vNUMA in 1 of 1");
}

/* xpv_sim_headline_of: the case's VM's app, vnuma / pinned, the xpv* policies in run order, or
 * the suite's list in its order */
static void test_headline_of(void **state)
{
    (void)state;
    static struct xpv_sim_case c;
    static struct xpv_sim_result r[5];
    static const char *pol[5] = {"xpv-migrate", "vnuma", "xen-default", "vnuma-pinned", "xpv"};
    static const double t[5] = {11, 16, 20, 10, 13};
    memset(&c, 0, sizeof(c));
    snprintf(c.name, sizeof(c.name), "swap");
    c.has_vm = true;
    c.vm = 1;
    c.s.nr_vms = 2;
    snprintf(c.s.vms[0].name, sizeof(c.s.vms[0].name), "other");
    snprintf(c.s.vms[1].name, sizeof(c.s.vms[1].name), "vm-a");
    for (unsigned i = 0; i < 5; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        snprintf(r[i].policy, sizeof(r[i].policy), "%s", pol[i]);
        r[i].nr_apps = 2;
        snprintf(r[i].apps[0].vm, sizeof(r[i].apps[0].vm), "other");
        r[i].apps[0].completion_s = 99;
        r[i].apps[0].finished = true;
        snprintf(r[i].apps[1].vm, sizeof(r[i].apps[1].vm), "vm-a");
        r[i].apps[1].completion_s = t[i];
        r[i].apps[1].finished = true;
    }
    struct xpv_sim_headline_in h;
    xpv_sim_headline_of(NULL, &c, r, 5, &h);
    assert_true(h.have_base && !h.capped);
    assert_string_equal(h.vm, "vm-a");
    assert_true(h.t_vnuma == 16 && h.t_pinned == 10);
    assert_int_equal(h.nr, 2);
    assert_string_equal(h.names[0], "xpv-migrate");
    assert_string_equal(h.names[1], "xpv");
    assert_true(h.t[0] == 11 && h.t[1] == 13);
    /* the suite's list, in its order */
    static struct xpv_sim_suite su;
    su.nr_headline = 2;
    snprintf(su.headline[0], sizeof(su.headline[0]), "xpv");
    snprintf(su.headline[1], sizeof(su.headline[1]), "xen-default");
    xpv_sim_headline_of(&su, &c, r, 5, &h);
    assert_int_equal(h.nr, 2);
    assert_string_equal(h.names[0], "xpv");
    assert_string_equal(h.names[1], "xen-default");
    assert_true(h.t[0] == 13 && h.t[1] == 20);
    /* a run stopped at the limit; no pinned run */
    r[4].apps[1].finished = false;
    xpv_sim_headline_of(NULL, &c, r, 5, &h);
    assert_true(h.capped);
    xpv_sim_headline_of(NULL, &c, r, 3, &h);
    assert_false(h.have_base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_recovery),
            cmocka_unit_test(test_headline),
            cmocka_unit_test(test_summary),
            cmocka_unit_test(test_headline_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
