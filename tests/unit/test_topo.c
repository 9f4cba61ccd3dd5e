/* test_topo.c — struct xpv_topo: allocation, copies, lookups and each invariant check. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "tu_topo.h"
#include "xpv/topo.h"

/* 3 nodes with sparse ids 0, 4, 9; 2 CPUs each; 1 GiB each. */
static struct xpv_topo *make3(void)
{
    static const int ids[] = {0, 4, 9};
    return tu_topo(3, ids, 2, 1u << 30);
}

static void test_alloc_bounds(void **state)
{
    (void)state;
    assert_null(xpv_topo_alloc(0));
    assert_null(xpv_topo_alloc(XPV_MAX_NODES + 1));
    struct xpv_topo *t = xpv_topo_alloc(XPV_MAX_NODES);
    assert_non_null(t);
    assert_int_equal(xpv_topo_dist(t, 0, 0), XPV_DISTANCE_LOCAL);
    assert_int_equal(xpv_topo_dist(t, 0, XPV_MAX_NODES - 1), XPV_DISTANCE_REMOTE);
    assert_false(t->has_distances);
    xpv_topo_free(t);
}

static void test_lookup_sparse(void **state)
{
    (void)state;
    struct xpv_topo *t = make3();
    assert_int_equal(xpv_topo_check(t, NULL), 0);
    assert_int_equal(xpv_topo_node_index(t, 0), 0);
    assert_int_equal(xpv_topo_node_index(t, 4), 1);
    assert_int_equal(xpv_topo_node_index(t, 9), 2);
    assert_int_equal(xpv_topo_node_index(t, 1), -ENODEV);
    assert_int_equal(xpv_topo_node_index(t, 10), -ENODEV);
    assert_int_equal(xpv_topo_node_index(t, -1), -ENODEV);
    assert_int_equal(xpv_topo_cpu_node(t, 3), 4);
    assert_int_equal(xpv_topo_cpu_node(t, 5), 9);
    assert_int_equal(xpv_topo_cpu_node(t, 6), -ENOENT);
    assert_int_equal(xpv_topo_mem_total(t), 3ull << 30);
    struct xpv_bitmap ids;
    xpv_topo_nodeset(t, &ids);
    assert_int_equal(xpv_bitmap_weight(&ids), 3);
    assert_true(xpv_bitmap_isset(&ids, 9));
    xpv_topo_free(t);
}

static void test_dup_is_deep(void **state)
{
    (void)state;
    struct xpv_topo *t = make3();
    xpv_topo_set_dist(t, 0, 2, 33);
    struct xpv_topo *c = xpv_topo_dup(t);
    assert_non_null(c);
    assert_ptr_not_equal(c->dist, t->dist);
    assert_int_equal(xpv_topo_dist(c, 0, 2), 33);
    xpv_topo_set_dist(t, 0, 2, 44);
    assert_int_equal(xpv_topo_dist(c, 0, 2), 33);
    xpv_topo_free(t);
    assert_int_equal(xpv_topo_check(c, NULL), 0);
    xpv_topo_free(c);
}

static void expect_bad(struct xpv_topo *t, const char *needle)
{
    struct xpv_error err = {0};
    int rc = xpv_topo_check(t, &err);
    assert_true(rc < 0);
    assert_int_equal(err.code, rc);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' does not mention '%s'", err.msg, needle);
    xpv_topo_free(t);
}

static void test_check_rejects(void **state)
{
    (void)state;
    struct xpv_topo *t;

    t = make3();
    t->nodes[1].id = 0;
    expect_bad(t, "increasing");

    t = make3();
    t->nodes[2].id = XPV_MAX_NODES;
    expect_bad(t, "outside");

    t = make3();
    xpv_bitmap_set(&t->nodes[1].cpus, 0);
    expect_bad(t, "shares CPUs");

    t = make3();
    xpv_bitmap_set(&t->nodes[2].cpus, 100);
    expect_bad(t, "not online");

    t = make3();
    t->nodes[0].mem_free = t->nodes[0].mem_total + 1;
    expect_bad(t, "free memory");

    t = make3();
    xpv_bitmap_set(&t->cpus_allowed, 50);
    expect_bad(t, "allowed CPUs");

    t = make3();
    xpv_bitmap_set(&t->cpus_offline, 1);
    expect_bad(t, "online and offline");

    t = make3();
    xpv_bitmap_set(&t->nodes_allowed, 5);
    expect_bad(t, "allowed nodes");

    t = make3();
    xpv_topo_set_dist(t, 1, 2, 5);
    expect_bad(t, "below the local distance");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_alloc_bounds),
            cmocka_unit_test(test_lookup_sparse),
            cmocka_unit_test(test_dup_is_deep),
            cmocka_unit_test(test_check_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
