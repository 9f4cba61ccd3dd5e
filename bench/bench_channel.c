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

/* --- 3. cross-process latency: shared state, the child, the parent's loop --- */

struct shared {
    uint64_t gen0;       /* generation before the first timed publish */
    int child_ready;     /* atomic: child subscribed and its eventfd reader runs */
    int parent_done;     /* atomic: parent sent everything; child may tear down */
    uint64_t notify_ack; /* atomic: samples the notify callback has stamped */
    uint64_t efd_ack;    /* atomic: samples the eventfd reader has stamped */
    /* followed by one lane per mechanism: 4 arrays of n words each */
};

/* One mechanism's samples: stamps (CLOCK_MONOTONIC ns) and the CPU each side ran on. */
struct lane {
    uint64_t *send, *recv, *send_cpu, *recv_cpu;
};

static struct lane lane_at(uint64_t *words, uint64_t n)
{
    return (struct lane){words, words + n, words + 2 * n, words + 3 * n};
}

static uint64_t cpu_now(void)
{
    int cpu = sched_getcpu();
    if (cpu < 0)
        fail("sched_getcpu: %s", strerror(errno));
    return (uint64_t)cpu;
}

struct child_ctx {
    struct shared *sh;
    uint64_t n;
    struct lane notify, efd;
    int efd_fd;
};

static void on_change(const struct xpv_snapshot *s, void *arg)
{
    uint64_t t = now_ns();
    struct child_ctx *c = arg;
    if (!s)
        fail("subscriber callback got a record that failed validation");
    uint64_t gen = xpv_snapshot_generation(s);
    if (gen <= c->sh->gen0 || gen - c->sh->gen0 > c->n)
        fail("callback saw generation %" PRIu64 ", expected %" PRIu64 "..%" PRIu64, gen,
             c->sh->gen0 + 1, c->sh->gen0 + c->n);
    uint64_t idx = gen - c->sh->gen0 - 1;
    c->notify.recv[idx] = t;
    c->notify.recv_cpu[idx] = cpu_now();
    __atomic_store_n(&c->sh->notify_ack, idx + 1, __ATOMIC_RELEASE);
}

static void *efd_reader(void *arg)
{
    struct child_ctx *c = arg;
    for (uint64_t i = 0; i < c->n; i++) {
        uint64_t v;
        ssize_t r = read(c->efd_fd, &v, sizeof(v));
        uint64_t t = now_ns();
        if (r != (ssize_t)sizeof(v))
            fail("read(eventfd): %s", r < 0 ? strerror(errno) : "short read");
        c->efd.recv[i] = t;
        c->efd.recv_cpu[i] = cpu_now();
        __atomic_store_n(&c->sh->efd_ack, i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void sleep_ns(long ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L};
    while (nanosleep(&ts, &ts) != 0)
        if (errno != EINTR)
            fail("nanosleep: %s", strerror(errno));
}

static __attribute__((noreturn)) void child_main(const char *path, struct child_ctx *c)
{
    struct xpv_channel *ch;
    struct xpv_error err = {0};
    int rc = xpv_channel_open(path, &ch, &err);
    if (rc < 0)
        fail("xpv_channel_open(%s): %s", path, xpv_error_str(&err, rc));
    rc = xpv_channel_subscribe(ch, on_change, c, &err);
    if (rc < 0)
        fail("xpv_channel_subscribe: %s", xpv_error_str(&err, rc));
    pthread_t th;
    rc = pthread_create(&th, NULL, efd_reader, c);
    if (rc != 0)
        fail("pthread_create: %s", strerror(rc));
    __atomic_store_n(&c->sh->child_ready, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&c->sh->parent_done, __ATOMIC_ACQUIRE))
        sleep_ns(1000000);
    rc = pthread_join(th, NULL);
    if (rc != 0)
        fail("pthread_join: %s", strerror(rc));
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

struct stats {
    double p50, p90, p99, max, mean;
    double cross_pct;           /* % of samples received on another CPU than the sender's */
    double same_p50, cross_p50; /* p50 of each group (0 when empty) */
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

/* Latencies recv - send of samples [skip, n), in microseconds. */
static struct stats latency_stats(const struct lane *l, uint64_t n, uint64_t skip)
{
    uint64_t m = n - skip, nsame = 0, ncross = 0;
    uint64_t *lat = malloc(3 * m * sizeof(*lat));
    if (!lat)
        fail("out of memory for %" PRIu64 " samples", m);
    uint64_t *same = lat + m, *cross = lat + 2 * m;
    double sum = 0;
    for (uint64_t i = 0; i < m; i++) {
        uint64_t s = l->send[skip + i], r = l->recv[skip + i];
        lat[i] = r >= s ? r - s : 0; /* same clock, stamped in order: r < s cannot happen */
        sum += (double)lat[i];
        if (l->send_cpu[skip + i] == l->recv_cpu[skip + i])
            same[nsame++] = lat[i];
        else
            cross[ncross++] = lat[i];
    }
    qsort(lat, m, sizeof(*lat), cmp_u64);
    qsort(same, nsame, sizeof(*same), cmp_u64);
    qsort(cross, ncross, sizeof(*cross), cmp_u64);
    struct stats st = {
            .p50 = pct_us(lat, m, 0.50),
            .p90 = pct_us(lat, m, 0.90),
            .p99 = pct_us(lat, m, 0.99),
            .max = pct_us(lat, m, 1.0),
            .mean = sum / (double)m / 1e3,
            .cross_pct = 100.0 * (double)ncross / (double)m,
            .same_p50 = pct_us(same, nsame, 0.50),
            .cross_p50 = pct_us(cross, ncross, 0.50),
    };
    free(lat);
    return st;
}

static void print_stats(const char *what, const struct stats *st)
{
    char same[32] = "none", cross[32] = "none";
    if (st->cross_pct < 100.0)
        snprintf(same, sizeof(same), "p50 %.1f us", st->same_p50);
    if (st->cross_pct > 0.0)
        snprintf(cross, sizeof(cross), "p50 %.1f us", st->cross_p50);
    printf("%s p50 %.1f us, p90 %.1f, p99 %.1f, max %.1f, mean %.1f\n"
           "    woken on the sender's CPU: %s; on another CPU (%.1f%% of samples): %s\n",
           what, st->p50, st->p90, st->p99, st->max, st->mean, same, st->cross_pct, cross);
}

/* a / b, 0 when b is 0 (keeps the JSON valid: no inf). */
static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench-channel [--iterations N] [--path FILE] [--help]\n"
               "  Measures the XPV channel on this machine: generation check vs a relaxed load,\n"
               "  snapshot cost, and publish->callback latency across processes vs an eventfd.\n"
               "  --iterations N  latency samples per mechanism (default 2000, at least 4)\n"
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

    printf("bench-channel: %ld online CPUs, record %s, %" PRIu64 " samples per mechanism (%" PRIu64
           " warm-up dropped)\n",
           cpus, path, n, warmup);
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

    /* Shared by both processes: the header, then a lane per mechanism. */
    size_t shsize = sizeof(struct shared) + 8 * n * sizeof(uint64_t);
    void *mem = mmap(NULL, shsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        fail("mmap(%zu bytes shared): %s", shsize, strerror(errno));
    struct shared *sh = mem;
    struct lane notify = lane_at((uint64_t *)(sh + 1), n);
    struct lane efdl = lane_at((uint64_t *)(sh + 1) + 4 * n, n);
    sh->gen0 = gen0;
    int efd = eventfd(0, EFD_CLOEXEC);
    if (efd < 0)
        fail("eventfd: %s", strerror(errno));

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
        struct child_ctx c = {.sh = sh, .n = n, .notify = notify, .efd = efdl, .efd_fd = efd};
        child_main(path, &c);
    }
    child_pid = pid;

    uint64_t start = now_ns();
    while (!__atomic_load_n(&sh->child_ready, __ATOMIC_ACQUIRE)) {
        check_child();
        if (now_ns() - start > ACK_TIMEOUT_NS)
            fail("child did not subscribe within %llu s", ACK_TIMEOUT_NS / 1000000000ull);
        sleep_ns(100000);
    }

    /* Interleaved so both mechanisms see the same machine conditions. */
    for (uint64_t i = 0; i < n; i++) {
        sleep_ns(SETTLE_NS);
        notify.send_cpu[i] = cpu_now();
        notify.send[i] = now_ns();
        publish(pub, i + 1);
        wait_ack(&sh->notify_ack, i + 1, "subscriber");

        sleep_ns(SETTLE_NS);
        uint64_t one = 1;
        efdl.send_cpu[i] = cpu_now();
        efdl.send[i] = now_ns();
        if (write(efd, &one, sizeof(one)) != (ssize_t)sizeof(one))
            fail("write(eventfd): %s", strerror(errno));
        wait_ack(&sh->efd_ack, i + 1, "eventfd");
    }
    __atomic_store_n(&sh->parent_done, 1, __ATOMIC_RELEASE);

    int status;
    if (waitpid(pid, &status, 0) != pid)
        fail("waitpid: %s", strerror(errno));
    child_pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("child ended badly (status 0x%x)", (unsigned)status);
    if (close(efd) != 0)
        fail("close(eventfd): %s", strerror(errno));

    struct stats nt = latency_stats(&notify, n, warmup);
    struct stats ev = latency_stats(&efdl, n, warmup);
    if (munmap(mem, shsize) != 0)
        fail("munmap: %s", strerror(errno));
    xpv_publisher_close(pub);
    cleanup();

    print_stats("notify  (publish -> subscriber callback, other process):", &nt);
    print_stats("eventfd (write -> read() in a thread, other process):   ", &ev);
    printf("notify p99 / eventfd p99: %.2f\n", ratio(nt.p99, ev.p99));
    printf("{\"iterations\": %" PRIu64 ", \"warmup\": %" PRIu64 ", \"cpus\": %ld, "
           "\"generation_check_ns\": %.3f, \"baseline_load_ns\": %.3f, "
           "\"generation_check_ratio\": %.3f, \"snapshot_ns\": %.1f, "
           "\"notify_p50_us\": %.2f, \"notify_p99_us\": %.2f, \"notify_max_us\": %.2f, "
           "\"eventfd_p50_us\": %.2f, \"eventfd_p99_us\": %.2f, \"eventfd_max_us\": %.2f, "
           "\"notify_vs_eventfd_p99\": %.3f, \"notify_cross_cpu_pct\": %.1f, "
           "\"eventfd_cross_cpu_pct\": %.1f}\n",
           n, warmup, cpus, gen_ns, base_ns, ratio(gen_ns, base_ns), snap_ns, nt.p50, nt.p99,
           nt.max, ev.p50, ev.p99, ev.max, ratio(nt.p99, ev.p99), nt.cross_pct, ev.cross_pct);
    return 0;
}
