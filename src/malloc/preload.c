/*
 * preload.c — libxpv-malloc.so (jemalloc) and libxpv-malloc-mi.so (mimalloc, built with
 * XPV_MALLOC_MI): the process-wide xpv-malloc heap behind the standard malloc family, for
 * programs that link the library or get it through LD_PRELOAD.
 *
 * Global state (the documented exception to "no global mutable state outside a handle"): an
 * allocator that replaces malloc is process-wide by nature. There is one heap pointer,
 * written once by the constructor, and the thread-local state of heap.c.
 *
 * Start-up: until the constructor has run (other libraries' constructors may allocate first)
 * the functions below pass straight to the backend (jemalloc, or mimalloc's default heap);
 * jemalloc's own entry points are resolved first, then the live topology is discovered (hwloc), the
 * kernel's ops table made and the heap created with the record at $XPV_RECORD (or
 * /dev/shm/xpv-topology). Allocations made while setting up also pass straight through. Nothing
 * here takes a lock per allocation.
 *
 * Fork: the heap's lock is taken before fork and released in both processes (jemalloc's own
 * fork handlers, registered earlier, run after ours, matching the order our slow path takes
 * locks in: heap lock, then jemalloc's). The hooks' lock is taken inside jemalloc, so it is
 * not held across fork; the child re-initialises it instead, as no other thread exists there.
 *
 * Environment (docs/malloc.md): XPV_RECORD, XPV_MALLOC_NO_RECORD=1, XPV_MALLOC_MPOL=bind,
 * XPV_MALLOC_SAMPLE=N, XPV_MALLOC_DISABLE=1, XPV_MALLOC_STATS=1 (printed to stderr at exit:
 * the one place this library prints, on request).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "heap_internal.h"
#include "xpv/ops.h"
#include "xpv/topo.h"

/* Until the constructor made the heap: boot, a heap no thread ever takes (its t->owner test
 * fails, so the fast path needs no test of its own for "no heap yet"). */
static struct xpv_heap boot;
static struct xpv_heap *g_heap = &boot;
static int g_stats_fd = -1; /* XPV_MALLOC_STATS: stderr, duplicated at start (programs such as
                               coreutils close fd 2 in their own exit handlers, before ours) */

/* The process's heap, NULL until made (or with XPV_MALLOC_DISABLE, or when making it failed). */
static inline struct xpv_heap *heap(void)
{
    struct xpv_heap *h = __atomic_load_n(&g_heap, __ATOMIC_ACQUIRE);
    return h != &boot ? h : NULL;
}

static inline void check(void)
{
    struct xpv_heap *h = heap();
    if (h)
        xpv__heap_check(h);
}

/* The hot names: the fast path inline, everything else (the slow path, no heap yet) in a
 * separate function, so the fast path saves no registers and ends in a jump to jemalloc. */
static inline bool current(void)
{
    return xpv__heap_current(__atomic_load_n(&g_heap, __ATOMIC_ACQUIRE), &xpv__ts);
}

static void slow(void)
{
    struct xpv_heap *h = heap();
    if (h)
        xpv__heap_slow(h, &xpv__ts);
}

__attribute__((noinline)) static void *malloc_slow(size_t size)
{
    slow();
    return xpv__be_malloc(size);
}

__attribute__((noinline)) static void *calloc_slow(size_t n, size_t size)
{
    slow();
    return xpv__be_calloc(n, size);
}

__attribute__((noinline)) static void *realloc_slow(void *p, size_t size)
{
    slow();
    return xpv__be_realloc(p, size);
}

/* --- the standard names --- */

void *malloc(size_t size)
{
    if (__builtin_expect(current(), 1))
        return xpv__be_malloc(size);
    return malloc_slow(size);
}

void free(void *p)
{
    xpv__be_free(p);
}

void *calloc(size_t n, size_t size)
{
    if (__builtin_expect(current(), 1))
        return xpv__be_calloc(n, size);
    return calloc_slow(n, size);
}

void *realloc(void *p, size_t size)
{
    if (__builtin_expect(current(), 1))
        return xpv__be_realloc(p, size);
    return realloc_slow(p, size);
}

void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

static void *aligned(size_t alignment, size_t size)
{
    check();
    void *p = xpv__be_aligned(alignment, size);
    if (!p)
        errno = ENOMEM;
    return p;
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)))
        return EINVAL;
    int saved = errno;
    void *p = aligned(alignment, size);
    errno = saved;
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size)
{
    if (alignment == 0 || (alignment & (alignment - 1))) {
        errno = EINVAL;
        return NULL;
    }
    return aligned(alignment, size);
}

/* glibc's memalign rounds an alignment that is not a power of two up to one. */
void *memalign(size_t alignment, size_t size)
{
    if (alignment <= 16)
        return malloc(size);
    size_t a = 1;
    while (a < alignment) {
        if (a > SIZE_MAX / 2) {
            errno = EINVAL;
            return NULL;
        }
        a <<= 1;
    }
    return aligned(a, size);
}

void *valloc(size_t size)
{
    return aligned((size_t)sysconf(_SC_PAGESIZE), size);
}

void *pvalloc(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (size > SIZE_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned(page, size ? (size + page - 1) & ~(page - 1) : page);
}

size_t malloc_usable_size(void *p)
{
    return xpv__be_usable_size(p);
}

/* --- the xpv_malloc API --- */

void *xpv_malloc(size_t size)
{
    return malloc(size);
}
void *xpv_calloc(size_t n, size_t size)
{
    return calloc(n, size);
}
void *xpv_realloc(void *p, size_t size)
{
    return realloc(p, size);
}
void *xpv_aligned_alloc(size_t alignment, size_t size)
{
    return aligned_alloc(alignment, size);
}
void xpv_free(void *p)
{
    free(p);
}
size_t xpv_malloc_usable_size(const void *p)
{
    return malloc_usable_size((void *)p);
}
struct xpv_heap *xpv_malloc_heap(void)
{
    return heap();
}
int xpv_malloc_stats(struct xpv_malloc_stats *out)
{
    struct xpv_heap *h = heap();
    if (!h) {
        memset(out, 0, sizeof(*out));
        return -ENODEV;
    }
    return xpv_heap_stats(h, out);
}

/* --- set-up, fork, exit --- */

static void prefork(void)
{
    struct xpv_heap *h = heap();
    if (h)
        pthread_mutex_lock(&h->lock);
}
static void postfork_parent(void)
{
    struct xpv_heap *h = heap();
    if (h)
        pthread_mutex_unlock(&h->lock);
}
static void postfork_child(void)
{
    struct xpv_heap *h = heap();
    if (h) {
        pthread_mutex_unlock(&h->lock);
        pthread_mutex_init(&h->hook_lock, NULL);
    }
}

static void print_stats(void)
{
    struct xpv_malloc_stats s;
    if (xpv_malloc_stats(&s) < 0)
        return;
    dprintf(g_stats_fd,
            "xpv-malloc: pid %d, record %s (generation %llu), %llu thread bindings, %llu "
            "rebindings\n",
            (int)getpid(), s.record ? "open" : "absent", (unsigned long long)s.generation,
            (unsigned long long)s.binds, (unsigned long long)s.rebinds);
    for (unsigned i = 0; i < s.nr_nodes; i++)
        dprintf(g_stats_fd,
                "xpv-malloc:   node %d (arena %u): %llu bytes allocated, %llu bytes of extents, "
                "%llu mbind, %llu mbind errors\n",
                s.nodes[i].node, s.nodes[i].arena, (unsigned long long)s.nodes[i].allocated,
                (unsigned long long)s.nodes[i].extent_bytes,
                (unsigned long long)s.nodes[i].mbind_calls,
                (unsigned long long)s.nodes[i].mbind_errors);
}

static int env_on(const char *name)
{
    const char *v = secure_getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

__attribute__((constructor)) static void xpv_malloc_init(void)
{
    xpv__be_resolve();
    if (env_on("XPV_MALLOC_DISABLE"))
        return;
    struct xpv_heap_config cfg = {0};
    const char *mpol = secure_getenv("XPV_MALLOC_MPOL");
    cfg.mpol = mpol && strcmp(mpol, "bind") == 0 ? XPV_MPOL_BIND : XPV_MPOL_PREFERRED;
    const char *sample = secure_getenv("XPV_MALLOC_SAMPLE");
    cfg.cpu_sample = sample ? (unsigned)strtoul(sample, NULL, 10) : 0;
    cfg.no_record = env_on("XPV_MALLOC_NO_RECORD");
    struct xpv_topo *topo = NULL;
    struct xpv_ops *ops = NULL;
    if (xpv_topo_discover(NULL, &topo, NULL) == 0) {
        cfg.topo = topo;
        ops = xpv_ops_linux_new(topo, NULL); /* lives as long as the process */
    }
    cfg.ops = ops;
    struct xpv_heap *h = NULL;
    int rc = xpv_heap_new(&cfg, &h, NULL);
    xpv_topo_free(topo);
    if (rc < 0) {
        xpv_ops_free(ops);
        return; /* plain jemalloc */
    }
    pthread_atfork(prefork, postfork_parent, postfork_child);
    __atomic_store_n(&g_heap, h, __ATOMIC_RELEASE);
    if (env_on("XPV_MALLOC_STATS") && (g_stats_fd = fcntl(2, F_DUPFD_CLOEXEC, 3)) >= 0)
        atexit(print_stats);
}
