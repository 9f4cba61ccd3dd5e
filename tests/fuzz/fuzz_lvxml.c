/*
 * fuzz_lvxml.c — libFuzzer target for hostd's reader of libvirt domain XML (hostd_lvxml.h):
 * the whole input is a domain XML as virDomainGetXMLDesc would return it (the operator's or a
 * tenant template's text, through libvirt), and its last 64 bytes, NUL-terminated, also a
 * libvirt cpuset string. abort() on a violated contract: an error other than -EINVAL/-ENOMEM,
 * a result out of its bounds (cells, vCPU counts, unterminated strings, a cell's vCPUs beyond
 * the limit). Seeded with the files of seeds/lvxml.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hostd_lvxml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

static void terminated(const char *s, size_t cap)
{
    CHECK(memchr(s, 0, cap) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct hostd_lvxml x;
    struct xpv_error err = {0};
    int rc = hostd_lvxml_parse((const char *)data, size, &x, &err);
    CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
    if (rc < 0) {
        CHECK(err.code == rc && err.msg[0]);
    } else {
        terminated(x.name, sizeof(x.name));
        terminated(x.uuid, sizeof(x.uuid));
        terminated(x.xpv_name, sizeof(x.xpv_name));
        terminated(x.xpv_nodes, sizeof(x.xpv_nodes));
        terminated(x.shmem_name, sizeof(x.shmem_name));
        terminated(x.channel_name, sizeof(x.channel_name));
        terminated(x.channel_path, sizeof(x.channel_path));
        CHECK(x.name[0] && !strchr(x.name, '/'));
        CHECK(!x.shmem_name[0] || !strchr(x.shmem_name, '/'));
        CHECK(!x.channel_path[0] || x.channel_path[0] == '/');
        CHECK(x.vcpu_current <= x.vcpu_max && x.vcpu_max <= XPV_LV_MAX_VCPUS);
        CHECK(x.nr_cells <= XPV_LV_MAX_CELLS);
        for (unsigned c = 0; c < x.nr_cells; c++) {
            CHECK(x.cell[c].id == c);
            for (unsigned b = XPV_LV_MAX_VCPUS; b < XPV_MAX_CPUS; b++)
                CHECK(!xpv_bitmap_isset(&x.cell[c].cpus, b));
        }
        for (unsigned v = 0; v < XPV_LV_MAX_VCPUS; v++) {
            int cell = hostd_lvxml_vcpu_cell(&x, v);
            CHECK(cell >= -1 && cell < (int)x.nr_cells);
        }
    }
    char s[65];
    size_t n = size < 64 ? size : 64;
    memcpy(s, data + size - n, n);
    s[n] = 0;
    struct xpv_bitmap b;
    rc = hostd_lvxml_cpuset(s, 128, &b);
    CHECK(rc == 0 || rc == -EINVAL);
    for (unsigned i = 128; rc == 0 && i < XPV_MAX_CPUS; i++)
        CHECK(!xpv_bitmap_isset(&b, i));
    return 0;
}
