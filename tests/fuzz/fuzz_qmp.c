/*
 * fuzz_qmp.c — libFuzzer target for the VM side's decoders of external bytes (xpv/qmp.h,
 * xpv/vmdesc.h). Byte 0 picks what the rest is:
 *   0  a QMP byte stream from "QEMU": the client opens (greeting, capabilities) and runs up to
 *      16 commands and pumps, over a socketpair whose far end holds the stream and then EOF
 *   1  /proc/PID/maps or smaps text, then located against backends drawn from the text
 *   2  /proc/PID/cmdline (NUL-separated)
 *   3  query-cpus-fast's return (JSON)
 *   4  HMP "info numa" text
 *   5  query-chardev's return (JSON); the label looked up is "ch0"
 * abort() on a violated contract: an error code outside the documented set, a call that
 * succeeds after the connection closed, counters that do not add up, a parser result out of
 * its bounds (vCPU node, path lengths, located address outside every mapping).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xpv/qmp.h"
#include "xpv/vmdesc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

#define MAX_STREAM (48u << 10) /* fits a socketpair's buffer: the writer never blocks */

static int allowed(int rc)
{
    return rc == 0 || rc == -EPROTO || rc == -EREMOTEIO || rc == -ECONNRESET;
}

static void fuzz_stream(const uint8_t *p, size_t n)
{
    int sv[2];
    if (n > MAX_STREAM || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return;
    if (n && write(sv[1], p, n) != (ssize_t)n) {
        close(sv[0]);
        close(sv[1]);
        return;
    }
    shutdown(sv[1], SHUT_WR); /* EOF after the stream; our commands still have room */
    struct xpv_qmp *q;
    struct xpv_error err = {0};
    int rc = xpv_qmp_open_fd(sv[0], 10000, &q, &err);
    CHECK(rc == 0 || rc == -EPROTO || rc == -EREMOTEIO || rc == -ECONNRESET || rc == -ENOMEM);
    CHECK(rc == 0 ? q != NULL : q == NULL);
    if (rc == 0) {
        int closed = 0;
        uint64_t calls = 1; /* qmp_capabilities */
        for (int i = 0; i < 16; i++) {
            json_t *ret = NULL;
            rc = i % 5 == 4 ? xpv_qmp_pump(q, &err)
                            : xpv_qmp_call(q, "query-status",
                                           i & 1 ? json_pack("{s:i}", "i", i) : NULL, &ret, &err);
            if (i % 5 != 4) {
                calls += !closed;
                CHECK(allowed(rc));
                CHECK(rc == 0 || ret == NULL);
                CHECK(rc != 0 || ret != NULL);
            } else {
                CHECK(rc >= 0 || rc == -ECONNRESET || rc == -EPROTO);
            }
            json_decref(ret);
            if (closed)
                CHECK(rc == -ECONNRESET);
            if (rc == -ECONNRESET)
                closed = 1;
        }
        CHECK(closed); /* the stream ends, so the connection must end too */
        struct xpv_qmp_stats st;
        xpv_qmp_get_stats(q, &st);
        CHECK(st.calls == calls);
        const char *names[XPV_QMP_EVENT_RING];
        unsigned ne = xpv_qmp_recent_events(q, names, XPV_QMP_EVENT_RING);
        CHECK(ne == (st.events < XPV_QMP_EVENT_RING ? st.events : XPV_QMP_EVENT_RING));
        for (unsigned i = 0; i < ne; i++)
            CHECK(strlen(names[i]) < 48);
        xpv_qmp_close(q);
    }
    close(sv[1]);
}

static void fuzz_maps(const uint8_t *p, size_t n)
{
    struct xpv_vm_map *maps;
    size_t nr;
    int rc = xpv_vm_maps_parse((const char *)p, n, &maps, &nr, NULL);
    CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
    if (rc)
        return;
    /* backends: the first mappings' sizes and paths, both file and anonymous kinds */
    struct xpv_vm_ram ram[4];
    memset(ram, 0, sizeof(ram));
    for (unsigned i = 0; i < 4; i++) {
        const struct xpv_vm_map *m = nr ? &maps[i % nr] : NULL;
        ram[i].size = m ? m->end - m->start : 4096;
        strcpy(ram[i].type, i & 1 ? "memory-backend-ram" : "memory-backend-memfd");
        if (m && i == 0 && m->path[0] == '/') {
            strcpy(ram[i].type, "memory-backend-file");
            strcpy(ram[i].mem_path, m->path);
        }
    }
    int unlocated = xpv_vm_ram_locate(maps, nr, ram, 4);
    CHECK(unlocated >= 0 && unlocated <= 4);
    int found = 0;
    for (unsigned i = 0; i < 4; i++) {
        CHECK(!(ram[i].flags & XPV_VM_RAM_HVA_AMBIGUOUS) || (ram[i].candidates > 1 && !ram[i].hva));
        if (ram[i].candidates == 1) {
            found++;
            int inside = 0;
            for (size_t k = 0; k < nr; k++)
                inside |= maps[k].start == ram[i].hva;
            CHECK(inside);
        }
    }
    CHECK(found == 4 - unlocated);
    for (size_t k = 0; k < nr; k++)
        CHECK(maps[k].start <= maps[k].end && strlen(maps[k].path) < sizeof(maps[k].path) &&
              maps[k].dontcopy >= -1 && maps[k].dontcopy <= 1);
    free(maps);
}

static void fuzz_cmdline(const uint8_t *p, size_t n)
{
    static struct xpv_vm_cmdline c;
    int rc = xpv_vm_cmdline_parse((const char *)p, n, &c, NULL);
    CHECK(rc == 0 || rc == -EINVAL || rc == -E2BIG || rc == -ENOMEM);
    if (rc)
        return;
    CHECK(c.nr_nodes <= XPV_VM_MAX_VNODES && c.nr_objects <= XPV_VM_MAX_RAM);
    for (unsigned i = 0; i < c.nr_nodes; i++)
        CHECK(c.node[i].nodeid >= 0 && c.node[i].nodeid < XPV_VM_MAX_VNODES &&
              strlen(c.node[i].memdev) < sizeof(c.node[i].memdev));
    for (unsigned i = 0; i < c.nr_objects; i++)
        CHECK(!strncmp(c.object[i].type, "memory-backend-", 15) && c.object[i].id[0]);
    for (unsigned i = 0; i < XPV_VM_MAX_VNODES; i++)
        for (unsigned j = 0; j < XPV_VM_MAX_VNODES; j++)
            CHECK(c.dist[i][j] <= 255 && (c.has_dist || !c.dist[i][j]));
}

static void fuzz_json(const uint8_t *p, size_t n, int which)
{
    json_t *j = json_loadb((const char *)p, n, JSON_DECODE_ANY, NULL);
    if (!j)
        return;
    if (which == 3) {
        static struct xpv_vm_desc d;
        int rc = xpv_vm_parse_cpus(j, &d, NULL);
        CHECK(rc == 0 || rc == -EPROTO || rc == -E2BIG);
        if (rc == 0) {
            CHECK(d.nr_vcpus <= XPV_VM_MAX_VCPUS);
            for (unsigned i = 0; i < d.nr_vcpus; i++)
                CHECK(d.vcpu[i].tid > 0 && d.vcpu[i].vnode >= -1 &&
                      d.vcpu[i].vnode < XPV_VM_MAX_VNODES);
        }
    } else {
        char path[64];
        int rc = xpv_vm_chardev_unix_path(j, "ch0", path, sizeof(path), NULL);
        CHECK(rc == 0 || rc == -EPROTO || rc == -ENOENT || rc == -EMEDIUMTYPE);
        if (rc == 0)
            CHECK(path[0] && strlen(path) < sizeof(path) && !strchr(path, ','));
    }
    json_decref(j);
}

static void fuzz_info_numa(const uint8_t *p, size_t n)
{
    char *t = malloc(n + 1);
    if (!t)
        return;
    memcpy(t, p, n);
    t[n] = '\0';
    unsigned nodes = 0;
    uint64_t mem[8];
    int rc = xpv_vm_parse_info_numa(t, &nodes, mem, 8, NULL);
    CHECK(rc == 0 || rc == -EPROTO || rc == -E2BIG);
    if (rc == 0)
        CHECK(nodes <= 8);
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 6) {
    case 0:
        fuzz_stream(p, n);
        break;
    case 1:
        fuzz_maps(p, n);
        break;
    case 2:
        fuzz_cmdline(p, n);
        break;
    case 3:
    case 5:
        fuzz_json(p, n, data[0] % 6);
        break;
    default:
        fuzz_info_numa(p, n);
        break;
    }
    return 0;
}
