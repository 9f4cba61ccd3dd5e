/*
 * bench_hostd.c — what the host daemon costs per round: 64 process domains (4 threads and
 * 256 MiB each, memory spread over random nodes) on the 8-node fixture machine, through the
 * recording ops and a fake /proc tree in a temporary directory, so nothing on this machine
 * changes and the cost measured is the daemon's own (reading /proc, placing, publishing).
 *
 *   bench-hostd [--root FIXTURE] [--domains N] [--rounds N]
 *
 * Every round a quarter of the domains change their memory layout (numa_maps rewritten), so
 * the placement has work to do; the daemon moves what its hysteresis lets it move. Baseline,
 * side by side: a round that only reads what the daemon reads (threads and numa_maps of every
 * domain, node meminfo), no decisions or records; and the same daemon with --no-migrate
 * (threads only), since with the recorder the page moves cost the recorder's model, not the
 * kernel's. Records go to /dev/shm as deployed. CPU time is the process's (user + system).
 * The last line is one JSON object: cpu_percent_of_one_core assumes the default 1 s period.
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

static void write_numa_maps(const char *dir, int pid, const struct xpv_topo *t)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/proc/%d/numa_maps", dir, pid);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    /* 256 MiB over a few mappings, on one or two random nodes */
    for (unsigned m = 0; m < 8; m++) {
        int a = t->nodes[rnd(t->nr_nodes)].id, b = t->nodes[rnd(t->nr_nodes)].id;
        if (a == b)
            fprintf(f, "%x default anon=8192 dirty=8192 N%d=8192 kernelpagesize_kB=4\n",
                    0x10000000 + m * 0x2000000, a);
        else
            fprintf(f, "%x default anon=8192 dirty=8192 N%d=4096 N%d=4096 kernelpagesize_kB=4\n",
                    0x10000000 + m * 0x2000000, a, b);
    }
    fclose(f);
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
    write_numa_maps(dir, pid, t);
    snprintf(path, sizeof(path), "%s/proc/%d/maps", dir, pid);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "10000000-20000000 rw-p 00000000 00:00 0 \n");
        fclose(f);
    }
}

struct result {
    double round_ms, base_ms;
    uint64_t moves, publishes, pages;
};

/* One daemon over nd fake processes for `rounds` rounds (the same random layouts for every
 * call: the generator restarts), next to the read-only baseline. */
static int measure(const char *dir, const char *rec, struct xpv_topo *t, unsigned nd,
                   unsigned rounds, bool migrate, struct result *out)
{
    static struct hostd_conf c;
    struct xpv_error err = {0};
    rng_state = 42;
    hostd_conf_default(&c);
    c.migrate_memory = migrate;
    snprintf(c.record_dir, sizeof(c.record_dir), "%s", rec); /* tmpfs, as deployed */
    c.nr_domains = nd;
    for (unsigned k = 0; k < nd; k++) {
        struct hostd_domain_conf *d = &c.domains[k];
        snprintf(d->name, sizeof(d->name), "dom%u", k);
        d->kind = HOSTD_PIDS;
        d->pids[0] = (pid_t)(1000 + 10 * k);
        d->nr_pids = 1;
        make_proc(dir, d->pids[0], 4, t);
    }
    struct xpv_ops *ops = xpv_ops_record_new(t, &err);
    static struct hostd h;
    if (!ops || hostd_init(&h, &c, t, dir, ops, NULL, &err) < 0) {
        fprintf(stderr, "bench-hostd: %s\n", err.msg);
        xpv_ops_free(ops);
        return -1;
    }
    hostd_round(&h); /* the initial placement: not a steady-state round */
    double base = 0, daemon = 0;
    pid_t tids[64];
    uint64_t mem[XPV_PLACE_MAX_NODES], freeb[XPV_MAX_NODES];
    for (unsigned r = 0; r < rounds; r++) {
        for (unsigned k = 0; k < nd / 4; k++)
            write_numa_maps(dir, 1000 + 10 * (int)rnd(nd), t);
        /* baseline: read what the daemon reads, decide nothing */
        double t0 = cpu_now();
        for (unsigned k = 0; k < nd; k++) {
            hostd_proc_tids(dir, 1000 + 10 * (int)k, tids, 64);
            memset(mem, 0, sizeof(mem));
            hostd_proc_mem(dir, 1000 + 10 * (int)k, t, mem);
        }
        hostd_node_free(dir, t, freeb);
        double t1 = cpu_now();
        hostd_round(&h);
        double t2 = cpu_now();
        base += t1 - t0;
        daemon += t2 - t1;
        xpv_ops_record_clear(ops); /* the recorder's log would grow without bound */
    }
    *out = (struct result){.round_ms = daemon / rounds * 1e3,
                           .base_ms = base / rounds * 1e3,
                           .moves = h.stats.moves,
                           .publishes = h.stats.publishes,
                           .pages = h.stats.pages_moved};
    hostd_fini(&h);
    xpv_ops_free(ops);
    return 0;
}

int main(int argc, char **argv)
{
    const char *root = XPV_BENCH_FIXTURE;
    unsigned nd = 64, rounds = 30;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--root") && i + 1 < argc)
            root = argv[++i];
        else if (!strcmp(argv[i], "--domains") && i + 1 < argc)
            nd = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = (unsigned)atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench-hostd [--root FIXTURE] [--domains N] [--rounds N]\n");
            return 2;
        }
    }
    if (nd < 1 || nd > HOSTD_MAX_DOMAINS || rounds < 1) {
        fprintf(stderr, "bench-hostd: --domains 1..%d, --rounds >= 1\n", HOSTD_MAX_DOMAINS);
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
    char dir[] = "/tmp/xpv-bench-hostd-XXXXXX", rec[] = "/dev/shm/xpv-bench-hostd-XXXXXX";
    if (!mkdtemp(dir) || !mkdtemp(rec)) {
        perror("bench-hostd: mkdtemp");
        return 1;
    }
    struct result with, without;
    if (measure(dir, rec, t, nd, rounds, true, &with) < 0 ||
        measure(dir, rec, t, nd, rounds, false, &without) < 0)
        return 1;
    printf("%u domains on %u nodes (%s), %u rounds, side by side:\n", nd, t->nr_nodes,
           root[0] ? root : "this machine", rounds);
    printf("  daemon round, default (memory follows, moved by the recorder): %.3f ms CPU "
           "(%llu moves, %llu records published, %llu pages moved)\n",
           with.round_ms, (unsigned long long)with.moves, (unsigned long long)with.publishes,
           (unsigned long long)with.pages);
    printf("  daemon round, --no-migrate (threads only):                    %.3f ms CPU\n",
           without.round_ms);
    printf("  baseline, reading /proc only:                                 %.3f ms CPU\n",
           with.base_ms);
    printf("{\"domains\": %u, \"nodes\": %u, \"rounds\": %u, \"round_cpu_ms\": %.4f, "
           "\"round_cpu_ms_no_migrate\": %.4f, \"baseline_read_only_cpu_ms\": %.4f, "
           "\"ratio_vs_read_only\": %.3f, \"moves\": %llu, \"cpu_percent_of_one_core\": %.4f, "
           "\"cpu_percent_of_one_core_no_migrate\": %.4f}\n",
           nd, t->nr_nodes, rounds, with.round_ms, without.round_ms, with.base_ms,
           with.base_ms > 0 ? with.round_ms / with.base_ms : 0, (unsigned long long)with.moves,
           with.round_ms / 1000 * 100, without.round_ms / 1000 * 100);
    xpv_topo_free(t);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, rec);
    return system(cmd) == 0 ? 0 : 1;
}
