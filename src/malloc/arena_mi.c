/*
 * arena_mi.c — the mimalloc backend (heap_internal.h, built with XPV_MALLOC_MI): one mimalloc
 * arena per node, reserved exclusively and bound to the node with mbind(); every thread
 * allocates from a heap of its own inside the arena of its effective node.
 *
 * What mimalloc 2.0.9 (Debian 12's libmimalloc-dev) offers and how it is used:
 *  - mi_reserve_os_memory_ex(size, commit=false, allow_large=false, exclusive=true, &id)
 *    reserves an address range (PROT_NONE, MAP_NORESERVE, aligned to mimalloc's 32 MiB
 *    segments) and makes it an arena; "exclusive": only heaps made for that arena take memory
 *    from it, and such heaps take memory from nowhere else (a full arena gives NULL, the OS is
 *    not asked). The arena's NUMA node is -1: with a node set, mimalloc would refuse the arena
 *    to a thread whose *real* CPU is on another node, which is exactly the case XPV handles.
 *  - mi_arena_area(id) gives the range back; it is bound to the node once with the ops table's
 *    mbind() (MPOL_PREFERRED or MPOL_BIND). The policy is on the mapping: mimalloc commits
 *    with mprotect() and decommits/resets with madvise(MADV_DONTNEED / MADV_FREE), none of
 *    which drops it, so every page ever faulted in the arena comes from the node.
 *  - mi_heap_new_in_arena(id) makes a heap that allocates only in that arena. Heaps belong to
 *    the thread that made them (mimalloc's rule: only that thread allocates from it; any thread
 *    frees), so each thread makes its own heap per node on first need, and a rebinding is a
 *    pointer change: no cache to flush, and a block freed by another thread goes back to its
 *    page, not to the freeing thread (the jemalloc backend's tcache limit does not exist here).
 *  - mi_heap_set_default(): the thread's node heap is mimalloc's default heap, so the fast
 *    path is mimalloc's own mi_malloc (heap_internal.h); a thread on no node has its backing
 *    heap (mi_heap_get_backing(), mimalloc's own default) back.
 *
 * Arenas are process-wide, one per node, never removed: mimalloc cannot remove an arena and
 * has at most 64 (MI_MAX_ARENAS). So every xpv heap of the process shares them, and a heap
 * that needs a node binds the node's arena through its own ops table the first time (one
 * mbind of the whole range; the last heap's policy wins where two live heaps differ). An arena
 * reserves the machine's RAM (at least 4 GiB, at most 1 TiB) of address space, not memory;
 * when a node's arena is full, or for an alignment mimalloc cannot serve from an arena, the
 * allocation comes from the thread's backing heap (unbound memory) instead of failing
 * (XPV_MALLOC_MI_ARENA_MIB makes the arena smaller, for the test of that).
 *
 * Thread exit: mimalloc deletes a thread's heaps from a pthread key destructor. Our thread
 * state points at them, and destructors of other keys may still allocate afterwards, so a
 * callback registered with __cxa_thread_atexit_impl (the C++ thread_local destructor list,
 * which glibc runs before any key destructor) first sends the thread to its backing heap for
 * good and drops its count in the heap (what lets xpv_heap_delete say -EBUSY).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <mimalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "heap_internal.h"

#define MI_BLOCK  (32ull << 20) /* mimalloc 2.0.9's arena block (= segment) size */
#define MIN_ARENA (4ull << 30)
#define MAX_ARENA (1ull << 40)

struct region {
    int id;      /* atomic: mimalloc arena id, 0 (mimalloc's "none") until made */
    char *start; /* written before id */
    size_t size;
};

static struct region regions[XPV_MALLOC_MAX_NODES];
static pthread_mutex_t regions_lock = PTHREAD_MUTEX_INITIALIZER;

/* The thread's heaps, one per node, made on first need (mi_calloc'd table; NULL: none). */
static __thread mi_heap_t **node_heaps __attribute__((tls_model("initial-exec")));

extern int __cxa_thread_atexit_impl(void (*fn)(void *), void *obj, void *dso);
extern void *__dso_handle;

int xpv__be_check(struct xpv_error *err)
{
    if (mi_version() < 209)
        return xpv_error_set(err, -ENOSYS,
                             "the mimalloc in this process is %d.%d.%d; xpv-malloc needs 2.0.9 or "
                             "later (exclusive arenas, heaps in an arena)",
                             mi_version() / 100, mi_version() / 10 % 10, mi_version() % 10);
    return 0;
}

static size_t arena_size(void)
{
    /* XPV_MALLOC_MI_ARENA_MIB: a smaller arena (at least one block), for the tests of a full
     * arena (docs/malloc.md) */
    const char *mib = secure_getenv("XPV_MALLOC_MI_ARENA_MIB");
    if (mib && *mib) {
        unsigned long long want = strtoull(mib, NULL, 10) << 20;
        return (size_t)(want < MI_BLOCK ? MI_BLOCK : (want + MI_BLOCK - 1) / MI_BLOCK * MI_BLOCK);
    }
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    unsigned long long ram =
            pages > 0 && psz > 0 ? (unsigned long long)pages * (unsigned long long)psz : 0;
    if (ram < MIN_ARENA)
        ram = MIN_ARENA;
    if (ram > MAX_ARENA)
        ram = MAX_ARENA;
    return (size_t)((ram + MI_BLOCK - 1) / MI_BLOCK * MI_BLOCK);
}

/* node's region, made on first use; NULL when mimalloc refused. */
static const struct region *region_get(int node, struct xpv_error *err)
{
    struct region *r = &regions[node];
    if (__atomic_load_n(&r->id, __ATOMIC_ACQUIRE) != 0)
        return r;
    pthread_mutex_lock(&regions_lock);
    if (r->id == 0) {
        mi_arena_id_t id = 0;
        size_t want = arena_size();
        int rc = mi_reserve_os_memory_ex(want, false, false, true, &id);
        size_t size = 0;
        void *start = rc == 0 ? mi_arena_area(id, &size) : NULL;
        if (!start) {
            pthread_mutex_unlock(&regions_lock);
            xpv_error_set(err, -ENOMEM,
                          "mimalloc could not reserve node %d's arena (%zu MiB of address space; "
                          "mimalloc has at most 64 arenas): %s",
                          node, want >> 20, strerror(rc > 0 ? rc : ENOMEM));
            return NULL;
        }
        r->start = start;
        r->size = size;
        __atomic_store_n(&r->id, (int)id, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&regions_lock);
    return r;
}

int xpv__arena_create(struct xpv_heap *h, int node, unsigned sub, struct xpv_error *err)
{
    (void)sub; /* one arena per node: the threads' own heaps do not contend */
    if (node < 0 || node >= XPV_MALLOC_MAX_NODES)
        return xpv_error_set(err, -ENODEV, "node %d is beyond xpv-malloc's %d", node,
                             XPV_MALLOC_MAX_NODES);
    if (__atomic_load_n(&h->mi[node].bound, __ATOMIC_ACQUIRE))
        return 0;
    const struct region *r = region_get(node, err);
    if (!r)
        return -ENOMEM;
    if (h->ops) {
        struct xpv_bitmap nodes = {0};
        xpv_bitmap_set(&nodes, (unsigned)node);
        pthread_mutex_lock(&h->hook_lock);
        int rc = h->ops->mbind(h->ops->ctx, r->start, r->size, h->mpol, &nodes, 0);
        pthread_mutex_unlock(&h->hook_lock);
        __atomic_add_fetch(rc < 0 ? &h->mi[node].mbind_errors : &h->mi[node].mbind_calls, 1,
                           __ATOMIC_RELAXED);
    }
    __atomic_store_n(&h->mi[node].bound, true, __ATOMIC_RELEASE);
    return 0;
}

unsigned xpv__arena_index(const struct xpv_heap *h, int node, unsigned sub)
{
    (void)sub;
    if (node < 0 || node >= XPV_MALLOC_MAX_NODES ||
        !__atomic_load_n(&h->mi[node].bound, __ATOMIC_ACQUIRE))
        return 0;
    return (unsigned)__atomic_load_n(&regions[node].id, __ATOMIC_ACQUIRE);
}

static void thread_exit(void *arg)
{
    (void)arg;
    struct xpv__tstate *t = &xpv__ts;
    t->busy = 1; /* for good: the slow path is never taken again, allocations go to mi_malloc */
    if (t->arena != UINT32_MAX && t->node >= 0)
        mi_heap_set_default(mi_heap_get_backing()); /* before mimalloc deletes the node heaps */
    mi_heap_t **tab = node_heaps;
    node_heaps = NULL;
    mi_free(tab); /* the heaps themselves are mimalloc's to delete, after this */
    if (t->owner)
        __atomic_sub_fetch(&t->owner->nthreads, 1, __ATOMIC_RELEASE);
    t->owner = NULL;
}

void xpv__be_adopt(struct xpv_heap *h, struct xpv__tstate *t)
{
    if (!t->exit_hook) {
        t->exit_hook = true;
        __cxa_thread_atexit_impl(thread_exit, NULL, &__dso_handle);
    }
    /* The previous heap cannot be gone: it counts this thread, and delete waits for 0. */
    if (t->owner)
        __atomic_sub_fetch(&t->owner->nthreads, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&h->nthreads, 1, __ATOMIC_RELAXED);
}

void xpv__be_switch(struct xpv_heap *h, struct xpv__tstate *t, unsigned ind, int node)
{
    if (ind == t->arena)
        return;
    mi_heap_t *hp = NULL;
    if (node >= 0) {
        if (!node_heaps && !(node_heaps = mi_calloc(XPV_MALLOC_MAX_NODES, sizeof(*node_heaps))))
            return; /* stays where it was; tried again at the next change */
        hp = node_heaps[node];
        if (!hp && !(hp = node_heaps[node] = mi_heap_new_in_arena((mi_arena_id_t)ind)))
            return;
    }
    if (t->arena != UINT32_MAX && t->node >= 0 && node >= 0 && node != t->node)
        __atomic_add_fetch(&h->rebinds, 1, __ATOMIC_RELAXED);
    else if (node >= 0 && t->node < 0)
        __atomic_add_fetch(&h->binds, 1, __ATOMIC_RELAXED);
    /* The thread's default heap: where mi_malloc (the fast path) allocates. */
    mi_heap_set_default(hp ? hp : mi_heap_get_backing());
    t->arena = ind;
    t->node = node;
}

void xpv__be_leave(struct xpv_heap *h, struct xpv__tstate *t)
{
    __atomic_sub_fetch(&h->nthreads, 1, __ATOMIC_RELEASE);
    if (t->arena != UINT32_MAX && t->node >= 0)     /* the node heaps stay the thread's, for */
        mi_heap_set_default(mi_heap_get_backing()); /* its next xpv heap */
    t->owner = NULL;
    t->arena = UINT32_MAX;
    t->node = -1;
}

int xpv__be_release(struct xpv_heap *h)
{
    /* Nothing to give back (the arenas are the process's); only threads to wait for. */
    return __atomic_load_n(&h->nthreads, __ATOMIC_ACQUIRE) > 0 ? -EBUSY : 0;
}

int xpv__be_node_of(const struct xpv_heap *h, const void *p)
{
    for (int n = 0; n < XPV_MALLOC_MAX_NODES; n++) {
        if (!__atomic_load_n(&h->mi[n].bound, __ATOMIC_ACQUIRE))
            continue;
        const struct region *r = &regions[n];
        if (__atomic_load_n(&r->id, __ATOMIC_ACQUIRE) != 0 && (const char *)p >= r->start &&
            (const char *)p < r->start + r->size)
            return n;
    }
    return -1;
}

/* The thread's backing heap (mimalloc's own, unbound), or NULL when the failed allocation was
 * already made there. */
static mi_heap_t *unbound_heap(void)
{
    mi_heap_t *b = mi_heap_get_backing();
    if (b == mi_heap_get_default()) {
        errno = ENOMEM;
        return NULL;
    }
    return b;
}

void *xpv__mi_unbound_malloc(size_t n)
{
    mi_heap_t *b = unbound_heap();
    return b ? mi_heap_malloc(b, n) : NULL;
}

void *xpv__mi_unbound_calloc(size_t n, size_t size)
{
    mi_heap_t *b = unbound_heap();
    return b ? mi_heap_calloc(b, n, size) : NULL;
}

void *xpv__mi_unbound_realloc(void *p, size_t n)
{
    mi_heap_t *b = unbound_heap();
    return b ? mi_heap_realloc(b, p, n) : NULL;
}

void *xpv__mi_unbound_aligned(size_t alignment, size_t n)
{
    mi_heap_t *b = unbound_heap();
    return b ? mi_heap_malloc_aligned(b, n, alignment) : NULL;
}

void *xpv__mi_aligned_retry(size_t alignment, size_t n)
{
    size_t tries[2] = {n | 1, n + alignment};
    for (int i = 0; i < 2; i++) {
        if (tries[i] < n) /* overflow */
            break;
        void *p = mi_malloc_aligned(tries[i], alignment);
        if (!p)
            p = xpv__mi_unbound_aligned(alignment, tries[i]);
        if (((uintptr_t)p & (alignment - 1)) == 0)
            return p;
        mi_free(p);
    }
    errno = ENOMEM;
    return NULL;
}

/* Resident bytes of [start, start+size): mimalloc counts no live bytes per arena. */
static uint64_t resident(const char *start, size_t size)
{
    static const size_t chunk = 1u << 20; /* pages per mincore call */
    long psz = sysconf(_SC_PAGESIZE);
    unsigned char *vec =
            mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (vec == MAP_FAILED || psz <= 0)
        return 0;
    uint64_t pages = 0;
    size_t total = size / (size_t)psz;
    for (size_t off = 0; off < total; off += chunk) {
        size_t n = total - off < chunk ? total - off : chunk;
        if (mincore((void *)(start + off * (size_t)psz), n * (size_t)psz, vec) != 0)
            break;
        for (size_t i = 0; i < n; i++)
            pages += vec[i] & 1;
    }
    munmap(vec, chunk);
    return pages * (uint64_t)psz;
}

bool xpv__arena_stats(const struct xpv_heap *h, int node, struct xpv_malloc_node_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->node = node;
    if (!__atomic_load_n(&h->mi[node].bound, __ATOMIC_ACQUIRE))
        return false;
    const struct region *r = &regions[node];
    out->arena = (unsigned)__atomic_load_n(&r->id, __ATOMIC_ACQUIRE);
    out->allocated = resident(r->start, r->size);
    out->extent_bytes = r->size;
    out->mbind_calls = __atomic_load_n(&h->mi[node].mbind_calls, __ATOMIC_RELAXED);
    out->mbind_errors = __atomic_load_n(&h->mi[node].mbind_errors, __ATOMIC_RELAXED);
    return true;
}
