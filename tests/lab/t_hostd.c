/*
 * t_hostd.c — the host daemon's core inside the multi-node guest acting as the host: two
 * process domains (forked children, two threads each, 8 MiB touched on node 0); the daemon
 * (src/hostd, with the kernel's ops) places them; an operator's move request (the control
 * protocol's JSON, handled by the daemon's own handler; the socket transport is tested on
 * the CI host by tests/hostd/cli_hostd.sh) sends one to the last node. Then: every thread's
 * affinity is within that node's CPUs, its pages are there (move_pages query, numa_maps),
 * its data is intact, its record's generation advanced and a libxpv reader inside the domain
 * saw the new generation.
 */
#define _GNU_SOURCE
#include "lab.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/hostd/hostd.h"
#include "xpv/channel.h"

#define MEM (8u << 20)

static unsigned char *mem;

static void *spin(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

/*
 * The domain: touch MEM on node 0 (bound while touching), open its record with libxpv, and
 * report every generation it sees on the pipe until asked to stop (SIGUSR1); then check its
 * data: exit 0 if intact, 3 if not.
 */
static volatile sig_atomic_t check;
static void on_usr1(int s)
{
    (void)s;
    check = 1;
}

static void child(const char *record, int wfd)
{
    cpu_set_t c0;
    CPU_ZERO(&c0);
    CPU_SET(0, &c0);
    sched_setaffinity(0, sizeof(c0), &c0); /* first touch on node 0's CPU */
    mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < MEM; i++)
        mem[i] = (unsigned char)(i * 31 + 7);
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int c = 0; c < 64; c++)
        CPU_SET(c, &all);
    sched_setaffinity(0, sizeof(all), &all); /* unbound again: the daemon decides */
    pthread_t t;
    pthread_create(&t, NULL, spin, NULL);
    signal(SIGUSR1, on_usr1);
    uint64_t addr = (uintptr_t)mem;
    if (write(wfd, &addr, sizeof(addr)) != sizeof(addr))
        _exit(2);
    struct xpv_channel *ch = NULL;
    while (xpv_channel_open(record, &ch, NULL) < 0)
        usleep(10000);
    uint64_t seen = xpv_channel_generation(ch);
    if (write(wfd, &seen, sizeof(seen)) != sizeof(seen))
        _exit(2);
    while (!check) {
        xpv_channel_wait(ch, seen, 200);
        uint64_t g = xpv_channel_generation(ch);
        if (g != seen && write(wfd, &g, sizeof(g)) != sizeof(g))
            _exit(2);
        seen = g;
    }
    while (!check)
        pause();
    for (size_t i = 0; i < MEM; i++)
        if (mem[i] != (unsigned char)(i * 31 + 7))
            _exit(3);
    _exit(0);
}

static enum lab_result lab_hostd_move(const struct lab_env *env)
{
    if (env->topo->nr_nodes < 3) {
        printf("  needs 3+ nodes, guest has %u\n", env->topo->nr_nodes);
        return LAB_SKIP;
    }
    char dir[] = "/tmp/xpv-lab-hostd-XXXXXX";
    LAB_CHECK(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    static struct hostd_conf c;
    hostd_conf_default(&c);
    snprintf(c.record_dir, sizeof(c.record_dir), "%s", dir);
    c.migrate_mb_s = 64;
    int fds[2][2];
    pid_t pids[2];
    for (int k = 0; k < 2; k++) {
        LAB_CHECK(pipe(fds[k]) == 0, "pipe");
        char record[300];
        snprintf(record, sizeof(record), "%s/xpv-domain-d%d", dir, k);
        pids[k] = fork();
        if (pids[k] == 0) {
            close(fds[k][0]);
            child(record, fds[k][1]);
        }
        close(fds[k][1]);
        struct hostd_domain_conf *d = &c.domains[c.nr_domains++];
        memset(d, 0, sizeof(*d));
        snprintf(d->name, sizeof(d->name), "d%d", k);
        d->kind = HOSTD_PIDS;
        d->pids[0] = pids[k];
        d->nr_pids = 1;
    }
    static struct hostd h;
    struct xpv_error err = {0};
    LAB_CHECK(hostd_init(&h, &c, env->topo, "", env->ops, &err) == 0, "init: %s", err.msg);
    h.log = stdout;
    /* let the children touch their memory before the first round */
    usleep(300000);
    hostd_round(&h);
    uint64_t g0[2], addr[2];
    for (int k = 0; k < 2; k++)
        LAB_CHECK(read(fds[k][0], &addr[k], 8) == 8 && read(fds[k][0], &g0[k], 8) == 8,
                  "domain d%d did not start", k);
    for (int r = 0; r < 5; r++)
        hostd_round(&h);
    struct hostd_domain *d0 = hostd_find(&h, "d0");
    printf("  after placement: d0 on mask %#llx, d1 on mask %#llx\n", (unsigned long long)d0->nodes,
           (unsigned long long)hostd_find(&h, "d1")->nodes);

    unsigned last = env->topo->nr_nodes - 1;
    char req[128], *out = NULL;
    snprintf(req, sizeof(req), "{\"cmd\":\"move\",\"domain\":\"d0\",\"nodes\":\"%d\"}",
             env->topo->nodes[last].id);
    hostd_control_handle(&h, req, strlen(req), &out);
    printf("  move reply: %s", out ? out : "(none)\n");
    LAB_CHECK(out && strstr(out, "\"ok\":true"), "the move was refused");
    free(out);
    for (int r = 0; r < 20 && d0->moving; r++)
        hostd_round(&h);
    LAB_CHECK(!d0->moving, "pages still moving after 20 rounds");

    /* affinity of every thread */
    pid_t tids[16];
    int nt = hostd_proc_tids("", pids[0], tids, 16);
    LAB_CHECK(nt == 2, "d0 has %d threads, expected 2", nt);
    for (int i = 0; i < nt; i++) {
        struct xpv_bitmap cpus;
        LAB_CHECK(env->ops->get_affinity(env->ops->ctx, tids[i], &cpus) == 0, "affinity");
        LAB_CHECK(xpv_bitmap_equal(&cpus, &env->topo->nodes[last].cpus),
                  "thread %d is not bound to node %u's CPUs", (int)tids[i], last);
    }
    /* pages of its data, as the kernel reports them (move_pages query on d0's pid) */
    enum { NP = MEM / 4096 };
    static void *pages[NP];
    static int status[NP];
    for (unsigned i = 0; i < NP; i++)
        pages[i] = (void *)(uintptr_t)(addr[0] + (uint64_t)i * 4096);
    LAB_CHECK(env->ops->move_pages(env->ops->ctx, pids[0], NP, pages, NULL, status, 0) >= 0,
              "move_pages query on d0");
    unsigned on[64] = {0}, other = 0;
    for (unsigned i = 0; i < NP; i++) {
        int pos = status[i] >= 0 ? xpv_topo_node_index(env->topo, status[i]) : -1;
        if (pos >= 0 && pos < 64)
            on[pos]++;
        else
            other++;
    }
    for (unsigned i = 0; i < env->topo->nr_nodes; i++)
        printf("  d0 data pages on node %d: %u\n", env->topo->nodes[i].id, on[i]);
    LAB_CHECK(on[last] == NP, "%u of %u pages of d0's data on node %u (%u not present)", on[last],
              (unsigned)NP, last, other);
    /* the record, as the domain saw it: its reports, until the daemon's generation */
    uint64_t seen = g0[0];
    for (int i = 0; i < 50 && seen != d0->generation; i++) {
        struct pollfd p = {.fd = fds[0][0], .events = POLLIN};
        if (poll(&p, 1, 100) == 1 && read(fds[0][0], &seen, 8) != 8)
            break;
    }
    printf("  d0 record generation: first %llu, after the move %llu (daemon: %llu)\n",
           (unsigned long long)g0[0], (unsigned long long)seen, (unsigned long long)d0->generation);
    LAB_CHECK(seen == d0->generation && seen >= g0[0] + 1,
              "the domain's libxpv reader saw generation %llu, the daemon published %llu",
              (unsigned long long)seen, (unsigned long long)d0->generation);
    /* data intact */
    int st = 0;
    for (int k = 0; k < 2; k++) {
        kill(pids[k], SIGUSR1);
        waitpid(pids[k], &st, 0);
        LAB_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "d%d: data %s", k,
                  WIFEXITED(st) && WEXITSTATUS(st) == 3 ? "corrupt" : "lost");
    }
    printf("  moves %llu, pages moved %llu, not movable %llu, errors %llu\n",
           (unsigned long long)h.stats.moves + h.stats.manual_moves,
           (unsigned long long)h.stats.pages_moved, (unsigned long long)h.stats.pages_failed,
           (unsigned long long)h.stats.errors);
    hostd_fini(&h);
    const char *files[] = {"xpv-domain-d0", "xpv-domain-d1", "xpv-hostd.state"};
    for (int i = 0; i < 3; i++) {
        char file[300];
        snprintf(file, sizeof(file), "%s/%s", dir, files[i]);
        unlink(file);
    }
    rmdir(dir);
    return LAB_PASS;
}

const struct lab_test lab_hostd_tests[] = {
        {"hostd.move", lab_hostd_move},
        {0},
};
