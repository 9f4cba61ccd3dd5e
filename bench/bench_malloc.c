/*
 * bench_malloc.c — bench-malloc: the same multithreaded malloc/free mix under glibc, jemalloc,
 * tcmalloc (gperftools), mimalloc and xpv-malloc, in one run, side by side.
 *
 * Each allocator runs in a child process: this program re-executes itself with LD_PRELOAD set
 * to the allocator's Debian library (found by path; a missing one is reported and skipped) or
 * to build/lib/libxpv-malloc.so, nothing for glibc. The child checks that the allocator is the
 * one answering (a symbol only it defines), runs the workload and reports ops/s and its peak
 * RSS. Rounds alternate the allocators so drifts of the machine hit all of them alike; each
 * allocator's figure is its median over the rounds.
 *
 * Workload, per thread (2 by default): `ops` operations on 1024 private slots; each frees the
 * slot's block (or hands it to the other thread, 1 in 4, which frees it: a cross-thread free)
 * and allocates a new one of 16 B .. 64 KiB (log-uniform size class, uniform inside it),
 * writing its first 64 bytes and one byte per 4 KiB.
 *
 *   bench-malloc [--ops N] [--threads N] [--rounds N]
 *
 * Prints a table, then one JSON line (last): ops/s and peak RSS per allocator, and the ratios
 * xpv_vs_jemalloc and xpv_vs_glibc. docs/malloc.md has the figures of this machine.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLOTS    1024
#define QSIZE    4096
#define MAXTHR   16
#define MAXROUND 15

struct allocator {
    const char *name;
    const char *lib;    /* LD_PRELOAD; NULL: none (glibc) */
    const char *marker; /* a symbol only this allocator defines */
};

static struct allocator allocators[] = {
        {"glibc", NULL, NULL},
        {"jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "mallctl"},
        {"tcmalloc", "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "tc_malloc"},
        {"mimalloc", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2", "mi_malloc"},
        {"xpv", NULL /* next to this program: ../lib/libxpv-malloc.so */, "xpv_malloc_heap"},
};
#define NALLOC (sizeof(allocators) / sizeof(allocators[0]))

/* --- the workload (child) --- */

struct queue { /* single producer, single consumer */
    void *slot[QSIZE];
    unsigned head, tail; /* atomic */
};

struct thr {
    long ops;
    unsigned seed;
    struct queue *in, *out;
    pthread_barrier_t *bar;
};

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void touch(unsigned char *p, size_t size)
{
    memset(p, 0xa5, size < 64 ? size : 64);
    for (size_t i = 4096; i < size; i += 4096)
        p[i] = 1;
}

static void drain(struct queue *q)
{
    unsigned t = __atomic_load_n(&q->tail, __ATOMIC_RELAXED);
    unsigned h = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
    for (; t != h; t++)
        free(q->slot[t % QSIZE]);
    __atomic_store_n(&q->tail, t, __ATOMIC_RELEASE);
}

static int push(struct queue *q, void *p)
{
    unsigned h = __atomic_load_n(&q->head, __ATOMIC_RELAXED);
    if (h - __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE) >= QSIZE)
        return 0;
    q->slot[h % QSIZE] = p;
    __atomic_store_n(&q->head, h + 1, __ATOMIC_RELEASE);
    return 1;
}

static void *worker(void *arg)
{
    struct thr *t = arg;
    void *slots[SLOTS] = {0};
    pthread_barrier_wait(t->bar);
    for (long i = 0; i < t->ops; i++) {
        unsigned r = rnd(&t->seed);
        unsigned k = r % SLOTS;
        if (slots[k] && !((r >> 10) % 4 == 0 && push(t->out, slots[k])))
            free(slots[k]);
        unsigned cls = 4 + (r >> 12) % 13; /* 2^4 .. 2^16 */
        size_t size = ((size_t)1 << cls) / 2 + 1 + rnd(&t->seed) % (((size_t)1 << cls) / 2);
        slots[k] = malloc(size);
        if (!slots[k])
            abort();
        touch(slots[k], size);
        if ((i & 63) == 0)
            drain(t->in);
    }
    pthread_barrier_wait(t->bar);
    drain(t->in);
    for (unsigned k = 0; k < SLOTS; k++)
        free(slots[k]);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int child(const char *marker, long ops, int threads)
{
    if (marker && !dlsym(RTLD_DEFAULT, marker)) {
        printf("ERROR allocator not loaded (no %s)\n", marker);
        return 1;
    }
    static struct queue q[MAXTHR];
    struct thr t[MAXTHR];
    pthread_t tid[MAXTHR];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++) {
        t[i] = (struct thr){ops, 7919u * (unsigned)(i + 1), &q[i], &q[(i + 1) % threads], &bar};
        pthread_create(&tid[i], NULL, worker, &t[i]);
    }
    pthread_barrier_wait(&bar);
    double t0 = now_s();
    pthread_barrier_wait(&bar); /* every thread finished its ops */
    double t1 = now_s();
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("RESULT %.1f %ld\n", (double)ops * threads / (t1 - t0), ru.ru_maxrss);
    return 0;
}

/* --- the driver (parent) --- */

static int run_child(const char *self, const struct allocator *a, long ops, int threads,
                     double *ops_s, long *rss_kb)
{
    int fd[2];
    if (pipe(fd) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        if (a->lib)
            setenv("LD_PRELOAD", a->lib, 1);
        else
            unsetenv("LD_PRELOAD");
        char o[32], th[16];
        snprintf(o, sizeof(o), "%ld", ops);
        snprintf(th, sizeof(th), "%d", threads);
        execl(self, self, "--child", a->marker ? a->marker : "-", o, th, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[256] = {0};
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(buf) - 1 && (r = read(fd[0], buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)r;
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
        sscanf(buf, "RESULT %lf %ld", ops_s, rss_kb) != 2) {
        fprintf(stderr, "bench-malloc: %s run failed: %s\n", a->name, buf[0] ? buf : "no output");
        return -EIO;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--child") == 0)
        return child(strcmp(argv[2], "-") ? argv[2] : NULL, atol(argv[3]), atoi(argv[4]));
    long ops = 2000000;
    int threads = 2, rounds = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc)
            ops = atol(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench-malloc [--ops N] [--threads 2-%d] [--rounds 1-%d]\n",
                    MAXTHR, MAXROUND);
            return 2;
        }
    }
    if (ops < 1 || threads < 2 || threads > MAXTHR || rounds < 1 || rounds > MAXROUND) {
        fprintf(stderr, "bench-malloc: --ops >= 1, --threads 2-%d, --rounds 1-%d\n", MAXTHR,
                MAXROUND);
        return 2;
    }
    char self[PATH_MAX], xpvlib[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        perror("bench-malloc: /proc/self/exe");
        return 1;
    }
    self[n] = 0;
    snprintf(xpvlib, sizeof(xpvlib), "%s", self);
    char *slash = strrchr(xpvlib, '/');
    snprintf(slash, sizeof(xpvlib) - (size_t)(slash - xpvlib), "/../lib/libxpv-malloc.so");
    allocators[NALLOC - 1].lib = xpvlib;

    int present[NALLOC];
    for (size_t a = 0; a < NALLOC; a++) {
        present[a] = !allocators[a].lib || access(allocators[a].lib, R_OK) == 0;
        if (!present[a])
            printf("skipped %s: %s not found%s\n", allocators[a].name, allocators[a].lib,
                   a == NALLOC - 1 ? " (build the xpv-malloc target)"
                                   : " (scripts/setup.sh test installs it)");
    }
    if (!present[NALLOC - 1] || !present[0]) {
        fprintf(stderr, "bench-malloc: glibc and xpv-malloc are needed for the ratios\n");
        return 1;
    }
    double res[NALLOC][MAXROUND];
    long rss[NALLOC] = {0};
    for (int r = 0; r < rounds; r++)
        for (size_t a = 0; a < NALLOC; a++) {
            if (!present[a])
                continue;
            long kb = 0;
            if (run_child(self, &allocators[a], ops, threads, &res[a][r], &kb) < 0)
                return 1;
            if (kb > rss[a])
                rss[a] = kb;
        }
    double med[NALLOC] = {0};
    printf("%-10s %14s %12s   (%d threads, %ld ops each, median of %d rounds)\n", "allocator",
           "ops/s", "peak RSS", threads, ops, rounds);
    for (size_t a = 0; a < NALLOC; a++) {
        if (!present[a])
            continue;
        qsort(res[a], (size_t)rounds, sizeof(double), cmp_double);
        med[a] =
                rounds % 2 ? res[a][rounds / 2] : (res[a][rounds / 2 - 1] + res[a][rounds / 2]) / 2;
        printf("%-10s %14.0f %9ld KiB\n", allocators[a].name, med[a], rss[a]);
    }
    printf("{\"bench\":\"malloc\",\"threads\":%d,\"ops_per_thread\":%ld,\"rounds\":%d,"
           "\"allocators\":{",
           threads, ops, rounds);
    int first = 1;
    for (size_t a = 0; a < NALLOC; a++) {
        if (!present[a])
            continue;
        printf("%s\"%s\":{\"ops_per_s\":%.0f,\"peak_rss_kb\":%ld}", first ? "" : ",",
               allocators[a].name, med[a], rss[a]);
        first = 0;
    }
    printf("},\"xpv_vs_glibc\":%.3f", med[NALLOC - 1] / med[0]);
    if (present[1])
        printf(",\"xpv_vs_jemalloc\":%.3f", med[NALLOC - 1] / med[1]);
    else
        printf(",\"xpv_vs_jemalloc\":null");
    printf("}\n");
    return 0;
}
