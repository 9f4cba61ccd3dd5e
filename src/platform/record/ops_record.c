/*
 * ops_record.c — the recording ops table (xpv/ops_record.h).
 *
 * The page model is an open-addressing hash of (pid, page address) → node, grown at 50 %
 * load; affinities and dead pids are short arrays (a test or a dry run names few threads).
 * Validation mirrors ops_linux.c so that code tested here fails the same way on a machine.
 */
#include "xpv/ops_record.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct page_slot {
    uintptr_t page; /* 0 = empty slot (page 0 is never mapped) */
    pid_t pid;
    int node;
};

struct affinity {
    pid_t tid;
    struct xpv_bitmap cpus;
};

struct record_ctx {
    struct xpv_ops ops;
    struct xpv_bitmap nodes, mem_nodes, cpus;
    int default_node;

    struct xpv_op_call *calls;
    size_t nr_calls, cap_calls;

    struct page_slot *pages;
    size_t nr_pages, cap_pages; /* cap is a power of two */

    struct affinity *aff;
    size_t nr_aff;
    pid_t *dead;
    size_t nr_dead;
    int fail[XPV_OP__COUNT];
};

static struct record_ctx *ctx_of(const struct xpv_ops *ops)
{
    return (struct record_ctx *)ops->ctx;
}

static size_t page_hash(pid_t pid, uintptr_t page)
{
    uint64_t h = ((uint64_t)page >> 12) * UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)(uint32_t)pid;
    return (size_t)(h ^ (h >> 29));
}

static struct page_slot *page_find(const struct record_ctx *c, pid_t pid, uintptr_t page)
{
    if (!c->cap_pages)
        return NULL;
    for (size_t i = page_hash(pid, page) & (c->cap_pages - 1);; i = (i + 1) & (c->cap_pages - 1)) {
        struct page_slot *s = &c->pages[i];
        if (!s->page)
            return NULL;
        if (s->page == page && s->pid == pid)
            return s;
    }
}

static int page_put(struct record_ctx *c, pid_t pid, uintptr_t page, int node)
{
    struct page_slot *s = page_find(c, pid, page);
    if (s) {
        s->node = node;
        return 0;
    }
    if ((c->nr_pages + 1) * 2 > c->cap_pages) {
        size_t cap = c->cap_pages ? c->cap_pages * 2 : 1024;
        struct page_slot *old = c->pages, *tab = calloc(cap, sizeof(*tab));
        if (!tab)
            return -ENOMEM;
        size_t old_cap = c->cap_pages;
        c->pages = tab;
        c->cap_pages = cap;
        c->nr_pages = 0;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].page)
                page_put(c, old[i].pid, old[i].page, old[i].node);
        free(old);
    }
    size_t i = page_hash(pid, page) & (c->cap_pages - 1);
    while (c->pages[i].page)
        i = (i + 1) & (c->cap_pages - 1);
    c->pages[i] = (struct page_slot){.page = page, .pid = pid, .node = node};
    c->nr_pages++;
    return 0;
}

static int page_node(const struct record_ctx *c, pid_t pid, uintptr_t page)
{
    const struct page_slot *s = page_find(c, pid, page & ~(uintptr_t)4095);
    if (s)
        return s->node;
    return c->default_node >= 0 ? c->default_node : -ENOENT;
}

static bool is_dead(const struct record_ctx *c, pid_t pid)
{
    for (size_t i = 0; i < c->nr_dead; i++)
        if (c->dead[i] == pid)
            return true;
    return false;
}

/* Log a call; returns the injected failure for this kind (consumed) or 0. */
static int log_call(struct record_ctx *c, struct xpv_op_call call, int *slot)
{
    *slot = -1;
    if (c->nr_calls == c->cap_calls) {
        size_t cap = c->cap_calls ? c->cap_calls * 2 : 64;
        struct xpv_op_call *n = realloc(c->calls, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        c->calls = n;
        c->cap_calls = cap;
    }
    *slot = (int)c->nr_calls;
    c->calls[c->nr_calls++] = call;
    int f = c->fail[call.kind];
    c->fail[call.kind] = 0;
    if (!f && is_dead(c, call.pid))
        f = -ESRCH;
    return f;
}

static long finish(struct record_ctx *c, int slot, long rc)
{
    if (slot >= 0)
        c->calls[slot].rc = (int)rc;
    return rc;
}

static long rec_move_pages(void *ctx, pid_t pid, unsigned long count, void *const *pages,
                           const int *nodes, int *status, unsigned flags)
{
    struct record_ctx *c = ctx;
    int slot;
    struct xpv_op_call call = {.kind = XPV_OP_MOVE_PAGES,
                               .pid = pid,
                               .count = count,
                               .node = nodes && count ? nodes[0] : -1,
                               .flags = flags,
                               .addr = count ? pages[0] : NULL};
    long rc = log_call(c, call, &slot);
    if (rc)
        return finish(c, slot, rc);
    if (nodes)
        for (unsigned long i = 0; i < count; i++)
            if (nodes[i] < 0 || !xpv_bitmap_isset(&c->nodes, (unsigned)nodes[i]))
                return finish(c, slot, -ENODEV);
    long failed = 0;
    for (unsigned long i = 0; i < count; i++) {
        uintptr_t page = (uintptr_t)pages[i] & ~(uintptr_t)4095;
        if (!nodes) {
            status[i] = page_node(c, pid, page);
            continue;
        }
        if (!xpv_bitmap_isset(&c->mem_nodes, (unsigned)nodes[i])) {
            status[i] = -ENOMEM; /* the kernel cannot place pages on a memory-less node */
            failed++;
            continue;
        }
        if (!page || page_put(c, pid, page, nodes[i]) < 0) {
            status[i] = -EFAULT;
            failed++;
            continue;
        }
        status[i] = nodes[i];
    }
    return finish(c, slot, failed);
}

static int rec_mbind(void *ctx, void *addr, unsigned long len, int mode,
                     const struct xpv_bitmap *nodes, unsigned flags)
{
    struct record_ctx *c = ctx;
    int slot;
    struct xpv_op_call call = {
            .kind = XPV_OP_MBIND, .addr = addr, .count = len, .mode = mode, .flags = flags};
    if (nodes)
        call.set = *nodes;
    int rc = log_call(c, call, &slot);
    if (rc)
        return (int)finish(c, slot, rc);
    if (nodes && !xpv_bitmap_subset(nodes, &c->nodes))
        return (int)finish(c, slot, -ENODEV);
    if ((uintptr_t)addr & 4095)
        return (int)finish(c, slot, -EINVAL);
    if (nodes && !xpv_bitmap_empty(nodes) && (flags & (XPV_MPOL_MF_MOVE | XPV_MPOL_MF_MOVE_ALL))) {
        /* Model the move of already-present pages: bind/preferred to the first node,
         * interleave round-robin over the set by page index. */
        int first = xpv_bitmap_next(nodes, 0), n = first;
        for (uintptr_t p = (uintptr_t)addr; p < (uintptr_t)addr + len; p += 4096) {
            if (page_find(c, 0, p))
                page_put(c, 0, p, mode == XPV_MPOL_INTERLEAVE ? n : first);
            if (mode == XPV_MPOL_INTERLEAVE)
                n = xpv_bitmap_next(nodes, (unsigned)n + 1) >= 0
                            ? xpv_bitmap_next(nodes, (unsigned)n + 1)
                            : first;
        }
    }
    return (int)finish(c, slot, 0);
}

static long rec_migrate_pages(void *ctx, pid_t pid, const struct xpv_bitmap *from,
                              const struct xpv_bitmap *to)
{
    struct record_ctx *c = ctx;
    int slot;
    struct xpv_op_call call = {.kind = XPV_OP_MIGRATE_PAGES, .pid = pid, .set = *from, .set2 = *to};
    long rc = log_call(c, call, &slot);
    if (rc)
        return finish(c, slot, rc);
    if (!xpv_bitmap_subset(from, &c->nodes) || !xpv_bitmap_subset(to, &c->nodes))
        return finish(c, slot, -ENODEV);
    if (xpv_bitmap_empty(to))
        return finish(c, slot, 0);
    /* The kernel maps the k-th node of `from` to the k-th of `to` (wrapping). */
    int map[XPV_MAX_NODES];
    unsigned k = 0, nto = xpv_bitmap_weight(to);
    for (int n = xpv_bitmap_next(from, 0); n >= 0 && n < XPV_MAX_NODES;
         n = xpv_bitmap_next(from, (unsigned)n + 1), k++) {
        unsigned want = k % nto;
        int t = xpv_bitmap_next(to, 0);
        for (unsigned i = 0; i < want; i++)
            t = xpv_bitmap_next(to, (unsigned)t + 1);
        map[n] = t;
    }
    for (size_t i = 0; i < c->cap_pages; i++) {
        struct page_slot *s = &c->pages[i];
        if (s->page && s->pid == pid && xpv_bitmap_isset(from, (unsigned)s->node))
            s->node = map[s->node];
    }
    return finish(c, slot, 0);
}

static struct affinity *aff_find(const struct record_ctx *c, pid_t tid)
{
    for (size_t i = 0; i < c->nr_aff; i++)
        if (c->aff[i].tid == tid)
            return &c->aff[i];
    return NULL;
}

static int rec_set_affinity(void *ctx, pid_t tid, const struct xpv_bitmap *cpus)
{
    struct record_ctx *c = ctx;
    int slot;
    struct xpv_op_call call = {.kind = XPV_OP_SET_AFFINITY, .pid = tid, .set = *cpus};
    int rc = log_call(c, call, &slot);
    if (rc)
        return (int)finish(c, slot, rc);
    if (xpv_bitmap_empty(cpus) || !xpv_bitmap_subset(cpus, &c->cpus))
        return (int)finish(c, slot, -EINVAL);
    struct affinity *a = aff_find(c, tid);
    if (!a) {
        struct affinity *n = realloc(c->aff, (c->nr_aff + 1) * sizeof(*n));
        if (!n)
            return (int)finish(c, slot, -ENOMEM);
        c->aff = n;
        a = &c->aff[c->nr_aff++];
        a->tid = tid;
    }
    a->cpus = *cpus;
    return (int)finish(c, slot, 0);
}

static int rec_get_affinity(void *ctx, pid_t tid, struct xpv_bitmap *cpus)
{
    struct record_ctx *c = ctx;
    int slot;
    struct xpv_op_call call = {.kind = XPV_OP_GET_AFFINITY, .pid = tid};
    int rc = log_call(c, call, &slot);
    if (rc)
        return (int)finish(c, slot, rc);
    const struct affinity *a = aff_find(c, tid);
    *cpus = a ? a->cpus : c->cpus;
    return (int)finish(c, slot, 0);
}

static int rec_get_mempolicy(void *ctx, int *mode, struct xpv_bitmap *nodes, void *addr,
                             unsigned flags)
{
    struct record_ctx *c = ctx;
    int slot;
    struct xpv_op_call call = {.kind = XPV_OP_GET_MEMPOLICY, .addr = addr, .flags = flags};
    int rc = log_call(c, call, &slot);
    if (rc)
        return (int)finish(c, slot, rc);
    if ((flags & XPV_MPOL_F_NODE) && (flags & XPV_MPOL_F_ADDR)) {
        int n = page_node(c, 0, (uintptr_t)addr);
        if (n < 0)
            return (int)finish(c, slot, -EFAULT);
        *mode = n;
    } else {
        *mode = XPV_MPOL_DEFAULT;
    }
    if (nodes)
        xpv_bitmap_zero(nodes);
    return (int)finish(c, slot, 0);
}

static void rec_destroy(void *ctx)
{
    struct record_ctx *c = ctx;
    free(c->calls);
    free(c->pages);
    free(c->aff);
    free(c->dead);
    free(c);
}

struct xpv_ops *xpv_ops_record_new(const struct xpv_topo *t, struct xpv_error *err)
{
    struct record_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        xpv_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    xpv_topo_nodeset(t, &c->nodes);
    c->cpus = t->cpus_online;
    c->default_node = -1;
    for (unsigned i = 0; i < t->nr_nodes; i++) {
        if (t->nodes[i].mem_total) {
            xpv_bitmap_set(&c->mem_nodes, (unsigned)t->nodes[i].id);
            if (c->default_node < 0)
                c->default_node = t->nodes[i].id;
        }
    }
    c->ops = (struct xpv_ops){
            .name = "record",
            .ctx = c,
            .move_pages = rec_move_pages,
            .mbind = rec_mbind,
            .migrate_pages = rec_migrate_pages,
            .set_affinity = rec_set_affinity,
            .get_affinity = rec_get_affinity,
            .get_mempolicy = rec_get_mempolicy,
            .destroy = rec_destroy,
    };
    return &c->ops;
}

size_t xpv_ops_record_count(const struct xpv_ops *ops)
{
    return ctx_of(ops)->nr_calls;
}

const struct xpv_op_call *xpv_ops_record_call(const struct xpv_ops *ops, size_t i)
{
    const struct record_ctx *c = ctx_of(ops);
    return i < c->nr_calls ? &c->calls[i] : NULL;
}

size_t xpv_ops_record_count_kind(const struct xpv_ops *ops, enum xpv_op_kind kind)
{
    const struct record_ctx *c = ctx_of(ops);
    size_t n = 0;
    for (size_t i = 0; i < c->nr_calls; i++)
        n += c->calls[i].kind == kind;
    return n;
}

void xpv_ops_record_clear(struct xpv_ops *ops)
{
    ctx_of(ops)->nr_calls = 0;
}

void xpv_ops_record_fail_next(struct xpv_ops *ops, enum xpv_op_kind kind, int code)
{
    if (kind < XPV_OP__COUNT)
        ctx_of(ops)->fail[kind] = code;
}

void xpv_ops_record_kill(struct xpv_ops *ops, pid_t pid)
{
    struct record_ctx *c = ctx_of(ops);
    pid_t *n = realloc(c->dead, (c->nr_dead + 1) * sizeof(*n));
    if (!n)
        return;
    c->dead = n;
    c->dead[c->nr_dead++] = pid;
}

void xpv_ops_record_set_default_node(struct xpv_ops *ops, int node)
{
    ctx_of(ops)->default_node = node;
}

int xpv_ops_record_page_node(const struct xpv_ops *ops, pid_t pid, const void *page)
{
    return page_node(ctx_of(ops), pid, (uintptr_t)page);
}

void xpv_ops_record_affinity(const struct xpv_ops *ops, pid_t tid, struct xpv_bitmap *out)
{
    const struct record_ctx *c = ctx_of(ops);
    const struct affinity *a = aff_find(c, tid);
    *out = a ? a->cpus : c->cpus;
}
