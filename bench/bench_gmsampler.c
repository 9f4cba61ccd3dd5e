/*
 * bench_gmsampler.c — what the guest-memory sampler (libxpv-gmsampler.so) costs
 * (docs/carrefour.md, "Guest memory: the userfaultfd sampler", cost).
 *
 * bench-gmsampler FAKEQEMU LIB [--seconds S] [--rounds R] [--vcpus N] [--budget B]...
 *
 * Rates are per CPU second of the vCPU threads: on a loaded machine a thread that blocks in
 * faults is rescheduled sooner, and its wall-clock rate rose with the sampler (1.4-2.3 x the
 * baseline's at load 18 on 2 cores), which says nothing about the sampler's cost.
 *
 * Runs gm-fake-qemu (tests/unit/gm_fake_qemu.c: N threads named "CPU k/KVM", each touching one
 * word of every page of its region of 64 MiB of memfd guest RAM, in a loop) for S seconds,
 * alternately without the library (the baseline) and with it at each fault budget B (faults a
 * second), R times each, side by side. Prints per budget: the vCPU threads' touches a second
 * against the baseline's (the ratio is what the guest loses), faults a second, the sampler's
 * own time per fault (reading the fault, the faulting thread's CPU and name, UFFDIO_CONTINUE)
 * and per second (zapping: picking resident pages, MADV_DONTNEED), and the vCPU time lost per
 * fault ((baseline - sampled touch rate) / baseline rate x N threads / faults a second), the
 * medians over the rounds; then one JSON line. Timings are never checked.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXB 8
#define MAXR 32

struct run {
    double touches, per_cpu, faults, handler_us, sampler_ms;
};

static int one(const char *fake, const char *lib, unsigned budget, double secs, unsigned nv,
               struct run *r)
{
    char cmd[2048];
    if (budget)
        snprintf(cmd, sizeof(cmd),
                 "LD_PRELOAD=%s XPV_GMSAMPLER_BUDGET=%u XPV_FAKE_SECONDS=%g %s run %u 64 memfd "
                 "-object memory-backend-memfd,id=ram0,size=64M,share=on -machine "
                 "pc,memory-backend=ram0 -name bench,debug-threads=on 2>&1",
                 lib, budget, secs, fake, nv);
    else
        snprintf(cmd, sizeof(cmd),
                 "XPV_FAKE_NO_SAMPLER=1 XPV_FAKE_SECONDS=%g %s run %u 64 memfd 2>&1", secs, fake,
                 nv);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[512];
    int ok = 0;
    while (fgets(line, sizeof(line), p))
        if (sscanf(line,
                   "touches/s %lf touches/cpu_s %lf faults/s %lf handler_us/fault %lf "
                   "sampler_ms/s %lf",
                   &r->touches, &r->per_cpu, &r->faults, &r->handler_us, &r->sampler_ms) == 5)
            ok = 1;
        else
            fputs(line, stderr);
    return pclose(p) == 0 && ok ? 0 : -1;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof(*v), cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench-gmsampler FAKEQEMU LIB [--seconds S] [--rounds R] "
                        "[--vcpus N] [--budget B]...\n");
        return 2;
    }
    const char *fake = argv[1], *lib = argv[2];
    double secs = 3;
    unsigned rounds = 3, nv = 2, nb = 0, budgets[MAXB];
    for (int i = 3; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seconds"))
            secs = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--vcpus"))
            nv = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--budget") && nb < MAXB)
            budgets[nb++] = (unsigned)atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench-gmsampler: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (!nb)
        budgets[nb++] = 2000;
    if (rounds < 1 || rounds > MAXR || secs <= 0 || nv < 1 || nv > 16) {
        fprintf(stderr, "bench-gmsampler: 1..%d rounds, some seconds, 1..16 vCPUs\n", MAXR);
        return 2;
    }
    double base[MAXR], tr[MAXB][MAXR], wr[MAXB][MAXR], fr[MAXB][MAXR], hu[MAXB][MAXR],
            sm[MAXB][MAXR], lost[MAXB][MAXR];
    for (unsigned r = 0; r < rounds; r++) {
        struct run b;
        if (one(fake, lib, 0, secs, nv, &b) < 0) {
            fprintf(stderr, "bench-gmsampler: the baseline run failed\n");
            return 1;
        }
        base[r] = b.per_cpu;
        for (unsigned k = 0; k < nb; k++) {
            struct run s;
            if (one(fake, lib, budgets[k], secs, nv, &s) < 0) {
                fprintf(stderr, "bench-gmsampler: the sampled run failed (budget %u)\n",
                        budgets[k]);
                return 1;
            }
            tr[k][r] = s.per_cpu / b.per_cpu;
            wr[k][r] = s.touches / b.touches;
            fr[k][r] = s.faults;
            hu[k][r] = s.handler_us;
            sm[k][r] = s.sampler_ms;
            /* the vCPU threads' extra CPU time a fault: the fault's entry and exit, the PTE
             * rebuilt, the TLB refilled (the wait for the sampler is off the CPU) */
            lost[k][r] = s.faults > 0 ? (b.per_cpu / s.per_cpu - 1) * s.touches / b.per_cpu /
                                                s.faults * 1e6
                                      : 0;
        }
    }
    fprintf(stderr,
            "baseline: %.3g touches a CPU second (median of %u runs of %g s, %u vCPU threads)\n",
            median(base, rounds), rounds, secs, nv);
    printf("{\"baseline_touches_per_cpu_s\": %.0f", median(base, rounds));
    for (unsigned k = 0; k < nb; k++) {
        double ratio = median(tr[k], rounds), wall = median(wr[k], rounds),
               f = median(fr[k], rounds), h = median(hu[k], rounds), s = median(sm[k], rounds),
               l = median(lost[k], rounds);
        fprintf(stderr,
                "budget %u/s: touches a vCPU CPU second %.3f x the baseline's (wall clock "
                "%.3f x), %.0f faults/s, sampler %.1f us a fault + %.2f ms a second zapping, "
                "vCPU CPU time %.1f us a fault\n",
                budgets[k], ratio, wall, f, h, s, l);
        printf(", \"budget_%u\": {\"touch_ratio\": %.4f, \"wall_touch_ratio\": %.4f, "
               "\"faults_per_s\": %.0f, \"sampler_us_per_fault\": %.2f, \"zap_ms_per_s\": %.2f, "
               "\"vcpu_cpu_us_per_fault\": %.2f}",
               budgets[k], ratio, wall, f, h, s, l);
    }
    printf("}\n");
    return 0;
}
