/*
 * e2e_callback.c — the guest half of lab4.callback: host publish -> guest libxpv callback,
 * end to end, timed on one clock (tests/lab/e2e_callback.sh and callback_host.c are the host
 * half; docs/guestd.md, "Host publish to guest callback").
 *
 * The guest runs the real agent (/bin/xpv guestd) on the real devices and subscribes to the
 * agent's local record with libxpv. Each callback writes back what it got (the snapshot's
 * generation and effective nodes, the host record's generation word at that moment, the guest
 * clock) to the echo slot in the upper half of the ivshmem region (tests/lab/cb_echo.h), which
 * the host polls: the host's clock times its publish and the echo's arrival, so the two
 * clocks never meet in one difference.
 *
 *   XPV-CB READY   agent up, subscribed, echo slot live
 *   XPV-CB DONE    the host wrote its done word: every change it made was echoed
 *
 * Only run when named (e2e.* tests need their host half).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cb_echo.h"
#include "lab.h"
#include "xpv/channel.h"

#define CB_RECORD  "/tmp/xpv-topology-cb"
#define CB_MAX_LAT 4096

static uint64_t now_rt(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* BAR 2 of the first PCI 1af4:1110 device (the agent finds it the same way), mapped
 * read-write: the record's half is only read here, the echo half written. */
static void *map_ivshmem(char *why, size_t len)
{
    DIR *d = opendir("/sys/bus/pci/devices");
    if (!d) {
        snprintf(why, len, "cannot list /sys/bus/pci/devices: %s", strerror(errno));
        return NULL;
    }
    struct dirent *de;
    void *map = NULL;
    snprintf(why, len, "no PCI 1af4:1110 (ivshmem) device");
    while (!map && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[512], v[16] = "", dv[16] = "";
        FILE *f;
        snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/vendor", de->d_name);
        if ((f = fopen(p, "r"))) {
            if (!fgets(v, sizeof(v), f))
                v[0] = 0;
            fclose(f);
        }
        snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/device", de->d_name);
        if ((f = fopen(p, "r"))) {
            if (!fgets(dv, sizeof(dv), f))
                dv[0] = 0;
            fclose(f);
        }
        if (strncmp(v, "0x1af4", 6) || strncmp(dv, "0x1110", 6))
            continue;
        snprintf(p, sizeof(p), "/sys/bus/pci/devices/%s/resource2", de->d_name);
        int fd = open(p, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            snprintf(why, len, "open %s: %s", p, strerror(errno));
            break;
        }
        map = mmap(NULL, CB_REGION_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (map == MAP_FAILED) {
            snprintf(why, len, "mmap %s: %s", p, strerror(errno));
            map = NULL;
        }
    }
    closedir(d);
    return map;
}

struct cb_state {
    uint8_t *bar;
    pthread_mutex_t mu;
    uint64_t count;          /* echoes: the initial state, then one per callback */
    uint64_t last_local_gen; /* the newest generation echoed */
    uint64_t callbacks, last_cb_gen, regressions; /* callbacks, each newer than the last */
    unsigned n;                                   /* guest-clock samples */
    uint64_t us[CB_MAX_LAT];                      /* agent republish -> callback, guest clock */
};

/* The echo of snapshot s (a callback's, or the state at subscription when initial), under
 * the slot's sequence word. Called with st->mu held. */
static void echo(struct cb_state *st, const struct xpv_snapshot *s, uint64_t t)
{
    struct cb_echo *e = (struct cb_echo *)(st->bar + CB_ECHO_OFF);
    const uint64_t *host_gen = (const uint64_t *)(st->bar + XPV_RECORD_OFF_GENERATION);
    uint32_t seq = __atomic_load_n(&e->seq, __ATOMIC_RELAXED);
    __atomic_store_n(&e->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    e->host_gen = __atomic_load_n(host_gen, __ATOMIC_ACQUIRE);
    e->local_gen = xpv_snapshot_generation(s);
    e->guest_pub_ns = xpv_snapshot_timestamp_ns(s);
    e->guest_cb_ns = t;
    unsigned nc = xpv_snapshot_nr_cpus(s);
    e->nr_cpus = nc < CB_MAX_CPUS ? nc : CB_MAX_CPUS;
    for (unsigned c = 0; c < CB_MAX_CPUS; c++)
        e->eff[c] = c < nc ? xpv_snapshot_effective_node(s, c) : -1;
    e->count = st->count;
    e->magic = CB_ECHO_MAGIC;
    __atomic_store_n(&e->seq, seq + 2, __ATOMIC_RELEASE);
}

static void on_change(const struct xpv_snapshot *s, void *arg)
{
    uint64_t t = now_rt();
    struct cb_state *st = arg;
    if (!s)
        return;
    pthread_mutex_lock(&st->mu);
    uint64_t lg = xpv_snapshot_generation(s);
    uint64_t pub = xpv_snapshot_timestamp_ns(s);
    st->regressions += lg <= st->last_cb_gen;
    st->last_cb_gen = lg;
    if (lg > st->last_local_gen)
        st->last_local_gen = lg;
    st->count++;
    st->callbacks++;
    if (st->n < CB_MAX_LAT && t >= pub)
        st->us[st->n++] = (t - pub) / 1000u;
    echo(st, s, t); /* first thing after the reads: the host times its arrival */
    pthread_mutex_unlock(&st->mu);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static enum lab_result e2e_callback(const struct lab_env *env)
{
    LAB_CHECK(env->topo->nr_nodes == 4, "the callback test wants the 4-node guest, got %u nodes",
              env->topo->nr_nodes);
    char why[600];
    uint8_t *bar = map_ivshmem(why, sizeof(why));
    LAB_CHECK(bar, "the ivshmem region: %s (booted without run-lab.sh --channel?)", why);
    setenv("XPV_RECORD", CB_RECORD, 1);
    pid_t agent = fork();
    if (agent == 0) {
        char *argv[] = {"xpv", "guestd", "-v", "--poll", "50ms", "--stats", NULL};
        execv("/bin/xpv", argv);
        _exit(127);
    }
    LAB_CHECK(agent > 0, "fork: %s", strerror(errno));
    struct xpv_channel *ch = NULL;
    for (int i = 0; i < 100 && xpv_channel_open(CB_RECORD, &ch, NULL) < 0; i++)
        usleep(100000); /* not a wait: the poll interval of this 10 s loop */
    LAB_CHECK(ch, "the agent published no local record at %s within 10 s", CB_RECORD);

    static struct cb_state st = {.mu = PTHREAD_MUTEX_INITIALIZER};
    st.bar = bar;
    struct xpv_error err = {0};
    int rc = xpv_channel_subscribe(ch, on_change, &st, &err);
    LAB_CHECK(rc == 0, "subscribe: %s", xpv_error_str(&err, rc));
    /* a subscription reports changes after it: the state at subscription is echoed here (not
     * a callback; no latency sample), unless a callback already echoed it (the agent may
     * publish its first record between the open and the subscription: then both see it) */
    struct xpv_snapshot *s0 = NULL;
    rc = xpv_channel_snapshot(ch, &s0, &err);
    LAB_CHECK(rc == 0, "snapshot of the local record: %s", xpv_error_str(&err, rc));
    pthread_mutex_lock(&st.mu);
    if (xpv_snapshot_generation(s0) > st.last_local_gen) {
        st.last_local_gen = xpv_snapshot_generation(s0);
        st.count++;
        echo(&st, s0, now_rt());
    }
    pthread_mutex_unlock(&st.mu);
    xpv_snapshot_put(s0);
    printf("XPV-CB READY\n");
    fflush(stdout);

    /* the host makes its changes, each waited for until its echo; then its done word */
    const struct cb_done *done = (const struct cb_done *)(bar + CB_DONE_OFF);
    int secs = 0;
    /* 840 s: below the 900 s a guest e2e test gets (guest.c), so a stuck host is named here */
    for (; secs < 840 && __atomic_load_n(&done->magic, __ATOMIC_ACQUIRE) != CB_DONE_MAGIC; secs++)
        sleep(1); /* not a wait: the poll interval of this 840 s loop (checked below) */
    xpv_channel_unsubscribe(ch);
    xpv_channel_close(ch);
    kill(agent, SIGTERM);
    int ws;
    waitpid(agent, &ws, 0);
    LAB_CHECK(__atomic_load_n(&done->magic, __ATOMIC_ACQUIRE) == CB_DONE_MAGIC,
              "the host did not finish its changes within 840 s (%llu callbacks so far)",
              (unsigned long long)st.count);
    uint64_t changes = done->changes;
    printf("  %llu host changes, %llu callbacks, %llu local generations not newer than the "
           "last\n",
           (unsigned long long)changes, (unsigned long long)st.callbacks,
           (unsigned long long)st.regressions);
    if (st.n) {
        qsort(st.us, st.n, sizeof(st.us[0]), cmp_u64);
        printf("  agent republish -> libxpv callback over %u changes: p50 %llu us, p99 %llu us, "
               "max %llu us (guest clock, TCG)\n",
               st.n, (unsigned long long)st.us[st.n / 2],
               (unsigned long long)st.us[(st.n * 99) / 100], (unsigned long long)st.us[st.n - 1]);
    }
    LAB_CHECK(st.regressions == 0, "a callback got a local generation not newer than the last");
    LAB_CHECK(st.callbacks >= changes, "fewer callbacks (%llu) than host changes (%llu)",
              (unsigned long long)st.callbacks, (unsigned long long)changes);
    LAB_CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "the agent exited with status %d", ws);
    munmap(bar, CB_REGION_SIZE);
    printf("XPV-CB DONE\n");
    fflush(stdout);
    return LAB_PASS;
}

const struct lab_test lab_e2e_callback_tests[] = {
        {"e2e.callback", e2e_callback},
        {NULL, NULL},
};
