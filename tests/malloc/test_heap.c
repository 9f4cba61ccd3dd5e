/*
 * test_heap.c — the xpv-malloc heap (src/malloc) with jemalloc (test-heap, malloc.heap) and
 * with mimalloc (the same file built with XPV_MALLOC_MI: test-heap-mi, malloc.mi.heap), under
 * ASan+UBSan in the sanitized build: arena choice per node on fixture topologies, rebinding when
 * the record's generation changes, fallback to the host topology for CPUs the record does not
 * place, cross-node frees between threads, the real-CPU (rseq) path, and a stress run with records
 * changing underneath.
 *
 * What ASan sees here: all of xpv's own code (maps, slow path, hooks, stats, libxpv). The
 * memory handed out is jemalloc's (ASan does not poison inside another allocator), so the
 * stress test checks every block's contents itself. The preloadable library is tested
 * without sanitizers by malloc.so_api and malloc.preload_programs.
 *
 * Threads "run" on the CPU the test says (a cpu_fn reading a thread-local variable), so
 * every expectation is exact; the ops table is the recorder, so mbind() calls are checked
 * without a multi-node machine (the lab test t_malloc.c checks real page placement).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef XPV_MALLOC_MI
#include <jemalloc/jemalloc.h>
#endif

#include "../unit/tu_topo.h"
#include "tu_cmocka.h"
#include "xpv/channel.h"
#include "xpv/ops_record.h"
#include "xpv/publisher.h"
#include "xpv/xpv_malloc.h"

static __thread int fake_cpu;

static int cpu_of_thread(void *arg)
{
    (void)arg;
    return fake_cpu;
}

static struct xpv_topo *fixture(const char *name)
{
    const char *dir = getenv("XPV_FIXTURES");
    if (!dir)
        fail_msg("XPV_FIXTURES is not set (run through ctest)");
    char root[4096];
    snprintf(root, sizeof(root), "%s/%s", dir, name);
    struct xpv_topo *t = NULL;
    struct xpv_error err = {0};
    if (xpv_topo_discover(root, &t, &err) < 0)
        fail_msg("%s", err.msg);
    return t;
}

/* Did the recorder see an mbind of [p's extent] to exactly {node}, in mode mpol? */
static size_t mbinds_to(const struct xpv_ops *ops, int node, int mpol)
{
    size_t n = 0;
    for (size_t i = 0; i < xpv_ops_record_count(ops); i++) {
        const struct xpv_op_call *c = xpv_ops_record_call(ops, i);
        if (c->kind == XPV_OP_MBIND && c->rc == 0 && c->mode == mpol &&
            xpv_bitmap_weight(&c->set) == 1 && xpv_bitmap_isset(&c->set, (unsigned)node))
            n++;
    }
    return n;
}

/* For each CPU of the fixture, the node its threads must allocate from (-1: none). */
struct expect {
    const char *machine;
    int cpus;
    int node[16];
};

static const struct expect expects[] = {
        {"4node", 8, {0, 0, 1, 1, 2, 2, 3, 3}},
        {"sparse", 8, {0, 0, 2, 2, 5, 5, 9, 9}},
        /* node 1 has no memory: distance 20 to nodes 0 and 2, the lower id wins */
        {"memless", 6, {0, 0, 0, 0, 2, 2}},
        /* the cpuset allows memory on nodes 1-2 only: node 0's CPUs go to 1, node 3's to 2 */
        {"cpuset", 16, {1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2}},
        {"8node-opteron", 16, {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2}},
};

#ifndef XPV_MALLOC_MI
/* jemalloc arena index of p. */
static unsigned arena_of(void *p)
{
    unsigned ind = UINT32_MAX;
    size_t sz = sizeof(ind);
    assert_int_equal(mallctl("arenas.lookup", &ind, &sz, &p, sizeof(p)), 0);
    return ind;
}

static extent_hooks_t *hooks_of(unsigned ind)
{
    char name[64];
    extent_hooks_t *hp = NULL;
    size_t sz = sizeof(hp);
    snprintf(name, sizeof(name), "arena.%u.extent_hooks", ind);
    assert_int_equal(mallctl(name, &hp, &sz, NULL, 0), 0);
    return hp;
}

/* Node arenas are jemalloc's automatic arenas it has not made yet, from the top index down
 * (arena.c says why: made arenas cost on the allocation path); a deleted heap gives their
 * default hooks back; when none is left, arenas.create. Runs first: before it no test has
 * taken one, and the main thread has only used arena 0. Any number of automatic arenas
 * (4 per CPU by default; ctest also runs it under MALLOC_CONF=narenas:1, where every node
 * arena is a made one, and narenas:260, a 65-CPU machine's count). */
static void test_automatic_arenas_first(void **state)
{
    (void)state;
    unsigned narenas = 0;
    size_t sz = sizeof(narenas);
    assert_int_equal(mallctl("opt.narenas", &narenas, &sz, NULL, 0), 0);
    const char *percpu = NULL;
    sz = sizeof(percpu);
    if (mallctl("opt.percpu_arena", &percpu, &sz, NULL, 0) == 0 && percpu &&
        strcmp(percpu, "disabled") != 0)
        narenas = 1; /* per-CPU arenas: made arenas only (arena.c), as with narenas:1 */
    struct xpv_topo *t = fixture("4node");
    struct xpv_ops *ops = xpv_ops_record_new(t, NULL);
    assert_non_null(ops);
    struct xpv_heap_config cfg = {.no_record = 1, .topo = t, .ops = ops, .cpu_fn = cpu_of_thread};

    /* Heaps are made until a node arena is a made one (index >= narenas), kept alive so their
     * arenas stay taken. Every automatic index from narenas - 1 down to 1 is taken once, in
     * that order, each with memory bound to its node, then made arenas follow. Each heap but
     * the last takes 4 automatic arenas: narenas / 4 + 1 heaps at most. */
    unsigned cap = narenas / 4 + 2;
    struct xpv_heap **heaps = calloc(cap, sizeof(*heaps));
    assert_non_null(heaps);
    unsigned expect = narenas - 1, nheaps = 0;
    bool made = false;
    while (!made) {
        if (nheaps == cap)
            fail_msg("%u heaps took no made arena (opt.narenas %u)", nheaps, narenas);
        struct xpv_heap *h;
        assert_int_equal(xpv_heap_new(&cfg, &h, NULL), 0);
        heaps[nheaps++] = h;
        for (int node = 0; node < 4; node++) {
            size_t before = mbinds_to(ops, node, XPV_MPOL_PREFERRED);
            fake_cpu = 2 * node;
            void *p = xpv_heap_alloc(h, 256 << 10);
            assert_non_null(p);
            unsigned ind = arena_of(p);
            if (expect > 0) {
                if (ind != expect)
                    fail_msg("node %d's arena is %u, expected automatic arena %u", node, ind,
                             expect);
                expect--;
            } else {
                if (ind < narenas)
                    fail_msg("node %d got arena %u: the automatic ones (< %u) are all taken", node,
                             ind, narenas);
                made = true;
            }
            assert_int_equal(xpv_heap_node_of(h, p), node);
            if (mbinds_to(ops, node, XPV_MPOL_PREFERRED) == before)
                fail_msg("arena %u (node %d) never bound its memory", ind, node);
            xpv_heap_free(p);
        }
    }
    print_message("opt.narenas %u: %u heaps, the last one's arenas made\n", narenas, nheaps);

    /* Deleting the heaps gives their automatic arenas jemalloc's default hooks back (the top
     * one was the first heap's node 0); made arenas are destroyed. */
    extent_hooks_t *dflt = hooks_of(0);
    unsigned top = narenas - 1;
    if (top > 0)
        assert_ptr_not_equal(hooks_of(top), dflt);
    for (unsigned i = 0; i < nheaps; i++)
        assert_int_equal(xpv_heap_delete(heaps[i]), 0);
    assert_ptr_equal(hooks_of(top), dflt);
    free(heaps);
    xpv_ops_free(ops);
    xpv_topo_free(t);
}
#endif

static void test_arena_per_node_on_fixtures(void **state)
{
    (void)state;
    for (size_t m = 0; m < sizeof(expects) / sizeof(expects[0]); m++) {
        const struct expect *e = &expects[m];
        struct xpv_topo *t = fixture(e->machine);
        struct xpv_error err = {0};
        struct xpv_ops *ops = xpv_ops_record_new(t, &err);
        assert_non_null(ops);
        struct xpv_heap_config cfg = {
                .no_record = 1, .topo = t, .ops = ops, .cpu_fn = cpu_of_thread};
        struct xpv_heap *h;
        assert_int_equal(xpv_heap_new(&cfg, &h, &err), 0);
        for (int cpu = 0; cpu < e->cpus; cpu++) {
            fake_cpu = cpu;
            int node = xpv_heap_thread_node(h);
            if (node != e->node[cpu])
                fail_msg("%s: CPU %d allocates from node %d, expected %d", e->machine, cpu, node,
                         e->node[cpu]);
            void *small = xpv_heap_alloc(h, 48), *large = xpv_heap_alloc(h, 256 << 10);
            assert_non_null(small);
            assert_non_null(large);
            memset(small, 1, 48);
            memset(large, 2, 256 << 10);
            assert_int_equal(xpv_heap_node_of(h, small), e->node[cpu]);
            assert_int_equal(xpv_heap_node_of(h, large), e->node[cpu]);
            xpv_heap_free(small);
            xpv_heap_free(large);
            if (mbinds_to(ops, e->node[cpu], XPV_MPOL_PREFERRED) == 0)
                fail_msg("%s: node %d's arena never bound its memory", e->machine, e->node[cpu]);
        }
        /* Exactly the expected nodes got arenas, and no extent was bound anywhere else. */
        struct xpv_malloc_stats st;
        assert_int_equal(xpv_heap_stats(h, &st), 0);
        for (unsigned i = 0; i < st.nr_nodes; i++) {
            int seen = 0;
            for (int cpu = 0; cpu < e->cpus; cpu++)
                seen |= e->node[cpu] == st.nodes[i].node;
            if (!seen)
                fail_msg("%s: an arena for node %d, which no CPU should use", e->machine,
                         st.nodes[i].node);
            assert_true(st.nodes[i].mbind_calls > 0);
            assert_int_equal(st.nodes[i].mbind_errors, 0);
            assert_int_equal(st.nodes[i].mbind_calls,
                             mbinds_to(ops, st.nodes[i].node, XPV_MPOL_PREFERRED));
        }
        assert_int_equal(xpv_heap_delete(h), 0);
        xpv_ops_free(ops);
        xpv_topo_free(t);
    }
}

static void test_bind_policy(void **state)
{
    (void)state;
    struct xpv_topo *t = tu_topo(2, NULL, 1, 1u << 30);
    struct xpv_ops *ops = xpv_ops_record_new(t, NULL);
    struct xpv_heap_config cfg = {
            .no_record = 1, .topo = t, .ops = ops, .mpol = XPV_MPOL_BIND, .cpu_fn = cpu_of_thread};
    struct xpv_heap *h;
    assert_int_equal(xpv_heap_new(&cfg, &h, NULL), 0);
    fake_cpu = 1;
    void *p = xpv_heap_alloc(h, 100);
    assert_int_equal(xpv_heap_node_of(h, p), 1);
    assert_true(mbinds_to(ops, 1, XPV_MPOL_BIND) > 0);
    assert_int_equal(mbinds_to(ops, 1, XPV_MPOL_PREFERRED), 0);
    xpv_heap_free(p);
    assert_int_equal(xpv_heap_delete(h), 0);
    cfg.mpol = XPV_MPOL_INTERLEAVE;
    struct xpv_error err = {0};
    assert_int_equal(xpv_heap_new(&cfg, &h, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "MPOL_PREFERRED"));
    xpv_ops_free(ops);
    xpv_topo_free(t);
}

/* A 4-node domain record: CPU i on physical node where[i], each node backing its vnode. */
static int publish(struct xpv_publisher *p, const uint16_t where[4])
{
    uint32_t ids[4] = {0, 1, 2, 3};
    uint16_t vn[4] = {0, 1, 2, 3}, dist[16];
    struct xpv_record_backing bk[4];
    for (unsigned i = 0; i < 4; i++) {
        bk[i] = (struct xpv_record_backing){
                .vnode = (uint16_t)i, .pnode = (uint16_t)i, .bytes = 1u << 30};
        for (unsigned j = 0; j < 4; j++)
            dist[i * 4 + j] = i == j ? 10 : 20;
    }
    struct xpv_record_desc d = {.nr_pnodes = 4,
                                .nr_vnodes = 4,
                                .nr_cpus = 4,
                                .nr_backing = 4,
                                .pnode_ids = ids,
                                .cpu_pnode = where,
                                .cpu_vnode = vn,
                                .backing = bk,
                                .distance = dist};
    struct xpv_error err = {0};
    int rc = xpv_publisher_publish(p, &d, NULL, &err);
    if (rc < 0)
        fail_msg("publish: %s", err.msg);
    return rc;
}

struct rec_fixture {
    char path[64];
    struct xpv_publisher *pub;
    struct xpv_topo *topo; /* host: 4 nodes x 2 CPUs (CPUs 4-7 only known from here) */
    struct xpv_ops *ops;
};

static void rec_setup(struct rec_fixture *f, int publish_now)
{
    snprintf(f->path, sizeof(f->path), "/tmp/xpv-malloc-test-%d", (int)getpid());
    unlink(f->path);
    struct xpv_error err = {0};
    if (publish_now && xpv_publisher_open(f->path, &f->pub, &err) < 0)
        fail_msg("%s", err.msg);
    f->topo = tu_topo(4, NULL, 2, 1u << 30);
    f->ops = xpv_ops_record_new(f->topo, NULL);
}

static void rec_teardown(struct rec_fixture *f)
{
    xpv_publisher_close(f->pub);
    unlink(f->path);
    xpv_ops_free(f->ops);
    xpv_topo_free(f->topo);
}

static void test_rebind_on_generation(void **state)
{
    (void)state;
    struct rec_fixture f = {0};
    rec_setup(&f, 1);
    publish(f.pub, (const uint16_t[]){0, 1, 2, 3});
    struct xpv_heap_config cfg = {
            .record_path = f.path, .topo = f.topo, .ops = f.ops, .cpu_fn = cpu_of_thread};
    struct xpv_heap *h;
    assert_int_equal(xpv_heap_new(&cfg, &h, NULL), 0);

    fake_cpu = 0;
    void *a = xpv_heap_alloc(h, 1000);
    assert_int_equal(xpv_heap_node_of(h, a), 0);
    for (int i = 0; i < 1000; i++) /* nothing changes: no rebinding */
        xpv_heap_free(xpv_heap_alloc(h, (size_t)16 + (size_t)i));
    struct xpv_malloc_stats st;
    xpv_heap_stats(h, &st);
    assert_int_equal(st.record, 1);
    assert_int_equal(st.generation, 1);
    assert_int_equal(st.binds, 1);
    assert_int_equal(st.rebinds, 0);

    /* The hypervisor moved CPU 0 to node 3: the next allocation comes from node 3. */
    publish(f.pub, (const uint16_t[]){3, 1, 2, 3});
    void *b = xpv_heap_alloc(h, 1000);
    assert_int_equal(xpv_heap_node_of(h, b), 3);
    assert_int_equal(xpv_heap_node_of(h, a), 0); /* old memory stays where it was */
    xpv_heap_stats(h, &st);
    assert_int_equal(st.generation, 2);
    assert_int_equal(st.rebinds, 1);
    assert_int_equal(xpv_heap_thread_node(h), 3);

    /* A new generation that changes nothing for this CPU: re-read, no rebinding. */
    publish(f.pub, (const uint16_t[]){3, 0, 0, 0});
    assert_int_equal(xpv_heap_thread_node(h), 3);
    xpv_heap_stats(h, &st);
    assert_int_equal(st.generation, 3);
    assert_int_equal(st.refreshes, 3);
    assert_int_equal(st.rebinds, 1);

    /* CPU 6 is not in the record (4 CPUs): the host topology places it on node 3. CPU 9 is
     * nowhere: the thread leaves the node arenas for jemalloc's automatic ones. */
    fake_cpu = 6;
    assert_int_equal(xpv_heap_thread_node(h), 3);
    fake_cpu = 9;
    assert_int_equal(xpv_heap_thread_node(h), -1);
    void *c = xpv_heap_alloc(h, 1000);
    assert_int_equal(xpv_heap_node_of(h, c), -1);
    fake_cpu = 1;
    assert_int_equal(xpv_heap_thread_node(h), 0);

    xpv_heap_free(a);
    xpv_heap_free(b);
    xpv_heap_free(c);
    assert_int_equal(xpv_heap_delete(h), 0);
    rec_teardown(&f);
}

/* A record that appears after the heap was made is found (it is looked for once a second). */
static void test_record_appears_later(void **state)
{
    (void)state;
    struct rec_fixture f = {0};
    rec_setup(&f, 0);
    struct xpv_heap_config cfg = {
            .record_path = f.path, .topo = f.topo, .ops = f.ops, .cpu_fn = cpu_of_thread};
    struct xpv_heap *h;
    assert_int_equal(xpv_heap_new(&cfg, &h, NULL), 0);
    fake_cpu = 0;
    assert_int_equal(xpv_heap_thread_node(h), 0); /* host topology */
    struct xpv_error err = {0};
    if (xpv_publisher_open(f.path, &f.pub, &err) < 0)
        fail_msg("%s", err.msg);
    publish(f.pub, (const uint16_t[]){2, 2, 2, 2});
    int node = 0;
    for (int i = 0; i < 500 && node != 2; i++) { /* up to 5 s: not a timing check */
        usleep(10000); /* not a wait: the poll interval; assert_int_equal shows the last node */
        node = xpv_heap_thread_node(h);
    }
    assert_int_equal(node, 2);
    struct xpv_malloc_stats st;
    xpv_heap_stats(h, &st);
    assert_int_equal(st.record, 1);
    assert_int_equal(st.rebinds, 1);
    assert_int_equal(xpv_heap_delete(h), 0);
    rec_teardown(&f);
}

/* --- cross-node frees --- */

#define NOBJ 2000

struct xthread {
    struct xpv_heap *h;
    int cpu, node;
    void **mine;   /* allocated here */
    void **theirs; /* allocated by the other thread, freed here */
    pthread_barrier_t *bar;
    int bad;
};

static size_t obj_size(unsigned i)
{
    return (size_t)16 << (i % 13); /* 16 B .. 64 KiB */
}

static void *cross_thread(void *arg)
{
    struct xthread *x = arg;
    fake_cpu = x->cpu;
    for (unsigned i = 0; i < NOBJ; i++) {
        unsigned char *p = xpv_heap_alloc(x->h, obj_size(i));
        if (!p) {
            x->bad++;
            continue;
        }
        memset(p, (int)(i ^ (unsigned)x->cpu) & 0xff, obj_size(i));
        x->bad += xpv_heap_node_of(x->h, p) != x->node;
        x->mine[i] = p;
    }
    pthread_barrier_wait(x->bar);
    int other = x->cpu ^ 1;
    for (unsigned i = 0; i < NOBJ; i++) {
        unsigned char *p = x->theirs[i];
        if (!p)
            continue;
        x->bad += p[0] != ((i ^ (unsigned)other) & 0xff) ||
                  p[obj_size(i) - 1] != ((i ^ (unsigned)other) & 0xff);
        xpv_heap_free(p);
    }
    pthread_barrier_wait(x->bar);
    /* After freeing the other node's memory this thread still allocates from its own node for
     * sizes jemalloc does not cache per thread (> 32 KiB). Smaller ones may come back from the
     * thread's cache, which holds what the thread freed whichever arena it came from (a known
     * limit, docs/malloc.md); they must still be usable. mimalloc has no such limit: a freed
     * block goes back to its own page, so every size comes from the thread's node. */
    for (unsigned i = 0; i < 200; i++) {
        size_t size = i % 2 ? obj_size(i) : (size_t)(64 + i) << 10;
        unsigned char *p = xpv_heap_alloc(x->h, size);
        x->bad += p == NULL;
        if (!p)
            continue;
        memset(p, 3, size);
#ifdef XPV_MALLOC_MI
        const bool strict = true;
#else
        const bool strict = size > (32 << 10);
#endif
        if (strict)
            x->bad += xpv_heap_node_of(x->h, p) != x->node;
        else
            x->bad += xpv_heap_node_of(x->h, p) < 0;
        xpv_heap_free(p);
    }
    return NULL;
}

static void test_cross_node_free(void **state)
{
    (void)state;
    struct xpv_topo *t = tu_topo(2, NULL, 1, 1u << 30);
    struct xpv_ops *ops = xpv_ops_record_new(t, NULL);
    struct xpv_heap_config cfg = {.no_record = 1, .topo = t, .ops = ops, .cpu_fn = cpu_of_thread};
    struct xpv_heap *h;
    assert_int_equal(xpv_heap_new(&cfg, &h, NULL), 0);
    static void *a[NOBJ], *b[NOBJ];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    struct xthread x0 = {h, 0, 0, a, b, &bar, 0}, x1 = {h, 1, 1, b, a, &bar, 0};
    pthread_t t0, t1;
    pthread_create(&t0, NULL, cross_thread, &x0);
    pthread_create(&t1, NULL, cross_thread, &x1);
    pthread_join(t0, NULL);
    pthread_join(t1, NULL);
    pthread_barrier_destroy(&bar);
    assert_int_equal(x0.bad, 0);
    assert_int_equal(x1.bad, 0);
    struct xpv_malloc_stats st;
    xpv_heap_stats(h, &st);
    assert_int_equal(st.nr_nodes, 2);
    assert_int_equal(st.binds, 2);
    assert_int_equal(st.rebinds, 0);
#ifndef XPV_MALLOC_MI
    /* Everything was freed: what is left live is at most the threads' cached objects (none:
     * the threads exited, flushing their caches). (With mimalloc, `allocated` is the arena's
     * resident bytes, which freeing does not lower at once.) */
    for (unsigned i = 0; i < st.nr_nodes; i++)
        assert_true(st.nodes[i].allocated < 64 * 1024);
#endif
    assert_int_equal(xpv_heap_delete(h), 0);
    xpv_ops_free(ops);
    xpv_topo_free(t);
}

/* --- deleting a heap a thread still uses --- */

struct holder {
    struct xpv_heap *h;
    pthread_barrier_t *bar;
    void *p;
};

static void *hold_thread(void *arg)
{
    struct holder *x = arg;
    fake_cpu = 1;
    x->p = xpv_heap_alloc(x->h, 100); /* bound to node 1 */
    pthread_barrier_wait(x->bar);     /* the main thread tries to delete the heap */
    pthread_barrier_wait(x->bar);
    xpv_heap_free(x->p);
    return NULL; /* the thread's exit lets the heap go */
}

/* xpv_heap_delete says -EBUSY while a thread is bound to the heap, and succeeds once it has
 * exited (with mimalloc: the thread-exit callback of arena_mi.c drops its count). */
static void test_delete_waits_for_threads(void **state)
{
    (void)state;
    struct xpv_topo *t = tu_topo(2, NULL, 1, 1u << 30);
    struct xpv_ops *ops = xpv_ops_record_new(t, NULL);
    struct xpv_heap_config cfg = {.no_record = 1, .topo = t, .ops = ops, .cpu_fn = cpu_of_thread};
    struct xpv_heap *h;
    assert_int_equal(xpv_heap_new(&cfg, &h, NULL), 0);
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    struct holder x = {h, &bar, NULL};
    pthread_t th;
    pthread_create(&th, NULL, hold_thread, &x);
    pthread_barrier_wait(&bar);
    assert_int_equal(xpv_heap_node_of(h, x.p), 1);
    assert_int_equal(xpv_heap_delete(h), -EBUSY);
    pthread_barrier_wait(&bar);
    pthread_join(th, NULL);
    assert_int_equal(xpv_heap_delete(h), 0);
    pthread_barrier_destroy(&bar);
    xpv_ops_free(ops);
    xpv_topo_free(t);
}

/* --- deleting a heap whose arenas still hold memory --- */

/* Memory still allocated from a heap's arenas when it is deleted stays the owner's: readable,
 * writable, freeable. Where jemalloc is the process's malloc, a bound thread's plain malloc()
 * takes the heap's arenas too (a channel, a publisher), so a delete that destroyed them pulled
 * memory from under such callers (malloc.heap crashed in builds without sanitizers). */
static void test_delete_keeps_live_memory(void **state)
{
    (void)state;
    struct xpv_topo *t = tu_topo(2, NULL, 1, 1u << 30);
    struct xpv_ops *ops = xpv_ops_record_new(t, NULL);
    struct xpv_heap_config cfg = {.no_record = 1, .topo = t, .ops = ops, .cpu_fn = cpu_of_thread};
    struct xpv_heap *h;
    assert_int_equal(xpv_heap_new(&cfg, &h, NULL), 0);
    fake_cpu = 1;
    enum { N = 64 };
    unsigned char *p[N];
    for (int i = 0; i < N; i++) { /* small and large, like a publisher's state and buffers */
        size_t n = (size_t)16 << (i % 15);
        p[i] = xpv_heap_alloc(h, n);
        assert_non_null(p[i]);
        memset(p[i], i, n);
    }
    assert_int_equal(xpv_heap_node_of(h, p[0]), 1);
    assert_int_equal(xpv_heap_delete(h), 0);
    /* Other threads' allocations go on, reusing whatever a destroyed arena gave back. */
    unsigned char *q[N];
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)16 << (i % 15);
        q[i] = malloc(n);
        assert_non_null(q[i]);
        memset(q[i], 0xa5, n);
    }
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)16 << (i % 15);
        for (size_t k = 0; k < n; k += 7)
            if (p[i][k] != (unsigned char)i)
                fail_msg("block %d (%zu B) lost its contents at byte %zu after the heap was "
                         "deleted: %#x",
                         i, n, k, p[i][k]);
        xpv_heap_free(p[i]);
        free(q[i]);
    }
    xpv_ops_free(ops);
    xpv_topo_free(t);
}

/* --- the real CPU (rseq or sched_getcpu), on this machine's own topology --- */

static void test_real_cpu(void **state)
{
    (void)state;
    struct xpv_topo *t = NULL;
    assert_int_equal(xpv_topo_discover(NULL, &t, NULL), 0);
    struct xpv_ops *ops = xpv_ops_record_new(t, NULL);
    int cpu = sched_getcpu();
    cpu_set_t one, saved;
    sched_getaffinity(0, sizeof(saved), &saved);
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0); /* stay on it */
    struct xpv_heap_config cfg = {.no_record = 1, .topo = t, .ops = ops, .cpu_sample = 4};
    struct xpv_heap *h;
    assert_int_equal(xpv_heap_new(&cfg, &h, NULL), 0);
    int expect = xpv_topo_cpu_node(t, (unsigned)cpu);
    assert_int_equal(xpv_heap_thread_node(h), expect);
    for (int i = 0; i < 10000; i++)
        xpv_heap_free(xpv_heap_alloc(h, (size_t)(i % 500) + 1));
    void *p = xpv_heap_alloc(h, 4096);
    assert_int_equal(xpv_heap_node_of(h, p), expect);
    xpv_heap_free(p);
    struct xpv_malloc_stats st;
    xpv_heap_stats(h, &st);
    assert_int_equal(st.rebinds, 0); /* pinned: the CPU never changed */
    sched_setaffinity(0, sizeof(saved), &saved);
    assert_int_equal(xpv_heap_delete(h), 0);
    xpv_ops_free(ops);
    xpv_topo_free(t);
}

/* --- the family's edge cases through the heap API --- */

static void test_calls(void **state)
{
    (void)state;
    struct xpv_topo *t = tu_topo(1, NULL, 1, 1u << 30);
    struct xpv_heap_config cfg = {.no_record = 1, .topo = t, .cpu_fn = cpu_of_thread};
    struct xpv_heap *h;
    fake_cpu = 0;
    assert_int_equal(xpv_heap_new(&cfg, &h, NULL), 0);
    unsigned char *z = xpv_heap_calloc(h, 1000, 10);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(z[i], 0);
    assert_null(xpv_heap_calloc(h, SIZE_MAX / 2, 4)); /* overflow */
    z = xpv_heap_realloc(h, z, 100000);
    z[99999] = 7;
    z = xpv_heap_realloc(h, z, 10);
    assert_true(xpv_heap_usable_size(z) >= 10);
    xpv_heap_free(z);
    void *a = xpv_heap_aligned(h, 1 << 16, 100);
    assert_int_equal((uintptr_t)a & 0xffff, 0);
    assert_int_equal(xpv_heap_node_of(h, a), 0);
    xpv_heap_free(a);
    assert_null(xpv_heap_aligned(h, 48, 100));
    assert_int_equal(errno, EINVAL);
    xpv_heap_free(NULL);
    assert_int_equal(xpv_heap_usable_size(NULL), 0);
    assert_int_equal(xpv_heap_delete(h), 0);
    assert_int_equal(xpv_heap_delete(NULL), 0);
    xpv_topo_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#ifndef XPV_MALLOC_MI
            cmocka_unit_test(test_automatic_arenas_first), /* first: see there */
#endif
            cmocka_unit_test(test_arena_per_node_on_fixtures),
            cmocka_unit_test(test_bind_policy),
            cmocka_unit_test(test_rebind_on_generation),
            cmocka_unit_test(test_record_appears_later),
            cmocka_unit_test(test_cross_node_free),
            cmocka_unit_test(test_delete_waits_for_threads),
            cmocka_unit_test(test_delete_keeps_live_memory),
            cmocka_unit_test(test_real_cpu),
            cmocka_unit_test(test_calls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
