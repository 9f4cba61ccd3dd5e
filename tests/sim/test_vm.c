/*
 * test_vm.c — VMs in the simulator: static vNUMA, XPV and the hypervisor policies checked
 * against what their mechanisms imply (docs/sim.md, "Virtual machines"):
 *  - a VM never re-placed performs the same under static vNUMA and XPV, and XPV is never
 *    better than pinning when nothing moves (no free lunch);
 *  - after a re-placement that moves vCPUs away from their memory, static vNUMA's locality
 *    drops; XPV's recovers, and only through new allocations (no churn, no recovery);
 *  - every mechanism's cost is charged: topology updates (XPV), faults per re-allocated page
 *    (hypervisor first-touch, within its fault budget), migrations;
 *  - the hypervisors' own baselines do what they do: Xen's default places 1 GiB extents
 *    round-robin, Linux NUMA balancing on a KVM host moves guest pages and vCPU threads;
 *  - each policy runs only on its kind of scenario (VM or native);
 *  - the host daemon's placement (`hostd`) re-places VMs as the daemon does: xpv_place_round's
 *    decision, each vNode by xpv_place_vnode, memory along.
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

#include "xpv/placement.h"
#include "xpv/policy.h"
#include "xpv/sim.h"

static struct xpv_sim_scenario sc;
static struct xpv_sim_result res;

/* One VM of 12 vCPUs on nodes 0 and 1 running a NAS-LU-like workload (mostly private data;
 * the nas-lu preset of before issue 16, with every region turned over at `churn`). */
static void load(double churn, const char *events)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "machine: opteron-8n\n"
             "max_seconds: 100\n"
             "vms: [{name: vm, host_nodes: [0, 1]}]\n"
             "workloads:\n"
             "  - name: lu\n"
             "    threads: 12\n"
             "    vm: vm\n"
             "    churn_per_s: %g\n"
             "    regions:\n"
             "      - {name: block, kind: private, size_mb: 64, lifetime: turnover}\n"
             "      - {name: borders, kind: shared, size_mb: 128, lifetime: turnover}\n"
             "    phases:\n"
             "      - {work_m: 120, compute_ns: 6, mlp: 6, write_frac: 0.3,\n"
             "         weights: {block: 0.85, borders: 0.15}}\n"
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

/* A VM on nodes 0 and 1 whose one workload has a private region `a` (per thread, touched by
 * all at once) then a shared region `b` (touched by the master), every access to `b`, and
 * churn: the share of the run's controller traffic node `node` served. */
static double traffic_share(const char *policy, double a_mb, double b_mb, double churn,
                            const char *events, unsigned node)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "machine: opteron-8n\nmax_seconds: 100\n"
             "vms: [{name: vm, host_nodes: [1, 0]}]\n"
             "workloads: [{name: w, threads: 4, vm: vm, churn_per_s: %g,\n"
             "  regions: [{name: a, kind: private, size_mb: %g, lifetime: turnover},\n"
             "            {name: b, kind: shared, size_mb: %g, init: master,\n"
             "              lifetime: turnover}],\n"
             "  phases: [{work_m: 100, mlp: 4, weights: {a: 0, b: 1}}]}]\n%s",
             churn, a_mb, b_mb, events);
    struct xpv_error err = {0};
    int rc = xpv_sim_scenario_parse(text, strlen(text), "t.yaml", &sc, &err);
    if (rc < 0)
        fail_msg("%s", xpv_error_str(&err, rc));
    run(policy);
    double all = 0;
    for (unsigned n = 0; n < res.nr_nodes; n++)
        all += res.mc_bytes[n];
    assert_true(all > 0);
    return res.mc_bytes[node] / all;
}
static double node0_share(const char *policy, double a_mb, double b_mb, double churn)
{
    double s0 = traffic_share(policy, a_mb, b_mb, churn, "", 0);
    assert_true(fabs(s0 + res.mc_bytes[1] / (res.mc_bytes[0] + res.mc_bytes[1]) - 1) < 1e-12);
    for (unsigned n = 2; n < res.nr_nodes; n++)
        assert_true(res.mc_bytes[n] == 0);
    return s0;
}

/* Xen's default (no vNUMA) populates guest memory in 1 GiB extents round-robin over the VM's
 * nodes in node order; the guest lays its data out in the order it allocates it. A hot region
 * under 1 GiB sits on one node, one over 1 GiB is spread by extent, and churn changes nothing
 * (the guest reuses the frames it freed). */
static void test_xen_default_extents(void **state)
{
    (void)state;
    /* b alone: [0, 512M) in node 0's extent; with churn, still */
    assert_true(node0_share("xen-default", 1, 511, 0) == 1);
    assert_true(node0_share("xen-default", 1, 511, 2) == 1);
    /* b: 3 GiB less a's 4 MiB over extents 0 (node 0), 1 (node 1), 2 (node 0) */
    double want = (2048.0 - 4) / (3072 - 4);
    assert_true(fabs(node0_share("xen-default", 1, 3072 - 4, 0) - want) < 1e-9);
    assert_true(fabs(node0_share("xen-default", 1, 3072 - 4, 2) - want) < 1e-9);
    /* a: 4 x 192 MiB touched together, [0, 768M); b after it: [768M, 1280M), half in
     * extent 0 (node 0), half in extent 1 (node 1) */
    assert_true(fabs(node0_share("xen-default", 192, 512, 0) - 0.5) < 1e-9);
    /* static vNUMA: the master's vNode (0, backed by node 1) holds b */
    assert_true(node0_share("vnuma", 192, 512, 0) == 0);
    /* the hypervisor moves vNode 1 (node 0) to node 2 with its memory at 0.1 s: b's frames
     * are now backed on node 2, and the guest's re-allocations reuse them there */
    const char *move = "events: [{at_s: 0.1, vm: vm, to: [1, 2], move_memory: yes}]\n";
    double still = traffic_share("xen-default", 1, 511, 0, move, 2);
    double churned = traffic_share("xen-default", 1, 511, 2, move, 2);
    print_message("xen-default, b moved to node 2: node 2 serves %.3f, %.3f with churn 2/s\n",
                  still, churned);
    assert_true(still > 0.5);
    assert_true(fabs(churned - still) < 0.01);
}

/* Hypervisor first-touch re-backs pages within a fault budget: at most hv_fault_budget of a
 * vCPU's time (a token bucket a second deep). A key-value store re-allocating its 4 GiB table
 * twice a second (a workload of its own: the memcached preset's table is loaded once), never
 * moved: first-touch places pages where vNUMA does, so it may lose to vNUMA only its faults,
 * at most 3 % of the time plus the bucket (30 ms). Without the bound: a fault for every one of
 * 2 million pages a second, 6.3 s of faults per second over 12 vCPUs. */
static void test_hv_first_touch_bound(void **state)
{
    (void)state;
    const char *text = "machine: opteron-8n\nmax_seconds: 100\n"
                       "vms: [{name: vm, host_nodes: [0, 1]}]\n"
                       "workloads: [{name: kv, threads: 12, vm: vm, churn_per_s: 2,\n"
                       "  regions: [{name: table, kind: shared, size_mb: 4096,\n"
                       "             lifetime: turnover}],\n"
                       "  phases: [{work_m: 20, compute_ns: 40, mlp: 1}]}]\n";
    struct xpv_error err = {0};
    int rc = xpv_sim_scenario_parse(text, strlen(text), "t.yaml", &sc, &err);
    if (rc < 0)
        fail_msg("%s", xpv_error_str(&err, rc));
    assert_true(sc.hv_fault_us == 3 && sc.hv_fault_budget == 0.03);
    double vnuma = run("vnuma")->completion_s, hvft = run("hv-first-touch")->completion_s;
    print_message("memcached, churn 2/s: vnuma %.3f s, hv-first-touch %.3f s\n", vnuma, hvft);
    assert_true(hvft > vnuma); /* the faults are charged */
    /* and no more than the budget: faults <= 3 % of the run + the bucket's 30 ms */
    assert_true(hvft <= (vnuma + 0.03) / (1 - 0.03) + 0.01);
    sc.hv_fault_budget = 0.3; /* a bigger budget costs more */
    double loose = run("hv-first-touch")->completion_s;
    assert_true(loose > hvft + 0.1);
}

/* Linux NUMA balancing on a KVM host (kvm-numa-balancing) acts on QEMU's memory and vCPU
 * threads: after the vNodes' vCPUs are swapped away from their memory, it migrates guest
 * pages and moves vCPU threads, and locality recovers without churn (vNUMA's cannot). */
static void test_kvm_numa_balancing(void **state)
{
    (void)state;
    load(0, swap_at_1s);
    struct xpv_sim_app_result vnuma = *run("vnuma"), kvm = *run("kvm-numa-balancing");
    print_message("local: vnuma %.2f kvm-numa-balancing %.2f (%.0f MB, %lu vCPU moves)\n",
                  vnuma.local_ratio, kvm.local_ratio, kvm.migrated_mb, kvm.thread_moves);
    assert_true(kvm.migrated_mb > 0);
    assert_true(kvm.thread_moves > 0);
    assert_int_equal(vnuma.thread_moves, 0);
    assert_true(kvm.local_ratio > vnuma.local_ratio + 0.2);
    /* with churn too */
    load(0.5, swap_at_1s);
    assert_true(run("kvm-numa-balancing")->local_ratio > run("vnuma")->local_ratio + 0.2);
}

/* Each policy on its kind of scenario: a native policy on VMs, or a VM policy on native
 * applications, is an error naming the policies that apply (the engine, and the scenario file
 * at the policy's line); hostd applies to both. */
static void test_policy_kinds(void **state)
{
    (void)state;
    struct xpv_error err = {0};
    load(0, "");
    static const char *const native[] = {"first-touch", "interleave",   "autonuma",      "numad",
                                         "carrefour",   "carrefour-lp", "carrefour-hold"};
    for (size_t i = 0; i < sizeof(native) / sizeof(native[0]); i++) {
        assert_int_equal(xpv_sim_run(&sc, native[i], &res, NULL, NULL, &err), -EINVAL);
        char want[128];
        snprintf(want, sizeof(want),
                 "policy '%s' is a native policy and the scenario runs VMs; "
                 "VM policies: ",
                 native[i]);
        const char *list = strstr(err.msg, want);
        assert_non_null(list);
        list += strlen(want);
        assert_non_null(strstr(list, "xen-default"));
        assert_non_null(strstr(list, "kvm-numa-balancing"));
        assert_null(strstr(list, "numad"));
        assert_null(strstr(list, "interleave"));
    }
    assert_non_null(strstr((xpv_sim_run(&sc, "autonuma", &res, NULL, NULL, &err), err.msg),
                           "(in its place: kvm-numa-balancing)"));
    static const char *const vm[] = {"xen-default",    "vnuma",
                                     "vnuma-pinned",   "xpv",
                                     "xpv-migrate",    "vnuma-hotplug",
                                     "hv-first-touch", "carrefour-hv",
                                     "carrefour-xpv",  "kvm-numa-balancing",
                                     "hostd"};
    for (size_t i = 0; i < sizeof(vm) / sizeof(vm[0]); i++) {
        assert_int_equal(xpv_policy_check(vm[i], true, NULL), 0);
        run(vm[i]);
    }
    const char *native_sc = "machine: opteron-8n\nmax_seconds: 100\n"
                            "workloads: [{preset: nas-lu, threads: 4}]\n";
    assert_int_equal(xpv_sim_scenario_parse(native_sc, strlen(native_sc), "n.yaml", &sc, &err), 0);
    for (size_t i = 0; i + 1 < sizeof(vm) / sizeof(vm[0]); i++) {
        assert_int_equal(xpv_sim_run(&sc, vm[i], &res, NULL, NULL, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "is a VM policy and the scenario runs no VM; native "
                                        "policies: first-touch, "));
    }
    assert_non_null(strstr(err.msg, "(in its place: autonuma)"));
    assert_int_equal(xpv_sim_run(&sc, "hostd", &res, NULL, NULL, &err), 0);
    assert_int_equal(xpv_sim_run(&sc, "autonuma", &res, NULL, NULL, &err), 0);
    assert_int_equal(xpv_policy_check("magic", true, &err), -ENOENT);
    /* in a scenario file: its line */
    const char *bad = "machine: opteron-8n\n"
                      "vms: [{name: vm, host_nodes: [0, 1]}]\n"
                      "policies:\n  - vnuma\n  - autonuma\n"
                      "workloads: [{preset: nas-lu, threads: 4, vm: vm}]\n";
    assert_int_equal(xpv_sim_scenario_parse(bad, strlen(bad), "t.yaml", &sc, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "t.yaml:5: policies[1]: policy 'autonuma' is a native "
                                    "policy and the scenario runs VMs; VM policies: "));
    const char *bad2 = "machine: opteron-8n\npolicies: [first-touch, xpv]\n"
                       "workloads: [{preset: nas-lu, threads: 4}]\n";
    assert_int_equal(xpv_sim_scenario_parse(bad2, strlen(bad2), "t.yaml", &sc, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "t.yaml:2: policies[1]: policy 'xpv' is a VM policy"));
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

/* The host daemon's placement as a policy (`hostd`): on a view holding VMs it decides with
 * xpv_place_round on the VMs as domains (vCPUs, memory per node, bound where their vNodes
 * run) and re-places each vNode by the daemon's rule, xpv_place_vnode. On the Opteron's 8
 * nodes of 6 cores (SLIT 10/16/22): two VMs of 2 vNodes x 6 vCPUs booted on nodes 0-1 (24
 * vCPUs on 12 cores), one VM of 3 vNodes x 2 vCPUs on nodes 4-6. */
static void test_hostd_policy_vms(void **state)
{
    (void)state;
    enum { N = 8, T = 30 };
    static const unsigned slit[N * N] = {
            10, 16, 16, 22, 16, 22, 16, 22, 16, 10, 22, 16, 16, 22, 22, 16, 16, 22, 10, 16, 16, 16,
            16, 16, 22, 16, 16, 10, 16, 16, 22, 22, 16, 16, 16, 16, 10, 16, 16, 22, 22, 22, 16, 16,
            16, 10, 22, 16, 16, 22, 16, 22, 16, 22, 10, 16, 22, 16, 16, 22, 22, 16, 16, 10};
    double lat[N * N];
    unsigned cores[N], tgroup[T], tvnode[T], rgroup[3] = {0, 1, 2}, vnodes[3] = {2, 2, 3};
    int tnode[T], gvm[3] = {0, 1, 2};
    uint64_t mem[N], allowed[3] = {~UINT64_C(0), ~UINT64_C(0), ~UINT64_C(0)};
    double pages[3 * N] = {0}, mb[3];
    for (unsigned i = 0; i < N; i++) {
        cores[i] = 6;
        mem[i] = UINT64_C(8) << 30;
        for (unsigned j = 0; j < N; j++)
            lat[i * N + j] = 9.8 * slit[i * N + j]; /* 98 ns local */
    }
    for (unsigned t = 0; t < 24; t++) { /* VM g: vCPU i in vNode i / 6, vNode v on node v */
        tgroup[t] = t / 12;
        tvnode[t] = t % 12 / 6;
        tnode[t] = (int)tvnode[t];
    }
    for (unsigned t = 24; t < T; t++) { /* VM 2: vNode v on node 4 + v */
        tgroup[t] = 2;
        tvnode[t] = (t - 24) / 2;
        tnode[t] = 4 + (int)tvnode[t];
    }
    for (unsigned g = 0; g < 3; g++)
        mb[g] = 4096.0 / (1 << 20);
    for (unsigned g = 0; g < 2; g++)
        pages[g * N + 0] = pages[g * N + 1] = 65536; /* 256 MiB per vNode */
    for (unsigned n = 4; n < 7; n++)
        pages[2 * N + n] = 65536;
    struct xpv_pol_view v = {.nr_nodes = N,
                             .lat_ns = lat,
                             .cores = cores,
                             .nr_threads = T,
                             .thread_node = tnode,
                             .thread_group = tgroup,
                             .nr_groups = 3,
                             .nr_regions = 3,
                             .region_group = rgroup,
                             .region_pages = pages,
                             .region_page_mb = mb,
                             .group_allowed = allowed,
                             .node_mem = mem,
                             .group_vm = gvm,
                             .group_vnodes = vnodes,
                             .thread_vnode = tvnode};
    struct xpv_policy *p = NULL;
    assert_int_equal(xpv_policy_new("hostd", &p, NULL), 0);
    assert_true(p->places_vms);
    assert_int_equal(p->vm_mode, XPV_VM_XPV);
    struct xpv_pol_actions acts = {0};
    assert_int_equal(p->decide(p, &v, NULL, 0, &acts), 0);
    /* the daemon's round on the same domains */
    struct xpv_place_node nodes[N];
    uint32_t dist[N * N];
    struct xpv_place_domain d[3] = {{.threads = 12, .nodes = 0x3},
                                    {.threads = 12, .nodes = 0x3},
                                    {.threads = 6, .nodes = 0x70}};
    for (unsigned i = 0; i < N; i++) {
        uint64_t used = 0;
        for (unsigned g = 0; g < 3; g++) {
            d[g].mem[i] = (uint64_t)pages[g * N + i] * 4096;
            used += d[g].mem[i];
        }
        nodes[i] = (struct xpv_place_node){6, mem[i] - used};
        for (unsigned j = 0; j < N; j++)
            dist[i * N + j] = slit[i * N + j];
    }
    struct xpv_place_params params;
    xpv_place_params_default(&params);
    struct xpv_place_decision dec[4];
    int nd = xpv_place_round(&params, nodes, N, dist, d, 3, dec, 4, NULL);
    assert_int_equal(nd, 1); /* one of the two VMs leaves nodes 0-1, the others stay */
    assert_true(dec[0].domain < 2 && !(dec[0].to & 0x3));
    uint64_t to[3] = {0x3, 0x3, 0x70};
    for (int i = 0; i < nd; i++)
        to[dec[i].domain] = dec[i].to;
    unsigned seen = 0;
    for (unsigned i = 0; i < acts.nr; i++) {
        const struct xpv_pol_action *a = &acts.v[i];
        assert_int_equal(a->kind, XPV_ACT_MOVE_VNODE);
        assert_true(a->group < 3 && a->vnode < vnodes[a->group]);
        assert_int_equal(a->node, xpv_place_vnode(to[a->group], (int)a->vnode));
        seen |= 1u << a->group;
    }
    for (unsigned g = 0; g < 3; g++) {
        assert_int_equal(p->group_nodes(p, g), to[g]);
        bool decided = false;
        for (int i = 0; i < nd; i++)
            decided |= dec[i].domain == g;
        assert_int_equal(!!(seen >> g & 1), decided); /* every vNode of a moved VM, no other */
    }
    xpv_pol_actions_free(&acts);
    xpv_policy_free(p);

    /* in the engine: the two VMs of test_balancer_in_sim, no load balancer; the daemon's
     * rounds move one VM away, its memory along */
    const char *text = "machine: opteron-8n\nmax_seconds: 100\n"
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
    assert_int_equal(xpv_sim_run(&sc, "vnuma-pinned", &res, NULL, NULL, &err), 0);
    double pinned = fmax(res.apps[0].completion_s, res.apps[1].completion_s);
    assert_int_equal(xpv_sim_run(&sc, "hostd", &res, NULL, NULL, &err), 0);
    double hostd = fmax(res.apps[0].completion_s, res.apps[1].completion_s);
    print_message("two VMs on two nodes: pinned %.2f s, hostd %.2f s, migrated %.0f + %.0f MB\n",
                  pinned, hostd, res.apps[0].migrated_mb, res.apps[1].migrated_mb);
    assert_true(hostd < 0.75 * pinned);
    assert_true(res.apps[0].migrated_mb + res.apps[1].migrated_mb > 0); /* memory moved along */
    assert_true(res.apps[0].local_ratio > 0.9 && res.apps[1].local_ratio > 0.9);
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
            cmocka_unit_test(test_xen_default_extents),
            cmocka_unit_test(test_hv_first_touch_bound),
            cmocka_unit_test(test_kvm_numa_balancing),
            cmocka_unit_test(test_policy_kinds),
            cmocka_unit_test(test_move_with_memory),
            cmocka_unit_test(test_balancer_rules),
            cmocka_unit_test(test_balancer_in_sim),
            cmocka_unit_test(test_hostd_policy_vms),
            cmocka_unit_test(test_hotplug),
            cmocka_unit_test(test_scenario_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
