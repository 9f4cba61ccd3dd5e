/*
 * bench_numa.c — what libxpv-numa costs a program that asks "which node am I on?"
 * (docs/runtimes.md, "Cost"): numa_node_of_cpu(cpu) and getcpu(&cpu, &node), per call, in
 * three child processes run side by side: no preload (the real libnuma and glibc), the
 * preload without a record, and the preload with a record published (this machine's
 * topology, at a temporary path given as $XPV_RECORD).
 *
 *   bench-numa [--calls N]   (default 10 000 000)
 *
 * Last line, JSON: ns per call for each, and the preloaded-with-record cost over the real one.
 * Never sanitized: it preloads a library.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <numa.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xpv/publisher.h"
#include "xpv/record_build.h"
#include "xpv/topo.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The child: N calls of each, "NODE_OF_CPU_NS GETCPU_NS" on stdout. */
static int child(long n)
{
    volatile int sink = 0;
    int cpu = sched_getcpu();
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        sink += numa_node_of_cpu(cpu);
    double t1 = now_ns();
    for (long i = 0; i < n; i++) {
        unsigned c, node;
        getcpu(&c, &node);
        sink += (int)node;
    }
    double t2 = now_ns();
    printf("%.3f %.3f\n", (t1 - t0) / (double)n, (t2 - t1) / (double)n);
    return sink == -1; /* never: keeps the calls */
}

/* Run ourselves as a child with the environment given; its two figures into f. */
static int run(const char *self, long n, const char *preload, const char *record, double f[2])
{
    int pfd[2];
    if (pipe(pfd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        if (preload)
            setenv("LD_PRELOAD", preload, 1);
        else
            unsetenv("LD_PRELOAD");
        setenv("XPV_RECORD", record, 1);
        char num[32];
        snprintf(num, sizeof(num), "%ld", n);
        execl(self, self, "--child", num, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    char buf[128] = {0};
    ssize_t got = read(pfd[0], buf, sizeof(buf) - 1);
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    if (got <= 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
        sscanf(buf, "%lf %lf", &f[0], &f[1]) != 2)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    long n = 10000000;
    if (argc == 3 && !strcmp(argv[1], "--child"))
        return child(atol(argv[2]));
    if (argc == 3 && !strcmp(argv[1], "--calls"))
        n = atol(argv[2]);
    else if (argc != 1) {
        fprintf(stderr, "usage: bench-numa [--calls N]\n");
        return 2;
    }
    if (n < 1 || numa_available() < 0) {
        fprintf(stderr, "bench-numa: %s\n",
                n < 1 ? "--calls wants N >= 1" : "no NUMA support here");
        return 1;
    }
    char self[4096], lib[4200];
    ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (k <= 0)
        return 1;
    self[k] = 0;
    /* build/bin/bench-numa -> build/lib/libxpv-numa.so */
    snprintf(lib, sizeof(lib), "%.*s/../lib/libxpv-numa.so", (int)(strrchr(self, '/') - self),
             self);
    if (access(lib, R_OK) != 0) {
        fprintf(stderr, "bench-numa: %s: %s (build target xpv-numa)\n", lib, strerror(errno));
        return 1;
    }
    char none[64], rec[64];
    snprintf(none, sizeof(none), "/tmp/xpv-bench-numa-none.%d", (int)getpid());
    snprintf(rec, sizeof(rec), "/tmp/xpv-bench-numa.%d", (int)getpid());
    struct xpv_error err = {0};
    struct xpv_topo *t = NULL;
    struct xpv_record_desc d;
    struct xpv_publisher *p = NULL;
    if (xpv_topo_discover(NULL, &t, &err) < 0 || xpv_record_desc_from_topo(t, &d, &err) < 0 ||
        xpv_publisher_open(rec, &p, &err) < 0 || xpv_publisher_publish(p, &d, NULL, &err) < 0) {
        fprintf(stderr, "bench-numa: publishing the record: %s\n", err.msg);
        return 1;
    }
    double real[2], pre[2], with[2];
    int rc = run(self, n, NULL, none, real) || run(self, n, lib, none, pre) ||
             run(self, n, lib, rec, with);
    xpv_publisher_close(p);
    unlink(rec);
    xpv_record_desc_free(&d);
    xpv_topo_free(t);
    if (rc) {
        fprintf(stderr, "bench-numa: a child failed\n");
        return 1;
    }
    printf("numa_node_of_cpu: real %.2f ns, preloaded without a record %.2f ns, with one %.2f ns\n",
           real[0], pre[0], with[0]);
    printf("getcpu:           real %.2f ns, preloaded without a record %.2f ns, with one %.2f ns\n",
           real[1], pre[1], with[1]);
    printf("{\"calls\": %ld, \"node_of_cpu_ns\": [%.3f, %.3f, %.3f], \"getcpu_ns\": [%.3f, %.3f, "
           "%.3f], \"node_of_cpu_with_record_vs_real\": %.4f, \"getcpu_with_record_vs_real\": "
           "%.4f}\n",
           n, real[0], pre[0], with[0], real[1], pre[1], with[1], with[0] / real[0],
           with[1] / real[1]);
    return 0;
}
