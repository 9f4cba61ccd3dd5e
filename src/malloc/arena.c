/*
 * arena.c — one jemalloc arena per node, through jemalloc's public mallctl interface.
 *
 * How memory gets bound to the node: extent hooks. Each arena is created with its own
 * extent_hooks_t ("arenas.create"), a copy of jemalloc's default hooks (read from
 * "arena.0.extent_hooks") whose alloc hook first lets the default hook map the extent and
 * then mbind()s it to the node through the heap's ops table. This is the closest mechanism
 * jemalloc's public API has to "this arena's memory lives on node N": every extent an arena
 * ever gets, including its own metadata (jemalloc's base allocator maps through the same
 * hooks), passes through alloc; the policy sits on the mapping, so pages faulted in later,
 * after a purge (MADV_DONTNEED/MADV_FREE keep the policy) or after jemalloc splits and reuses
 * a retained extent all come from the node. The alternatives are worse: set_mempolicy() would
 * bind the *thread*, not the arena (a thread's allocations from another arena after a free
 * would follow it); mbind() after each malloc is a syscall per allocation.
 *
 * The other hooks are jemalloc's defaults, called with our hooks pointer, which they ignore
 * (jemalloc 5.3's default hooks take everything they need from their other arguments).
 * A hooks structure lives as long as its arena: jemalloc calls the hooks until the arena is
 * destroyed, so one that cannot be destroyed is never freed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "heap_internal.h"

struct xpv__node_hooks {
    extent_hooks_t hooks; /* first: jemalloc hands this pointer back to every hook */
    extent_hooks_t *dflt;
    struct xpv_heap *heap;
    int node;
    unsigned index; /* jemalloc arena index */
    struct xpv_bitmap nodes;
    /* statistics (atomic) */
    uint64_t extent_bytes, mbind_calls, mbind_errors;
};

static void *hook_alloc(extent_hooks_t *eh, void *new_addr, size_t size, size_t alignment,
                        bool *zero, bool *commit, unsigned arena_ind)
{
    struct xpv__node_hooks *nh = (struct xpv__node_hooks *)eh;
    void *p = nh->dflt->alloc(nh->dflt, new_addr, size, alignment, zero, commit, arena_ind);
    struct xpv_heap *h = nh->heap;
    if (!p || !h->ops)
        return p;
    pthread_mutex_lock(&h->hook_lock);
    int rc = h->ops->mbind(h->ops->ctx, p, size, h->mpol, &nh->nodes, 0);
    pthread_mutex_unlock(&h->hook_lock);
    __atomic_add_fetch(&nh->extent_bytes, size, __ATOMIC_RELAXED);
    __atomic_add_fetch(rc < 0 ? &nh->mbind_errors : &nh->mbind_calls, 1, __ATOMIC_RELAXED);
    return p;
}

int xpv__je_check(struct xpv_error *err)
{
    extent_hooks_t *d = NULL;
    size_t sz = sizeof(d);
    int rc = mallctl("arena.0.extent_hooks", &d, &sz, NULL, 0);
    if (rc != 0 || !d || !d->alloc)
        return xpv_error_set(err, -ENOSYS,
                             "the jemalloc in this process does not give its extent hooks "
                             "(mallctl arena.0.extent_hooks: %s)",
                             rc ? strerror(rc) : "none");
    return 0;
}

int xpv__arena_create(struct xpv_heap *h, int node, unsigned sub, struct xpv_error *err)
{
    if (node < 0 || node >= XPV_MALLOC_MAX_NODES || sub >= XPV__SUBS)
        return xpv_error_set(err, -ENODEV, "node %d is beyond xpv-malloc's %d", node,
                             XPV_MALLOC_MAX_NODES);
    if (h->arena[node][sub])
        return 0;
    /* Not malloc: this runs inside malloc's slow path; mmap has no reentrancy concerns. */
    struct xpv__node_hooks *nh =
            mmap(NULL, sizeof(*nh), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (nh == MAP_FAILED)
        return xpv_error_set(err, -ENOMEM, "out of memory for node %d's arena", node);
    size_t sz = sizeof(nh->dflt);
    int rc = mallctl("arena.0.extent_hooks", &nh->dflt, &sz, NULL, 0);
    if (rc != 0 || !nh->dflt) {
        munmap(nh, sizeof(*nh));
        return xpv_error_set(err, -ENOSYS, "mallctl arena.0.extent_hooks: %s",
                             strerror(rc ? rc : ENOENT));
    }
    nh->hooks = *nh->dflt;
    nh->hooks.alloc = hook_alloc;
    nh->heap = h;
    nh->node = node;
    xpv_bitmap_set(&nh->nodes, (unsigned)node);
    extent_hooks_t *hp = &nh->hooks;
    unsigned ind = 0;
    sz = sizeof(ind);
    rc = mallctl("arenas.create", &ind, &sz, &hp, sizeof(hp));
    if (rc != 0) {
        munmap(nh, sizeof(*nh));
        return xpv_error_set(err, -rc, "mallctl arenas.create for node %d: %s", node, strerror(rc));
    }
    nh->index = ind;
    __atomic_store_n(&h->arena[node][sub], nh, __ATOMIC_RELEASE);
    return 0;
}

unsigned xpv__arena_index(const struct xpv_heap *h, int node, unsigned sub)
{
    const struct xpv__node_hooks *nh =
            node >= 0 && node < XPV_MALLOC_MAX_NODES && sub < XPV__SUBS
                    ? __atomic_load_n(&h->arena[node][sub], __ATOMIC_ACQUIRE)
                    : NULL;
    return nh ? nh->index : 0;
}

int xpv__arena_node_of(const struct xpv_heap *h, unsigned arena_index)
{
    for (int n = 0; n < XPV_MALLOC_MAX_NODES; n++)
        for (unsigned k = 0; k < XPV__SUBS; k++) {
            const struct xpv__node_hooks *nh = __atomic_load_n(&h->arena[n][k], __ATOMIC_ACQUIRE);
            if (nh && nh->index == arena_index)
                return n;
        }
    return -1;
}

/* Destroy node's arenas; -EBUSY when one is still bound to a thread (its hooks stay). */
int xpv__arena_destroy(struct xpv_heap *h, int node)
{
    int rc = 0;
    for (unsigned k = 0; k < XPV__SUBS; k++) {
        struct xpv__node_hooks *nh = h->arena[node][k];
        if (!nh)
            continue;
        char name[64];
        snprintf(name, sizeof(name), "arena.%u.destroy", nh->index);
        if (mallctl(name, NULL, NULL, NULL, 0) != 0) {
            rc = -EBUSY;
            continue;
        }
        h->arena[node][k] = NULL;
        munmap(nh, sizeof(*nh));
    }
    return rc;
}

static uint64_t stat_u64(unsigned index, const char *what)
{
    char name[96];
    size_t v = 0, sz = sizeof(v);
    snprintf(name, sizeof(name), "stats.arenas.%u.%s", index, what);
    return mallctl(name, &v, &sz, NULL, 0) == 0 ? v : 0;
}

/* Node's figures, summed over its arenas; false when the node has none. */
bool xpv__arena_stats(const struct xpv_heap *h, int node, struct xpv_malloc_node_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->node = node;
    bool any = false;
    uint64_t epoch = 1;
    size_t sz = sizeof(epoch);
    mallctl("epoch", &epoch, &sz, &epoch, sz); /* refresh jemalloc's stats */
    for (unsigned k = 0; k < XPV__SUBS; k++) {
        const struct xpv__node_hooks *nh = h->arena[node][k];
        if (!nh)
            continue;
        if (!any)
            out->arena = nh->index;
        any = true;
        out->allocated +=
                stat_u64(nh->index, "small.allocated") + stat_u64(nh->index, "large.allocated");
        out->extent_bytes += __atomic_load_n(&nh->extent_bytes, __ATOMIC_RELAXED);
        out->mbind_calls += __atomic_load_n(&nh->mbind_calls, __ATOMIC_RELAXED);
        out->mbind_errors += __atomic_load_n(&nh->mbind_errors, __ATOMIC_RELAXED);
    }
    return any;
}
