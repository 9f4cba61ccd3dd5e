/*
 * test_numa_preload.c — libxpv-numa.so under LD_PRELOAD (docs/runtimes.md), in a program that
 * links libnuma and calls getcpu: with a record published at $XPV_RECORD, the node of the CPU
 * the thread runs on is the record's effective node for it, and it changes when the record is
 * republished with another generation; without a record, or with a record file holding no
 * valid record, every answer is the real one's.
 * Run by CTest with LD_PRELOAD set (tests/numa/CMakeLists.txt); each case first checks that
 * the library is really interposed, so a missing preload fails instead of passing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <numa.h>
#include <sched.h>
#include <string.h>

#include "numa_record.h"

static void assert_preloaded(void)
{
    Dl_info info;
    void *f = dlsym(RTLD_DEFAULT, "numa_node_of_cpu");
    if (!f || !dladdr(f, &info) || !info.dli_fname || !strstr(info.dli_fname, "libxpv-numa"))
        fail_msg("numa_node_of_cpu is not libxpv-numa.so's (LD_PRELOAD unset?)");
}

/* The thread's node by getcpu() and by numa_node_of_cpu(), each for the CPU it reported. */
static void assert_current(unsigned shift)
{
    int cpu = sched_getcpu();
    assert_true(cpu >= 0);
    assert_int_equal(numa_node_of_cpu(cpu), tn_expected((unsigned)cpu, shift));
    unsigned c = 0, n = 0;
    assert_int_equal(getcpu(&c, &n), 0);
    assert_int_equal((int)n, tn_expected(c, shift));
    n = 99;
    assert_int_equal(getcpu(NULL, &n), 0);
    assert_true(n < 4);
    for (unsigned k = 0; k < tn_nr_cpus(); k++)
        assert_int_equal(numa_node_of_cpu((int)k), tn_expected(k, shift));
}

static void assert_node_cpus(unsigned shift)
{
    struct bitmask *m = numa_allocate_cpumask();
    for (int node = 0; node < 4; node++) {
        assert_int_equal(numa_node_to_cpus(node, m), 0);
        for (unsigned c = 0; c < tn_nr_cpus(); c++)
            assert_int_equal(numa_bitmask_isbitset(m, c), tn_expected(c, shift) == node);
    }
    numa_free_cpumask(m);
}

static void test_follows_record(void **state)
{
    (void)state;
    assert_preloaded();
    struct xpv_publisher *p = tn_publisher();
    tn_publish(p, 0);
    assert_current(0);
    assert_node_cpus(0);
    assert_int_equal(numa_max_node(), 3);
    assert_int_equal(numa_num_configured_nodes(), 4);
    assert_int_equal(numa_distance(0, 2), 22);
    assert_int_equal(numa_distance(3, 3), 10);
    /* another generation: every CPU one node further */
    tn_publish(p, 1);
    assert_current(1);
    assert_node_cpus(1);
    xpv_publisher_close(p);
}

static void test_no_record(void **state)
{
    (void)state;
    assert_preloaded();
    const char *path = getenv("XPV_RECORD");
    assert_non_null(path);
    unlink(path);
    void *h = dlopen("libnuma.so.1", RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(h);
    int (*real_node)(int) = (int (*)(int))dlvsym(h, "numa_node_of_cpu", "libnuma_1.2");
    int (*real_max)(void) = (int (*)(void))dlvsym(h, "numa_max_node", "libnuma_1.1");
    int (*real_conf)(void) = (int (*)(void))dlvsym(h, "numa_num_configured_nodes", "libnuma_1.2");
    int (*real_dist)(int, int) = (int (*)(int, int))dlvsym(h, "numa_distance", "libnuma_1.1");
    assert_true(real_node && real_max && real_conf && real_dist);
    assert_ptr_not_equal((void *)real_node, (void *)numa_node_of_cpu);
    for (unsigned c = 0; c < tn_nr_cpus(); c++)
        assert_int_equal(numa_node_of_cpu((int)c), real_node((int)c));
    assert_int_equal(numa_node_of_cpu(100000), real_node(100000));
    assert_int_equal(numa_max_node(), real_max());
    assert_int_equal(numa_num_configured_nodes(), real_conf());
    assert_int_equal(numa_distance(0, 0), real_dist(0, 0));
    unsigned c, n;
    assert_int_equal(getcpu(&c, &n), 0);
    assert_int_equal((int)n, real_node((int)c));
    struct bitmask *mine = numa_allocate_cpumask(), *real = numa_allocate_cpumask();
    int (*real_cpus)(int, struct bitmask *) =
            (int (*)(int, struct bitmask *))dlvsym(h, "numa_node_to_cpus", "libnuma_1.2");
    assert_int_equal(numa_node_to_cpus(0, mine), real_cpus(0, real));
    assert_true(numa_bitmask_equal(mine, real));
    numa_free_cpumask(mine);
    numa_free_cpumask(real);
    dlclose(h);
}

/* A record file with a generation but nothing valid in it (TN_PREPUBLISH=corrupt): no
 * answer comes from it, not even node 0 for every CPU (a CPU the machine lacks shows it). */
static void test_corrupt_record(void **state)
{
    (void)state;
    assert_preloaded();
    void *h = dlopen("libnuma.so.1", RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(h);
    int (*real_node)(int) = (int (*)(int))dlvsym(h, "numa_node_of_cpu", "libnuma_1.2");
    assert_non_null(real_node);
    unsigned absent = tn_nr_cpus() + 7; /* no such CPU: libnuma says -1 */
    assert_int_equal(real_node((int)absent), -1);
    assert_int_equal(numa_node_of_cpu((int)absent), -1);
    for (unsigned c = 0; c < tn_nr_cpus(); c++)
        assert_int_equal(numa_node_of_cpu((int)c), real_node((int)c));
    dlclose(h);
}

int main(int argc, char **argv)
{
    (void)argc;
    tn_prepublish(argv);
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_follows_record),
            cmocka_unit_test(test_no_record),
            cmocka_unit_test(test_corrupt_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
