/*
 * test_lvxml.c — hostd's reader of libvirt domain XML (hostd_lvxml.h): a live XML as libvirt
 * 9.0 returns it (the fuzz seed tests/fuzz/seeds/lvxml/live.xml), the opt-in element only in
 * its own namespace, and the refusals: a DOCTYPE (entities), malformed XML, sizes and paths
 * libvirt never writes; libvirt's cpuset syntax.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hostd_lvxml.h"

static struct hostd_lvxml x;

static int parse(const char *xml, struct xpv_error *err)
{
    return hostd_lvxml_parse(xml, strlen(xml), &x, err);
}

static void test_live(void **state)
{
    (void)state;
    FILE *f = fopen(XPV_SEEDS "/live.xml", "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    struct xpv_error err = {0};
    assert_int_equal(hostd_lvxml_parse(buf, n, &x, &err), 0);
    assert_string_equal(x.name, "t1");
    assert_string_equal(x.uuid, "b0a93879-dd1c-4925-af2a-2b01c0c5551b");
    assert_true(x.xpv);
    assert_string_equal(x.xpv_name, "web-1");
    assert_string_equal(x.xpv_nodes, "0,2-3");
    assert_int_equal(x.vcpu_max, 4);
    assert_int_equal(x.vcpu_current, 2);
    assert_int_equal(x.nr_cells, 2);
    assert_int_equal(x.cell[0].mem, 64u << 20);
    assert_int_equal(x.cell[1].mem, 64u << 20);
    assert_int_equal(hostd_lvxml_vcpu_cell(&x, 0), 0);
    assert_int_equal(hostd_lvxml_vcpu_cell(&x, 1), 1);
    assert_int_equal(hostd_lvxml_vcpu_cell(&x, 2), 0); /* 1-3,^2 leaves 2 to cell 0 */
    assert_int_equal(hostd_lvxml_vcpu_cell(&x, 3), 1);
    assert_int_equal(hostd_lvxml_vcpu_cell(&x, 4), -1);
    assert_true(x.mem_file);
    assert_true(x.mem_shared);
    assert_true(x.acpi);
    assert_string_equal(x.shmem_name, "xpv-vm-t1");
    assert_int_equal(x.shmem_size, 1u << 20);
    assert_string_equal(x.channel_name, "org.xpv.topology");
    assert_string_equal(x.channel_path,
                        "/var/lib/libvirt/qemu/channel/target/domain-2-t1/org.xpv.topology");
    assert_true(x.taint_custom);
}

static void test_opt_in_namespace(void **state)
{
    (void)state;
    struct xpv_error err = {0};
    assert_int_equal(parse("<domain><name>a</name></domain>", &err), 0);
    assert_false(x.xpv);
    /* the element's name in another namespace is not the opt-in */
    assert_int_equal(parse("<domain><name>a</name><metadata><o:vm xmlns:o='urn:other'/>"
                           "</metadata></domain>",
                           &err),
                     0);
    assert_false(x.xpv);
    assert_int_equal(parse("<domain><name>a</name><metadata><vm/></metadata></domain>", &err), 0);
    assert_false(x.xpv);
    assert_int_equal(parse("<domain><name>a</name><metadata><p:vm xmlns:p='" XPV_LV_NS
                           "'/></metadata></domain>",
                           &err),
                     0);
    assert_true(x.xpv);
    assert_false(x.taint_custom);
    assert_int_equal(parse("<domain><name>a</name><metadata><p:vm xmlns:p='" XPV_LV_NS
                           "'/><q:vm xmlns:q='" XPV_LV_NS "'/></metadata></domain>",
                           &err),
                     -EINVAL);
    assert_non_null(strstr(err.msg, "two xpv:vm"));
    assert_int_equal(parse("<domain><name>a</name><metadata><p:vm xmlns:p='" XPV_LV_NS
                           "' nodes='0;1'/></metadata></domain>",
                           &err),
                     -EINVAL);
    assert_non_null(strstr(err.msg, "nodes='0;1'"));
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *xml, *msg;
    } bad[] = {
            {"<!DOCTYPE domain [<!ENTITY a 'aaaa'>]><domain><name>&a;</name></domain>", "DOCTYPE"},
            {"<domain><name>a</name>", "domain XML:"},
            {"<dom><name>a</name></dom>", "not <domain>"},
            {"<domain></domain>", "<name>"},
            {"<domain><name>a/b</name></domain>", "<name>"},
            {"<domain><name>a</name><uuid>zz</uuid></domain>", "UUID"},
            {"<domain><name>a</name><vcpu>0</vcpu></domain>", "<vcpu>"},
            {"<domain><name>a</name><vcpu current='5'>4</vcpu></domain>", "current"},
            {"<domain><name>a</name><vcpu>257</vcpu></domain>", "<vcpu>"},
            {"<domain><name>a</name><cpu><numa><cell id='0' cpus='0' memory='1' "
             "unit='parsecs'/></numa></cpu></domain>",
             "memory/unit"},
            {"<domain><name>a</name><cpu><numa><cell id='1' cpus='0' memory='1'/></numa></cpu>"
             "</domain>",
             "in order"},
            {"<domain><name>a</name><cpu><numa><cell id='0' cpus='0-999' memory='1'/></numa>"
             "</cpu></domain>",
             "cpus"},
            {"<domain><name>a</name><cpu><numa><cell id='0' cpus='0' "
             "memory='99999999999999999999'/></numa></cpu></domain>",
             "memory/unit"},
            {"<domain><name>a</name><devices><channel type='unix'><source path='rel/x'/>"
             "<target type='virtio' name='org.xpv.topology'/></channel></devices></domain>",
             "absolute"},
            {"<domain><name>a</name><devices><shmem name='../x'><model type='ivshmem-plain'/>"
             "</shmem></devices></domain>",
             "<shmem"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct xpv_error err = {0};
        int rc = parse(bad[i].xml, &err);
        if (rc != -EINVAL || !strstr(err.msg, bad[i].msg))
            fail_msg("case %zu: rc %d, '%s' (wanted -EINVAL with '%s')", i, rc, err.msg,
                     bad[i].msg);
    }
    /* an oversized document is refused before parsing */
    struct xpv_error err = {0};
    assert_int_equal(hostd_lvxml_parse("<domain/>", XPV_LV_MAX_XML + 1, &x, &err), -EINVAL);
}

static void test_cpuset(void **state)
{
    (void)state;
    struct xpv_bitmap b;
    assert_int_equal(hostd_lvxml_cpuset("0-3,^2,8", 16, &b), 0);
    assert_int_equal(xpv_bitmap_weight(&b), 4);
    assert_true(xpv_bitmap_isset(&b, 3) && !xpv_bitmap_isset(&b, 2) && xpv_bitmap_isset(&b, 8));
    static const char *const bad[] = {"", "3-1", "16", "a", "1,,", "1-", "^", "0 1", "-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (hostd_lvxml_cpuset(bad[i], 16, &b) != -EINVAL)
            fail_msg("'%s' accepted", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_live),
            cmocka_unit_test(test_opt_in_namespace),
            cmocka_unit_test(test_refusals),
            cmocka_unit_test(test_cpuset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
