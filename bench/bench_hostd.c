/*
 * bench_hostd.c — what the host daemon costs per round: N process domains (default 64; 4
 * threads and 256 MiB each, memory spread over random nodes) on the 8-node fixture machine,
 * through the recording ops and a fake /proc tree in a temporary directory (stat, task,
 * numa_maps, maps per process), so nothing on this machine changes and the cost measured is
 * the daemon's own (reading /proc, placing, publishing).
 *
 *   bench-hostd [--root FIXTURE] [--domains N] [--changed N] [--rounds N]
 *
 * Every round --changed distinct domains (default a quarter) change: their memory grows or shrinks
 * by an eighth and moves to other nodes (numa_maps and the rss of /proc/PID/stat rewritten), so the
 * change detectors see them and the placement has work to do; the daemon moves what its hysteresis
 * lets it move. First the daemon places every domain (warm-up rounds, not measured: the initial
 * placement moves max_moves domains a round, and its page moves cost what migrate_mb_s allows
 * whatever the number of domains); --warmup N measures after N rounds instead (1: during the
 * initial placement, as this bench did before). Side by side, the same changes: the default daemon
 * (change detectors, memory follows its domain), the same with
 * --no-migrate, the same with the detectors off (rescan_rounds 1: every domain read in full
 * every round, the daemon before them), and a read-only baseline (reading threads and
 * numa_maps of every domain and node meminfo, no decisions or records). With the recorder the
 * page moves cost the recorder's model, not the kernel's. Records go to /dev/shm as deployed.
 * CPU time is the process's (user + system). The last line is one JSON object:
 * cpu_percent_of_one_core assumes the default 1 s period.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hostd.h"
#include "xpv/ops_record.h"

#ifndef XPV_BENCH_FIXTURE
#define XPV_BENCH_FIXTURE ""
#endif

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long rng_state = 42;
static unsigned rnd(unsigned n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((rng_state >> 33) % n);
}

/* A process's memory: 8 mappings of `per` pages each (8192: 256 MiB in all), each on one or
 * two random nodes (numa_maps), and its stat with 4 threads and that many resident pages. */
static void write_numa_maps(const char *dir, int pid, const struct xpv_topo *t, unsigned per)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/proc/%d/numa_maps", dir, pid);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    for (unsigned m = 0; m < 8; m++) {
        int a = t->nodes[rnd(t->nr_nodes)].id, b = t->nodes[rnd(t->nr_nodes)].id;
        if (a == b)
            fprintf(f, "%x default anon=%u dirty=%u N%d=%u kernelpagesize_kB=4\n",
                    0x10000000 + m * 0x2000000, per, per, a, per);
        else
            fprintf(f, "%x default anon=%u dirty=%u N%d=%u N%d=%u kernelpagesize_kB=4\n",
                    0x10000000 + m * 0x2000000, per, per, a, per / 2, b, per - per / 2);
    }
    fclose(f);
    snprintf(path, sizeof(path), "%s/proc/%d/stat", dir, pid);
    if ((f = fopen(path, "w"))) {
        /* proc(5): num_threads field 20, starttime 22, rss (pages) 24 */
        fprintf(f,
                "%d (worker) S 1 %d %d 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 4 0 %d 1000000 %u "
                "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
                pid, pid, pid, 5000 + pid, 8 * per);
        fclose(f);
    }
}

/* A change: the memory grows or shrinks by an eighth (alternately), on new random nodes. */
static void change(const char *dir, int pid, const struct xpv_topo *t, unsigned *per)
{
    *per = *per >= 8192 ? 8192 - 1024 : 8192 + 1024;
    write_numa_maps(dir, pid, t, *per);
}

static void make_proc(const char *dir, int pid, unsigned threads, const struct xpv_topo *t)
{
    char path[512];
    for (unsigned i = 0; i < threads; i++) {
        snprintf(path, sizeof(path), "%s/proc", dir);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/proc/%d", dir, pid);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/proc/%d/task", dir, pid);
        mkdir(path, 0755);
        snprintf(path, sizeof(path), "%s/proc/%d/task/%d", dir, pid, pid + (int)i);
        mkdir(path, 0755);
    }
    write_numa_maps(dir, pid, t, 8192);
    snprintf(path, sizeof(path), "%s/proc/%d/maps", dir, pid);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "10000000-20000000 rw-p 00000000 00:00 0 \n");
        fclose(f);
    }
}

struct result {
    double round_ms, base_ms, stat_ms;
    uint64_t moves, publishes, pages, warmup;
    struct hostd_proc_reads reads; /* in the measured rounds */
};

/* One daemon over nd fake processes for `rounds` rounds (the same random layouts and changes
 * for every call: the generator restarts), next to the read-only baseline. rescan: the
 * daemon's rescan_rounds (0: its default). */
static int measure(const char *dir, const char *rec, struct xpv_topo *t, unsigned nd,
                   unsigned changed, unsigned rounds, bool migrate, unsigned rescan,
                   unsigned warmup, struct result *out)
{
    struct hostd_conf c;
    struct xpv_error err = {0};
    rng_state = 42;
    hostd_conf_default(&c);
    c.migrate_memory = migrate;
    if (rescan)
        c.rescan_rounds = rescan;
    snprintf(c.record_dir, sizeof(c.record_dir), "%s", rec); /* tmpfs, as deployed */
    unsigned *per = malloc(nd * sizeof(*per)), *order = malloc(nd * sizeof(*order));
    if (!per || !order) {
        free(per);
        free(order);
        return -1;
    }
    for (unsigned k = 0; k < nd; k++) {
        struct hostd_domain_conf *d;
        if (hostd_conf_add_domain(&c, &d, &err) < 0) {
            fprintf(stderr, "bench-hostd: %s\n", err.msg);
            hostd_conf_release(&c);
            free(per);
            free(order);
            return -1;
        }
        snprintf(d->name, sizeof(d->name), "dom%u", k);
        d->kind = HOSTD_PIDS;
        d->pids[0] = (pid_t)(1000 + 10 * k);
        d->nr_pids = 1;
        make_proc(dir, d->pids[0], 4, t);
        per[k] = 8192;
        order[k] = k;
    }
    struct xpv_ops *ops = xpv_ops_record_new(t, &err);
    static struct hostd h;
    if (!ops || hostd_init(&h, &c, t, dir, ops, NULL, &err) < 0) {
        fprintf(stderr, "bench-hostd: %s\n", err.msg);
        xpv_ops_free(ops);
        hostd_conf_release(&c);
        free(per);
        free(order);
        return -1;
    }
    /* warm-up, not measured: rounds until every domain is placed and, after that, long
     * enough for every domain's full read to have come round (the detectors' reference) */
    uint64_t warm = 0;
    for (; warm < warmup; warm++) { /* --warmup N: N rounds */
        hostd_round(&h);
        xpv_ops_record_clear(ops);
    }
    for (bool placed = warmup > 0; !placed && warm < 4ull * nd + 8; warm++) {
        hostd_round(&h);
        xpv_ops_record_clear(ops);
        placed = true;
        for (unsigned k = 0; k < h.nr_domains; k++)
            placed &= h.domains[k].nodes != 0;
    }
    for (unsigned r = 0; !warmup && r < h.conf.rescan_rounds + 1; r++, warm++) {
        hostd_round(&h);
        xpv_ops_record_clear(ops);
    }
    uint64_t moves0 = h.stats.moves, pub0 = h.stats.publishes, pages0 = h.stats.pages_moved;
    struct hostd_proc_reads r0 = hostd_proc_reads_get(), rb = {0};
    double base = 0, daemon = 0, stat_s = 0;
    pid_t tids[64];
    uint64_t mem[XPV_PLACE_MAX_NODES], freeb[XPV_MAX_NODES];
    for (unsigned r = 0; r < rounds; r++) {
        /* `changed` distinct domains (a partial shuffle), each a change the detector sees */
        for (unsigned k = 0; k < changed; k++) {
            unsigned j = k + rnd(nd - k), i = order[j];
            order[j] = order[k];
            order[k] = i;
            change(dir, 1000 + 10 * (int)i, t, &per[i]);
        }
        /* baseline: read what the daemon without detectors reads, decide nothing */
        struct hostd_proc_reads b0 = hostd_proc_reads_get();
        double t0 = cpu_now();
        for (unsigned k = 0; k < nd; k++) {
            hostd_proc_tids(dir, 1000 + 10 * (int)k, tids, 64);
            memset(mem, 0, sizeof(mem));
            hostd_proc_mem(dir, 1000 + 10 * (int)k, t, mem);
        }
        hostd_node_free(dir, t, freeb);
        double ts = cpu_now(); /* the detectors' floor: /proc/PID/stat of every domain */
        struct hostd_pstat ps;
        for (unsigned k = 0; k < nd; k++)
            hostd_proc_stat(dir, 1000 + 10 * (int)k, &ps);
        double t1 = cpu_now();
        struct hostd_proc_reads b1 = hostd_proc_reads_get();
        rb.stat += b1.stat - b0.stat;
        rb.task += b1.task - b0.task;
        rb.numa_maps += b1.numa_maps - b0.numa_maps;
        rb.meminfo += b1.meminfo - b0.meminfo;
        hostd_round(&h);
        double t2 = cpu_now();
        base += ts - t0;
        stat_s += t1 - ts;
        daemon += t2 - t1;
        xpv_ops_record_clear(ops); /* the recorder's log would grow without bound */
    }
    struct hostd_proc_reads r1 = hostd_proc_reads_get();
    *out = (struct result){.round_ms = daemon / rounds * 1e3,
                           .base_ms = base / rounds * 1e3,
                           .stat_ms = stat_s / rounds * 1e3,
                           .moves = h.stats.moves - moves0,
                           .publishes = h.stats.publishes - pub0,
                           .pages = h.stats.pages_moved - pages0,
                           .warmup = warm,
                           .reads = {.stat = r1.stat - r0.stat - rb.stat,
                                     .task = r1.task - r0.task - rb.task,
                                     .numa_maps = r1.numa_maps - r0.numa_maps - rb.numa_maps,
                                     .maps = r1.maps - r0.maps,
                                     .meminfo = r1.meminfo - r0.meminfo - rb.meminfo}};
    hostd_fini(&h);
    hostd_conf_release(&c);
    xpv_ops_free(ops);
    free(per);
    free(order);
    return 0;
}

static void print_row(const char *what, const struct result *r, unsigned rounds)
{
    printf("  %-44s %8.3f ms CPU  (per round: %.1f numa_maps, %.1f task, %.1f stat read; "
           "%llu moves, %llu records, %llu pages moved in all)\n",
           what, r->round_ms, (double)r->reads.numa_maps / rounds, (double)r->reads.task / rounds,
           (double)r->reads.stat / rounds, (unsigned long long)r->moves,
           (unsigned long long)r->publishes, (unsigned long long)r->pages);
}

int main(int argc, char **argv)
{
    const char *root = XPV_BENCH_FIXTURE;
    unsigned nd = 64, rounds = 30, warmup = 0;
    long changed = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--root") && i + 1 < argc)
            root = argv[++i];
        else if (!strcmp(argv[i], "--domains") && i + 1 < argc)
            nd = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--changed") && i + 1 < argc)
            changed = atol(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
            warmup = (unsigned)atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench-hostd [--root FIXTURE] [--domains N] [--changed N] "
                            "[--rounds N] [--warmup N]\n");
            return 2;
        }
    }
    if (changed < 0)
        changed = nd / 4;
    if (nd < 1 || nd > HOSTD_MAX_DOMAINS || rounds < 1 || (unsigned long)changed > nd) {
        fprintf(stderr,
                "bench-hostd: --domains 1..%d (the daemon's HOSTD_MAX_DOMAINS), --changed "
                "0..domains, --rounds >= 1\n",
                HOSTD_MAX_DOMAINS);
        return 2;
    }
    struct xpv_error err = {0};
    struct xpv_topo *t = NULL;
    int rc = xpv_topo_discover(root[0] ? root : NULL, &t, &err);
    if (rc < 0) {
        fprintf(stderr,
                "bench-hostd: topology of %s: %s (python3 tests/fixtures/mkfixture.py "
                "build/fixtures/gen makes the fixtures)\n",
                root, xpv_error_str(&err, rc));
        return 1;
    }
    hostd_raise_nofile(); /* as `xpv hostd` does */
    char dir[] = "/tmp/xpv-bench-hostd-XXXXXX", rec[] = "/dev/shm/xpv-bench-hostd-XXXXXX";
    if (!mkdtemp(dir) || !mkdtemp(rec)) {
        perror("bench-hostd: mkdtemp");
        return 1;
    }
    struct result with, without, all;
    unsigned ch = (unsigned)changed;
    if (measure(dir, rec, t, nd, ch, rounds, true, 0, warmup, &with) < 0 ||
        measure(dir, rec, t, nd, ch, rounds, false, 0, warmup, &without) < 0 ||
        measure(dir, rec, t, nd, ch, rounds, true, 1, warmup, &all) < 0)
        return 1;
    printf("%u domains on %u nodes (%s), %u changed a round, %u rounds (after %llu warm-up "
           "rounds), side by side:\n",
           nd, t->nr_nodes, root[0] ? root : "this machine", ch, rounds,
           (unsigned long long)with.warmup);
    print_row("daemon, default (detectors, memory follows):", &with, rounds);
    print_row("daemon, --no-migrate (threads only):", &without, rounds);
    print_row("daemon, detectors off (rescan_rounds 1):", &all, rounds);
    printf("  %-44s %8.3f ms CPU\n", "baseline, reading /proc of every domain:", with.base_ms);
    printf("  %-44s %8.3f ms CPU\n", "baseline, /proc/PID/stat of every domain:", with.stat_ms);
    printf("{\"domains\": %u, \"nodes\": %u, \"changed_per_round\": %u, \"rounds\": %u, "
           "\"round_cpu_ms\": %.4f, \"round_cpu_ms_no_migrate\": %.4f, "
           "\"round_cpu_ms_detectors_off\": %.4f, \"baseline_read_only_cpu_ms\": %.4f, "
           "\"baseline_stat_only_cpu_ms\": %.4f, \"ratio_vs_read_only\": %.3f, "
           "\"ratio_vs_detectors_off\": %.3f, \"moves\": %llu, "
           "\"numa_maps_reads_per_round\": %.2f, \"cpu_percent_of_one_core\": %.4f, "
           "\"cpu_percent_of_one_core_no_migrate\": %.4f}\n",
           nd, t->nr_nodes, ch, rounds, with.round_ms, without.round_ms, all.round_ms, with.base_ms,
           with.stat_ms, with.base_ms > 0 ? with.round_ms / with.base_ms : 0,
           all.round_ms > 0 ? with.round_ms / all.round_ms : 0, (unsigned long long)with.moves,
           (double)with.reads.numa_maps / rounds, with.round_ms / 1000 * 100,
           without.round_ms / 1000 * 100);
    xpv_topo_free(t);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, rec);
    return system(cmd) == 0 ? 0 : 1;
}
