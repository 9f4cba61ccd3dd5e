/*
 * so_api.c — libxpv-malloc.so (malloc-so-api) and libxpv-malloc-mi.so (malloc-so-api-mi) as a
 * program links it (no sanitizers: the library replaces malloc, which a sanitizer runtime also
 * does): the whole malloc family under the standard names, the xpv_malloc API, stats, threads,
 * and fork with other threads allocating.
 * `malloc-so-api-mi full-arena`, run with XPV_MALLOC_MI_ARENA_MIB=32 (malloc.mi.so_api.full_arena):
 * the node arena holds one 32 MiB block; every allocation past it must still succeed, from
 * unbound memory (the fallback of heap_internal.h), through each entry point.
 * Exits 0 and prints "so_api: PASS" when everything held; a failed check names itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xpv/xpv_malloc.h"

static int failures;

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            printf("so_api: FAILED line %d: %s\n", __LINE__, #c);                                  \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void family(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *p = malloc(100);
    CHECK(p && malloc_usable_size(p) >= 100);
    memset(p, 'x', 100);
    p = realloc(p, 100000);
    CHECK(p && p[99] == 'x');
    p = reallocarray(p, 10, 10);
    CHECK(p && p[0] == 'x');
    free(p);
    volatile size_t huge = SIZE_MAX / 2; /* volatile: gcc rejects the overflow at compile time */
    CHECK(reallocarray(NULL, huge, 4) == NULL && errno == ENOMEM);
    unsigned char *z = calloc(4096, 3);
    int zero = 1;
    for (int i = 0; z && i < 4096 * 3; i++)
        zero &= z[i] == 0;
    CHECK(z && zero);
    free(z);
    /* volatile: clang -O2 removes an allocation whose result is only compared with NULL and
     * takes it as succeeded (the Release build failed this check with either backend) */
    void *volatile over = calloc(huge, 3);
    CHECK(over == NULL);
    void *a = NULL;
    CHECK(posix_memalign(&a, 4096, 10) == 0 && ((uintptr_t)a & 4095) == 0);
    free(a);
    CHECK(posix_memalign(&a, 24, 10) == EINVAL);
    a = aligned_alloc(256, 512);
    CHECK(a && ((uintptr_t)a & 255) == 0);
    free(a);
    volatile size_t odd = 100; /* not a power of two: glibc rounds up to 128 */
    a = memalign(odd, 10);
    CHECK(a && ((uintptr_t)a & 127) == 0);
    free(a);
    a = valloc(10);
    CHECK(a && ((uintptr_t)a & (page - 1)) == 0);
    free(a);
    a = pvalloc(page + 1);
    CHECK(a && ((uintptr_t)a & (page - 1)) == 0 && malloc_usable_size(a) >= 2 * page);
    free(a);
    free(NULL);
    CHECK(malloc_usable_size(NULL) == 0);
    p = malloc(0);
    CHECK(p != NULL);
    free(p);
    p = realloc(NULL, 10);
    CHECK(p != NULL);
    free(p);
    /* the xpv_ names are the same allocator */
    p = xpv_malloc(1000);
    CHECK(p && xpv_malloc_usable_size(p) >= 1000);
    p = xpv_realloc(p, 5000);
    free(p);
    p = xpv_calloc(10, 10);
    xpv_free(p);
    p = xpv_aligned_alloc(64, 64);
    CHECK(p && ((uintptr_t)p & 63) == 0);
    free(p);
}

static int stop;

static void *churn(void *arg)
{
    (void)arg;
    void *keep[64] = {0};
    unsigned i = 0;
    while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
        free(keep[i % 64]);
        keep[i % 64] = malloc(16 + (i * 37) % 20000);
        i++;
    }
    for (int k = 0; k < 64; k++)
        free(keep[k]);
    return NULL;
}

/* fork while other threads allocate: the child must be able to allocate (no lock left held). */
static void forks(void)
{
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, churn, NULL);
    int ok = 0;
    for (int i = 0; i < 50; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            void *q[100];
            for (int k = 0; k < 100; k++)
                q[k] = malloc((size_t)k * 100 + 1);
            for (int k = 0; k < 100; k++)
                free(q[k]);
            struct xpv_malloc_stats s;
            _exit(xpv_malloc_stats(&s) == 0 ? 0 : 3);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(ok == 50);
}

/* The node arena (32 MiB) fills up: nothing fails, the rest comes from outside it. */
static int full_arena(void)
{
    enum { N = 96, MIB = 1 << 20 };
    static char *p[N];
    int in = 0, out = 0;
    for (int i = 0; i < N; i++) {
        p[i] = i % 4 == 0   ? malloc(MIB)
               : i % 4 == 1 ? calloc(MIB / 16, 16)
               : i % 4 == 2 ? realloc(NULL, MIB)
                            : aligned_alloc(4096, MIB);
        CHECK(p[i] != NULL);
        if (!p[i])
            break;
        memset(p[i], i, MIB);
        if (xpv_heap_node_of(xpv_malloc_heap(), p[i]) >= 0)
            in++;
        else
            out++;
    }
    CHECK(in > 0);  /* the arena was used */
    CHECK(out > 0); /* and filled: the rest came from outside */
    /* a block moved by realloc when the arena is full */
    p[0] = realloc(p[0], 4 * MIB);
    CHECK(p[0] != NULL && p[0][MIB - 1] == 0);
    for (int i = 0; i < N; i++)
        free(p[i]);
    printf("so_api full-arena: %s (%d MiB in the node arena, %d outside)\n",
           failures ? "FAIL" : "PASS", in, out);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "full-arena") == 0)
        return full_arena();
    CHECK(xpv_malloc_heap() != NULL);
    family();
    void *hold = malloc(1 << 20);
    memset(hold, 1, 1 << 20);
    struct xpv_malloc_stats s;
    CHECK(xpv_malloc_stats(&s) == 0);
    CHECK(s.nr_nodes >= 1 && s.binds >= 1);
    uint64_t total = 0;
    for (unsigned i = 0; i < s.nr_nodes; i++) {
        total += s.nodes[i].allocated;
        CHECK(s.nodes[i].mbind_errors == 0 && s.nodes[i].mbind_calls > 0);
    }
    CHECK(total >= (1 << 20));
    CHECK(xpv_heap_node_of(xpv_malloc_heap(), hold) == s.nodes[0].node || s.nr_nodes > 1);
    free(hold);
    forks();
    printf("so_api: %s (%u node arenas, %llu bindings)\n", failures ? "FAIL" : "PASS", s.nr_nodes,
           (unsigned long long)s.binds);
    return failures ? 1 : 0;
}
