/*
 * callback_host.c — the host half of lab4.callback's measurement (tests/lab/e2e_callback.sh
 * boots the guest and starts the host daemon; tests/lab/e2e_callback.c is the guest half).
 *
 *   xpv-lab-cbhost XPV SOCKET REGION VM CHANGES
 *
 * Makes CHANGES topology changes through the host daemon (`XPV move VM --vcpu C --nodes K
 * --socket SOCKET`, one vCPU at a time, each to a node it is not on), and for each one waits
 * until the guest's libxpv callback has echoed it into the ivshmem region (REGION, the file
 * behind it; layout in cb_echo.h). Everything is timed on the host's clock:
 *
 *   t_pub    the host record's timestamp (the publisher's CLOCK_REALTIME, in the record)
 *   t_echo   the first poll of the echo slot that saw the callback's echo
 *   t_miss   the poll before it, which had not
 *
 * so the callback ran before t_echo and its echo was written after t_miss: host publish ->
 * guest callback lies in [t_miss - t_pub, t_echo - t_pub] (the callback writes its echo first
 * thing). The guest's own clock (the agent's republish and the callback, in the echo) is only
 * related to the host's afterwards, NTP-style: each sample bounds the offset; the bounds are
 * intersected over a window of neighbouring changes (the TCG guest's clock drifts), which
 * splits the path at the agent's republish, each part +- half the window's width.
 *
 * Checked for every change (exit 1, saying which, when not): the echo comes within 30 s, it
 * is a new callback (its count grew), the host generation it read is the change's or newer,
 * and the effective node of every CPU it reports is the one the host's placements give (the
 * VM on nodes 0-3, vNode v on node v, so vCPU c on node k has effective vNode k).
 * Exit 0 when all changes were echoed; the done word tells the guest to finish.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cb_echo.h"
#include "xpv/channel.h"

#define NCPU        4
#define CHANGE_SECS 30
#define POLL_NS     20000 /* the echo poll's sleep; the measured period is printed */

static uint64_t now_rt(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A consistent copy of the echo slot; 0 when it is being written. */
static int read_echo(const uint8_t *region, struct cb_echo *out)
{
    const struct cb_echo *e = (const struct cb_echo *)(region + CB_ECHO_OFF);
    uint32_t s1 = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
    if (s1 & 1)
        return 0;
    memcpy(out, (const void *)e, sizeof(*out));
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&e->seq, __ATOMIC_RELAXED) == s1 && out->magic == CB_ECHO_MAGIC;
}

static int echo_matches(const struct cb_echo *e, const int *want)
{
    if (e->nr_cpus < NCPU)
        return 0;
    for (int c = 0; c < NCPU; c++)
        if (e->eff[c] != want[c])
            return 0;
    return 1;
}

static void print_echo(const char *what, const struct cb_echo *e)
{
    fprintf(stderr,
            "callback: %s: count %" PRIu64 ", host generation %" PRIu64
            ", local generation %" PRIu64 ", effective nodes",
            what, e->count, e->host_gen, e->local_gen);
    for (unsigned c = 0; c < e->nr_cpus && c < CB_MAX_CPUS; c++)
        fprintf(stderr, " %d", e->eff[c]);
    fprintf(stderr, "\n");
}

static pid_t spawn_move(const char *xpv, const char *sock, const char *vm, int cpu, int node)
{
    char c[16], k[16];
    snprintf(c, sizeof(c), "%d", cpu);
    snprintf(k, sizeof(k), "%d", node);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDOUT_FILENO);
        execl(xpv, xpv, "move", vm, "--vcpu", c, "--nodes", k, "--socket", sock, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int64_t pct(int64_t *v, unsigned n, unsigned p)
{
    return v[((n - 1) * p) / 100];
}

int main(int argc, char **argv)
{
    if (argc != 6 || atoi(argv[5]) < 1) {
        fprintf(stderr, "usage: xpv-lab-cbhost XPV SOCKET REGION VM CHANGES\n");
        return 2;
    }
    const char *xpv = argv[1], *sock = argv[2], *path = argv[3], *vm = argv[4];
    unsigned changes = (unsigned)atoi(argv[5]);
    /* not a wait: the timer slack, so the echo poll's naps are as short as asked */
    prctl(PR_SET_TIMERSLACK, 1UL);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "callback: open %s: %s\n", path, strerror(errno));
        return 1;
    }
    uint8_t *region = mmap(NULL, CB_REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (region == MAP_FAILED) {
        fprintf(stderr, "callback: mmap %s (1 MiB): %s\n", path, strerror(errno));
        return 1;
    }
    struct xpv_channel *ch;
    struct xpv_error err = {0};
    int rc = xpv_channel_open_mem(region, XPV_RECORD_MAP_SIZE, &ch, &err);
    if (rc < 0) {
        fprintf(stderr, "callback: the host record in %s: %s\n", path, xpv_error_str(&err, rc));
        return 1;
    }
    const uint64_t *host_gen = (const uint64_t *)(region + XPV_RECORD_OFF_GENERATION);

    /* the start: the guest's callbacks have seen the VM on nodes 0-3 (vCPU c -> vNode c) */
    int want[NCPU] = {0, 1, 2, 3};
    struct cb_echo e = {0};
    uint64_t start_gen = __atomic_load_n(host_gen, __ATOMIC_ACQUIRE);
    int ok = 0;
    for (int i = 0; i < 1200 && !ok; i++) {
        ok = read_echo(region, &e) && echo_matches(&e, want) && e.host_gen >= start_gen;
        if (!ok)
            usleep(100000); /* not a wait: the poll interval of this 120 s loop */
    }
    if (!ok) {
        print_echo("the last echo", &e);
        fprintf(stderr,
                "callback: FAIL: no callback echoed effective nodes 0 1 2 3 at host "
                "generation %" PRIu64 " within 120 s\n",
                start_gen);
        return 1;
    }
    uint64_t last_count = e.count, last_local = e.local_gen;

    int64_t *up = calloc(changes, sizeof(int64_t)), *lo = calloc(changes, sizeof(int64_t));
    int64_t *gpub = calloc(changes, sizeof(int64_t)), *gcb = calloc(changes, sizeof(int64_t));
    int64_t *tpub = calloc(changes, sizeof(int64_t)), *tech = calloc(changes, sizeof(int64_t));
    if (!up || !lo || !gpub || !gcb || !tpub || !tech)
        return 1;
    uint64_t polls = 0, poll_ns = 0, extra_callbacks = 0;
    for (unsigned i = 0; i < changes; i++) {
        int c = (int)(i % NCPU);
        int k = (want[c] + 1 + (int)((i / NCPU) % 3)) % NCPU;
        want[c] = k;
        uint64_t prev_gen = __atomic_load_n(host_gen, __ATOMIC_ACQUIRE);
        pid_t mv = spawn_move(xpv, sock, vm, c, k);
        if (mv < 0) {
            fprintf(stderr, "callback: fork: %s\n", strerror(errno));
            return 1;
        }
        int mv_done = 0, have_pub = 0, have_echo = 0;
        uint64_t g = 0, t_pub = 0, t_echo = 0, t_prev = now_rt(), t_end = t_prev;
        t_end += (uint64_t)CHANGE_SECS * 1000000000u;
        for (;;) {
            struct timespec ts = {0, POLL_NS};
            /* not a wait: the echo poll's period inside this change's 30 s deadline */
            nanosleep(&ts, NULL);
            uint64_t t = now_rt();
            polls++;
            poll_ns += t - t_prev;
            if (!have_pub && __atomic_load_n(host_gen, __ATOMIC_ACQUIRE) > prev_gen) {
                struct xpv_snapshot *s = NULL;
                if (xpv_channel_snapshot(ch, &s, NULL) == 0 &&
                    xpv_snapshot_cpu_node(s, (unsigned)c) == k) {
                    have_pub = 1;
                    g = xpv_snapshot_generation(s);
                    t_pub = xpv_snapshot_timestamp_ns(s);
                }
                if (s)
                    xpv_snapshot_put(s);
            }
            if (have_pub && !have_echo && read_echo(region, &e) && e.count > last_count &&
                e.host_gen >= g && echo_matches(&e, want)) {
                have_echo = 1;
                t_echo = t;
                up[i] = (int64_t)(t - t_pub);
                lo[i] = (int64_t)(t_prev - t_pub);
                if (lo[i] < 0)
                    lo[i] = 0;
                gpub[i] = (int64_t)e.guest_pub_ns;
                gcb[i] = (int64_t)e.guest_cb_ns;
                tpub[i] = (int64_t)t_pub;
                tech[i] = (int64_t)t_echo;
                extra_callbacks += e.count - last_count - 1;
                if (e.local_gen <= last_local) {
                    print_echo("this echo", &e);
                    fprintf(stderr,
                            "callback: FAIL: change %u: local generation %" PRIu64
                            " not newer than the last (%" PRIu64 ")\n",
                            i + 1, e.local_gen, last_local);
                    return 1;
                }
                last_count = e.count;
                last_local = e.local_gen;
            }
            t_prev = t;
            if (!mv_done) {
                int ws;
                if (waitpid(mv, &ws, WNOHANG) == mv) {
                    mv_done = 1;
                    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
                        fprintf(stderr,
                                "callback: FAIL: change %u: %s move %s --vcpu %d "
                                "--nodes %d failed (status %d)\n",
                                i + 1, xpv, vm, c, k, ws);
                        return 1;
                    }
                }
            }
            if (mv_done && have_echo)
                break;
            if (t > t_end) {
                if (!mv_done)
                    kill(mv, SIGKILL);
                read_echo(region, &e);
                print_echo("the last echo", &e);
                fprintf(stderr,
                        "callback: FAIL: change %u (vCPU %d to node %d): %s within "
                        "%d s (host generation now %" PRIu64 ")\n",
                        i + 1, c, k,
                        !have_pub ? "the host record never showed it"
                                  : "no callback in the guest echoed it (did the agent "
                                    "republish?)",
                        CHANGE_SECS, __atomic_load_n(host_gen, __ATOMIC_ACQUIRE));
                return 1;
            }
        }
    }
    struct cb_done *d = (struct cb_done *)(region + CB_DONE_OFF);
    d->changes = changes;
    __atomic_store_n(&d->magic, CB_DONE_MAGIC, __ATOMIC_RELEASE);

    /* the guest clock against the host's, NTP-style: the agent's republish (guest clock gpub)
     * came after the host's publish (tpub) and the callback (gcb) before its echo was seen
     * (tech), so offset = guest - host lies in [gcb - tech, gpub - tpub] for each change. The
     * guest's TCG clock drifts against the host's (tens of ppm seen), so the bounds are
     * intersected over a window of WIN changes on either side, not over the whole run. */
#define WIN 8
    int64_t *oneway = calloc(changes, sizeof(int64_t)), *rcb = calloc(changes, sizeof(int64_t));
    int64_t *width = calloc(changes, sizeof(int64_t));
    if (!oneway || !rcb || !width)
        return 1;
    unsigned fit = 0, first = 0, last = 0;
    int64_t mid_first = 0, mid_last = 0;
    for (unsigned i = 0; i < changes; i++) {
        rcb[i] = gcb[i] - gpub[i]; /* agent republish -> callback (guest clock) */
        int64_t off_lo = INT64_MIN, off_hi = INT64_MAX;
        for (unsigned j = i > WIN ? i - WIN : 0; j < changes && j <= i + WIN; j++) {
            if (gcb[j] - tech[j] > off_lo)
                off_lo = gcb[j] - tech[j];
            if (gpub[j] - tpub[j] < off_hi)
                off_hi = gpub[j] - tpub[j];
        }
        if (off_lo > off_hi)
            continue;
        int64_t mid = off_lo + (off_hi - off_lo) / 2;
        if (!fit++) {
            first = i;
            mid_first = mid;
        }
        last = i;
        mid_last = mid;
        width[fit - 1] = off_hi - off_lo;
        oneway[fit - 1] = gpub[i] - mid - tpub[i]; /* host publish -> agent republish */
    }
    qsort(up, changes, sizeof(int64_t), cmp_i64);
    qsort(lo, changes, sizeof(int64_t), cmp_i64);
    qsort(rcb, changes, sizeof(int64_t), cmp_i64);
    double period_us = polls ? (double)poll_ns / (double)polls / 1000.0 : 0;
    printf("callback: host publish -> guest libxpv callback over %u changes (host clock, "
           "TCG guest): p50 %.0f us, p99 %.0f us, max %.0f us; the callback ran in "
           "[lower, upper]: p50 [%.0f, %.0f] us, p99 [%.0f, %.0f] us (the echo poll's period: "
           "%.0f us); %" PRIu64 " extra callbacks\n",
           changes, pct(up, changes, 50) / 1e3, pct(up, changes, 99) / 1e3, up[changes - 1] / 1e3,
           pct(lo, changes, 50) / 1e3, pct(up, changes, 50) / 1e3, pct(lo, changes, 99) / 1e3,
           pct(up, changes, 99) / 1e3, period_us, extra_callbacks);
    if (fit) {
        qsort(oneway, fit, sizeof(int64_t), cmp_i64);
        qsort(width, fit, sizeof(int64_t), cmp_i64);
        double drift = last > first ? (double)(mid_last - mid_first) /
                                              (double)(tpub[last] - tpub[first]) * 1e6
                                    : 0;
        printf("callback: guest clock - host clock, bounded over windows of %d changes: %.3f ms "
               "at the first change, drifting %.0f ppm; bound width p50 %.0f us, max %.0f us "
               "(%u of %u windows consistent). With it: host publish -> agent republish p50 "
               "%.0f us, p99 %.0f us (each +- half its window's width); agent republish -> "
               "callback (guest clock) p50 %.0f us, p99 %.0f us\n",
               2 * WIN + 1, mid_first / 1e6, drift, pct(width, fit, 50) / 1e3, width[fit - 1] / 1e3,
               fit, changes, pct(oneway, fit, 50) / 1e3, pct(oneway, fit, 99) / 1e3,
               pct(rcb, changes, 50) / 1e3, pct(rcb, changes, 99) / 1e3);
    } else {
        printf("callback: guest clock - host clock: no window of %d changes has one offset that "
               "fits all its samples\n",
               2 * WIN + 1);
    }
    printf("{\"changes\": %u, \"publish_to_callback_p50_us\": %.1f, "
           "\"publish_to_callback_p99_us\": %.1f, \"publish_to_callback_max_us\": %.1f, "
           "\"lower_p50_us\": %.1f, \"lower_p99_us\": %.1f, \"poll_period_us\": %.1f}\n",
           changes, pct(up, changes, 50) / 1e3, pct(up, changes, 99) / 1e3, up[changes - 1] / 1e3,
           pct(lo, changes, 50) / 1e3, pct(lo, changes, 99) / 1e3, period_us);
    fflush(stdout);
    free(up);
    free(lo);
    free(gpub);
    free(gcb);
    free(tpub);
    free(tech);
    free(oneway);
    free(rcb);
    free(width);
    xpv_channel_close(ch);
    munmap(region, CB_REGION_SIZE);
    return 0;
}
