/*
 * malloc_work.c — xpv-malloc-work, the workload of the lab test malloc.preload_guest
 * (t_malloc.c): a plain multithreaded program, linked against nothing but libc, that the test
 * runs once as it is (glibc's malloc) and once under LD_PRELOAD=/bin/libxpv-malloc.so.
 *
 *   xpv-malloc-work CPU:NODE...     one thread per argument, pinned to CPU (on NODE)
 *
 * Each thread, pinned before its first allocation:
 *  1. churn: OPS operations on 256 slots, each frees the slot's block (or, 1 in 8, hands it to
 *     the next thread, which frees it) and allocates 16 B .. 128 KiB with malloc, calloc,
 *     realloc, aligned_alloc or posix_memalign, fills it with a pattern of (thread, op) and
 *     checks the pattern of the block it replaces; every block's contents go into a checksum;
 *  2. placement: allocates KEEP blocks (64 KiB .. 256 KiB) without writing them; after a
 *     barrier the *next* thread (on another node) writes them first; after another barrier the
 *     owner checks the data and asks move_pages where each page is. Under xpv-malloc the
 *     blocks come from the owner's node arena (mbind MPOL_PREFERRED), so every page is on the
 *     owner's node whoever touches it first; under glibc, first touch decides;
 *  3. keeps the placement blocks until exit (so the library's exit statistics show live bytes
 *     on every node).
 *
 * stdout (the same under any allocator: no addresses, no sizes the allocator chose):
 *   thread I: OPS ops, checksum HEX, 0 bad blocks
 *   total: checksum HEX
 * stderr (allocator-dependent, read by the test):
 *   placement thread=I node=N pages=P on_node=L
 * Exit 0, or 1 on a bad block, a failed allocation or a failed pin.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAXT  16
#define SLOTS 256
#define OPS   2000
#define KEEP  16

struct block {
    unsigned char *p;
    size_t size;
    unsigned tag;
};

struct queue { /* blocks handed to a thread; under its mutex */
    pthread_mutex_t lock;
    struct block b[SLOTS * 4];
    unsigned n;
};

struct thr {
    int idx, cpu, node;
    uint64_t sum;
    unsigned bad;
    int failed;
    struct block keep[KEEP];
    int pages, on_node;
};

static int nthreads;
static struct thr thr[MAXT];
static struct queue queue[MAXT];
static pthread_barrier_t barrier;

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static unsigned char pat(unsigned tag, size_t i)
{
    return (unsigned char)(tag * 2654435761u + i * 131u + 7u);
}

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v;
    return h * 0x100000001b3ull;
}

static void fill(struct block *b)
{
    for (size_t i = 0; i < b->size; i++)
        b->p[i] = pat(b->tag, i);
}

/* 1 when the block still holds its pattern; adds its contents to *sum. */
static int check(const struct block *b, uint64_t *sum)
{
    int ok = 1;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < b->size; i++) {
        ok &= b->p[i] == pat(b->tag, i);
        h = mix(h, b->p[i]);
    }
    *sum = mix(*sum, h);
    return ok;
}

static void *alloc(unsigned how, size_t size)
{
    void *p = NULL;
    switch (how % 5) {
    case 0:
        return malloc(size);
    case 1:
        return calloc(1, size);
    case 2: /* realloc: grow a small block */
        p = malloc(size / 2 + 1);
        return p ? realloc(p, size) : NULL;
    case 3:
        return aligned_alloc(64, (size + 63) & ~(size_t)63);
    default:
        return posix_memalign(&p, 4096, size) == 0 ? p : NULL;
    }
}

static void drain(struct thr *t)
{
    struct queue *q = &queue[t->idx];
    pthread_mutex_lock(&q->lock);
    for (unsigned k = 0; k < q->n; k++) {
        uint64_t ignored = 0; /* contents counted by the thread that made the block */
        t->bad += !check(&q->b[k], &ignored);
        free(q->b[k].p);
    }
    q->n = 0;
    pthread_mutex_unlock(&q->lock);
}

static int hand(int to, const struct block *b)
{
    struct queue *q = &queue[to];
    pthread_mutex_lock(&q->lock);
    int ok = q->n < sizeof(q->b) / sizeof(q->b[0]);
    if (ok)
        q->b[q->n++] = *b;
    pthread_mutex_unlock(&q->lock);
    return ok;
}

/* 64 KiB .. 256 KiB: above jemalloc's thread cache (32 KiB), which may hand a thread a small
 * block another node's thread freed to it in the churn (docs/malloc.md, "Frees"). */
static size_t keep_size(unsigned k)
{
    return (size_t)65536 << (k % 3);
}

static void *worker(void *arg)
{
    struct thr *t = arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(t->cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) {
        t->failed = errno;
        fprintf(stderr, "xpv-malloc-work: pin thread %d to CPU %d: %s\n", t->idx, t->cpu,
                strerror(errno));
    }
    /* 1: churn */
    struct block slot[SLOTS] = {{0}};
    unsigned seed = 7919u * (unsigned)(t->idx + 1);
    t->sum = 0xcbf29ce484222325ull;
    for (unsigned i = 0; i < OPS && !t->failed; i++) {
        unsigned r = rnd(&seed), k = r % SLOTS;
        if (slot[k].p) {
            /* counted here either way: the sum does not depend on the queue being full */
            t->bad += !check(&slot[k], &t->sum);
            if ((r >> 9) % 8 != 0 || !hand((t->idx + 1) % nthreads, &slot[k]))
                free(slot[k].p);
            slot[k].p = NULL;
        }
        unsigned cls = 4 + (r >> 12) % 14; /* 2^4 .. 2^17 */
        size_t size = ((size_t)1 << cls) / 2 + 1 + rnd(&seed) % (((size_t)1 << cls) / 2);
        slot[k] = (struct block){alloc(r >> 20, size), size, ((unsigned)t->idx << 24) | i};
        if (!slot[k].p) {
            t->failed = ENOMEM;
            break;
        }
        fill(&slot[k]);
        if (i % 64 == 0)
            drain(t);
    }
    for (unsigned k = 0; k < SLOTS; k++)
        if (slot[k].p) {
            t->bad += !check(&slot[k], &t->sum);
            free(slot[k].p);
        }
    /* 2: placement: allocate here, the next thread writes first */
    for (unsigned k = 0; k < KEEP && !t->failed; k++) {
        t->keep[k] = (struct block){malloc(keep_size(k)), keep_size(k), 0xbe000000u | k};
        if (!t->keep[k].p)
            t->failed = ENOMEM;
    }
    pthread_barrier_wait(&barrier);
    drain(t);
    struct thr *prev = &thr[(t->idx + nthreads - 1) % nthreads];
    if (!prev->failed)
        for (unsigned k = 0; k < KEEP; k++)
            fill(&prev->keep[k]);
    pthread_barrier_wait(&barrier);
    drain(t);
    if (t->failed)
        return NULL;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *pages[KEEP * 64];
    int status[KEEP * 64];
    unsigned np = 0;
    for (unsigned k = 0; k < KEEP; k++) {
        uint64_t ignored = 0;
        t->bad += !check(&t->keep[k], &ignored);
        /* whole pages inside the block only: a neighbour's page may be anywhere */
        uintptr_t a = ((uintptr_t)t->keep[k].p + page - 1) & ~(page - 1);
        for (; a + page <= (uintptr_t)t->keep[k].p + t->keep[k].size && np < KEEP * 64; a += page)
            pages[np++] = (void *)a;
    }
    if (syscall(SYS_move_pages, 0, (unsigned long)np, pages, NULL, status, 0) != 0) {
        t->failed = errno;
        fprintf(stderr, "xpv-malloc-work: move_pages: %s\n", strerror(errno));
        return NULL;
    }
    t->pages = (int)np;
    for (unsigned i = 0; i < np; i++)
        t->on_node += status[i] == t->node;
    return NULL;
}

int main(int argc, char **argv)
{
    nthreads = argc - 1;
    if (nthreads < 2 || nthreads > MAXT) {
        fprintf(stderr, "usage: xpv-malloc-work CPU:NODE... (2 to %d threads)\n", MAXT);
        return 2;
    }
    for (int i = 0; i < nthreads; i++) {
        thr[i].idx = i;
        if (sscanf(argv[i + 1], "%d:%d", &thr[i].cpu, &thr[i].node) != 2) {
            fprintf(stderr, "xpv-malloc-work: '%s' is not CPU:NODE\n", argv[i + 1]);
            return 2;
        }
        pthread_mutex_init(&queue[i].lock, NULL);
    }
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
    pthread_t tid[MAXT];
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&tid[i], NULL, worker, &thr[i]) != 0) {
            fprintf(stderr, "xpv-malloc-work: pthread_create failed\n");
            return 1;
        }
    for (int i = 0; i < nthreads; i++)
        pthread_join(tid[i], NULL);
    uint64_t total = 0xcbf29ce484222325ull;
    int rc = 0;
    for (int i = 0; i < nthreads; i++) {
        struct thr *t = &thr[i];
        printf("thread %d: %d ops, checksum %016llx, %u bad blocks\n", i, OPS,
               (unsigned long long)t->sum, t->bad);
        total = mix(total, t->sum);
        if (t->failed || t->bad)
            rc = 1;
        if (!t->failed)
            fprintf(stderr, "placement thread=%d node=%d pages=%d on_node=%d\n", i, t->node,
                    t->pages, t->on_node);
    }
    printf("total: checksum %016llx\n", (unsigned long long)total);
    return rc; /* the placement blocks stay allocated: the exit statistics count them */
}
