/*
 * e2e_guestd.c — the guest half of XPV end to end (tests/lab/e2e_vm.sh is the host half):
 * the 4-node guest runs the real agent (/bin/xpv guestd) on the real devices (ivshmem BAR 2,
 * the virtio-serial port), while the host daemon attached to this VM over QMP re-places it.
 *
 * The two halves talk through what they test: the host's moves arrive as records; the guest
 * reports on the serial console ("XPV-E2E <STEP>"), which the host script reads.
 *
 *   READY   agent up, local record readable
 *   A       the host put vCPU 1 on the node backing vNode 3: the local record gives CPU 1
 *           effective node 3, a thread on CPU 1 allocating with xpv-malloc gets its pages on
 *           vNode 3 (move_pages query), and a process bound to vNode 3 (CPU 3) that opted in
 *           is re-bound by the agent to CPUs 1 and 3
 *   B       >= 100 changes: agent republish -> libxpv callback latency in the guest (p50/p99)
 *   C       the host hot-added a vCPU on vNode 2: the agent onlined it, the local record has it
 *           on node 2
 *   D       the host hot-added a 256 MiB DIMM on vNode 1: the agent onlined its memory blocks
 *           (online_movable) and the local record's vNode 1 grew by it
 *   E       the host daemon unplugged vCPU 4: the guest ejected it, the agent republished
 *           without it; then the host checks its record and moves vCPU 1 to node 2: done
 *
 * Only run when named (e2e.* tests are not part of a plain lab boot: they need the host half).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lab.h"
#include "xpv/channel.h"
#include "xpv/xpv_malloc.h"

#define RECORD    "/tmp/xpv-topology"
#define FOLLOW    "/tmp/xpv-follow"
#define NR_CHANGE 100

static uint64_t now_rt(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wait (up to secs) until the local record satisfies pred. */
static int wait_for(struct xpv_channel *ch, int secs, int (*pred)(struct xpv_snapshot *, void *),
                    void *arg)
{
    uint64_t seen = 0;
    for (int ms = 0; ms < secs * 1000; ms += 100) {
        struct xpv_snapshot *s = NULL;
        if (xpv_channel_snapshot(ch, &s, NULL) == 0) {
            int ok = pred(s, arg);
            seen = xpv_snapshot_generation(s);
            xpv_snapshot_put(s);
            if (ok)
                return 0;
        } else if (s) {
            xpv_snapshot_put(s);
        }
        xpv_channel_wait(ch, seen, 100);
    }
    return -ETIMEDOUT;
}

struct cpu_node {
    unsigned cpu;
    int node;
};

static int cpu_has_node(struct xpv_snapshot *s, void *arg)
{
    struct cpu_node *cn = arg;
    return xpv_snapshot_effective_node(s, cn->cpu) == cn->node;
}

static int cpu_gone(struct xpv_snapshot *s, void *arg)
{
    return xpv_snapshot_effective_node(s, (unsigned)(uintptr_t)arg) < 0;
}

static int node1_grew(struct xpv_snapshot *s, void *arg)
{
    return xpv_snapshot_node_memory(s, 1) >= *(const uint64_t *)arg;
}

/* A thread pinned to one CPU allocates through an xpv-malloc heap following the record. */
struct alloc {
    struct xpv_heap *h;
    const struct lab_env *env;
    unsigned cpu;
    int want, on, total, heap_node;
};

#define NBLK 64
#define BLK  (64 * 1024)

static void *alloc_thread(void *arg)
{
    struct alloc *a = arg;
    struct xpv_bitmap one;
    xpv_bitmap_zero(&one);
    xpv_bitmap_set(&one, a->cpu);
    if (a->env->ops->set_affinity(a->env->ops->ctx, 0, &one) < 0)
        return NULL;
    void *b[NBLK];
    void *pages[NBLK * (BLK / 4096)];
    int st[NBLK * (BLK / 4096)];
    unsigned np = 0;
    for (unsigned i = 0; i < NBLK; i++) {
        b[i] = xpv_heap_alloc(a->h, BLK);
        if (!b[i])
            return NULL;
        memset(b[i], 0x5a, BLK);
        uintptr_t p = ((uintptr_t)b[i] + 4095) & ~(uintptr_t)4095;
        for (; p + 4096 <= (uintptr_t)b[i] + BLK; p += 4096)
            pages[np++] = (void *)p;
    }
    a->heap_node = xpv_heap_thread_node(a->h);
    a->total = (int)np;
    if (a->env->ops->move_pages(a->env->ops->ctx, 0, np, pages, NULL, st, 0) == 0)
        for (unsigned i = 0; i < np; i++)
            a->on += st[i] == a->want;
    for (unsigned i = 0; i < NBLK; i++)
        xpv_heap_free(b[i]);
    return NULL;
}

/* B: callbacks on every change, latency from the agent's publish timestamp */
struct lat {
    pthread_mutex_t mu;
    uint64_t last_gen;
    unsigned n;
    uint64_t us[4 * NR_CHANGE];
};

static void on_change(const struct xpv_snapshot *s, void *arg)
{
    uint64_t t = now_rt();
    struct lat *l = arg;
    if (!s)
        return;
    pthread_mutex_lock(&l->mu);
    uint64_t ts = xpv_snapshot_timestamp_ns(s);
    if (xpv_snapshot_generation(s) != l->last_gen && l->n < 4 * NR_CHANGE && t >= ts) {
        l->us[l->n++] = (t - ts) / 1000u;
        l->last_gen = xpv_snapshot_generation(s);
    }
    pthread_mutex_unlock(&l->mu);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static pid_t start_agent(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        char *argv[] = {"xpv",     "guestd",       "-v",   "--poll", "50ms",
                        "--stats", "--follow-dir", FOLLOW, NULL};
        execv("/bin/xpv", argv);
        _exit(127);
    }
    return pid;
}

static enum lab_result e2e_guestd(const struct lab_env *env)
{
    LAB_CHECK(env->topo->nr_nodes == 4, "the e2e test wants the 4-node guest, got %u nodes",
              env->topo->nr_nodes);
    setenv("XPV_RECORD", RECORD, 1);
    setenv("XPV_FOLLOW_DIR", FOLLOW, 1);
    /* a process bound to vNode 3's CPU that opted in to following it */
    pid_t follower = fork();
    if (follower == 0) {
        pause();
        _exit(0);
    }
    struct xpv_bitmap cpu3, aff;
    xpv_bitmap_zero(&cpu3);
    xpv_bitmap_set(&cpu3, 3);
    struct xpv_error ferr = {0};
    LAB_CHECK(env->ops->set_affinity(env->ops->ctx, follower, &cpu3) == 0, "pin the follower");
    int frc = xpv_follow_register(NULL, follower, &ferr);
    LAB_CHECK(frc == 0, "xpv_follow_register: %s", xpv_error_str(&ferr, frc));
    pid_t agent = start_agent();
    LAB_CHECK(agent > 0, "fork");
    struct xpv_channel *ch = NULL;
    for (int i = 0; i < 100 && xpv_channel_open(RECORD, &ch, NULL) < 0; i++)
        usleep(100000); /* not a wait: the poll interval of this 10 s loop */
    LAB_CHECK(ch, "the agent published no local record at %s within 10 s", RECORD);
    /* what the agent has to work with (for a failing run's log) */
    if (system("echo \"  virtio ports: $(ls /sys/class/virtio-ports 2>&1 | tr '\\n' ' ')\"; "
               "echo \"  modules: $(cut -d' ' -f1 /proc/modules | tr '\\n' ' ')\""))
        printf("  (diagnostics failed)\n");
    printf("XPV-E2E READY\n");
    fflush(stdout);

    /* A: vCPU 1 moved to the node backing vNode 3 */
    struct cpu_node cn = {1, 3};
    LAB_CHECK(wait_for(ch, 120, cpu_has_node, &cn) == 0,
              "CPU 1's effective node never became 3 (host move not seen)");
    struct xpv_heap_config cfg = {.record_path = RECORD, .topo = env->topo, .ops = env->ops};
    struct xpv_heap *h;
    struct xpv_error err = {0};
    int rc = xpv_heap_new(&cfg, &h, &err);
    LAB_CHECK(rc == 0, "xpv_heap_new: %s", xpv_error_str(&err, rc));
    struct alloc a = {.h = h, .env = env, .cpu = 1, .want = 3};
    pthread_t t;
    pthread_create(&t, NULL, alloc_thread, &a);
    pthread_join(t, NULL);
    struct alloc a0 = {.h = h, .env = env, .cpu = 0, .want = 0};
    pthread_create(&t, NULL, alloc_thread, &a0);
    pthread_join(t, NULL);
    xpv_heap_delete(h);
    printf("  CPU 1 (vNode 0) effective node 3: heap node %d, %d/%d pages on node 3; CPU 0: "
           "heap node %d, %d/%d pages on node 0\n",
           a.heap_node, a.on, a.total, a0.heap_node, a0.on, a0.total);
    LAB_CHECK(a.heap_node == 3 && a.total > 0 && a.on == a.total,
              "CPU 1's allocations are not on vNode 3");
    LAB_CHECK(a0.heap_node == 0 && a0.on == a0.total, "CPU 0's allocations are not on vNode 0");
    /* the follower, bound to vNode 3 (CPU 3), is now on the CPUs effectively in vNode 3 */
    struct xpv_bitmap want;
    xpv_bitmap_zero(&want);
    xpv_bitmap_set(&want, 1);
    xpv_bitmap_set(&want, 3);
    for (int i = 0; i < 50; i++) { /* the agent re-binds right after it republishes */
        env->ops->get_affinity(env->ops->ctx, follower, &aff);
        if (xpv_bitmap_equal(&aff, &want))
            break;
        usleep(100000); /* not a wait: the poll interval of this 5 s loop (affs: what it saw) */
    }
    char affs[64];
    xpv_bitmap_format_list(&aff, affs, sizeof(affs));
    printf("  follower (opted in, bound to vNode 3's CPU 3): now on CPUs %s\n", affs);
    kill(follower, SIGKILL);
    waitpid(follower, NULL, 0);
    LAB_CHECK(xpv_bitmap_equal(&aff, &want), "the follower was not re-bound to CPUs 1,3");
    printf("XPV-E2E A\n");
    fflush(stdout);

    /* B: the host toggles vCPU 1 between nodes 2 and 3; each change reaches a callback */
    static struct lat l = {.mu = PTHREAD_MUTEX_INITIALIZER};
    rc = xpv_channel_subscribe(ch, on_change, &l, &err);
    LAB_CHECK(rc == 0, "subscribe: %s", xpv_error_str(&err, rc));
    printf("XPV-E2E B-READY\n");
    fflush(stdout);
    for (int i = 0; i < 300; i++) {
        pthread_mutex_lock(&l.mu);
        unsigned n = l.n;
        pthread_mutex_unlock(&l.mu);
        if (n >= NR_CHANGE) /* a subscription reports changes after it, no initial state */
            break;
        sleep(1); /* not a wait: the poll interval of this 300 s loop (the check prints l.n) */
    }
    xpv_channel_unsubscribe(ch);
    LAB_CHECK(l.n >= NR_CHANGE, "only %u callbacks in 300 s", l.n);
    qsort(l.us, l.n, sizeof(l.us[0]), cmp_u64);
    unsigned m = l.n;
    printf("  agent republish -> libxpv callback over %u changes: p50 %llu us, p99 %llu us, "
           "max %llu us (guest clock, TCG)\n",
           m, (unsigned long long)l.us[m / 2], (unsigned long long)l.us[(m * 99) / 100],
           (unsigned long long)l.us[m - 1]);
    printf("XPV-E2E B\n");
    fflush(stdout);

    /* C: a vCPU hot-added on vNode 2 is onlined by the agent and appears in the record */
    struct cpu_node cn4 = {4, 2};
    LAB_CHECK(wait_for(ch, 180, cpu_has_node, &cn4) == 0,
              "no CPU 4 on node 2 in the local record within 180 s");
    char b[8] = "";
    int fd = open("/sys/devices/system/cpu/cpu4/online", O_RDONLY);
    LAB_CHECK(fd >= 0 && read(fd, b, sizeof(b)) > 0, "cpu4/online unreadable");
    close(fd);
    LAB_CHECK(b[0] == '1', "cpu4 is not online: '%c'", b[0]);
    printf("  hot-added CPU 4 online, effective node 2 in the local record\n");
    struct xpv_snapshot *s0 = NULL;
    uint64_t mem1 = 0;
    if (xpv_channel_snapshot(ch, &s0, NULL) == 0)
        mem1 = xpv_snapshot_node_memory(s0, 1);
    if (s0)
        xpv_snapshot_put(s0);
    printf("XPV-E2E C\n");
    fflush(stdout);

    /* D: a DIMM hot-added on vNode 1 is onlined by the agent; vNode 1's memory grows */
    uint64_t want_mem = mem1 + (200u << 20);
    LAB_CHECK(wait_for(ch, 180, node1_grew, &want_mem) == 0,
              "vNode 1's memory did not grow past %llu MiB within 180 s (DIMM not onlined?)",
              (unsigned long long)(want_mem >> 20));
    struct xpv_snapshot *s1 = NULL;
    LAB_CHECK(xpv_channel_snapshot(ch, &s1, NULL) == 0, "snapshot");
    printf("  hot-added DIMM online: vNode 1 memory %llu MiB -> %llu MiB in the local record\n",
           (unsigned long long)(mem1 >> 20),
           (unsigned long long)(xpv_snapshot_node_memory(s1, 1) >> 20));
    xpv_snapshot_put(s1);
    printf("XPV-E2E D\n");
    fflush(stdout);

    /* E: vCPU 4 unplugged by the host daemon: gone from the local record */
    LAB_CHECK(wait_for(ch, 180, cpu_gone, (void *)(uintptr_t)4) == 0,
              "CPU 4 still in the local record 180 s after its unplug was asked");
    /* the agent republishes on the offline event already; the kernel removes cpu4 after */
    for (int i = 0; i < 600 && access("/sys/devices/system/cpu/cpu4", F_OK) == 0; i++)
        usleep(100000); /* not a wait: the poll interval of this 60 s loop */
    LAB_CHECK(access("/sys/devices/system/cpu/cpu4", F_OK) != 0,
              "cpu4 is still in sysfs after 60 s");
    printf("  unplugged CPU 4: gone from sysfs and from the local record\n");
    printf("XPV-E2E E\n");
    fflush(stdout);
    /* the host checks its own record, then says it is done by putting vCPU 1 on node 2 (the
     * guest must not power off before) */
    struct cpu_node done = {1, 2};
    LAB_CHECK(wait_for(ch, 300, cpu_has_node, &done) == 0, "no final move from the host");
    xpv_channel_close(ch);
    kill(agent, SIGTERM);
    int st;
    waitpid(agent, &st, 0);
    LAB_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the agent exited with status %d", st);
    return LAB_PASS;
}

const struct lab_test lab_e2e_tests[] = {
        {"e2e.guestd", e2e_guestd},
        {NULL, NULL},
};
