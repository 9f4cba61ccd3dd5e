/*
 * heap.c — the xpv-malloc heap (xpv/xpv_malloc.h): binding threads to the arena of their
 * effective node, and following the record's generation and the thread's CPU.
 *
 * A thread is re-examined (xpv__heap_slow) when the record's generation, its CPU or the heap
 * it uses differs from what it was bound for. There: re-read the record if its generation
 * moved (under heap->lock; every thread then uses the same maps), look the CPU up (record map,
 * else host-topology map, else nowhere), create the node's arena on first use, and if the
 * arena differs from the thread's, switch the thread to it through the backend (heap_internal.h:
 * arena.c with jemalloc, "thread.arena" and a tcache flush; arena_mi.c with mimalloc, the
 * thread's own heap inside the node's arena).
 *
 * Frees need nothing from us: both allocators find the owner of any pointer, so memory from
 * another node's arena (another thread's, or this thread's before a rebind) is freed correctly.
 * This file is compiled once per backend.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#if defined(__has_include)
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#endif
#endif

#include "heap_internal.h"

#define RSEQ_RECHECK   65536u /* with rseq: allocations between looks for a new record */
#define DEFAULT_SAMPLE 64u
#define RETRY_NS       1000000000ull /* a missing record is looked for at most once a second */

__thread struct xpv__tstate xpv__ts __attribute__((tls_model("initial-exec")));

/* --- where the thread runs --- */

static const volatile uint32_t *rseq_cpu_word(void)
{
#if defined(RSEQ_SIG) && (defined(__x86_64__) || defined(__aarch64__))
    if (__rseq_size == 0) /* glibc did not register rseq (old kernel, or tunable off) */
        return NULL;
    struct rseq *r = (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
    if ((int32_t)r->cpu_id < 0)
        return NULL;
    return &r->cpu_id;
#else
    return NULL;
#endif
}

static int current_cpu(const struct xpv_heap *h, const struct xpv__tstate *t)
{
    if (h->cpu_fn)
        return h->cpu_fn(h->cpu_arg);
    if (t->rseq)
        return (int)*t->cpu_word;
    return sched_getcpu(); /* vDSO getcpu on x86-64: no system call */
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- the record --- */

/* Under h->lock. Try to open the record when none is open and the retry time passed. */
static void maybe_open_record(struct xpv_heap *h)
{
    if (h->ch || !h->record_path)
        return;
    uint64_t now = now_ns();
    if (now < h->retry_ns)
        return;
    __atomic_store_n(&h->retry_ns, now + RETRY_NS, __ATOMIC_RELAXED);
    struct xpv_channel *ch;
    if (xpv_channel_open(h->record_path, &ch, NULL) == 0) {
        __atomic_store_n(&h->ch, ch, __ATOMIC_RELAXED);
        __atomic_store_n(&h->gen_word, xpv_channel_generation_word(ch), __ATOMIC_RELEASE);
    }
}

/* Under h->lock: rebuild rec_map when the generation moved. A record that fails validation
 * leaves the last good map (libxpv hands back the last good snapshot). */
static void refresh_record(struct xpv_heap *h, uint64_t g)
{
    if (!h->ch || g == h->map_gen)
        return;
    struct xpv_snapshot *s = NULL;
    xpv_channel_snapshot(h->ch, &s, NULL);
    h->map_gen = g;
    if (!s)
        return;
    xpv__nodemap_from_snapshot(s, h->rec_map);
    h->have_rec = true;
    h->map_gen = xpv_snapshot_generation(s) > g ? xpv_snapshot_generation(s) : g;
    xpv_snapshot_put(s);
    __atomic_add_fetch(&h->refreshes, 1, __ATOMIC_RELAXED);
}

static int lookup(const struct xpv_heap *h, int cpu)
{
    if (cpu < 0 || cpu >= XPV_MAX_CPUS)
        return -1;
    int n = h->have_rec ? h->rec_map[cpu] : -1;
    if (n < 0 && h->have_topo)
        n = h->topo_map[cpu];
    return n;
}

/* --- the slow path --- */

void xpv__heap_slow(struct xpv_heap *h, struct xpv__tstate *t)
{
    if (t->busy)
        return;
    t->busy = 1;
    if (t->owner != h) {
        if (!t->owner) /* a new thread: on whatever arena jemalloc gave it */
            t->arena = UINT32_MAX;
        const volatile uint32_t *w = rseq_cpu_word();
        t->rseq = w != NULL;
        t->cpu_word = w ? w : (const volatile uint32_t *)&t->cpu; /* before owner */
        xpv__be_adopt(h, t); /* before owner: it may look at the previous one */
        t->owner = h;
        t->gen = UINT64_MAX;
        t->cpu = INT_MIN;
        t->node = -1;
        t->sub = __atomic_fetch_add(&h->next_sub, 1, __ATOMIC_RELAXED) % XPV__SUBS;
    }
    t->countdown = h->cpu_fn ? 1 : t->rseq ? RSEQ_RECHECK : h->cpu_sample;
    uint64_t g = __atomic_load_n(__atomic_load_n(&h->gen_word, __ATOMIC_ACQUIRE), __ATOMIC_RELAXED);
    int cpu = current_cpu(h, t);
    bool reopen = !__atomic_load_n(&h->ch, __ATOMIC_RELAXED) && h->record_path &&
                  now_ns() >= __atomic_load_n(&h->retry_ns, __ATOMIC_RELAXED);
    if (g == t->gen && !reopen && (cpu == t->cpu || (t->node >= 0 && lookup(h, cpu) == t->node))) {
        /* the countdown's CPU sample, or another CPU of the same node: nothing to change (the
         * CPU maps change only with the generation, which did not) */
        t->cpu = cpu;
        t->busy = 0;
        return;
    }
    pthread_mutex_lock(&h->lock);
    maybe_open_record(h);
    g = __atomic_load_n(h->gen_word, __ATOMIC_ACQUIRE);
    refresh_record(h, g);
    int node = lookup(h, cpu);
    unsigned ind = 0, sub = t->sub;
    if (node >= 0 && !h->arena_failed[node][sub]) {
        if (xpv__arena_create(h, node, sub, NULL) < 0)
            h->arena_failed[node][sub] = true;
        ind = xpv__arena_index(h, node, sub);
    }
    if (ind == 0)
        node = -1;
    pthread_mutex_unlock(&h->lock);
    /* No node: the backend's default arenas; a thread we never bound stays where it is. */
    if (node >= 0 || t->arena != UINT32_MAX)
        xpv__be_switch(h, t, ind, node);
    t->gen = g;
    t->cpu = cpu;
    t->busy = 0;
}

/* --- heaps --- */

int xpv_heap_new(const struct xpv_heap_config *cfg, struct xpv_heap **out, struct xpv_error *err)
{
    static const struct xpv_heap_config none = {0};
    *out = NULL;
    if (!cfg)
        cfg = &none;
    if (cfg->mpol != 0 && cfg->mpol != XPV_MPOL_PREFERRED && cfg->mpol != XPV_MPOL_BIND)
        return xpv_error_set(err, -EINVAL,
                             "memory policy %d: xpv-malloc binds arenas with MPOL_PREFERRED "
                             "(%d) or MPOL_BIND (%d)",
                             cfg->mpol, XPV_MPOL_PREFERRED, XPV_MPOL_BIND);
    int rc = xpv__be_check(err);
    if (rc < 0)
        return rc;
    xpv__be_resolve();
    /* mmap, not malloc: heaps are made from inside malloc's set-up in the preload library. */
    size_t size = sizeof(struct xpv_heap) + 2 * XPV_MAX_CPUS * sizeof(int16_t);
    struct xpv_heap *h =
            mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (h == MAP_FAILED)
        return xpv_error_set(err, -ENOMEM, "out of memory for a heap");
    h->rec_map = (int16_t *)(h + 1);
    h->topo_map = h->rec_map + XPV_MAX_CPUS;
    h->gen_word = &h->zero;
    h->cpu_fn = cfg->cpu_fn;
    h->cpu_arg = cfg->cpu_arg;
    h->cpu_sample = cfg->cpu_sample ? cfg->cpu_sample : DEFAULT_SAMPLE;
    h->ops = cfg->ops;
    h->mpol = cfg->mpol ? cfg->mpol : XPV_MPOL_PREFERRED;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->hook_lock, NULL);
    if (cfg->topo) {
        xpv__nodemap_from_topo(cfg->topo, h->topo_map);
        h->have_topo = true;
    }
    if (!cfg->no_record) {
        const char *p = cfg->record_path ? cfg->record_path : xpv_channel_default_path();
        size_t n = strlen(p) + 1;
        h->record_path = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (h->record_path == MAP_FAILED) {
            munmap(h, size);
            return xpv_error_set(err, -ENOMEM, "out of memory for a heap");
        }
        memcpy(h->record_path, p, n);
        maybe_open_record(h);
    }
    *out = h;
    return 0;
}

int xpv_heap_delete(struct xpv_heap *h)
{
    if (!h)
        return 0;
    struct xpv__tstate *t = &xpv__ts;
    if (t->owner == h)
        xpv__be_leave(h, t);
    pthread_mutex_lock(&h->lock);
    /* First: where jemalloc is also the process's malloc, the channel's snapshots were
     * allocated by bound threads, from the arenas about to be destroyed. */
    xpv_channel_close(h->ch);
    h->ch = NULL;
    h->gen_word = &h->zero;
    h->have_rec = false;
    int busy = xpv__be_release(h) < 0;
    pthread_mutex_unlock(&h->lock);
    if (busy)
        return -EBUSY;
    if (h->record_path)
        munmap(h->record_path, strlen(h->record_path) + 1);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->hook_lock);
    munmap(h, sizeof(struct xpv_heap) + 2 * XPV_MAX_CPUS * sizeof(int16_t));
    return 0;
}

void *xpv_heap_alloc(struct xpv_heap *h, size_t size)
{
    xpv__heap_check(h);
    return xpv__be_malloc(size);
}

void *xpv_heap_calloc(struct xpv_heap *h, size_t n, size_t size)
{
    xpv__heap_check(h);
    return xpv__be_calloc(n, size);
}

void *xpv_heap_realloc(struct xpv_heap *h, void *p, size_t size)
{
    xpv__heap_check(h);
    return xpv__be_realloc(p, size);
}

void *xpv_heap_aligned(struct xpv_heap *h, size_t alignment, size_t size)
{
    if (alignment == 0 || (alignment & (alignment - 1))) {
        errno = EINVAL;
        return NULL;
    }
    xpv__heap_check(h);
    return xpv__be_aligned(alignment, size);
}

void xpv_heap_free(void *p)
{
    xpv__be_free(p);
}

size_t xpv_heap_usable_size(const void *p)
{
    return xpv__be_usable_size(p);
}

int xpv_heap_thread_node(struct xpv_heap *h)
{
    struct xpv__tstate *t = &xpv__ts;
    t->countdown = 1; /* force a look at the CPU */
    xpv__heap_check(h);
    return t->owner == h ? t->node : -1;
}

int xpv_heap_node_of(struct xpv_heap *h, const void *p)
{
    return p ? xpv__be_node_of(h, p) : -1;
}

int xpv_heap_stats(struct xpv_heap *h, struct xpv_malloc_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&h->lock);
    out->generation = h->map_gen;
    out->record = h->ch != NULL;
    for (int n = 0; n < XPV_MALLOC_MAX_NODES; n++)
        if (xpv__arena_stats(h, n, &out->nodes[out->nr_nodes]))
            out->nr_nodes++;
    pthread_mutex_unlock(&h->lock);
    out->binds = __atomic_load_n(&h->binds, __ATOMIC_RELAXED);
    out->rebinds = __atomic_load_n(&h->rebinds, __ATOMIC_RELAXED);
    out->refreshes = __atomic_load_n(&h->refreshes, __ATOMIC_RELAXED);
    return 0;
}
