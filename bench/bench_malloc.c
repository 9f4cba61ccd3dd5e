/*
 * bench_malloc.c — bench-malloc: the same multithreaded malloc/free mix under glibc, jemalloc,
 * tcmalloc (gperftools), mimalloc and xpv-malloc, in one run, side by side.
 *
 * Each allocator runs in a child process: this program re-executes itself with LD_PRELOAD set
 * to the allocator's Debian library (found by path; a missing one is reported and skipped) or
 * to build/lib/libxpv-malloc.so, nothing for glibc. The child checks that the allocator is the
 * one answering (a symbol only it defines), runs the workload and reports ops/s, ops per CPU
 * second (the process's CPU time over the timed part) and its peak RSS.
 *
 * Measuring on a shared machine: first `--warmup` untimed rounds (default 1), then `--rounds`
 * rounds, each running every allocator once; jemalloc and xpv-malloc run next to each other,
 * in alternating order (ABBA...), so each round gives one xpv/jemalloc ratio from two runs
 * seconds apart and neither always runs first. Reported: each allocator's median, minimum,
 * maximum and spread ((max - min) / median), and per baseline the median of the per-round
 * ratios, with a 95 % confidence interval of that median (order statistics, from 6 rounds on)
 * and its range, in ops/s and in ops per CPU second. The load average before and after says
 * how busy the machine was.
 *
 * Workload, per thread (2 by default): `ops` operations on 1024 private slots; each frees the
 * slot's block (or hands it to the other thread, 1 in 4, which frees it: a cross-thread free)
 * and allocates a new one of 16 B .. 64 KiB (log-uniform size class, uniform inside it),
 * writing its first 64 bytes and one byte per 4 KiB.
 *
 *   bench-malloc [--ops N] [--threads N] [--rounds N] [--warmup N] [--only a,b,...]
 *                [--alt LIB] [--alt-mi LIB]
 *
 * (--only: the allocators to run besides xpv-malloc. --alt: another build of
 * libxpv-malloc.so, "xpv-alt", run next to xpv-malloc like jemalloc, on the other side: an A/B
 * of two versions of the library in one run, xpv/xpv-alt. --alt-mi: the same for
 * libxpv-malloc-mi.so, "xpv-mi-alt", next to xpv-mi on the side mimalloc is not: xpv-mi/xpv-mi-alt,
 * and xpv-mi-alt/mimalloc.) Prints a table, then one JSON line
 * (last): ops/s and peak RSS per allocator, and the ratios xpv_vs_jemalloc and xpv_vs_glibc
 * (medians of the per-round ratios). docs/malloc.md has the figures of this machine.
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
#define MAXROUND 99

struct allocator {
    const char *name;
    const char *lib;    /* LD_PRELOAD; NULL: none (glibc) */
    const char *marker; /* a symbol only this allocator defines */
    const char *env;    /* NAME=VALUE set for its runs, or NULL */
};

static struct allocator allocators[] = {
        {"glibc", NULL, NULL, NULL},
        {"jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "mallctl", NULL},
        {"tcmalloc", "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "tc_malloc", NULL},
        {"mimalloc", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2", "mi_malloc", NULL},
        /* the library with no heap: jemalloc behind xpv-malloc's entry points, its automatic
         * arenas; what xpv-malloc's wrapping costs, apart from its node arenas */
        {"xpv-off", NULL /* as xpv */, "xpv_malloc_heap", "XPV_MALLOC_DISABLE=1"},
        /* --alt LIB: another build of the library, for an A/B of two versions */
        {"xpv-alt", NULL, "xpv_malloc_heap", NULL},
        /* the mimalloc backend (../lib/libxpv-malloc-mi.so): without its heap (mimalloc's
         * default heaps behind xpv-malloc's entry points), and as built */
        {"xpv-mi-off", NULL, "xpv_malloc_heap+mi_malloc", "XPV_MALLOC_DISABLE=1"},
        {"xpv-mi", NULL, "xpv_malloc_heap+mi_malloc", NULL},
        /* --alt-mi LIB: another build of libxpv-malloc-mi.so */
        {"xpv-mi-alt", NULL, "xpv_malloc_heap+mi_malloc", NULL},
        {"xpv", NULL /* next to this program: ../lib/libxpv-malloc.so */, "xpv_malloc_heap", NULL},
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

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int child(const char *marker, long ops, int threads)
{
    /* marker: symbols joined by '+', each of which the allocator's objects define */
    for (const char *m = marker; m && *m;) {
        char sym[64];
        size_t len = strcspn(m, "+");
        snprintf(sym, sizeof(sym), "%.*s", (int)len, m);
        if (!dlsym(RTLD_DEFAULT, sym)) {
            printf("ERROR allocator not loaded (no %s)\n", sym);
            return 1;
        }
        m += len + (m[len] == '+');
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
    double t0 = now_s(), c0 = cpu_s();
    pthread_barrier_wait(&bar); /* every thread finished its ops */
    double t1 = now_s(), c1 = cpu_s();
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    /* ops per CPU second (the process's, over the timed part) hardly move when another job
     * takes a core away from a thread for a while; ops/s do. */
    printf("RESULT %.1f %ld %.1f\n", (double)ops * threads / (t1 - t0), ru.ru_maxrss,
           c1 > c0 ? (double)ops * threads / (c1 - c0) : 0.0);
    return 0;
}

/* --- the driver (parent) --- */

struct run {
    double ops_s, ops_cpu;
    long rss_kb;
};

static int run_child(const char *self, const struct allocator *a, long ops, int threads,
                     struct run *out)
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
        if (a->env)
            putenv((char *)a->env);
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
        sscanf(buf, "RESULT %lf %ld %lf", &out->ops_s, &out->rss_kb, &out->ops_cpu) != 3) {
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

/* Median, extremes, quartiles and a 95 % confidence interval of the median of n values (v is
 * sorted in place). The interval is the r-th and (n+1-r)-th smallest values with the largest r
 * such that n - 2r >= 1.96 sqrt(n) (the normal approximation of the binomial); with fewer than
 * 9 values there is none (ci = 0) and the range stands in. */
struct summary {
    double med, min, max, q1, q3, ci_lo, ci_hi;
    int ci;
};

static double quantile(const double *v, int n, double q)
{
    double pos = q * (n - 1);
    int i = (int)pos;
    return i + 1 < n ? v[i] + (pos - i) * (v[i + 1] - v[i]) : v[i];
}

static struct summary summarize(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    struct summary s = {quantile(v, n, 0.5),  v[0], v[n - 1], quantile(v, n, 0.25),
                        quantile(v, n, 0.75), v[0], v[n - 1], 0};
    int r = 0;
    while (2 * (r + 1) <= n && (double)(n - 2 * (r + 1)) * (n - 2 * (r + 1)) >= 3.8416 * n)
        r++;
    if (r >= 1) {
        s.ci = 1;
        s.ci_lo = v[r - 1];
        s.ci_hi = v[n - r];
    }
    return s;
}

static void ratios(struct run (*res)[MAXROUND], int rounds, size_t x, size_t b, struct summary *w,
                   struct summary *c)
{
    double v[MAXROUND], u[MAXROUND];
    for (int r = 0; r < rounds; r++) {
        v[r] = res[x][r].ops_s / res[b][r].ops_s;
        u[r] = res[x][r].ops_cpu / res[b][r].ops_cpu;
    }
    *w = summarize(v, rounds);
    *c = summarize(u, rounds);
    char name[32];
    snprintf(name, sizeof(name), "%s/%s", allocators[x].name, allocators[b].name);
    printf("%-16s per round: median %.3f (%s %.3f-%.3f), quartiles %.3f-%.3f, range %.3f-%.3f; "
           "per CPU second: median %.3f (%s %.3f-%.3f)\n",
           name, w->med, w->ci ? "95% CI" : "range", w->ci_lo, w->ci_hi, w->q1, w->q3, w->min,
           w->max, c->med, c->ci ? "95% CI" : "range", c->ci_lo, c->ci_hi);
}

static double loadavg1(void)
{
    double l[1] = {-1};
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

static int find_allocator(const char *name, size_t len)
{
    for (size_t a = 0; a < NALLOC; a++)
        if (strlen(allocators[a].name) == len && strncmp(allocators[a].name, name, len) == 0)
            return (int)a;
    return -1;
}

enum {
    GLIBC = 0,
    JEMALLOC = 1,
    TCMALLOC = 2,
    MIMALLOC = 3,
    XPV_OFF = 4,
    XPV_ALT = 5,
    XPV_MI_OFF = 6,
    XPV_MI = 7,
    XPV_MI_ALT = 8,
    XPV = 9
};
_Static_assert(XPV == NALLOC - 1, "the allocators table and its indices");

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--child") == 0)
        return child(strcmp(argv[2], "-") ? argv[2] : NULL, atol(argv[3]), atoi(argv[4]));
    long ops = 2000000;
    int threads = 2, rounds = 5, warmup = 1;
    int wanted[NALLOC];
    for (size_t a = 0; a < NALLOC; a++)
        wanted[a] = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc)
            ops = atol(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
            warmup = atoi(argv[++i]);
        else if (strcmp(argv[i], "--alt") == 0 && i + 1 < argc)
            allocators[XPV_ALT].lib = argv[++i];
        else if (strcmp(argv[i], "--alt-mi") == 0 && i + 1 < argc)
            allocators[XPV_MI_ALT].lib = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            const char *s = argv[++i];
            for (size_t a = 0; a < NALLOC; a++)
                wanted[a] = a == XPV; /* xpv-malloc always runs */
            while (*s) {
                size_t len = strcspn(s, ",");
                int a = find_allocator(s, len);
                if (a < 0) {
                    fprintf(stderr, "bench-malloc: unknown allocator '%.*s'\n", (int)len, s);
                    return 2;
                }
                wanted[a] = 1;
                s += len + (s[len] == ',');
            }
        } else {
            fprintf(stderr,
                    "usage: bench-malloc [--ops N] [--threads 2-%d] [--rounds 1-%d] "
                    "[--warmup 0-9] "
                    "[--only glibc,jemalloc,tcmalloc,mimalloc,xpv-off,xpv-mi-off,xpv-mi,xpv] "
                    "[--alt LIBXPV-MALLOC] [--alt-mi LIBXPV-MALLOC-MI]\n",
                    MAXTHR, MAXROUND);
            return 2;
        }
    }
    if (ops < 1 || threads < 2 || threads > MAXTHR || rounds < 1 || rounds > MAXROUND ||
        warmup < 0 || warmup > 9) {
        fprintf(stderr, "bench-malloc: --ops >= 1, --threads 2-%d, --rounds 1-%d, --warmup 0-9\n",
                MAXTHR, MAXROUND);
        return 2;
    }
    char self[PATH_MAX], xpvlib[PATH_MAX + 32], milib[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        perror("bench-malloc: /proc/self/exe");
        return 1;
    }
    self[n] = 0;
    snprintf(xpvlib, sizeof(xpvlib), "%s", self);
    char *slash = strrchr(xpvlib, '/');
    snprintf(milib, sizeof(milib), "%.*s/../lib/libxpv-malloc-mi.so", (int)(slash - xpvlib),
             xpvlib);
    snprintf(slash, sizeof(xpvlib) - (size_t)(slash - xpvlib), "/../lib/libxpv-malloc.so");
    allocators[XPV].lib = allocators[XPV_OFF].lib = xpvlib;
    allocators[XPV_MI].lib = allocators[XPV_MI_OFF].lib = milib;

    wanted[XPV_ALT] = allocators[XPV_ALT].lib != NULL;
    wanted[XPV_MI_ALT] = allocators[XPV_MI_ALT].lib != NULL;
    int present[NALLOC];
    for (size_t a = 0; a < NALLOC; a++) {
        present[a] = wanted[a] && (!allocators[a].lib || access(allocators[a].lib, R_OK) == 0);
        if (wanted[a] && !present[a])
            printf("skipped %s: %s not found%s\n", allocators[a].name, allocators[a].lib,
                   a == XPV_ALT                     ? " (--alt)"
                   : a == XPV_MI_ALT                ? " (--alt-mi)"
                   : a == XPV_MI || a == XPV_MI_OFF ? " (build the xpv-malloc-mi target)"
                   : a >= XPV_OFF                   ? " (build the xpv-malloc target)"
                                                    : " (scripts/setup.sh test installs it)");
    }
    if (!present[XPV]) {
        fprintf(stderr, "bench-malloc: xpv-malloc is needed for the ratios\n");
        return 1;
    }
    /* The order within a round: the others first, then jemalloc and xpv-malloc next to each
     * other, xpv first in odd rounds (ABBA...): each ratio compares two runs seconds apart, and
     * neither allocator always runs first; xpv-alt on xpv's other side. Likewise mimalloc and
     * xpv-mi, next to each other, before them, and xpv-mi-alt on xpv-mi's other side. Warm-up
     * rounds (page cache, the dynamic loader's files, the CPU's clock) run the same order and are
     * not counted. */
    static const size_t order[2][NALLOC] = {{GLIBC, TCMALLOC, XPV_OFF, XPV_MI_OFF, MIMALLOC, XPV_MI,
                                             XPV_MI_ALT, JEMALLOC, XPV, XPV_ALT},
                                            {GLIBC, TCMALLOC, XPV_OFF, XPV_MI_OFF, XPV_MI_ALT,
                                             XPV_MI, MIMALLOC, XPV_ALT, XPV, JEMALLOC}};
    static struct run res[NALLOC][MAXROUND]; /* [allocator][round] */
    double load0 = loadavg1();
    for (int r = -warmup; r < rounds; r++)
        for (size_t k = 0; k < NALLOC; k++) {
            size_t a = order[(r + warmup) % 2][k];
            if (!present[a])
                continue;
            struct run one;
            if (run_child(self, &allocators[a], ops, threads, &one) < 0)
                return 1;
            if (r >= 0)
                res[a][r] = one;
        }
    double load1 = loadavg1();

    printf("bench-malloc: %d threads x %ld ops, %d timed rounds after %d warm-up, allocators "
           "interleaved; load average %.2f before, %.2f after\n",
           threads, ops, rounds, warmup, load0, load1);
    printf("%-10s %12s %12s %12s %7s %14s %10s\n", "allocator", "ops/s med", "min", "max", "spread",
           "ops/CPU-s med", "peak RSS");
    struct summary ops_s[NALLOC], ops_cpu[NALLOC];
    long rss[NALLOC] = {0};
    for (size_t a = 0; a < NALLOC; a++) {
        if (!present[a])
            continue;
        double v[MAXROUND], c[MAXROUND];
        for (int r = 0; r < rounds; r++) {
            v[r] = res[a][r].ops_s;
            c[r] = res[a][r].ops_cpu;
            if (res[a][r].rss_kb > rss[a])
                rss[a] = res[a][r].rss_kb;
        }
        ops_s[a] = summarize(v, rounds);
        ops_cpu[a] = summarize(c, rounds);
        printf("%-10s %12.0f %12.0f %12.0f %6.1f%% %14.0f %6ld KiB\n", allocators[a].name,
               ops_s[a].med, ops_s[a].min, ops_s[a].max,
               100 * (ops_s[a].max - ops_s[a].min) / ops_s[a].med, ops_cpu[a].med, rss[a]);
    }
    /* Per-round ratios of xpv-malloc to each baseline, and of the library without its heap to
     * jemalloc: wall clock and CPU time. */
    struct summary vs[NALLOC], vs_cpu[NALLOC], off = {0}, off_cpu = {0};
    for (size_t b = 0; b < XPV; b++)
        if (present[b] && b != XPV_MI_ALT)
            ratios(res, rounds, XPV, b, &vs[b], &vs_cpu[b]);
    if (present[XPV_OFF] && present[JEMALLOC])
        ratios(res, rounds, XPV_OFF, JEMALLOC, &off, &off_cpu);
    /* The mimalloc backend against plain mimalloc, the jemalloc backend and jemalloc; and the
     * library without its heap against plain mimalloc. */
    static const size_t mi_base[] = {MIMALLOC, XPV, JEMALLOC};
    struct summary mi_vs[3] = {{0}}, mi_vs_cpu[3] = {{0}}, mioff = {0}, mioff_cpu = {0};
    for (size_t i = 0; i < 3; i++)
        if (present[XPV_MI] && present[mi_base[i]])
            ratios(res, rounds, XPV_MI, mi_base[i], &mi_vs[i], &mi_vs_cpu[i]);
    if (present[XPV_MI_OFF] && present[MIMALLOC])
        ratios(res, rounds, XPV_MI_OFF, MIMALLOC, &mioff, &mioff_cpu);
    /* --alt-mi: the two builds of the mimalloc backend against each other, and the other one
     * against plain mimalloc */
    struct summary mialt = {0}, mialt_cpu = {0}, altmi = {0}, altmi_cpu = {0};
    if (present[XPV_MI_ALT] && present[XPV_MI])
        ratios(res, rounds, XPV_MI, XPV_MI_ALT, &mialt, &mialt_cpu);
    if (present[XPV_MI_ALT] && present[MIMALLOC])
        ratios(res, rounds, XPV_MI_ALT, MIMALLOC, &altmi, &altmi_cpu);
    printf("{\"bench\":\"malloc\",\"threads\":%d,\"ops_per_thread\":%ld,\"rounds\":%d,"
           "\"warmup\":%d,\"loadavg\":[%.2f,%.2f],\"allocators\":{",
           threads, ops, rounds, warmup, load0, load1);
    int first = 1;
    for (size_t a = 0; a < NALLOC; a++) {
        if (!present[a])
            continue;
        printf("%s\"%s\":{\"ops_per_s\":%.0f,\"ops_per_s_min\":%.0f,\"ops_per_s_max\":%.0f,"
               "\"ops_per_cpu_s\":%.0f,\"peak_rss_kb\":%ld}",
               first ? "" : ",", allocators[a].name, ops_s[a].med, ops_s[a].min, ops_s[a].max,
               ops_cpu[a].med, rss[a]);
        first = 0;
    }
    printf("}");
    /* xpv_vs_X: the median of the per-round ratios (the figure); _ci95: its confidence
     * interval (the range below 9 rounds); _range: the extremes; _cpu: the median on ops per
     * CPU second. */
    static const size_t base[] = {GLIBC, JEMALLOC};
    for (size_t i = 0; i < 2; i++) {
        size_t b = base[i];
        const char *name = allocators[b].name;
        if (!present[b])
            printf(",\"xpv_vs_%s\":null", name);
        else
            printf(",\"xpv_vs_%s\":%.3f,\"xpv_vs_%s_ci95\":[%.3f,%.3f],\"xpv_vs_%s_range\":[%.3f,"
                   "%.3f],\"xpv_vs_%s_cpu\":%.3f",
                   name, vs[b].med, name, vs[b].ci_lo, vs[b].ci_hi, name, vs[b].min, vs[b].max,
                   name, vs_cpu[b].med);
    }
    if (present[XPV_OFF] && present[JEMALLOC])
        printf(",\"xpv_off_vs_jemalloc\":%.3f,\"xpv_off_vs_jemalloc_cpu\":%.3f", off.med,
               off_cpu.med);
    for (size_t i = 0; i < 3; i++) {
        const char *name = mi_base[i] == XPV ? "xpv" : allocators[mi_base[i]].name;
        if (!present[XPV_MI] || !present[mi_base[i]])
            printf(",\"xpv_mi_vs_%s\":null", name);
        else
            printf(",\"xpv_mi_vs_%s\":%.3f,\"xpv_mi_vs_%s_ci95\":[%.3f,%.3f],"
                   "\"xpv_mi_vs_%s_cpu\":%.3f,\"xpv_mi_vs_%s_cpu_ci95\":[%.3f,%.3f]",
                   name, mi_vs[i].med, name, mi_vs[i].ci_lo, mi_vs[i].ci_hi, name, mi_vs_cpu[i].med,
                   name, mi_vs_cpu[i].ci_lo, mi_vs_cpu[i].ci_hi);
    }
    if (present[XPV_MI_OFF] && present[MIMALLOC])
        printf(",\"xpv_mi_off_vs_mimalloc\":%.3f,\"xpv_mi_off_vs_mimalloc_cpu\":%.3f", mioff.med,
               mioff_cpu.med);
    if (present[XPV_MI_ALT] && present[XPV_MI])
        printf(",\"xpv_mi_vs_xpv_mi_alt\":%.3f,\"xpv_mi_vs_xpv_mi_alt_ci95\":[%.3f,%.3f],"
               "\"xpv_mi_vs_xpv_mi_alt_cpu\":%.3f,\"xpv_mi_vs_xpv_mi_alt_cpu_ci95\":[%.3f,%.3f]",
               mialt.med, mialt.ci_lo, mialt.ci_hi, mialt_cpu.med, mialt_cpu.ci_lo,
               mialt_cpu.ci_hi);
    if (present[XPV_MI_ALT] && present[MIMALLOC])
        printf(",\"xpv_mi_alt_vs_mimalloc\":%.3f,\"xpv_mi_alt_vs_mimalloc_ci95\":[%.3f,%.3f],"
               "\"xpv_mi_alt_vs_mimalloc_cpu\":%.3f,\"xpv_mi_alt_vs_mimalloc_cpu_ci95\":[%.3f,%."
               "3f]",
               altmi.med, altmi.ci_lo, altmi.ci_hi, altmi_cpu.med, altmi_cpu.ci_lo,
               altmi_cpu.ci_hi);
    if (present[XPV_ALT])
        printf(",\"xpv_vs_xpv_alt\":%.3f,\"xpv_vs_xpv_alt_ci95\":[%.3f,%.3f],"
               "\"xpv_vs_xpv_alt_cpu\":%.3f",
               vs[XPV_ALT].med, vs[XPV_ALT].ci_lo, vs[XPV_ALT].ci_hi, vs_cpu[XPV_ALT].med);
    printf("}\n");
    return 0;
}
