/*
 * heap_internal.h — the heap structure and the allocation fast path shared by heap.c (the
 * heap API) and preload.c (the standard names).
 *
 * Invariants:
 *  - gen_word always points at a readable 64-bit word: the record's generation word, or the
 *    heap's own zero when no record is open. The fast path reads it with one relaxed load.
 *  - A thread's state (struct xpv__tstate, thread-local, initial-exec so reading it never
 *    allocates) says which heap it was last checked against, the generation and CPU it was
 *    bound for and the arena it is on. The fast path only compares; everything else happens in
 *    xpv__heap_slow() with the thread's `busy` flag set, so allocations made by the slow path
 *    itself (snapshots, hwloc) pass straight to the backend instead of recursing.
 *  - heap->lock guards the CPU→node maps and the arena table; hook_lock serialises the
 *    extent hooks' ops calls (an ops table need not be thread-safe, and making an arena,
 *    by arenas.create or by writing an automatic one's hooks, calls the hook while
 *    heap->lock is held, so the two locks must differ).
 */
#ifndef XPV_MALLOC_HEAP_INTERNAL_H
#define XPV_MALLOC_HEAP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "xpv/channel.h"
#include "xpv/ops.h"
#include "xpv/topo.h"
#include "xpv/xpv_malloc.h"

/* The backend: jemalloc unless XPV_MALLOC_MI is defined (mimalloc). Each backend is its own
 * library (libxpv-malloc.so, libxpv-malloc-mi.so; libxpv_malloc_core.a, libxpv_malloc_core_mi.a)
 * built from the same heap.c and preload.c: a process has one malloc, so the choice is made
 * when linking or preloading, and the allocation path has no indirection. docs/malloc.md. */
#ifdef XPV_MALLOC_MI
#include <mimalloc.h>
#else
#include <jemalloc/jemalloc.h>
#endif

struct xpv__node_hooks;

#define XPV__SUBS 4 /* arenas per node at most */

struct xpv__rseq_area; /* the kernel's struct rseq, read as cpu_id at offset 4 */

struct xpv_heap {
    const uint64_t *gen_word; /* first: the fast path's only shared load */
    xpv_heap_cpu_fn cpu_fn;
    void *cpu_arg;
    unsigned cpu_sample;

    pthread_mutex_t lock;
    struct xpv_channel *ch; /* NULL: no record open (yet) */
    char *record_path;      /* NULL with no_record */
    uint64_t retry_ns;      /* next time to try opening the record */
    uint64_t zero;          /* gen_word's target without a record */
    uint64_t map_gen;       /* generation rec_map was built from */
    bool have_rec, have_topo;
    int16_t *rec_map;  /* [XPV_MAX_CPUS]: effective node per CPU from the record, -1 unknown */
    int16_t *topo_map; /* [XPV_MAX_CPUS]: from the host topology */

    struct xpv_ops *ops;
    int mpol;
    pthread_mutex_t hook_lock;
    /* Per node, up to XPV__SUBS arenas: a thread uses [node][its sub], subs handed out round
     * robin as threads first bind, so threads of a node do not all share one arena's locks
     * (jemalloc itself gives each thread its own arena, up to 4 per CPU; one arena per node
     * measured ~20 % slower with two threads, docs/malloc.md), and a thread that changes CPU
     * within its node keeps its arena. NULL: not created yet. */
#ifdef XPV_MALLOC_MI
    /* mimalloc: the node arenas are process-wide (arena_mi.c); this heap's binding of each,
     * made the first time one of its threads needs the node. */
    struct {
        bool bound;
        uint64_t mbind_calls, mbind_errors;
    } mi[XPV_MALLOC_MAX_NODES];
    unsigned nthreads; /* atomic: threads whose state names this heap (xpv_heap_delete) */
#else
    struct xpv__node_hooks *arena[XPV_MALLOC_MAX_NODES][XPV__SUBS];
#endif
    bool arena_failed[XPV_MALLOC_MAX_NODES][XPV__SUBS];

    /* statistics (atomic) */
    uint64_t binds, rebinds, refreshes;
    unsigned next_sub; /* atomic: the sub of the next thread to bind */
};

struct xpv__tstate {
    struct xpv_heap *owner; /* heap this state was computed for; NULL: none yet */
    /* The thread's rseq cpu_id; without rseq, &cpu itself, so the fast path's CPU compare
     * always holds and the countdown alone sends the thread to re-read its CPU. Set with
     * owner. */
    const volatile uint32_t *cpu_word;
    uint64_t gen;
    int cpu;
    bool rseq; /* cpu_word is the kernel's */
    unsigned countdown;
    unsigned arena; /* backend arena index the thread is on, UINT32_MAX: not set by us */
    int node;
    unsigned sub; /* its arena among its node's XPV__SUBS */
    int busy;
#ifdef XPV_MALLOC_MI
    bool exit_hook; /* the thread-exit callback is registered (arena_mi.c) */
#endif
};

extern __thread struct xpv__tstate xpv__ts __attribute__((tls_model("initial-exec")));

void xpv__heap_slow(struct xpv_heap *h, struct xpv__tstate *t);

/* The check every allocation makes: one load of the generation, one of the CPU (rseq), a
 * countdown; all equal to what the thread was bound for -> true, nothing to do. The countdown
 * sends the thread to the slow path every cpu_sample allocations without rseq (to re-read the
 * CPU), every 65536 with it (to look for a record that appeared), every time with a cpu_fn.
 * False: call xpv__heap_slow() (once: the countdown was used). */
static inline bool xpv__heap_current(const struct xpv_heap *h, struct xpv__tstate *t)
{
    return __builtin_expect(t->owner == h, 1) &&
           __builtin_expect(__atomic_load_n(h->gen_word, __ATOMIC_RELAXED) == t->gen, 1) &&
           __builtin_expect((int)*t->cpu_word == t->cpu, 1) &&
           __builtin_expect(--t->countdown != 0, 1);
}

static inline void xpv__heap_check(struct xpv_heap *h)
{
    struct xpv__tstate *t = &xpv__ts;
    if (!xpv__heap_current(h, t))
        xpv__heap_slow(h, t);
}

/* --- the backend (arena.c: jemalloc; arena_mi.c: mimalloc) --- */

/* Can this backend make node arenas in this process? 0, or a negative errno with err set. */
int xpv__be_check(struct xpv_error *err);
/* Make node's arena (sub: which of the node's XPV__SUBS; mimalloc has one per node, the
 * threads' own heaps inside it), bound to the node through h->ops. 0 when it exists. */
int xpv__arena_create(struct xpv_heap *h, int node, unsigned sub, struct xpv_error *err);
/* The backend's index of node's arena (jemalloc's arena index, mimalloc's arena id); 0: none. */
unsigned xpv__arena_index(const struct xpv_heap *h, int node, unsigned sub);
/* A thread takes h as its heap (t->owner is about to become h). */
void xpv__be_adopt(struct xpv_heap *h, struct xpv__tstate *t);
/* Move the calling thread to arena ind (node's; ind 0, node -1: the backend's default). */
void xpv__be_switch(struct xpv_heap *h, struct xpv__tstate *t, unsigned ind, int node);
/* The calling thread, bound to h, leaves it (xpv_heap_delete). */
void xpv__be_leave(struct xpv_heap *h, struct xpv__tstate *t);
/* Under h->lock: give the heap's arenas up; -EBUSY while a thread still uses the heap. */
int xpv__be_release(struct xpv_heap *h);
bool xpv__arena_stats(const struct xpv_heap *h, int node, struct xpv_malloc_node_stats *out);
/* The node of h whose arena holds p, or -1. */
int xpv__be_node_of(const struct xpv_heap *h, const void *p);

#ifdef XPV_MALLOC_MI
/* mimalloc: a thread bound to a node has that node's heap (inside the node's arena) as
 * mimalloc's default heap (arena_mi.c, mi_heap_set_default), so every allocation is
 * mimalloc's own default-heap entry point (mi_malloc: no heap pointer to pass, nothing to test
 * before the call). An unbound thread (no node, or one that is exiting) has mimalloc's own
 * default heap, its backing heap. A node arena that is full (or an alignment mimalloc cannot
 * serve from an arena) gives NULL: then the thread's backing heap, unbound memory rather than
 * a failure (xpv__mi_unbound_*, out of line: never taken while the arena has room). */
void *xpv__mi_unbound_malloc(size_t n);
void *xpv__mi_unbound_calloc(size_t n, size_t size);
void *xpv__mi_unbound_realloc(void *p, size_t n);
void *xpv__mi_unbound_aligned(size_t alignment, size_t n);
static inline void *xpv__be_malloc(size_t n)
{
    void *p = mi_malloc(n);
    if (__builtin_expect(p != NULL, 1))
        return p;
    return xpv__mi_unbound_malloc(n);
}
static inline void *xpv__be_calloc(size_t n, size_t size)
{
    void *p = mi_calloc(n, size);
    if (__builtin_expect(p != NULL, 1))
        return p;
    return xpv__mi_unbound_calloc(n, size);
}
static inline void *xpv__be_realloc(void *p, size_t n)
{
    void *q = mi_realloc(p, n);
    if (__builtin_expect(q != NULL, 1))
        return q;
    return xpv__mi_unbound_realloc(p, n);
}
/* alignment: a power of two. mimalloc 2.0.9 (Debian's, and plain LD_PRELOAD'ed mimalloc
 * alike) sometimes hands out a block that is not aligned when the size is a multiple of the
 * alignment (mi_malloc_aligned(512, 256): 128-aligned; tests/malloc/so_api.c found it), so
 * the result is checked and, when wrong, asked again with an odd size, which takes the path
 * that aligns (seen aligned for every size and alignment up to 1 MiB), then with room for
 * the alignment. */
void *xpv__mi_aligned_retry(size_t alignment, size_t n);
static inline void *xpv__be_aligned(size_t alignment, size_t n)
{
    void *p = mi_malloc_aligned(n ? n : 1, alignment);
    if (!p)
        p = xpv__mi_unbound_aligned(alignment, n ? n : 1);
    if (__builtin_expect(((uintptr_t)p & (alignment - 1)) == 0, 1))
        return p;
    mi_free(p);
    return xpv__mi_aligned_retry(alignment, n);
}
static inline void xpv__be_free(void *p)
{
    mi_free(p);
}
static inline size_t xpv__be_usable_size(const void *p)
{
    return mi_usable_size(p);
}
static inline void xpv__be_resolve(void) {}
#else
/* jemalloc's own entry points (its fast paths), resolved from the jemalloc object itself
 * because in libxpv-malloc.so the standard names are ours. Until resolved they point at
 * wrappers of mallocx/dallocx, which are always usable. */
struct xpv__je {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
};
extern struct xpv__je xpv__je;
/* Resolve xpv__je (idempotent, thread-safe enough: every pointer value is valid at all
 * times). 0 or -ENOENT when jemalloc's object cannot be found (the wrappers stay). */
int xpv__je_resolve(void);

static inline void *xpv__be_malloc(size_t n)
{
    return xpv__je.malloc(n);
}
static inline void *xpv__be_calloc(size_t n, size_t size)
{
    return xpv__je.calloc(n, size);
}
static inline void *xpv__be_realloc(void *p, size_t n)
{
    return xpv__je.realloc(p, n);
}
static inline void *xpv__be_aligned(size_t alignment, size_t n)
{
    return mallocx(n ? n : 1, MALLOCX_ALIGN(alignment));
}
static inline void xpv__be_free(void *p)
{
    xpv__je.free(p);
}
static inline size_t xpv__be_usable_size(const void *p)
{
    return p ? sallocx((void *)p, 0) : 0;
}
static inline void xpv__be_resolve(void)
{
    xpv__je_resolve();
}
#endif

/* CPU → node maps (nodemap.c): pure functions. */
void xpv__nodemap_from_topo(const struct xpv_topo *t, int16_t *map);
struct xpv_snapshot;
void xpv__nodemap_from_snapshot(const struct xpv_snapshot *s, int16_t *map);

#endif
