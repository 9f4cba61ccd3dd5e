/*
 * test_sim_model.c — the simulator checked against its own model (docs/sim.md, "Validation"):
 * idle latencies, the controller bandwidth bound, the bounded loaded-latency curve, run-time
 * ratios implied by the latency matrix, determinism, and that each policy does what its
 * mechanism says (interleave spreads, AutoNUMA pulls private pages home, numad consolidates),
 * and that the engine's shortcuts change no result bit.
 * No test encodes an expected speed-up: only consequences of the model's definition.
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

#include "../../src/sim/sim_internal.h"
#include "tu_probe.h"
#include "xpv/sim.h"

#define MB (UINT64_C(1) << 20)

static struct xpv_sim_scenario sc;
static struct xpv_sim_result res;

/* The probe scenario (tu_probe.h) into sc. */
static void scenario(const char *machine, unsigned threads, uint64_t nodes, uint64_t membind,
                     double compute_ns, double mlp, double work)
{
    tu_probe_scenario(&sc, machine, threads, nodes, membind, compute_ns, mlp, work);
}

static const struct xpv_sim_result *run(const char *policy)
{
    struct xpv_error err = {0};
    int rc = xpv_sim_run(&sc, policy, &res, NULL, NULL, &err);
    if (rc < 0)
        fail_msg("xpv_sim_run: %s", xpv_error_str(&err, rc));
    return &res;
}

static void assert_close(double got, double want, double rel)
{
    if (fabs(got - want) > rel * fabs(want))
        fail_msg("got %.4f, want %.4f within %.1f%%", got, want, rel * 100);
}

/* A single thread at low intensity sees the idle latency, local and to every node. */
static void test_idle_latency(void **state)
{
    (void)state;
    for (unsigned j = 0; j < 8; j++) {
        scenario("opteron-8n", 1, 1, UINT64_C(1) << j, 100000, 1, 1e4);
        run("first-touch");
        assert_true(res.apps[0].finished);
        assert_close(res.apps[0].avg_latency_ns, sc.machine.lat_ns[j], 0.01);
        assert_close(res.apps[0].local_ratio, j == 0 ? 1 : 0, 1e-9);
    }
}

/* However many threads hammer one node, its controller never carries more than its bandwidth;
 * the queueing delay follows the published loaded-latency curve and is bounded at peak, and a
 * closed loop with more misses in flight than the memory holds waits to get in (Little's law:
 * 48 threads x 8 misses at 12.5 GB/s take 384 x 5.12 ns each, ~20 x idle). */
static void test_controller_bound(void **state)
{
    (void)state;
    scenario("opteron-8n", 48, 0xff, 1, 0, 8, 2e6);
    run("first-touch");
    double served = res.mc_bytes[0] / (res.sim_seconds * 1e9); /* bytes/ns = GB/s */
    assert_true(served <= sc.machine.mc_gbps[0] * (1 + 1e-9));
    assert_true(served > 0.9 * sc.machine.mc_gbps[0]); /* and it is the bottleneck */
    assert_true(res.apps[0].avg_latency_ns > 5 * sc.machine.lat_ns[0]);

    double sat = 100;
    assert_true(xpv__sim_queue_delay(sat, 0) == 0);
    assert_close(xpv__sim_queue_delay(sat, 1), sat, 1e-12);            /* the delay at peak */
    assert_close(xpv__sim_queue_delay(sat, 1.5), sat, 1e-12);          /* bounded beyond */
    assert_close(xpv__sim_queue_delay(sat, 0.504), 0.351 * sat, 1e-9); /* a published point */
    double prev = 0;
    for (double u = 0.01; u <= 1.2; u += 0.01) { /* non-decreasing: the solver relies on it */
        double q = xpv__sim_queue_delay(sat, u);
        assert_true(q >= prev);
        prev = q;
    }
}

/* A latency-bound thread's all-remote / all-local run-time ratio is the latency ratio; a
 * compute-bound thread barely notices. */
static void test_remote_ratio(void **state)
{
    (void)state;
    double t_local, t_remote, c_local, c_remote;
    scenario("opteron-8n", 1, 1, 1, 0, 1, 2e7);
    t_local = run("first-touch")->apps[0].completion_s;
    scenario("opteron-8n", 1, 1, UINT64_C(1) << 3, 0, 1, 2e7); /* node 3: two hops, SLIT 22 */
    t_remote = run("first-touch")->apps[0].completion_s;
    double implied = sc.machine.lat_ns[3] / sc.machine.lat_ns[0];
    assert_close(t_remote / t_local, implied, 0.02);

    scenario("opteron-8n", 1, 1, 1, 2000, 1, 1e6);
    c_local = run("first-touch")->apps[0].completion_s;
    scenario("opteron-8n", 1, 1, UINT64_C(1) << 3, 2000, 1, 1e6);
    c_remote = run("first-touch")->apps[0].completion_s;
    assert_true(c_remote / c_local < 1.07);
    assert_true(c_remote / c_local < t_remote / t_local);
    assert_true(c_remote > c_local);
}

static void test_deterministic(void **state)
{
    (void)state;
    static struct xpv_sim_result a, b;
    struct xpv_error err = {0};
    xpv_sim_scenario_defaults(&sc);
    assert_int_equal(xpv_sim_machine_preset("opteron-8n", &sc.machine, &err), 0);
    sc.nr_workloads = 1;
    assert_int_equal(xpv_sim_workload_preset("nas-ua", 24, &sc.workloads[0], &err), 0);
    sc.seed = 7;
    assert_int_equal(xpv_sim_run(&sc, "autonuma", &a, NULL, NULL, &err), 0);
    assert_int_equal(xpv_sim_run(&sc, "autonuma", &b, NULL, NULL, &err), 0);
    assert_memory_equal(&a, &b, sizeof(a));
}

/* Interleave puts 1/N of every region on each node: local ratio 1/N, controllers even. */
static void test_interleave_spreads(void **state)
{
    (void)state;
    scenario("opteron-8n", 8, 0xff, 0, 5, 2, 1e6);
    run("interleave");
    assert_close(res.apps[0].local_ratio, 1.0 / 8, 1e-6);
    assert_true(res.mc_imbalance < 1e-6);
}

/* Private buffers first-touched by the master: AutoNUMA's two-stage filter migrates them to
 * their threads (a private page's consecutive faults all come from one node). */
static void test_autonuma_pulls_private_pages_home(void **state)
{
    (void)state;
    scenario("opteron-8n", 8, 0xff, 0, 5, 2, 6e7);
    sc.workloads[0].regions[0].init = XPV_SIM_INIT_MASTER;
    double ft_local = run("first-touch")->apps[0].local_ratio;
    double ft_time = res.apps[0].completion_s;
    assert_close(ft_local, 1.0 / 8, 1e-6); /* only thread 0's buffer is local */
    run("autonuma");
    print_message("autonuma: %.1f MB migrated, local %.2f, %.3f s (first-touch %.3f s)\n",
                  res.apps[0].migrated_mb, res.apps[0].local_ratio, res.apps[0].completion_s,
                  ft_time);
    assert_true(res.apps[0].migrated_mb > 7 * 64 * 0.5); /* most of 7 remote buffers moved */
    assert_true(res.apps[0].local_ratio > 0.5);
    assert_true(res.apps[0].completion_s < ft_time);
}

/* Six threads spread one per node over a shared region: numad binds the process to one node
 * (6 cores) and migrates its memory there. */
static void test_numad_consolidates(void **state)
{
    (void)state;
    scenario("opteron-8n", 6, 0x3f, 0, 5, 2, 3e8);
    sc.workloads[0].regions[0].kind = XPV_SIM_SHARED;
    sc.workloads[0].regions[0].bytes = 256 * MB;
    double ft_local = run("first-touch")->apps[0].local_ratio;
    assert_close(ft_local, 1.0 / 6, 1e-6);
    run("numad");
    print_message("numad: %.1f MB migrated, local %.2f, %.3f s\n", res.apps[0].migrated_mb,
                  res.apps[0].local_ratio, res.apps[0].completion_s);
    assert_true(res.apps[0].migrated_mb > 256 * 5 / 6 * 0.9);
    assert_true(res.apps[0].local_ratio > 0.6);
}

static void test_errors(void **state)
{
    (void)state;
    struct xpv_error err = {0};
    struct xpv_sim_machine m;
    assert_int_equal(xpv_sim_machine_preset("cray-1", &m, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "opteron-8n"));
    scenario("opteron-8n", 1, 1, 0, 1, 1, 1);
    assert_int_equal(xpv_sim_run(&sc, "magic", &res, NULL, NULL, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "autonuma"));
    struct xpv_sim_workload_spec w;
    assert_int_equal(xpv_sim_workload_preset("doom", 4, &w, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "nas-cg"));
    /* a machine whose links do not connect every node */
    memset(&m, 0, sizeof(m));
    m.nr_nodes = 2;
    m.mc_gbps[0] = m.mc_gbps[1] = 10;
    m.lat_ns[0] = m.lat_ns[1] = m.lat_ns[2] = m.lat_ns[3] = 100;
    assert_int_equal(xpv_sim_machine_finish(&m, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "no link path"));
    /* a loaded/idle latency ratio below 1 (latency falling under load) */
    m.nr_links = 1;
    m.links[0] = (struct xpv_sim_link){0, 1, 10};
    assert_int_equal(xpv_sim_machine_finish(&m, &err), 0);
    m.sat_ratio = 0.5;
    assert_int_equal(xpv_sim_machine_finish(&m, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "loaded/idle latency ratio 0.5"));
}

/*
 * The engine's shortcuts — a thread's loops over its distribution's nonzero nodes only, the
 * per-route loops over the routes threads take, a twin's latency and rate taken from the
 * thread before it on its node (docs/sim.md, "Speed") — change no bit of any result: every
 * run equals the run with them off (xpv__sim_set_dense), on native applications under every
 * native policy (two applications, more threads than cores, churn, phases, migrations and
 * thread moves), on the 32-node machine, and on VMs under the VM policies.
 */
static const char exact_native[] =
        "name: exact\nseed: 5\nmachine: opteron-8n\nmax_seconds: 2.2\n"
        "workloads:\n"
        "  - {preset: nas-cg, threads: 40, placement: spread}\n"
        "  - {preset: kmeans, threads: 16, placement: pack}\n"
        "  - {preset: nas-ua, threads: 8, placement: {nodes: [1, 2]}, start_s: 0.5}\n";
static const char exact_large[] = "name: exact-large\nseed: 9\nmachine: altix-32n\n"
                                  "max_seconds: 1.2\n"
                                  "workloads:\n"
                                  "  - {preset: nas-cg, threads: 128, placement: spread}\n"
                                  "  - {preset: kmeans, threads: 40, placement: pack}\n";
static const char exact_vms[] =
        "name: exact-vms\nseed: 7\nmachine: opteron-8n\nmax_seconds: 2\n"
        "vms:\n"
        "  - {name: vm-r, host_nodes: [0, 1]}\n"
        "  - {name: vm-s, host_nodes: [4, 5], vcpu_moves_per_s: 5}\n"
        "workloads:\n"
        "  - {name: r, threads: 6, vm: vm-r, churn_per_s: 2,\n"
        "     regions: [{name: block, kind: private, size_mb: 64, lifetime: turnover}],\n"
        "     phases: [{work_m: 60, compute_ns: 6, mlp: 6, write_frac: 0.3}]}\n"
        "  - {preset: kmeans, threads: 8, vm: vm-s}\n"
        "  - {preset: nas-cg, threads: 8, placement: {nodes: [2, 3]}}\n"
        "events:\n"
        "  - {at_s: 0.5, vm: vm-r, reback: {vnode: 0, to: 4, fraction: 0.5}}\n"
        "  - {at_s: 1, vm: vm-s, consolidate: [6]}\n";

static void exact_runs(const char *yaml, const char *const *policies)
{
    static struct xpv_sim_result fast, ref;
    struct xpv_error err = {0};
    int rc = xpv_sim_scenario_parse(yaml, strlen(yaml), "exact.yaml", &sc, &err);
    if (rc < 0)
        fail_msg("%s", xpv_error_str(&err, rc));
    for (const char *const *p = policies; *p; p++) {
        xpv__sim_set_dense(false);
        rc = xpv_sim_run(&sc, *p, &fast, NULL, NULL, &err);
        if (rc == 0) {
            xpv__sim_set_dense(true);
            rc = xpv_sim_run(&sc, *p, &ref, NULL, NULL, &err);
            xpv__sim_set_dense(false);
        }
        if (rc < 0)
            fail_msg("%s under %s: %s", sc.name, *p, xpv_error_str(&err, rc));
        assert_true(fast.epochs > 0);
        if (memcmp(&fast, &ref, sizeof(fast)) != 0)
            fail_msg("%s under %s: results differ with the shortcuts (%s: %.17g s, %.17g "
                     "accesses) and without (%.17g s, %.17g accesses)",
                     sc.name, *p, fast.apps[0].name, fast.apps[0].completion_s,
                     fast.apps[0].accesses, ref.apps[0].completion_s, ref.apps[0].accesses);
    }
}

static void test_shortcuts_exact(void **state)
{
    (void)state;
    static const char *const native[] = {"first-touch", "interleave", "autonuma",     "numad",
                                         "hostd",       "carrefour",  "carrefour-lp", NULL};
    static const char *const large[] = {"first-touch", "autonuma", "carrefour", NULL};
    static const char *const vm[] = {
            "vnuma", "xpv", "hv-first-touch", "xen-default", "carrefour-hv", "kvm-numa-balancing",
            "hostd", NULL};
    exact_runs(exact_native, native);
    exact_runs(exact_large, large);
    exact_runs(exact_vms, vm);
}

/* Every preset is connected, and its routes take the fewest hops. */
static void test_presets_route(void **state)
{
    (void)state;
    for (const char *const *p = xpv_sim_machine_presets(); *p; p++) {
        struct xpv_sim_machine m;
        struct xpv_error err = {0};
        assert_int_equal(xpv_sim_machine_preset(*p, &m, &err), 0);
        assert_true(strlen(m.source) > 20); /* says where its figures come from */
        assert_true(m.sat_ratio >= 1);      /* and its loaded latency at peak */
        for (unsigned i = 0; i < m.nr_nodes; i++)
            assert_int_equal(m.route_len[i * m.nr_nodes + i], 0);
    }
    struct xpv_sim_machine m;
    assert_int_equal(xpv_sim_machine_preset("opteron-8n", &m, NULL), 0);
    assert_int_equal(m.route_len[0 * 8 + 1], 1); /* SLIT 16: one hop */
    assert_int_equal(m.route_len[0 * 8 + 3], 2); /* SLIT 22: two hops */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_idle_latency),
            cmocka_unit_test(test_controller_bound),
            cmocka_unit_test(test_remote_ratio),
            cmocka_unit_test(test_deterministic),
            cmocka_unit_test(test_interleave_spreads),
            cmocka_unit_test(test_autonuma_pulls_private_pages_home),
            cmocka_unit_test(test_numad_consolidates),
            cmocka_unit_test(test_errors),
            cmocka_unit_test(test_presets_route),
            cmocka_unit_test(test_shortcuts_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
