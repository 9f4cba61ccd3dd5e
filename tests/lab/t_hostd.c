/*
 * t_hostd.c — the host daemon inside the multi-node guest acting as the host, run as users
 * run it: `/bin/xpv hostd` (the project's CLI built without sanitizers, lab/CMakeLists.txt)
 * with two process domains (forked children, two threads each, 8 MiB touched on node 0);
 * the daemon places them; `/bin/xpv move d0 --nodes 2` over its control socket sends one to
 * node 2. Then: every thread's affinity is exactly node 2's CPUs, all pages of its data are
 * there (the kernel's move_pages query, and its numa_maps line), its data is intact, and a
 * libxpv reader inside the domain saw the record generation the daemon published last.
 */
#define _GNU_SOURCE
#include "lab.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "xpv/channel.h"

#define MEM (8u << 20)
#define NP  (MEM / 4096)

static void *spin(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static volatile sig_atomic_t stop;
static void on_usr1(int s)
{
    (void)s;
    stop = 1;
}

/*
 * A domain: touch MEM while bound to node 0's first CPU, unbind, start a second thread,
 * send the data's address, then every record generation it sees (libxpv) until SIGUSR1;
 * then check the data: exit 0 if intact, 3 if not.
 */
static void domain(const char *record, int wfd)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof(set), &set);
    unsigned char *mem =
            mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        _exit(2);
    for (size_t i = 0; i < MEM; i++)
        mem[i] = (unsigned char)(i * 31 + 7);
    CPU_ZERO(&set);
    for (int c = 0; c < CPU_SETSIZE; c++)
        CPU_SET(c, &set);
    sched_setaffinity(0, sizeof(set), &set); /* unbound again: the daemon decides */
    pthread_t t;
    pthread_create(&t, NULL, spin, NULL);
    signal(SIGUSR1, on_usr1);
    uint64_t addr = (uintptr_t)mem;
    if (write(wfd, &addr, sizeof(addr)) != sizeof(addr))
        _exit(2);
    struct xpv_channel *ch = NULL;
    while (!stop && xpv_channel_open(record, &ch, NULL) < 0)
        usleep(20000); /* not a wait: the poll interval; the test ends it with SIGUSR1 */
    uint64_t seen = 0;
    while (ch && !stop) {
        xpv_channel_wait(ch, seen, 200);
        uint64_t g = xpv_channel_generation(ch);
        if (g != seen && write(wfd, &g, sizeof(g)) != sizeof(g))
            _exit(2);
        seen = g;
    }
    for (size_t i = 0; i < MEM; i++)
        if (mem[i] != (unsigned char)(i * 31 + 7))
            _exit(3);
    _exit(0);
}

/* Run /bin/xpv with args; its exit status (or -1). */
static pid_t spawn(char *const argv[])
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execv("/bin/xpv", argv);
        printf("  cannot run /bin/xpv: %s\n", strerror(errno));
        _exit(127);
    }
    return pid;
}

static int run(char *const argv[])
{
    pid_t pid = spawn(argv);
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run /bin/xpv with args, its stdout into out (NUL-terminated, cut at len - 1); its exit
 * status (or -1). */
static int capture(char *const argv[], char *out, size_t len)
{
    int p[2];
    out[0] = 0;
    if (pipe(p) < 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv("/bin/xpv", argv);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    for (;;) {
        char buf[4096];
        ssize_t k = read(p[0], buf, sizeof(buf));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        size_t c = (size_t)k < len - 1 - n ? (size_t)k : len - 1 - n;
        memcpy(out + n, buf, c);
        n += c;
    }
    out[n] = 0;
    close(p[0]);
    int st;
    if (waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Has the daemon made its initial placement (`xpv domains --json` in json)? Two rounds or
 * more, and every domain alive, placed on nodes, with its record (generation 1 or more) and
 * no memory still moving. */
static int placed_initially(const char *json)
{
    json_t *r = json_loads(json, 0, NULL);
    if (!r)
        return 0;
    json_t *ds = json_object_get(r, "domains"), *d;
    int ok = json_integer_value(json_object_get(json_object_get(r, "stats"), "rounds")) >= 2 &&
             json_array_size(ds) == 2;
    size_t i;
    json_array_foreach(ds, i, d) {
        const char *nodes = json_string_value(json_object_get(d, "nodes"));
        ok = ok && json_is_true(json_object_get(d, "alive")) && nodes && strcmp(nodes, "-") != 0 &&
             json_integer_value(json_object_get(d, "generation")) >= 1 &&
             !json_is_true(json_object_get(d, "moving_memory"));
    }
    json_decref(r);
    return ok;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Threads of pid, from /proc. */
static int tids_of(pid_t pid, pid_t *tids, int cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap)
        if (e->d_name[0] != '.')
            tids[n++] = (pid_t)atoi(e->d_name);
    closedir(d);
    return n;
}

/* Pages on node `id` of the mapping holding addr in pid, from /proc/PID/numa_maps (its
 * line starts at the mapping's start, which /proc/PID/maps gives). -1 if not found. */
static long numa_maps_on(pid_t pid, uint64_t addr, int id)
{
    char path[64], line[1024];
    unsigned long long lo, hi, start = 0;
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "%llx-%llx", &lo, &hi) == 2 && lo <= addr && addr < hi)
            start = lo;
    if (f)
        fclose(f);
    snprintf(path, sizeof(path), "/proc/%d/numa_maps", (int)pid);
    if (!start || !(f = fopen(path, "r")))
        return -1;
    long on = -1;
    char want[32], key[16];
    snprintf(want, sizeof(want), "%llx ", start);
    snprintf(key, sizeof(key), " N%d=", id);
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, want, strlen(want))) {
            char *k = strstr(line, key);
            on = k ? atol(k + strlen(key)) : 0;
            printf("  numa_maps: %s", line);
        }
    fclose(f);
    return on;
}

/* d0 is where the operator sent it: threads bound to node `last` (a position), all its data
 * there. */
static int placed(const struct lab_env *env, pid_t pid, uint64_t addr, unsigned last,
                  unsigned *on_last)
{
    pid_t tids[8];
    int nt = tids_of(pid, tids, 8);
    if (nt != 2)
        return 0;
    for (int i = 0; i < nt; i++) {
        struct xpv_bitmap cpus;
        if (env->ops->get_affinity(env->ops->ctx, tids[i], &cpus) < 0 ||
            !xpv_bitmap_equal(&cpus, &env->topo->nodes[last].cpus))
            return 0;
    }
    static void *pages[NP];
    static int status[NP];
    for (unsigned i = 0; i < NP; i++)
        pages[i] = (void *)(uintptr_t)(addr + (uint64_t)i * 4096);
    if (env->ops->move_pages(env->ops->ctx, pid, NP, pages, NULL, status, 0) < 0)
        return 0;
    *on_last = 0;
    for (unsigned i = 0; i < NP; i++)
        *on_last += status[i] == env->topo->nodes[last].id;
    return *on_last == NP;
}

static enum lab_result lab_hostd_move(const struct lab_env *env)
{
    if (env->topo->nr_nodes < 3)
        LAB_SKIP_BECAUSE("needs 3+ nodes, guest has %u", env->topo->nr_nodes);
    char dir[] = "/tmp/xpv-lab-hostd-XXXXXX";
    LAB_CHECK(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    char sock[64], rec0[64], opt_d[2][32];
    snprintf(sock, sizeof(sock), "%s/hostd.sock", dir);
    snprintf(rec0, sizeof(rec0), "%s/xpv-domain-d0", dir);
    int fds[2][2];
    pid_t pids[2];
    for (int k = 0; k < 2; k++) {
        char record[64];
        snprintf(record, sizeof(record), "%s/xpv-domain-d%d", dir, k);
        LAB_CHECK(pipe(fds[k]) == 0, "pipe");
        fflush(stdout);
        if ((pids[k] = fork()) == 0) {
            close(fds[k][0]);
            domain(record, fds[k][1]);
        }
        close(fds[k][1]);
        snprintf(opt_d[k], sizeof(opt_d[k]), "d%d=%d", k, (int)pids[k]);
    }
    uint64_t addr;
    LAB_CHECK(read(fds[0][0], &addr, 8) == 8, "d0 did not start");
    uint64_t addr1;
    LAB_CHECK(read(fds[1][0], &addr1, 8) == 8, "d1 did not start");

    char *daemon_argv[] = {
            "xpv", "hostd",          "--pids", opt_d[0],      "--pids", opt_d[1],   "--socket",
            sock,  "--record-dir",   dir,      "--state-dir", dir,      "--period", "0.5",
            "-v",  "--migrate-mb-s", "64",     NULL};
    pid_t daemon = spawn(daemon_argv);
    LAB_CHECK(daemon > 0, "fork");
    char *domains_argv[] = {"xpv", "domains", "--socket", sock, NULL};
    int up = 0;
    double t0 = now();
    /* not a wait: usleep is the poll interval of this deadline loop */
    for (; !up && now() - t0 < 15; usleep(200000))
        up = run(domains_argv) == 0;
    LAB_CHECK(up, "the daemon did not answer on %s", sock);
    /* the waits' durations, for scripts/lab_stats.py (docs/test-statistics.md) */
    printf("  the daemon answered after %.1f s (deadline 15 s)\n", now() - t0);
    /* the initial placement done: the move below is the operator's, from a placed state */
    char *json_argv[] = {"xpv", "domains", "--socket", sock, "--json", NULL};
    static char json[16384];
    int settled = 0;
    /* not a wait: usleep is the poll interval of this deadline loop */
    for (t0 = now(); !settled && now() - t0 < 30; usleep(200000))
        settled = capture(json_argv, json, sizeof(json)) == 0 && placed_initially(json);
    LAB_CHECK(settled, "no initial placement after 30 s; the daemon last said: %s", json);
    printf("  the initial placement after %.1f s (deadline 30 s)\n", now() - t0);
    run(domains_argv);

    unsigned last = 2; /* the position of node 2 (the guest's nodes are 0..N-1) */
    char node[16];
    snprintf(node, sizeof(node), "%d", env->topo->nodes[last].id);
    char *move_argv[] = {"xpv", "move", "d0", "--nodes", node, "--socket", sock, NULL};
    LAB_CHECK(run(move_argv) == 0, "xpv move d0 --nodes %s failed", node);
    unsigned on_last = 0;
    int ok = 0;
    /* not a wait: usleep is the poll interval of this deadline loop */
    for (t0 = now(); !ok && now() - t0 < 30; usleep(200000))
        ok = placed(env, pids[0], addr, last, &on_last);
    double moved_s = now() - t0;
    run(domains_argv);
    LAB_CHECK(ok, "d0 not placed on node %s after 30 s: %u of %u data pages there", node, on_last,
              (unsigned)NP);
    printf("  d0 placed by the move after %.1f s (deadline 30 s)\n", moved_s);
    printf("  d0: both threads bound to node %s's CPUs, %u of %u data pages there\n", node, on_last,
           (unsigned)NP);
    long nm = numa_maps_on(pids[0], addr, env->topo->nodes[last].id);
    LAB_CHECK(nm >= (long)NP, "numa_maps shows %ld pages of d0's data mapping on node %s", nm,
              node);

    /* the record: the daemon's last generation, as the domain's libxpv reader saw it */
    struct xpv_channel *ch = NULL;
    LAB_CHECK(xpv_channel_open(rec0, &ch, NULL) == 0, "cannot open %s", rec0);
    uint64_t published = xpv_channel_generation(ch), seen = 0;
    xpv_channel_close(ch);
    for (t0 = now(); seen != published && now() - t0 < 5;) {
        struct pollfd p = {.fd = fds[0][0], .events = POLLIN};
        if (poll(&p, 1, 100) == 1 && read(fds[0][0], &seen, 8) != 8)
            break;
    }
    printf("  d0's record: generation %llu published, %llu seen inside the domain\n",
           (unsigned long long)published, (unsigned long long)seen);
    LAB_CHECK(published >= 2 && seen == published, "the domain's reader saw %llu, not %llu",
              (unsigned long long)seen, (unsigned long long)published);

    for (int k = 0; k < 2; k++) {
        int st = 0;
        kill(pids[k], SIGUSR1);
        waitpid(pids[k], &st, 0);
        LAB_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "d%d: data %s", k,
                  WIFEXITED(st) && WEXITSTATUS(st) == 3 ? "corrupt" : "lost");
    }
    int st = 0;
    kill(daemon, SIGTERM);
    waitpid(daemon, &st, 0);
    LAB_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the daemon ended with status %#x", st);
    const char *files[] = {"xpv-domain-d0", "xpv-domain-d1", "xpv-hostd.state"};
    for (int i = 0; i < 3; i++) {
        char file[96];
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
