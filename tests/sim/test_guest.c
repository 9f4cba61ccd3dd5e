/*
 * test_guest.c — the guest layers of a simulated VM (src/sim/guest.c; docs/sim.md, "Inside the
 * guest"), each against the rule it implements:
 *  - a runtime's arenas reuse freed memory in place: under `xpv-os` (the guest kernel follows
 *    the record, runtimes are stock) a workload on arenas keeps its data where it was laid out
 *    after a move, while one without a runtime re-allocates on the effective node;
 *  - a JVM re-lays its eden out at a collection under `xpv`, never under `xpv-os`, and not
 *    before its next collection; arenas re-bind at once under `xpv`;
 *  - the guest scheduler's domains come from the believed vNodes (static vNUMA) or the
 *    effective nodes (XPV), in cases where the two differ;
 *  - guest NUMA balancing migrates toward the node the guest thinks a thread runs on.
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

/* One VM of 8 vCPUs on nodes 0 and 1 of the Opteron, its memory a private block per thread
 * (turned over at `churn` per second), through `runtime`; then `extra` (events, keys). */
static void load(const char *runtime, double churn, const char *vm_extra, const char *extra)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "machine: opteron-8n\n"
             "max_seconds: 30\n"
             "vms: [{name: vm, host_nodes: [0, 1]%s}]\n"
             "workloads:\n"
             "  - name: app\n"
             "    threads: 8\n"
             "    vm: vm\n"
             "    runtime: %s\n"
             "    regions:\n"
             "      - {name: block, kind: private, size_mb: 64, lifetime: turnover,\n"
             "         churn_per_s: %g}\n"
             "    phases:\n"
             "      - {work_m: 100, compute_ns: 6, mlp: 6, write_frac: 0.3}\n"
             "%s",
             vm_extra, runtime, churn, extra);
    struct xpv_error err = {0};
    int rc = xpv_sim_scenario_parse(text, strlen(text), "guest.yaml", &sc, &err);
    if (rc < 0)
        fail_msg("%s", xpv_error_str(&err, rc));
}

static struct xpv_sim_app_result run(const char *policy)
{
    static struct xpv_sim_result res;
    struct xpv_error err = {0};
    int rc = xpv_sim_run(&sc, policy, &res, NULL, NULL, &err);
    if (rc < 0)
        fail_msg("%s: %s", policy, xpv_error_str(&err, rc));
    assert_true(res.apps[0].finished);
    return res.apps[0];
}

/* The hypervisor swaps the vNodes at 0.2 s, memory left behind. */
static const char swap[] = "events: [{at_s: 0.2, vm: vm, to: [1, 0], move_memory: no}]\n";

static void test_arenas_reuse_in_place(void **state)
{
    (void)state;
    load("none", 2, "", swap);
    struct xpv_sim_app_result vnuma = run("vnuma"), os_none = run("xpv-os");
    load("arenas", 2, "", swap);
    struct xpv_sim_app_result os_arenas = run("xpv-os"), vnuma_arenas = run("vnuma");
    /* the guest kernel's first touch follows the record: fresh pages land on the new node */
    assert_true(os_none.local_ratio > vnuma.local_ratio + 0.2);
    /* freed memory goes back to the arena and is reused where it is: nothing follows */
    assert_true(fabs(os_arenas.local_ratio - vnuma.local_ratio) < 0.01);
    assert_true(os_arenas.local_ratio < os_none.local_ratio - 0.2);
    assert_int_equal(os_arenas.relayouts, 0);
    /* under static vNUMA the arena's memory is where first touch on the believed vNode would
     * have put it: the two agree when nothing else moves pages */
    assert_true(fabs(vnuma_arenas.local_ratio - vnuma.local_ratio) < 0.01);
    /* under xpv the arenas re-bind at once: as the guest kernel alone */
    struct xpv_sim_app_result xpv_arenas = run("xpv");
    assert_true(xpv_arenas.local_ratio > os_arenas.local_ratio + 0.2);
    assert_true(xpv_arenas.relayouts > 0);
}

/* An arena bound at thread start and first touch on the believed vNode told apart: the guest
 * scheduler moves threads across vNodes (each move a real node change, nothing re-placed by
 * the hypervisor); without a runtime a thread's re-allocations follow it to its new vNode,
 * on arenas they go back to the arena it was bound to at start. */
static void test_arenas_bound_at_thread_start(void **state)
{
    (void)state;
    const char *keys = "guest_sched_per_s: 0.5\nguest_sched_cross: 1\n";
    load("none", 2, "", keys);
    struct xpv_sim_app_result none = run("vnuma");
    load("arenas", 2, "", keys);
    struct xpv_sim_app_result arenas = run("vnuma");
    assert_true(none.guest_node_moves > 10 && arenas.guest_node_moves > 10);
    assert_true(none.local_ratio > arenas.local_ratio + 0.1);
}

static void test_jvm_relayout_at_collection(void **state)
{
    (void)state;
    /* churn 1/s: the eden is collected every second */
    load("jvm", 1, "", swap);
    struct xpv_sim_app_result os = run("xpv-os"), xpv = run("xpv"), vnuma = run("vnuma");
    assert_int_equal(os.relayouts, 0);
    assert_true(fabs(os.local_ratio - vnuma.local_ratio) < 0.01);
    assert_int_equal(xpv.relayouts, 8); /* every thread's eden, once */
    assert_true(xpv.local_ratio > os.local_ratio + 0.2);
    /* a collection every 100 s, after the run: no re-layout, however the record changed */
    load("jvm", 0.01, "", swap);
    struct xpv_sim_app_result late = run("xpv"), late_os = run("xpv-os");
    assert_int_equal(late.relayouts, 0);
    assert_true(fabs(late.local_ratio - late_os.local_ratio) < 1e-9);
}

static void test_sched_domains(void **state)
{
    (void)state;
    /* Both vNodes run on node 1 (vNode 0's memory left on node 0): two believed nodes that
     * are one real node. Every migration crosses domains (guest_sched_cross 1): under static
     * vNUMA the guest balances across its two vNodes, all on node 1; under XPV every vCPU's
     * effective node is 1, one domain, nothing to cross. */
    load("none", 0, "",
         "events: [{at_s: 0, vm: vm, to: [1, 1], move_memory: no}]\n"
         "guest_sched_per_s: 20\nguest_sched_cross: 1\n");
    struct xpv_sim_app_result vn = run("vnuma"), xp = run("xpv");
    assert_true(vn.guest_moves > 20);
    assert_int_equal(vn.guest_node_moves, 0);
    assert_int_equal(xp.guest_moves, 0);
    /* vNode 1 moved to node 3, which holds none of the VM's memory: two believed nodes on two
     * real nodes, but one effective node (node 1, the nearest with its memory). Migrations
     * within domains only: static vNUMA never moves a thread off its node; XPV balances
     * over nodes 1 and 3, its one domain (node 3 is nearer node 1 than node 0). */
    load("none", 0, "",
         "events: [{at_s: 0, vm: vm, to: [1, 3], move_memory: no}]\n"
         "guest_sched_per_s: 20\nguest_sched_cross: 0\n");
    vn = run("vnuma");
    xp = run("xpv");
    assert_true(vn.guest_moves > 20);
    assert_int_equal(vn.guest_node_moves, 0);
    assert_true(xp.guest_node_moves > 20);
    /* off by default: no migration */
    load("none", 0, "", swap);
    assert_int_equal(run("vnuma").guest_moves, 0);
}

static void test_guest_numa_balancing(void **state)
{
    (void)state;
    /* Both vNodes run on node 1, vNode 0's memory on node 0, no churn. The static guest
     * believes vNode 0's threads local to their memory: its balancing moves nothing. The XPV
     * guest knows they run on node 1: it migrates their pages there. */
    const char *ev = "events: [{at_s: 0, vm: vm, to: [1, 1], move_memory: no}]\n";
    load("none", 0, ", numa_balancing: yes", ev);
    struct xpv_sim_app_result vn = run("vnuma"), xp = run("xpv");
    load("none", 0, "", ev);
    struct xpv_sim_app_result xp_off = run("xpv"), vn_off = run("vnuma");
    assert_true(vn.migrated_mb < 1e-9);
    assert_true(fabs(vn.local_ratio - vn_off.local_ratio) < 1e-9);
    assert_true(xp.migrated_mb > 100);
    assert_true(xp.local_ratio > xp_off.local_ratio + 0.2);
}

static void test_scenario_keys(void **state)
{
    (void)state;
    static const char text[] = "machine: opteron-8n\n"
                               "guest_sched_per_s: 2.5\nguest_sched_cross: 0.25\n"
                               "vms: [{name: a, host_nodes: [0, 1], numa_balancing: yes},\n"
                               "      {name: b, host_nodes: [2]}, {name: c, host_nodes: [3]}]\n"
                               "workloads:\n"
                               "  - {preset: nas-cg, threads: 4, vm: a, runtime: jemalloc}\n"
                               "  - {preset: memcached, threads: 2, vm: b, runtime: jvm}\n"
                               "  - {preset: nas-cg, threads: 2, vm: c}\n";
    struct xpv_error err = {0};
    int rc = xpv_sim_scenario_parse(text, strlen(text), "keys.yaml", &sc, &err);
    if (rc < 0)
        fail_msg("%s", err.msg);
    assert_true(sc.guest_sched_per_s == 2.5 && sc.guest_sched_cross == 0.25);
    assert_true(sc.vms[0].numa_balancing && !sc.vms[1].numa_balancing);
    assert_int_equal(sc.workloads[0].runtime, XPV_SIM_RT_ARENAS);
    assert_int_equal(sc.workloads[1].runtime, XPV_SIM_RT_JVM);
    assert_int_equal(sc.workloads[2].runtime, XPV_SIM_RT_NONE);
    xpv_sim_scenario_defaults(&sc);
    assert_true(sc.guest_sched_per_s == 0 && sc.guest_sched_cross == 0);
}

static void test_scenario_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
            {"machine: opteron-8n\nworkloads:\n  - {preset: nas-cg, threads: 4,\n"
             "     runtime: jvm}\n",
             "bad.yaml:4: workloads[0].runtime: expected 'runtime' on a workload in a VM"},
            {"machine: opteron-8n\nvms: [{name: v, host_nodes: [0]}]\nworkloads:\n"
             "  - {preset: nas-cg, threads: 4, vm: v, runtime: hotspot}\n",
             "bad.yaml:4: workloads[0].runtime: expected 'none', 'arenas', 'jemalloc' or "
             "'jvm', found 'hotspot'"},
            {"machine: opteron-8n\nvms: [{name: v, host_nodes: [0], numa_balancing: 1}]\n"
             "workloads:\n  - {preset: nas-cg, threads: 4, vm: v}\n",
             "bad.yaml:2: vms[0].numa_balancing: expected 'no' or 'yes', found '1'"},
            {"machine: opteron-8n\nguest_sched_cross: 2\nvms: [{name: v, host_nodes: [0]}]\n"
             "workloads:\n  - {preset: nas-cg, threads: 4, vm: v}\n",
             "bad.yaml:2: guest_sched_cross:"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct xpv_error err = {0};
        int rc =
                xpv_sim_scenario_parse(cases[i].text, strlen(cases[i].text), "bad.yaml", &sc, &err);
        assert_int_equal(rc, -EINVAL);
        if (strncmp(err.msg, cases[i].want, strlen(cases[i].want)))
            fail_msg("case %zu: got '%s', want '%s...'", i, err.msg, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_arenas_reuse_in_place),
            cmocka_unit_test(test_arenas_bound_at_thread_start),
            cmocka_unit_test(test_jvm_relayout_at_collection),
            cmocka_unit_test(test_sched_domains),
            cmocka_unit_test(test_guest_numa_balancing),
            cmocka_unit_test(test_scenario_keys),
            cmocka_unit_test(test_scenario_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
