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
 *    itself (snapshots, hwloc) pass straight to jemalloc instead of recursing.
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
    struct xpv__node_hooks *arena[XPV_MALLOC_MAX_NODES][XPV__SUBS];
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
    unsigned arena; /* jemalloc arena index the thread is on, UINT32_MAX: not set by us */
    int node;
    unsigned sub; /* its arena among its node's XPV__SUBS */
    int busy;
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

/* Arenas (arena.c). */
int xpv__arena_create(struct xpv_heap *h, int node, unsigned sub, struct xpv_error *err);
unsigned xpv__arena_index(const struct xpv_heap *h, int node, unsigned sub);
int xpv__arena_destroy(struct xpv_heap *h, int node);
bool xpv__arena_stats(const struct xpv_heap *h, int node, struct xpv_malloc_node_stats *out);
int xpv__arena_node_of(const struct xpv_heap *h, unsigned arena_index);
int xpv__je_check(struct xpv_error *err);

/* CPU → node maps (nodemap.c): pure functions. */
void xpv__nodemap_from_topo(const struct xpv_topo *t, int16_t *map);
struct xpv_snapshot;
void xpv__nodemap_from_snapshot(const struct xpv_snapshot *s, int16_t *map);

#endif
