/*
 * test_vm_parse.c — the pure parsers of xpv/vmdesc.h on fixture text: maps/smaps of a real
 * QEMU 7.2 (fixtures/README.md) and hand-made corner cases, QEMU command lines, sizes, and
 * the replies of query-cpus-fast, query-chardev and HMP "info numa" as QEMU 7.2 sends them.
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

#include "xpv/vmdesc.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 20];
    *len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return buf;
}

static struct xpv_vm_ram ram(const char *id, const char *type, uint64_t size, const char *path)
{
    struct xpv_vm_ram r;
    memset(&r, 0, sizeof(r));
    snprintf(r.id, sizeof(r.id), "%s", id);
    snprintf(r.type, sizeof(r.type), "%s", type);
    snprintf(r.mem_path, sizeof(r.mem_path), "%s", path);
    r.size = size;
    r.vnode = -1;
    return r;
}

#define M64 (64ull << 20)

static void fixture_backends(struct xpv_vm_ram *r)
{
    r[0] = ram("m0", "memory-backend-file", M64, "/dev/shm/xpvprobe-m0");
    r[1] = ram("m1", "memory-backend-ram", M64, "");
    r[2] = ram("m2", "memory-backend-ram", M64, "");
    r[3] = ram("m3", "memory-backend-memfd", M64, "");
}

static void test_smaps_real(void **state)
{
    (void)state;
    size_t len, nr;
    char *text = slurp("fixtures/qemu72-smaps.txt", &len);
    struct xpv_vm_map *maps;
    struct xpv_error err = {0};
    assert_int_equal(xpv_vm_maps_parse(text, len, &maps, &nr, &err), 0);
    assert_int_equal(nr, 20);
    assert_int_equal(maps[0].start, 0x5564bb3c9000ull);
    assert_int_equal(maps[0].end, 0x5564bb7d0000ull);
    assert_string_equal(maps[0].perms, "r--p");
    assert_string_equal(maps[0].path, "/usr/bin/qemu-system-x86_64");
    assert_int_equal(maps[1].offset, 0x407000);
    assert_int_equal(maps[0].dontcopy, 0);
    assert_string_equal(maps[12].path, "/memfd:memory-backend-memfd (deleted)");
    assert_string_equal(maps[19].path, "[stack]");
    /* QEMU's RAM carries "dc"; thread stacks do not */
    assert_int_equal(maps[13].dontcopy, 1);
    assert_int_equal(maps[8].dontcopy, 0);

    struct xpv_vm_ram r[4];
    fixture_backends(r);
    assert_int_equal(xpv_vm_ram_locate(maps, nr, r, 4), 2);
    assert_int_equal(r[0].hva, 0x7fb3fbfff000ull);
    assert_int_equal(r[0].flags, XPV_VM_RAM_HVA_BY_NAME);
    assert_int_equal(r[0].candidates, 1);
    /* m1 and m2: two unnamed 64 MiB RAM mappings, which is which cannot be known */
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(r[i].hva, 0);
        assert_int_equal(r[i].flags, XPV_VM_RAM_HVA_AMBIGUOUS);
        assert_int_equal(r[i].candidates, 2);
    }
    assert_int_equal(r[3].hva, 0x7fb3ef9ff000ull);
    assert_int_equal(r[3].flags, XPV_VM_RAM_HVA_BY_SIZE);

    /* with one of them alone it is unique */
    struct xpv_vm_ram one = ram("m1", "memory-backend-ram", M64, "");
    struct xpv_vm_map without[20];
    size_t k = 0;
    for (size_t i = 0; i < nr; i++)
        if (maps[i].start != 0x7fb3f7c00000ull)
            without[k++] = maps[i];
    assert_int_equal(xpv_vm_ram_locate(without, k, &one, 1), 0);
    assert_int_equal(one.hva, 0x7fb3f3a00000ull);
    assert_int_equal(one.flags, XPV_VM_RAM_HVA_BY_SIZE);
    free(maps);
}

static void test_maps_without_vmflags(void **state)
{
    (void)state;
    size_t len, nr;
    char *text = slurp("fixtures/qemu72-maps.txt", &len);
    struct xpv_vm_map *maps;
    assert_int_equal(xpv_vm_maps_parse(text, len, &maps, &nr, NULL), 0);
    assert_int_equal(nr, 20);
    for (size_t i = 0; i < nr; i++)
        assert_int_equal(maps[i].dontcopy, -1);
    /* an 8 MiB backend: without VmFlags the thread stacks of that size are candidates too */
    struct xpv_vm_ram r = ram("s", "memory-backend-ram", 8ull << 20, "");
    assert_int_equal(xpv_vm_ram_locate(maps, nr, &r, 1), 1);
    assert_int_equal(r.flags, XPV_VM_RAM_HVA_AMBIGUOUS);
    assert_true(r.candidates >= 2);
    free(maps);
    /* with smaps the stacks are excluded (no dc): nothing of that size is RAM */
    text = slurp("fixtures/qemu72-smaps.txt", &len);
    assert_int_equal(xpv_vm_maps_parse(text, len, &maps, &nr, NULL), 0);
    r = ram("s", "memory-backend-ram", 8ull << 20, "");
    assert_int_equal(xpv_vm_ram_locate(maps, nr, &r, 1), 1);
    assert_int_equal(r.candidates, 0);
    assert_int_equal(r.hva, 0);
    free(maps);
}

static void test_maps_corner_cases(void **state)
{
    (void)state;
    /* a file mapping split in two pieces (different protection), an unlinked file, spaces in
     * a path, CRLF, a blank line */
    static const char text[] =
            "7f0000000000-7f0000100000 rw-s 00000000 00:1b 4   /dev/shm/a b\r\n"
            "7f0000100000-7f0000400000 r--s 00100000 00:1b 4   /dev/shm/a b\n"
            "\n"
            "7f1000000000-7f1000200000 rw-s 00000000 00:1b 5   /dev/shm/gone (deleted)\n"
            "7f2000000000-7f2000100000 rw-s 00000000 00:1b 6   /dev/shm/short\n"
            "7f3000000000-7f3000100000 rw-s 00000000 00:1b 7   /dev/shm/twice\n"
            "7f3000200000-7f3000300000 rw-s 00000000 00:1b 7   /dev/shm/twice\n"
            "7f4000000000-7f4000100000 rw-s 00000000 00:01 8   /dev/zero (deleted)\n";
    struct xpv_vm_map *maps;
    size_t nr;
    assert_int_equal(xpv_vm_maps_parse(text, sizeof(text) - 1, &maps, &nr, NULL), 0);
    assert_int_equal(nr, 7);
    assert_string_equal(maps[0].path, "/dev/shm/a b");
    struct xpv_vm_ram r[5] = {
            ram("a", "memory-backend-file", 4ull << 20, "/dev/shm/a b"),
            ram("g", "memory-backend-file", 2ull << 20, "/dev/shm/gone"),
            ram("s", "memory-backend-file", 2ull << 20, "/dev/shm/short"),
            ram("t", "memory-backend-file", 1ull << 20, "/dev/shm/twice"),
            ram("z", "memory-backend-ram", 1ull << 20, ""), /* share=on anonymous */
    };
    assert_int_equal(xpv_vm_ram_locate(maps, nr, r, 5), 1);
    assert_int_equal(r[0].hva, 0x7f0000000000ull);
    assert_int_equal(r[0].flags, XPV_VM_RAM_HVA_BY_NAME); /* both pieces: not short */
    assert_int_equal(r[1].hva, 0x7f1000000000ull);
    assert_int_equal(r[2].flags, XPV_VM_RAM_HVA_BY_NAME | XPV_VM_RAM_SHORT);
    assert_int_equal(r[3].flags, XPV_VM_RAM_HVA_AMBIGUOUS);
    assert_int_equal(r[3].hva, 0);
    assert_int_equal(r[4].hva, 0x7f4000000000ull);
    /* a prefix of a path is not the path */
    struct xpv_vm_ram p = ram("p", "memory-backend-file", 1ull << 20, "/dev/shm/a");
    assert_int_equal(xpv_vm_ram_locate(maps, nr, &p, 1), 1);
    assert_int_equal(p.candidates, 0);
    free(maps);

    static const char *const bad[] = {
            "7f00-7e00 rw-p 0 00:00 0\n",         /* end before start */
            "7f00-7f10 rw-q 0 00:00 0\n",         /* perms */
            "7f00-7f10 rw-p\n",                   /* truncated */
            "7f00 rw-p 0 00:00 0\n",              /* no range */
            "7f00-7f10 rw-p 0 00:00 x\n",         /* inode */
            "Size: 4 kB\nnot a line at all\n",    /* junk */
            "12345678901234567-2 rw-p 0 0:0 0\n", /* overflow */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct xpv_error err = {0};
        maps = (struct xpv_vm_map *)1;
        assert_int_equal(xpv_vm_maps_parse(bad[i], strlen(bad[i]), &maps, &nr, &err), -EINVAL);
        assert_null(maps);
        assert_non_null(strstr(err.msg, "line"));
    }
}

static void test_size(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(xpv_vm_parse_size("4096", &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(xpv_vm_parse_size("128M", &v), 0);
    assert_int_equal(v, 128ull << 20);
    assert_int_equal(xpv_vm_parse_size("2g", &v), 0);
    assert_int_equal(v, 2ull << 30);
    assert_int_equal(xpv_vm_parse_size("1.5G", &v), 0);
    assert_int_equal(v, 3ull << 29);
    assert_int_equal(xpv_vm_parse_size("16E", &v), -ERANGE);
    assert_int_equal(xpv_vm_parse_size("12X", &v), -EINVAL);
    assert_int_equal(xpv_vm_parse_size("M", &v), -EINVAL);
    assert_int_equal(xpv_vm_parse_size("1.5", &v), -EINVAL);
    assert_int_equal(xpv_vm_parse_size("1MB", &v), -EINVAL);
    assert_int_equal(xpv_vm_parse_size("-1", &v), -EINVAL);
}

/* argv joined with NULs, as /proc/PID/cmdline holds it */
static size_t join(const char *const *argv, char *buf, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; argv[i]; i++) {
        size_t l = strlen(argv[i]) + 1;
        assert_true(n + l <= cap);
        memcpy(buf + n, argv[i], l);
        n += l;
    }
    return n;
}

static void test_cmdline(void **state)
{
    (void)state;
    static const char *const argv[] = {
            "qemu-system-x86_64",
            "-accel",
            "tcg",
            "-name",
            "vm,debug-threads=on",
            "-object",
            "memory-backend-file,id=m0,size=128M,mem-path=/dev/shm/a,,b,share=on",
            "-object",
            "memory-backend-ram,id=m1,size=1G",
            "--object",
            "{\"qom-type\":\"memory-backend-ram\",\"id\":\"m2\",\"size\":4096}",
            "-object",
            "{\"qom-type\":\"memory-backend-file\",\"id\":\"m3\",\"size\":\"2M\","
            "\"mem-path\":\"/dev/shm/j\"}",
            "-object",
            "rng-random,id=rng0,filename=/dev/urandom", /* not memory */
            "-numa",
            "node,nodeid=0,cpus=0-1,memdev=m0",
            "-numa",
            "node,cpus=2-3,memdev=m1", /* nodeid defaults to the next: 1 */
            "-numa",
            "node,nodeid=3", /* memoryless */
            "-numa",
            "cpu,node-id=0,socket-id=0",
            "-numa",
            "dist,src=0,dst=1,val=21",
            "-numa",
            "dist,src=0,dst=3,val=31",
            "-numa",
            "dist,src=3,dst=1,val=41",
            "-machine",
            "pc,memory-backend=m9,accel=tcg",
            "-numa", /* the last argument may lack its value */
            NULL,
    };
    char buf[2048];
    size_t n = join(argv, buf, sizeof(buf));
    struct xpv_vm_cmdline *c = malloc(sizeof(*c));
    struct xpv_error err = {0};
    assert_int_equal(xpv_vm_cmdline_parse(buf, n - 1 /* no final NUL */, c, &err), 0);
    assert_int_equal(c->nr_objects, 4);
    assert_string_equal(c->object[0].id, "m0");
    assert_string_equal(c->object[0].type, "memory-backend-file");
    assert_string_equal(c->object[0].mem_path, "/dev/shm/a,b");
    assert_int_equal(c->object[0].size, 128ull << 20);
    assert_int_equal(c->object[1].size, 1ull << 30);
    assert_string_equal(c->object[2].id, "m2");
    assert_int_equal(c->object[2].size, 4096);
    assert_string_equal(c->object[3].mem_path, "/dev/shm/j");
    assert_int_equal(c->object[3].size, 2ull << 20);
    assert_int_equal(c->nr_nodes, 3);
    assert_int_equal(c->node[0].nodeid, 0);
    assert_string_equal(c->node[0].memdev, "m0");
    assert_int_equal(c->node[1].nodeid, 1);
    assert_string_equal(c->node[1].memdev, "m1");
    assert_int_equal(c->node[2].nodeid, 3);
    assert_string_equal(c->node[2].memdev, "");
    assert_true(c->has_dist);
    assert_int_equal(c->dist[0][1], 21);
    assert_int_equal(c->dist[1][0], 21); /* mirrored */
    assert_int_equal(c->dist[3][0], 31);
    assert_int_equal(c->dist[1][3], 41);
    assert_int_equal(c->dist[0][0], 10);
    assert_int_equal(c->dist[3][3], 10);
    assert_int_equal(c->dist[2][2], 0); /* no node 2 */
    assert_string_equal(c->machine_memdev, "m9");

    /* no -numa dist: nothing set */
    static const char *const plain[] = {"qemu", "-m", "1G", NULL};
    n = join(plain, buf, sizeof(buf));
    assert_int_equal(xpv_vm_cmdline_parse(buf, n, c, &err), 0);
    assert_false(c->has_dist);
    assert_int_equal(c->nr_nodes + c->nr_objects, 0);

    static const char *const bad[][3] = {
            {"-numa", "node,nodeid=64", NULL},
            {"-numa", "node,nodeid=x", NULL},
            {"-numa", "dist,src=0,dst=1", NULL},
            {"-numa", "dist,src=0,dst=1,val=300", NULL},
            {"-object", "memory-backend-ram,size=1G", NULL}, /* no id */
            {"-object", "memory-backend-ram,id=a,size=lots", NULL},
            {"-object", "{\"qom-type\": \"memory-backend-ram\"", NULL},
            {"-object", "{\"id\": \"x\"}", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = join(bad[i], buf, sizeof(buf));
        memset(&err, 0, sizeof(err));
        assert_int_equal(xpv_vm_cmdline_parse(buf, n, c, &err), -EINVAL);
        assert_true(err.msg[0]);
    }
    free(c);
}

static void test_cpus(void **state)
{
    (void)state;
    /* QEMU 7.2's reply (fields as on this machine) */
    json_t *r = json_loads(
            "[{\"thread-id\": 8143, \"props\": {\"core-id\": 0, \"thread-id\": 0, \"node-id\": 0, "
            "\"socket-id\": 0}, \"qom-path\": \"/machine/unattached/device[0]\", \"cpu-index\": 0, "
            "\"target\": \"x86_64\"}, {\"thread-id\": 8145, \"props\": {\"core-id\": 2, "
            "\"thread-id\": 0, \"node-id\": 1, \"socket-id\": 0}, \"qom-path\": "
            "\"/machine/unattached/device[3]\", \"cpu-index\": 2, \"target\": \"x86_64\"}, "
            "{\"thread-id\": 8146, \"props\": {\"core-id\": 3}, \"cpu-index\": 3}]",
            0, NULL);
    assert_non_null(r);
    struct xpv_vm_desc *d = calloc(1, sizeof(*d));
    assert_int_equal(xpv_vm_parse_cpus(r, d, NULL), 0);
    assert_int_equal(d->nr_vcpus, 3);
    assert_int_equal(d->vcpu[0].tid, 8143);
    assert_int_equal(d->vcpu[1].index, 2);
    assert_int_equal(d->vcpu[1].vnode, 1);
    assert_int_equal(d->vcpu[2].vnode, -1); /* no node-id: no vNUMA */
    json_decref(r);
    static const char *const bad[] = {
            "{}",
            "[{\"cpu-index\": 0}]",
            "[{\"cpu-index\": -1, \"thread-id\": 5}]",
            "[{\"cpu-index\": 0, \"thread-id\": 0}]",
            "[{\"cpu-index\": 0, \"thread-id\": 5, \"props\": {\"node-id\": 64}}]",
            "[{\"cpu-index\": 0, \"thread-id\": 5, \"props\": {\"node-id\": \"0\"}}]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = json_loads(bad[i], 0, NULL);
        assert_non_null(r);
        assert_int_equal(xpv_vm_parse_cpus(r, d, NULL), -EPROTO);
        json_decref(r);
    }
    free(d);
}

static void test_info_numa(void **state)
{
    (void)state;
    unsigned n = 99;
    uint64_t mem[4];
    /* QEMU 7.2's text, \r\n included */
    assert_int_equal(xpv_vm_parse_info_numa("2 nodes\r\nnode 0 cpus: 0 1\r\nnode 0 size: 128 MB"
                                            "\r\nnode 0 plugged: 0 MB\r\nnode 1 cpus: 2 3\r\n"
                                            "node 1 size: 64 MB\r\nnode 1 plugged: 0 MB\r\n",
                                            &n, mem, 4, NULL),
                     0);
    assert_int_equal(n, 2);
    assert_int_equal(mem[0], 128ull << 20);
    assert_int_equal(mem[1], 64ull << 20);
    assert_int_equal(xpv_vm_parse_info_numa("0 nodes\r\n", &n, mem, 4, NULL), 0);
    assert_int_equal(n, 0);
    assert_int_equal(xpv_vm_parse_info_numa("5 nodes\r\n", &n, mem, 4, NULL), -E2BIG);
    assert_int_equal(xpv_vm_parse_info_numa("hello\r\n", &n, mem, 4, NULL), -EPROTO);
    assert_int_equal(xpv_vm_parse_info_numa("1 nodes\nnode 3 size: 1 MB\n", &n, mem, 4, NULL),
                     -EPROTO);
    assert_int_equal(xpv_vm_parse_info_numa("1 nodes\nnode 0 size: 1 GB\n", &n, mem, 4, NULL),
                     -EPROTO);
}

static void test_chardev(void **state)
{
    (void)state;
    json_t *r = json_loads(
            "[{\"frontend-open\": true, \"filename\": \"unix:/tmp/q.sock,server=on\", \"label\": "
            "\"compat_monitor0\"}, {\"frontend-open\": false, \"filename\": "
            "\"disconnected:unix:/tmp/ser.sock,server=on\", \"label\": \"ch0\"}, "
            "{\"filename\": \"pty:/dev/pts/3\", \"label\": \"pty0\"}, {\"label\": \"nofile\"}]",
            0, NULL);
    char path[64];
    assert_int_equal(xpv_vm_chardev_unix_path(r, "ch0", path, sizeof(path), NULL), 0);
    assert_string_equal(path, "/tmp/ser.sock");
    assert_int_equal(xpv_vm_chardev_unix_path(r, "compat_monitor0", path, sizeof(path), NULL), 0);
    assert_string_equal(path, "/tmp/q.sock");
    assert_int_equal(xpv_vm_chardev_unix_path(r, "pty0", path, sizeof(path), NULL), -EMEDIUMTYPE);
    assert_int_equal(xpv_vm_chardev_unix_path(r, "nofile", path, sizeof(path), NULL), -EPROTO);
    assert_int_equal(xpv_vm_chardev_unix_path(r, "ch9", path, sizeof(path), NULL), -ENOENT);
    assert_int_equal(xpv_vm_chardev_unix_path(r, "ch0", path, 5, NULL), -EPROTO);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_smaps_real),        cmocka_unit_test(test_maps_without_vmflags),
            cmocka_unit_test(test_maps_corner_cases), cmocka_unit_test(test_size),
            cmocka_unit_test(test_cmdline),           cmocka_unit_test(test_cpus),
            cmocka_unit_test(test_info_numa),         cmocka_unit_test(test_chardev),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
