/*
 * numa_record.h — the records tests/numa publishes: 4 nodes (ids 0-3, each backing its own
 * vNode, distance 10 locally and 20 + |i - j| between), every CPU of this machine placed, CPU c
 * on node (c + shift) % 4, so its effective node is that node (it holds memory there).
 */
#ifndef XPV_TESTS_NUMA_RECORD_H
#define XPV_TESTS_NUMA_RECORD_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tu_cmocka.h"
#include "xpv/publisher.h"

static unsigned tn_nr_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_CONF);
    return n < 1 ? 1 : n > 4096 ? 4096 : (unsigned)n;
}

static int tn_expected(unsigned cpu, unsigned shift)
{
    return (int)((cpu + shift) % 4);
}

static void tn_publish(struct xpv_publisher *p, unsigned shift)
{
    unsigned n = tn_nr_cpus();
    uint32_t ids[4] = {0, 1, 2, 3};
    uint16_t dist[16], *where = calloc(n, sizeof(*where));
    struct xpv_record_backing bk[4];
    assert_non_null(where);
    for (unsigned i = 0; i < 4; i++) {
        bk[i] = (struct xpv_record_backing){
                .vnode = (uint16_t)i, .pnode = (uint16_t)i, .bytes = 1u << 30};
        for (unsigned j = 0; j < 4; j++)
            dist[i * 4 + j] = (uint16_t)(i == j ? 10 : 20 + (i > j ? i - j : j - i));
    }
    for (unsigned c = 0; c < n; c++)
        where[c] = (uint16_t)tn_expected(c, shift);
    struct xpv_record_desc d = {.nr_pnodes = 4,
                                .nr_vnodes = 4,
                                .nr_cpus = n,
                                .nr_backing = 4,
                                .pnode_ids = ids,
                                .cpu_pnode = where,
                                .cpu_vnode = where,
                                .backing = bk,
                                .distance = dist};
    struct xpv_error err = {0};
    if (xpv_publisher_publish(p, &d, NULL, &err) < 0)
        fail_msg("publish: %s", err.msg);
    free(where);
}

/* A publisher on $XPV_RECORD (what the library under test reads), the file kept: the library
 * may have it mapped already, and the generation continues. */
static struct xpv_publisher *tn_publisher(void)
{
    const char *path = getenv("XPV_RECORD");
    if (!path || !*path)
        fail_msg("XPV_RECORD is not set (the CTest test sets it)");
    struct xpv_publisher *p = NULL;
    struct xpv_error err = {0};
    if (xpv_publisher_open(path, &p, &err) < 0)
        fail_msg("%s", err.msg);
    return p;
}

/*
 * With TN_PREPUBLISH=1 (the CTest test's environment): publish a first record at $XPV_RECORD
 * (a fresh file) and run this program again without the variable. So the record exists when
 * the program starts, as with a running xpv guestd: libnuma's constructor already calls
 * numa_max_node and numa_num_configured_nodes, ours, and a record missing then is looked for
 * again only a second later (docs/runtimes.md).
 */
static void tn_prepublish(char **argv)
{
    const char *pre = getenv("TN_PREPUBLISH"), *path = getenv("XPV_RECORD");
    if (!pre || !path)
        return;
    unlink(path);
    if (strcmp(pre, "corrupt") == 0) {
        /* TN_PREPUBLISH=corrupt: a record file whose generation says published (5) and whose
         * bytes are no record: nothing valid was ever published there */
        static unsigned char buf[XPV_RECORD_MAP_SIZE];
        buf[XPV_RECORD_OFF_GENERATION] = 5;
        FILE *f = fopen(path, "wx");
        if (!f || fwrite(buf, sizeof(buf), 1, f) != 1 || fclose(f) != 0) {
            perror(path);
            exit(1);
        }
        unsetenv("TN_PREPUBLISH");
        execv("/proc/self/exe", argv);
        perror("execv /proc/self/exe");
        exit(1);
    }
    struct xpv_publisher *p = NULL;
    struct xpv_error err = {0};
    if (xpv_publisher_open(path, &p, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    tn_publish(p, 0);
    xpv_publisher_close(p);
    unsetenv("TN_PREPUBLISH");
    execv("/proc/self/exe", argv);
    perror("execv /proc/self/exe");
    exit(1);
}

#endif
