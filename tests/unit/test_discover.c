/*
 * test_discover.c — discovery on the generated fixture trees (tests/fixtures/gen-all.sh),
 * each checked against the values the generator was told to write, plus the errors a user
 * gets for a wrong --root. Agreement with hwloc on real machines is tests/oracle's job.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xpv/topo.h"

#define GIB (UINT64_C(1) << 30)

static struct xpv_topo *load(const char *name)
{
    const char *dir = getenv("XPV_FIXTURES");
    char root[4096];
    struct xpv_error err = {0};
    struct xpv_topo *t = NULL;
    if (!dir)
        fail_msg("XPV_FIXTURES is not set (run through ctest)");
    snprintf(root, sizeof(root), "%s/%s", dir, name);
    int rc = xpv_topo_discover(root, &t, &err);
    if (rc < 0)
        fail_msg("discovery of %s failed: %s", root, xpv_error_str(&err, rc));
    assert_int_equal(xpv_topo_check(t, NULL), 0);
    return t;
}

static void expect_cpus(const struct xpv_bitmap *b, const char *list)
{
    char got[256];
    xpv_bitmap_format_list(b, got, sizeof(got));
    assert_string_equal(got, list);
}

static void test_1node(void **state)
{
    (void)state;
    struct xpv_topo *t = load("1node");
    assert_int_equal(t->nr_nodes, 1);
    assert_int_equal(t->nodes[0].id, 0);
    expect_cpus(&t->nodes[0].cpus, "0-3");
    assert_int_equal(t->nodes[0].mem_total, GIB);
    assert_int_equal(t->nodes[0].mem_free, GIB / 10 * 9 / 1024 * 1024);
    assert_int_equal(xpv_topo_dist(t, 0, 0), 10);
    xpv_topo_free(t);
}

static void test_4node_distances(void **state)
{
    (void)state;
    struct xpv_topo *t = load("4node");
    assert_int_equal(t->nr_nodes, 4);
    assert_true(t->has_distances);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(t->nodes[i].id, (int)i);
        assert_int_equal(xpv_bitmap_weight(&t->nodes[i].cpus), 2);
        assert_true(xpv_bitmap_isset(&t->nodes[i].cpus, 2 * i));
        for (unsigned j = 0; j < 4; j++)
            assert_int_equal(xpv_topo_dist(t, i, j),
                             i == j ? 10 : 10 + 10 * (i > j ? i - j : j - i));
    }
    assert_int_equal(xpv_topo_dist(t, 0, 3), 40);
    xpv_topo_free(t);
}

static void test_8node_opteron(void **state)
{
    (void)state;
    static const unsigned slit[8][8] = {
            {10, 16, 16, 22, 16, 22, 16, 22}, {16, 10, 22, 16, 16, 22, 22, 16},
            {16, 22, 10, 16, 16, 16, 16, 16}, {22, 16, 16, 10, 16, 16, 22, 22},
            {16, 16, 16, 16, 10, 16, 16, 22}, {22, 22, 16, 16, 16, 10, 22, 16},
            {16, 22, 16, 22, 16, 22, 10, 16}, {22, 16, 16, 22, 22, 16, 16, 10},
    };
    struct xpv_topo *t = load("8node-opteron");
    assert_int_equal(t->nr_nodes, 8);
    assert_int_equal(xpv_bitmap_weight(&t->cpus_online), 48);
    for (unsigned i = 0; i < 8; i++) {
        assert_int_equal(xpv_bitmap_weight(&t->nodes[i].cpus), 6);
        assert_int_equal(t->nodes[i].mem_total, 2 * GIB);
        assert_int_equal(xpv_topo_cpu_node(t, 6 * i + 5), (int)i);
        for (unsigned j = 0; j < 8; j++)
            assert_int_equal(xpv_topo_dist(t, i, j), slit[i][j]);
    }
    xpv_topo_free(t);
}

static void test_sparse_ids(void **state)
{
    (void)state;
    struct xpv_topo *t = load("sparse");
    static const int ids[] = {0, 2, 5, 9};
    assert_int_equal(t->nr_nodes, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(t->nodes[i].id, ids[i]);
        assert_int_equal(xpv_topo_node_index(t, ids[i]), (int)i);
        assert_int_equal(xpv_topo_cpu_node(t, 2 * i + 1), ids[i]);
    }
    assert_int_equal(xpv_topo_node_index(t, 1), -ENODEV);
    assert_int_equal(xpv_topo_dist(t, 1, 3), 20); /* node 2 -> node 9 */
    xpv_topo_free(t);
}

static void test_memless_and_cpuless(void **state)
{
    (void)state;
    struct xpv_topo *t = load("memless");
    assert_int_equal(t->nr_nodes, 4);
    assert_int_equal(t->nodes[1].mem_total, 0);
    assert_int_equal(t->nodes[1].mem_free, 0);
    expect_cpus(&t->nodes[1].cpus, "2-3");
    assert_int_equal(t->nodes[3].mem_total, GIB);
    assert_true(xpv_bitmap_empty(&t->nodes[3].cpus));
    assert_int_equal(xpv_topo_cpu_node(t, 2), 1);
    xpv_topo_free(t);
}

static void test_cpuset_restriction(void **state)
{
    (void)state;
    struct xpv_topo *t = load("cpuset");
    assert_int_equal(t->nr_nodes, 4); /* the whole machine is still described */
    assert_int_equal(xpv_bitmap_weight(&t->cpus_online), 16);
    expect_cpus(&t->cpus_allowed, "4-11");
    expect_cpus(&t->nodes_allowed, "1-2");
    expect_cpus(&t->nodes[0].cpus, "0-3");
    xpv_topo_free(t);
}

static void test_offline_cpus(void **state)
{
    (void)state;
    struct xpv_topo *t = load("offline");
    expect_cpus(&t->cpus_offline, "3,6");
    expect_cpus(&t->cpus_online, "0-2,4-5,7");
    expect_cpus(&t->nodes[0].cpus, "0-2");
    expect_cpus(&t->nodes[1].cpus, "4-5,7");
    assert_int_equal(xpv_topo_cpu_node(t, 3), -ENOENT);
    xpv_topo_free(t);
}

static void test_more_than_64_cpus(void **state)
{
    (void)state;
    struct xpv_topo *t = load("big");
    assert_int_equal(xpv_bitmap_weight(&t->cpus_online), 160);
    expect_cpus(&t->nodes[3].cpus, "120-159");
    assert_int_equal(xpv_topo_cpu_node(t, 159), 3);
    assert_int_equal(xpv_topo_cpu_node(t, 64), 1);
    assert_int_equal(t->nodes[2].mem_total, 4 * GIB);
    xpv_topo_free(t);
}

static void expect_root_error(const char *root, int code, const char *needle)
{
    struct xpv_topo *t = NULL;
    struct xpv_error err = {0};
    assert_int_equal(xpv_topo_discover(root, &t, &err), code);
    assert_null(t);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' does not mention '%s'", err.msg, needle);
}

static void test_bad_roots(void **state)
{
    (void)state;
    expect_root_error("/nonexistent/xpv-root", -ENOENT, "/nonexistent/xpv-root");
    expect_root_error("/etc/hostname", -ENOTDIR, "not a directory");
    expect_root_error("/usr/share", -ENOENT, "sys/devices/system/cpu");
}

static void test_live_machine(void **state)
{
    (void)state;
    struct xpv_topo *t = NULL;
    assert_int_equal(xpv_topo_discover(NULL, &t, NULL), 0);
    assert_true(t->nr_nodes >= 1);
    assert_false(xpv_bitmap_empty(&t->cpus_online));
    assert_true(xpv_topo_mem_total(t) > 0);
    assert_int_equal(xpv_topo_check(t, NULL), 0);
    xpv_topo_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_1node),
            cmocka_unit_test(test_4node_distances),
            cmocka_unit_test(test_8node_opteron),
            cmocka_unit_test(test_sparse_ids),
            cmocka_unit_test(test_memless_and_cpuless),
            cmocka_unit_test(test_cpuset_restriction),
            cmocka_unit_test(test_offline_cpus),
            cmocka_unit_test(test_more_than_64_cpus),
            cmocka_unit_test(test_bad_roots),
            cmocka_unit_test(test_live_machine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
