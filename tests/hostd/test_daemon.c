/*
 * test_daemon.c — the host daemon's round (src/hostd/) on 2-, 4- and 8-node machines, through
 * the recording ops table and a fake /proc tree (processes, threads, numa_maps, maps) made in
 * a temporary directory: initial placement, hysteresis, manual moves and their records, the
 * page mover and its budget, threads and processes that exit mid-operation, a restarted
 * daemon's generation, the configuration and the control protocol; and the simulator's
 * `hostd` policy deciding what the round decides.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../unit/tu_topo.h"
#include "hostd.h"
#include "xpv/channel.h"
#include "xpv/ops_record.h"
#include "xpv/policy.h"
#include "xpv/record.h"

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

struct fx {
    char dir[64];  /* proc root */
    char rec[128]; /* record dir */
    struct xpv_topo *t;
    struct xpv_ops *ops;
    struct hostd_conf c;
    struct hostd h;
};

static void mkdirs(const char *path)
{
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    mkdir(tmp, 0755);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A fake process: threads pid..pid+nthreads-1, `mb` MiB on node `node` (numa_maps), one
 * private writable mapping of that size at 0x10000000 (maps). */
static void fake_proc(struct fx *f, int pid, unsigned nthreads, unsigned mb, int node)
{
    char p[512], text[512];
    for (unsigned i = 0; i < nthreads; i++) {
        snprintf(p, sizeof(p), "%s/proc/%d/task/%d", f->dir, pid, pid + (int)i);
        mkdirs(p);
    }
    snprintf(p, sizeof(p), "%s/proc/%d/numa_maps", f->dir, pid);
    snprintf(text, sizeof(text),
             "10000000 default anon=%u dirty=%u N%d=%u kernelpagesize_kB=4\n"
             "7ffd0000 default stack anon=1 dirty=1 N%d=1 kernelpagesize_kB=4\n",
             mb * 256, mb * 256, node, mb * 256, node);
    write_file(p, text);
    snprintf(p, sizeof(p), "%s/proc/%d/maps", f->dir, pid);
    snprintf(text, sizeof(text),
             "00400000-00401000 r-xp 00000000 08:01 1 /bin/prog\n"
             "10000000-%08llx rw-p 00000000 00:00 0 \n"
             "7ffff7fc1000-7ffff7fc5000 r--p 00000000 00:00 0 [vvar]\n",
             (unsigned long long)(0x10000000 + mb * MIB));
    write_file(p, text);
}

static void kill_proc(struct fx *f, int pid)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/proc/%d'", f->dir, pid);
    assert_int_equal(system(cmd), 0);
}

static struct fx *fx_new(unsigned nodes, unsigned cpus_per_node)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/xpv-test-hostd-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->rec, sizeof(f->rec), "%s/rec", f->dir);
    mkdirs(f->rec);
    f->t = tu_topo(nodes, NULL, cpus_per_node, 16 * GIB);
    f->ops = xpv_ops_record_new(f->t, NULL);
    assert_non_null(f->ops);
    hostd_conf_default(&f->c);
    snprintf(f->c.record_dir, sizeof(f->c.record_dir), "%s", f->rec);
    snprintf(f->c.state_dir, sizeof(f->c.state_dir), "%s", f->rec);
    f->c.migrate_max_ms = 3.6e6; /* no time bound: the tests count pages, not milliseconds */
    return f;
}

static void fx_domain(struct fx *f, const char *name, int pid)
{
    struct hostd_domain_conf *d;
    assert_int_equal(hostd_conf_add_domain(&f->c, &d, NULL), 0);
    snprintf(d->name, sizeof(d->name), "%s", name);
    d->kind = HOSTD_PIDS;
    d->pids[0] = pid;
    d->nr_pids = 1;
}

static void fx_start(struct fx *f)
{
    assert_int_equal(hostd_init(&f->h, &f->c, f->t, f->dir, f->ops, NULL, NULL), 0);
}

static void fx_free(struct fx *f)
{
    char cmd[600];
    hostd_fini(&f->h);
    hostd_conf_release(&f->c);
    xpv_ops_free(f->ops);
    xpv_topo_free(f->t);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
}

/* The nodes (positions) the affinity of tid covers in the recorder's model. */
static uint64_t affinity_nodes(struct fx *f, pid_t tid)
{
    struct xpv_bitmap cpus;
    xpv_ops_record_affinity(f->ops, tid, &cpus);
    uint64_t m = 0;
    for (unsigned i = 0; i < f->t->nr_nodes; i++)
        if (xpv_bitmap_intersects(&cpus, &f->t->nodes[i].cpus))
            m |= UINT64_C(1) << i;
    return m;
}

/* Read a domain's record file: generation and the physical node ids it lists. */
static uint64_t record_of(struct fx *f, const char *name, uint32_t *ids, unsigned *nr)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/xpv-domain-%s", f->rec, name);
    struct xpv_channel *ch = NULL;
    assert_int_equal(xpv_channel_open(path, &ch, NULL), 0);
    struct xpv_snapshot *s = NULL;
    assert_int_equal(xpv_channel_snapshot(ch, &s, NULL), 0);
    const struct xpv_record_view *v = xpv_snapshot_view(s);
    uint64_t g = v->generation;
    *nr = v->nr_pnodes;
    for (unsigned i = 0; i < v->nr_pnodes; i++)
        ids[i] = xpv_record_pnode_id(v, i);
    xpv_snapshot_put(s);
    xpv_channel_close(ch);
    return g;
}

static void test_numa_maps(void **state)
{
    (void)state;
    struct xpv_topo *t = tu_topo(2, (const int[]){0, 3}, 1, GIB);
    uint64_t b[XPV_PLACE_MAX_NODES] = {0}, unknown = 0;
    const char ok[] = "7f0000000000 default anon=10 N0=4 N3=6 kernelpagesize_kB=4\n"
                      "7f1000000000 bind:3 file=/dev/hugepages/x huge N3=2 kernelpagesize_kB=2048\n"
                      "7f2000000000 default N7=1 kernelpagesize_kB=4\n";
    assert_int_equal(hostd_numa_maps_parse(ok, sizeof(ok) - 1, t, b, &unknown, NULL), 0);
    assert_int_equal(b[0], 4 * 4096);
    assert_int_equal(b[1], 6 * 4096 + 2 * 2 * MIB);
    assert_int_equal(unknown, 4096); /* node 7 is not on this machine */
    struct xpv_error err = {0};
    const char *bad[] = {"zz default N0=1\n", "7f00 default N0=x\n", "7f00 default N0=\n",
                         "7f00 default N0=1 kernelpagesize_kB=0\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(hostd_numa_maps_parse(bad[i], strlen(bad[i]), t, b, NULL, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "line 1"));
    }
    xpv_topo_free(t);
}

/* 4 nodes × 2 CPUs: two 2-thread domains with their memory on node 0 get a node each; the
 * next round keeps them (hysteresis); the records say where they are. */
static void test_initial_placement_and_hysteresis(void **state)
{
    (void)state;
    struct fx *f = fx_new(4, 2);
    fake_proc(f, 100, 2, 8, 0);
    fake_proc(f, 200, 2, 8, 0);
    fx_domain(f, "a", 100);
    fx_domain(f, "b", 200);
    fx_start(f);
    assert_int_equal(hostd_round(&f->h), 2);
    struct hostd_domain *a = hostd_find(&f->h, "a"), *b = hostd_find(&f->h, "b");
    assert_int_equal(__builtin_popcountll(a->nodes), 1);
    assert_int_equal(__builtin_popcountll(b->nodes), 1);
    assert_int_not_equal(a->nodes, b->nodes);
    assert_int_equal(affinity_nodes(f, 100), a->nodes);
    assert_int_equal(affinity_nodes(f, 101), a->nodes);
    assert_int_equal(affinity_nodes(f, 201), b->nodes);
    assert_non_null(strstr(a->reason, "initial"));
    uint32_t ids[8];
    unsigned nr;
    uint64_t g = record_of(f, "a", ids, &nr);
    assert_int_equal(g, 2); /* generation 1: as found; 2: after the move */
    assert_int_equal(nr, 1);
    assert_int_equal(UINT64_C(1) << ids[0], a->nodes);
    size_t calls = xpv_ops_record_count_kind(f->ops, XPV_OP_SET_AFFINITY);
    for (int r = 0; r < 3; r++)
        assert_int_equal(hostd_round(&f->h), 0);
    assert_int_equal(xpv_ops_record_count_kind(f->ops, XPV_OP_SET_AFFINITY), calls);
    assert_int_equal(record_of(f, "a", ids, &nr), 2);
    fx_free(f);
}

/* The operator moves a domain: threads and pages go to node 2, the record follows, the
 * automatic placement leaves it there; "auto" releases it. On 2, 4 and 8 nodes. */
static void test_manual_move(void **state)
{
    (void)state;
    const unsigned sizes[] = {2, 4, 8};
    for (size_t s = 0; s < 3; s++) {
        unsigned n = sizes[s];
        struct fx *f = fx_new(n, 2);
        fake_proc(f, 300, 2, 4, 0);
        fx_domain(f, "db", 300);
        fx_start(f);
        hostd_round(&f->h);
        uint64_t target = UINT64_C(1) << (n - 1);
        struct xpv_error err = {0};
        assert_int_equal(hostd_move(&f->h, "db", target, &err), 0);
        struct hostd_domain *d = hostd_find(&f->h, "db");
        assert_int_equal(d->nodes, target);
        assert_int_equal(affinity_nodes(f, 300), target);
        assert_int_equal(affinity_nodes(f, 301), target);
        /* pages move within the round's budget */
        for (int r = 0; r < 3 && d->moving; r++)
            hostd_round(&f->h);
        assert_false(d->moving);
        for (uint64_t a = 0x10000000; a < 0x10000000 + 4 * MIB; a += 4096)
            assert_int_equal(xpv_ops_record_page_node(f->ops, 300, (void *)(uintptr_t)a),
                             (int)(n - 1));
        assert_int_equal(f->h.stats.pages_moved, 4 * 256);
        uint32_t ids[8];
        unsigned nr;
        uint64_t g = record_of(f, "db", ids, &nr);
        assert_int_equal(nr, 1);
        assert_int_equal(ids[0], n - 1);
        /* pinned: rounds do not take it back */
        for (int r = 0; r < 3; r++)
            hostd_round(&f->h);
        assert_int_equal(d->nodes, target);
        assert_int_equal(record_of(f, "db", ids, &nr), g);
        /* errors name the problem and change nothing */
        assert_int_equal(hostd_move(&f->h, "nope", 1, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "nope"));
        assert_int_equal(hostd_parse_nodes(f->t, "9", &target, &err), -ENODEV);
        assert_non_null(strstr(err.msg, "node 9 does not exist"));
        assert_int_equal(hostd_move(&f->h, "db", 0, &err), 0); /* auto */
        assert_int_equal(d->pinned, 0);
        fx_free(f);
    }
}

/* A domain the operator placed keeps its cores: the automatic placement does not put
 * another domain on them, even where that domain's memory is. */
static void test_pinned_load(void **state)
{
    (void)state;
    struct fx *f = fx_new(2, 2);
    fake_proc(f, 1100, 2, 4, 0);
    fake_proc(f, 1200, 2, 4, 0);
    fx_domain(f, "pin", 1100);
    f->c.domains[0].fixed_nodes = 1; /* node 0, from the configuration */
    fx_domain(f, "free", 1200);
    fx_start(f);
    hostd_round(&f->h);
    assert_int_equal(hostd_find(&f->h, "pin")->nodes, 1);
    assert_int_equal(hostd_find(&f->h, "free")->nodes, 2); /* node 1: node 0's cores are taken */
    fx_free(f);
}

/* The page budget: 1 MiB per round moves 256 pages per round, resuming where it stopped. */
static void test_mover_budget(void **state)
{
    (void)state;
    struct fx *f = fx_new(2, 2);
    f->c.migrate_mb_s = 1;
    fake_proc(f, 400, 1, 4, 0);
    fx_domain(f, "m", 400);
    fx_start(f);
    hostd_round(&f->h);
    struct hostd_domain *d = hostd_find(&f->h, "m");
    while (d->moving) /* the initial placement's own pass, if any */
        hostd_round(&f->h);
    uint64_t other = ~d->nodes & 3, start = f->h.stats.pages_moved, last = start;
    assert_int_equal(hostd_move(&f->h, "m", other, NULL), 0);
    unsigned rounds = 0;
    while (d->moving && rounds < 10) {
        hostd_round(&f->h);
        rounds++;
        assert_true(f->h.stats.pages_moved - last <= 256);
        last = f->h.stats.pages_moved;
    }
    assert_int_equal(rounds, 4);
    assert_int_equal(f->h.stats.pages_moved - start, 1024);
    /* a deadline already past: nothing moves, the pass stays open at its cursor */
    struct hostd_range r = {.pid = 400, .start = 0x10000000, .end = 0x10000000 + 4 * MIB};
    struct hostd_pass pass = {0};
    bool done = true;
    assert_int_equal(hostd_move_pages(&f->h, &r, 1, ~other & 3, 4 * MIB, 1, &pass, &done), 0);
    assert_false(done);
    assert_int_equal(pass.cursor, 0);
    for (uint64_t a = 0x10000000; a < 0x10000000 + 4 * MIB; a += 4096)
        assert_int_equal(xpv_ops_record_page_node(f->ops, 400, (void *)(uintptr_t)a),
                         other == 1 ? 0 : 1);
    fx_free(f);
}

/*
 * The kernel gives up a move_pages call at a batch it cannot migrate for the moment and
 * leaves the later pages' status unwritten: an ops table that does that once, moving only
 * the first half of the call. The mover must not take the rest for moved or for lost: it
 * asks where they are, and a further pass moves them.
 */
static struct xpv_ops *inner;
static int partial_left = 1;
static long partial_move_pages(void *ctx, pid_t pid, unsigned long count, void *const *pages,
                               const int *nodes, int *status, unsigned flags)
{
    (void)ctx;
    if (!nodes || !partial_left)
        return inner->move_pages(inner->ctx, pid, count, pages, nodes, status, flags);
    partial_left = 0;
    unsigned long half = count / 2;
    long rc = inner->move_pages(inner->ctx, pid, half, pages, nodes, status, flags);
    for (unsigned long i = half; i < count; i++)
        status[i] = nodes[i]; /* unwritten by the kernel: anything, even what looks right */
    return rc < 0 ? rc : (long)(count - half);
}

static void test_mover_partial_call(void **state)
{
    (void)state;
    struct fx *f = fx_new(2, 2);
    fake_proc(f, 1300, 1, 1, 0);
    fx_domain(f, "p", 1300);
    fx_start(f);
    struct xpv_ops wrap = *f->ops;
    inner = f->ops;
    wrap.move_pages = partial_move_pages;
    f->h.ops = &wrap;
    struct hostd_range r = {.pid = 1300, .start = 0x10000000, .end = 0x10000000 + MIB};
    struct hostd_pass pass = {0};
    bool done;
    /* one call of 128 pages: 64 move, 64 are left behind; the pass goes on to the end */
    long moved = 0;
    do
        moved += hostd_move_pages(&f->h, &r, 1, 2, 64 * MIB, 0, &pass, &done);
    while (!done);
    assert_int_equal(moved, 256);
    assert_int_equal(f->h.stats.pages_failed, 64);
    for (uint64_t a = r.start; a < r.end; a += 4096)
        assert_int_equal(xpv_ops_record_page_node(inner, 1300, (void *)(uintptr_t)a), 1);
    f->h.ops = inner;
    fx_free(f);
}

/* A thread exits between the listing and the affinity call; a process exits between rounds:
 * counted, logged, the daemon goes on with the rest. */
static void test_exit_mid_move(void **state)
{
    (void)state;
    struct fx *f = fx_new(4, 2);
    fake_proc(f, 500, 2, 2, 0);
    fake_proc(f, 600, 2, 2, 0);
    fx_domain(f, "x", 500);
    fx_domain(f, "y", 600);
    fx_start(f);
    hostd_round(&f->h);
    xpv_ops_record_kill(f->ops, 501); /* a thread gone: -ESRCH from set_affinity */
    uint64_t before = f->h.stats.vanished;
    assert_int_equal(hostd_move(&f->h, "x", 8, NULL), 0);
    assert_int_equal(f->h.stats.vanished, before + 1);
    assert_int_equal(affinity_nodes(f, 500), 8);
    /* the whole process goes: the domain is marked gone, the other domain carries on */
    xpv_ops_record_kill(f->ops, 500);
    kill_proc(f, 500);
    hostd_round(&f->h);
    assert_false(hostd_find(&f->h, "x")->alive);
    assert_true(hostd_find(&f->h, "y")->alive);
    struct xpv_error err = {0};
    assert_int_equal(hostd_move(&f->h, "x", 4, &err), -ESRCH);
    assert_int_equal(hostd_move(&f->h, "y", 4, &err), 0);
    /* every thread gone at the moment of the move: the move fails, nothing changes */
    xpv_ops_record_kill(f->ops, 600);
    xpv_ops_record_kill(f->ops, 601);
    assert_int_equal(hostd_move(&f->h, "y", 2, &err), -EPERM);
    assert_int_equal(hostd_find(&f->h, "y")->nodes, 4);
    fx_free(f);
}

static void fake_stat(struct fx *f, int pid, unsigned long long start)
{
    char p[512], text[512];
    snprintf(p, sizeof(p), "%s/proc/%d/stat", f->dir, pid);
    /* proc(5): a comm with a space and a ')' (fields are counted from the last ')'), start
     * time in field 22 */
    snprintf(text, sizeof(text),
             "%d (a) b) S 1 %d %d 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 2 0 %llu 1000000 50 "
             "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
             pid, pid, pid, start);
    write_file(p, text);
}

/* A configured pid whose process exits and whose number goes to another process (another
 * start time): the newcomer is not the domain; it is dropped for good and never touched. */
static void test_pid_reuse(void **state)
{
    (void)state;
    uint64_t t = 0;
    const char *ok = "42 (x) R 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 123456 0 0\n";
    assert_int_equal(hostd_stat_starttime(ok, strlen(ok), &t), 0);
    assert_int_equal(t, 123456);
    const char *bad[] = {
            "", "42 (x", "42 (x) R 1 2 3", "42 (x) R 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 12a4\n",
            "42 (x) R 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99999999999999999999999\n"};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(hostd_stat_starttime(bad[i], strlen(bad[i]), &t), -EINVAL);

    struct fx *f = fx_new(4, 2);
    fake_proc(f, 800, 2, 2, 0);
    fake_stat(f, 800, 1000);
    fx_domain(f, "p", 800);
    fx_start(f);
    hostd_round(&f->h);
    assert_true(hostd_find(&f->h, "p")->alive);
    assert_int_equal(hostd_find(&f->h, "p")->start[0], 1000);
    /* the process exits and another gets its number (a new process, 4 MiB on node 1) */
    kill_proc(f, 800);
    hostd_round(&f->h);
    fake_proc(f, 800, 2, 4, 1);
    fake_stat(f, 800, 2000);
    xpv_ops_record_clear(f->ops);
    hostd_round(&f->h);
    hostd_round(&f->h);
    assert_false(hostd_find(&f->h, "p")->alive);
    assert_int_equal(hostd_find(&f->h, "p")->reused, 1);
    struct xpv_error err = {0};
    assert_int_equal(hostd_move(&f->h, "p", 4, &err), -ESRCH);
    /* nothing done to the newcomer */
    assert_int_equal(xpv_ops_record_count_kind(f->ops, XPV_OP_SET_AFFINITY), 0);
    assert_int_equal(xpv_ops_record_count_kind(f->ops, XPV_OP_MOVE_PAGES), 0);
    assert_int_equal(xpv_ops_record_count_kind(f->ops, XPV_OP_MBIND), 0);
    fx_free(f);
}

/* /proc/PID/stat with num_threads (field 20), starttime (22) and rss in pages (24). */
static void fake_stat_full(struct fx *f, int pid, unsigned threads, unsigned long long rss)
{
    char p[512], text[512];
    snprintf(p, sizeof(p), "%s/proc/%d/stat", f->dir, pid);
    snprintf(text, sizeof(text),
             "%d (w) S 1 %d %d 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 %u 0 %d 1000000 %llu "
             "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
             pid, pid, pid, threads, 7000 + pid, rss);
    write_file(p, text);
}

/* What a round read under /proc, per process. */
struct seen_paths {
    const char *dir;
    unsigned full[3]; /* reads other than stat, of pids 900, 910, 920 */
    unsigned stat[3];
};

static void observe(void *arg, const char *path)
{
    struct seen_paths *s = arg;
    size_t l = strlen(s->dir);
    int pid;
    char rest[64];
    if (strncmp(path, s->dir, l) || sscanf(path + l, "/proc/%d/%63s", &pid, rest) != 2 ||
        pid < 900 || pid > 920 || pid % 10)
        return;
    unsigned i = (unsigned)(pid - 900) / 10;
    if (!strcmp(rest, "stat"))
        s->stat[i]++;
    else
        s->full[i]++;
}

static void seen_round(struct fx *f, struct seen_paths *s)
{
    memset(s->full, 0, sizeof(s->full));
    memset(s->stat, 0, sizeof(s->stat));
    hostd_proc_observe(observe, s);
    hostd_round(&f->h);
    hostd_proc_observe(NULL, NULL);
}

/* The change detector (docs/hostd.md, "Cost"): once placed, a domain whose /proc/PID/stat
 * says nothing changed (processes, threads, resident memory within rss_change) costs that
 * one read a round, no task directory, no numa_maps; one whose threads or memory changed is
 * read in full, alone (its numa_maps; its task directory only for a move); and every domain
 * is read in full again within rescan_rounds. */
static void test_change_detector(void **state)
{
    (void)state;
    struct fx *f = fx_new(4, 4);
    for (int i = 0; i < 3; i++) {
        fake_proc(f, 900 + 10 * i, 2, 4, i);
        fake_stat_full(f, 900 + 10 * i, 2, 4 * 256 + 1);
    }
    fx_domain(f, "a", 900);
    fx_domain(f, "b", 910);
    fx_domain(f, "c", 920);
    f->c.rescan_rounds = 8; /* the domain of index i is due at rounds ≡ -i (mod 8) */
    fx_start(f);
    for (int r = 0; r < 3; r++)
        hostd_round(&f->h);
    for (int i = 0; i < 3; i++)
        assert_int_not_equal(f->h.domains[i].nodes, 0);
    /* round 4: nothing changed, and no domain's rescan is due */
    struct seen_paths s = {.dir = f->dir};
    struct hostd_proc_reads r0 = hostd_proc_reads_get();
    seen_round(f, &s);
    struct hostd_proc_reads r1 = hostd_proc_reads_get();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s.stat[i], 1);
        assert_int_equal(s.full[i], 0);
    }
    assert_int_equal(r1.numa_maps - r0.numa_maps, 0);
    assert_int_equal(r1.task - r0.task, 0);
    assert_int_equal(r1.stat - r0.stat, 3);
    assert_int_equal(hostd_find(&f->h, "a")->threads, 2); /* what the last full read found */
    /* round 5: b gets a thread: b alone is read in full */
    fake_proc(f, 910, 3, 4, 1);
    fake_stat_full(f, 910, 3, 4 * 256 + 1);
    seen_round(f, &s);
    assert_int_equal(s.full[0], 0);
    assert_int_not_equal(s.full[1], 0);
    assert_int_equal(s.full[2], 0);
    assert_int_equal(hostd_find(&f->h, "b")->threads, 3);
    /* round 6: c's rescan (6 + 2 ≡ 0): c is read in full though nothing changed */
    seen_round(f, &s);
    assert_int_equal(s.full[0], 0);
    assert_int_equal(s.full[1], 0);
    assert_int_not_equal(s.full[2], 0);
    /* round 7 (b's rescan): c's memory grows by half (numa_maps, stat's rss): read, a not;
     * neither lists its threads (no move: the detector's count stands for them) */
    fake_proc(f, 920, 2, 6, 2);
    fake_stat_full(f, 920, 2, 6 * 256 + 1);
    r0 = hostd_proc_reads_get();
    seen_round(f, &s);
    r1 = hostd_proc_reads_get();
    assert_int_equal(r1.numa_maps - r0.numa_maps, 2);
    assert_int_equal(r1.task - r0.task, 0);
    assert_int_equal(hostd_find(&f->h, "b")->threads, 3);
    assert_int_equal(s.full[0], 0);
    assert_int_not_equal(s.full[1], 0);
    assert_int_not_equal(s.full[2], 0);
    assert_int_equal(hostd_find(&f->h, "c")->mem[2], 6 * MIB + 4096);
    /* round 8: a's rescan */
    seen_round(f, &s);
    assert_int_not_equal(s.full[0], 0);
    assert_int_equal(s.full[1] + s.full[2], 0);
    /* round 9: a drift of c's rss below rss_change (5 %) is not a change; nobody is due */
    fake_stat_full(f, 920, 2, 6 * 256 + 1 + 20);
    seen_round(f, &s);
    assert_int_equal(s.full[0] + s.full[1] + s.full[2], 0);
    /* with the detectors off (rescan_rounds 1), every domain is read in full every round */
    f->h.conf.rescan_rounds = 1;
    seen_round(f, &s);
    for (int i = 0; i < 3; i++)
        assert_int_not_equal(s.full[i], 0);
    fx_free(f);
}

/* The detector's held stat file on the live /proc: read again it says what the process is
 * now (a thread more), and once the process has exited it fails (-ESRCH) and is closed, so
 * a pid number given to another process is never read through it. */
static void test_held_stat_live(void **state)
{
    (void)state;
    int go[2];
    assert_int_equal(pipe(go), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) { /* not a wait: it blocks on the pipe until the parent closes it */
        char c;
        close(go[1]);
        _exit(read(go[0], &c, 1) < 0 ? 1 : 0);
    }
    close(go[0]);
    int fd = -1;
    struct hostd_pstat ps;
    assert_int_equal(hostd_proc_stat_fd("", child, &fd, true, &ps), 0);
    assert_true(fd >= 0);
    assert_true(ps.full);
    assert_int_equal(ps.threads, 1);
    uint64_t start = ps.starttime;
    assert_int_equal(hostd_proc_stat_fd("", child, &fd, true, &ps), 0); /* through the fd */
    assert_true(fd >= 0);
    assert_int_equal(ps.starttime, start);
    close(go[1]); /* the child exits; reaped */
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    assert_int_equal(hostd_proc_stat_fd("", child, &fd, true, &ps), -ESRCH);
    assert_int_equal(fd, -1);
}

/* A restarted daemon finds the bindings, keeps the operator's placements (state file) and
 * continues the generation. */
static void test_restart_generation(void **state)
{
    (void)state;
    struct fx *f = fx_new(4, 2);
    fake_proc(f, 700, 2, 2, 0);
    fx_domain(f, "r", 700);
    fx_start(f);
    hostd_round(&f->h);
    assert_int_equal(hostd_move(&f->h, "r", 4, NULL), 0);
    uint32_t ids[8];
    unsigned nr;
    uint64_t g = record_of(f, "r", ids, &nr);
    hostd_fini(&f->h);
    fx_start(f); /* same ops model (the threads keep their affinity), same record file */
    hostd_round(&f->h);
    struct hostd_domain *d = hostd_find(&f->h, "r");
    assert_int_equal(d->nodes, 4);
    assert_int_equal(d->pinned, 4); /* the manual placement survived the restart */
    assert_true(record_of(f, "r", ids, &nr) > g);
    assert_int_equal(ids[0], 2);
    fx_free(f);
}

/* The state file's forms: a node list, or {"nodes": ..., "vcpus": {...}} (a VM's vCPUs placed
 * on their own, kept for the VM's attach and written back while pending); entries of a shape
 * it does not know, or of domains not configured, are ignored. */
static void test_state_file_forms(void **state)
{
    (void)state;
    struct fx *f = fx_new(4, 2);
    fake_proc(f, 710, 2, 2, 0);
    fake_proc(f, 711, 2, 2, 0);
    fx_domain(f, "r", 710);
    fx_domain(f, "s", 711);
    char path[600];
    snprintf(path, sizeof(path), "%s/xpv-hostd.state", f->c.state_dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\"r\": {\"nodes\": \"1\", \"vcpus\": {\"0\": 3}}, \"s\": 5, \"zz\": \"1\"}", fp);
    fclose(fp);
    fx_start(f);
    assert_int_equal(hostd_find(&f->h, "r")->pinned, 2); /* node 1 = position 1 */
    assert_non_null(hostd_find(&f->h, "r")->saved_vcpus);
    assert_int_equal(hostd_find(&f->h, "s")->pinned, 0);
    assert_null(hostd_find(&f->h, "s")->saved_vcpus);
    hostd_round(&f->h);
    assert_int_equal(hostd_move(&f->h, "r", 4, NULL), 0); /* rewrites the file */
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    assert_non_null(o);
    json_t *r = json_object_get(o, "r");
    assert_string_equal(json_string_value(json_object_get(r, "nodes")), "2");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "vcpus"), "0")), 3);
    assert_null(json_object_get(o, "s"));
    json_decref(o);
    fx_free(f);
}

static void test_dry_run(void **state)
{
    (void)state;
    struct fx *f = fx_new(4, 2);
    fake_proc(f, 800, 2, 2, 0);
    fx_domain(f, "d", 800);
    fx_start(f);
    f->h.dry_run = true;
    hostd_round(&f->h);
    assert_int_equal(xpv_ops_record_count_kind(f->ops, XPV_OP_SET_AFFINITY), 0);
    assert_int_equal(xpv_ops_record_count_kind(f->ops, XPV_OP_MOVE_PAGES), 0);
    assert_non_null(strstr(hostd_find(&f->h, "d")->reason, "initial"));
    char path[512];
    snprintf(path, sizeof(path), "%s/xpv-domain-d", f->rec);
    assert_int_not_equal(access(path, F_OK), 0); /* nothing published */
    fx_free(f);
}

static void test_conf(void **state)
{
    (void)state;
    static struct hostd_conf c;
    struct xpv_error err = {0};
    const char good[] =
            "{\"period_s\": 0.5, \"migrate_memory\": false, \"max_moves\": 3,"
            " \"rescan_rounds\": 5, \"rss_change\": 0.25,"
            " \"domains\": [{\"name\": \"db\", \"pids\": [1, 2]},"
            " {\"name\": \"web\", \"cgroup\": \"/sys/fs/cgroup/web\", \"nodes\": \"1\"},"
            /* not a wait: a command in configuration text, parsed and never run */
            " {\"name\": \"job\", \"command\": [\"sleep\", \"1\"]},"
            " {\"name\": \"vm1\", \"qmp\": \"/run/vm1.qmp\"}]}";
    hostd_conf_default(&c);
    assert_int_equal(hostd_conf_parse(good, sizeof(good) - 1, "t.json", &c, &err), 0);
    assert_int_equal(c.nr_domains, 4);
    assert_true(c.period_s == 0.5);
    assert_false(c.migrate_memory);
    assert_int_equal(c.place.max_moves, 3);
    assert_int_equal(c.rescan_rounds, 5);
    assert_true(c.rss_change == 0.25);
    assert_int_equal(c.domains[0].nr_pids, 2);
    assert_int_equal(c.domains[1].fixed_nodes, 2);
    assert_string_equal(c.domains[2].argv[1], "1");
    assert_int_equal(c.domains[3].kind, HOSTD_VM);
    hostd_conf_release(&c);
    const struct {
        const char *text, *msg;
    } bad[] = {
            {"{\"perod_s\": 1}", "unknown key \"perod_s\""},
            {"{\"period_s\": -1}", "period_s"},
            {"{\"rescan_rounds\": 0}", "\"rescan_rounds\" wants a number in [1, 1e+06]"},
            {"{\"rss_change\": -0.1}", "rss_change"},
            {"{\"domains\": [{\"name\": \"a\"}]}", "exactly one of"},
            {"{\"domains\": [{\"name\": \"a\", \"pids\": [1], \"qmp\": \"x\"}]}", "exactly one of"},
            {"{\"domains\": [{\"name\": \"a b\", \"pids\": [1]}]}", "name 'a b'"},
            {"{\"domains\": [{\"name\": \"a\", \"pids\": [1]}, {\"name\": \"a\", \"pids\": [2]}]}",
             "two domains named 'a'"},
            {"{\"domains\": [{\"name\": \"a\", \"pids\": [0]}]}", "pids[0]"},
            {"[1]", "JSON object"},
            {"{", "t.json:"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hostd_conf_default(&c);
        assert_int_equal(hostd_conf_parse(bad[i].text, strlen(bad[i].text), "t.json", &c, &err),
                         -EINVAL);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("'%s': got '%s', wanted '%s'", bad[i].text, err.msg, bad[i].msg);
        hostd_conf_release(&c);
    }
}

/* The domain array grows as a configuration names domains: every one kept through the
 * reallocations, up to HOSTD_MAX_DOMAINS and not one more (from a file and added one by one). */
static void test_conf_many(void **state)
{
    (void)state;
    struct hostd_conf c;
    struct xpv_error err = {0};
    for (unsigned n = HOSTD_MAX_DOMAINS; n <= HOSTD_MAX_DOMAINS + 1; n++) {
        size_t cap = 64 + (size_t)n * 48, len = 0;
        char *text = malloc(cap);
        assert_non_null(text);
        len += (size_t)snprintf(text + len, cap - len, "{\"domains\": [");
        for (unsigned k = 0; k < n; k++)
            len += (size_t)snprintf(text + len, cap - len, "%s{\"name\": \"d%u\", \"pids\": [%u]}",
                                    k ? "," : "", k, k + 1);
        len += (size_t)snprintf(text + len, cap - len, "]}");
        assert_true(len < cap);
        hostd_conf_default(&c);
        int rc = hostd_conf_parse(text, len, "t.json", &c, &err);
        free(text);
        if (n > HOSTD_MAX_DOMAINS) {
            assert_int_equal(rc, -EINVAL);
            assert_non_null(strstr(err.msg, "at most 4096"));
            hostd_conf_release(&c);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(c.nr_domains, n);
        for (unsigned k = 0; k < n; k++) {
            char name[16];
            snprintf(name, sizeof(name), "d%u", k);
            assert_string_equal(c.domains[k].name, name);
            assert_int_equal(c.domains[k].pids[0], (pid_t)(k + 1));
        }
        struct hostd_domain_conf *d = NULL;
        assert_int_equal(hostd_conf_add_domain(&c, &d, &err), -ENOSPC);
        assert_non_null(strstr(err.msg, "more than 4096 domains"));
        assert_int_equal(c.nr_domains, n);
        hostd_conf_release(&c);
        assert_null(c.domains);
        assert_int_equal(c.nr_domains, 0);
    }
}

static void test_control(void **state)
{
    (void)state;
    struct fx *f = fx_new(4, 2);
    fake_proc(f, 900, 2, 2, 0);
    fx_domain(f, "svc", 900);
    fx_start(f);
    hostd_round(&f->h);
    char *out = NULL;
    const char *q = "{\"cmd\":\"domains\"}";
    hostd_control_handle(&f->h, q, strlen(q), &out);
    assert_non_null(out);
    assert_non_null(strstr(out, "\"ok\":true"));
    assert_non_null(strstr(out, "\"name\":\"svc\""));
    assert_non_null(strstr(out, "\"generation\":2"));
    free(out);
    q = "{\"cmd\":\"move\",\"domain\":\"svc\",\"nodes\":\"3\"}";
    hostd_control_handle(&f->h, q, strlen(q), &out);
    assert_non_null(strstr(out, "\"nodes\":\"3\""));
    assert_non_null(strstr(out, "\"generation\":3"));
    free(out);
    assert_int_equal(affinity_nodes(f, 901), 8);
    const struct {
        const char *req, *msg;
    } bad[] = {
            {"garbage", "not a JSON object"},
            {"{\"cmd\":\"fly\"}", "unknown command"},
            {"{\"cmd\":\"move\",\"domain\":\"svc\"}", "wants \\\"domain\\\" and \\\"nodes\\\""},
            {"{\"cmd\":\"move\",\"domain\":\"svc\",\"nodes\":\"7\"}", "node 7 does not exist"},
            {"{\"cmd\":\"move\",\"domain\":\"zz\",\"nodes\":\"1\"}", "no domain named 'zz'"},
            /* the VM commands, on a process domain or with bad arguments: refused, no change */
            {"{\"cmd\":\"move\",\"domain\":\"svc\",\"vcpu\":1,\"nodes\":\"2\"}",
             "'svc' is not an attached VM"},
            {"{\"cmd\":\"move\",\"domain\":\"svc\",\"vcpu\":1,\"nodes\":\"1-2\"}",
             "a vCPU goes on one node"},
            {"{\"cmd\":\"move\",\"domain\":\"svc\",\"vcpu\":\"x\",\"nodes\":\"2\"}",
             "\\\"vcpu\\\" wants a vCPU index"},
            {"{\"cmd\":\"move\",\"domain\":\"zz\",\"vcpu\":1,\"nodes\":\"2\"}",
             "no domain named 'zz'"},
            {"{\"cmd\":\"vcpu-add\",\"domain\":\"svc\",\"vnode\":1}",
             "'svc' is not an attached VM"},
            {"{\"cmd\":\"vcpu-add\",\"domain\":\"svc\"}", "wants a \\\"domain\\\" string and a"},
            {"{\"cmd\":\"vcpu-add\",\"domain\":\"svc\",\"vnode\":-1}", "out of range"},
            {"{\"cmd\":\"vcpu-del\",\"domain\":\"svc\",\"vcpu\":4}", "'svc' is not an attached VM"},
            {"{\"cmd\":\"vcpu-del\",\"domain\":\"svc\"}", "wants a \\\"domain\\\" string and a"},
            {"{}", "no \\\"cmd\\\""},
            /* bytes that are not UTF-8, quoted back in the message: still one JSON reply */
            {"{\"cmd\":\"\xff\"}", "unable to decode byte 0xff"},
            /* an escape before a two-byte character: jansson quotes half of it */
            {"{\"cm\\\xc4\xb7\":1}", "invalid escape near"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        hostd_control_handle(&f->h, bad[i].req, strlen(bad[i].req), &out);
        assert_non_null(out);
        if (!strstr(out, "\"ok\":false") || !strstr(out, bad[i].msg))
            fail_msg("'%s': got %s, wanted '%s'", bad[i].req, out, bad[i].msg);
        free(out);
    }
    assert_int_equal(affinity_nodes(f, 901), 8); /* unchanged by the bad requests */
    fx_free(f);
}

/*
 * The daemon's placement, run as the simulator's `hostd` policy (src/policy/hostd_policy.c),
 * decides what the daemon decides. The same machine and domains (threads, memory per node)
 * go to the daemon's round (fake /proc, recording ops; memory left in place, so both sides
 * see the same memory every round) and to the policy (a view as the simulator builds it:
 * latencies from the distances, each node's memory its free memory plus the domains'); after
 * each round every domain is bound to the same nodes on both sides (the policy reports its
 * binding, group_nodes), the same domains moved, and the policy's actions took each moved
 * domain's threads there, spread evenly, and its memory there only.
 */
struct same_domain {
    const char *name;
    int pid;
    unsigned threads;
    unsigned pages[8]; /* 4 KiB pages on each node */
};

static void fake_numa(struct fx *f, int pid, const unsigned *pages, unsigned nodes)
{
    char p[512], text[1024];
    size_t o = (size_t)snprintf(text, sizeof(text), "10000000 default anon=1");
    for (unsigned n = 0; n < nodes; n++)
        if (pages[n])
            o += (size_t)snprintf(text + o, sizeof(text) - o, " N%u=%u", n, pages[n]);
    snprintf(text + o, sizeof(text) - o, " kernelpagesize_kB=4\n");
    snprintf(p, sizeof(p), "%s/proc/%d/numa_maps", f->dir, pid);
    write_file(p, text);
}

/* Rounds on both sides; before round grow_round (1-based; 0: never), domain grow_dom gets
 * more threads, grow_to in all. */
static void same_as_sim_policy(struct fx *f, const struct same_domain *dom, unsigned nd, int rounds,
                               int grow_round, unsigned grow_dom, unsigned grow_to)
{
    unsigned N = f->t->nr_nodes, T = 0;
    f->c.migrate_memory = false;
    for (unsigned k = 0; k < nd; k++) {
        fake_proc(f, dom[k].pid, dom[k].threads, 1, 0);
        fake_numa(f, dom[k].pid, dom[k].pages, N);
        fx_domain(f, dom[k].name, dom[k].pid);
    }
    fx_start(f);
    /* the simulator's view of the same machine and domains */
    double lat[8 * 8], mb[8], pages[8 * 8] = {0};
    unsigned cores[8], group[64], rgroup[8];
    uint64_t mem[8], allowed[8];
    int node[64];
    for (unsigned i = 0; i < N; i++) {
        cores[i] = xpv_bitmap_weight(&f->t->nodes[i].cpus);
        mem[i] = f->t->nodes[i].mem_free;
        for (unsigned j = 0; j < N; j++)
            lat[i * N + j] = 10.0 * xpv_topo_dist(f->t, i, j); /* any scale: SLIT comes back */
    }
    for (unsigned k = 0; k < nd; k++) {
        for (unsigned i = 0; i < dom[k].threads; i++, T++) {
            group[T] = k;
            node[T] = (int)(T % N); /* started anywhere, bound nowhere */
        }
        rgroup[k] = k;
        mb[k] = 4096.0 / (1 << 20);
        allowed[k] = ~UINT64_C(0);
        for (unsigned n = 0; n < N; n++) {
            pages[k * N + n] = dom[k].pages[n];
            mem[n] += (uint64_t)dom[k].pages[n] * 4096;
        }
    }
    struct xpv_policy *pol = NULL;
    assert_int_equal(xpv_policy_new("hostd", &pol, NULL), 0);
    assert_true(pol->places_vms);
    struct xpv_pol_actions acts = {0};
    uint64_t sim_before[8] = {0};
    unsigned threads[8];
    for (unsigned k = 0; k < nd; k++)
        threads[k] = dom[k].threads;
    for (int r = 0; r < rounds; r++) {
        if (r + 1 == grow_round) {
            for (unsigned i = threads[grow_dom]; i < grow_to; i++, T++) {
                char p[512];
                snprintf(p, sizeof(p), "%s/proc/%d/task/%d", f->dir, dom[grow_dom].pid,
                         dom[grow_dom].pid + (int)i);
                mkdirs(p);
                group[T] = grow_dom;
                node[T] = (int)(T % N); /* a new thread starts anywhere in its affinity */
                while (f->h.domains[grow_dom].nodes &&
                       !(f->h.domains[grow_dom].nodes >> node[T] & 1))
                    node[T] = (node[T] + 1) % (int)N;
            }
            threads[grow_dom] = grow_to;
        }
        uint64_t before[8];
        for (unsigned k = 0; k < nd; k++)
            before[k] = f->h.domains[k].nodes;
        int moves = hostd_round(&f->h);
        struct xpv_pol_view v = {.nr_nodes = N,
                                 .lat_ns = lat,
                                 .cores = cores,
                                 .nr_threads = T,
                                 .thread_node = node,
                                 .thread_group = group,
                                 .nr_groups = nd,
                                 .nr_regions = nd,
                                 .region_group = rgroup,
                                 .region_pages = pages,
                                 .region_page_mb = mb,
                                 .group_allowed = allowed,
                                 .node_mem = mem};
        xpv_pol_actions_clear(&acts);
        assert_int_equal(pol->decide(pol, &v, NULL, 0, &acts), 0);
        bool acted[8] = {false};
        uint64_t mig_to[8] = {0};
        double mig_from[8 * 8] = {0};
        for (unsigned i = 0; i < acts.nr; i++) {
            const struct xpv_pol_action *a = &acts.v[i];
            if (a->kind == XPV_ACT_MOVE_THREAD) {
                acted[group[a->thread]] = true;
                node[a->thread] = (int)a->node;
            } else {
                assert_int_equal(a->kind, XPV_ACT_MIGRATE);
                mig_to[rgroup[a->region]] |= UINT64_C(1) << a->to;
                mig_from[rgroup[a->region] * N + a->from] += a->pages;
            }
        }
        int sim_moves = 0;
        for (unsigned k = 0; k < nd; k++) {
            uint64_t daemon = f->h.domains[k].nodes, sim = pol->group_nodes(pol, k);
            bool moved = daemon != before[k], sim_moved = sim != sim_before[k];
            sim_moves += sim_moved;
            if (daemon != sim || moved != sim_moved || (!sim_moved && (acted[k] || mig_to[k])))
                fail_msg("round %d, domain %s: the daemon %s it on nodes 0x%llx, the "
                         "simulator's hostd policy %s it on 0x%llx",
                         r + 1, dom[k].name, moved ? "placed" : "left", (unsigned long long)daemon,
                         sim_moved ? "placed" : "left", (unsigned long long)sim);
            sim_before[k] = sim;
            /* a moved domain's threads and memory went there, the threads spread evenly */
            unsigned on[8] = {0}, kk = (unsigned)__builtin_popcountll(sim);
            for (unsigned t = 0; t < T; t++)
                if (group[t] == k)
                    on[node[t]]++;
            for (unsigned n = 0; sim_moved && n < N; n++) {
                unsigned lo = threads[k] / kk, hi = lo + (threads[k] % kk != 0);
                if (sim >> n & 1 ? on[n] < lo || on[n] > hi : on[n] != 0)
                    fail_msg("round %d, domain %s: %u threads on node %u of 0x%llx", r + 1,
                             dom[k].name, on[n], n, (unsigned long long)sim);
            }
            /* all of its memory off its new nodes, none from them (pages stay where they
             * are: the daemon's memory does not move in this test either) */
            assert_int_equal(mig_to[k] & ~sim, 0);
            for (unsigned n = 0; n < N; n++) {
                double want = sim_moved && !(sim >> n & 1) ? pages[k * N + n] : 0,
                       diff = mig_from[k * N + n] - want;
                if (diff > 1e-6 * want + 1e-9 || diff < -1e-6 * want - 1e-9)
                    fail_msg("round %d, domain %s: %.0f of its %.0f pages moved off node %u of "
                             "0x%llx",
                             r + 1, dom[k].name, mig_from[k * N + n], pages[k * N + n], n,
                             (unsigned long long)sim);
            }
        }
        assert_int_equal(moves, sim_moves);
    }
    xpv_pol_actions_free(&acts);
    xpv_policy_free(pol);
    fx_free(f);
}

static void test_same_as_sim_policy(void **state)
{
    (void)state;
    /* 4 nodes x 2 CPUs: three domains, two moves a round, then hysteresis; then a grows to 4
     * threads and no longer fits its node */
    static const struct same_domain four[] = {
            {"a", 100, 2, {2049}},
            {"b", 200, 2, {2049}},
            {"c", 300, 3, {0, 16384}},
    };
    same_as_sim_policy(fx_new(4, 2), four, 3, 6, 5, 0, 4);
    /* 8 nodes x 4 CPUs on a line (distance 10 + 6 |i - j|), 4 MiB free on each: domains
     * needing two nodes, memory split over nodes, one whose memory is far from the free cores;
     * then z grows to 7 threads and w, placed before, moves */
    struct fx *f = fx_new(8, 4);
    for (unsigned i = 0; i < 8; i++) {
        f->t->nodes[i].mem_free = 4 * MIB; /* little free memory: where memory is counts */
        for (unsigned j = 0; j < 8; j++)
            xpv_topo_set_dist(f->t, i, j, 10 + 6 * (i > j ? i - j : j - i));
    }
    static const struct same_domain eight[] = {
            {"x", 400, 6, {0, 0, 0, 0, 0, 8192}},
            {"y", 500, 6, {0, 0, 4096, 4096}},
            {"z", 600, 2, {2048}},
            {"w", 700, 8, {1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024}},
    };
    same_as_sim_policy(f, eight, 4, 6, 4, 2, 7);
    /* 3 nodes x 4 CPUs, free memory decides: d's 2 GiB sit on node 0, whose cores "full"
     * takes; node 1 has the cores d needs but 1 GiB free (the rest is tenant's), node 2 has
     * 3 GiB free: d goes to node 2 */
    f = fx_new(3, 4);
    f->t->nodes[1].mem_free = 1 * GIB;
    f->t->nodes[2].mem_free = 3 * GIB;
    static const struct same_domain three[] = {
            {"full", 800, 4, {1024}},
            {"tenant", 900, 2, {0, 655360}},
            {"d", 1000, 2, {524288}},
    };
    same_as_sim_policy(f, three, 3, 3, 0, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_numa_maps),
            cmocka_unit_test(test_conf_many),
            cmocka_unit_test(test_initial_placement_and_hysteresis),
            cmocka_unit_test(test_manual_move),
            cmocka_unit_test(test_pinned_load),
            cmocka_unit_test(test_mover_budget),
            cmocka_unit_test(test_mover_partial_call),
            cmocka_unit_test(test_exit_mid_move),
            cmocka_unit_test(test_pid_reuse),
            cmocka_unit_test(test_change_detector),
            cmocka_unit_test(test_held_stat_live),
            cmocka_unit_test(test_restart_generation),
            cmocka_unit_test(test_state_file_forms),
            cmocka_unit_test(test_dry_run),
            cmocka_unit_test(test_conf),
            cmocka_unit_test(test_control),
            cmocka_unit_test(test_same_as_sim_policy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
