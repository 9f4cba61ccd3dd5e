/*
 * test_hv.c — the hypervisor side of the simulator's VM model (docs/sim.md, "Guest memory as
 * frames", "Per-vCPU placement", "XPV's fallback"):
 *  - frames re-backed under a static vNUMA guest: its belief stays (it keeps allocating from
 *    the vNode's frames, wherever they now are), its locality drops; XPV's guest, which
 *    reads where its memory is, keeps allocating locally;
 *  - a funnelled preallocation (every vNode's frames on one node) gives that node's
 *    controller all of the VM's traffic, and a funnel event moves it there;
 *  - the per-vCPU scheduler moves single vCPUs at the configured rate, never outside the
 *    VM's soft affinity, and not at all under vnuma-pinned;
 *  - consolidation packs the vCPUs onto fewer nodes (memory along or not);
 *  - XPV's fallback: a vCPU whose node holds none of the VM's memory allocates over the
 *    nodes that do, nearest first (xpv_effective_spread), never all on one;
 *  - the scenario syntax of all of these, and its errors.
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

#include "xpv/effective.h"
#include "xpv/placement.h"
#include "xpv/policy.h"
#include "xpv/sim.h"

enum { N = 8 };

static struct xpv_sim_scenario sc;
static struct xpv_sim_result res;

/* One VM of 12 vCPUs, 2 vNodes, on the Opteron's nodes 0 and 1, each vCPU with 64 MiB of
 * private data turned over at `churn`; `vm` is appended to the VM's mapping, `tail` to the
 * file. */
static void load(const char *vm, double churn, const char *tail)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "machine: opteron-8n\n"
             "max_seconds: 100\n"
             "vms: [{name: vm, host_nodes: [0, 1]%s}]\n"
             "workloads:\n"
             "  - name: lu\n"
             "    threads: 12\n"
             "    vm: vm\n"
             "    churn_per_s: %g\n"
             "    regions:\n"
             "      - {name: block, kind: private, size_mb: 64, lifetime: turnover}\n"
             "    phases:\n"
             "      - {work_m: 120, compute_ns: 6, mlp: 6, write_frac: 0.3}\n"
             "%s",
             vm, churn, tail);
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
    return &res.apps[0];
}

static double traffic(unsigned cpu, unsigned mem)
{
    return res.traffic[cpu * N + mem];
}

static double row(unsigned cpu)
{
    double s = 0;
    for (unsigned m = 0; m < N; m++)
        s += traffic(cpu, m);
    return s;
}

/* Half of vNode 0's frames re-backed on node 2 at 0.5 s; nothing else moves. */
static void test_reback_static_guest(void **state)
{
    (void)state;
    load("", 2, "");
    double before = run("vnuma")->local_ratio;
    load("", 2, "events: [{at_s: 0.5, vm: vm, reback: {vnode: 0, to: 2, fraction: 0.5}}]\n");
    struct xpv_sim_app_result vnuma = *run("vnuma");
    double to2_from0 = traffic(0, 2), to2_from1 = traffic(1, 2), row2 = row(2);
    struct xpv_sim_app_result xpv = *run("xpv");
    print_message("local: before %.3f, re-backed: vnuma %.3f xpv %.3f; node 2 served %.2g B "
                  "to node 0\n",
                  before, vnuma.local_ratio, xpv.local_ratio, to2_from0);
    assert_true(before > 0.999);
    /* the vCPUs stayed: nobody runs on node 2, vNode 1's vCPUs never touch it */
    assert_true(row2 == 0 && to2_from1 == 0);
    assert_true(to2_from0 > 0);
    /* the static guest keeps allocating from vNode 0's frames, half of them on node 2: its
     * churned data does not come back (a guest allocating on the vNode's old node would
     * recover to ~1 at 2/s churn); vNode 0's vCPUs end near half local */
    assert_true(vnuma.local_ratio < 0.85);
    assert_true(vnuma.local_ratio > 0.7);
    /* XPV's guest reads its frames' real place and allocates on its vCPUs' nodes */
    assert_true(xpv.local_ratio > vnuma.local_ratio + 0.1);
    assert_true(vnuma.migrated_mb > 0);
}

/* Every vNode's frames preallocated on node 0: one controller serves all of the VM. */
static void test_funnelled_preallocation(void **state)
{
    (void)state;
    const char *policies[] = {"vnuma-pinned", "vnuma", "xpv"};
    load("", 0.5, "");
    run("vnuma");
    assert_true(res.mc_bytes[1] > 0.4 * res.mc_bytes[0]);
    load(", memory_nodes: [0, 0]", 0.5, "");
    for (unsigned i = 0; i < 3; i++) {
        const struct xpv_sim_app_result *a = run(policies[i]);
        print_message("%s: local %.3f, controllers 0/1: %.3g/%.3g B\n", policies[i], a->local_ratio,
                      res.mc_bytes[0], res.mc_bytes[1]);
        assert_true(res.mc_bytes[0] > 0);
        for (unsigned n = 1; n < N; n++)
            assert_true(res.mc_bytes[n] == 0);
        assert_true(fabs(a->local_ratio - 0.5) < 1e-6); /* vNode 1's vCPUs, on node 1 */
    }
    /* preallocated frames are backed already: hypervisor first-touch re-backs only what
     * the guest frees and allocates again (none here) */
    load(", memory_nodes: [0, 0]", 0, "");
    run("hv-first-touch");
    assert_true(res.mc_bytes[0] > 0 && res.mc_bytes[1] == 0);
    /* the same by an event: the hypervisor funnels a running VM's memory onto node 3 */
    load("", 0.5, "events: [{at_s: 0.5, vm: vm, funnel: 3}]\n");
    run("vnuma");
    double n3 = res.mc_bytes[3];
    assert_true(n3 > res.mc_bytes[0] && n3 > res.mc_bytes[1]);
}

/* Run until max_seconds with every vCPU live throughout (work enough for 100 runs). */
static const struct xpv_sim_app_result *run_for(const char *policy, double seconds)
{
    struct xpv_error err = {0};
    sc.max_seconds = seconds;
    sc.workloads[0].phases[0].work *= 100;
    int rc = xpv_sim_run(&sc, policy, &res, NULL, NULL, &err);
    if (rc < 0)
        fail_msg("%s: %s", policy, xpv_error_str(&err, rc));
    assert_false(res.apps[0].finished);
    return &res.apps[0];
}

/* Single vCPUs moved at 2 per vCPU-second within soft affinity {0, 1, 2, 3}. */
static void test_vcpu_moves(void **state)
{
    (void)state;
    load(", vcpu_moves_per_s: 2, soft_affinity: [0, 1, 2, 3]", 0.5, "");
    const struct xpv_sim_app_result *a = run_for("vnuma", 20);
    double expect = 12 * 2 * 20; /* Poisson: 480 +- 22 */
    print_message("vCPU moves: %lu in 20 s (expected %.0f)\n", a->vcpu_moves, expect);
    assert_true(a->vcpu_moves > 0.85 * expect && a->vcpu_moves < 1.15 * expect);
    for (unsigned n = 0; n < 4; n++)
        assert_true(row(n) > 0);
    for (unsigned n = 4; n < N; n++)
        assert_true(row(n) == 0);
    /* at ten times the rate, ten times the moves */
    load(", vcpu_moves_per_s: 20, soft_affinity: [0, 1, 2, 3]", 0.5, "");
    a = run_for("vnuma", 5);
    print_message("vCPU moves at 20/s: %lu in 5 s (expected 1200)\n", a->vcpu_moves);
    assert_true(a->vcpu_moves > 0.9 * 1200 && a->vcpu_moves < 1.1 * 1200);
    /* default soft affinity: the nodes its vNodes run on */
    load(", vcpu_moves_per_s: 2", 0.5, "");
    a = run("vnuma");
    assert_true(a->vcpu_moves > 0);
    for (unsigned n = 2; n < N; n++)
        assert_true(row(n) == 0);
    /* a vCPU on its vNode's other node: static vNUMA's locality drops */
    assert_true(a->local_ratio < 0.9);
    /* pinned: never moved */
    load(", vcpu_moves_per_s: 20", 0.5, "");
    assert_int_equal(run("vnuma-pinned")->vcpu_moves, 0);
}

/* Consolidation onto node 2 at start, memory left behind or moved along. */
static void test_consolidation(void **state)
{
    (void)state;
    load("", 0.5, "events: [{at_s: 0, vm: vm, consolidate: [2]}]\n");
    const struct xpv_sim_app_result *a = run("vnuma");
    for (unsigned n = 0; n < N; n++)
        if (n != 2)
            assert_true(row(n) == 0);
    assert_true(a->local_ratio == 0);
    double left = a->completion_s;
    load("", 0.5, "events: [{at_s: 0, vm: vm, consolidate: [2], move_memory: yes}]\n");
    a = run("vnuma");
    print_message("consolidated on node 2: memory left %.2f s, moved %.2f s (local %.2f)\n", left,
                  a->completion_s, a->local_ratio);
    assert_true(a->local_ratio > 0.9);
    assert_true(a->completion_s < left);
    /* two nodes: vCPU i on the (i mod 2)-th, both vNodes' memory where xpv_place_vnode puts
     * them (vNode 0 on node 2, vNode 1 on node 3) */
    load("", 0.5, "events: [{at_s: 0, vm: vm, consolidate: [2, 3], move_memory: yes}]\n");
    run("vnuma");
    assert_true(row(2) > 0 && row(3) > 0);
    assert_true(traffic(2, 3) > 0 && traffic(3, 2) > 0); /* vCPUs of both vNodes on each */
    assert_true(res.mc_bytes[2] > 0 && res.mc_bytes[3] > 0);
}

/* The allocation rule of XPV's guest, on a record-like source. */
static const uint32_t dist4[16] = {10, 16, 22, 16, 16, 10, 16, 22, 22, 16, 10, 16, 16, 22, 16, 10};
static struct xpv_record_backing mem4[3];
static uint32_t d4(const void *ctx, unsigned i, unsigned j)
{
    (void)ctx;
    return dist4[i * 4 + j];
}
static struct xpv_record_backing m4(const void *ctx, unsigned k)
{
    (void)ctx;
    return mem4[k];
}

static void test_spread_rule(void **state)
{
    (void)state;
    struct xpv_effective_src src = {.nr_pnodes = 4, .nr_mem = 3, .distance = d4, .mem = m4};
    double w[4];
    /* vNode 0 on node 0, vNode 1 on node 2 (twice the memory); nothing on 1 and 3 */
    mem4[0] = (struct xpv_record_backing){.vnode = 0, .pnode = 0, .bytes = 1 << 20};
    mem4[1] = (struct xpv_record_backing){.vnode = 1, .pnode = 2, .bytes = 2 << 20};
    mem4[2] = (struct xpv_record_backing){.vnode = 1, .pnode = 3, .bytes = 0};
    /* node 1: node 0 at 16, node 2 at 16; bytes 1:2 */
    assert_int_equal(xpv_effective_spread(&src, 1, w), 2);
    assert_true(fabs(w[0] - 1.0 / 3) < 1e-12 && fabs(w[2] - 2.0 / 3) < 1e-12);
    assert_true(w[1] == 0 && w[3] == 0);
    /* node 3: node 0 at 16, node 2 at 16 too; move vNode 1 to node 1 instead: node 0 at 16,
     * node 1 at 22 — nearest first, never all on one: (1/16) : (2/22) */
    mem4[1].pnode = 1;
    assert_int_equal(xpv_effective_spread(&src, 3, w), 2);
    double a = 1.0 / 16, b = 2.0 / 22;
    assert_true(fabs(w[0] - a / (a + b)) < 1e-12 && fabs(w[1] - b / (a + b)) < 1e-12);
    mem4[1].bytes = 1 << 20; /* equal memory: the nearer node gets more */
    assert_int_equal(xpv_effective_spread(&src, 3, w), 2);
    assert_true(w[0] > w[1] && w[1] > 0);
    /* memory on its own node: all there (the effective node) */
    assert_int_equal(xpv_effective_spread(&src, 1, w), 1);
    assert_true(w[1] == 1 && w[0] == 0);
    /* no memory at all: its node */
    src.nr_mem = 0;
    assert_int_equal(xpv_effective_spread(&src, 2, w), 1);
    assert_true(w[2] == 1);
    assert_int_equal(xpv_effective_spread(&src, 4, w), -ENOENT);
    assert_int_equal(xpv_effective_spread(&src, XPV_RECORD_NONE, w), -ENOENT);

    /* the policy core's allocation rule over frames */
    double frames[4] = {0.5, 0, 0.5, 0}, spread[4] = {0, 0.25, 0, 0.75};
    const double *out = NULL;
    assert_int_equal(xpv_vm_alloc_shares(XPV_VM_VNUMA, frames, -1, 3, -1, NULL, -1, &out), -2);
    assert_ptr_equal(out, frames);
    assert_int_equal(xpv_vm_alloc_shares(XPV_VM_VNUMA, frames, 2, 3, -1, NULL, -1, &out), 2);
    assert_int_equal(xpv_vm_alloc_shares(XPV_VM_XPV, frames, -1, 3, 1, spread, -1, &out), -2);
    assert_ptr_equal(out, spread);
    assert_int_equal(xpv_vm_alloc_shares(XPV_VM_XPV, frames, -1, 3, 1, spread, 3, &out), 3);
    assert_int_equal(xpv_vm_alloc_shares(XPV_VM_XPV, frames, -1, 3, 1, NULL, -1, &out), 1);
    out = NULL; /* XPV before any record: the boot-time belief */
    assert_int_equal(xpv_vm_alloc_shares(XPV_VM_XPV, frames, -1, 3, -1, NULL, -1, &out), -2);
    assert_ptr_equal(out, frames);
    assert_int_equal(xpv_vm_alloc_shares(XPV_VM_HV_FIRST_TOUCH, frames, 0, 3, 1, spread, 3, &out),
                     3);
    assert_int_equal(xpv_vm_alloc_shares(XPV_VM_XEN_DEFAULT, frames, 0, 3, 1, spread, 3, &out), -1);
}

/*
 * The fallback in a run: the VM moved from nodes 0-1 to nodes 2 and 6 without its memory. On
 * the Opteron both are at 16 from node 0 and 22 from node 1, so the nearest-node rule sent
 * every new page of both vNodes to node 0 (XPV lost to static vNUMA, whose vNodes keep one
 * node each); spread, node 0 gets (1/16) / (1/16 + 1/22) = 58 % of new pages, node 1 42 %.
 */
static void test_spread_fallback(void **state)
{
    (void)state;
    load("", 5, "events: [{at_s: 0.5, vm: vm, to: [2, 6]}]\n");
    double vnuma = run("vnuma")->completion_s;
    const struct xpv_sim_app_result *x = run("xpv");
    double n0 = res.mc_bytes[0], n1 = res.mc_bytes[1];
    print_message("moved without memory: vnuma %.3f s, xpv %.3f s; controllers 0/1 under xpv "
                  "%.3g/%.3g B (%.2f)\n",
                  vnuma, x->completion_s, n0, n1, n1 / n0);
    /* both controllers serve the VM, the nearer one more */
    assert_true(n1 < n0);
    assert_true(n1 > 0.6 * n0);
    /* the vCPUs on node 2 and 6 read both nodes */
    assert_true(traffic(2, 0) > traffic(2, 1) && traffic(2, 1) > 0);
    assert_true(traffic(6, 0) > traffic(6, 1) && traffic(6, 1) > 0);
    /* and XPV does not lose to static vNUMA here */
    assert_true(x->completion_s < vnuma * 1.01);
    /* nor does XPV with migration: a guest whose vCPU's node holds no memory leaves its
     * pages where they are, spread, instead of moving them all to the nearest node */
    const struct xpv_sim_app_result *m = run("xpv-migrate");
    print_message("xpv-migrate: %.3f s, controllers 0/1 %.3g/%.3g B, %.0f MB migrated\n",
                  m->completion_s, res.mc_bytes[0], res.mc_bytes[1], m->migrated_mb);
    assert_true(m->migrated_mb == 0);
    assert_true(res.mc_bytes[1] > 0.6 * res.mc_bytes[0]);
    assert_true(m->completion_s < vnuma * 1.01);
}

/*
 * The host daemon's placement over stock guests (`hostd-vnuma`): the daemon's decisions
 * (xpv_place_round on the VMs as domains, each vNode by xpv_place_vnode), as `hostd` makes
 * them, with static vNUMA guests. Two VMs of 2 vNodes x 6 vCPUs booted on the Opteron's
 * nodes 0-1 (24 vCPUs on 12 cores), 256 MiB per vNode.
 */
static void test_hostd_vnuma_decisions(void **state)
{
    (void)state;
    enum { T = 24, G = 2 };
    struct xpv_sim_machine m;
    assert_int_equal(xpv_sim_machine_preset("opteron-8n", &m, NULL), 0);
    unsigned tgroup[T], tvnode[T], rgroup[G] = {0, 1}, vnodes[G] = {2, 2};
    int tnode[T], gvm[G] = {0, 1};
    uint64_t allowed[G] = {~UINT64_C(0), ~UINT64_C(0)};
    double pages[G * N] = {0}, mb[G] = {4096.0 / (1 << 20), 4096.0 / (1 << 20)};
    for (unsigned t = 0; t < T; t++) {
        tgroup[t] = t / 12;
        tvnode[t] = t % 12 / 6;
        tnode[t] = (int)tvnode[t];
    }
    for (unsigned g = 0; g < G; g++)
        pages[g * N + 0] = pages[g * N + 1] = 65536;
    struct xpv_pol_view v = {.nr_nodes = N,
                             .lat_ns = m.lat_ns,
                             .cores = m.cores,
                             .nr_threads = T,
                             .thread_node = tnode,
                             .thread_group = tgroup,
                             .nr_groups = G,
                             .nr_regions = G,
                             .region_group = rgroup,
                             .region_pages = pages,
                             .region_page_mb = mb,
                             .group_allowed = allowed,
                             .node_mem = m.mem_bytes,
                             .group_vm = gvm,
                             .group_vnodes = vnodes,
                             .thread_vnode = tvnode};
    /* the daemon's round on what it reads of the same host */
    struct xpv_place_node nodes[N];
    uint32_t dist[N * N];
    struct xpv_place_domain d[G] = {{.threads = 12, .nodes = 0x3}, {.threads = 12, .nodes = 0x3}};
    for (unsigned i = 0; i < N; i++) {
        uint64_t used = 0;
        for (unsigned g = 0; g < G; g++) {
            d[g].mem[i] = (uint64_t)pages[g * N + i] * 4096;
            used += d[g].mem[i];
        }
        nodes[i] = (struct xpv_place_node){m.cores[i], m.mem_bytes[i] - used};
        for (unsigned j = 0; j < N; j++)
            dist[i * N + j] = xpv_pol_slit(m.lat_ns, N, i, j);
    }
    struct xpv_place_params params;
    xpv_place_params_default(&params);
    struct xpv_place_decision dec[4];
    int nd = xpv_place_round(&params, nodes, N, dist, d, G, dec, 4, NULL);
    assert_int_equal(nd, 1);
    const char *names[] = {"hostd-vnuma", "hostd"};
    for (unsigned k = 0; k < 2; k++) {
        struct xpv_policy *p = NULL;
        assert_int_equal(xpv_policy_new(names[k], &p, NULL), 0);
        assert_int_equal(p->vm_mode, k == 0 ? XPV_VM_VNUMA : XPV_VM_XPV);
        assert_true(p->places_vms);
        struct xpv_pol_actions acts = {0};
        assert_int_equal(p->decide(p, &v, NULL, 0, &acts), 0);
        assert_int_equal(acts.nr, vnodes[dec[0].domain]); /* every vNode of the moved VM */
        for (unsigned i = 0; i < acts.nr; i++) {
            const struct xpv_pol_action *a = &acts.v[i];
            assert_int_equal(a->kind, XPV_ACT_MOVE_VNODE);
            assert_int_equal(a->group, dec[0].domain);
            assert_int_equal(a->node, xpv_place_vnode(dec[0].to, (int)a->vnode));
        }
        assert_int_equal(p->group_nodes(p, dec[0].domain), dec[0].to);
        assert_int_equal(p->group_nodes(p, 1 - dec[0].domain), 0x3);
        xpv_pol_actions_free(&acts);
        xpv_policy_free(p);
    }
    /* in the engine: the same moves under both, memory along, so a static guest's belief
     * stays true and its locality high */
    const char *text = "machine: opteron-8n\nmax_seconds: 100\n"
                       "vms: [{name: a, host_nodes: [0, 1]}, {name: b, host_nodes: [0, 1]}]\n"
                       "workloads:\n"
                       "  - {name: a, threads: 12, vm: a, regions: [{name: d, kind: private, "
                       "size_mb: 16}], phases: [{work_m: 10, compute_ns: 300}]}\n"
                       "  - {name: b, threads: 12, vm: b, regions: [{name: d, kind: private, "
                       "size_mb: 16}], phases: [{work_m: 10, compute_ns: 300}]}\n";
    struct xpv_error err = {0};
    assert_int_equal(xpv_sim_scenario_parse(text, strlen(text), "t.yaml", &sc, &err), 0);
    assert_int_equal(xpv_sim_run(&sc, "hostd", &res, NULL, NULL, &err), 0);
    double mig = res.apps[0].migrated_mb + res.apps[1].migrated_mb;
    assert_int_equal(xpv_sim_run(&sc, "hostd-vnuma", &res, NULL, NULL, &err), 0);
    assert_true(mig > 0);
    assert_true(fabs(res.apps[0].migrated_mb + res.apps[1].migrated_mb - mig) < 1e-6);
    assert_true(res.apps[0].local_ratio > 0.9 && res.apps[1].local_ratio > 0.9);
    /* a VM policy only */
    assert_int_equal(xpv_policy_check("hostd-vnuma", false, NULL), -EINVAL);
}

/* Scenario syntax: the new keys, and errors naming FILE:LINE. */
static void expect_error(const char *text, const char *want)
{
    struct xpv_sim_scenario *s = &sc;
    struct xpv_error err = {0};
    int rc = xpv_sim_scenario_parse(text, strlen(text), "bad.yaml", s, &err);
    if (rc != -EINVAL || !strstr(err.msg, want))
        fail_msg("expected an error with '%s', got %d '%s'", want, rc, err.msg);
}

static void test_syntax(void **state)
{
    (void)state;
    load(", memory_nodes: [3, 3], vcpu_moves_per_s: 0.5, soft_affinity: [0, 1, 5]", 0,
         "events:\n"
         "  - {at_s: 1, vm: vm, to: [1, 0], move_memory: 0.5}\n"
         "  - {at_s: 2, vm: vm, reback: {vnode: 1, to: 4, fraction: 0.25}}\n"
         "  - {at_s: 3, vm: vm, reback: {vnode: 0, to: 4}}\n"
         "  - {at_s: 4, vm: vm, funnel: 7}\n"
         "  - {at_s: 5, vm: vm, consolidate: [2, 3], move_memory: yes}\n"
         "  - {at_s: 6, vm: vm, to: [0, 1], move_memory: yes}\n");
    assert_true(sc.vms[0].has_memory_node);
    assert_int_equal(sc.vms[0].memory_node[0], 3);
    assert_true(sc.vms[0].vcpu_moves_per_s == 0.5);
    assert_true(sc.vms[0].soft_affinity == 0x23);
    assert_int_equal(sc.nr_events, 6);
    assert_int_equal(sc.events[0].kind, XPV_SIM_EV_MOVE);
    assert_true(sc.events[0].move_memory && sc.events[0].memory_frac == 0.5);
    assert_int_equal(sc.events[1].kind, XPV_SIM_EV_REBACK);
    assert_true(sc.events[1].vnode == 1 && sc.events[1].node == 4);
    assert_true(sc.events[1].memory_frac == 0.25 && sc.events[2].memory_frac == 1);
    assert_int_equal(sc.events[3].kind, XPV_SIM_EV_FUNNEL);
    assert_int_equal(sc.events[3].node, 7);
    assert_int_equal(sc.events[4].kind, XPV_SIM_EV_CONSOLIDATE);
    assert_true(sc.events[4].nodes == 0xc && sc.events[4].move_memory);
    assert_true(sc.events[5].move_memory && sc.events[5].memory_frac == 1);
    run("vnuma"); /* every kind applies */

    static const char head[] = "machine: opteron-8n\n"
                               "vms: [{name: vm, host_nodes: [0, 1]%s}]\n"
                               "workloads: [{preset: nas-lu, threads: 4, vm: vm}]\n%s";
    static const struct {
        const char *vm, *ev, *want;
    } bad[] = {
            {", memory_nodes: [0]", "", "bad.yaml:2: vms[0].memory_nodes: expected 2 host nodes"},
            {", memory_nodes: [0, 9]", "", "bad.yaml:2: vms[0].memory_nodes[1]"},
            {", soft_affinity: [1, 1]", "",
             "bad.yaml:2: vms[0].soft_affinity[1]: expected distinct"},
            {", vcpu_moves_per_s: -1", "", "bad.yaml:2: vms[0].vcpu_moves_per_s"},
            {"", "events: [{at_s: 1, vm: vm}]\n",
             "bad.yaml:4: events[0]: expected key 'to' (re-place vNodes), 'reback', 'funnel'"},
            {"", "events: [{at_s: 1, vm: vm, funnel: 1, to: [1, 0]}]\n",
             "expected one of 'to', 'reback', 'funnel' or 'consolidate', found 'to' and 'funnel'"},
            {"", "events: [{at_s: 1, vm: vm, to: [1, 0], move_memory: 2}]\n",
             "bad.yaml:4: events[0].move_memory: expected yes, no, or the share"},
            {"", "events: [{at_s: 1, vm: vm, to: [1, 0], move_memory: maybe}]\n",
             "events[0].move_memory: expected yes, no, or the share"},
            {"", "events: [{at_s: 1, vm: vm, reback: {vnode: 2, to: 1}}]\n",
             "bad.yaml:4: events[0].reback.vnode"},
            {"", "events: [{at_s: 1, vm: vm, reback: {vnode: 0}}]\n",
             "events[0].reback: expected key 'to'"},
            {"", "events: [{at_s: 1, vm: vm, reback: {vnode: 0, to: 1, fraction: 0}}]\n",
             "events[0].reback.fraction"},
            {"", "events: [{at_s: 1, vm: vm, funnel: 1, move_memory: yes}]\n",
             "expected 'move_memory' only with 'to' or 'consolidate'"},
            {"", "events: [{at_s: 1, vm: vm, funnel: 8}]\n", "bad.yaml:4: events[0].funnel"},
            {"", "events: [{at_s: 1, vm: vm, consolidate: []}]\n",
             "bad.yaml:4: events[0].consolidate"},
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), head, bad[i].vm, bad[i].ev);
        expect_error(text, bad[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_reback_static_guest),
            cmocka_unit_test(test_funnelled_preallocation),
            cmocka_unit_test(test_vcpu_moves),
            cmocka_unit_test(test_consolidation),
            cmocka_unit_test(test_spread_rule),
            cmocka_unit_test(test_spread_fallback),
            cmocka_unit_test(test_hostd_vnuma_decisions),
            cmocka_unit_test(test_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
