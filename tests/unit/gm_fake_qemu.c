/*
 * gm_fake_qemu.c — a stand-in for QEMU to test libxpv-gmsampler.so on a host without a VM
 * (unit.gm_sampler.*, docs/carrefour.md "Guest memory: the userfaultfd sampler").
 *
 * gm-fake-qemu MODE VCPUS MIB KIND [QEMU ARGS...]
 *
 * Maps MIB MiB of "guest RAM" as QEMU would for KIND (memfd: memfd_create
 * "memory-backend-memfd", MAP_SHARED, MADV_DONTFORK; anon: private anonymous; private: a
 * memfd mapped MAP_PRIVATE), fills every page with a known word, and runs VCPUS threads named
 * "CPU k/KVM", thread k reading and rewriting only region k (the k-th VCPUS-th of the RAM) and
 * checking every word it reads. The QEMU ARGS are only there for the sampler, which reads
 * them from /proc/self/cmdline (-object memory-backend-memfd,...). The program reads its own
 * sampler's ring (the library's file in /dev/shm) and checks, by MODE:
 *   attrib    >= 90 % of each vCPU's samples lie in its region; no word lost
 *   budget    the faults of 4 s stay within XPV_GMSAMPLER_BUDGET a second (and use it)
 *   stale     threads touch only an eighth of their region: sampling goes on in the 6th and
 *             7th seconds, when more zapped pages stay untouched than the sampler tracks
 *   stop      with XPV_GMSAMPLER_HOLD=1 a thread waits in a fault; xpv_gmsampler_stop() must
 *             give it back: every thread finishes, no word lost
 *   postcopy  the program registers its RAM with its own userfaultfd (as QEMU's post-copy
 *             does): that must succeed, and the sampler must say it stepped back
 *   refuse    the sampler must refuse this VM: prints its message (the test matches it)
 *   run       no checks: runs the threads for XPV_FAKE_SECONDS and prints the words touched
 *             a second (the bench; XPV_FAKE_NO_SAMPLER=1: the baseline, run without the
 *             library)
 * Exit 0 pass, 1 fail (with the reason), 77 skip (no userfaultfd here), 2 usage.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "xpv/cf_ring.h"

#define MAXV 16
#define PAGE 4096u

static unsigned nv;
static size_t ram_len, region_len;
static char *ram;
static atomic_int quit;
static atomic_ulong touched[MAXV], bad[MAXV];
static pid_t tids[MAXV];
static unsigned touch_div = 1; /* a thread touches the first 1/touch_div of its region */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pause_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL); /* not a wait: the poll interval of the deadline loops below */
}

static uint64_t expect0(size_t page)
{
    return (uint64_t)page * 7 + 1;
}

static void *vcpu(void *arg)
{
    unsigned k = (unsigned)(uintptr_t)arg;
    char name[16];
    snprintf(name, sizeof(name), "CPU %u/KVM", k);
    pthread_setname_np(pthread_self(), name);
    tids[k] = (pid_t)syscall(SYS_gettid);
    size_t first = k * region_len / PAGE, n = region_len / PAGE / touch_div;
    uint64_t *want = malloc(n * sizeof(*want));
    for (size_t i = 0; i < n; i++)
        want[i] = expect0(first + i);
    while (!atomic_load(&quit)) {
        for (size_t i = 0; i < n && !atomic_load(&quit); i++) {
            volatile uint64_t *w = (volatile uint64_t *)(ram + (first + i) * PAGE);
            if (*w != want[i])
                atomic_fetch_add(&bad[k], 1);
            *w = ++want[i];
            atomic_fetch_add_explicit(&touched[k], 1, memory_order_relaxed);
        }
    }
    /* the last values, for the final check */
    for (size_t i = 0; i < n; i++)
        if (*(volatile uint64_t *)(ram + (first + i) * PAGE) != want[i])
            atomic_fetch_add(&bad[k], 1);
    free(want);
    return NULL;
}

/* The sampler's ring: /dev/shm/xpv-cfsampler.<pid>.*, mapped. */
static struct xpv_cf_ring_hdr *find_ring(size_t *len)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), XPV_CF_RING_PREFIX_FMT, (int)getpid());
    DIR *d = opendir(XPV_CF_RING_DIR);
    if (!d)
        return NULL;
    void *m = NULL;
    for (struct dirent *e; !m && (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, strlen(prefix)))
            continue;
        int fd = openat(dirfd(d), e->d_name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > XPV_CF_RING_HDR) {
            m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (m == MAP_FAILED)
                m = NULL;
            *len = (size_t)st.st_size;
        }
        if (fd >= 0)
            close(fd);
    }
    closedir(d);
    return m;
}

static uint64_t ld(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Every thread's name, state and kernel wait channel, and the ring's counters: what a hang
 * looked like (stop mode's watchdog prints it before failing). */
static void dump_threads(const struct xpv_cf_ring_hdr *h)
{
    fprintf(stderr, "gm-fake-qemu: ring: state %u, samples %llu, windows %llu, zapped %llu\n",
            h->state, (unsigned long long)h->samples, (unsigned long long)h->windows,
            (unsigned long long)h->protected_pages);
    DIR *d = opendir("/proc/self/task");
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], comm[64] = "", wchan[64] = "", stat[256] = "";
        const char *what[] = {"comm", "wchan", "stat"};
        char *into[] = {comm, wchan, stat};
        size_t cap[] = {sizeof comm, sizeof wchan, sizeof stat};
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "/proc/self/task/%s/%s", e->d_name, what[i]);
            FILE *f = fopen(path, "r");
            if (f) {
                if (!fgets(into[i], (int)cap[i], f))
                    into[i][0] = 0;
                fclose(f);
            }
            into[i][strcspn(into[i], "\n")] = 0;
        }
        const char *st = strrchr(stat, ')');
        fprintf(stderr, "gm-fake-qemu:   thread %s '%s': state %.1s, wchan %s\n", e->d_name, comm,
                st && st[1] ? st + 2 : "?", wchan);
    }
    if (d)
        closedir(d);
}

static void *stop_thread(void *arg)
{
    ((void (*)(void))arg)();
    return NULL;
}

static int fail(const char *what, const char *s)
{
    fprintf(stderr, "gm-fake-qemu: FAIL: %s%s\n", what, s);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: gm-fake-qemu attrib|budget|stop|postcopy|refuse|run VCPUS MIB "
                        "memfd|anon|private [QEMU ARGS...]\n");
        return 2;
    }
    const char *mode = argv[1], *kind = argv[4];
    if (!strcmp(mode, "stale"))
        touch_div = 8;
    nv = (unsigned)atoi(argv[2]);
    ram_len = (size_t)atoi(argv[3]) << 20;
    if (nv < 1 || nv > MAXV || !ram_len) {
        fprintf(stderr, "gm-fake-qemu: 1..%d vCPUs and some MiB\n", MAXV);
        return 2;
    }
    region_len = ram_len / nv / PAGE * PAGE;
    if (!strcmp(kind, "anon")) {
        ram = mmap(NULL, ram_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    } else {
        int fd = (int)syscall(SYS_memfd_create, "memory-backend-memfd", 0);
        if (fd < 0 || ftruncate(fd, (off_t)ram_len) < 0)
            return fail("memfd: ", strerror(errno));
        ram = mmap(NULL, ram_len, PROT_READ | PROT_WRITE,
                   !strcmp(kind, "private") ? MAP_PRIVATE : MAP_SHARED, fd, 0);
        close(fd);
    }
    if (ram == MAP_FAILED)
        return fail("mmap: ", strerror(errno));
    madvise(ram, ram_len, MADV_DONTFORK); /* as QEMU does on guest RAM */
    madvise(ram, ram_len, MADV_NOHUGEPAGE);
    for (size_t p = 0; p < ram_len / PAGE; p++)
        *(uint64_t *)(ram + p * PAGE) = expect0(p);

    /* the sampler's ring, then its registration (or its refusal); a baseline run (the
     * bench's) has none */
    size_t rlen = 0;
    struct xpv_cf_ring_hdr *h = NULL;
    static struct xpv_cf_ring_hdr none;
    if (!strcmp(mode, "run") && getenv("XPV_FAKE_NO_SAMPLER")) {
        h = &none;
        h->state = XPV_CF_RING_RUNNING;
        h->eligible_pages = ram_len / PAGE;
        rlen = sizeof(none);
    }
    for (double t0 = now_s(); !h && !(h = find_ring(&rlen)) && now_s() - t0 < 10;)
        pause_ms(10);
    if (!h)
        return fail("", "no sampler ring in /dev/shm after 10 s (is the library preloaded?)");
    double t0 = now_s();
    while (!ld(&h->eligible_pages) &&
           __atomic_load_n(&h->state, __ATOMIC_ACQUIRE) == XPV_CF_RING_RUNNING && now_s() - t0 < 10)
        pause_ms(5);
    uint32_t state = __atomic_load_n(&h->state, __ATOMIC_ACQUIRE);
    if (!strcmp(mode, "refuse")) {
        if (state != XPV_CF_RING_STOPPED || h->stop_reason != XPV_CF_STOP_REFUSED)
            return fail("", "the sampler did not refuse this VM");
        printf("refused: %.96s\n", h->stop_msg);
        return 0;
    }
    if (state != XPV_CF_RING_RUNNING) {
        fprintf(stderr, "gm-fake-qemu: sampler stopped: %.96s\n", h->stop_msg);
        if (strstr(h->stop_msg, "userfaultfd:") || strstr(h->stop_msg, "minor faults"))
            return 77; /* no userfaultfd (or no minor faults) for us here */
        return 1;
    }
    if (ld(&h->eligible_pages) != ram_len / PAGE)
        return fail("", "the sampler registered another size than the RAM");

    struct xpv_cf_ring_reader rd;
    struct xpv_error err = {0};
    if (h != &none && xpv_cf_ring_open(&rd, h, rlen, &err) < 0)
        return fail("ring: ", err.msg);
    pthread_t th[MAXV];
    for (unsigned k = 0; k < nv; k++)
        pthread_create(&th[k], NULL, vcpu, (void *)(uintptr_t)k);

    int rc = 0;
    static struct xpv_cf_ring_sample smp[65536];
    unsigned long per[MAXV] = {0}, in[MAXV] = {0}, other = 0, total = 0;
    if (!strcmp(mode, "attrib")) {
        /* until every vCPU has 200 samples, or 20 s */
        for (double ts = now_s(); now_s() - ts < 20;) {
            size_t n = xpv_cf_ring_pop(&rd, smp, 65536);
            for (size_t i = 0; i < n; i++) {
                total++;
                uint32_t v = smp[i].vcpu;
                if (!v || v > nv) {
                    other++;
                    continue;
                }
                per[v - 1]++;
                uint64_t off = smp[i].addr - (uint64_t)(uintptr_t)ram;
                if (smp[i].addr >= (uint64_t)(uintptr_t)ram && off / region_len == v - 1)
                    in[v - 1]++;
            }
            unsigned enough = 0;
            for (unsigned k = 0; k < nv; k++)
                enough += per[k] >= 200;
            if (enough == nv)
                break;
            pause_ms(20);
        }
        for (unsigned k = 0; k < nv; k++) {
            double share = per[k] ? 100.0 * in[k] / per[k] : 0;
            printf("vCPU %u: %lu samples, %.1f %% in its region\n", k, per[k], share);
            if (per[k] < 50 || share < 90) {
                fprintf(stderr,
                        "gm-fake-qemu: FAIL: vCPU %u: %lu samples, %.1f %% in its "
                        "region (want >= 50 and >= 90 %%)\n",
                        k, per[k], share);
                rc = 1;
            }
        }
        printf("%lu samples, %lu not from a vCPU thread; untouched-page faults %llu\n", total,
               other, (unsigned long long)ld(&h->unmatched));
    } else if (!strcmp(mode, "budget")) {
        const char *b = getenv("XPV_GMSAMPLER_BUDGET");
        double budget = b ? atof(b) : 2000;
        while (!ld(&h->samples) && now_s() - t0 < 10)
            pause_ms(5);
        uint64_t s0 = ld(&h->samples), z0 = ld(&h->protected_pages);
        double w0 = now_s();
        while (now_s() - w0 < 4)
            pause_ms(50);
        double w = now_s() - w0;
        uint64_t ds = ld(&h->samples) - s0, dz = ld(&h->protected_pages) - z0;
        printf("%.2f s: %llu faults (%.0f/s), %llu pages zapped; budget %.0f/s\n", w,
               (unsigned long long)ds, ds / w, (unsigned long long)dz, budget);
        /* a 4 s window overlaps at most 5 budget seconds; the budget is used (the windows
         * alone would zap 6400 pages a second) */
        if (ds > budget * 5 || dz > budget * 5) {
            fprintf(stderr, "gm-fake-qemu: FAIL: over the budget\n");
            rc = 1;
        }
        if (ds < budget * 2) {
            fprintf(stderr, "gm-fake-qemu: FAIL: far under the budget\n");
            rc = 1;
        }
    } else if (!strcmp(mode, "stop")) {
        while (!ld(&h->samples) && now_s() - t0 < 10)
            pause_ms(5);
        if (!ld(&h->samples))
            return fail("", "no fault within 10 s");
        pause_ms(100); /* more threads wait in faults */
        printf("%llu faults held; stopping the sampler\n", (unsigned long long)ld(&h->samples));
        void (*stop)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "xpv_gmsampler_stop");
        if (!stop)
            return fail("", "xpv_gmsampler_stop not found");
        /* stop() joins the sampler thread: bounded here, a hang reported with what it was
         * (CI saw one 120 s timeout of this test under load, not reproduced in 40 runs) */
        pthread_t st;
        pthread_create(&st, NULL, stop_thread, (void *)stop);
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 20;
        if (pthread_timedjoin_np(st, NULL, &dl) != 0) {
            fprintf(stderr, "gm-fake-qemu: FAIL: xpv_gmsampler_stop() did not return in 20 s\n");
            dump_threads(h);
            _exit(1);
        }
    } else if (!strcmp(mode, "postcopy")) {
        while (ld(&h->samples) < 10 && now_s() - t0 < 10)
            pause_ms(5);
        int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
        struct uffdio_api api = {.api = UFFD_API};
        struct uffdio_register r = {.range = {(uint64_t)(uintptr_t)ram, ram_len},
                                    .mode = UFFDIO_REGISTER_MODE_MISSING};
        if (fd < 0 || ioctl(fd, UFFDIO_API, &api) < 0)
            return fail("own userfaultfd: ", strerror(errno));
        if (ioctl(fd, UFFDIO_REGISTER, &r) < 0) {
            fprintf(stderr,
                    "gm-fake-qemu: FAIL: registering our own userfaultfd (post-copy's "
                    "step): %s\n",
                    strerror(errno));
            rc = 1;
        } else {
            printf("own userfaultfd registered; sampler: state %u, %.96s\n", h->state, h->stop_msg);
            if (h->state != XPV_CF_RING_STOPPED || h->stop_reason != XPV_CF_STOP_UFFD) {
                fprintf(stderr, "gm-fake-qemu: FAIL: the sampler did not say it stepped back\n");
                rc = 1;
            }
            struct uffdio_range ur = {(uint64_t)(uintptr_t)ram, ram_len};
            ioctl(fd, UFFDIO_UNREGISTER, &ur);
        }
        close(fd);
        pause_ms(200);
    } else if (!strcmp(mode, "stale")) {
        /* 7/8 of the zapped pages are never touched again: sampling must go on once more
         * of them are outstanding than the sampler keeps track of (4096) */
        double w0 = now_s();
        while (now_s() - w0 < 5)
            pause_ms(50);
        uint64_t s0 = ld(&h->samples), u0 = ld(&h->untouched);
        while (now_s() - w0 < 7)
            pause_ms(50);
        uint64_t ds = ld(&h->samples) - s0;
        printf("last 2 s: %llu samples; untouched zapped pages forgotten: %llu (%llu before)\n",
               (unsigned long long)ds, (unsigned long long)ld(&h->untouched),
               (unsigned long long)u0);
        if (ds < 100) {
            fprintf(stderr, "gm-fake-qemu: FAIL: sampling stopped with untouched pages zapped\n");
            rc = 1;
        }
    } else if (!strcmp(mode, "run")) {
        const char *s = getenv("XPV_FAKE_SECONDS");
        double secs = s ? atof(s) : 3;
        /* touches and the vCPU threads' CPU time (on a loaded machine the wall-clock rate
         * says more about the scheduler than about the sampler) */
        unsigned long t_0 = 0, t_1 = 0;
        double c_0 = 0, c_1 = 0;
        clockid_t clk[MAXV];
        for (unsigned k = 0; k < nv; k++)
            pthread_getcpuclockid(th[k], &clk[k]);
        uint64_t f0 = ld(&h->samples), hn0 = ld(&h->handler_ns), sn0 = ld(&h->sampler_ns);
        for (unsigned k = 0; k < nv; k++) {
            struct timespec ts;
            clock_gettime(clk[k], &ts);
            c_0 += (double)ts.tv_sec + ts.tv_nsec / 1e9;
            t_0 += atomic_load(&touched[k]);
        }
        double w0 = now_s();
        while (now_s() - w0 < secs)
            pause_ms(50);
        for (unsigned k = 0; k < nv; k++) {
            struct timespec ts;
            clock_gettime(clk[k], &ts);
            c_1 += (double)ts.tv_sec + ts.tv_nsec / 1e9;
            t_1 += atomic_load(&touched[k]);
        }
        double w = now_s() - w0;
        uint64_t df = ld(&h->samples) - f0;
        printf("touches/s %.0f touches/cpu_s %.0f faults/s %.1f handler_us/fault %.2f "
               "sampler_ms/s %.2f\n",
               (t_1 - t_0) / w, c_1 > c_0 ? (t_1 - t_0) / (c_1 - c_0) : 0, df / w,
               df ? (ld(&h->handler_ns) - hn0) / 1e3 / df : 0,
               (ld(&h->sampler_ns) - sn0) / 1e6 / w);
    } else {
        fprintf(stderr, "gm-fake-qemu: unknown mode %s\n", mode);
        return 2;
    }
    atomic_store(&quit, 1);
    for (unsigned k = 0; k < nv; k++) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 10;
        if (pthread_timedjoin_np(th[k], NULL, &dl) != 0) {
            fprintf(stderr,
                    "gm-fake-qemu: FAIL: vCPU %u still waits after 10 s (a fault "
                    "never resolved)\n",
                    k);
            _exit(1);
        }
        if (atomic_load(&bad[k])) {
            fprintf(stderr, "gm-fake-qemu: FAIL: vCPU %u read %lu wrong words (data lost)\n", k,
                    atomic_load(&bad[k]));
            rc = 1;
        }
    }
    if (rc == 0)
        printf("PASS %s\n", mode);
    return rc;
}
