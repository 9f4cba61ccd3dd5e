/*
 * cf_work.c — xpv-cf-work, the workload of the Carrefour lab tests (t_carrefour.c), run in
 * the guest with the sampler preloaded. One thread per node, pinned to that node's CPUs:
 *
 *   xpv-cf-work shared MIB SECONDS   one array first-touched on node 0; every thread reads
 *                                    all of it
 *   xpv-cf-work private MIB SECONDS  thread i's slice (MIB / nodes) first-touched by a thread
 *                                    on node i+1; thread i reads its slice only
 *
 * The threads read for SECONDS, or until a first byte (or EOF) arrives on stdin. When they are
 * done it prints "cf-work accesses done" and waits for a byte (or EOF) on stdin, so that
 * whoever moves its pages can stop first: counts taken while pages still
 * move are wrong (a page being migrated reports no node). Then it checks the data (checksums
 * against the pattern written at the start) and reports where the pages are, by move_pages
 * queries on itself:
 *   cf-work shared pages=P n0=.. n1=.. ... unknown=U data=intact|CORRUPT
 *   cf-work private thread=I node=N pages=P local=L data=intact|CORRUPT unknown=U
 * (U: pages no query could place, see where()).
 */
#define _GNU_SOURCE
#include <numa.h>
#include <numaif.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAXN 16

static int nodes;
static size_t page;
static double seconds;
static volatile int stop; /* the threads stop reading (a byte on stdin) */
static int private_mode;
static unsigned char *shared_buf;
static size_t shared_len;
static unsigned char *slice[MAXN];
static size_t slice_len;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned char pattern(size_t i, unsigned salt)
{
    return (unsigned char)(i * 2654435761u + salt * 97u + 11u);
}

static void pin_node(int n)
{
    struct bitmask *cpus = numa_allocate_cpumask();
    numa_node_to_cpus(n, cpus);
    numa_sched_setaffinity(0, cpus);
    numa_free_cpumask(cpus);
}

static unsigned char *map(size_t len)
{
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("xpv-cf-work: mmap");
        exit(1);
    }
    /* 4 KiB pages, as Carrefour (ASPLOS) places them: a transparent huge page would move 512
     * pages at once for one sampled page (a run once ended with 542 of 1024 on one node) */
    if (madvise(p, len, MADV_NOHUGEPAGE) < 0)
        perror("xpv-cf-work: madvise(MADV_NOHUGEPAGE)");
    return p;
}

static pthread_barrier_t touched; /* private mode: every slice written, the clock started */
static double start;

static void *worker(void *arg);

/* Private mode: thread i first-touches its slice from node i+1, then reads it as worker i
 * from node i. One set of threads for both (not touchers joined, then workers made), as shared
 * mode has: the test checks Carrefour's placement, not thread creation under the sampler
 * (unit.cf_sampler_rounds does that; the sampler bug that killed this program after its second
 * round of pthread_create on 8 nodes is fixed, docs/carrefour.md). */
static void *toucher(void *arg)
{
    int i = (int)(intptr_t)arg;
    pin_node((i + 1) % nodes);
    slice[i] = map(slice_len);
    for (size_t k = 0; k < slice_len; k++)
        slice[i][k] = pattern(k, (unsigned)i);
    pthread_barrier_wait(&touched); /* every slice written */
    pthread_barrier_wait(&touched); /* the main thread printed the header and took the time */
    return worker(arg);
}

static void *worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    pin_node(i);
    const volatile unsigned char *p = private_mode ? slice[i] : shared_buf;
    size_t len = private_mode ? slice_len : shared_len;
    double end = start + seconds;
    uint64_t sum = 0;
    /* one word per cache line, starting at a different offset per thread */
    /* a sweep, then a short sleep: 4 busy vCPUs on a 2-core TCG host would starve the
     * TLB-shootdown IPIs every page move needs */
    struct timespec ms = {0, 5000000};
    while (now() < end && !stop) {
        for (size_t k = (size_t)i * 64 % len; k < len; k += 64)
            sum += p[k];
        nanosleep(&ms, NULL); /* not a wait: the workload's pace (the comment above) */
    }
    return (void *)(uintptr_t)(sum & 1);
}

static int intact(const unsigned char *p, size_t len, unsigned salt)
{
    for (size_t k = 0; k < len; k++)
        if (p[k] != pattern(k, salt))
            return 0;
    return 1;
}

/* Where each page of p[0..len) is. A page the sampler holds protected at that moment has no
 * node in the answer: touching it restores it (the sampler's fault handler), then it is asked
 * again, a few times; pages still without a node are counted in *unknown. */
static void where(const unsigned char *p, size_t len, int *count, int *st, int *unknown)
{
    size_t n = len / page, left = 0;
    void **pages = malloc(n * sizeof(*pages));
    int *one = malloc(n * sizeof(*one));
    for (size_t k = 0; k < n; k++)
        pages[k] = (void *)(p + k * page);
    memset(st, 0xff, n * sizeof(*st));
    move_pages(0, n, pages, NULL, st, 0);
    for (int pass = 0; pass < 20; pass++) {
        left = 0;
        for (size_t k = 0; k < n; k++)
            if (st[k] < 0 || st[k] >= MAXN) {
                (void)*(const volatile unsigned char *)pages[k];
                void *a = pages[k];
                one[0] = -1;
                move_pages(0, 1, &a, NULL, one, 0);
                st[k] = one[0];
                left += st[k] < 0 || st[k] >= MAXN;
            }
        if (!left)
            break;
    }
    for (size_t k = 0; k < n; k++)
        if (st[k] >= 0 && st[k] < MAXN)
            count[st[k]]++;
    *unknown = (int)left;
    free(one);
    free(pages);
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "shared") && strcmp(argv[1], "private")) ||
        atoi(argv[2]) < 1 || (seconds = atof(argv[3])) <= 0) {
        fprintf(stderr, "usage: xpv-cf-work shared|private MIB SECONDS\n");
        return 2;
    }
    if (numa_available() < 0) {
        fprintf(stderr, "xpv-cf-work: no NUMA\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    private_mode = argv[1][0] == 'p';
    nodes = numa_max_node() + 1;
    if (nodes > MAXN)
        nodes = MAXN;
    page = (size_t)sysconf(_SC_PAGESIZE);
    size_t total = (size_t)atoi(argv[2]) << 20;
    pthread_t t[MAXN];
    if (private_mode) {
        slice_len = total / (size_t)nodes / page * page;
        pthread_barrier_init(&touched, NULL, (unsigned)nodes + 1);
        for (int i = 0; i < nodes; i++)
            pthread_create(&t[i], NULL, toucher, (void *)(intptr_t)i);
        pthread_barrier_wait(&touched);
    } else {
        pin_node(0);
        shared_len = total;
        shared_buf = map(total);
        for (size_t k = 0; k < total; k++)
            shared_buf[k] = pattern(k, 0);
    }
    printf("cf-work %s: %d nodes, %zu MiB, %.1f s\n", argv[1], nodes, total >> 20, seconds);
    start = now();
    if (private_mode)
        pthread_barrier_wait(&touched); /* the touchers go on as the workers */
    else
        for (int i = 0; i < nodes; i++)
            pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
    struct pollfd pf = {0, POLLIN, 0};
    char go;
    double left;
    while (!stop && (left = start + seconds - now()) > 0)
        if (poll(&pf, 1, (int)(left * 1000) + 1) == 1) {
            if (read(0, &go, 1) < 0)
                perror("xpv-cf-work: stdin");
            stop = 1;
        }
    for (int i = 0; i < nodes; i++)
        pthread_join(t[i], NULL);
    printf("cf-work accesses done after %.1f s\n", now() - start);
    if (poll(&pf, 1, 120000) != 1 || read(0, &go, 1) < 0)
        fprintf(stderr, "xpv-cf-work: no go on stdin after 120 s, counting anyway\n");
    int *st = malloc((total / page + 1) * sizeof(int)), bad = 0;
    if (private_mode) {
        for (int i = 0; i < nodes; i++) {
            int count[MAXN] = {0}, unknown;
            where(slice[i], slice_len, count, st, &unknown);
            int ok = intact(slice[i], slice_len, (unsigned)i);
            bad |= !ok;
            printf("cf-work private thread=%d node=%d pages=%zu local=%d data=%s unknown=%d\n", i,
                   i, slice_len / page, count[i], ok ? "intact" : "CORRUPT", unknown);
        }
    } else {
        int count[MAXN] = {0}, unknown;
        where(shared_buf, shared_len, count, st, &unknown);
        int ok = intact(shared_buf, shared_len, 0);
        bad |= !ok;
        printf("cf-work shared pages=%zu", shared_len / page);
        for (int n = 0; n < nodes; n++)
            printf(" n%d=%d", n, count[n]);
        printf(" unknown=%d data=%s\n", unknown, ok ? "intact" : "CORRUPT");
    }
    free(st);
    return bad;
}
