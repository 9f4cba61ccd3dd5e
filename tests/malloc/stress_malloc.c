/*
 * stress_malloc.c — many threads allocate, write, hand over and free blocks of 16 B..64 KiB
 * through one xpv-malloc heap while the topology record keeps changing and the threads keep
 * "moving" between CPUs. Built with ASan+UBSan in the sanitized build (the heap's own code is
 * checked by ASan; the blocks are jemalloc's, or mimalloc's in stress-malloc-mi, so every block
 * carries a pattern this program verifies before freeing it).
 *
 *   stress-malloc [--threads N] [--iterations N] [--records N]
 *
 * Exits 0 when every block came back intact, the record was re-read and threads rebound;
 * prints the counts. Not a timing test.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../unit/tu_topo.h"
#include "xpv/ops_record.h"
#include "xpv/publisher.h"
#include "xpv/xpv_malloc.h"

#define SLOTS  4096
#define NCPUS  8
#define NNODES 4

static void *slots[SLOTS];
static __thread int fake_cpu;
static int stop_publisher;

struct worker {
    struct xpv_heap *h;
    unsigned seed;
    long iterations;
    long bad, done;
};

static int cpu_of_thread(void *arg)
{
    (void)arg;
    return fake_cpu;
}

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* Block layout: size (8 bytes), then bytes derived from (size, address). */
static unsigned char pat(size_t size, const void *p, size_t i)
{
    return (unsigned char)(size * 31 + ((uintptr_t)p >> 4) + i * 7);
}

static void *fill(struct xpv_heap *h, size_t size)
{
    unsigned char *p = xpv_heap_alloc(h, size);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof(size));
    for (size_t i = sizeof(size); i < size; i += 61)
        p[i] = pat(size, p, i);
    p[size - 1] = pat(size, p, size - 1);
    return p;
}

static int intact(const unsigned char *p)
{
    size_t size;
    memcpy(&size, p, sizeof(size));
    if (size < 16 || size > 65536)
        return 0;
    for (size_t i = sizeof(size); i < size; i += 61)
        if (p[i] != pat(size, p, i))
            return 0;
    return p[size - 1] == pat(size, p, size - 1);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    fake_cpu = (int)(w->seed % NCPUS);
    for (long it = 0; it < w->iterations; it++) {
        unsigned r = rnd(&w->seed);
        if (it % 512 == 0)
            fake_cpu = (int)(r % NCPUS); /* the scheduler moved us */
        size_t size = (size_t)16 << (r % 13);
        size += r % size;
        if (size > 65536)
            size = 65536;
        void *p = fill(w->h, size);
        if (!p) {
            w->bad++;
            continue;
        }
        void *old = __atomic_exchange_n(&slots[rnd(&w->seed) % SLOTS], p, __ATOMIC_ACQ_REL);
        if (old) {
            w->bad += !intact(old);
            if (r % 7 == 0) { /* grow or shrink someone else's block, then free it */
                size_t ns = 16 + r % 4000;
                unsigned char *q = xpv_heap_realloc(w->h, old, ns);
                w->bad += q == NULL;
                if (q)
                    old = q;
            }
            xpv_heap_free(old);
        }
        w->done++;
    }
    return NULL;
}

static void publish_k(struct xpv_publisher *pub, unsigned k)
{
    uint32_t ids[NNODES] = {0, 1, 2, 3};
    uint16_t where[NCPUS], vn[NCPUS], dist[NNODES * NNODES];
    struct xpv_record_backing bk[NNODES];
    for (unsigned i = 0; i < NNODES; i++) {
        bk[i] = (struct xpv_record_backing){
                .vnode = (uint16_t)i, .pnode = (uint16_t)i, .bytes = 1u << 30};
        for (unsigned j = 0; j < NNODES; j++)
            dist[i * NNODES + j] = i == j ? 10 : 20;
    }
    for (unsigned c = 0; c < NCPUS; c++) {
        where[c] = (uint16_t)((c + k) % NNODES);
        vn[c] = (uint16_t)(c % NNODES);
    }
    struct xpv_record_desc d = {.nr_pnodes = NNODES,
                                .nr_vnodes = NNODES,
                                .nr_cpus = NCPUS,
                                .nr_backing = NNODES,
                                .pnode_ids = ids,
                                .cpu_pnode = where,
                                .cpu_vnode = vn,
                                .backing = bk,
                                .distance = dist};
    xpv_publisher_publish(pub, &d, NULL, NULL);
}

struct pubarg {
    struct xpv_publisher *pub;
    int records;
};

static void *publisher(void *arg)
{
    struct pubarg *a = arg;
    for (int k = 2; k <= a->records && !__atomic_load_n(&stop_publisher, __ATOMIC_RELAXED); k++) {
        usleep(2000); /* not a wait: the pace of new records while the threads allocate */
        publish_k(a->pub, (unsigned)k);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = 4, records = 100;
    long iterations = 100000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--iterations") == 0)
            iterations = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--records") == 0)
            records = atoi(argv[i + 1]);
    }
    if (threads < 1 || threads > 64 || iterations < 1 || records < 2) {
        fprintf(stderr,
                "usage: stress-malloc [--threads 1-64] [--iterations N] [--records N>=2]\n");
        return 2;
    }
    char path[64];
    snprintf(path, sizeof(path), "/tmp/xpv-stress-malloc-%d", (int)getpid());
    unlink(path);
    struct xpv_error err = {0};
    struct xpv_publisher *pub;
    if (xpv_publisher_open(path, &pub, &err) < 0) {
        fprintf(stderr, "stress-malloc: %s\n", err.msg);
        return 1;
    }
    publish_k(pub, 1);
    struct xpv_topo *t = tu_topo(NNODES, NULL, NCPUS / NNODES, 1u << 30);
    struct xpv_ops *ops = xpv_ops_record_new(t, NULL);
    struct xpv_heap_config cfg = {
            .record_path = path, .topo = t, .ops = ops, .cpu_fn = cpu_of_thread};
    struct xpv_heap *h;
    if (xpv_heap_new(&cfg, &h, &err) < 0) {
        fprintf(stderr, "stress-malloc: %s\n", err.msg);
        return 1;
    }
    struct worker w[64];
    pthread_t tid[64], pt;
    struct pubarg pa = {pub, records};
    pthread_create(&pt, NULL, publisher, &pa);
    for (int i = 0; i < threads; i++) {
        w[i] = (struct worker){h, 12345u * (unsigned)(i + 1), iterations, 0, 0};
        pthread_create(&tid[i], NULL, work, &w[i]);
    }
    long bad = 0, done = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        bad += w[i].bad;
        done += w[i].done;
    }
    __atomic_store_n(&stop_publisher, 1, __ATOMIC_RELAXED);
    pthread_join(pt, NULL);
    for (int i = 0; i < SLOTS; i++)
        if (slots[i]) {
            bad += !intact(slots[i]);
            xpv_heap_free(slots[i]);
        }
    struct xpv_malloc_stats st;
    xpv_heap_stats(h, &st);
    printf("stress-malloc: %d threads, %ld allocations, %ld bad blocks; generation %llu, %llu "
           "re-reads, %llu bindings, %llu rebindings, %u node arenas\n",
           threads, done, bad, (unsigned long long)st.generation, (unsigned long long)st.refreshes,
           (unsigned long long)st.binds, (unsigned long long)st.rebinds, st.nr_nodes);
    int ok = bad == 0 && st.refreshes > 1 && st.rebinds > 0 && st.nr_nodes == NNODES;
    int drc = xpv_heap_delete(h);
    xpv_ops_free(ops);
    xpv_topo_free(t);
    xpv_publisher_close(pub);
    unlink(path);
    if (drc < 0) {
        printf("stress-malloc: heap delete: %d\n", drc);
        ok = 0;
    }
    printf("stress-malloc: %s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}
