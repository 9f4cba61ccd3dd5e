/*
 * test_regions.c — regions with lifetimes and sharing patterns (issue 16, part 3; docs/sim.md,
 * "Workloads"): churn is per region (a loaded-once input never moves, a turned-over
 * temporary follows its thread), and a sliced region is read mostly from each thread's own
 * slice, which parallel first touch puts on the thread's node. Each rule is observed through
 * the run's results (traffic matrix, local ratio), never through an expected speed-up.
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
static struct xpv_sim_result res;

static void load(const char *text)
{
    struct xpv_error err = {0};
    int rc = xpv_sim_scenario_parse(text, strlen(text), "test.yaml", &sc, &err);
    if (rc < 0)
        fail_msg("%s", xpv_error_str(&err, rc));
}

static const struct xpv_sim_result *run(const char *policy)
{
    struct xpv_error err = {0};
    int rc = xpv_sim_run(&sc, policy, &res, NULL, NULL, &err);
    if (rc < 0)
        fail_msg("%s: %s", policy, xpv_error_str(&err, rc));
    assert_true(res.apps[0].finished);
    return &res;
}

/*
 * One vCPU's VM starts on node 0 and is moved to node 1 at 0.3 s without its memory, under
 * hypervisor first touch (a re-allocated page lands where its vCPU runs now), with churn.
 * The thread reads only `which` (input: loaded once; tmp: turned over). Returns the share
 * of the thread's traffic after the move that node 1's memory served.
 */
static double moved_share(const char *which)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "machine: xeon-2s\n"
             "max_seconds: 20\n"
             "hv_fault_budget: 1\n" /* unbounded re-backing: the rule here is the lifetime */
             "vms: [{name: vm, host_nodes: [0]}]\n"
             "events: [{at_s: 0.3, vm: vm, to: [1], move_memory: no}]\n"
             "workloads:\n"
             "  - name: app\n"
             "    threads: 1\n"
             "    vm: vm\n"
             "    churn_per_s: 5\n"
             "    regions:\n"
             "      - {name: input, kind: shared, size_mb: 64, init: master}\n"
             "      - {name: tmp, kind: private, size_mb: 64, lifetime: turnover}\n"
             "    phases: [{work_m: 20, compute_ns: 20, mlp: 2, weights: {%s: 1}}]\n",
             which);
    load(text);
    const struct xpv_sim_result *r = run("hv-first-touch");
    unsigned N = r->nr_nodes;
    double from1 = r->traffic[1 * N + 0] + r->traffic[1 * N + 1];
    assert_true(from1 > 0); /* the thread ran on node 1 after the move */
    return r->traffic[1 * N + 1] / from1;
}

static void test_loaded_once_never_moves(void **state)
{
    (void)state;
    /* the input stays where it was loaded: node 1 serves none of it */
    double input = moved_share("input");
    /* a temporary is re-allocated where its thread runs now: node 1 serves much of it */
    double tmp = moved_share("tmp");
    print_message("after the move, node 1 serves: input %.3f, tmp %.3f\n", input, tmp);
    assert_true(input == 0);
    assert_true(tmp > 0.5);
}

/* A sliced region under parallel first touch, 2 threads on 2 nodes: each thread's accesses
 * go own_frac to its own slice (on its node) and the rest spread evenly over both slices. */
static double sliced_local(const char *kind_and_own, const char *policy)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "machine: xeon-2s\n"
             "max_seconds: 20\n"
             "workloads:\n"
             "  - name: app\n"
             "    threads: 2\n"
             "    regions:\n"
             "      - {name: points, size_mb: 256, %s}\n"
             "    phases: [{work_m: 5, compute_ns: 20, mlp: 2}]\n",
             kind_and_own);
    load(text);
    return run(policy)->apps[0].local_ratio;
}

static void test_sliced_reads_own_slice(void **state)
{
    (void)state;
    double sliced = sliced_local("kind: sliced, own_frac: 0.8, init: parallel", "first-touch");
    double dflt = sliced_local("kind: sliced", "first-touch");
    double none = sliced_local("kind: sliced, own_frac: 0", "first-touch");
    double shared = sliced_local("kind: shared", "first-touch");
    print_message("local ratio: sliced 0.8 %.4f, sliced default %.4f, sliced 0 %.4f, shared "
                  "%.4f\n",
                  sliced, dflt, none, shared);
    assert_true(fabs(sliced - (0.8 + 0.2 / 2)) < 1e-9); /* own slice + its half of the rest */
    assert_true(fabs(dflt - (0.9 + 0.1 / 2)) < 1e-9);   /* own_frac defaults to 0.9 */
    assert_true(fabs(none - 0.5) < 1e-9);               /* all spread: as shared */
    assert_true(fabs(shared - 0.5) < 1e-9);             /* shared: read uniformly */
    /* interleaving spreads every slice: locality is gone */
    assert_true(fabs(sliced_local("kind: sliced, own_frac: 0.8", "interleave") - 0.5) < 1e-9);
}

/* The master first-touches every slice of a sliced region initialised by it. */
static void test_sliced_master_init(void **state)
{
    (void)state;
    double l = sliced_local("kind: sliced, own_frac: 0.8, init: master", "first-touch");
    /* thread 0 (node 0) reads all local, thread 1 (node 1) none: same accesses each */
    assert_true(fabs(l - 0.5) < 1e-9);
    const struct xpv_sim_result *r = &res;
    assert_true(r->mc_bytes[1] == 0);
}

/* The policies that sample accesses see a sliced region's spread accesses too (each sample
 * names a slice that has pages on the sampled node), and act on them without faults. */
static void test_sliced_policies(void **state)
{
    (void)state;
    static const char text[] = "machine: opteron-8n\n"
                               "max_seconds: 60\n"
                               "workloads:\n"
                               "  - name: app\n"
                               "    threads: 16\n"
                               "    regions:\n"
                               "      - {name: points, kind: sliced, size_mb: 1024, init: master,"
                               " own_frac: 0.7}\n"
                               "      - {name: means, kind: shared, size_mb: 1}\n"
                               "    phases: [{work_m: 100, compute_ns: 10, mlp: 4,"
                               " weights: {points: 0.9, means: 0.1}}]\n";
    load(text);
    double ft = run("first-touch")->apps[0].local_ratio;
    const char *const pols[] = {"autonuma", "carrefour"};
    for (unsigned i = 0; i < 2; i++) {
        const struct xpv_sim_result *r = run(pols[i]);
        print_message("%s: local %.3f (first-touch %.3f), migrated %.0f MB\n", pols[i],
                      r->apps[0].local_ratio, ft, r->apps[0].migrated_mb);
        assert_true(r->apps[0].migrated_mb > 0); /* the master-loaded slices are moved */
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_loaded_once_never_moves),
            cmocka_unit_test(test_sliced_reads_own_slice),
            cmocka_unit_test(test_sliced_master_init),
            cmocka_unit_test(test_sliced_policies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
