/*
 * t_carrefour.c — Carrefour on a real 4-node kernel: xpv-cf-work runs with the software
 * sampler preloaded (/bin/libxpv-cfsampler.so), and this test runs the live engine on it
 * (xpv/cf_live.h: the same code as `xpv carrefour --pid`), with real move_pages, one round
 * per second for ROUNDS rounds (a number of rounds, not a time: an 8-node TCG guest on two host
 * cores makes a round take seconds), and past them while the engine is still interleaving
 * (the controllers' imbalance above its gate), up to MAX_ROUNDS: a loaded host gives a round
 * as few as 10-200 samples where an idle one gives 300-1300, and the spread then needs more
 * rounds (docs/test-statistics.md); then the workload's threads are told to stop (a byte on
 * its stdin), no more round runs, and once they are done ("cf-work accesses done") the workload
 * (told so by a second byte) reports where its pages are (its own
 * move_pages queries: none is moving any more) and whether its data is intact (checksums).
 *
 *  carrefour.shared_spreads   an array first-touched on node 0, read by threads on every node:
 *                             controller imbalance -> interleaving; ends spread over the nodes
 *                             (as evenly as the 35 % imbalance gate asks, see the check)
 *  carrefour.private_follows  each thread's slice first-touched on the next node: locality
 *                             near 0 -> migration; ends on the accessing thread's node
 *  carrefour.shared_hold      the shared array with xpv's hold profile (interleaving held on
 *                             until the imbalance is at or below 5 %, or within the estimate's
 *                             counting noise): ends spread as with shared_spreads
 */
#define _GNU_SOURCE
#include "lab.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xpv/cf_live.h"

#define WORK_MIB "4"
#define WORK_S     "240" /* at most: the test stops the workload after its rounds */
#define ROUNDS     20    /* 1 s apart; under TCG a round itself takes 0.1-3 s */
#define MAX_ROUNDS 60    /* while still interleaving after ROUNDS */

/* The sample memory run() gives the live handle (xpv_cf_live_set_memory), and what its rounds
 * saw: each round's sampled local access ratio and samples. */
static unsigned run_memory = XPV_CF_LIVE_MEMORY_DEFAULT;
static double run_lar[MAX_ROUNDS];
static unsigned run_samples[MAX_ROUNDS], run_rounds;

/* not a wait: a pause for the loops below, each call annotated */
static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL); /* not a wait: nap() itself */
}

/* Append what the workload printed so far to out[0..*n); has it printed `mark`? */
static int gather(int fd, char *out, size_t cap, size_t *n, const char *mark)
{
    ssize_t got;
    while (*n + 1 < cap && (got = read(fd, out + *n, cap - 1 - *n)) > 0)
        *n += (size_t)got;
    out[*n] = 0;
    return strstr(out, mark) != NULL;
}

/* Start the workload with the sampler; run rounds until it exits; its stdout in out. */
static enum lab_result run(const struct lab_env *env, const char *mode,
                           void (*profile)(struct xpv_cf_params *), char *out, size_t cap,
                           unsigned *moved)
{
    if (access("/bin/libxpv-cfsampler.so", R_OK) || access("/bin/xpv-cf-work", X_OK)) {
        printf("  the sampler library or xpv-cf-work is missing from the initramfs\n");
        return LAB_FAIL;
    }
    /* shm_open needs /dev/shm; the guest's /init mounts only devtmpfs on /dev */
    mkdir("/dev/shm", 01777);
    if (mount("tmpfs", "/dev/shm", "tmpfs", 0, NULL) < 0 && errno != EBUSY)
        printf("  mount tmpfs on /dev/shm: %s (using devtmpfs)\n", strerror(errno));
    int p[2], go[2];
    LAB_CHECK(pipe(p) == 0 && pipe(go) == 0, "pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(go[0], 0);
        close(p[0]);
        close(go[1]);
        setenv("LD_PRELOAD", "/bin/libxpv-cfsampler.so", 1);
        setenv("XPV_CFSAMPLER_PAGES", "64", 1);
        setenv("XPV_CFSAMPLER_PERIOD_US", "10000", 1);
        /* the workload's slices are WORK_MIB / nodes: 512 KiB on 8 nodes, below the
         * sampler's default 1 MiB floor for a mapping it protects pages of */
        setenv("XPV_CFSAMPLER_MIN_KB", "256", 1);
        execl("/bin/xpv-cf-work", "xpv-cf-work", mode, WORK_MIB, WORK_S, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    close(go[0]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    size_t n = 0;
    out[0] = 0;
    struct xpv_cf_params params;
    profile(&params);
    params.maptu_min = 0; /* as `xpv carrefour` live: sampled touches are not DRAM accesses */
    struct xpv_cf_live *l = NULL;
    struct xpv_error err = {0};
    int rc = -ENOENT;
    for (int i = 0; i < 500 && (rc == -ENOENT || rc == -EAGAIN); i++) {
        rc = xpv_cf_live_attach(pid, env->topo, env->ops, &params, 7, &l, &err);
        if (rc == -ENOENT || rc == -EAGAIN)
            nap(0.01); /* not a wait: the poll interval of attaching (500 tries; error shown) */
    }
    if (rc < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(go[1]);
        close(p[0]);
        LAB_CHECK(0, "attach: %s", xpv_error_str(&err, rc));
    }
    xpv_cf_live_set_memory(l, run_memory);
    run_rounds = 0;
    int st = 0, done = 0, accessed = 0;
    signal(SIGPIPE, SIG_IGN); /* the workload may have died */
    bool interleaving = false; /* the last round's engine still evens the controllers out */
    for (unsigned r = 0; !done && !accessed && (r < ROUNDS || (interleaving && r < MAX_ROUNDS));
         r++) {
        for (int k = 0; k < 10 && !done && !accessed; k++) {
            nap(0.1); /* not a wait: rounds 1 s apart, the workload checked every 0.1 s */
            done = waitpid(pid, &st, WNOHANG) == pid;
            accessed = gather(p[0], out, cap, &n, "cf-work accesses done");
        }
        if (done || accessed)
            break;
        struct xpv_cf_live_round lr;
        rc = xpv_cf_live_round(l, false, &lr, &err);
        if (rc < 0) {
            if (rc == -ESRCH)
                break;
            printf("  round %u: %s\n", r, xpv_error_str(&err, rc));
            continue;
        }
        *moved += lr.ex.migrated + lr.ex.interleaved + lr.ex.repl_interleaved;
        interleaving = lr.m.interleaving;
        run_lar[run_rounds] = lr.m.lar;
        run_samples[run_rounds++] = lr.samples;
        printf("  round %u: %u samples (+%u carried), %u pages, LAR %.1f%%, imbalance %.1f%%, "
               "reads %.0f%%%s%s%s "
               "-> %u migrated, %u interleaved, %u replicate->interleave, %u failed (%d); "
               "sampler %.0f ms (%.0f%% of the workload's CPU time), deciding %.1f%%, "
               "migrating %.1f%%\n",
               r, lr.samples, lr.carried, lr.pages, lr.m.lar, lr.m.imbalance, lr.read_ratio,
               lr.m.migration ? " migration" : "", lr.m.interleaving ? " interleaving" : "",
               lr.m.replication ? " replication" : "", lr.ex.migrated, lr.ex.interleaved,
               lr.ex.repl_interleaved, lr.ex.failed, lr.ex.last_error, lr.sample_ns / 1e6,
               lr.target_cpu_ns > 0 ? 100 * lr.sample_ns / lr.target_cpu_ns : 0.0,
               100 * lr.decide_ns / lr.round_ns, 100 * lr.migrate_ns / lr.round_ns);
    }
    /* stop the reading threads, and wait until they are done: no round runs meanwhile */
    if (!done && !accessed && write(go[1], "s", 1) != 1)
        printf("  telling xpv-cf-work to stop: %s\n", strerror(errno));
    for (int k = 0; k < 600 && !done && !accessed; k++) {
        nap(0.1); /* not a wait: the poll interval of this 60 s loop */
        done = waitpid(pid, &st, WNOHANG) == pid;
        accessed = gather(p[0], out, cap, &n, "cf-work accesses done");
    }
    xpv_cf_live_free(l); /* every round's moves completed inside it: nothing moves now */
    if (write(go[1], "g", 1) != 1)
        printf("  telling xpv-cf-work to count: %s\n", strerror(errno));
    close(go[1]);
    if (!done)
        waitpid(pid, &st, 0);
    fcntl(p[0], F_SETFL, 0);
    ssize_t k;
    while (n + 1 < cap && (k = read(p[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)k;
    out[n] = 0;
    close(p[0]);
    printf("%s", out);
    LAB_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "xpv-cf-work failed (status 0x%x)", st);
    LAB_CHECK(*moved > 0, "no page moved");
    return LAB_PASS;
}

/* The shared array run with `profile`: its pages per node (c), counted at rest; every node
 * must hold some of it, and the pages' imbalance (stddev / mean, n - 1) be at most max_imb %. */
static enum lab_result shared_run(const struct lab_env *env,
                                  void (*profile)(struct xpv_cf_params *), double max_imb, int *c,
                                  int *pages)
{
    char out[4096];
    unsigned moved = 0;
    enum lab_result r = run(env, "shared", profile, out, sizeof(out), &moved);
    if (r != LAB_PASS)
        return r;
    const char *s = strstr(out, "cf-work shared pages=");
    LAB_CHECK(s, "no result line");
    *pages = atoi(s + strlen("cf-work shared pages="));
    LAB_CHECK(strstr(s, "data=intact"), "the array was damaged");
    LAB_CHECK(*pages > 0, "no pages");
    const char *u = strstr(s, " unknown=");
    LAB_CHECK(u, "no unknown count");
    int unknown = atoi(u + strlen(" unknown=")), sum = 0;
    LAB_CHECK(env->nodes <= 64, "%u nodes", env->nodes);
    double mean = (double)*pages / env->nodes, ss = 0;
    for (unsigned n = 0; n < env->nodes; n++) {
        char key[16];
        snprintf(key, sizeof(key), " n%u=", n);
        const char *v = strstr(s, key);
        LAB_CHECK(v, "no count for node %u", n);
        c[n] = atoi(v + strlen(key));
        sum += c[n];
        ss += (c[n] - mean) * (c[n] - mean);
    }
    /* counted at rest: every page has a node (the engine stopped before the count) */
    LAB_CHECK(sum == *pages && unknown == 0, "%d of %d pages counted, %d unknown", sum, *pages,
              unknown);
    double imb = 100 * sqrt(ss / (env->nodes - 1)) / mean;
    printf("  pages per node: imbalance %.1f%%\n", imb);
    for (unsigned n = 0; n < env->nodes; n++)
        LAB_CHECK(c[n] > 0, "node %u holds none of the %d pages", n, *pages);
    LAB_CHECK(imb <= max_imb, "pages spread with %.1f%% imbalance (> %.0f%%)", imb, max_imb);
    return LAB_PASS;
}

static enum lab_result shared_spreads(const struct lab_env *env)
{
    int c[64], pages;
    if (env->nodes < 2)
        LAB_SKIP_BECAUSE("needs 2+ nodes, the guest was booted with %u", env->nodes);
    /* First touch put all of it on node 0; spread means every node holds part of it, node 0
     * at most half, and the pages' imbalance (stddev / mean, n - 1) within 50 %: Carrefour's
     * own rule stops interleaving once the sampled load's imbalance is below 35 %, and the
     * bar adds the sampled estimate's noise. The rule promises no floor per node: until
     * 2026-12-03 each node had to hold 40 % of its even share, and with nodes' shares spread
     * with a standard deviation of ~19 % on 8 nodes that failed about 1 run in 200 with
     * nothing wrong (docs/test-statistics.md). */
    enum lab_result r = shared_run(env, xpv_cf_params_asplos, 50, c, &pages);
    if (r != LAB_PASS)
        return r;
    LAB_CHECK(c[0] * 100 <= pages * 50, "node 0 still holds %d of %d pages", c[0], pages);
    return LAB_PASS;
}

/* The same array with xpv's hold profile (interleaving, once on, held while the imbalance is
 * above 5 % and above twice what counting alone shows for an even load): the profile running
 * live on a real kernel, through the live runner's previous-round gate. Here the load is
 * estimated from 300-1300 samples a round, whose counting noise (100 sqrt(nodes / samples) %:
 * ~16 % on 8 nodes, ~6 % on 4) sets the release, not the 5 %: the hold lets go after 5-10
 * rounds and the spread ends like shared_spreads' (docs/carrefour.md), so the same bars. */
static enum lab_result shared_hold(const struct lab_env *env)
{
    int c[64], pages;
    if (env->nodes < 2)
        LAB_SKIP_BECAUSE("needs 2+ nodes, the guest was booted with %u", env->nodes);
    return shared_run(env, xpv_cf_params_hold, 50, c, &pages);
}

/* The first round whose sampled local access ratio reached pct (-1: none), and the mean
 * samples per round, of the last run(). */
static int rounds_to(double pct)
{
    for (unsigned i = 0; i < run_rounds; i++)
        if (run_lar[i] >= pct)
            return (int)i;
    return -1;
}
static double mean_samples(void)
{
    double t = 0;
    for (unsigned i = 0; i < run_rounds; i++)
        t += run_samples[i];
    return run_rounds ? t / run_rounds : 0;
}

/* Pages per thread on its own node, summed, from the workload's result lines. */
static int local_pages(const char *out, int *pages)
{
    int local = 0;
    *pages = 0;
    for (const char *s = out; (s = strstr(s, "cf-work private thread=")); s++) {
        int thread, node, np, lc;
        if (sscanf(s, "cf-work private thread=%d node=%d pages=%d local=%d", &thread, &node, &np,
                   &lc) == 4) {
            local += lc;
            *pages += np;
        }
    }
    return local;
}

static enum lab_result private_follows(const struct lab_env *env)
{
    char out[4096];
    unsigned moved = 0;
    if (env->nodes < 2)
        LAB_SKIP_BECAUSE("needs 2+ nodes, the guest was booted with %u", env->nodes);
    /* First the papers' rule (each round's samples alone), as a measurement beside the run
     * that is checked, on the same guest under the same load: how many rounds the sampled
     * local access ratio takes to reach 60 % and 80 % (where the ASPLOS migration gate,
     * LAR < 80 %, closes), with and without the sample memory (docs/carrefour.md). */
    run_memory = 0;
    enum lab_result r = run(env, "private", xpv_cf_params_asplos, out, sizeof(out), &moved);
    int base60 = rounds_to(60), base80 = rounds_to(80), bpages, blocal = local_pages(out, &bpages);
    double bsamples = mean_samples();
    run_memory = XPV_CF_LIVE_MEMORY_DEFAULT;
    moved = 0;
    if (r == LAB_PASS)
        r = run(env, "private", xpv_cf_params_asplos, out, sizeof(out), &moved);
    if (r != LAB_PASS)
        return r;
    int mpages, mlocal = local_pages(out, &mpages);
    printf("  sample memory 0: sampled LAR >= 60%% at round %d, >= 80%% at round %d, %.0f samples "
           "a round, %d of %d pages local at the end; memory %d: round %d, round %d, %.0f samples, "
           "%d of %d pages\n",
           base60, base80, bsamples, blocal, bpages, XPV_CF_LIVE_MEMORY_DEFAULT, rounds_to(60),
           rounds_to(80), mean_samples(), mlocal, mpages);
    unsigned seen = 0;
    for (const char *s = out; (s = strstr(s, "cf-work private thread=")); s++) {
        int thread, node, pages, local;
        char data[16];
        LAB_CHECK(sscanf(s, "cf-work private thread=%d node=%d pages=%d local=%d data=%15s",
                         &thread, &node, &pages, &local, data) == 5,
                  "bad result line");
        LAB_CHECK(strcmp(data, "intact") == 0, "thread %d's data was damaged", thread);
        /* first touch put it all on node+1 (0 % local); following the accesses means most
         * is local now. With the sample memory, measured 80-96 % per thread under TCG (8 and
         * 4 nodes, docs/carrefour.md, "Sample memory"); the ASPLOS gate stops migrating at a
         * sampled LAR of 80 %, so the end state sits near it. The bar is 60 %: a run fails
         * only if migration has not reached the gate within ROUNDS rounds (it did by round 4
         * in every run measured, down to ~300 samples a round; a false-failure rate from a
         * model of the sampling rate under TCG load is not computed yet). */
        LAB_CHECK(local * 100 >= pages * 60, "thread %d: %d of %d pages on its node %d (< 60%%)",
                  thread, local, pages, node);
        seen++;
    }
    LAB_CHECK(seen == env->nodes, "%u result lines for %u nodes", seen, env->nodes);
    return LAB_PASS;
}

const struct lab_test lab_carrefour_tests[] = {
        {"carrefour.shared_spreads", shared_spreads},
        {"carrefour.private_follows", private_follows},
        {"carrefour.shared_hold", shared_hold},
        {NULL, NULL},
};
