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

#include "xpv/policy.h"
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

/* The hypervisor's balancer (policy core): an overloaded node sheds its smallest movable
 * vNode to the nearest node with room for it; pinned VMs and full machines stay put. */
static void test_balancer_rules(void **state)
{
    (void)state;
    static const unsigned cores[4] = {6, 6, 6, 6};
    static const double lat[16] = {10, 16, 22, 22, 16, 10, 22, 22, 22, 22, 10, 16, 22, 22, 16, 10};
    struct xpv_vm_place vms[2] = {
            {.movable = true, .nr_vnodes = 2, .run = {0, 2}, .vcpus = {6, 6}},
            {.movable = true, .nr_vnodes = 2, .run = {0, 3}, .vcpus = {4, 6}},
    };
    unsigned load[4] = {10, 0, 6, 6};
    struct xpv_vm_move mv[4];
    assert_int_equal(xpv_vm_balance(4, cores, load, lat, vms, 2, mv, 4), 1);
    assert_int_equal(mv[0].vm, 1); /* the smaller vNode (4 vCPUs) */
    assert_int_equal(mv[0].vnode, 0);
    assert_int_equal(mv[0].from, 0);
    assert_int_equal(mv[0].to, 1); /* nearest with room */
    vms[1].movable = false;
    assert_int_equal(xpv_vm_balance(4, cores, load, lat, vms, 2, mv, 4), 1);
    assert_int_equal(mv[0].vm, 0);
    vms[0].movable = false;
    assert_int_equal(xpv_vm_balance(4, cores, load, lat, vms, 2, mv, 4), 0);
    vms[0].movable = vms[1].movable = true;
    unsigned full[4] = {10, 6, 6, 6}; /* nowhere to go */
    assert_int_equal(xpv_vm_balance(4, cores, full, lat, vms, 2, mv, 4), 0);
    unsigned fine[4] = {6, 6, 6, 6};
    assert_int_equal(xpv_vm_balance(4, cores, fine, lat, vms, 2, mv, 4), 0);
}

/* Two VMs booted on the same two nodes, compute-bound: the balancer moves one away (unless
 * pinned), and the vCPUs stop time-sharing cores. (Memory-bound VMs gain little from it: their
 * memory stays behind, and the two nodes' controllers remain the bottleneck.) */
static void test_balancer_in_sim(void **state)
{
    (void)state;
    const char *text = "machine: opteron-8n\nmax_seconds: 100\nbalance_s: 0.5\n"
                       "vms: [{name: a, host_nodes: [0, 1]}, {name: b, host_nodes: [0, 1]}]\n"
                       "workloads:\n"
                       "  - {name: a, threads: 12, vm: a, regions: [{name: d, kind: private, "
                       "size_mb: 16}], phases: [{work_m: 10, compute_ns: 300}]}\n"
                       "  - {name: b, threads: 12, vm: b, regions: [{name: d, kind: private, "
                       "size_mb: 16}], phases: [{work_m: 10, compute_ns: 300}]}\n";
    struct xpv_error err = {0};
    int rc = xpv_sim_scenario_parse(text, strlen(text), "t.yaml", &sc, &err);
    if (rc < 0)
        fail_msg("%s", err.msg);
    double pinned = 0, vnuma = 0;
    assert_int_equal(xpv_sim_run(&sc, "vnuma-pinned", &res, NULL, NULL, &err), 0);
    pinned = fmax(res.apps[0].completion_s, res.apps[1].completion_s);
    assert_int_equal(xpv_sim_run(&sc, "vnuma", &res, NULL, NULL, &err), 0);
    vnuma = fmax(res.apps[0].completion_s, res.apps[1].completion_s);
    print_message("two VMs on two nodes: pinned %.2f s, balanced %.2f s\n", pinned, vnuma);
    assert_true(vnuma < 0.75 * pinned); /* half the vCPUs were time-sharing cores */
}

/* An unmodified guest told of moves by vCPU hotplug: locality like XPV's, at a higher cost. */
static void test_hotplug(void **state)
{
    (void)state;
    load(0.5, swap_at_1s);
    struct xpv_sim_app_result vnuma = *run("vnuma"), xpv = *run("xpv"), hot = *run("vnuma-hotplug");
    print_message("local: vnuma %.2f xpv %.2f hotplug %.2f; time xpv %.3f hotplug %.3f\n",
                  vnuma.local_ratio, xpv.local_ratio, hot.local_ratio, xpv.completion_s,
                  hot.completion_s);
    assert_true(hot.local_ratio > vnuma.local_ratio + 0.2);
    assert_true(hot.completion_s > xpv.completion_s); /* 20 ms per moved vCPU vs 100 us */
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
            cmocka_unit_test(test_balancer_rules),
            cmocka_unit_test(test_balancer_in_sim),
            cmocka_unit_test(test_hotplug),
            cmocka_unit_test(test_scenario_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
