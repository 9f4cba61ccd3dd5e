/*
 * test_ops_linux.c — the kernel's ops table on the machine running the tests.
 * This host has one NUMA node, so real moves target that node and every other node id
 * must be refused with -ENODEV before the kernel is asked; moves between real nodes are
 * proven in the QEMU lab (lab4.move_pages).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "xpv/ops.h"

struct env {
    struct xpv_topo *t;
    struct xpv_ops *ops;
    int home;    /* a node with memory that this process may use */
    int missing; /* a node id the machine does not have */
};

static int setup(void **state)
{
    static struct env e;
    struct xpv_error err = {0};
    if (xpv_topo_discover(NULL, &e.t, &err) < 0) {
        print_error("discovery failed: %s\n", err.msg);
        return -1;
    }
    e.home = -1;
    for (unsigned i = 0; i < e.t->nr_nodes && e.home < 0; i++)
        if (e.t->nodes[i].mem_total &&
            xpv_bitmap_isset(&e.t->nodes_allowed, (unsigned)e.t->nodes[i].id))
            e.home = e.t->nodes[i].id;
    for (e.missing = 0; xpv_topo_node_index(e.t, e.missing) >= 0; e.missing++)
        ;
    e.ops = xpv_ops_linux_new(e.t, &err);
    *state = &e;
    return e.ops && e.home >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
    struct env *e = *state;
    xpv_ops_free(e->ops);
    xpv_topo_free(e->t);
    return 0;
}

enum { NPAGES = 8 };

static char *touched_pages(void)
{
    long psz = sysconf(_SC_PAGESIZE);
    char *buf = mmap(NULL, (size_t)psz * NPAGES, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(buf != MAP_FAILED);
    for (int i = 0; i < NPAGES; i++)
        memset(buf + i * psz, 'a' + i, (size_t)psz);
    return buf;
}

static void test_move_pages_home_and_query(void **state)
{
    struct env *e = *state;
    long psz = sysconf(_SC_PAGESIZE);
    char *buf = touched_pages();
    void *pages[NPAGES];
    int nodes[NPAGES], status[NPAGES];
    for (int i = 0; i < NPAGES; i++) {
        pages[i] = buf + i * psz;
        nodes[i] = e->home;
    }
    assert_int_equal(e->ops->move_pages(e->ops->ctx, 0, NPAGES, pages, nodes, status, 0), 0);
    memset(status, 0x7f, sizeof(status));
    assert_int_equal(e->ops->move_pages(e->ops->ctx, 0, NPAGES, pages, NULL, status, 0), 0);
    for (int i = 0; i < NPAGES; i++) {
        assert_int_equal(status[i], e->home);
        assert_int_equal(buf[i * psz + 17], 'a' + i);
    }
    int node = -1;
    assert_int_equal(
            e->ops->get_mempolicy(e->ops->ctx, &node, NULL, buf, XPV_MPOL_F_NODE | XPV_MPOL_F_ADDR),
            0);
    assert_int_equal(node, e->home);
    munmap(buf, (size_t)psz * NPAGES);
}

static void test_missing_node_is_enodev(void **state)
{
    struct env *e = *state;
    long psz = sysconf(_SC_PAGESIZE);
    char *buf = touched_pages();
    void *pages[1] = {buf};
    int nodes[1] = {e->missing}, status[1] = {12345};
    assert_int_equal(e->ops->move_pages(e->ops->ctx, 0, 1, pages, nodes, status, 0), -ENODEV);
    assert_int_equal(status[0], 12345); /* nothing was asked of the kernel */
    nodes[0] = -1;
    assert_int_equal(e->ops->move_pages(e->ops->ctx, 0, 1, pages, nodes, status, 0), -ENODEV);

    struct xpv_bitmap set, home;
    xpv_bitmap_zero(&set);
    xpv_bitmap_set(&set, (unsigned)e->missing);
    assert_int_equal(e->ops->mbind(e->ops->ctx, buf, (unsigned long)psz, XPV_MPOL_BIND, &set, 0),
                     -ENODEV);
    xpv_bitmap_zero(&home);
    xpv_bitmap_set(&home, (unsigned)e->home);
    assert_int_equal(e->ops->migrate_pages(e->ops->ctx, 0, &home, &set), -ENODEV);
    munmap(buf, (size_t)psz * NPAGES);
}

static void test_mbind_and_migrate_home(void **state)
{
    struct env *e = *state;
    long psz = sysconf(_SC_PAGESIZE);
    char *buf = touched_pages();
    struct xpv_bitmap home;
    xpv_bitmap_zero(&home);
    xpv_bitmap_set(&home, (unsigned)e->home);
    assert_int_equal(e->ops->mbind(e->ops->ctx, buf, (unsigned long)psz * NPAGES, XPV_MPOL_BIND,
                                   &home, XPV_MPOL_MF_MOVE | XPV_MPOL_MF_STRICT),
                     0);
    int mode = -1;
    struct xpv_bitmap got;
    assert_int_equal(e->ops->get_mempolicy(e->ops->ctx, &mode, &got, buf, XPV_MPOL_F_ADDR), 0);
    assert_int_equal(mode, XPV_MPOL_BIND);
    assert_true(xpv_bitmap_equal(&got, &home));
    assert_true(e->ops->migrate_pages(e->ops->ctx, 0, &home, &home) >= 0);
    /* an unaligned range is the kernel's EINVAL, passed through */
    assert_int_equal(e->ops->mbind(e->ops->ctx, buf + 1, 10, XPV_MPOL_BIND, &home, 0), -EINVAL);
    munmap(buf, (size_t)psz * NPAGES);
}

static void test_affinity(void **state)
{
    struct env *e = *state;
    struct xpv_bitmap orig, one, got;
    assert_int_equal(e->ops->get_affinity(e->ops->ctx, 0, &orig), 0);
    assert_false(xpv_bitmap_empty(&orig));
    xpv_bitmap_zero(&one);
    xpv_bitmap_set(&one, (unsigned)xpv_bitmap_next(&orig, 0));
    assert_int_equal(e->ops->set_affinity(e->ops->ctx, 0, &one), 0);
    assert_int_equal(e->ops->get_affinity(e->ops->ctx, 0, &got), 0);
    assert_true(xpv_bitmap_equal(&got, &one));
    assert_int_equal(e->ops->set_affinity(e->ops->ctx, 0, &orig), 0);
    xpv_bitmap_zero(&one);
    assert_int_equal(e->ops->set_affinity(e->ops->ctx, 0, &one), -EINVAL);
    xpv_bitmap_set(&one, XPV_MAX_CPUS - 1); /* not an online CPU here */
    assert_int_equal(e->ops->set_affinity(e->ops->ctx, 0, &one), -EINVAL);
}

static void test_vanished_process_is_esrch(void **state)
{
    struct env *e = *state;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    long psz = sysconf(_SC_PAGESIZE);
    char *buf = touched_pages();
    void *pages[1] = {buf};
    int status[1];
    assert_int_equal(e->ops->move_pages(e->ops->ctx, child, 1, pages, NULL, status, 0), -ESRCH);
    struct xpv_bitmap cpus;
    assert_int_equal(e->ops->get_affinity(e->ops->ctx, child, &cpus), -ESRCH);
    munmap(buf, (size_t)psz * NPAGES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_move_pages_home_and_query),
            cmocka_unit_test(test_missing_node_is_enodev),
            cmocka_unit_test(test_mbind_and_migrate_home),
            cmocka_unit_test(test_affinity),
            cmocka_unit_test(test_vanished_process_is_esrch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
