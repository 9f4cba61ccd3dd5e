/*
 * test_numa_dlopen.c — the libnuma.so.1 shim as HotSpot loads it (docs/runtimes.md): a
 * program that does not link libnuma dlopen()s "libnuma.so.1" by name, with the shim's
 * directory first on LD_LIBRARY_PATH (the CTest test sets it), and looks functions up with
 * dlvsym() at libnuma's versions. What the shim changes comes from the shim and answers from
 * the record at $XPV_RECORD; what it does not (numa_available, numa_allocate_cpumask, ...) comes
 * from the real libnuma (XPV_REAL_LIBNUMA, the path the shim was linked with).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "numa_record.h"

struct bitmask {
    unsigned long size;
    unsigned long *maskp;
};

static void *lib;

static const char *where(void *f)
{
    Dl_info info;
    if (!f || !dladdr(f, &info) || !info.dli_fname)
        return "(nowhere)";
    return info.dli_fname;
}

static void *sym(const char *name, const char *version)
{
    void *f = dlvsym(lib, name, version);
    if (!f)
        fail_msg("dlvsym(libnuma.so.1, %s, %s): %s", name, version, dlerror());
    return f;
}

static int setup(void **state)
{
    (void)state;
    lib = dlopen("libnuma.so.1", RTLD_LAZY); /* as HotSpot does */
    return lib ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return dlclose(lib);
}

/* Changed functions are the shim's, unchanged ones the real library's, which answers them. */
static void test_forms(void **state)
{
    (void)state;
    const char *real = getenv("XPV_REAL_LIBNUMA");
    assert_non_null(real);
    assert_non_null(
            strstr(where(sym("numa_node_of_cpu", "libnuma_1.2")), "numa-shim/libnuma.so.1"));
    assert_non_null(
            strstr(where(sym("numa_node_to_cpus", "libnuma_1.2")), "numa-shim/libnuma.so.1"));
    assert_non_null(
            strstr(where(sym("numa_node_to_cpus", "libnuma_1.1")), "numa-shim/libnuma.so.1"));
    assert_non_null(strstr(where(sym("numa_max_node", "libnuma_1.1")), "numa-shim/libnuma.so.1"));
    int (*available)(void) = (int (*)(void))sym("numa_available", "libnuma_1.1");
    assert_string_equal(where((void *)available), real);
    void *h = dlopen(real, RTLD_NOW | RTLD_NOLOAD); /* loaded: the shim's dependency */
    assert_non_null(h);
    assert_ptr_equal((void *)available, dlvsym(h, "numa_available", "libnuma_1.1"));
    assert_int_equal(available(), ((int (*)(void))dlvsym(h, "numa_available", "libnuma_1.1"))());
    dlclose(h);
}

/* HotSpot's cpu -> node table (os::Linux::rebuild_cpu_to_node_map): for each node up to
 * numa_max_node, numa_node_to_cpus (libnuma_1.2), each CPU set gets that node. */
static void table(int *map, unsigned n)
{
    int (*max_node)(void) = (int (*)(void))sym("numa_max_node", "libnuma_1.1");
    int (*to_cpus)(int, struct bitmask *) =
            (int (*)(int, struct bitmask *))sym("numa_node_to_cpus", "libnuma_1.2");
    struct bitmask *(*alloc)(void) =
            (struct bitmask * (*)(void)) sym("numa_allocate_cpumask", "libnuma_1.2");
    void (*release)(struct bitmask *) =
            (void (*)(struct bitmask *))sym("numa_bitmask_free", "libnuma_1.2");
    int (*isset)(const struct bitmask *, unsigned) =
            (int (*)(const struct bitmask *, unsigned))sym("numa_bitmask_isbitset", "libnuma_1.2");
    for (unsigned c = 0; c < n; c++)
        map[c] = -1;
    struct bitmask *m = alloc();
    assert_int_equal(max_node(), 3);
    for (int node = 0; node <= 3; node++) {
        assert_int_equal(to_cpus(node, m), 0);
        for (unsigned c = 0; c < n; c++)
            if (isset(m, c))
                map[c] = node;
    }
    release(m);
}

static void test_follows_record(void **state)
{
    (void)state;
    struct xpv_publisher *p = tn_publisher();
    unsigned n = tn_nr_cpus();
    int *map = calloc(n, sizeof(*map));
    assert_non_null(map);
    int (*node_of_cpu)(int) = (int (*)(int))sym("numa_node_of_cpu", "libnuma_1.2");
    int (*to_cpus_v1)(int, unsigned long *, int) =
            (int (*)(int, unsigned long *, int))sym("numa_node_to_cpus", "libnuma_1.1");
    for (unsigned shift = 0; shift < 2; shift++) {
        tn_publish(p, shift);
        table(map, n);
        for (unsigned c = 0; c < n; c++) {
            assert_int_equal(map[c], tn_expected(c, shift));
            assert_int_equal(node_of_cpu((int)c), tn_expected(c, shift));
        }
        unsigned long buf[16384 / 64]; /* libnuma 1 wants room for every possible CPU */
        assert_int_equal(to_cpus_v1(tn_expected(0, shift), buf, (int)sizeof(buf)), 0);
        assert_true(buf[0] & 1);
    }
    free(map);
    xpv_publisher_close(p);
}

int main(int argc, char **argv)
{
    (void)argc;
    tn_prepublish(argv);
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_forms),
            cmocka_unit_test(test_follows_record),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
