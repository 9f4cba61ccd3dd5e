/*
 * ops_linux.c — the kernel's implementation of the ops table (xpv/ops.h), through libnuma's
 * <numaif.h> syscall wrappers and glibc's affinity calls.
 *
 * Node ids are checked against the topology given at creation so that a policy asking for a
 * node the machine lacks gets -ENODEV with nothing done, instead of the kernel's EINVAL (mbind)
 * or a half-applied batch. Everything else — permissions, vanished pids (-ESRCH), pages that
 * cannot move (per-page status) — is the kernel's answer, passed through.
 */
#define _GNU_SOURCE
#include "xpv/ops.h"

#include <errno.h>
#include <numaif.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* The kernel's nodemask arguments take "maxnode" bits; it reads maxnode - 1 of them. */
#define KERNEL_MASK_BITS  1024
#define KERNEL_MASK_WORDS (KERNEL_MASK_BITS / (8 * sizeof(unsigned long)))

struct linux_ctx {
    struct xpv_ops ops;
    struct xpv_bitmap nodes; /* node ids the machine has */
    struct xpv_bitmap cpus;  /* online CPUs */
};

static int check_nodes(const struct linux_ctx *c, const struct xpv_bitmap *nodes)
{
    return xpv_bitmap_subset(nodes, &c->nodes) ? 0 : -ENODEV;
}

static void to_kernel_mask(const struct xpv_bitmap *b, unsigned long *mask)
{
    memset(mask, 0, KERNEL_MASK_WORDS * sizeof(unsigned long));
    for (int n = xpv_bitmap_next(b, 0); n >= 0 && n < KERNEL_MASK_BITS;
         n = xpv_bitmap_next(b, (unsigned)n + 1))
        mask[(unsigned)n / (8 * sizeof(unsigned long))] |=
                1UL << ((unsigned)n % (8 * sizeof(unsigned long)));
}

static long lx_move_pages(void *ctx, pid_t pid, unsigned long count, void *const *pages,
                          const int *nodes, int *status, unsigned flags)
{
    const struct linux_ctx *c = ctx;
    if (nodes)
        for (unsigned long i = 0; i < count; i++)
            if (nodes[i] < 0 || !xpv_bitmap_isset(&c->nodes, (unsigned)nodes[i]))
                return -ENODEV;
    long rc = move_pages(pid, count, (void **)pages, nodes, status, (int)flags);
    return rc < 0 ? -errno : rc;
}

static int lx_mbind(void *ctx, void *addr, unsigned long len, int mode,
                    const struct xpv_bitmap *nodes, unsigned flags)
{
    unsigned long mask[KERNEL_MASK_WORDS];
    int rc;
    if (nodes && (rc = check_nodes(ctx, nodes)) < 0)
        return rc;
    if (nodes)
        to_kernel_mask(nodes, mask);
    rc = (int)mbind(addr, len, mode, nodes ? mask : NULL, nodes ? KERNEL_MASK_BITS + 1 : 0, flags);
    return rc < 0 ? -errno : 0;
}

static long lx_migrate_pages(void *ctx, pid_t pid, const struct xpv_bitmap *from,
                             const struct xpv_bitmap *to)
{
    unsigned long f[KERNEL_MASK_WORDS], t[KERNEL_MASK_WORDS];
    int rc;
    if ((rc = check_nodes(ctx, from)) < 0 || (rc = check_nodes(ctx, to)) < 0)
        return rc;
    to_kernel_mask(from, f);
    to_kernel_mask(to, t);
    long moved = migrate_pages(pid, KERNEL_MASK_BITS + 1, f, t);
    return moved < 0 ? -errno : moved;
}

static int lx_set_affinity(void *ctx, pid_t tid, const struct xpv_bitmap *cpus)
{
    const struct linux_ctx *c = ctx;
    if (xpv_bitmap_empty(cpus) || !xpv_bitmap_subset(cpus, &c->cpus))
        return -EINVAL;
    cpu_set_t *set = CPU_ALLOC(XPV_MAX_CPUS);
    if (!set)
        return -ENOMEM;
    size_t size = CPU_ALLOC_SIZE(XPV_MAX_CPUS);
    CPU_ZERO_S(size, set);
    for (int cpu = xpv_bitmap_next(cpus, 0); cpu >= 0;
         cpu = xpv_bitmap_next(cpus, (unsigned)cpu + 1))
        CPU_SET_S((size_t)cpu, size, set);
    int rc = sched_setaffinity(tid, size, set);
    int e = errno;
    CPU_FREE(set);
    return rc < 0 ? -e : 0;
}

static int lx_get_affinity(void *ctx, pid_t tid, struct xpv_bitmap *cpus)
{
    (void)ctx;
    cpu_set_t *set = CPU_ALLOC(XPV_MAX_CPUS);
    if (!set)
        return -ENOMEM;
    size_t size = CPU_ALLOC_SIZE(XPV_MAX_CPUS);
    int rc = sched_getaffinity(tid, size, set);
    int e = errno;
    if (rc == 0) {
        xpv_bitmap_zero(cpus);
        for (unsigned cpu = 0; cpu < XPV_MAX_CPUS; cpu++)
            if (CPU_ISSET_S(cpu, size, set))
                xpv_bitmap_set(cpus, cpu);
    }
    CPU_FREE(set);
    return rc < 0 ? -e : 0;
}

static int lx_get_mempolicy(void *ctx, int *mode, struct xpv_bitmap *nodes, void *addr,
                            unsigned flags)
{
    (void)ctx;
    unsigned long mask[KERNEL_MASK_WORDS + 1];
    long rc =
            get_mempolicy(mode, nodes ? mask : NULL, nodes ? KERNEL_MASK_BITS + 1 : 0, addr, flags);
    if (rc < 0)
        return -errno;
    if (nodes) {
        xpv_bitmap_zero(nodes);
        for (unsigned n = 0; n < XPV_MAX_NODES; n++)
            if (mask[n / (8 * sizeof(unsigned long))] >> (n % (8 * sizeof(unsigned long))) & 1)
                xpv_bitmap_set(nodes, n);
    }
    return 0;
}

static void lx_destroy(void *ctx)
{
    free(ctx);
}

struct xpv_ops *xpv_ops_linux_new(const struct xpv_topo *t, struct xpv_error *err)
{
    struct linux_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        xpv_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    xpv_topo_nodeset(t, &c->nodes);
    c->cpus = t->cpus_online;
    c->ops = (struct xpv_ops){
            .name = "linux",
            .ctx = c,
            .move_pages = lx_move_pages,
            .mbind = lx_mbind,
            .migrate_pages = lx_migrate_pages,
            .set_affinity = lx_set_affinity,
            .get_affinity = lx_get_affinity,
            .get_mempolicy = lx_get_mempolicy,
            .destroy = lx_destroy,
    };
    return &c->ops;
}
