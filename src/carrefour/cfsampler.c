/*
 * cfsampler.c — libxpv-cfsampler.so, Carrefour's software sampler for machines without a
 * precise memory-sampling PMU (docs/carrefour.md, "The software sampler"). Preloaded into the
 * target (LD_PRELOAD), because mprotect acts on the calling process only.
 *
 * Every period a sampler thread restores the pages of the last window and protects
 * (PROT_NONE) a few random pages of the target's large private anonymous regions. The first
 * access to a protected page faults; the SIGSEGV handler records the faulting CPU
 * (sched_getcpu), thread, address and read/write (bit 1 of the x86-64 page-fault error code
 * in the ucontext), restores the page's protection and returns, so the access retries. The
 * samples go to the shared-memory ring /dev/shm/xpv-cfsampler.<pid>.<random> (xpv/cf_ring.h),
 * a new file (O_EXCL, never through a symlink) of mode 0600, its name unpredictable.
 *
 * Invariants (the slot protocol, cfsampler_slots.h, checked through every interleaving by
 * tests/unit/test_cf_slots.c):
 *  - A slot's state goes FREE -> ARMING -> PROTECTED (once mprotect PROT_NONE is done) ->
 *    FAULTED (handler) or RESTORING (sampler thread, pthread_create) -> FREE after the
 *    protection is back. Exactly one wins the PROTECTED compare-and-swap (of page and state
 *    together) and restores the page; the loser returns and the access retries. No page is
 *    protected unless a slot holds it past FREE.
 *  - A SEGV_ACCERR on no slot's page is retried (the window may have closed between the fault
 *    and the handler's look-up); a second one in a row on the same page with no page given
 *    back in between is the program's own and goes to the previous handler (or kills the
 *    process as it would have).
 *
 * Hazards (documented in docs/carrefour.md): a system call that reads or writes a protected
 * page fails with EFAULT instead of faulting (read(2) into a buffer, futex on a word in it);
 * hence only pages of private anonymous regions of at least XPV_CFSAMPLER_MIN_KB (default
 * 1024 KiB) that are not thread stacks are protected, windows are short, and
 * XPV_CFSAMPLER=0 turns the library off. A program that installs its own SIGSEGV handler
 * stops the sampler (checked every period). This library keeps its state in globals: a
 * preloaded library has no handle to hang it on, and a signal handler must find it.
 *
 * Environment: XPV_CFSAMPLER=0 (off), XPV_CFSAMPLER_PAGES (pages per window, default 64,
 * max 1024), XPV_CFSAMPLER_PERIOD_US (default 10000), XPV_CFSAMPLER_MIN_KB (default 1024),
 * XPV_CFSAMPLER_RING (ring slots, power of two, default 65536), XPV_CFSAMPLER_SEED.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "cfsampler_slots.h"
#include "xpv/cf_ring.h"

#define MAX_WINDOW   CFS_MAX_WINDOW
#define MAX_REGIONS  512
#define RESCAN_EVERY 10 /* windows between two reads of /proc/self/maps */
#define MAX_STACKS   4096

struct region {
    uintptr_t start, end;
    int prot;
};

static struct {
    int on;      /* handler installed, ring mapped */
    pid_t pid;   /* the process that owns the ring (a forked child does not) */
    size_t page; /* page size */
    void *ring;
    size_t ring_len;
    char ring_name[64];
    struct sigaction prev;
    pthread_t thread;
    int thread_started;
    int stop; /* atomic: ask the thread to finish */
    unsigned pages, period_us, min_kb;
    uint64_t rng;
    struct cfs_window win; /* the protected pages and their slots (cfsampler_slots.h) */
    struct region regions[MAX_REGIONS];
    unsigned nr_regions;
    uint64_t eligible;
    /* never protected: thread stacks (with guards, and their TLS), the main thread's TLS and
     * this library's own state: what the fault handler itself touches */
    struct region stacks[MAX_STACKS];
    unsigned nr_stacks; /* atomic; entries are published before the count */
} S;

/* the handler's memory of this thread's last fault on a page no slot held (cfs_fault) */
static __thread struct cfs_thread last_unmatched __attribute__((tls_model("initial-exec")));

/* The last page whose protection the sampler failed to give back (mprotect's errno and the
 * protection it should have): a lab run saw a program die of "access error, twice on a page
 * no window holds" (issue 21), which a failed restore would explain; the handler tries that
 * page again, and the message says so when it was the one. */
static uintptr_t failed_page;
static int failed_prot, failed_errno;

/* Give page its protection back; a failure is remembered (async-signal-safe). */
static void restore(uintptr_t page, int prot)
{
    if (mprotect((void *)page, S.page, prot) == 0)
        return;
    __atomic_store_n(&failed_prot, prot, __ATOMIC_RELAXED);
    __atomic_store_n(&failed_errno, errno, __ATOMIC_RELAXED);
    __atomic_store_n(&failed_page, page, __ATOMIC_RELEASE);
}

static int protect_none(uintptr_t page)
{
    return mprotect((void *)page, S.page, PROT_NONE);
}

static void yield_cpu(void)
{
    sched_yield();
}

/* The slot protocol's hooks (cfsampler_slots.h): constants, so the compiler calls mprotect
 * and sched_yield directly and drops the test's step hook. */
static const struct cfs_ops sampler_ops = {
        .protect = protect_none, .restore = restore, .wait = yield_cpu, .step = NULL};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct xpv_cf_ring_hdr *hdr(void)
{
    return S.ring;
}

static void chain(int sig, siginfo_t *si, void *uc)
{
    if (S.prev.sa_flags & SA_SIGINFO) {
        if (S.prev.sa_sigaction)
            S.prev.sa_sigaction(sig, si, uc);
        return;
    }
    if (S.prev.sa_handler != SIG_DFL && S.prev.sa_handler != SIG_IGN) {
        S.prev.sa_handler(sig);
        return;
    }
    /* The default action: uninstall ourselves; the access faults again and kills the
     * process with SIGSEGV exactly as it would have without the sampler. The destructor will
     * not run, so the ring's name goes now (a reader keeps its mapping): a crashed program
     * leaves nothing in /dev/shm. */
    if (S.ring_name[0])
        shm_unlink(S.ring_name);
    signal(SIGSEGV, SIG_DFL);
}

/* One line on stderr when a fault is passed on as the program's own (async-signal-safe: no
 * stdio), so a crash of a sampled program says whether the sampler saw the fault and where. */
static void say_passed_on(const siginfo_t *si)
{
    static const char head[] = "xpv-cfsampler: SIGSEGV at 0x";
    const char *tail = si->si_code == SEGV_ACCERR
                               ? " (access error, twice on a page no window holds): passed on\n"
                               : " (not an access error): passed on\n";
    uintptr_t page = (uintptr_t)si->si_addr & ~(uintptr_t)(S.page ? S.page - 1 : 0);
    if (si->si_code == SEGV_ACCERR && page &&
        page == __atomic_load_n(&failed_page, __ATOMIC_ACQUIRE))
        tail = " (access error on a page whose protection the sampler could not give back): "
               "passed on\n";
    char buf[192];
    size_t n = sizeof(head) - 1;
    memcpy(buf, head, n);
    uintptr_t a = (uintptr_t)si->si_addr;
    for (int sh = (int)sizeof(a) * 8 - 4; sh >= 0; sh -= 4)
        buf[n++] = "0123456789abcdef"[(a >> sh) & 15];
    size_t t = strlen(tail); /* < 100: fits after 28 + 16 bytes */
    memcpy(buf + n, tail, t);
    ssize_t w = write(2, buf, n + t);
    (void)w;
}

static void on_segv(int sig, siginfo_t *si, void *ucv)
{
    int saved = errno;
    uint64_t t0 = now_ns();
    if (si->si_code == SEGV_ACCERR && S.page) {
        uintptr_t page = (uintptr_t)si->si_addr & ~(uintptr_t)(S.page - 1);
        enum cfs_fault_result r = cfs_fault(&S.win, page, &last_unmatched, &sampler_ops);
        if (r == CFS_TAKEN || r == CFS_BUSY) {
            /* CFS_BUSY: the thread (or another handler) is restoring it, or the thread is
             * protecting it (ARMING): the access retries */
            if (r == CFS_TAKEN && getpid() == S.pid && S.ring) {
                uint32_t write = 0;
#if defined(__x86_64__)
                const ucontext_t *uc = ucv;
                write = (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#endif
                int cpu = sched_getcpu();
                xpv_cf_ring_push(S.ring, (uint64_t)(uintptr_t)si->si_addr,
                                 cpu < 0 ? 0 : (uint32_t)cpu, (uint32_t)syscall(SYS_gettid), write);
            }
            if (S.ring)
                __atomic_fetch_add(&hdr()->handler_ns, now_ns() - t0, __ATOMIC_RELAXED);
            errno = saved;
            return;
        }
        if (page == __atomic_load_n(&failed_page, __ATOMIC_ACQUIRE) &&
            mprotect((void *)page, S.page, __atomic_load_n(&failed_prot, __ATOMIC_RELAXED)) == 0) {
            /* a restore that had failed, done now: the access retries */
            __atomic_store_n(&failed_page, 0, __ATOMIC_RELEASE);
            errno = saved;
            return;
        }
        if (r == CFS_RETRY) { /* no slot holds it, but one may have at the fault */
            if (S.ring)
                __atomic_fetch_add(&hdr()->unmatched, 1, __ATOMIC_RELAXED);
            errno = saved;
            return;
        }
    }
    say_passed_on(si);
    errno = saved;
    chain(sig, si, ucv);
}

static uint64_t rnd(void)
{
    /* xorshift64*: the sampler's own stream (the policy core's rng is not linked here) */
    S.rng ^= S.rng >> 12;
    S.rng ^= S.rng << 25;
    S.rng ^= S.rng >> 27;
    return S.rng * 2685821657736338717ull;
}

static char scan_buf[65536]; /* /proc/self/maps, read by scan_maps */

static int on_a_stack(uintptr_t lo, uintptr_t hi)
{
    unsigned n = __atomic_load_n(&S.nr_stacks, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (S.stacks[i].start < hi && lo < S.stacks[i].end)
            return 1;
    return 0;
}

/* Whether one entry holds all of [lo, hi). */
static int kept_off(uintptr_t lo, uintptr_t hi)
{
    unsigned n = __atomic_load_n(&S.nr_stacks, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < n; i++)
        if (S.stacks[i].start <= lo && hi <= S.stacks[i].end)
            return 1;
    return 0;
}

/* Add [lo, hi) (widened to pages) to the ranges no window ever protects. A range that only
 * overlaps known ones is added too: a new thread's stack can lie partly over a stack that
 * glibc unmapped (its stack cache holds 40 MiB; the kernel then maps the next stack at an
 * address shifted from the old one), and counting it known because it touched the old entry
 * left the rest of the new stack, with its TLS, open to windows. Threads made in rounds died
 * of it with no word: a protected stack page leaves the kernel no room for the signal frame,
 * a protected TLS page faults again in the handler (issue 21; unit.cf_sampler_rounds). Entries
 * are never removed, as the sampler thread reads them without a lock; an entry for memory
 * that was unmapped only keeps whatever is mapped there later off the windows. */
static void keep_off(uintptr_t lo, uintptr_t hi)
{
    lo &= ~(uintptr_t)(S.page - 1);
    hi = (hi + S.page - 1) & ~(uintptr_t)(S.page - 1);
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    int known = kept_off(lo, hi);
    unsigned i = S.nr_stacks;
    if (!known && i < MAX_STACKS) {
        S.stacks[i] = (struct region){lo, hi, 0};
        __atomic_store_n(&S.nr_stacks, i + 1, __ATOMIC_RELEASE);
    } else if (!known && S.ring) {
        /* more thread stacks than the table holds: stop rather than risk one */
        __atomic_store_n(&S.stop, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&lock);
}

/* Record thread th's stack and guard: by the parent as soon as pthread_create returns, and by
 * the thread itself before its function (whichever comes first; the second finds it known). */
static void register_stack(pthread_t th)
{
    pthread_attr_t a;
    void *addr;
    size_t size, guard = 0;
    if (pthread_getattr_np(th, &a) != 0)
        return;
    if (pthread_attr_getstack(&a, &addr, &size) == 0) {
        pthread_attr_getguardsize(&a, &guard);
        keep_off((uintptr_t)addr - guard, (uintptr_t)addr + size);
    }
    pthread_attr_destroy(&a);
}

struct trampoline {
    void *(*fn)(void *);
    void *arg;
};

static void *start_thread(void *p)
{
    struct trampoline t = *(struct trampoline *)p;
    free(p);
    register_stack(pthread_self());
    return t.fn(t.arg);
}

/* Every thread of the program starts through here, so its stack is known before the sampler
 * could pick one of its pages. */
__attribute__((visibility("default"))) int pthread_create(pthread_t *th, const pthread_attr_t *attr,
                                                          void *(*fn)(void *), void *arg);
__attribute__((visibility("default"))) int pthread_create(pthread_t *th, const pthread_attr_t *attr,
                                                          void *(*fn)(void *), void *arg)
{
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "pthread_create");
    if (!real)
        return EAGAIN;
    struct trampoline *t = malloc(sizeof(*t));
    if (!t)
        return real(th, attr, fn, arg);
    *t = (struct trampoline){fn, arg};
    /* No window opens while a thread is being made: its new stack may sit in a region the
     * last scan found eligible, and is not registered yet. And no page stays protected:
     * glibc makes the thread with every signal blocked, and allocates its TLS (calloc: the
     * heap, eligible) meanwhile, so a protected page there would kill the process with no
     * word (a lab run's xpv-cf-work died so within a second of starting its threads). */
    cfs_create_begin(&S.win, &sampler_ops);
    int rc = real(th, attr, start_thread, t);
    if (rc)
        free(t);
    else
        register_stack(*th);
    cfs_create_end(&S.win, &sampler_ops);
    return rc;
}

/*
 * Eligible regions from /proc/self/maps: private anonymous (no inode, no name or [heap])
 * read-write regions of at least min_kb, except thread stacks ([stack], and every stack of a
 * thread made by pthread_create, registered by the wrapper below: a protected stack page
 * would leave the kernel no room for the signal frame) and the ring (a shared file mapping).
 */
/*
 * Add [lo, hi) less the thread stacks in it: the kernel merges a thread's stack with an
 * adjacent anonymous mapping of the same protection into one line of maps, and excluding the
 * whole line hid that mapping from sampling (a slice of xpv-cf-work, in the lab, sometimes).
 * Pieces smaller than min_kb are left out, like small mappings.
 */
static void add_region(uintptr_t lo, uintptr_t hi, int prot, unsigned *nr, uint64_t *eligible)
{
    while (lo < hi) {
        uintptr_t cut = hi, next = hi;
        unsigned n = __atomic_load_n(&S.nr_stacks, __ATOMIC_ACQUIRE);
        for (unsigned i = 0; i < n; i++) /* the first stack in [lo, hi) */
            if (S.stacks[i].start < hi && lo < S.stacks[i].end && S.stacks[i].start < cut) {
                cut = S.stacks[i].start > lo ? S.stacks[i].start : lo;
                next = S.stacks[i].end < hi ? S.stacks[i].end : hi;
            }
        if (cut - lo >= (uintptr_t)S.min_kb * 1024 && *nr < MAX_REGIONS) {
            S.regions[(*nr)++] = (struct region){lo, cut, prot};
            *eligible += (cut - lo) / S.page;
        }
        lo = next;
    }
}

static int scan_maps(void)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char *buf = scan_buf;
    size_t have = 0;
    unsigned nr = 0;
    uint64_t eligible = 0;
    for (;;) {
        ssize_t got = read(fd, buf + have, sizeof(scan_buf) - 1 - have);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        have += (size_t)got;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = 0;
            unsigned long lo, hi, ino;
            char perms[8], path[32] = "";
            unsigned long long off;
            int dmaj, dmin;
            int k = sscanf(line, "%lx-%lx %7s %llx %x:%x %lu %31s", &lo, &hi, perms, &off, &dmaj,
                           &dmin, &ino, path);
            if (k >= 7) {
                int rw = perms[0] == 'r' && perms[1] == 'w' && perms[3] == 'p';
                int anon = ino == 0 && (k == 7 || strcmp(path, "[heap]") == 0);
                int main_stack = k == 8 && strncmp(path, "[stack", 6) == 0;
                if (rw && anon && !main_stack)
                    add_region(lo, hi, PROT_READ | PROT_WRITE | (perms[2] == 'x' ? PROT_EXEC : 0),
                               &nr, &eligible);
            }
            line = nl + 1;
        }
        have = (size_t)(buf + have - line);
        memmove(buf, line, have);
        if (have >= sizeof(scan_buf) - 1)
            have = 0; /* a line longer than the buffer: skip it */
    }
    close(fd);
    S.nr_regions = nr;
    S.eligible = eligible;
    __atomic_store_n(&hdr()->eligible_pages, eligible, __ATOMIC_RELAXED);
    return 0;
}

/* cfs_open's pick: a random page of the eligible regions, not on a stack made since the last
 * scan (the regions are from it). */
static int pick_page(void *arg, uintptr_t *page, int *prot)
{
    (void)arg;
    uint64_t r = rnd() % S.eligible;
    unsigned ri = 0;
    while (ri < S.nr_regions && r >= (S.regions[ri].end - S.regions[ri].start) / S.page) {
        r -= (S.regions[ri].end - S.regions[ri].start) / S.page;
        ri++;
    }
    if (ri == S.nr_regions)
        return -1;
    uintptr_t p = S.regions[ri].start + r * S.page;
    if (on_a_stack(p, p + S.page))
        return 0;
    *page = p;
    *prot = S.regions[ri].prot;
    return 1;
}

static void open_window(void)
{
    unsigned n = 0;
    if (S.eligible) {
        unsigned want = S.pages < S.eligible ? S.pages : (unsigned)S.eligible;
        n = cfs_open(&S.win, want, want * 4, pick_page, NULL, &sampler_ops);
    }
    __atomic_fetch_add(&hdr()->protected_pages, n, __ATOMIC_RELAXED);
    __atomic_fetch_add(&hdr()->windows, 1, __ATOMIC_RELAXED);
}

static int handler_still_ours(void)
{
    struct sigaction cur;
    if (sigaction(SIGSEGV, NULL, &cur) < 0)
        return 0;
    return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_segv;
}

static void stop_sampling(uint32_t reason)
{
    __atomic_store_n(&hdr()->stop_reason, reason, __ATOMIC_RELAXED);
    __atomic_store_n(&hdr()->state, XPV_CF_RING_STOPPED, __ATOMIC_RELEASE);
}

static void *sampler_main(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (unsigned w = 0; !__atomic_load_n(&S.stop, __ATOMIC_ACQUIRE); w++) {
        uint64_t t0 = now_ns();
        uint64_t untouched = cfs_close(&S.win, &sampler_ops);
        __atomic_fetch_add(&hdr()->untouched, untouched, __ATOMIC_RELAXED);
        if (!handler_still_ours()) {
            stop_sampling(XPV_CF_STOP_HANDLER);
            break;
        }
        if (w % RESCAN_EVERY == 0 && scan_maps() < 0) {
            stop_sampling(XPV_CF_STOP_ERROR);
            break;
        }
        open_window();
        __atomic_fetch_add(&hdr()->sampler_ns, now_ns() - t0, __ATOMIC_RELAXED);
        struct timespec ts = {S.period_us / 1000000, (long)(S.period_us % 1000000) * 1000};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
    uint64_t t0 = now_ns();
    __atomic_fetch_add(&hdr()->untouched, cfs_close(&S.win, &sampler_ops), __ATOMIC_RELAXED);
    __atomic_fetch_add(&hdr()->sampler_ns, now_ns() - t0, __ATOMIC_RELAXED);
    return NULL;
}

static unsigned env_uint(const char *name, unsigned def, unsigned min, unsigned max)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (*end || x < min || x > max)
        return def;
    return (unsigned)x;
}

static void after_fork_child(void)
{
    /* The child inherited the protected pages but not the thread: restore them now (it is
     * single-threaded here) and never record (the ring belongs to the parent). */
    cfs_after_fork(&S.win, &sampler_ops);
    S.ring = NULL;
}

/* dl_iterate_phdr: the sum of the modules' TLS segments (static TLS of the main thread). */
static int add_tls(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    for (unsigned i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_TLS)
            *(uintptr_t *)arg += info->dlpi_phdr[i].p_memsz + info->dlpi_phdr[i].p_align;
    return 0;
}

/*
 * What the fault handler and the sampler thread touch with SIGSEGV blocked must never be
 * protected, or the process dies of a silent SIGSEGV (no handler can run): this library's
 * own state (its .bss is an anonymous mapping, eligible when it merges into a larger one),
 * and the initial thread's static TLS and thread control block (errno, last_unmatched; the
 * loader allocates them in anonymous memory or the heap, both eligible; other threads' sit
 * in their stack mapping, kept off by register_stack). A lab run of xpv-cf-work died so with
 * no line from the handler (issue 21). Called from the constructor, on the initial thread.
 */
static void keep_off_own_state(void)
{
    keep_off((uintptr_t)&S, (uintptr_t)(&S + 1));
    keep_off((uintptr_t)scan_buf, (uintptr_t)(scan_buf + sizeof(scan_buf)));
    uintptr_t tp = (uintptr_t)pthread_self(); /* glibc, x86-64: the thread pointer */
    uintptr_t a = (uintptr_t)&last_unmatched, b = (uintptr_t)&errno;
    uintptr_t lo = a < b ? a : b;
    /* static TLS lies below the thread pointer (TLS variant II), the control block above */
    if (lo < tp && tp - lo < (UINT64_C(1) << 20))
        keep_off(lo - S.page, tp + 4 * S.page);
    else {
        keep_off(a - S.page, a + S.page);
        keep_off(b - S.page, b + S.page);
        keep_off(tp - S.page, tp + 4 * S.page);
    }
}

__attribute__((constructor)) static void cfsampler_start(void)
{
    const char *off = getenv("XPV_CFSAMPLER");
    if (off && strcmp(off, "0") == 0)
        return;
    S.page = (size_t)sysconf(_SC_PAGESIZE);
    S.pid = getpid();
    S.pages = env_uint("XPV_CFSAMPLER_PAGES", 64, 1, MAX_WINDOW);
    S.period_us = env_uint("XPV_CFSAMPLER_PERIOD_US", 10000, 100, 10000000);
    S.min_kb = env_uint("XPV_CFSAMPLER_MIN_KB", 1024, 4, 1u << 30);
    keep_off_own_state();
    unsigned cap = env_uint("XPV_CFSAMPLER_RING", 65536, XPV_CF_RING_MIN_CAP, XPV_CF_RING_MAX_CAP);
    if (cap & (cap - 1))
        cap = 65536;
    S.rng = env_uint("XPV_CFSAMPLER_SEED", 0, 0, UINT32_MAX);
    S.rng = S.rng * 0x9e3779b97f4a7c15ull + (uint64_t)S.pid + now_ns();
    if (!S.rng)
        S.rng = 1;
    uint32_t flags = 0;
#if defined(__x86_64__)
    flags |= XPV_CF_RING_F_WRITE;
#endif
    void *m = xpv_cf_ring_create(cap, S.pid, (uint32_t)S.page, flags, S.rng + now_ns(), S.ring_name,
                                 sizeof(S.ring_name), &S.ring_len);
    if (!m)
        return; /* no ring, no sampling: the program runs as without the library */
    S.ring = m;
    hdr()->pages_per_window = S.pages;
    hdr()->period_us = S.period_us;
    /* What the handler touches must never be protected, or its own fault kills the program
     * with no word (a nested SIGSEGV): errno and last_unmatched in the faulting thread's TLS
     * (for the main thread, in memory ld.so mapped, not in a registered stack), and S. */
    uintptr_t tp = (uintptr_t)__builtin_thread_pointer(), tls = 0;
    dl_iterate_phdr(add_tls, &tls);
    /* x86-64 (TLS variant II): the static TLS blocks sit below the thread pointer, glibc's
     * surplus with them; the thread descriptor above it */
    tls += 8192;
    keep_off(tp > tls ? tp - tls : 0, tp + 8192);
    keep_off((uintptr_t)&S, (uintptr_t)(&S + 1));
    keep_off((uintptr_t)scan_buf, (uintptr_t)(scan_buf + sizeof(scan_buf)));
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &S.prev) < 0) {
        stop_sampling(XPV_CF_STOP_ERROR);
        return;
    }
    pthread_atfork(NULL, NULL, after_fork_child);
    S.on = 1;
    if (pthread_create(&S.thread, NULL, sampler_main, NULL) == 0)
        S.thread_started = 1;
    else
        stop_sampling(XPV_CF_STOP_ERROR);
}

__attribute__((destructor)) static void cfsampler_stop(void)
{
    if (!S.on || getpid() != S.pid)
        return;
    if (S.thread_started) {
        __atomic_store_n(&S.stop, 1, __ATOMIC_RELEASE);
        pthread_join(S.thread, NULL);
        S.thread_started = 0;
    }
    if (S.ring && __atomic_load_n(&hdr()->state, __ATOMIC_RELAXED) == XPV_CF_RING_RUNNING)
        __atomic_store_n(&hdr()->state, XPV_CF_RING_EXITED, __ATOMIC_RELEASE);
    /* The reader keeps its own mapping; the name goes now so nothing is left in /dev/shm. */
    if (S.ring_name[0])
        shm_unlink(S.ring_name);
}
