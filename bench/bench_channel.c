/*
 * bench_channel.c — what the XPV channel costs its readers, measured on this machine, each
 * figure next to a baseline measured in the same run so the number means something here:
 *
 *   generation check   xpv_channel_generation(ch), the fast path a runtime polls; baseline:
 *                      the same loop over a relaxed __atomic_load_n of a local uint64_t (the
 *                      cheapest a "has it changed?" word can be). Loops alternate in chunks.
 *   snapshot           xpv_channel_snapshot + xpv_snapshot_put of a 4-node record, no writer.
 *   notify latency     publish -> subscriber callback across processes: the parent publishes,
 *                      a forked child's watcher thread (xpv_channel_subscribe) stamps receipt.
 *                      Baseline: an eventfd written by the parent and read() by a thread of
 *                      the same child, interleaved with the notify samples, same ack protocol.
 *
 *   bench-channel [--iterations N] [--path FILE] [--help]
 *
 * Protocol per sample (both mechanisms): the parent stamps CLOCK_MONOTONIC into a shared
 * array, publishes (or writes the eventfd), then spins (sched_yield) on a shared ack counter
 * that the child bumps after stamping its receive time; latency = recv - send. After each ack
 * the parent sleeps ~100 us so the receiver is blocked again before the next send (the case
 * that matters: topology changes are rare). The first 50 samples (fewer for small N) are
 * warm-up and dropped. Percentiles: sorted samples, index floor(p * (n - 1)).
 *
 * Output: human-readable lines, then as the last line one JSON object. Timings are never
 * asserted here; docs/bench-channel.md records the figures and the targets.
 * Exit: 0 measured, 1 a call failed (the message says which), 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xpv/channel.h"
#include "xpv/publisher.h"
#include "xpv/record.h"

#define GEN_CALLS       100000000ull /* generation check and baseline: calls each */
#define GEN_CHUNKS      10           /* alternate the two loops this many times */
#define SNAPSHOTS_PER_I 100          /* snapshot calls per --iterations */
#define WARMUP          50
#define ACK_TIMEOUT_NS  5000000000ull
#define SETTLE_NS       100000L

/* --- failure handling: one place that cleans up (parent) or just exits (child) --- */

static bool is_child;
static pid_t child_pid;
static char tmp_dir[64], tmp_path[96];

static void cleanup(void)
{
    if (child_pid > 0) {
        kill(child_pid, SIGKILL);
        waitpid(child_pid, NULL, 0);
        child_pid = 0;
    }
    if (tmp_path[0]) {
        unlink(tmp_path);
        tmp_path[0] = 0;
    }
    if (tmp_dir[0]) {
        rmdir(tmp_dir);
        tmp_dir[0] = 0;
    }
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench-channel%s: ", is_child ? " (child)" : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (is_child)
        _exit(1);
    cleanup();
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        fail("clock_gettime(CLOCK_MONOTONIC): %s", strerror(errno));
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- the record: 4 physical nodes (ids 0..3, SLIT 10/20/30/40), 2 virtual nodes, 8 CPUs;
 * CPU placement and backing sizes vary with k so every published record differs --- */

struct bench_desc {
    struct xpv_record_desc d;
    uint32_t ids[4];
    uint16_t cpu_p[8], cpu_v[8], dist[16];
    struct xpv_record_backing bk[4];
};

static void desc_make(struct bench_desc *b, uint64_t k)
{
    memset(b, 0, sizeof(*b));
    for (unsigned i = 0; i < 4; i++) {
        b->ids[i] = i;
        b->bk[i] = (struct xpv_record_backing){.vnode = (uint16_t)(i / 2),
                                               .pnode = (uint16_t)i,
                                               .bytes = (1ull << 30) + (k << 12)};
        for (unsigned j = 0; j < 4; j++)
            b->dist[i * 4 + j] = (uint16_t)(10 + 10 * (i > j ? i - j : j - i));
    }
    for (unsigned c = 0; c < 8; c++) {
        b->cpu_p[c] = (uint16_t)((c + k) % 4);
        b->cpu_v[c] = (uint16_t)(c / 4);
    }
    b->d = (struct xpv_record_desc){.nr_pnodes = 4,
                                    .nr_vnodes = 2,
                                    .nr_cpus = 8,
                                    .nr_backing = 4,
                                    .pnode_ids = b->ids,
                                    .cpu_pnode = b->cpu_p,
                                    .cpu_vnode = b->cpu_v,
                                    .backing = b->bk,
                                    .distance = b->dist};
}

static uint64_t publish(struct xpv_publisher *p, uint64_t k)
{
    struct bench_desc b;
    struct xpv_error err = {0};
    uint64_t gen = 0;
    desc_make(&b, k);
    int rc = xpv_publisher_publish(p, &b.d, &gen, &err);
    if (rc < 0)
        fail("xpv_publisher_publish: %s", xpv_error_str(&err, rc));
    return gen;
}

/* --- 1. the generation check against a plain relaxed load --- */

static volatile uint64_t sink;

static __attribute__((noinline)) uint64_t loop_generation(const struct xpv_channel *ch, uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++)
        acc += xpv_channel_generation(ch);
    return acc;
}

static __attribute__((noinline)) uint64_t loop_baseline(const uint64_t *word, uint64_t n)
{
    uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++)
        acc += __atomic_load_n(word, __ATOMIC_RELAXED);
    return acc;
}

static void bench_generation(const struct xpv_channel *ch, double *gen_ns, double *base_ns)
{
    uint64_t local = 1;
    const uint64_t *volatile word = &local; /* the optimizer cannot know what it points at */
    uint64_t per = GEN_CALLS / GEN_CHUNKS, t_gen = 0, t_base = 0;
    for (int r = 0; r < GEN_CHUNKS; r++) {
        uint64_t t0 = now_ns();
        sink += loop_generation(ch, per);
        uint64_t t1 = now_ns();
        sink += loop_baseline(word, per);
        uint64_t t2 = now_ns();
        t_gen += t1 - t0;
        t_base += t2 - t1;
    }
    *gen_ns = (double)t_gen / (double)(per * GEN_CHUNKS);
    *base_ns = (double)t_base / (double)(per * GEN_CHUNKS);
}

/* --- 2. snapshot + put --- */

static double bench_snapshot(struct xpv_channel *ch, uint64_t n)
{
    struct xpv_error err = {0};
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < n; i++) {
        struct xpv_snapshot *s;
        int rc = xpv_channel_snapshot(ch, &s, &err);
        if (rc < 0)
            fail("xpv_channel_snapshot: %s", xpv_error_str(&err, rc));
        sink += xpv_snapshot_nr_nodes(s);
        xpv_snapshot_put(s);
    }
    return (double)(now_ns() - t0) / (double)n;
}

/* --- 3. wake-up latency across processes, per mechanism and per CPU class ---
 *
 * Three mechanisms wake a blocked thread of the child:
 *   notify   xpv_publisher_publish -> libxpv's watcher thread (futex on the record's seq
 *            word, snapshot, validate) -> the subscriber callback;
 *   eventfd  write() -> a thread blocked in read();
 *   futex    the floor: a relaxed increment of a word in MAP_SHARED memory + FUTEX_WAKE (the
 *            same shared, INT_MAX wake the publisher makes) -> a thread in FUTEX_WAIT on it.
 * Two classes, every thread pinned with sched_setaffinity to one CPU: "same" puts the parent
 * (the sender) and the three receivers on CPU a; "cross" keeps the parent on a and moves the
 * receivers to CPU b. The classes alternate in blocks, the mechanisms rotate sample by sample,
 * so every (class, mechanism) series sees the same machine. */

enum { M_NOTIFY, M_EVENTFD, M_FUTEX, NMECH };
enum { C_SAME, C_CROSS, NCLS };
static const char *const mech_name[NMECH] = {"notify", "eventfd", "futex"};
static const char *const cls_key[NCLS] = {"same_cpu", "cross_cpu"};

#define BLOCK 25 /* samples per mechanism before the class changes */

/* What one receiver reports: written by the child, acknowledged through ack. */
struct rx {
    uint64_t ack;      /* atomic: samples stamped */
    uint64_t recv_ns;  /* CLOCK_MONOTONIC when the last one was received */
    uint64_t recv_cpu; /* the CPU it was received on */
    int32_t tid;       /* atomic: the receiving thread, for the parent to pin */
    int32_t pad;
};

struct shared {
    uint64_t gen0;       /* generation before the first publish the child sees */
    int child_ready;     /* atomic: the child has subscribed; publishes from now on reach it */
    int quit;            /* atomic: the parent is done; receivers return */
    uint32_t futex_word; /* the bare futex baseline's word */
    struct rx rx[NMECH];
};

static uint64_t cpu_now(void)
{
    int cpu = sched_getcpu();
    if (cpu < 0)
        fail("sched_getcpu: %s", strerror(errno));
    return (uint64_t)cpu;
}

static int32_t my_tid(void)
{
    return (int32_t)syscall(SYS_gettid);
}

static void rx_stamp(struct rx *r, uint64_t t)
{
    r->recv_ns = t;
    r->recv_cpu = cpu_now();
    __atomic_store_n(&r->ack, r->ack + 1, __ATOMIC_RELEASE);
}

struct child_ctx {
    struct shared *sh;
    int efd_fd;
    uint64_t last_gen;
};

static void on_change(const struct xpv_snapshot *s, void *arg)
{
    uint64_t t = now_ns();
    struct child_ctx *c = arg;
    if (!s)
        fail("subscriber callback got a record that failed validation");
    uint64_t gen = xpv_snapshot_generation(s);
    if (gen <= c->last_gen)
        fail("callback saw generation %" PRIu64 " after %" PRIu64, gen, c->last_gen);
    if (gen != c->last_gen + 1)
        fail("callback skipped generations %" PRIu64 "..%" PRIu64
             " (one publish per acknowledged sample: a wake-up was lost or merged)",
             c->last_gen + 1, gen - 1);
    c->last_gen = gen;
    struct rx *r = &c->sh->rx[M_NOTIFY];
    if (!__atomic_load_n(&r->tid, __ATOMIC_RELAXED))
        __atomic_store_n(&r->tid, my_tid(), __ATOMIC_RELEASE); /* after the stamp: untimed */
    rx_stamp(r, t);
}

static void *efd_reader(void *arg)
{
    struct child_ctx *c = arg;
    struct rx *r = &c->sh->rx[M_EVENTFD];
    __atomic_store_n(&r->tid, my_tid(), __ATOMIC_RELEASE);
    for (;;) {
        uint64_t v;
        ssize_t n = read(c->efd_fd, &v, sizeof(v));
        uint64_t t = now_ns();
        if (n != (ssize_t)sizeof(v))
            fail("read(eventfd): %s", n < 0 ? strerror(errno) : "short read");
        if (__atomic_load_n(&c->sh->quit, __ATOMIC_ACQUIRE))
            return NULL;
        rx_stamp(r, t);
    }
}

static void *futex_reader(void *arg)
{
    struct child_ctx *c = arg;
    struct rx *r = &c->sh->rx[M_FUTEX];
    uint32_t *word = &c->sh->futex_word;
    uint32_t seen = __atomic_load_n(word, __ATOMIC_ACQUIRE);
    __atomic_store_n(&r->tid, my_tid(), __ATOMIC_RELEASE);
    for (;;) {
        uint32_t w;
        while ((w = __atomic_load_n(word, __ATOMIC_ACQUIRE)) == seen)
            if (syscall(SYS_futex, word, FUTEX_WAIT, seen, NULL, NULL, 0) < 0 && errno != EAGAIN &&
                errno != EINTR)
                fail("futex(FUTEX_WAIT): %s", strerror(errno));
        uint64_t t = now_ns();
        seen = w;
        if (__atomic_load_n(&c->sh->quit, __ATOMIC_ACQUIRE))
            return NULL;
        rx_stamp(r, t);
    }
}

static __attribute__((noreturn)) void child_main(const char *path, struct child_ctx *c)
{
    struct xpv_channel *ch;
    struct xpv_error err = {0};
    int rc = xpv_channel_open(path, &ch, &err);
    if (rc < 0)
        fail("xpv_channel_open(%s): %s", path, xpv_error_str(&err, rc));
    c->last_gen = c->sh->gen0;
    rc = xpv_channel_subscribe(ch, on_change, c, &err);
    if (rc < 0)
        fail("xpv_channel_subscribe: %s", xpv_error_str(&err, rc));
    __atomic_store_n(&c->sh->child_ready, 1, __ATOMIC_RELEASE);
    pthread_t th[2];
    void *(*fn[2])(void *) = {efd_reader, futex_reader};
    for (int i = 0; i < 2; i++) {
        rc = pthread_create(&th[i], NULL, fn[i], c);
        if (rc != 0)
            fail("pthread_create: %s", strerror(rc));
    }
    /* The readers return when the parent sets quit and wakes them; the watcher is stopped
     * by unsubscribe. Nothing here polls: an idle child adds no wake-ups of its own. */
    for (int i = 0; i < 2; i++) {
        rc = pthread_join(th[i], NULL);
        if (rc != 0)
            fail("pthread_join: %s", strerror(rc));
    }
    xpv_channel_unsubscribe(ch);
    xpv_channel_close(ch);
    _exit(0);
}

/* The child must still be running; a dead child ends the run with its status. */
static void check_child(void)
{
    int status;
    pid_t r = waitpid(child_pid, &status, WNOHANG);
    if (r == 0)
        return;
    if (r < 0)
        fail("waitpid: %s", strerror(errno));
    child_pid = 0;
    if (WIFSIGNALED(status))
        fail("child killed by signal %d", WTERMSIG(status));
    fail("child exited early with status %d", WEXITSTATUS(status));
}

static void wait_ack(const uint64_t *ack, uint64_t want, const char *what)
{
    uint64_t start = now_ns();
    for (unsigned spins = 1;; spins++) {
        if (__atomic_load_n(ack, __ATOMIC_ACQUIRE) >= want)
            return;
        sched_yield();
        if ((spins & 1023) == 0) {
            check_child();
            if (now_ns() - start > ACK_TIMEOUT_NS)
                fail("no %s acknowledgement of sample %" PRIu64 " within %llu s", what, want,
                     ACK_TIMEOUT_NS / 1000000000ull);
        }
    }
}

static void sleep_ns(long ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L};
    while (nanosleep(&ts, &ts) != 0)
        if (errno != EINTR)
            fail("nanosleep: %s", strerror(errno));
}

static void pin(pid_t tid, int cpu, const char *who)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(tid, sizeof(set), &set) != 0)
        fail("sched_setaffinity(%s, CPU %d): %s (is the CPU in this process's cpuset?)", who, cpu,
             strerror(errno));
}

/* The parent's side of the latency run. */
struct run {
    struct shared *sh;
    struct xpv_publisher *pub;
    int efd;
    uint64_t sent[NMECH]; /* samples sent per mechanism (including untimed ones) */
    uint64_t published;   /* records published so far, for desc_make */
};

/* One wake-up of mechanism m; its latency in ns, *rcpu the CPU the receiver ran on. */
static uint64_t sample(struct run *r, int m, uint64_t *scpu, uint64_t *rcpu)
{
    sleep_ns(SETTLE_NS); /* the receiver is blocked again: the case that matters */
    uint64_t want = ++r->sent[m];
    *scpu = cpu_now();
    uint64_t t0 = now_ns();
    if (m == M_NOTIFY) {
        publish(r->pub, ++r->published);
    } else if (m == M_EVENTFD) {
        uint64_t one = 1;
        if (write(r->efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
            fail("write(eventfd): %s", strerror(errno));
    } else {
        __atomic_fetch_add(&r->sh->futex_word, 1, __ATOMIC_RELEASE);
        syscall(SYS_futex, &r->sh->futex_word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    }
    wait_ack(&r->sh->rx[m].ack, want, mech_name[m]);
    uint64_t t1 = __atomic_load_n(&r->sh->rx[m].recv_ns, __ATOMIC_RELAXED);
    *rcpu = r->sh->rx[m].recv_cpu;
    return t1 >= t0 ? t1 - t0 : 0; /* same clock, stamped in order: t1 < t0 cannot happen */
}

struct stats {
    double p50, p90, p99, max, mean;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *sorted, uint64_t m, double p)
{
    return m ? (double)sorted[(uint64_t)(p * (double)(m - 1))] / 1e3 : 0;
}

/* Latencies lat[skip, n) in ns; sorts that range in place. */
static struct stats latency_stats(uint64_t *lat, uint64_t n, uint64_t skip)
{
    uint64_t m = n - skip;
    double sum = 0;
    for (uint64_t i = skip; i < n; i++)
        sum += (double)lat[i];
    qsort(lat + skip, m, sizeof(*lat), cmp_u64);
    return (struct stats){
            .p50 = pct_us(lat + skip, m, 0.50),
            .p90 = pct_us(lat + skip, m, 0.90),
            .p99 = pct_us(lat + skip, m, 0.99),
            .max = pct_us(lat + skip, m, 1.0),
            .mean = m ? sum / (double)m / 1e3 : 0,
    };
}

/* a / b, 0 when b is 0 (keeps the JSON valid: no inf). */
static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

/* The 1-minute load average, -1 when /proc/loadavg cannot be read. */
static double loadavg1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "re");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench-channel [--iterations N] [--path FILE] [--help]\n"
               "  Measures the XPV channel on this machine: generation check vs a relaxed load,\n"
               "  snapshot cost, and publish->callback wake-up latency across processes against\n"
               "  an eventfd and a bare futex wake, with sender and receivers pinned to the same\n"
               "  CPU and to two different CPUs (the first two CPUs this process may run on).\n"
               "  --iterations N  latency samples per mechanism and class (default 2000, >= 4)\n"
               "  --path FILE     record file to publish into (default: a fresh dir in /tmp)\n"
               "  The last line of output is one JSON object with every figure.\n");
}

int main(int argc, char **argv)
{
    uint64_t n = 2000;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--iterations") && i + 1 < argc) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(argv[++i], &end, 10);
            if (errno || *end || end == argv[i] || v < 4 || v > 100000000ull) {
                fprintf(stderr, "bench-channel: --iterations wants a number >= 4, got '%s'\n",
                        argv[i]);
                return 2;
            }
            n = v;
        } else if (!strcmp(argv[i], "--path") && i + 1 < argc) {
            path = argv[++i];
        } else {
            fprintf(stderr, "bench-channel: unknown or incomplete argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    uint64_t warmup = n >= 2 * WARMUP ? WARMUP : n / 4;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        fail("sysconf(_SC_NPROCESSORS_ONLN): %s", strerror(errno));
    /* the two CPUs: the first two this process may run on */
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
        fail("sched_getaffinity: %s", strerror(errno));
    int cpu_a = -1, cpu_b = -1;
    for (int c = 0; c < CPU_SETSIZE && cpu_b < 0; c++)
        if (CPU_ISSET(c, &allowed)) {
            if (cpu_a < 0)
                cpu_a = c;
            else
                cpu_b = c;
        }
    if (cpu_a < 0)
        fail("sched_getaffinity returned no CPU");
    int ncls = cpu_b >= 0 ? NCLS : 1; /* one CPU: no cross-CPU class to measure */
    double load_start = loadavg1();

    if (!path) {
        strcpy(tmp_dir, "/tmp/bench-channel-XXXXXX");
        if (!mkdtemp(tmp_dir)) {
            tmp_dir[0] = 0;
            fail("mkdtemp(/tmp/bench-channel-XXXXXX): %s", strerror(errno));
        }
        snprintf(tmp_path, sizeof(tmp_path), "%s/record", tmp_dir);
        path = tmp_path;
    }

    struct xpv_error err = {0};
    struct xpv_publisher *pub;
    int rc = xpv_publisher_open(path, &pub, &err);
    if (rc < 0)
        fail("xpv_publisher_open(%s): %s", path, xpv_error_str(&err, rc));
    uint64_t gen0 = publish(pub, 0);
    struct xpv_channel *ch;
    rc = xpv_channel_open(path, &ch, &err);
    if (rc < 0)
        fail("xpv_channel_open(%s): %s", path, xpv_error_str(&err, rc));
    if (xpv_channel_generation(ch) != gen0)
        fail("reader sees generation %" PRIu64 " after publishing %" PRIu64,
             xpv_channel_generation(ch), gen0);

    printf("bench-channel: %ld online CPUs, record %s, %" PRIu64
           " samples per mechanism and class (%" PRIu64 " warm-up dropped), load average %.2f\n",
           cpus, path, n, warmup, load_start);
    fflush(stdout);

    double gen_ns, base_ns;
    bench_generation(ch, &gen_ns, &base_ns);
    printf("generation check: %.3f ns/call; baseline relaxed load of a local: %.3f ns/call; "
           "ratio %.2f (%llu calls each)\n",
           gen_ns, base_ns, ratio(gen_ns, base_ns), GEN_CALLS);
    uint64_t nsnap = n * SNAPSHOTS_PER_I;
    double snap_ns = bench_snapshot(ch, nsnap);
    printf("snapshot + put (4 nodes, 8 CPUs, no writer): %.1f ns/call (%" PRIu64 " calls)\n",
           snap_ns, nsnap);
    xpv_channel_close(ch);
    fflush(stdout); /* the child inherits stdio buffers */

    struct shared *sh =
            mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        fail("mmap(%zu bytes shared): %s", sizeof(*sh), strerror(errno));
    sh->gen0 = gen0;
    int efd = eventfd(0, EFD_CLOEXEC);
    if (efd < 0)
        fail("eventfd: %s", strerror(errno));
    uint64_t *lat = calloc((size_t)NCLS * NMECH * n, sizeof(*lat));
    if (!lat)
        fail("out of memory for %" PRIu64 " samples", (uint64_t)NCLS * NMECH * n);

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        fail("fork: %s", strerror(errno));
    if (pid == 0) {
        is_child = true;
        /* A parent that dies (killed mid-run) takes the child with it. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
            fail("prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
        if (getppid() != parent)
            fail("parent exited before the child started");
        xpv_publisher_close(pub); /* the parent's copy keeps the flock */
        struct child_ctx c = {.sh = sh, .efd_fd = efd};
        child_main(path, &c);
    }
    child_pid = pid;

    /* A publish before the child subscribes would never be called back. */
    uint64_t start = now_ns();
    while (!__atomic_load_n(&sh->child_ready, __ATOMIC_ACQUIRE)) {
        check_child();
        if (now_ns() - start > ACK_TIMEOUT_NS)
            fail("child did not subscribe within %llu s", ACK_TIMEOUT_NS / 1000000000ull);
        sleep_ns(100000);
    }
    /* One untimed publish so the watcher thread names itself; the readers name themselves
     * when they start. */
    struct run r = {.sh = sh, .pub = pub, .efd = efd, .published = 0};
    uint64_t scpu, rcpu;
    pin(0, cpu_a, "the parent");
    sample(&r, M_NOTIFY, &scpu, &rcpu);
    pid_t tids[NMECH];
    start = now_ns();
    for (int m = 0; m < NMECH; m++)
        while (!(tids[m] = __atomic_load_n(&sh->rx[m].tid, __ATOMIC_ACQUIRE))) {
            check_child();
            if (now_ns() - start > ACK_TIMEOUT_NS)
                fail("the child's %s receiver did not start within %llu s", mech_name[m],
                     ACK_TIMEOUT_NS / 1000000000ull);
            sleep_ns(100000);
        }

    /* Classes alternate in blocks; after each re-pin one untimed round per mechanism lets
     * every receiver move to its new CPU, so no timed sample includes a migration. Within a
     * block the order of the mechanisms rotates from sample to sample. */
    uint64_t off_class = 0;
    for (uint64_t done = 0; done < n; done += BLOCK) {
        uint64_t len = n - done < BLOCK ? n - done : BLOCK;
        for (int c = 0; c < ncls; c++) {
            int rcpu_want = c == C_SAME ? cpu_a : cpu_b;
            for (int m = 0; m < NMECH; m++)
                pin(tids[m], rcpu_want, mech_name[m]);
            for (int m = 0; m < NMECH; m++)
                sample(&r, m, &scpu, &rcpu);
            for (uint64_t j = 0; j < len; j++)
                for (int k = 0; k < NMECH; k++) {
                    int m = (int)((done + j + (uint64_t)k) % NMECH);
                    uint64_t v = sample(&r, m, &scpu, &rcpu);
                    lat[((size_t)c * NMECH + (size_t)m) * n + done + j] = v;
                    if (scpu != (uint64_t)cpu_a || rcpu != (uint64_t)rcpu_want)
                        off_class++;
                }
        }
    }

    __atomic_store_n(&sh->quit, 1, __ATOMIC_RELEASE);
    uint64_t one = 1;
    if (write(efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
        fail("write(eventfd): %s", strerror(errno));
    __atomic_fetch_add(&sh->futex_word, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &sh->futex_word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        fail("waitpid: %s", strerror(errno));
    child_pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("child ended badly (status 0x%x)", (unsigned)status);
    if (close(efd) != 0)
        fail("close(eventfd): %s", strerror(errno));
    if (munmap(sh, sizeof(*sh)) != 0)
        fail("munmap: %s", strerror(errno));
    xpv_publisher_close(pub);
    cleanup();
    double load_end = loadavg1();
    /* Every thread had a one-CPU mask: a sample elsewhere means the pinning did not hold
     * (a cpuset changed under the run), and the classes would be mixed again. */
    if (off_class)
        fail("%" PRIu64 " samples ran on other CPUs than their class pins them to", off_class);

    struct stats st[NCLS][NMECH];
    for (int c = 0; c < ncls; c++)
        for (int m = 0; m < NMECH; m++)
            st[c][m] = latency_stats(lat + ((size_t)c * NMECH + (size_t)m) * n, n, warmup);
    free(lat);

    for (int c = 0; c < ncls; c++) {
        if (c == C_SAME)
            printf("same-CPU wake-ups (sender and receivers pinned to CPU %d):\n", cpu_a);
        else
            printf("cross-CPU wake-ups (sender pinned to CPU %d, receivers to CPU %d):\n", cpu_a,
                   cpu_b);
        for (int m = 0; m < NMECH; m++)
            printf("  %-8s p50 %6.1f us, p90 %6.1f, p99 %6.1f, max %7.1f, mean %6.1f\n",
                   mech_name[m], st[c][m].p50, st[c][m].p90, st[c][m].p99, st[c][m].max,
                   st[c][m].mean);
        printf("  notify / eventfd: p50 %.2f, p99 %.2f; notify / futex: p50 %.2f, p99 %.2f; "
               "eventfd / futex: p99 %.2f\n",
               ratio(st[c][M_NOTIFY].p50, st[c][M_EVENTFD].p50),
               ratio(st[c][M_NOTIFY].p99, st[c][M_EVENTFD].p99),
               ratio(st[c][M_NOTIFY].p50, st[c][M_FUTEX].p50),
               ratio(st[c][M_NOTIFY].p99, st[c][M_FUTEX].p99),
               ratio(st[c][M_EVENTFD].p99, st[c][M_FUTEX].p99));
    }
    if (ncls < NCLS)
        printf("cross-CPU wake-ups: not measured, this process may run on one CPU only\n");
    printf("load average: %.2f at the start, %.2f at the end\n", load_start, load_end);

    printf("{\"iterations\": %" PRIu64 ", \"warmup\": %" PRIu64 ", \"cpus\": %ld, "
           "\"cpu_a\": %d, \"cpu_b\": %d, \"loadavg_start\": %.2f, \"loadavg_end\": %.2f, "
           "\"generation_check_ns\": %.3f, \"baseline_load_ns\": %.3f, "
           "\"generation_check_ratio\": %.3f, \"snapshot_ns\": %.1f",
           n, warmup, cpus, cpu_a, cpu_b, load_start, load_end, gen_ns, base_ns,
           ratio(gen_ns, base_ns), snap_ns);
    for (int c = 0; c < NCLS; c++) {
        const char *k = cls_key[c];
        if (c >= ncls) {
            printf(", \"%s_notify_vs_eventfd_p99\": null, \"%s_notify_vs_futex_p99\": null", k, k);
            continue;
        }
        for (int m = 0; m < NMECH; m++)
            printf(", \"%s_%s_p50_us\": %.2f, \"%s_%s_p99_us\": %.2f, \"%s_%s_max_us\": %.2f", k,
                   mech_name[m], st[c][m].p50, k, mech_name[m], st[c][m].p99, k, mech_name[m],
                   st[c][m].max);
        printf(", \"%s_notify_vs_eventfd_p99\": %.3f, \"%s_notify_vs_futex_p99\": %.3f, "
               "\"%s_eventfd_vs_futex_p99\": %.3f, \"%s_notify_vs_eventfd_p50\": %.3f",
               k, ratio(st[c][M_NOTIFY].p99, st[c][M_EVENTFD].p99), k,
               ratio(st[c][M_NOTIFY].p99, st[c][M_FUTEX].p99), k,
               ratio(st[c][M_EVENTFD].p99, st[c][M_FUTEX].p99), k,
               ratio(st[c][M_NOTIFY].p50, st[c][M_EVENTFD].p50));
    }
    printf("}\n");
    return 0;
}
