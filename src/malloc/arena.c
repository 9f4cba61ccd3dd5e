/*
 * arena.c — the jemalloc backend (heap_internal.h): up to XPV__SUBS jemalloc arenas per node,
 * through jemalloc's public mallctl interface, and jemalloc's entry points.
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
 *
 * Which arenas: automatic ones first, made ones when none is left. jemalloc makes up to
 * opt.narenas automatic arenas (4 per CPU by default) lazily, the lowest free index first, as
 * threads need them; writing "arena.<i>.extent_hooks" for an index it has not made yet makes
 * that arena with our hooks, so its first extent (its metadata) is already bound. We take
 * free indices from the top down, where jemalloc reaches last. Why not always arenas.create:
 * jemalloc treats arenas it did not make automatically as "manual" and pays for it on the
 * allocation path (a manual arena keeps its large extents on a list under a mutex, taken on
 * every large malloc and free, by the freeing thread too): docs/malloc.md measures it. The
 * cost of the automatic ones: jemalloc may hand one to a thread xpv does not bind (only a
 * thread whose CPU no topology places, or before its first allocation), and it cannot
 * destroy them: a heap that is deleted puts jemalloc's default hooks back and leaves the
 * arena to jemalloc, spent (its retained memory stays bound to the node, so it is never
 * taken again for another node). MALLOC_CONF=narenas:1, or more node arenas than free
 * indices, falls back to arenas.create.
 *
 * A hooks structure lives as long as jemalloc may call it: a made arena's until the arena is
 * destroyed (one that cannot be destroyed is never freed); an automatic arena's forever
 * (another thread may be inside a hook while the default hooks go back in; one page per
 * arena of a deleted heap).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
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
    bool automatic; /* one of jemalloc's automatic arenas, not made by arenas.create */
    struct xpv_bitmap nodes;
    /* statistics (atomic) */
    uint64_t extent_bytes, mbind_calls, mbind_errors;
};

static void *hook_alloc(extent_hooks_t *eh, void *new_addr, size_t size, size_t alignment,
                        bool *zero, bool *commit, unsigned arena_ind)
{
    struct xpv__node_hooks *nh = (struct xpv__node_hooks *)eh;
    void *p = nh->dflt->alloc(nh->dflt, new_addr, size, alignment, zero, commit, arena_ind);
    struct xpv_heap *h = __atomic_load_n(&nh->heap, __ATOMIC_ACQUIRE);
    if (!p || !h || !h->ops)
        return p;
    pthread_mutex_lock(&h->hook_lock);
    int rc = h->ops->mbind(h->ops->ctx, p, size, h->mpol, &nh->nodes, 0);
    pthread_mutex_unlock(&h->hook_lock);
    __atomic_add_fetch(&nh->extent_bytes, size, __ATOMIC_RELAXED);
    __atomic_add_fetch(rc < 0 ? &nh->mbind_errors : &nh->mbind_calls, 1, __ATOMIC_RELAXED);
    return p;
}

/* --- jemalloc's entry points --- */

static void *fb_malloc(size_t n)
{
    return mallocx(n ? n : 1, 0);
}
static void fb_free(void *p)
{
    if (p)
        dallocx(p, 0);
}
static void *fb_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return mallocx(total ? total : 1, MALLOCX_ZERO);
}
static void *fb_realloc(void *p, size_t n)
{
    if (!p)
        return fb_malloc(n);
    return rallocx(p, n ? n : 1, 0);
}

struct xpv__je xpv__je = {fb_malloc, fb_free, fb_calloc, fb_realloc};

int xpv__je_resolve(void)
{
    /* The object that defines mallocx is jemalloc; a handle to it finds jemalloc's own
     * malloc even where ours (libxpv-malloc.so) comes first in the global scope. */
    Dl_info info;
    if (!dladdr((void *)mallocx, &info) || !info.dli_fname)
        return -ENOENT;
    void *h = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    if (!h)
        return -ENOENT;
    void *m = dlsym(h, "malloc"), *f = dlsym(h, "free"), *c = dlsym(h, "calloc"),
         *r = dlsym(h, "realloc");
    if (!m || !f || !c || !r) {
        dlclose(h);
        return -ENOENT;
    }
    /* One pointer at a time: each old and new value is a valid jemalloc entry point. The
     * handle stays open (jemalloc cannot be unloaded under us). */
    __atomic_store_n(&xpv__je.malloc, (void *(*)(size_t))m, __ATOMIC_RELAXED);
    __atomic_store_n(&xpv__je.free, (void (*)(void *))f, __ATOMIC_RELAXED);
    __atomic_store_n(&xpv__je.calloc, (void *(*)(size_t, size_t))c, __ATOMIC_RELAXED);
    __atomic_store_n(&xpv__je.realloc, (void *(*)(void *, size_t))r, __ATOMIC_RELAXED);
    return 0;
}

static void set_thread_arena(struct xpv_heap *h, struct xpv__tstate *t, unsigned ind, int node)
{
    if (ind == t->arena)
        return;
    if (mallctl("thread.arena", NULL, NULL, &ind, sizeof(ind)) != 0)
        return;          /* stays where it was; tried again at the next change */
    if (node != t->node) /* another arena of the same node: its cached memory is as local */
        mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    if (t->arena != UINT32_MAX && t->node >= 0 && node >= 0 && node != t->node)
        __atomic_add_fetch(&h->rebinds, 1, __ATOMIC_RELAXED);
    else if (node >= 0 && t->node < 0)
        __atomic_add_fetch(&h->binds, 1, __ATOMIC_RELAXED);
    t->arena = ind;
    t->node = node;
}

void xpv__be_switch(struct xpv_heap *h, struct xpv__tstate *t, unsigned ind, int node)
{
    set_thread_arena(h, t, ind, node);
}

void xpv__be_adopt(struct xpv_heap *h, struct xpv__tstate *t)
{
    (void)h;
    (void)t;
}

void xpv__be_leave(struct xpv_heap *h, struct xpv__tstate *t)
{
    (void)h;
    unsigned zero = 0;
    mallctl("thread.arena", NULL, NULL, &zero, sizeof(zero));
    mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    t->owner = NULL;
    t->arena = UINT32_MAX;
    t->node = -1;
}

int xpv__be_check(struct xpv_error *err)
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

/* The next automatic arena index to try, counting down; 0: none left (arena 0 is never
 * taken: it is every thread's first). Process-wide: arenas are. Set on first use. */
static unsigned auto_next = UINT32_MAX;

static bool arena_initialized(unsigned ind)
{
    char name[64];
    bool init = true;
    size_t sz = sizeof(init);
    snprintf(name, sizeof(name), "arena.%u.initialized", ind);
    return mallctl(name, &init, &sz, NULL, 0) != 0 || init;
}

/* Take one of jemalloc's automatic arenas it has not made yet, made now with hooks hp;
 * false when none is left. */
static bool claim_automatic(extent_hooks_t *hp, unsigned *out)
{
    if (__atomic_load_n(&auto_next, __ATOMIC_ACQUIRE) == UINT32_MAX) {
        unsigned narenas = 0, unset = UINT32_MAX;
        size_t sz = sizeof(narenas);
        const char *percpu = NULL;
        size_t psz = sizeof(percpu);
        /* With per-CPU arenas (MALLOC_CONF=percpu_arena:...) jemalloc refuses "thread.arena"
         * for automatic arenas in its per-CPU range: made arenas only. */
        if (mallctl("opt.narenas", &narenas, &sz, NULL, 0) != 0 ||
            (mallctl("opt.percpu_arena", &percpu, &psz, NULL, 0) == 0 && percpu &&
             strcmp(percpu, "disabled") != 0))
            narenas = 0;
        __atomic_compare_exchange_n(&auto_next, &unset, narenas > 1 ? narenas - 1 : 0, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    }
    for (;;) {
        unsigned ind = __atomic_load_n(&auto_next, __ATOMIC_ACQUIRE);
        do {
            if (ind == 0)
                return false;
        } while (!__atomic_compare_exchange_n(&auto_next, &ind, ind - 1, false, __ATOMIC_ACQ_REL,
                                              __ATOMIC_ACQUIRE));
        if (arena_initialized(ind)) /* jemalloc got there first: it has its own hooks */
            continue;
        char name[64];
        snprintf(name, sizeof(name), "arena.%u.extent_hooks", ind);
        if (mallctl(name, NULL, NULL, &hp, sizeof(hp)) != 0)
            continue;
        /* jemalloc may make it at the same time. Inside the write (between the write's look
         * and its arena_init), the write changes nothing and the hooks read back are
         * jemalloc's: not ours, leave it. Between arena_initialized() and the write, the
         * write replaces jemalloc's hooks and the arena is taken with its first extents
         * unbound: a window of one mallctl call, accepted. */
        extent_hooks_t *now = NULL;
        size_t sz = sizeof(now);
        if (mallctl(name, &now, &sz, NULL, 0) != 0 || now != hp)
            continue;
        *out = ind;
        return true;
    }
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
    if (claim_automatic(hp, &ind)) {
        nh->automatic = true;
    } else {
        sz = sizeof(ind);
        rc = mallctl("arenas.create", &ind, &sz, &hp, sizeof(hp));
        if (rc != 0) {
            munmap(nh, sizeof(*nh));
            return xpv_error_set(err, -rc, "mallctl arenas.create for node %d: %s", node,
                                 strerror(rc));
        }
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

static int arena_node_of(const struct xpv_heap *h, unsigned arena_index)
{
    for (int n = 0; n < XPV_MALLOC_MAX_NODES; n++)
        for (unsigned k = 0; k < XPV__SUBS; k++) {
            const struct xpv__node_hooks *nh = __atomic_load_n(&h->arena[n][k], __ATOMIC_ACQUIRE);
            if (nh && nh->index == arena_index)
                return n;
        }
    return -1;
}

int xpv__be_node_of(const struct xpv_heap *h, const void *p)
{
    unsigned ind;
    size_t sz = sizeof(ind);
    if (mallctl("arenas.lookup", &ind, &sz, (void *)&p, sizeof(p)) != 0)
        return -1;
    return arena_node_of(h, ind);
}

/* stats.arenas.<index>.<what>, of the statistic's own size (size_t or unsigned); 0 when
 * jemalloc does not answer. */
static uint64_t arena_stat(unsigned index, const char *what, size_t size)
{
    char name[96];
    union {
        size_t z;
        unsigned u;
    } v = {0};
    snprintf(name, sizeof(name), "stats.arenas.%u.%s", index, what);
    if (mallctl(name, &v, &size, NULL, 0) != 0)
        return 0;
    return size == sizeof(v.z) ? v.z : v.u;
}

/* Destroy node's empty arenas, leave the others to jemalloc; -EBUSY when one is still bound
 * to a thread (its hooks stay). */
static int arena_destroy(struct xpv_heap *h, int node)
{
    int rc = 0;
    uint64_t epoch = 1;
    size_t sz = sizeof(epoch);
    mallctl("epoch", &epoch, &sz, &epoch, sz); /* nthreads below is a statistic */
    for (unsigned k = 0; k < XPV__SUBS; k++) {
        struct xpv__node_hooks *nh = h->arena[node][k];
        if (!nh)
            continue;
        char name[64];
        if (arena_stat(nh->index, "nthreads", sizeof(unsigned)) > 0) { /* a thread's */
            rc = -EBUSY;
            continue;
        }
        if (nh->automatic) { /* jemalloc's: back to its default hooks, spent (see the top) */
            snprintf(name, sizeof(name), "arena.%u.extent_hooks", nh->index);
            mallctl(name, NULL, NULL, &nh->dflt, sizeof(nh->dflt));
            __atomic_store_n(&nh->heap, NULL, __ATOMIC_RELEASE);
            h->arena[node][k] = NULL;
            continue;
        }
        /* Memory still allocated from it (a bound thread's plain malloc() where jemalloc is
         * the process's malloc, or blocks in another thread's cache): destroying would pull
         * it from under its owner. Left to jemalloc like an automatic arena, spent: its
         * hooks stay (never freed) and bind no more. */
        if (arena_stat(nh->index, "small.allocated", sizeof(size_t)) +
                    arena_stat(nh->index, "large.allocated", sizeof(size_t)) >
            0) {
            __atomic_store_n(&nh->heap, NULL, __ATOMIC_RELEASE);
            h->arena[node][k] = NULL;
            continue;
        }
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

int xpv__be_release(struct xpv_heap *h)
{
    int rc = 0;
    for (int n = 0; n < XPV_MALLOC_MAX_NODES; n++)
        if (arena_destroy(h, n) < 0)
            rc = -EBUSY;
    return rc;
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
        out->allocated += arena_stat(nh->index, "small.allocated", sizeof(size_t)) +
                          arena_stat(nh->index, "large.allocated", sizeof(size_t));
        out->extent_bytes += __atomic_load_n(&nh->extent_bytes, __ATOMIC_RELAXED);
        out->mbind_calls += __atomic_load_n(&nh->mbind_calls, __ATOMIC_RELAXED);
        out->mbind_errors += __atomic_load_n(&nh->mbind_errors, __ATOMIC_RELAXED);
    }
    return any;
}
