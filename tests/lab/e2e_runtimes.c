/*
 * e2e_runtimes.c — the guest half of lab4.jvm / lab4.numa (tests/lab/e2e_runtimes.sh is the
 * host half): unmodified runtimes in the 4-node guest, with and without the libnuma.so.1 shim
 * of libxpv-numa (docs/runtimes.md), across `xpv move vm --vcpu 1 --nodes 3` made by the host
 * daemon and republished in the guest by the real agent (/bin/xpv guestd).
 *
 * One in-guest test, e2e.runtimes, because every part needs the same move at the same moment;
 * it reports each part's verdict in the harness's own protocol (lab.h), nested in its own, so
 * lab/lab-result.sh reads each as a test of its own:
 *
 *   e2e.numa.cprog    xpv-numa-work (tests/lab/numa_work.c: numa_node_of_cpu(sched_getcpu())
 *                     then numa_alloc_onnode), pinned to CPU 1, started before the move and
 *                     asked to allocate before and after it. With the shim (LD_LIBRARY_PATH=/bin,
 *                     where /bin/libnuma.so.1 is the shim): node 1 before, node 3 after, its
 *                     pages there. Without: node 1 both times.
 *   e2e.jvm.live      OpenJDK 17 (-XX:+UseNUMA, ParallelGC and G1), shim on, pinned to CPU 1,
 *                     started before the move, allocating after it: its new heap pages are on
 *                     node 1, the node of its start. HotSpot builds its CPU -> node table once
 *                     (os::Linux::libnuma_init -> rebuild_cpu_to_node_map; on Linux
 *                     os::numa_topology_changed() is false) and maps sched_getcpu(), which the
 *                     shim leaves alone, through it. This part asserts that (docs/runtimes.md):
 *                     if it ever follows, the docs are wrong and this fails.
 *   e2e.jvm.parallel  the same JVM with ParallelGC started after the move, pinned to CPU 1:
 *   e2e.jvm.g1        and with G1. With the shim its new heap pages land on node 3 (CPU 1's
 *                     effective node); without it on node 1. Both runs are asserted.
 *
 * The JDK is the host's, shared read-only over virtio-9p at /usr (run-lab.sh --share /usr:usr:/usr).
 * Heap pages: /proc/PID/numa_maps summed per node, before and after the program allocated
 * PAR_MIB (ParallelGC) or G1_MIB MiB of live arrays; the difference is what its allocation
 * brought in.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lab.h"
#include "xpv/channel.h"

#define RECORD   "/tmp/xpv-topology"
#define SHIM_DIR "/bin" /* /bin/libnuma.so.1: the shim (lab/CMakeLists.txt) */
#define JAVA     "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"
#define WORK     "/bin/xpv-numa-work"
#define CPU      1  /* the vCPU the host moves */
#define FROM     1  /* its vNode, and its effective node before the move */
#define TO       3  /* its effective node after the move */
#define PAR_MIB  16 /* ParallelGC: within one lgroup's eden chunk (40 MiB of -Xmn160m) */
#define G1_MIB   6  /* G1: see landed_on */
#define MAXN     8
#define OUTCAP   16384

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A child with its stdin and (stdout+stderr) on pipes. */
struct child {
    const char *name;
    pid_t pid;
    int in, out;
    char text[OUTCAP]; /* everything it printed so far (the tail, for a failure's message) */
    size_t n, scan;    /* scan: where the next line to look at starts */
};

static int spawn(struct child *c, const char *name, char *const argv[], int shim)
{
    int pin[2], pout[2];
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->pid = -1;
    if (pipe(pin) < 0 || pipe(pout) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(CPU, &one);
        if (sched_setaffinity(0, sizeof(one), &one) < 0)
            _exit(126);
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(pout[1], 2);
        close(pin[0]);
        close(pin[1]);
        close(pout[0]);
        close(pout[1]);
        setenv("XPV_RECORD", RECORD, 1);
        if (shim)
            setenv("LD_LIBRARY_PATH", SHIM_DIR, 1);
        else
            unsetenv("LD_LIBRARY_PATH");
        execv(argv[0], argv);
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    c->pid = pid;
    c->in = pin[1];
    c->out = pout[0];
    return 0;
}

/* Wait (up to secs) for a line starting with prefix; copy it into line. 0, -ETIMEDOUT, or
 * -EPIPE when the child closed its output first. */
static int expect(struct child *c, const char *prefix, char *line, size_t cap, double secs)
{
    double end = now_s() + secs;
    for (;;) {
        while (c->scan < c->n) {
            char *nl = memchr(c->text + c->scan, '\n', c->n - c->scan);
            if (!nl)
                break;
            size_t len = (size_t)(nl - (c->text + c->scan));
            int hit = strncmp(c->text + c->scan, prefix, strlen(prefix)) == 0;
            if (hit) {
                size_t k = len < cap - 1 ? len : cap - 1;
                memcpy(line, c->text + c->scan, k);
                line[k] = 0;
            }
            c->scan += len + 1;
            if (hit)
                return 0;
        }
        double left = end - now_s();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = c->out, .events = POLLIN};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR)
            return -errno;
        if (r <= 0)
            continue;
        if (c->n >= OUTCAP - 1) { /* keep the second half: the tail is what matters */
            size_t half = OUTCAP / 2;
            memmove(c->text, c->text + half, c->n - half);
            c->n -= half;
            c->scan = c->scan > half ? c->scan - half : 0;
        }
        ssize_t k = read(c->out, c->text + c->n, OUTCAP - 1 - c->n);
        if (k <= 0)
            return -EPIPE;
        c->n += (size_t)k;
        c->text[c->n] = 0;
    }
}

/* The last lines the child printed (for failure messages). */
static const char *tail(struct child *c)
{
    c->text[c->n] = 0;
    size_t from = c->n > 1200 ? c->n - 1200 : 0;
    return c->text + from;
}

static int say(struct child *c, const char *what)
{
    size_t len = strlen(what);
    return write(c->in, what, len) == (ssize_t)len ? 0 : -errno;
}

static void finish(struct child *c)
{
    if (c->pid <= 0)
        return;
    close(c->in);
    double end = now_s() + 30;
    int st;
    while (waitpid(c->pid, &st, WNOHANG) == 0) {
        if (now_s() > end) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &st, 0);
            break;
        }
        usleep(50000); /* not a wait: the poll interval of this 30 s reaping loop */
    }
    close(c->out);
    c->pid = -1;
}

/* Pages of a process per node, from /proc/PID/numa_maps (N<k>=pages, in kernel pages). */
static int numa_pages(pid_t pid, long pages[MAXN])
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/numa_maps", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    memset(pages, 0, sizeof(long) * MAXN);
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        long per[MAXN] = {0};
        long kb = 4;
        for (char *tok = strtok(line, " \n"); tok; tok = strtok(NULL, " \n")) {
            int node;
            long n;
            if (sscanf(tok, "N%d=%ld", &node, &n) == 2 && node >= 0 && node < MAXN)
                per[node] += n;
            else
                sscanf(tok, "kernelpagesize_kB=%ld", &kb);
        }
        for (int i = 0; i < MAXN; i++)
            pages[i] += per[i] * (kb / 4);
    }
    fclose(f);
    return 0;
}

/* The process's pages per node, grouped by the memory policy of their mapping (numa_maps'
 * policy field: "default", "interleave:0-3", "prefer:N", or libnuma 2.0.16's
 * MPOL_PREFERRED_MANY "prefer (many):N", kept as "prefer:N"); at most MAXP policies. The
 * JVM's heap is what it mbind()s to one node with numa_tonode_memory under
 * numa_set_bind_policy(0): its "prefer" mappings (ParallelGC's eden chunks, G1's regions). */
#define MAXP 16
struct by_policy {
    int n;
    char pol[MAXP][32];
    long pages[MAXP][MAXN];
};

static void numa_pages_by_policy(pid_t pid, struct by_policy *b)
{
    char path[64], line[1024];
    memset(b, 0, sizeof(*b));
    snprintf(path, sizeof(path), "/proc/%d/numa_maps", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        char *save = NULL, pol[32];
        strtok_r(line, " \n", &save);
        char *tok = strtok_r(NULL, " \n", &save);
        if (!tok)
            continue;
        snprintf(pol, sizeof(pol), "%s", tok);
        if (strcmp(tok, "prefer") == 0) { /* "prefer (many):N" */
            tok = strtok_r(NULL, " \n", &save);
            char *colon = tok ? strchr(tok, ':') : NULL;
            snprintf(pol, sizeof(pol), "prefer%s", colon ? colon : "");
        }
        int k = 0;
        while (k < b->n && strcmp(b->pol[k], pol) != 0)
            k++;
        if (k == b->n) {
            if (b->n == MAXP)
                continue;
            snprintf(b->pol[b->n++], sizeof(b->pol[0]), "%s", pol);
        }
        for (tok = strtok_r(NULL, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
            int node;
            long n;
            if (sscanf(tok, "N%d=%ld", &node, &n) == 2 && node >= 0 && node < MAXN)
                b->pages[k][node] += n;
        }
    }
    fclose(f);
}

/* What changed between two by_policy readings, one line per policy that gained pages. */
static void print_policy_delta(const char *name, const struct by_policy *a,
                               const struct by_policy *b)
{
    for (int k = 0; k < b->n; k++) {
        long d[MAXN], any = 0;
        int j = 0;
        while (j < a->n && strcmp(a->pol[j], b->pol[k]) != 0)
            j++;
        for (int i = 0; i < MAXN; i++) {
            d[i] = b->pages[k][i] - (j < a->n ? a->pages[j][i] : 0);
            any |= d[i];
        }
        if (any)
            printf("  %s:   in %s mappings: N0=%+ld N1=%+ld N2=%+ld N3=%+ld\n", name, b->pol[k],
                   d[0], d[1], d[2], d[3]);
    }
}

/* Does /proc/PID/maps map a file whose path is exactly path? */
static int maps_has(pid_t pid, const char *path)
{
    char p[64], line[512];
    snprintf(p, sizeof(p), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    int found = 0;
    size_t len = strlen(path);
    while (!found && fgets(line, sizeof(line), f)) {
        char *s = strchr(line, '/');
        found = s && strncmp(s, path, len) == 0 && (s[len] == '\n' || s[len] == 0);
    }
    fclose(f);
    return found;
}

/* --- the record --- */

/* Wait (up to secs) until CPU cpu's effective node in the local record is node. */
static int wait_node(struct xpv_channel *ch, unsigned cpu, int node, int secs)
{
    double end = now_s() + secs;
    uint64_t gen = 0;
    while (now_s() < end) {
        if (lab_effective_node(ch, cpu, &gen) == node)
            return 0;
        xpv_channel_wait(ch, gen, 100);
    }
    return -ETIMEDOUT;
}

/* --- a JVM --- */

struct jvm {
    struct child c;
    long before[MAXN], after[MAXN], delta[MAXN];
    struct by_policy pol_before, pol_after;
    long heap[MAXN]; /* new pages in the heap's ("prefer") mappings, per node */
    int mib;         /* what it allocated */
    int g1;          /* G1 (else ParallelGC) */
    char why[512];
};

static int is_g1(const char *gc)
{
    return strstr(gc, "G1") != NULL;
}

static void jvm_start(struct jvm *j, const char *name, const char *gc, int shim)
{
    char mib[16];
    snprintf(mib, sizeof(mib), "%d", is_g1(gc) ? G1_MIB : PAR_MIB);
    char *argv[] = {JAVA,
                    "-Xint",
                    "-XX:-UsePerfData",
                    "-Xms256m",
                    "-Xmx256m",
                    "-Xmn160m",
                    "-XX:+UseNUMA",
                    (char *)gc,
                    "-Xlog:os=info,gc=info:stdout",
                    "-cp",
                    "/bin",
                    "XpvJvmAlloc",
                    mib,
                    NULL};
    memset(j, 0, sizeof(*j));
    j->mib = atoi(mib);
    j->g1 = is_g1(gc);
    int rc = spawn(&j->c, name, argv, shim);
    if (rc < 0)
        snprintf(j->why, sizeof(j->why), "%s: fork: %s", name, strerror(-rc));
}

/* Wait for "ready" and check what the JVM took: UseNUMA on, the libnuma it loaded. */
static int jvm_ready(struct jvm *j, int shim)
{
    char line[256];
    double t0 = now_s();
    if (j->why[0])
        return -1;
    if (expect(&j->c, "XPV-JVM ready", line, sizeof(line), 300) < 0) {
        snprintf(j->why, sizeof(j->why), "%s: no 'ready' within 300 s; it printed: %s", j->c.name,
                 tail(&j->c));
        return -1;
    }
    printf("  %s: JVM ready after %.1f s (pid %d)\n", j->c.name, now_s() - t0, (int)j->c.pid);
    if (!strstr(j->c.text, "UseNUMA is enabled")) {
        snprintf(j->why, sizeof(j->why), "%s: the JVM did not enable UseNUMA; it printed: %s",
                 j->c.name, tail(&j->c));
        return -1;
    }
    int has_shim = maps_has(j->c.pid, SHIM_DIR "/libnuma.so.1");
    if (has_shim != shim) {
        snprintf(j->why, sizeof(j->why), "%s: the shim %s mapped in the JVM", j->c.name,
                 has_shim ? "is" : "is not");
        return -1;
    }
    return 0;
}

/* Baseline, allocate, measure. */
static int jvm_alloc(struct jvm *j)
{
    char line[256];
    if (j->why[0])
        return -1;
    numa_pages_by_policy(j->c.pid, &j->pol_before);
    if (numa_pages(j->c.pid, j->before) < 0 || say(&j->c, "go\n") < 0) {
        snprintf(j->why, sizeof(j->why), "%s: numa_maps or stdin: %s", j->c.name, strerror(errno));
        return -1;
    }
    if (expect(&j->c, "XPV-JVM allocated", line, sizeof(line), 300) < 0) {
        snprintf(j->why, sizeof(j->why), "%s: no 'allocated' within 300 s; it printed: %s",
                 j->c.name, tail(&j->c));
        return -1;
    }
    if (numa_pages(j->c.pid, j->after) < 0) {
        snprintf(j->why, sizeof(j->why), "%s: numa_maps: %s", j->c.name, strerror(errno));
        return -1;
    }
    numa_pages_by_policy(j->c.pid, &j->pol_after);
    for (int i = 0; i < MAXN; i++)
        j->delta[i] = j->after[i] - j->before[i];
    for (int k = 0; k < j->pol_after.n; k++) {
        if (strncmp(j->pol_after.pol[k], "prefer", 6) != 0)
            continue;
        int b = 0;
        while (b < j->pol_before.n && strcmp(j->pol_before.pol[b], j->pol_after.pol[k]) != 0)
            b++;
        for (int i = 0; i < MAXN; i++)
            j->heap[i] += j->pol_after.pages[k][i] -
                          (b < j->pol_before.n ? j->pol_before.pages[b][i] : 0);
    }
    printf("  %s: new heap pages per node: N0=%+ld N1=%+ld N2=%+ld N3=%+ld (%d MiB allocated = "
           "%d pages); all new pages: N0=%+ld N1=%+ld N2=%+ld N3=%+ld\n",
           j->c.name, j->heap[0], j->heap[1], j->heap[2], j->heap[3], j->mib, j->mib * 256,
           j->delta[0], j->delta[1], j->delta[2], j->delta[3]);
    print_policy_delta(j->c.name, &j->pol_before, &j->pol_after);
    if (strstr(j->c.text + 0, "Pause Young"))
        printf("  %s: note: a young collection ran (its log lines are in the output below)\n",
               j->c.name);
    return 0;
}

/* The allocation's heap pages are where the JVM was asked to put them: node want.
 * ParallelGC (MutableNUMASpace): the thread's lgroup has its own eden chunk, so every new page
 * is there: >= 90% on want, <= 5% on the others.
 * G1 (G1NUMA): it takes a free region of the thread's node, but searches only the last
 * 3 x nodes = 12 regions of its free list (FreeRegionList::remove_region_with_node_index,
 * G1NUMA::max_search_depth) and takes the last region whatever its node when none of them is
 * the thread's. Regions alternate nodes (G1NUMA::preferred_node_index_for_index: index % 4), so
 * the first 3-4 new regions are the thread's node and then about one in four: a fresh heap's
 * first 6 MiB put about 4 of 6 regions there (943-1184 of 1588 pages, the next node 241, in the
 * runs of docs/runtimes.md; 8 MiB put 4 of 8). Asserted: >= 40% of the pages on want, and want
 * has at least 1.5 times the pages of any other node.
 * Not a sample: the placement is the kernel's (mbind'ed ranges, free memory on every node) and
 * G1's and ParallelGC's deterministic choices; no timing is involved. */
static int landed_on(const struct jvm *j, int want)
{
    long pages = (long)j->mib * 256;
    if (!j->g1) {
        long other = 0;
        for (int i = 0; i < MAXN; i++)
            if (i != want)
                other += j->heap[i] > 0 ? j->heap[i] : 0;
        return j->heap[want] >= pages * 9 / 10 && other <= pages / 20;
    }
    if (j->heap[want] * 10 < pages * 4)
        return 0;
    for (int i = 0; i < MAXN; i++)
        if (i != want && j->heap[want] * 2 < j->heap[i] * 3)
            return 0;
    return 1;
}

static void sub_begin(const char *name)
{
    printf("XPV-LAB BEGIN %s\n", name);
}

static int sub_end(const char *name, int ok)
{
    printf("XPV-LAB END %s %s\n", name, ok ? "PASS" : "FAIL");
    return ok;
}

static pid_t start_agent(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        char *argv[] = {"xpv", "guestd", "-v", "--poll", "50ms", NULL};
        execv("/bin/xpv", argv);
        _exit(127);
    }
    return pid;
}

/* One collector after the move: with the shim on node TO, without on node FROM. */
static int jvm_after(const char *test, const char *gc)
{
    sub_begin(test);
    struct jvm with, without;
    char n1[64], n2[64];
    snprintf(n1, sizeof(n1), "%s shim", test);
    snprintf(n2, sizeof(n2), "%s no shim", test);
    jvm_start(&with, n1, gc, 1);
    jvm_ready(&with, 1);
    jvm_alloc(&with);
    finish(&with.c);
    jvm_start(&without, n2, gc, 0);
    jvm_ready(&without, 0);
    jvm_alloc(&without);
    finish(&without.c);
    int ok = 1;
    if (with.why[0] || without.why[0]) {
        printf("  FAILED: %s\n", with.why[0] ? with.why : without.why);
        ok = 0;
    } else {
        if (!landed_on(&with, TO)) {
            printf("  FAILED: with the shim the new heap pages are not on node %d (CPU %d's "
                   "effective node)\n",
                   TO, CPU);
            ok = 0;
        }
        if (!landed_on(&without, FROM)) {
            printf("  FAILED: without the shim the new heap pages are not on node %d (CPU "
                   "%d's node for the kernel)\n",
                   FROM, CPU);
            ok = 0;
        }
    }
    if (!ok) {
        printf("  --- %s, last output ---\n%s\n", n1, tail(&with.c));
        printf("  --- %s, last output ---\n%s\n", n2, tail(&without.c));
    }
    return sub_end(test, ok);
}

static enum lab_result e2e_runtimes(const struct lab_env *env)
{
    LAB_CHECK(env->topo->nr_nodes == 4, "wants the 4-node guest, got %u nodes",
              env->topo->nr_nodes);
    struct stat st;
    LAB_CHECK(stat(JAVA, &st) == 0,
              "no %s in the guest: the host's /usr is shared over virtio-9p by run-lab.sh "
              "--share /usr:usr:/usr (host: apt-get install openjdk-17-jdk-headless, scripts/setup.sh test)",
              JAVA);
    setenv("XPV_RECORD", RECORD, 1);
    pid_t agent = start_agent();
    LAB_CHECK(agent > 0, "fork");
    struct xpv_channel *ch = NULL;
    double end = now_s() + 30;
    while (xpv_channel_open(RECORD, &ch, NULL) < 0 && now_s() < end)
        usleep(100000); /* not a wait: the poll interval of this 30 s loop */
    LAB_CHECK(ch, "the agent published no local record at %s within 30 s", RECORD);
    LAB_CHECK(wait_node(ch, CPU, FROM, 120) == 0,
              "CPU %d's effective node never became %d (the host's `xpv move vm --nodes 0-3`)", CPU,
              FROM);

    /* Before the move: the C program with and without the shim, and JVMs with the shim. */
    struct child cw, cn;
    char *wargv[] = {WORK, NULL};
    LAB_CHECK(spawn(&cw, "xpv-numa-work shim", wargv, 1) == 0, "spawn");
    LAB_CHECK(spawn(&cn, "xpv-numa-work no shim", wargv, 0) == 0, "spawn");
    struct jvm live[2];
    const char *gcs[2] = {"-XX:+UseParallelGC", "-XX:+UseG1GC"};
    for (int i = 0; i < 2; i++) {
        jvm_start(&live[i], i ? "live G1 shim" : "live ParallelGC shim", gcs[i], 1);
        jvm_ready(&live[i], 1);
    }
    int c_before[2][4]; /* cpu node pages on */
    char line[256];
    struct child *cs[2] = {&cw, &cn};
    int cok = 1;
    char cwhy[512] = "";
    for (int i = 0; i < 2 && cok; i++) {
        if (say(cs[i], "alloc\n") < 0 || expect(cs[i], "alloc ", line, sizeof(line), 60) < 0 ||
            sscanf(line, "alloc cpu=%d node=%d pages=%d on_node=%d", &c_before[i][0],
                   &c_before[i][1], &c_before[i][2], &c_before[i][3]) != 4) {
            snprintf(cwhy, sizeof(cwhy), "%s: no allocation before the move; it printed: %s",
                     cs[i]->name, tail(cs[i]));
            cok = 0;
        } else {
            printf("  %s, before the move: %s\n", cs[i]->name, line);
        }
    }

    printf("XPV-RT MOVE\n"); /* the host moves vCPU 1 to node 3 */
    fflush(stdout);
    double t0 = now_s();
    LAB_CHECK(wait_node(ch, CPU, TO, 300) == 0,
              "CPU %d's effective node never became %d within 300 s (the host's move not seen)",
              CPU, TO);
    printf("  the local record has CPU %d on node %d (%.1f s after asking for the move)\n", CPU, TO,
           now_s() - t0);

    /* e2e.numa.cprog */
    sub_begin("e2e.numa.cprog");
    int c_after[2][4];
    for (int i = 0; i < 2 && cok; i++) {
        if (say(cs[i], "alloc\n") < 0 || expect(cs[i], "alloc ", line, sizeof(line), 60) < 0 ||
            sscanf(line, "alloc cpu=%d node=%d pages=%d on_node=%d", &c_after[i][0], &c_after[i][1],
                   &c_after[i][2], &c_after[i][3]) != 4) {
            snprintf(cwhy, sizeof(cwhy), "%s: no allocation after the move; it printed: %s",
                     cs[i]->name, tail(cs[i]));
            cok = 0;
        } else {
            printf("  %s, after the move: %s\n", cs[i]->name, line);
        }
    }
    if (!cok)
        printf("  FAILED: %s\n", cwhy);
    else {
        struct {
            int ok;
            const char *what;
        } checks[] = {
                {c_before[0][0] == CPU && c_before[1][0] == CPU, "both run on CPU 1"},
                {c_before[0][1] == FROM && c_before[0][3] == c_before[0][2],
                 "shim, before: node 1, every page there"},
                {c_before[1][1] == FROM && c_before[1][3] == c_before[1][2],
                 "no shim, before: node 1, every page there"},
                {c_after[0][0] == CPU && c_after[1][0] == CPU, "both still on CPU 1"},
                {c_after[0][1] == TO && c_after[0][3] == c_after[0][2],
                 "shim, after: node 3 (the effective node), every page there"},
                {c_after[1][1] == FROM && c_after[1][3] == c_after[1][2],
                 "no shim, after: still node 1, every page there"},
        };
        for (size_t k = 0; k < sizeof(checks) / sizeof(checks[0]); k++)
            if (!checks[k].ok) {
                printf("  FAILED: %s\n", checks[k].what);
                cok = 0;
            }
    }
    finish(&cw);
    finish(&cn);
    int all = sub_end("e2e.numa.cprog", cok);

    /* e2e.jvm.live: started before the move, allocating after it */
    sub_begin("e2e.jvm.live");
    int lok = 1;
    for (int i = 0; i < 2; i++) {
        jvm_alloc(&live[i]);
        finish(&live[i].c);
        if (live[i].why[0]) {
            printf("  FAILED: %s\n", live[i].why);
            lok = 0;
        } else if (!landed_on(&live[i], FROM)) {
            printf("  FAILED: %s: the new heap pages are not on node %d, the node of the JVM's "
                   "start: HotSpot now follows a change (docs/runtimes.md says it does not)\n"
                   "%s\n",
                   live[i].c.name, FROM, tail(&live[i].c));
            lok = 0;
        }
    }
    all &= sub_end("e2e.jvm.live", lok);

    all &= jvm_after("e2e.jvm.parallel", gcs[0]);
    all &= jvm_after("e2e.jvm.g1", gcs[1]);

    xpv_channel_close(ch);
    kill(agent, SIGTERM);
    waitpid(agent, NULL, 0);
    return all ? LAB_PASS : LAB_FAIL;
}

const struct lab_test lab_e2e_runtimes_tests[] = {
        {"e2e.runtimes", e2e_runtimes},
        {NULL, NULL},
};
