/*
 * gmsampler.c — libxpv-gmsampler.so: Carrefour's guest-memory sampler, preloaded into QEMU
 * (docs/carrefour.md, "Guest memory: the userfaultfd sampler").
 *
 * A vCPU touching guest RAM is no SIGSEGV in QEMU (KVM reaches the memory through the host
 * page tables, TCG through its softmmu), so page protection (libxpv-cfsampler.so) cannot see
 * guest accesses. Page faults can: this library registers QEMU's guest RAM backends (shared
 * memfd or file mappings, found as hostd finds them: xpv/gm_layout.h) with a userfaultfd in
 * MINOR mode (UFFD_FEATURE_MINOR_SHMEM, with UFFD_FEATURE_THREAD_ID). Every window (period)
 * its thread "zaps" a few random resident pages: MADV_DONTNEED on the shared mapping drops
 * the page table entry while the page stays in the page cache, so the next access by any
 * thread — a vCPU thread running KVM or TCG, or an I/O thread — is a minor fault reported on
 * the userfaultfd with the faulting thread's id. The sampler thread reads the fault, records
 * (host address, the thread's CPU, thread, read/write, vCPU index from the thread's name
 * "CPU K/ACCEL") into the ring of xpv/cf_ring.h and maps the page back (UFFDIO_CONTINUE),
 * which wakes the thread. Nothing is copied and no data can be lost: the page never leaves
 * the page cache.
 *
 * Bounded: at most XPV_GMSAMPLER_PAGES pages zapped a window and XPV_GMSAMPLER_BUDGET faults
 * a second (zapping pauses for the rest of a second that reached it; faults are always
 * resolved). Every fault is resolved: on any error the sampler unregisters the ranges, which
 * wakes every waiting thread (the kernel then maps the page itself), and the destructor does
 * the same at exit. QEMU's own userfaultfd (post-copy migration, background snapshots)
 * comes first: with -incoming on the command line the sampler never registers, and when
 * QEMU registers a range with another userfaultfd the ioctl wrapper below unregisters ours
 * before QEMU's call runs (the ring says "stopped": XPV_CF_STOP_UFFD).
 *
 * Environment: XPV_GMSAMPLER=0 (off), XPV_GMSAMPLER_PAGES (per window, default 64, 1..1024),
 * XPV_GMSAMPLER_PERIOD_US (window, default 10000), XPV_GMSAMPLER_BUDGET (faults a second,
 * default 2000), XPV_GMSAMPLER_LOWMEM (bytes of RAM below the PCI hole, default QEMU's),
 * XPV_GMSAMPLER_RING (slots), XPV_GMSAMPLER_SEED. XPV_GMSAMPLER_HOLD=1 is for tests only:
 * faults are recorded but never resolved until the sampler stops.
 * Not supported: -daemonize (the sampler thread is not carried over fork: the child runs
 * unsampled).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "xpv/cf_ring.h"
#include "xpv/gm_layout.h"

#define EXPORT     __attribute__((visibility("default")))
#define MAX_WINDOW 1024u
#define ZSET       8192u /* outstanding zapped pages at most ZSET / 2 */
#define TIDS       512u  /* tid -> vCPU cache */

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

typedef int (*ioctl_fn)(int, unsigned long, ...);

EXPORT void xpv_gmsampler_stop(void);

static struct {
    int on;
    pid_t pid;
    size_t page;
    unsigned pages, period_us, budget, hold;
    uint64_t lowmem, rng;
    void *ring;
    size_t ring_len;
    char ring_name[64];
    int uffd, stopfd;
    pthread_t thread;
    int thread_started;
    int stop;                /* atomic: the thread ends */
    pthread_mutex_t lock;    /* registration against the ioctl wrapper's step back */
    int registered, refused; /* under lock */
    struct xpv_gm_layout lay;
    uint64_t total_pages;
    uint64_t zset[ZSET]; /* page address | 1 when zapped and not faulted since; 0 empty */
    unsigned zcount, ztombs;
    uint64_t sec_start, sec_zaps, sec_faults;
    struct {
        pid_t tid;
        int vcpu1; /* vCPU index + 1, 0 none */
    } tids[TIDS];
} S = {.uffd = -1, .stopfd = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

static ioctl_fn real_ioctl;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The sampler thread's CPU time: its cost in the ring's sampler_ns and handler_ns (every
 * part of its work runs on that thread), not inflated by the time it waits for a CPU. */
static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct xpv_cf_ring_hdr *hdr(void)
{
    return S.ring;
}

static uint64_t rnd(void)
{
    S.rng ^= S.rng << 13;
    S.rng ^= S.rng >> 7;
    S.rng ^= S.rng << 17;
    return S.rng;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(buf))
        n = sizeof(buf) - 1;
    dprintf(2, "xpv-gmsampler: %.*s\n", n, buf);
}

/* Sampling ends for good: the ring says why (and the message, when there is one). */
static void set_stopped(uint32_t reason, const char *msg)
{
    if (!S.ring)
        return;
    if (msg) {
        struct xpv_cf_ring_hdr *h = hdr();
        size_t n = strlen(msg);
        if (n >= sizeof(h->stop_msg))
            n = sizeof(h->stop_msg) - 1;
        memcpy(h->stop_msg, msg, n);
        h->stop_msg[n] = 0;
    }
    __atomic_store_n(&hdr()->stop_reason, reason, __ATOMIC_RELAXED);
    __atomic_store_n(&hdr()->state, XPV_CF_RING_STOPPED, __ATOMIC_RELEASE);
}

/* Unregister every range (under S.lock): the kernel wakes each thread waiting on one of them,
 * and the retried access maps the page itself. Then no fault can wait on us any more. */
static void unregister_all(void)
{
    if (!S.registered)
        return;
    for (unsigned i = 0; i < S.lay.nr; i++) {
        struct uffdio_range r = {.start = S.lay.b[i].hva, .len = S.lay.b[i].size};
        real_ioctl(S.uffd, UFFDIO_UNREGISTER, &r);
    }
    S.registered = 0;
}

/* ---- the zapped set ---- */

static unsigned zslot(uint64_t a)
{
    return (unsigned)((a >> 12) * 0x9e3779b97f4a7c15ull >> 51) & (ZSET - 1);
}

static int zhas(uint64_t a)
{
    for (unsigned i = zslot(a), n = 0; n < ZSET; i = (i + 1) & (ZSET - 1), n++) {
        if (!S.zset[i])
            return 0;
        if (S.zset[i] == (a | 1))
            return 1;
    }
    return 0;
}

static void zadd(uint64_t a)
{
    unsigned i = zslot(a);
    while (S.zset[i] && S.zset[i] != 2)
        i = (i + 1) & (ZSET - 1);
    if (S.zset[i] == 2)
        S.ztombs--;
    S.zset[i] = a | 1;
    S.zcount++;
}

/* Tombstones lengthen every probe: put the live entries back without them. */
static void zrebuild(void)
{
    static uint64_t live[ZSET];
    unsigned n = 0;
    for (unsigned i = 0; i < ZSET; i++)
        if (S.zset[i] > 2)
            live[n++] = S.zset[i] & ~(uint64_t)1;
    memset(S.zset, 0, sizeof(S.zset));
    S.zcount = S.ztombs = 0;
    for (unsigned i = 0; i < n; i++)
        zadd(live[i]);
}

/* removes a (a tombstone, 2, keeps probe chains whole); 1 when it was there */
static int ztake(uint64_t a)
{
    for (unsigned i = zslot(a), n = 0; n < ZSET; i = (i + 1) & (ZSET - 1), n++) {
        if (!S.zset[i])
            return 0;
        if (S.zset[i] == (a | 1)) {
            S.zset[i] = 2;
            S.zcount--;
            S.ztombs++;
            return 1;
        }
    }
    return 0;
}

/* ---- attribution ---- */

static int read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    return (int)n;
}

/* vCPU index + 1 of thread tid (0: not a vCPU), from its name; cached (QEMU names a vCPU
 * thread when it makes it, and never renames it) */
static int vcpu_of(pid_t tid)
{
    unsigned h = (unsigned)tid % TIDS;
    if (S.tids[h].tid == tid)
        return S.tids[h].vcpu1;
    char path[64], comm[32];
    snprintf(path, sizeof(path), "/proc/self/task/%d/comm", (int)tid);
    int n = read_small(path, comm, sizeof(comm));
    int v = n > 0 ? xpv_gm_vcpu_from_comm(comm, (size_t)n) : -1;
    if (v >= (int)XPV_CF_RING_MAX_VCPU)
        v = -1;
    if (n > 0) /* a thread already gone is not cached */
        S.tids[h].tid = tid, S.tids[h].vcpu1 = v + 1;
    return v + 1;
}

/* The CPU thread tid last ran on: it is asleep in the fault, so the CPU it faulted on
 * (/proc/self/task/TID/stat, field 39). 0 when unknown. */
static uint32_t cpu_of(pid_t tid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    if (read_small(path, buf, sizeof(buf)) <= 0)
        return 0;
    char *p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
    if (!p)
        return 0;
    /* after ')': field 3 (state) onwards; the CPU is field 39 */
    unsigned field = 2;
    for (; *p && field < 39; p++)
        if (*p == ' ')
            field++;
    long c = strtol(p, NULL, 10);
    return c >= 0 && c < (long)XPV_CF_RING_MAX_CPU ? (uint32_t)c : 0;
}

/* ---- faults ---- */

/* Map the page back; wakes the faulting thread. 0, or -1 when it cannot be done (the
 * caller steps back: unregistering wakes the thread instead). */
static int resolve(uint64_t a)
{
    for (int tries = 0; tries < 100; tries++) {
        struct uffdio_continue c = {.range = {.start = a, .len = S.page}};
        if (real_ioctl(S.uffd, UFFDIO_CONTINUE, &c) == 0)
            return 0;
        if (errno == EEXIST) { /* mapped meanwhile (another thread's fault): wake only */
            struct uffdio_range r = {.start = a, .len = S.page};
            return real_ioctl(S.uffd, UFFDIO_WAKE, &r) == 0 ? 0 : -1;
        }
        if (errno != EAGAIN)
            return -1;
    }
    return -1;
}

static uint64_t held[4096];
static unsigned nr_held;

static void on_fault(const struct uffd_msg *m)
{
    uint64_t t0 = cpu_ns();
    uint64_t a = m->arg.pagefault.address & ~((uint64_t)S.page - 1);
    pid_t tid = (pid_t)m->arg.pagefault.feat.ptid;
    uint32_t write = !!(m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE);
    uint32_t cpu = cpu_of(tid);
    int vcpu1 = vcpu_of(tid);
    if (!ztake(a))
        __atomic_fetch_add(&hdr()->unmatched, 1, __ATOMIC_RELAXED);
    S.sec_faults++;
    if (S.hold && nr_held < sizeof(held) / sizeof(held[0])) {
        held[nr_held++] = a;
    } else if (resolve(a) < 0 && !__atomic_load_n(&S.stop, __ATOMIC_ACQUIRE)) {
        char msg[96];
        snprintf(msg, sizeof(msg), "UFFDIO_CONTINUE failed at 0x%llx: %s", (unsigned long long)a,
                 strerror(errno));
        say("%s; sampling stopped (every range unregistered, so no fault waits)", msg);
        pthread_mutex_lock(&S.lock);
        unregister_all();
        pthread_mutex_unlock(&S.lock);
        set_stopped(XPV_CF_STOP_ERROR, msg);
        __atomic_store_n(&S.stop, 1, __ATOMIC_RELEASE);
    }
    xpv_cf_ring_push_vcpu(S.ring, a, cpu, (uint32_t)tid, write, (uint32_t)vcpu1);
    __atomic_fetch_add(&hdr()->handler_ns, cpu_ns() - t0, __ATOMIC_RELAXED);
}

/* ---- windows ---- */

static int resident(uint64_t a)
{
    unsigned char v = 0;
    return mincore((void *)(uintptr_t)a, S.page, &v) == 0 && (v & 1);
}

static uint64_t pick_page(void)
{
    uint64_t k = rnd() % S.total_pages;
    for (unsigned i = 0; i < S.lay.nr; i++) {
        uint64_t n = S.lay.b[i].size / S.page;
        if (k < n)
            return S.lay.b[i].hva + k * S.page;
        k -= n;
    }
    return 0;
}

static void open_window(uint64_t now)
{
    uint64_t t0 = cpu_ns();
    if (now - S.sec_start >= 1000000000u) {
        S.sec_start = now;
        S.sec_zaps = S.sec_faults = 0;
    }
    unsigned want = S.pages;
    uint64_t used = S.sec_zaps > S.sec_faults ? S.sec_zaps : S.sec_faults;
    if (used >= S.budget)
        want = 0;
    else if (want > S.budget - used)
        want = (unsigned)(S.budget - used);
    if (S.zcount >= ZSET / 2) {
        /* zapped pages nobody touched since: forget them (they stay unmapped, and a later
         * touch is resolved and sampled like any other, counted unmatched) */
        __atomic_fetch_add(&hdr()->untouched, S.zcount, __ATOMIC_RELAXED);
        memset(S.zset, 0, sizeof(S.zset));
        S.zcount = S.ztombs = 0;
    }
    if (S.ztombs >= ZSET / 4)
        zrebuild();
    unsigned done = 0;
    for (unsigned tries = 0; done < want && tries < 4 * want; tries++) {
        uint64_t a = pick_page();
        if (!a || zhas(a) || !resident(a)) /* a page never touched would not fault minor */
            continue;
        zadd(a);
        if (madvise((void *)(uintptr_t)a, S.page, MADV_DONTNEED) < 0) {
            ztake(a);
            continue;
        }
        done++;
    }
    S.sec_zaps += done;
    __atomic_fetch_add(&hdr()->windows, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&hdr()->protected_pages, done, __ATOMIC_RELAXED);
    __atomic_fetch_add(&hdr()->sampler_ns, cpu_ns() - t0, __ATOMIC_RELAXED);
}

/* ---- setup ---- */

static char *read_all(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    for (ssize_t r; b; n += (size_t)r) {
        if (n + 1 >= cap) {
            char *nb = cap < (64u << 20) ? realloc(b, cap *= 2) : NULL;
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
        }
        r = read(fd, b + n, cap - n - 1);
        if (r <= 0) {
            if (r < 0) {
                free(b);
                b = NULL;
            }
            break;
        }
    }
    close(fd);
    if (b)
        b[n] = 0, *len = n;
    return b;
}

/* Wait up to ms for the stop event; 1 when asked to stop. */
static int wait_stop(int ms)
{
    struct pollfd p = {.fd = S.stopfd, .events = POLLIN};
    poll(&p, 1, ms);
    return __atomic_load_n(&S.stop, __ATOMIC_ACQUIRE);
}

/* Find the backends (QEMU maps its RAM after this library's constructor ran): 0, or -1
 * when this VM cannot be sampled (said on stderr and in the ring) or when asked to stop. */
static int locate(void)
{
    for (unsigned n = 0;; n++) {
        size_t cl = 0, ml = 0;
        char *c = read_all("/proc/self/cmdline", &cl), *m = read_all("/proc/self/maps", &ml);
        struct xpv_error err = {0};
        static struct xpv_gm_layout lay;
        int rc = c && m ? xpv_gm_layout_parse(c, cl, m, ml, S.lowmem, &lay, &err)
                        : xpv_error_set(&err, -EIO, "cannot read /proc/self/cmdline or maps");
        free(c);
        free(m);
        if (rc == 0 && lay.incoming)
            rc = xpv_error_set(&err, -ENOTSUP,
                               "QEMU waits for an incoming migration (-incoming): post-copy "
                               "registers its own userfaultfd on guest RAM; not sampling");
        if (rc == 0) {
            if (!lay.thread_names)
                say("QEMU names its vCPU threads only with -name ...,debug-threads=on: the "
                    "samples will not say which vCPU took them (their host CPU and node still "
                    "count)");
            pthread_mutex_lock(&S.lock); /* the ioctl wrapper reads it */
            S.lay = lay;
            pthread_mutex_unlock(&S.lock);
            return 0;
        }
        if (rc != -EAGAIN) {
            say("%s", err.msg);
            set_stopped(XPV_CF_STOP_REFUSED, err.msg);
            return -1;
        }
        if (n == 200) /* 10 s: say it once, keep looking */
            say("pid %d: no guest RAM mapped after 10 s; still looking (a wrapper of QEMU "
                "that inherited LD_PRELOAD? it gives up after 2 minutes)",
                (int)getpid());
        if (n == 2400) {
            const char *msg = "no guest RAM mapped after 2 minutes: not QEMU, or QEMU never "
                              "allocated the backends; not sampling";
            say("pid %d: %s", (int)getpid(), msg);
            set_stopped(XPV_CF_STOP_REFUSED, msg);
            return -1;
        }
        if (wait_stop(50))
            return -1;
    }
}

static int open_uffd(void)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        /* without CAP_SYS_PTRACE (vm.unprivileged_userfaultfd 0): /dev/userfaultfd */
        int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
        if (dev >= 0) {
            fd = real_ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
            close(dev);
        }
    }
    return fd;
}

/* Open the userfaultfd and register every backend in MINOR mode. 0, or -1 (said). */
static int register_ranges(void)
{
    char msg[96];
    pthread_mutex_lock(&S.lock);
    if (S.refused) { /* QEMU's own userfaultfd came first */
        pthread_mutex_unlock(&S.lock);
        return -1;
    }
    S.uffd = open_uffd();
    if (S.uffd < 0) {
        snprintf(msg, sizeof(msg),
                 "userfaultfd: %s (root, vm.unprivileged_userfaultfd=1 or /dev/userfaultfd)",
                 strerror(errno));
        goto fail;
    }
    struct uffdio_api api = {.api = UFFD_API,
                             .features = UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_THREAD_ID};
    if (real_ioctl(S.uffd, UFFDIO_API, &api) < 0) {
        snprintf(msg, sizeof(msg),
                 "this kernel has no userfaultfd minor faults on shared "
                 "memory (Linux 5.14+): %s",
                 strerror(errno));
        goto fail;
    }
    for (unsigned i = 0; i < S.lay.nr; i++) {
        struct uffdio_register r = {.range = {.start = S.lay.b[i].hva, .len = S.lay.b[i].size},
                                    .mode = UFFDIO_REGISTER_MODE_MINOR};
        if (real_ioctl(S.uffd, UFFDIO_REGISTER, &r) < 0) {
            int e = errno;
            S.registered = 1;
            S.lay.nr = i; /* unregister those done */
            unregister_all();
            if (e == EBUSY) {
                snprintf(msg, sizeof(msg),
                         "backend %s already has a userfaultfd (QEMU's "
                         "post-copy?): not sampling",
                         S.lay.b[i].id);
                say("%s", msg);
                close(S.uffd);
                S.uffd = -1;
                pthread_mutex_unlock(&S.lock);
                set_stopped(XPV_CF_STOP_UFFD, msg);
                return -1;
            }
            snprintf(msg, sizeof(msg), "registering backend %s: %s", S.lay.b[i].id, strerror(e));
            goto fail;
        }
        S.total_pages += S.lay.b[i].size / S.page;
    }
    S.registered = 1;
    pthread_mutex_unlock(&S.lock);
    __atomic_store_n(&hdr()->eligible_pages, S.total_pages, __ATOMIC_RELAXED);
    return 0;
fail:
    say("%s; not sampling", msg);
    if (S.uffd >= 0)
        close(S.uffd);
    S.uffd = -1;
    pthread_mutex_unlock(&S.lock);
    set_stopped(XPV_CF_STOP_ERROR, msg);
    return -1;
}

static void *sampler_main(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* QEMU's signals are for its own threads */
    prctl(PR_SET_NAME, "xpv-gmsampler");
    if (locate() < 0 || register_ranges() < 0)
        return NULL;
    uint64_t next = now_ns();
    S.sec_start = next;
    struct uffd_msg msgs[64];
    while (!__atomic_load_n(&S.stop, __ATOMIC_ACQUIRE)) {
        uint64_t now = now_ns();
        if (now >= next) {
            open_window(now);
            next = now + (uint64_t)S.period_us * 1000u;
        }
        struct pollfd p[2] = {{.fd = S.uffd, .events = POLLIN}, {.fd = S.stopfd, .events = POLLIN}};
        uint64_t left = next > now ? next - now : 0;
        struct timespec ts = {.tv_sec = (time_t)(left / 1000000000u),
                              .tv_nsec = (long)(left % 1000000000u)};
        if (ppoll(p, 2, &ts, NULL) <= 0 || !(p[0].revents & POLLIN))
            continue;
        ssize_t n = read(S.uffd, msgs, sizeof(msgs));
        for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof(msgs[0]); i++)
            if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
                on_fault(&msgs[i]);
    }
    /* every fault that waits, and every one to come, is the kernel's again */
    pthread_mutex_lock(&S.lock);
    unregister_all();
    if (S.uffd >= 0)
        close(S.uffd);
    S.uffd = -1;
    pthread_mutex_unlock(&S.lock);
    nr_held = 0;
    return NULL;
}

/* Stop sampling and give every waiting fault back (tests call it through dlsym; the
 * destructor calls it at exit). Idempotent. */
EXPORT void xpv_gmsampler_stop(void)
{
    if (!S.on || getpid() != S.pid)
        return;
    __atomic_store_n(&S.stop, 1, __ATOMIC_RELEASE);
    uint64_t one = 1;
    if (write(S.stopfd, &one, sizeof(one)) < 0) {
        /* an eventfd at its maximum still polls readable */
    }
    if (!pthread_equal(pthread_self(), S.thread) &&
        __atomic_exchange_n(&S.thread_started, 0, __ATOMIC_ACQ_REL))
        pthread_join(S.thread, NULL);
}

/*
 * QEMU's own userfaultfd first. Post-copy migration (and background snapshots) register guest
 * RAM with their own userfaultfd; a range registered with ours would make that fail (EBUSY)
 * and the migration with it. So a UFFDIO_REGISTER on another fd that overlaps our ranges
 * unregisters ours (waking any fault waiting on us) and stops the sampler before QEMU's call
 * runs. Every other ioctl goes straight through.
 */
EXPORT int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (req == UFFDIO_REGISTER && S.on && fd != S.uffd && arg) {
        const struct uffdio_register *r = arg;
        pthread_mutex_lock(&S.lock);
        int overlap = 0;
        for (unsigned i = 0; i < S.lay.nr; i++)
            if (r->range.start < S.lay.b[i].hva + S.lay.b[i].size &&
                S.lay.b[i].hva < r->range.start + r->range.len)
                overlap = 1;
        if ((overlap || !S.registered) && !S.refused) {
            S.refused = 1; /* never registers after this */
            unregister_all();
            pthread_mutex_unlock(&S.lock);
            const char *msg = "QEMU registered memory with its own userfaultfd (post-copy or "
                              "a snapshot): stepped back";
            say("%s", msg);
            set_stopped(XPV_CF_STOP_UFFD, msg);
            /* the sampler thread ends before QEMU's call runs: no page of ours is zapped
             * under QEMU's registration */
            xpv_gmsampler_stop();
        } else
            pthread_mutex_unlock(&S.lock);
    }
    if (!real_ioctl) /* called before this library's constructor (another's constructor) */
        real_ioctl = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
    if (!real_ioctl) {
        errno = ENOSYS;
        return -1;
    }
    return real_ioctl(fd, req, arg);
}

static unsigned env_uint(const char *name, unsigned def, unsigned min, unsigned max)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (*end || x < min || x > max) {
        say("%s=%s: not a number in %u..%u; using %u", name, v, min, max, def);
        return def;
    }
    return (unsigned)x;
}

static void after_fork_child(void)
{
    /* the thread and the ring are the parent's; the child runs unsampled (-daemonize) */
    S.on = 0;
    S.ring = NULL;
    S.ring_name[0] = 0;
}

/* QEMU, or something started with a memory backend on its command line: other processes
 * that inherited LD_PRELOAD from QEMU (the shell of a migration's exec: URI, a helper) or
 * from its launcher are left alone, without a word. */
static int looks_like_qemu(void)
{
    char exe[256];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = 0;
        const char *b = strrchr(exe, '/');
        if (strstr(b ? b + 1 : exe, "qemu"))
            return 1;
    }
    size_t len = 0;
    char *c = read_all("/proc/self/cmdline", &len);
    int yes = c && memmem(c, len, "memory-backend-", 15) != NULL;
    free(c);
    return yes;
}

__attribute__((constructor)) static void gmsampler_start(void)
{
    real_ioctl = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
    const char *off = getenv("XPV_GMSAMPLER");
    if ((off && strcmp(off, "0") == 0) || !real_ioctl || !looks_like_qemu())
        return;
    S.page = (size_t)sysconf(_SC_PAGESIZE);
    S.pid = getpid();
    S.pages = env_uint("XPV_GMSAMPLER_PAGES", 64, 1, MAX_WINDOW);
    S.period_us = env_uint("XPV_GMSAMPLER_PERIOD_US", 10000, 100, 10000000);
    S.budget = env_uint("XPV_GMSAMPLER_BUDGET", 2000, 1, 1000000);
    S.hold = env_uint("XPV_GMSAMPLER_HOLD", 0, 0, 1);
    const char *lm = getenv("XPV_GMSAMPLER_LOWMEM");
    if (lm && *lm) {
        char *end;
        S.lowmem = strtoull(lm, &end, 0);
        if (*end)
            S.lowmem = 0;
    }
    unsigned cap = env_uint("XPV_GMSAMPLER_RING", 65536, XPV_CF_RING_MIN_CAP, XPV_CF_RING_MAX_CAP);
    if (cap & (cap - 1))
        cap = 65536;
    S.rng = env_uint("XPV_GMSAMPLER_SEED", 0, 0, UINT32_MAX);
    S.rng = S.rng * 0x9e3779b97f4a7c15ull + (uint64_t)S.pid + now_ns();
    if (!S.rng)
        S.rng = 1;
    void *m = xpv_cf_ring_create(cap, S.pid, (uint32_t)S.page,
                                 XPV_CF_RING_F_WRITE | XPV_CF_RING_F_VCPU, S.rng + now_ns(),
                                 S.ring_name, sizeof(S.ring_name), &S.ring_len);
    if (!m)
        return;
    S.ring = m;
    hdr()->pages_per_window = S.pages;
    hdr()->period_us = S.period_us;
    S.stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (S.stopfd < 0) {
        set_stopped(XPV_CF_STOP_ERROR, "eventfd failed");
        return;
    }
    pthread_atfork(NULL, NULL, after_fork_child);
    S.on = 1;
    if (pthread_create(&S.thread, NULL, sampler_main, NULL) == 0)
        S.thread_started = 1;
    else
        set_stopped(XPV_CF_STOP_ERROR, "pthread_create failed");
}

__attribute__((destructor)) static void gmsampler_end(void)
{
    if (!S.on || getpid() != S.pid)
        return;
    xpv_gmsampler_stop();
    if (S.ring && __atomic_load_n(&hdr()->state, __ATOMIC_RELAXED) == XPV_CF_RING_RUNNING)
        __atomic_store_n(&hdr()->state, XPV_CF_RING_EXITED, __ATOMIC_RELEASE);
    if (S.ring_name[0])
        shm_unlink(S.ring_name);
}
