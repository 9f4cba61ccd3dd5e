/* test_ops_record.c — the recording ops table: its model answers like the kernel would,
 * validation matches ops_linux, failure injection works. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tu_topo.h"
#include "xpv/ops_record.h"

#define PAGE(n) ((void *)(uintptr_t)(0x100000u + (n)*4096u))

struct env {
    struct xpv_topo *t;
    struct xpv_ops *ops;
};

static int setup(void **state)
{
    static struct env e;
    static const int ids[] = {0, 2, 5, 9};
    e.t = tu_topo(4, ids, 2, 1u << 30);
    e.t->nodes[3].mem_total = e.t->nodes[3].mem_free = 0; /* node 9: memory-less */
    e.ops = xpv_ops_record_new(e.t, NULL);
    *state = &e;
    return e.ops ? 0 : -1;
}

static int teardown(void **state)
{
    struct env *e = *state;
    xpv_ops_free(e->ops);
    xpv_topo_free(e->t);
    return 0;
}

static void test_move_and_query(void **state)
{
    struct env *e = *state;
    void *pages[3] = {PAGE(0), PAGE(1), PAGE(2)};
    int nodes[3] = {2, 5, 2}, status[3];
    assert_int_equal(e->ops->move_pages(e->ops->ctx, 42, 3, pages, nodes, status, 0), 0);
    assert_int_equal(status[1], 5);
    assert_int_equal(e->ops->move_pages(e->ops->ctx, 42, 3, pages, NULL, status, 0), 0);
    assert_int_equal(status[0], 2);
    assert_int_equal(status[1], 5);
    assert_int_equal(status[2], 2);
    /* another pid's page at the same address is a different page: default node 0 */
    assert_int_equal(xpv_ops_record_page_node(e->ops, 43, PAGE(1)), 0);
    /* an address inside the page maps to the page */
    assert_int_equal(xpv_ops_record_page_node(e->ops, 42, (char *)PAGE(1) + 100), 5);
    assert_int_equal(xpv_ops_record_count_kind(e->ops, XPV_OP_MOVE_PAGES), 2);
    const struct xpv_op_call *c = xpv_ops_record_call(e->ops, 0);
    assert_int_equal(c->pid, 42);
    assert_int_equal(c->count, 3);
    assert_int_equal(c->node, 2);
    assert_int_equal(c->rc, 0);
    assert_null(xpv_ops_record_call(e->ops, 2));
}

static void test_unknown_node_moves_nothing(void **state)
{
    struct env *e = *state;
    void *pages[2] = {PAGE(10), PAGE(11)};
    int nodes[2] = {0, 1}, status[2] = {99, 99};
    assert_int_equal(e->ops->move_pages(e->ops->ctx, 7, 2, pages, nodes, status, 0), -ENODEV);
    assert_int_equal(xpv_ops_record_page_node(e->ops, 7, PAGE(10)), 0); /* still default */
    struct xpv_bitmap set;
    xpv_bitmap_zero(&set);
    xpv_bitmap_set(&set, 3);
    assert_int_equal(e->ops->mbind(e->ops->ctx, PAGE(0), 4096, XPV_MPOL_BIND, &set, 0), -ENODEV);
}

static void test_memoryless_target_fails_per_page(void **state)
{
    struct env *e = *state;
    void *pages[2] = {PAGE(20), PAGE(21)};
    int nodes[2] = {9, 5}, status[2];
    assert_int_equal(e->ops->move_pages(e->ops->ctx, 7, 2, pages, nodes, status, 0), 1);
    assert_int_equal(status[0], -ENOMEM);
    assert_int_equal(status[1], 5);
}

static void test_vanished_pid_and_injected_failure(void **state)
{
    struct env *e = *state;
    void *pages[1] = {PAGE(30)};
    int nodes[1] = {2}, status[1];
    xpv_ops_record_kill(e->ops, 1234);
    assert_int_equal(e->ops->move_pages(e->ops->ctx, 1234, 1, pages, nodes, status, 0), -ESRCH);
    struct xpv_bitmap cpus;
    xpv_bitmap_zero(&cpus);
    xpv_bitmap_set(&cpus, 1);
    assert_int_equal(e->ops->set_affinity(e->ops->ctx, 1234, &cpus), -ESRCH);

    xpv_ops_record_fail_next(e->ops, XPV_OP_SET_AFFINITY, -EPERM);
    assert_int_equal(e->ops->set_affinity(e->ops->ctx, 55, &cpus), -EPERM);
    /* the failure is consumed and changed nothing */
    struct xpv_bitmap got;
    xpv_ops_record_affinity(e->ops, 55, &got);
    assert_true(xpv_bitmap_equal(&got, &e->t->cpus_online));
    assert_int_equal(e->ops->set_affinity(e->ops->ctx, 55, &cpus), 0);
    xpv_ops_record_affinity(e->ops, 55, &got);
    assert_true(xpv_bitmap_equal(&got, &cpus));
    assert_int_equal(e->ops->get_affinity(e->ops->ctx, 55, &got), 0);
    assert_true(xpv_bitmap_equal(&got, &cpus));
    /* offline / nonexistent CPU, empty set */
    xpv_bitmap_set(&cpus, 100);
    assert_int_equal(e->ops->set_affinity(e->ops->ctx, 55, &cpus), -EINVAL);
    xpv_bitmap_zero(&cpus);
    assert_int_equal(e->ops->set_affinity(e->ops->ctx, 55, &cpus), -EINVAL);
}

static void test_migrate_pages_maps_by_rank(void **state)
{
    struct env *e = *state;
    void *pages[3] = {PAGE(40), PAGE(41), PAGE(42)};
    int nodes[3] = {0, 2, 5}, status[3];
    assert_int_equal(e->ops->move_pages(e->ops->ctx, 8, 3, pages, nodes, status, 0), 0);
    struct xpv_bitmap from, to;
    xpv_bitmap_parse_list(&from, "0,2");
    xpv_bitmap_parse_list(&to, "5");
    assert_int_equal(e->ops->migrate_pages(e->ops->ctx, 8, &from, &to), 0);
    assert_int_equal(xpv_ops_record_page_node(e->ops, 8, PAGE(40)), 5);
    assert_int_equal(xpv_ops_record_page_node(e->ops, 8, PAGE(41)), 5);
    assert_int_equal(xpv_ops_record_page_node(e->ops, 8, PAGE(42)), 5);
    xpv_bitmap_parse_list(&from, "5");
    xpv_bitmap_parse_list(&to, "1");
    assert_int_equal(e->ops->migrate_pages(e->ops->ctx, 8, &from, &to), -ENODEV);
    const struct xpv_op_call *c = xpv_ops_record_call(e->ops, xpv_ops_record_count(e->ops) - 1);
    assert_int_equal(c->kind, XPV_OP_MIGRATE_PAGES);
    assert_int_equal(c->rc, -ENODEV);
}

static void test_mbind_move_and_get_mempolicy(void **state)
{
    struct env *e = *state;
    void *pages[4] = {PAGE(50), PAGE(51), PAGE(52), PAGE(53)};
    int nodes[4] = {0, 0, 0, 0}, status[4];
    assert_int_equal(e->ops->move_pages(e->ops->ctx, 0, 4, pages, nodes, status, 0), 0);
    struct xpv_bitmap set;
    xpv_bitmap_parse_list(&set, "2,5");
    assert_int_equal(e->ops->mbind(e->ops->ctx, PAGE(50), 4 * 4096, XPV_MPOL_INTERLEAVE, &set,
                                   XPV_MPOL_MF_MOVE),
                     0);
    int node = -1;
    assert_int_equal(e->ops->get_mempolicy(e->ops->ctx, &node, NULL, PAGE(50),
                                           XPV_MPOL_F_NODE | XPV_MPOL_F_ADDR),
                     0);
    assert_int_equal(node, 2);
    assert_int_equal(e->ops->get_mempolicy(e->ops->ctx, &node, NULL, PAGE(51),
                                           XPV_MPOL_F_NODE | XPV_MPOL_F_ADDR),
                     0);
    assert_int_equal(node, 5);
    assert_int_equal(xpv_ops_record_page_node(e->ops, 0, PAGE(52)), 2);
    /* unaligned start is EINVAL as for the kernel */
    assert_int_equal(e->ops->mbind(e->ops->ctx, (char *)PAGE(50) + 1, 4096, XPV_MPOL_BIND, &set, 0),
                     -EINVAL);
}

static void test_many_pages_grow_table(void **state)
{
    struct env *e = *state;
    enum { N = 5000 };
    static void *pages[N];
    static int nodes[N], status[N];
    for (unsigned i = 0; i < N; i++) {
        pages[i] = PAGE(1000 + i);
        nodes[i] = (int)(i % 2 ? 2 : 5);
    }
    assert_int_equal(e->ops->move_pages(e->ops->ctx, 99, N, pages, nodes, status, 0), 0);
    for (unsigned i = 0; i < N; i++)
        assert_int_equal(xpv_ops_record_page_node(e->ops, 99, pages[i]), nodes[i]);
    xpv_ops_record_clear(e->ops);
    assert_int_equal(xpv_ops_record_count(e->ops), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_move_and_query, setup, teardown),
            cmocka_unit_test_setup_teardown(test_unknown_node_moves_nothing, setup, teardown),
            cmocka_unit_test_setup_teardown(test_memoryless_target_fails_per_page, setup, teardown),
            cmocka_unit_test_setup_teardown(test_vanished_pid_and_injected_failure, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_migrate_pages_maps_by_rank, setup, teardown),
            cmocka_unit_test_setup_teardown(test_mbind_move_and_get_mempolicy, setup, teardown),
            cmocka_unit_test_setup_teardown(test_many_pages_grow_table, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
