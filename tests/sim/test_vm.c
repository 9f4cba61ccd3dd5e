/*
 * test_vm.c — VMs in the simulator: static vNUMA, XPV and the hypervisor policies checked
 * against what their mechanisms imply (docs/sim.md, "Virtual machines"):
 *  - a VM never re-placed performs the same under static vNUMA and XPV, and XPV is never
 *    better than pinning when nothing moves (no free lunch);
 *  - after a re-placement that moves vCPUs away from their memory, static vNUMA's locality
 *    drops; XPV's recovers, and only through new allocations (no churn, no recovery);
 *  - every mechanism's cost is charged: topology updates (XPV), faults per re-allocated page
 *    (hypervisor first-touch), migrations.
 */
#include <errno.h>
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
static struct xpv_sim_result res;

/* One VM of 12 vCPUs on nodes 0 and 1 running NAS LU (mostly private data). */
static void load(double churn, const char *events)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "machine: opteron-8n\n"
             "max_seconds: 100\n"
             "vms: [{name: vm, host_nodes: [0, 1]}]\n"
             "workloads: [{preset: nas-lu, threads: 12, vm: vm, churn_per_s: %g, work_scale: 3}]\n"
             "%s",
             churn, events);
    struct xpv_error err = {0};
    int rc = xpv_sim_scenario_parse(text, strlen(text), "test.yaml", &sc, &err);
    if (rc < 0)
        fail_msg("%s", xpv_error_str(&err, rc));
}

static const struct xpv_sim_app_result *run(const char *policy)
{
    struct xpv_error err = {0};
    int rc = xpv_sim_run(&sc, policy, &res, NULL, NULL, &err);
    if (rc < 0)
        fail_msg("%s: %s", policy, xpv_error_str(&err, rc));
    assert_true(res.apps[0].finished);
    assert_string_equal(res.apps[0].vm, "vm");
    return &res.apps[0];
}

static void test_no_move_no_difference(void **state)
{
    (void)state;
    load(0.5, "");
    struct xpv_sim_app_result vnuma = *run("vnuma"), xpv = *run("xpv"),
                              pinned = *run("vnuma-pinned");
    assert_true(vnuma.local_ratio > 0.9); /* each vCPU allocates on its own vNode's node */
    assert_true(xpv.completion_s == vnuma.completion_s);
    assert_true(xpv.local_ratio == vnuma.local_ratio);
    assert_true(xpv.completion_s >= pinned.completion_s); /* never better than pinning */
}

static const char *swap_at_1s = "events: [{at_s: 1, vm: vm, to: [1, 0]}]\n";

static void test_replacement_xpv_recovers(void **state)
{
    (void)state;
    load(0.5, swap_at_1s);
    struct xpv_sim_app_result pinned = *run("vnuma-pinned"), vnuma = *run("vnuma"),
                              xpv = *run("xpv"), mig = *run("xpv-migrate");
    print_message("local: pinned %.2f vnuma %.2f xpv %.2f xpv-migrate %.2f\n", pinned.local_ratio,
                  vnuma.local_ratio, xpv.local_ratio, mig.local_ratio);
    assert_true(vnuma.local_ratio < pinned.local_ratio - 0.3); /* the guest's view is wrong */
    assert_true(xpv.local_ratio > vnuma.local_ratio + 0.2);    /* new data follows the vCPU */
    assert_true(mig.local_ratio > xpv.local_ratio);            /* and old data, migrated */
    assert_true(mig.migrated_mb > 0);
    assert_true(xpv.migrated_mb == 0);

    /* the recovery comes from new allocations: without churn XPV cannot help */
    load(0, swap_at_1s);
    double vnuma0 = run("vnuma")->local_ratio, xpv0 = run("xpv")->local_ratio;
    assert_true(fabs(xpv0 - vnuma0) < 1e-9);
}

/* Re-placements that change nothing: XPV still pays for every update. */
static void test_xpv_updates_cost(void **state)
{
    (void)state;
    load(0.5, "events:\n"
              "  - {at_s: 0.5, vm: vm, to: [0, 1]}\n"
              "  - {at_s: 1.0, vm: vm, to: [0, 1]}\n"
              "  - {at_s: 1.5, vm: vm, to: [0, 1]}\n"
              "xpv_update_us: 50000\n");
    double vnuma = run("vnuma")->completion_s, xpv = run("xpv")->completion_s;
    /* 3 updates x 50 ms of every vCPU's time */
    assert_true(xpv > vnuma + 0.1);
    assert_true(xpv < vnuma + 0.2);
}

/* Hypervisor first-touch pays per re-allocated page, even when nothing moves. */
static void test_hv_first_touch_cost(void **state)
{
    (void)state;
    load(0.5, "");
    double vnuma = run("vnuma")->completion_s, hvft = run("hv-first-touch")->completion_s;
    assert_true(hvft > vnuma);
    load(0, ""); /* nothing re-allocated: nothing to pay */
    vnuma = run("vnuma")->completion_s;
    hvft = run("hv-first-touch")->completion_s;
    assert_true(hvft == vnuma);
}

/* Xen's default spreads memory over the VM's nodes regardless of vNodes. */
static void test_xen_default_spreads(void **state)
{
    (void)state;
    load(0, "");
    assert_true(fabs(run("xen-default")->local_ratio - 0.5) < 1e-6);
}

/* A VM moved with its memory: migrations are charged and locality is kept under vNUMA. */
static void test_move_with_memory(void **state)
{
    (void)state;
    load(0, "events: [{at_s: 1, vm: vm, to: [2, 3], move_memory: yes}]\n");
    const struct xpv_sim_app_result *a = run("vnuma");
    assert_true(a->migrated_mb > 12 * 64 * 0.9); /* the private blocks moved */
    assert_true(a->local_ratio > 0.8);
}

static void test_scenario_errors(void **state)
{
    (void)state;
    struct xpv_error err = {0};
    const char *bad = "machine: opteron-8n\n"
                      "vms: [{name: vm, host_nodes: [0, 1]}]\n"
                      "workloads: [{preset: nas-lu, threads: 4, vm: vx}]\n";
    assert_int_equal(xpv_sim_scenario_parse(bad, strlen(bad), "t.yaml", &sc, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "t.yaml:3:"));
    const char *bad2 = "machine: opteron-8n\n"
                       "vms: [{name: vm, host_nodes: [0, 1]}]\n"
                       "workloads: [{preset: nas-lu, threads: 4, vm: vm}]\n"
                       "events: [{at_s: 1, vm: vm, to: [3]}]\n";
    assert_int_equal(xpv_sim_scenario_parse(bad2, strlen(bad2), "t.yaml", &sc, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "t.yaml:4:"));
    assert_non_null(strstr(err.msg, "one per vNode"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_no_move_no_difference),
            cmocka_unit_test(test_replacement_xpv_recovers),
            cmocka_unit_test(test_xpv_updates_cost),
            cmocka_unit_test(test_hv_first_touch_cost),
            cmocka_unit_test(test_xen_default_spreads),
            cmocka_unit_test(test_move_with_memory),
            cmocka_unit_test(test_scenario_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
