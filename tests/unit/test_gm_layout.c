/*
 * test_gm_layout.c — guest RAM as the guest-memory sampler and `xpv carrefour --vm` see it
 * (src/carrefour/gm_layout.c): backends in guest node order with their host and guest-physical
 * addresses, the refusals with their messages, vCPU thread names, -name, and the vCPU word of
 * the sampler ring.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xpv/cf_ring.h"
#include "xpv/gm_layout.h"

#define ARGS(s) s, sizeof(s) /* a cmdline literal with its final NUL */

static const char two_nodes[] = "qemu-system-x86_64\0-machine\0q35\0"
                                "-object\0memory-backend-memfd,id=m1,size=64M,share=on\0"
                                "-object\0memory-backend-file,id=m0,size=32M,share=on,"
                                "mem-path=/dev/shm/vm0\0"
                                "-numa\0node,nodeid=1,memdev=m1\0-numa\0node,nodeid=0,memdev=m0\0"
                                "-name\0guest=web1\0-msg\0debug-threads=on\0";
static const char two_maps[] = "7f0000000000-7f0004000000 rw-s 00000000 00:01 5 /memfd:memory-"
                               "backend-memfd (deleted)\n"
                               "7f1000000000-7f1002000000 rw-s 00000000 00:1a 9 /dev/shm/vm0\n";

static void test_two_nodes(void **state)
{
    (void)state;
    struct xpv_gm_layout l;
    struct xpv_error err = {0};
    assert_int_equal(xpv_gm_layout_parse(ARGS(two_nodes), two_maps, strlen(two_maps), 0, &l, &err),
                     0);
    assert_int_equal(l.nr, 2);
    assert_true(l.q35);
    assert_false(l.incoming);
    assert_false(l.thread_names); /* debug-threads=on, but on another option than -name */
    /* node 0 first (m0, the file), then node 1 */
    assert_string_equal(l.b[0].id, "m0");
    assert_int_equal(l.b[0].hva, 0x7f1000000000ull);
    assert_int_equal(l.b[0].ram_off, 0);
    assert_string_equal(l.b[1].id, "m1");
    assert_int_equal(l.b[1].vnode, 1);
    assert_int_equal(l.b[1].ram_off, 32u << 20);
    unsigned b = 9;
    assert_int_equal(xpv_gm_gpa(&l, 0x7f0000001234ull, &b), (32u << 20) + 0x1234);
    assert_int_equal(b, 1);
    assert_int_equal(xpv_gm_gpa(&l, 0x7f1000000000ull + 5, &b), 5);
    assert_int_equal(xpv_gm_gpa(&l, 0x7f0004000000ull, NULL), UINT64_MAX);
    char name[32];
    assert_int_equal(xpv_gm_vm_name(ARGS(two_nodes), name, sizeof(name)), 0);
    assert_string_equal(name, "web1");
}

/* RAM above the PCI hole: q35 with 3 GiB keeps 2 GiB low, the rest from 4 GiB */
static void test_high_memory(void **state)
{
    (void)state;
    static const char c[] = "q\0-M\0pc-q35-10.0\0-object\0memory-backend-memfd,id=r,size=3G\0"
                            "-machine\0q35,memory-backend=r\0";
    static const char m[] = "100000000-1c0000000 rw-s 00000000 00:01 5 /memfd:memory-backend-"
                            "memfd (deleted)\n";
    struct xpv_gm_layout l;
    struct xpv_error err = {0};
    assert_int_equal(xpv_gm_layout_parse(ARGS(c), m, strlen(m), 0, &l, &err), 0);
    assert_int_equal(l.lowmem, 2ull << 30);
    assert_int_equal(xpv_gm_gpa(&l, 0x100000000ull + (1ull << 30), NULL), 1ull << 30);
    assert_int_equal(xpv_gm_gpa(&l, 0x100000000ull + (2ull << 30), NULL), 4ull << 30);
    /* pc keeps all 3 GiB low (below 3.5 GiB) */
    static const char pc[] = "q\0-object\0memory-backend-memfd,id=r,size=3G\0"
                             "-machine\0memory-backend=r\0";
    assert_int_equal(xpv_gm_layout_parse(ARGS(pc), m, strlen(m), 0, &l, &err), 0);
    assert_false(l.q35);
    assert_int_equal(xpv_gm_gpa(&l, 0x100000000ull + (2ull << 30), NULL), 2ull << 30);
    /* an explicit low part */
    assert_int_equal(xpv_gm_layout_parse(ARGS(pc), m, strlen(m), 1ull << 30, &l, &err), 0);
    assert_int_equal(xpv_gm_gpa(&l, 0x100000000ull + (1ull << 30), NULL), 4ull << 30);
}

static void test_refusals(void **state)
{
    (void)state;
    struct xpv_gm_layout l;
    struct xpv_error err = {0};
    static const char ram[] = "q\0-object\0memory-backend-ram,id=r,size=8M\0"
                              "-machine\0memory-backend=r\0";
    assert_int_equal(xpv_gm_layout_parse(ARGS(ram), "", 0, 0, &l, &err), -ENOTSUP);
    assert_non_null(strstr(err.msg, "memory-backend-ram (anonymous memory)"));
    assert_non_null(strstr(err.msg, "memory-backend-memfd,id=r"));
    static const char plain[] = "q\0-m\0512\0";
    assert_int_equal(xpv_gm_layout_parse(ARGS(plain), "", 0, 0, &l, &err), -ENOTSUP);
    assert_non_null(strstr(err.msg, "no memory backend"));
    static const char priv[] = "q\0-object\0memory-backend-memfd,id=r,size=8M,share=off\0"
                               "-machine\0memory-backend=r\0";
    static const char pmaps[] = "1000000-1800000 rw-p 00000000 00:01 5 /memfd:memory-backend-"
                                "memfd (deleted)\n";
    assert_int_equal(xpv_gm_layout_parse(ARGS(priv), pmaps, strlen(pmaps), 0, &l, &err), -ENOTSUP);
    assert_non_null(strstr(err.msg, "mapped private (share=off)"));
    /* not mapped yet: retry */
    assert_int_equal(xpv_gm_layout_parse(ARGS(priv), "", 0, 0, &l, &err), -EAGAIN);
    static const char inc[] = "q\0-object\0memory-backend-memfd,id=r,size=8M\0"
                              "-machine\0memory-backend=r\0-incoming\0defer\0";
    static const char smaps[] = "1000000-1800000 rw-s 00000000 00:01 5 /memfd:memory-backend-"
                                "memfd (deleted)\n";
    assert_int_equal(xpv_gm_layout_parse(ARGS(inc), smaps, strlen(smaps), 0, &l, &err), 0);
    assert_true(l.incoming);
    assert_false(l.thread_names);
    static const char named[] = "q\0-object\0memory-backend-memfd,id=r,size=8M\0"
                                "-machine\0memory-backend=r\0-name\0vm,debug-threads=on\0";
    assert_int_equal(xpv_gm_layout_parse(ARGS(named), smaps, strlen(smaps), 0, &l, &err), 0);
    assert_true(l.thread_names);
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(xpv_gm_vcpu_from_comm("CPU 0/TCG\n", 10), 0);
    assert_int_equal(xpv_gm_vcpu_from_comm("CPU 17/KVM", 10), 17);
    assert_int_equal(xpv_gm_vcpu_from_comm("CPU 1/", 6), -1);
    assert_int_equal(xpv_gm_vcpu_from_comm("CPU /KVM", 8), -1);
    assert_int_equal(xpv_gm_vcpu_from_comm("IO mon_iothread", 15), -1);
    assert_int_equal(xpv_gm_vcpu_from_comm("CPU 1/KVM x", 11), -1);
    char n[8];
    assert_int_equal(xpv_gm_vm_name(ARGS("q\0-name\0vm,,one,process=x\0"), n, sizeof(n)), 0);
    assert_string_equal(n, "vm,one");
    assert_int_equal(xpv_gm_vm_name(ARGS("q\0-name\0process=x,guest=g\0"), n, sizeof(n)), 0);
    assert_string_equal(n, "g");
    assert_int_equal(xpv_gm_vm_name(ARGS("q\0-name\0averyverylongname\0"), n, sizeof(n)), -EINVAL);
    assert_int_equal(xpv_gm_vm_name(ARGS("q\0-m\0512\0"), n, sizeof(n)), -ENOENT);
    assert_int_equal(xpv_gm_vm_name(ARGS("q\0-name\0"), n, sizeof(n)), -EINVAL);
}

/* The ring's vCPU word: carried with XPV_CF_RING_F_VCPU, ignored without, refused when out of
 * range. */
static void test_ring_vcpu(void **state)
{
    (void)state;
    for (int flag = 0; flag < 2; flag++) {
        size_t len = xpv_cf_ring_size(16);
        void *m = calloc(1, len);
        assert_int_equal(xpv_cf_ring_init(m, len, 16, 7, 4096, flag ? XPV_CF_RING_F_VCPU : 0), 0);
        assert_int_equal(xpv_cf_ring_push_vcpu(m, 0x1000, 1, 2, 0, 3), 0);
        assert_int_equal(xpv_cf_ring_push_vcpu(m, 0x2000, 1, 2, 0, XPV_CF_RING_MAX_VCPU + 1), 0);
        struct xpv_cf_ring_reader rd;
        struct xpv_error err = {0};
        assert_int_equal(xpv_cf_ring_open(&rd, m, len, &err), 0);
        struct xpv_cf_ring_sample s[4];
        size_t n = xpv_cf_ring_pop(&rd, s, 4);
        assert_int_equal(n, flag ? 1 : 2);
        assert_int_equal(s[0].vcpu, flag ? 3 : 0);
        assert_int_equal(rd.bad, flag ? 1 : 0);
        free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_two_nodes), cmocka_unit_test(test_high_memory),
            cmocka_unit_test(test_refusals),  cmocka_unit_test(test_names),
            cmocka_unit_test(test_ring_vcpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
