/*
 * xpv/xpv_malloc.h — xpv-malloc: a NUMA-aware allocator on jemalloc that follows topology
 * changes (docs/malloc.md).
 *
 * jemalloc does the allocating; xpv decides which node's arena each thread uses. A heap owns
 * jemalloc arenas per node (up to 4, picked by CPU so threads of one node do not share one
 * arena's locks), created on first use, whose new extents are mbind()-ed to that node. A thread is
 * bound to the arena of its *effective node*: from the XPV topology record (libxpv, xpv/channel.h)
 * when one is published, so a VM's threads follow XPV, else from the host topology. The allocation
 * fast path checks the record's generation with one load and the CPU with one load of the thread's
 * rseq area (or every `cpu_sample` allocations through sched_getcpu() where rseq is unavailable);
 * no syscall and no lock per allocation.
 *
 * Two ways to use it:
 *   - link libxpv-malloc.so: the process-wide API below (xpv_malloc, xpv_free, ...,
 *     xpv_malloc_stats) plus the standard names (malloc, free, ...);
 *   - LD_PRELOAD=build/lib/libxpv-malloc.so into an unmodified program.
 * The heap API (xpv_heap_*) is the core both are built on; it is what tests and embedders
 * with their own topology or ops table use (libxpv_malloc_core.a).
 */
#ifndef XPV_XPV_MALLOC_H
#define XPV_XPV_MALLOC_H

#include <stddef.h>
#include <stdint.h>

#include "xpv/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The topology model and the mechanism ops table (xpv/topo.h, xpv/ops.h) are the project's
 * internal interfaces, not installed: a heap's config only points at them. */
struct xpv_topo;
struct xpv_ops;

/* Nodes a heap can hold arenas for (node ids 0 .. XPV_MALLOC_MAX_NODES-1). */
#define XPV_MALLOC_MAX_NODES 64

struct xpv_heap;

/* How a heap finds the CPU a thread runs on; the tests' replacement for rseq/getcpu.
 * Returns a CPU number or a negative value (unknown). */
typedef int (*xpv_heap_cpu_fn)(void *arg);

struct xpv_heap_config {
    /* The topology record: NULL is xpv_channel_default_path() ($XPV_RECORD, else
     * /dev/shm/xpv-topology). A missing record is not an error: the heap uses the host
     * topology and tries the path again at most once a second. */
    const char *record_path;
    int no_record; /* non-zero: never read a record, host topology only */
    /* The host topology (copied): each CPU's node, or for a CPU on a memory-less node (or
     * one the cpuset forbids) the nearest allowed node with memory. NULL: none (then without
     * a record threads stay on jemalloc's automatic arenas). */
    const struct xpv_topo *topo;
    /* Where the arenas' mbind() goes (borrowed; must outlive the heap's arenas). NULL: no
     * binding at all (arenas are still per node). */
    struct xpv_ops *ops;
    int mpol;               /* xpv/ops.h's XPV_MPOL_PREFERRED (0 means this) or XPV_MPOL_BIND */
    unsigned cpu_sample;    /* without rseq: re-read the CPU every N allocations (0: 64) */
    xpv_heap_cpu_fn cpu_fn; /* tests: replaces rseq/sched_getcpu, called on every check */
    void *cpu_arg;
};

/* Per-node figures of a heap. */
struct xpv_malloc_node_stats {
    int node;              /* node id */
    unsigned arena;        /* jemalloc index of the node's first arena (up to 4 per node) */
    uint64_t allocated;    /* bytes live in the arena now (jemalloc's stats) */
    uint64_t extent_bytes; /* bytes of extents the arena mapped (and bound) so far */
    uint64_t mbind_calls;  /* extents bound */
    uint64_t mbind_errors; /* extents whose mbind() failed (memory still usable, unbound) */
};

struct xpv_malloc_stats {
    uint64_t generation; /* record generation the heap last read (0: none) */
    int record;          /* 1: a record is open */
    uint64_t binds;      /* threads bound to an arena the first time */
    uint64_t rebinds;    /* threads moved from one node's arena to another's */
    uint64_t refreshes;  /* record re-reads (generation changes seen) */
    unsigned nr_nodes;   /* entries in nodes[] (nodes with an arena) */
    struct xpv_malloc_node_stats nodes[XPV_MALLOC_MAX_NODES];
};

/* --- heaps --- */

/* A heap as described by cfg (NULL: all defaults, no topology, no ops). -ENOSYS when the
 * jemalloc loaded in the process cannot create arenas (err says why). */
int xpv_heap_new(const struct xpv_heap_config *cfg, struct xpv_heap **out, struct xpv_error *err);
/* Delete the heap. Only when no other thread uses it any more: -EBUSY while a thread is still
 * bound to one of its arenas (the record is closed, the arenas that could go are gone; call
 * again later). Memory still allocated from the heap stays valid and is freed with free() as
 * usual: an arena that still holds some is left to the allocator (no longer bound to a node),
 * only empty ones are destroyed. Where jemalloc is also the process's malloc, a bound thread's
 * plain malloc() calls used the heap's arenas too; that memory stays valid the same way.
 * NULL is fine. */
int xpv_heap_delete(struct xpv_heap *h);

void *xpv_heap_alloc(struct xpv_heap *h, size_t size);
void *xpv_heap_calloc(struct xpv_heap *h, size_t n, size_t size);
void *xpv_heap_realloc(struct xpv_heap *h, void *p, size_t size);
/* alignment: a power of two (any size; C11 aligned_alloc's restriction does not apply). */
void *xpv_heap_aligned(struct xpv_heap *h, size_t alignment, size_t size);
/* Frees memory from any heap, any node, any thread (and anything jemalloc allocated). */
void xpv_heap_free(void *p);
size_t xpv_heap_usable_size(const void *p);

/* Check the calling thread's binding now (as an allocation would) and return its node id,
 * or -1 when it is on no node's arena. */
int xpv_heap_thread_node(struct xpv_heap *h);
/* The node whose arena holds p (jemalloc's arenas.lookup; slow), or -1. */
int xpv_heap_node_of(struct xpv_heap *h, const void *p);
int xpv_heap_stats(struct xpv_heap *h, struct xpv_malloc_stats *out);

/* --- the process-wide allocator (libxpv-malloc.so only) ---
 * The default heap reads $XPV_RECORD (or /dev/shm/xpv-topology) and the live topology; see
 * docs/malloc.md for the environment variables. malloc/free/... use the same heap. */
void *xpv_malloc(size_t size);
void *xpv_calloc(size_t n, size_t size);
void *xpv_realloc(void *p, size_t size);
void *xpv_aligned_alloc(size_t alignment, size_t size);
void xpv_free(void *p);
size_t xpv_malloc_usable_size(const void *p);
/* NULL until the library's constructor ran (or when it could not set the heap up). */
struct xpv_heap *xpv_malloc_heap(void);
int xpv_malloc_stats(struct xpv_malloc_stats *out);

#ifdef __cplusplus
}
#endif
#endif
