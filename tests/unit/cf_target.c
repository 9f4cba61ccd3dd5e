/*
 * cf_target.c — a small program for the sampler tests (test_cf_sampler.c, cli_carrefour.sh):
 * a reader thread pinned to one CPU only reads buffer R, a writer thread pinned to another
 * (or the same, with one CPU) only stores to buffer W, for SECONDS. stderr gets one line with
 * what a test needs to check the samples ("cf-target R LO HI W LO HI reader TID CPU writer
 * TID CPU"); stdout gets results that do not depend on timing, so a run with the sampler
 * preloaded must print exactly what a run without it prints.
 *
 *   cf-target SECONDS
 *   cf-target crash     a program's own fault (a store through NULL): it must die of SIGSEGV
 *                       with the sampler preloaded too
 *   cf-target rounds    threads made in rounds (issue 21): 20 rounds of 8 threads that each map
 *                       a new 4 MiB slice, write it and exit (its old slice unmapped), joined,
 *                       then 8 threads that read their slice for 20 ms, joined. 8 stacks of
 *                       8 MiB overflow glibc's 40 MiB stack cache, so later stacks are mapped
 *                       at addresses shifted from earlier ones. Prints "rounds 20 threads 8
 *                       data intact" (or CORRUPT), and "cf-target rounds" on stderr first
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BUF (4u << 20)

static unsigned char *R, *W;
static double seconds;
static int cpus[2];
static pid_t tids[2];
static volatile int go;
static int *volatile nowhere; /* NULL: cf-target crash stores through it */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pin(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    sched_setaffinity(0, sizeof(s), &s);
}

static uint64_t expected_r;
static int r_ok = 1;

static void *reader(void *arg)
{
    (void)arg;
    pin(cpus[0]);
    tids[0] = (pid_t)syscall(SYS_gettid);
    while (!go)
        sched_yield();
    double end = now() + seconds;
    do {
        uint64_t sum = 0;
        for (size_t i = 0; i < BUF; i += 64)
            sum += ((volatile unsigned char *)R)[i];
        if (sum != expected_r)
            r_ok = 0;
    } while (now() < end);
    return NULL;
}

static unsigned passes;

static void *writer(void *arg)
{
    (void)arg;
    pin(cpus[1]);
    tids[1] = (pid_t)syscall(SYS_gettid);
    while (!go)
        sched_yield();
    double end = now() + seconds;
    unsigned p = 0;
    do {
        p++;
        for (size_t i = 0; i < BUF; i += 64)
            ((volatile unsigned char *)W)[i] = (unsigned char)(i / 64 * 7 + p);
    } while (now() < end);
    passes = p;
    return NULL;
}

#define ROUND_THREADS 8
#define ROUNDS        20
#define SLICE         (4u << 20)

static unsigned char *slice[ROUND_THREADS];
static int slice_ok = 1;

static void *toucher(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    unsigned char *p =
            mmap(NULL, SLICE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("cf-target: mmap");
        exit(1);
    }
    for (size_t k = 0; k < SLICE; k++)
        p[k] = (unsigned char)(k * 7 + i);
    if (slice[i])
        munmap(slice[i], SLICE);
    slice[i] = p;
    return NULL;
}

static void *slice_reader(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    const volatile unsigned char *p = slice[i];
    double end = now() + 0.02;
    do {
        for (size_t k = 0; k < SLICE; k += 64)
            if (p[k] != (unsigned char)(k * 7 + i))
                slice_ok = 0;
    } while (now() < end);
    return NULL;
}

static int rounds(void)
{
    fprintf(stderr, "cf-target rounds\n"); /* after the library's constructor: its ring is made */
    fflush(stderr);
    pthread_t t[ROUND_THREADS];
    for (int r = 0; r < ROUNDS; r++) {
        for (unsigned i = 0; i < ROUND_THREADS; i++)
            pthread_create(&t[i], NULL, toucher, (void *)(uintptr_t)i);
        for (unsigned i = 0; i < ROUND_THREADS; i++)
            pthread_join(t[i], NULL);
        for (unsigned i = 0; i < ROUND_THREADS; i++)
            pthread_create(&t[i], NULL, slice_reader, (void *)(uintptr_t)i);
        for (unsigned i = 0; i < ROUND_THREADS; i++)
            pthread_join(t[i], NULL);
    }
    printf("rounds %d threads %d data %s\n", ROUNDS, ROUND_THREADS,
           slice_ok ? "intact" : "CORRUPT");
    return slice_ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "rounds") == 0)
        return rounds();
    if (argc == 2 && strcmp(argv[1], "crash") == 0) {
        *nowhere = 1; /* NULL, through a volatile pointer: the compiler keeps the store */
        return 0;
    }
    if (argc != 2 || (seconds = atof(argv[1])) <= 0) {
        fprintf(stderr, "usage: cf-target SECONDS\n");
        return 2;
    }
    R = mmap(NULL, BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    W = mmap(NULL, BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (R == MAP_FAILED || W == MAP_FAILED) {
        perror("cf-target: mmap");
        return 1;
    }
    for (size_t i = 0; i < BUF; i++)
        R[i] = (unsigned char)(i * 13 + 5);
    for (size_t i = 0; i < BUF; i += 64)
        expected_r += R[i];
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpus[0] = 0;
    cpus[1] = n > 1 ? 1 : 0;
    pthread_t a, b;
    pthread_create(&a, NULL, reader, NULL);
    pthread_create(&b, NULL, writer, NULL);
    while (!tids[0] || !tids[1])
        sched_yield();
    fprintf(stderr, "cf-target R %lx %lx W %lx %lx reader %d %d writer %d %d\n", (unsigned long)R,
            (unsigned long)(R + BUF), (unsigned long)W, (unsigned long)(W + BUF), (int)tids[0],
            cpus[0], (int)tids[1], cpus[1]);
    fflush(stderr);
    go = 1;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    int w_ok = 1;
    for (size_t i = 0; i < BUF; i += 64)
        if (W[i] != (unsigned char)(i / 64 * 7 + passes))
            w_ok = 0;
    printf("R sum %llu %s\nW pattern %s\n", (unsigned long long)expected_r,
           r_ok ? "intact" : "CORRUPT", w_ok ? "intact" : "CORRUPT");
    return r_ok && w_ok ? 0 : 1;
}
