/*
 * bench_sim.c — how fast `xpv sim` simulates: the 8-node Opteron preset running NAS CG with
 * 48 threads for 10 simulated seconds, then 2x and 4x the threads, each under first-touch
 * (the engine alone) and AutoNUMA (engine + sampling + policy decisions); then the large
 * machine, altix-32n (32 nodes), running NAS CG with 1024 threads under first-touch.
 *
 *   bench-sim [--seconds S]
 *
 * speed_ratio = simulated seconds / wall seconds (the target: >= 5 at 48 threads).
 * Cost growth = wall(kx threads) / wall(48 threads), against the k of linear growth. The last
 * line is one JSON object; the top-level sim_seconds / wall_seconds / speed_ratio are the
 * 48-thread first-touch run, large_* the 1024-thread altix-32n run (issue 23's target: speed
 * ratio >= 10).
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

struct sample {
    const char *machine;
    unsigned threads;
    const char *policy;
    double wall, sim, iters_per_epoch;
};

static int measure(const char *machine, unsigned threads, const char *policy, double seconds,
                   struct sample *out)
{
    static struct xpv_sim_scenario s;
    static struct xpv_sim_result r;
    struct xpv_error err = {0};
    xpv_sim_scenario_defaults(&s);
    if (xpv_sim_machine_preset(machine, &s.machine, &err) < 0 ||
        xpv_sim_workload_preset("nas-cg", threads, &s.workloads[0], &err) < 0) {
        fprintf(stderr, "bench-sim: %s\n", err.msg);
        return -1;
    }
    s.nr_workloads = 1;
    s.max_seconds = seconds;
    for (unsigned p = 0; p < s.workloads[0].nr_phases; p++)
        s.workloads[0].phases[p].work *= 1000; /* never finishes: the run lasts exactly S */
    double t0 = now();
    if (xpv_sim_run(&s, policy, &r, NULL, NULL, &err) < 0) {
        fprintf(stderr, "bench-sim: %s\n", err.msg);
        return -1;
    }
    *out = (struct sample){machine,       threads,
                           policy,        now() - t0,
                           r.sim_seconds, (double)r.solver_iterations / (double)r.epochs};
    printf("%-10s %4u threads %-12s %6.2f s simulated in %7.3f s wall: speed ratio %7.1f, "
           "%.2f solver iterations/epoch\n",
           machine, threads, policy, out->sim, out->wall, out->sim / out->wall,
           out->iters_per_epoch);
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = 10;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench-sim [--seconds SIMULATED_SECONDS]\n");
            return 2;
        }
    }
    if (!(seconds > 0)) {
        fprintf(stderr, "bench-sim: --seconds wants a positive number\n");
        return 2;
    }
    static const unsigned threads[] = {48, 96, 192};
    static const char *const policies[] = {"first-touch", "autonuma"};
    struct sample s[7];
    for (unsigned p = 0; p < 2; p++)
        for (unsigned i = 0; i < 3; i++)
            if (measure("opteron-8n", threads[i], policies[p], seconds, &s[p * 3 + i]) < 0)
                return 1;
    /* the large machine: a quarter of the time, its epochs cost ~20x the 48-thread ones */
    if (measure("altix-32n", 1024, "first-touch", seconds / 4, &s[6]) < 0)
        return 1;
    printf("{\"machine\": \"opteron-8n\", \"workload\": \"nas-cg\", \"threads\": 48, "
           "\"sim_seconds\": %.3f, \"wall_seconds\": %.4f, \"speed_ratio\": %.1f, \"runs\": [",
           s[0].sim, s[0].wall, s[0].sim / s[0].wall);
    for (unsigned i = 0; i < 6; i++)
        printf("%s{\"policy\": \"%s\", \"threads\": %u, \"wall_seconds\": %.4f, "
               "\"speed_ratio\": %.1f, \"iterations_per_epoch\": %.2f}",
               i ? ", " : "", s[i].policy, s[i].threads, s[i].wall, s[i].sim / s[i].wall,
               s[i].iters_per_epoch);
    printf("], \"cost_growth_2x\": %.2f, \"cost_growth_4x\": %.2f, "
           "\"autonuma_cost_growth_2x\": %.2f, \"autonuma_cost_growth_4x\": %.2f, "
           "\"large_machine\": \"altix-32n\", \"large_threads\": 1024, "
           "\"large_policy\": \"first-touch\", \"large_sim_seconds\": %.3f, "
           "\"large_wall_seconds\": %.4f, \"large_speed_ratio\": %.1f}\n",
           s[1].wall / s[0].wall, s[2].wall / s[0].wall, s[4].wall / s[3].wall,
           s[5].wall / s[3].wall, s[6].sim, s[6].wall, s[6].sim / s[6].wall);
    return 0;
}
