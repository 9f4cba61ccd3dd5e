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

int main(int argc, char **argv)
{
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
