/*
 * test_placement.c — the numad-class placement of the policy core (src/policy/placement.c)
 * on 2-, 4- and 8-node machines: initial placement, oversubscription relief, memory affinity,
 * hysteresis (no ping-pong), the move budget, multi-node domains on the Opteron SLIT, the
 * errors, and the daemon's vNode rule (xpv_place_vnode).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "xpv/placement.h"

#define GIB (UINT64_C(1) << 30)

static struct xpv_place_node nodes[8];
static uint32_t dist[64];
static struct xpv_place_params P;

static void machine(unsigned n, unsigned cores)
{
    for (unsigned i = 0; i < n; i++) {
        nodes[i] = (struct xpv_place_node){cores, 16 * GIB};
        for (unsigned j = 0; j < n; j++)
            dist[i * n + j] = i == j ? 10 : 10 + 10 * (i > j ? i - j : j - i);
    }
    xpv_place_params_default(&P);
}

static void test_initial_spread(void **state)
{
    (void)state;
    machine(4, 6);
    struct xpv_place_domain d[2] = {{.name = "a", .threads = 6}, {.name = "b", .threads = 6}};
    struct xpv_place_decision out[4];
    assert_int_equal(xpv_place_round(&P, nodes, 4, dist, d, 2, out, 4, NULL), 2);
    /* the second is placed knowing where the first went */
    assert_int_equal(__builtin_popcountll(out[0].to), 1);
    assert_int_equal(__builtin_popcountll(out[1].to), 1);
    assert_int_not_equal(out[0].to, out[1].to);
    assert_non_null(strstr(out[0].reason, "initial placement"));
}

/* Settled domains (the daemon's unchanged ones) count for the loads but are not moved; the
 * candidates are, past 1024 domains too (the core once looked at the first 1024 only). */
static void test_settled_and_many(void **state)
{
    (void)state;
    machine(4, 6);
    struct xpv_place_domain d[2] = {{.name = "a", .threads = 6, .nodes = 1, .settled = 1},
                                    {.name = "b", .threads = 6, .nodes = 1, .settled = 1}};
    d[0].mem[0] = d[1].mem[0] = 1 * GIB;
    struct xpv_place_decision out[4];
    /* both oversubscribe node 0; settled, neither moves */
    assert_int_equal(xpv_place_round(&P, nodes, 4, dist, d, 2, out, 4, NULL), 0);
    d[1].settled = 0; /* b changed: it alone is reconsidered, and leaves */
    assert_int_equal(xpv_place_round(&P, nodes, 4, dist, d, 2, out, 4, NULL), 1);
    assert_int_equal(out[0].domain, 1);
    assert_int_not_equal(out[0].to, 1);

    enum { MANY = 1500 };
    static struct xpv_place_domain many[MANY];
    for (unsigned i = 0; i < MANY; i++)
        many[i] = (struct xpv_place_domain){.name = "m", .threads = 1, .nodes = 1, .settled = 1};
    many[MANY - 1] = (struct xpv_place_domain){.name = "last", .threads = 1}; /* unplaced */
    assert_int_equal(xpv_place_round(&P, nodes, 4, dist, many, MANY, out, 4, NULL), 1);
    assert_int_equal(out[0].domain, MANY - 1);
    assert_int_not_equal(out[0].to, 1); /* node 0 carries the 1499 others */
}

static void test_oversubscription_relieved_then_stable(void **state)
{
    (void)state;
    machine(4, 6);
    struct xpv_place_domain d[2] = {{.name = "a", .threads = 6, .nodes = 1},
                                    {.name = "b", .threads = 6, .nodes = 1}};
    d[0].mem[0] = d[1].mem[0] = 1 * GIB;
    struct xpv_place_decision out[4];
    int n = xpv_place_round(&P, nodes, 4, dist, d, 2, out, 4, NULL);
    assert_int_equal(n, 1); /* one moves; the other then has node 0 to itself */
    print_message("%s\n", out[0].reason);
    assert_true(out[0].to == 2); /* nearest free node to its memory on node 0 */
    assert_non_null(strstr(out[0].reason, "nodes 0 -> 1"));
    d[out[0].domain].nodes = out[0].to;
    assert_int_equal(xpv_place_round(&P, nodes, 4, dist, d, 2, out, 4, NULL), 0);
}

static void test_memory_affinity(void **state)
{
    (void)state;
    machine(4, 6);
    struct xpv_place_domain d = {.name = "m", .threads = 4};
    d.mem[2] = 8 * GIB;
    struct xpv_place_decision out[2];
    assert_int_equal(xpv_place_round(&P, nodes, 4, dist, &d, 1, out, 2, NULL), 1);
    assert_int_equal(out[0].to, UINT64_C(1) << 2);
}

static void test_hysteresis_and_budget(void **state)
{
    (void)state;
    machine(4, 6);
    /* memory split 55/45 between nodes 0 and 1, bound to node 1: node 0 is only slightly
     * better, not by 15 % */
    struct xpv_place_domain d = {.name = "h", .threads = 4, .nodes = 2};
    d.mem[0] = 55 * GIB / 10;
    d.mem[1] = 45 * GIB / 10;
    struct xpv_place_decision out[4];
    assert_int_equal(xpv_place_round(&P, nodes, 4, dist, &d, 1, out, 4, NULL), 0);
    P.hysteresis = 0;
    assert_int_equal(xpv_place_round(&P, nodes, 4, dist, &d, 1, out, 4, NULL), 1);
    /* budget: three unplaced domains, max_moves 2 */
    xpv_place_params_default(&P);
    struct xpv_place_domain three[3] = {
            {.name = "x", .threads = 2}, {.name = "y", .threads = 2}, {.name = "z", .threads = 2}};
    assert_int_equal(xpv_place_round(&P, nodes, 4, dist, three, 3, out, 4, NULL), 2);
}

/* 8 nodes x 6 cores with the Opteron SLIT: a 12-thread domain gets two nodes one hop apart. */
static void test_two_node_domain(void **state)
{
    (void)state;
    static const uint32_t slit[64] = {
            10, 16, 16, 22, 16, 22, 16, 22, 16, 10, 22, 16, 16, 22, 22, 16, 16, 22, 10, 16, 16, 16,
            16, 16, 22, 16, 16, 10, 16, 16, 22, 22, 16, 16, 16, 16, 10, 16, 16, 22, 22, 22, 16, 16,
            16, 10, 22, 16, 16, 22, 16, 22, 16, 22, 10, 16, 22, 16, 16, 22, 22, 16, 16, 10,
    };
    machine(8, 6);
    struct xpv_place_domain d = {.name = "big", .threads = 12};
    struct xpv_place_decision out[2];
    assert_int_equal(xpv_place_round(&P, nodes, 8, slit, &d, 1, out, 2, NULL), 1);
    assert_int_equal(__builtin_popcountll(out[0].to), 2);
    unsigned a = (unsigned)__builtin_ctzll(out[0].to);
    unsigned b = 63 - (unsigned)__builtin_clzll(out[0].to);
    assert_int_equal(slit[a * 8 + b], 16);
}

static void test_errors(void **state)
{
    (void)state;
    machine(2, 4);
    struct xpv_error err = {0};
    struct xpv_place_domain d = {.name = "e", .threads = 1, .nodes = 4}; /* node 2 of 2 */
    struct xpv_place_decision out[1];
    assert_int_equal(xpv_place_round(&P, nodes, 2, dist, &d, 1, out, 1, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "does not have"));
    assert_int_equal(xpv_place_round(&P, nodes, 0, dist, &d, 1, out, 1, &err), -EINVAL);
}

/* The daemon's vNode rule: vNode v on the (v mod k)-th node of the set, lowest first. */
static void test_vnode_rule(void **state)
{
    (void)state;
    static const struct {
        uint64_t nodes;
        int vnode, want;
    } rows[] = {
            {0, 0, -1}, /* not placed */
            {0x1, 0, 0},
            {0x1, 3, 0}, /* one node: every vNode there */
            {0x24, 0, 2},
            {0x24, 1, 5}, /* nodes 2 and 5 */
            {0x24, 2, 2},
            {0x24, 3, 5},  /* more vNodes than nodes: they wrap */
            {0x24, -1, 2}, /* unknown vNode: as vNode 0 */
            {0xe, 1, 2},
            {0xe, 5, 3},                /* nodes 1, 2, 3 */
            {UINT64_C(1) << 63, 7, 63}, /* the last position */
            {UINT64_C(1) << 63 | 1, 1, 63},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (xpv_place_vnode(rows[i].nodes, rows[i].vnode) != rows[i].want)
            fail_msg("nodes 0x%llx vNode %d: %d, expected %d", (unsigned long long)rows[i].nodes,
                     rows[i].vnode, xpv_place_vnode(rows[i].nodes, rows[i].vnode), rows[i].want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_initial_spread),
            cmocka_unit_test(test_oversubscription_relieved_then_stable),
            cmocka_unit_test(test_memory_affinity),
            cmocka_unit_test(test_hysteresis_and_budget),
            cmocka_unit_test(test_two_node_domain),
            cmocka_unit_test(test_errors),
            cmocka_unit_test(test_vnode_rule),
            cmocka_unit_test(test_settled_and_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
