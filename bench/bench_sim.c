/*
 * bench_sim.c — how fast `xpv sim` simulates: the 8-node Opteron preset running NAS CG with
 * 48 threads for 10 simulated seconds, then 2x and 4x the threads, each under first-touch
 * (the engine alone) and AutoNUMA (engine + sampling + policy decisions); then the large
 * machine, altix-32n (32 nodes), running NAS CG with 1024 threads under first-touch.
 *
 *   bench-sim [--seconds S] [--repeat N] [--large-only]
 *
 * Each run is timed in wall time and in the process's CPU time (the engine is
 * single-threaded: CPU time is the wall time it would take on an idle core, without the time
 * other jobs took the CPU from it). With --repeat N every run is made N times, the runs
 * interleaved (one round of every run, then the next round), and each figure is the median
 * of its N. speed_ratio = simulated seconds / wall seconds, cpu_speed_ratio = simulated
 * seconds / CPU seconds (the target: >= 5 at 48 threads). Cost growth =
 * time(kx threads) / time(48 threads), against the k of linear growth (issue 23: <= 4.4 at
 * 4x). The last line is one JSON object; the top-level sim_seconds / wall_seconds /
 * speed_ratio are the 48-thread first-touch run, large_* the 1024-thread altix-32n run
 * (issue 23's target: speed ratio >= 10).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xpv/sim.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define MAX_REPEAT 99

struct sample {
    const char *machine;
    unsigned threads;
    const char *policy;
    double seconds; /* simulated, asked */
    unsigned n;     /* runs made */
    double wall[MAX_REPEAT], cpu[MAX_REPEAT];
    double sim, iters_per_epoch;
    double wall_med, cpu_med; /* medians, after the runs */
};

static int measure(struct sample *out)
{
    static struct xpv_sim_scenario s;
    static struct xpv_sim_result r;
    struct xpv_error err = {0};
    xpv_sim_scenario_defaults(&s);
    if (xpv_sim_machine_preset(out->machine, &s.machine, &err) < 0 ||
        xpv_sim_workload_preset("nas-cg", out->threads, &s.workloads[0], &err) < 0) {
        fprintf(stderr, "bench-sim: %s\n", err.msg);
        return -1;
    }
    s.nr_workloads = 1;
    s.max_seconds = out->seconds;
    for (unsigned p = 0; p < s.workloads[0].nr_phases; p++)
        s.workloads[0].phases[p].work *= 1000; /* never finishes: the run lasts exactly S */
    double t0 = now(), c0 = cpu_now();
    if (xpv_sim_run(&s, out->policy, &r, NULL, NULL, &err) < 0) {
        fprintf(stderr, "bench-sim: %s\n", err.msg);
        return -1;
    }
    double c = cpu_now() - c0, w = now() - t0;
    out->wall[out->n] = w;
    out->cpu[out->n] = c;
    out->n++;
    out->sim = r.sim_seconds;
    out->iters_per_epoch = (double)r.solver_iterations / (double)r.epochs;
    printf("%-10s %4u threads %-12s %6.2f s simulated in %7.3f s wall, %7.3f s CPU: speed ratio "
           "%7.1f (CPU %7.1f), %.2f solver iterations/epoch\n",
           out->machine, out->threads, out->policy, out->sim, w, c, out->sim / w, out->sim / c,
           out->iters_per_epoch);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, unsigned n)
{
    double s[MAX_REPEAT];
    memcpy(s, v, n * sizeof(double));
    qsort(s, n, sizeof(double), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench-sim [--seconds SIMULATED_SECONDS] [--repeat N] [--large-only]\n"
            "\n"
            "How fast `xpv sim` simulates (docs/sim.md, \"Speed\"): NAS CG on opteron-8n at\n"
            "48, 96 and 192 threads under first-touch and autonuma for S simulated seconds\n"
            "(default 10), then NAS CG with 1024 threads on altix-32n under first-touch for\n"
            "S/4. Prints each run (wall and CPU time), then one JSON line.\n"
            "\n"
            "  --seconds S   simulated seconds of each opteron-8n run (altix-32n: S/4)\n"
            "  --repeat N    make every run N times (1-%d, default 1), interleaved; the\n"
            "                figures are the medians\n"
            "  --large-only  only the altix-32n run\n"
            "  -h, --help    show this help\n",
            MAX_REPEAT);
}

int main(int argc, char **argv)
{
    double seconds = 10;
    long repeat = 1;
    int large_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
            char *end;
            repeat = strtol(argv[++i], &end, 10);
            if (*end || repeat < 1 || repeat > MAX_REPEAT) {
                fprintf(stderr, "bench-sim: --repeat wants a count from 1 to %d, not '%s'\n",
                        MAX_REPEAT, argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--large-only")) {
            large_only = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!(seconds > 0)) {
        fprintf(stderr, "bench-sim: --seconds wants a positive number\n");
        return 2;
    }
    static const unsigned threads[] = {48, 96, 192};
    static const char *const policies[] = {"first-touch", "autonuma"};
    static struct sample s[7];
    for (unsigned p = 0; p < 2; p++)
        for (unsigned i = 0; i < 3; i++)
            s[p * 3 + i] = (struct sample){.machine = "opteron-8n",
                                           .threads = threads[i],
                                           .policy = policies[p],
                                           .seconds = seconds};
    /* the large machine: a quarter of the time, its epochs cost ~20x the 48-thread ones */
    s[6] = (struct sample){.machine = "altix-32n",
                           .threads = 1024,
                           .policy = "first-touch",
                           .seconds = seconds / 4};
    for (long k = 0; k < repeat; k++)
        for (unsigned i = large_only ? 6 : 0; i < 7; i++)
            if (measure(&s[i]) < 0)
                return 1;
    for (unsigned i = large_only ? 6 : 0; i < 7; i++) {
        s[i].wall_med = median(s[i].wall, s[i].n);
        s[i].cpu_med = median(s[i].cpu, s[i].n);
    }
    const struct sample *L = &s[6];
    if (large_only) {
        printf("{\"repeat\": %ld, \"large_machine\": \"altix-32n\", \"large_threads\": 1024, "
               "\"large_policy\": \"first-touch\", \"large_sim_seconds\": %.3f, "
               "\"large_wall_seconds\": %.4f, \"large_speed_ratio\": %.1f, "
               "\"large_cpu_seconds\": %.4f, \"large_cpu_speed_ratio\": %.1f}\n",
               repeat, L->sim, L->wall_med, L->sim / L->wall_med, L->cpu_med, L->sim / L->cpu_med);
        return 0;
    }
    printf("{\"machine\": \"opteron-8n\", \"workload\": \"nas-cg\", \"threads\": 48, "
           "\"repeat\": %ld, \"sim_seconds\": %.3f, \"wall_seconds\": %.4f, \"speed_ratio\": %.1f, "
           "\"cpu_seconds\": %.4f, \"cpu_speed_ratio\": %.1f, \"runs\": [",
           repeat, s[0].sim, s[0].wall_med, s[0].sim / s[0].wall_med, s[0].cpu_med,
           s[0].sim / s[0].cpu_med);
    for (unsigned i = 0; i < 6; i++)
        printf("%s{\"policy\": \"%s\", \"threads\": %u, \"wall_seconds\": %.4f, "
               "\"speed_ratio\": %.1f, \"cpu_seconds\": %.4f, \"cpu_speed_ratio\": %.1f, "
               "\"iterations_per_epoch\": %.2f}",
               i ? ", " : "", s[i].policy, s[i].threads, s[i].wall_med, s[i].sim / s[i].wall_med,
               s[i].cpu_med, s[i].sim / s[i].cpu_med, s[i].iters_per_epoch);
    printf("], \"cost_growth_2x\": %.2f, \"cost_growth_4x\": %.2f, "
           "\"autonuma_cost_growth_2x\": %.2f, \"autonuma_cost_growth_4x\": %.2f, "
           "\"cpu_cost_growth_2x\": %.2f, \"cpu_cost_growth_4x\": %.2f, "
           "\"autonuma_cpu_cost_growth_2x\": %.2f, \"autonuma_cpu_cost_growth_4x\": %.2f, "
           "\"large_machine\": \"altix-32n\", \"large_threads\": 1024, "
           "\"large_policy\": \"first-touch\", \"large_sim_seconds\": %.3f, "
           "\"large_wall_seconds\": %.4f, \"large_speed_ratio\": %.1f, "
           "\"large_cpu_seconds\": %.4f, \"large_cpu_speed_ratio\": %.1f}\n",
           s[1].wall_med / s[0].wall_med, s[2].wall_med / s[0].wall_med,
           s[4].wall_med / s[3].wall_med, s[5].wall_med / s[3].wall_med,
           s[1].cpu_med / s[0].cpu_med, s[2].cpu_med / s[0].cpu_med, s[4].cpu_med / s[3].cpu_med,
           s[5].cpu_med / s[3].cpu_med, L->sim, L->wall_med, L->sim / L->wall_med, L->cpu_med,
           L->sim / L->cpu_med);
    return 0;
}
